"""Models move to and from PyTorch through the PyTorch-named weights.

Needs torch (the ``torch`` extra: ``pip install ".[test,torch]"``); without
it these tests are skipped, and tests/test_gradients.py still checks every
cell against a NumPy reference written from PyTorch's equations.
"""

import numpy as np
import pytest
import test_truncation as truncation

from skrnn import RNNRegressor, RNNStepRegressor
from skrnn._weights import to_torch_names

torch = pytest.importorskip(
    "torch", reason='the PyTorch parity tests need torch: pip install ".[test,torch]"')
nn = torch.nn

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TORCH_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
N_FEATURES, HIDDEN, N_LAYERS, N_OUTPUTS = 3, 5, 2, 2


def _ragged(n=45, seed=0):
    rng = np.random.RandomState(seed)
    return [rng.normal(size=(rng.randint(1, 12), N_FEATURES)) for _ in range(n)]


def _torch_modules(cell, bidirectional):
    torch.manual_seed(0)
    recurrent = TORCH_CELLS[cell](N_FEATURES, HIDDEN, num_layers=N_LAYERS,
                                  bidirectional=bidirectional, dtype=torch.float64)
    output = nn.Linear(HIDDEN * (2 if bidirectional else 1), N_OUTPUTS, dtype=torch.float64)
    return recurrent, output


def _torch_predict(recurrent, output, X, cell, initial_h=None, initial_c=None):
    """Many-to-one outputs of PyTorch's modules on ragged sequences."""
    packed = nn.utils.rnn.pack_sequence([torch.from_numpy(x) for x in X],
                                        enforce_sorted=False)
    state = None
    if initial_h is not None:
        h_0 = torch.from_numpy(initial_h)[:, None, :].expand(-1, len(X), -1).contiguous()
        state = h_0
        if cell == "lstm":
            c_0 = torch.from_numpy(initial_c)[:, None, :].expand(-1, len(X), -1).contiguous()
            state = (h_0, c_0)
    with torch.no_grad():
        _, h_n = recurrent(packed, state)
        if cell == "lstm":
            h_n = h_n[0]
        n_dir = 2 if recurrent.bidirectional else 1
        # The last layer's final states, forward direction first.
        final = torch.cat(list(h_n[-n_dir:]), dim=1)
        return output(final).numpy()


def _stacked_initial_states(weights, prefix, bidirectional):
    """h_0 / c_0 in PyTorch's order: l0, l0_reverse, l1, ..."""
    suffixes = ["", "_reverse"] if bidirectional else [""]
    return np.stack([weights[f"{prefix}_l{k}{s}"] for k in range(N_LAYERS) for s in suffixes])


@pytest.mark.parametrize("learn_initial_state", [False, True], ids=["h0=0", "h0=learned"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_skrnn_model_runs_the_same_in_pytorch(cell, bidirectional, learn_initial_state):
    X = _ragged()
    y = np.random.RandomState(1).normal(size=(len(X), N_OUTPUTS))
    reg = RNNRegressor((HIDDEN, HIDDEN), cell=cell, bidirectional=bidirectional,
                       learn_initial_state=learn_initial_state, max_iter=30,
                       learning_rate_init=0.01, random_state=0).fit(X, y)
    weights = reg.weights_
    if learn_initial_state:
        # Trained away from zero, so that the test sees them used.
        assert np.abs(weights["initial_h_l0"]).max() > 1e-3

    recurrent, output = _torch_modules(cell, bidirectional)
    recurrent.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()
                               if k.startswith(("weight_", "bias_"))})
    output.load_state_dict({"weight": torch.from_numpy(weights["output.weight"]),
                            "bias": torch.from_numpy(weights["output.bias"])})
    initial_h = initial_c = None
    if learn_initial_state:
        initial_h = _stacked_initial_states(weights, "initial_h", bidirectional)
        if cell == "lstm":
            initial_c = _stacked_initial_states(weights, "initial_c", bidirectional)
    expected = _torch_predict(recurrent, output, X, cell, initial_h, initial_c)
    np.testing.assert_allclose(reg.predict(X), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_pytorch_model_runs_the_same_in_skrnn(cell, bidirectional):
    X = _ragged(seed=2)
    recurrent, output = _torch_modules(cell, bidirectional)
    # PyTorch's initialisation leaves both biases random, so the folding of
    # bias_ih and bias_hh (and the GRU's separate b_hn) is exercised.
    weights = {k: v.numpy() for k, v in recurrent.state_dict().items()}
    weights.update({f"output.{k}": v.numpy() for k, v in output.state_dict().items()})

    reg = RNNRegressor((HIDDEN, HIDDEN), cell=cell, bidirectional=bidirectional, max_iter=1,
                       random_state=0).fit(X, np.zeros((len(X), N_OUTPUTS)))
    reg.set_weights(weights)
    expected = _torch_predict(recurrent, output, X, cell)
    np.testing.assert_allclose(reg.predict(X), expected, rtol=1e-12, atol=1e-12)


def _torch_every_step(recurrent, output, X):
    """Per-step outputs of PyTorch's modules (``nn.Linear`` on the output
    of every step), concatenated sequence after sequence."""
    packed = nn.utils.rnn.pack_sequence([torch.from_numpy(x) for x in X],
                                        enforce_sorted=False)
    states, _ = recurrent(packed)
    padded, lengths = nn.utils.rnn.pad_packed_sequence(states, batch_first=True)
    return torch.cat([output(padded[i, :n]) for i, n in enumerate(lengths)])


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_per_step_outputs_and_gradient_match_pytorch(cell, bidirectional):
    """RNNStepRegressor with PyTorch's weights predicts what nn.RNN/LSTM/GRU
    followed by nn.Linear on every step does, and its training gradient is
    autograd's for the same loss: half the squared error summed over every
    step, over the number of steps."""
    X = _ragged(seed=4)
    rng = np.random.RandomState(5)
    y = [rng.normal(size=(len(x), N_OUTPUTS)) for x in X]
    recurrent, output = _torch_modules(cell, bidirectional)
    weights = {k: v.detach().numpy() for k, v in recurrent.state_dict().items()}
    weights.update({f"output.{k}": v.detach().numpy() for k, v in output.state_dict().items()})
    reg = RNNStepRegressor((HIDDEN, HIDDEN), cell=cell, bidirectional=bidirectional,
                           alpha=0, max_iter=1, random_state=0).fit(X, y)
    reg.set_weights(weights)

    expected = _torch_every_step(recurrent, output, X)
    np.testing.assert_allclose(np.concatenate(reg.predict(X)), expected.detach().numpy(),
                               rtol=1e-12, atol=1e-12)

    target = torch.from_numpy(np.concatenate(y))
    loss = 0.5 * ((expected - target) ** 2).sum() / len(target)
    loss.backward()
    sequences = reg._validate_sequences(X, reset=False)
    targets = reg._cast_targets(reg._prepare_targets(y, sequences, False), np.float64)
    skrnn_loss, grad = reg._loss_and_gradient(reg._params, sequences, targets, 2)
    assert skrnn_loss == pytest.approx(loss.item(), rel=1e-12)
    _assert_gradients_are_autograds(reg, grad, recurrent, output, cell, HIDDEN)


def _assert_gradients_are_autograds(estimator, grad, recurrent, output, cell, hidden,
                                    atol=1e-12):
    """skrnn's flat gradient ``grad``, under PyTorch's names, is what
    autograd left in the modules' ``.grad``, within rtol 1e-10."""
    skrnn_grads = to_torch_names(estimator._network.spec,
                                 estimator._network.layout.views(grad))
    expected = {f"output.{k}": p.grad for k, p in output.named_parameters()}
    expected.update({k: p.grad for k, p in recurrent.named_parameters()})
    assert set(skrnn_grads) >= set(expected)
    for name, value in expected.items():
        got, value = skrnn_grads[name], value.numpy()
        if name.startswith("bias_hh"):
            # skrnn keeps bias_ih + bias_hh, whose gradients are bias_ih's;
            # only the GRU's n gate keeps its recurrent bias apart.
            if cell != "gru":
                continue
            got, value = got[2 * hidden :], value[2 * hidden :]
        np.testing.assert_allclose(got, value, rtol=1e-10, atol=atol, err_msg=name)


# -- truncated BPTT: h.detach() at every window boundary ----------------------

TRUNCATED_HIDDEN = 3


def _torch_truncated(recurrent, output, X, y, head, cell, window):
    """Loss of PyTorch's modules run window by window, the state detached
    between windows; the autograd gradient is truncated BPTT's."""
    rows, targets = [], []
    for x, target in zip(X, y):
        inputs = torch.from_numpy(x)[None]
        state, states = None, []
        for start in range(0, len(x), window):
            top, state = recurrent(inputs[:, start : start + window], state)
            states.append(top[0])
            state = (tuple(s.detach() for s in state) if cell == "lstm"
                     else state.detach())
        states = torch.cat(states)
        if head == "step":
            rows.append(states)
            targets.append(torch.from_numpy(target))
        else:
            rows.append({"last": states[-1:], "mean": states.mean(0, keepdim=True),
                         "max": states.max(0, keepdim=True).values}[head])
            targets.append(torch.from_numpy(np.atleast_2d(target)))
    out = output(torch.cat(rows))
    target = torch.cat(targets)
    return 0.5 * ((out - target) ** 2).sum() / len(target)


@pytest.mark.parametrize("head", ["last", "mean", "max", "step"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_truncated_gradient_matches_pytorch_with_detach(head, cell):
    """Every parameter's gradient is autograd's for PyTorch's nn.RNN, nn.LSTM
    or nn.GRU (two layers) run in windows with ``h.detach()`` between them,
    within rtol 1e-10 (float64, so rounding differences of the two orders of
    summation are ~1e-15 relative)."""
    X = truncation._data(6, n_features=3, lengths=[11, 4, 7, 3, 8])
    y = truncation._targets(head, X, 7)
    torch.manual_seed(0)
    module = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
    recurrent = module(3, TRUNCATED_HIDDEN, num_layers=2, batch_first=True).double()
    output = nn.Linear(TRUNCATED_HIDDEN, 2).double()
    common = dict(hidden_layer_sizes=(TRUNCATED_HIDDEN, TRUNCATED_HIDDEN), cell=cell,
                  alpha=0.0, max_iter=1, random_state=0, bptt_truncate=4)
    estimator = (RNNStepRegressor(**common) if head == "step"
                 else RNNRegressor(pooling=head, **common)).fit(X, y)
    weights = {k: v.detach().numpy() for k, v in recurrent.state_dict().items()}
    weights.update({f"output.{k}": v.detach().numpy() for k, v in output.state_dict().items()})
    estimator.set_weights(weights)

    loss = _torch_truncated(recurrent, output, X, y, head, cell, 4)
    loss.backward()
    skrnn_loss, grad = truncation._skrnn_loss_and_gradient(estimator, X, y)
    assert skrnn_loss == pytest.approx(loss.item(), rel=1e-12)
    _assert_gradients_are_autograds(estimator, grad, recurrent, output, cell,
                                    TRUNCATED_HIDDEN, atol=1e-13)

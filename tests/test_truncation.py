"""Truncated BPTT (``bptt_truncate``): the gradient of the graph cut at every
window boundary, for every head and cell. (Against PyTorch with
``h.detach()`` at each boundary: ``tests/test_torch.py``.)"""

import numpy as np
import pytest
import reference
from finite_differences import central_differences

from skrnn import RNNClassifier, RNNRegressor, RNNStepClassifier, RNNStepRegressor
from skrnn._weights import to_torch_names

WINDOW = 3
# Lengths around the window: shorter than one, exactly one or two, and
# sequences ending at every position of a window.
LENGTHS = [1, 2, 3, 4, 5, 6, 7, 8, 10, 2, 9]
HIDDEN = (3, 2)


def _data(seed, n_features=2, lengths=LENGTHS):
    rng = np.random.RandomState(seed)
    return [rng.normal(size=(n, n_features)) for n in lengths]


def _estimator(head, cell, learn_initial_state=False, **params):
    common = dict(dict(cell=cell, learn_initial_state=learn_initial_state, alpha=0.0,
                       max_iter=1, random_state=0, bptt_truncate=WINDOW), **params)
    if head == "step":
        return RNNStepRegressor(HIDDEN, **common)
    return RNNRegressor(HIDDEN, pooling=head, **common)


def _targets(head, X, seed):
    rng = np.random.RandomState(seed)
    if head == "step":
        return [rng.normal(size=(len(x), 2)) for x in X]
    return rng.normal(size=(len(X), 2))


def _skrnn_loss_and_gradient(estimator, X, y, params=None):
    sequences = estimator._validate_sequences(X, reset=False)
    targets = estimator._cast_targets(estimator._prepare_targets(y, sequences, False),
                                      np.float64)
    params = estimator._params if params is None else params
    return estimator._loss_and_gradient(params, sequences, targets, 2)


# -- the cut graph, written plainly ------------------------------------------


def _cut_states(weights, x, cell, n_layers, window, boundary):
    """Top layer's state at every step of one sequence, every layer
    starting window j >= 1 from ``boundary[(layer, j)]`` (a constant), or,
    when ``boundary`` is a dict to fill, recording there the state each
    window starts from."""
    record = not boundary.get("given", False)
    inputs = list(x)
    for layer in range(n_layers):
        W_ih, W_hh, b_ih, b_hh = (weights[f"{name}_l{layer}"] for name in
                                  ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        hidden = W_hh.shape[1]
        h = weights.get(f"initial_h_l{layer}", np.zeros(hidden))
        c = weights.get(f"initial_c_l{layer}", np.zeros(hidden))
        states = []
        for t, x_t in enumerate(inputs):
            if t and t % window == 0:
                key = (layer, t // window)
                if record:
                    boundary[key] = (h.copy(), c.copy())
                h, c = boundary[key]
            if cell == "rnn":
                h = reference._rnn_step(x_t, h, W_ih, W_hh, b_ih, b_hh, "tanh")
            elif cell == "lstm":
                h, c = reference._lstm_step(x_t, h, c, W_ih, W_hh, b_ih, b_hh)
            else:
                h = reference._gru_step(x_t, h, W_ih, W_hh, b_ih, b_hh)
            states.append(h)
        inputs = states
    return np.array(inputs)


def _cut_loss(weights, X, y, head, cell, n_layers, window, boundaries):
    """Half the squared error, over sequences or steps, of the network whose
    state at each window boundary is the constant in ``boundaries``."""
    rows, targets = [], []
    for i, x in enumerate(X):
        states = _cut_states(weights, x, cell, n_layers, window, boundaries[i])
        if head == "step":
            rows.extend(states)
            targets.extend(y[i])
        else:
            rows.append({"last": states[-1], "mean": states.mean(axis=0),
                         "max": states.max(axis=0)}[head])
            targets.append(y[i])
    out = np.array(rows) @ weights["output.weight"].T + weights["output.bias"]
    return 0.5 * np.sum((out - np.array(targets)) ** 2) / len(rows)


@pytest.mark.parametrize("learn_initial_state", [False, True], ids=["h0=0", "h0=learned"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("head", ["last", "mean", "max", "step"])
def test_truncated_gradient_matches_finite_differences_of_the_cut_graph(
    head, cell, learn_initial_state
):
    """The gradient is that of the loss with the state at every window
    boundary held constant, through two stacked layers, for ragged
    sequences that end anywhere in a window: central differences
    (float64) within a relative error of 1e-6."""
    X, seed = _data(1), 2
    y = _targets(head, X, seed)
    estimator = _estimator(head, cell, learn_initial_state).fit(X, y)
    params = estimator._params + np.random.RandomState(3).normal(
        scale=0.3, size=estimator._params.shape)
    spec, layout = estimator._network.spec, estimator._network.layout

    def weights_of(flat):
        return to_torch_names(spec, layout.views(flat))

    boundaries = [{} for _ in X]
    base = weights_of(params)
    expected_loss = _cut_loss(base, X, y, head, cell, len(HIDDEN), WINDOW, boundaries)
    for boundary in boundaries:
        boundary["given"] = True
    loss, grad = _skrnn_loss_and_gradient(estimator, X, y, params)
    assert loss == pytest.approx(expected_loss, rel=1e-12)

    fd = central_differences(
        lambda flat: _cut_loss(weights_of(flat), X, y, head, cell, len(HIDDEN), WINDOW,
                               boundaries), params)
    error = np.linalg.norm(grad - fd) / np.linalg.norm(fd)
    assert error < 1e-6


@pytest.mark.parametrize("head", ["last", "mean", "step"])
def test_truncation_changes_the_gradient_only_past_a_window(head):
    """Sequences no longer than the window give the untruncated gradient
    bitwise, and longer ones a different one: the cut is real."""
    X = _data(4, lengths=[2, 3, 1, 3])
    y = _targets(head, X, 5)
    estimator = _estimator(head, "lstm").fit(X, y)
    truncated = _skrnn_loss_and_gradient(estimator, X, y)[1]
    full = _skrnn_loss_and_gradient(estimator.set_params(bptt_truncate=None), X, y)[1]
    np.testing.assert_array_equal(truncated, full)

    X = _data(4, lengths=[7, 5, 9, 3])
    y = _targets(head, X, 5)
    estimator = _estimator(head, "lstm").fit(X, y)
    truncated_loss, truncated = _skrnn_loss_and_gradient(estimator, X, y)
    full_loss, full = _skrnn_loss_and_gradient(estimator.set_params(bptt_truncate=None), X, y)
    # The same outputs, so the same loss; another gradient.
    assert truncated_loss == pytest.approx(full_loss, rel=1e-12)
    assert np.linalg.norm(truncated - full) > 1e-3 * np.linalg.norm(full)


# -- estimators ----------------------------------------------------------------


@pytest.mark.parametrize("head", ["last", "max", "step"])
def test_truncated_fit_is_bitwise_the_same_on_any_thread_count(head):
    rng = np.random.RandomState(8)
    X = [rng.normal(size=(n, 2)) for n in rng.randint(5, 40, size=80)]
    y = _targets(head, X, 9)
    fits = [_estimator(head, "gru", max_iter=3, n_threads=n_threads, batch_size=70).fit(X, y)
            for n_threads in (1, 2)]
    np.testing.assert_array_equal(fits[0]._params, fits[1]._params)


def test_bptt_truncate_needs_one_direction():
    X, y = _data(0), np.zeros(len(LENGTHS))
    estimator = RNNRegressor(3, bidirectional=True, bptt_truncate=4)
    with pytest.raises(ValueError, match="bptt_truncate needs bidirectional=False"):
        estimator.fit(X, y)
    assert not hasattr(estimator, "n_iter_")


@pytest.mark.parametrize("bad", [0, -2, 2.5, "3"])
def test_bptt_truncate_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="bptt_truncate"):
        RNNClassifier(3, bptt_truncate=bad).fit(_data(0), [0, 1] * 5 + [0])


def test_one_long_series_learns_with_truncation():
    """A step classifier on one series of 3,000 steps, windows of 50: the
    class of each step is whether the input was positive 2 steps before,
    learnt well above chance."""
    rng = np.random.RandomState(10)
    x = rng.normal(size=(3000, 1))
    labels = np.r_[0, 0, (x[:-2, 0] > 0).astype(int)]
    clf = RNNStepClassifier(16, cell="gru", bptt_truncate=50, max_iter=60,
                            learning_rate_init=0.02, random_state=0).fit([x], [labels])
    assert clf.score([x], [labels]) > 0.9

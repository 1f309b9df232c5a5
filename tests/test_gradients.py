"""BPTT gradients: the kernels against finite differences and against a
pure-NumPy reference implementation (tests/reference.py)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import reference
from finite_differences import central_differences
from skrnn import RNNClassifier, RNNRegressor
from skrnn._kernels._layer import predicts_ahead
from skrnn._network import CHUNK_SIZE

N_FEATURES, HIDDEN = 3, 5

# Sequence lengths of the batches checked. The ragged one has more than two
# chunks' worth of sequences, with ties and length-1 sequences, so that the
# chunking, the sorting and sequences ending mid-chunk are all exercised.
LENGTHS = {
    "single_step": [1] * 4,
    "equal": [6] * 7,
    "ragged": [int(n) for n in np.random.RandomState(0).randint(1, 9, size=2 * CHUNK_SIZE + 5)],
}


def _make_batch(lengths, dtype, seed=0):
    rng = np.random.RandomState(seed)
    return [rng.normal(size=(n, N_FEATURES)).astype(dtype) for n in lengths]


def _initialized_estimator(kind, activation, alpha, X, dtype, seed=0, hidden=HIDDEN,
                           **network):
    """An estimator set up for X (one quick epoch), with random weights.

    The weights are redrawn with a spread that puts tanh in its nonlinear
    range and leaves roughly half the relu units active. ``network`` holds
    the architecture parameters (cell, bidirectional, ...).
    """
    rng = np.random.RandomState(seed)
    n = len(X)
    if kind == "regressor":
        est = RNNRegressor(hidden, activation, alpha=alpha, max_iter=1, random_state=0,
                           **network)
        y = rng.normal(size=(n, 2))
    else:
        est = RNNClassifier(hidden, activation, alpha=alpha, max_iter=1, random_state=0,
                            **network)
        n_classes = 2 if kind == "binary" else 3
        y = np.arange(n) % n_classes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    params = rng.normal(scale=0.6, size=est._params.shape).astype(dtype)
    sequences = est._validate_sequences(X, reset=False)
    if kind == "regressor":
        targets = y.astype(dtype)
    else:
        targets = est._label_binarizer.transform(y).astype(dtype)
    return est, params, sequences, targets


def _assert_gradient_matches_finite_differences(est, params, sequences, targets):
    def objective(p):
        return est._loss_and_gradient(p, sequences, targets, n_threads=2)[0]

    _, grad = est._loss_and_gradient(params, sequences, targets, n_threads=2)

    # With the fixed seeds no relu pre-activation lies within eps of its
    # kink, so the objective is smooth where it is probed.
    fd = central_differences(objective, params)

    assert np.linalg.norm(grad) > 1e-3  # a vanishing gradient would check nothing
    rel_error = np.linalg.norm(grad - fd) / max(np.linalg.norm(grad), np.linalg.norm(fd))
    assert rel_error < 1e-6
    # Component by component too, with an absolute floor at the rounding
    # error of the finite differences.
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("lengths", LENGTHS.values(), ids=LENGTHS.keys())
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "regressor"])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_gradient_matches_finite_differences(lengths, activation, kind, alpha):
    """The Elman cell, both activations, every loss, with and without L2."""
    X = _make_batch(lengths, np.float64)
    est, params, sequences, targets = _initialized_estimator(
        kind, activation, alpha, X, np.float64
    )
    _assert_gradient_matches_finite_differences(est, params, sequences, targets)


@pytest.mark.parametrize("learn_initial_state", [False, True], ids=["h0=0", "h0=learned"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("n_layers", [1, 2], ids=["1layer", "2layers"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_every_architecture_gradient_matches_finite_differences(
    cell, n_layers, bidirectional, learn_initial_state
):
    """Every cell, stacked or not, one or two directions, with and without a
    learned initial state, on the ragged batch (more than two chunks).

    Layers of different sizes check the gradient flowing from layer to layer;
    alpha > 0 checks the L2 term on every weight matrix.
    """
    X = _make_batch(LENGTHS["ragged"], np.float64)
    hidden = (HIDDEN, HIDDEN - 1)[:n_layers]
    est, params, sequences, targets = _initialized_estimator(
        "regressor", "tanh", 0.5, X, np.float64, hidden=hidden, cell=cell,
        bidirectional=bidirectional, learn_initial_state=learn_initial_state,
    )
    _assert_gradient_matches_finite_differences(est, params, sequences, targets)


# Float32 tolerances: a few ulp (6e-8) per operation, grown over the steps and
# layers of the recurrence.
DTYPE_RTOL = [(np.float64, 1e-12), (np.float32, 2e-5)]


@pytest.mark.parametrize("dtype, rtol", DTYPE_RTOL, ids=["float64", "float32"])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("lengths", LENGTHS.values(), ids=LENGTHS.keys())
@pytest.mark.parametrize("n_threads", [1, 2])
def test_elman_kernels_match_numpy_reference(dtype, rtol, activation, lengths, n_threads):
    """Elman outputs and every gradient equal the per-sequence NumPy reference.

    The reference works one sequence at a time with plain NumPy, so the only
    differences are rounding: summation order in BLAS versus NumPy.
    """
    X = _make_batch(lengths, dtype, seed=1)
    est, params, sequences, _ = _initialized_estimator("regressor", activation, 0.0, X, dtype)
    network = est._network
    names = {"W_x": "W_ih_l0", "W_s": "W_hh_l0", "b": "b_l0", "W_y": "W_y", "b_y": "b_y"}

    out, cache = network.forward(params, sequences, n_threads)
    views = network.layout.views(params)
    p = {ref_name: views[name] for ref_name, name in names.items()}
    ref_out, ref_states = reference.forward(p, X, activation)
    scale = np.abs(ref_out).max()
    np.testing.assert_allclose(out, ref_out, rtol=rtol, atol=rtol * scale)

    d_out = np.random.RandomState(2).normal(size=out.shape).astype(dtype)
    grad = network.backward(params, cache, d_out, n_threads)
    ref_grad = reference.backward(p, X, ref_states, d_out, activation)
    grad_views = network.layout.views(grad)
    for ref_name, name in names.items():
        scale = np.abs(ref_grad[ref_name]).max()
        np.testing.assert_allclose(
            grad_views[name], ref_grad[ref_name], rtol=rtol, atol=rtol * scale, err_msg=name
        )
    assert out.dtype == grad.dtype == dtype


@pytest.mark.parametrize("dtype, rtol", DTYPE_RTOL, ids=["float64", "float32"])
@pytest.mark.parametrize("learn_initial_state", [False, True], ids=["h0=0", "h0=learned"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell, activation",
                         [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")])
def test_every_cell_matches_pytorch_equations(
    cell, activation, bidirectional, learn_initial_state, dtype, rtol
):
    """Outputs of two stacked layers equal the reference written from
    PyTorch's equations (tests/reference.py), fed through the public,
    PyTorch-named weight mapping ``weights_``."""
    X = _make_batch(LENGTHS["ragged"], dtype, seed=1)
    est, params, sequences, _ = _initialized_estimator(
        "regressor", activation, 0.0, X, dtype, hidden=(HIDDEN, HIDDEN - 1), cell=cell,
        bidirectional=bidirectional, learn_initial_state=learn_initial_state,
    )
    est._params[...] = params
    ref_out = reference.torch_equations_forward(
        est.weights_, X, cell, n_layers=2, bidirectional=bidirectional, nonlinearity=activation
    )
    out = est.predict(X)
    scale = np.abs(ref_out).max()
    np.testing.assert_allclose(out, ref_out, rtol=rtol, atol=rtol * scale)
    assert out.dtype == dtype


@pytest.mark.parametrize("dtype, rtol", DTYPE_RTOL, ids=["float64", "float32"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_prediction_pass_matches_training_pass(cell, dtype, rtol):
    """Prediction keeps one step of gates and projects each step's inputs on
    its own (``for_backward=False``); it must compute what the training pass
    computes. Sizes that are not multiples of the packed panel width (16
    floats) and a ragged batch give partial panels and partial row blocks."""
    X = _make_batch(LENGTHS["ragged"], dtype, seed=3)
    est, params, sequences, _ = _initialized_estimator(
        "regressor", "tanh", 0.0, X, dtype, hidden=(21, 6), cell=cell,
        bidirectional=True, learn_initial_state=True,
    )
    network = est._network
    train_out, _ = network.forward(params, sequences, n_threads=2)
    predict_out, _ = network.forward(params, sequences, n_threads=2, for_backward=False)
    scale = np.abs(train_out).max()
    np.testing.assert_allclose(predict_out, train_out, rtol=rtol, atol=rtol * scale)
    np.testing.assert_array_equal(network.predict_raw(params, sequences, 2)[0],
                                  network.predict_raw(params, sequences, 1)[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_one_or_two_sequences_predict_the_bits_of_a_batch(cell, dtype):
    """A prediction of one or two sequences, whose stacked weight [W_ih;
    W_hh] exceeds the L1 cache, projects the inputs of many steps ahead and
    continues each step's sums from there (``packed_gemm_continue``); a
    batch stacks [x_t | h_{t-1}] at every step. Both must give the same
    bits: here hidden 250 (a partial last panel in either dtype) and 13
    features make [W_ih; W_hh] 263 KB or more, past the L1 of any current
    CPU, over ragged lengths and a learned initial state."""
    n_in, hidden = 13, 250
    rng = np.random.RandomState(5)
    X = [rng.normal(size=(n, n_in)).astype(dtype) for n in (9, 1, 14, 5, 12, 7, 3, 11)]
    model = RNNRegressor(hidden, cell=cell, learn_initial_state=True, max_iter=1,
                         random_state=0).fit(X, rng.normal(size=len(X)))
    kernel = model._network.cell.kernel.CELL
    assert predicts_ahead(kernel, 1, n_in, hidden, dtype == np.float64)
    assert predicts_ahead(kernel, 2, n_in, hidden, dtype == np.float64)
    assert not predicts_ahead(kernel, 3, n_in, hidden, dtype == np.float64)
    batch = model.predict(X)
    np.testing.assert_array_equal(np.concatenate([model.predict(X[i:i + 1])
                                                  for i in range(len(X))]), batch)
    np.testing.assert_array_equal(np.concatenate([model.predict(X[i:i + 2])
                                                  for i in range(0, len(X), 2)]), batch)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("n_rows, n_in, n_out", [(1, 1, 1), (5, 3, 10), (67, 33, 17), (0, 4, 2)])
def test_output_layer_product_matches_numpy(n_rows, n_in, n_out, dtype):
    """The output layer's own product (``_dense.pyx``): partial row blocks,
    partial and several 16-wide panels, and no rows at all. Each output is
    one dot product of n_in terms, so the sums may differ from BLAS's only
    by their rounding: n_in * eps of the sum of |terms|."""
    from skrnn._kernels._dense import dense_forward

    rng = np.random.RandomState(0)
    X = rng.normal(size=(n_rows, n_in)).astype(dtype)
    W = rng.normal(size=(n_in, n_out)).astype(dtype)
    b = rng.normal(size=n_out).astype(dtype)
    out = np.full((n_rows, n_out), np.nan, dtype)
    dense_forward(X, W, b, out)
    bound = n_in * np.finfo(dtype).eps * (np.abs(X) @ np.abs(W) + np.abs(b))
    assert np.all(np.abs(out - (X.astype(np.float64) @ W + b)) <= bound)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_reused_workspace_gives_the_same_gradients(cell, bidirectional):
    """Training reuses one Workspace's arrays from batch to batch. A
    workspace that already served other batches (bigger and smaller) must
    give bitwise the gradient of fresh arrays; three stacked layers make
    every layer's buffers meet."""
    from skrnn._network import Workspace

    X = _make_batch(LENGTHS["ragged"], np.float64, seed=4)
    est, params, sequences, targets = _initialized_estimator(
        "regressor", "tanh", 0.0, X, np.float64, hidden=(7, 6, 5), cell=cell,
        bidirectional=bidirectional,
    )
    fresh_loss, fresh_grad = est._loss_and_gradient(params, sequences, targets, 2)
    workspace = Workspace()
    for batch in (np.arange(len(sequences)), np.arange(3), np.arange(10, 40)):
        est._loss_and_gradient(params, sequences.take(batch), targets[batch], 2, workspace)
    loss, grad = est._loss_and_gradient(params, sequences, targets, 2, workspace)
    assert loss == fresh_loss
    np.testing.assert_array_equal(grad, fresh_grad)


# Measured maxima: 3.0 ulp (float64) and 2.49 ulp (float32, against tanh in
# double precision, so it includes the final rounding to float32).
@pytest.mark.parametrize("dtype, max_ulp", [(np.float64, 3), (np.float32, 2.5)],
                         ids=["float64", "float32"])
def test_kernel_tanh_is_accurate_over_its_whole_range(dtype, max_ulp):
    """The kernels' own tanh (src/skrnn/_kernels/_tanh.h) against numpy.tanh.

    A one-unit network with W_ih = 1 and everything else 0 outputs tanh(x) of
    its single input, so this reads the kernel's tanh directly: large
    arguments (saturation), tiny ones (no cancellation), and infinities.
    """
    from skrnn._network import RecurrentNetwork
    from skrnn._params import NetworkSpec
    from skrnn._sequences import check_sequences

    x = np.concatenate([
        np.linspace(-40, 40, 100_001), np.geomspace(1e-30, 1, 2001),
        -np.geomspace(1e-30, 1, 2001), [0.0, np.inf, -np.inf],
    ]).astype(dtype)
    network = RecurrentNetwork(NetworkSpec(1, 1, "rnn", (1,), False, False), dtype)
    params = np.zeros(network.layout.n_params, dtype)
    views = network.layout.views(params)
    views["W_ih_l0"][...] = 1
    views["W_y"][...] = 1
    sequences = check_sequences(x.reshape(-1, 1, 1)[np.isfinite(x)])[0]
    out, _ = network.forward(params, sequences, n_threads=2)
    expected = np.tanh(x[np.isfinite(x)].astype(np.float64))
    ulp = np.spacing(np.abs(expected).astype(dtype)).astype(np.float64)
    assert np.max(np.abs(out[:, 0] - expected) / ulp) <= max_ulp

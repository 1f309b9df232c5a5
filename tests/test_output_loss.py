"""The fused output layer and loss (``_kernels/_output.pyx``,
``RecurrentNetwork.forward_loss``), which the per-step estimators train with."""

import warnings

import numpy as np
import pytest
from finite_differences import central_differences
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNStepClassifier, RNNStepRegressor
from skrnn._heads import HEADS
from skrnn._kernels._output import OutputLoss, output_loss
from skrnn._losses import BinaryLogLoss, MultinomialLogLoss, SquaredLoss
from skrnn._network import RecurrentNetwork
from skrnn._params import NetworkSpec
from skrnn._sequences import check_sequences

LOSSES = {"squared": (SquaredLoss, 3), "binary": (BinaryLogLoss, 1),
          "multinomial": (MultinomialLogLoss, 4)}


def _targets(loss, n_rows, n_out, rng, dtype):
    if loss is SquaredLoss:
        return rng.normal(size=(n_rows, n_out)).astype(dtype)
    if loss is BinaryLogLoss:
        return rng.randint(0, 2, size=(n_rows, 1)).astype(dtype)
    return np.eye(n_out, dtype=dtype)[rng.randint(0, n_out, size=n_rows)]


def _kernel(rows, W, b, targets, loss, scale, n_threads=2, row_weights=None):
    d_rows, g_W, g_b = np.empty_like(rows), np.empty_like(W), np.empty_like(b)
    if row_weights is None:
        row_weights = np.empty(0, rows.dtype)
    value = output_loss(rows, W, b, targets, row_weights, loss.code, scale, d_rows, g_W,
                        g_b, n_threads)
    return value, d_rows, g_W, g_b


# Row counts: within one block, several blocks with a partial last one, and
# so many rows that blocks grow past their minimum to stay at most 64.
@pytest.mark.parametrize("n_rows", [1, 37, 1000, 20_000])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("name", LOSSES)
def test_kernel_matches_the_numpy_losses(name, dtype, rtol, n_rows):
    """Loss, dLoss/d(rows), dLoss/dW and dLoss/db against ``skrnn._losses``
    and NumPy products. float32: sums of up to 20,000 terms of rounding error
    ~6e-8 each, the two sides summing in different orders."""
    loss, n_out = LOSSES[name]
    rng = np.random.RandomState(0)
    rows = (3 * rng.normal(size=(n_rows, 7))).astype(dtype)
    W = rng.normal(size=(7, n_out)).astype(dtype)
    b = rng.normal(size=n_out).astype(dtype)
    targets = _targets(loss, n_rows, n_out, rng, dtype)
    value, d_rows, g_W, g_b = _kernel(rows, W, b, targets, loss, 1.0 / n_rows)
    raw = rows.astype(np.float64) @ W + b
    expected, d_raw = loss.loss_and_gradient(raw, targets.astype(np.float64))
    assert value == pytest.approx(expected, rel=rtol)
    scale = np.abs(d_raw).max() * np.abs(W).max()
    np.testing.assert_allclose(d_rows, d_raw @ W.T, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(g_W, rows.T @ d_raw, rtol=rtol,
                               atol=rtol * np.abs(rows.T @ np.abs(d_raw)).max())
    np.testing.assert_allclose(g_b, d_raw.sum(axis=0), rtol=rtol,
                               atol=rtol * np.abs(d_raw).sum(axis=0).max())


def test_kernel_softmax_and_logistic_do_not_overflow():
    """Raw outputs of +-1000: the loss is finite and the gradient is that of
    a saturated softmax or logistic."""
    rows = np.array([[1000.0], [-1000.0]])
    value, _, _, g_b = _kernel(rows, np.ones((1, 1)), np.zeros(1),
                               np.array([[0.0], [0.0]]), BinaryLogLoss, 1.0)
    assert value == pytest.approx(1000.0)
    np.testing.assert_allclose(g_b, [1.0])
    value, _, _, g_b = _kernel(rows, np.array([[1.0, -1.0]]), np.zeros(2),
                               np.array([[0.0, 1.0], [0.0, 1.0]]), MultinomialLogLoss, 1.0)
    assert value == pytest.approx(2000.0)
    np.testing.assert_allclose(g_b, [1.0, -1.0])


# Measured maxima: 2.2 ulp (float64) and 2.5 ulp (float32), on every
# instruction-set path (tests/test_isa_paths.py runs this module on each).
# They include the rounding of the division by the row's total.
@pytest.mark.parametrize("dtype, lowest, max_ulp", [(np.float64, -700, 2.5),
                                                    (np.float32, -80, 3.0)],
                         ids=["float64", "float32"])
def test_kernel_softmax_is_accurate_over_the_range_of_exp(dtype, lowest, max_ulp):
    """The softmax's exponentials (``skrnn_exp_nonpositive`` of
    src/skrnn/_kernels/_tanh.h) against exp in long double: rows (0, s) with
    W the identity and zero targets give d_rows = softmax, whose second value
    is exp(s) / (1 + exp(s)), from s = 0 down to where it is still a normal
    number, through tiny s (no cancellation)."""
    s = np.concatenate([np.linspace(lowest, 0, 200_001),
                        -np.geomspace(1e-30, 1, 2001)]).astype(dtype)
    rows = np.stack([np.zeros_like(s), s], axis=1)
    _, d_rows, _, _ = _kernel(rows, np.eye(2, dtype=dtype), np.zeros(2, dtype),
                              np.zeros_like(rows), MultinomialLogLoss, 1.0)
    e = np.exp(s.astype(np.longdouble))
    expected = e / (1 + e)
    ulp = np.spacing(expected.astype(dtype)).astype(np.longdouble)
    assert np.max(np.abs(d_rows[:, 1] - expected) / ulp) <= max_ulp


def test_kernel_is_bitwise_independent_of_thread_count():
    rng = np.random.RandomState(0)
    rows = rng.normal(size=(5000, 9)).astype(np.float32)
    W, b = rng.normal(size=(9, 5)).astype(np.float32), np.zeros(5, np.float32)
    targets = _targets(MultinomialLogLoss, 5000, 5, rng, np.float32)
    one, two = (_kernel(rows, W, b, targets, MultinomialLogLoss, 1 / 5000, n_threads)
                for n_threads in (1, 2))
    assert one[0] == two[0]
    for a, b_ in zip(one[1:], two[1:]):
        np.testing.assert_array_equal(a, b_)


def test_kernel_rejects_mismatched_arguments():
    rows, W, b = np.zeros((4, 3)), np.zeros((3, 2)), np.zeros(2)
    with pytest.raises(ValueError, match="targets"):
        _kernel(rows, W, b, np.zeros((5, 2)), SquaredLoss, 1.0)
    with pytest.raises(ValueError, match="row_weights"):
        _kernel(rows, W, b, np.zeros((4, 2)), SquaredLoss, 1.0, row_weights=np.ones(3))
    with pytest.raises(ValueError, match="binary log loss takes one output"):
        _kernel(rows, W, b, np.zeros((4, 2)), BinaryLogLoss, 1.0)
    with pytest.raises(ValueError, match="loss code"):
        output_loss(rows, W, b, np.zeros((4, 2)), np.empty(0), 7, 1.0, np.empty_like(rows),
                    np.empty_like(W), np.empty_like(b), 1)
    assert {int(code) for code in OutputLoss} == {SquaredLoss.code, BinaryLogLoss.code,
                                                  MultinomialLogLoss.code}


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("head", HEADS)
def test_forward_loss_equals_forward_then_numpy_loss(head, bidirectional):
    """Every head: ``forward_loss`` then ``backward`` give the loss and
    gradient of ``forward``, the NumPy loss and ``backward`` from its d_out."""
    rng = np.random.RandomState(0)
    lengths = rng.randint(1, 9, size=45)
    spec = NetworkSpec(3, 4, "gru", (5, 4), bidirectional, True)
    network = RecurrentNetwork(spec, np.float64, head)
    params = rng.normal(scale=0.6, size=network.layout.n_params)
    sequences = check_sequences([rng.normal(size=(n, 3)) for n in lengths])[0]
    n_rows = int(lengths.sum()) if head == "step" else len(lengths)
    targets = _targets(MultinomialLogLoss, n_rows, 4, rng, np.float64)

    value, cache = network.forward_loss(params, sequences, targets, MultinomialLogLoss,
                                        n_rows, 2)
    grad = network.backward(params, cache, None, 2)
    out, cache = network.forward(params, sequences, 2)
    expected, d_out = MultinomialLogLoss.loss_and_gradient(out, targets)
    expected_grad = network.backward(params, cache, d_out, 2)
    assert value == pytest.approx(expected, rel=1e-13)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-11, atol=1e-14)


def _step_estimator_batch(kind, rng):
    X = [rng.normal(size=(n, 2)) for n in rng.randint(1, 9, size=40)]
    if kind == "regressor":
        estimator = RNNStepRegressor(4, cell="lstm", bidirectional=True, alpha=0.3,
                                     max_iter=1, random_state=0)
        y = [rng.normal(size=(len(x), 2)) for x in X]
    else:
        estimator = RNNStepClassifier(4, cell="lstm", bidirectional=True, alpha=0.3,
                                      max_iter=1, random_state=0)
        n_classes = 2 if kind == "binary" else 3
        y = [rng.randint(0, n_classes, size=len(x)) for x in X]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    sequences = estimator._validate_sequences(X, reset=False)
    targets = estimator._prepare_targets(y, sequences, incremental=True)
    return estimator, sequences, estimator._cast_targets(targets, np.float64)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regressor"])
def test_per_step_objective_gradient_matches_finite_differences(kind):
    """The per-step estimators' training objective (fused loss, L2 term),
    every loss, on a bidirectional LSTM over ragged sequences."""
    rng = np.random.RandomState(0)
    estimator, sequences, targets = _step_estimator_batch(kind, rng)
    params = rng.normal(scale=0.6, size=estimator._params.shape)

    def objective(p):
        return estimator._loss_and_gradient(p, sequences, targets, 2)[0]

    _, grad = estimator._loss_and_gradient(params, sequences, targets, 2)
    fd = central_differences(objective, params)
    assert np.linalg.norm(grad) > 1e-3
    assert np.linalg.norm(grad - fd) / np.linalg.norm(fd) < 1e-6
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)

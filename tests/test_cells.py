"""The cells and architectures as a user sees them: what a gated cell learns
that an Elman cell cannot, the PyTorch-named weight mapping, and its errors."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNClassifier, RNNRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CELLS = ["rnn", "lstm", "gru"]


def adding_problem(n_samples, n_steps, seed):
    """Hochreiter & Schmidhuber's adding problem.

    Each step holds a value drawn from U(0, 1) and a marker; two steps are
    marked, one in each half of the sequence, and the target is the sum of
    their values. Predicting the mean (1) scores a mean squared error of 1/6;
    doing better means carrying the first marked value across at least half
    the sequence.
    """
    rng = np.random.RandomState(seed)
    values = rng.uniform(size=(n_samples, n_steps))
    markers = np.zeros((n_samples, n_steps))
    rows = np.arange(n_samples)
    first = rng.randint(n_steps // 2, size=n_samples)
    second = rng.randint(n_steps // 2, n_steps, size=n_samples)
    markers[rows, first] = 1
    markers[rows, second] = 1
    X = np.stack([values, markers], axis=2)
    return X, values[rows, first] + values[rows, second]


def test_gated_cells_learn_a_long_range_dependency_the_elman_cell_does_not():
    """The adding problem over 50 steps, same size and budget for every cell.

    Seen in development (seeds 0-2): Elman 0.16-0.18, LSTM and GRU below
    0.005, against 1/6 for predicting the mean. The thresholds leave a wide
    margin on both sides.
    """
    X, y = adding_problem(1000, 50, seed=0)
    X_test, y_test = adding_problem(500, 50, seed=1)
    mse = {}
    for cell in CELLS:
        reg = RNNRegressor(16, cell=cell, learning_rate_init=0.01, batch_size=32,
                           max_iter=20, random_state=0).fit(X, y)
        mse[cell] = np.mean((reg.predict(X_test) - y_test) ** 2)
    assert mse["lstm"] < 0.02, mse
    assert mse["gru"] < 0.02, mse
    assert mse["rnn"] > 0.1, mse  # no better than 0.6 x the mean's error


def _ragged(n, n_features, seed=0):
    rng = np.random.RandomState(seed)
    return [rng.normal(size=(rng.randint(1, 10), n_features)) for _ in range(n)]


@pytest.mark.parametrize("cell", CELLS)
def test_weights_round_trip_exactly(cell):
    X = _ragged(40, 3)
    y = np.arange(40) % 3
    clf = RNNClassifier((5, 4), cell=cell, bidirectional=True, learn_initial_state=True,
                        max_iter=3, random_state=0).fit(X, y)
    weights = clf.weights_
    expected = clf.predict_proba(X)
    rng = np.random.RandomState(1)
    clf.set_weights({k: rng.normal(size=v.shape) for k, v in weights.items()})
    assert not np.allclose(clf.predict_proba(X), expected)
    clf.set_weights(weights)
    np.testing.assert_array_equal(clf.predict_proba(X), expected)


def test_weights_have_pytorch_names_and_shapes():
    X = _ragged(30, 3)
    clf = RNNClassifier((6, 4), cell="lstm", bidirectional=True, max_iter=2,
                        random_state=0).fit(X, np.arange(30) % 3)
    shapes = {name: value.shape for name, value in clf.weights_.items()}
    assert shapes == {
        "weight_ih_l0": (24, 3), "weight_hh_l0": (24, 6),
        "bias_ih_l0": (24,), "bias_hh_l0": (24,),
        "weight_ih_l0_reverse": (24, 3), "weight_hh_l0_reverse": (24, 6),
        "bias_ih_l0_reverse": (24,), "bias_hh_l0_reverse": (24,),
        "weight_ih_l1": (16, 12), "weight_hh_l1": (16, 4),
        "bias_ih_l1": (16,), "bias_hh_l1": (16,),
        "weight_ih_l1_reverse": (16, 12), "weight_hh_l1_reverse": (16, 4),
        "bias_ih_l1_reverse": (16,), "bias_hh_l1_reverse": (16,),
        "output.weight": (3, 8), "output.bias": (3,),
    }


def test_lstm_starts_with_forget_gate_bias_one():
    X = _ragged(10, 2)
    clf = RNNClassifier(4, cell="lstm", max_iter=1, learning_rate_init=1e-9,
                        random_state=0).fit(X, np.arange(10) % 2)
    bias = clf.weights_["bias_ih_l0"] + clf.weights_["bias_hh_l0"]
    np.testing.assert_allclose(bias[4:8], 1, atol=1e-6)  # gates i, f, g, o
    np.testing.assert_allclose(bias[:4], 0, atol=1e-6)


def _fitted_gru():
    X = _ragged(20, 2)
    return RNNRegressor(3, cell="gru", max_iter=2, random_state=0).fit(X, np.ones(20)), X


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda w: w.pop("bias_hh_l0"), r"missing \['bias_hh_l0'\]"),
        (lambda w: w.update(weight_ih_l1=np.zeros((9, 3))), r"unknown \['weight_ih_l1'\]"),
        (lambda w: w.update(weight_hh_l0=np.zeros((3, 9))),
         r"'weight_hh_l0' has shape \(3, 9\); this network needs \(9, 3\)"),
        (lambda w: w["output.bias"].__setitem__(0, np.nan), "'output.bias' contains NaN"),
    ],
    ids=["missing", "unknown", "shape", "nan"],
)
def test_set_weights_rejects_bad_weights_and_changes_nothing(change, message):
    reg, X = _fitted_gru()
    before = reg.predict(X)
    weights = reg.weights_
    weights["weight_hh_l0"] += 1  # a valid change that must not land either
    change(weights)
    with pytest.raises(ValueError, match=message):
        reg.set_weights(weights)
    np.testing.assert_array_equal(reg.predict(X), before)


def test_set_weights_needs_a_fitted_model():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        RNNRegressor(cell="gru").set_weights({})


def test_relu_is_refused_for_gated_cells():
    X = _ragged(10, 2)
    with pytest.raises(ValueError, match="activation='relu' applies only to cell='rnn'"):
        RNNClassifier(cell="lstm", activation="relu").fit(X, np.arange(10) % 2)


@pytest.mark.parametrize("hidden", [(0,), (4, -1), (2.5,), ()])
def test_bad_hidden_layer_sizes_are_refused(hidden):
    X = _ragged(10, 2)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        RNNClassifier(hidden).fit(X, np.arange(10) % 2)


@pytest.mark.parametrize("cell", CELLS)
def test_partial_fit_stream_with_stacked_bidirectional_layers(cell):
    """partial_fit over a stream trains every architecture (not only fit)."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 8, 2))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    clf = RNNClassifier((8, 8), cell=cell, bidirectional=True, learning_rate_init=0.01,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(15):
            for start in range(0, 300, 50):
                clf.partial_fit(X[start : start + 50], y[start : start + 50], classes=[0, 1])
    assert clf.score(X, y) > 0.9


def test_warm_start_refuses_a_changed_architecture():
    X = _ragged(20, 2)
    y = np.arange(20) % 2
    clf = RNNClassifier(4, cell="gru", warm_start=True, max_iter=2, random_state=0).fit(X, y)
    clf.set_params(cell="lstm")
    with pytest.raises(ValueError, match="cell changed since the network was fitted"):
        clf.fit(X, y)
    clf.set_params(cell="gru", hidden_layer_sizes=(4, 4))
    with pytest.raises(ValueError, match="hidden_layer_sizes changed"):
        clf.partial_fit(X, y)

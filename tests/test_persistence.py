"""Saved models: pickle and skops round trips give the same model, which
goes on training exactly as the original would."""

import pickle

import numpy as np
import pytest

from skrnn import RNNClassifier, RNNRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _fitted(kind, cell, solver):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 7, 3))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    if kind == "classifier":
        est = RNNClassifier(5, cell=cell, solver=solver, max_iter=3, random_state=0)
    else:
        y = X[:, :, 1].mean(axis=1)
        est = RNNRegressor(5, cell=cell, solver=solver, bidirectional=True,
                           learn_initial_state=True, max_iter=3, random_state=0)
    return est.fit(X, y), X, y


def _assert_same_and_trains_the_same(original, loaded, X, y):
    predict = "predict_proba" if hasattr(original, "predict_proba") else "predict"
    np.testing.assert_array_equal(getattr(loaded, predict)(X), getattr(original, predict)(X))
    # The optimizer's state came along: one more epoch gives bitwise the
    # same weights from both.
    original.partial_fit(X, y)
    loaded.partial_fit(X, y)
    for name, value in original.weights_.items():
        np.testing.assert_array_equal(loaded.weights_[name], value, err_msg=name)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("cell, solver", [("rnn", "adam"), ("lstm", "sgd"), ("gru", "adam")])
def test_pickle_round_trip(kind, cell, solver):
    est, X, y = _fitted(kind, cell, solver)
    loaded = pickle.loads(pickle.dumps(est))
    _assert_same_and_trains_the_same(est, loaded, X, y)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("cell, solver", [("rnn", "sgd"), ("lstm", "adam")])
def test_skops_loads_trusting_only_the_estimator_type(kind, cell, solver):
    sio = pytest.importorskip("skops.io", reason='needs skops: pip install ".[test]"')
    est, X, y = _fitted(kind, cell, solver)
    data = sio.dumps(est)
    assert sio.get_untrusted_types(data=data) == [f"skrnn._rnn.{type(est).__name__}"]
    loaded = sio.loads(data, trusted=[f"skrnn._rnn.{type(est).__name__}"])
    _assert_same_and_trains_the_same(est, loaded, X, y)


def test_an_unfitted_estimator_round_trips():
    est = RNNClassifier(7, cell="gru")
    loaded = pickle.loads(pickle.dumps(est))
    assert loaded.get_params() == est.get_params()
    assert not hasattr(loaded, "_params")

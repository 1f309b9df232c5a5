"""``pooling`` of RNNClassifier and RNNRegressor."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNClassifier, RNNRegressor


def _bump_at_random_step(n, rng, n_steps=150):
    """Noise; class 1 has a bump of 8 steps somewhere in the first half, so
    that by the last step a state must remember it over 75 to 150 steps."""
    X = rng.normal(size=(n, n_steps, 1))
    y = rng.randint(2, size=n)
    for i in np.flatnonzero(y):
        start = rng.randint(0, n_steps // 2)
        X[i, start : start + 8, 0] += 2.0
    return X, y


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_pooling_beats_last_state_on_long_sequences():
    """The documented example (doc/user_guide.md, "Pooling"): on 150-step
    series whose class shows at an unknown step, a GRU reading the mean or
    maximum of its states learns what the last state alone does not."""
    rng = np.random.RandomState(0)
    X_train, y_train = _bump_at_random_step(300, rng)
    X_test, y_test = _bump_at_random_step(300, rng)
    scores = {}
    for pooling in ("last", "mean", "max"):
        clf = RNNClassifier(16, cell="gru", pooling=pooling, max_iter=30,
                            learning_rate_init=0.01, batch_size=32, random_state=0)
        scores[pooling] = clf.fit(X_train, y_train).score(X_test, y_test)
    # Measured: last 0.51, mean 0.94-0.98, max 0.93 (the mean's varies with
    # the CPU's rounding of the BLAS products).
    assert scores["last"] < 0.65
    assert scores["mean"] > 0.85 and scores["max"] > 0.85


@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
def test_pooling_is_an_architecture_parameter(Estimator):
    """warm_start refuses a changed pooling, as it refuses a changed cell;
    a saved model keeps its pooling."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20, 6, 2))
    y = np.arange(20) % 2
    est = Estimator(4, pooling="max", max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert loaded._network.head.name == "max"
    est.set_params(warm_start=True, pooling="mean")
    with pytest.raises(ValueError, match="pooling changed"):
        est.fit(X, y)


def test_unknown_pooling_is_rejected():
    with pytest.raises(ValueError, match="pooling"):
        RNNRegressor(pooling="sum").fit(np.zeros((4, 3, 1)), np.zeros(4))

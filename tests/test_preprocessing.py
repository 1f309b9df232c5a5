"""skrnn.preprocessing.SequenceScaler."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skrnn import RNNRegressor, RNNStepRegressor
from skrnn.preprocessing import SequenceScaler


def _ragged(seed=0, n=12, n_features=3):
    rng = np.random.RandomState(seed)
    return [50 + rng.normal(scale=[1.0, 10.0, 100.0][:n_features],
                            size=(rng.randint(1, 9), n_features)) for _ in range(n)]


@parametrize_with_checks([SequenceScaler()])
def test_sklearn_compatible_transformer(estimator, check):
    check(estimator)


def test_statistics_are_over_every_step_of_every_sequence():
    X = _ragged()
    scaler = SequenceScaler().fit(X)
    steps = np.concatenate(X)
    np.testing.assert_allclose(scaler.mean_, steps.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scaler.scale_, steps.std(axis=0), rtol=1e-12)
    assert scaler.n_steps_seen_ == len(steps)
    Z = np.concatenate(scaler.transform(X))
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1, rtol=1e-12)


@pytest.mark.parametrize("form", ["3-D", "list", "list of 1-D", "2-D"])
def test_answers_in_the_form_given_and_inverts(form):
    rng = np.random.RandomState(1)
    X = {"3-D": 5 + 3 * rng.normal(size=(6, 7, 2)),
         "list": _ragged(2, n_features=2),
         "list of 1-D": [5 + 3 * rng.normal(size=n) for n in (4, 1, 6)],
         "2-D": 5 + 3 * rng.normal(size=(6, 7))}[form]
    before = [np.array(x, copy=True) for x in X] if isinstance(X, list) else X.copy()
    scaler = SequenceScaler().fit(X)
    Z = scaler.transform(X)
    back = scaler.inverse_transform(Z)
    if isinstance(X, list):
        assert isinstance(Z, list) and [z.shape for z in Z] == [x.shape for x in X]
        for x, b, original in zip(X, back, before):
            np.testing.assert_allclose(b, x, rtol=1e-12)
            np.testing.assert_array_equal(x, original)  # X is unchanged
    else:
        assert Z.shape == X.shape
        np.testing.assert_allclose(back, X, rtol=1e-12)
        np.testing.assert_array_equal(X, before)
    if form == "2-D":
        # One univariate series per row: one mean and scale for all columns.
        assert scaler.mean_.shape == (1,) and scaler.n_features_in_ == 7


def test_float32_stays_float32_and_constant_features_keep_their_values():
    X = np.ones((4, 5, 2), np.float32)
    X[..., 1] = np.arange(5)
    scaler = SequenceScaler().fit(X)
    Z = scaler.transform(X)
    assert Z.dtype == np.float32
    assert scaler.scale_[0] == 1.0
    np.testing.assert_array_equal(Z[..., 0], 0)


def test_wrong_features_per_step_is_an_error_that_names_them():
    scaler = SequenceScaler().fit(_ragged(n_features=3))
    with pytest.raises(ValueError, match="2 features per time step, but SequenceScaler was fitted with 3"):
        scaler.transform(_ragged(n_features=2))


def test_in_front_of_estimators_in_a_pipeline():
    """On inputs of very different scales, the scaled pipeline fits a
    regression target the unscaled network barely reads."""
    rng = np.random.RandomState(3)
    X = [np.column_stack([1e3 * rng.normal(size=n), rng.normal(size=n)])
         for n in rng.randint(5, 15, size=200)]
    y = np.array([x[:, 1].sum() for x in X])
    params = dict(hidden_layer_sizes=16, cell="gru", max_iter=60,
                  learning_rate_init=0.01, random_state=0)
    scaled = make_pipeline(SequenceScaler(), RNNRegressor(**params)).fit(X, y)
    unscaled = RNNRegressor(**params).fit(X, y)
    assert scaled.score(X, y) > 0.9
    # Measured: 0.96 scaled, 0.05 unscaled.
    assert scaled.score(X, y) > unscaled.score(X, y) + 0.5
    per_step = make_pipeline(SequenceScaler(), RNNStepRegressor(4, max_iter=2))
    y_steps = [np.cumsum(x[:, 1]) for x in X]
    assert [p.shape for p in per_step.fit(X, y_steps).predict(X[:3])] == [
        y_.shape for y_ in y_steps[:3]]

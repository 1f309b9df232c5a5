"""``sample_weight`` in fit, partial_fit and score: a sequence of weight k
counts as k copies of it, and a weight of 0 removes it."""

import warnings

import numpy as np
import pytest
from sklearn.ensemble import AdaBoostClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import recall_score
from sklearn.utils.estimator_checks import check_sample_weight_equivalence_on_dense_data

from skrnn import RNNClassifier, RNNRegressor, RNNStepClassifier, RNNStepRegressor
from weighted_objective import objective, repeat

N_FEATURES, HIDDEN = 2, 4
LENGTHS = [int(n) for n in np.random.RandomState(0).randint(1, 9, size=23)]


def _data(seed=0, lengths=LENGTHS):
    rng = np.random.RandomState(seed)
    return [rng.normal(size=(n, N_FEATURES)) for n in lengths]


def _targets(kind, X, seed=1):
    rng = np.random.RandomState(seed)
    if kind == "step_classifier":
        return [(np.cumsum(x[:, 0]) > 0).astype(int) for x in X]
    if kind == "step_regressor":
        return [rng.normal(size=(len(x), 2)) for x in X]
    if kind == "regressor":
        return rng.normal(size=(len(X), 2))
    return np.arange(len(X)) % (2 if kind == "binary" else 3)


# (kind, the estimator's class and its head)
ESTIMATORS = {
    "multinomial": (RNNClassifier, {"pooling": "last"}),
    "binary": (RNNClassifier, {"pooling": "mean"}),
    "regressor": (RNNRegressor, {"pooling": "max"}),
    "step_classifier": (RNNStepClassifier, {}),
    "step_regressor": (RNNStepRegressor, {}),
}


def _estimator(kind, **params):
    cls, head = ESTIMATORS[kind]
    return cls(HIDDEN, random_state=0, **dict(head, **params))


@pytest.mark.parametrize("bptt_truncate", [None, 3], ids=["full", "truncated"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("kind", ESTIMATORS)
def test_integer_weights_give_the_objective_of_repeated_sequences(kind, cell, bptt_truncate):
    """Weights 0 to 3 against each sequence repeated that many times (0:
    left out): the same loss, L2 term included, and gradient, for every
    head, cell and with truncation. The two sides sum the same float64
    terms in other orders, so they agree to rounding (1e-12)."""
    X = _data()
    y = _targets(kind, X)
    counts = np.random.RandomState(2).randint(0, 4, size=len(X))
    counts[:2] = (0, 3)
    estimator = _estimator(kind, cell=cell, alpha=0.01, max_iter=1,
                           bptt_truncate=bptt_truncate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    estimator._params[...] = np.random.RandomState(3).normal(
        scale=0.5, size=estimator._params.shape)
    repeated_y = repeat(list(y), counts)
    if isinstance(y, np.ndarray):
        repeated_y = np.array(repeated_y)
    weighted_loss, weighted_grad = objective(estimator, X, y, counts)
    repeated_loss, repeated_grad = objective(estimator, repeat(X, counts), repeated_y)
    assert weighted_loss == pytest.approx(repeated_loss, rel=1e-12)
    np.testing.assert_allclose(weighted_grad, repeated_grad, rtol=1e-12,
                               atol=1e-12 * np.abs(repeated_grad).max())


def test_equal_weights_leave_the_objective_as_it_is():
    """The loss is a weighted mean: unit weights, or any equal weights when
    alpha is 0, change nothing but rounding. (With alpha > 0 the L2 term is
    divided by the sum of the weights, as MLPClassifier divides it.)"""
    X, y = _data(), _targets("step_regressor", _data())
    estimator = _estimator("step_regressor", max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    loss, grad = objective(estimator, X, y)
    unit_loss, unit_grad = objective(estimator, X, y, np.ones(len(X)))
    assert unit_loss == pytest.approx(loss, rel=1e-13)
    np.testing.assert_allclose(unit_grad, grad, rtol=1e-12, atol=1e-15)
    estimator.set_params(alpha=0.0)
    loss, grad = objective(estimator, X, y)
    equal_loss, equal_grad = objective(estimator, X, y, np.full(len(X), 2.5))
    assert equal_loss == pytest.approx(loss, rel=1e-13)
    np.testing.assert_allclose(equal_grad, grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", ["multinomial", "step_regressor"])
def test_fit_with_weights_equals_fit_on_repeated_sequences(kind):
    """One mini-batch per epoch, no shuffling: the fits take the same
    steps, their gradients equal to rounding, so after five Adam updates
    the weights agree far below the size of an update (lr 1e-3)."""
    X = _data()
    y = _targets(kind, X)
    counts = np.random.RandomState(4).randint(0, 4, size=len(X))
    counts[0] = 0
    repeated_y = repeat(list(y), counts)
    if kind == "multinomial":
        repeated_y = np.array(repeated_y)
    params = dict(max_iter=5, batch_size=200, shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = _estimator(kind, **params).fit(X, y, sample_weight=counts)
        repeated = _estimator(kind, **params).fit(repeat(X, counts), repeated_y)
    np.testing.assert_allclose(weighted._params, repeated._params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-10)


@pytest.mark.parametrize("kind", ["binary", "step_classifier"])
def test_a_mini_batch_of_zero_weights_makes_no_update(kind):
    """Sequences of weight 0 in a mini-batch of their own: the fit is the
    fit without them, to rounding (the other batches' unit weights take the
    weighted mean's arithmetic)."""
    X = _data()
    y = _targets(kind, X)
    weights = np.ones(len(X))
    weights[:3] = 0
    params = dict(max_iter=2, batch_size=3, shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = _estimator(kind, **params).fit(X, y, sample_weight=weights)
        without = _estimator(kind, **params).fit(X[3:], y[3:])
    np.testing.assert_allclose(weighted._params, without._params, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(weighted.loss_curve_, without.loss_curve_, rtol=1e-12)
    assert weighted.n_iter_ == without.n_iter_


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_partial_fit_takes_weights(kind):
    X = _data()
    y = _targets(kind, X)
    estimator = _estimator(kind)
    classes = {"classes": np.unique(np.concatenate([np.ravel(v) for v in y]))} \
        if "classifier" in kind or kind in ("multinomial", "binary") else {}
    weights = np.linspace(0, 2, len(X))
    estimator.partial_fit(X, y, sample_weight=weights, **classes)
    before = estimator._params.copy()
    estimator.partial_fit(X, y, sample_weight=weights)
    assert not np.array_equal(before, estimator._params)


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_bad_weights_are_refused_and_nothing_is_modified(kind):
    X = _data()
    y = _targets(kind, X)
    estimator = _estimator(kind, max_iter=1)
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(3,\), expected \(23,\)"):
        estimator.fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        estimator.fit(X, y, sample_weight=-np.ones(len(X)))
    with pytest.raises(ValueError, match="at least one non-zero"):
        estimator.fit(X, y, sample_weight=np.zeros(len(X)))
    with pytest.raises(ValueError, match="NaN"):
        estimator.fit(X, y, sample_weight=np.full(len(X), np.nan))
    assert not hasattr(estimator, "_params")
    weights = np.arange(len(X), dtype=float)
    kept = weights.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(weights, kept)


def test_early_stopping_scores_the_held_out_part_with_its_weights():
    """With the split fixed (the last 30 sequences held out) and one epoch,
    the validation score is the weighted accuracy of the fitted model on
    the held-out part."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 5, 1))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    weights = rng.uniform(0, 2, size=120)
    estimator = RNNClassifier(4, max_iter=1, early_stopping=True, random_state=0)
    estimator._validation_split = lambda n_samples, targets, rng: (np.arange(90),
                                                                   np.arange(90, 120))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y, sample_weight=weights)
    correct = estimator.predict(X[90:]) == y[90:]
    assert estimator.validation_scores_[0] == pytest.approx(
        np.average(correct, weights=weights[90:]), rel=1e-12)
    assert estimator.validation_scores_[0] != pytest.approx(correct.mean(), rel=1e-6)


@pytest.mark.parametrize("kind", ["step_classifier", "step_regressor"])
def test_step_scores_weight_every_step_by_its_sequence(kind):
    X = _data()
    y = _targets(kind, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator = _estimator(kind, max_iter=3).fit(X, y)
    counts = np.random.RandomState(5).randint(0, 3, size=len(X))
    counts[0] = 1
    assert estimator.score(X, y, sample_weight=counts) == pytest.approx(
        estimator.score(repeat(X, counts), repeat(list(y), counts)), rel=1e-12)
    assert estimator.score(X, y, sample_weight=np.ones(len(X))) == pytest.approx(
        estimator.score(X, y), rel=1e-12)


@pytest.mark.parametrize("estimator", [
    RNNClassifier(cell="gru", max_iter=10, shuffle=False),
    RNNRegressor(cell="lstm", max_iter=10, shuffle=False),
], ids=["classifier", "regressor"])
def test_scikit_learn_weight_equivalence_check(estimator):
    """scikit-learn's own check that weights equal repetition (to 1e-7), on
    fits short enough that rounding is not amplified past it; with the
    default 200 epochs it is an expected failure (tests/test_common.py)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check_sample_weight_equivalence_on_dense_data(type(estimator).__name__, estimator)


def test_weighting_the_rare_class_raises_its_recall():
    """The documented example (doc/user_guide.md, "Sample weights"): the
    positives, a third of the sequences, weighted as many as the negatives,
    are found far more often than unweighted (0.72 against 0.58 here)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12, 2))
    y = (X[:, :, 0].sum(axis=1) > 2).astype(int)
    weights = np.where(y == 1, (y == 0).sum() / (y == 1).sum(), 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = RNNClassifier(16, max_iter=20, random_state=0).fit(X, y, sample_weight=weights)
        plain = RNNClassifier(16, max_iter=20, random_state=0).fit(X, y)
    assert recall_score(y, weighted.predict(X)) > recall_score(y, plain.predict(X)) + 0.1


def test_boosting_passes_its_weights_to_the_network():
    """AdaBoost reweights the sequences every round: each round's network
    is fitted on other weights, so they differ, and the ensemble fits."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 6, 2))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        boosted = AdaBoostClassifier(RNNClassifier(8, max_iter=5, random_state=0),
                                     n_estimators=3, random_state=0).fit(X, y)
    first, second = boosted.estimators_[:2]
    assert not np.array_equal(first._params, second._params)
    assert boosted.score(X, y) > 0.6

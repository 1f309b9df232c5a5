"""``class_weight`` of RNNClassifier and RNNStepClassifier: a class of
weight k counts each of its sequences (or steps) as k copies, 'balanced' is
scikit-learn's, and class weights multiply ``sample_weight``."""

import copy
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import recall_score
from sklearn.model_selection import GridSearchCV
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight

from skrnn import RNNClassifier, RNNRegressor, RNNStepClassifier, RNNStepRegressor
from weighted_objective import objective, repeat

N_FEATURES, HIDDEN = 2, 4
LENGTHS = [int(n) for n in np.random.RandomState(0).randint(1, 9, size=24)]


def _data(lengths=LENGTHS, seed=0):
    rng = np.random.RandomState(seed)
    return [rng.normal(size=(n, N_FEATURES)) for n in lengths]


def _labels(n, n_classes, seed=1):
    """Labels of unequal frequencies, every class present."""
    rng = np.random.RandomState(seed)
    p = np.arange(1, n_classes + 1, dtype=float)
    y = rng.choice(n_classes, size=n, p=p / p.sum())
    y[:n_classes] = np.arange(n_classes)
    return y


def _step_labels(X):
    return [(np.cumsum(x[:, 0]) > 0).astype(int) for x in X]


def _at_random_weights(estimator, X, y):
    """``estimator`` fitted for one epoch (to set up its network), then given
    weights far from their initialisation, where every term of the
    gradient counts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    estimator._params[...] = np.random.RandomState(3).normal(
        scale=0.5, size=estimator._params.shape)
    return estimator


def _assert_same_objective(first, second):
    """Two (loss, gradient) pairs equal to rounding: the same float64 terms
    summed in other orders."""
    assert first[0] == pytest.approx(second[0], rel=1e-12)
    np.testing.assert_allclose(first[1], second[1], rtol=1e-12,
                               atol=1e-12 * np.abs(second[1]).max())


def _with_class_weight(estimator, class_weight):
    """The same fitted network, with another class_weight."""
    other = copy.deepcopy(estimator)
    other.class_weight = class_weight
    return other


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("n_classes", [2, 3], ids=["binary", "multinomial"])
def test_a_class_of_weight_k_counts_as_k_copies_of_its_sequences(n_classes, cell):
    """Loss (L2 term included) and gradient equal those of the data with
    every sequence of a class repeated as many times as its weight."""
    X = _data()
    y = _labels(len(X), n_classes)
    class_weight = {1: 3} if n_classes == 2 else {0: 2, 1: 3}
    weighted = _at_random_weights(
        RNNClassifier(HIDDEN, cell=cell, alpha=0.01, max_iter=1, random_state=0,
                      class_weight=class_weight), X, y)
    counts = np.array([class_weight.get(label, 1) for label in y])
    repeated = _with_class_weight(weighted, None)
    _assert_same_objective(objective(weighted, X, y),
                           objective(repeated, repeat(X, counts), np.array(repeat(y, counts))))


@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNStepClassifier])
def test_a_class_weight_is_a_sample_weight_on_the_class(Estimator):
    """Float and zero class weights, against the same weights given as
    sample_weight (for the per-step classifier on sequences whose steps all
    have one label, where a sequence's weight is its steps')."""
    X = _data()
    y = _labels(len(X), 3)
    if Estimator is RNNStepClassifier:
        y = [np.full(len(x), label) for x, label in zip(X, y)]
    class_weight = {0: 0.0, 1: 2.5}
    weighted = _at_random_weights(
        Estimator(HIDDEN, alpha=0.01, max_iter=1, random_state=0, class_weight=class_weight),
        X, y)
    sample_weight = np.array([class_weight.get(labels[0] if np.ndim(labels) else labels, 1.0)
                              for labels in y])
    _assert_same_objective(objective(weighted, X, y),
                           objective(_with_class_weight(weighted, None), X, y, sample_weight))


def test_every_step_is_weighted_by_its_own_class():
    """Steps of both classes within a sequence: the loss with class weights
    (a, b) is the mean of the per-class losses (class weights (1, 0) and
    (0, 1)) weighted by a and b times each class's number of steps, and so
    is the gradient (alpha=0, so there is no L2 term to share)."""
    X = _data()
    y = _step_labels(X)
    steps = np.bincount(np.concatenate(y))
    assert any(len(set(labels)) == 2 for labels in y)
    estimator = _at_random_weights(RNNStepClassifier(HIDDEN, alpha=0.0, max_iter=1,
                                                     random_state=0), X, y)
    a, b = 0.5, 4.0
    both = objective(_with_class_weight(estimator, {0: a, 1: b}), X, y)
    only_0 = objective(_with_class_weight(estimator, {0: 1, 1: 0}), X, y)
    only_1 = objective(_with_class_weight(estimator, {0: 0, 1: 1}), X, y)
    total = a * steps[0] + b * steps[1]
    _assert_same_objective(
        both,
        tuple((a * steps[0] * zero + b * steps[1] * one) / total
              for zero, one in zip(only_0, only_1)))


@pytest.mark.parametrize("n_classes", [2, 3], ids=["binary", "multinomial"])
def test_balanced_is_compute_sample_weight_balanced(n_classes):
    X = _data()
    y = _labels(len(X), n_classes)
    balanced = _at_random_weights(
        RNNClassifier(HIDDEN, alpha=0.01, max_iter=1, random_state=0,
                      class_weight="balanced"), X, y)
    sample_weight = compute_sample_weight("balanced", y)
    assert len(set(sample_weight)) == n_classes  # unequal frequencies
    _assert_same_objective(objective(balanced, X, y),
                           objective(_with_class_weight(balanced, None), X, y, sample_weight))


def test_balanced_counts_the_steps_of_each_class():
    """The per-step classifier's samples are steps: 'balanced' is
    compute_class_weight over every step's label. The short sequences are
    all of class 0 and the long ones of class 1, half of each, so counting
    sequences would weigh the classes equally."""
    lengths = [2] * 10 + [8] * 10
    X = _data(lengths)
    y = [np.full(n, int(n == 8)) for n in lengths]
    step_labels = np.concatenate(y)
    by_steps = compute_class_weight("balanced", classes=np.array([0, 1]), y=step_labels)
    assert by_steps[0] == pytest.approx(4 * by_steps[1])
    balanced = _at_random_weights(
        RNNStepClassifier(HIDDEN, max_iter=1, random_state=0, class_weight="balanced"), X, y)
    _assert_same_objective(objective(balanced, X, y),
                           objective(_with_class_weight(balanced, dict(enumerate(by_steps))),
                                     X, y))
    unweighted = objective(_with_class_weight(balanced, None), X, y)
    assert objective(balanced, X, y)[0] != pytest.approx(unweighted[0], rel=1e-3)


@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNStepClassifier])
def test_balanced_counts_sample_weights_as_repetitions(Estimator):
    """With integer sample weights, 'balanced' gives the objective of the
    repeated sequences with 'balanced': the class frequencies are counted
    with the weights (as compute_class_weight counts sample_weight), and the
    class weights multiply the sample weights."""
    X = _data()
    y = _labels(len(X), 3)
    if Estimator is RNNStepClassifier:
        y = _step_labels(X)
    counts = np.random.RandomState(2).randint(0, 4, size=len(X))
    counts[:3] = 1  # every class stays present
    if Estimator is RNNClassifier:
        counts[y == 2] *= 2  # frequencies that repetition changes
    balanced = _at_random_weights(
        Estimator(HIDDEN, alpha=0.01, max_iter=1, random_state=0, class_weight="balanced"),
        X, y)
    repeated_y = repeat(list(y), counts)
    if Estimator is RNNClassifier:
        repeated_y = np.array(repeated_y)
    _assert_same_objective(objective(balanced, X, y, counts),
                           objective(balanced, repeat(X, counts), repeated_y))
    if Estimator is RNNClassifier:
        per_class = compute_class_weight("balanced", classes=np.arange(3), y=repeated_y)
        _assert_same_objective(objective(balanced, X, y, counts),
                               objective(_with_class_weight(balanced, None), X, y,
                                         counts * per_class[y]))


def test_partial_fit_refuses_balanced_and_changes_nothing():
    X = _data()
    y = _labels(len(X), 3)
    estimator = RNNClassifier(HIDDEN, random_state=0, class_weight="balanced")
    match = "class_weight='balanced' is not supported by partial_fit"
    with pytest.raises(ValueError, match=match):
        estimator.partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(estimator, "classes_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.set_params(max_iter=2).fit(X, y)
    fitted = copy.deepcopy(vars(estimator))
    with pytest.raises(ValueError, match=match):
        estimator.partial_fit(X, y)
    np.testing.assert_array_equal(estimator._params, fitted["_params"])
    assert estimator.n_iter_ == fitted["n_iter_"]
    step = RNNStepClassifier(HIDDEN, random_state=0, class_weight="balanced")
    with pytest.raises(ValueError, match=match):
        step.partial_fit(X, _step_labels(X), classes=[0, 1])


@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNStepClassifier])
def test_partial_fit_with_a_dict_weighs_as_sample_weight(Estimator):
    """The first chunk lacks class 2, which ``classes`` names: its weight in
    the dict is accepted, and each update equals the one that the weights,
    given as sample_weight, make."""
    X = _data()
    y = _labels(len(X), 2)
    classes = [0, 1, 2]
    if Estimator is RNNStepClassifier:
        y = [np.full(len(x), label) for x, label in zip(X, y)]
    class_weight = {0: 0.5, 2: 7.0}
    sample_weight = np.array([class_weight.get(np.ravel(labels)[0], 1.0) for labels in y])
    weighted = Estimator(HIDDEN, random_state=0, class_weight=class_weight)
    plain = Estimator(HIDDEN, random_state=0)
    for _ in range(2):
        weighted.partial_fit(X, y, classes=classes)
        plain.partial_fit(X, y, classes=classes, sample_weight=sample_weight)
    np.testing.assert_allclose(weighted._params, plain._params, rtol=1e-10, atol=1e-13)
    assert not np.array_equal(weighted._params,
                              Estimator(HIDDEN, random_state=0).partial_fit(
                                  X, y, classes=classes).partial_fit(X, y)._params)


@pytest.mark.parametrize("class_weight, message", [
    ({5: 1.0}, r"class_weight has keys \[5\] that are not classes; the classes are \[0, 1, 2\]"),
    ({"1": 2.0}, r"class_weight has keys \['1'\] that are not classes"),
    ({0: -1.0}, r"class_weight\[0\] is -1.0; class weights must be non-negative finite"),
    ({1: np.nan}, r"class_weight\[1\] is nan"),
    ({1: np.inf}, r"class_weight\[1\] is inf"),
    ({2: "3"}, r"class_weight\[2\] is '3'"),
    ({0: 0, 1: 0, 2: 0}, "gives every label of y weight 0"),
])
@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNStepClassifier])
def test_bad_class_weights_are_refused_and_nothing_is_modified(Estimator, class_weight,
                                                              message):
    X = _data()
    y = _labels(len(X), 3)
    if Estimator is RNNStepClassifier:
        y = [np.full(len(x), label) for x, label in zip(X, y)]
    kept = copy.deepcopy(class_weight)
    estimator = Estimator(HIDDEN, max_iter=1, class_weight=class_weight)
    with pytest.raises(ValueError, match=message):
        estimator.fit(X, y)
    assert not hasattr(estimator, "classes_")
    with pytest.raises(ValueError, match=message):
        estimator.partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(estimator, "classes_")
    assert estimator.class_weight is class_weight
    assert repr(class_weight) == repr(kept)


def test_zero_weights_everywhere_name_both_weights():
    """The sequences of weight 1 are all of a class of weight 0."""
    X = _data()
    y = _labels(len(X), 2)
    estimator = RNNClassifier(HIDDEN, class_weight={1: 0})
    with pytest.raises(ValueError, match="and sample_weight give every label of y weight 0"):
        estimator.fit(X, y, sample_weight=(y == 1).astype(float))


def test_string_labels_and_the_weights_passed_are_kept():
    X = _data()
    y = np.array(["cat", "dog", "emu"])[_labels(len(X), 3)]
    class_weight = {"emu": 3.0, "cat": 0.5}
    sample_weight = np.linspace(0.5, 1.5, len(X))
    kept_weights, kept_dict = sample_weight.copy(), dict(class_weight)
    weighted = _at_random_weights(
        RNNClassifier(HIDDEN, max_iter=1, random_state=0, class_weight=class_weight), X, y)
    per_sequence = np.array([class_weight.get(label, 1.0) for label in y])
    _assert_same_objective(
        objective(weighted, X, y, sample_weight),
        objective(_with_class_weight(weighted, None), X, y, sample_weight * per_sequence))
    np.testing.assert_array_equal(sample_weight, kept_weights)
    assert weighted.class_weight == kept_dict
    with pytest.raises(ValueError, match=r"keys \['ant'\] that are not classes; the "
                                         r"classes are \['cat', 'dog', 'emu'\]"):
        weighted.set_params(class_weight={"ant": 1}).fit(X, y)


def test_early_stopping_scores_the_held_out_part_with_the_class_weights():
    """With the split fixed (the last 30 sequences held out) and one epoch,
    the validation score is the accuracy on the held-out part weighted by
    the class weights (for 'balanced', its balanced accuracy over y)."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 5, 1))
    y = (X[:, :, 0].sum(axis=1) > 1).astype(int)
    estimator = RNNClassifier(4, max_iter=1, early_stopping=True, random_state=0,
                              class_weight="balanced")
    estimator._validation_split = lambda n_samples, targets, rng: (np.arange(90),
                                                                   np.arange(90, 120))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    correct = estimator.predict(X[90:]) == y[90:]
    weights = compute_sample_weight("balanced", y)[90:]
    assert estimator.validation_scores_[0] == pytest.approx(
        np.average(correct, weights=weights), rel=1e-12)
    assert estimator.validation_scores_[0] != pytest.approx(correct.mean(), rel=1e-6)


def test_balanced_raises_the_recall_of_the_rare_class():
    """The documented example (doc/user_guide.md, "Class weights"): about
    one sequence in eleven is positive; 'balanced' finds far more of them
    than no weights do (0.88 against 0.58 here)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12, 2))
    y = (X[:, :, 0].sum(axis=1) > 5).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        balanced = RNNClassifier(16, max_iter=20, random_state=0,
                                 class_weight="balanced").fit(X, y)
        plain = RNNClassifier(16, max_iter=20, random_state=0).fit(X, y)
    assert recall_score(y, balanced.predict(X)) > recall_score(y, plain.predict(X)) + 0.2


def test_a_heavy_class_takes_over_the_steps():
    """scikit-learn's check_class_weight_classifiers, per step: on noise, a
    class of weight 1000 against 0.0001 is predicted at nearly every step."""
    rng = np.random.RandomState(0)
    X = [rng.normal(size=(n, 2)) for n in rng.randint(3, 10, size=60)]
    y = [rng.randint(0, 2, size=len(x)) for x in X]
    for heavy in (0, 1):
        clf = RNNStepClassifier(8, max_iter=30, learning_rate_init=0.01, random_state=0,
                                class_weight={heavy: 1000, 1 - heavy: 0.0001})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        assert np.mean(np.concatenate(clf.predict(X)) == heavy) > 0.87


def test_class_weight_is_a_parameter_of_the_classifiers_only():
    """get_params, set_params, clone, and a grid search over class_weight
    on a rare class (a quarter of the sequences), whose recall each
    candidate changes."""
    for Estimator in (RNNClassifier, RNNStepClassifier):
        assert Estimator().get_params()["class_weight"] is None
        estimator = Estimator(class_weight={0: 2.0})
        assert clone(estimator).get_params()["class_weight"] == {0: 2.0}
        assert estimator.set_params(class_weight="balanced").class_weight == "balanced"
    for Estimator in (RNNRegressor, RNNStepRegressor):
        assert "class_weight" not in Estimator().get_params()
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 5, 2))
    y = (X[:, :, 0].sum(axis=1) > 1.5).astype(int)
    candidates = [None, "balanced", {0: 1.0, 1: 3.0}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(RNNClassifier(4, max_iter=5, learning_rate_init=0.01,
                                            random_state=0),
                              {"class_weight": candidates}, cv=2, scoring="recall").fit(X, y)
    assert list(search.cv_results_["param_class_weight"]) == candidates
    assert search.best_estimator_.class_weight == search.best_params_["class_weight"]
    assert len(set(search.cv_results_["mean_test_score"])) == 3

"""RNNStepClassifier and RNNStepRegressor: a target at every time step."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skrnn import RNNRegressor, RNNStepClassifier, RNNStepRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _tagging_task(n, rng):
    """Ragged sequences of tokens 0-3 (one-hot); the tag of a step is 1 from
    a 'start' token (0) to the next 'stop' token (1): it depends on the past,
    not on the current step alone."""
    X, y = [], []
    for length in rng.randint(5, 30, size=n):
        tokens = rng.choice(4, size=length, p=[0.15, 0.15, 0.35, 0.35])
        tags, inside = np.zeros(length, int), 0
        for t, token in enumerate(tokens):
            inside = 1 if token == 0 else 0 if token == 1 else inside
            tags[t] = inside
        X.append(np.eye(4)[tokens])
        y.append(tags)
    return X, y


def test_tagging_ragged_sequences_learns():
    """The documented example (doc/user_guide.md, "Labelling every step"):
    per-step accuracy far above the majority tag's."""
    rng = np.random.RandomState(0)
    X_train, y_train = _tagging_task(300, rng)
    X_test, y_test = _tagging_task(200, rng)
    clf = RNNStepClassifier(16, cell="gru", learning_rate_init=0.02, max_iter=40,
                            random_state=0).fit(X_train, y_train)
    majority = max(np.mean(np.concatenate(y_test)), 1 - np.mean(np.concatenate(y_test)))
    score = clf.score(X_test, y_test)
    assert majority < 0.7
    assert score > 0.97
    predicted = clf.predict(X_test)
    assert isinstance(predicted, list)
    assert [p.shape for p in predicted] == [y.shape for y in y_test]
    proba = clf.predict_proba(X_test[:3])
    assert [p.shape for p in proba] == [(len(y), 2) for y in y_test[:3]]
    np.testing.assert_allclose([p.sum(axis=1) for p in proba][0], 1)


def _ragged_regression(n=40, seed=0, n_outputs=None):
    rng = np.random.RandomState(seed)
    X = [rng.normal(size=(rng.randint(1, 12), 2)) for _ in range(n)]
    if n_outputs is None:
        y = [np.cumsum(x[:, 0]) for x in X]
    else:
        y = [np.stack([np.cumsum(x[:, 0])] * n_outputs, axis=1) for x in X]
    return X, y


@pytest.mark.parametrize("n_outputs", [None, 3], ids=["values", "vectors"])
def test_predict_answers_in_the_form_of_x(n_outputs):
    X, y = _ragged_regression(n_outputs=n_outputs)
    reg = RNNStepRegressor(5, max_iter=3, random_state=0).fit(X, y)
    predicted = reg.predict(X)
    assert isinstance(predicted, list)
    assert [p.shape for p in predicted] == [t.shape for t in y]
    # An array X (equal lengths) gives one array.
    X_array = np.stack([x[:1] for x in X])
    out = reg.predict(X_array)
    tail = () if n_outputs is None else (n_outputs,)
    assert out.shape == (len(X), 1) + tail
    np.testing.assert_allclose(out[:, 0], np.stack([p[0] for p in reg.predict(
        [x[:1] for x in X])]), rtol=1e-12)


def test_three_d_array_with_array_targets():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 7, 2))
    for y, expected_shape in ((X[:, :, 0].cumsum(axis=1), (30, 7)),
                              (X.cumsum(axis=1), (30, 7, 2))):
        reg = RNNStepRegressor(4, max_iter=2, random_state=0).fit(X, y)
        assert reg.predict(X).shape == expected_shape
        assert np.isfinite(reg.score(X, y))
    clf = RNNStepClassifier(4, max_iter=2, random_state=0).fit(X, X[:, :, 0] > 0)
    assert clf.predict(X).shape == (30, 7)
    assert clf.predict_proba(X).shape == (30, 7, 2)


def test_targets_that_do_not_fit_are_named():
    X, y = _ragged_regression()
    bad = list(y)
    bad[3] = bad[3][:-1] if len(bad[3]) > 1 else np.zeros(2)
    reg = RNNStepRegressor(4, max_iter=1)
    with pytest.raises(ValueError, match=r"y\[3\] has \d+ steps, but sequence 3 of X has"):
        reg.fit(X, bad)
    with pytest.raises(ValueError, match="needs a target at every time step.*RNNRegressor"):
        reg.fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="sequences but y has"):
        reg.fit(X, y[:-1])
    mixed = list(y)
    mixed[0] = np.stack([mixed[0]] * 2, axis=1)
    with pytest.raises(ValueError, match="same n_outputs"):
        reg.fit(X, mixed)
    with pytest.raises(ValueError, match="one label per step"):
        RNNStepClassifier(4).fit(X, [np.zeros((len(x), 2)) for x in X])
    assert not hasattr(reg, "n_features_in_")  # every failed fit left it unfitted


def test_rnn_regressor_keeps_its_meaning_for_2d_targets():
    """A (n, T) target is T outputs of the whole sequence for RNNRegressor
    (one row of predictions per sequence), and a value per step for
    RNNStepRegressor; both learn what they are given."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 6, 1))
    y = X[:, :, 0].cumsum(axis=1)
    whole = RNNRegressor(4, max_iter=2, random_state=0).fit(X, y)
    step = RNNStepRegressor(4, max_iter=2, random_state=0).fit(X, y)
    assert whole.n_outputs_ == 6 and step.n_outputs_ == 1
    assert whole.predict(X).shape == step.predict(X).shape == (50, 6)


def test_partial_fit_with_classes():
    rng = np.random.RandomState(0)
    X, y = _tagging_task(40, rng)
    clf = RNNStepClassifier(4, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:20], y[:20], classes=[0, 1, 2])
    clf.partial_fit(X[20:], y[20:])
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict_proba(X[:1])[0].shape == (len(X[0]), 3)
    with pytest.raises(ValueError, match="Expected only labels"):
        clf.partial_fit(X[:2], [np.full(len(x), 7) for x in X[:2]])


def test_pipeline_grid_search_and_cross_validation_on_ragged_lists():
    X, y = _ragged_regression(n=60)
    pipe = make_pipeline(FunctionTransformer(lambda s: [2 * x for x in s]),
                         RNNStepRegressor(4, max_iter=3, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=KFold(3))
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    search = GridSearchCV(RNNStepRegressor(max_iter=3, random_state=0),
                          {"hidden_layer_sizes": [3, 5], "clip_threshold": [0.5, None]},
                          cv=KFold(2)).fit(X, y)
    assert search.best_estimator_.predict(X[:2])[1].shape == y[1].shape


@pytest.mark.parametrize("Estimator", [RNNStepClassifier, RNNStepRegressor])
def test_per_step_common_behaviour(Estimator):
    """What scikit-learn's common checks ask, with per-step targets: fit
    returns self, is idempotent and bitwise independent of the thread
    count, leaves X and y unchanged, survives pickling and clone, and
    predicts each sequence independently of the others."""
    X, y = _ragged_regression(n=45, seed=3)
    if Estimator is RNNStepClassifier:
        y = [(t > 0).astype(int) for t in y]
    X_copy, y_copy = [x.copy() for x in X], [t.copy() for t in y]
    est = Estimator(5, cell="lstm", bidirectional=True, max_iter=3, random_state=0,
                    n_threads=1)
    assert est.fit(X, y) is est
    for x, x0, t, t0 in zip(X, X_copy, y, y_copy):
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(t, t0)
    first = np.concatenate(est.predict(X))
    again = clone(est).set_params(n_threads=2).fit(X, y)
    np.testing.assert_array_equal(np.concatenate(again.predict(X)), first)
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(np.concatenate(loaded.predict(X)), first)
    order = np.random.RandomState(0).permutation(len(X))
    shuffled = est.predict([X[i] for i in order])
    for position, i in enumerate(order[:10]):
        np.testing.assert_allclose(shuffled[position], est.predict([X[i]])[0],
                                   rtol=1e-12, atol=1e-12)


def test_loss_is_the_mean_over_steps():
    """The loss is the sum of every step's loss over the number of steps:
    a model whose output is a constant c has loss mean((y - c)^2) / 2 over
    all steps, however the steps are spread over sequences."""
    X, y = _ragged_regression()
    reg = RNNStepRegressor(3, alpha=0, max_iter=1, random_state=0).fit(X, y)
    params = np.zeros_like(reg._params)
    reg._network.layout.views(params)["b_y"][...] = 0.25
    sequences = reg._validate_sequences(X, reset=False)
    targets = reg._cast_targets(reg._prepare_targets(y, sequences, False), np.float64)
    loss, _ = reg._loss_and_gradient(params, sequences, targets, 1)
    assert loss == pytest.approx(0.5 * np.mean((np.concatenate(y) - 0.25) ** 2), rel=1e-12)


def test_early_stopping_scores_every_step():
    X, y = _ragged_regression(n=60)
    reg = RNNStepRegressor(4, early_stopping=True, max_iter=4, random_state=0).fit(X, y)
    assert len(reg.validation_scores_) == reg.n_iter_
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(reg.best_validation_score_)

"""Training behaviour: learning, partial_fit, clipping, early stopping,
warm start, divergence, and use inside scikit-learn's tools."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skrnn import RNNClassifier, RNNRegressor, TrainingDivergedError
from skrnn._optimizers import clip_by_global_norm

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _sum_sign_task(n=300, steps=10, seed=0, n_classes=2):
    """Label = which band the sum of the first feature falls in."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, steps, 2))
    s = X[:, :, 0].sum(axis=1) / np.sqrt(steps)
    edges = np.quantile(s, np.linspace(0, 1, n_classes + 1)[1:-1])
    return X, np.digitize(s, edges)


@pytest.fixture(scope="module")
def digits():
    """Digits read row by row: 8 steps of 8 pixels."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 8, 8)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def test_binary_classification_learns():
    X, y = _sum_sign_task()
    clf = RNNClassifier(16, max_iter=150, learning_rate_init=0.01, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.95
    proba = clf.predict_proba(X)
    assert proba.shape == (300, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))


def test_multiclass_with_string_labels_learns():
    X, y = _sum_sign_task(n_classes=3)
    labels = np.array(["low", "mid", "high"])[y]
    clf = RNNClassifier(16, max_iter=200, learning_rate_init=0.01, random_state=0)
    clf.fit(X, labels)
    assert set(clf.classes_) == {"low", "mid", "high"}
    assert clf.score(X, labels) > 0.9
    assert clf.predict_proba(X).shape == (300, 3)


def test_regressor_single_and_multi_output():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(400, 8, 2))
    y = np.c_[X[:, :, 0].mean(axis=1), X[:, -1, 1]]  # a running mean and a last value
    reg = RNNRegressor(16, max_iter=300, learning_rate_init=0.01, random_state=0)
    assert reg.fit(X, y).score(X, y) > 0.95
    assert reg.predict(X).shape == (400, 2)
    single = RNNRegressor(16, max_iter=300, learning_rate_init=0.01, random_state=0)
    assert single.fit(X, y[:, 0]).predict(X).shape == (400,)
    assert single.score(X, y[:, 0]) > 0.95


@pytest.mark.parametrize("seed", [0, 1])
def test_digits_fit_reaches_high_accuracy(digits, seed):
    X_train, X_test, y_train, y_test = digits
    clf = RNNClassifier(128, learning_rate_init=0.003, batch_size=64, random_state=seed)
    assert clf.fit(X_train, y_train).score(X_test, y_test) > 0.95


def test_partial_fit_stream_close_to_fit(digits):
    """20 chunks of a stream, seen for as many passes as fit runs epochs."""
    X_train, X_test, y_train, y_test = digits
    params = dict(hidden_layer_sizes=128, learning_rate_init=0.003, batch_size=64,
                  random_state=0)
    n_epochs = 20
    full = RNNClassifier(max_iter=n_epochs, tol=0, **params).fit(X_train, y_train)

    stream = RNNClassifier(**params)
    chunks = np.array_split(np.arange(len(X_train)), 20)
    for _ in range(n_epochs):
        for chunk in chunks:
            stream.partial_fit(X_train[chunk], y_train[chunk], classes=np.arange(10))
    full_acc, stream_acc = full.score(X_test, y_test), stream.score(X_test, y_test)
    assert stream_acc > 0.93
    assert abs(full_acc - stream_acc) < 0.03
    assert stream.n_iter_ == n_epochs * 20
    assert stream.t_ == n_epochs * len(X_train)


def test_partial_fit_errors():
    X, y = _sum_sign_task(n=40)
    clf = RNNClassifier(4)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="Expected only labels in classes_"):
        clf.partial_fit(X, np.where(y == 1, 2, y))
    with pytest.raises(ValueError, match="is not the same as on last call"):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    # A class named in `classes` may be absent from a given chunk.
    three = RNNClassifier(4).partial_fit(X, y, classes=[0, 1, 2])
    assert three.predict_proba(X).shape == (40, 3)


@pytest.mark.parametrize("classes", [
    np.array([-3, 0, 5]),              # integers of a small span: a lookup table
    np.array([-3, 0, 5, 70_000]),      # a span too wide for the table
    np.array([-1.5, 0.0, 2.0]),
    np.array(["cat", "dog", "eel"]),
], ids=["small-ints", "wide-ints", "floats", "strings"])
def test_label_encoding_gives_each_label_its_class_index(classes):
    from skrnn._rnn import _class_index

    rng = np.random.RandomState(0)
    expected = rng.randint(0, len(classes), size=500)
    np.testing.assert_array_equal(_class_index(classes, classes[expected]), expected)


@pytest.mark.parametrize("unseen", [1, 99, -10, 10**9])
def test_label_encoding_names_an_unseen_integer_label(unseen):
    """Inside the table's span and outside it, above and below."""
    from skrnn._rnn import _class_index

    with pytest.raises(ValueError, match=rf"got array\(\[{unseen}\]\)"):
        _class_index(np.array([-3, 0, 5]), np.array([0, 5, unseen, -3]))


def test_later_partial_fit_rejects_labels_that_are_not_classes():
    """After the first call, the labels are checked against classes_ only:
    a continuous label still gets an error that names it."""
    X, y = _sum_sign_task(n=20)
    clf = RNNClassifier(3, max_iter=2).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"Expected only labels .* got array\(\[0.5\]\)"):
        clf.partial_fit(X, np.where(y == 1, 0.5, y))


def test_single_class_is_an_error():
    X, _ = _sum_sign_task(n=20)
    with pytest.raises(ValueError, match="number of classes has to be greater than one"):
        RNNClassifier(4).fit(X, np.zeros(20))


def test_clip_by_global_norm_rescales_whole_gradient():
    grad = np.array([3.0, 4.0, 0.0])
    norm, clipped = clip_by_global_norm(grad, 1.0)
    assert (norm, clipped) == (5.0, True)
    np.testing.assert_allclose(grad, [0.6, 0.8, 0.0])  # norm 1, same direction
    norm, clipped = clip_by_global_norm(grad, 2.0)
    assert not clipped
    np.testing.assert_allclose(grad, [0.6, 0.8, 0.0])
    assert clip_by_global_norm(grad, None) == (pytest.approx(1.0), False)


def test_clipping_counts_and_changes_training():
    X, y = _sum_sign_task(n=100)
    kw = dict(hidden_layer_sizes=8, solver="sgd", learning_rate_init=0.1,
              max_iter=5, tol=0, random_state=0)
    tight = RNNClassifier(clip_threshold=1e-3, **kw).fit(X, y)
    off = RNNClassifier(clip_threshold=None, **kw).fit(X, y)
    n_steps = 5  # one batch of 100 per epoch
    assert tight.n_clipped_steps_ == n_steps
    assert off.n_clipped_steps_ == 0
    # Every gradient is clipped to norm 1e-3. With Nesterov momentum m, the
    # k-th update is m * v_k - lr * g_k with v_k = sum_j m^j (-lr g_{k-j}),
    # so by the triangle inequality the weights move at most
    # lr * threshold * sum_k sum_{j<=k} m^j in 5 steps.
    m, lr, threshold = 0.9, 0.1, 1e-3
    bound = lr * threshold * sum(sum(m**j for j in range(k + 2)) for k in range(5))
    init = RNNClassifier(**{**kw, "learning_rate_init": 1e-300}).fit(X, y)

    def distance(model):
        return np.sqrt(sum(((model.weights_[k] - init.weights_[k]) ** 2).sum()
                           for k in init.weights_))

    assert distance(tight) <= bound * (1 + 1e-9)
    assert distance(off) > 20 * bound


def test_divergence_raises_and_keeps_finite_weights():
    rng = np.random.RandomState(0)
    X = rng.normal(scale=1e3, size=(50, 20, 3))
    y = rng.normal(scale=1e30, size=50)
    reg = RNNRegressor(8, "relu", solver="sgd", learning_rate_init=1e3,
                       clip_threshold=None, max_iter=50, random_state=0)
    with pytest.raises(TrainingDivergedError, match="Training diverged at epoch"):
        reg.fit(X, y)
    assert all(np.isfinite(w).all() for w in reg.weights_.values())


def test_early_stopping_keeps_best_weights():
    X, y = _sum_sign_task(n=300)
    clf = RNNClassifier(8, early_stopping=True, validation_fraction=0.2,
                        n_iter_no_change=3, learning_rate_init=0.01,
                        max_iter=100, random_state=0).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    assert clf.n_iter_ < 100


def test_warm_start_continues():
    X, y = _sum_sign_task(n=100)
    clf = RNNClassifier(8, max_iter=3, tol=0, warm_start=True, random_state=0).fit(X, y)
    first = clf.weights_["weight_hh_l0"]
    clf.fit(X, y)
    assert clf.n_iter_ == 6
    assert len(clf.loss_curve_) == 6
    cold = RNNClassifier(8, max_iter=3, tol=0, random_state=0).fit(X, y)
    np.testing.assert_array_equal(cold.weights_["weight_hh_l0"], first)


def test_stops_when_loss_stalls():
    X, y = _sum_sign_task(n=100)
    clf = RNNClassifier(8, max_iter=500, tol=10.0, n_iter_no_change=2, random_state=0)
    # The first epoch improves on an infinite best loss; then, as in
    # MLPClassifier, training stops once more than n_iter_no_change epochs
    # in a row gain less than tol: after epochs 2, 3 and 4.
    assert clf.fit(X, y).n_iter_ == 4


def test_verbose_reports_progress(capsys):
    X, y = _sum_sign_task(n=50)
    RNNClassifier(4, max_iter=2, verbose=True, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Iteration 2, loss = " in out


def test_pipeline_in_grid_search_selects():
    """StandardScaler + RNN in GridSearchCV over hidden size and clipping.

    2-D input: each row is a univariate sequence, which StandardScaler
    scales per time step.
    """
    X, y = _sum_sign_task(n=240, steps=8)
    X = X[:, :, 0] * 5 + 3  # badly scaled univariate sequences
    pipe = Pipeline([
        ("scale", StandardScaler()),
        ("rnn", RNNClassifier(max_iter=60, learning_rate_init=0.01, random_state=0)),
    ])
    grid = GridSearchCV(
        pipe,
        {"rnn__hidden_layer_sizes": [2, 16], "rnn__clip_threshold": [0.5, None]},
        cv=3,
        n_jobs=2,
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_params_["rnn__hidden_layer_sizes"] in (2, 16)
    assert grid.best_score_ > 0.85
    assert grid.score(X, y) > 0.85


@pytest.mark.parametrize("estimator", ["classifier", "step"])
def test_prediction_in_slices_gives_the_same_outputs(monkeypatch, estimator):
    """Inputs too large for the prediction's work memory are predicted in
    slices of sequences (``RecurrentNetwork.predict_raw``); every sequence
    gets bitwise the output it gets in one pass."""
    from skrnn import RNNStepRegressor, _network

    rng = np.random.RandomState(0)
    X = [rng.normal(size=(n, 3)) for n in rng.randint(1, 30, size=90)]
    if estimator == "classifier":
        model = RNNClassifier(9, cell="gru", max_iter=2, random_state=0)
        model.fit(X, np.array([x[0, 0] > 0 for x in X]))
        outputs = model.predict_proba
    else:
        model = RNNStepRegressor(9, cell="lstm", max_iter=2, random_state=0)
        model.fit(X, [np.cumsum(x[:, :1], axis=0) for x in X])
        outputs = lambda X: np.concatenate(model.predict(X))  # noqa: E731
    whole = outputs(X)
    # Room for about 100 steps a slice: a dozen slices.
    monkeypatch.setattr(_network, "_PREDICT_BUDGET", 100 * 8 * (3 + 9 + 1))
    np.testing.assert_array_equal(outputs(X), whole)

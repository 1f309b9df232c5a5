"""Dask: training over a dask array of sequences block by block, predicting
block by block, and model selection on a distributed cluster.

Needs dask and distributed (in the ``test`` extra).
"""

import doctest
import re
import subprocess
import sys

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skrnn import RNNClassifier, RNNRegressor, RNNStepClassifier

da = pytest.importorskip("dask.array", reason='the Dask tests need dask: pip install ".[test]"')
distributed = pytest.importorskip(
    "distributed", reason='the Dask tests need distributed: pip install ".[test]"')

import skrnn.dask  # noqa: E402
from skrnn.dask import partial_fit_dask, predict_dask  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

BLOCK = 40


def _data(n=120, steps=6, features=2, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, steps, features))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    return X, y


def _blocks(a):
    return [a[i:i + BLOCK] for i in range(0, len(a), BLOCK)]


def _loop(estimator, X, y, order, **params):
    """partial_fit over numpy blocks of X and y, in ``order``."""
    X_blocks, y_blocks = _blocks(X), _blocks(y)
    w_blocks = _blocks(params.pop("sample_weight")) if "sample_weight" in params else None
    for i in order:
        if w_blocks is not None:
            params["sample_weight"] = w_blocks[i]
        estimator.partial_fit(X_blocks[i], y_blocks[i], **params)
    return estimator


def test_training_equals_partial_fit_over_the_blocks_in_order():
    X, y = _data()
    dX = da.from_array(X, chunks=(BLOCK, -1, -1))
    trained = partial_fit_dask(RNNClassifier(5, random_state=0), dX, y, classes=[0, 1],
                               n_epochs=2, shuffle_blocks=False)
    loop = _loop(RNNClassifier(5, random_state=0), X, y, [0, 1, 2, 0, 1, 2], classes=[0, 1])
    np.testing.assert_array_equal(trained._params, loop._params)
    assert trained.t_ == loop.t_ == 2 * len(X)


def test_shuffled_blocks_follow_random_state_and_each_block_is_visited_each_epoch():
    X, y = _data()
    dX, dy = da.from_array(X, chunks=(BLOCK, -1, -1)), da.from_array(y, chunks=BLOCK)
    runs = [partial_fit_dask(RNNClassifier(5, random_state=0), dX, dy, classes=[0, 1],
                             n_epochs=2, random_state=seed)._params for seed in (3, 3, 0)]
    np.testing.assert_array_equal(runs[0], runs[1])
    # Seed 0 orders the blocks 2 1 0, 2 0 1; seed 3 orders them 1 0 2, 0 2 1.
    assert not np.array_equal(runs[0], runs[2])
    rng = np.random.RandomState(3)
    order = np.concatenate([rng.permutation(3), rng.permutation(3)])
    loop = _loop(RNNClassifier(5, random_state=0), X, y, order, classes=[0, 1])
    np.testing.assert_array_equal(runs[0], loop._params)


def test_regressor_with_sample_weight_and_a_trained_start():
    X, _ = _data()
    y = X[:, -1, :]  # two outputs per sequence
    weights = np.random.RandomState(1).uniform(0, 2, size=len(X))
    start = RNNRegressor(5, max_iter=2, random_state=0).fit(X, y)
    loop = _loop(RNNRegressor(5, max_iter=2, random_state=0).fit(X, y), X, y, [0, 1, 2],
                 sample_weight=weights)
    trained = partial_fit_dask(
        start, da.from_array(X, chunks=(BLOCK, -1, -1)), da.from_array(y, chunks=(25, 2)),
        sample_weight=da.from_array(weights, chunks=60), shuffle_blocks=False)
    assert trained is start  # trained in place, as partial_fit trains
    np.testing.assert_array_equal(trained._params, loop._params)


def test_per_step_targets_and_predictions():
    X, _ = _data()
    y = (X[:, :, 0] > 0).astype(int)  # a label at every step
    dX = da.from_array(X, chunks=(BLOCK, -1, -1))
    clf = partial_fit_dask(RNNStepClassifier(5, random_state=0), dX, da.from_array(y),
                           classes=[0, 1], shuffle_blocks=False)
    loop = _loop(RNNStepClassifier(5, random_state=0), X, y, [0, 1, 2], classes=[0, 1])
    np.testing.assert_array_equal(clf._params, loop._params)
    labels = predict_dask(clf, dX)
    assert labels.shape == y.shape and labels.chunks == ((BLOCK,) * 3, (6,))
    np.testing.assert_array_equal(labels.compute(), clf.predict(X))


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_predictions_are_those_of_the_whole_array(method, ndim):
    X, y = _data(features=1)
    X = X[:, :, 0] if ndim == 2 else X
    clf = RNNClassifier(5, max_iter=3, random_state=0).fit(X, y)
    dX = da.from_array(X, chunks=(50,) + X.shape[1:])
    result = predict_dask(clf, dX, method=method)
    expected = getattr(clf, method)(X)
    assert result.dtype == expected.dtype
    assert result.chunks[0] == (50, 50, 20) and result.shape == expected.shape
    np.testing.assert_array_equal(result.compute(), expected)


@pytest.mark.parametrize("chunks, match", [
    ((BLOCK, 3, -1), r"axis 1 \(time steps, 2 blocks\).*X.rechunk\(\{1: -1\}\)"),
    ((BLOCK, -1, 1), r"axis 2 \(features, 2 blocks\).*X.rechunk\(\{2: -1\}\)"),
    ((BLOCK, 2, 1), r"axis 1 .* and axis 2 .*X.rechunk\(\{1: -1, 2: -1\}\)"),
])
def test_blocks_that_cut_sequences_are_refused(chunks, match):
    X, y = _data()
    dX = da.from_array(X, chunks=chunks)
    clf = RNNClassifier(5, max_iter=3, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=match):
        partial_fit_dask(RNNClassifier(5), dX, y, classes=[0, 1])
    with pytest.raises(ValueError, match=match):
        predict_dask(clf, dX)


def test_other_bad_arguments_get_clear_errors():
    X, y = _data()
    dX = da.from_array(X, chunks=(BLOCK, -1, -1))
    with pytest.raises(TypeError, match="takes a dask array as X; got ndarray"):
        partial_fit_dask(RNNClassifier(5), X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="got 4 dimensions"):
        predict_dask(RNNClassifier(5), dX[..., None])
    with pytest.raises(ValueError, match="y has 100 rows for the 120 sequences of X"):
        partial_fit_dask(RNNClassifier(5), dX, y[:100], classes=[0, 1])
    with pytest.raises(ValueError, match="n_epochs must be a positive integer; got 0"):
        partial_fit_dask(RNNClassifier(5), dX, y, classes=[0, 1], n_epochs=0)
    with pytest.raises(ValueError, match="unknown size.*X.compute_chunk_sizes"):
        partial_fit_dask(RNNClassifier(5), dX[da.from_array(y, chunks=BLOCK) > 0], y,
                         classes=[0, 1])
    with pytest.raises(TypeError, match="partial_fit, which GridSearchCV does not have"):
        partial_fit_dask(GridSearchCV(RNNClassifier(5), {}), dX, y)
    with pytest.raises(ValueError, match="RNNClassifier has no method 'transform'"):
        predict_dask(RNNClassifier(5), dX, method="transform")


def test_an_error_in_a_later_block_leaves_the_estimator_as_it_was():
    X, y = _data()
    y[-1] = 2  # a label outside classes, in the last block
    clf = RNNClassifier(5, max_iter=2, random_state=0).fit(X[:80], y[:80])
    before = dict(vars(clf))
    params = clf._params.copy()
    with pytest.raises(ValueError, match="Expected only labels in classes_"):
        partial_fit_dask(clf, da.from_array(X, chunks=(BLOCK, -1, -1)), y,
                         shuffle_blocks=False)
    assert vars(clf).keys() == before.keys()
    np.testing.assert_array_equal(clf._params, params)
    assert clf.t_ == before["t_"]


def test_docstring_examples():
    result = doctest.testmod(skrnn.dask, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_without_dask_skrnn_imports_and_skrnn_dask_names_the_extra():
    # A fresh interpreter in which dask cannot be imported (None in
    # sys.modules stops an import).
    code = """
import sys
sys.modules["dask"] = None
import numpy as np
import skrnn
X = np.random.RandomState(0).normal(size=(20, 4, 2))
skrnn.RNNRegressor(3, max_iter=2).fit(X, X[:, -1, 0])
assert not any(name.split(".")[0] in ("dask", "distributed") and sys.modules[name]
               for name in sys.modules)
try:
    import skrnn.dask
except ImportError as exc:
    print(exc)
"""
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                         text=True, check=True).stdout
    assert 'skrnn.dask needs dask\'s arrays, which do not import here' in out
    assert 'pip install "skrnn[dask]"' in out


def test_the_user_guide_example():
    """The documented example (doc/user_guide.md, "Scaling out with Dask"):
    about 0.95 held-out accuracy."""
    rng = np.random.RandomState(0)
    X = da.from_array(rng.normal(size=(6000, 20, 3)), chunks=(1000, 20, 3))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)

    clf = RNNClassifier(hidden_layer_sizes=16, learning_rate_init=0.01, random_state=0)
    partial_fit_dask(clf, X[:5000], y[:5000], classes=[0, 1], n_epochs=10, random_state=0)
    y_pred = predict_dask(clf, X[5000:])   # lazy, in X's blocks of rows
    accuracy = (y_pred == y[5000:]).mean().compute()
    assert accuracy > 0.93


def test_grid_search_on_a_distributed_cluster_is_the_local_search():
    """joblib's "dask" backend runs the search's fits as tasks of the
    cluster, and the search finds what it finds on one core."""
    X, y = _data(n=60)
    search = GridSearchCV(RNNClassifier(4, max_iter=3, random_state=0),
                          {"cell": ["rnn", "gru"], "alpha": [1e-4, 1e-2]}, cv=2)
    local = GridSearchCV(**search.get_params(deep=False)).fit(X, y)
    # Two threads: with one, joblib would run the fits in this thread. The
    # cluster talks in-process; its HTTP servers listen on loopback only, on
    # free ports.
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address="127.0.0.1:0",
                                  worker_dashboard_address="127.0.0.1:0") as cluster, \
            distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
            search.fit(X, y)
    # joblib names each task after the calls it batches: "batch_of__fit_and_score_2_calls-…".
    calls = [re.search(r"_fit_and_score_(\d+)_calls", str(task["key"])) for task in tasks.data]
    assert sum(int(match.group(1)) for match in calls if match) == 8  # 4 candidates x 2 folds
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    assert search.best_params_ == local.best_params_
    np.testing.assert_array_equal(search.best_estimator_._params,
                                  local.best_estimator_._params)

"""Thread count: results do not depend on it, and limits are respected."""

import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from skrnn import RNNClassifier, RNNRegressor
from skrnn._kernels._openmp import effective_n_threads
from skrnn._kernels._team import team_available
from skrnn._network import BatchLayout, training_chunk_size
from skrnn._threads import single_threaded_blas

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _ragged_data(dtype, n=150, seed=0):
    rng = np.random.RandomState(seed)
    X = [rng.normal(size=(rng.randint(1, 12), 3)).astype(dtype) for _ in range(n)]
    y = np.array([x[:, 0].sum() > 0 for x in X], dtype=int)
    return X, y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_same_seed_gives_identical_model_for_1_and_2_threads(dtype, activation):
    # Batches of 64 ragged sequences make four chunks, so two threads really
    # share the work and the per-chunk gradients really are reduced.
    X, y = _ragged_data(dtype)
    fits = [
        RNNClassifier(8, activation, batch_size=64, max_iter=15, tol=0,
                      random_state=3, n_threads=n).fit(X, y)
        for n in (1, 2)
    ]
    assert fits[0].loss_curve_ == fits[1].loss_curve_  # exact float equality
    for name, value in fits[0].weights_.items():
        np.testing.assert_array_equal(value, fits[1].weights_[name], err_msg=name)
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_every_cell_identical_for_1_and_2_threads(cell, dtype):
    """Two stacked bidirectional layers with learned initial states: every
    kernel, both directions and the layer-to-layer gradients, on ragged
    batches of four chunks."""
    X, y = _ragged_data(dtype)
    fits = [
        RNNClassifier((6, 5), cell=cell, bidirectional=True, learn_initial_state=True,
                      batch_size=64, max_iter=8, tol=0, random_state=3,
                      n_threads=n).fit(X, y)
        for n in (1, 2)
    ]
    assert fits[0].loss_curve_ == fits[1].loss_curve_  # exact float equality
    for name, value in fits[0].weights_.items():
        np.testing.assert_array_equal(value, fits[1].weights_[name], err_msg=name)
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


def test_regressor_identical_for_1_and_2_threads():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(120, 9, 2))
    y = X.sum(axis=(1, 2))
    fits = [RNNRegressor(6, max_iter=10, tol=0, random_state=0, n_threads=n).fit(X, y)
            for n in (1, 2)]
    assert fits[0].loss_curve_ == fits[1].loss_curve_
    np.testing.assert_array_equal(fits[0].predict(X), fits[1].predict(X))


def test_small_training_batch_makes_two_chunks_and_stays_thread_invariant():
    # A batch of fewer than two full chunks is cut in two halves of at least
    # 8 sequences, whatever the thread count, so that partial_fit on a few
    # sequences gives a second thread work: the results must not change
    # with the threads that share it.
    sizes = [training_chunk_size(n) for n in (1, 8, 16, 17, 40, 63, 64, 200)]
    assert sizes == [8, 8, 8, 9, 20, 32, 32, 32]
    X, y = _ragged_data(np.float32, n=16, seed=2)
    sequences = RNNClassifier(4).fit(X, y)._validate_sequences(X, reset=False)
    assert BatchLayout(sequences, False, training_chunk_size(16)).n_chunks == 2
    fits = []
    for n_threads in (1, 2):
        model = RNNClassifier(5, cell="lstm", batch_size=16, random_state=0,
                              n_threads=n_threads)
        for _ in range(4):
            model.partial_fit(X, y, classes=[0, 1])
        fits.append(model)
    assert fits[0].loss_curve_ == fits[1].loss_curve_  # exact float equality
    for name, value in fits[0].weights_.items():
        np.testing.assert_array_equal(value, fits[1].weights_[name], err_msg=name)


def test_effective_n_threads_rules():
    if not team_available():
        # A build without threads runs every kernel on the calling thread.
        assert effective_n_threads(None) == effective_n_threads(4) == 1
        return
    assert effective_n_threads(3) == 3
    maximum = effective_n_threads(None)
    assert maximum >= 1
    assert effective_n_threads(-1) == maximum
    assert effective_n_threads(-maximum - 5) == 1
    with pytest.raises(ValueError, match="n_threads == 0"):
        effective_n_threads(0)


def test_omp_num_threads_is_respected(tmp_path):
    code = (
        "from skrnn._kernels._openmp import effective_n_threads; "
        "print(effective_n_threads(None))"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "1"


def test_threadpoolctl_limit_is_respected():
    with threadpool_limits(limits=1, user_api="openmp"):
        assert effective_n_threads(None) == 1


def _blas_thread_counts():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_fit_holds_blas_to_one_thread_and_restores_it():
    # single_threaded_blas sets the BLAS libraries' thread counts itself (not
    # through threadpoolctl's limit): it must set every one, and give back
    # what each had, on an error too.
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_thread_counts()
        assert before, "no BLAS library found"
        with single_threaded_blas():
            assert _blas_thread_counts() == [1] * len(before)
        assert _blas_thread_counts() == before
        with pytest.raises(RuntimeError, match="inside"):
            with single_threaded_blas():
                raise RuntimeError("inside")
        assert _blas_thread_counts() == before


def test_n_threads_zero_is_rejected():
    X, y = _ragged_data(np.float64, n=20)
    with pytest.raises(ValueError, match="n_threads"):
        RNNClassifier(n_threads=0).fit(X, y)


def test_predictions_from_several_python_threads_at_once_match():
    """A fitted model keeps its small calls' work arrays for the next call
    (``RecurrentNetwork.workspace``); calls made at the same time from
    several Python threads (the kernels release the GIL) must each get their
    own, and give what one call at a time gives. Then a partial_fit reuses
    the kept arrays and still matches a model that never kept any."""
    from concurrent.futures import ThreadPoolExecutor

    X, y = _ragged_data(np.float32, n=60)
    model = RNNClassifier(16, cell="lstm", max_iter=3, random_state=0, n_threads=1).fit(X, y)
    inputs = [X[i::4] for i in range(4)] * 8
    alone = [model.predict_proba(part) for part in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(model.predict_proba, inputs))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)
    assert 1 <= len(model._network._idle_workspaces) <= 4

    fresh = RNNClassifier(16, cell="lstm", max_iter=3, random_state=0, n_threads=1).fit(X, y)
    for _ in range(3):
        model.partial_fit(X, y)
        fresh._network._idle_workspaces.clear()
        fresh.partial_fit(X, y)
    np.testing.assert_array_equal(model._params, fresh._params)

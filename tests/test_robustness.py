"""Hard inputs and failed calls: a call that raises changes nothing, no
input reaches a kernel it could make read out of bounds, divergence never
leaves non-finite weights, and threads behave after fork and under
concurrent calls."""

import multiprocessing
import pickle
import re
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNClassifier, RNNRegressor, TrainingDivergedError
from skrnn._kernels import _dense, _elman, _gru, _layer, _layout, _lstm
from skrnn._network import LayerPass

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(hidden_layer_sizes=6, max_iter=3, random_state=0)


def _data(n=40, steps=6, features=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, steps, features))
    return X, (X[:, :, 0].sum(axis=1) > 0).astype(int)


def _assert_raises_and_unchanged(estimator, call, match):
    """``call()`` raises a ValueError matching ``match`` and leaves every
    attribute of ``estimator`` as it was (compared through pickle)."""
    before = pickle.dumps(estimator)
    with pytest.raises(ValueError, match=match):
        call()
    assert pickle.dumps(estimator) == before


# -- 1. a call that raises leaves the estimator exactly as it was ------------


def test_failed_refit_keeps_the_model_and_predict_stays_in_bounds():
    # The reported case: the refit fails on its single class after
    # validating the new, narrower X; predict then read past the kernels'
    # buffers ("free(): invalid next size").
    rng = np.random.RandomState(0)
    X8 = rng.normal(size=(200, 50, 8))
    y = (X8[:, :, 0].sum(1) > 0).astype(int)
    clf = RNNClassifier(hidden_layer_sizes=16, max_iter=3, random_state=0).fit(X8, y)
    proba = clf.predict_proba(X8)
    X1 = rng.normal(size=(200, 50, 1))
    _assert_raises_and_unchanged(clf, lambda: clf.fit(X1, np.zeros(200, int)),
                                 "number of classes")
    assert clf.n_features_in_ == 8
    np.testing.assert_array_equal(clf.predict_proba(X8), proba)
    with pytest.raises(ValueError, match="features per time step"):
        clf.predict_proba(X1)


def test_regressor_refit_rejected_for_y_length_keeps_its_width():
    X, y = _data()
    reg = RNNRegressor(**FAST).fit(X, y.astype(float))
    X_other = np.random.RandomState(1).normal(size=(10, 5, 2))
    _assert_raises_and_unchanged(reg, lambda: reg.fit(X_other, np.zeros(9)),
                                 "10 sequences but y has 9")
    with pytest.raises(ValueError, match="features per time step"):
        reg.predict(X_other)


def test_classifier_refit_rejected_after_new_labels_keeps_its_classes():
    X, y = _data()
    clf = RNNClassifier(**FAST).fit(X, y)
    labels = np.array(["a", "b", "c"])[np.arange(39) % 3]
    _assert_raises_and_unchanged(clf, lambda: clf.fit(X, labels), "40 sequences")
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    assert set(clf.predict(X)) <= {0, 1}


@pytest.mark.parametrize("case", ["unseen label", "other classes", "changed cell",
                                  "other outputs", "early stopping", "wrong width"])
def test_failed_partial_fit_and_warm_start_change_nothing(case):
    X, y = _data()
    if case == "other outputs":
        est = RNNRegressor(**FAST, warm_start=True).fit(X, y.astype(float))
        call, match = (lambda: est.fit(X, np.c_[y, y].astype(float))), "outputs"
    elif case == "changed cell":
        est = RNNClassifier(**FAST, warm_start=True).fit(X, y)
        est.set_params(cell="gru")
        call, match = (lambda: est.fit(X, y)), "cell changed"
    else:
        est = RNNClassifier(**FAST).partial_fit(X, y, classes=[0, 1])
        est.set_params(early_stopping=case == "early stopping")
        call, match = {
            "unseen label": (lambda: est.partial_fit(X, y + 1), "Expected only labels"),
            "other classes": (lambda: est.partial_fit(X, y, classes=[0, 1, 2]),
                              "not the same as on last call"),
            "early stopping": (lambda: est.partial_fit(X, y), "early_stopping"),
            "wrong width": (lambda: est.partial_fit(X[:, :, :2], y),
                            "features per time step"),
        }[case]
    _assert_raises_and_unchanged(est, call, match)


def test_partial_fit_with_early_stopping_fails_before_any_change():
    X, y = _data()
    clf = RNNClassifier(**FAST, early_stopping=True)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        clf.partial_fit(X, y, classes=[0, 1])
    assert not hasattr(clf, "n_features_in_") and not hasattr(clf, "classes_")


# -- kernels assert the shapes they index by ---------------------------------


def _forward_pass(X, input_start, seq_len, chunk_row_start, W_ih, W_hh, b, h0, H,
                  final, work, b_hn=None, c0=None, C=None, A=None, HN=None):
    """A kernel's forward pass as skrnn._network builds it, arrays a cell does
    not use empty."""
    hidden = W_hh.shape[0]
    def empty():
        return np.zeros((0, hidden))
    return LayerPass(
        X=X, input_start=input_start, input_step=1, seq_len=seq_len,
        chunk_row_start=chunk_row_start, chunk_size=32, W_ih=W_ih, W_hh=W_hh, b=b,
        b_hn=np.zeros(0) if b_hn is None else b_hn, h0=h0,
        c0=empty() if c0 is None else c0, has_initial_state=False,
        given_initial_state=False, activation=0, H=H, final=final,
        C=empty() if C is None else C, A=empty() if A is None else A,
        HN=empty() if HN is None else HN, work=work)


def _elman_call(n_in_X=8, n_in_W=8, hidden=4, seq_len=(3, 2), chunk_row_start=None,
                input_start=None, work_rows=1, h0_rows=1):
    seq_len = np.asarray(seq_len, np.intp)
    rows = int(seq_len.sum())
    chunk_row_start = np.asarray([0, rows] if chunk_row_start is None
                                 else chunk_row_start, np.intp)
    input_start = np.empty(0, np.intp) if input_start is None else np.asarray(
        input_start, np.intp)
    predicting = len(input_start) > 0
    X = np.zeros((rows, n_in_X))
    W_ih, W_hh = np.zeros((n_in_W, hidden)), np.zeros((hidden, hidden))
    H = np.zeros((0 if predicting else rows, hidden))
    final = np.zeros((len(seq_len) if predicting else 0, hidden))
    work = np.zeros((work_rows, _layer.forward_work_size(_elman.CELL, 32, hidden, n_in_X)))
    layer_pass = _forward_pass(X, input_start, seq_len, chunk_row_start, W_ih, W_hh,
                               np.zeros(hidden), np.zeros((h0_rows, hidden)), H, final, work)
    return _layer.forward(_elman.CELL, layer_pass, 1)


def test_kernel_arguments_that_would_read_out_of_bounds_raise():
    assert _elman_call() is True  # consistent arguments run
    with pytest.raises(ValueError, match="kernel argument W_ih"):
        _elman_call(n_in_X=1)  # the refit bug: X narrower than the weights
    with pytest.raises(ValueError, match="seq_len must hold lengths"):
        _elman_call(seq_len=(2, 3))
    with pytest.raises(ValueError, match="chunk_row_start gives chunk 0"):
        _elman_call(chunk_row_start=[0, 9])
    with pytest.raises(ValueError, match="input_start makes sequence 1 read rows"):
        _elman_call(input_start=[0, 4])
    with pytest.raises(ValueError, match="kernel work array work"):
        _elman_call(input_start=[0, 3], work_rows=0)
    assert _elman_call(h0_rows=2) is True  # an initial state per sequence
    with pytest.raises(ValueError, match="kernel argument h0 has shape"):
        _elman_call(h0_rows=3)


def _elman_pass(**arrays):
    """A consistent prediction pass of the Elman kernel, with ``arrays``
    replacing its own."""
    hidden, n_in, seq_len = 4, 8, np.array([3, 2], np.intp)
    work = np.zeros((1, _layer.forward_work_size(_elman.CELL, 32, hidden, n_in)))
    layer_pass = _forward_pass(np.zeros((5, n_in)), np.array([0, 3], np.intp), seq_len,
                               np.array([0, 5], np.intp), np.zeros((n_in, hidden)),
                               np.zeros((hidden, hidden)), np.zeros(hidden),
                               np.zeros((1, hidden)), np.zeros((0, hidden)),
                               np.zeros((2, hidden)), work)
    for name, array in arrays.items():
        setattr(layer_pass, name, array)
    return layer_pass


def test_kernel_arrays_of_the_wrong_kind_raise():
    assert _layer.forward(_elman.CELL, _elman_pass(), 1) is True
    cases = [
        (dict(W_ih=[[0.0] * 4] * 8), TypeError, "W_ih is a list, not a NumPy array"),
        (dict(X=np.zeros((5, 8), np.float32)), ValueError,
         "X must be a C-contiguous 2-D array of float64; got 2-D float32"),
        (dict(b=np.zeros((1, 4))), ValueError, "b must be .* 1-D array of float64; got 2-D"),
        (dict(W_hh=np.zeros((4, 8))[:, ::2]), ValueError, "W_hh .* not C-contiguous"),
        (dict(final=_read_only(np.zeros((2, 4)))), ValueError,
         "final must be a C-contiguous writeable .* read-only"),
    ]
    for arrays, error, message in cases:
        with pytest.raises(error, match=message):
            _layer.forward(_elman.CELL, _elman_pass(**arrays), 1)
    # The output layer, the prediction's argmax and the batch's sort check alike.
    X, W, b, out = np.zeros((2, 3)), np.zeros((3, 4)), np.zeros(4), np.zeros((2, 4))
    with pytest.raises(ValueError, match="W must be .* float64; got 2-D float32"):
        _dense.dense_forward(X, W.astype(np.float32), b, out)
    with pytest.raises(ValueError, match="rows must be .* 1-D array of int64"):
        _dense.dense_forward(X, W, b, out, np.zeros(2, np.int32))
    with pytest.raises(ValueError, match="out must be a C-contiguous writeable .* read-only"):
        _dense.row_argmax(X, _read_only(np.zeros(2, np.intp)))
    with pytest.raises(ValueError, match="lengths must be .* int64; got 1-D int32"):
        _layout.sort_and_chunk(np.ones(2, np.int32), np.zeros(2, np.intp), 32)


def _read_only(array):
    array.flags.writeable = False
    return array


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_kernels_check_their_extra_arrays(cell):
    hidden, rows = 3, 4
    width = {"lstm": 4, "gru": 3}[cell] * hidden
    seq_len, start = np.array([4], np.intp), np.array([0, rows], np.intp)
    no_rows = np.empty(0, np.intp)
    X, W_ih, W_hh = np.zeros((rows, 2)), np.zeros((2, width)), np.zeros((hidden, width))
    b, b_hn, h0 = np.zeros(width), np.zeros(hidden), np.zeros((1, hidden))
    H, final, work = np.zeros((rows, hidden)), np.zeros((0, hidden)), np.zeros((1, 1))
    if cell == "lstm":
        kernel = _lstm
        layer_pass = _forward_pass(X, no_rows, seq_len, start, W_ih, W_hh, b, h0, H,
                                   final, work, c0=h0, C=np.zeros((rows, hidden)),
                                   A=np.zeros((rows - 1, width)))
    else:
        kernel = _gru
        layer_pass = _forward_pass(X, no_rows, seq_len, start, W_ih, W_hh, b, h0, H,
                                   final, work, b_hn=b_hn, A=np.zeros((rows, width)),
                                   HN=np.zeros((1, hidden)))
    with pytest.raises(ValueError, match="kernel argument (C|A|HN) has shape"):
        _layer.forward(kernel.CELL, layer_pass, 1)


def test_layout_and_dense_helpers_check_their_indices():
    src = np.zeros((3, 2))
    with pytest.raises(ValueError, match="row index 3 at 1 is outside the 3 rows"):
        _layout.gather_rows(src, np.array([0, 3], np.intp), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="kernel argument dst"):
        _layout.gather_rows(src, np.array([0], np.intp), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="kernel argument W"):
        _dense.dense_forward(np.zeros((2, 3)), np.zeros((4, 1)), np.zeros(1),
                             np.zeros((2, 1)))


# -- 4. divergence -------------------------------------------------------------


@pytest.mark.parametrize("n_batches", [1, 3])
def test_an_overflowing_update_is_refused_even_the_last_one(n_batches):
    X, y = _data(n=60)
    reg = RNNRegressor(8, solver="sgd", learning_rate_init=1e308, clip_threshold=None,
                       max_iter=1, batch_size=60 // n_batches, random_state=0)
    with pytest.raises(TrainingDivergedError, match="overflow"):
        reg.fit(X, y.astype(float))
    assert all(np.isfinite(w).all() for w in reg.weights_.values())
    assert np.isfinite(reg.predict(X)).all()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("learning_rate_init", [1e4, 1e30, 1e308])
def test_large_learning_rates_diverge_loudly_or_stay_finite(cell, solver,
                                                            learning_rate_init):
    X, y = _data(n=48)
    reg = RNNRegressor(8, cell=cell, solver=solver, learning_rate_init=learning_rate_init,
                       clip_threshold=None, max_iter=4, batch_size=16, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            reg.fit(X, y.astype(float))
        except TrainingDivergedError:
            pass
    assert all(np.isfinite(w).all() for w in reg.weights_.values())
    assert np.isfinite(reg.predict(X)).all()
    if reg.loss_curve_ and max(reg.loss_curve_) > 1e10:
        assert any("loss is exploding" in str(w.message) for w in caught)


def test_an_exploding_loss_warns_once():
    X, y = _data(n=48)
    clf = RNNClassifier(8, solver="sgd", learning_rate_init=1e4, clip_threshold=None,
                        max_iter=5, batch_size=8, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    exploding = [w for w in caught if "loss is exploding" in str(w.message)]
    assert len(exploding) == 1 and exploding[0].category is ConvergenceWarning


def test_divergence_resets_the_optimizer_so_training_can_go_on():
    X, y = _data(n=48)
    reg = RNNRegressor(8, solver="sgd", learning_rate_init=1e308, clip_threshold=None,
                       max_iter=1, batch_size=48, random_state=0)
    with pytest.raises(TrainingDivergedError):
        reg.fit(X, y.astype(float))
    reg.set_params(learning_rate_init=1e-3).partial_fit(X, y.astype(float))
    assert np.isfinite(reg.predict(X)).all()


# -- 5. every memory layout of a ragged list ---------------------------------


@pytest.mark.parametrize("layout", ["fortran", "transposed", "dataframe", "strided"])
def test_ragged_lists_in_any_layout_give_the_c_ordered_result(layout):
    rng = np.random.RandomState(0)
    X = [rng.normal(size=(n, 3)) for n in rng.randint(2, 9, size=30)]
    y = np.arange(30) % 2
    convert = {
        "fortran": np.asfortranarray,
        "transposed": lambda x: np.ascontiguousarray(x.T).T,
        "dataframe": pd.DataFrame,
        "strided": lambda x: np.repeat(x, 2, axis=0)[::2],
    }[layout]
    X_other = [convert(x) for x in X]
    expected = RNNClassifier(**FAST).fit(X, y)
    got = RNNClassifier(**FAST).fit(X_other, y)
    np.testing.assert_array_equal(got.predict_proba(X_other), expected.predict_proba(X))
    np.testing.assert_array_equal(expected.predict_proba(X_other), expected.predict_proba(X))


# -- 7. set_weights ----------------------------------------------------------


@pytest.mark.parametrize("problem", ["beyond float32", "bias sum overflows", "complex",
                                     "not numeric"])
def test_set_weights_refuses_values_it_cannot_store(problem):
    X, y = _data()
    clf = RNNClassifier(**FAST).fit(X.astype(np.float32), y)
    weights = clf.weights_
    if problem == "beyond float32":
        weights["output.bias"] = np.array([1e39])
        match = "'output.bias' has values beyond the range of float32"
    elif problem == "bias sum overflows":
        weights["bias_ih_l0"] = np.full_like(weights["bias_ih_l0"], 3e38, np.float64)
        weights["bias_hh_l0"] = np.full_like(weights["bias_hh_l0"], 3e38, np.float64)
        match = "sum of 'bias_ih_l0' and 'bias_hh_l0'"
    elif problem == "complex":
        weights["output.weight"] = weights["output.weight"] + 1j
        match = "'output.weight' is complex"
    else:
        weights["output.bias"] = np.array(["x"])
        match = "'output.bias' is not numeric"
    _assert_raises_and_unchanged(clf, lambda: clf.set_weights(weights), match)


# -- 8. thread counts ----------------------------------------------------------


def test_a_huge_thread_count_runs_and_changes_nothing():
    X, y = _data(n=100)
    fits = [RNNClassifier(**FAST, batch_size=50, n_threads=n).fit(X, y)
            for n in (1, 100_000)]
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


def _fit_and_score_in_child(queue):
    X, y = _data(n=100)
    queue.put(RNNClassifier(**FAST, batch_size=32, n_threads=2).fit(X, y).score(X, y))


def test_a_process_forked_after_a_multi_threaded_fit_can_fit():
    X, y = _data(n=100)
    parent = RNNClassifier(**FAST, batch_size=32, n_threads=2).fit(X, y)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_fit_and_score_in_child, args=(queue,))
    child.start()
    child.join(60)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung, "the forked child hung in the kernels"
    assert child.exitcode == 0
    assert queue.get(timeout=5) == parent.score(X, y)


def test_concurrent_predictions_from_python_threads_agree():
    X, y = _data(n=300)
    clf = RNNClassifier(**FAST, cell="lstm", n_threads=2).fit(X, y)
    expected = clf.predict_proba(X)
    results = [None] * 6

    def predict(i):
        results[i] = clf.predict_proba(X)

    threads = [threading.Thread(target=predict, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        np.testing.assert_array_equal(result, expected)


# -- 9. a list of equal-length 1-D arrays ------------------------------------


def test_univariate_sequences_read_the_same_whatever_their_lengths():
    rng = np.random.RandomState(0)
    a5, b5, b6 = rng.normal(size=5), rng.normal(size=5), rng.normal(size=6)
    clf = RNNClassifier(**FAST).fit([a5, b6, a5, b6], [0, 1, 0, 1])
    together = clf.predict_proba([a5, b5])
    np.testing.assert_array_equal(together[0], clf.predict_proba([a5, b6])[0])
    np.testing.assert_allclose(together[1], clf.predict_proba([b5, b6])[0])
    # A model fitted on sequences reads a 2-D array as univariate rows.
    np.testing.assert_allclose(clf.predict_proba(np.vstack([a5, b5])), together)
    assert clf.n_features_in_ == 1


def test_a_model_fitted_on_a_table_checks_its_columns():
    X, y = _data(features=1)
    clf = RNNClassifier(**FAST).fit(X[:, :, 0], y)
    with pytest.raises(ValueError, match="X has 5 features"):
        clf.predict(X[:, :5, 0])
    assert clf.predict([X[0, :, 0], X[1, :4, 0]]).shape == (2,)


# -- 10. smaller ones ------------------------------------------------------------


def test_float64_data_beyond_a_float32_models_range_is_named():
    X, y = _data()
    reg = RNNRegressor(**FAST).fit(X.astype(np.float32), y.astype(float))
    _assert_raises_and_unchanged(
        reg, lambda: reg.partial_fit(X * 1e300, y.astype(float)),
        "X has values beyond the range of float32")
    with pytest.raises(ValueError, match="beyond the range of float32"):
        reg.predict(X * 1e300)
    with pytest.raises(ValueError, match="y has values beyond the range of float32"):
        RNNRegressor(**FAST).fit(X.astype(np.float32), y * 1e300)


@pytest.mark.parametrize("X, match", [(None, "got X=None"), ([], "empty list"),
                                      ((), "empty tuple")])
def test_missing_or_empty_X_gets_a_clear_message(X, match):
    with pytest.raises(ValueError, match=match):
        RNNClassifier().fit(X, [0, 1])
    clf = RNNClassifier(**FAST).fit(*_data())
    with pytest.raises(ValueError, match=match):
        clf.predict(X)


def test_readme_example_runs_without_warnings():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    example = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(compile(example, "README.md", "exec"), {})


@pytest.mark.parametrize("params, message", [
    (dict(validation_fraction=0.0), "test_size=0.0"),
    (dict(validation_fraction=0.5), "least populated class"),
])
def test_an_early_stopping_split_that_cannot_be_made_changes_nothing(params, message):
    X, y = _data()
    clf = RNNClassifier(**FAST).fit(X, y)
    clf.set_params(early_stopping=True, **params)
    y_rare = y.copy()
    y_rare[0] = 2  # a class of one sequence cannot be stratified
    _assert_raises_and_unchanged(clf, lambda: clf.fit(X, y_rare), message)

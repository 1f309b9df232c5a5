"""Input forms, dtypes, and clear errors for bad input."""

import numpy as np
import pytest

from skrnn import RNNClassifier, RNNRegressor, from_channels_first

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(hidden_layer_sizes=6, max_iter=5, random_state=0)


def _data(n=40, steps=7, features=2, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, steps, features))
    y = (X[:, :, 0].mean(axis=1) > 0).astype(int)
    return X, y


def test_3d_array_and_list_of_arrays_give_the_same_model():
    X, y = _data()
    a = RNNClassifier(**FAST).fit(X, y)
    b = RNNClassifier(**FAST).fit(list(X), y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(list(X)))


def test_2d_array_is_read_as_univariate_sequences():
    X, y = _data(features=1)
    a = RNNClassifier(**FAST).fit(X, y)
    b = RNNClassifier(**FAST).fit(X[:, :, 0], y)
    assert b.n_features_in_ == X.shape[1]  # columns, as scikit-learn counts them
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X[:, :, 0]))


def test_ragged_list_equals_fitting_sequence_by_sequence_lengths():
    rng = np.random.RandomState(0)
    X = [rng.normal(size=(n, 2)) for n in rng.randint(1, 15, size=60)]
    y = np.array([x[:, 1].sum() > 0 for x in X], dtype=int)
    clf = RNNClassifier(**FAST).fit(X, y)
    # Predicting one sequence at a time gives the batch result: nothing
    # leaks between sequences of different lengths in a batch.
    batch = clf.predict_proba(X)
    one_by_one = np.vstack([clf.predict_proba([x[None]][0]) for x in X])
    np.testing.assert_allclose(batch, one_by_one, rtol=1e-12)


def test_list_of_1d_arrays_is_univariate():
    rng = np.random.RandomState(0)
    X = [rng.normal(size=n) for n in (3, 5, 4, 8) * 5]
    y = np.arange(20) % 2
    clf = RNNClassifier(**FAST).fit(X, y)
    assert clf.predict(X).shape == (20,)
    assert clf.n_features_in_ == 1


def test_other_sequence_length_at_predict():
    X, y = _data(steps=7)
    clf = RNNClassifier(**FAST).fit(X, y)
    longer, _ = _data(steps=20, seed=1)
    assert clf.predict(longer).shape == (40,)
    assert clf.predict([longer[0], longer[1, :3]]).shape == (2,)


@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
def test_float32_stays_float32(Estimator):
    X, y = _data()
    est = Estimator(**FAST).fit(X.astype(np.float32), y)
    assert all(w.dtype == np.float32 for w in est.weights_.values())
    out = est.predict_proba(X) if Estimator is RNNClassifier else est.predict(X)
    assert out.dtype == np.float32
    est64 = Estimator(**FAST).fit(X, y)
    assert all(w.dtype == np.float64 for w in est64.weights_.values())


def test_inputs_are_not_modified():
    X, y = _data()
    X_ragged = [x[: i % 5 + 1] for i, x in enumerate(X)]
    for data in (X, X_ragged):
        copies = [np.array(d, copy=True) for d in data]
        y_copy = y.copy()
        for d in data:
            d.flags.writeable = False  # any write would raise
        clf = RNNClassifier(**FAST).fit(data, y)
        clf.partial_fit(data, y)
        clf.predict_proba(data)
        for d, c in zip(data, copies):
            np.testing.assert_array_equal(d, c)
        np.testing.assert_array_equal(y, y_copy)


def test_from_channels_first():
    X = np.arange(2 * 3 * 5).reshape(2, 3, 5)
    out = from_channels_first(X)
    assert out.shape == (2, 5, 3)
    np.testing.assert_array_equal(out[1, 4], X[1, :, 4])
    ragged = from_channels_first([X[0], X[1, :, :2]])
    assert [s.shape for s in ragged] == [(5, 3), (2, 3)]
    with pytest.raises(ValueError, match="3-D array"):
        from_channels_first(X[0])


def _bad_inputs():
    X, _ = _data()
    nan = X.copy()
    nan[3, 2, 1] = np.nan
    inf = X.copy()
    inf[0, 0, 0] = np.inf
    ragged_nan = [X[0], X[1, :3].copy()]
    ragged_nan[1][1, 0] = np.nan
    return [
        ("nan", nan, "contains NaN"),
        ("inf", inf, "contains infinity"),
        ("nan_in_ragged", ragged_nan * 20, r"Sequence 1 of X is invalid.*NaN"),
        ("zero_steps", np.zeros((40, 0, 2)), "empty sequences.*0 time steps"),
        ("empty_sequence_in_list", [X[0], np.zeros((0, 2))] * 20, "Sequence 1 of X is empty"),
        ("zero_features", np.zeros((40, 5, 0)), "0 features"),
        ("4d", X[..., None], "4 dimensions"),
        ("1d", X[:, 0, 0], "Expected 2D array"),
        ("mixed_features", [X[0], X[1, :, :1]] * 20, r"same number of features.*\[1, 2\]"),
        ("3d_sequence_in_list", [X[:2], X[0]] * 20, "Sequence 0 of X is invalid: Found array with dim 3"),
        ("strings", ["0.5"] * 40, "list as X whose item 0 is a str, '0.5': sequences are arrays"),
        # What dask-ml's Incremental hands partial_fit for a 3-D dask array.
        ("dask_block_name", ("array-6946102b6c2c24fb", 3, 0),
         "name of a block of a dask array.*skrnn.dask.partial_fit_dask"),
    ]


@pytest.mark.parametrize("name, X, match", _bad_inputs(), ids=[b[0] for b in _bad_inputs()])
@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
def test_bad_input_raises_clear_error(name, X, match, Estimator):
    with pytest.raises(ValueError, match=match):
        Estimator(**FAST).fit(X, np.arange(40) % 2)


def test_bad_input_at_predict_raises_clear_error():
    X, y = _data(features=2)
    clf = RNNClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="3 features per time step.*fitted with 2"):
        clf.predict(np.zeros((4, 7, 3)))
    with pytest.raises(ValueError, match="1 features per time step.*fitted with 2"):
        clf.predict([np.zeros((3, 1)), np.zeros((4, 1))])
    bad = X.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        clf.predict(bad)
    tabular = RNNClassifier(**FAST).fit(X[:, :, 0], y)
    with pytest.raises(ValueError, match="X has 5 features, but RNNClassifier is expecting 7"):
        tabular.predict(X[:, :5, 0])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize(
    "where, value, match",
    [((0, 0, 0), np.nan, "contains NaN"), ((17, 6, 1), np.inf, "contains infinity"),
     ((39, 3, 0), -np.inf, "contains infinity")],
    ids=["nan_first_step", "inf_last_step", "minus_inf_mid"],
)
def test_prediction_kernels_find_any_non_finite_input(cell, where, value, match):
    """Prediction checks X in its kernels, as they read it (no pass over X
    before): any one value, at any step of any sequence, must be found,
    by stacked bidirectional layers and in float32 and float64."""
    X, y = _data()
    for dtype in (np.float64, np.float32):
        model = RNNRegressor(hidden_layer_sizes=(5, 3), cell=cell, bidirectional=True,
                             max_iter=2, random_state=0).fit(X.astype(dtype), y)
        bad = X.astype(dtype)
        bad[where] = value
        with pytest.raises(ValueError, match=match):
            model.predict(bad)


def test_prediction_input_check_respects_assume_finite():
    """With scikit-learn's ``assume_finite``, prediction does not check X,
    as ``check_array`` would not: NaN inputs give NaN outputs, no error."""
    import sklearn

    X, y = _data()
    model = RNNRegressor(**FAST).fit(X, y)
    bad = X.copy()
    bad[2, 0, 0] = np.nan
    with sklearn.config_context(assume_finite=True):
        out = model.predict(bad)
    assert np.isnan(out[2])
    assert np.isfinite(np.delete(out, 2)).all()


def test_label_count_mismatch():
    X, y = _data()
    with pytest.raises(ValueError, match="40 sequences but y has 39 entries"):
        RNNClassifier(**FAST).fit(list(X[:, :3]) + [X[0]] * 0, y[:39])
    ragged = [x[: i % 4 + 1] for i, x in enumerate(X)]
    with pytest.raises(ValueError, match="40 sequences but y has 39 entries"):
        RNNRegressor(**FAST).fit(ragged, y[:39])


@pytest.mark.parametrize("lengths", [[5, 5, 5], [1], [3, 7, 7, 2, 7, 1, 3], [9, 4, 4, 1],
                                     list(np.random.RandomState(0).randint(1, 6, 70))])
@pytest.mark.parametrize("chunk_size", [1, 2, 32])
def test_batch_is_sorted_longest_first_and_chunked(lengths, chunk_size):
    # The kernels' layout (_chunks.pxd): a stable sort by length, longest
    # first (equal lengths keep their order), chunk_row_start the running
    # count of rows at each chunk's start.
    from skrnn._kernels._layout import sort_and_chunk

    lengths = np.asarray(lengths, np.intp)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.intp)
    order, seq_start, seq_len, chunk_row_start = sort_and_chunk(lengths, starts, chunk_size)
    expected_order = np.argsort(-lengths, kind="stable")
    np.testing.assert_array_equal(order, expected_order)
    np.testing.assert_array_equal(seq_start, starts[expected_order])
    np.testing.assert_array_equal(seq_len, lengths[expected_order])
    chunk_rows = [seq_len[c:c + chunk_size].sum() for c in range(0, len(seq_len), chunk_size)]
    np.testing.assert_array_equal(chunk_row_start, np.concatenate([[0], np.cumsum(chunk_rows)]))


@pytest.mark.parametrize("y", [np.arange(5), np.array([0.0, 1.0, 1.0], np.float32),
                               np.array([True, False]), np.array(["a", "b"]), [0, 1, 1],
                               np.array([[1], [0]]), np.array([0.0, np.nan]),
                               np.array([1.0, np.inf]), np.array([], np.int64),
                               np.ones((2, 2))])
def test_labels_are_checked_as_scikit_learn_does(y):
    # check_labels skips scikit-learn's check for a plain, finite 1-D array
    # of numbers; what it returns, warns and raises must stay scikit-learn's.
    import warnings

    from sklearn.utils import check_array, column_or_1d

    from skrnn._sequences import check_labels

    def outcome(check):
        """(labels or None, the error's message or None, the warnings)."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                labels, error = check(y), None
            except ValueError as raised:
                labels, error = None, str(raised)
        return labels, error, [str(w.message) for w in caught]

    their_labels, *their_messages = outcome(lambda y: column_or_1d(
        check_array(y, ensure_2d=False, dtype=None, input_name="y"), warn=True))
    our_labels, *our_messages = outcome(check_labels)
    assert our_messages == their_messages
    if their_labels is not None:
        np.testing.assert_array_equal(our_labels, their_labels)
        assert our_labels.dtype == their_labels.dtype


@pytest.mark.parametrize("y", [np.arange(5.0), np.ones((3, 2), np.float32), np.arange(4),
                               [[0.5], [1.5]], np.array([0.0, np.nan]), np.ones((2, 2, 2)),
                               np.array([], np.float64), np.ones(3, np.float16)])
def test_float_targets_are_checked_as_scikit_learn_does(y):
    from sklearn.utils import check_array

    from skrnn._sequences import check_float_targets

    def outcome(check):
        try:
            return check(y)
        except ValueError as error:
            return str(error)

    theirs = outcome(lambda y: check_array(y, ensure_2d=False,
                                           dtype=(np.float64, np.float32), input_name="y"))
    ours = outcome(check_float_targets)
    if isinstance(theirs, str):
        assert ours == theirs
    else:
        np.testing.assert_array_equal(ours, theirs)
        assert ours.dtype == theirs.dtype

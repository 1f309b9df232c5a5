"""Every accepted input form, turned into one internal form: ``Sequences``.

Accepted forms of ``X``:

* a 3-D array ``(n_samples, n_timesteps, n_features)`` (Keras, tslearn,
  PyTorch ``batch_first``);
* a list of 2-D arrays ``(n_timesteps_i, n_features)``, of any lengths; a
  list of 1-D arrays is read as univariate sequences, whether or not their
  lengths differ;
* a 2-D array ``(n_samples, n_timesteps)``, read as univariate sequences so
  that tabular data, pipelines and scikit-learn's common checks work.

Channels-first data (aeon, sktime: ``(n_samples, n_channels, n_timesteps)``)
is converted explicitly with :func:`from_channels_first`, and sequences
padded to one length (tslearn's NaN padding, Keras' zero padding) with
:func:`from_padded`; neither is ever guessed from the data.
"""

import numbers

import numpy as np
from sklearn.utils import assert_all_finite, check_array, column_or_1d
from sklearn.utils.validation import validate_data

FLOAT_DTYPES = (np.float64, np.float32)


class Sequences:
    """Sequences stored one after another in a single 2-D array.

    Parameters
    ----------
    data : ndarray of shape (n_rows, n_features)
        All time steps of all sequences, C-contiguous; never written to.
    starts : ndarray of shape (n_sequences,), dtype intp
        Row of ``data`` holding each sequence's first step.
    lengths : ndarray of shape (n_sequences,), dtype intp
        Number of steps of each sequence (at least 1).
    """

    __slots__ = ("data", "starts", "lengths")

    def __init__(self, data, starts, lengths):
        self.data = data
        self.starts = starts
        self.lengths = lengths

    def __len__(self):
        return self.starts.shape[0]

    @property
    def n_features(self):
        return self.data.shape[1]

    @property
    def dtype(self):
        return self.data.dtype

    def take(self, indices):
        """The sequences at ``indices``, sharing this object's ``data``."""
        return type(self)(self.data, self.starts[indices], self.lengths[indices])


def check_sequences(X, *, estimator_name="estimator", ensure_all_finite=True):
    """Validate ``X`` in any accepted form and return it as ``Sequences``.

    The caller's arrays are never modified: ``data`` is either a read-only
    view of ``X`` or a new array.

    Parameters
    ----------
    X : array-like or list of array-like
        See the module docstring for the accepted forms.
    estimator_name : str
        Used in error messages.
    ensure_all_finite : bool
        Whether to reject an array ``X`` holding NaN or infinity. False
        leaves that check to the caller: prediction's kernels make it as
        they read each value, which spares a pass over X. A list of
        sequences of different lengths is always checked, one sequence at a
        time, so that an error names the sequence at fault.

    Returns
    -------
    sequences : Sequences
    is_tabular : bool
        True when ``X`` was a 2-D array (one univariate sequence per row).
    """
    if X is None:
        raise ValueError(
            f"{estimator_name} got X=None; it needs sequences: a 3-D array "
            "(n_samples, n_timesteps, n_features), a list of 2-D arrays "
            "(n_timesteps_i, n_features), or a 2-D array of univariate rows."
        )
    if isinstance(X, (list, tuple)) and len(X) == 0:
        raise ValueError(
            f"{estimator_name} got an empty {type(X).__name__} as X: it holds no "
            "sequences. Pass at least one."
        )
    if isinstance(X, (list, tuple)):
        _reject_strings(X, estimator_name)
    if _is_sequence_list(X):
        return _check_sequence_list(X, estimator_name), False

    if isinstance(X, (list, tuple)) and all(hasattr(s, "shape") for s in X):
        # 2-D arrays (or DataFrames) of one shape. check_array would read a
        # list as float64; stacking first keeps float32 sequences float32,
        # as a ragged list of them would be.
        X = np.asarray([np.asarray(s) for s in X])
    if not _is_plain_float_array(X):
        # A plain float array is what check_array would return unchanged.
        # Its general machinery (namespaces, dtype and order rules) costs a
        # third of a millisecond per call from a cold cache, 5% of a small
        # prediction.
        X = check_array(
            X,
            dtype=FLOAT_DTYPES,
            allow_nd=True,
            ensure_all_finite=False,
            input_name="X",
            estimator=estimator_name,
        )
    if X.ndim == 2:
        n_samples, n_timesteps = X.shape
        X = X.reshape(n_samples, n_timesteps, 1)
        is_tabular = True
    elif X.ndim == 3:
        is_tabular = False
    else:
        raise ValueError(
            f"X must be 2-D (n_samples, n_timesteps), 3-D (n_samples, "
            f"n_timesteps, n_features) or a list of 2-D sequences; got an "
            f"array with {X.ndim} dimensions."
        )
    n_samples, n_timesteps, n_features = X.shape
    if n_timesteps == 0:
        raise ValueError(
            "X holds empty sequences: it has 0 time steps "
            f"(shape {X.shape}). Every sequence needs at least one step."
        )
    if n_features == 0:
        raise ValueError(f"X has 0 features per time step (shape {X.shape}).")
    if ensure_all_finite:
        check_finite(X, "X", estimator_name)
    data = np.ascontiguousarray(X).reshape(n_samples * n_timesteps, n_features)
    starts = np.arange(0, n_samples * n_timesteps, n_timesteps, dtype=np.intp)
    lengths = np.empty(n_samples, np.intp)
    lengths.fill(n_timesteps)
    return Sequences(_read_only(data), starts, lengths), is_tabular


def validate_sequences(estimator, X, reset, ensure_all_finite=True):
    """``X`` as Sequences, for ``estimator``'s fit (``reset``) or a later
    call; sets or checks its ``n_features_in_``.

    A model fitted on a 2-D array (a table of univariate rows) checks
    the column count and names of a 2-D ``X``, as scikit-learn does;
    every other input, and every input of a model fitted on sequences,
    is checked for its number of features per time step only, since
    sequences may have any length.
    """
    sequences, is_tabular = check_sequences(
        X, estimator_name=type(estimator).__name__, ensure_all_finite=ensure_all_finite
    )
    if reset:
        estimator._fitted_on_table = is_tabular
    if is_tabular and getattr(estimator, "_fitted_on_table", True):
        # Tabular input: one univariate sequence per row, so the features
        # scikit-learn counts are the columns. validate_data records them
        # (and any DataFrame column names) or checks them against fit.
        validate_data(estimator, X, reset=reset, skip_check_array=True)
    elif reset:
        estimator.n_features_in_ = sequences.n_features
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    if reset:
        estimator._n_step_features = sequences.n_features
    elif sequences.n_features != estimator._n_step_features:
        raise ValueError(
            f"X has {sequences.n_features} features per time step, but "
            f"{type(estimator).__name__} was fitted with {estimator._n_step_features} "
            "features per time step."
        )
    return sequences


def check_finite(X, input_name, estimator_name, starts=None):
    """Raise a ValueError if the array ``X`` holds NaN or infinity.

    scikit-learn's check and its messages (and its ``assume_finite``
    setting), but for NaN: skrnn reads no value as missing, and a NaN is
    most often the padding of sequences stored at one length, so the
    message says where the first one is and how to read padded sequences.

    Parameters
    ----------
    X : ndarray
        Sequences of shape (n_sequences, n_timesteps, n_features); one
        sequence of shape (n_timesteps, n_features); or, with ``starts``,
        the rows of many sequences (``Sequences.data``).
    input_name, estimator_name : str
        For the message.
    starts : ndarray of shape (n_sequences,), optional
        The row of each sequence's first step in a 2-D ``X``, in increasing
        order (``Sequences.starts``).
    """
    if X.dtype.kind == "f" and np.isfinite(X.sum()):
        # No NaN and no infinity: scikit-learn's own first test, without
        # the cost of its dispatch (more than a small partial_fit's
        # validation otherwise).
        return
    try:
        assert_all_finite(X, input_name=input_name, estimator_name=estimator_name)
    except ValueError:
        nan_at = np.argwhere(np.isnan(X))
        if len(nan_at) == 0:
            raise
        where = nan_at[0]
        if X.ndim == 2 and starts is not None:
            sequence = np.searchsorted(starts, where[0], side="right") - 1
            where = (sequence, where[0] - starts[sequence], where[1])
        place = f"at step {where[-2]} (feature {where[-1]})"
        if len(where) == 3:
            place = f"in sequence {where[0]} " + place
        raise ValueError(
            f"{input_name} contains NaN {place}; {estimator_name} reads no value "
            "as missing. If the sequences are padded to one length with NaN after "
            "their last step (as tslearn's to_time_series_dataset pads them), read "
            "them with skrnn.from_padded(X), which ends each sequence before its "
            "trailing all-NaN steps. A NaN within a sequence must be imputed, or "
            "the sequence removed."
        ) from None


def _reject_strings(X, estimator_name):
    """Raise a ValueError naming the first string among the items of the
    list or tuple ``X``, which would otherwise fail deep in NumPy's float
    conversion with no word of where it was."""
    for i, item in enumerate(X):
        if isinstance(item, (str, bytes)):
            break
    else:
        return
    message = (
        f"{estimator_name} got a {type(X).__name__} as X whose item {i} is a "
        f"{type(item).__name__}, {item!r:.60}: sequences are arrays of numbers."
    )
    if i == 0 and len(X) > 1 and all(isinstance(k, numbers.Integral) for k in X[1:]):
        # (name, i, j, ...) is how dask names an array's blocks; dask-ml's
        # Incremental passes such a name, not the block, for arrays of more
        # than two dimensions.
        message += (
            " It looks like the name of a block of a dask array, as dask-ml's "
            "Incremental passes for arrays of more than two dimensions: train over a "
            "dask array of sequences with skrnn.dask.partial_fit_dask."
        )
    raise ValueError(message)


def _is_plain_float_array(X):
    """True for a numpy array that ``check_array`` would accept as it is: 2-D
    or 3-D, float32 or float64, not empty. Empty arrays, subclasses and
    every other type take ``check_array``'s path, and so its error
    messages."""
    return (
        type(X) is np.ndarray
        and X.dtype in FLOAT_DTYPES
        and X.ndim in (2, 3)
        and X.size > 0
    )


def check_labels(y):
    """A classifier's labels, 1-D: ``column_or_1d(check_array(y,
    ensure_2d=False, dtype=None), warn=True)``.

    A plain 1-D array of numbers, finite and not empty, is what that check
    returns unchanged, and is returned without it: scikit-learn's check looks
    for dataframe types first, which costs more per call than a
    ``partial_fit`` on a few short sequences spends outside its kernels.
    Every other input takes scikit-learn's path, and so its errors and
    warnings."""
    if _is_plain_finite_array(y, "biuf", (1,)):
        return y
    return column_or_1d(check_array(y, ensure_2d=False, dtype=None, input_name="y"),
                        warn=True)


def check_float_targets(y, input_name="y"):
    """A regressor's targets: ``check_array(y, ensure_2d=False,
    dtype=(np.float64, np.float32))``, with ``check_labels``' shortcut for
    a plain, finite, non-empty float array of 1 or 2 dimensions.
    ``input_name``: what scikit-learn's errors call ``y``."""
    if _is_plain_finite_array(y, "f", (1, 2)) and y.dtype in FLOAT_DTYPES:
        return y
    return check_array(y, ensure_2d=False, dtype=FLOAT_DTYPES, input_name=input_name)


def _is_plain_finite_array(y, kinds, ndims):
    """True for a numpy array (not a subclass) of one of the dtype ``kinds``
    and ``ndims``, not empty, every value finite."""
    return (
        type(y) is np.ndarray
        and y.dtype.kind in kinds
        and y.ndim in ndims
        and y.size > 0
        and (y.dtype.kind != "f" or bool(np.isfinite(y).all()))
    )


def _is_sequence_list(X):
    """True for a list or tuple read sequence by sequence.

    That is every list of numpy arrays or DataFrames but one of 2-D arrays
    of a single shape (which stacks into a 3-D array of the same meaning),
    and any list whose items differ in shape. A list of equal-length plain
    lists is a table, as in scikit-learn, read like a 2-D array. Sequences
    read one by one are checked one by one, so that errors name the
    sequence at fault.
    """
    if not isinstance(X, (list, tuple)) or len(X) == 0:
        return False
    shapes = set()
    all_arrays = True
    for seq in X:
        if not hasattr(seq, "__len__") or isinstance(seq, str):
            return False
        is_array = hasattr(seq, "shape")
        all_arrays &= is_array
        shapes.add(tuple(seq.shape) if is_array else (len(seq),))
    if len(shapes) > 1:
        return True
    # One shape: arrays of one dimension are univariate sequences (stacked,
    # they would read as a table with a column per step).
    return all_arrays and len(next(iter(shapes))) != 2


def _check_sequence_list(X, estimator_name):
    sequences = []
    for i, seq in enumerate(X):
        try:
            seq = check_array(
                seq,
                dtype=FLOAT_DTYPES,
                ensure_2d=False,
                ensure_min_samples=0,
                ensure_all_finite=False,
                input_name=f"X[{i}]",
                estimator=estimator_name,
            )
            if seq.ndim == 1:  # check_array allows 1-D or 2-D here
                seq = seq.reshape(-1, 1)
            check_finite(seq, f"X[{i}]", estimator_name)
        except ValueError as exc:
            raise ValueError(f"Sequence {i} of X is invalid: {exc}") from exc
        if seq.shape[0] == 0:
            raise ValueError(
                f"Sequence {i} of X is empty (0 time steps). Every sequence "
                "needs at least one step."
            )
        sequences.append(seq)

    n_features = {seq.shape[1] for seq in sequences}
    if len(n_features) > 1:
        raise ValueError(
            "All sequences of X must have the same number of features; got "
            f"sequences with {sorted(n_features)} features."
        )
    if n_features == {0}:
        raise ValueError("The sequences of X have 0 features per time step.")
    # float32 only when every sequence is float32, as check_array would do.
    dtype = (
        np.float32
        if all(seq.dtype == np.float32 for seq in sequences)
        else np.float64
    )
    lengths = np.array([seq.shape[0] for seq in sequences], dtype=np.intp)
    starts = np.zeros_like(lengths)
    np.cumsum(lengths[:-1], out=starts[1:])
    data = np.concatenate(sequences, axis=0).astype(dtype, copy=False)
    return Sequences(_read_only(data), starts, lengths)


def _read_only(data):
    """``data`` C-contiguous, as the kernels read it (a copy only if it is
    not), behind a read-only view that guards the caller's array (and ours)
    against writes."""
    view = np.ascontiguousarray(data).view()
    view.flags.writeable = False
    return view


def from_channels_first(X):
    """Convert channels-first sequences (aeon, sktime) to skrnn's layout.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_channels, n_timesteps) or list of \
            array-like of shape (n_channels, n_timesteps_i)
        Channels-first sequences, as aeon and sktime store them.

    Returns
    -------
    X_out : ndarray of shape (n_samples, n_timesteps, n_channels) or list of \
            ndarray of shape (n_timesteps_i, n_channels)
        The same sequences, time steps first. A new array (or new arrays);
        the input is not modified.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import from_channels_first
    >>> X = np.zeros((10, 3, 50))  # 10 series, 3 channels, 50 steps
    >>> from_channels_first(X).shape
    (10, 50, 3)
    """
    if isinstance(X, (list, tuple)):
        return [np.ascontiguousarray(np.asarray(seq).T) for seq in X]
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(
            "from_channels_first expects a 3-D array (n_samples, n_channels, "
            f"n_timesteps) or a list of 2-D arrays; got {X.ndim} dimensions."
        )
    return np.ascontiguousarray(X.transpose(0, 2, 1))


def from_padded(X, y=None, *, mask_value=np.nan):
    """Cut sequences padded to one length back to their own lengths.

    A sequence ends at its last step that is not padding: its trailing
    steps whose every feature equals ``mask_value`` are dropped. Steps equal
    to ``mask_value`` within a sequence are kept, as values. tslearn's
    ``to_time_series_dataset`` pads with NaN (the default); Keras'
    ``pad_sequences`` with 0 (``mask_value=0.0``, as Keras' ``Masking``
    layer names it).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_timesteps, n_features) or \
            (n_samples, n_timesteps)
        Padded sequences, steps first; 2-D for univariate sequences.
    y : array-like of shape (n_samples, n_timesteps) or \
            (n_samples, n_timesteps, n_outputs), optional
        Per-step targets (for :class:`RNNStepClassifier` and
        :class:`RNNStepRegressor`) padded as ``X`` is, cut to the same
        lengths; their padding values are not read. Targets of whole
        sequences need no cutting: pass them to ``fit`` as they are.
    mask_value : float, default=np.nan
        The value of every feature of a padding step.

    Returns
    -------
    X_out : list of ndarray of shape (n_timesteps_i, n_features)
        Each sequence without its padding; new arrays, so that the input is
        not modified.
    y_out : list of ndarray of shape (n_timesteps_i,) or \
            (n_timesteps_i, n_outputs)
        Only when ``y`` is given: each sequence's targets.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import from_padded
    >>> X = np.array([[1.0, 2.0, np.nan], [3.0, np.nan, np.nan]])
    >>> [seq.ravel().tolist() for seq in from_padded(X)]
    [[1.0, 2.0], [3.0]]
    >>> X, y = from_padded(np.array([[5.0, 0.0], [6.0, 7.0]]), np.array([[1, 0], [0, 1]]),
    ...                    mask_value=0.0)
    >>> [labels.tolist() for labels in y]
    [[1], [0, 1]]
    """
    X = np.asarray(X)
    if X.ndim == 2:
        X = X[:, :, np.newaxis]
    if X.ndim != 3 or X.dtype.kind not in "biuf":
        raise ValueError(
            "from_padded expects a numeric 3-D array (n_samples, n_timesteps, "
            "n_features) or 2-D array (n_samples, n_timesteps); got "
            f"{X.ndim} dimensions of dtype {X.dtype}."
        )
    if not isinstance(mask_value, (int, float, np.number)) or isinstance(mask_value, bool):
        raise ValueError(f"mask_value must be a number (or np.nan); got {mask_value!r}.")
    padding = np.isnan(X) if np.isnan(mask_value) else X == mask_value
    is_step = ~padding.all(axis=2)
    # One past each sequence's last step that is not padding.
    lengths = X.shape[1] - np.argmax(is_step[:, ::-1], axis=1)
    lengths[~is_step.any(axis=1)] = 0
    if (lengths == 0).any():
        first = int(np.flatnonzero(lengths == 0)[0])
        raise ValueError(
            f"Sequence {first} of X is padding only: every feature of every step "
            f"equals mask_value={mask_value!r}."
        )
    X_out = [X[i, :n].copy() for i, n in enumerate(lengths)]
    if y is None:
        return X_out
    y = np.asarray(y)
    if y.ndim not in (2, 3) or y.shape[:2] != X.shape[:2]:
        raise ValueError(
            "y must hold a target for every step of X, padded as X is: shape "
            f"(n_samples, n_timesteps) = {X.shape[:2]}, or with a third axis of "
            f"outputs; got shape {y.shape}."
        )
    return X_out, [y[i, :n].copy() for i, n in enumerate(lengths)]


def check_n_batch_labels(sequences, y):
    """Raise a ValueError if ``y`` does not have one entry per sequence."""
    n_labels = y.shape[0] if hasattr(y, "shape") else len(y)
    if n_labels != len(sequences):
        raise ValueError(
            f"X holds {len(sequences)} sequences but y has {n_labels} entries; "
            "they must match."
        )

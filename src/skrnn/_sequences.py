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
is converted explicitly with :func:`from_channels_first`, never guessed.
"""

import numpy as np
from sklearn.utils import assert_all_finite, check_array
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
    if _is_sequence_list(X):
        return _check_sequence_list(X, estimator_name), False

    if isinstance(X, (list, tuple)) and all(hasattr(s, "shape") for s in X):
        # 2-D arrays (or DataFrames) of one shape. check_array would read a
        # list as float64; stacking first keeps float32 sequences float32,
        # as a ragged list of them would be.
        X = np.asarray([np.asarray(s) for s in X])
    if _is_plain_float_array(X):
        # What check_array would return unchanged. Its general machinery
        # (namespaces, dtype and order rules) costs a third of a millisecond
        # per call from a cold cache, 5% of a small prediction.
        if ensure_all_finite:
            assert_all_finite(X, input_name="X", estimator_name=estimator_name)
    else:
        X = check_array(
            X,
            dtype=FLOAT_DTYPES,
            allow_nd=True,
            ensure_all_finite=ensure_all_finite,
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
    data = np.ascontiguousarray(X).reshape(n_samples * n_timesteps, n_features)
    starts = np.arange(n_samples, dtype=np.intp) * n_timesteps
    lengths = np.full(n_samples, n_timesteps, dtype=np.intp)
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
                ensure_all_finite=True,
                input_name=f"X[{i}]",
                estimator=estimator_name,
            )
        except ValueError as exc:
            raise ValueError(f"Sequence {i} of X is invalid: {exc}") from exc
        if seq.ndim == 1:  # check_array allows 1-D or 2-D here
            seq = seq.reshape(-1, 1)
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


def check_n_batch_labels(sequences, y):
    """Raise a ValueError if ``y`` does not have one entry per sequence."""
    n_labels = y.shape[0] if hasattr(y, "shape") else len(y)
    if n_labels != len(sequences):
        raise ValueError(
            f"X holds {len(sequences)} sequences but y has {n_labels} entries; "
            "they must match."
        )

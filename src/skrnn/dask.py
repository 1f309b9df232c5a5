"""Training and prediction over dask arrays of sequences.

A dask array of sequences, ``(n_samples, n_timesteps, n_features)`` (or
``(n_samples, n_timesteps)`` for univariate ones), split into blocks along
the sample axis only, so that every block holds whole sequences:

* :func:`partial_fit_dask` trains an estimator with ``partial_fit`` on one
  block after another, the blocks computed where dask computes them and
  only one of them in memory at a time;
* :func:`predict_dask` applies ``predict`` (or ``predict_proba``, ...) to
  every block, lazily, and returns a dask array.

dask-ml's ``Incremental`` and ``ParallelPostFit`` wrap tabular estimators
and take a 3-D array for a table: they hand ``partial_fit`` the name of a
block instead of the block, and probe ``predict`` with a single row of the
second axis's length. These two functions do the same jobs for sequences.

Needs dask (the ``dask`` extra: ``pip install "skrnn[dask]"``); importing
skrnn itself never does. To fit models on a cluster in parallel, as in a
grid search, use joblib's ``"dask"`` backend (see the user guide, "Scaling
out with Dask").
"""

import copy
import numbers

import numpy as np
from sklearn.utils import check_random_state

try:
    import dask
    import dask.array as da
except ImportError as exc:
    raise ImportError(
        f"skrnn.dask needs dask's arrays, which do not import here ({exc}): "
        "pip install \"skrnn[dask]\" (or pip install \"dask[array]\").",
        name=exc.name,
    ) from exc

__all__ = ["partial_fit_dask", "predict_dask"]

_AXES = {1: "time steps", 2: "features"}


def partial_fit_dask(estimator, X, y, *, classes=None, sample_weight=None, n_epochs=1,
                     shuffle_blocks=True, random_state=None):
    """Train ``estimator`` with ``partial_fit`` on each block of a dask array.

    Each call of ``partial_fit`` is one epoch over one block of sequences
    (``X.blocks[i]`` with its rows of ``y``), continuing from the weights
    and optimizer state the previous block left. The calls run in a chain
    of dask tasks, wherever the scheduler in use runs them; a block is
    computed when its call needs it.

    Parameters
    ----------
    estimator : estimator with ``partial_fit``
        An skrnn estimator, fresh or already trained; trained in place.
    X : dask.array.Array of shape (n_samples, n_timesteps, n_features) or \
            (n_samples, n_timesteps)
        Sequences, in blocks along the first axis only: every block holds
        whole sequences.
    y : dask.array.Array or array-like of shape (n_samples, ...)
        The targets, as ``partial_fit`` takes them for ``X``'s rows; split
        into the same row blocks as ``X``.
    classes : array-like of shape (n_classes,), default=None
        Every label there will ever be; classifiers need it unless they have
        been trained before, as their ``partial_fit`` does.
    sample_weight : dask.array.Array or array-like of shape (n_samples,), \
            default=None
        One weight per sequence, split as ``y`` is.
    n_epochs : int, default=1
        Passes over all the blocks.
    shuffle_blocks : bool, default=True
        Visit the blocks in a new random order on every pass; else in order.
        (Each ``partial_fit`` shuffles the sequences within its block as the
        estimator's ``shuffle`` says.)
    random_state : int, RandomState instance or None, default=None
        The order of the blocks.

    Returns
    -------
    estimator : estimator
        The same estimator, trained. If a call of ``partial_fit`` raises,
        the error propagates and ``estimator`` is left as it was before.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from skrnn import RNNClassifier
    >>> from skrnn.dask import partial_fit_dask, predict_dask
    >>> rng = np.random.RandomState(0)
    >>> X = da.from_array(rng.normal(size=(300, 10, 2)), chunks=(100, 10, 2))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = RNNClassifier(8, random_state=0)
    >>> clf = partial_fit_dask(clf, X, y, classes=[0, 1], n_epochs=3, random_state=0)
    >>> clf.t_  # sequences seen: 3 passes over 300
    900
    >>> predict_dask(clf, X)  # doctest: +ELLIPSIS
    dask.array<..., shape=(300,), dtype=int64, chunksize=(100,), chunktype=numpy.ndarray>
    """
    if not hasattr(estimator, "partial_fit"):
        raise TypeError(
            f"partial_fit_dask trains with partial_fit, which {type(estimator).__name__} "
            "does not have."
        )
    if not isinstance(n_epochs, numbers.Integral) or isinstance(n_epochs, bool) or n_epochs < 1:
        raise ValueError(f"n_epochs must be a positive integer; got {n_epochs!r}.")
    _check_sequence_blocks(X, "partial_fit_dask")
    if any(np.isnan(size) for size in X.chunks[0]):
        raise ValueError(
            "X has blocks of unknown size (as after boolean indexing), so y cannot be "
            "split along with it: call X.compute_chunk_sizes() first."
        )
    x_blocks = X.to_delayed().ravel()
    y_blocks = _row_blocks(y, X, "y")
    w_blocks = ([None] * len(x_blocks) if sample_weight is None
                else _row_blocks(sample_weight, X, "sample_weight"))
    params = {} if classes is None else {"classes": classes}

    # The chain trains a copy, so that an error in any block leaves the
    # caller's estimator as it was; a distributed scheduler copies it
    # anyway, as it sends it from block to block.
    trained = copy.deepcopy(estimator)
    rng = check_random_state(random_state)
    for _ in range(n_epochs):
        order = rng.permutation(len(x_blocks)) if shuffle_blocks else range(len(x_blocks))
        for i in order:
            trained = dask.delayed(_partial_fit, pure=False)(
                trained, x_blocks[i], y_blocks[i], w_blocks[i], params)
    trained = trained.compute()
    estimator.__dict__.clear()
    estimator.__dict__.update(trained.__dict__)
    return estimator


def predict_dask(estimator, X, method="predict"):
    """Apply a fitted estimator's ``predict`` (or other method) to every
    block of a dask array of sequences.

    Parameters
    ----------
    estimator : fitted estimator
        An skrnn estimator.
    X : dask.array.Array of shape (n_samples, n_timesteps, n_features) or \
            (n_samples, n_timesteps)
        Sequences, in blocks along the first axis only.
    method : str, default="predict"
        The estimator's method to apply: ``"predict"``, ``"predict_proba"``,
        ``"predict_log_proba"``, ...

    Returns
    -------
    result : dask.array.Array
        What ``method`` returns for ``X``, in the same blocks of rows;
        lazy, computed with ``.compute()``. Its shape and dtype are those
        of the method's answer for one sequence of zeros, which this call
        computes now.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from skrnn import RNNRegressor
    >>> from skrnn.dask import predict_dask
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 6, 3))
    >>> reg = RNNRegressor(8, max_iter=5, random_state=0).fit(X, X[:, -1, :2])
    >>> y_pred = predict_dask(reg, da.from_array(X, chunks=(50, 6, 3)))
    >>> y_pred.shape, y_pred.chunks
    ((200, 2), ((50, 50, 50, 50), (2,)))
    >>> bool(np.allclose(y_pred.compute(), reg.predict(X)))
    True
    """
    _check_sequence_blocks(X, "predict_dask")
    if not callable(getattr(estimator, method, None)):
        raise ValueError(f"{type(estimator).__name__} has no method {method!r}.")
    # The answer for one sequence gives the answer's trailing shape and
    # dtype (a class per sequence, probabilities, a value per step...).
    probe = np.asarray(getattr(estimator, method)(np.zeros((1,) + X.shape[1:], X.dtype)))
    chunks = (X.chunks[0],) + tuple((size,) for size in probe.shape[1:])
    return da.map_blocks(
        _apply, X, estimator=estimator, method=method,
        chunks=chunks,
        drop_axis=list(range(probe.ndim, X.ndim)),
        new_axis=list(range(X.ndim, probe.ndim)) or None,
        meta=np.empty((0,) * probe.ndim, dtype=probe.dtype),
    )


def _partial_fit(estimator, X, y, sample_weight, params):
    if sample_weight is not None:
        params = dict(params, sample_weight=sample_weight)
    return estimator.partial_fit(X, y, **params)


def _apply(block, estimator, method):
    return getattr(estimator, method)(block)


def _check_sequence_blocks(X, caller):
    if not isinstance(X, da.Array):
        raise TypeError(
            f"{caller} takes a dask array as X; got {type(X).__name__}. Pass arrays and "
            "lists of sequences to the estimator's own methods."
        )
    if X.ndim not in (2, 3):
        raise ValueError(
            "X must be a dask array of sequences, 3-D (n_samples, n_timesteps, "
            "n_features) or 2-D (n_samples, n_timesteps); got "
            f"{X.ndim} dimensions."
        )
    split = [axis for axis in range(1, X.ndim) if X.numblocks[axis] > 1]
    if split:
        axes = " and ".join(f"axis {axis} ({_AXES[axis]}, {X.numblocks[axis]} blocks)"
                            for axis in split)
        raise ValueError(
            f"X is split along {axes}: every block must hold whole sequences. Split it "
            "along the sample axis only: X = X.rechunk({"
            + ", ".join(f"{axis}: -1" for axis in split) + "})."
        )


def _row_blocks(values, X, name):
    """``values`` (a dask or in-memory array) as one delayed block per row
    block of ``X``."""
    values = da.asarray(values)
    if values.ndim and np.isnan(values.shape[0]):
        raise ValueError(
            f"{name} has blocks of unknown size (as after boolean indexing): call "
            f"{name}.compute_chunk_sizes() first."
        )
    if values.ndim == 0 or values.shape[0] != X.shape[0]:
        raise ValueError(
            f"{name} has {values.shape[0] if values.ndim else 'no'} rows for the "
            f"{X.shape[0]} sequences of X."
        )
    values = values.rechunk((X.chunks[0],) + tuple((size,) for size in values.shape[1:]))
    return values.to_delayed().ravel()

"""Preprocessing for sequences: ``SequenceScaler``."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils.validation import check_is_fitted

from ._sequences import _is_sequence_list, validate_sequences

__all__ = ["SequenceScaler"]


class SequenceScaler(TransformerMixin, BaseEstimator):
    """Standardize each feature over every step of every sequence.

    ``StandardScaler`` for sequences: the mean and standard deviation of
    each feature are taken over all time steps of all training sequences,
    whatever their lengths, and every step is scaled with them,
    ``z = (x - mean_) / scale_``. Recurrent networks train far better on
    standardized inputs: unscaled, their gates saturate and gradient
    clipping fires on every update.

    Parameters
    ----------
    with_mean : bool, default=True
        Center each feature before scaling.
    with_std : bool, default=True
        Scale each feature to unit variance.

    Attributes
    ----------
    mean_ : ndarray of shape (n_step_features,) or None
        Mean of each feature over all steps; None if ``with_mean=False``.
    var_ : ndarray of shape (n_step_features,) or None
        Variance of each feature over all steps; None if ``with_std=False``.
    scale_ : ndarray of shape (n_step_features,) or None
        The divisor of each feature: its standard deviation, or 1 for a
        feature that is constant over the training steps. None if
        ``with_std=False``.
    n_steps_seen_ : int
        Time steps the statistics were computed over.
    n_features_in_ : int
        Features per time step for 3-D or list input; the number of columns
        (time steps) for a 2-D array of univariate rows, as skrnn's
        estimators count them.

    See Also
    --------
    sklearn.preprocessing.StandardScaler : The same for tabular data.

    Notes
    -----
    ``X`` takes every form skrnn's estimators accept (a 3-D array
    ``(n_samples, n_timesteps, n_features)``, a list of 2-D or 1-D arrays of
    any lengths, a 2-D array read as univariate rows), and ``transform``
    answers in the form it was given, so that the scaler goes in front of an
    estimator in a ``Pipeline``. A 2-D array is one feature per step: all its
    values share one mean and scale, since every column is a time step of
    the same series. The input is never modified.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from skrnn import RNNClassifier
    >>> from skrnn.preprocessing import SequenceScaler
    >>> rng = np.random.RandomState(0)
    >>> X = [100 + 10 * rng.normal(size=(n, 2)) for n in (5, 8, 3)]
    >>> scaler = SequenceScaler().fit(X)
    >>> scaler.mean_.round(1), scaler.n_steps_seen_
    (array([106.8, 101.8]), 16)
    >>> Z = scaler.transform(X)
    >>> [z.shape for z in Z]
    [(5, 2), (8, 2), (3, 2)]
    >>> np.allclose(np.concatenate(Z).mean(axis=0), 0)
    True
    >>> np.allclose(scaler.inverse_transform(Z)[1], X[1])
    True
    >>> clf = make_pipeline(SequenceScaler(), RNNClassifier(4, max_iter=2))
    >>> clf.fit(X, [0, 1, 0]).predict(X).shape
    (3,)
    """

    _parameter_constraints: dict = {
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
    }

    def __init__(self, *, with_mean=True, with_std=True):
        self.with_mean = with_mean
        self.with_std = with_std

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute each feature's mean and standard deviation over all steps.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences in any accepted form (see the class docstring).
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted scaler.
        """
        sequences = validate_sequences(self, X, reset=True)
        # Statistics in float64 whatever the data's dtype, as
        # StandardScaler keeps them.
        data = sequences.data.astype(np.float64, copy=False)
        mean = data.mean(axis=0)
        var = data.var(axis=0)
        self.mean_ = mean if self.with_mean else None
        self.var_ = var if self.with_std else None
        if self.with_std:
            # A feature constant over the training steps keeps its scale:
            # its variance is rounding error, not signal.
            constant = var <= (10 * np.finfo(np.float64).eps * mean) ** 2
            self.scale_ = np.where(constant, 1.0, np.sqrt(var))
        else:
            self.scale_ = None
        self.n_steps_seen_ = int(sequences.data.shape[0])
        return self

    def transform(self, X):
        """Standardize every step of ``X``.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences with the features per step seen in ``fit``.

        Returns
        -------
        X_scaled : ndarray or list of ndarray
            In the form ``X`` came in: an array of the same shape, or a list
            of arrays of the same shapes. A float32 ``X`` stays float32.
        """
        return self._apply(X, inverse=False)

    def inverse_transform(self, X):
        """Undo ``transform``: ``x = z * scale_ + mean_`` at every step.

        Parameters
        ----------
        X : array-like or list of array-like
            Scaled sequences.

        Returns
        -------
        X_original : ndarray or list of ndarray
            In the form ``X`` came in.
        """
        return self._apply(X, inverse=True)

    def _apply(self, X, inverse):
        check_is_fitted(self, "n_steps_seen_")
        sequences = validate_sequences(self, X, reset=False)
        dtype = sequences.dtype
        # A new array: ``sequences.data`` may be a view of the user's X.
        values = sequences.data.copy()
        mean = None if self.mean_ is None else self.mean_.astype(dtype)
        scale = None if self.scale_ is None else self.scale_.astype(dtype)
        if inverse:
            if scale is not None:
                values *= scale
            if mean is not None:
                values += mean
        else:
            if mean is not None:
                values -= mean
            if scale is not None:
                values /= scale
        return _in_the_form_of(X, values, sequences)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


def _in_the_form_of(X, values, sequences):
    """``values`` (every step's row, in ``sequences``' order) in the form
    ``X`` came in: one array of X's shape, or a list of arrays of the
    shapes of X's items (a table of plain lists: a 2-D array)."""
    if isinstance(X, (list, tuple)):
        if not _is_sequence_list(X) and not any(hasattr(item, "shape") for item in X):
            # Plain lists of one length: a table, answered as a 2-D array
            # as scikit-learn's transformers do.
            return values.reshape(len(X), len(X[0]))
        parts = [values[start : start + length]
                 for start, length in zip(sequences.starts, sequences.lengths)]
        return [part.reshape(np.shape(item)) for part, item in zip(parts, X)]
    return values.reshape(np.asarray(X).shape)

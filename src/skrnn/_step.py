"""RNNStepClassifier and RNNStepRegressor: a target at every time step
(many-to-many)."""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import StrOptions

from ._base import BaseRNN, _cast_in_range
from ._docs import (
    NETWORK_PARAMETERS, SHARED_ATTRIBUTES, TRAINING_PARAMETERS, class_weight_parameter,
)
from ._losses import BinaryLogLoss, MultinomialLogLoss, SquaredLoss
from ._rnn import (
    accuracy_of_raw, check_partial_fit_classes, class_weighted, labels_from_raw,
    one_hot_labels,
)
from ._sequences import Sequences, check_float_targets


class StepTargets(Sequences):
    """Per-step targets stored as ``Sequences`` stores its inputs: the rows
    of every sequence one after another, with where each starts.

    Indexing by sequence (``targets[indices]``) gives the targets of those
    sequences, sharing ``data``, so that the training loop cuts batches and
    validation splits of these as of per-sequence targets.
    """

    __slots__ = ()

    def __getitem__(self, indices):
        return self.take(indices)

    @property
    def shape(self):
        """(n_sequences, n_outputs), as per-sequence targets have."""
        return (len(self), self.data.shape[1])

    def rows(self):
        """Every step's target, sequence after sequence: the order of the
        network's per-step output."""
        if len(self) == 1 or _consecutive(self.starts, self.lengths):
            start = int(self.starts[0])
            return self.data[start : start + int(self.lengths.sum())]
        return self.data[self.row_index()]

    def row_index(self):
        """The row of ``data`` of every step, in the order of ``rows()``."""
        return _step_rows(self.starts, self.lengths)


def _consecutive(starts, lengths):
    return bool(np.all(starts[1:] == starts[:-1] + lengths[:-1]))


def _step_rows(starts, lengths):
    """Rows of sequences (starts, lengths) taken in order, every step."""
    offsets = np.zeros(len(lengths), np.intp)
    np.cumsum(lengths[:-1], out=offsets[1:])
    return np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))


def _per_sequence_targets(y, sequences, estimator_name):
    """``y`` as a list of one array per sequence, each with a first axis of
    the sequence's length; a ValueError names the first that does not fit."""
    lengths = sequences.lengths
    n_seq = len(lengths)
    if y is None:
        raise ValueError(f"{estimator_name} requires y to be passed, but the target y is None.")
    if isinstance(y, (list, tuple)):
        items = [np.asarray(item) for item in y]
    else:
        y = np.asarray(y)
        if y.dtype == object and y.ndim == 1:
            items = [np.asarray(item) for item in y]
        elif y.ndim >= 2:
            items = list(y)
        else:
            raise ValueError(
                f"{estimator_name} needs a target at every time step: a list of "
                "per-step arrays, one per sequence, or an array (n_samples, "
                f"n_timesteps[, n_outputs]); got y of shape {y.shape}. For one "
                "target per sequence, use RNNClassifier or RNNRegressor."
            )
    if len(items) != n_seq:
        raise ValueError(
            f"X holds {n_seq} sequences but y has {len(items)} entries; they must match."
        )
    for i, (item, length) in enumerate(zip(items, lengths)):
        if item.ndim == 0 or item.shape[0] != length:
            steps = "a scalar" if item.ndim == 0 else f"{item.shape[0]} steps"
            raise ValueError(
                f"y[{i}] has {steps}, but sequence {i} of X has {length}: "
                f"{estimator_name} needs one target per time step."
            )
    return items


def checked_step_values(y, sequences, estimator_name):
    """The per-step real targets of each sequence, each validated: all of
    shape (n_timesteps_i,) or all (n_timesteps_i, n_outputs)."""
    items = _per_sequence_targets(y, sequences, estimator_name)
    ndims = {item.ndim for item in items}
    widths = {item.shape[1] for item in items if item.ndim == 2}
    if not ndims <= {1, 2} or len(ndims) > 1 or len(widths) > 1:
        raise ValueError(
            f"Every y[i] must have shape (n_timesteps_i,) or (n_timesteps_i, "
            f"n_outputs) with the same n_outputs; got shapes "
            f"{sorted({item.shape[1:] for item in items})} after the step axis."
        )
    return [check_float_targets(item, input_name=f"y[{i}]") for i, item in enumerate(items)]


def _split_by_sequence(values, lengths, as_array):
    """Per-step rows cut into one array per sequence: a list, or, when X
    was an array (all sequences of one length), one array stacked on a
    leading sample axis."""
    if as_array:
        return values.reshape(len(lengths), int(lengths[0]), *values.shape[1:])
    return np.split(values, np.cumsum(lengths)[:-1])


def _came_as_array(X):
    return not isinstance(X, (list, tuple))


_STEP_INPUT_NOTE = """
    The input ``X`` takes every form the sequence estimators accept (a 3-D
    array, a list of 2-D arrays of any lengths, a 2-D array of univariate
    rows). The output layer reads the top layer's state at every step, so
    there is one prediction per step of every sequence; with
    ``bidirectional``, each step's prediction sees the whole sequence.

    ``y`` holds a target per step: a list of arrays aligned with a list of
    sequences (sequence i's of length ``n_timesteps_i``), or an array
    ``(n_samples, n_timesteps[, n_outputs])`` for an array ``X``.
    ``predict`` answers in the form ``X`` came in: a list for a list, an
    array for an array.

    The loss is the BPTT loss of the seeds, the sum of every step's loss,
    divided by the number of steps of the mini-batch (so the scale of the
    gradient does not grow with the sequences' lengths); ``alpha`` is
    scaled by that number likewise. With ``sample_weight``, every step's
    loss is weighted by its sequence's weight, and the sum divided by the
    sum of the steps' weights.
"""


class _BaseStepRNN(BaseRNN):
    """What the two per-step estimators share."""

    def _head(self):
        return "step"

    def _cast_targets(self, targets, dtype):
        return StepTargets(_cast_in_range(targets.data, dtype, "y"),
                           targets.starts, targets.lengths)

    @staticmethod
    def _target_rows(targets):
        return targets.rows()

    @staticmethod
    def _n_loss_terms(sequences):
        return int(sequences.lengths.sum())

    def _step_weights(self, sample_weight, sequences):
        """Per-sequence ``sample_weight`` given to every step, for scores."""
        if sample_weight is None:
            return None
        return self._row_weights(self._check_sample_weight(sample_weight, sequences),
                                 sequences)

    @staticmethod
    def _row_weights(sample_weight, sequences):
        """Every step's weight: its sequence's."""
        return np.repeat(sample_weight, sequences.lengths)

    def _output_weights(self, row_weights, sequences, dtype):
        """Every step's weight, stored as the targets are."""
        return self._step_targets(row_weights.astype(dtype)[:, np.newaxis], sequences)

    def _validation_split(self, n_samples, targets, rng):
        return train_test_split(
            np.arange(n_samples), random_state=rng, test_size=self.validation_fraction
        )

    def _step_targets(self, rows, sequences):
        """Per-step target rows (n_steps, n_outputs), stored like X."""
        starts = np.zeros(len(sequences), np.intp)
        np.cumsum(sequences.lengths[:-1], out=starts[1:])
        return StepTargets(rows, starts, sequences.lengths.copy())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


_STEP_CLASSIFIER_EXAMPLE = """
    Examples
    --------
    Label each step by whether the running sum of the inputs is positive:

    >>> import numpy as np
    >>> from skrnn import RNNStepClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = [rng.normal(size=(n, 1)) for n in rng.randint(5, 15, size=200)]
    >>> y = [(np.cumsum(x[:, 0]) > 0).astype(int) for x in X]
    >>> clf = RNNStepClassifier(16, learning_rate_init=0.01, random_state=0).fit(X, y)
    >>> [labels.shape for labels in clf.predict(X[:2])]
    [(10,), (5,)]
    >>> clf.score(X, y) > 0.9
    True
"""


class RNNStepClassifier(ClassifierMixin, _BaseStepRNN):
    __doc__ = (
        """Recurrent network that labels every time step (sequence labelling).
    """
        + _STEP_INPUT_NOTE
        + """
    Parameters
    ----------"""
        + NETWORK_PARAMETERS
        + class_weight_parameter("step")
        + TRAINING_PARAMETERS
        + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, over all steps.
"""
        + SHARED_ATTRIBUTES
        + """
    See Also
    --------
    RNNClassifier : One class per sequence.
    RNNStepRegressor : A value at every step.
"""
        + _STEP_CLASSIFIER_EXAMPLE
    )

    _parameter_constraints = {
        **BaseRNN._parameter_constraints,
        "class_weight": [StrOptions({"balanced"}), dict, None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        activation="tanh",
        *,
        cell="rnn",
        bidirectional=False,
        learn_initial_state=False,
        class_weight=None,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        clip_threshold=1.0,
        bptt_truncate=None,
        n_threads=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            cell=cell,
            bidirectional=bidirectional,
            learn_initial_state=learn_initial_state,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            clip_threshold=clip_threshold,
            bptt_truncate=bptt_truncate,
            n_threads=n_threads,
        )
        self.class_weight = class_weight

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to sequences ``X`` and a label per step ``y``.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences (see the class docstring for the accepted forms).
        y : list of array-like of shape (n_timesteps_i,), or array-like of \
shape (n_samples, n_timesteps)
            The label of every step of every sequence.
        sample_weight : array-like of shape (n_samples,), default=None
            The weight of each sequence: every step's loss is weighted by
            its sequence's weight. By default 1 for every sequence.

        Returns
        -------
        self : RNNStepClassifier
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``(X, y)``, continuing from the current weights.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.
        y : list of array-like or array-like
            The label of every step, as in :meth:`fit`.
        classes : array-like of shape (n_classes,), default=None
            All classes that will ever appear at any step. Required on the
            first call; ignored (but checked) on later ones.
        sample_weight : array-like of shape (n_samples,), default=None
            The weight of each sequence: every step's loss is weighted by
            its sequence's weight. By default 1 for every sequence.

        Returns
        -------
        self : RNNStepClassifier
        """
        check_partial_fit_classes(self, classes)
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _prepare_targets(self, y, sequences, incremental, classes=None):
        items = _per_sequence_targets(y, sequences, type(self).__name__)
        for i, item in enumerate(items):
            if item.ndim != 1:
                raise ValueError(
                    f"y[{i}] has shape {item.shape}; {type(self).__name__} takes one "
                    "label per step, an array of shape (n_timesteps_i,)."
                )
        labels = np.concatenate(items)
        return self._step_targets(one_hot_labels(self, labels, incremental, classes),
                                  sequences)

    def _weight_classes(self, row_weights, rows, incremental):
        return class_weighted(self, row_weights, rows, incremental)

    @property
    def _loss(self):
        return BinaryLogLoss if len(self.classes_) == 2 else MultinomialLogLoss

    def _score_raw(self, raw, targets, weights=None):
        return accuracy_of_raw(raw, targets, weights)

    def predict(self, X):
        """Predict the class of every step.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.

        Returns
        -------
        y : list of ndarray of shape (n_timesteps_i,), or ndarray of shape \
(n_samples, n_timesteps)
            A list for a list ``X``, an array for an array.
        """
        raw, lengths = self._raw_output_and_lengths(X)
        return _split_by_sequence(labels_from_raw(self.classes_, raw), lengths,
                                  _came_as_array(X))

    def predict_proba(self, X):
        """Class probabilities at every step.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.

        Returns
        -------
        proba : list of ndarray of shape (n_timesteps_i, n_classes), or \
ndarray of shape (n_samples, n_timesteps, n_classes)
            Columns in the order of ``classes_``.
        """
        raw, lengths = self._raw_output_and_lengths(X)
        return _split_by_sequence(self._loss.link(raw), lengths, _came_as_array(X))

    def score(self, X, y, sample_weight=None):
        """Accuracy over every step of every sequence.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.
        y : list of array-like or array-like
            The label of every step, as in :meth:`fit`.
        sample_weight : array-like of shape (n_samples,), default=None
            The weight of each sequence, given to each of its steps.

        Returns
        -------
        score : float
        """
        predicted = self.predict(X)
        sequences = self._validate_sequences(X, reset=False)
        items = _per_sequence_targets(y, sequences, type(self).__name__)
        return float(accuracy_score(np.concatenate(items), np.concatenate(list(predicted)),
                                    sample_weight=self._step_weights(sample_weight, sequences)))


class RNNStepRegressor(RegressorMixin, _BaseStepRNN):
    __doc__ = (
        """Recurrent network that predicts a value (or vector) at every time step.
    """
        + _STEP_INPUT_NOTE
        + """
    This is the estimator for "one value per step" (denoising, next-step
    forecasting): ``RNNRegressor`` reads a 2-D ``y`` as several outputs of
    each whole sequence instead. The loss is half the squared error.

    Parameters
    ----------"""
        + NETWORK_PARAMETERS
        + TRAINING_PARAMETERS
        + """
    Attributes
    ----------"""
        + SHARED_ATTRIBUTES
        + """
    See Also
    --------
    RNNRegressor : One target (or vector of targets) per sequence.
    RNNStepClassifier : A class at every step.

    Examples
    --------
    Denoise a sine wave, step by step:

    >>> import numpy as np
    >>> from skrnn import RNNStepRegressor
    >>> rng = np.random.RandomState(0)
    >>> t = np.linspace(0, 4 * np.pi, 40)
    >>> clean = np.sin(t + rng.uniform(0, 2 * np.pi, size=(100, 1)))
    >>> X = (clean + 0.3 * rng.normal(size=clean.shape))[:, :, np.newaxis]
    >>> reg = RNNStepRegressor(16, bidirectional=True, learning_rate_init=0.01,
    ...                        max_iter=100, random_state=0).fit(X, clean)
    >>> reg.predict(X).shape
    (100, 40)
    >>> reg.score(X, clean) > 0.9
    True
    """
    )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to sequences ``X`` and a target per step ``y``.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences (see the class docstring for the accepted forms).
        y : list of array-like of shape (n_timesteps_i,) or (n_timesteps_i, \
n_outputs), or array-like of shape (n_samples, n_timesteps[, n_outputs])
            The target of every step of every sequence.
        sample_weight : array-like of shape (n_samples,), default=None
            The weight of each sequence: every step's loss is weighted by
            its sequence's weight. By default 1 for every sequence.

        Returns
        -------
        self : RNNStepRegressor
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``, continuing from the current weights.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.
        y : list of array-like or array-like
            The target of every step, as in :meth:`fit`.
        sample_weight : array-like of shape (n_samples,), default=None
            The weight of each sequence: every step's loss is weighted by
            its sequence's weight. By default 1 for every sequence.

        Returns
        -------
        self : RNNStepRegressor
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _prepare_targets(self, y, sequences, incremental, classes=None):
        items = self._checked_values(y, sequences)
        rows = np.concatenate(items)
        y_is_1d = rows.ndim == 1
        if incremental and hasattr(self, "_y_is_1d") and y_is_1d != self._y_is_1d:
            raise ValueError(
                "y has " + ("one value" if y_is_1d else "a vector") + " per step, but "
                "the model was fitted with " + ("one value" if self._y_is_1d else "a vector")
                + " per step."
            )
        self._y_is_1d = y_is_1d
        return self._step_targets(rows.reshape(len(rows), -1), sequences)

    def _checked_values(self, y, sequences):
        return checked_step_values(y, sequences, type(self).__name__)

    @property
    def _loss(self):
        return SquaredLoss

    def _score_raw(self, raw, targets, weights=None):
        return float(r2_score(targets, raw, sample_weight=weights))

    def predict(self, X):
        """Predict the target of every step.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.

        Returns
        -------
        y : list of ndarray, or ndarray
            For a list ``X``, one array per sequence, of shape
            ``(n_timesteps_i,)`` (or ``(n_timesteps_i, n_outputs)`` when
            fitted on vectors); for an array ``X``, one array of shape
            ``(n_samples, n_timesteps[, n_outputs])``.
        """
        raw, lengths = self._raw_output_and_lengths(X)
        return _split_by_sequence(raw[:, 0] if self._y_is_1d else raw, lengths,
                                  _came_as_array(X))

    def score(self, X, y, sample_weight=None):
        """R² over every step of every sequence (averaged uniformly over
        the outputs, as ``r2_score`` does).

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.
        y : list of array-like or array-like
            The target of every step, as in :meth:`fit`.
        sample_weight : array-like of shape (n_samples,), default=None
            The weight of each sequence, given to each of its steps.

        Returns
        -------
        score : float
        """
        predicted = self.predict(X)
        sequences = self._validate_sequences(X, reset=False)
        items = self._checked_values(y, sequences)
        return float(r2_score(np.concatenate(items), np.concatenate(list(predicted)),
                              sample_weight=self._step_weights(sample_weight, sequences)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


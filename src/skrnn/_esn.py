"""Echo State Networks: a fixed random reservoir and a ridge readout.

``ESNClassifier`` and ``ESNRegressor`` answer once per sequence (the
reservoir's states pooled over each sequence), ``ESNStepClassifier`` and
``ESNStepRegressor`` at every step, and ``Reservoir`` gives the pooled
states themselves to any scikit-learn model. The reservoir is never trained;
``fit`` draws it from ``random_state``, runs it over the sequences
(``skrnn._reservoir``) and solves the readout (``skrnn._readout``).
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin, _fit_context,
)
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._base import _unchanged_on_error, check_sequence_weights
from ._kernels._dense import dense_forward
from ._readout import RidgeReadout
from ._reservoir import make_reservoir
from ._rnn import check_partial_fit_classes
from ._sequences import (
    Sequences, check_float_targets, check_labels, check_n_batch_labels, validate_sequences,
)
from ._step import (
    _came_as_array, _per_sequence_targets, _split_by_sequence, checked_step_values,
)
from ._threads import effective_n_threads

RESERVOIR_PARAMETERS = """
    n_units : int, default=100
        Units of the reservoir.

    spectral_radius : float, default=0.9
        The largest absolute eigenvalue W is rescaled to. Below 1, the
        reservoir forgets its inputs (the echo state property); near or
        above 1, it remembers them longer and may turn chaotic.

    leak_rate : float, default=1.0
        The leak rate a of ``x_t = (1 - a) x_{t-1} + a tanh(u_t W_in +
        x_{t-1} W + b)``, in (0, 1]: small values make slow units that
        integrate their inputs over many steps.

    input_scaling : float, default=1.0
        W_in's entries are +-``input_scaling``: how far the inputs drive
        the units into tanh's nonlinearity.

    bias_scaling : float, default=0.0
        The bias's entries are +-``bias_scaling``. Without a bias the
        reservoir is odd (the inputs -u give the states -x), so a linear
        readout cannot tell a sequence from its negative; classification
        often needs one.

    connectivity : float, default=0.1
        Fraction of W's entries that are nonzero (normal values).

    input_connectivity : float, default=0.1
        Fraction of W_in's entries that are nonzero.

    washout : int, default=0
        Steps at the start of each sequence that the readout ignores while
        the reservoir forgets its zero initial state.
"""

READOUT_PARAMETERS = """
    alpha : float, default=1e-6
        Strength of the ridge penalty of the readout, as in
        ``sklearn.linear_model.Ridge`` (the intercept is not penalised).

    random_state : int, RandomState instance or None, default=None
        Draws the reservoir's weights. Pass an int for the same reservoir
        at every fit.

    n_threads : int or None, default=None
        Threads that run the reservoir, over chunks of sequences: None for
        all allowed (``OMP_NUM_THREADS``, threadpoolctl, else the physical
        cores), a negative number counting back from them. The results do
        not depend on it.
"""

POOLING_PARAMETER = """
    pooling : {'last', 'mean', 'max'}, default='last'
        How each sequence's states (after ``washout``) become the readout's
        features: the last state, or the mean or maximum of every state.
"""

ESN_ATTRIBUTES = """
    input_weights_ : ndarray of shape (n_features_per_step, n_units)
        W_in.

    reservoir_weights_ : scipy.sparse.csc_array of shape (n_units, n_units)
        W, at the spectral radius asked for.

    bias_ : ndarray of shape (n_units,)
        The reservoir's bias b.

    n_features_in_ : int
        Features seen by ``fit``: per time step, or the columns of a 2-D X.
"""

READOUT_ATTRIBUTES = """
    coef_ : ndarray of shape (n_units,) or (n_outputs, n_units)
        The readout's weights, as ``Ridge`` shapes them.

    intercept_ : float or ndarray of shape (n_outputs,)
        The readout's intercept.
"""

INPUT_NOTE = """
    ``X`` takes every form the recurrent estimators accept: a 3-D array
    ``(n_samples, n_timesteps, n_features)``, a list of 2-D arrays
    ``(n_timesteps_i, n_features)`` of any lengths, or a 2-D array read as
    one univariate sequence per row. The reservoir runs in float32 for
    float32 input, float64 otherwise; the readout is solved in float64.
"""


class _BaseESN(BaseEstimator):
    """What every Echo State Network estimator shares: the reservoir, its
    runs, and the ridge readout's normal equations."""

    _parameter_constraints: dict = {
        "n_units": [Interval(Integral, 1, None, closed="left")],
        "spectral_radius": [Interval(Real, 0, None, closed="left")],
        "leak_rate": [Interval(Real, 0, 1, closed="right")],
        "input_scaling": [Interval(Real, None, None, closed="neither")],
        "bias_scaling": [Interval(Real, None, None, closed="neither")],
        "connectivity": [Interval(Real, 0, 1, closed="right")],
        "input_connectivity": [Interval(Real, 0, 1, closed="right")],
        "washout": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "n_threads": [Interval(Integral, None, -1, closed="right"),
                      Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        n_units=100,
        *,
        spectral_radius=0.9,
        leak_rate=1.0,
        input_scaling=1.0,
        bias_scaling=0.0,
        connectivity=0.1,
        input_connectivity=0.1,
        washout=0,
        random_state=None,
        n_threads=None,
    ):
        self.n_units = n_units
        self.spectral_radius = spectral_radius
        self.leak_rate = leak_rate
        self.input_scaling = input_scaling
        self.bias_scaling = bias_scaling
        self.connectivity = connectivity
        self.input_connectivity = input_connectivity
        self.washout = washout
        self.random_state = random_state
        self.n_threads = n_threads

    # -- the reservoir ---------------------------------------------------

    def _draw_reservoir(self, sequences):
        dtype = np.float32 if sequences.dtype == np.float32 else np.float64
        self._reservoir = make_reservoir(
            sequences.n_features, n_units=self.n_units,
            spectral_radius=self.spectral_radius, leak_rate=self.leak_rate,
            input_scaling=self.input_scaling, bias_scaling=self.bias_scaling,
            connectivity=self.connectivity, input_connectivity=self.input_connectivity,
            random_state=check_random_state(self.random_state), dtype=dtype,
        )

    @property
    def input_weights_(self):
        check_is_fitted(self, "_reservoir")
        return self._reservoir.W_in

    @property
    def reservoir_weights_(self):
        check_is_fitted(self, "_reservoir")
        return self._reservoir.W

    @property
    def bias_(self):
        check_is_fitted(self, "_reservoir")
        return self._reservoir.bias

    def _sequences(self, X, reset):
        """X validated as Sequences of the reservoir's dtype."""
        sequences = validate_sequences(self, X, reset=reset)
        if not reset and sequences.dtype != self._reservoir.dtype:
            sequences = Sequences(sequences.data.astype(self._reservoir.dtype),
                                  sequences.starts, sequences.lengths)
        return sequences

    def _run(self, sequences, **options):
        return self._reservoir.run(sequences, n_threads=self.n_threads, **options)

    # -- the readout -------------------------------------------------------

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        first = not (incremental and hasattr(self, "_readout"))
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the "
                             "target y is None.")
        with _unchanged_on_error(self):
            sequences = self._sequences(X, reset=first)
            if sample_weight is not None:
                sample_weight = check_sequence_weights(sample_weight, sequences)
            self._check_lengths(sequences)
            targets = self._targets(y, sequences, first, classes)
            if first:
                self._draw_reservoir(sequences)
            features, row_weights, targets = self._training_rows(
                sequences, targets, sample_weight)
            readout = (RidgeReadout(self.n_units, targets.shape[1]) if first
                       else self._readout)
            if not first and readout.n_outputs != targets.shape[1]:
                raise ValueError(
                    f"y has {targets.shape[1]} outputs, but the model was fitted "
                    f"with {readout.n_outputs}.")
            readout = readout.copy()
            readout.add(features, targets, row_weights,
                        n_threads=effective_n_threads(self.n_threads))
            coef, intercept = readout.solve(self.alpha)
        self._readout = readout
        self._set_readout(coef, intercept)
        return self

    def _set_readout(self, coef, intercept):
        self._coef = coef
        self._intercept = intercept
        one = coef.shape[0] == 1 and self._single_output()
        self.coef_ = coef[0] if one else coef
        self.intercept_ = float(intercept[0]) if one else intercept

    def _raw(self, features):
        # On the kernels' packed product rather than through BLAS: BLAS's
        # threads, woken by a product here, spin for a while after it,
        # against the reservoir kernel's threads of the next call.
        out = np.empty((features.shape[0], self._coef.shape[0]))
        dense_forward(np.ascontiguousarray(features, dtype=np.float64),
                      np.ascontiguousarray(self._coef.T), self._intercept, out)
        return out

    def _check_lengths(self, sequences):
        pass

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


# -- one output per sequence ---------------------------------------------------

_ALPHA = {"alpha": [Interval(Real, 0, None, closed="left")]}
_POOLING = {"pooling": [StrOptions({"last", "mean", "max"})]}


class _SequenceESN(_BaseESN):
    _parameter_constraints: dict = {**_BaseESN._parameter_constraints, **_POOLING, **_ALPHA}

    def __init__(self, n_units=100, *, spectral_radius=0.9, leak_rate=1.0,
                 input_scaling=1.0, bias_scaling=0.0, connectivity=0.1,
                 input_connectivity=0.1, washout=0, pooling="last", alpha=1e-6,
                 random_state=None, n_threads=None):
        super().__init__(
            n_units, spectral_radius=spectral_radius, leak_rate=leak_rate,
            input_scaling=input_scaling, bias_scaling=bias_scaling,
            connectivity=connectivity, input_connectivity=input_connectivity,
            washout=washout, random_state=random_state, n_threads=n_threads,
        )
        self.pooling = pooling
        self.alpha = alpha

    def _check_lengths(self, sequences):
        _require_steps_after_washout(self, sequences)

    def _pooled(self, sequences):
        return self._run(sequences, store_from=self.washout, keep_states=False,
                         pooling=self.pooling)[1]

    def _training_rows(self, sequences, targets, sample_weight):
        return self._pooled(sequences), sample_weight, targets

    def _decision(self, X):
        check_is_fitted(self, "_readout")
        sequences = self._sequences(X, reset=False)
        self._check_lengths(sequences)
        return self._raw(self._pooled(sequences))


def _require_steps_after_washout(estimator, sequences):
    short = np.flatnonzero(sequences.lengths <= estimator.washout)
    if len(short):
        raise ValueError(
            f"washout={estimator.washout} leaves sequence {short[0]} (of "
            f"{sequences.lengths[short[0]]} steps) no step to read; every sequence "
            "needs more steps than the washout.")


_CLASSIFIER_NOTE = """
    The readout regresses the classes' one-hot codes (+1 for the class, -1
    for the others, one column for two classes), as ``RidgeClassifier``
    does, and ``predict`` takes the class of the largest score.
"""


def _encode_labels(estimator, y, first, classes):
    """Codes +-1 of labels ``y`` (one column for two classes); fits
    ``classes_`` on a first fit, else checks ``y`` against them."""
    check_classification_targets(y)
    if first:
        binarizer = LabelBinarizer(neg_label=-1).fit(y if classes is None else classes)
        if len(binarizer.classes_) < 2:
            raise ValueError(
                "The number of classes has to be greater than one; got "
                f"{len(binarizer.classes_)} class: {binarizer.classes_!r}.")
        estimator._binarizer = binarizer
        estimator.classes_ = binarizer.classes_
    else:
        unseen = np.setdiff1d(np.unique(y), estimator.classes_)
        if len(unseen):
            raise ValueError(f"y holds labels {unseen!r} that are not among the classes "
                             f"{estimator.classes_!r}.")
    return estimator._binarizer.transform(y).astype(np.float64)


def _labels_of(classes, scores):
    if scores.shape[1] == 1:
        return classes[(scores[:, 0] > 0).astype(int)]
    return classes[np.argmax(scores, axis=1)]


class ESNClassifier(ClassifierMixin, _SequenceESN):
    __doc__ = (
        """Echo State Network classifier: one class per sequence.

    A fixed random reservoir reads each sequence; a ridge readout, fitted
    in closed form, maps its pooled states to the classes.
    """ + INPUT_NOTE + _CLASSIFIER_NOTE + """
    Parameters
    ----------""" + RESERVOIR_PARAMETERS + POOLING_PARAMETER + READOUT_PARAMETERS + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
""" + READOUT_ATTRIBUTES + ESN_ATTRIBUTES + """
    See Also
    --------
    ESNStepClassifier : A class at every step.
    RNNClassifier : The same task, trained by backpropagation through time.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import ESNClassifier
    >>> rng = np.random.RandomState(0)
    >>> t = np.arange(40)
    >>> freq = rng.choice([0.1, 0.3], size=200)
    >>> X = np.sin(freq[:, None] * t + rng.uniform(0, 6, (200, 1)))[:, :, None]
    >>> y = (freq > 0.2).astype(int)
    >>> clf = ESNClassifier(50, bias_scaling=1.0, pooling="mean", random_state=0)
    >>> clf = clf.fit(X[:150], y[:150])
    >>> clf.score(X[150:], y[150:])
    1.0
    """)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Draw the reservoir and fit the readout.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences (see the class docstring for the accepted forms).
        y : array-like of shape (n_samples,)
            The class of each sequence.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence in the readout's squared error.

        Returns
        -------
        self : ESNClassifier
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Add sequences to the readout's normal equations and solve again.

        The reservoir is drawn on the first call. A stream fitted chunk by
        chunk gets the readout ``fit`` gives on all of it, to rounding.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.
        y : array-like of shape (n_samples,)
            The class of each sequence.
        classes : array-like of shape (n_classes,), default=None
            Every class the stream holds; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence.

        Returns
        -------
        self : ESNClassifier
        """
        check_partial_fit_classes(self, classes)
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _targets(self, y, sequences, first, classes):
        y = check_labels(y)
        check_n_batch_labels(sequences, y)
        return _encode_labels(self, y, first, classes)

    def _single_output(self):
        return True

    def decision_function(self, X):
        """The readout's score of each class for each sequence.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the score of ``classes_[1]``.
        """
        scores = self._decision(X)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        """The class of each sequence.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        scores = self._decision(X)
        return _labels_of(self.classes_, scores)


class ESNRegressor(RegressorMixin, _SequenceESN):
    __doc__ = (
        """Echo State Network regressor: one value (or vector) per sequence.

    A fixed random reservoir reads each sequence; a ridge readout, fitted
    in closed form, maps its pooled states to the targets.
    """ + INPUT_NOTE + """
    Parameters
    ----------""" + RESERVOIR_PARAMETERS + POOLING_PARAMETER + READOUT_PARAMETERS + """
    Attributes
    ----------""" + READOUT_ATTRIBUTES + ESN_ATTRIBUTES + """
    See Also
    --------
    ESNStepRegressor : A value at every step, and closed-loop generation.
    RNNRegressor : The same task, trained by backpropagation through time.

    Examples
    --------
    Predict the frequency of a noisy sine wave:

    >>> import numpy as np
    >>> from skrnn import ESNRegressor
    >>> rng = np.random.RandomState(0)
    >>> freq = rng.uniform(0.1, 0.5, size=300)
    >>> X = np.sin(freq[:, None] * np.arange(30))[:, :, None]
    >>> reg = ESNRegressor(100, pooling="mean", random_state=0).fit(X[:200], freq[:200])
    >>> reg.score(X[200:], freq[200:]) > 0.95
    True
    """)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Draw the reservoir and fit the readout.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences (see the class docstring for the accepted forms).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target of each sequence.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence in the readout's squared error.

        Returns
        -------
        self : ESNRegressor
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Add sequences to the readout's normal equations and solve again.

        The reservoir is drawn on the first call. A stream fitted chunk by
        chunk gets the readout ``fit`` gives on all of it, to rounding.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target of each sequence.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence.

        Returns
        -------
        self : ESNRegressor
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _targets(self, y, sequences, first, classes):
        y = check_float_targets(y)
        if y.ndim > 2:
            raise ValueError(f"y must be 1-D or 2-D; got shape {y.shape}.")
        check_n_batch_labels(sequences, y)
        if not first and (y.ndim == 1) != self._y_is_1d:
            raise ValueError("y has " + ("one value" if y.ndim == 1 else "a vector")
                             + " per sequence, unlike the y the model was fitted on.")
        self._y_is_1d = y.ndim == 1
        return y.reshape(len(y), -1).astype(np.float64)

    def _single_output(self):
        return self._y_is_1d

    def predict(self, X):
        """The target of each sequence.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        raw = self._decision(X)
        return raw[:, 0] if self._y_is_1d else raw

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# -- an output at every step ------------------------------------------------

class _StepESN(_BaseESN):
    """The per-step estimators: the readout reads the state of every step
    after the washout."""

    _parameter_constraints: dict = {**_BaseESN._parameter_constraints, **_ALPHA}

    def __init__(self, n_units=100, *, spectral_radius=0.9, leak_rate=1.0,
                 input_scaling=1.0, bias_scaling=0.0, connectivity=0.1,
                 input_connectivity=0.1, washout=0, alpha=1e-6, random_state=None,
                 n_threads=None):
        super().__init__(
            n_units, spectral_radius=spectral_radius, leak_rate=leak_rate,
            input_scaling=input_scaling, bias_scaling=bias_scaling,
            connectivity=connectivity, input_connectivity=input_connectivity,
            washout=washout, random_state=random_state, n_threads=n_threads,
        )
        self.alpha = alpha

    def _check_lengths(self, sequences):
        if int(sequences.lengths.max()) <= self.washout:
            raise ValueError(
                f"washout={self.washout} leaves no step to fit: the longest sequence "
                f"has {int(sequences.lengths.max())} steps.")

    def _training_rows(self, sequences, targets, sample_weight):
        states = self._run(sequences, store_from=self.washout)[0]
        kept = np.maximum(sequences.lengths - self.washout, 0)
        rows = np.concatenate([item[self.washout:] for item in targets])
        weights = None if sample_weight is None else np.repeat(sample_weight, kept)
        return states, weights, rows

    def _step_raw(self, X):
        """The readout at every step of every sequence, and their lengths."""
        check_is_fitted(self, "_readout")
        sequences = self._sequences(X, reset=False)
        return self._raw(self._run(sequences)[0]), sequences.lengths

    def _step_items(self, y, sequences):
        return _per_sequence_targets(y, sequences, type(self).__name__)

    def _score_steps(self, X, y, sample_weight, targets_of, metric):
        """``metric`` over every step, each weighted by its sequence's weight;
        ``targets_of(y, sequences)`` gives the checked targets per sequence."""
        predicted = self.predict(X)
        sequences = self._sequences(X, reset=False)
        items = targets_of(y, sequences)
        weights = None if sample_weight is None else np.repeat(
            check_sequence_weights(sample_weight, sequences), sequences.lengths)
        return float(metric(np.concatenate(items), np.concatenate(list(predicted)),
                            sample_weight=weights))


_STEP_NOTE = """
    ``y`` holds a target per step: a list of arrays aligned with a list of
    sequences, or an array ``(n_samples, n_timesteps[, n_outputs])`` for an
    array ``X``; ``predict`` answers in the form ``X`` came in. The first
    ``washout`` steps of each sequence are left out of the readout's fit.
"""


class ESNStepClassifier(ClassifierMixin, _StepESN):
    __doc__ = (
        """Echo State Network that labels every time step.
    """ + INPUT_NOTE + _STEP_NOTE + _CLASSIFIER_NOTE + """
    Parameters
    ----------""" + RESERVOIR_PARAMETERS + READOUT_PARAMETERS + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, over all steps.
""" + READOUT_ATTRIBUTES + ESN_ATTRIBUTES + """
    See Also
    --------
    ESNClassifier : One class per sequence.
    RNNStepClassifier : The same task, trained by backpropagation through time.

    Examples
    --------
    Label each step by whether the input two steps before was positive:

    >>> import numpy as np
    >>> from skrnn import ESNStepClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(100, 30, 1))
    >>> y = np.zeros((100, 30), int)
    >>> y[:, 2:] = X[:, :-2, 0] > 0
    >>> clf = ESNStepClassifier(200, washout=2, random_state=0).fit(X[:80], y[:80])
    >>> clf.predict(X[80:]).shape
    (20, 30)
    >>> clf.score(X[80:], y[80:]) > 0.9
    True
    """)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Draw the reservoir and fit the readout.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences (see the class docstring for the accepted forms).
        y : list of array-like of shape (n_timesteps_i,), or array-like of \
shape (n_samples, n_timesteps)
            The label of every step.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence, given to each of its steps.

        Returns
        -------
        self : ESNStepClassifier
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Add sequences to the readout's normal equations and solve again.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.
        y : list of array-like or array-like
            The label of every step, as in :meth:`fit`.
        classes : array-like of shape (n_classes,), default=None
            Every class the stream holds; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence.

        Returns
        -------
        self : ESNStepClassifier
        """
        check_partial_fit_classes(self, classes)
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _targets(self, y, sequences, first, classes):
        items = self._step_items(y, sequences)
        for i, item in enumerate(items):
            if item.ndim != 1:
                raise ValueError(f"y[{i}] has shape {item.shape}; {type(self).__name__} "
                                 "takes one label per step, shape (n_timesteps_i,).")
        codes = _encode_labels(self, np.concatenate(items), first, classes)
        return np.split(codes, np.cumsum(sequences.lengths)[:-1])

    def _single_output(self):
        return True

    def decision_function(self, X):
        """The readout's class scores at every step.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.

        Returns
        -------
        scores : list of ndarray, or ndarray
            Per step, the score of ``classes_[1]`` for two classes, else one
            column per class; a list for a list ``X``, an array for an array.
        """
        raw, lengths = self._step_raw(X)
        return _split_by_sequence(raw[:, 0] if raw.shape[1] == 1 else raw, lengths,
                                  _came_as_array(X))

    def predict(self, X):
        """The class of every step.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.

        Returns
        -------
        y : list of ndarray of shape (n_timesteps_i,), or ndarray of shape \
(n_samples, n_timesteps)
        """
        raw, lengths = self._step_raw(X)
        return _split_by_sequence(_labels_of(self.classes_, raw), lengths,
                                  _came_as_array(X))

    def score(self, X, y, sample_weight=None):
        """Accuracy over every step of every sequence.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.
        y : list of array-like or array-like
            The label of every step.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence, given to each of its steps.

        Returns
        -------
        score : float
        """
        return self._score_steps(X, y, sample_weight, self._step_items, accuracy_score)


class ESNStepRegressor(RegressorMixin, _StepESN):
    __doc__ = (
        """Echo State Network that predicts a value (or vector) at every step,
    and generates sequences in closed loop.
    """ + INPUT_NOTE + _STEP_NOTE + """
    :meth:`generate` runs the reservoir over each sequence, then feeds every
    prediction back as the next input: a one-step-ahead model (``y`` at
    step t is the input at step t + 1) becomes a generator of the series.

    Parameters
    ----------""" + RESERVOIR_PARAMETERS + READOUT_PARAMETERS + """
    Attributes
    ----------""" + READOUT_ATTRIBUTES + ESN_ATTRIBUTES + """
    See Also
    --------
    ESNRegressor : One target per sequence.
    RNNStepRegressor : The same task, trained by backpropagation through time.

    Examples
    --------
    Learn a sine wave one step ahead, then let the network continue it:

    >>> import numpy as np
    >>> from skrnn import ESNStepRegressor
    >>> series = np.sin(0.2 * np.arange(600))[:, None]
    >>> reg = ESNStepRegressor(100, spectral_radius=1.0, leak_rate=0.3,
    ...                        bias_scaling=0.2, washout=50, alpha=1e-8, random_state=0)
    >>> reg = reg.fit([series[:500]], [series[1:501, 0]])
    >>> future = reg.generate([series[:500]], n_steps=50)[0]
    >>> float(np.max(np.abs(future[:, 0] - series[500:550, 0]))) < 1e-3
    True
    """)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Draw the reservoir and fit the readout.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences (see the class docstring for the accepted forms).
        y : list of array-like of shape (n_timesteps_i,) or (n_timesteps_i, \
n_outputs), or array-like of shape (n_samples, n_timesteps[, n_outputs])
            The target of every step.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence, given to each of its steps.

        Returns
        -------
        self : ESNStepRegressor
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Add sequences to the readout's normal equations and solve again.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.
        y : list of array-like or array-like
            The target of every step, as in :meth:`fit`.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence.

        Returns
        -------
        self : ESNStepRegressor
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _values(self, y, sequences):
        return checked_step_values(y, sequences, type(self).__name__)

    def _targets(self, y, sequences, first, classes):
        items = self._values(y, sequences)
        y_is_1d = items[0].ndim == 1
        if not first and y_is_1d != self._y_is_1d:
            raise ValueError("y has " + ("one value" if y_is_1d else "a vector")
                             + " per step, unlike the y the model was fitted on.")
        self._y_is_1d = y_is_1d
        return [item.reshape(len(item), -1).astype(np.float64) for item in items]

    def _single_output(self):
        return self._y_is_1d

    def predict(self, X):
        """The target of every step.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.

        Returns
        -------
        y : list of ndarray, or ndarray
            For a list ``X``, one array per sequence, of shape
            ``(n_timesteps_i,)`` (or ``(n_timesteps_i, n_outputs)``); for an
            array ``X``, one array ``(n_samples, n_timesteps[, n_outputs])``.
        """
        raw, lengths = self._step_raw(X)
        return _split_by_sequence(raw[:, 0] if self._y_is_1d else raw, lengths,
                                  _came_as_array(X))

    def generate(self, X, n_steps):
        """Warm the reservoir up on each sequence of ``X``, then generate
        ``n_steps`` steps in closed loop, each prediction fed back as the
        next input.

        Needs as many outputs as input features per step.

        Parameters
        ----------
        X : array-like or list of array-like
            The warm-up sequences.
        n_steps : int
            Steps to generate after each sequence.

        Returns
        -------
        generated : ndarray of shape (n_samples, n_steps, n_outputs)
            Step k is the prediction after k fed-back inputs: step 0
            predicts the step after the warm-up sequence's last.
        """
        check_is_fitted(self, "_readout")
        if not isinstance(n_steps, Integral) or isinstance(n_steps, bool) or n_steps < 1:
            raise ValueError(f"n_steps must be a positive integer; got {n_steps!r}.")
        n_outputs = self._coef.shape[0]
        if n_outputs != self._n_step_features:
            raise ValueError(
                f"generate feeds each prediction back as the next input, so the model "
                f"needs as many outputs as input features per step; it has "
                f"{n_outputs} outputs and {self._n_step_features} features.")
        sequences = self._sequences(X, reset=False)
        final = self._run(sequences, keep_states=False)[2]
        return self._reservoir.generate(final, self._coef.T, self._intercept, n_steps,
                                        n_threads=self.n_threads).astype(
                                            np.float64, copy=False)

    def score(self, X, y, sample_weight=None):
        """R² over every step of every sequence.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.
        y : list of array-like or array-like
            The target of every step.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence, given to each of its steps.

        Returns
        -------
        score : float
        """
        return self._score_steps(X, y, sample_weight, self._values, r2_score)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# -- the reservoir's states for any readout ---------------------------------------

class Reservoir(TransformerMixin, _BaseESN):
    __doc__ = (
        """A fixed random reservoir as a transformer: each sequence's pooled
    states, as features for any scikit-learn model.

    ``make_pipeline(Reservoir(...), LogisticRegression())`` puts any
    readout in place of the ridge regression of ``ESNClassifier``.
    """ + INPUT_NOTE + """
    Parameters
    ----------""" + RESERVOIR_PARAMETERS + POOLING_PARAMETER + """
    random_state : int, RandomState instance or None, default=None
        Draws the reservoir's weights.

    n_threads : int or None, default=None
        Threads that run the reservoir; the results do not depend on it.

    Attributes
    ----------""" + ESN_ATTRIBUTES + """
    See Also
    --------
    ESNClassifier : The reservoir with a ridge readout.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skrnn import Reservoir
    >>> rng = np.random.RandomState(0)
    >>> freq = rng.choice([0.1, 0.3], size=200)
    >>> X = np.sin(freq[:, None] * np.arange(40))[:, :, None]
    >>> model = make_pipeline(Reservoir(50, pooling="mean", random_state=0),
    ...                       LogisticRegression())
    >>> model.fit(X, freq > 0.2).score(X, freq > 0.2)
    1.0
    """)

    _parameter_constraints: dict = {**_BaseESN._parameter_constraints, **_POOLING}

    def __init__(self, n_units=100, *, spectral_radius=0.9, leak_rate=1.0,
                 input_scaling=1.0, bias_scaling=0.0, connectivity=0.1,
                 input_connectivity=0.1, washout=0, pooling="last", random_state=None,
                 n_threads=None):
        super().__init__(
            n_units, spectral_radius=spectral_radius, leak_rate=leak_rate,
            input_scaling=input_scaling, bias_scaling=bias_scaling,
            connectivity=connectivity, input_connectivity=input_connectivity,
            washout=washout, random_state=random_state, n_threads=n_threads,
        )
        self.pooling = pooling

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Draw the reservoir for sequences like ``X``.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.
        y : None
            Ignored.

        Returns
        -------
        self : Reservoir
        """
        with _unchanged_on_error(self):
            sequences = self._sequences(X, reset=True)
            _require_steps_after_washout(self, sequences)
            self._draw_reservoir(sequences)
        return self

    def transform(self, X):
        """Each sequence's pooled reservoir states.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.

        Returns
        -------
        states : ndarray of shape (n_samples, n_units)
        """
        check_is_fitted(self, "_reservoir")
        sequences = self._sequences(X, reset=False)
        _require_steps_after_washout(self, sequences)
        return self._run(sequences, store_from=self.washout, keep_states=False,
                         pooling=self.pooling)[1]

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: ``reservoir0``, ``reservoir1``, ...

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        names : ndarray of str objects
        """
        check_is_fitted(self, "_reservoir")
        return np.asarray([f"reservoir{i}" for i in range(self.n_units)], dtype=object)

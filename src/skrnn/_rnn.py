"""RNNClassifier and RNNRegressor: a loss, an output link and predict."""

from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets

from ._base import BaseRNN
from ._docs import (
    INPUT_NOTE, NETWORK_PARAMETERS, POOLING_PARAMETER, SHARED_ATTRIBUTES,
    TRAINING_PARAMETERS, class_weight_parameter,
)
from ._kernels._dense import row_argmax
from ._losses import BinaryLogLoss, MultinomialLogLoss, SquaredLoss
from ._sequences import check_float_targets, check_labels


def one_hot_labels(estimator, y, incremental, classes):
    """The one-hot targets of labels ``y`` (one 0/1 column for two classes);
    fits the encoding (``classes_``) on a first fit, else checks ``y``
    against it. ``classes``: those given to ``partial_fit``."""
    first_encoding = not hasattr(estimator, "_label_binarizer") or (
        not incremental and not estimator.warm_start
    )
    if first_encoding or np.ndim(y) != 1:
        # Later, every label must be one of classes_, which the check
        # against them below ensures; scikit-learn's check of the target
        # type costs more than an epoch's loss with a label at every step.
        check_classification_targets(y)
    if first_encoding:
        estimator._label_binarizer = LabelBinarizer().fit(classes if incremental else y)
        estimator.classes_ = estimator._label_binarizer.classes_
        if len(estimator.classes_) < 2:
            raise ValueError(
                "The number of classes has to be greater than one; got "
                f"{len(estimator.classes_)} class: {estimator.classes_!r}."
            )
    class_index = _class_index(estimator.classes_, np.asarray(y).ravel())
    # The one-hot targets LabelBinarizer.transform gives (one 0/1 column
    # for two classes), built directly: its checks of y, already made
    # above, cost more than an Elman h32 epoch's loss once per call. 0 and 1
    # are exact in float32, which a float32 model then reads without a cast.
    if len(estimator.classes_) == 2:
        return (class_index == 1).astype(np.float32)[:, np.newaxis]
    return np.eye(len(estimator.classes_), dtype=np.float32).take(class_index, axis=0)


# Integer labels spanning at most this many values are encoded through a
# lookup table, in one pass over them; others are sorted (np.unique).
_MAX_TABLE_SPAN = 1 << 16


def _class_index(classes, labels):
    """The index in ``classes`` (sorted) of each of ``labels`` (1-D); a
    ValueError names the labels that are not among them."""
    if labels.dtype.kind == "i" and classes.dtype.kind == "i" and len(labels):
        low = min(int(labels.min()), int(classes[0]))
        span = max(int(labels.max()), int(classes[-1])) - low + 1
        if span <= _MAX_TABLE_SPAN:
            table = np.full(span, -1, np.intp)
            table[classes - low] = np.arange(len(classes))
            index = table[labels - low]
            if index.min() >= 0:
                return index
    try:
        found, inverse = np.unique(labels, return_inverse=True)
    except TypeError:
        # Labels that do not sort, such as numbers mixed with strings: the
        # target-type check says so.
        check_classification_targets(labels)
        raise
    unseen = np.setdiff1d(found, classes)
    if len(unseen):
        raise ValueError(
            f"Expected only labels in classes_ = {classes!r}, but got {unseen!r}"
        )
    return np.searchsorted(classes, found)[inverse]


def check_partial_fit_classes(estimator, classes):
    """``partial_fit``'s ``classes``: required first, the same later."""
    if not hasattr(estimator, "classes_"):
        if classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
    elif classes is not None and not np.array_equal(estimator.classes_, np.unique(classes)):
        raise ValueError(
            f"`classes={classes!r}` is not the same as on last call to "
            f"partial_fit, was: {estimator.classes_!r}"
        )


def class_indices(rows):
    """The class index of each row of one-hot targets (one 0/1 column for
    two classes)."""
    if rows.shape[1] == 1:
        return (rows[:, 0] > 0.5).astype(np.intp)
    return rows.argmax(axis=1)


def class_weighted(estimator, row_weights, rows, incremental):
    """``row_weights`` (None: 1 for every row) times the weight
    ``estimator.class_weight`` gives the class of each row of the one-hot
    targets ``rows``; None when neither weighs anything."""
    class_weight = estimator.class_weight
    if class_weight is None:
        return row_weights
    index = class_indices(rows)
    n_classes = len(estimator.classes_)
    if isinstance(class_weight, str):  # 'balanced' (_parameter_constraints)
        if incremental:
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: the "
                "class frequencies of one chunk are not those of the stream. "
                "Compute the weights from a large enough sample of the labels, "
                "weights = compute_class_weight('balanced', classes=classes, "
                "y=y_sample) (sklearn.utils.class_weight), and pass them as "
                "class_weight=dict(zip(classes, weights))."
            )
        per_class = balanced_class_weights(index, row_weights, n_classes)
    else:
        per_class = class_weight_vector(class_weight, estimator.classes_)
    weights = per_class[index]
    if row_weights is not None:
        weights *= row_weights
    if not weights.any():
        raise ValueError(
            f"class_weight={class_weight!r}"
            + (" gives" if row_weights is None else " and sample_weight give")
            + " every label of y weight 0, so there is nothing to learn. "
            "Give a class present in y a positive weight."
        )
    return weights


def balanced_class_weights(index, row_weights, n_classes):
    """scikit-learn's 'balanced' class weights, ``n_samples / (n_classes *
    np.bincount(y))``, of rows of class ``index``, with ``row_weights``
    (None: 1 each) counted as ``compute_class_weight`` counts
    ``sample_weight``; n_classes counts the classes present. A class whose
    rows all weigh 0 gets 0 rather than n / 0: its rows weigh 0 either
    way."""
    counts = np.bincount(index, weights=row_weights, minlength=n_classes).astype(np.float64)
    n_present = np.count_nonzero(np.bincount(index, minlength=n_classes))
    per_class = np.zeros(n_classes)
    np.divide(counts.sum(), n_present * counts, out=per_class, where=counts > 0)
    return per_class


def class_weight_vector(class_weight, classes):
    """The weight of each of ``classes`` in a ``{label: weight}`` dict;
    classes it leaves out weigh 1. A ValueError names a key that is not a
    class, or a weight that is not a non-negative finite number."""
    position = {label: i for i, label in enumerate(classes.tolist())}
    unknown = [key for key in class_weight if key not in position]
    if unknown:
        raise ValueError(
            f"class_weight has keys {unknown!r} that are not classes; the classes "
            f"are {classes.tolist()!r}."
        )
    per_class = np.ones(len(classes))
    for key, value in class_weight.items():
        if not (isinstance(value, Real) and np.isfinite(value) and value >= 0):
            raise ValueError(
                f"class_weight[{key!r}] is {value!r}; class weights must be "
                "non-negative finite numbers."
            )
        per_class[position[key]] = value
    return per_class


def labels_from_raw(classes, raw):
    """The class each row of raw outputs predicts."""
    if raw.shape[1] == 1:
        return classes[(raw[:, 0] > 0).astype(int)]
    index = np.empty(raw.shape[0], np.intp)
    row_argmax(np.ascontiguousarray(raw), index)
    return classes[index]


def accuracy_of_raw(raw, targets, weights=None):
    """Accuracy of raw outputs against one-hot (or one 0/1 column) targets,
    each row weighted by ``weights`` (or uniformly)."""
    if targets.shape[1] == 1:
        correct = (raw[:, 0] > 0) == (targets[:, 0] > 0.5)
    else:
        correct = raw.argmax(axis=1) == targets.argmax(axis=1)
    return float(np.average(correct, weights=weights))


class _SequenceRNN(BaseRNN):
    """What RNNClassifier and RNNRegressor share: one output per sequence,
    from the head ``pooling`` names."""

    _parameter_constraints = {
        **BaseRNN._parameter_constraints,
        "pooling": [StrOptions({"last", "mean", "max"})],
    }

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        activation="tanh",
        *,
        cell="rnn",
        bidirectional=False,
        learn_initial_state=False,
        pooling="last",
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
        self.pooling = pooling

    def _head(self):
        return self.pooling


class RNNClassifier(ClassifierMixin, _SequenceRNN):
    __doc__ = (
        """Recurrent network classifier (RNN, LSTM or GRU), trained by backpropagation through time.
    """
        + INPUT_NOTE
        + """
    Parameters
    ----------"""
        + NETWORK_PARAMETERS
        + POOLING_PARAMETER
        + class_weight_parameter("sequence")
        + TRAINING_PARAMETERS
        + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
"""
        + SHARED_ATTRIBUTES
        + """
    See Also
    --------
    RNNRegressor : The same network for regression.
    sklearn.neural_network.MLPClassifier : The feed-forward counterpart.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import RNNClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 10, 2))          # 200 sequences of 10 steps
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = RNNClassifier(hidden_layer_sizes=16, learning_rate_init=0.01,
    ...                     random_state=0).fit(X, y)
    >>> y[:3], clf.predict(X[:3])
    (array([1, 1, 0]), array([1, 1, 0]))
    >>> clf.score(X, y) > 0.9
    True
    """
    )

    _parameter_constraints = {
        **_SequenceRNN._parameter_constraints,
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
        pooling="last",
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
            pooling=pooling,
        )
        self.class_weight = class_weight

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to sequences ``X`` and class labels ``y``.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences (see the class docstring for the accepted forms).
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            The weight of each sequence in the loss (see the class
            docstring); by default 1 for every sequence.

        Returns
        -------
        self : RNNClassifier
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``(X, y)``, continuing from the current weights.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            All classes that will ever appear. Required on the first call;
            ignored (but checked) on later ones.
        sample_weight : array-like of shape (n_samples,), default=None
            The weight of each sequence in the loss (see the class
            docstring); by default 1 for every sequence.

        Returns
        -------
        self : RNNClassifier
        """
        check_partial_fit_classes(self, classes)
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _prepare_targets(self, y, sequences, incremental, classes=None):
        return one_hot_labels(self, check_labels(y), incremental, classes)

    def _weight_classes(self, row_weights, rows, incremental):
        return class_weighted(self, row_weights, rows, incremental)

    @property
    def _loss(self):
        return BinaryLogLoss if len(self.classes_) == 2 else MultinomialLogLoss

    def _validation_split(self, n_samples, targets, rng):
        return train_test_split(
            np.arange(n_samples),
            random_state=rng,
            test_size=self.validation_fraction,
            stratify=class_indices(targets),
        )

    def _score_raw(self, raw, targets, weights=None):
        return accuracy_of_raw(raw, targets, weights)

    def predict(self, X):
        """Predict the class of each sequence.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predicted labels.
        """
        raw = self._raw_output(X)  # checks that the model is fitted
        return labels_from_raw(self.classes_, raw)

    def predict_proba(self, X):
        """Class probabilities of each sequence.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        raw = self._raw_output(X)  # checks that the model is fitted
        return self._loss.link(raw)

    def predict_log_proba(self, X):
        """Logarithm of ``predict_proba``.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.classifier_tags.multi_label = False
        return tags


class RNNRegressor(RegressorMixin, _SequenceRNN):
    __doc__ = (
        """Recurrent network regressor (RNN, LSTM or GRU), trained by backpropagation through time.
    """
        + INPUT_NOTE
        + """
    The loss is half the squared error; ``y`` may have several outputs.

    Parameters
    ----------"""
        + NETWORK_PARAMETERS
        + POOLING_PARAMETER
        + TRAINING_PARAMETERS
        + """
    Attributes
    ----------"""
        + SHARED_ATTRIBUTES
        + """
    See Also
    --------
    RNNClassifier : The same network for classification.
    sklearn.neural_network.MLPRegressor : The feed-forward counterpart.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import RNNRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(300, 8, 1))   # 300 sequences of 8 steps
    >>> y = X[:, :, 0].mean(axis=1)                 # learn the running mean
    >>> reg = RNNRegressor(hidden_layer_sizes=16, max_iter=200, learning_rate_init=0.01,
    ...                    random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.95
    True
    """
    )


    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to sequences ``X`` and targets ``y``.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences (see the class docstring for the accepted forms).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            The weight of each sequence in the loss (see the class
            docstring); by default 1 for every sequence.

        Returns
        -------
        self : RNNRegressor
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``, continuing from the current weights.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            The weight of each sequence in the loss (see the class
            docstring); by default 1 for every sequence.

        Returns
        -------
        self : RNNRegressor
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _prepare_targets(self, y, sequences, incremental, classes=None):
        y = check_float_targets(y)
        if y.ndim == 1:
            self._y_is_1d = True
            return y.reshape(-1, 1)
        if y.ndim != 2:
            raise ValueError(f"y must be 1-D or 2-D; got {y.ndim} dimensions.")
        self._y_is_1d = False
        return y

    @property
    def _loss(self):
        return SquaredLoss

    def _validation_split(self, n_samples, targets, rng):
        return train_test_split(
            np.arange(n_samples), random_state=rng, test_size=self.validation_fraction
        )

    def _score_raw(self, raw, targets, weights=None):
        return float(r2_score(targets, raw, sample_weight=weights))

    def predict(self, X):
        """Predict the targets of each sequence.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            1-D when the model was fitted on a 1-D ``y``.
        """
        raw = self._raw_output(X)
        return raw[:, 0] if self._y_is_1d else raw

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.multi_output = True
        return tags

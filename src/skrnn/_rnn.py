"""RNNClassifier and RNNRegressor: a loss, an output link and predict."""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_array, column_or_1d
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from ._base import BaseRNN
from ._losses import BinaryLogLoss, MultinomialLogLoss, SquaredLoss

_SHARED_PARAMETERS = """
    hidden_layer_sizes : int or tuple of int, default=(64,)
        Hidden size of each recurrent layer, first to last: ``(64, 32)``
        stacks two layers, the second reading the first's hidden state at
        every step (as ``MLPClassifier`` names its layers).

    activation : {'tanh', 'relu'}, default='tanh'
        Nonlinearity of the 'rnn' cell, ``h_t = act(x_t W_ih + h_{t-1} W_hh
        + b)``. The 'lstm' and 'gru' cells use their fixed sigmoid and tanh
        gates and accept only 'tanh' here.

    cell : {'rnn', 'lstm', 'gru'}, default='rnn'
        The recurrent unit, with PyTorch's equations and gate order: an
        Elman RNN (``torch.nn.RNN``), a long short-term memory
        (``torch.nn.LSTM``; gates i, f, g, o) or a gated recurrent unit
        (``torch.nn.GRU``; gates r, z, n). The gated cells learn dependencies
        over many more steps than the Elman cell, whose gradient vanishes.

    bidirectional : bool, default=False
        Run each layer over every sequence forwards and backwards (from the
        sequence's own last step), and join the two directions: each layer
        above reads both at every step, and the output layer reads the
        forward pass's last state next to the backward pass's state after
        step 0.

    learn_initial_state : bool, default=False
        Learn the initial hidden state (and the LSTM's initial cell state) of
        every layer and direction, shared by all sequences. By default the
        recurrence starts from zero.

    solver : {'adam', 'sgd'}, default='adam'
        Optimizer of the weights: 'sgd' with momentum, or Adam.

    alpha : float, default=0.0001
        Strength of the L2 penalty on the weight matrices (not the biases),
        scaled by the batch size as in ``MLPClassifier``.

    batch_size : int or 'auto', default='auto'
        Sequences per mini-batch; 'auto' is ``min(200, n_samples)``. The
        gradient is averaged over a mini-batch, then one update is made.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning-rate schedule of the 'sgd' solver, as in ``MLPClassifier``.

    learning_rate_init : float, default=0.001
        Initial step size.

    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.

    max_iter : int, default=200
        Maximum number of epochs (passes over the training data).

    shuffle : bool, default=True
        Whether to shuffle the sequences before each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, shuffling and the early-stopping
        split. A fixed seed gives bitwise the same model whatever
        ``n_threads`` is.

    tol : float, default=1e-4
        Minimum improvement of the loss (or validation score) that counts as
        progress for stopping.

    verbose : bool, default=False
        Print the loss after each epoch.

    warm_start : bool, default=False
        Start ``fit`` from the previous solution instead of a new one.

    momentum : float, default=0.9
        Momentum of the 'sgd' solver.

    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum with 'sgd'.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop when the
        validation score stops improving; the best weights are kept.

    validation_fraction : float, default=0.1
        Fraction of the training data held out for early stopping.

    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of Adam's moment estimates.

    epsilon : float, default=1e-8
        Adam's numerical stabiliser.

    n_iter_no_change : int, default=10
        Epochs without ``tol`` improvement before stopping.

    clip_threshold : float or None, default=1.0
        Gradient clipping (Pascanu et al. 2013, Algorithm 1): when the L2
        norm of the whole gradient of a mini-batch exceeds this value, the
        gradient is rescaled to this norm. ``None`` disables clipping.

    n_threads : int or None, default=None
        Threads of the kernels. ``None`` uses what ``OMP_NUM_THREADS``
        or a threadpoolctl limit allows, else all physical cores; -1 all of
        those, -2 all but one, and so on. A batch runs on at most one thread
        per chunk of its sequences (32 in training, 64 in prediction). The
        result does not depend on it.
"""

_SHARED_ATTRIBUTES = """
    loss_ : float
        Mean training loss of the last epoch (with the L2 penalty).

    best_loss_ : float or None
        Lowest ``loss_`` seen; None with ``early_stopping``.

    loss_curve_ : list of float
        ``loss_`` after each epoch.

    validation_scores_ : list of float or None
        Validation score after each epoch, with ``early_stopping``.

    best_validation_score_ : float or None
        Best of ``validation_scores_``.

    n_iter_ : int
        Epochs run.

    t_ : int
        Training sequences seen by the optimizer.

    n_clipped_steps_ : int
        Updates whose gradient was rescaled by ``clip_threshold``.

    n_outputs_ : int
        Units of the output layer.

    n_features_in_ : int
        Features seen during fit: per time step for 3-D or list input; the
        number of columns (time steps) for 2-D input.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when fitted on a 2-D DataFrame.

    weights_ : dict of str to ndarray
        The fitted weights, keyed and shaped as in PyTorch's state dicts
        (``weight_ih_l0``, ..., ``output.weight``); see ``set_weights``.
"""

_INPUT_NOTE = """
    The input ``X`` may be a 3-D array ``(n_samples, n_timesteps,
    n_features)``, a list of 2-D arrays ``(n_timesteps_i, n_features)`` of
    different lengths, or a 2-D array ``(n_samples, n_timesteps)`` read as
    univariate sequences. The network reads each sequence in full and its
    output layer reads the last hidden state (many-to-one). float32 input
    trains a float32 model.
"""


class RNNClassifier(ClassifierMixin, BaseRNN):
    __doc__ = (
        """Recurrent network classifier (RNN, LSTM or GRU), trained by backpropagation through time.
    """
        + _INPUT_NOTE
        + """
    Parameters
    ----------"""
        + _SHARED_PARAMETERS
        + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
"""
        + _SHARED_ATTRIBUTES
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

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        activation="tanh",
        *,
        cell="rnn",
        bidirectional=False,
        learn_initial_state=False,
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
            n_threads=n_threads,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the network to sequences ``X`` and class labels ``y``.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences (see the class docstring for the accepted forms).
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : RNNClassifier
        """
        return self._fit(X, y, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
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

        Returns
        -------
        self : RNNClassifier
        """
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
        elif classes is not None and not np.array_equal(
            self.classes_, np.unique(classes)
        ):
            raise ValueError(
                f"`classes={classes!r}` is not the same as on last call to "
                f"partial_fit, was: {self.classes_!r}"
            )
        return self._fit(X, y, incremental=True, classes=classes)

    def _prepare_targets(self, y, sequences, incremental, classes=None):
        y = column_or_1d(check_array(y, ensure_2d=False, dtype=None, input_name="y"),
                         warn=True)
        check_classification_targets(y)
        first_encoding = not hasattr(self, "_label_binarizer") or (
            not incremental and not self.warm_start
        )
        if first_encoding:
            self._label_binarizer = LabelBinarizer().fit(classes if incremental else y)
            self.classes_ = self._label_binarizer.classes_
            if len(self.classes_) < 2:
                raise ValueError(
                    "The number of classes has to be greater than one; got "
                    f"{len(self.classes_)} class: {self.classes_!r}."
                )
        labels, index = np.unique(y, return_inverse=True)
        unseen = np.setdiff1d(labels, self.classes_)
        if len(unseen):
            raise ValueError(
                f"Expected only labels in classes_ = {self.classes_!r}, but "
                f"got {unseen!r}"
            )
        # The one-hot targets LabelBinarizer.transform gives (one 0/1 column
        # for two classes), built directly: its checks of y, already made
        # above, cost more than an Elman h32 epoch's loss once per call.
        class_index = np.searchsorted(self.classes_, labels)[index.ravel()]
        if len(self.classes_) == 2:
            return (class_index == 1).astype(np.float64)[:, np.newaxis]
        targets = np.zeros((len(y), len(self.classes_)))
        targets[np.arange(len(y)), class_index] = 1
        return targets

    @property
    def _loss(self):
        return BinaryLogLoss if len(self.classes_) == 2 else MultinomialLogLoss

    def _validation_split(self, n_samples, targets, rng):
        labels = targets.argmax(axis=1) if targets.shape[1] > 1 else targets[:, 0]
        return train_test_split(
            np.arange(n_samples),
            random_state=rng,
            test_size=self.validation_fraction,
            stratify=labels,
        )

    def _score_raw(self, raw, targets):
        if targets.shape[1] == 1:
            return float(np.mean((raw[:, 0] > 0) == (targets[:, 0] > 0.5)))
        return float(np.mean(raw.argmax(axis=1) == targets.argmax(axis=1)))

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
        raw = self._raw_output(X)
        if raw.shape[1] == 1:
            indices = (raw[:, 0] > 0).astype(int)
        else:
            indices = raw.argmax(axis=1)
        return self.classes_[indices]

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


class RNNRegressor(RegressorMixin, BaseRNN):
    __doc__ = (
        """Recurrent network regressor (RNN, LSTM or GRU), trained by backpropagation through time.
    """
        + _INPUT_NOTE
        + """
    The loss is half the squared error; ``y`` may have several outputs.

    Parameters
    ----------"""
        + _SHARED_PARAMETERS
        + """
    Attributes
    ----------"""
        + _SHARED_ATTRIBUTES
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

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        activation="tanh",
        *,
        cell="rnn",
        bidirectional=False,
        learn_initial_state=False,
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
            n_threads=n_threads,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the network to sequences ``X`` and targets ``y``.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences (see the class docstring for the accepted forms).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

        Returns
        -------
        self : RNNRegressor
        """
        return self._fit(X, y, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y):
        """One epoch over ``(X, y)``, continuing from the current weights.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

        Returns
        -------
        self : RNNRegressor
        """
        return self._fit(X, y, incremental=True)

    def _prepare_targets(self, y, sequences, incremental, classes=None):
        y = check_array(
            y, ensure_2d=False, dtype=(np.float64, np.float32),
            ensure_all_finite=True, input_name="y",
        )
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

    def _score_raw(self, raw, targets):
        return float(r2_score(targets, raw))

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

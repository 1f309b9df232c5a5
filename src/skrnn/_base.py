"""BaseRNN: what RNNClassifier and RNNRegressor share.

Parameter constraints, input validation, and the training loop: mini-batch
BPTT, gradient clipping, the optimizer step, early stopping, warm start and
partial_fit, the loss curve and the divergence check. It follows the shape of
``sklearn.neural_network.BaseMultilayerPerceptron``.
"""

import time
import warnings
from abc import ABCMeta, abstractmethod
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from ._cells import CELLS
from ._network import RecurrentNetwork
from ._optimizers import (
    AdamOptimizer, SGDOptimizer, clip_by_global_norm, optimizer_from_state,
)
from ._params import NetworkSpec
from ._sequences import check_finite, check_n_batch_labels, validate_sequences
from ._threads import effective_n_threads, single_threaded_blas
from ._truncation import truncated_loss_and_gradient
from ._weights import from_torch_names, to_torch_names
from .exceptions import GradientClippingWarning, TrainingDivergedError


# A mini-batch loss this many times the first mini-batch's warns that the
# fit is diverging, long before the loss overflows.
_EXPLODING_LOSS_FACTOR = 100

# A fit (or partial_fit call) whose gradient was clipped on at least this
# fraction of its updates, and at least this many, warns: clipping has taken
# over the step length. The first few updates of a fit are often clipped
# before the loss falls, hence the minimum; a fraction rather than a
# per-epoch count, so that fits of one mini-batch per epoch (small data,
# one long series) are judged too.
_ALWAYS_CLIPPED_FRACTION = 0.9
_ALWAYS_CLIPPED_MIN_UPDATES = 10


def check_sequence_weights(sample_weight, sequences):
    """``sample_weight`` as float64, one per sequence, non-negative and
    finite, not all zero (scikit-learn's check and messages)."""
    sample_weight = _check_sample_weight(sample_weight, np.empty(len(sequences)),
                                         dtype=np.float64, ensure_non_negative=True)
    if not sample_weight.any():  # (as recent scikit-learn versions check)
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return sample_weight


@contextmanager
def _unchanged_on_error(estimator):
    """Put back every attribute of ``estimator`` if the body raises.

    Validation sets fitted attributes (``n_features_in_``, ``classes_``, ...)
    as it goes; a later check that fails must not leave some of them new
    beside the old weights.
    """
    saved = dict(vars(estimator))
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(saved)
        raise


class BaseRNN(BaseEstimator, metaclass=ABCMeta):
    """Base class for recurrent network estimators; do not use directly."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions({"tanh", "relu"})],
        "cell": [StrOptions(set(CELLS))],
        "bidirectional": ["boolean"],
        "learn_initial_state": ["boolean"],
        "solver": [StrOptions({"adam", "sgd"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "clip_threshold": [Interval(Real, 0, None, closed="neither"), None],
        "bptt_truncate": [Interval(Integral, 1, None, closed="left"), None],
        "n_threads": [Interval(Integral, None, -1, closed="right"),
                      Interval(Integral, 1, None, closed="left"), None],
    }

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
        bptt_truncate=None,
        n_threads=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.cell = cell
        self.bidirectional = bidirectional
        self.learn_initial_state = learn_initial_state
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.clip_threshold = clip_threshold
        self.bptt_truncate = bptt_truncate
        self.n_threads = n_threads

    # -- hooks for the subclasses ------------------------------------------

    @abstractmethod
    def _prepare_targets(self, y, sequences, incremental, classes=None):
        """Validate ``y``, fit or check the label encoding; return 2-D targets.

        ``classes``: those given to ``partial_fit``."""

    @abstractmethod
    def _validation_split(self, n_samples, targets, rng):
        """Indices of the training and validation parts for early stopping."""

    @abstractmethod
    def _score_raw(self, raw, targets, weights=None):
        """Validation score (higher is better) of raw outputs against
        targets, each row weighted by ``weights`` (or uniformly)."""

    @abstractmethod
    def _head(self):
        """What the output layer reads (a name of ``skrnn._heads.HEADS``)."""

    # Per-sequence estimators; the per-step ones (``skrnn._step``) override
    # these three, their targets being one row per step.

    def _cast_targets(self, targets, dtype):
        return _cast_in_range(targets, dtype, "y")

    @staticmethod
    def _target_rows(targets):
        """The targets of a batch as the rows the network outputs."""
        return targets

    @staticmethod
    def _n_loss_terms(sequences):
        """What the loss of a batch is averaged over: its sequences."""
        return len(sequences)

    @staticmethod
    def _row_weights(sample_weight, sequences):
        """Per-sequence weights given to the rows the network outputs: here
        one row per sequence, so the weights themselves."""
        return sample_weight

    @staticmethod
    def _output_weights(row_weights, sequences, dtype):
        """The weight of each output row, stored as the targets are: here
        one per sequence."""
        return row_weights.astype(dtype)

    def _weight_classes(self, row_weights, rows, incremental):
        """``row_weights`` times the class weight of each row of one-hot
        targets ``rows``; the classifiers' ``class_weight``. Here, with no
        classes, ``row_weights`` as they are."""
        return row_weights

    # -- input validation ----------------------------------------------------

    def _validate_sequences(self, X, reset, ensure_all_finite=True):
        """``X`` as Sequences; sets or checks ``n_features_in_`` (see
        ``skrnn._sequences.validate_sequences``)."""
        return validate_sequences(self, X, reset, ensure_all_finite)

    def _hidden_sizes(self):
        """``hidden_layer_sizes`` as a tuple of positive ints, checked."""
        sizes = self.hidden_layer_sizes
        if type(sizes) is int and sizes >= 1:
            return (sizes,)  # the common case, checked at every partial_fit
        sizes = np.atleast_1d(sizes)
        if sizes.ndim != 1 or len(sizes) == 0:
            raise ValueError(
                "hidden_layer_sizes must be an int or a sequence of ints; got "
                f"{self.hidden_layer_sizes!r}."
            )
        if not np.issubdtype(sizes.dtype, np.integer) or np.any(sizes < 1):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers; got {self.hidden_layer_sizes!r}."
            )
        return tuple(int(size) for size in sizes)

    def _network_spec(self, n_outputs):
        if self.activation not in CELLS[self.cell].activations:
            raise ValueError(
                f"activation={self.activation!r} applies only to cell='rnn'; the "
                f"{self.cell!r} cell has fixed sigmoid and tanh gates. Leave "
                "activation='tanh'."
            )
        return NetworkSpec(
            self._n_step_features, n_outputs, self.cell, self._hidden_sizes(),
            self.bidirectional, self.learn_initial_state, self.activation,
        )

    # -- training --------------------------------------------------------------

    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None):
        """Validate, then train. A validation error leaves the estimator as
        it was; a diverging fit keeps the weights of its last finite update
        (see ``_train_step``)."""
        with _unchanged_on_error(self):
            sequences, targets, weights, n_threads = self._prepare_fit(
                X, y, sample_weight, incremental, classes)
            validation = None
            if self.early_stopping:
                # A split that cannot be made (a class of one sequence,
                # validation_fraction=0) fails here, before any change.
                train_idx, val_idx = self._validation_split(
                    len(sequences), targets, self._random_state)
                validation = (sequences.take(val_idx), targets[val_idx],
                              None if weights is None else weights[val_idx])
                sequences, targets = sequences.take(train_idx), targets[train_idx]
                weights = None if weights is None else weights[train_idx]
        # The kernels call no BLAS, but the few products made in NumPy
        # between their passes (the output layer of a truncated fit) do:
        # held to one thread, BLAS starts no threads to spin against the
        # kernels' own.
        with single_threaded_blas(), self._network.workspace() as workspace:
            self._fit_stochastic(sequences, targets, weights, validation, incremental,
                                 n_threads, workspace)
        return self

    def _check_sample_weight(self, sample_weight, sequences):
        return check_sequence_weights(sample_weight, sequences)

    def _prepare_fit(self, X, y, sample_weight, incremental, classes):
        """Check every argument of a fit and set up what it trains."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        if incremental and self.early_stopping:
            raise ValueError(
                "partial_fit does not support early_stopping=True: it runs one "
                "pass over the data it is given, with no held-out part to stop "
                "on. Set early_stopping=False, or use fit."
            )
        if self.bptt_truncate is not None and self.bidirectional:
            raise ValueError(
                "bptt_truncate needs bidirectional=False: the backward direction "
                "reads each sequence from its last step, so its state cannot pass "
                "from one window to the next in time order. Set bptt_truncate=None "
                "or bidirectional=False."
            )
        n_threads = effective_n_threads(self.n_threads)
        first_call = not hasattr(self, "_params") or (
            not incremental and not self.warm_start
        )
        sequences = self._validate_sequences(X, reset=first_call)
        targets = self._prepare_targets(y, sequences, incremental, classes)
        check_n_batch_labels(sequences, targets)
        row_weights = self._fit_weights(sample_weight, sequences, targets, incremental)
        # Train in the input's precision: float32 data gives a float32 model.
        dtype = sequences.dtype
        if not first_call and dtype != self._params.dtype:
            sequences.data = _cast_in_range(sequences.data, self._params.dtype, "X")
            dtype = self._params.dtype
        targets = self._cast_targets(targets, dtype)

        if first_call:
            self._initialize(targets.shape[1], dtype)
        elif targets.shape[1] != self._network.n_outputs:
            raise ValueError(
                f"y has {targets.shape[1]} outputs, but the network was fitted "
                f"with {self._network.n_outputs}."
            )
        else:
            self._check_same_architecture()
            if self._optimizer is None:
                self._optimizer = self._make_optimizer()
        weights = (None if row_weights is None
                   else self._output_weights(row_weights, sequences, dtype))
        return sequences, targets, weights, n_threads

    def _fit_weights(self, sample_weight, sequences, targets, incremental):
        """The weight of each output row in the loss, float64, in the order
        of ``_target_rows(targets)``: its sequence's ``sample_weight`` times
        its class weight. None when neither is given (every row weighs 1)."""
        if sample_weight is not None:
            sample_weight = self._row_weights(
                self._check_sample_weight(sample_weight, sequences), sequences)
        return self._weight_classes(sample_weight, self._target_rows(targets), incremental)

    def _check_same_architecture(self):
        """warm_start and partial_fit continue the fitted network: refuse
        architecture parameters changed since, rather than ignore them."""
        fitted = self._network.spec
        current = self._network_spec(fitted.n_outputs)
        spec_names = {"cell": "cell", "hidden_layer_sizes": "hidden_sizes",
                      "bidirectional": "bidirectional",
                      "learn_initial_state": "learn_initial_state",
                      "activation": "activation"}
        changed = [
            param for param, name in spec_names.items()
            if getattr(current, name) != getattr(fitted, name)
        ]
        if self._head() != self._network.head.name:
            changed.append("pooling")
        if changed:
            raise ValueError(
                f"{', '.join(changed)} changed since the network was fitted; "
                "warm_start and partial_fit continue the fitted network. Fit "
                "from scratch (warm_start=False) to change the architecture."
            )

    def _initialize(self, n_outputs, dtype):
        self._random_state = check_random_state(self.random_state)
        self._network = RecurrentNetwork(self._network_spec(n_outputs), dtype, self._head())
        self._params = self._network.init_params(self._random_state)
        self.n_outputs_ = n_outputs
        self.n_iter_ = 0
        self.t_ = 0
        self.n_clipped_steps_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self._first_batch_loss = None
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf
        self._optimizer = self._make_optimizer()

    def _make_optimizer(self):
        if self.solver == "sgd":
            return SGDOptimizer(
                self._params, self.learning_rate_init, self.learning_rate,
                self.momentum, self.nesterovs_momentum, self.power_t,
            )
        return AdamOptimizer(
            self._params, self.learning_rate_init, self.beta_1,
            self.beta_2, self.epsilon,
        )

    def _fit_stochastic(self, sequences, targets, weights, validation, incremental,
                        n_threads, workspace):
        """The epochs of a fit; ``weights`` those of the outputs (or None
        for all 1), ``validation`` the held-out part (sequences, targets,
        weights) with early stopping, else None; ``workspace`` holds the
        work arrays of every batch's passes, reused from batch to batch."""
        rng = self._random_state
        early_stopping = validation is not None
        if early_stopping:
            val_sequences, val_targets, val_weights = validation
        n_samples = len(sequences)
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. "
                    "It is going to be clipped"
                )
            batch_size = int(min(max(self.batch_size, 1), n_samples))

        self._warned_exploding = False
        n_updates, clipped_before = 0, self.n_clipped_steps_
        start_time = time.perf_counter()
        for _ in range(self.max_iter):
            indices = rng.permutation(n_samples) if self.shuffle else np.arange(n_samples)
            total_loss = total_terms = 0.0
            for batch in gen_batches(n_samples, batch_size):
                batch_idx = indices[batch]
                batch_sequences = sequences.take(batch_idx)
                batch_weights = None if weights is None else weights[batch_idx]
                loss, n_terms = self._train_step(batch_sequences, targets[batch_idx],
                                                 batch_weights, n_threads, workspace)
                total_loss += loss * n_terms
                total_terms += n_terms
                n_updates += n_terms > 0  # (a batch of zero weights makes none)

            self.n_iter_ += 1
            self.loss_ = total_loss / total_terms
            self.t_ += n_samples
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print(
                    f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}, "
                    f"time = {time.perf_counter() - start_time:.2f}s"
                )

            if early_stopping:
                self._update_validation_score(val_sequences, val_targets, val_weights,
                                              n_threads)
            else:
                self._update_best_loss()
            self._optimizer.iteration_ends(self.t_)
            if self._no_improvement_count > self.n_iter_no_change:
                if early_stopping:
                    msg = (
                        "Validation score did not improve more than "
                        f"tol={self.tol:f} for {self.n_iter_no_change} "
                        "consecutive epochs."
                    )
                else:
                    msg = (
                        "Training loss did not improve more than "
                        f"tol={self.tol:f} for {self.n_iter_no_change} "
                        "consecutive epochs."
                    )
                if self._optimizer.trigger_stopping(msg, self.verbose):
                    break
                self._no_improvement_count = 0
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                    "reached and the optimization hasn't converged yet.",
                    ConvergenceWarning,
                )
        self._warn_if_always_clipped(self.n_clipped_steps_ - clipped_before, n_updates)
        if early_stopping:
            self._params[...] = self._best_params

    def _warn_if_always_clipped(self, n_clipped, n_updates):
        """Warn when clipping rescaled nearly all of a call's updates."""
        if (n_updates >= _ALWAYS_CLIPPED_MIN_UPDATES
                and n_clipped >= _ALWAYS_CLIPPED_FRACTION * n_updates):
            warnings.warn(
                f"Gradient clipping rescaled {n_clipped} of the {n_updates} updates "
                f"of this fit (clip_threshold={self.clip_threshold}): the gradient "
                "was above the threshold nearly all the time. The usual cause is "
                "data on a scale far from 1, above all a regressor's targets, which "
                "the outputs take many updates to reach: scale them (X with "
                "skrnn.preprocessing.SequenceScaler, y with "
                "sklearn.compose.TransformedTargetRegressor). Else lower "
                "learning_rate_init, or raise clip_threshold.",
                GradientClippingWarning,
            )

    def _n_weighted_terms(self, batch, batch_weights):
        """What the loss of a batch is averaged over: its sequences or
        steps, or the sum of their weights."""
        if batch_weights is None:
            return self._n_loss_terms(batch)
        return float(self._target_rows(batch_weights).sum())

    def _loss_and_gradient(self, params, batch, batch_targets, n_threads, workspace=None,
                           batch_weights=None):
        """The training objective on a batch and its gradient by BPTT
        (truncated every ``bptt_truncate`` steps, see ``skrnn._truncation``).

        The objective is the mean loss plus ``0.5 * alpha * ||W||^2 / n``
        over the weight matrices, as ``MLPClassifier`` scales it, n being
        what the loss is averaged over (the batch's sequences, or steps).
        With ``batch_weights`` (each output's weight, stored as the targets
        are), the mean is weighted and n is the sum of the weights, as
        ``MLPClassifier`` does with ``sample_weight``.
        """
        window = self.bptt_truncate
        row_weights = (None if batch_weights is None
                       else self._target_rows(batch_weights).reshape(-1))
        n_terms = self._n_weighted_terms(batch, batch_weights)
        if window is not None and int(batch.lengths.max()) > window:
            loss, grad = truncated_loss_and_gradient(
                self._network, params, batch, batch_targets, self._target_rows, self._loss,
                window, n_threads, workspace, batch_weights)
        else:
            # The output layer and the loss run in one kernel. The targets
            # are read where they are stored: a row per output, or per step
            # (StepTargets) with a row per step.
            per_step = self._network.head.per_step
            loss, cache = self._network.forward_loss(
                params, batch,
                batch_targets.data if per_step else self._target_rows(batch_targets),
                self._loss, n_terms, n_threads, workspace, row_weights=row_weights,
                target_rows=batch_targets.row_index() if per_step else None)
            grad = self._network.backward(params, cache, None, n_threads, workspace=workspace)
        if self.alpha > 0:
            weights = params[: self._network.layout.n_weights]
            scale = self.alpha / n_terms
            loss += 0.5 * scale * float(np.dot(weights, weights))
            grad[: len(weights)] += scale * weights
        return loss, grad

    def _train_step(self, batch, batch_targets, batch_weights, n_threads, workspace):
        """One update: objective, gradient, clipping, divergence check, step.
        Returns the batch's loss and what it averages over.

        A batch whose weights are all zero counts for nothing and makes no
        update. Raises TrainingDivergedError, with the weights left as they
        were before this update, when the loss or gradient is not finite or
        the update would make a parameter (or the optimizer's state)
        overflow.
        """
        n_terms = self._n_weighted_terms(batch, batch_weights)
        if n_terms == 0:
            return 0.0, 0.0
        loss, grad = self._loss_and_gradient(
            self._params, batch, batch_targets, n_threads, workspace, batch_weights
        )
        norm, clipped = clip_by_global_norm(grad, self.clip_threshold)
        if not (np.isfinite(loss) and np.isfinite(norm)):
            self._diverged("the " + ("loss" if not np.isfinite(loss) else "gradient")
                           + " is not finite")
        self._warn_if_exploding(loss)
        if not self._optimizer.step(grad, accept=self._network.outputs_stay_finite):
            self._diverged("the update would make the weights or the outputs overflow")
        self.n_clipped_steps_ += int(clipped)
        return loss, n_terms

    def _diverged(self, reason):
        # The optimizer's moments are meaningless after a diverging step: a
        # later partial_fit or warm start makes a new optimizer, with the
        # hyperparameters of then, from the weights kept.
        self._optimizer = None
        raise TrainingDivergedError(
            f"Training diverged at epoch {self.n_iter_ + 1}: {reason}. The "
            "weights are left at their last finite values. Try a smaller "
            "learning_rate_init, a clip_threshold, or scaling the input "
            "(e.g. StandardScaler)."
        )

    def _warn_if_exploding(self, loss):
        """Warn, once per call, when a mini-batch's loss has grown far past
        the first one's: the fit is diverging, whether or not it overflows."""
        if self._first_batch_loss is None:
            self._first_batch_loss = loss
        elif (not self._warned_exploding
              and loss > _EXPLODING_LOSS_FACTOR * self._first_batch_loss > 0):
            self._warned_exploding = True
            warnings.warn(
                f"The training loss is exploding: {loss:.3g} on a mini-batch, "
                f"against {self._first_batch_loss:.3g} on the first one. Try a "
                "smaller learning_rate_init, a clip_threshold, or scaling the "
                "input (e.g. StandardScaler).",
                ConvergenceWarning,
            )

    def _update_validation_score(self, val_sequences, val_targets, val_weights, n_threads):
        """Score the held-out part (weighted as the loss is); keep the best
        parameters seen."""
        raw, _ = self._network.predict_raw(self._params, val_sequences, n_threads)
        row_weights = (None if val_weights is None
                       else self._target_rows(val_weights).reshape(-1))
        score = self._score_raw(raw, self._target_rows(val_targets), row_weights)
        self.validation_scores_.append(score)
        if self.verbose:
            print(f"Validation score: {score:f}")
        if score < self.best_validation_score_ + self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if score > self.best_validation_score_:
            self.best_validation_score_ = score
            self._best_params = self._params.copy()

    def _update_best_loss(self):
        if self.loss_curve_[-1] > self.best_loss_ - self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if self.loss_curve_[-1] < self.best_loss_:
            self.best_loss_ = self.loss_curve_[-1]

    # -- prediction ----------------------------------------------------------

    def __sklearn_is_fitted__(self):
        # scikit-learn's default looks through every attribute for a name
        # ending in "_", and ``partial_fit`` asks at every call.
        return hasattr(self, "_params")

    def _raw_output(self, X):
        """Network output before the link function, for fitted models."""
        return self._raw_output_and_lengths(X)[0]

    def _raw_output_and_lengths(self, X):
        """``_raw_output``, and the length of each sequence of ``X``."""
        if not hasattr(self, "_params"):
            # scikit-learn's check, for its error; called on every prediction,
            # it would cost 0.05 ms (it builds the estimator's tags).
            check_is_fitted(self, "_params")
        # The kernels check that X is finite as they read it: a pass over X
        # less (see ``check_sequences``).
        sequences = self._validate_sequences(X, reset=False, ensure_all_finite=False)
        user_data = sequences.data
        if sequences.dtype != self._params.dtype:
            # An overflow is reported below, with what caused it.
            with np.errstate(over="ignore"):
                sequences.data = sequences.data.astype(self._params.dtype)
        n_threads = effective_n_threads(self.n_threads)
        # No BLAS thread limit: a prediction pass calls no BLAS (the kernels
        # and the output layer multiply on packed weights), so no BLAS thread
        # pool wakes to compete with the kernels' threads, and the limit would
        # cost a tenth of a millisecond per call.
        raw, inputs_finite = self._network.predict_raw(self._params, sequences, n_threads)
        if not inputs_finite:
            # scikit-learn's own check, for its error message (and its
            # ``assume_finite`` setting), on X as given; a finite X made
            # infinite by the cast to a float32 model's dtype is named so.
            check_finite(user_data, "X", type(self).__name__, sequences.starts)
            _cast_in_range(user_data, self._params.dtype, "X")
        return raw, sequences.lengths

    # -- persistence -----------------------------------------------------------

    def __getstate__(self):
        # The network and the optimizer are stored as plain values (dicts,
        # arrays, numbers and strings) and rebuilt on loading, so that
        # ``skops.io`` loads a model trusting only its estimator type.
        state = dict(super().__getstate__())  # (it may be __dict__ itself)
        if state.get("_network") is not None:
            state["_network"] = state["_network"].get_state()
        if state.get("_optimizer") is not None:
            state["_optimizer"] = state["_optimizer"].get_state()
        return state

    def __setstate__(self, state):
        state = dict(state)
        if isinstance(state.get("_network"), dict):
            state["_network"] = RecurrentNetwork.from_state(state["_network"])
        optimizer = state.get("_optimizer")
        if isinstance(optimizer, (SGDOptimizer, AdamOptimizer)):
            # Pickled by skrnn 0.1.0, as the object itself.
            solver = "sgd" if isinstance(optimizer, SGDOptimizer) else "adam"
            optimizer = dict(vars(optimizer), solver=solver)
        if isinstance(optimizer, dict):
            # It updates the model's own parameter array, as it did when saved.
            state["_optimizer"] = optimizer_from_state(state["_params"], optimizer)
        if "_params" in state:
            state.setdefault("_first_batch_loss", None)
        super().__setstate__(state)

    # -- fitted weights ------------------------------------------------------

    @property
    def weights_(self):
        """dict of str to ndarray: the fitted weights, with PyTorch's names.

        The keys and shapes are those of the state dicts of ``torch.nn.RNN``,
        ``torch.nn.LSTM`` or ``torch.nn.GRU`` (as ``cell``) and of the
        ``torch.nn.Linear`` output layer, so a model moves to PyTorch with
        ``load_state_dict`` and back with :meth:`set_weights`. For layer
        ``k`` (``_reverse`` appended for the backward direction), with G
        gates (rnn 1; lstm 4: i, f, g, o; gru 3: r, z, n):

        - ``weight_ih_l{k}`` (G*hidden, n_inputs) and ``weight_hh_l{k}``
          (G*hidden, hidden);
        - ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (G*hidden,). skrnn keeps
          their sum, so ``bias_hh`` reads as zeros except the GRU's n gate,
          whose recurrent bias is multiplied by the reset gate;
        - ``initial_h_l{k}`` (hidden,), and ``initial_c_l{k}`` for the LSTM,
          with ``learn_initial_state=True``: PyTorch takes these as the
          ``h_0`` (and ``c_0``) arguments of ``forward``, stacked in the
          order ``l0, l0_reverse, l1, ...`` and repeated over the batch;
        - ``output.weight`` (n_outputs, D*hidden_last) and ``output.bias``
          (n_outputs,), applied to what the output layer reads from the
          last layer (its final states, their mean or maximum over the
          steps with ``pooling``, or its state at every step for the
          per-step estimators), the forward direction's next to the
          backward one's (D = 2 if bidirectional, else 1).

        The arrays are copies: changing them changes nothing in the model.
        """
        check_is_fitted(self, "_params")
        return to_torch_names(self._network.spec, self._network.layout.views(self._params))

    def set_weights(self, weights):
        """Replace the fitted weights, given with PyTorch's names.

        Parameters
        ----------
        weights : dict of str to array-like
            Every key of :attr:`weights_`, with the same shapes; for example
            a PyTorch state dict (``nn.LSTM`` plus ``nn.Linear`` with its
            keys prefixed by ``output.``). ``bias_ih`` and ``bias_hh`` are
            added where the equations only use their sum.

        Returns
        -------
        self : object
            The estimator, predicting with the new weights. The optimizer's
            state (momentum, Adam's moments) is reset, so that ``partial_fit``
            or a ``warm_start`` fit continues from these weights afresh.

        Raises
        ------
        ValueError
            If a key is missing or unknown, a shape is wrong or a value is not
            finite. The model is then left unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> from skrnn import RNNRegressor
        >>> X = np.random.RandomState(0).normal(size=(20, 5, 3))
        >>> reg = RNNRegressor(4, cell="gru", max_iter=2).fit(X, X[:, -1, 0])
        >>> weights = reg.weights_
        >>> weights["weight_hh_l0"].shape          # gates r, z, n stacked
        (12, 4)
        >>> weights["output.weight"] *= 2
        >>> before = reg.predict(X[:2])
        >>> np.allclose(reg.set_weights(weights).predict(X[:2]), before)
        False
        """
        check_is_fitted(self, "_params")
        network = self._network
        params = self._params.copy()
        from_torch_names(network.spec, weights, network.layout.views(params))
        self._params[...] = params
        self._optimizer = self._make_optimizer()
        return self


def _cast_in_range(array, dtype, name):
    """``array`` as ``dtype``; a ValueError if a finite value overflows it
    (float64 data beyond float32's range, for a float32 model)."""
    if array.dtype == dtype:
        return array
    with np.errstate(over="ignore"):
        cast = array.astype(dtype)
    if not np.isfinite(cast).all() and np.isfinite(array).all():
        raise ValueError(
            f"{name} has values beyond the range of {np.dtype(dtype).name}, the "
            f"dtype of this model (largest {np.finfo(dtype).max:.3g}); "
            f"{name}'s largest magnitude is {np.max(np.abs(array)):.3g}. Scale "
            f"{name}, or fit the model on {array.dtype.name} data."
        )
    return cast

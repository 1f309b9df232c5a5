"""Stochastic optimizers and gradient clipping over the flat parameter vector.

The update rules are those of ``sklearn.neural_network`` (SGD with momentum
or Nesterov momentum and a learning-rate schedule; Adam), applied in place to
one contiguous array: SGD's step as a handful of vectorised operations,
Adam's in one compiled pass over the values (``_kernels/_update.h``), which
gives the bits of the same operations made array by array.

A step is computed into buffers of the optimizer's own and committed only
when the new state is finite and the caller accepts the new parameters: a
step that would overflow changes nothing and reports it, so the caller keeps
the last finite weights.
"""

import numpy as np

from ._kernels._update import adam_update


def _all_finite(array):
    return bool(np.isfinite(array).all())


def clip_by_global_norm(grad, threshold):
    """Rescale ``grad`` in place when its L2 norm exceeds ``threshold``.

    This is Algorithm 1 of Pascanu, Mikolov and Bengio (2013), "On the
    difficulty of training recurrent neural networks": the whole gradient is
    scaled by ``threshold / norm``, so its direction is kept.

    Parameters
    ----------
    grad : ndarray
        The gradient, modified in place.
    threshold : float or None
        ``None`` disables clipping.

    Returns
    -------
    norm : float
        The norm before clipping (non-finite if the gradient is).
    clipped : bool
        Whether the gradient was rescaled.
    """
    norm = float(np.sqrt(np.dot(grad, grad)))
    if threshold is not None and norm > threshold:
        grad *= threshold / norm
        return norm, True
    return norm, False


class SGDOptimizer:
    """Stochastic gradient descent with momentum.

    Parameters
    ----------
    params : ndarray
        Flat parameter vector, updated in place.
    learning_rate_init : float
    learning_rate : {'constant', 'invscaling', 'adaptive'}
        Schedule, with the meanings of ``MLPClassifier``.
    momentum : float
    nesterov : bool
    power_t : float
        Exponent of the 'invscaling' schedule.
    """

    def __init__(self, params, learning_rate_init=0.1, learning_rate="constant",
                 momentum=0.9, nesterov=True, power_t=0.5):
        self.params = params
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.lr_schedule = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t
        self.velocity = np.zeros_like(params)
        self._next_velocity = np.empty_like(params)
        self._next_params = np.empty_like(params)

    def get_state(self):
        """The optimizer as plain values (see ``optimizer_from_state``)."""
        return {"solver": "sgd", "learning_rate_init": self.learning_rate_init,
                "learning_rate": self.learning_rate, "lr_schedule": self.lr_schedule,
                "momentum": self.momentum, "nesterov": self.nesterov,
                "power_t": self.power_t, "velocity": self.velocity}

    def step(self, grad, accept=_all_finite):
        """Update the parameters in place, unless the new state would not be
        finite or ``accept(new_params)`` is False: then change nothing and
        return False."""
        # v <- momentum * v - lr * g ; w <- w + v  (Nesterov: w <- w + momentum * v - lr * g)
        velocity = self._next_velocity
        np.multiply(self.velocity, self.momentum, out=velocity)
        velocity -= self.learning_rate * grad
        if self.nesterov:
            update = self.momentum * velocity - self.learning_rate * grad
        else:
            update = velocity
        np.add(self.params, update, out=self._next_params)
        if not (_all_finite(velocity) and accept(self._next_params)):
            return False
        self.params[...] = self._next_params
        self.velocity, self._next_velocity = velocity, self.velocity
        return True

    def iteration_ends(self, time_step):
        """Update the learning rate after an epoch; ``time_step`` counts samples."""
        if self.lr_schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg, verbose):
        """Whether to stop training; 'adaptive' divides the rate by 5 instead."""
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + f" Setting learning rate to {self.learning_rate:f}")
        return False


class AdamOptimizer:
    """Adam (Kingma and Ba, 2014), with bias correction folded into the rate.

    Parameters
    ----------
    params : ndarray
        Flat parameter vector, updated in place.
    learning_rate_init, beta_1, beta_2, epsilon : float
    """

    def __init__(self, params, learning_rate_init=0.001, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8):
        self.params = params
        self.learning_rate_init = learning_rate_init
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.t = 0
        self.first_moment = np.zeros_like(params)
        self.second_moment = np.zeros_like(params)
        self._next_first_moment = np.empty_like(params)
        self._next_second_moment = np.empty_like(params)
        self._work = np.empty_like(params)

    def get_state(self):
        """The optimizer as plain values (see ``optimizer_from_state``)."""
        return {"solver": "adam", "learning_rate_init": self.learning_rate_init,
                "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "t": self.t, "first_moment": self.first_moment,
                "second_moment": self.second_moment}

    def step(self, grad, accept=_all_finite):
        """Update the parameters in place, unless the new state would not be
        finite or ``accept(new_params)`` is False: then change nothing and
        return False."""
        t = self.t + 1
        m, v, work = self._next_first_moment, self._next_second_moment, self._work
        lr = (
            self.learning_rate_init
            * np.sqrt(1 - self.beta_2**t)
            / (1 - self.beta_1**t)
        )
        # m <- beta_1 m + (1 - beta_1) grad, v <- beta_2 v + (1 - beta_2) grad^2,
        # w <- w - lr * m / (sqrt(v) + eps), in one pass (_kernels/_update.h).
        moments_finite = adam_update(self.params, grad, self.first_moment,
                                     self.second_moment, self.beta_1, self.beta_2,
                                     self.epsilon, float(lr), m, v, work)
        if not (moments_finite and accept(work)):
            return False
        self.params[...] = work
        self.t = t
        self.first_moment, self._next_first_moment = m, self.first_moment
        self.second_moment, self._next_second_moment = v, self.second_moment
        return True

    def iteration_ends(self, time_step):
        pass

    def trigger_stopping(self, msg, verbose):
        if verbose:
            print(msg + " Stopping.")
        return True


def optimizer_from_state(params, state):
    """The optimizer ``get_state`` described, updating ``params``."""
    if state["solver"] == "sgd":
        optimizer = SGDOptimizer(params, state["learning_rate_init"], state["lr_schedule"],
                                 state["momentum"], state["nesterov"], state["power_t"])
        optimizer.learning_rate = state["learning_rate"]
        optimizer.velocity[...] = state["velocity"]
    else:
        optimizer = AdamOptimizer(params, state["learning_rate_init"], state["beta_1"],
                                  state["beta_2"], state["epsilon"])
        optimizer.t = state["t"]
        optimizer.first_moment[...] = state["first_moment"]
        optimizer.second_moment[...] = state["second_moment"]
    return optimizer

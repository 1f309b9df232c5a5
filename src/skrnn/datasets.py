"""Datasets for the examples and benchmarks: time series generated on the
fly, so that an example or a benchmark needs nothing downloaded.

``mackey_glass`` integrates the Mackey-Glass delay differential equation,
the chaotic series Echo State Networks are classically benchmarked on
(Jaeger and Haas, 2004), in the same discretisation as
``reservoirpy.datasets.mackey_glass``, so that figures taken on it can be
set beside reservoirpy's.
"""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["mackey_glass"]


def _check_real(name, value, *, positive=False, minimum=None):
    """``value`` as a finite float, or a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number; got {value!r}.")
    value = float(value)
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive; got {value!r}.")
    if minimum is not None and value <= minimum:
        raise ValueError(f"{name} must be greater than {minimum}; got {value!r}.")
    return value


def _check_count(name, value, *, least):
    """``value`` as an int of at least ``least``, or a ValueError."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < least:
        kind = "a positive" if least == 1 else "a non-negative"
        raise ValueError(f"{name} must be {kind} integer; got {value!r}.")
    return int(value)


def mackey_glass(n_timesteps, *, tau=17, a=0.2, b=0.1, n=10, x0=1.2, h=1.0,
                 washout=0, random_state=None):
    """The Mackey-Glass chaotic time series.

    Integrates the delay differential equation of Mackey and Glass (1977),

    .. math::

        \\frac{dx}{dt} = \\frac{a\\, x(t - \\tau)}{1 + x(t - \\tau)^n} - b\\, x(t),

    in steps of ``h`` from ``x(0) = x0``, and returns one value per step.
    With the defaults (``tau=17``) the series is mildly chaotic: the
    classic one-step-ahead and closed-loop benchmark of Echo State Networks.

    Parameters
    ----------
    n_timesteps : int
        Values to return, one every ``h`` time units.

    tau : float, default=17
        The delay, in time units. It must be a whole number of steps ``h``;
        from about 17 up the series is chaotic (at the other defaults).

    a : float, default=0.2
        Gain of the delayed feedback term.

    b : float, default=0.1
        Decay rate.

    n : float, default=10
        Exponent of the delayed term's saturation.

    x0 : float, default=1.2
        The value at time 0. It must exceed 0.1, so that the random history
        (below) stays positive.

    h : float, default=1.0
        The integration step, and the time between two returned values.

    washout : int, default=0
        Integration steps to run and discard before the first returned
        value, to skip the transient from the arbitrary history.

    random_state : int, RandomState instance or None, default=None
        Draws the history: the values at the ``tau / h`` steps before time
        0 are ``x0 + 0.2 * (u - 0.5)``, ``u`` uniform in [0, 1) drawn by
        ``random_state.uniform(size=tau / h)``. Pass an int for the same
        series at every call.

    Returns
    -------
    series : ndarray of shape (n_timesteps,), float64
        ``x`` at times ``(washout + i) * h``, ``i = 0 ... n_timesteps - 1``;
        with ``washout=0`` the first value is ``x0``.

    Notes
    -----
    Each step holds the delayed value ``x(t - tau)`` at its value at the
    start of the step (a known value of the series, ``tau / h`` steps back)
    and advances ``x`` by reservoirpy's four-stage update
    (``reservoirpy.datasets.mackey_glass``, version 0.4): given the same
    history and ``x0``, at ``h=1`` the two series are the same to the last
    bit (the same operations in the same order). That update is not the
    classical fourth-order Runge-Kutta step. With ``k1 = h f(x)`` and
    ``c = b h``, its increment is ``k1 (1 - 5c/6 + c^2/2 - c^3/6)`` where the
    classical step's is ``k1 (1 - c/2 + c^2/6 - c^3/24)``: it is a
    first-order method, whose steps fall some 3% short of the classical
    ones at the defaults (``c = 0.1``), and its series parts from the
    classical step's after a few hundred steps, as any two integrations of
    a chaotic system do. ESN figures published on reservoirpy's series are
    figures on this discretisation. Unlike reservoirpy, this function
    multiplies the delayed term by ``h`` too, so that at ``h != 1`` it still
    integrates the equation above (reservoirpy's series then solves it with
    ``a / h`` in place of ``a``).

    References
    ----------
    M. C. Mackey and L. Glass, "Oscillation and chaos in physiological
    control systems", Science 197 (4300), 287-289, 1977.

    H. Jaeger and H. Haas, "Harnessing nonlinearity: predicting chaotic
    systems and saving energy in wireless communication", Science 304
    (5667), 78-80, 2004.

    Examples
    --------
    >>> from skrnn.datasets import mackey_glass
    >>> series = mackey_glass(2000, random_state=0)
    >>> series.shape, series.dtype
    ((2000,), dtype('float64'))
    >>> float(series[0])
    1.2
    >>> bool(0.2 < series.min() < series.max() < 1.5)
    True

    A one-step-ahead task: the input at step t, the target at step t + 1.

    >>> X, y = series[:-1, None], series[1:]
    >>> X.shape, y.shape
    ((1999, 1), (1999,))
    """
    n_timesteps = _check_count("n_timesteps", n_timesteps, least=1)
    washout = _check_count("washout", washout, least=0)
    h = _check_real("h", h, positive=True)
    tau = _check_real("tau", tau, positive=True)
    a = _check_real("a", a, positive=True)
    b = _check_real("b", b, positive=True)
    n = _check_real("n", n, positive=True)
    x0 = _check_real("x0", x0, minimum=0.1)
    delay_steps = round(tau / h)
    if delay_steps < 1 or not math.isclose(delay_steps * h, tau, rel_tol=1e-9):
        raise ValueError(
            f"tau must be a whole number (at least 1) of steps h; got tau={tau!r} "
            f"and h={h!r}, tau / h = {tau / h!r}.")
    rng = check_random_state(random_state)

    # The values at the delay_steps steps before time 0, then x(0), x(h), ...
    # as Python floats: a scalar loop over a list runs several times faster
    # than one over NumPy scalars (about 10 ms for 10,000 steps).
    history = (x0 + 0.2 * (rng.uniform(size=delay_steps) - 0.5)).tolist()
    total = washout + n_timesteps
    values = history + [0.0] * total
    decay = -b * h
    unstable = ValueError(
        f"The integration is unstable at h={h!r} and b={b!r} (the series left the "
        "positive reals); take a smaller step h.")
    x = x0
    try:
        for i in range(delay_steps, delay_steps + total):
            values[i] = x
            # values[i - delay_steps] is x(t - tau), held over the step.
            delayed = values[i - delay_steps]
            forcing = a * delayed / (1.0 + delayed ** n) * h
            # reservoirpy's four stages (see Notes), in its order of
            # operations, so that the two series agree to the last bit rather
            # than drift apart through the chaos; at h=1 the factor h above
            # is exact.
            s1 = decay * x + forcing
            s2 = 2.0 * s1 + decay * s1
            s3 = 2.0 * s1 + decay * s2
            s4 = s1 + decay * s3
            x = x + (s1 + s2 + s3 + s4) / 6.0
            # The equation keeps a positive history positive; a step that
            # does not (or a NaN) would make the next powers complex.
            if not 0.0 < x < math.inf:
                raise unstable
    except OverflowError:
        raise unstable from None
    return np.array(values[delay_steps + washout:], dtype=np.float64)

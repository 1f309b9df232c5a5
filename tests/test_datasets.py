"""skrnn.datasets: the Mackey-Glass series."""

import doctest

import numpy as np
import pytest
from sklearn.utils import check_random_state

import skrnn.datasets
from skrnn.datasets import mackey_glass


def _history(random_state, x0=1.2, delay_steps=17):
    """The history mackey_glass documents drawing before time 0."""
    return x0 + 0.2 * (check_random_state(random_state).uniform(size=delay_steps) - 0.5)


def test_docstring_examples_run():
    result = doctest.testmod(skrnn.datasets, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0


@pytest.mark.parametrize("n_timesteps", [1, 17, 2000])
def test_shape_dtype_and_first_value(n_timesteps):
    series = mackey_glass(n_timesteps, random_state=0)
    assert series.shape == (n_timesteps,)
    assert series.dtype == np.float64
    assert series[0] == 1.2
    assert np.isfinite(series).all()


def test_default_series_stays_on_the_attractor():
    series = mackey_glass(3000, random_state=0)
    assert 0.3 < series.min() < 0.5 and 1.2 < series.max() < 1.4
    # Chaotic, not periodic: no lag up to 500 repeats the series.
    tail = series[1000:]
    for lag in range(1, 500):
        assert np.abs(tail[lag:] - tail[:-lag]).max() > 1e-3


def test_same_random_state_same_series():
    np.testing.assert_array_equal(mackey_glass(500, random_state=3),
                                  mackey_glass(500, random_state=3))
    rng_a, rng_b = np.random.RandomState(7), np.random.RandomState(7)
    np.testing.assert_array_equal(mackey_glass(500, random_state=rng_a),
                                  mackey_glass(500, random_state=rng_b))
    assert not np.array_equal(mackey_glass(500, random_state=3),
                              mackey_glass(500, random_state=4))


def test_washout_drops_the_first_steps():
    full = mackey_glass(700, random_state=0)
    np.testing.assert_array_equal(mackey_glass(400, washout=300, random_state=0), full[300:])


def test_shorter_series_is_a_prefix_of_a_longer_one():
    np.testing.assert_array_equal(mackey_glass(100, random_state=0),
                                  mackey_glass(1000, random_state=0)[:100])


def test_constant_history_of_the_fixed_point_stays_there():
    # x* solves a / (1 + x^n) = b: with a = 2b, n = 1, x* = 1. A history of
    # exactly x* would stay at x* for any integrator; the random history
    # within 0.1 of it must decay back to it (tau small: no oscillation).
    series = mackey_glass(3000, tau=1, a=0.2, b=0.1, n=1, x0=1.0, random_state=0)
    assert abs(series[-1] - 1.0) < 1e-6


def test_smaller_steps_sample_the_same_equation():
    # h scales the delayed term as well as the decay: halving h gives a
    # series of the same amplitude (reservoirpy's would double a).
    coarse = mackey_glass(2000, random_state=0)
    fine = mackey_glass(4000, h=0.5, random_state=0)
    assert abs(fine.max() - coarse.max()) < 0.1
    assert abs(fine.min() - coarse.min()) < 0.1


def test_agrees_with_reservoirpy():
    datasets = pytest.importorskip(
        "reservoirpy.datasets", reason="the comparison needs reservoirpy")
    for random_state, kwargs in [(0, {}), (1, dict(tau=30)),
                                 (2, dict(a=0.25, b=0.12, n=9.65, x0=0.9))]:
        ours = mackey_glass(5000, random_state=random_state, **kwargs)
        history = _history(random_state, x0=kwargs.get("x0", 1.2),
                           delay_steps=kwargs.get("tau", 17))
        theirs = datasets.mackey_glass(5000, history=history, **kwargs)
        assert theirs.shape == (5000, 1)
        # The same arithmetic in the same order: the chaos would amplify any
        # rounding difference by some 1e6 over 2,000 steps, so the series
        # agree only if every step is the same to the last bit.
        np.testing.assert_allclose(ours, theirs[:, 0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_timesteps=0), "n_timesteps must be a positive integer"),
    (dict(n_timesteps=10.0), "n_timesteps must be a positive integer"),
    (dict(n_timesteps=True), "n_timesteps must be a positive integer"),
    (dict(washout=-1), "washout must be a non-negative integer"),
    (dict(washout=1.5), "washout must be a non-negative integer"),
    (dict(tau=0), "tau must be positive"),
    (dict(tau=-17), "tau must be positive"),
    (dict(tau=17.5), "tau must be a whole number"),
    (dict(tau=1, h=2.0), "tau must be a whole number"),
    (dict(h=0.0), "h must be positive"),
    (dict(h=float("nan")), "h must be a finite real number"),
    (dict(a=0), "a must be positive"),
    (dict(b=-0.1), "b must be positive"),
    (dict(n=0), "n must be positive"),
    (dict(n="10"), "n must be a finite real number"),
    (dict(x0=0.05), "x0 must be greater than 0.1"),
    (dict(x0=float("inf")), "x0 must be a finite real number"),
    (dict(b=5.0, h=1.0), "unstable"),
])
def test_bad_arguments_raise(kwargs, match):
    kwargs = {"n_timesteps": 100, **kwargs}
    n_timesteps = kwargs.pop("n_timesteps")
    with pytest.raises(ValueError, match=match):
        mackey_glass(n_timesteps, random_state=0, **kwargs)


def test_bad_random_state_raises():
    with pytest.raises(ValueError):
        mackey_glass(10, random_state="seed")

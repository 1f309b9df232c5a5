"""Adam's fused update (``src/skrnn/_kernels/_update.h``) against the same
update made array by array in NumPy: bitwise the same, in both dtypes.
tests/test_isa_paths.py runs this module on every instruction-set path."""

import numpy as np
import pytest

from skrnn._kernels._update import adam_update
from skrnn._optimizers import AdamOptimizer


def numpy_adam(params, grad, m, v, beta_1, beta_2, epsilon, lr):
    """The update as NumPy operations on whole arrays, in the kernel's order."""
    m = m * beta_1 + grad * (1 - beta_1)
    v = v * beta_2 + (grad * grad) * (1 - beta_2)
    step = m / (np.sqrt(v) + epsilon)
    step *= lr  # a NumPy float64: NumPy multiplies in double precision
    return m, v, params - step


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 16, 1000, 21386])
def test_adam_update_is_numpys_bit_for_bit(dtype, n):
    rng = np.random.RandomState(n)
    params = rng.normal(size=n).astype(dtype)
    # Gradients and moments over many magnitudes, zeros among them.
    grad = (rng.normal(size=n) * 10.0 ** rng.randint(-8, 4, n)).astype(dtype)
    grad[::5] = 0
    m = (rng.normal(size=n) * 1e-3).astype(dtype)
    v = (rng.uniform(size=n) * 1e-4).astype(dtype)
    lr = 1e-3 * np.sqrt(1 - 0.999 ** 3) / (1 - 0.9 ** 3)
    expected = numpy_adam(params, grad, m, v, 0.9, 0.999, 1e-8, lr)
    m_out, v_out, out = (np.full(n, np.nan, dtype) for _ in range(3))
    assert adam_update(params, grad, m, v, 0.9, 0.999, 1e-8, float(lr), m_out, v_out, out)
    for got, want in zip((m_out, v_out, out), expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_update_reports_moments_that_are_not_finite(dtype):
    params = np.zeros(40, dtype)
    m, v = np.zeros(40, dtype), np.zeros(40, dtype)
    outs = [np.empty(40, dtype) for _ in range(3)]
    for bad in (np.inf, -np.inf, np.nan):
        grad = np.ones(40, dtype)
        grad[33] = bad
        assert not adam_update(params, grad, m, v, 0.9, 0.999, 1e-8, 1e-3, *outs)
    huge = np.full(40, np.finfo(dtype).max, dtype)  # its square overflows
    assert not adam_update(params, huge, m, v, 0.9, 0.999, 1e-8, 1e-3, *outs)


def test_adam_update_checks_lengths():
    a = np.zeros(5)
    with pytest.raises(ValueError, match="v_out has 4 values; params has 5"):
        adam_update(a, a, a, a, 0.9, 0.999, 1e-8, 1e-3, np.zeros(5), np.zeros(4), np.zeros(5))


def test_adam_step_keeps_the_state_when_the_update_is_refused():
    params = np.ones(6)
    optimizer = AdamOptimizer(params)
    assert optimizer.step(np.full(6, 0.5))
    state = (params.copy(), optimizer.first_moment.copy(), optimizer.second_moment.copy())
    assert not optimizer.step(np.full(6, np.nan))
    assert not optimizer.step(np.full(6, 0.5), accept=lambda new: False)
    for kept, before in zip((params, optimizer.first_moment, optimizer.second_moment), state):
        np.testing.assert_array_equal(kept, before)
    assert optimizer.t == 1

"""The kernels' products that are not per-step (``skrnn_gemm_T`` of
``src/skrnn/_kernels/_gemm.h``): the weight gradients over a chunk's rows,
A^T B with k in blocks of 256, and D W_ih^T. They must equal NumPy's
products to rounding for every shape the blocking cuts differently: k
below, at and past a block, a partial last block; m and n off the panel
width (16 floats, 8 doubles) and the micro-kernels' heights (8, 4, 2, 1
rows). Packing moves data only, and the sums of a gradient's rows (its
bias, and the chunks' buffers) add in row order: both are checked bitwise.
tests/test_isa_paths.py runs this module on every instruction-set path."""

import numpy as np
import pytest

from skrnn._kernels._dense import product
from skrnn._kernels._layer import summed_rows

SHAPES = [(1, 1, 1), (3, 7, 5), (17, 33, 9), (8, 256, 16), (13, 257, 40), (80, 800, 256),
          (272, 600, 100), (5, 1000, 3)]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("trans_a, trans_b", [(True, False), (False, True), (False, False)])
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_product_matches_numpy(m, k, n, trans_a, trans_b, dtype, rtol):
    rng = np.random.RandomState(m * 1000 + k + n)
    A = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.normal(size=(n, k) if trans_b else (k, n)).astype(dtype)
    expected = (A.T if trans_a else A).astype(np.float64) @ (B.T if trans_b else B)
    # Relative to the sum of the terms' magnitudes, which bounds the
    # rounding of any order of summation.
    scale = np.abs(A.T if trans_a else A) @ np.abs(B.T if trans_b else B)
    out = np.full((m, n), np.nan, dtype)
    product(A, B, out, trans_a, trans_b)
    assert np.all(np.abs(out - expected) <= rtol * scale)
    start = rng.normal(size=(m, n)).astype(dtype)
    out = start.copy()
    product(A, B, out, trans_a, trans_b, accumulate=True)
    assert np.all(np.abs(out - (start + expected)) <= rtol * (scale + np.abs(start)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m, k, n", SHAPES)
@pytest.mark.parametrize("transposed", ["A", "B"])
def test_transposed_operand_gives_the_same_sums(m, k, n, dtype, transposed):
    # op(A)'s columns are moved into rows before the micro-kernels run, and
    # op(B) = B^T is packed a panel at a time from B's rows turned into
    # columns: in register tiles of 8 x 8 floats or 4 x 4 doubles where the
    # CPU has AVX2, element by element at the ragged edges. Only data
    # moves, so the product equals, bitwise, that of the operand transposed
    # by NumPy.
    rng = np.random.RandomState(m * 1000 + k + n)
    A = rng.normal(size=(k, m) if transposed == "A" else (m, k)).astype(dtype)
    B = rng.normal(size=(n, k) if transposed == "B" else (k, n)).astype(dtype)
    out = np.empty((m, n), dtype)
    product(A, B, out, trans_a=transposed == "A", trans_b=transposed == "B")
    copied = np.empty((m, n), dtype)
    if transposed == "A":
        product(np.ascontiguousarray(A.T), B, copied)
    else:
        product(A, np.ascontiguousarray(B.T), copied)
    np.testing.assert_array_equal(out, copied)


def test_empty_sum_sets_or_keeps():
    out = np.ones((3, 4))
    product(np.zeros((0, 3)), np.zeros((0, 4)), out, trans_a=True, accumulate=True)
    assert np.all(out == 1)
    product(np.zeros((0, 3)), np.zeros((0, 4)), out, trans_a=True)
    assert np.all(out == 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_panel_order_changes_no_sum(dtype):
    # Each pass over the packed panels goes the other way from the thread's
    # previous one (_gemm.h), so repeating a product runs its panels in the
    # other order: every count of panels, cut into whole groups and the
    # powers of two of the rest, must give back the same bits, and the
    # product itself.
    rng = np.random.RandomState(0)
    panel_width = 64 // np.dtype(dtype).itemsize
    for m in (1, 3, 8, 13):
        for n_panels in range(1, 20):
            n = n_panels * panel_width - (n_panels % 3)  # some last panels partial
            A = rng.normal(size=(m, 37)).astype(dtype)
            B = rng.normal(size=(37, n)).astype(dtype)
            outs = [np.full((m, n), np.nan, dtype) for _ in range(3)]
            for out in outs:
                product(A, B, out)
            np.testing.assert_array_equal(outs[0], outs[1])
            np.testing.assert_array_equal(outs[0], outs[2])
            rtol = 1e-12 if dtype == np.float64 else 2e-5
            expected = A.astype(np.float64) @ B
            assert np.all(np.abs(outs[0] - expected) <= rtol * (np.abs(A) @ np.abs(B)))


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="out"):
        product(np.ones((3, 4)), np.ones((4, 5)), np.empty((3, 4)))
    with pytest.raises(ValueError, match="op\\(B\\)"):
        product(np.ones((3, 4)), np.ones((5, 5)), np.empty((3, 5)))
    with pytest.raises(ValueError, match="both"):
        product(np.ones((3, 4)), np.ones((5, 3)), np.empty((4, 5)), True, True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_output_layer_writes_each_row_where_asked(dtype):
    """``dense_forward`` with ``rows`` writes X[i] @ W + b to out[rows[i]],
    in blocks of 256 rows shared among the threads: bitwise what one
    thread writes, equal to NumPy's product to rounding."""
    from skrnn._kernels._dense import dense_forward

    rng = np.random.RandomState(0)
    X = rng.normal(size=(1000, 37)).astype(dtype)
    W, b = rng.normal(size=(37, 11)).astype(dtype), rng.normal(size=11).astype(dtype)
    rows = rng.permutation(1000)
    outs = []
    for n_threads in (1, 2):
        out = np.full((1000, 11), np.nan, dtype)
        dense_forward(X, W, b, out, rows, n_threads)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    expected = np.empty((1000, 11))
    expected[rows] = X.astype(float) @ W + b
    np.testing.assert_allclose(outs[0], expected, rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-4 if dtype == np.float32 else 1e-12)
    with pytest.raises(ValueError, match="rows\\[3\\]"):
        bad = rows.copy()
        bad[3] = 1000
        dense_forward(X, W, b, out, bad)


def test_row_argmax_is_numpys():
    from skrnn._kernels._dense import row_argmax

    rng = np.random.RandomState(0)
    raw = rng.randint(0, 4, size=(500, 7)).astype(np.float64)  # many ties
    raw[3, 5] = raw[4, 0] = raw[6, 6] = np.nan
    raw[8] = -np.inf
    index = np.empty(500, np.intp)
    row_argmax(raw, index)
    np.testing.assert_array_equal(index, raw.argmax(axis=1))
    row_argmax(raw[:, :1].copy(), index)
    assert np.all(index == 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_rows, n_cols", [(0, 5), (1, 1), (3, 7), (800, 256), (37, 300),
                                            (5, 64), (2, 1000), (1000, 3)])
def test_summed_rows_add_in_row_order(n_rows, n_cols, dtype):
    # The bias gradients and the sum of the chunks' gradient buffers:
    # each column's sum is 0 + a[0] + a[1] + ... in row order, whether its
    # column falls in a block summed in registers or in the columns left
    # after the last block, so that a gradient does not depend on how the
    # columns are cut.
    rng = np.random.RandomState(n_rows * 1000 + n_cols)
    a = rng.normal(size=(n_rows, n_cols)).astype(dtype)
    expected = np.zeros(n_cols, dtype)
    for row in a:
        expected = expected + row
    out = np.full(n_cols, np.nan, dtype)
    summed_rows(a, out)
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="out has 2 entries"):
        summed_rows(a, np.empty(2, dtype))

"""The output layer's product, on a packed weight instead of through BLAS.

The output layer maps the last recurrent layer's final states to the
network's raw outputs, ``X @ W + b``: a few thousand rows at most, by a few
hundred inputs, to a handful of outputs. Through numpy (BLAS), 2,048 x 32 by
32 x 10 took over 0.1 ms from a cold cache, against 0.03 ms in the
register-blocked loop of ``_gemm.h``, and it woke BLAS's thread pool, whose
threads then spun against the kernels' threads unless a thread limit
was held around the whole prediction. With this product a prediction calls
no BLAS at all.
"""

cimport numpy as cnp
from cython cimport floating
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from ._arrays cimport Matrix, is_float64, read_array, typenum_of
from ._boundary cimport check_thread_count, require_length, require_shape
from ._packed cimport (
    SKRNN_ISA_AVX2, SKRNN_ISA_AVX512, free_packed, gemm, pack_weight, packed_gemm_bias,
    skrnn_isa_level,
)
from ._team cimport team_run

cnp.import_array()


def instruction_set():
    """The instruction set the kernels' loops run on: ``"avx512"``,
    ``"avx2"`` (with FMA) or ``"baseline"`` (what the compiler targets by
    default). The widest the CPU has, unless the environment variable
    ``SKRNN_ISA`` (read once, at the kernels' first call) asks for a
    narrower one. The AVX2 and AVX-512 paths give bitwise the same results;
    the baseline, without fused multiply-adds, differs in the last bits."""
    level = skrnn_isa_level()
    if level == SKRNN_ISA_AVX512:
        return "avx512"
    return "avx2" if level == SKRNN_ISA_AVX2 else "baseline"


cdef struct DenseJob:
    bint is_double
    const void *X
    const void *packed_W
    const void *b
    void *out
    # Output row of each row of X (NULL: the same row).
    const Py_ssize_t *rows
    Py_ssize_t n_rows
    int n_in, n_out
    Py_ssize_t block_rows
    # block_rows x n_out values per worker, where a block is computed
    # before its rows go where ``rows`` says.
    void *scratch


# Rows of X per task of ``dense_forward``.
cdef enum:
    DENSE_BLOCK_ROWS = 256


cdef void _dense_rows(DenseJob *job, Py_ssize_t block, int worker,
                      floating *dtype) noexcept nogil:
    cdef Py_ssize_t r0 = block * job.block_rows
    cdef Py_ssize_t r1 = min(r0 + job.block_rows, job.n_rows)
    cdef Py_ssize_t i
    cdef int n_in = job.n_in, n_out = job.n_out
    cdef const floating *X = <const floating *> job.X + r0 * n_in
    cdef floating *out = <floating *> job.out
    cdef floating *scratch = <floating *> job.scratch + worker * job.block_rows * n_out
    if job.rows == NULL:
        packed_gemm_bias(<int> (r1 - r0), n_out, n_in, X, n_in,
                         <const floating *> job.packed_W, <const floating *> job.b,
                         &out[r0 * n_out], n_out)
        return
    packed_gemm_bias(<int> (r1 - r0), n_out, n_in, X, n_in,
                     <const floating *> job.packed_W, <const floating *> job.b,
                     scratch, n_out)
    for i in range(r1 - r0):
        memcpy(&out[job.rows[r0 + i] * n_out], &scratch[i * n_out],
               n_out * sizeof(floating))


cdef void _dense_task(void *job_, Py_ssize_t block, int worker) noexcept nogil:
    cdef DenseJob *job = <DenseJob *> job_
    if job.is_double:
        _dense_rows(job, block, worker, <double *> NULL)
    else:
        _dense_rows(job, block, worker, <float *> NULL)


def dense_forward(X, W, b, out, rows=None, int n_threads=1):
    """out = X @ W + b, or, with ``rows``, out[rows[i]] = X[i] @ W + b.

    Parameters
    ----------
    X : (n_rows, n_in) array
    W : (n_in, n_out) array
    b : (n_out,) array
    out : (n_rows, n_out) array, written (with ``rows``: any number of
        rows, those ``rows`` names written)
    rows : (n_rows,) intp array of rows of ``out``, optional
        Where each row's result goes: the output layer writes each head
        row's outputs in the caller's order, with no scatter after it.
    n_threads : int
        Blocks of 256 rows are shared among the kernels' team; each row is
        computed alone, so the result does not depend on the thread count.

    Every array is C-contiguous, and X, W, b and out of one float dtype.
    """
    if is_float64(X):
        _dense_forward(X, W, b, out, rows, n_threads, <double *> NULL)
    else:
        _dense_forward(X, W, b, out, rows, n_threads, <float *> NULL)


cdef int _dense_forward(
    object X_array, object W_array, object b_array, object out_array, object rows_array,
    int n_threads, floating *dtype,
) except -1:
    cdef int t = typenum_of(dtype)
    cdef Matrix X, W, b, out, rows
    cdef DenseJob job
    cdef Py_ssize_t i, n_rows, n_blocks
    cdef const Py_ssize_t *row_of
    cdef floating *packed_W
    read_array(X_array, "X", 2, t, False, &X)
    read_array(W_array, "W", 2, t, False, &W)
    read_array(b_array, "b", 1, t, False, &b)
    read_array(out_array, "out", 2, t, True, &out)
    n_rows = X.rows
    require_shape("W", W.rows, W.cols, X.cols, -1)
    require_length("b", b.rows, W.cols)
    check_thread_count(n_threads)
    if rows_array is None:
        require_shape("out", out.rows, out.cols, n_rows, W.cols)
        row_of = NULL
    else:
        read_array(rows_array, "rows", 1, cnp.NPY_INTP, False, &rows)
        require_length("rows", rows.rows, n_rows)
        require_shape("out", out.rows, out.cols, -1, W.cols)
        row_of = <const Py_ssize_t *> rows.data
        for i in range(n_rows):
            if row_of[i] < 0 or row_of[i] >= out.rows:
                raise ValueError(f"kernel argument rows[{i}] = {row_of[i]} is not a row "
                                 f"of out ({out.rows} rows)")
    if n_rows == 0 or W.cols == 0:
        return 0
    n_blocks = (n_rows + DENSE_BLOCK_ROWS - 1) // DENSE_BLOCK_ROWS
    n_threads = <int> min(n_threads, n_blocks)
    job.is_double = floating is double
    job.X, job.b, job.out, job.rows = X.data, b.data, out.data, row_of
    job.n_rows, job.n_in, job.n_out = n_rows, <int> W.rows, <int> W.cols
    job.block_rows = DENSE_BLOCK_ROWS
    job.scratch = NULL
    if row_of != NULL:
        job.scratch = malloc(n_threads * DENSE_BLOCK_ROWS * W.cols * sizeof(floating))
        if job.scratch == NULL:
            raise MemoryError("cannot allocate the output layer's scratch")
    packed_W = pack_weight(<int> W.rows, <int> W.cols, <const floating *> W.data, <int> W.cols,
                           False)
    job.packed_W = packed_W
    with nogil:
        team_run(n_threads, n_blocks, _dense_task, &job)
    free_packed(packed_W)
    free(job.scratch)
    return 0


def row_argmax(raw, out):
    """out[i] = the column of row i's largest value, the first of equals; a
    NaN counts as the largest (numpy's argmax). Branch-free over each row's
    few values, where numpy's argmax mispredicts a branch at every new
    maximum and takes ten times as long.

    ``raw`` is a C-contiguous float array (n_rows, n_columns), ``out`` an
    intp array (n_rows,), written."""
    if is_float64(raw):
        _row_argmax(raw, out, <double *> NULL)
    else:
        _row_argmax(raw, out, <float *> NULL)


cdef int _row_argmax(object raw_array, object out_array, floating *dtype) except -1:
    cdef Matrix raw_matrix, out_vector
    cdef Py_ssize_t i, j, best_j, n_columns
    cdef floating best, value
    cdef bint greater, has_nan
    read_array(raw_array, "raw", 2, typenum_of(dtype), False, &raw_matrix)
    read_array(out_array, "out", 1, cnp.NPY_INTP, True, &out_vector)
    require_length("out", out_vector.rows, raw_matrix.rows)
    n_columns = raw_matrix.cols
    if n_columns == 0:
        raise ValueError("kernel argument raw has no columns")
    cdef const floating *raw = <const floating *> raw_matrix.data
    cdef Py_ssize_t *out = <Py_ssize_t *> out_vector.data
    with nogil:
        for i in range(raw_matrix.rows):
            best, best_j = raw[i * n_columns], 0
            has_nan = best != best
            for j in range(1, n_columns):
                value = raw[i * n_columns + j]
                greater = value > best
                best_j = j if greater else best_j
                best = value if greater else best
                has_nan = has_nan | (value != value)
            if has_nan:
                for j in range(n_columns):
                    if raw[i * n_columns + j] != raw[i * n_columns + j]:
                        best_j = j
                        break
            out[i] = best_j
    return 0


cdef struct ProductJob:
    bint is_double, trans_a, trans_b, accumulate
    int m, k, block_width, n
    const void *A
    const void *B
    void *C
    int lda, ldb, ldc


cdef void _product_block(void *job_, Py_ssize_t block, int worker) noexcept nogil:
    """Columns block * block_width ... of C: B's columns (rows if transposed)
    and C's columns from there."""
    cdef ProductJob *job = <ProductJob *> job_
    cdef int j0 = <int> block * job.block_width
    cdef int width = min(job.block_width, job.n - j0)
    cdef Py_ssize_t b_offset = <Py_ssize_t> j0 * job.ldb if job.trans_b else j0
    if job.is_double:
        gemm(job.trans_a, job.trans_b, job.m, width, job.k, <const double *> job.A, job.lda,
             <const double *> job.B + b_offset, job.ldb, job.accumulate,
             <double *> job.C + j0, job.ldc)
    else:
        gemm(job.trans_a, job.trans_b, job.m, width, job.k, <const float *> job.A, job.lda,
             <const float *> job.B + b_offset, job.ldb, job.accumulate,
             <float *> job.C + j0, job.ldc)


def product(
    const floating[:, ::1] A,
    const floating[:, ::1] B,
    floating[:, ::1] out,
    bint trans_a=False,
    bint trans_b=False,
    bint accumulate=False,
    int n_threads=1,
):
    """out = op(A) @ op(B), or out += op(A) @ op(B) if ``accumulate``: the
    kernels' product that is not per-step (``gemm`` of ``_packed.pxd``).
    op(X) is X, or X.T if asked; not both transposed.

    With ``n_threads`` > 1 the columns of ``out`` are shared among the
    kernels' team in blocks of whole panels; every value is the same sum
    in the same order whatever the thread count.
    """
    cdef ProductJob job
    cdef Py_ssize_t m = A.shape[1] if trans_a else A.shape[0]
    cdef Py_ssize_t k = A.shape[0] if trans_a else A.shape[1]
    cdef Py_ssize_t n = B.shape[0] if trans_b else B.shape[1]
    cdef int panel = <int> (64 // sizeof(floating))
    if trans_a and trans_b:
        raise ValueError("op(A) and op(B) cannot both be transposed")
    require_length("op(B)'s rows", B.shape[1] if trans_b else B.shape[0], k)
    require_shape("out", out.shape[0], out.shape[1], m, n)
    check_thread_count(n_threads)
    if m == 0 or n == 0:
        return
    job.is_double = floating is double
    job.trans_a, job.trans_b, job.accumulate = trans_a, trans_b, accumulate
    job.m, job.k, job.n = <int> m, <int> k, <int> n
    job.A = &A[0, 0] if A.shape[0] * A.shape[1] else NULL
    job.B = &B[0, 0] if B.shape[0] * B.shape[1] else NULL
    job.C = &out[0, 0]
    job.lda, job.ldb, job.ldc = <int> A.shape[1], <int> B.shape[1], <int> out.shape[1]
    # Two blocks a thread, whole panels each.
    job.block_width = <int> ((n + 2 * n_threads - 1) // (2 * n_threads))
    job.block_width = (job.block_width + panel - 1) // panel * panel
    with nogil:
        team_run(n_threads, (n + job.block_width - 1) // job.block_width, _product_block,
                 &job)

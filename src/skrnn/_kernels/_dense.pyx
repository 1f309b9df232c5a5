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

from cython cimport floating

from ._boundary cimport check_thread_count, require_length, require_shape
from ._packed cimport (
    SKRNN_ISA_AVX2, SKRNN_ISA_AVX512, free_packed, gemm, pack_weight, packed_gemm_bias,
    skrnn_isa_level,
)
from ._team cimport team_run


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


def dense_forward(
    const floating[:, ::1] X,
    const floating[:, ::1] W,
    const floating[::1] b,
    floating[:, ::1] out,
):
    """out = X @ W + b.

    Parameters
    ----------
    X : (n_rows, n_in) array
    W : (n_in, n_out) array
    b : (n_out,) array
    out : (n_rows, n_out) array, written

    The product is single-threaded.
    """
    cdef floating *packed_W
    require_shape("W", W.shape[0], W.shape[1], X.shape[1], -1)
    require_length("b", b.shape[0], W.shape[1])
    require_shape("out", out.shape[0], out.shape[1], X.shape[0], W.shape[1])
    if X.shape[0] == 0 or W.shape[1] == 0:
        return
    packed_W = pack_weight(W.shape[0], W.shape[1], &W[0, 0], W.shape[1], False)
    packed_gemm_bias(<int> X.shape[0], <int> W.shape[1], <int> W.shape[0],
                     &X[0, 0], <int> X.shape[1], packed_W, &b[0],
                     &out[0, 0], <int> out.shape[1])
    free_packed(packed_W)


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

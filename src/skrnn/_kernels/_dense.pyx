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

from ._boundary cimport require_length, require_shape
from ._packed cimport (
    SKRNN_ISA_AVX2, SKRNN_ISA_AVX512, free_packed, gemm, pack_weight, packed_gemm_bias,
    skrnn_isa_level,
)


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


def product(
    const floating[:, ::1] A,
    const floating[:, ::1] B,
    floating[:, ::1] out,
    bint trans_a=False,
    bint trans_b=False,
    bint accumulate=False,
):
    """out = op(A) @ op(B), or out += op(A) @ op(B) if ``accumulate``: the
    kernels' product that is not per-step (``gemm`` of ``_packed.pxd``),
    for the tests. op(X) is X, or X.T if asked; not both transposed.

    The product is single-threaded.
    """
    cdef Py_ssize_t m = A.shape[1] if trans_a else A.shape[0]
    cdef Py_ssize_t k = A.shape[0] if trans_a else A.shape[1]
    cdef Py_ssize_t n = B.shape[0] if trans_b else B.shape[1]
    if trans_a and trans_b:
        raise ValueError("op(A) and op(B) cannot both be transposed")
    require_length("op(B)'s rows", B.shape[1] if trans_b else B.shape[0], k)
    require_shape("out", out.shape[0], out.shape[1], m, n)
    if m == 0 or n == 0:
        return
    with nogil:
        gemm(trans_a, trans_b, <int> m, <int> n, <int> k,
             &A[0, 0] if A.shape[0] * A.shape[1] else NULL, <int> A.shape[1],
             &B[0, 0] if B.shape[0] * B.shape[1] else NULL, <int> B.shape[1],
             accumulate, &out[0, 0], <int> out.shape[1])

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
from ._packed cimport SKRNN_USE_AVX512, free_packed, pack_weight, packed_gemm_bias


def uses_avx512():
    """Whether the packed products run on their AVX-512 path: on a CPU with
    AVX-512F and AVX-512VL, unless SKRNN_DISABLE_AVX512 was set when the
    kernels first ran. The two paths give bitwise the same results."""
    return bool(SKRNN_USE_AVX512())


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

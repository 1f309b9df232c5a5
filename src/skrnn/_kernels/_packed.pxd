# The per-step recurrent products on a weight packed once per layer call
# (the method and the packed layout are described in _gemm.h).
#
# A kernel packs W_hh (forward) or W_hh^T (backward) with ``pack_weight``, or
# [W_ih; W_hh] with ``pack_stacked_weight`` (prediction),
# before its parallel loop, shares the packed copy between its threads (it is
# only read), multiplies with ``packed_gemm`` at every step (or continues
# the sums of an earlier product with ``packed_gemm_continue``) and frees it
# with ``free_packed`` at the end.

from cython cimport floating

cdef extern from "_gemm.h" nogil:
    Py_ssize_t skrnn_packed_size(int k, int n, int panel_width)
    void *skrnn_packed_alloc(size_t bytes)
    void skrnn_packed_free(void *memory)
    void skrnn_pack_float(int k, int n, const float *B, int ldb, int transposed,
                          float *packed)
    void skrnn_pack_double(int k, int n, const double *B, int ldb, int transposed,
                           double *packed)
    void skrnn_pack_stacked_float(int k1, int k2, int n, const float *B1, int ldb1,
                                  const float *B2, int ldb2, float *packed)
    void skrnn_pack_stacked_double(int k1, int k2, int n, const double *B1,
                                   int ldb1, const double *B2, int ldb2,
                                   double *packed)
    int SKRNN_STORE, SKRNN_ADD, SKRNN_CONTINUE
    void skrnn_gemm_packed_float(int m, int n, int k, const float *A, int lda,
                                 const float *packed, const float *bias,
                                 float *C, int ldc, int mode)
    void skrnn_gemm_packed_double(int m, int n, int k, const double *A, int lda,
                                  const double *packed, const double *bias,
                                  double *C, int ldc, int mode)
    void skrnn_gemm_float(int trans_a, int trans_b, int m, int n, int k,
                          const float *A, int lda, const float *B, int ldb,
                          int accumulate, float *C, int ldc)
    void skrnn_gemm_double(int trans_a, int trans_b, int m, int n, int k,
                           const double *A, int lda, const double *B, int ldb,
                           int accumulate, double *C, int ldc)


cdef extern from "_isa.h" nogil:
    # The instruction-set level the kernels' loops run at (see _isa.h).
    int skrnn_isa_level()
    int SKRNN_ISA_AVX512, SKRNN_ISA_AVX2, SKRNN_ISA_BASELINE


cdef inline floating *_alloc_packed(int k, int n, const floating *like) except NULL nogil:
    # ``like``: a pointer of the packed operand's type, to choose it.
    cdef int panel_width = <int> (64 // sizeof(floating))
    cdef floating *packed = <floating *> skrnn_packed_alloc(
        max(1, skrnn_packed_size(k, n, panel_width)) * sizeof(floating))
    if packed == NULL:
        with gil:
            raise MemoryError("cannot allocate a packed weight")
    return packed


cdef inline floating *pack_weight(
    int k, int n, const floating *B, int ldb, bint transposed,
) except NULL nogil:
    """A packed copy of op(B) (k x n): B if not ``transposed``, else B^T,
    with B row-major and row stride ldb. The caller frees it with
    ``free_packed``."""
    cdef floating *packed = _alloc_packed(k, n, B)
    if floating is float:
        skrnn_pack_float(k, n, B, ldb, transposed, packed)
    else:
        skrnn_pack_double(k, n, B, ldb, transposed, packed)
    return packed


cdef inline floating *pack_stacked_weight(
    int k1, int k2, int n, const floating *B1, int ldb1, const floating *B2,
    int ldb2,
) except NULL nogil:
    """A packed copy of [B1; B2] ((k1 + k2) x n), for row-major B1 (k1 x n)
    and B2 (k2 x n) with row strides ldb1 and ldb2: W_ih above W_hh, the
    weight of a product over rows [x_t | h_{t-1}]. Freed with
    ``free_packed``."""
    cdef floating *packed = _alloc_packed(k1 + k2, n, B1)
    if floating is float:
        skrnn_pack_stacked_float(k1, k2, n, B1, ldb1, B2, ldb2, packed)
    else:
        skrnn_pack_stacked_double(k1, k2, n, B1, ldb1, B2, ldb2, packed)
    return packed


cdef inline void free_packed(floating *packed) noexcept nogil:
    skrnn_packed_free(packed)


cdef inline void packed_gemm(
    int m, int n, int k, const floating *A, int lda, const floating *packed,
    floating *C, int ldc, bint accumulate,
) noexcept nogil:
    """C = A @ op(B), or C += A @ op(B) if ``accumulate``, for row-major A
    (m x k) and C (m x n), op(B) packed by ``pack_weight``."""
    cdef int mode = SKRNN_ADD if accumulate else SKRNN_STORE
    if floating is float:
        skrnn_gemm_packed_float(m, n, k, A, lda, packed, NULL, C, ldc, mode)
    else:
        skrnn_gemm_packed_double(m, n, k, A, lda, packed, NULL, C, ldc, mode)


cdef inline void packed_gemm_bias(
    int m, int n, int k, const floating *A, int lda, const floating *packed,
    const floating *bias, floating *C, int ldc,
) noexcept nogil:
    """C = bias + A @ op(B), the bias (n values) added to every row."""
    if floating is float:
        skrnn_gemm_packed_float(m, n, k, A, lda, packed, bias, C, ldc, SKRNN_STORE)
    else:
        skrnn_gemm_packed_double(m, n, k, A, lda, packed, bias, C, ldc, SKRNN_STORE)


cdef inline void packed_gemm_continue(
    int m, int n, int k, const floating *A, int lda, const floating *packed,
    const floating *bias, floating *C, int ldc,
) noexcept nogil:
    """C = bias + (C's sums continued over A @ op(B)): after C = A1 @ B1 by
    ``packed_gemm``, bitwise what ``packed_gemm_bias`` gives over [A1 | A]
    and the stacked [B1; B] (see _gemm.h). k may be 0 (C = bias + C), and
    the bias NULL."""
    if floating is float:
        skrnn_gemm_packed_float(m, n, k, A, lda, packed, bias, C, ldc, SKRNN_CONTINUE)
    else:
        skrnn_gemm_packed_double(m, n, k, A, lda, packed, bias, C, ldc, SKRNN_CONTINUE)


cdef inline void gemm(
    bint trans_a, bint trans_b, int m, int n, int k,
    const floating *a, int lda, const floating *b, int ldb,
    bint accumulate, floating *c, int ldc,
) noexcept nogil:
    """C (m x n) = op(A) @ op(B), or C += op(A) @ op(B) if ``accumulate``,
    all row-major: op(A) is (m x k), op(B) (k x n), not both transposed;
    lda, ldb and ldc are the row strides of A, B and C as stored. The
    products that are not per-step (the weight gradients over a chunk's
    rows), on the packed micro-kernels (``skrnn_gemm_T`` of _gemm.h)."""
    if floating is float:
        skrnn_gemm_float(trans_a, trans_b, m, n, k, a, lda, b, ldb, accumulate, c, ldc)
    else:
        skrnn_gemm_double(trans_a, trans_b, m, n, k, a, lda, b, ldb, accumulate, c, ldc)

# Row-major GEMM over scipy's Fortran BLAS, for float32 and float64.
#
# Every kernel array is C-contiguous (row-major). Fortran BLAS is column-major,
# and a row-major matrix read as column-major is its transpose, so
#     C = op(A) @ op(B)      (row-major)
# is computed as
#     C^T = op(B)^T @ op(A)^T (column-major)
# by swapping the operands. Nothing is copied.

from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm


cdef inline void gemm(
    bint trans_a, bint trans_b,
    int m, int n, int k,
    floating alpha, const floating *a, int lda,
    const floating *b, int ldb,
    floating beta, floating *c, int ldc,
) noexcept nogil:
    """C (m x n) = alpha * op(A) @ op(B) + beta * C, all row-major.

    op(A) is (m x k) and op(B) is (k x n); lda, ldb and ldc are the row
    strides (in elements) of A, B and C as stored. Empty products are skipped,
    because some BLAS builds reject a zero leading dimension.
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if m <= 0 or n <= 0:
        return
    if k <= 0:
        # Nothing to multiply: C = beta * C, as BLAS would leave it.
        scale(m, n, beta, c, ldc)
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float *> b, &ldb,
              <float *> a, &lda, &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double *> b, &ldb,
              <double *> a, &lda, &beta, c, &ldc)


cdef inline void scale(
    int m, int n, floating beta, floating *c, int ldc,
) noexcept nogil:
    cdef int i, j
    for i in range(m):
        for j in range(n):
            c[i * ldc + j] = 0 if beta == 0 else beta * c[i * ldc + j]

/* The per-step recurrent products of the cell kernels, on a packed weight.
 *
 * Inside the time loop each chunk multiplies the states of its running
 * sequences (at most a few dozen rows) by the same recurrent weight at every
 * step: h_{t-1} @ W_hh forward ([x_t | h_{t-1}] @ [W_ih; W_hh] when
 * predicting), delta_t @ W_hh^T backward. BLAS copies ("packs") its operands
 * into a cache-friendly order on every call, which costs as much as a
 * sizeable part of the product when the left operand has only 32 rows, and
 * it runs far below its large-matrix speed on such shapes.
 * Here the weight is packed once per layer call, and each step runs a
 * register-blocked loop over it:
 *
 *   packed layout: op(B) (k x n) cut into panels of NR consecutive columns;
 *   panel j stores its k rows one after another, NR values each, and the
 *   last panel is padded with zeros. NR is two vector registers of 32 bytes
 *   (16 floats, 8 doubles).
 *
 *   micro-kernel: a block of MR = 4 rows of A times one panel, accumulated
 *   in 4 x 2 vector registers over the whole of k, then added to (or
 *   stored into) C. With FMA that is 8 independent multiply-add chains,
 *   enough to keep two FMA units busy at a latency of 4 cycles.
 *
 * Determinism: every output element is the same sum in the same order
 * whatever the number of rows, the block it falls in or the thread that
 * computes it, so results stay bitwise independent of the thread count.
 *
 * With GCC on x86-64 Linux the driver is also compiled for x86-64-v3 (AVX2,
 * FMA) and chosen at load time, as for the tanh of _tanh.h. Compilers
 * without GNU vector extensions get the same loops written with arrays.
 */
#ifndef SKRNN_GEMM_H
#define SKRNN_GEMM_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_tanh.h" /* SKRNN_MULTIVERSION, SKRNN_ALWAYS_INLINE */

#define SKRNN_GEMM_MR 4
/* Rows per block of a tall product (see the driver). */
#define SKRNN_GEMM_MB 64

/* Values of op(B) per panel row: two 32-byte vectors. */
#define SKRNN_PANEL_WIDTH(T) ((int)(64 / sizeof(T)))

/* Length of the packed copy of a (k x n) operand. */
static inline Py_ssize_t skrnn_packed_size(int k, int n, int panel_width)
{
    return (Py_ssize_t)((n + panel_width - 1) / panel_width) * panel_width * k;
}

/* Memory for a packed operand, aligned to a cache line so that each panel
 * row (64 bytes) is one line. With malloc's 16-byte alignment one load of
 * the two per row can straddle two lines; in an A/B of hidden-32
 * prediction, the aligned copy was 0-3% faster. The block comes from
 * malloc, a line longer, with the address malloc gave stored just before
 * the aligned one: posix_memalign, which splits its blocks, left the heap
 * fragmented and the peak memory of a fit 10% higher (LSTM, float64,
 * hidden 256). Freed with skrnn_packed_free; NULL if out of memory. */
static inline void *skrnn_packed_alloc(size_t bytes)
{
    char *block = (char *)malloc(bytes + 64 + sizeof(void *));
    if (block == NULL)
        return NULL;
    uintptr_t first = (uintptr_t)(block + sizeof(void *));
    char *aligned = block + sizeof(void *) + ((64 - first % 64) % 64);
    memcpy(aligned - sizeof(void *), &block, sizeof(void *));
    return aligned;
}

static inline void skrnn_packed_free(void *memory)
{
    void *block;
    if (memory == NULL)
        return;
    memcpy(&block, (char *)memory - sizeof(void *), sizeof(void *));
    free(block);
}

/* skrnn_pack_T(k, n, B, ldb, transposed, packed): packs op(B), where
 * op(B)[p][j] is B[p * ldb + j], or B[j * ldb + p] if ``transposed``. */
#define SKRNN_DEFINE_PACK(T)                                                     \
static void skrnn_pack_##T(int k, int n, const T *B, int ldb, int transposed,   \
                           T *packed)                                            \
{                                                                                \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    for (int j0 = 0; j0 < n; j0 += nr)                                           \
        for (int p = 0; p < k; p++)                                              \
            for (int c = 0; c < nr; c++) {                                       \
                int j = j0 + c;                                                  \
                *packed++ = j >= n ? (T)0                                        \
                          : transposed ? B[(size_t)j * ldb + p]                  \
                                       : B[(size_t)p * ldb + j];                 \
            }                                                                    \
}

/* skrnn_pack_stacked_T(k1, k2, n, B1, ldb1, B2, ldb2, packed): packs the
 * (k1 + k2) x n operand [B1; B2], row-major B1's k1 rows above B2's k2
 * rows, as one: the weight of a product over [x | h] rows. */
#define SKRNN_DEFINE_PACK_STACKED(T)                                             \
static void skrnn_pack_stacked_##T(int k1, int k2, int n, const T *B1, int ldb1, \
                                   const T *B2, int ldb2, T *packed)             \
{                                                                                \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    for (int j0 = 0; j0 < n; j0 += nr)                                           \
        for (int p = 0; p < k1 + k2; p++) {                                      \
            const T *row = p < k1 ? B1 + (size_t)p * ldb1                        \
                                  : B2 + (size_t)(p - k1) * ldb2;                \
            for (int c = 0; c < nr; c++)                                         \
                *packed++ = j0 + c < n ? row[j0 + c] : (T)0;                     \
        }                                                                        \
}

/* skrnn_gemm_packed_T(m, n, k, A, lda, packed, bias, C, ldc, accumulate):
 *     C = A @ op(B),  C = bias + A @ op(B)  or, if ``accumulate``,
 *     C += A @ op(B),
 * for row-major A (m x k, row stride lda; 0: every row is A's first) and C
 * (m x n, row stride ldc);
 * ``bias`` (n values, added to every row) may be NULL. */
#if defined(__GNUC__)

/* 32-byte vectors that may sit at any element boundary (like __m256_u). */
typedef float skrnn_vec_float __attribute__((vector_size(32), aligned(4)));
typedef double skrnn_vec_double __attribute__((vector_size(32), aligned(8)));

#define SKRNN_DEFINE_PACKED_GEMM(T)                                              \
/* Row r of a block: C's row = base + its two accumulators, first ``cols``       \
 * values; base is C's row itself (accumulate), the bias, or nothing. */         \
static SKRNN_ALWAYS_INLINE void skrnn_store_row_##T(                             \
    T *c_row, const T *base, skrnn_vec_##T lo, skrnn_vec_##T hi, int cols)       \
{                                                                                \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    if (cols == nr) { /* the common case: whole vectors, C may be unaligned */   \
        skrnn_vec_##T *out = (skrnn_vec_##T *)c_row;                             \
        if (base) {                                                              \
            /* base + acc, as in the scalar case (addition commutes exactly) */  \
            lo += ((const skrnn_vec_##T *)base)[0];                              \
            hi += ((const skrnn_vec_##T *)base)[1];                              \
        }                                                                        \
        out[0] = lo;                                                             \
        out[1] = hi;                                                             \
        return;                                                                  \
    }                                                                            \
    T lanes[SKRNN_PANEL_WIDTH(T)];                                               \
    memcpy(lanes, &lo, sizeof lo);                                               \
    memcpy(lanes + nr / 2, &hi, sizeof hi);                                      \
    if (base)                                                                    \
        for (int c = 0; c < cols; c++) c_row[c] = base[c] + lanes[c];            \
    else                                                                         \
        for (int c = 0; c < cols; c++) c_row[c] = lanes[c];                      \
}                                                                                \
                                                                                 \
/* A block of up to MR rows of A times one panel. Missing rows of a partial      \
 * block read row 0 and are not stored. */                                       \
static SKRNN_ALWAYS_INLINE void skrnn_gemm_block_##T(                            \
    int rows, int cols, int k, const T *A, int lda, const T *panel,              \
    T *C, int ldc, const T *bias, int accumulate)                                \
{                                                                                \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    const T *a0 = A;                                                             \
    const T *a1 = rows > 1 ? A + lda : A;                                        \
    const T *a2 = rows > 2 ? A + 2 * (size_t)lda : A;                            \
    const T *a3 = rows > 3 ? A + 3 * (size_t)lda : A;                            \
    skrnn_vec_##T c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0};                    \
    skrnn_vec_##T c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};                    \
    for (int p = 0; p < k; p++) {                                                \
        skrnn_vec_##T b0 = *(const skrnn_vec_##T *)(panel + (size_t)p * nr);     \
        skrnn_vec_##T b1 =                                                       \
            *(const skrnn_vec_##T *)(panel + (size_t)p * nr + nr / 2);           \
        c00 += a0[p] * b0;                                                       \
        c01 += a0[p] * b1;                                                       \
        c10 += a1[p] * b0;                                                       \
        c11 += a1[p] * b1;                                                       \
        c20 += a2[p] * b0;                                                       \
        c21 += a2[p] * b1;                                                       \
        c30 += a3[p] * b0;                                                       \
        c31 += a3[p] * b1;                                                       \
    }                                                                            \
    /* Each row's base: C's row itself when accumulating, else the bias. */      \
    if (accumulate) {                                                            \
        skrnn_store_row_##T(C, C, c00, c01, cols);                               \
        if (rows > 1) skrnn_store_row_##T(C + ldc, C + ldc, c10, c11, cols);     \
        if (rows > 2)                                                            \
            skrnn_store_row_##T(C + 2 * (size_t)ldc, C + 2 * (size_t)ldc,        \
                                c20, c21, cols);                                 \
        if (rows > 3)                                                            \
            skrnn_store_row_##T(C + 3 * (size_t)ldc, C + 3 * (size_t)ldc,        \
                                c30, c31, cols);                                 \
    } else {                                                                     \
        skrnn_store_row_##T(C, bias, c00, c01, cols);                            \
        if (rows > 1) skrnn_store_row_##T(C + ldc, bias, c10, c11, cols);        \
        if (rows > 2)                                                            \
            skrnn_store_row_##T(C + 2 * (size_t)ldc, bias, c20, c21, cols);      \
        if (rows > 3)                                                            \
            skrnn_store_row_##T(C + 3 * (size_t)ldc, bias, c30, c31, cols);      \
    }                                                                            \
}                                                                                \
                                                                                 \
SKRNN_MULTIVERSION                                                               \
static void skrnn_gemm_packed_##T(int m, int n, int k, const T *A, int lda,      \
                                  const T *packed, const T *bias, T *C, int ldc, \
                                  int accumulate)                                \
{                                                                                \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    /* Blocks of MB rows; within one, panel by panel, so that each panel         \
     * stays in L1 while the block's rows pass over it, and C is written in      \
     * whole cache lines before the next block. (A per-step product has at       \
     * most MB rows: one block.) */                                              \
    for (int i0 = 0; i0 < m; i0 += SKRNN_GEMM_MB) {                              \
        int i1 = m - i0 < SKRNN_GEMM_MB ? m : i0 + SKRNN_GEMM_MB;                \
        for (int j0 = 0; j0 < n; j0 += nr) {                                     \
            const T *panel = packed + (size_t)(j0 / nr) * nr * k;                \
            const T *bias_j = bias ? bias + j0 : NULL;                           \
            int cols = n - j0 < nr ? n - j0 : nr;                                \
            for (int i = i0; i < i1; i += SKRNN_GEMM_MR) {                       \
                int block = i1 - i < SKRNN_GEMM_MR ? i1 - i : SKRNN_GEMM_MR;     \
                skrnn_gemm_block_##T(block, cols, k, A + (size_t)i * lda, lda,   \
                                     panel, C + (size_t)i * ldc + j0, ldc,       \
                                     bias_j, accumulate);                        \
            }                                                                    \
        }                                                                        \
    }                                                                            \
}

#else /* no vector extensions: the same sums, element by element */

#define SKRNN_DEFINE_PACKED_GEMM(T)                                              \
static void skrnn_gemm_packed_##T(int m, int n, int k, const T *A, int lda,      \
                                  const T *packed, const T *bias, T *C, int ldc, \
                                  int accumulate)                                \
{                                                                                \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    for (int i = 0; i < m; i++) {                                                \
        const T *a_row = A + (size_t)i * lda;                                    \
        for (int j = 0; j < n; j++) {                                            \
            const T *column = packed + (size_t)(j / nr) * nr * k + j % nr;       \
            T *c = C + (size_t)i * ldc + j;                                      \
            T sum = 0;                                                           \
            for (int p = 0; p < k; p++) sum += a_row[p] * column[(size_t)p * nr]; \
            *c = accumulate ? *c + sum : bias ? bias[j] + sum : sum;             \
        }                                                                        \
    }                                                                            \
}

#endif

SKRNN_DEFINE_PACK(float)
SKRNN_DEFINE_PACK(double)
SKRNN_DEFINE_PACK_STACKED(float)
SKRNN_DEFINE_PACK_STACKED(double)
SKRNN_DEFINE_PACKED_GEMM(float)
SKRNN_DEFINE_PACKED_GEMM(double)

#endif

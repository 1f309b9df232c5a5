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
 * With GCC on x86-64 the driver is compiled for AVX2 with FMA and for the
 * baseline, and on CPUs with AVX-512 the product runs on an AVX-512
 * micro-kernel of 8 rows times two panels (below), with the same sums; the
 * widest path the CPU has is chosen at run time (_isa.h). Compilers without
 * GNU vector extensions get the same loops written with arrays.
 */
#ifndef SKRNN_GEMM_H
#define SKRNN_GEMM_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_isa.h" /* SKRNN_CLONES, skrnn_isa_level, SKRNN_ALWAYS_INLINE */

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

/* The loop nest of a driver over its micro-kernel BLOCK (MR rows of A times
 * PANELS consecutive panels): blocks of MB rows; within one, panel by panel,
 * so that the panels stay in L1 while the block's rows pass over them, and C
 * is written in whole cache lines before the next block. (A per-step
 * product has at most MB rows: one block.) BLOCK gets the number of columns
 * of C it computes, at most PANELS panel widths. */
#define SKRNN_GEMM_BLOCKS(T, MR, PANELS, BLOCK)                                  \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    for (int i0 = 0; i0 < m; i0 += SKRNN_GEMM_MB) {                              \
        int i1 = m - i0 < SKRNN_GEMM_MB ? m : i0 + SKRNN_GEMM_MB;                \
        for (int j0 = 0; j0 < n; j0 += (PANELS) * nr) {                          \
            const T *panel = packed + (size_t)(j0 / nr) * nr * k;                \
            const T *bias_j = bias ? bias + j0 : NULL;                           \
            int cols = n - j0 < (PANELS) * nr ? n - j0 : (PANELS) * nr;          \
            for (int i = i0; i < i1; i += (MR)) {                                \
                int block = i1 - i < (MR) ? i1 - i : (MR);                       \
                BLOCK(block, cols, k, A + (size_t)i * lda, lda, panel,           \
                      C + (size_t)i * ldc + j0, ldc, bias_j, accumulate);        \
            }                                                                    \
        }                                                                        \
    }

#if SKRNN_HAS_ISA_CLONES
/* The AVX-512 path: a panel row (64 bytes) is one vector register, and the
 * micro-kernel is a block of MR_512 = 8 rows of A times two panels, 16
 * independent multiply-add chains: each value of A, broadcast once, feeds
 * two of them, so that the loads leave both FMA units busy (one panel at a
 * time, one load per multiply-add, ran 15% slower). A last odd panel runs
 * alone, 8 chains. Every output element is the same sum of the same
 * products in the same order, each product added with one fused
 * multiply-add, as on the AVX2 path: the two give bitwise the same
 * results. */
#define SKRNN_GEMM_MR_512 8

typedef float skrnn_vec512_float __attribute__((vector_size(64), aligned(4)));
typedef double skrnn_vec512_double __attribute__((vector_size(64), aligned(8)));

#define SKRNN_DEFINE_PACKED_GEMM_AVX512(T)                                       \
/* Row r of a block: C's row = base + the accumulator, first ``cols`` values;   \
 * base is C's row itself (accumulate), the bias, or nothing. */                 \
static SKRNN_ALWAYS_INLINE SKRNN_TARGET_AVX512 void skrnn_store_row_512_##T(     \
    T *c_row, const T *base, skrnn_vec512_##T acc, int cols)                     \
{                                                                                \
    if (cols >= SKRNN_PANEL_WIDTH(T)) {                                          \
        if (base)                                                                \
            acc += *(const skrnn_vec512_##T *)base;                              \
        *(skrnn_vec512_##T *)c_row = acc;                                        \
        return;                                                                  \
    }                                                                            \
    T lanes[SKRNN_PANEL_WIDTH(T)];                                               \
    memcpy(lanes, &acc, sizeof acc);                                             \
    if (base)                                                                    \
        for (int c = 0; c < cols; c++) c_row[c] = base[c] + lanes[c];            \
    else                                                                         \
        for (int c = 0; c < cols; c++) c_row[c] = lanes[c];                      \
}                                                                                \
                                                                                 \
/* A block of up to MR_512 rows of A times the panel at ``panel`` and, if      \
 * ``cols`` passes its width, the next one; missing rows of a partial block    \
 * read row 0 and are not stored. */                                             \
static SKRNN_ALWAYS_INLINE SKRNN_TARGET_AVX512 void skrnn_gemm_block_512_##T(    \
    int rows, int cols, int k, const T *A, int lda, const T *panel,              \
    T *C, int ldc, const T *bias, int accumulate)                                \
{                                                                                \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    const T *a[SKRNN_GEMM_MR_512];                                               \
    for (int r = 0; r < SKRNN_GEMM_MR_512; r++)                                  \
        a[r] = r < rows ? A + (size_t)r * lda : A;                               \
    skrnn_vec512_##T c0[SKRNN_GEMM_MR_512], c1[SKRNN_GEMM_MR_512];               \
    _Pragma("GCC unroll 8")                                                      \
    for (int r = 0; r < SKRNN_GEMM_MR_512; r++)                                  \
        c0[r] = c1[r] = (skrnn_vec512_##T){0};                                   \
    if (cols > nr) {                                                             \
        const T *next = panel + (size_t)nr * k;                                  \
        for (int p = 0; p < k; p++) {                                            \
            skrnn_vec512_##T b0 = *(const skrnn_vec512_##T *)(panel + (size_t)p * nr); \
            skrnn_vec512_##T b1 = *(const skrnn_vec512_##T *)(next + (size_t)p * nr); \
            _Pragma("GCC unroll 8")                                              \
            for (int r = 0; r < SKRNN_GEMM_MR_512; r++) {                        \
                T value = a[r][p];                                               \
                c0[r] += value * b0;                                             \
                c1[r] += value * b1;                                             \
            }                                                                    \
        }                                                                        \
    } else {                                                                     \
        for (int p = 0; p < k; p++) {                                            \
            skrnn_vec512_##T b0 = *(const skrnn_vec512_##T *)(panel + (size_t)p * nr); \
            _Pragma("GCC unroll 8")                                              \
            for (int r = 0; r < SKRNN_GEMM_MR_512; r++)                          \
                c0[r] += a[r][p] * b0;                                           \
        }                                                                        \
    }                                                                            \
    for (int r = 0; r < rows; r++) {                                             \
        T *c_row = C + (size_t)r * ldc;                                          \
        skrnn_store_row_512_##T(c_row, accumulate ? c_row : bias, c0[r], cols);  \
        if (cols > nr)                                                           \
            skrnn_store_row_512_##T(c_row + nr,                                  \
                                    accumulate ? c_row + nr : bias ? bias + nr : NULL, \
                                    c1[r], cols - nr);                           \
    }                                                                            \
}                                                                                \
                                                                                 \
static SKRNN_TARGET_AVX512 void skrnn_gemm_packed_avx512_##T(                    \
    int m, int n, int k, const T *A, int lda, const T *packed, const T *bias,    \
    T *C, int ldc, int accumulate)                                               \
{                                                                                \
    SKRNN_GEMM_BLOCKS(T, SKRNN_GEMM_MR_512, 2, skrnn_gemm_block_512_##T);        \
}
#define SKRNN_GEMM_AVX512(T) skrnn_gemm_packed_avx512_##T
#else
#define SKRNN_DEFINE_PACKED_GEMM_AVX512(T)
#define SKRNN_GEMM_AVX512(T) skrnn_gemm_generic_##T##_baseline
#endif

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
SKRNN_DEFINE_PACKED_GEMM_AVX512(T)                                               \
                                                                                 \
/* The AVX2 and baseline drivers, one body. */                                   \
SKRNN_CLONES(void, skrnn_gemm_generic_##T, (                                     \
    int m, int n, int k, const T *A, int lda, const T *packed, const T *bias,    \
    T *C, int ldc, int accumulate),                                              \
    SKRNN_GEMM_BLOCKS(T, SKRNN_GEMM_MR, 1, skrnn_gemm_block_##T);)               \
                                                                                 \
static void skrnn_gemm_packed_##T(int m, int n, int k, const T *A, int lda,      \
                                  const T *packed, const T *bias, T *C, int ldc, \
                                  int accumulate)                                \
{                                                                                \
    switch (skrnn_isa_level()) {                                                 \
    case SKRNN_ISA_AVX512:                                                       \
        SKRNN_GEMM_AVX512(T)(m, n, k, A, lda, packed, bias, C, ldc, accumulate); \
        break;                                                                   \
    case SKRNN_ISA_AVX2:                                                         \
        skrnn_gemm_generic_##T##_avx2(m, n, k, A, lda, packed, bias, C, ldc,     \
                                      accumulate);                               \
        break;                                                                   \
    default:                                                                     \
        skrnn_gemm_generic_##T##_baseline(m, n, k, A, lda, packed, bias, C, ldc, \
                                          accumulate);                           \
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

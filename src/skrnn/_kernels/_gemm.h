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
 * FMA) and chosen at load time, as for the tanh of _tanh.h, and on CPUs
 * with AVX-512 it hands the product to an AVX-512 micro-kernel of 8 rows
 * times one panel row in one register (below), with the same sums.
 * Compilers without GNU vector extensions get the same loops written with
 * arrays.
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

/* The loop nest of a driver over its micro-kernel BLOCK (MR rows of A times
 * one panel): blocks of MB rows; within one, panel by panel, so that each
 * panel stays in L1 while the block's rows pass over it, and C is written in
 * whole cache lines before the next block. (A per-step product has at most
 * MB rows: one block.) */
#define SKRNN_GEMM_BLOCKS(T, MR, BLOCK)                                          \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    for (int i0 = 0; i0 < m; i0 += SKRNN_GEMM_MB) {                              \
        int i1 = m - i0 < SKRNN_GEMM_MB ? m : i0 + SKRNN_GEMM_MB;                \
        for (int j0 = 0; j0 < n; j0 += nr) {                                     \
            const T *panel = packed + (size_t)(j0 / nr) * nr * k;                \
            const T *bias_j = bias ? bias + j0 : NULL;                           \
            int cols = n - j0 < nr ? n - j0 : nr;                                \
            for (int i = i0; i < i1; i += (MR)) {                                \
                int block = i1 - i < (MR) ? i1 - i : (MR);                       \
                BLOCK(block, cols, k, A + (size_t)i * lda, lda, panel,           \
                      C + (size_t)i * ldc + j0, ldc, bias_j, accumulate);        \
            }                                                                    \
        }                                                                        \
    }

#if defined(__x86_64__) && !defined(__clang__) && __GNUC__ >= 8
/* The AVX-512 path: on a CPU with AVX-512 (F and VL), a panel row (64 bytes)
 * is one vector register, and the micro-kernel is a block of MR_512 = 8 rows
 * of A times one panel: 8 independent multiply-add chains again, each of a
 * whole panel row, so twice the values per instruction of the AVX2 path.
 * Every output element is the same sum of the same products in the same
 * order, each product added with one fused multiply-add, as on the AVX2
 * path: the two give bitwise the same results. The path is chosen once per
 * module, at its first product: the CPU must have AVX-512F and AVX-512VL,
 * and SKRNN_DISABLE_AVX512 must not be set in the environment (the tests
 * set it to compare the two paths). */
#define SKRNN_GEMM_MR_512 8
#define SKRNN_AVX512_TARGET __attribute__((target("avx512f,avx512vl,avx2,fma")))

static int skrnn_avx512_state = -1; /* -1: not decided yet; 0 or 1 */

static inline int skrnn_use_avx512(void)
{
    int state = __atomic_load_n(&skrnn_avx512_state, __ATOMIC_RELAXED);
    if (state < 0) {
        __builtin_cpu_init();
        state = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
                && getenv("SKRNN_DISABLE_AVX512") == NULL;
        __atomic_store_n(&skrnn_avx512_state, state, __ATOMIC_RELAXED);
    }
    return state;
}
#define SKRNN_USE_AVX512() skrnn_use_avx512()

typedef float skrnn_vec512_float __attribute__((vector_size(64), aligned(4)));
typedef double skrnn_vec512_double __attribute__((vector_size(64), aligned(8)));

#define SKRNN_DEFINE_PACKED_GEMM_AVX512(T)                                       \
/* Row r of a block: C's row = base + the accumulator, first ``cols`` values;   \
 * base as in skrnn_store_row_T. */                                              \
static SKRNN_ALWAYS_INLINE SKRNN_AVX512_TARGET void skrnn_store_row_512_##T(     \
    T *c_row, const T *base, skrnn_vec512_##T acc, int cols)                     \
{                                                                                \
    if (cols == SKRNN_PANEL_WIDTH(T)) {                                          \
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
/* A block of up to MR_512 rows of A times one panel; missing rows of a         \
 * partial block read row 0 and are not stored. */                               \
static SKRNN_ALWAYS_INLINE SKRNN_AVX512_TARGET void skrnn_gemm_block_512_##T(    \
    int rows, int cols, int k, const T *A, int lda, const T *panel,              \
    T *C, int ldc, const T *bias, int accumulate)                                \
{                                                                                \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    const T *a[SKRNN_GEMM_MR_512];                                               \
    for (int r = 0; r < SKRNN_GEMM_MR_512; r++)                                  \
        a[r] = r < rows ? A + (size_t)r * lda : A;                               \
    const T *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];                      \
    const T *a4 = a[4], *a5 = a[5], *a6 = a[6], *a7 = a[7];                      \
    skrnn_vec512_##T c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};                     \
    skrnn_vec512_##T c4 = {0}, c5 = {0}, c6 = {0}, c7 = {0};                     \
    for (int p = 0; p < k; p++) {                                                \
        skrnn_vec512_##T b = *(const skrnn_vec512_##T *)(panel + (size_t)p * nr); \
        c0 += a0[p] * b;                                                         \
        c1 += a1[p] * b;                                                         \
        c2 += a2[p] * b;                                                         \
        c3 += a3[p] * b;                                                         \
        c4 += a4[p] * b;                                                         \
        c5 += a5[p] * b;                                                         \
        c6 += a6[p] * b;                                                         \
        c7 += a7[p] * b;                                                         \
    }                                                                            \
    skrnn_vec512_##T acc[SKRNN_GEMM_MR_512] = {c0, c1, c2, c3, c4, c5, c6, c7};  \
    for (int r = 0; r < rows; r++) {                                             \
        T *c_row = C + (size_t)r * ldc;                                          \
        skrnn_store_row_512_##T(c_row, accumulate ? c_row : bias, acc[r], cols); \
    }                                                                            \
}                                                                                \
                                                                                 \
static SKRNN_AVX512_TARGET void skrnn_gemm_packed_avx512_##T(                    \
    int m, int n, int k, const T *A, int lda, const T *packed, const T *bias,    \
    T *C, int ldc, int accumulate)                                               \
{                                                                                \
    SKRNN_GEMM_BLOCKS(T, SKRNN_GEMM_MR_512, skrnn_gemm_block_512_##T);           \
}
#else
#define SKRNN_USE_AVX512() 0
#define SKRNN_DEFINE_PACKED_GEMM_AVX512(T)                                       \
static void skrnn_gemm_packed_avx512_##T(                                        \
    int m, int n, int k, const T *A, int lda, const T *packed, const T *bias,    \
    T *C, int ldc, int accumulate)                                               \
{                                                                                \
    (void)m; (void)n; (void)k; (void)A; (void)lda; (void)packed; (void)bias;     \
    (void)C; (void)ldc; (void)accumulate;                                        \
}
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
SKRNN_MULTIVERSION                                                               \
static void skrnn_gemm_packed_##T(int m, int n, int k, const T *A, int lda,      \
                                  const T *packed, const T *bias, T *C, int ldc, \
                                  int accumulate)                                \
{                                                                                \
    if (SKRNN_USE_AVX512()) {                                                    \
        skrnn_gemm_packed_avx512_##T(m, n, k, A, lda, packed, bias, C, ldc,      \
                                     accumulate);                                \
        return;                                                                  \
    }                                                                            \
    SKRNN_GEMM_BLOCKS(T, SKRNN_GEMM_MR, skrnn_gemm_block_##T);                   \
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

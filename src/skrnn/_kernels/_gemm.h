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
 *   micro-kernel: a block of R rows of A times Q panels, accumulated in
 *   vector registers over the whole of k, then added to (or stored into) C.
 *   With FMA, 8 to 16 independent multiply-add chains keep two FMA units
 *   busy at a latency of 4 cycles. (R, Q) follows the rows: the driver
 *   cuts a product into blocks of the tallest height, then shorter ones
 *   for the rows left over, with more panels to each.
 *
 * Determinism: every output element is the same sum in the same order
 * whatever the number of rows, the block it falls in or the thread that
 * computes it, so results stay bitwise independent of the thread count.
 *
 * With GCC on x86-64 the driver is compiled for AVX2 with FMA and for the
 * baseline, and on CPUs with AVX-512 the product runs on AVX-512
 * micro-kernels (below), with the same sums; the widest path the CPU has is
 * chosen at run time (_isa.h). Compilers without GNU vector extensions get
 * the same loops written with arrays.
 */
#ifndef SKRNN_GEMM_H
#define SKRNN_GEMM_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h> /* sysconf */
#endif

#include "_isa.h" /* SKRNN_CLONES, skrnn_isa_level, SKRNN_ALWAYS_INLINE */

/* Rows per block of a tall product (see the driver). */
#define SKRNN_GEMM_MB 64

/* Values of op(B) per panel row: two 32-byte vectors. */
#define SKRNN_PANEL_WIDTH(T) ((int)(64 / sizeof(T)))

/* The size of the CPU's level-1 data cache, in bytes, as the C library
 * reports it (32 KB, the smallest of current x86-64 cores, where it does
 * not): the kernels choose between two schedules of the same sums by
 * whether a packed weight fits in it. */
static inline Py_ssize_t skrnn_l1d_bytes(void)
{
    static Py_ssize_t bytes = 0;
    if (bytes == 0) {
        long reported = 0;
#ifdef _SC_LEVEL1_DCACHE_SIZE
        reported = sysconf(_SC_LEVEL1_DCACHE_SIZE);
#endif
        bytes = reported > 0 ? (Py_ssize_t)reported : 32768;
    }
    return bytes;
}

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
 * op(B)[p][j] is B[p * ldb + j], or B[j * ldb + p] if ``transposed``. The
 * whole panels of B are filled a row of B at a time, each row's part of
 * every panel in turn, so that the lines of a row are read together: a
 * weight gradient's deltas come from L2 or beyond, and a line at a time
 * from rows far apart is read at a fraction of the speed. Those of B^T are
 * B's rows turned into columns, in tiles (skrnn_columns_to_rows_T). The
 * last panel, if partial, is padded with zeros. */
#define SKRNN_DEFINE_PACK(T)                                                     \
static void skrnn_pack_##T(int k, int n, const T *B, int ldb, int transposed,    \
                           T *packed)                                            \
{                                                                                \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    const int n_whole = n / nr;                                                  \
    for (int q = 0; q < n_whole && transposed; q++)                              \
        skrnn_columns_to_rows_##T(k, nr, B + (size_t)q * nr * ldb, ldb,          \
                                  packed + (size_t)q * nr * k);                  \
    for (int p = 0; p < k && !transposed; p++)                                   \
        for (int q = 0; q < n_whole; q++)                                        \
            memcpy(packed + ((size_t)q * k + p) * nr, B + (size_t)p * ldb + q * nr, \
                   nr * sizeof(T));                                              \
    packed += (size_t)n_whole * nr * k;                                          \
    for (int j0 = n_whole * nr; j0 < n; j0 += nr) {                              \
        for (int p = 0; p < k; p++)                                              \
            for (int c = 0; c < nr; c++) {                                       \
                int j = j0 + c;                                                  \
                *packed++ = j >= n ? (T)0                                        \
                          : transposed ? B[(size_t)j * ldb + p]                  \
                                       : B[(size_t)p * ldb + j];                 \
            }                                                                    \
    }                                                                            \
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
        for (int p = 0; p < k1 + k2; p++, packed += nr) {                        \
            const T *row = p < k1 ? B1 + (size_t)p * ldb1                        \
                                  : B2 + (size_t)(p - k1) * ldb2;                \
            if (j0 + nr <= n) { /* a whole panel row: one fixed-size copy */     \
                memcpy(packed, row + j0, nr * sizeof(T));                        \
                continue;                                                        \
            }                                                                    \
            for (int c = 0; c < nr; c++)                                         \
                packed[c] = j0 + c < n ? row[j0 + c] : (T)0;                     \
        }                                                                        \
}

/* skrnn_gemm_packed_T(m, n, k, A, lda, packed, bias, C, ldc, mode):
 *     SKRNN_STORE     C = A @ op(B), or C = bias + A @ op(B);
 *     SKRNN_ADD       C += A @ op(B);
 *     SKRNN_CONTINUE  C = bias + (the sums continued from C),
 * for row-major A (m x k, row stride lda; 0: every row is A's first) and C
 * (m x n, row stride ldc);
 * ``bias`` (n values, added to every row) may be NULL.
 *
 * SKRNN_CONTINUE starts each sum from C's value instead of zero: the sums of
 * [A1 | A2] @ [B1; B2] + bias are, bit for bit, those of C = A1 @ B1 (in
 * SKRNN_STORE) followed by C = bias + (C continued over A2 @ B2), since
 * each value's sum is one chain of multiply-adds over k in order. A time
 * loop can thus take the input projections of many steps at once and add
 * each step's recurrent terms later, with the results of one product over
 * [x_t | h_{t-1}]. */
#define SKRNN_STORE 0
#define SKRNN_ADD 1
#define SKRNN_CONTINUE 2
#if defined(__GNUC__)

/* padded[0 ... lanes) = c[0 ... cols), then zeros. Not inlined: a buffer
 * written element by element in a micro-kernel keeps GCC from holding its
 * accumulators in registers. */
#define SKRNN_DEFINE_PAD(T)                                                      \
static __attribute__((noinline)) void skrnn_pad_##T(const T *c, int cols,        \
                                                     int lanes, T *padded)       \
{                                                                                \
    for (int l = 0; l < lanes; l++)                                              \
        padded[l] = l < cols ? c[l] : (T)0;                                      \
}
SKRNN_DEFINE_PAD(float)
SKRNN_DEFINE_PAD(double)

/* The micro-kernels. A block of R rows of A times Q consecutive panels keeps
 * R x Q x V vector accumulators (V vectors per panel row) over the whole of
 * k, each value of A broadcast once per step of k and multiplied into Q
 * panels, then adds them to C (or stores them, after the bias). R and Q
 * are compile-time constants, so that the accumulators live in registers.
 *
 * skrnn_block_VEC_RxQ(cols, k, A, lda, panel, C, ldc, bias, mode):
 * ``cols``: C's columns from the block's first (the last panel of C may be
 * partial, and the Q panels may pass its end: only those holding a column
 * are read and stored); the other arguments as the driver's below. */
#define SKRNN_DEFINE_BLOCK(T, VEC, V, TARGET, R, Q)                              \
static SKRNN_ALWAYS_INLINE TARGET void skrnn_block_##VEC##_##R##x##Q(            \
    int cols, int k, const T *A, int lda, const T *panel, T *C, int ldc,         \
    const T *bias, int mode)                                                     \
{                                                                                \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    const int lanes = nr / (V);                                                  \
    VEC acc[R][Q][V];                                                            \
    _Pragma("GCC unroll 64")                                                     \
    for (int i = 0; i < (R) * (Q) * (V); i++) {                                  \
        const int r = i / ((Q) * (V)), column = i % ((Q) * (V)) * lanes;         \
        acc[r][i / (V) % (Q)][i % (V)] = (VEC){0};                               \
        if (mode == SKRNN_CONTINUE)                                              \
            skrnn_load_##VEC(C + (size_t)r * ldc + column, cols - column,        \
                             &acc[r][i / (V) % (Q)][i % (V)]);                   \
    }                                                                            \
    for (int p = 0; p < k; p++) {                                                \
        VEC b[Q][V];                                                             \
        _Pragma("GCC unroll 16")                                                 \
        for (int i = 0; i < (Q) * (V); i++)                                      \
            b[i / (V)][i % (V)] = *(const VEC *)(                                \
                panel + (size_t)(i / (V)) * nr * k + (size_t)p * nr + i % (V) * lanes); \
        _Pragma("GCC unroll 8")                                                  \
        for (int r = 0; r < (R); r++) {                                          \
            T value = A[(size_t)r * lda + p];                                    \
            _Pragma("GCC unroll 16")                                             \
            for (int i = 0; i < (Q) * (V); i++)                                  \
                acc[r][i / (V)][i % (V)] += value * b[i / (V)][i % (V)];         \
        }                                                                        \
    }                                                                            \
    _Pragma("GCC unroll 8")                                                      \
    for (int r = 0; r < (R); r++) {                                              \
        _Pragma("GCC unroll 16")                                                 \
        for (int q = 0; q < (Q); q++) {                                          \
            int left = cols - q * nr;                                            \
            if (left <= 0)                                                       \
                break;                                                           \
            T *c_row = C + (size_t)r * ldc + q * nr;                             \
            skrnn_store_##VEC(c_row, mode == SKRNN_ADD ? c_row                   \
                              : bias ? bias + q * nr : NULL, acc[r][q], left);   \
        }                                                                        \
    }                                                                            \
}

/* C's row = base + the accumulators of one panel, its first ``cols`` values
 * (all of the panel's if ``cols`` reaches its width); base is C's row itself
 * (SKRNN_ADD), the bias, or nothing. And one accumulator from C
 * (SKRNN_CONTINUE): a vector of its first ``cols`` values, the rest zero
 * (C's row ends there). */
#define SKRNN_DEFINE_STORE(T, VEC, V, TARGET)                                    \
static SKRNN_ALWAYS_INLINE TARGET void skrnn_load_##VEC(const T *c, int cols, VEC *acc) \
{                                                                                \
    const int lanes = (int)(sizeof(VEC) / sizeof(T));                            \
    T padded[sizeof(VEC) / sizeof(T)];                                           \
    if (cols >= lanes) {                                                         \
        *acc = *(const VEC *)c;                                                  \
        return;                                                                  \
    }                                                                            \
    skrnn_pad_##T(c, cols, lanes, padded);                                       \
    *acc = *(const VEC *)padded;                                                 \
}                                                                                \
                                                                                 \
static SKRNN_ALWAYS_INLINE TARGET void skrnn_store_##VEC(                        \
    T *c_row, const T *base, const VEC *acc, int cols)                           \
{                                                                                \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    const int lanes = nr / (V);                                                  \
    if (cols >= nr) { /* the common case: whole vectors, C may be unaligned */   \
        _Pragma("GCC unroll 4")                                                  \
        for (int v = 0; v < (V); v++) {                                          \
            VEC value = acc[v];                                                  \
            if (base)                                                            \
                value += *(const VEC *)(base + v * lanes);                       \
            *(VEC *)(c_row + v * lanes) = value;                                 \
        }                                                                        \
        return;                                                                  \
    }                                                                            \
    T values[SKRNN_PANEL_WIDTH(T)];                                              \
    memcpy(values, acc, sizeof values);                                          \
    if (base)                                                                    \
        for (int c = 0; c < cols; c++) c_row[c] = base[c] + values[c];           \
    else                                                                         \
        for (int c = 0; c < cols; c++) c_row[c] = values[c];                     \
}

/* The driver of one path, over its blocks: within each MB rows, whole blocks
 * of R_MAX rows, then the rows left in blocks of R_MAX / 2, ..., 1 (a
 * power-of-two R_MAX covers every remainder), so that no block computes a
 * row it does not store. For each block height R, the panels go by in
 * groups of QMAX(R) (a power of two; the panels left at the end in groups
 * of the powers of two that sum to their count, largest first), each group
 * staying in L1 while the blocks' rows pass over it; C is written in whole
 * cache lines before the next MB rows. A per-step product has at most MB
 * rows. BLOCK(R, Q) is the kernel of that shape.
 *
 * Each pass over the panels goes the other way from the thread's previous
 * pass, so that it starts on the panels that pass ended with, still in L1:
 * a time loop multiplies by the same weight at every step, and a weight
 * somewhat larger than L1 (the stacked weight of a 64-unit LSTM is 80 KB)
 * would otherwise be read whole from L2 at every step. The order of the
 * panels changes no sum. */
/* The f-th group of panels in the forward order, for groups of ``group``
 * (a power of two) panels of ``n_panels``: its first panel and its count. */
static inline void skrnn_panel_group(int f, int n_panels, int group, int *first,
                                     int *panels)
{
    const int n_whole = n_panels / group;
    int q0 = f < n_whole ? f * group : n_whole * group;
    int size = group;
    if (f >= n_whole) { /* the rest, in the powers of two of its count */
        const int left = n_panels - q0;
        for (int j = f - n_whole;;) {
            size /= 2;
            if (!(left & size))
                continue;
            if (j-- == 0)
                break;
            q0 += size;
        }
    }
    *first = q0;
    *panels = size;
}

#define SKRNN_GEMM_DRIVER(T, R_MAX, QMAX, RUN_BLOCK)                             \
    static __thread int sweep_from_end = 0;                                      \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    const int n_panels = (n + nr - 1) / nr;                                      \
    for (int i0 = 0; i0 < m; i0 += SKRNN_GEMM_MB) {                              \
        int i1 = m - i0 < SKRNN_GEMM_MB ? m : i0 + SKRNN_GEMM_MB;                \
        int first = i0;                                                          \
        for (int rows = (R_MAX); rows >= 1; rows /= 2) {                         \
            int end = first + (i1 - first) / rows * rows;                        \
            if (end == first)                                                    \
                continue;                                                        \
            const int group = QMAX(rows);                                        \
            const int n_groups = n_panels / group + __builtin_popcount(n_panels % group); \
            for (int g = 0; g < n_groups; g++) {                                 \
                int q0, panels;                                                  \
                skrnn_panel_group(sweep_from_end ? n_groups - 1 - g : g, n_panels, \
                                  group, &q0, &panels);                          \
                for (int i = first; i < end; i += rows)                          \
                    RUN_BLOCK(rows, panels, n - q0 * nr, k, A + (size_t)i * lda, lda, \
                              packed + (size_t)q0 * nr * k,                      \
                              C + (size_t)i * ldc + q0 * nr, ldc,                \
                              bias ? bias + q0 * nr : NULL, mode);               \
            }                                                                    \
            sweep_from_end = !sweep_from_end;                                    \
            first = end;                                                         \
        }                                                                        \
    }

/* NAME(m, n, k, A, lda, packed, bias, C, ldc, mode): one path's
 * product, the driver over blocks of at most R_MAX rows run by RUN_BLOCK,
 * compiled for TARGET (empty: the default target). */
#define SKRNN_DEFINE_PACKED_DRIVER(NAME, TARGET, T, R_MAX, QMAX, RUN_BLOCK)      \
static TARGET void NAME(int m, int n, int k, const T *A, int lda, const T *packed, \
                        const T *bias, T *C, int ldc, int mode)                  \
{                                                                                \
    SKRNN_GEMM_DRIVER(T, R_MAX, QMAX, RUN_BLOCK)                                 \
}

/* A block of any shape the driver asks for, by its (R, Q). */
#define SKRNN_BLOCK_CASE(T, VEC, V, TARGET, R, Q)                                \
    case (R) * 64 + (Q):                                                         \
        skrnn_block_##VEC##_##R##x##Q(cols, k, A, lda, panel, C, ldc, bias, mode); \
        break;

/* The blocks of one path. SHAPES(X, T, VEC, V, TARGET) names the path's
 * block shapes, as X(T, VEC, V, TARGET, R, Q) once per (R, Q); this defines
 * the store and a kernel per shape, and NAME(rows, panels, ...), which runs
 * the block of the driver's (rows, panels). */
#define SKRNN_DEFINE_BLOCKS(NAME, SHAPES, T, VEC, V, TARGET)                     \
SKRNN_DEFINE_STORE(T, VEC, V, TARGET)                                            \
SHAPES(SKRNN_DEFINE_BLOCK, T, VEC, V, TARGET)                                    \
                                                                                 \
static SKRNN_ALWAYS_INLINE TARGET void NAME(                                     \
    int rows, int panels, int cols, int k, const T *A, int lda, const T *panel,  \
    T *C, int ldc, const T *bias, int mode)                                      \
{                                                                                \
    switch (rows * 64 + panels) {                                                \
    SHAPES(SKRNN_BLOCK_CASE, T, VEC, V, TARGET)                                  \
    }                                                                            \
}

#if SKRNN_HAS_ISA_CLONES
/* The AVX-512 path: a panel row (64 bytes) is one vector register, and a
 * block of 8 rows times two panels keeps 16 accumulators: each value of A,
 * broadcast once, feeds two multiply-adds, so that the loads leave both FMA
 * units busy (with one panel, a load per multiply-add, the loads set the
 * pace). The rows left over go in blocks of 4 rows times 4 panels, 2 x 8
 * and 1 x 8, still 8 to 16 independent chains: a product of one row (the
 * prediction of one sequence) runs 8 panels at a time, not a block of 8
 * rows of which 7 would be thrown away. */
typedef float skrnn_vec512_float __attribute__((vector_size(64), aligned(4)));
typedef double skrnn_vec512_double __attribute__((vector_size(64), aligned(8)));

#define SKRNN_QMAX_512(rows) ((rows) == 8 ? 2 : (rows) == 4 ? 4 : 8)

#define SKRNN_SHAPES_512(X, T, VEC, V, TARGET)                                   \
    X(T, VEC, V, TARGET, 8, 2) X(T, VEC, V, TARGET, 8, 1)                        \
    X(T, VEC, V, TARGET, 4, 4) X(T, VEC, V, TARGET, 4, 2) X(T, VEC, V, TARGET, 4, 1) \
    X(T, VEC, V, TARGET, 2, 8) X(T, VEC, V, TARGET, 2, 4) X(T, VEC, V, TARGET, 2, 2) \
    X(T, VEC, V, TARGET, 2, 1) X(T, VEC, V, TARGET, 1, 8) X(T, VEC, V, TARGET, 1, 4) \
    X(T, VEC, V, TARGET, 1, 2) X(T, VEC, V, TARGET, 1, 1)

#define SKRNN_DEFINE_PACKED_GEMM_AVX512(T)                                       \
SKRNN_DEFINE_BLOCKS(skrnn_run_block_512_##T, SKRNN_SHAPES_512, T,                \
                    skrnn_vec512_##T, 1, SKRNN_TARGET_AVX512)                    \
                                                                                 \
SKRNN_DEFINE_PACKED_DRIVER(skrnn_gemm_packed_avx512_##T, SKRNN_TARGET_AVX512, T, 8, \
                           SKRNN_QMAX_512, skrnn_run_block_512_##T)
#define SKRNN_GEMM_AVX512(T) skrnn_gemm_packed_avx512_##T
/* The AVX2 driver, over the 32-byte blocks below. */
#define SKRNN_DEFINE_PACKED_GEMM_AVX2(T)                                         \
SKRNN_DEFINE_PACKED_DRIVER(skrnn_gemm_packed_avx2_##T, SKRNN_TARGET_AVX2, T, 4,  \
                           SKRNN_QMAX_256, skrnn_run_block_##T)
#define SKRNN_GEMM_AVX2(T) skrnn_gemm_packed_avx2_##T
#else
#define SKRNN_DEFINE_PACKED_GEMM_AVX512(T)
#define SKRNN_DEFINE_PACKED_GEMM_AVX2(T)
#define SKRNN_GEMM_AVX512(T) skrnn_gemm_packed_baseline_##T
#define SKRNN_GEMM_AVX2(T) skrnn_gemm_packed_baseline_##T
#endif

/* The AVX2 path: 32-byte vectors that may sit at any element boundary
 * (like __m256_u), two to a panel row, and 8 accumulators a block: 4 rows
 * times one panel, then 2 x 2 and 1 x 4 for the rows left over. */
typedef float skrnn_vec_float __attribute__((vector_size(32), aligned(4)));
typedef double skrnn_vec_double __attribute__((vector_size(32), aligned(8)));

#define SKRNN_QMAX_256(rows) ((rows) == 4 ? 1 : (rows) == 2 ? 2 : 4)

/* The baseline path: 16-byte vectors, the width of SSE2's registers (and
 * NEON's), four to a panel row, and blocks of 2 rows times one panel, then
 * 1 x 2: 8 accumulators and a panel row's 4 vectors within SSE2's 16
 * registers, where 32-byte vectors, each a pair of registers, would not fit
 * and spill to memory at every step. Each value's sum is taken in the same
 * order as on the other paths, without fused multiply-adds. */
typedef float skrnn_vec128_float __attribute__((vector_size(16), aligned(4)));
typedef double skrnn_vec128_double __attribute__((vector_size(16), aligned(8)));

#define SKRNN_QMAX_128(rows) ((rows) == 2 ? 1 : 2)

#define SKRNN_SHAPES_256(X, T, VEC, V, TARGET)                                   \
    X(T, VEC, V, TARGET, 4, 1) X(T, VEC, V, TARGET, 2, 2) X(T, VEC, V, TARGET, 2, 1) \
    X(T, VEC, V, TARGET, 1, 4) X(T, VEC, V, TARGET, 1, 2) X(T, VEC, V, TARGET, 1, 1)

#define SKRNN_SHAPES_128(X, T, VEC, V, TARGET)                                   \
    X(T, VEC, V, TARGET, 2, 1) X(T, VEC, V, TARGET, 1, 2) X(T, VEC, V, TARGET, 1, 1)

#define SKRNN_DEFINE_PACKED_GEMM(T)                                              \
SKRNN_DEFINE_BLOCKS(skrnn_run_block_##T, SKRNN_SHAPES_256, T, skrnn_vec_##T, 2, ) \
SKRNN_DEFINE_BLOCKS(skrnn_run_block_128_##T, SKRNN_SHAPES_128, T,                \
                    skrnn_vec128_##T, 4, )                                       \
                                                                                 \
SKRNN_DEFINE_PACKED_GEMM_AVX512(T)                                               \
SKRNN_DEFINE_PACKED_GEMM_AVX2(T)                                                 \
                                                                                 \
SKRNN_DEFINE_PACKED_DRIVER(skrnn_gemm_packed_baseline_##T, , T, 2, SKRNN_QMAX_128, \
                           skrnn_run_block_128_##T)                              \
                                                                                 \
static void skrnn_gemm_packed_##T(int m, int n, int k, const T *A, int lda,      \
                                  const T *packed, const T *bias, T *C, int ldc, \
                                  int mode)                                      \
{                                                                                \
    switch (skrnn_isa_level()) {                                                 \
    case SKRNN_ISA_AVX512:                                                       \
        SKRNN_GEMM_AVX512(T)(m, n, k, A, lda, packed, bias, C, ldc, mode);       \
        break;                                                                   \
    case SKRNN_ISA_AVX2:                                                         \
        SKRNN_GEMM_AVX2(T)(m, n, k, A, lda, packed, bias, C, ldc, mode);         \
        break;                                                                   \
    default:                                                                     \
        skrnn_gemm_packed_baseline_##T(m, n, k, A, lda, packed, bias, C, ldc,    \
                                       mode);                                    \
    }                                                                            \
}

#else /* no vector extensions: the same sums, element by element */

#define SKRNN_DEFINE_PACKED_GEMM(T)                                              \
static void skrnn_gemm_packed_##T(int m, int n, int k, const T *A, int lda,      \
                                  const T *packed, const T *bias, T *C, int ldc, \
                                  int mode)                                      \
{                                                                                \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    for (int i = 0; i < m; i++) {                                                \
        const T *a_row = A + (size_t)i * lda;                                    \
        for (int j = 0; j < n; j++) {                                            \
            const T *column = packed + (size_t)(j / nr) * nr * k + j % nr;       \
            T *c = C + (size_t)i * ldc + j;                                      \
            T sum = mode == SKRNN_CONTINUE ? *c : 0;                             \
            for (int p = 0; p < k; p++) sum += a_row[p] * column[(size_t)p * nr]; \
            *c = mode == SKRNN_ADD ? *c + sum : bias ? bias[j] + sum : sum;      \
        }                                                                        \
    }                                                                            \
}

#endif

/* skrnn_columns_to_rows_T(m, k, A, lda, rows): rows[i * k + p] = A[p * lda + i]
 * for i < m, p < k: the first m columns of the k rows of A, as m rows (the
 * rows of op(A) when A is transposed). On the AVX2 and AVX-512 paths, tiles
 * of 8 x 8 floats or 4 x 4 doubles are transposed in registers, each row of
 * a tile one 32-byte load and each column one store, where an element at a
 * time would cost a load and a store per value; the ragged edges go element
 * by element. Only data moves: every path gives the same rows. */
/* skrnn_columns_to_rows_scalar_T(i0, i1, p0, p1, k, A, lda, rows): the same
 * for the columns i0 ... i1 of the rows p0 ... p1, element by element, 16
 * columns at a time, whose lines stay in L1 while each row gives them a
 * value. */
#define SKRNN_DEFINE_COLUMNS_TO_ROWS_SCALAR(T)                                   \
static void skrnn_columns_to_rows_scalar_##T(int i0, int i1, int p0, int p1,     \
                                             int k, const T *A, int lda, T *rows) \
{                                                                                \
    for (int j0 = i0; j0 < i1; j0 += 16) {                                       \
        int j1 = i1 - j0 < 16 ? i1 : j0 + 16;                                    \
        for (int p = p0; p < p1; p++) {                                          \
            const T *source = A + (size_t)p * lda;                               \
            for (int i = j0; i < j1; i++)                                        \
                rows[(size_t)i * k + p] = source[i];                             \
        }                                                                        \
    }                                                                            \
}

SKRNN_DEFINE_COLUMNS_TO_ROWS_SCALAR(float)
SKRNN_DEFINE_COLUMNS_TO_ROWS_SCALAR(double)

#if SKRNN_HAS_ISA_CLONES
typedef int skrnn_lanes8_int __attribute__((vector_size(32)));
typedef long long skrnn_lanes4_long __attribute__((vector_size(32)));

/* Columns of an 8 x 8 float tile from its rows: pairs of rows interleaved,
 * then pairs of pairs, then halves. */
static SKRNN_ALWAYS_INLINE void skrnn_transpose_tile_float(skrnn_vec_float r[8])
{
    const skrnn_lanes8_int low = {0, 8, 1, 9, 4, 12, 5, 13},
                           high = {2, 10, 3, 11, 6, 14, 7, 15},
                           low2 = {0, 1, 8, 9, 4, 5, 12, 13},
                           high2 = {2, 3, 10, 11, 6, 7, 14, 15},
                           first = {0, 1, 2, 3, 8, 9, 10, 11},
                           last = {4, 5, 6, 7, 12, 13, 14, 15};
    skrnn_vec_float t[8], u[8];
    for (int q = 0; q < 8; q += 2) {
        t[q] = __builtin_shuffle(r[q], r[q + 1], low);
        t[q + 1] = __builtin_shuffle(r[q], r[q + 1], high);
    }
    for (int q = 0; q < 8; q += 4)
        for (int h = 0; h < 2; h++) {
            u[q + 2 * h] = __builtin_shuffle(t[q + h], t[q + h + 2], low2);
            u[q + 2 * h + 1] = __builtin_shuffle(t[q + h], t[q + h + 2], high2);
        }
    /* u[0 ... 3] hold columns (0, 4), (1, 5), (2, 6), (3, 7) of rows 0-3,
     * u[4 ... 7] the same of rows 4-7 */
    for (int c = 0; c < 4; c++) {
        r[c] = __builtin_shuffle(u[c], u[c + 4], first);
        r[c + 4] = __builtin_shuffle(u[c], u[c + 4], last);
    }
}

/* Columns of a 4 x 4 double tile from its rows. */
static SKRNN_ALWAYS_INLINE void skrnn_transpose_tile_double(skrnn_vec_double r[4])
{
    const skrnn_lanes4_long low = {0, 4, 2, 6}, high = {1, 5, 3, 7},
                            first = {0, 1, 4, 5}, last = {2, 3, 6, 7};
    skrnn_vec_double t[4];
    for (int q = 0; q < 4; q += 2) {
        t[q] = __builtin_shuffle(r[q], r[q + 1], low);
        t[q + 1] = __builtin_shuffle(r[q], r[q + 1], high);
    }
    /* t[0]: columns (0, 2) of rows 0-1, t[1]: columns (1, 3), t[2], t[3]:
     * the same of rows 2-3 */
    for (int c = 0; c < 2; c++) {
        r[c] = __builtin_shuffle(t[c], t[c + 2], first);
        r[c + 2] = __builtin_shuffle(t[c], t[c + 2], last);
    }
}

#define SKRNN_DEFINE_COLUMNS_TO_ROWS(T)                                          \
SKRNN_CLONES(void, skrnn_columns_to_rows_tiles_##T, (                            \
    int m, int k, const T *A, int lda, T *rows),                                 \
    const int L = (int)(sizeof(skrnn_vec_##T) / sizeof(T));                      \
    int m0 = m / L * L, k0 = k / L * L;                                          \
    for (int i = 0; i < m0; i += L)                                              \
        for (int p = 0; p < k0; p += L) {                                        \
            skrnn_vec_##T tile[sizeof(skrnn_vec_##T) / sizeof(T)];               \
            for (int q = 0; q < L; q++)                                          \
                tile[q] = *(const skrnn_vec_##T *)(A + (size_t)(p + q) * lda + i); \
            skrnn_transpose_tile_##T(tile);                                      \
            for (int c = 0; c < L; c++)                                          \
                *(skrnn_vec_##T *)(rows + (size_t)(i + c) * k + p) = tile[c];    \
        }                                                                        \
    skrnn_columns_to_rows_scalar_##T(m0, m, 0, k, k, A, lda, rows);              \
    skrnn_columns_to_rows_scalar_##T(0, m0, k0, k, k, A, lda, rows);)            \
                                                                                 \
static void skrnn_columns_to_rows_##T(int m, int k, const T *A, int lda, T *rows) \
{                                                                                \
    switch (skrnn_isa_level()) {                                                 \
    case SKRNN_ISA_AVX512:                                                       \
        skrnn_columns_to_rows_tiles_##T##_avx512(m, k, A, lda, rows);            \
        break;                                                                   \
    case SKRNN_ISA_AVX2:                                                         \
        skrnn_columns_to_rows_tiles_##T##_avx2(m, k, A, lda, rows);              \
        break;                                                                   \
    default: /* 32-byte shuffles in SSE registers cost more than they save */    \
        skrnn_columns_to_rows_scalar_##T(0, m, 0, k, k, A, lda, rows);           \
    }                                                                            \
}
#else
#define SKRNN_DEFINE_COLUMNS_TO_ROWS(T)                                          \
static void skrnn_columns_to_rows_##T(int m, int k, const T *A, int lda, T *rows) \
{                                                                                \
    skrnn_columns_to_rows_scalar_##T(0, m, 0, k, k, A, lda, rows);               \
}
#endif

SKRNN_DEFINE_COLUMNS_TO_ROWS(float)
SKRNN_DEFINE_COLUMNS_TO_ROWS(double)

/* skrnn_gemm_T(trans_a, trans_b, m, n, k, A, lda, B, ldb, accumulate, C, ldc):
 *     C = op(A) @ op(B), or C += op(A) @ op(B) if ``accumulate``,
 * for row-major A, B and C (row strides lda, ldb, ldc), op(A) (m x k) and
 * op(B) (k x n): the products that are not per-step, the weight gradients
 * above all (A^T B over all the rows of a chunk), on the packed
 * micro-kernels, so that no BLAS is called and the sums are the same on the
 * AVX2 and AVX-512 paths.
 *
 * k goes by in blocks of SKRNN_GEMM_KC, and op(A)'s columns of each block
 * are copied into rows if A is transposed. Within a block, op(B) is packed
 * SKRNN_GEMM_NC_PANELS panels at a time, and all the rows of op(A) pass
 * over each slice while it is in L1, before the next is packed: packed
 * whole, a block of a wide op(B) would leave L1 and L2 before the rows came
 * back to it. Each block's sums are added to C in order, so the slices
 * change no sum. The work memory comes from malloc, freed before
 * returning; if none is to be had, the same product runs element by
 * element. */
#define SKRNN_GEMM_KC 256
#define SKRNN_GEMM_NC_PANELS 4

#define SKRNN_DEFINE_GEMM(T)                                                     \
static SKRNN_MAYBE_UNUSED void skrnn_gemm_##T(                                   \
    int trans_a, int trans_b, int m, int n, int k, const T *A, int lda,          \
    const T *B, int ldb, int accumulate, T *C, int ldc)                          \
{                                                                                \
    const int nr = SKRNN_PANEL_WIDTH(T);                                         \
    if (m <= 0 || n <= 0)                                                        \
        return;                                                                  \
    if (k <= 0) {                                                                \
        if (!accumulate)                                                         \
            for (int i = 0; i < m; i++)                                          \
                memset(C + (size_t)i * ldc, 0, (size_t)n * sizeof(T));           \
        return;                                                                  \
    }                                                                            \
    int kc = k > SKRNN_GEMM_KC ? SKRNN_GEMM_KC : k;                              \
    int nc = n < SKRNN_GEMM_NC_PANELS * nr ? n : SKRNN_GEMM_NC_PANELS * nr;      \
    size_t packed_size = (size_t)skrnn_packed_size(kc, nc, nr);                  \
    T *packed = (T *)skrnn_packed_alloc(                                         \
        (packed_size + (trans_a ? (size_t)m * kc : 0)) * sizeof(T));             \
    T *a_rows = packed ? packed + packed_size : NULL;                            \
    for (int k0 = 0; k0 < k; k0 += kc) {                                         \
        int rows = k - k0 < kc ? k - k0 : kc;                                    \
        const T *b = trans_b ? B + k0 : B + (size_t)k0 * ldb;                    \
        if (packed == NULL) {                                                    \
            for (int i = 0; i < m; i++)                                          \
                for (int j = 0; j < n; j++) {                                    \
                    T sum = 0;                                                   \
                    for (int p = k0; p < k0 + rows; p++)                         \
                        sum += (trans_a ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p]) \
                             * (trans_b ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j]); \
                    T *c = C + (size_t)i * ldc + j;                              \
                    *c = accumulate || k0 > 0 ? *c + sum : sum;                  \
                }                                                                \
            continue;                                                            \
        }                                                                        \
        const T *a = A + k0;                                                     \
        int ld = lda;                                                            \
        if (trans_a) { /* op(A)'s columns k0 ... k0 + rows, as rows */           \
            skrnn_columns_to_rows_##T(m, rows, A + (size_t)k0 * lda, lda, a_rows); \
            a = a_rows;                                                          \
            ld = rows;                                                           \
        }                                                                        \
        for (int j0 = 0; j0 < n; j0 += nc) {                                     \
            int cols = n - j0 < nc ? n - j0 : nc;                                \
            skrnn_pack_##T(rows, cols, trans_b ? b + (size_t)j0 * ldb : b + j0,  \
                           ldb, trans_b, packed);                                \
            skrnn_gemm_packed_##T(m, cols, rows, a, ld, packed, NULL, C + j0,    \
                                  ldc, accumulate || k0 > 0);                    \
        }                                                                        \
    }                                                                            \
    skrnn_packed_free(packed);                                                   \
}

SKRNN_DEFINE_PACK(float)
SKRNN_DEFINE_PACK(double)
SKRNN_DEFINE_PACK_STACKED(float)
SKRNN_DEFINE_PACK_STACKED(double)
SKRNN_DEFINE_PACKED_GEMM(float)
SKRNN_DEFINE_PACKED_GEMM(double)
SKRNN_DEFINE_GEMM(float)
SKRNN_DEFINE_GEMM(double)

#endif

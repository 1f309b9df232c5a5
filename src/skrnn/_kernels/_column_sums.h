/* Column sums of a row-major block: the bias gradients, summed over the
 * rows of a chunk's BPTT (a few hundred to a few thousand), and a layer's
 * gradient, summed over the chunks' buffers (tens of thousands of columns).
 *
 * skrnn_column_sums_T(a, n_rows, n_cols, lda, sums):
 *     sums[j] = 0 + a[0, j] + a[1, j] + ... + a[n_rows - 1, j], in that order.
 *
 * Added a row at a time into ``sums`` itself, each row's adds would wait on
 * the stores of the row before; so SKRNN_SUM_BLOCK(T) columns are summed at
 * once, in accumulators the compiler keeps in vector registers over all the
 * rows, and then stored. The columns left after the last whole block are
 * added into ``sums`` a row at a time. Each column's sum is the same chain
 * of adds in row order either way, so every path gives the same bits.
 * Compiled per instruction set (_isa.h).
 */
#ifndef SKRNN_COLUMN_SUMS_H
#define SKRNN_COLUMN_SUMS_H

#include <string.h>

#include "_isa.h"

/* Columns per block: 256 bytes of them (64 floats, 32 doubles): four
 * 64-byte accumulators on the AVX-512 path and eight on AVX2, in registers;
 * sixteen on the baseline, whose sixteen SSE registers hold all but one
 * beside the row's values. */
#define SKRNN_SUM_BLOCK(T) ((int)(256 / sizeof(T)))

#define SKRNN_DEFINE_COLUMN_SUMS(T)                                              \
SKRNN_MULTIVERSIONED_VOID(skrnn_column_sums_##T,                                 \
    (const T *a, Py_ssize_t n_rows, Py_ssize_t n_cols, Py_ssize_t lda, T *sums), \
    (a, n_rows, n_cols, lda, sums),                                              \
    Py_ssize_t j0 = 0;                                                           \
    for (; j0 + SKRNN_SUM_BLOCK(T) <= n_cols; j0 += SKRNN_SUM_BLOCK(T)) {        \
        T acc[SKRNN_SUM_BLOCK(T)];                                               \
        for (int c = 0; c < SKRNN_SUM_BLOCK(T); c++)                             \
            acc[c] = 0;                                                          \
        for (Py_ssize_t i = 0; i < n_rows; i++) {                                \
            const T *row = a + i * lda + j0;                                     \
            _Pragma("GCC unroll 64")                                             \
            for (int c = 0; c < SKRNN_SUM_BLOCK(T); c++)                         \
                acc[c] += row[c];                                                \
        }                                                                        \
        memcpy(sums + j0, acc, sizeof acc);                                      \
    }                                                                            \
    for (Py_ssize_t j = j0; j < n_cols; j++)                                     \
        sums[j] = 0;                                                             \
    for (Py_ssize_t i = 0; i < n_rows; i++)                                      \
        for (Py_ssize_t j = j0; j < n_cols; j++)                                 \
            sums[j] += a[i * lda + j];)

SKRNN_DEFINE_COLUMN_SUMS(float)
SKRNN_DEFINE_COLUMN_SUMS(double)

#endif

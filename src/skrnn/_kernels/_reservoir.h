/* The reservoir's per-step loops that are not products on a packed weight:
 * the leaky-integrator update and the sparse recurrent product.
 *
 * skrnn_leaky_update_T(state, pre, n, leak, fresh):
 *     state = (1 - leak) * state + leak * tanh(pre)   (fresh: state was 0)
 * over n contiguous values, tanh taken in place in ``pre`` first.
 *
 * skrnn_sparse_accumulate_T(state, n_units, col_ptr, row_index, values, pre):
 *     pre[j] += sum over k in [col_ptr[j], col_ptr[j+1]) of
 *               state[row_index[k]] * values[k]          for j < n_units
 * that is, pre += state @ W for one row, with W stored column by column
 * (compressed sparse columns). Each column's terms are added in a fixed
 * order (four interleaved partial sums over the stored entries), so a row's
 * result never depends on the other rows of its block or on the thread
 * that computes it.
 *
 * With GCC on x86-64 both are compiled for each instruction-set level
 * (_isa.h).
 */
#ifndef SKRNN_RESERVOIR_H
#define SKRNN_RESERVOIR_H

#include "_tanh.h"

#define SKRNN_DEFINE_RESERVOIR_LOOPS(T, TANH_ONE)                                \
SKRNN_MULTIVERSIONED_VOID(skrnn_leaky_update_##T,                                \
    (T *state, T *pre, Py_ssize_t n, T leak, int fresh),                         \
    (state, pre, n, leak, fresh),                                                \
    const T keep = (T)1 - leak;                                                  \
    for (Py_ssize_t j = 0; j < n; j++) {                                         \
        T activated = TANH_ONE(pre[j]);                                          \
        state[j] = fresh ? leak * activated : keep * state[j] + leak * activated; \
    })                                                                           \
                                                                                 \
SKRNN_MULTIVERSIONED_VOID(skrnn_sparse_accumulate_##T,                           \
    (const T *state, int n_units, const int *col_ptr, const int *row_index,      \
     const T *values, T *pre),                                                   \
    (state, n_units, col_ptr, row_index, values, pre),                           \
    for (int j = 0; j < n_units; j++) {                                          \
        /* Four sums, so that four multiply-adds are in flight at once         \
         * rather than each waiting for the one before. */                     \
        T s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                        \
        int k = col_ptr[j];                                                      \
        const int end = col_ptr[j + 1];                                          \
        for (; k + 4 <= end; k += 4) {                                           \
            s0 += state[row_index[k]] * values[k];                               \
            s1 += state[row_index[k + 1]] * values[k + 1];                       \
            s2 += state[row_index[k + 2]] * values[k + 2];                       \
            s3 += state[row_index[k + 3]] * values[k + 3];                       \
        }                                                                        \
        for (; k < end; k++)                                                     \
            s0 += state[row_index[k]] * values[k];                               \
        pre[j] += (s0 + s1) + (s2 + s3);                                         \
    })

SKRNN_DEFINE_RESERVOIR_LOOPS(float, skrnn_tanhf_one)
SKRNN_DEFINE_RESERVOIR_LOOPS(double, skrnn_tanh_one)

#endif

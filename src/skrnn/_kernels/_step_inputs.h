/* Prediction's input rows, gathered a step at a time.
 *
 * A prediction pass reads the user's X where it is: at step t, sorted
 * sequence p's input is row ``input_start[p] + t * input_step`` of X. Each
 * step copies the running sequences' rows into a small block (``inputs``,
 * running x n_in), which its input projection then reads from L1 cache:
 * rows a page apart, one per sequence, fall in the same L1 set, and read in
 * place would evict each other while the product passes over them.
 *
 * The copy also does two other jobs, in the same pass over each row:
 *
 * - it checks the values for NaN and infinity, so that ``predict`` need not
 *   make a pass of its own over X (from memory) for ``check_array``'s finite
 *   check. Infinities and NaNs, and only they, have every exponent bit set;
 *   tested on the integer bits, the check vectorises beside the copy, where
 *   a separate scalar pass over the block cost 4% of a hidden-32 prediction;
 * - it asks for the same sequence's row SKRNN_PREFETCH_STEPS steps ahead, which
 *   then arrives from memory while the steps in between compute. One step
 *   ahead (a few microseconds) would hide memory's latency, but from a cold
 *   cache 8 steps took 10% less time than 1: most lines requested one step
 *   ahead share an L1 set with the rows being read and are evicted first.
 *
 * With GCC on x86-64 the loop is compiled for each instruction-set level
 * (_isa.h).
 */
#ifndef SKRNN_STEP_INPUTS_H
#define SKRNN_STEP_INPUTS_H

#include <stdint.h>
#include <string.h>

#include "_isa.h" /* SKRNN_MULTIVERSIONED */

#define SKRNN_PREFETCH_STEPS 8

#if defined(__GNUC__)
#define SKRNN_PREFETCH(address) __builtin_prefetch(address)
#else
#define SKRNN_PREFETCH(address) ((void)0)
#endif

/* skrnn_gather_step_T(X, input_start, input_step, seq_len, t, running, n_in,
 *                     inputs, ld):
 *     inputs[p * ld : p * ld + n_in] = X[input_start[p] + t * input_step]
 * for p < running; returns whether every value copied is finite. */
#define SKRNN_DEFINE_GATHER_STEP(T, BITS, EXPONENT)                             \
SKRNN_MULTIVERSIONED(int, skrnn_gather_step_##T, (                               \
    const T *X, const Py_ssize_t *input_start, Py_ssize_t input_step,            \
    const Py_ssize_t *seq_len, Py_ssize_t t, Py_ssize_t running, int n_in,       \
    T *inputs, Py_ssize_t ld),                                                   \
    (X, input_start, input_step, seq_len, t, running, n_in, inputs, ld),         \
    BITS nonfinite = 0;                                                          \
    for (Py_ssize_t p = 0; p < running; p++) {                                   \
        const T *row = X + (input_start[p] + t * input_step) * n_in;            \
        T *out = inputs + p * ld;                                                \
        for (int j = 0; j < n_in; j++) {                                         \
            BITS bits;                                                           \
            memcpy(&bits, &row[j], sizeof bits);                                 \
            nonfinite |= (bits & (EXPONENT)) == (EXPONENT);                      \
            out[j] = row[j];                                                     \
        }                                                                        \
        if (t + SKRNN_PREFETCH_STEPS < seq_len[p])                               \
            SKRNN_PREFETCH(row + SKRNN_PREFETCH_STEPS * input_step * n_in);      \
    }                                                                            \
    return !nonfinite;)

SKRNN_DEFINE_GATHER_STEP(float, uint32_t, 0x7f800000u)
SKRNN_DEFINE_GATHER_STEP(double, uint64_t, 0x7ff0000000000000u)

#endif

/* The element-wise part of one GRU forward step, over every row of a slab,
 * in C for the reason given in _lstm_step.h: with ``restrict`` pointers the
 * loops are vectorised (Cython's loops over the same arrays were not).
 *
 * For row p, with a = [a_r, a_z, a_n]: the pre-activations x W_ih + b,
 * to which the caller has already added h_{t-1} W_hr and h_{t-1} W_hz (but
 * not h_{t-1} W_hn, which r multiplies), and hn = h_{t-1} W_hn + b_hn:
 *
 *     r, z = sigmoid(a_r, a_z)
 *     n    = tanh(a_n + r hn)
 *     h_t  = n + z (h_{t-1} - n)
 *
 * with the sigmoid as 0.5 + 0.5 tanh(a / 2): multiplying by 0.5 is exact, so
 * it is as accurate as the tanh, to a few ulp of 1.
 */
#ifndef SKRNN_GRU_STEP_H
#define SKRNN_GRU_STEP_H

#include "_lstm_step.h" /* SKRNN_RESTRICT, SKRNN_MULTIVERSIONED_VOID, tanh */

/* skrnn_gru_forward_step_T(running, hidden, gates, HN, H_prev,
 *                          h_prev_stride, H, h_stride):
 * gates: running x 3H (row stride 3H), as above in, r, z, n out; HN:
 * running x H; H_prev: rows of stride h_prev_stride (0: h0 for all); H:
 * running x H, row stride h_stride, written. */
#define SKRNN_DEFINE_GRU_FORWARD_STEP(T_, TANH_ONE)                              \
SKRNN_MULTIVERSIONED_VOID(skrnn_gru_forward_step_##T_, (                         \
    Py_ssize_t running, Py_ssize_t hidden, T_ *SKRNN_RESTRICT gates,             \
    const T_ *SKRNN_RESTRICT HN, const T_ *SKRNN_RESTRICT H_prev,                \
    Py_ssize_t h_prev_stride, T_ *SKRNN_RESTRICT H, Py_ssize_t h_stride),        \
    (running, hidden, gates, HN, H_prev, h_prev_stride, H, h_stride),            \
    const T_ half = (T_)0.5;                                                     \
    for (Py_ssize_t p = 0; p < running; p++) {                                   \
        T_ *SKRNN_RESTRICT a = gates + p * 3 * hidden;                           \
        const T_ *SKRNN_RESTRICT h_prev = H_prev + p * h_prev_stride;            \
        const T_ *SKRNN_RESTRICT hn = HN + p * hidden;                           \
        T_ *SKRNN_RESTRICT h = H + p * h_stride;                                 \
        SKRNN_TANH_LOOP(k, 2 * hidden,                         /* r, z */        \
            a[k] = half + half * TANH_ONE(half * a[k]));                         \
        SKRNN_TANH_LOOP(k, hidden, {                           /* n, h */        \
            T_ n = TANH_ONE(a[2 * hidden + k] + a[k] * hn[k]);                   \
            a[2 * hidden + k] = n;                                               \
            h[k] = n + a[hidden + k] * (h_prev[k] - n);                          \
        });                                                                      \
    })

SKRNN_DEFINE_GRU_FORWARD_STEP(float, skrnn_tanhf_one)
SKRNN_DEFINE_GRU_FORWARD_STEP(double, skrnn_tanh_one)

#endif

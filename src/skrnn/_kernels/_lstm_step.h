/* The element-wise part of one LSTM step, forward and backward, over every
 * row of a slab.
 *
 * Written in C rather than as Cython loops in _lstm.pyx because of
 * aliasing: there, a loop reading several arrays and writing others through
 * plain pointers is compiled element by element, GCC being unable to prove
 * that they do not overlap. Here the pointers are ``restrict`` (the caller's
 * arrays never overlap, except where said), so the loops are vectorised,
 * and with GCC on x86-64 compiled for each instruction-set level, the
 * widest the CPU has chosen at run time (_isa.h).
 *
 * Forward, for row p with pre-activations a = [a_i, a_f, a_g, a_o]:
 *
 *     i, f, o = sigmoid(a_i, a_f, a_o)    g = tanh(a_g)
 *     c_t = f c_{t-1} + i g               h_t = o tanh(c_t)
 *
 * with the sigmoid as 0.5 + 0.5 tanh(a / 2): multiplying by 0.5 is exact, so
 * it is as accurate as the tanh, to a few ulp of 1.
 *
 * Backward:
 *
 * For row p and unit k, with gates i, f, g, o (A's four blocks of H
 * columns), tc = tanh(c_t), the gradient dh = dH + G with respect to h_t and
 * Gc the gradient with respect to c_t carried back from step t + 1:
 *
 *     dc     = dh o (1 - tc^2) + Gc
 *     D_i    = dc g i (1 - i)          D_f = dc c_{t-1} f (1 - f)
 *     D_g    = dc i (1 - g^2)          D_o = dh tc o (1 - o)
 *     Gc     = dc f                    (carried on to step t - 1)
 */
#ifndef SKRNN_LSTM_STEP_H
#define SKRNN_LSTM_STEP_H

#include "_tanh.h" /* SKRNN_MULTIVERSIONED_VOID, skrnn_tanh_one, skrnn_tanhf_one */

#if defined(__GNUC__) || defined(_MSC_VER)
#define SKRNN_RESTRICT __restrict
#else
#define SKRNN_RESTRICT
#endif

/* For a loop whose iteration k reads and writes index k of arrays that may
 * be the same array (never offset): no dependence between iterations. */
#if defined(__GNUC__) && !defined(__clang__)
#define SKRNN_NO_LOOP_DEPENDENCE _Pragma("GCC ivdep")
#else
#define SKRNN_NO_LOOP_DEPENDENCE
#endif

/* skrnn_lstm_forward_step_T(running, hidden, gates, C_prev, c_prev_stride,
 *                           cells, H, h_stride):
 * gates: running x 4H (row stride 4H), pre-activations in, activations out;
 * C_prev: running rows of stride c_prev_stride (0: c0 for all), which may
 * be ``cells`` itself (a prediction pass updates c in place); cells:
 * running x H, written; H: running x H, row stride h_stride, written. */
#define SKRNN_DEFINE_LSTM_FORWARD_STEP(T_, TANH_ONE)                             \
SKRNN_MULTIVERSIONED_VOID(skrnn_lstm_forward_step_##T_, (                        \
    Py_ssize_t running, Py_ssize_t hidden, T_ *SKRNN_RESTRICT gates,             \
    const T_ *C_prev, Py_ssize_t c_prev_stride, T_ *cells,                       \
    T_ *SKRNN_RESTRICT H, Py_ssize_t h_stride),                                  \
    (running, hidden, gates, C_prev, c_prev_stride, cells, H, h_stride),         \
    const T_ half = (T_)0.5;                                                     \
    for (Py_ssize_t p = 0; p < running; p++) {                                   \
        T_ *SKRNN_RESTRICT a = gates + p * 4 * hidden;                           \
        T_ *SKRNN_RESTRICT g = a + 2 * hidden;                                   \
        T_ *SKRNN_RESTRICT o = a + 3 * hidden;                                   \
        const T_ *c_prev = C_prev + p * c_prev_stride;                           \
        T_ *c = cells + p * hidden;                                              \
        T_ *SKRNN_RESTRICT h = H + p * h_stride;                                 \
        SKRNN_TANH_LOOP(k, 2 * hidden,                         /* i, f */        \
            a[k] = half + half * TANH_ONE(half * a[k]));                         \
        SKRNN_TANH_LOOP(k, hidden,                             /* g */           \
            g[k] = TANH_ONE(g[k]));                                              \
        SKRNN_TANH_LOOP(k, hidden,                             /* o */           \
            o[k] = half + half * TANH_ONE(half * o[k]));                         \
        SKRNN_NO_LOOP_DEPENDENCE                                                 \
        for (Py_ssize_t k = 0; k < hidden; k++)                                  \
            c[k] = a[hidden + k] * c_prev[k] + a[k] * g[k];                      \
        SKRNN_TANH_LOOP(k, hidden,                                               \
            h[k] = TANH_ONE(c[k]) * o[k]);                                       \
    })

SKRNN_DEFINE_LSTM_FORWARD_STEP(float, skrnn_tanhf_one)
SKRNN_DEFINE_LSTM_FORWARD_STEP(double, skrnn_tanh_one)

/* skrnn_lstm_backward_step_T(running, hidden, A, C_prev, c_prev_stride, T,
 *                            dH, G, Gc, D):
 * A, D: running x 4H (row stride 4H); T, dH, G, Gc: running x H; C_prev:
 * running rows of stride c_prev_stride (0: the same row, c0, for all). */
#define SKRNN_DEFINE_LSTM_BACKWARD_STEP(T_)                                      \
SKRNN_MULTIVERSIONED_VOID(skrnn_lstm_backward_step_##T_, (                       \
    Py_ssize_t running, Py_ssize_t hidden, const T_ *SKRNN_RESTRICT A,           \
    const T_ *SKRNN_RESTRICT C_prev, Py_ssize_t c_prev_stride,                   \
    const T_ *SKRNN_RESTRICT T, const T_ *SKRNN_RESTRICT dH,                     \
    const T_ *SKRNN_RESTRICT G, T_ *SKRNN_RESTRICT Gc, T_ *SKRNN_RESTRICT D),    \
    (running, hidden, A, C_prev, c_prev_stride, T, dH, G, Gc, D),                \
    const T_ one = 1;                                                            \
    for (Py_ssize_t p = 0; p < running; p++) {                                   \
        const T_ *SKRNN_RESTRICT a = A + p * 4 * hidden;                         \
        const T_ *SKRNN_RESTRICT c_prev = C_prev + p * c_prev_stride;            \
        const T_ *SKRNN_RESTRICT tc = T + p * hidden;                            \
        const T_ *SKRNN_RESTRICT dh_in = dH + p * hidden;                        \
        const T_ *SKRNN_RESTRICT g_in = G + p * hidden;                          \
        T_ *SKRNN_RESTRICT gc = Gc + p * hidden;                                 \
        T_ *SKRNN_RESTRICT d = D + p * 4 * hidden;                               \
        for (Py_ssize_t k = 0; k < hidden; k++) {                                \
            T_ i = a[k], f = a[hidden + k];                                      \
            T_ g = a[2 * hidden + k], o = a[3 * hidden + k];                     \
            T_ dh = dh_in[k] + g_in[k];                                          \
            T_ dc = dh * o * (one - tc[k] * tc[k]) + gc[k];                      \
            d[k] = dc * g * i * (one - i);                                       \
            d[hidden + k] = dc * c_prev[k] * f * (one - f);                      \
            d[2 * hidden + k] = dc * i * (one - g * g);                          \
            d[3 * hidden + k] = dh * tc[k] * o * (one - o);                      \
            gc[k] = dc * f;                                                      \
        }                                                                        \
    })

SKRNN_DEFINE_LSTM_BACKWARD_STEP(float)
SKRNN_DEFINE_LSTM_BACKWARD_STEP(double)

#endif

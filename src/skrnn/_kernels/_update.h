/* Adam's update of the flat parameter vector in one pass (_update.pyx).
 *
 * Each value goes through NumPy's operations for the same update, in the
 * same order and precision: beta_1, beta_2, epsilon and the 1 - beta's
 * arrive rounded to the parameters' dtype (as NumPy rounds a Python float
 * in an operation on a float32 array), the step's rate ``lr`` (a NumPy
 * float64, the bias correction folded in) multiplies in double precision,
 * every operation is its own statement, and no multiply-add is fused (the
 * pragmas below keep GCC from contracting them where the target has FMA).
 * So the update gives the bits of the array operations it replaces, on
 * every instruction-set path, in one pass over the values instead of a
 * dozen over arrays of the parameters' size.
 *
 * With the moments m and v of the previous step and the gradient g:
 *
 *     m' = beta_1 m + (1 - beta_1) g       v' = beta_2 v + (1 - beta_2) g^2
 *     new = params - lr m' / (sqrt(v') + epsilon)
 */
#ifndef SKRNN_UPDATE_H
#define SKRNN_UPDATE_H

#include <math.h>
#include <stddef.h>

#include "_isa.h" /* SKRNN_MULTIVERSIONED_VOID */

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__GNUC__) || defined(_MSC_VER)
#define SKRNN_UPDATE_RESTRICT __restrict
#else
#define SKRNN_UPDATE_RESTRICT
#endif

/* skrnn_adam_update_T(n, params, grad, m, v, beta_1, one_minus_beta_1, beta_2,
 *                     one_minus_beta_2, epsilon, lr, m_out, v_out, out):
 * the new moments into m_out and v_out, the new parameters into out (none
 * of them overlapping the inputs); *all_finite: whether every new moment is
 * finite. */
#define SKRNN_DEFINE_ADAM_UPDATE(T, SQRT)                                        \
SKRNN_MULTIVERSIONED_VOID(skrnn_adam_update_##T, (                               \
    Py_ssize_t n, const T *SKRNN_UPDATE_RESTRICT params,                         \
    const T *SKRNN_UPDATE_RESTRICT grad, const T *SKRNN_UPDATE_RESTRICT m,       \
    const T *SKRNN_UPDATE_RESTRICT v, T beta_1, T one_minus_beta_1, T beta_2,    \
    T one_minus_beta_2, T epsilon, double lr, T *SKRNN_UPDATE_RESTRICT m_out,    \
    T *SKRNN_UPDATE_RESTRICT v_out, T *SKRNN_UPDATE_RESTRICT out, int *all_finite), \
    (n, params, grad, m, v, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2,  \
     epsilon, lr, m_out, v_out, out, all_finite),                                \
    int finite = 1;                                                              \
    for (Py_ssize_t i = 0; i < n; i++) {                                         \
        T g = grad[i];                                                           \
        T first = m[i] * beta_1;                                                 \
        T first_step = g * one_minus_beta_1;                                     \
        first = first + first_step;                                              \
        T second = v[i] * beta_2;                                                \
        T square = g * g;                                                        \
        square = square * one_minus_beta_2;                                      \
        second = second + square;                                                \
        T denominator = SQRT(second);                                            \
        denominator = denominator + epsilon;                                     \
        T step = first / denominator;                                            \
        step = (T)((double)step * lr);                                           \
        m_out[i] = first;                                                        \
        v_out[i] = second;                                                       \
        out[i] = params[i] - step;                                               \
        /* (x - x is 0 for a finite x, NaN otherwise: a test that vectorises.) */ \
        finite &= (first - first == 0) & (second - second == 0);                 \
    }                                                                            \
    *all_finite = finite;)

SKRNN_DEFINE_ADAM_UPDATE(float, sqrtf)
SKRNN_DEFINE_ADAM_UPDATE(double, sqrt)

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#endif

/* tanh over an array, in place, for float and double: branch-free so that
 * the compiler vectorises the loop (libm's tanh is a scalar call costing
 * about 20 ns, which dominated the forward pass of small networks). The
 * same core gives exp over the non-positive arguments of a softmax, where
 * libm's exp, called once per class of every output row, was as costly.
 *
 * Method. For a = |x| and t = expm1(-2a), which lies in (-1, 0],
 *     tanh(a) = (1 - e^{-2a}) / (1 + e^{-2a}) = -t / (2 + t),
 * and tanh(x) = copysign(tanh(a), x). Using expm1 rather than exp avoids the
 * cancellation of 1 - e^{-2a} for small a, so the relative error stays at a
 * few ulp over the whole range.
 *
 * expm1(y), y <= 0: write y = n ln2 + r with n = round(y / ln2) and
 * |r| <= ln2 / 2. For double, ln2 is split in a high part with trailing
 * zero bits, so that n * LN2_HI is exact, and a low part (Cody-Waite). For
 * float's tanh one multiply-add with ln2 rounded to float is enough: it
 * shifts r by n times that rounding (at most 6e-8, for n = -29, where tanh
 * is 1 to float precision), which leaves the maximum error below unchanged.
 * The float exp, whose n reaches -125, splits ln2 as double does: a CPU
 * without FMA rounds n * ln2 before the subtraction, which for the one-step
 * reduction put the exp 70 ulp off near -80. Then
 *     expm1(y) = 2^n expm1(r) + (2^n - 1),
 * with expm1(r) = r + r^2 P(r) and 2^n written directly into the exponent
 * bits. n is rounded with the "shifter" trick: adding 1.5 * 2^52 (2^23 for
 * float) rounds to an integer that then sits in the low mantissa bits.
 *
 * P, of degree 10 (float: 4), is fitted to (expm1(r) - r) / r^2 over
 * |r| <= ln2 / 2 for the smallest largest error: interpolation at
 * Chebyshev points (double: below 1e-18 of expm1) or a minimax fit (float:
 * 1.3e-8). That makes expm1's polynomial of degree 12 (float: 6), where
 * Taylor's series needs 14 (float: 8) for the same accuracy. It is
 * evaluated in Horner form, one multiply-add per term. tanh's time is that
 * of the multiply-add units (its other operations run beside them), so
 * each term saved is time saved.
 *
 * y is clamped at -44 (float: -20), beyond which tanh(a) rounds to 1 anyway;
 * this keeps 2^n a normal number. NaN propagates; +-inf gives +-1.
 * Accuracy: at most 3 ulp of the result for double (2.54 ulp against
 * tanhl over 98 million samples) and 2.5 ulp for float (2.498 against tanh
 * in double, over every float in a sweep of all of them, before and after
 * the polynomials above were fitted); tests/test_gradients.py holds a
 * sample of 100,000 values from 1e-30 to 40 to that.
 *
 * Vectorising needs -fno-trapping-math (set in setup.py), without which GCC
 * will not if-convert the clamp. With GCC on x86-64 the array loops are
 * also compiled for AVX2 with FMA and for AVX-512, and the widest the CPU has
 * is chosen at run time (_isa.h): the AVX2 version is about 3x faster than
 * the baseline SSE2 one.
 */
#ifndef SKRNN_TANH_H
#define SKRNN_TANH_H

/* The scalar functions are SKRNN_ALWAYS_INLINE: inlined into each
 * (multiversioned) array loop, or the loop would call them element by
 * element and could not vectorise. */
#include "_isa.h"

#include <stdint.h>
#include <string.h>
#include <math.h>

/* The shared core of tanh and exp: for y <= 0 (and at least the smallest
 * argument whose 2^n below is a normal number), returns p = expm1(r) and sets
 * *scale = 2^n, with y = n ln2 + r as above, so that
 *     expm1(y) = scale * p + (scale - 1)   and   exp(y) = scale * p + scale. */
static SKRNN_ALWAYS_INLINE double skrnn_expm1_reduced(double y, double *scale)
{
    const double LOG2E = 1.4426950408889634074;
    const double LN2_HI = 6.93147180369123816490e-01; /* 0x3fe62e42fee00000 */
    const double LN2_LO = 1.90821492927058770002e-10;
    const double SHIFTER = 6755399441055744.0;        /* 1.5 * 2^52 */
    double k = y * LOG2E + SHIFTER;
    double n = k - SHIFTER;
    double r = (y - n * LN2_HI) - n * LN2_LO;
    double p = 2.09147553258932e-09;
    p = 2.5105312729622103e-08 + r * p;
    p = 2.755727347871858e-07 + r * p;
    p = 2.755725517000089e-06 + r * p;
    p = 2.480158732567746e-05 + r * p;
    p = 0.0001984126987500228 + r * p;
    p = 0.0013888888888883711 + r * p;
    p = 0.008333333333326084 + r * p;
    p = 0.04166666666666667 + r * p;
    p = 0.1666666666666667 + r * p;
    p = 0.5 + r * p;
    p = r + (r * r) * p;
    int64_t k_bits, shifter_bits;
    memcpy(&k_bits, &k, sizeof k);
    memcpy(&shifter_bits, &SHIFTER, sizeof SHIFTER);
    int64_t scale_bits = (k_bits - shifter_bits + 1023) << 52; /* 2^n */
    memcpy(scale, &scale_bits, sizeof scale_bits);
    return p;
}

/* ``split_ln2`` (a constant at every call): reduce with ln2 in two parts. */
static SKRNN_ALWAYS_INLINE float skrnn_expm1f_reduced(float y, float *scale,
                                                      int split_ln2)
{
    const float LOG2E = 1.44269504088896341f;
    const float LN2 = 0.693147180559945309f;
    const float LN2_HI = 0.693145751953125f;          /* 0x3f317200 */
    const float LN2_LO = 1.42860677e-06f;
    const float SHIFTER = 12582912.0f;                /* 1.5 * 2^23 */
    float k = y * LOG2E + SHIFTER;
    float n = k - SHIFTER;
    float r = split_ln2 ? (y - n * LN2_HI) - n * LN2_LO : y - n * LN2;
    float p = 0.0013883052418209756f;
    p = 0.008366554372890037f + r * p;
    p = 0.04166719163460304f + r * p;
    p = 0.16666543354408953f + r * p;
    p = 0.49999998182303745f + r * p;
    p = r + (r * r) * p;
    int32_t k_bits, shifter_bits;
    memcpy(&k_bits, &k, sizeof k);
    memcpy(&shifter_bits, &SHIFTER, sizeof SHIFTER);
    int32_t scale_bits = (k_bits - shifter_bits + 127) << 23; /* 2^n */
    memcpy(scale, &scale_bits, sizeof scale_bits);
    return p;
}

static SKRNN_ALWAYS_INLINE double skrnn_tanh_one(double x)
{
    double a = fabs(x);
    double y = -(a + a);  /* an addition, which leaves the FMA units free */
    y = y < -44.0 ? -44.0 : y;
    double scale;
    double p = skrnn_expm1_reduced(y, &scale);
    double t = scale * p + (scale - 1.0);
    return copysign(-t / (2.0 + t), x);
}

static SKRNN_ALWAYS_INLINE float skrnn_tanhf_one(float x)
{
    float a = fabsf(x);
    float y = -(a + a);
    y = y < -20.0f ? -20.0f : y;
    float scale;
    float p = skrnn_expm1f_reduced(y, &scale, 0);
    float t = scale * p + (scale - 1.0f);
    return copysignf(-t / (2.0f + t), x);
}

/* exp(y) for y <= 0, as the softmax of the output kernel needs it (the
 * exponent of each output less the row's largest). Clamped at -708 (float:
 * -87), where 2^n is still a normal number: a smaller y gives exp(-708)
 * (float: exp(-87)), below 1e-307 (1e-37), instead of a subnormal or 0.
 * A softmax probability is within 2.2 ulp (double) and 2.5 ulp (float) of
 * the exact one, with or without FMA (tests/test_output_loss.py). */
static SKRNN_ALWAYS_INLINE double skrnn_exp_nonpositive_one(double y)
{
    y = y < -708.0 ? -708.0 : y;
    double scale;
    double p = skrnn_expm1_reduced(y, &scale);
    return scale * p + scale;
}

static SKRNN_ALWAYS_INLINE float skrnn_expf_nonpositive_one(float y)
{
    y = y < -87.0f ? -87.0f : y;
    float scale;
    float p = skrnn_expm1f_reduced(y, &scale, 1);
    return scale * p + scale;
}

/* SKRNN_TANH_LOOP(k, n, statement) runs the statement, which computes a
 * tanh, for k = 0, ..., n - 1.
 *
 * Each tanh is a chain of dependent multiply-adds (Horner's scheme), twelve
 * in double: some 50 cycles from argument to result. Vectorised one vector
 * per iteration, a loop leaves the out-of-order core too few independent
 * chains in its window to keep the multiply-add units busy. So the loop
 * does SKRNN_INTERLEAVE values per pass, fully unrolled (eight AVX2 vectors
 * of double, four of float, side by side), then the rest one at a time. On
 * this project's AMD EPYC that took the double tanh from 1.48 to 1.11 ns
 * per value in L1, and the forward steps at hidden 32 and 128 22-24%
 * (double) and 9-16% (float) faster. 64 values per pass were slower in
 * both types.
 *
 * The unrolled loop counts from 0 to a constant: with Python's -fwrapv an
 * upper limit such as start + 32 may wrap, the trip count is then unknown,
 * and GCC unrolls the vectorised loop instead (three times slower). Loops
 * starting at an offset ran slower too, hence k from 0. */
#define SKRNN_INTERLEAVE 32
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define SKRNN_UNROLL_INTERLEAVED _Pragma("GCC unroll 32")
#elif defined(__clang__)
#define SKRNN_UNROLL_INTERLEAVED _Pragma("clang loop unroll(full)")
#else
#define SKRNN_UNROLL_INTERLEAVED
#endif
#define SKRNN_TANH_LOOP(k, n, ...)                                               \
    do {                                                                         \
        const Py_ssize_t k##_n = (n);                                            \
        Py_ssize_t k##_pass = 0;                                                 \
        for (; k##_pass + SKRNN_INTERLEAVE <= k##_n;                             \
             k##_pass += SKRNN_INTERLEAVE) {                                     \
            SKRNN_UNROLL_INTERLEAVED                                             \
            for (int k##_j = 0; k##_j < SKRNN_INTERLEAVE; k##_j++) {             \
                const Py_ssize_t k = k##_pass + k##_j;                           \
                __VA_ARGS__;                                                     \
            }                                                                    \
        }                                                                        \
        for (Py_ssize_t k = k##_pass; k < k##_n; k++) {                          \
            __VA_ARGS__;                                                         \
        }                                                                        \
    } while (0)

/* tanh in place over the first ``cols`` values of ``rows`` rows of stride
 * ``ld`` (a contiguous array is one row), in one call: a call per row of a
 * few dozen values cost an Elman prediction at hidden 32 5% of its time. */
SKRNN_MULTIVERSIONED_VOID(skrnn_tanh_rows,
    (double *a, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld), (a, rows, cols, ld),
    for (Py_ssize_t p = 0; p < rows; p++) {
        double *row = a + p * ld;
        SKRNN_TANH_LOOP(i, cols, row[i] = skrnn_tanh_one(row[i]));
    })

SKRNN_MULTIVERSIONED_VOID(skrnn_tanhf_rows,
    (float *a, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld), (a, rows, cols, ld),
    for (Py_ssize_t p = 0; p < rows; p++) {
        float *row = a + p * ld;
        SKRNN_TANH_LOOP(i, cols, row[i] = skrnn_tanhf_one(row[i]));
    })

/* exp in place over n contiguous values, each <= 0. */
SKRNN_MULTIVERSIONED_VOID(skrnn_exp_nonpositive, (double *a, Py_ssize_t n), (a, n),
    SKRNN_TANH_LOOP(i, n, a[i] = skrnn_exp_nonpositive_one(a[i]));)

SKRNN_MULTIVERSIONED_VOID(skrnn_expf_nonpositive, (float *a, Py_ssize_t n), (a, n),
    SKRNN_TANH_LOOP(i, n, a[i] = skrnn_expf_nonpositive_one(a[i]));)

#endif

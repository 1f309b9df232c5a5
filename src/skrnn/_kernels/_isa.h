/* The instruction sets the kernels' loops are compiled for, and the one a
 * process runs.
 *
 * With GCC on x86-64, each function defined with SKRNN_MULTIVERSIONED (or
 * SKRNN_MULTIVERSIONED_VOID) is compiled three times from one body:
 *
 *   SKRNN_ISA_AVX512  x86-64-v4: AVX-512 F, CD, BW, DQ and VL (512-bit
 *                     vectors), with AVX2 and FMA;
 *   SKRNN_ISA_AVX2    x86-64-v3: AVX2 and FMA (256-bit vectors);
 *   SKRNN_ISA_BASELINE  what the compiler targets by default (SSE2).
 *
 * A dispatcher of the function's own name calls the clone of the level
 * skrnn_isa_level() returns: the highest the CPU has, or lower if the
 * environment variable SKRNN_ISA asks for it ("avx512", "avx2" or
 * "baseline"; a level the CPU lacks is never chosen). The tests set it to
 * run every path on one machine. It is read once per module, at the first
 * call.
 *
 * The levels are named by their features, not by a CPU: GCC's own
 * target_clones("arch=haswell") would run only on CPUs it identifies as
 * Haswell, not on an AMD EPYC with the same AVX2 and FMA.
 *
 * Results: the AVX2 and AVX-512 clones do the same operations in the same
 * order, each multiply-add fused, and give bitwise the same results (the
 * tests check it). The baseline has no FMA, so its products round once more
 * and its results differ in the last bits.
 *
 * Other compilers and CPUs get one version of each function, compiled for
 * the default target.
 */
#ifndef SKRNN_ISA_H
#define SKRNN_ISA_H

#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define SKRNN_ALWAYS_INLINE inline __attribute__((always_inline))
#define SKRNN_MAYBE_UNUSED __attribute__((unused))
#else
#define SKRNN_ALWAYS_INLINE inline
#define SKRNN_MAYBE_UNUSED
#endif

#define SKRNN_ISA_BASELINE 0
#define SKRNN_ISA_AVX2 1
#define SKRNN_ISA_AVX512 2

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8 && defined(__x86_64__)
#define SKRNN_HAS_ISA_CLONES 1

/* prefer-vector-width=512: GCC's generic tuning vectorises with 256-bit
 * vectors even where AVX-512 is enabled. */
#define SKRNN_TARGET_AVX512                                                      \
    __attribute__((target("avx512f,avx512cd,avx512bw,avx512dq,avx512vl,avx2,fma,"  \
                          "bmi,bmi2,lzcnt,movbe,f16c,prefer-vector-width=512")))
#define SKRNN_TARGET_AVX2                                                        \
    __attribute__((target("avx2,fma,bmi,bmi2,lzcnt,movbe,f16c")))

static int skrnn_isa_state = -1; /* -1: not decided yet */

static int skrnn_cpu_isa_level(void)
{
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
               && __builtin_cpu_supports("bmi2");
    int avx512 = avx2 && __builtin_cpu_supports("avx512f")
                 && __builtin_cpu_supports("avx512cd")
                 && __builtin_cpu_supports("avx512bw")
                 && __builtin_cpu_supports("avx512dq")
                 && __builtin_cpu_supports("avx512vl");
    return avx512 ? SKRNN_ISA_AVX512 : avx2 ? SKRNN_ISA_AVX2 : SKRNN_ISA_BASELINE;
}

/* The level the clones are chosen by: the CPU's, capped by SKRNN_ISA. */
static SKRNN_MAYBE_UNUSED int skrnn_isa_level(void)
{
    int level = __atomic_load_n(&skrnn_isa_state, __ATOMIC_RELAXED);
    if (level < 0) {
        level = skrnn_cpu_isa_level();
        const char *asked = getenv("SKRNN_ISA");
        if (asked != NULL) {
            int cap = strcmp(asked, "baseline") == 0 ? SKRNN_ISA_BASELINE
                    : strcmp(asked, "avx2") == 0     ? SKRNN_ISA_AVX2
                                                     : SKRNN_ISA_AVX512;
            level = level < cap ? level : cap;
        }
        __atomic_store_n(&skrnn_isa_state, level, __ATOMIC_RELAXED);
    }
    return level;
}

#define SKRNN_CLONES(ret, name, params, ...)                                     \
    static SKRNN_MAYBE_UNUSED SKRNN_TARGET_AVX512 ret name##_avx512 params       \
    { __VA_ARGS__ }                                                              \
    static SKRNN_MAYBE_UNUSED SKRNN_TARGET_AVX2 ret name##_avx2 params           \
    { __VA_ARGS__ }                                                              \
    static SKRNN_MAYBE_UNUSED ret name##_baseline params { __VA_ARGS__ }

/* The clone of the current level, as a function designator. */
#define SKRNN_CLONE_OF(name)                                                     \
    (skrnn_isa_level() == SKRNN_ISA_AVX512 ? name##_avx512                       \
     : skrnn_isa_level() == SKRNN_ISA_AVX2 ? name##_avx2                         \
                                           : name##_baseline)

#else
#define SKRNN_HAS_ISA_CLONES 0

static SKRNN_MAYBE_UNUSED int skrnn_isa_level(void) { return SKRNN_ISA_BASELINE; }

#define SKRNN_CLONES(ret, name, params, ...)                                     \
    static SKRNN_MAYBE_UNUSED ret name##_baseline params { __VA_ARGS__ }
#define SKRNN_CLONE_OF(name) name##_baseline
#endif

/* SKRNN_MULTIVERSIONED(ret, name, (params), (args), body...): defines
 * ``static ret name(params)``, whose body is compiled once per level and
 * chosen at run time as described above; ``args`` names the parameters in
 * order, for the dispatcher's call. SKRNN_MULTIVERSIONED_VOID is the same
 * for a function that returns nothing. */
#define SKRNN_MULTIVERSIONED(ret, name, params, args, ...)                       \
    SKRNN_CLONES(ret, name, params, __VA_ARGS__)                                 \
    static SKRNN_MAYBE_UNUSED ret name params { return SKRNN_CLONE_OF(name) args; }

#define SKRNN_MULTIVERSIONED_VOID(name, params, args, ...)                       \
    SKRNN_CLONES(void, name, params, __VA_ARGS__)                                \
    static SKRNN_MAYBE_UNUSED void name params { SKRNN_CLONE_OF(name) args; }

#endif

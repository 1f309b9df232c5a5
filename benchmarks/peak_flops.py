"""The CPU's peak multiply-add rate: the ceiling no matrix product can pass.

``bench_vs_torch.py`` compares each library's GFLOP/s with numpy.matmul's,
which is only as fast as the kernels the machine's BLAS picked for the CPU.
This script measures the CPU itself: a C loop of independent fused
multiply-adds on vector registers (16 chains, enough to hide their
latency), compiled here with the system's C compiler, for each vector
width the CPU has (AVX-512, AVX2) and each dtype, on 1 core and on
``--threads`` cores at once (one process each). A library at 80% of that
peak cannot run a product 2x faster than it does.

    python benchmarks/peak_flops.py
    python benchmarks/peak_flops.py --threads 2 --json peak.json

Needs a C compiler (``cc``, or ``$CC``) that accepts GCC's
``__attribute__((target(...)))``; x86-64 only.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from machine import cpu_model, vector_isa

SOURCE = r"""
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* 16 independent chains of multiply-adds (12 with 16 AVX2 registers); returns
 * GFLOP/s (2 flops per lane per multiply-add). */
#define PEAK(NAME, TARGET, VEC, SET1, FMA, LANES, CHAINS)                        \
__attribute__((target(TARGET))) static double NAME(long iterations)             \
{                                                                               \
    VEC acc[CHAINS];                                                            \
    VEC b = SET1(0.999999), c = SET1(1e-7);                                     \
    for (int i = 0; i < CHAINS; i++) acc[i] = SET1((double)i);                  \
    double start = now();                                                       \
    for (long it = 0; it < iterations; it++) {                                  \
        _Pragma("GCC unroll 16")                                                \
        for (int i = 0; i < CHAINS; i++) acc[i] = FMA(acc[i], b, c);            \
    }                                                                           \
    double seconds = now() - start;                                             \
    volatile VEC sink = acc[0];                                                 \
    for (int i = 1; i < CHAINS; i++) sink = acc[i];                             \
    (void)sink;                                                                 \
    return (double)iterations * CHAINS * LANES * 2 / seconds / 1e9;             \
}

PEAK(avx512_float, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, 16, 16)
PEAK(avx512_double, "avx512f", __m512d, _mm512_set1_pd, _mm512_fmadd_pd, 8, 16)
PEAK(avx2_float, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, 8, 12)
PEAK(avx2_double, "avx2,fma", __m256d, _mm256_set1_pd, _mm256_fmadd_pd, 4, 12)

int main(int argc, char **argv)
{
    const char *which = argv[1];
    long iterations = 100000000;
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double g = !strcmp(which, "avx512_float")  ? avx512_float(iterations)
                 : !strcmp(which, "avx512_double") ? avx512_double(iterations)
                 : !strcmp(which, "avx2_float")    ? avx2_float(iterations)
                                                   : avx2_double(iterations);
        if (g > best) best = g;
    }
    printf("%f\n", best);
    return 0;
}
"""


def compile_probe(directory):
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        sys.exit("no C compiler found (set CC)")
    source = os.path.join(directory, "peak.c")
    binary = os.path.join(directory, "peak")
    with open(source, "w") as f:
        f.write(SOURCE)
    subprocess.run([compiler, "-O2", "-o", binary, source], check=True)
    return binary


def measure(binary, kernel, n_processes):
    """Total GFLOP/s of ``n_processes`` copies of the loop run at once."""
    processes = [subprocess.Popen([binary, kernel], stdout=subprocess.PIPE, text=True)
                 for _ in range(n_processes)]
    return sum(float(p.communicate()[0]) for p in processes)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2,
                        help="cores measured at once, beside 1 (default: 2)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    isa = vector_isa()
    widths = {"AVX-512": ["avx512", "avx2"], "AVX2": ["avx2"]}.get(isa)
    if widths is None:
        sys.exit(f"no AVX2 or AVX-512 on this CPU ({isa})")
    print(f"CPU: {cpu_model()}, {isa}")
    results = []
    with tempfile.TemporaryDirectory() as directory:
        binary = compile_probe(directory)
        for width in widths:
            for c_type, dtype in (("float", "float32"), ("double", "float64")):
                for n in sorted({1, args.threads}):
                    gflops = measure(binary, f"{width}_{c_type}", n)
                    results.append({"width": width, "dtype": dtype, "cores": n,
                                    "gflops": gflops})
    print("\n| vectors | dtype | cores | peak GFLOP/s |\n|:--|:--|--:|--:|")
    for r in results:
        print(f"| {r['width']} | {r['dtype']} | {r['cores']} | {r['gflops']:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu_model": cpu_model(), "isa": isa, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()

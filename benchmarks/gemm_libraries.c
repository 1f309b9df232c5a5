/* The products of a recurrent network's training and prediction, timed in
 * skrnn's packed kernels (_gemm.h) and in the libraries that could replace
 * them: OpenBLAS (SciPy's build), BLIS (the ``blis`` wheel's build) and
 * oneDNN (the ``onednn`` wheel: its sgemm, and its matmul primitive on
 * weights reordered once into its own layout, which is how a library would
 * use it on weights that stay fixed over a pass).
 *
 * Built as a shared library and called by gemm_candidates.py, in a Python
 * process (BLIS comes inside a Python extension module, which resolves
 * Python's symbols against the process):
 *
 *     skrnn_gemm_candidates(openblas_path, blis_path, output_path, product)
 *
 * writes one line per (product, dtype, library) to output_path (of the
 * product of that name only, unless ``product`` is NULL): "product
 * dtype library microseconds max_relative_difference", the difference
 * against skrnn's result, after "#" lines naming each library's build.
 * OpenBLAS and BLIS are opened with dlopen, either may be NULL; oneDNN is
 * compiled in when HAVE_DNNL is defined. The caller pins the process to
 * one core for one thread: every library then sees one CPU. */

#include <dlfcn.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef ptrdiff_t Py_ssize_t; /* _gemm.h's index type, without Python.h */
#include "../src/skrnn/_kernels/_gemm.h"

#ifdef HAVE_DNNL
#include "oneapi/dnnl/dnnl.h"
#endif

/* One product: C (m x n) = op(A) (m x k) @ B (k x n), row-major, with A
 * transposed (stored k x m) for the weight gradients. */
typedef struct {
    const char *name;
    int m, n, k, trans_a;
} Product;

/* Batch 64, 16 features, LSTM (4 gates) at hidden 32, 128, 256: a step's
 * forward product over [x | h], a step's backward product through the
 * recurrent weights, and a mini-batch's weight gradient over its 64 x 64
 * rows. Then one sequence's step (hidden 64): the small call. */
static const Product PRODUCTS[] = {
    {"fwd-step h32", 64, 128, 48, 0},
    {"bwd-step h32", 64, 32, 128, 0},
    {"weight-grad h32", 48, 128, 4096, 1},
    {"fwd-step h128", 64, 512, 144, 0},
    {"bwd-step h128", 64, 128, 512, 0},
    {"weight-grad h128", 144, 512, 4096, 1},
    {"fwd-step h256", 64, 1024, 272, 0},
    {"bwd-step h256", 64, 256, 1024, 0},
    {"weight-grad h256", 272, 1024, 4096, 1},
    {"one-sequence h64", 1, 256, 80, 0},
};

#define N_PRODUCTS ((int)(sizeof(PRODUCTS) / sizeof(PRODUCTS[0])))

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Microseconds per call of run(context): the best of 5 rounds, each of as
 * many calls as fill about 20 ms. */
static double time_calls(void (*run)(void *), void *context)
{
    run(context);
    double start = now();
    int calls = 0;
    while (now() - start < 0.02 || calls < 3) {
        run(context);
        calls++;
    }
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        start = now();
        for (int c = 0; c < calls; c++)
            run(context);
        double per_call = (now() - start) / calls;
        if (per_call < best)
            best = per_call;
    }
    return best * 1e6;
}

/* -- the libraries' entry points ------------------------------------------ */

enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
typedef void (*cblas_sgemm_t)(int, int, int, int, int, int, float, const float *, int,
                              const float *, int, float, float *, int);
typedef void (*cblas_dgemm_t)(int, int, int, int, int, int, double, const double *, int,
                              const double *, int, double, double *, int);
/* BLIS's typed API, with the 64-bit dim_t/inc_t of the blis wheel's build;
 * A transposed is given by its strides. */
typedef void (*bli_sgemm_t)(int, int, int64_t, int64_t, int64_t, const float *,
                            const float *, int64_t, int64_t, const float *, int64_t,
                            int64_t, const float *, float *, int64_t, int64_t);
typedef void (*bli_dgemm_t)(int, int, int64_t, int64_t, int64_t, const double *,
                            const double *, int64_t, int64_t, const double *, int64_t,
                            int64_t, const double *, double *, int64_t, int64_t);
typedef int (*bli_arch_query_id_t)(void);
typedef const char *(*bli_arch_string_t)(int);

static FILE *out;
static cblas_sgemm_t openblas_sgemm;
static cblas_dgemm_t openblas_dgemm;
static bli_sgemm_t blis_sgemm;
static bli_dgemm_t blis_dgemm;

/* -- one timed call per library, for T = float and double ----------------- */

#define DEFINE_CALLS(T, PREFIX)                                                   \
typedef struct {                                                                  \
    const Product *p;                                                             \
    const T *A, *B;                                                               \
    T *packed, *C;                                                                \
} Context_##T;                                                                    \
                                                                                  \
static void run_skrnn_##T(void *context)                                          \
{                                                                                 \
    Context_##T *c = (Context_##T *)context;                                      \
    const Product *p = c->p;                                                      \
    if (p->trans_a) /* packs B's blocks and copies A's columns as it goes */      \
        skrnn_gemm_##T(1, 0, p->m, p->n, p->k, c->A, p->m, c->B, p->n, 0, c->C,   \
                       p->n);                                                     \
    else /* the recurrent weights, packed once per pass */                        \
        skrnn_gemm_packed_##T(p->m, p->n, p->k, c->A, p->k, c->packed, NULL,      \
                              c->C, p->n, 0);                                     \
}                                                                                 \
                                                                                  \
static void run_openblas_##T(void *context)                                       \
{                                                                                 \
    Context_##T *c = (Context_##T *)context;                                      \
    const Product *p = c->p;                                                      \
    openblas_##PREFIX##gemm(CBLAS_ROW_MAJOR,                                      \
                            p->trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS,            \
                            CBLAS_NO_TRANS, p->m, p->n, p->k, 1, c->A,            \
                            p->trans_a ? p->m : p->k, c->B, p->n, 0, c->C, p->n); \
}                                                                                 \
                                                                                  \
static void run_blis_##T(void *context)                                           \
{                                                                                 \
    Context_##T *c = (Context_##T *)context;                                      \
    const Product *p = c->p;                                                      \
    const T one = 1, zero = 0;                                                    \
    int64_t row_stride = p->trans_a ? 1 : p->k, column_stride = p->trans_a ? p->m : 1; \
    blis_##PREFIX##gemm(0, 0, p->m, p->n, p->k, &one, c->A, row_stride,           \
                        column_stride, c->B, p->n, 1, &zero, c->C, p->n, 1);      \
}                                                                                 \
                                                                                  \
static void fill_##T(T *x, size_t n, unsigned *seed)                              \
{                                                                                 \
    for (size_t i = 0; i < n; i++) {                                              \
        *seed = *seed * 1103515245u + 12345u;                                     \
        x[i] = (T)((*seed >> 8) * (1.0 / 16777216.0) - 0.5);                      \
    }                                                                             \
}                                                                                 \
                                                                                  \
static double max_difference_##T(const T *C, const T *reference, size_t n)        \
{                                                                                 \
    double scale = 0, difference = 0;                                             \
    for (size_t i = 0; i < n; i++) {                                              \
        scale = fmax(scale, fabs((double)reference[i]));                          \
        difference = fmax(difference, fabs((double)C[i] - (double)reference[i])); \
    }                                                                             \
    return difference / scale;                                                    \
}

DEFINE_CALLS(float, s)
DEFINE_CALLS(double, d)

#ifdef HAVE_DNNL
/* oneDNN's matmul on weights reordered once into the layout it chose. */
typedef struct {
    dnnl_primitive_t matmul;
    dnnl_stream_t stream;
    dnnl_exec_arg_t args[3];
} DnnlMatmul;

static dnnl_engine_t dnnl_engine;

static int dnnl_matmul_create(DnnlMatmul *d, const Product *p, const float *A,
                              const float *B, float *C)
{
    dnnl_memory_desc_t src, weights_any, weights_plain, dst, weights_chosen;
    dnnl_dims_t src_dims = {p->m, p->k}, weights_dims = {p->k, p->n},
                dst_dims = {p->m, p->n};
    dnnl_dims_t src_strides = {p->trans_a ? 1 : p->k, p->trans_a ? p->m : 1};
    dnnl_primitive_desc_t pd, reorder_pd;
    dnnl_primitive_t reorder;
    dnnl_memory_t plain, chosen, src_memory, dst_memory;
    if (dnnl_memory_desc_create_with_strides(&src, 2, src_dims, dnnl_f32, src_strides)
        || dnnl_memory_desc_create_with_tag(&weights_any, 2, weights_dims, dnnl_f32,
                                            dnnl_format_tag_any)
        || dnnl_memory_desc_create_with_tag(&weights_plain, 2, weights_dims, dnnl_f32,
                                            dnnl_ab)
        || dnnl_memory_desc_create_with_tag(&dst, 2, dst_dims, dnnl_f32, dnnl_ab)
        || dnnl_matmul_primitive_desc_create(&pd, dnnl_engine, src, weights_any, NULL,
                                             dst, NULL)
        || dnnl_primitive_create(&d->matmul, pd))
        return 1;
    weights_chosen = (dnnl_memory_desc_t)dnnl_primitive_desc_query_md(
        pd, dnnl_query_weights_md, 0);
    dnnl_stream_create(&d->stream, dnnl_engine, dnnl_stream_default_flags);
    dnnl_memory_create(&plain, weights_plain, dnnl_engine, (void *)B);
    dnnl_memory_create(&chosen, weights_chosen, dnnl_engine, DNNL_MEMORY_ALLOCATE);
    dnnl_reorder_primitive_desc_create(&reorder_pd, weights_plain, dnnl_engine,
                                       weights_chosen, dnnl_engine, NULL);
    dnnl_primitive_create(&reorder, reorder_pd);
    dnnl_exec_arg_t reorder_args[2] = {{DNNL_ARG_FROM, plain}, {DNNL_ARG_TO, chosen}};
    dnnl_primitive_execute(reorder, d->stream, 2, reorder_args);
    dnnl_stream_wait(d->stream);
    dnnl_memory_create(&src_memory, src, dnnl_engine, (void *)A);
    dnnl_memory_create(&dst_memory, dst, dnnl_engine, C);
    d->args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, src_memory};
    d->args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, chosen};
    d->args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, dst_memory};
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(reorder_pd);
    dnnl_memory_destroy(plain);
    dnnl_primitive_desc_destroy(pd); /* after the last use of weights_chosen */
    dnnl_memory_desc_destroy(src);
    dnnl_memory_desc_destroy(weights_any);
    dnnl_memory_desc_destroy(weights_plain);
    dnnl_memory_desc_destroy(dst);
    return 0;
}

static void dnnl_matmul_destroy(DnnlMatmul *d)
{
    for (int a = 0; a < 3; a++)
        dnnl_memory_destroy(d->args[a].memory);
    dnnl_primitive_destroy(d->matmul);
    dnnl_stream_destroy(d->stream);
}

static void run_dnnl_matmul(void *context)
{
    DnnlMatmul *d = (DnnlMatmul *)context;
    dnnl_primitive_execute(d->matmul, d->stream, 3, d->args);
    dnnl_stream_wait(d->stream);
}

static void run_dnnl_sgemm(void *context)
{
    Context_float *c = (Context_float *)context;
    const Product *p = c->p;
    dnnl_sgemm(p->trans_a ? 'T' : 'N', 'N', p->m, p->n, p->k, 1, c->A,
               p->trans_a ? p->m : p->k, c->B, p->n, 0, c->C, p->n);
}
#endif

static void *open_symbol(void *library, const char *name)
{
    return library ? dlsym(library, name) : NULL;
}

#define MEASURE(T, PREFIX)                                                        \
static void measure_##T(const Product *p)                                         \
{                                                                                 \
    const char *dtype = sizeof(T) == 4 ? "float32" : "float64";                   \
    unsigned seed = 12345;                                                        \
    size_t a_size = (size_t)p->m * p->k, b_size = (size_t)p->k * p->n,            \
           c_size = (size_t)p->m * p->n;                                          \
    T *A = (T *)malloc(a_size * sizeof(T)), *B = (T *)malloc(b_size * sizeof(T)); \
    T *C = (T *)malloc(c_size * sizeof(T)), *reference = (T *)malloc(c_size * sizeof(T)); \
    int nr = SKRNN_PANEL_WIDTH(T);                                                \
    T *packed = (T *)skrnn_packed_alloc(skrnn_packed_size(p->k, p->n, nr) * sizeof(T)); \
    fill_##T(A, a_size, &seed);                                                   \
    fill_##T(B, b_size, &seed);                                                   \
    skrnn_pack_##T(p->k, p->n, B, p->n, 0, packed);                               \
    Context_##T context = {p, A, B, packed, reference};                           \
    double us = time_calls(run_skrnn_##T, &context);                              \
    fprintf(out, "%s\t%s\tskrnn\t%.3f\t0\n", p->name, dtype, us);                 \
    context.C = C;                                                                \
    if (openblas_##PREFIX##gemm) {                                                \
        us = time_calls(run_openblas_##T, &context);                              \
        fprintf(out, "%s\t%s\topenblas\t%.3f\t%.2e\n", p->name, dtype, us,        \
               max_difference_##T(C, reference, c_size));                         \
    }                                                                             \
    if (blis_##PREFIX##gemm) {                                                    \
        us = time_calls(run_blis_##T, &context);                                  \
        fprintf(out, "%s\t%s\tblis\t%.3f\t%.2e\n", p->name, dtype, us,            \
               max_difference_##T(C, reference, c_size));                         \
    }                                                                             \
    MEASURE_DNNL_##T                                                              \
    fflush(out);                                                                  \
    free(A); free(B); free(C); free(reference);                                   \
    skrnn_packed_free(packed);                                                    \
}

#ifdef HAVE_DNNL
#define MEASURE_DNNL_float                                                        \
    {                                                                             \
        us = time_calls(run_dnnl_sgemm, &context);                                \
        fprintf(out, "%s\t%s\tonednn-sgemm\t%.3f\t%.2e\n", p->name, dtype, us,    \
               max_difference_float(C, reference, c_size));                       \
        DnnlMatmul matmul;                                                        \
        memset(C, 0, c_size * sizeof(float));                                     \
        if (dnnl_matmul_create(&matmul, p, A, B, C) == 0) {                       \
            us = time_calls(run_dnnl_matmul, &matmul);                            \
            fprintf(out, "%s\t%s\tonednn-matmul\t%.3f\t%.2e\n", p->name, dtype, us, \
                   max_difference_float(C, reference, c_size));                   \
            dnnl_matmul_destroy(&matmul);                                         \
        }                                                                         \
    }
#else
#define MEASURE_DNNL_float
#endif
#define MEASURE_DNNL_double

MEASURE(float, s)
MEASURE(double, d)

int skrnn_gemm_candidates(const char *openblas_path, const char *blis_path,
                          const char *output_path, const char *product)
{
    out = fopen(output_path, "w");
    if (out == NULL)
        return 1;
    void *openblas = openblas_path ? dlopen(openblas_path, RTLD_NOW | RTLD_LOCAL) : NULL;
    void *blis = blis_path ? dlopen(blis_path, RTLD_NOW | RTLD_LOCAL) : NULL;
    openblas_sgemm = (cblas_sgemm_t)open_symbol(openblas, "scipy_cblas_sgemm");
    openblas_dgemm = (cblas_dgemm_t)open_symbol(openblas, "scipy_cblas_dgemm");
    blis_sgemm = (bli_sgemm_t)open_symbol(blis, "bli_sgemm");
    blis_dgemm = (bli_dgemm_t)open_symbol(blis, "bli_dgemm");
    const char *(*openblas_config)(void) =
        (const char *(*)(void))open_symbol(openblas, "scipy_openblas_get_config");
    bli_arch_query_id_t arch_id = (bli_arch_query_id_t)open_symbol(blis, "bli_arch_query_id");
    bli_arch_string_t arch_string = (bli_arch_string_t)open_symbol(blis, "bli_arch_string");
    fprintf(out, "# skrnn ISA level %d (2 AVX-512, 1 AVX2, 0 baseline)\n", skrnn_isa_level());
    if (openblas_config)
        fprintf(out, "# OpenBLAS: %s\n", openblas_config());
    if (arch_id && arch_string)
        fprintf(out, "# BLIS kernels: %s\n", arch_string(arch_id()));
#ifdef HAVE_DNNL
    if (dnnl_engine == NULL && dnnl_engine_create(&dnnl_engine, dnnl_cpu, 0)) {
        fprintf(out, "# oneDNN: no CPU engine\n");
        fclose(out);
        return 1;
    }
    const dnnl_version_t *version = dnnl_version();
    fprintf(out, "# oneDNN %d.%d.%d, CPU runtime %u, ISA %d\n", version->major, version->minor,
           version->patch, version->cpu_runtime, (int)dnnl_get_effective_cpu_isa());
#endif
    for (int i = 0; i < N_PRODUCTS; i++) {
        if (product && strcmp(product, PRODUCTS[i].name))
            continue;
        measure_float(&PRODUCTS[i]);
        measure_double(&PRODUCTS[i]);
    }
    fclose(out);
    return 0;
}

/*
 * bench_nn.c - times the engine on each shipped model through the public API (src/nn/nn.h) only,
 * as a user of libvisage would run it.
 *
 * For each model: load it, read its FLOPs from vs_nn_model_info_get, fill every input with a
 * fixed image-like pattern, then for 1 and 2 threads on the XNNPACK backend: a warm-up and
 * --runs timed runs (CLOCK_MONOTONIC around vs_nn_run alone).  It also measures the core's FP32
 * FMA peak with fma_peak.c's kernel, so GFLOP/s can be read as a fraction of what the core can
 * do.  bench/run.sh joins this output with bench/tfjs_wasm.js's and prints the table.
 *
 * Usage: bench_nn [--runs N] [--warmup N] [--warmup-s S] [--models DIR] [--no-fma] [--all|--list]
 *                 [model ...]
 *   warm-up: at least N runs (5) and S seconds (1), at most 1000 runs; then N timed runs (50);
 *   no model names: the 17 models of the benchmark; --all: every name vs_nn_model_names() knows;
 *   --list: print the benchmark's model names and exit.
 * Output (tab-separated; lines starting with # are comments):
 *   fma_peak <GFLOP/s, thread CPU time> GFLOP/s <isa> <GFLOP/s, wall clock>
 *   nn <model> <MFLOPs> <1T median ms> <1T p90 ms> <2T median ms> <2T p90 ms> <runs>
 *      <1T median thread-CPU ms>
 * Times are wall clock around vs_nn_run; the last field, the calling thread's CPU time at 1
 * thread, leaves out time the thread spent preempted, to tell a slow engine from a busy machine.
 * A model that fails to load or run prints "# error ..." and nan fields; the exit status is 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime under -std=c11 */
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/nn.h"

#define FMA_PEAK_NO_MAIN
#include "fma_peak.c"

#define BENCH_MAX_RUNS 100000

/* The models the benchmark reports on, in the order of the table. */
static const char *const bench_default_models[] = {
    "ssd_mobilenetv1",  "tiny_face_detector",
    "face_landmark_68", "face_landmark_68_tiny",
    "face_recognition", "age_gender",
    "face_expression",  "mobilefacenet",
    "mobileface",       "faceres",
    "faceres-deep",     "blazeface-back",
    "blazeface-front",  "antispoof",
    "liveness",         "gear",
    "emotion",          NULL,
};

typedef struct bench_opts {
    int runs, warmup;
    double warmup_ms;
    const char *models_dir;
} bench_opts;

typedef struct bench_timing {
    double median_ms, p90_ms; /* wall clock */
    double cpu_median_ms;     /* the calling thread's CPU time: all of the work at 1 thread */
} bench_timing;

static double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static double bench_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/*
 * A smooth, image-like pattern (the same formula as tfjs_wasm.js) in [0, scale]: face-api nets
 * take pixel values 0..255, the graph models normalised pixels 0..1.  The values only need to be
 * realistic enough that no kernel takes a fast path on zeros or denormals.
 */
static void bench_fill(float *x, vs_nn_tensor_info ti, float scale)
{
    size_t n = 1;
    for (int d = 0; d < ti.rank; d++)
        n *= (size_t)(ti.dim[d] > 0 ? ti.dim[d] : 1);
    size_t c = ti.rank >= 1 && ti.dim[ti.rank - 1] > 0 ? (size_t)ti.dim[ti.rank - 1] : 1;
    size_t w = ti.rank >= 2 && ti.dim[ti.rank - 2] > 0 ? (size_t)ti.dim[ti.rank - 2] : 1;
    size_t h = ti.rank >= 3 && ti.dim[ti.rank - 3] > 0 ? (size_t)ti.dim[ti.rank - 3] : 1;
    for (size_t i = 0; i < n; i++) {
        size_t ch = i % c, px = (i / c) % w, py = (i / (c * w)) % h;
        x[i] =
            scale * (0.5f + 0.45f * sinf(0.05f * (float)px + 0.07f * (float)py + 1.3f * (float)ch));
    }
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times model m on `threads` threads.  OUT: *t (medians and p90 of o->runs runs). */
static vs_status bench_time(const vs_model *m, int threads, const bench_opts *o, float scale,
                            bench_timing *t, vs_err *err)
{
    vs_runtime *rt = NULL;
    double *ms = calloc((size_t)o->runs * 2, sizeof *ms), *cpu = ms ? ms + o->runs : NULL;
    vs_status s = ms ? VS_OK : vs_err_set(err, VS_NOMEM, "timing buffer");
    if (s != VS_OK)
        goto out;
    s = vs_nn_runtime_new(m, VS_NN_BACKEND_XNNPACK, threads, &rt, err);
    if (s != VS_OK)
        goto out;
    vs_nn_model_info info;
    vs_nn_model_info_get(m, &info);
    for (int i = 0; i < info.n_inputs; i++)
        bench_fill(vs_nn_input(rt, i), vs_nn_input_info(m, i), scale);
    /* Warm up for at least o->warmup runs and o->warmup_ms (at most 1000 runs): caches, page
     * faults in the arena, the core's clock.  There is no JIT here, so less than tfjs needs. */
    double warm_end = bench_now_ms() + o->warmup_ms;
    for (int i = 0; s == VS_OK && (i < o->warmup || (i < 1000 && bench_now_ms() < warm_end)); i++)
        s = vs_nn_run(rt, err);
    for (int i = 0; i < o->runs && s == VS_OK; i++) {
        double t0 = bench_now_ms(), c0 = bench_cpu_ms();
        s = vs_nn_run(rt, err);
        cpu[i] = bench_cpu_ms() - c0;
        ms[i] = bench_now_ms() - t0;
    }
    if (s != VS_OK)
        goto out;
    qsort(ms, (size_t)o->runs, sizeof *ms, bench_cmp_double);
    qsort(cpu, (size_t)o->runs, sizeof *cpu, bench_cmp_double);
    t->median_ms = ms[o->runs / 2];
    t->cpu_median_ms = cpu[o->runs / 2];
    int i90 = (int)(0.9 * o->runs);
    t->p90_ms = ms[i90 < o->runs ? i90 : o->runs - 1];
out:
    vs_nn_runtime_free(rt);
    free(ms);
    return s;
}

/* Loads and times one model and prints its line.  Returns 0, or 1 when anything failed. */
static int bench_model(const char *name, const bench_opts *o)
{
    vs_err err = {{0}};
    vs_model *m = NULL;
    bench_timing t1 = {NAN, NAN, NAN}, t2 = {NAN, NAN, NAN};
    double mflops = NAN;
    vs_status s = vs_nn_model_load(o->models_dir, name, NULL, &m, &err);
    if (s == VS_OK) {
        vs_nn_model_info info;
        vs_nn_model_info_get(m, &info);
        mflops = info.flops * 1e-6;
        float scale = info.format && strcmp(info.format, "faceapi") == 0 ? 255.0f : 1.0f;
        s = bench_time(m, 1, o, scale, &t1, &err);
        if (s == VS_OK)
            s = bench_time(m, 2, o, scale, &t2, &err);
    }
    if (s != VS_OK)
        printf("# error %s: %s: %s\n", name, vs_status_str(s), err.msg);
    printf("nn\t%s\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%.3f\n", name, mflops, t1.median_ms,
           t1.p90_ms, t2.median_ms, t2.p90_ms, s == VS_OK ? o->runs : 0, t1.cpu_median_ms);
    fflush(stdout);
    vs_nn_model_free(m);
    return s == VS_OK ? 0 : 1;
}

static int bench_usage(void)
{
    fprintf(stderr, "usage: bench_nn [--runs N] [--warmup N] [--warmup-s S] [--models DIR] "
                    "[--no-fma] [--all|--list] [model ...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    bench_opts o = {.runs = 50, .warmup = 5, .warmup_ms = 1000, .models_dir = NULL};
    int fma = 1, all = 0, first = argc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            o.runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
            o.warmup = atoi(argv[++i]);
        else if (strcmp(argv[i], "--warmup-s") == 0 && i + 1 < argc)
            o.warmup_ms = atof(argv[++i]) * 1e3;
        else if (strcmp(argv[i], "--models") == 0 && i + 1 < argc)
            o.models_dir = argv[++i];
        else if (strcmp(argv[i], "--no-fma") == 0)
            fma = 0;
        else if (strcmp(argv[i], "--all") == 0)
            all = 1;
        else if (strcmp(argv[i], "--list") == 0) {
            for (int k = 0; bench_default_models[k]; k++)
                printf("%s\n", bench_default_models[k]);
            return 0;
        } else if (argv[i][0] == '-')
            return bench_usage();
        else {
            first = i;
            break;
        }
    }
    if (o.runs < 1 || o.runs > BENCH_MAX_RUNS || o.warmup < 0 || !(o.warmup_ms >= 0))
        return bench_usage();

    if (fma) {
        const char *isa = "";
        double wall = 0;
        double peak = vs_bench_fma_peak(9, &isa, &wall);
        printf("fma_peak\t%.2f\tGFLOP/s\t%s\t%.2f\n", peak, isa, wall);
        fflush(stdout);
    }
    int failed = 0;
    if (first < argc) {
        for (int i = first; i < argc; i++)
            failed |= bench_model(argv[i], &o);
    } else {
        const char *const *names = all ? vs_nn_model_names() : bench_default_models;
        for (int i = 0; names[i]; i++)
            failed |= bench_model(names[i], &o);
    }
    return failed;
}

/*
 * fma_peak.c - measures this machine's single-core FP32 fused-multiply-add throughput, the
 * ceiling against which bench_nn.c reads an engine's GFLOP/s.
 *
 * The kernel keeps 16 independent vector accumulators, each updated by acc = acc * a + b in a
 * loop.  Sixteen chains cover FMA latency x issue width on every current core (4-5 cycles x 2
 * pipes on x86, 4 cycles x 4 pipes on big ARM cores), so the loop is bound by FMA throughput,
 * not by latency.  a is just below 1 and b small, so the values stay finite and normal forever.
 *
 * On x86-64 the widest ISA the CPU has is chosen at run time: AVX-512F (16 floats), then AVX2 +
 * FMA (8), then baseline SSE (4; a separate multiply and add, so half the FLOPs per instruction).
 * The AVX variants are compiled with __attribute__((target)), so the file needs no special
 * flags.  On aarch64 it is NEON's FMLA (4 floats); elsewhere GCC vector extensions, a floor.
 *
 * Time is the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so other processes on a shared
 * machine lower the wall-clock figure (printed too) but not the peak.
 *
 * Standalone: `gcc -O2 bench/fma_peak.c -o build/fma_peak` prints the peak.  Included by another
 * program with FMA_PEAK_NO_MAIN defined, it exposes vs_bench_fma_peak().
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime under -std=c11 */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FMA_ACC 16

static double fma_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * One kernel per vector width, written once as FMA_KERNEL_BODY so the variants cannot drift
 * apart.  Before each use the caller defines
 *   FMA_VT      the vector type,
 *   FMA_OP      FMA_OP(x, y, z) = x * y + z in one instruction (an intrinsic: -std=c11 turns off
 *               the contraction of a * b + c into an FMA),
 *   FMA_REG     the asm constraint naming a vector register of that ISA.
 * The accumulators are sixteen named variables, not an array, so they live in registers; the
 * empty asm on each keeps the compiler from reassociating or merging the chains.  `sink` defeats
 * dead-code elimination.  Returns the floating-point operations done (one FMA = 2).
 */
#define FMA_REP16(X)                                                                               \
    X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define FMA_DECL(k) FMA_VT acc##k = zero + (float)(k)*0.01f;
#define FMA_STEP(k)                                                                                \
    acc##k = FMA_OP(acc##k, a, b);                                                                 \
    __asm__ volatile("" : FMA_REG(acc##k));
#define FMA_SUM(k) sum += acc##k;
#define FMA_KERNEL_BODY(LANES)                                                                     \
    FMA_VT zero = {0};                                                                             \
    FMA_VT a = zero + 0.999999f, b = zero + 1e-6f;                                                 \
    FMA_REP16(FMA_DECL)                                                                            \
    for (long i = 0; i < iters; i++) {                                                             \
        FMA_REP16(FMA_STEP)                                                                        \
    }                                                                                              \
    FMA_VT sum = zero;                                                                             \
    FMA_REP16(FMA_SUM)                                                                             \
    float s = 0;                                                                                   \
    for (int l = 0; l < (LANES); l++)                                                              \
        s += sum[l];                                                                               \
    *sink = s;                                                                                     \
    return 2.0 * FMA_ACC * (LANES) * (double)iters;

#define FMA_MULADD(x, y, z) ((x) * (y) + (z))

#if defined(__x86_64__)
#include <immintrin.h>

/* "v" is any of the 32 EVEX registers zmm0-31. */
#define FMA_VT __m512
#define FMA_OP _mm512_fmadd_ps
#define FMA_REG "+v"
__attribute__((target("avx512f,fma"), noinline)) static double fma_run_avx512(long iters,
                                                                              float *sink)
{
    FMA_KERNEL_BODY(16)
}
#undef FMA_VT
#undef FMA_OP
#undef FMA_REG

#define FMA_VT __m256
#define FMA_OP _mm256_fmadd_ps
#define FMA_REG "+x"
__attribute__((target("avx2,fma"), noinline)) static double fma_run_avx2(long iters, float *sink)
{
    FMA_KERNEL_BODY(8)
}
#undef FMA_VT
#undef FMA_OP
#undef FMA_REG

/* Baseline x86-64 has no FMA: this is a separate multiply and add, still 2 FLOPs per lane. */
#define FMA_VT __m128
#define FMA_OP FMA_MULADD
#define FMA_REG "+x"
__attribute__((noinline)) static double fma_run_c(long iters, float *sink)
{
    FMA_KERNEL_BODY(4)
}

#elif defined(__aarch64__)
/* vfmaq_f32(z, x, y) = z + x * y is one FMLA; "w" names a SIMD register. */
#include <arm_neon.h>
#define FMA_VT float32x4_t
#define FMA_OP(x, y, z) vfmaq_f32((z), (x), (y))
#define FMA_REG "+w"
__attribute__((noinline)) static double fma_run_c(long iters, float *sink)
{
    FMA_KERNEL_BODY(4)
}

#else
/* Unknown target: the accumulators round-trip memory, so this is a floor, not a peak. */
typedef float fma_v4 __attribute__((vector_size(16)));
#define FMA_VT fma_v4
#define FMA_OP FMA_MULADD
#define FMA_REG "+m"
__attribute__((noinline)) static double fma_run_c(long iters, float *sink)
{
    FMA_KERNEL_BODY(4)
}
#endif

typedef double (*fma_kernel_fn)(long iters, float *sink);

static fma_kernel_fn fma_pick(const char **isa)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        *isa = "avx512f";
        return fma_run_avx512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        *isa = "avx2+fma";
        return fma_run_avx2;
    }
    *isa = "sse (mul+add)";
#elif defined(__aarch64__)
    *isa = "neon";
#else
    *isa = "generic-c";
#endif
    return fma_run_c;
}

static int fma_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The calling thread's CPU time in seconds: unlike wall time it does not count time spent
 * preempted, so a peak measured on a shared machine is still the core's, not its share of it. */
static double fma_thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * Measures single-core FP32 FMA throughput: `trials` (1..64) timed runs of about 50 ms each after
 * a warm-up that lets the core reach its steady clock.  Returns the median GFLOP/s over the
 * thread's CPU time (1 FMA = 2 FLOPs).  OUT (each may be NULL): *isa, a static string naming the
 * variant used; *wall_gflops, the median over wall-clock time (lower when other processes share
 * the core).
 */
__attribute__((unused)) static double vs_bench_fma_peak(int trials, const char **isa,
                                                        double *wall_gflops)
{
    const char *name = "";
    fma_kernel_fn fn = fma_pick(&name);
    if (isa)
        *isa = name;
    if (trials < 1)
        trials = 1;
    if (trials > 64)
        trials = 64;
    float sink = 0;

    /* Calibrate: grow the iteration count until one run takes >= 50 ms (also the warm-up). */
    long iters = 1 << 16;
    for (;;) {
        double t0 = fma_now();
        fn(iters, &sink);
        double dt = fma_now() - t0;
        if (dt >= 0.05 || iters > (1L << 40))
            break;
        iters *= 2;
    }
    double gf_cpu[64], gf_wall[64];
    for (int t = 0; t < trials; t++) {
        double w0 = fma_now(), c0 = fma_thread_cpu();
        double flops = fn(iters, &sink);
        double c1 = fma_thread_cpu(), w1 = fma_now();
        gf_cpu[t] = flops / (c1 - c0) * 1e-9;
        gf_wall[t] = flops / (w1 - w0) * 1e-9;
    }
    qsort(gf_cpu, (size_t)trials, sizeof gf_cpu[0], fma_cmp_double);
    qsort(gf_wall, (size_t)trials, sizeof gf_wall[0], fma_cmp_double);
    if (sink == 12345.678f) /* never true; keeps sink observable */
        fputs("", stderr);
    if (wall_gflops)
        *wall_gflops = gf_wall[trials / 2];
    return gf_cpu[trials / 2];
}

#ifndef FMA_PEAK_NO_MAIN
/* Usage: fma_peak [trials].  Prints: fma_peak <GFLOP/s (CPU time)> GFLOP/s <isa> <GFLOP/s wall> */
int main(int argc, char **argv)
{
    int trials = argc > 1 ? atoi(argv[1]) : 9;
    const char *isa = "";
    double wall = 0;
    double peak = vs_bench_fma_peak(trials, &isa, &wall);
    printf("fma_peak\t%.2f\tGFLOP/s\t%s\t%.2f\n", peak, isa, wall);
    return 0;
}
#endif

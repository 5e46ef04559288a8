/*
 * index_bench.c - the gallery index benchmark (src/index/index.h, public API only): our FLAT,
 * INT8 and HNSW on one synthetic gallery, with the data written out so that bench/index_peers.py
 * runs FAISS and hnswlib on the very same vectors and queries (bench/index_run.sh runs both).
 *
 * Data (seeded, repeatable): n faces of `dim` floats, clustered like faces: identity i has a
 * random centre and `copies` noisy copies (cosine to the centre about 0.8), unit-normalised.
 * Queries: nq, of which a quarter are strangers (an identity not in the gallery) and the rest
 * mated (a new noisy copy of an enrolled identity).  The truth is the exact top-1 face of each
 * query by our FLAT index (recall@1 of every other index, ours and the peers', is against it).
 *
 * Output: one tab-separated line per measurement on stdout (index_run.sh makes the table):
 *   row  impl  index  mode  threads  qps  p99_ms  recall1  bytes_per_vec  build_s  param
 *        recall1_mated  recall1_strangers
 * mode "single" is one query per call (p99 over those calls; with 2 threads FLAT/INT8 split
 * each query's scan, HNSW runs two searching threads), "batch" is all queries in one call.
 * Each measurement is run --reps times (default 3) and qps is the median of the runs (p99 is
 * over the calls of all runs): the machine is shared, and one slow run should not decide.
 * bytes_per_vec is the growth of the process's resident memory over the build, per vector
 * (blocks of 1 MiB and more are mmapped, so memory freed before the build is not reused by it).
 *
 *   index_bench [--n N] [--dim D] [--nq Q] [--flat-nq Q] [--m M] [--efc E] [--reps R]
 *               [--ef 16,24,32,... | --serve] [--write DIR] [--kinds flat,int8,hnsw]
 * --serve: HNSW efSearch values come from stdin instead of --ef (see bench_hnsw).
 * --write DIR saves DIR/base.f32 (n x dim), DIR/queries.f32 (nq x dim), DIR/truth.i64 (nq exact
 * top-1 face ids; face id = row) and DIR/meta.txt for the peers.
 */
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "index/index.h"

typedef struct opts {
    int n, dim, nq, flat_nq, m, efc, copies, reps, serve;
    char ef[256], kinds[64];
    const char *write_dir;
} opts;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (double)rss * (double)sysconf(_SC_PAGESIZE);
}

/* ---- data ---- */
static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float gauss(uint64_t *s)
{
    double u = ((double)(splitmix(s) >> 11) + 0.5) / 9007199254740992.0;
    double v = ((double)(splitmix(s) >> 11) + 0.5) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v));
}

/* A copy of identity `ident`: its centre plus noise (0.75 x a Gaussian of the same spread),
 * unit-normalised.  `seed` picks the copy. */
static void face_vector(float *v, int dim, uint64_t ident, uint64_t seed)
{
    uint64_t sc = ident * 7919 + 17, sn = seed * 104729 + 3;
    double norm = 0.0;
    for (int d = 0; d < dim; d++) {
        v[d] = gauss(&sc) + 0.75f * gauss(&sn);
        norm += (double)v[d] * v[d];
    }
    float inv = (float)(1.0 / sqrt(norm));
    for (int d = 0; d < dim; d++)
        v[d] *= inv;
}

static void make_data(const opts *o, float *base, float *queries)
{
    int idents = o->n / o->copies;
    for (int i = 0; i < o->n; i++)
        face_vector(base + (size_t)i * o->dim, o->dim, (uint64_t)(i / o->copies), (uint64_t)i + 1);
    for (int i = 0; i < o->nq; i++) {
        uint64_t ident = i % 4 == 3 ? (uint64_t)idents + (uint64_t)i /* stranger */
                                    : (uint64_t)i * 7919u % (uint64_t)idents;
        face_vector(queries + (size_t)i * o->dim, o->dim, ident, 0x5eed0000ull + (uint64_t)i);
    }
}

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "index_bench: cannot write %s\n", path);
    return ok ? 0 : -1;
}

/* ---- measurements ---- */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double p99(double *lat, int n)
{
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    int i = (int)ceil(0.99 * n) - 1;
    return lat[i < 0 ? 0 : i];
}

typedef struct worker {
    vs_index *idx;
    const float *q;
    int dim, q0, q1;
    int64_t *top1;
    double *lat;
} worker;

static void *run_queries(void *arg)
{
    worker *w = arg;
    vs_hit h;
    for (int i = w->q0; i < w->q1; i++) {
        int n = 0;
        double t0 = now();
        if (vs_index_search_faces(w->idx, w->q + (size_t)i * w->dim, 1, &h, &n, NULL) != VS_OK)
            n = 0;
        w->lat[i] = now() - t0;
        w->top1[i] = n ? h.face_id : -1;
    }
    return NULL;
}

/* One query per call over nq queries with `threads` searching threads; returns the QPS. */
static double single_queries(vs_index *idx, const float *q, int dim, int nq, int threads,
                             int64_t *top1, double *lat)
{
    worker w[2];
    pthread_t t;
    double t0 = now();
    for (int i = 0; i < threads; i++)
        w[i] = (worker){idx, q, dim, nq * i / threads, nq * (i + 1) / threads, top1, lat};
    if (threads == 2)
        pthread_create(&t, NULL, run_queries, &w[1]);
    run_queries(&w[0]);
    if (threads == 2)
        pthread_join(t, NULL);
    return nq / (now() - t0);
}

#define MAX_REPS 15

static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* o->reps runs of single_queries: the median QPS, and in *p99_ms the 99th percentile latency
 * over the calls of all runs (lat has room for reps x nq). */
static double single_runs(const opts *o, vs_index *idx, const float *q, int nq, int threads,
                          int64_t *top1, double *lat, double *p99_ms)
{
    double qps[MAX_REPS];
    for (int r = 0; r < o->reps; r++)
        qps[r] = single_queries(idx, q, o->dim, nq, threads, top1, lat + (size_t)r * nq);
    *p99_ms = 1e3 * p99(lat, o->reps * nq);
    return median(qps, o->reps);
}

/* recall@1 over all queries, over the mated ones and over the strangers (make_data). */
typedef struct recalls {
    double all, mated, strangers;
} recalls;

static recalls recall(const int64_t *top1, const int64_t *truth, int nq)
{
    int hit[2] = {0, 0}, total[2] = {0, 0};
    for (int i = 0; i < nq; i++) {
        int stranger = i % 4 == 3;
        hit[stranger] += top1[i] == truth[i];
        total[stranger]++;
    }
    return (recalls){(double)(hit[0] + hit[1]) / nq, total[0] ? (double)hit[0] / total[0] : 0.0,
                     total[1] ? (double)hit[1] / total[1] : 0.0};
}

static void row(const char *index, const char *mode, int threads, double qps, double p99_ms,
                recalls rec, double bpv, double build_s, const char *param)
{
    printf("row\tours\t%s\t%s\t%d\t%.2f\t%.3f\t%.4f\t%.0f\t%.2f\t%s\t%.4f\t%.4f\n", index, mode,
           threads, qps, p99_ms, rec.all, bpv, build_s, param, rec.mated, rec.strangers);
    fflush(stdout);
}

static vs_index *build(vs_index_kind kind, const opts *o, const float *base, int threads,
                       double *build_s, double *bpv)
{
    vs_index_params p;
    vs_index_params_default(&p);
    p.threads = threads;
    p.hnsw_m = o->m;
    p.ef_construction = o->efc;
    vs_index *idx = NULL;
    vs_err err = {{0}};
    double r0 = rss_bytes(), t0 = now();
    if (vs_index_new(kind, o->dim, &p, &idx, &err) != VS_OK) {
        fprintf(stderr, "index_bench: %s\n", err.msg);
        exit(1);
    }
    for (int i = 0; i < o->n; i++)
        if (vs_index_add(idx, i, i / o->copies, base + (size_t)i * o->dim, &err) != VS_OK) {
            fprintf(stderr, "index_bench: %s\n", err.msg);
            exit(1);
        }
    *build_s = now() - t0;
    *bpv = (rss_bytes() - r0) / o->n;
    return idx;
}

/* Batch QPS (all nq queries in one call) with `threads` threads; top-1s into top1. */
static double batch(vs_index *idx, const float *q, int nq, int threads, int64_t *top1)
{
    vs_hit *h = malloc((size_t)nq * sizeof *h);
    int *n = malloc((size_t)nq * sizeof *n);
    double t0 = now();
    vs_status st = vs_index_search_batch(idx, q, nq, 1, 0, threads, h, n, NULL);
    double qps = nq / (now() - t0);
    for (int i = 0; i < nq; i++)
        top1[i] = st == VS_OK && n[i] ? h[i].face_id : -1;
    free(h);
    free(n);
    return qps;
}

/* o->reps runs of batch: the median QPS. */
static double batch_runs(const opts *o, vs_index *idx, const float *q, int threads, int64_t *top1)
{
    double qps[MAX_REPS];
    for (int r = 0; r < o->reps; r++)
        qps[r] = batch(idx, q, o->nq, threads, top1);
    return median(qps, o->reps);
}

/* FLAT or INT8: single at 1 and 2 threads (the scan split), batch at 1 and 2 threads. */
static void bench_scan(vs_index_kind kind, const opts *o, const float *base, const float *q,
                       const int64_t *truth, int64_t *top1, double *lat)
{
    const char *name = vs_index_kind_name(kind);
    int nq = o->flat_nq < o->nq ? o->flat_nq : o->nq;
    for (int threads = 1; threads <= 2; threads++) {
        double build_s, bpv;
        fprintf(stderr, "# index_bench: %s, %d thread(s): build, %d single queries, batch of %d\n",
                name, threads, nq, o->nq);
        vs_index *idx = build(kind, o, base, threads, &build_s, &bpv);
        double p99_ms, qps = single_runs(o, idx, q, nq, 1, top1, lat, &p99_ms);
        row(name, "single", threads, qps, p99_ms, recall(top1, truth, nq), bpv, build_s, "-");
        qps = batch_runs(o, idx, q, threads, top1);
        row(name, "batch", threads, qps, 0.0, recall(top1, truth, o->nq), bpv, build_s, "-");
        vs_index_free(idx);
    }
}

/* The four HNSW measurements (single and batch, 1 and 2 threads) at efSearch ef. */
static void hnsw_at_ef(const opts *o, vs_index *idx, int ef, const float *q, const int64_t *truth,
                       int64_t *top1, double *lat, double bpv, double build_s)
{
    char param[64];
    vs_index_set_ef_search(idx, ef);
    snprintf(param, sizeof param, "M=%d,efC=%d,ef=%d", o->m, o->efc, ef);
    for (int threads = 1; threads <= 2; threads++) {
        double p99_ms, qps = single_runs(o, idx, q, o->nq, threads, top1, lat, &p99_ms);
        row("hnsw", "single", threads, qps, p99_ms, recall(top1, truth, o->nq), bpv, build_s,
            param);
        qps = batch_runs(o, idx, q, threads, top1);
        row("hnsw", "batch", threads, qps, 0.0, recall(top1, truth, o->nq), bpv, build_s, param);
    }
}

/*
 * HNSW: the build, then either the --ef list, or with --serve one request per line of stdin:
 * "ready" is printed after the build, each line "ef N" is answered with the rows at efSearch N
 * and a line "done"; end of input ends.  index_run.sh alternates these requests with the
 * peers' (index_peers.py --serve), so that both sides of a comparison run minutes apart, not
 * the length of a whole sweep: the machine is shared and its load drifts.
 */
static void bench_hnsw(const opts *o, const float *base, const float *q, const int64_t *truth,
                       int64_t *top1, double *lat)
{
    double build_s, bpv;
    fprintf(stderr, "# index_bench: hnsw m %d ef_construction %d: build ...\n", o->m, o->efc);
    vs_index *idx = build(VS_INDEX_HNSW, o, base, 1, &build_s, &bpv);
    if (o->serve) {
        char line[64];
        printf("ready\n");
        fflush(stdout);
        while (fgets(line, sizeof line, stdin)) {
            long ef = strncmp(line, "ef ", 3) == 0 ? strtol(line + 3, NULL, 10) : 0;
            if (ef > 0 && ef <= 1 << 20)
                hnsw_at_ef(o, idx, (int)ef, q, truth, top1, lat, bpv, build_s);
            else
                fprintf(stderr, "index_bench: bad request: %s", line);
            printf("done\n");
            fflush(stdout);
        }
    } else {
        char list[256], *save = NULL;
        snprintf(list, sizeof list, "%s", o->ef);
        for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            hnsw_at_ef(o, idx, (int)strtol(tok, NULL, 10), q, truth, top1, lat, bpv, build_s);
    }
    vs_index_free(idx);
}

static void usage(void)
{
    fprintf(stderr, "usage: index_bench [--n N] [--dim D] [--nq Q] [--flat-nq Q] [--m M] "
                    "[--efc E] [--reps R] [--ef LIST | --serve] [--kinds LIST] [--write DIR]\n");
    exit(2);
}

static void parse(int argc, char **argv, opts *o)
{
    *o = (opts){.n = 100000,
                .dim = 512,
                .nq = 1000,
                .flat_nq = 1000,
                .m = 16,
                .efc = 200,
                .copies = 5,
                .reps = 3,
                .ef = "16,32,64,128,256,512,1024,2048",
                .kinds = "flat,int8,hnsw"};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--serve")) {
            o->serve = 1;
            continue;
        }
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--n"))
            o->n = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--dim"))
            o->dim = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--nq"))
            o->nq = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--flat-nq"))
            o->flat_nq = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--m"))
            o->m = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--efc"))
            o->efc = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--reps"))
            o->reps = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--ef"))
            snprintf(o->ef, sizeof o->ef, "%s", v);
        else if (!strcmp(a, "--kinds"))
            snprintf(o->kinds, sizeof o->kinds, "%s", v);
        else if (!strcmp(a, "--write"))
            o->write_dir = v;
        else
            usage();
    }
    if (o->n < 10 || o->dim < 2 || o->dim > 4096 || o->nq < 1 || o->flat_nq < 1 || o->reps < 1 ||
        o->reps > MAX_REPS)
        usage();
}

int main(int argc, char **argv)
{
    opts o;
    parse(argc, argv, &o);
    /* A fixed mmap threshold: glibc's default one rises as big blocks are freed, after which the
     * heap keeps them and a later build reuses them without growing the resident memory. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    float *base = malloc((size_t)o.n * o.dim * sizeof(float));
    float *q = malloc((size_t)o.nq * o.dim * sizeof(float));
    int64_t *truth = malloc((size_t)o.nq * sizeof(int64_t));
    int64_t *top1 = malloc((size_t)o.nq * sizeof(int64_t));
    double *lat = malloc((size_t)o.reps * (size_t)o.nq * sizeof(double));
    if (!base || !q || !truth || !top1 || !lat) {
        fprintf(stderr, "index_bench: out of memory\n");
        return 1;
    }
    fprintf(stderr, "# index_bench: %d x %d vectors, %d queries: generating ...\n", o.n, o.dim,
            o.nq);
    make_data(&o, base, q);
    /* The truth: exact top-1 by FLAT over all queries (a batch: the fast way). */
    double bs, bpv;
    vs_index *flat = build(VS_INDEX_FLAT, &o, base, 2, &bs, &bpv);
    batch(flat, q, o.nq, 2, truth);
    vs_index_free(flat);
    if (o.write_dir) {
        char meta[256];
        int len = snprintf(meta, sizeof meta, "n %d\ndim %d\nnq %d\nflat_nq %d\ncopies %d\n", o.n,
                           o.dim, o.nq, o.flat_nq, o.copies);
        if (write_file(o.write_dir, "base.f32", base, (size_t)o.n * o.dim * sizeof(float)) ||
            write_file(o.write_dir, "queries.f32", q, (size_t)o.nq * o.dim * sizeof(float)) ||
            write_file(o.write_dir, "truth.i64", truth, (size_t)o.nq * sizeof(int64_t)) ||
            write_file(o.write_dir, "meta.txt", meta, (size_t)len))
            return 1;
    }
    if (strstr(o.kinds, "flat"))
        bench_scan(VS_INDEX_FLAT, &o, base, q, truth, top1, lat);
    if (strstr(o.kinds, "int8"))
        bench_scan(VS_INDEX_INT8, &o, base, q, truth, top1, lat);
    if (strstr(o.kinds, "hnsw"))
        bench_hnsw(&o, base, q, truth, top1, lat);
    free(base);
    free(q);
    free(truth);
    free(top1);
    free(lat);
    return 0;
}

/*
 * dw_bench.c - times our depthwise convolution (src/nn/kernels_dw.c) against XNNPACK's on the
 * depthwise layers of real models, one thread, CPU time.
 *
 * For each model named on the command line (default: blazeface-back, mobilefacenet, faceres,
 * ssd_mobilenetv1, fr_feature) it loads the finalized graph, collects its DWCONV2D nodes with a
 * depth multiplier of 1, merges nodes of identical geometry (shape, kernel, stride, padding,
 * activation) and times one of each with the node's real filter and bias on a pseudo-random
 * input: XNNPACK through the backend's own prepare/run (src/nn/backend_xnn.h), ours through
 * vs_dw_conv() (filter as stored) and through a vs_dw_plan (packed filter).  They run in turn,
 * after a warm-up, and each time is the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID: the
 * machine is shared, and preemption must not count). Before timing, the two outputs must agree
 * (normalised error <= 1e-5).
 *
 *   build/bench/dw_bench [--runs N] [--models DIR] [MODEL...]
 *
 * Prints one line per geometry (count in the model, shape, MFLOP, median ms of each, ratios
 * xnn / ours, GFLOP/s of the plan) and per model the sum over all its depthwise nodes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/backend_xnn.h"
#include "nn/kernels_dw.h"
#include "nn/model.h"

#define MAX_GEOMS 256
#define XNN_SLACK 64 /* XNNPACK may read up to XNN_EXTRA_BYTES (16) past an input */

typedef struct geom {
    const vs_node *n; /* the first node with this geometry */
    int count;
} geom;

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Whether nodes a and b compute the same function of different weights. */
static int same_geometry(const vs_graph *g, const vs_node *a, const vs_node *b)
{
    const vs_shape *xa = &g->values[a->in[0]].shape, *xb = &g->values[b->in[0]].shape;
    const vs_shape *fa = &g->values[a->in[1]].shape, *fb = &g->values[b->in[1]].shape;
    return memcmp(xa, xb, sizeof *xa) == 0 && memcmp(fa, fb, sizeof *fa) == 0 &&
           memcmp(a->stride, b->stride, sizeof a->stride) == 0 &&
           memcmp(a->pad, b->pad, sizeof a->pad) == 0 && a->act == b->act &&
           (a->n_in > 2 && a->in[2] >= 0) == (b->n_in > 2 && b->in[2] >= 0);
}

static int collect(const vs_graph *g, geom *out)
{
    int n_geom = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const vs_node *n = &g->nodes[i];
        if (n->op != VS_OP_DWCONV2D || g->values[n->in[1]].shape.dim[3] != 1)
            continue;
        int k = 0;
        while (k < n_geom && !same_geometry(g, out[k].n, n))
            k++;
        if (k == n_geom) {
            if (n_geom == MAX_GEOMS)
                continue;
            out[n_geom++] = (geom){n, 0};
        }
        out[k].count++;
    }
    return n_geom;
}

static double norm_err(const float *a, const float *b, size_t n)
{
    double worst = 0.0, scale = 1.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d))
            return INFINITY;
        worst = d > worst ? d : worst;
        scale = fabs(b[i]) > scale ? fabs(b[i]) : scale;
    }
    return worst / scale;
}

/* Times one node; OUT: median ms of ours (vs_dw_conv, then a vs_dw_plan) and of XNNPACK.
 * Returns 0 on success. */
static int bench_node(const vs_graph *g, const vs_node *n, int runs, double *ms_ours,
                      double *ms_plan, double *ms_xnn)
{
    vs_tview in[VS_MAX_IN] = {{0}};
    for (int i = 0; i < n->n_in; i++) {
        if (n->in[i] >= 0) {
            in[i].data = g->values[n->in[i]].data;
            in[i].shape = g->values[n->in[i]].shape;
        }
    }
    const vs_shape *ys = &g->values[n->out].shape;
    size_t xn = (size_t)vs_shape_numel(&in[0].shape), yn = (size_t)vs_shape_numel(ys);
    float *x = malloc(xn * sizeof *x + XNN_SLACK);
    float *y0 = malloc(yn * sizeof *y0), *y1 = malloc(yn * sizeof *y1);
    double *t0 = malloc((size_t)runs * sizeof *t0), *t1 = malloc((size_t)runs * sizeof *t1);
    double *t2 = malloc((size_t)runs * sizeof *t2);
    vs_xnn_op *op = NULL;
    vs_dw_plan *plan = NULL;
    int rc = 1;
    if (!x || !y0 || !y1 || !t0 || !t1 || !t2)
        goto out;
    for (size_t i = 0; i < xn; i++)
        x[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    in[0].data = x;
    vs_tview o0 = {y0, *ys}, o1 = {y1, *ys};
    vs_status st = vs_xnn_prepare(n, in, &o1, NULL, &op);
    if (st != VS_OK) {
        fprintf(stderr, "%s: xnnpack prepare: %s\n", n->name, vs_status_str(st));
        goto out;
    }
    st = vs_dw_conv(n, in, &o0, NULL);
    if (st != VS_OK || vs_xnn_run(op) != VS_OK) {
        fprintf(stderr, "%s: run: %s\n", n->name, vs_status_str(st));
        goto out;
    }
    double err = norm_err(y0, y1, yn);
    if (!(err <= 1e-5)) {
        fprintf(stderr, "%s: ours and xnnpack differ: %g\n", n->name, err);
        goto out;
    }
    st = vs_dw_plan_new(n, in, &o0, &plan);
    if (st == VS_OK)
        st = vs_dw_plan_run(plan, x, y0, NULL);
    err = st == VS_OK ? norm_err(y0, y1, yn) : INFINITY;
    if (!(err <= 1e-5)) {
        fprintf(stderr, "%s: plan: %s, differs from xnnpack by %g\n", n->name, vs_status_str(st),
                err);
        goto out;
    }
    for (int r = 0; r < 5; r++) {
        vs_dw_conv(n, in, &o0, NULL);
        vs_dw_plan_run(plan, x, y0, NULL);
        vs_xnn_run(op);
    }
    for (int r = 0; r < runs; r++) {
        double a = cpu_ms();
        vs_dw_conv(n, in, &o0, NULL);
        double b = cpu_ms();
        vs_dw_plan_run(plan, x, y0, NULL);
        double c = cpu_ms();
        vs_xnn_run(op);
        double d = cpu_ms();
        t0[r] = b - a;
        t2[r] = c - b;
        t1[r] = d - c;
    }
    *ms_ours = median(t0, runs);
    *ms_plan = median(t2, runs);
    *ms_xnn = median(t1, runs);
    rc = 0;
out:
    vs_xnn_free(op);
    vs_dw_plan_free(plan);
    free(t2);
    free(x);
    free(y0);
    free(y1);
    free(t0);
    free(t1);
    return rc;
}

static void shape_str(const vs_shape *s, char *buf, size_t len)
{
    snprintf(buf, len, "%lldx%lldx%lld", (long long)s->dim[1], (long long)s->dim[2],
             (long long)s->dim[3]);
}

static const char *const act_names[] = {"none", "relu", "relu6", "clamp", "prelu", "leaky", "sigm"};

static int bench_model(const char *dir, const char *name, int runs)
{
    vs_model *m = NULL;
    vs_err err = {{0}};
    if (vs_nn_model_load(dir, name, NULL, &m, &err) != VS_OK) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return 1;
    }
    const vs_graph *g = m->g;
    static geom gs[MAX_GEOMS];
    int n_geom = collect(g, gs);
    double sum_ours = 0, sum_plan = 0, sum_xnn = 0;
    printf("\n%s: %d depthwise geometries\n", name, n_geom);
    printf("%3s %-13s %-13s %5s %-10s %-6s %6s %8s %8s %8s %6s %6s %7s\n", "n", "in", "out", "k/s",
           "pad", "act", "MFLOP", "conv ms", "plan ms", "xnn ms", "xnn/cv", "xnn/pl", "GFLOP/s");
    for (int i = 0; i < n_geom; i++) {
        const vs_node *n = gs[i].n;
        double mo = 0, mp = 0, mx = 0;
        if (bench_node(g, n, runs, &mo, &mp, &mx) != 0)
            continue;
        char si[32], so[32], pad[32];
        shape_str(&g->values[n->in[0]].shape, si, sizeof si);
        shape_str(&g->values[n->out].shape, so, sizeof so);
        snprintf(pad, sizeof pad, "%d,%d,%d,%d", n->pad[0], n->pad[1], n->pad[2], n->pad[3]);
        double mflop = vs_node_flops(g, n) * 1e-6;
        printf("%3d %-13s %-13s %2lld/%-2d %-10s %-6s %6.2f %8.4f %8.4f %8.4f %6.2f %6.2f %7.1f\n",
               gs[i].count, si, so, (long long)g->values[n->in[1]].shape.dim[0], n->stride[0], pad,
               act_names[n->act], mflop, mo, mp, mx, mx / mo, mx / mp, mflop / mp);
        sum_ours += gs[i].count * mo;
        sum_plan += gs[i].count * mp;
        sum_xnn += gs[i].count * mx;
    }
    printf("%s: all depthwise nodes: conv %.3f ms, plan %.3f ms, xnnpack %.3f ms, "
           "xnn/conv %.2f, xnn/plan %.2f\n",
           name, sum_ours, sum_plan, sum_xnn, sum_xnn / sum_ours, sum_xnn / sum_plan);
    vs_nn_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    static const char *const defaults[] = {"blazeface-back", "mobilefacenet", "faceres",
                                           "ssd_mobilenetv1", "fr_feature"};
    const char *dir = NULL;
    int runs = 51, first = 1;
    while (first < argc && argv[first][0] == '-') {
        if (strcmp(argv[first], "--runs") == 0 && first + 1 < argc) {
            runs = (int)strtol(argv[first + 1], NULL, 10);
            first += 2;
        } else if (strcmp(argv[first], "--models") == 0 && first + 1 < argc) {
            dir = argv[first + 1];
            first += 2;
        } else {
            fprintf(stderr, "usage: %s [--runs N] [--models DIR] [MODEL...]\n", argv[0]);
            return 2;
        }
    }
    if (runs < 1)
        runs = 1;
    if (vs_xnn_init() != VS_OK) {
        fprintf(stderr, "xnnpack init failed\n");
        return 1;
    }
    int fails = 0;
    if (first < argc) {
        for (int i = first; i < argc; i++)
            fails += bench_model(dir, argv[i], runs);
    } else {
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
            fails += bench_model(dir, defaults[i], runs);
    }
    return fails ? 1 : 0;
}

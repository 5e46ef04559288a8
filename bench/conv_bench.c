/*
 * conv_bench.c - times our direct convolution for few input channels (src/nn/kernels_conv.c)
 * against XNNPACK's on the first layers of real models, one thread, CPU time.
 *
 * For each model named on the command line it loads the finalized graph and, for every CONV2D
 * node with at most 4 input channels, prepares the node both ways with its real filter and bias
 * on a pseudo-random input and runs them in turn 31 times (median of the calling thread's CPU
 * time).  Prints the node's geometry, MFLOP, both times and GFLOP/s, the ratio xnn / ours and the
 * normalised difference of the outputs.  runtime.c's prefer_own_conv follows these figures.
 *
 *   build/bench/conv_bench MODEL...      (models from $VISAGE_MODELS or models/)
 */
#include "nn/backend_xnn.h"
#include "nn/kernels_conv.h"
#include "nn/model.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}
static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: conv_bench MODEL...\n");
        return 2;
    }
    vs_xnn_init();
    for (int a = 1; a < argc; a++) {
        vs_err err;
        vs_model *m;
        if (vs_nn_model_load(NULL, argv[a], NULL, &m, &err) != VS_OK)
            continue;
        vs_graph *g = m->g;
        for (int i = 0; i < g->n_nodes; i++) {
            vs_node *n = &g->nodes[i];
            if (n->op != VS_OP_CONV2D || g->values[n->in[0]].shape.dim[3] > 4)
                continue;
            vs_tview in[VS_MAX_IN] = {0}, out = {0};
            for (int k = 0; k < n->n_in; k++)
                if (n->in[k] >= 0) {
                    in[k].shape = g->values[n->in[k]].shape;
                    in[k].data = g->values[n->in[k]].data;
                }
            out.shape = g->values[n->out].shape;
            size_t nx = vs_shape_numel(&in[0].shape), ny = vs_shape_numel(&out.shape);
            float *x = malloc(nx * sizeof(float) + 64), *y = malloc(ny * sizeof(float) + 64);
            float *y2 = malloc(ny * sizeof(float) + 64); /* XNNPACK may read past an input */
            vs_conv_plan *cp = NULL;
            vs_xnn_op *xo = NULL;
            if (!x || !y || !y2)
                goto next;
            for (size_t k = 0; k < nx; k++)
                x[k] = (float)((k * 2654435761u) % 1000) / 500.0f - 1.0f;
            in[0].data = x;
            out.data = y;
            vs_tview out2 = out;
            out2.data = y2;
            if (vs_conv_plan_new(n, in, &out, 1, &cp) != VS_OK) {
                printf("%-16s %-40.40s: not ours (activation %d)\n", argv[a], n->name, n->act);
                goto next;
            }
            if (vs_xnn_prepare(n, in, &out2, NULL, &xo) != VS_OK) {
                printf("%-16s %-40.40s: XNNPACK refused it\n", argv[a], n->name);
                goto next;
            }
            double to[31], tx[31];
            for (int r = 0; r < 31; r++) {
                double t0 = cpu_ms();
                vs_conv_plan_run(cp, NULL);
                double t1 = cpu_ms();
                vs_xnn_run(xo);
                double t2 = cpu_ms();
                to[r] = t1 - t0;
                tx[r] = t2 - t1;
            }
            qsort(to, 31, 8, cmpd);
            qsort(tx, 31, 8, cmpd);
            double md = 0, mr = 0;
            for (size_t k = 0; k < ny; k++) {
                md = fmax(md, fabs(y[k] - y2[k]));
                mr = fmax(mr, fabs(y2[k]));
            }
            double fl = vs_node_flops(g, n) / 1e6;
            printf("%-16s %-40.40s in %lldx%lldx%lld k%lldx%lld s%d -> %lld: %.1f MFLOP ours %.3f "
                   "ms (%.0f GF/s) xnn %.3f ms (%.0f GF/s) ratio %.2f err %.2e\n",
                   argv[a], n->name, (long long)in[0].shape.dim[1], (long long)in[0].shape.dim[2],
                   (long long)in[0].shape.dim[3], (long long)in[1].shape.dim[0],
                   (long long)in[1].shape.dim[1], n->stride[0], (long long)out.shape.dim[3], fl,
                   to[15], fl / to[15], tx[15], fl / tx[15], tx[15] / to[15],
                   md / (mr > 1 ? mr : 1));
        next:
            vs_conv_plan_free(cp);
            vs_xnn_free(xo);
            free(x);
            free(y);
            free(y2);
        }
        vs_nn_model_free(m);
    }
}

/*
 * test_block.c - the residual-block kernel (src/nn/kernels_block.c) against the reference
 * kernels, on small graphs built by hand: input -> DWCONV2D -> CONV2D 1x1 (+bias) -> ADD(input)
 * (+activation) -> output, BlazeFace's block.
 *
 * Each case finalizes the graph, runs it on the reference backend and on the XNNPACK backend
 * (1 thread and 2), and requires max|xnn - ref| / max|ref| <= 1e-4 and that the XNNPACK runtime
 * ran the block fused exactly when the case says it must (vs_nn_runtime_blocks): channel counts
 * with and without an 8-lane tail, row widths with and without a 4-pixel tail, stride-1 padding,
 * every activation an ADD carries, BlazeFace's stride-2 blocks (the residual max-pooled, and
 * channel-padded when the block widens), and the cases the runtime must leave to the
 * node-by-node path (an intermediate that is also a graph output, fewer than 8 channels).
 * The input is refilled between runs, so a kernel that kept stale data fails.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/kernels_block.h"
#include "nn/model.h"

#define MAX_ERR 1e-4

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static float frand(float lo, float hi)
{
    return rand_uniform(&rng_state, lo, hi);
}

static float *rand_data(int64_t n, float lo, float hi)
{
    float *p = malloc((size_t)n * sizeof *p);
    if (p)
        for (int64_t i = 0; i < n; i++)
            p[i] = frand(lo, hi);
    return p;
}

typedef struct block_case {
    const char *name;
    int h, w, c, k;  /* input height, width, channels; depthwise kernel size */
    int bias;        /* the 1x1 node has a bias */
    vs_act act;      /* on the ADD */
    int expose_dw;   /* the depthwise output is also a graph output: no fusion */
    int want_blocks; /* blocks the XNNPACK runtime must fuse */
    int pooled;      /* BlazeFace's stride-2 block: dw stride 2, residual = maxpool 2x2 of x */
    int out_c;       /* pooled: output channels (> c: the residual is channel-padded), else c */
    int keep_x;      /* the input is also a graph output (without it, the memory plan itself
                        keeps a pooled block's input alive through the block: graph_plan.c) */
} block_case;

/* input -> dw (SAME) -> 1x1 (+bias) -> add(input) (+act), or for a pooled case
 * input -> dw stride 2 (SAME), maxpool 2x2 stride 2 (VALID) -> 1x1 (+bias) -> [pad channels] ->
 * add(1x1, pooled) (+act), nodes added in BlazeFace's order; NULL on failure. */
static vs_graph *build(const block_case *bc)
{
    vs_graph *g = vs_graph_new(bc->name);
    if (!g)
        return NULL;
    const int64_t c = bc->c, oc = bc->pooled ? bc->out_c : c;
    const int64_t xd[4] = {1, bc->h, bc->w, c}, dwd[4] = {bc->k, bc->k, c, 1};
    const int64_t pwd[4] = {1, 1, c, oc}, bd[1] = {oc};
    vs_shape xs = vs_shape_make(4, xd), dws = vs_shape_make(4, dwd), pws = vs_shape_make(4, pwd);
    vs_shape bs = vs_shape_make(1, bd);
    int x = vs_graph_add_input(g, "x", &xs);
    int wdw = vs_graph_add_const(g, "dw_w", VS_DT_F32, &dws, rand_data(bc->k * bc->k * c, -1, 1));
    int wpw = vs_graph_add_const(g, "pw_w", VS_DT_F32, &pws, rand_data(c * oc, -0.5f, 0.5f));
    int b = bc->bias ? vs_graph_add_const(g, "pw_b", VS_DT_F32, &bs, rand_data(oc, -1, 1)) : -1;
    int in_dw[2] = {x, wdw};
    int dw = vs_graph_add_node(g, VS_OP_DWCONV2D, "dw", in_dw, 2);
    if (dw < 0)
        goto fail;
    vs_graph_node(g, dw)->padmode = VS_PAD_SAME;
    int res = x;
    if (bc->pooled) {
        vs_node *dn = vs_graph_node(g, dw);
        dn->stride[0] = dn->stride[1] = 2;
        int pool = vs_graph_add_node(g, VS_OP_MAXPOOL, "pool", &x, 1);
        if (pool < 0)
            goto fail;
        vs_node *pn = vs_graph_node(g, pool);
        pn->ksize[0] = pn->ksize[1] = 2;
        pn->stride[0] = pn->stride[1] = 2;
        res = vs_graph_node_out(g, pool);
    }
    int in_pw[3] = {vs_graph_node_out(g, dw), wpw, b};
    int pw = vs_graph_add_node(g, VS_OP_CONV2D, "pw", in_pw, bc->bias ? 3 : 2);
    if (pw < 0)
        goto fail;
    if (oc > c) {
        int pad = vs_graph_add_node(g, VS_OP_PAD, "pad", &res, 1);
        if (pad < 0)
            goto fail;
        vs_graph_node(g, pad)->pads[3][1] = oc - c;
        res = vs_graph_node_out(g, pad);
    }
    int in_add[2] = {vs_graph_node_out(g, pw), res};
    int add = vs_graph_add_node(g, VS_OP_ADD, "add", in_add, 2);
    if (add < 0)
        goto fail;
    vs_node *an = vs_graph_node(g, add);
    an->act = bc->act;
    an->act_min = -0.5f;
    an->act_max = 0.75f;
    if (vs_graph_mark_output(g, vs_graph_node_out(g, add)) != VS_OK ||
        (bc->expose_dw && vs_graph_mark_output(g, vs_graph_node_out(g, dw)) != VS_OK) ||
        (bc->keep_x && vs_graph_mark_output(g, x) != VS_OK))
        goto fail;
    vs_err err = {0};
    if (vs_graph_finalize(g, &err) != VS_OK) {
        printf("  finalize %s: %s\n", bc->name, err.msg);
        goto fail;
    }
    return g;
fail:
    vs_graph_free(g);
    return NULL;
}

/* Runs m on a fresh runtime with input x; copies output 0 into out.  Returns the runtime's
 * fused-block count, or -1 on failure. */
static int run(const vs_model *m, vs_nn_backend be, int threads, const float *x, int64_t nx,
               float *out, int64_t nout)
{
    vs_runtime *rt = NULL;
    vs_err err = {0};
    if (vs_nn_runtime_new(m, be, threads, &rt, &err) != VS_OK) {
        printf("  runtime: %s\n", err.msg);
        return -1;
    }
    int blocks = vs_nn_runtime_blocks(rt);
    /* Garbage first, then the real input: a kernel that read it at prepare time fails. */
    float *in = vs_nn_input(rt, 0);
    for (int64_t i = 0; i < nx; i++)
        in[i] = 1e6f;
    memcpy(in, x, (size_t)nx * sizeof *x);
    if (vs_nn_run(rt, &err) != VS_OK) {
        printf("  run: %s\n", err.msg);
        blocks = -1;
    } else {
        memcpy(out, vs_nn_output(rt, 0), (size_t)nout * sizeof *out);
    }
    vs_nn_runtime_free(rt);
    return blocks;
}

static double norm_err(const float *a, const float *r, int64_t n)
{
    double md = 0, mr = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - r[i]);
        md = d > md || isnan(d) ? d : md;
        mr = fabs(r[i]) > mr ? fabs(r[i]) : mr;
    }
    return md / (mr > 1 ? mr : 1);
}

static void check_case(const block_case *bc)
{
    vs_graph *g = build(bc);
    CHECK(g != NULL, "%s: graph", bc->name);
    if (!g)
        return;
    vs_model m = {.g = g, .format = "test"};
    const int64_t n = (int64_t)bc->h * bc->w * bc->c;
    const int64_t ny = vs_shape_numel(&g->values[g->outputs[0]].shape);
    float *x = rand_data(n, -2, 2), *ref = malloc((size_t)ny * sizeof *ref);
    float *got = malloc((size_t)ny * sizeof *got);
    if (x && ref && got) {
        int rb = run(&m, VS_NN_BACKEND_REF, 1, x, n, ref, ny);
        CHECK(rb == 0, "%s: reference backend: %d blocks", bc->name, rb);
        for (int threads = 1; threads <= 2; threads++) {
            int blocks = run(&m, VS_NN_BACKEND_XNNPACK, threads, x, n, got, ny);
            double e = blocks < 0 ? INFINITY : norm_err(got, ref, ny);
            CHECK(blocks == bc->want_blocks, "%s/%dT: %d fused blocks, want %d", bc->name, threads,
                  blocks, bc->want_blocks);
            CHECK(e <= MAX_ERR, "%s/%dT: error %.3g", bc->name, threads, e);
            printf("  %-4s %-34s %dT blocks %d  error %.2e\n", e <= MAX_ERR ? "ok" : "FAIL",
                   bc->name, threads, blocks, e);
        }
    } else {
        CHECK(0, "%s: out of memory", bc->name);
    }
    free(x);
    free(ref);
    free(got);
    vs_graph_free(g);
}

static const block_case cases[] = {
    {"blazeface 32x32x24 3x3 relu", 32, 32, 24, 3, 1, VS_ACT_RELU, 0, 1, 0, 0, 0},
    {"tail lanes 9x13x20 3x3 relu", 9, 13, 20, 3, 1, VS_ACT_RELU, 0, 1, 0, 0, 0},
    {"wide 8x8x96 3x3 none", 8, 8, 96, 3, 1, VS_ACT_NONE, 0, 1, 0, 0, 0},
    {"two groups 7x6x48 5x5 relu6", 7, 6, 48, 5, 1, VS_ACT_RELU6, 0, 1, 0, 0, 0},
    {"no bias 5x5x40 3x3 clamp", 5, 5, 40, 3, 0, VS_ACT_CLAMP, 0, 1, 0, 0, 0},
    {"one vector 6x7x8 3x3 relu", 6, 7, 8, 3, 1, VS_ACT_RELU, 0, 1, 0, 0, 0},
    {"one row 1x9x24 3x3 relu", 1, 9, 24, 3, 1, VS_ACT_RELU, 0, 1, 0, 0, 0},
    {"dw output read outside: no fusion", 8, 8, 24, 3, 1, VS_ACT_RELU, 1, 0, 0, 0, 0},
    {"4 channels: no fusion", 8, 8, 4, 3, 1, VS_ACT_RELU, 0, 0, 0, 0, 0},
    {"pooled 16x16x24 s2 relu", 16, 16, 24, 3, 1, VS_ACT_RELU, 0, 1, 1, 24, 1},
    {"pooled, input kept alive by the plan", 16, 16, 24, 3, 1, VS_ACT_RELU, 0, 1, 1, 24, 0},
    {"pooled + pad 12x10x24->48 s2 relu", 12, 10, 24, 3, 1, VS_ACT_RELU, 0, 1, 1, 48, 1},
    {"pooled + pad 8x8x20->36 s2 none", 8, 8, 20, 3, 0, VS_ACT_NONE, 0, 1, 1, 36, 1},
    {"pooled, dw read outside: no fusion", 8, 8, 24, 3, 1, VS_ACT_RELU, 1, 0, 1, 24, 0},
};

/* vs_block_plan_new itself refuses a block whose output would overlap its input (rows in flight
 * would read what earlier rows wrote), whatever the memory plan did: the views of a real pooled
 * block, with the output pointed into the input. */
static void output_over_input_is_refused(void)
{
    const block_case bc = {"overlap", 16, 16, 24, 3, 1, VS_ACT_RELU, 0, 1, 1, 24, 0};
    vs_graph *g = build(&bc);
    CHECK(g && g->n_nodes == 4, "overlap: the pooled graph has %d nodes", g ? g->n_nodes : -1);
    if (!g || g->n_nodes != 4) {
        vs_graph_free(g);
        return;
    }
    static float x[16 * 16 * 24 + 64], mid[3][8 * 8 * 24];
    vs_tview in[4][VS_MAX_IN] = {{{0}}};
    vs_block_node b[4];
    for (int i = 0; i < 4; i++) {
        const vs_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0) {
                const vs_value *v = &g->values[n->in[k]];
                in[i][k].shape = v->shape;
                in[i][k].data = v->data ? v->data : v->is_input ? x : mid[v->producer % 3];
            }
        b[i] = (vs_block_node){n, in[i], {mid[i % 3], g->values[n->out].shape}};
    }
    vs_block_plan *p = NULL;
    const vs_status apart = vs_block_plan_new(b, 4, 1, &p);
    CHECK(apart == VS_OK && p, "overlap: the block with its output apart: %s",
          vs_status_str(apart));
    vs_block_plan_free(p);
    b[3].out.data = x + 24; /* the add's output inside the input */
    const vs_status over = vs_block_plan_new(b, 4, 1, &p);
    CHECK(over == VS_UNSUPPORTED && !p, "overlap: output over input: %s", vs_status_str(over));
    printf("  %-4s a pooled block whose output overlaps its input is refused\n",
           over == VS_UNSUPPORTED ? "ok" : "FAIL");
    vs_graph_free(g);
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
    output_over_input_is_refused();
    printf(failures ? "test_block: %d failure(s)\n" : "test_block: all passed\n", failures);
    return failures ? 1 : 0;
}

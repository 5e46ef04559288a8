/*
 * runtime.c - running a loaded model: one arena, one prepared kernel per node.
 *
 * vs_nn_runtime_new does all the allocation a runtime will ever do: the activation arena the
 * memory plan sized, the tensor views of every node, and (on the XNNPACK backend) one XNNPACK
 * operator per node that XNNPACK can run, created and set up against the arena's fixed
 * addresses.  Our own kernels take the nodes they run faster (kernels_dw.c, kernels_conv.c, and
 * kernels_block.c for consecutive nodes that form a residual block) or that XNNPACK has no operator
 * for (kernels_ew.c); the rest use the reference kernels, so every model runs on both backends.
 * vs_nn_run then only walks the nodes.
 *
 * A runtime belongs to one thread at a time; several runtimes may share one model.
 */
#include <stdlib.h>
#include <string.h>

#include "backend_xnn.h"
#include "kernels.h"
#include "kernels_block.h"
#include "kernels_conv.h"
#include "kernels_dw.h"
#include "kernels_ew.h"
#include "model.h"

typedef struct node_exec {
    vs_tview in[VS_MAX_IN];
    vs_tview out;
    vs_xnn_op *xop;     /* XNNPACK operator, or */
    vs_dw_plan *dw;     /* our depthwise kernel, or */
    vs_conv_plan *cv;   /* our convolution for few input channels, or */
    vs_ew_plan *ew;     /* our element-wise kernel, or */
    vs_block_plan *blk; /* a residual block starting at this node (kernels_block.h), or */
    int in_block;       /* this node is done by the block before it, or none of them: the
                           reference kernel */
} node_exec;

struct vs_runtime {
    const vs_model *m;
    vs_nn_backend backend;
    unsigned char *arena;
    node_exec *exec;
    pthreadpool_t pool;
};

/* XNNPACK packs the weights of these ops when it creates the operator, so it may only run them
 * when those inputs are constants of the model (in practice they always are). */
static int weights_are_const(const vs_graph *g, const vs_node *n)
{
    int first = n->op == VS_OP_CONV2D || n->op == VS_OP_DWCONV2D || n->op == VS_OP_MATMUL ||
                        n->op == VS_OP_PRELU
                    ? 1
                    : n->n_in;
    for (int k = first; k < n->n_in; k++)
        if (n->in[k] >= 0 && !g->values[n->in[k]].data)
            return 0;
    return 1;
}

/* Our depthwise kernel beats Debian's XNNPACK on narrow layers, stride-1 layers up to 256
 * channels and global (1x1 output) depthwise layers; XNNPACK keeps the rest and PReLU layers
 * (measured per shape: bench/dw_bench.c). */
static int prefer_own_dwconv(const vs_node *n, const vs_tview *in, const vs_tview *out)
{
    if (n->op != VS_OP_DWCONV2D)
        return 0;
    int64_t c = in[0].shape.dim[3];
    int global = out->shape.dim[1] == 1 && out->shape.dim[2] == 1;
    return global || (n->act != VS_ACT_PRELU && (c <= 64 || (n->stride[0] == 1 && c <= 256)));
}

/* Readers of each value (node inputs, plus one for a graph output), for the block fusion:
 * its two intermediate tensors must have no reader outside the block.  NULL on no memory. */
static int *count_readers(const vs_graph *g)
{
    int *r = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof *r);
    if (!r)
        return NULL;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0)
                r[g->nodes[i].in[k]]++;
    for (int i = 0; i < g->n_outputs; i++)
        r[g->outputs[i]]++;
    return r;
}

/* The node sequences kernels_block.c runs as one residual block (see vs_block_plan_new). */
static const vs_op block_forms[][5] = {
    {VS_OP_DWCONV2D, VS_OP_CONV2D, VS_OP_ADD},
    {VS_OP_DWCONV2D, VS_OP_MAXPOOL, VS_OP_CONV2D, VS_OP_ADD},
    {VS_OP_DWCONV2D, VS_OP_MAXPOOL, VS_OP_CONV2D, VS_OP_PAD, VS_OP_ADD},
};
static const int block_form_len[] = {3, 4, 5};

/* Node i and those after it as one residual block (kernels_block.h), when they form one and
 * its intermediate tensors are read inside the block alone: the plan in *plan and its node
 * count in *count, or *plan = NULL. */
static vs_status try_block(const vs_runtime *rt, const int *readers, int i, int threads,
                           vs_block_plan **plan, int *count)
{
    const vs_graph *g = rt->m->g;
    *plan = NULL;
    for (size_t f = 0; f < sizeof block_form_len / sizeof block_form_len[0]; f++) {
        const int len = block_form_len[f];
        int ok = i + len <= g->n_nodes;
        for (int k = 0; ok && k < len; k++) {
            const vs_node *n = &g->nodes[i + k];
            ok = n->op == block_forms[f][k] && (k == len - 1 || readers[n->out] == 1) &&
                 (n->op != VS_OP_CONV2D || weights_are_const(g, n));
        }
        if (!ok)
            continue;
        vs_block_node b[5];
        for (int k = 0; k < len; k++)
            b[k] = (vs_block_node){&g->nodes[i + k], rt->exec[i + k].in, rt->exec[i + k].out};
        vs_status st = vs_block_plan_new(b, len, threads, plan);
        if (st == VS_OK)
            *count = len;
        if (st != VS_UNSUPPORTED)
            return st;
    }
    return VS_OK;
}

/* Our direct convolution (kernels_conv.c) beats XNNPACK's on a first layer with a multiple of 24
 * output channels (BlazeFace's 5x5x3 -> 24: 1.2x) and loses with 32 or 64, where XNNPACK's
 * 16-wide tiles waste nothing (measured per layer: bench/conv_bench.c). */
static int prefer_own_conv(const vs_node *n, const vs_tview *in, const vs_tview *out)
{
    return n->op == VS_OP_CONV2D && in[0].shape.rank == 4 && in[0].shape.dim[3] <= 4 &&
           out->shape.rank == 4 && out->shape.dim[3] % 24 == 0;
}

static float *value_ptr(const vs_runtime *rt, int v)
{
    const vs_value *val = &rt->m->g->values[v];
    if (val->data)
        return val->data;
    return (float *)(rt->arena + val->offset);
}

static vs_tview view_of(const vs_runtime *rt, int v)
{
    vs_tview t = {0};
    if (v < 0)
        return t;
    t.data = value_ptr(rt, v);
    t.shape = rt->m->g->values[v].shape;
    return t;
}

vs_status vs_nn_runtime_new(const vs_model *m, vs_nn_backend backend, int threads, vs_runtime **out,
                            vs_err *err)
{
    *out = NULL;
    const vs_graph *g = m->g;
    if (threads < 1)
        return vs_err_set(err, VS_INVAL, "threads must be >= 1");
    vs_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return vs_err_set(err, VS_NOMEM, "runtime for %s", g->name);
    rt->m = m;
    rt->backend = backend;
    vs_status st = VS_OK;
    int *readers = NULL;
    rt->arena = aligned_alloc(64, g->arena_bytes);
    rt->exec = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *rt->exec);
    if (!rt->arena || !rt->exec) {
        st = vs_err_set(err, VS_NOMEM, "arena of %zu bytes for %s", g->arena_bytes, g->name);
        goto fail;
    }
    /* Deterministic contents: a model that read uninitialised memory would show up as a
     * mismatch between runs rather than as luck. */
    memset(rt->arena, 0, g->arena_bytes);
    if (backend == VS_NN_BACKEND_XNNPACK) {
        st = vs_xnn_init();
        if (st != VS_OK) {
            vs_err_set(err, st, "XNNPACK initialisation failed");
            goto fail;
        }
        if (threads > 1) {
            rt->pool = pthreadpool_create((size_t)threads);
            if (!rt->pool) {
                st = vs_err_set(err, VS_NOMEM, "thread pool of %d threads", threads);
                goto fail;
            }
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const vs_node *n = &g->nodes[i];
        node_exec *e = &rt->exec[i];
        for (int k = 0; k < n->n_in; k++)
            e->in[k] = view_of(rt, n->in[k]);
        e->out = view_of(rt, n->out);
    }
    if (backend == VS_NN_BACKEND_XNNPACK) {
        readers = count_readers(g);
        if (!readers) {
            st = vs_err_set(err, VS_NOMEM, "runtime for %s", g->name);
            goto fail;
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const vs_node *n = &g->nodes[i];
        node_exec *e = &rt->exec[i];
        if (backend != VS_NN_BACKEND_XNNPACK || e->in_block || !weights_are_const(g, n))
            continue;
        int block_len = 0;
        st = try_block(rt, readers, i, threads, &e->blk, &block_len);
        if (st != VS_OK) {
            vs_err_set(err, st, "could not prepare the block at node %s", n->name);
            goto fail;
        }
        if (e->blk) {
            for (int k = 1; k < block_len; k++)
                rt->exec[i + k].in_block = 1;
            continue;
        }
        if (prefer_own_conv(n, e->in, &e->out) &&
            vs_conv_plan_new(n, e->in, &e->out, threads, &e->cv) == VS_OK)
            continue;
        e->cv = NULL;
        if (prefer_own_dwconv(n, e->in, &e->out) &&
            vs_dw_plan_new(n, e->in, &e->out, &e->dw) == VS_OK)
            continue;
        e->dw = NULL;
        st = vs_ew_plan_new(n, e->in, &e->out, &e->ew);
        if (st == VS_OK)
            continue;
        if (st != VS_UNSUPPORTED) {
            vs_err_set(err, st, "could not prepare node %s (%s)", n->name, vs_op_name(n->op));
            goto fail;
        }
        st = vs_xnn_prepare(n, e->in, &e->out, rt->pool, &e->xop);
        if (st == VS_UNSUPPORTED) {
            st = VS_OK;
            e->xop = NULL;
        } else if (st != VS_OK) {
            vs_err_set(err, st, "XNNPACK could not prepare node %s (%s)", n->name,
                       vs_op_name(n->op));
            goto fail;
        }
    }
    free(readers);
    *out = rt;
    return VS_OK;
fail:
    free(readers);
    vs_nn_runtime_free(rt);
    return st;
}

void vs_nn_runtime_free(vs_runtime *rt)
{
    if (!rt)
        return;
    if (rt->exec)
        for (int i = 0; i < rt->m->g->n_nodes; i++) {
            vs_xnn_free(rt->exec[i].xop);
            vs_dw_plan_free(rt->exec[i].dw);
            vs_ew_plan_free(rt->exec[i].ew);
            vs_block_plan_free(rt->exec[i].blk);
            vs_conv_plan_free(rt->exec[i].cv);
        }
    if (rt->pool)
        pthreadpool_destroy(rt->pool);
    free(rt->exec);
    free(rt->arena);
    free(rt);
}

float *vs_nn_input(vs_runtime *rt, int i)
{
    return value_ptr(rt, rt->m->g->inputs[i]);
}

const float *vs_nn_output(const vs_runtime *rt, int i)
{
    return value_ptr(rt, rt->m->g->outputs[i]);
}

vs_status vs_nn_run(vs_runtime *rt, vs_err *err)
{
    const vs_graph *g = rt->m->g;
    for (int i = 0; i < g->n_nodes; i++) {
        node_exec *e = &rt->exec[i];
        if (e->in_block)
            continue;
        vs_status st = e->blk   ? vs_block_plan_run(e->blk, rt->pool)
                       : e->cv  ? vs_conv_plan_run(e->cv, rt->pool)
                       : e->xop ? vs_xnn_run(e->xop)
                       : e->dw  ? vs_dw_plan_run(e->dw, e->in[0].data, e->out.data, rt->pool)
                       : e->ew  ? vs_ew_plan_run(e->ew, rt->pool)
                                : vs_ref_run(&g->nodes[i], e->in, &e->out);
        if (st != VS_OK)
            return vs_err_set(err, st, "node %s (%s) failed", g->nodes[i].name,
                              vs_op_name(g->nodes[i].op));
    }
    return VS_OK;
}

int vs_nn_runtime_blocks(const vs_runtime *rt)
{
    int n = 0;
    for (int i = 0; i < rt->m->g->n_nodes; i++)
        n += rt->exec[i].blk != NULL;
    return n;
}

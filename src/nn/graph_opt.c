/*
 * graph_opt.c - the graph passes between loading and planning: sort, fold, fuse, prune.
 *
 * The exported models spell simple things out in many nodes: batch-norm as Mul + Add after a
 * convolution, ReLU6 as Relu + Minimum + Maximum, PReLU as max(x,0) + g * min(x,0) (mobileface)
 * or relu(x) + c * (x - |x|) (mobilefacenet), padding as a separate Pad before a VALID conv.
 * Every one of those costs a pass over memory at run time, so we fold them into the convolution
 * that produces their input (its weights, bias, activation or padding) where that is exact.  A
 * batch-norm no convolution can take (DenseNet's, after a concat) becomes one AFFINE node that
 * also reads the concat's inputs itself; and a pool that shrinks the image moves in front of the
 * per-pixel op feeding it (a 1x1 convolution before an average, tanh before a max), which then
 * works on fewer pixels.
 *
 * A rewrite that removes node B after node A makes A write B's output value (A.out = B.out), so
 * every later reference stays valid; the orphaned value is never read again.  Dead nodes are
 * marked (op = INPUT) and dropped by vs_graph_prune.
 */
#include "graph_opt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define DEAD VS_OP_INPUT

/* ---- sorting ------------------------------------------------------------------------------ */

vs_status vs_graph_toposort(vs_graph *g, vs_err *err)
{
    int n = g->n_nodes;
    vs_node *sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    char *done = calloc((size_t)(g->n_values ? g->n_values : 1), 1);
    char *placed = calloc((size_t)(n ? n : 1), 1);
    vs_status st = VS_OK;
    if (!sorted || !done || !placed) {
        st = VS_NOMEM;
        goto out;
    }
    for (int v = 0; v < g->n_values; v++)
        done[v] = g->values[v].producer < 0;
    int count = 0;
    for (int progress = 1; progress && count < n;) {
        progress = 0;
        for (int i = 0; i < n; i++) {
            if (placed[i])
                continue;
            int ready = 1;
            for (int k = 0; k < g->nodes[i].n_in && ready; k++)
                ready = g->nodes[i].in[k] < 0 || done[g->nodes[i].in[k]];
            if (!ready)
                continue;
            sorted[count++] = g->nodes[i];
            placed[i] = 1;
            done[g->nodes[i].out] = 1;
            progress = 1;
        }
    }
    if (count < n) {
        for (int i = 0; i < n; i++)
            if (!placed[i]) {
                st = vs_err_set(err, VS_FORMAT,
                                "node %s is part of a cycle or reads a value "
                                "that nothing produces",
                                g->nodes[i].name);
                break;
            }
        goto out;
    }
    memcpy(g->nodes, sorted, (size_t)n * sizeof *sorted);
    for (int i = 0; i < n; i++)
        g->values[g->nodes[i].out].producer = i;
out:
    free(sorted);
    free(done);
    free(placed);
    return st;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static int is_const(const vs_graph *g, int v)
{
    return v >= 0 && g->values[v].data != NULL;
}

/* The single float of a one-element constant, or NAN. */
static float const_scalar(const vs_graph *g, int v)
{
    if (!is_const(g, v) || vs_shape_numel(&g->values[v].shape) != 1 ||
        g->values[v].dtype != VS_DT_F32)
        return NAN;
    return ((const float *)g->values[v].data)[0];
}

/* True when constant v holds one value per channel of a [..., oc] tensor (or one value). */
static int const_per_channel(const vs_graph *g, int v, int64_t oc)
{
    if (!is_const(g, v) || g->values[v].dtype != VS_DT_F32)
        return 0;
    const vs_shape *s = &g->values[v].shape;
    int64_t n = vs_shape_numel(s);
    if (n == 1)
        return 1;
    for (int i = 0; i + 1 < s->rank; i++)
        if (s->dim[i] != 1)
            return 0;
    return s->rank >= 1 && s->dim[s->rank - 1] == oc;
}

/* Reads element c of a per-channel constant (broadcasting a single value). */
static float channel_val(const vs_graph *g, int v, int64_t c)
{
    const float *d = g->values[v].data;
    return vs_shape_numel(&g->values[v].shape) == 1 ? d[0] : d[c];
}

/* Counts, per value, the live nodes that read it (plus one for a graph output). */
static void count_uses(const vs_graph *g, int *uses)
{
    memset(uses, 0, (size_t)g->n_values * sizeof *uses);
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op == DEAD)
            continue;
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0)
                uses[g->nodes[i].in[k]]++;
    }
    for (int i = 0; i < g->n_outputs; i++)
        uses[g->outputs[i]]++;
}

/* The live node producing v when v has exactly one reader, else NULL. */
static vs_node *sole_producer(vs_graph *g, const int *uses, int v)
{
    if (v < 0 || uses[v] != 1 || g->values[v].producer < 0 || g->values[v].is_output)
        return NULL;
    vs_node *p = &g->nodes[g->values[v].producer];
    return p->op == DEAD ? NULL : p;
}

/* Makes producer p write consumer c's output and kills c. */
static void absorb(vs_graph *g, vs_node *p, vs_node *c)
{
    int pi = (int)(p - g->nodes);
    g->values[p->out].producer = -1;
    p->out = c->out;
    g->values[c->out].producer = pi;
    c->op = DEAD;
}

/* A fresh float constant of n elements; returns its id or -1. */
static int new_const(vs_graph *g, const char *base, const char *suffix, int64_t n,
                     const float *init)
{
    float *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    if (!d)
        return -1;
    for (int64_t i = 0; i < n; i++)
        d[i] = init ? init[i] : 0.0f;
    char name[512];
    snprintf(name, sizeof name, "%s/%s", base, suffix);
    vs_shape s = {.rank = 1, .dim = {n}};
    return vs_graph_add_const(g, name, VS_DT_F32, &s, d);
}

static int64_t out_channels(const vs_graph *g, const vs_node *n)
{
    const vs_shape *s = &g->values[n->out].shape;
    return s->dim[s->rank - 1];
}

/* Element-wise ops that can carry a fused clamp (their act field; see graph.h). */
static int takes_clamp(const vs_node *n)
{
    return n->op == VS_OP_ADD || n->op == VS_OP_SUB || n->op == VS_OP_MUL || n->op == VS_OP_DIV ||
           n->op == VS_OP_AFFINE;
}

static int is_weighted(const vs_node *n)
{
    return n->op == VS_OP_CONV2D || n->op == VS_OP_DWCONV2D ||
           (n->op == VS_OP_MATMUL && !n->transpose_b);
}

/* Ensures p has its own copy of bias (creating zeros when absent); returns 0 or -1 on OOM. */
static int own_bias(vs_graph *g, int pi)
{
    vs_node *p = &g->nodes[pi];
    int64_t oc = out_channels(g, p);
    const float *old = p->in[2] >= 0 ? g->values[p->in[2]].data : NULL;
    int b = new_const(g, p->name, "bias", oc, NULL);
    if (b < 0)
        return -1;
    p = &g->nodes[pi];
    float *d = g->values[b].data;
    for (int64_t c = 0; c < oc; c++)
        d[c] = old ? channel_val(g, p->in[2], c) : 0.0f;
    if (p->n_in < 3)
        p->n_in = 3;
    p->in[2] = b;
    return 0;
}

/* ---- fusions ------------------------------------------------------------------------------ */

/* conv/matmul (no activation yet) followed by Mul, Add or Sub with a per-channel constant:
 * fold into the weights and bias.  Returns 1 if it rewrote, -1 on OOM. */
static int fuse_affine(vs_graph *g, const int *uses, vs_node *c)
{
    int ci = (int)(c - g->nodes);
    if (c->op != VS_OP_MUL && c->op != VS_OP_ADD && c->op != VS_OP_SUB)
        return 0;
    for (int side = 0; side < 2; side++) {
        if (c->op == VS_OP_SUB && side == 1)
            break; /* c - x is not a bias */
        vs_node *p = sole_producer(g, uses, c->in[side]);
        int k = c->in[1 - side];
        if (!p || !is_weighted(p) || p->act != VS_ACT_NONE)
            continue;
        int64_t oc = out_channels(g, p);
        if (!const_per_channel(g, k, oc))
            continue;
        if (vs_shape_numel(&g->values[c->out].shape) != vs_shape_numel(&g->values[p->out].shape))
            continue; /* the constant would broadcast the shape: not a per-channel op */
        int pi = (int)(p - g->nodes);
        if (own_bias(g, pi))
            return -1;
        p = &g->nodes[pi];
        c = &g->nodes[ci];
        float *bias = g->values[p->in[2]].data;
        if (c->op == VS_OP_MUL) {
            const vs_value *w = &g->values[p->in[1]];
            int64_t nw = vs_shape_numel(&w->shape);
            int fw = new_const(g, p->name, "scaled_filter", nw, w->data);
            if (fw < 0)
                return -1;
            p = &g->nodes[pi];
            c = &g->nodes[ci];
            float *f = g->values[fw].data;
            /* HWIO and TFJS depthwise filters both end in the output channel; a MatMul's
             * b[K,N] ends in the output column. */
            for (int64_t i = 0; i < nw; i++)
                f[i] *= channel_val(g, k, i % oc);
            g->values[fw].shape = g->values[p->in[1]].shape;
            p->in[1] = fw;
            for (int64_t o = 0; o < oc; o++)
                bias[o] *= channel_val(g, k, o);
        } else {
            float sign = c->op == VS_OP_SUB ? -1.0f : 1.0f;
            for (int64_t o = 0; o < oc; o++)
                bias[o] += sign * channel_val(g, k, o);
        }
        absorb(g, p, c);
        return 1;
    }
    return 0;
}

/* Add(Mul(x, s), b) with per-channel constants s and b, a batch-norm that no convolution could
 * absorb (DenseNet's comes after a concat and before a ReLU), becomes one AFFINE(x, [s; b]):
 * one pass over memory instead of two, computing the same two roundings. */
static int fuse_channel_affine(vs_graph *g, const int *uses, vs_node *c)
{
    if (c->op != VS_OP_ADD)
        return 0;
    const vs_shape *ys = &g->values[c->out].shape;
    const int64_t ch = ys->rank ? ys->dim[ys->rank - 1] : 0;
    for (int side = 0; side < 2; side++) {
        const vs_node *m = sole_producer(g, uses, c->in[side]);
        const int b = c->in[1 - side];
        if (!m || m->op != VS_OP_MUL || m->act != VS_ACT_NONE || !const_per_channel(g, b, ch))
            continue;
        for (int ms = 0; ms < 2; ms++) {
            const int x = m->in[ms], s = m->in[1 - ms];
            if (is_const(g, x) || !const_per_channel(g, s, ch) ||
                g->values[x].shape.rank != ys->rank ||
                vs_shape_numel(&g->values[x].shape) != vs_shape_numel(ys))
                continue; /* a constant that broadcasts x to a bigger shape is no batch-norm */
            const int sb = new_const(g, c->name, "scale_bias", 2 * ch, NULL);
            if (sb < 0)
                return -1;
            float *d = g->values[sb].data;
            for (int64_t k = 0; k < ch; k++) {
                d[k] = channel_val(g, s, k);
                d[ch + k] = channel_val(g, b, k);
            }
            g->values[sb].shape = (vs_shape){.rank = 2, .dim = {2, ch}};
            c->op = VS_OP_AFFINE; /* keeps the clamp fused into the Add */
            c->in[0] = x;
            c->in[1] = sb;
            return 1;
        }
    }
    return 0;
}

/* AFFINE over a Concat along the last dim that nothing else reads takes the concat's inputs:
 * its kernel reads the pieces in turn, so the concatenated copy is never written. */
static int fuse_affine_concat(vs_graph *g, const int *uses, vs_node *c)
{
    if (c->op != VS_OP_AFFINE || c->n_in != 2)
        return 0;
    vs_node *p = sole_producer(g, uses, c->in[0]);
    if (!p || p->op != VS_OP_CONCAT || p->n_in + 1 > VS_MAX_IN ||
        p->axis != g->values[p->out].shape.rank - 1)
        return 0;
    const int sb = c->in[1];
    for (int i = 0; i < p->n_in; i++)
        c->in[i] = p->in[i];
    c->in[p->n_in] = sb;
    c->n_in = p->n_in + 1;
    p->op = DEAD;
    return 1;
}

/* Activation after a weighted node or a clamp-like node: Relu, Relu6, Minimum/Maximum with a
 * scalar constant (clip_by_value) become the producer's clamp bounds. */
static int fuse_clamp(vs_graph *g, const int *uses, vs_node *c)
{
    float lo = -INFINITY, hi = INFINITY;
    int x = c->in[0];
    switch (c->op) {
    case VS_OP_RELU:
        lo = 0.0f;
        break;
    case VS_OP_RELU6:
        lo = 0.0f;
        hi = 6.0f;
        break;
    case VS_OP_CLAMP:
        lo = c->act_min;
        hi = c->act_max;
        break;
    case VS_OP_MINIMUM:
    case VS_OP_MAXIMUM: {
        float s = const_scalar(g, c->in[1]);
        if (isnan(s)) {
            s = const_scalar(g, c->in[0]);
            x = c->in[1];
        }
        if (isnan(s))
            return 0;
        if (c->op == VS_OP_MINIMUM)
            hi = s;
        else
            lo = s;
        break;
    }
    default:
        return 0;
    }
    vs_node *p = sole_producer(g, uses, x);
    if (!p)
        return 0;
    int clamp_like = p->act == VS_ACT_NONE || p->act == VS_ACT_RELU || p->act == VS_ACT_RELU6 ||
                     p->act == VS_ACT_CLAMP;
    int fused = (is_weighted(p) || takes_clamp(p)) && clamp_like;
    if (!fused && p->op != VS_OP_CLAMP && p->op != VS_OP_RELU && p->op != VS_OP_RELU6)
        return 0;
    if (p->op == VS_OP_RELU || p->op == VS_OP_RELU6) {
        p->act_min = 0.0f;
        p->act_max = p->op == VS_OP_RELU6 ? 6.0f : INFINITY;
        p->op = VS_OP_CLAMP;
    } else if (fused && p->act != VS_ACT_CLAMP) {
        p->act_min = p->act == VS_ACT_NONE ? -INFINITY : 0.0f;
        p->act_max = p->act == VS_ACT_RELU6 ? 6.0f : INFINITY;
    }
    if (fused)
        p->act = VS_ACT_CLAMP;
    /* Clamps compose by intersecting their ranges (min/max are monotone). */
    p->act_min = fmaxf(p->act_min, lo);
    p->act_max = fminf(p->act_max, hi);
    if (p->act_min > p->act_max)
        p->act_min = p->act_max;
    absorb(g, p, c);
    return 1;
}

/* Recognises PReLU spelled out and rewrites the Add into a PRELU(x, alpha) node:
 *   mobileface:    Add(Maximum(0, x), Mul(g, Minimum(0, x)))            alpha = g
 *   mobilefacenet: Add(Relu(x), Mul(Sub(x, Abs(x)), c))                 alpha = 2c
 * The nodes it bypasses die in pruning once nothing reads them. */
static int match_prelu(vs_graph *g, vs_node *add, int *x_out, int *alpha_out, float *mult)
{
    for (int side = 0; side < 2; side++) {
        int a = add->in[side], b = add->in[1 - side];
        if (a < 0 || b < 0 || g->values[a].producer < 0 || g->values[b].producer < 0)
            continue;
        const vs_node *pa = &g->nodes[g->values[a].producer];
        const vs_node *pb = &g->nodes[g->values[b].producer];
        if (pb->op != VS_OP_MUL)
            continue;
        for (int ms = 0; ms < 2; ms++) {
            int t = pb->in[ms], k = pb->in[1 - ms];
            if (!is_const(g, k) || t < 0 || g->values[t].producer < 0)
                continue;
            const vs_node *pt = &g->nodes[g->values[t].producer];
            if (pa->op == VS_OP_MAXIMUM && pt->op == VS_OP_MINIMUM) {
                int xa = const_scalar(g, pa->in[0]) == 0.0f ? pa->in[1] : pa->in[0];
                int xt = const_scalar(g, pt->in[0]) == 0.0f ? pt->in[1] : pt->in[0];
                float za = const_scalar(g, xa == pa->in[1] ? pa->in[0] : pa->in[1]);
                float zt = const_scalar(g, xt == pt->in[1] ? pt->in[0] : pt->in[1]);
                if (xa == xt && za == 0.0f && zt == 0.0f) {
                    *x_out = xa;
                    *alpha_out = k;
                    *mult = 1.0f;
                    return 1;
                }
            }
            if (pa->op == VS_OP_RELU && pt->op == VS_OP_SUB && pt->in[0] == pa->in[0] &&
                pt->in[1] >= 0 && g->values[pt->in[1]].producer >= 0) {
                const vs_node *pabs = &g->nodes[g->values[pt->in[1]].producer];
                if (pabs->op == VS_OP_ABS && pabs->in[0] == pa->in[0]) {
                    *x_out = pa->in[0];
                    *alpha_out = k;
                    *mult = 2.0f;
                    return 1;
                }
            }
        }
    }
    return 0;
}

static int fuse_prelu_pattern(vs_graph *g, vs_node *c)
{
    int x, k, ci = (int)(c - g->nodes);
    float mult;
    if (c->op != VS_OP_ADD || !match_prelu(g, c, &x, &k, &mult))
        return 0;
    const vs_value *kv = &g->values[k];
    int64_t nk = vs_shape_numel(&kv->shape);
    int a = new_const(g, c->name, "prelu_alpha", nk, kv->data);
    if (a < 0)
        return -1;
    c = &g->nodes[ci];
    float *d = g->values[a].data;
    for (int64_t i = 0; i < nk; i++)
        d[i] *= mult;
    g->values[a].shape = g->values[k].shape;
    c->op = VS_OP_PRELU;
    c->in[0] = x;
    c->in[1] = a;
    return 1;
}

/* True when every value of v is >= 0 because its producer ends in a clamp at or above zero. */
static int non_negative(const vs_graph *g, int v)
{
    if (v < 0 || g->values[v].producer < 0)
        return 0;
    const vs_node *p = &g->nodes[g->values[v].producer];
    if (p->op == VS_OP_RELU || p->op == VS_OP_RELU6)
        return 1;
    if (p->op == VS_OP_CLAMP)
        return p->act_min >= 0.0f;
    if (!is_weighted(p))
        return 0;
    return p->act == VS_ACT_RELU || p->act == VS_ACT_RELU6 ||
           (p->act == VS_ACT_CLAMP && p->act_min >= 0.0f);
}

/* mobilefacenet's exporter fused a Relu into convolutions whose raw output its PReLU also read,
 * so several blocks compute Add(y, Mul(Sub(y, Abs(y)), c)) with y >= 0.  There y - |y| is
 * exactly 0, so the whole expression is exactly y: the Add becomes an IDENTITY (an alias). */
static int fuse_vanishing_prelu(vs_graph *g, vs_node *c)
{
    if (c->op != VS_OP_ADD)
        return 0;
    for (int side = 0; side < 2; side++) {
        int y = c->in[side], m = c->in[1 - side];
        if (!non_negative(g, y) || m < 0 || g->values[m].producer < 0)
            continue;
        const vs_node *pm = &g->nodes[g->values[m].producer];
        if (pm->op != VS_OP_MUL)
            continue;
        for (int ms = 0; ms < 2; ms++) {
            int t = pm->in[ms];
            float k = const_scalar(g, pm->in[1 - ms]);
            int finite = is_const(g, pm->in[1 - ms]) && (isnan(k) || isfinite(k));
            if (!finite || t < 0 || g->values[t].producer < 0)
                continue;
            const vs_node *ps = &g->nodes[g->values[t].producer];
            if (ps->op != VS_OP_SUB || ps->in[0] != y || ps->in[1] < 0 ||
                g->values[ps->in[1]].producer < 0)
                continue;
            const vs_node *pa = &g->nodes[g->values[ps->in[1]].producer];
            if (pa->op == VS_OP_ABS && pa->in[0] == y) {
                c->op = VS_OP_IDENTITY;
                c->n_in = 1;
                c->in[0] = y;
                c->in[1] = -1;
                return 1;
            }
        }
    }
    return 0;
}

/* PRELU / LEAKY_RELU / SIGMOID right after a weighted node with no activation. */
static int fuse_other_act(vs_graph *g, const int *uses, vs_node *c)
{
    if (c->op != VS_OP_PRELU && c->op != VS_OP_LEAKY_RELU)
        return 0;
    vs_node *p = sole_producer(g, uses, c->in[0]);
    if (!p || !is_weighted(p) || p->act != VS_ACT_NONE)
        return 0;
    if (c->op == VS_OP_PRELU) {
        if (!const_per_channel(g, c->in[1], out_channels(g, p)))
            return 0;
        if (p->n_in < 3) {
            p->in[2] = -1;
        }
        p->n_in = 4;
        p->in[3] = c->in[1];
        p->act = VS_ACT_PRELU;
    } else {
        p->act = VS_ACT_LEAKY_RELU;
        p->alpha = c->alpha;
    }
    absorb(g, p, c);
    return 1;
}

/* A zero Pad on H and W only, feeding a convolution: becomes the convolution's padding. */
static int fuse_pad(vs_graph *g, const int *uses, vs_node *c)
{
    if (c->op != VS_OP_CONV2D && c->op != VS_OP_DWCONV2D)
        return 0;
    vs_node *p = sole_producer(g, uses, c->in[0]);
    if (!p || p->op != VS_OP_PAD || p->pad_value != 0.0f || g->values[p->in[0]].shape.rank != 4)
        return 0;
    if (p->pads[0][0] || p->pads[0][1] || p->pads[3][0] || p->pads[3][1])
        return 0;
    /* c's own padding is already explicit (shape inference ran): add the Pad's to it. */
    c->pad[0] += (int)p->pads[1][0];
    c->pad[1] += (int)p->pads[1][1];
    c->pad[2] += (int)p->pads[2][0];
    c->pad[3] += (int)p->pads[2][1];
    c->padmode = VS_PAD_EXPLICIT;
    c->in[0] = p->in[0];
    p->op = DEAD;
    return 1;
}

/* Makes pool node c (reading only p's output) run before p: the pool takes p's slot, reading p's
 * input and writing the middle value, now pool-sized with p's input channels; p takes the pool's
 * slot and writes the pool's output.  Both keep their slots, so the order stays topological. */
static void pool_first(vs_graph *g, vs_node *p, vs_node *c)
{
    const int pi = (int)(p - g->nodes), ci = (int)(c - g->nodes);
    const int mid = p->out;
    const int64_t in_ch = g->values[p->in[0]].shape.dim[3];
    vs_node op = *p, pool = *c;
    pool.in[0] = op.in[0];
    pool.out = mid;
    op.in[0] = mid;
    op.out = c->out;
    g->values[mid].shape = g->values[c->out].shape;
    g->values[mid].shape.dim[3] = in_ch;
    g->nodes[pi] = pool;
    g->nodes[ci] = op;
    g->values[mid].producer = pi;
    g->values[op.out].producer = ci;
}

static int pool_shrinks(const vs_graph *g, const vs_node *c)
{
    const vs_shape *xs = &g->values[c->in[0]].shape, *ys = &g->values[c->out].shape;
    return xs->rank == 4 && ys->dim[1] * ys->dim[2] < xs->dim[1] * xs->dim[2];
}

/*
 * A pool that shrinks the image runs before the per-pixel op that feeds it, which then works on
 * the pooled pixels only:
 *   - AvgPool(Conv1x1(x)) = Conv1x1(AvgPool(x)) when the pool has no padding and the convolution
 *     no activation: a pointwise convolution is affine per pixel, so it commutes with averaging
 *     (the bias too: the average of a constant is the constant).  DenseNet's transition layers
 *     (fr_expression) spent three quarters of their multiply-adds on pixels the pool then
 *     averaged away.  The sums are the same sums in another order: only the rounding changes.
 *   - MaxPool(f(x)) = f(MaxPool(x)) for f = Tanh or Sigmoid, non-decreasing functions, so the
 *     maximum of the results is the result of the maximum, bit for bit (SSR-Net's tanh layers,
 *     fr_age and fr_gender).  Only a window of nothing but NaN differs: -inf against f(-inf).
 */
static int pool_before_pixel_op(vs_graph *g, const int *uses, vs_node *c)
{
    if ((c->op != VS_OP_AVGPOOL && c->op != VS_OP_MAXPOOL) || !pool_shrinks(g, c))
        return 0;
    vs_node *p = sole_producer(g, uses, c->in[0]);
    if (!p)
        return 0;
    if (c->op == VS_OP_MAXPOOL && (p->op == VS_OP_TANH || p->op == VS_OP_SIGMOID)) {
        pool_first(g, p, c);
        return 1;
    }
    if (c->op != VS_OP_AVGPOOL || c->pad[0] || c->pad[1] || c->pad[2] || c->pad[3])
        return 0;
    if (p->op != VS_OP_CONV2D || p->act != VS_ACT_NONE || p->stride[0] != 1 || p->stride[1] != 1 ||
        p->pad[0] || p->pad[1] || p->pad[2] || p->pad[3])
        return 0;
    const vs_shape *f = &g->values[p->in[1]].shape;
    if (f->rank != 4 || f->dim[0] != 1 || f->dim[1] != 1)
        return 0;
    pool_first(g, p, c);
    return 1;
}

vs_status vs_graph_fuse(vs_graph *g, vs_err *err)
{
    int *uses = malloc((size_t)(g->n_values + 64) * sizeof *uses);
    if (!uses)
        return vs_err_set(err, VS_NOMEM, "fusing %s", g->name);
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            if (g->nodes[i].op == DEAD)
                continue;
            int *nu = realloc(uses, (size_t)(g->n_values + 64) * sizeof *uses);
            if (!nu) {
                free(uses);
                return vs_err_set(err, VS_NOMEM, "fusing %s", g->name);
            }
            uses = nu;
            count_uses(g, uses);
            vs_node *c = &g->nodes[i];
            int r = fuse_prelu_pattern(g, c);
            if (!r)
                r = fuse_vanishing_prelu(g, c);
            if (!r)
                r = fuse_affine(g, uses, c);
            if (!r)
                r = fuse_channel_affine(g, uses, c);
            if (!r)
                r = fuse_affine_concat(g, uses, c);
            if (!r)
                r = fuse_clamp(g, uses, c);
            if (!r)
                r = fuse_other_act(g, uses, c);
            if (!r)
                r = fuse_pad(g, uses, c);
            if (!r)
                r = pool_before_pixel_op(g, uses, c);
            if (r < 0) {
                free(uses);
                return vs_err_set(err, VS_NOMEM, "fusing %s", g->name);
            }
            changed |= r;
        }
        vs_graph_prune(g);
    }
    free(uses);
    /* Name the clamp ranges the backends know best. */
    for (int i = 0; i < g->n_nodes; i++) {
        vs_node *n = &g->nodes[i];
        if (n->act != VS_ACT_CLAMP)
            continue;
        if (n->act_min == 0.0f && isinf(n->act_max))
            n->act = VS_ACT_RELU;
        else if (n->act_min == 0.0f && n->act_max == 6.0f)
            n->act = VS_ACT_RELU6;
        else if (isinf(n->act_min) && isinf(n->act_max))
            n->act = VS_ACT_NONE;
    }
    return VS_OK;
}

/* ---- folding and pruning ------------------------------------------------------------------ */

vs_status vs_graph_fold(vs_graph *g, vs_err *err)
{
    for (int i = 0; i < g->n_nodes; i++) {
        vs_node *n = &g->nodes[i];
        int all_const = n->n_in > 0;
        for (int k = 0; k < n->n_in && all_const; k++)
            all_const = n->in[k] < 0 || is_const(g, n->in[k]);
        if (!all_const || n->op == DEAD)
            continue;
        vs_value *o = &g->values[n->out];
        size_t bytes = (size_t)vs_shape_numel(&o->shape) * sizeof(float);
        float *d = malloc(bytes ? bytes : 1);
        if (!d)
            return vs_err_set(err, VS_NOMEM, "folding %s", n->name);
        vs_tview in[VS_MAX_IN] = {{0}};
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                in[k] = (vs_tview){g->values[n->in[k]].data, g->values[n->in[k]].shape};
        vs_tview out = {d, o->shape};
        vs_status st = vs_ref_run(n, in, &out);
        if (st != VS_OK) {
            free(d);
            return vs_err_set(err, st, "folding constant node %s (%s)", n->name, vs_op_name(n->op));
        }
        o->data = d;
        o->producer = -1;
        n->op = DEAD;
    }
    vs_graph_prune(g);
    return VS_OK;
}

void vs_graph_prune(vs_graph *g)
{
    char *live = calloc((size_t)(g->n_values ? g->n_values : 1), 1);
    if (!live)
        return; /* pruning is an optimisation: a graph with dead nodes still runs */
    for (int i = 0; i < g->n_outputs; i++)
        live[g->outputs[i]] = 1;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        vs_node *n = &g->nodes[i];
        if (n->op == DEAD || !live[n->out]) {
            n->op = DEAD;
            continue;
        }
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                live[n->in[k]] = 1;
    }
    int w = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op == DEAD) {
            if (g->values[g->nodes[i].out].producer == i)
                g->values[g->nodes[i].out].producer = -1;
            free(g->nodes[i].name);
            continue;
        }
        g->nodes[w] = g->nodes[i];
        g->values[g->nodes[w].out].producer = w;
        w++;
    }
    g->n_nodes = w;
    for (int v = 0; v < g->n_values; v++)
        if (!live[v] && g->values[v].data) {
            free(g->values[v].data);
            g->values[v].data = NULL;
            g->values[v].producer = -1;
        }
    free(live);
}

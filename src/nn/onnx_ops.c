/*
 * onnx_ops.c - one translator per ONNX op, for onnx_load.c: each reads the node being translated
 * (ox_ctx.node) through onnx_ctx.h's helpers and emits engine nodes, or folds the node at load
 * when all its inputs are constants.  Also the tensors stored in the file (initializers and
 * Constant nodes) and the table of supported ops.  The layout rules are onnx_load.c's DESIGN
 * NOTES.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_ctx.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "onnx_load.c reads raw_data as little-endian bytes: add byte swapping for this target"
#endif

/* ---- constant folding at load ------------------------------------------------------------ */

/* Flat offset into x (broadcast against o) of o's flat element i. */
static int64_t bcast_off(const vs_shape *x, const vs_shape *o, int64_t i)
{
    int64_t off = 0, stride = 1;
    for (int d = o->rank - 1; d >= 0; d--) {
        int64_t c = i % o->dim[d];
        i /= o->dim[d];
        int xd = d - (o->rank - x->rank);
        if (xd < 0)
            break;
        if (x->dim[xd] != 1)
            off += c * stride;
        stride *= x->dim[xd];
    }
    return off;
}

static double apply_op(vs_op op, double x, double y)
{
    switch (op) {
    case VS_OP_ADD:
        return x + y;
    case VS_OP_SUB:
        return x - y;
    case VS_OP_MUL:
        return x * y;
    case VS_OP_DIV:
        return x / y;
    case VS_OP_MINIMUM:
        return x < y ? x : y;
    default:
        return x > y ? x : y;
    }
}

/* Element-wise op on two constants of the same kind (int64 division truncates, as ONNX's). */
static vs_status fold_binary(ox_ctx *c, vs_op op, const ox_val *a, const ox_val *b, const char *out)
{
    vs_shape o;
    if (a->kind != b->kind)
        return ox_fail(c, VS_FORMAT, "operands of different types");
    if (vs_shape_broadcast(&a->shape, &b->shape, &o) >= 0)
        return ox_fail(c, VS_FORMAT, "constant shapes do not broadcast");
    int64_t n = vs_shape_numel(&o);
    void *d = malloc((size_t)(n ? n : 1) * 8);
    if (!d)
        return ox_fail(c, VS_NOMEM, "folding");
    for (int64_t i = 0; i < n; i++) {
        int64_t ia = bcast_off(&a->shape, &o, i), ib = bcast_off(&b->shape, &o, i);
        if (a->kind == OX_F32) {
            ((float *)d)[i] = (float)apply_op(op, a->f[ia], b->f[ib]);
        } else if (op == VS_OP_DIV && b->i[ib] == 0) {
            free(d);
            return ox_fail(c, VS_FORMAT, "integer division by zero");
        } else {
            int64_t x = a->i[ia], y = b->i[ib];
            ((int64_t *)d)[i] = op == VS_OP_ADD       ? x + y
                                : op == VS_OP_SUB     ? x - y
                                : op == VS_OP_MUL     ? x * y
                                : op == VS_OP_DIV     ? x / y
                                : op == VS_OP_MINIMUM ? (x < y ? x : y)
                                                      : (x > y ? x : y);
        }
    }
    return ox_def_const(c, out, a->kind, &o, d);
}

/* A copy of constant v's data (n elements of its kind). */
static void *const_copy(const ox_val *v)
{
    int64_t n = vs_shape_numel(&v->shape);
    size_t es = v->kind == OX_F32 ? sizeof(float) : sizeof(int64_t);
    void *d = malloc((size_t)(n ? n : 1) * es);
    if (d && n)
        memcpy(d, v->kind == OX_F32 ? (void *)v->f : (void *)v->i, (size_t)n * es);
    return d;
}

/* ---- element-wise ops -------------------------------------------------------------------- */

/* out = a op b with NumPy broadcasting, in the layout of a runtime operand of the full rank. */
static vs_status binary(ox_ctx *c, vs_op op, const char *out, ox_val *a, ox_val *b)
{
    if (a->kind != OX_RUNTIME && b->kind != OX_RUNTIME)
        return fold_binary(c, op, a, b, out);
    vs_shape os;
    if (vs_shape_broadcast(&a->shape, &b->shape, &os) >= 0)
        return ox_fail(c, VS_FORMAT, "shapes of '%s' and '%s' do not broadcast", a->name, b->name);
    int r = os.rank;
    const int *perm = ox_perm_id;
    ox_val *x[2] = {a, b};
    for (int k = 0; k < 2; k++)
        if (x[k]->kind == OX_RUNTIME && x[k]->shape.rank == r) {
            perm = x[k]->perm;
            break;
        }
    int in[2], nid, vid;
    for (int k = 0; k < 2; k++) {
        vs_status st;
        if (x[k]->kind != OX_RUNTIME)
            st = ox_const_vid(c, x[k], ox_perm_eq(perm, ox_perm_id, r) ? x[k]->shape.rank : r, perm,
                              &in[k]);
        else if (x[k]->shape.rank == r)
            st = ox_in_layout(c, x[k], perm, &in[k]);
        else if (ox_perm_eq(perm, ox_perm_id, r))
            st = ox_in_layout(c, x[k], ox_perm_id, &in[k]);
        else
            st = ox_fail(c, VS_UNSUPPORTED, "broadcasting '%s' against a transposed tensor",
                         x[k]->name);
        if (st != VS_OK)
            return st;
    }
    int perm_copy[VS_MAX_DIMS];
    memcpy(perm_copy, perm, sizeof perm_copy);
    vs_status st = ox_emit(c, op, out, NULL, in, 2, &nid);
    if (st == VS_OK)
        st = ox_settle(c, nid, &vid);
    return st == VS_OK ? ox_def_runtime(c, out, vid, perm_copy) : st;
}

static vs_status op_binary(ox_ctx *c, vs_op op)
{
    ox_val *a, *b;
    vs_status st = ox_get_in(c, 0, 1, &a);
    if (st == VS_OK)
        st = ox_get_in(c, 1, 1, &b);
    return st == VS_OK ? binary(c, op, c->node->output[0], a, b) : st;
}

/* A unary op in the input's own layout; attributes set per op. */
static vs_status op_unary(ox_ctx *c, vs_op op)
{
    ox_val *x;
    int nid, vid;
    vs_status st = ox_get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = ox_emit(c, op, c->node->output[0], NULL, &x->vid, 1, &nid);
    if (st != VS_OK)
        return st;
    vs_node *n = vs_graph_node(c->g, nid);
    if (op == VS_OP_LEAKY_RELU)
        n->alpha = ox_attr_f(c, "alpha", 0.01f);
    if (op == VS_OP_CLAMP) {
        /* Clip: bounds are attributes up to opset 10, optional scalar inputs from 11. */
        n->act_min = ox_attr_f(c, "min", -INFINITY);
        n->act_max = ox_attr_f(c, "max", INFINITY);
        for (int k = 1; k < 3; k++) {
            ox_val *b;
            st = ox_get_fconst(c, k, 0, &b);
            if (st != VS_OK)
                return st;
            if (b && vs_shape_numel(&b->shape) != 1)
                return ox_fail(c, VS_FORMAT, "Clip bound '%s' is not a scalar", b->name);
            if (b)
                *(k == 1 ? &n->act_min : &n->act_max) = b->f[0];
        }
    }
    st = ox_settle(c, nid, &vid);
    return st == VS_OK ? ox_def_runtime(c, c->node->output[0], vid, x->perm) : st;
}

/* PRelu: the slope broadcasts to x (ONNX's unidirectional broadcast), usually [C,1,1]. */
static vs_status op_prelu(ox_ctx *c)
{
    ox_val *x, *slope;
    vs_status st = ox_get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = ox_get_in(c, 1, 1, &slope);
    if (st == VS_OK && slope->shape.rank > x->shape.rank)
        return ox_fail(c, VS_FORMAT, "slope has a higher rank than the input");
    return st == VS_OK ? binary(c, VS_OP_PRELU, c->node->output[0], x, slope) : st;
}

/* Identity and Dropout (inference): the output is the input. */
static vs_status op_identity(ox_ctx *c)
{
    ox_val *x;
    vs_status st = ox_get_in(c, 0, 1, &x);
    if (st != VS_OK)
        return st;
    if (c->node->n_output > 1 && c->node->output[1][0])
        return ox_fail(c, VS_UNSUPPORTED, "the dropout mask output is not supported");
    if (x->kind != OX_RUNTIME) {
        void *d = const_copy(x);
        return d ? ox_def_const(c, c->node->output[0], x->kind, &x->shape, d)
                 : ox_fail(c, VS_NOMEM, "copy");
    }
    st = ox_def_runtime(c, c->node->output[0], x->vid, x->perm);
    return st;
}

/* BatchNormalization (inference): x * s + t per channel (dim 1), s = scale / sqrt(var + eps),
 * t = bias - mean * s.  Emitted as Mul and Add with constants; finalize folds them into the
 * convolution that precedes them. */
static vs_status op_batchnorm(ox_ctx *c)
{
    ox_val *x, *p[4];
    vs_status st = ox_get_runtime(c, 0, &x);
    for (int k = 0; st == VS_OK && k < 4; k++)
        st = ox_get_fconst(c, k + 1, 1, &p[k]);
    if (st != VS_OK)
        return st;
    if (x->shape.rank < 2)
        return ox_fail(c, VS_FORMAT, "input of rank %d", x->shape.rank);
    int64_t ch = x->shape.dim[1];
    for (int k = 0; k < 4; k++)
        if (vs_shape_numel(&p[k]->shape) != ch)
            return ox_fail(c, VS_FORMAT, "'%s' has %lld values for %lld channels", p[k]->name,
                           (long long)vs_shape_numel(&p[k]->shape), (long long)ch);
    float eps = ox_attr_f(c, "epsilon", 1e-5f);
    float *s = malloc((size_t)ch * sizeof *s), *t = malloc((size_t)ch * sizeof *t);
    if (!s || !t) {
        free(s);
        free(t);
        return ox_fail(c, VS_NOMEM, "batch norm");
    }
    for (int64_t i = 0; i < ch; i++) {
        s[i] = p[0]->f[i] / sqrtf(p[3]->f[i] + eps);
        t[i] = p[1]->f[i] - p[2]->f[i] * s[i];
    }
    /* [C, 1, ...]: broadcast from the right, the values land on dim 1 of x. */
    vs_shape cs = {.rank = x->shape.rank - 1};
    for (int d = 0; d < cs.rank; d++)
        cs.dim[d] = d == 0 ? ch : 1;
    const char *out = c->node->output[0];
    char sn[OX_NAME], tn[OX_NAME], mn[OX_NAME];
    snprintf(sn, sizeof sn, "%s/bn_scale", out);
    snprintf(tn, sizeof tn, "%s/bn_shift", out);
    snprintf(mn, sizeof mn, "%s/bn_mul", out);
    st = ox_def_const(c, sn, OX_F32, &cs, s);
    if (st != VS_OK) {
        free(t);
        return st;
    }
    st = ox_def_const(c, tn, OX_F32, &cs, t);
    if (st == VS_OK)
        st = binary(c, VS_OP_MUL, mn, x, ox_find_val(c, sn));
    if (st == VS_OK)
        st = binary(c, VS_OP_ADD, out, ox_find_val(c, mn), ox_find_val(c, tn));
    return st;
}

/* ---- convolution and pooling ------------------------------------------------------------- */

/* strides, dilations, pads and auto_pad of a 2-D window op into node n. */
static vs_status window_attrs(ox_ctx *c, vs_node *n)
{
    int64_t v[4];
    int cnt;
    vs_status st = ox_attr_ints(c, "strides", v, 2, &cnt);
    if (st != VS_OK)
        return st;
    if (cnt == 2) {
        n->stride[0] = (int)v[0];
        n->stride[1] = (int)v[1];
    }
    if ((st = ox_attr_ints(c, "dilations", v, 2, &cnt)) != VS_OK)
        return st;
    if (cnt == 2) {
        n->dilation[0] = (int)v[0];
        n->dilation[1] = (int)v[1];
    }
    for (int k = 0; k < 2; k++)
        if (n->stride[k] < 1 || n->dilation[k] < 1 || n->stride[k] > 1024 || n->dilation[k] > 1024)
            return ox_fail(c, VS_FORMAT, "bad stride or dilation");
    if ((st = ox_attr_ints(c, "pads", v, 4, &cnt)) != VS_OK)
        return st;
    n->padmode = VS_PAD_EXPLICIT;
    if (cnt == 4) {
        /* ONNX: [top, left, bottom, right]; ours: top, bottom, left, right. */
        n->pad[0] = (int)v[0];
        n->pad[1] = (int)v[2];
        n->pad[2] = (int)v[1];
        n->pad[3] = (int)v[3];
        for (int k = 0; k < 4; k++)
            if (v[k] < 0 || v[k] > 1024)
                return ox_fail(c, VS_FORMAT, "bad padding");
    } else if (cnt >= 0) {
        return ox_fail(c, VS_FORMAT, "pads has %d values for a 2-D window", cnt);
    }
    if (ox_attr_str_is(c, "auto_pad", NULL) || ox_attr_str_is(c, "auto_pad", "NOTSET"))
        return VS_OK;
    if (ox_attr_str_is(c, "auto_pad", "VALID"))
        n->padmode = VS_PAD_VALID;
    else if (ox_attr_str_is(c, "auto_pad", "SAME_UPPER"))
        n->padmode = VS_PAD_SAME;
    else
        return ox_fail(c, VS_UNSUPPORTED, "auto_pad other than NOTSET, VALID, SAME_UPPER");
    return VS_OK;
}

/* Conv weights OIHW -> HWIO ([KH,KW,C,O]), or for depthwise (group = C, O = C*M) ->
 * [KH,KW,C,M]: output channel o = c*M + m in both ONNX and the engine. */
static float *conv_filter(const float *w, int64_t o_n, int64_t i_n, int64_t kh_n, int64_t kw_n)
{
    float *f = malloc((size_t)(o_n * i_n * kh_n * kw_n) * sizeof *f);
    if (!f)
        return NULL;
    for (int64_t o = 0; o < o_n; o++)
        for (int64_t i = 0; i < i_n; i++)
            for (int64_t y = 0; y < kh_n; y++)
                for (int64_t x = 0; x < kw_n; x++) {
                    /* Depthwise has i_n == 1 and o = c*M + m: [KH,KW,C,M] is the same walk. */
                    f[((y * kw_n + x) * i_n + i) * o_n + o] =
                        w[((o * i_n + i) * kh_n + y) * kw_n + x];
                }
    return f;
}

static vs_status op_conv(ox_ctx *c)
{
    ox_val *x, *w, *b;
    vs_status st = ox_get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = ox_get_fconst(c, 1, 1, &w);
    if (st == VS_OK)
        st = ox_get_fconst(c, 2, 0, &b);
    if (st != VS_OK)
        return st;
    if (x->shape.rank != 4 || w->shape.rank != 4)
        return ox_fail(c, VS_UNSUPPORTED, "only 2-D convolution (rank-4 input and weights)");
    int64_t o_n = w->shape.dim[0], i_n = w->shape.dim[1], kh = w->shape.dim[2];
    int64_t kw = w->shape.dim[3], ch = x->shape.dim[1], group = ox_attr_i(c, "group", 1);
    int64_t ks[2];
    int cnt;
    if ((st = ox_attr_ints(c, "kernel_shape", ks, 2, &cnt)) != VS_OK)
        return st;
    if (cnt >= 0 && (cnt != 2 || ks[0] != kh || ks[1] != kw))
        return ox_fail(c, VS_FORMAT, "kernel_shape does not match the weights");
    int depthwise = group != 1;
    if (group == 1 && i_n != ch)
        return ox_fail(c, VS_FORMAT, "weights for %lld input channels, input has %lld",
                       (long long)i_n, (long long)ch);
    if (group != 1 && !(group == ch && i_n == 1 && o_n % ch == 0))
        return ox_fail(c, VS_UNSUPPORTED, "grouped convolution (group %lld of %lld channels)",
                       (long long)group, (long long)ch);
    if (b && vs_shape_numel(&b->shape) != o_n)
        return ox_fail(c, VS_FORMAT, "bias of %lld values for %lld outputs",
                       (long long)vs_shape_numel(&b->shape), (long long)o_n);
    int in[3] = {-1, -1, -1}, nid, vid;
    if ((st = ox_in_layout(c, x, ox_perm_nhwc, &in[0])) != VS_OK)
        return st;
    float *f = conv_filter(w->f, o_n, i_n, kh, kw);
    if (!f)
        return ox_fail(c, VS_NOMEM, "filter");
    vs_shape fs = {.rank = 4, .dim = {kh, kw, depthwise ? ch : i_n, depthwise ? o_n / ch : o_n}};
    if ((st = ox_add_const(c, w->name, depthwise ? "hwcm" : "hwio", &fs, f, &in[1])) != VS_OK)
        return st;
    if (b && (st = ox_const_vid(c, b, 1, ox_perm_id, &in[2])) != VS_OK)
        return st;
    st = ox_emit(c, depthwise ? VS_OP_DWCONV2D : VS_OP_CONV2D, c->node->output[0], NULL, in, 3,
                 &nid);
    if (st == VS_OK)
        st = window_attrs(c, vs_graph_node(c->g, nid));
    if (st == VS_OK)
        st = ox_settle(c, nid, &vid);
    return st == VS_OK ? ox_def_runtime(c, c->node->output[0], vid, ox_perm_nhwc) : st;
}

static vs_status pool(ox_ctx *c, vs_op op)
{
    ox_val *x;
    int64_t ks[2];
    int cnt, nid, vid;
    vs_status st = ox_get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = ox_attr_ints(c, "kernel_shape", ks, 2, &cnt);
    if (st != VS_OK)
        return st;
    if (x->shape.rank != 4 || cnt != 2)
        return ox_fail(c, VS_UNSUPPORTED, "only 2-D pooling with a 2-D kernel_shape");
    if (ks[0] < 1 || ks[1] < 1 || ks[0] > 4096 || ks[1] > 4096)
        return ox_fail(c, VS_FORMAT, "bad kernel_shape");
    if (ox_attr_i(c, "ceil_mode", 0))
        return ox_fail(c, VS_UNSUPPORTED, "ceil_mode = 1");
    if (c->node->n_output > 1 && c->node->output[1][0])
        return ox_fail(c, VS_UNSUPPORTED, "the indices output");
    int in;
    if ((st = ox_in_layout(c, x, ox_perm_nhwc, &in)) != VS_OK)
        return st;
    if ((st = ox_emit(c, op, c->node->output[0], NULL, &in, 1, &nid)) != VS_OK)
        return st;
    vs_node *n = vs_graph_node(c->g, nid);
    n->ksize[0] = (int)ks[0];
    n->ksize[1] = (int)ks[1];
    if ((st = window_attrs(c, n)) != VS_OK)
        return st;
    if (n->dilation[0] != 1 || n->dilation[1] != 1)
        return ox_fail(c, VS_UNSUPPORTED, "dilated pooling");
    int padded = n->padmode == VS_PAD_SAME || n->pad[0] || n->pad[1] || n->pad[2] || n->pad[3];
    /* Our AvgPool divides by the valid elements only: ONNX's count_include_pad = 0. */
    if (op == VS_OP_AVGPOOL && padded && ox_attr_i(c, "count_include_pad", 0))
        return ox_fail(c, VS_UNSUPPORTED, "count_include_pad = 1 with padding");
    st = ox_settle(c, nid, &vid);
    return st == VS_OK ? ox_def_runtime(c, c->node->output[0], vid, ox_perm_nhwc) : st;
}

/* A reduction over ONNX axes ax[0..na) of x (all when na < 0), in x's own layout. */
static vs_status reduce(ox_ctx *c, vs_op op, ox_val *x, const int64_t *ax, int na, int keep)
{
    int r = x->shape.rank, nid, vid;
    uint32_t mask = 0;
    for (int k = 0; k < (na < 0 ? r : na); k++) {
        int a = na < 0 ? k : ox_norm_axis(ax[k], r);
        if (a < 0)
            return ox_fail(c, VS_FORMAT, "axis %lld out of range", (long long)ax[k]);
        mask |= 1u << a;
    }
    int perm[VS_MAX_DIMS], np = 0;
    vs_status st = ox_emit(c, op, c->node->output[0], NULL, &x->vid, 1, &nid);
    if (st != VS_OK)
        return st;
    vs_node *n = vs_graph_node(c->g, nid);
    n->keepdims = keep;
    for (int k = 0; k < r; k++) {
        int d = x->perm[k];
        if (mask & (1u << d)) {
            n->axes_mask |= 1u << k;
            if (keep)
                perm[np++] = d;
            continue;
        }
        /* Without keepdims the ONNX dims after a dropped one shift down. */
        int shift = 0;
        for (int e = 0; e < d; e++)
            shift += !keep && (mask & (1u << e));
        perm[np++] = d - shift;
    }
    st = ox_settle(c, nid, &vid);
    return st == VS_OK ? ox_def_runtime(c, c->node->output[0], vid, perm) : st;
}

static vs_status op_reduce(ox_ctx *c, vs_op op)
{
    ox_val *x;
    int64_t ax[VS_MAX_DIMS];
    int na;
    vs_status st = ox_get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = ox_ints_arg(c, "axes", 1, ax, VS_MAX_DIMS, &na);
    if (st != VS_OK)
        return st;
    if (na == 0 && ox_attr_i(c, "noop_with_empty_axes", 0))
        return ox_def_runtime(c, c->node->output[0], x->vid, x->perm);
    return reduce(c, op, x, ax, na == 0 ? -1 : na, (int)ox_attr_i(c, "keepdims", 1));
}

static vs_status global_pool(ox_ctx *c, vs_op op)
{
    ox_val *x;
    vs_status st = ox_get_runtime(c, 0, &x);
    if (st != VS_OK)
        return st;
    if (x->shape.rank < 3)
        return ox_fail(c, VS_FORMAT, "input of rank %d", x->shape.rank);
    int64_t ax[VS_MAX_DIMS];
    for (int d = 2; d < x->shape.rank; d++)
        ax[d - 2] = d;
    return reduce(c, op, x, ax, x->shape.rank - 2, 1);
}

/* ---- reshapes ---------------------------------------------------------------------------- */

/* Plans a reshape of x to `to` that moves no data: groups of input dims that become groups of
 * output dims must sit together and in order in x's memory.  OUT: T, the layout x must be in
 * (x's own when it qualifies), and P, the layout of the result. */
static void plan_reshape(const ox_val *x, const vs_shape *to, int *t, int *p)
{
    int rin = x->shape.rank, rout = to->rank, gin[VS_MAX_DIMS], gout[VS_MAX_DIMS], ng = 0;
    int i = 0, j = 0;
    while (i < rin || j < rout) {
        int64_t pi = 1, pj = 1;
        if (i < rin)
            pi *= x->shape.dim[i], gin[i++] = ng;
        if (j < rout)
            pj *= to->dim[j], gout[j++] = ng;
        while (pi != pj && (i < rin || j < rout)) {
            if ((pi < pj && i < rin) || j >= rout)
                pi *= x->shape.dim[i], gin[i++] = ng;
            else
                pj *= to->dim[j], gout[j++] = ng;
        }
        ng++;
    }
    /* Memory order of x's non-unit dims; each group's must be consecutive and ascending. */
    int ok = 1, last_g = -1, last_d = -1, seen[VS_MAX_DIMS * 2] = {0};
    int key[VS_MAX_DIMS * 2];
    for (int g = 0; g < ng; g++)
        key[g] = -1;
    for (int k = 0; k < rin; k++) {
        int d = x->perm[k];
        if (x->shape.dim[d] == 1)
            continue;
        int g = gin[d];
        if (key[g] < 0)
            key[g] = k;
        if (g != last_g && seen[g])
            ok = 0;
        if (g == last_g && d < last_d)
            ok = 0;
        seen[g] = 1;
        last_g = g;
        last_d = d;
    }
    /* Groups in memory order (groups of 1s first), each group's dims ascending. */
    int order[VS_MAX_DIMS * 2], nt = 0, np = 0;
    for (int g = 0; g < ng; g++)
        order[g] = g;
    for (int a = 1; a < ng; a++)
        for (int b = a; b > 0 && key[order[b]] < key[order[b - 1]]; b--) {
            int tmp = order[b];
            order[b] = order[b - 1];
            order[b - 1] = tmp;
        }
    for (int k = 0; k < ng; k++) {
        for (int d = 0; d < rin; d++)
            if (gin[d] == order[k])
                t[nt++] = d;
        for (int d = 0; d < rout; d++)
            if (gout[d] == order[k])
                p[np++] = d;
    }
    if (ok)
        memcpy(t, x->perm, sizeof(int) * (size_t)rin);
}

/* out = x reshaped to `to` (ONNX row-major semantics), moving data only when it must. */
static vs_status reshape_to(ox_ctx *c, ox_val *x, const vs_shape *to, const char *out)
{
    if (vs_shape_numel(to) != vs_shape_numel(&x->shape))
        return ox_fail(c, VS_FORMAT, "reshape of %lld elements to %lld",
                       (long long)vs_shape_numel(&x->shape), (long long)vs_shape_numel(to));
    if (x->kind != OX_RUNTIME) {
        void *d = const_copy(x);
        return d ? ox_def_const(c, out, x->kind, to, d) : ox_fail(c, VS_NOMEM, "reshape");
    }
    int t[VS_MAX_DIMS], p[VS_MAX_DIMS], in, nid, vid;
    plan_reshape(x, to, t, p);
    vs_status st = ox_in_layout(c, x, t, &in);
    if (st == VS_OK)
        st = ox_emit(c, VS_OP_RESHAPE, out, NULL, &in, 1, &nid);
    if (st != VS_OK)
        return st;
    vs_node *n = vs_graph_node(c->g, nid);
    n->new_shape.rank = to->rank;
    for (int k = 0; k < to->rank; k++)
        n->new_shape.dim[k] = to->dim[p[k]];
    st = ox_settle(c, nid, &vid);
    return st == VS_OK ? ox_def_runtime(c, out, vid, p) : st;
}

static vs_status op_reshape(ox_ctx *c)
{
    ox_val *x, *s;
    vs_status st = ox_get_in(c, 0, 1, &x);
    if (st == VS_OK)
        st = ox_get_in(c, 1, 1, &s);
    if (st != VS_OK)
        return st;
    if (s->kind != OX_I64 || s->shape.rank != 1 || s->shape.dim[0] > VS_MAX_DIMS)
        return ox_fail(c, VS_UNSUPPORTED, "the shape must be a constant int64 vector of rank <= %d",
                       VS_MAX_DIMS);
    vs_shape to = {.rank = (int)s->shape.dim[0]};
    int64_t known = 1;
    int unknown = -1;
    for (int k = 0; k < to.rank; k++) {
        int64_t d = s->i[k];
        if (d == 0 && !ox_attr_i(c, "allowzero", 0)) {
            if (k >= x->shape.rank)
                return ox_fail(c, VS_FORMAT, "shape copies dim %d of a rank-%d input", k,
                               x->shape.rank);
            d = x->shape.dim[k];
        }
        if (d == -1 && unknown < 0)
            unknown = k;
        else if (d <= 0)
            return ox_fail(c, VS_FORMAT, "bad target dim %lld", (long long)d);
        else
            known *= d;
        to.dim[k] = d;
    }
    if (unknown >= 0)
        to.dim[unknown] = known ? vs_shape_numel(&x->shape) / known : 0;
    return reshape_to(c, x, &to, c->node->output[0]);
}

static vs_status op_flatten(ox_ctx *c)
{
    ox_val *x;
    vs_status st = ox_get_in(c, 0, 1, &x);
    if (st != VS_OK)
        return st;
    int64_t axis = ox_attr_i(c, "axis", 1);
    if (axis < 0)
        axis += x->shape.rank;
    if (axis < 0 || axis > x->shape.rank)
        return ox_fail(c, VS_FORMAT, "axis out of range");
    vs_shape to = {.rank = 2, .dim = {1, 1}};
    for (int d = 0; d < x->shape.rank; d++)
        to.dim[d >= axis] *= x->shape.dim[d];
    return reshape_to(c, x, &to, c->node->output[0]);
}

static vs_status op_unsqueeze(ox_ctx *c)
{
    ox_val *x;
    int64_t ax[VS_MAX_DIMS];
    int na;
    vs_status st = ox_get_in(c, 0, 1, &x);
    if (st == VS_OK)
        st = ox_ints_arg(c, "axes", 1, ax, VS_MAX_DIMS, &na);
    if (st != VS_OK)
        return st;
    int r = x->shape.rank + (na > 0 ? na : 0);
    if (na <= 0 || r > VS_MAX_DIMS)
        return ox_fail(c, VS_FORMAT, "needs 1 to %d axes", VS_MAX_DIMS - x->shape.rank);
    uint32_t mask = 0;
    for (int k = 0; k < na; k++) {
        int a = ox_norm_axis(ax[k], r);
        if (a < 0 || (mask & (1u << a)))
            return ox_fail(c, VS_FORMAT, "bad axis %lld", (long long)ax[k]);
        mask |= 1u << a;
    }
    vs_shape to = {.rank = r};
    for (int d = 0, s = 0; d < r; d++)
        to.dim[d] = mask & (1u << d) ? 1 : x->shape.dim[s++];
    return reshape_to(c, x, &to, c->node->output[0]);
}

static vs_status op_squeeze(ox_ctx *c)
{
    ox_val *x;
    int64_t ax[VS_MAX_DIMS];
    int na;
    vs_status st = ox_get_in(c, 0, 1, &x);
    if (st == VS_OK)
        st = ox_ints_arg(c, "axes", 1, ax, VS_MAX_DIMS, &na);
    if (st != VS_OK)
        return st;
    uint32_t mask = 0;
    for (int k = 0; k < na; k++) {
        int a = ox_norm_axis(ax[k], x->shape.rank);
        if (a < 0 || x->shape.dim[a] != 1)
            return ox_fail(c, VS_FORMAT, "axis %lld is not a dim of size 1", (long long)ax[k]);
        mask |= 1u << a;
    }
    vs_shape to = {0};
    for (int d = 0; d < x->shape.rank; d++)
        if (!(na > 0 ? mask & (1u << d) : x->shape.dim[d] == 1))
            to.dim[to.rank++] = x->shape.dim[d];
    return reshape_to(c, x, &to, c->node->output[0]);
}

/* Transpose costs nothing: the output is the same engine value in another layout. */
static vs_status op_transpose(ox_ctx *c)
{
    ox_val *x;
    vs_status st = ox_get_in(c, 0, 1, &x);
    if (st != VS_OK)
        return st;
    int r = x->shape.rank, q[VS_MAX_DIMS], qinv[VS_MAX_DIMS], np, p[VS_MAX_DIMS];
    int64_t v[VS_MAX_DIMS];
    if ((st = ox_attr_ints(c, "perm", v, VS_MAX_DIMS, &np)) != VS_OK)
        return st;
    if (np >= 0 && np != r)
        return ox_fail(c, VS_FORMAT, "perm of %d values for rank %d", np, r);
    uint32_t seen = 0;
    for (int k = 0; k < r; k++) {
        q[k] = np < 0 ? r - 1 - k : (int)v[k];
        if (q[k] < 0 || q[k] >= r || (seen & (1u << q[k])))
            return ox_fail(c, VS_FORMAT, "perm is not a permutation");
        seen |= 1u << q[k];
        qinv[q[k]] = k;
    }
    if (x->kind != OX_RUNTIME) {
        if (x->kind != OX_F32)
            return ox_fail(c, VS_UNSUPPORTED, "transpose of an int64 constant");
        float *d = malloc((size_t)(vs_shape_numel(&x->shape) + 1) * sizeof *d);
        if (!d)
            return ox_fail(c, VS_NOMEM, "transpose");
        ox_permute_f32(x->f, &x->shape, q, d);
        vs_shape s = {.rank = r};
        for (int k = 0; k < r; k++)
            s.dim[k] = x->shape.dim[q[k]];
        return ox_def_const(c, c->node->output[0], OX_F32, &s, d);
    }
    /* y = x.transpose(q); engine dim k of x is x's ONNX dim perm[k] = y's ONNX dim qinv[..]. */
    for (int k = 0; k < r; k++)
        p[k] = qinv[x->perm[k]];
    return ox_def_runtime(c, c->node->output[0], x->vid, p);
}

/* ---- softmax, matmul --------------------------------------------------------------------- */

static vs_status op_softmax(ox_ctx *c)
{
    ox_val *x;
    int in, nid, vid;
    vs_status st = ox_get_runtime(c, 0, &x);
    if (st != VS_OK)
        return st;
    int r = x->shape.rank, axis = ox_norm_axis(ox_attr_i(c, "axis", c->opset >= 13 ? -1 : 1), r);
    if (axis < 0)
        return ox_fail(c, VS_FORMAT, "axis out of range");
    int64_t inner = 1;
    for (int d = axis + 1; d < r; d++)
        inner *= x->shape.dim[d];
    /* Before opset 13, Softmax normalises over all dims from axis on, flattened. */
    if (c->opset < 13 && inner > 1)
        return ox_fail(c, VS_UNSUPPORTED, "softmax over the flattened dims %d.. (opset %d)", axis,
                       c->opset);
    if ((st = ox_in_layout(c, x, ox_perm_id, &in)) != VS_OK)
        return st;
    if ((st = ox_emit(c, VS_OP_SOFTMAX, c->node->output[0], NULL, &in, 1, &nid)) != VS_OK)
        return st;
    vs_graph_node(c->g, nid)->axis = axis;
    st = ox_settle(c, nid, &vid);
    return st == VS_OK ? ox_def_runtime(c, c->node->output[0], vid, ox_perm_id) : st;
}

/* y = a @ b (+ bias): b constant is the weight [K,N]; anything else is a runtime matmul. */
static vs_status matmul(ox_ctx *c, ox_val *a, ox_val *b, int ta, const float *wt, int64_t k_n,
                        int64_t n_n, const float *bias, const char *out)
{
    int in[3] = {-1, -1, -1}, nid, vid;
    vs_status st = ox_in_layout(c, a, ox_perm_id, &in[0]);
    if (st != VS_OK)
        return st;
    if (wt) {
        vs_shape ws = {.rank = 2, .dim = {k_n, n_n}};
        float *w = malloc((size_t)(k_n * n_n) * sizeof *w);
        if (!w)
            return ox_fail(c, VS_NOMEM, "weights");
        memcpy(w, wt, (size_t)(k_n * n_n) * sizeof *w);
        st = ox_add_const(c, b->name, b->kind == OX_F32 ? "kn" : NULL, &ws, w, &in[1]);
    } else {
        st = ox_in_layout(c, b, ox_perm_id, &in[1]);
    }
    if (st == VS_OK && bias) {
        vs_shape bs = {.rank = 1, .dim = {n_n}};
        float *bb = malloc((size_t)n_n * sizeof *bb);
        if (!bb)
            return ox_fail(c, VS_NOMEM, "bias");
        memcpy(bb, bias, (size_t)n_n * sizeof *bb);
        st = ox_add_const(c, out, "bias", &bs, bb, &in[2]);
    }
    if (st == VS_OK)
        st = ox_emit(c, VS_OP_MATMUL, out, NULL, in, 3, &nid);
    if (st != VS_OK)
        return st;
    vs_graph_node(c->g, nid)->transpose_a = ta;
    st = ox_settle(c, nid, &vid);
    return st == VS_OK ? ox_def_runtime(c, out, vid, ox_perm_id) : st;
}

static vs_status op_matmul(ox_ctx *c)
{
    ox_val *a, *b;
    vs_status st = ox_get_runtime(c, 0, &a);
    if (st == VS_OK)
        st = ox_get_in(c, 1, 1, &b);
    if (st != VS_OK)
        return st;
    if (a->shape.rank < 2 || b->shape.rank < 2)
        return ox_fail(c, VS_UNSUPPORTED, "matmul of vectors (rank 1)");
    if (b->kind == OX_F32 && b->shape.rank == 2)
        return matmul(c, a, b, 0, b->f, b->shape.dim[0], b->shape.dim[1], NULL, c->node->output[0]);
    return matmul(c, a, b, 0, NULL, 0, 0, NULL, c->node->output[0]);
}

/* Gemm: alpha * A' B' + beta * C with B constant: B' is stored [K,N] with alpha folded in, and
 * C (one value per column) becomes the bias. */
static vs_status op_gemm(ox_ctx *c)
{
    ox_val *a, *b, *cc;
    vs_status st = ox_get_runtime(c, 0, &a);
    if (st == VS_OK)
        st = ox_get_fconst(c, 1, 1, &b);
    if (st == VS_OK)
        st = ox_get_fconst(c, 2, 0, &cc);
    if (st != VS_OK)
        return st;
    int ta = (int)ox_attr_i(c, "transA", 0), tb = (int)ox_attr_i(c, "transB", 0);
    float alpha = ox_attr_f(c, "alpha", 1.0f), beta = ox_attr_f(c, "beta", 1.0f);
    if (a->shape.rank != 2 || b->shape.rank != 2)
        return ox_fail(c, VS_FORMAT, "A and B must be matrices");
    int64_t k_n = b->shape.dim[tb ? 1 : 0], n_n = b->shape.dim[tb ? 0 : 1];
    float *w = malloc((size_t)(k_n * n_n + 1) * sizeof *w);
    float *bias = malloc((size_t)(n_n + 1) * sizeof *bias);
    if (!w || !bias) {
        free(w);
        free(bias);
        return ox_fail(c, VS_NOMEM, "weights");
    }
    for (int64_t k = 0; k < k_n; k++)
        for (int64_t j = 0; j < n_n; j++)
            w[k * n_n + j] = alpha * b->f[tb ? j * k_n + k : k * n_n + j];
    int64_t nc = cc ? vs_shape_numel(&cc->shape) : 0;
    int per_col = cc && (nc == 1 || (nc == n_n && cc->shape.dim[cc->shape.rank - 1] == n_n));
    if (cc && !per_col)
        st = ox_fail(c, VS_UNSUPPORTED, "C is not one value per column");
    for (int64_t j = 0; j < n_n && st == VS_OK; j++)
        bias[j] = cc ? beta * cc->f[nc == 1 ? 0 : j] : 0.0f;
    if (st == VS_OK)
        st = matmul(c, a, b, ta, w, k_n, n_n, cc ? bias : NULL, c->node->output[0]);
    free(w);
    free(bias);
    return st;
}

/* ---- data movement ----------------------------------------------------------------------- */

/* Concat of constants (shape arithmetic), at load. */
static vs_status concat_consts(ox_ctx *c, ox_val **xs, int n, int axis)
{
    vs_shape o = xs[0]->shape;
    o.dim[axis] = 0;
    for (int k = 0; k < n; k++) {
        if (xs[k]->kind != xs[0]->kind || xs[k]->shape.rank != o.rank)
            return ox_fail(c, VS_FORMAT, "inputs of different types or ranks");
        o.dim[axis] += xs[k]->shape.dim[axis];
    }
    size_t es = xs[0]->kind == OX_F32 ? sizeof(float) : sizeof(int64_t);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= o.dim[d];
    for (int d = axis + 1; d < o.rank; d++)
        inner *= o.dim[d];
    char *d = malloc((size_t)(vs_shape_numel(&o) + 1) * es), *y = d;
    if (!d)
        return ox_fail(c, VS_NOMEM, "concat");
    for (int64_t i = 0; i < outer; i++)
        for (int k = 0; k < n; k++) {
            size_t chunk = (size_t)(xs[k]->shape.dim[axis] * inner) * es;
            const char *src =
                xs[k]->kind == OX_F32 ? (const char *)xs[k]->f : (const char *)xs[k]->i;
            memcpy(y, src + (size_t)i * chunk, chunk);
            y += chunk;
        }
    return ox_def_const(c, c->node->output[0], xs[0]->kind, &o, d);
}

static vs_status op_concat(ox_ctx *c)
{
    int n = (int)c->node->n_input;
    ox_val **xs = calloc((size_t)(n ? n : 1), sizeof *xs);
    int *in = calloc((size_t)(n ? n : 1), sizeof *in);
    vs_status st = xs && in ? VS_OK : ox_fail(c, VS_NOMEM, "concat");
    int runtime = -1;
    for (int k = 0; st == VS_OK && k < n; k++) {
        st = ox_get_in(c, k, 1, &xs[k]);
        if (st == VS_OK && xs[k]->kind == OX_RUNTIME && runtime < 0)
            runtime = k;
    }
    int r = st == VS_OK && n > 0 ? xs[0]->shape.rank : 0;
    int axis = ox_norm_axis(ox_attr_i(c, "axis", 0), r);
    if (st == VS_OK && (n < 1 || axis < 0))
        st = ox_fail(c, VS_FORMAT, "no inputs or axis out of range");
    for (int k = 0; st == VS_OK && k < n; k++) {
        if (xs[k]->shape.rank != r)
            st = ox_fail(c, VS_FORMAT, "inputs of different ranks");
        for (int d = 0; st == VS_OK && d < r; d++)
            if (d != axis && xs[k]->shape.dim[d] != xs[0]->shape.dim[d])
                st = ox_fail(c, VS_FORMAT, "input %d differs in dim %d", k, d);
    }
    if (st == VS_OK && runtime < 0) {
        st = concat_consts(c, xs, n, axis);
        goto out;
    }
    int perm[VS_MAX_DIMS], eaxis = 0, nid = -1, vid = -1;
    if (st == VS_OK)
        memcpy(perm, xs[runtime]->perm, sizeof perm);
    for (int k = 0; st == VS_OK && k < n; k++)
        st = ox_in_layout(c, xs[k], perm, &in[k]);
    for (int k = 0; k < r; k++)
        if (perm[k] == axis)
            eaxis = k;
    /* More inputs than a node takes: concatenate in runs, each run's result leading the next. */
    for (int done = 0; st == VS_OK && done < n;) {
        int run[VS_MAX_IN], cnt = 0;
        if (vid >= 0)
            run[cnt++] = vid;
        while (cnt < VS_MAX_IN && done < n)
            run[cnt++] = in[done++];
        st = ox_emit(c, VS_OP_CONCAT, c->node->output[0], done < n ? "part" : NULL, run, cnt, &nid);
        if (st == VS_OK) {
            vs_graph_node(c->g, nid)->axis = eaxis;
            st = ox_settle(c, nid, &vid);
        }
    }
    if (st == VS_OK)
        st = ox_def_runtime(c, c->node->output[0], vid, perm);
out:
    free(xs);
    free(in);
    return st;
}

/* out = x[begin .. begin+size) along ONNX axes, as one SLICE in x's layout. */
static vs_status slice(ox_ctx *c, ox_val *x, const int64_t *begin, const int64_t *size,
                       const char *out)
{
    int nid, vid;
    vs_status st = ox_emit(c, VS_OP_SLICE, out, NULL, &x->vid, 1, &nid);
    if (st != VS_OK)
        return st;
    vs_node *n = vs_graph_node(c->g, nid);
    for (int k = 0; k < x->shape.rank; k++) {
        n->begin[k] = begin[x->perm[k]];
        n->size[k] = size[x->perm[k]];
    }
    st = ox_settle(c, nid, &vid);
    return st == VS_OK ? ox_def_runtime(c, out, vid, x->perm) : st;
}

static vs_status op_split(ox_ctx *c)
{
    ox_val *x;
    int64_t parts[16];
    int np;
    vs_status st = ox_get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = ox_ints_arg(c, "split", 1, parts, 16, &np);
    if (st != VS_OK)
        return st;
    int r = x->shape.rank, axis = ox_norm_axis(ox_attr_i(c, "axis", 0), r);
    int n_out = (int)c->node->n_output;
    if (axis < 0 || n_out < 1 || n_out > 16 || (np >= 0 && np != n_out))
        return ox_fail(c, VS_FORMAT, "bad axis or split");
    int64_t len = x->shape.dim[axis], begin[VS_MAX_DIMS] = {0}, size[VS_MAX_DIMS], sum = 0;
    for (int k = 0; k < n_out; k++) {
        if (np < 0)
            parts[k] = len / n_out;
        sum += parts[k];
        if (parts[k] < 1)
            return ox_fail(c, VS_UNSUPPORTED, "empty split");
    }
    if (sum != len)
        return ox_fail(c, VS_FORMAT, "split sizes add to %lld, dim is %lld", (long long)sum,
                       (long long)len);
    for (int d = 0; d < r; d++)
        size[d] = x->shape.dim[d];
    for (int k = 0; k < n_out && st == VS_OK; k++) {
        size[axis] = parts[k];
        if (c->node->output[k][0])
            st = slice(c, x, begin, size, c->node->output[k]);
        begin[axis] += parts[k];
    }
    return st;
}

static vs_status op_slice(ox_ctx *c)
{
    ox_val *x;
    int64_t sv[VS_MAX_DIMS], ev[VS_MAX_DIMS], av[VS_MAX_DIMS], tv[VS_MAX_DIMS];
    int ns, ne, na, nt;
    vs_status st = ox_get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = ox_ints_arg(c, "starts", 1, sv, VS_MAX_DIMS, &ns);
    if (st == VS_OK)
        st = ox_ints_arg(c, "ends", 2, ev, VS_MAX_DIMS, &ne);
    if (st == VS_OK)
        st = ox_ints_arg(c, "axes", 3, av, VS_MAX_DIMS, &na);
    if (st == VS_OK)
        st = ox_ints_arg(c, "steps", 4, tv, VS_MAX_DIMS, &nt);
    if (st != VS_OK)
        return st;
    int r = x->shape.rank;
    if (ns < 0 || ns != ne || (na >= 0 && na != ns) || (nt >= 0 && nt != ns))
        return ox_fail(c, VS_FORMAT, "starts, ends, axes and steps differ in length");
    int64_t begin[VS_MAX_DIMS] = {0}, size[VS_MAX_DIMS];
    for (int d = 0; d < r; d++)
        size[d] = x->shape.dim[d];
    for (int k = 0; k < ns; k++) {
        int a = ox_norm_axis(na >= 0 ? av[k] : k, r);
        if (a < 0 || (nt >= 0 && tv[k] != 1))
            return ox_fail(c, VS_UNSUPPORTED, "axis out of range or step other than 1");
        int64_t dim = x->shape.dim[a], s = sv[k], e = ev[k];
        s = s < 0 ? s + dim : s;
        e = e < 0 ? e + dim : e;
        s = s < 0 ? 0 : s > dim ? dim : s;
        e = e < 0 ? 0 : e > dim ? dim : e;
        if (e <= s)
            return ox_fail(c, VS_UNSUPPORTED, "empty slice");
        begin[a] = s;
        size[a] = e - s;
    }
    return slice(c, x, begin, size, c->node->output[0]);
}

static vs_status op_pad(ox_ctx *c)
{
    ox_val *x, *val = NULL;
    int64_t pads[2 * VS_MAX_DIMS];
    int np, nid, vid;
    vs_status st = ox_get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = ox_ints_arg(c, "pads", 1, pads, 2 * VS_MAX_DIMS, &np);
    if (st == VS_OK && c->opset >= 11)
        st = ox_get_fconst(c, 2, 0, &val);
    if (st != VS_OK)
        return st;
    int r = x->shape.rank, zero = 1;
    if (!ox_attr_str_is(c, "mode", NULL) && !ox_attr_str_is(c, "mode", "constant"))
        return ox_fail(c, VS_UNSUPPORTED, "only constant padding");
    if (np != 2 * r)
        return ox_fail(c, VS_FORMAT, "%d pads for rank %d", np, r);
    for (int k = 0; k < np; k++) {
        if (pads[k] < 0 || pads[k] > 65536)
            return ox_fail(c, VS_UNSUPPORTED, "negative or huge padding");
        zero &= pads[k] == 0;
    }
    if (zero)
        return ox_def_runtime(c, c->node->output[0], x->vid, x->perm);
    if ((st = ox_emit(c, VS_OP_PAD, c->node->output[0], NULL, &x->vid, 1, &nid)) != VS_OK)
        return st;
    vs_node *n = vs_graph_node(c->g, nid);
    n->pad_value = val ? val->f[0] : ox_attr_f(c, "value", 0.0f);
    for (int k = 0; k < r; k++) {
        n->pads[k][0] = pads[x->perm[k]];
        n->pads[k][1] = pads[r + x->perm[k]];
    }
    st = ox_settle(c, nid, &vid);
    return st == VS_OK ? ox_def_runtime(c, c->node->output[0], vid, x->perm) : st;
}

/* ---- shape arithmetic (constants only) --------------------------------------------------- */

static vs_status op_shape(ox_ctx *c)
{
    ox_val *x;
    vs_status st = ox_get_in(c, 0, 1, &x);
    if (st != VS_OK)
        return st;
    int r = x->shape.rank;
    int64_t *d = malloc((size_t)(r + 1) * sizeof *d);
    if (!d)
        return ox_fail(c, VS_NOMEM, "shape");
    for (int k = 0; k < r; k++)
        d[k] = x->shape.dim[k];
    vs_shape s = {.rank = 1, .dim = {r}};
    return ox_def_const(c, c->node->output[0], OX_I64, &s, d);
}

static vs_status op_gather(ox_ctx *c)
{
    ox_val *x, *idx;
    vs_status st = ox_get_in(c, 0, 1, &x);
    if (st == VS_OK)
        st = ox_get_in(c, 1, 1, &idx);
    if (st != VS_OK)
        return st;
    if (x->kind == OX_RUNTIME || idx->kind != OX_I64)
        return ox_fail(c, VS_UNSUPPORTED, "only gathers from constants with constant indices");
    int r = x->shape.rank, axis = ox_norm_axis(ox_attr_i(c, "axis", 0), r);
    if (axis < 0 || r - 1 + idx->shape.rank > VS_MAX_DIMS)
        return ox_fail(c, VS_FORMAT, "axis out of range");
    vs_shape o = {0};
    for (int d = 0; d < axis; d++)
        o.dim[o.rank++] = x->shape.dim[d];
    for (int d = 0; d < idx->shape.rank; d++)
        o.dim[o.rank++] = idx->shape.dim[d];
    for (int d = axis + 1; d < r; d++)
        o.dim[o.rank++] = x->shape.dim[d];
    int64_t outer = 1, inner = 1, len = x->shape.dim[axis], ni = vs_shape_numel(&idx->shape);
    for (int d = 0; d < axis; d++)
        outer *= x->shape.dim[d];
    for (int d = axis + 1; d < r; d++)
        inner *= x->shape.dim[d];
    size_t es = x->kind == OX_F32 ? sizeof(float) : sizeof(int64_t);
    char *d = malloc((size_t)(vs_shape_numel(&o) + 1) * es), *y = d;
    const char *src = x->kind == OX_F32 ? (const char *)x->f : (const char *)x->i;
    if (!d)
        return ox_fail(c, VS_NOMEM, "gather");
    for (int64_t i = 0; i < outer; i++)
        for (int64_t j = 0; j < ni; j++) {
            int64_t at = idx->i[j] < 0 ? idx->i[j] + len : idx->i[j];
            if (at < 0 || at >= len) {
                free(d);
                return ox_fail(c, VS_FORMAT, "index %lld out of range", (long long)idx->i[j]);
            }
            memcpy(y, src + (size_t)((i * len + at) * inner) * es, (size_t)inner * es);
            y += (size_t)inner * es;
        }
    return ox_def_const(c, c->node->output[0], x->kind, &o, d);
}

static vs_status op_cast(ox_ctx *c)
{
    ox_val *x;
    vs_status st = ox_get_in(c, 0, 1, &x);
    if (st != VS_OK)
        return st;
    int64_t to = ox_attr_i(c, "to", 0);
    int want_f = to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    int want_i =
        to == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || to == ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
    if (x->kind == OX_RUNTIME) {
        if (!want_f)
            return ox_fail(c, VS_UNSUPPORTED, "cast of a float tensor to type %lld", (long long)to);
        return ox_def_runtime(c, c->node->output[0], x->vid, x->perm);
    }
    if (!want_f && !want_i)
        return ox_fail(c, VS_UNSUPPORTED, "cast to type %lld", (long long)to);
    int64_t n = vs_shape_numel(&x->shape);
    void *d = malloc((size_t)(n + 1) * 8);
    if (!d)
        return ox_fail(c, VS_NOMEM, "cast");
    for (int64_t k = 0; k < n; k++) {
        if (want_f)
            ((float *)d)[k] = x->kind == OX_F32 ? x->f[k] : (float)x->i[k];
        else
            ((int64_t *)d)[k] = x->kind == OX_I64 ? x->i[k] : (int64_t)x->f[k];
    }
    return ox_def_const(c, c->node->output[0], want_f ? OX_F32 : OX_I64, &x->shape, d);
}

/* ---- tensors in the file ----------------------------------------------------------------- */

/* Reads an ONNX TensorProto into a loader constant named `name`. */
vs_status ox_read_tensor(ox_ctx *c, const Onnx__TensorProto *t, const char *name)
{
    vs_shape s = {.rank = (int)t->n_dims};
    if (t->n_dims > VS_MAX_DIMS)
        return ox_fail(c, VS_UNSUPPORTED, "tensor '%s' has rank %zu", name, t->n_dims);
    int64_t n = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0 || (t->dims[d] > 0 && n > OX_MAX_NUMEL / t->dims[d]))
            return ox_fail(c, VS_FORMAT, "tensor '%s' has a bad or huge shape", name);
        s.dim[d] = t->dims[d];
        n *= t->dims[d];
    }
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return ox_fail(c, VS_UNSUPPORTED, "tensor '%s' keeps its data in an external file", name);
    int dt = t->data_type;
    int is_f =
        dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    int is_i =
        dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
    if (!is_f && !is_i) {
        /* A type we do not read: recorded, and an error only if a node reads it. */
        ox_val *v;
        vs_status st = ox_new_val(c, name, &v);
        if (st == VS_OK) {
            v->kind = OX_BADTYPE;
            v->dtype = dt;
            v->shape = s;
        }
        return st;
    }
    size_t width = dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32   ? 4
                   : dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ? 4
                                                                : 8;
    size_t have = t->has_raw_data                               ? t->raw_data.len / width
                  : dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT  ? t->n_float_data
                  : dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ? t->n_double_data
                  : dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32  ? t->n_int32_data
                                                                : t->n_int64_data;
    if (have != (size_t)n || (t->has_raw_data && t->raw_data.len != (size_t)n * width))
        return ox_fail(c, VS_FORMAT, "tensor '%s' holds %zu values, its shape says %lld", name,
                       have, (long long)n);
    void *d = malloc((size_t)(n + 1) * 8);
    if (!d)
        return ox_fail(c, VS_NOMEM, "tensor '%s'", name);
    const uint8_t *raw = t->has_raw_data ? t->raw_data.data : NULL;
    for (int64_t k = 0; k < n; k++) {
        float fv = 0;
        double dv = 0;
        int32_t iv = 0;
        int64_t lv = 0;
        switch (dt) {
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
            if (raw)
                memcpy(&fv, raw + k * 4, 4);
            ((float *)d)[k] = raw ? fv : t->float_data[k];
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
            if (raw)
                memcpy(&dv, raw + k * 8, 8);
            ((float *)d)[k] = (float)(raw ? dv : t->double_data[k]);
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
            if (raw)
                memcpy(&iv, raw + k * 4, 4);
            ((int64_t *)d)[k] = raw ? iv : t->int32_data[k];
            break;
        default:
            if (raw)
                memcpy(&lv, raw + k * 8, 8);
            ((int64_t *)d)[k] = raw ? lv : t->int64_data[k];
            break;
        }
    }
    return ox_def_const(c, name, is_f ? OX_F32 : OX_I64, &s, d);
}

static vs_status op_constant(ox_ctx *c)
{
    const Onnx__AttributeProto *a = ox_attr(c, "value");
    if (a && a->t)
        return ox_read_tensor(c, a->t, c->node->output[0]);
    vs_shape s = {0};
    if ((a = ox_attr(c, "value_float")) && a->has_f) {
        float *d = malloc(sizeof *d);
        if (!d)
            return ox_fail(c, VS_NOMEM, "constant");
        *d = a->f;
        return ox_def_const(c, c->node->output[0], OX_F32, &s, d);
    }
    if ((a = ox_attr(c, "value_ints")) || (a = ox_attr(c, "value_int"))) {
        size_t n = a->n_ints ? a->n_ints : 1;
        int64_t *d = malloc(n * sizeof *d);
        if (!d)
            return ox_fail(c, VS_NOMEM, "constant");
        if (a->n_ints) {
            memcpy(d, a->ints, n * sizeof *d);
            s = (vs_shape){.rank = 1, .dim = {(int64_t)n}};
        } else {
            d[0] = a->i;
        }
        return ox_def_const(c, c->node->output[0], OX_I64, &s, d);
    }
    return ox_fail(c, VS_UNSUPPORTED, "constant without a tensor, float or int value");
}

/* ---- the graph --------------------------------------------------------------------------- */

typedef struct ox_op {
    const char *name;
    vs_status (*fn)(ox_ctx *c);               /* a handler for this op alone, or */
    vs_status (*shared)(ox_ctx *c, vs_op op); /* one shared by ops that map onto one engine op */
    vs_op op;
} ox_op;

static const ox_op ops[] = {
    {"Conv", op_conv, NULL, VS_OP_IDENTITY},
    {"BatchNormalization", op_batchnorm, NULL, VS_OP_IDENTITY},
    {"Relu", NULL, op_unary, VS_OP_RELU},
    {"PRelu", op_prelu, NULL, VS_OP_IDENTITY},
    {"LeakyRelu", NULL, op_unary, VS_OP_LEAKY_RELU},
    {"Sigmoid", NULL, op_unary, VS_OP_SIGMOID},
    {"Tanh", NULL, op_unary, VS_OP_TANH},
    {"Exp", NULL, op_unary, VS_OP_EXP},
    {"Abs", NULL, op_unary, VS_OP_ABS},
    {"Neg", NULL, op_unary, VS_OP_NEG},
    {"Sqrt", NULL, op_unary, VS_OP_SQRT},
    {"Clip", NULL, op_unary, VS_OP_CLAMP},
    {"Add", NULL, op_binary, VS_OP_ADD},
    {"Sub", NULL, op_binary, VS_OP_SUB},
    {"Mul", NULL, op_binary, VS_OP_MUL},
    {"Div", NULL, op_binary, VS_OP_DIV},
    {"Max", NULL, op_binary, VS_OP_MAXIMUM},
    {"Min", NULL, op_binary, VS_OP_MINIMUM},
    {"MaxPool", NULL, pool, VS_OP_MAXPOOL},
    {"AveragePool", NULL, pool, VS_OP_AVGPOOL},
    {"GlobalAveragePool", NULL, global_pool, VS_OP_MEAN},
    {"GlobalMaxPool", NULL, global_pool, VS_OP_REDUCE_MAX},
    {"ReduceMean", NULL, op_reduce, VS_OP_MEAN},
    {"ReduceSum", NULL, op_reduce, VS_OP_SUM},
    {"ReduceMax", NULL, op_reduce, VS_OP_REDUCE_MAX},
    {"Softmax", op_softmax, NULL, VS_OP_IDENTITY},
    {"Gemm", op_gemm, NULL, VS_OP_IDENTITY},
    {"MatMul", op_matmul, NULL, VS_OP_IDENTITY},
    {"Flatten", op_flatten, NULL, VS_OP_IDENTITY},
    {"Reshape", op_reshape, NULL, VS_OP_IDENTITY},
    {"Squeeze", op_squeeze, NULL, VS_OP_IDENTITY},
    {"Unsqueeze", op_unsqueeze, NULL, VS_OP_IDENTITY},
    {"Transpose", op_transpose, NULL, VS_OP_IDENTITY},
    {"Concat", op_concat, NULL, VS_OP_IDENTITY},
    {"Split", op_split, NULL, VS_OP_IDENTITY},
    {"Slice", op_slice, NULL, VS_OP_IDENTITY},
    {"Pad", op_pad, NULL, VS_OP_IDENTITY},
    {"Identity", op_identity, NULL, VS_OP_IDENTITY},
    {"Dropout", op_identity, NULL, VS_OP_IDENTITY},
    {"Shape", op_shape, NULL, VS_OP_IDENTITY},
    {"Gather", op_gather, NULL, VS_OP_IDENTITY},
    {"Cast", op_cast, NULL, VS_OP_IDENTITY},
    {"Constant", op_constant, NULL, VS_OP_IDENTITY},
};

vs_status ox_translate_node(ox_ctx *c, const Onnx__NodeProto *n)
{
    c->node = n;
    if (!n->op_type || n->n_output < 1 || !n->output[0] || !n->output[0][0])
        return ox_fail(c, VS_FORMAT, "node without an op type or output");
    if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
        return ox_fail(c, VS_FORMAT, "op of domain '%s' is not supported", n->domain);
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].name, n->op_type) == 0)
            return ops[i].fn ? ops[i].fn(c) : ops[i].shared(c, ops[i].op);
    return ox_fail(c, VS_FORMAT, "op '%s' is not supported", n->op_type);
}

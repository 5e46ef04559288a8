/*
 * graph_shape.c - shape inference: the output shape of every node from its inputs' shapes.
 *
 * Runs once per node at finalize, in topological order.  It is also where loader-level
 * conveniences are normalised (negative axes, SQUEEZE turned into RESHAPE, SAME padding turned
 * into explicit pads), so kernels and backends see one canonical form.  Every mismatch is a
 * VS_FORMAT naming the node: a model file is input, and bad input never asserts.
 */
#include "graph.h"

#include <string.h>

#define FAIL(...) vs_err_set(err, VS_FORMAT, __VA_ARGS__)

static const vs_shape *in_shape(const vs_graph *g, const vs_node *n, int i)
{
    return &g->values[n->in[i]].shape;
}

/* Output size and padding of one spatial dim of a window op (conv or pool). */
static int window_dim(int64_t in, int k, int stride, int dilation, vs_padmode mode, int *pad_lo,
                      int *pad_hi, int64_t *out)
{
    int64_t eff = (int64_t)(k - 1) * dilation + 1;
    if (k < 1 || stride < 1 || dilation < 1)
        return -1;
    if (mode == VS_PAD_SAME) {
        int64_t o = (in + stride - 1) / stride;
        int64_t total = (o - 1) * stride + eff - in;
        if (total < 0)
            total = 0;
        *pad_lo = (int)(total / 2);
        *pad_hi = (int)(total - total / 2);
        *out = o;
        return 0;
    }
    if (mode == VS_PAD_VALID)
        *pad_lo = *pad_hi = 0;
    int64_t span = in + *pad_lo + *pad_hi - eff;
    if (span < 0)
        return -1;
    *out = span / stride + 1;
    return 0;
}

static vs_status infer_window(vs_graph *g, vs_node *n, vs_shape *o, vs_err *err)
{
    const vs_shape *x = in_shape(g, n, 0);
    if (x->rank != 4)
        return FAIL("%s %s: input must be NHWC rank 4", vs_op_name(n->op), n->name);
    int kh = n->ksize[0], kw = n->ksize[1];
    int64_t oc = x->dim[3];
    if (n->op == VS_OP_CONV2D || n->op == VS_OP_DWCONV2D) {
        if (n->n_in < 2 || n->in[1] < 0)
            return FAIL("%s: no filter", n->name);
        const vs_shape *f = in_shape(g, n, 1);
        if (f->rank != 4 || f->dim[2] != x->dim[3])
            return FAIL("%s: filter channels %lld do not match input channels %lld", n->name,
                        f->rank == 4 ? (long long)f->dim[2] : -1LL, (long long)x->dim[3]);
        kh = (int)f->dim[0];
        kw = (int)f->dim[1];
        oc = n->op == VS_OP_CONV2D ? f->dim[3] : f->dim[2] * f->dim[3];
        for (int i = 2; i < 4 && i < n->n_in; i++)
            if (n->in[i] >= 0 && vs_shape_numel(in_shape(g, n, i)) != oc &&
                vs_shape_numel(in_shape(g, n, i)) != 1)
                return FAIL("%s: bias/alpha of %lld values for %lld channels", n->name,
                            (long long)vs_shape_numel(in_shape(g, n, i)), (long long)oc);
    }
    int dil_h = n->op == VS_OP_CONV2D || n->op == VS_OP_DWCONV2D ? n->dilation[0] : 1;
    int dil_w = n->op == VS_OP_CONV2D || n->op == VS_OP_DWCONV2D ? n->dilation[1] : 1;
    *o = *x;
    o->dim[3] = oc;
    if (window_dim(x->dim[1], kh, n->stride[0], dil_h, n->padmode, &n->pad[0], &n->pad[1],
                   &o->dim[1]) ||
        window_dim(x->dim[2], kw, n->stride[1], dil_w, n->padmode, &n->pad[2], &n->pad[3],
                   &o->dim[2]))
        return FAIL("%s: window %dx%d does not fit input %lldx%lld", n->name, kh, kw,
                    (long long)x->dim[1], (long long)x->dim[2]);
    n->padmode = VS_PAD_EXPLICIT;
    return VS_OK;
}

static vs_status infer_broadcast(vs_graph *g, vs_node *n, vs_shape *o, vs_err *err)
{
    const vs_shape *a = in_shape(g, n, 0), *b = in_shape(g, n, 1);
    const int i = vs_shape_broadcast(a, b, o);
    if (i >= 0) {
        const int ia = i - (o->rank - a->rank), ib = i - (o->rank - b->rank);
        return FAIL("%s %s: shapes do not broadcast (dim %d: %lld vs %lld)", vs_op_name(n->op),
                    n->name, i, (long long)(ia >= 0 ? a->dim[ia] : 1),
                    (long long)(ib >= 0 ? b->dim[ib] : 1));
    }
    return VS_OK;
}

static vs_status infer_matmul(vs_graph *g, vs_node *n, vs_shape *o, vs_err *err)
{
    const vs_shape *a = in_shape(g, n, 0), *b = in_shape(g, n, 1);
    if (a->rank < 2 || b->rank < 2)
        return FAIL("MatMul %s: operands must have rank >= 2", n->name);
    int64_t m = n->transpose_a ? a->dim[a->rank - 1] : a->dim[a->rank - 2];
    int64_t ka = n->transpose_a ? a->dim[a->rank - 2] : a->dim[a->rank - 1];
    int64_t kb = n->transpose_b ? b->dim[b->rank - 1] : b->dim[b->rank - 2];
    int64_t nn = n->transpose_b ? b->dim[b->rank - 2] : b->dim[b->rank - 1];
    if (ka != kb)
        return FAIL("MatMul %s: inner dims %lld and %lld differ", n->name, (long long)ka,
                    (long long)kb);
    *o = a->rank >= b->rank ? *a : *b;
    o->dim[o->rank - 2] = m;
    o->dim[o->rank - 1] = nn;
    if (n->n_in > 2 && n->in[2] >= 0 && vs_shape_numel(in_shape(g, n, 2)) != nn)
        return FAIL("MatMul %s: bias of %lld values for %lld columns", n->name,
                    (long long)vs_shape_numel(in_shape(g, n, 2)), (long long)nn);
    return VS_OK;
}

static int norm_axis(int axis, int rank)
{
    return axis < 0 ? axis + rank : axis;
}

static vs_status infer_reduce(vs_graph *g, vs_node *n, vs_shape *o, vs_err *err)
{
    const vs_shape *x = in_shape(g, n, 0);
    for (int i = 0; i < n->n_axes; i++) {
        int a = norm_axis(n->axes[i], x->rank);
        if (a < 0 || a >= x->rank)
            return FAIL("%s %s: axis %d out of range", vs_op_name(n->op), n->name, n->axes[i]);
        n->axes_mask |= 1u << a;
    }
    n->n_axes = 0;
    o->rank = 0;
    for (int i = 0; i < x->rank; i++) {
        if (!(n->axes_mask & (1u << i)))
            o->dim[o->rank++] = x->dim[i];
        else if (n->keepdims)
            o->dim[o->rank++] = 1;
    }
    return VS_OK;
}

static vs_status infer_reshape(vs_graph *g, vs_node *n, vs_shape *o, vs_err *err)
{
    const vs_shape *x = in_shape(g, n, 0);
    if (n->op == VS_OP_SQUEEZE) {
        uint32_t drop = 0;
        for (int i = 0; i < n->n_axes; i++) {
            int a = norm_axis(n->axes[i], x->rank);
            if (a < 0 || a >= x->rank || x->dim[a] != 1)
                return FAIL("Squeeze %s: axis %d is not a dim of size 1", n->name, n->axes[i]);
            drop |= 1u << a;
        }
        n->new_shape.rank = 0;
        for (int i = 0; i < x->rank; i++)
            if (!(n->n_axes ? drop & (1u << i) : x->dim[i] == 1))
                n->new_shape.dim[n->new_shape.rank++] = x->dim[i];
        n->op = VS_OP_RESHAPE;
        n->n_axes = 0;
    }
    *o = n->new_shape;
    int64_t known = 1;
    int unknown = -1;
    for (int i = 0; i < o->rank; i++) {
        if (o->dim[i] == -1 && unknown < 0)
            unknown = i;
        else if (o->dim[i] <= 0)
            return FAIL("Reshape %s: bad target dim %lld", n->name, (long long)o->dim[i]);
        else
            known *= o->dim[i];
    }
    int64_t total = vs_shape_numel(x);
    if (unknown >= 0)
        o->dim[unknown] = known ? total / known : 0;
    if (vs_shape_numel(o) != total)
        return FAIL("Reshape %s: %lld elements cannot become %lld", n->name, (long long)total,
                    (long long)vs_shape_numel(o));
    n->new_shape = *o;
    return VS_OK;
}

static vs_status infer_concat(vs_graph *g, vs_node *n, vs_shape *o, vs_err *err)
{
    const vs_shape *x = in_shape(g, n, 0);
    n->axis = norm_axis(n->axis, x->rank);
    if (n->axis < 0 || n->axis >= x->rank)
        return FAIL("Concat %s: axis out of range", n->name);
    *o = *x;
    for (int i = 1; i < n->n_in; i++) {
        const vs_shape *y = in_shape(g, n, i);
        if (y->rank != x->rank)
            return FAIL("Concat %s: inputs of different rank", n->name);
        for (int d = 0; d < x->rank; d++)
            if (d != n->axis && y->dim[d] != x->dim[d])
                return FAIL("Concat %s: input %d differs in dim %d", n->name, i, d);
        o->dim[n->axis] += y->dim[n->axis];
    }
    return VS_OK;
}

/* AFFINE: the pieces concatenated along their last dim; sb holds a scale and a bias per channel. */
static vs_status infer_affine(vs_graph *g, vs_node *n, vs_shape *o, vs_err *err)
{
    const int k = n->n_in - 1;
    if (k < 1 || n->in[k] < 0)
        return FAIL("ChannelAffine %s: needs an input and its scale and bias", n->name);
    const vs_shape *x = in_shape(g, n, 0);
    if (x->rank < 1)
        return FAIL("ChannelAffine %s: scalar input", n->name);
    *o = *x;
    o->dim[x->rank - 1] = 0;
    for (int i = 0; i < k; i++) {
        const vs_shape *y = in_shape(g, n, i);
        if (n->in[i] < 0 || y->rank != x->rank)
            return FAIL("ChannelAffine %s: inputs of different rank", n->name);
        for (int d = 0; d + 1 < x->rank; d++)
            if (y->dim[d] != x->dim[d])
                return FAIL("ChannelAffine %s: input %d differs in dim %d", n->name, i, d);
        o->dim[x->rank - 1] += y->dim[x->rank - 1];
    }
    if (vs_shape_numel(in_shape(g, n, k)) != 2 * o->dim[x->rank - 1])
        return FAIL("ChannelAffine %s: scale and bias do not match the channels", n->name);
    return VS_OK;
}

static vs_status infer_misc(vs_graph *g, vs_node *n, vs_shape *o, vs_err *err)
{
    const vs_shape *x = in_shape(g, n, 0);
    *o = *x;
    switch (n->op) {
    case VS_OP_PAD:
        for (int i = 0; i < x->rank; i++) {
            if (n->pads[i][0] < 0 || n->pads[i][1] < 0)
                return FAIL("Pad %s: negative padding", n->name);
            o->dim[i] += n->pads[i][0] + n->pads[i][1];
        }
        return VS_OK;
    case VS_OP_TRANSPOSE: {
        uint32_t seen = 0;
        for (int i = 0; i < x->rank; i++) {
            if (n->perm[i] < 0 || n->perm[i] >= x->rank || (seen & (1u << n->perm[i])))
                return FAIL("Transpose %s: bad permutation", n->name);
            seen |= 1u << n->perm[i];
            o->dim[i] = x->dim[n->perm[i]];
        }
        return VS_OK;
    }
    case VS_OP_SLICE:
        for (int i = 0; i < x->rank; i++) {
            int64_t size = n->size[i] < 0 ? x->dim[i] - n->begin[i] : n->size[i];
            if (n->begin[i] < 0 || size < 0 || n->begin[i] + size > x->dim[i])
                return FAIL("Slice %s: range out of bounds in dim %d", n->name, i);
            n->size[i] = size;
            o->dim[i] = size;
        }
        return VS_OK;
    case VS_OP_RESIZE_BILINEAR:
        if (x->rank != 4 || n->out_h < 1 || n->out_w < 1)
            return FAIL("ResizeBilinear %s: needs NHWC input and a positive size", n->name);
        o->dim[1] = n->out_h;
        o->dim[2] = n->out_w;
        return VS_OK;
    case VS_OP_SOFTMAX:
        n->axis = norm_axis(n->axis, x->rank);
        if (n->axis < 0 || n->axis >= x->rank)
            return FAIL("Softmax %s: axis out of range", n->name);
        return VS_OK;
    default:
        return VS_OK; /* unary element-wise ops keep their input's shape */
    }
}

vs_status vs_graph_infer_node(vs_graph *g, vs_node *n, vs_err *err)
{
    vs_shape o = {0};
    vs_status st;
    for (int i = 0; i < n->n_in; i++) {
        if (n->in[i] >= g->n_values)
            return FAIL("%s: bad input id", n->name);
        if (n->in[i] >= 0 && g->values[n->in[i]].dtype != VS_DT_F32)
            return FAIL("%s %s: input %d is int32 data where float is needed", vs_op_name(n->op),
                        n->name, i);
    }
    if (n->n_in < 1 || n->in[0] < 0)
        return FAIL("%s %s: no input", vs_op_name(n->op), n->name);
    switch (n->op) {
    case VS_OP_CONV2D:
    case VS_OP_DWCONV2D:
    case VS_OP_MAXPOOL:
    case VS_OP_AVGPOOL:
        st = infer_window(g, n, &o, err);
        break;
    case VS_OP_ADD:
    case VS_OP_SUB:
    case VS_OP_MUL:
    case VS_OP_DIV:
    case VS_OP_MINIMUM:
    case VS_OP_MAXIMUM:
    case VS_OP_PRELU:
        if (n->n_in != 2 || n->in[1] < 0)
            return FAIL("%s %s: needs two inputs", vs_op_name(n->op), n->name);
        st = infer_broadcast(g, n, &o, err);
        break;
    case VS_OP_MATMUL:
        st = infer_matmul(g, n, &o, err);
        break;
    case VS_OP_MEAN:
    case VS_OP_SUM:
    case VS_OP_REDUCE_MAX:
        st = infer_reduce(g, n, &o, err);
        break;
    case VS_OP_RESHAPE:
    case VS_OP_SQUEEZE:
        st = infer_reshape(g, n, &o, err);
        break;
    case VS_OP_CONCAT:
        st = infer_concat(g, n, &o, err);
        break;
    case VS_OP_AFFINE:
        st = infer_affine(g, n, &o, err);
        break;
    case VS_OP_INPUT:
    case VS_OP_CONST:
        return FAIL("%s: input/const is not a node", n->name);
    default:
        st = infer_misc(g, n, &o, err);
        break;
    }
    if (st != VS_OK)
        return st;
    for (int i = 0; i < o.rank; i++)
        if (o.dim[i] <= 0 || o.dim[i] > ((int64_t)1 << 31))
            return FAIL("%s %s: output dim %d is %lld", vs_op_name(n->op), n->name, i,
                        (long long)o.dim[i]);
    if (vs_shape_numel(&o) > ((int64_t)1 << 31))
        return FAIL("%s %s: output too large", vs_op_name(n->op), n->name);
    g->values[n->out].shape = o;
    g->values[n->out].dtype = VS_DT_F32;
    return VS_OK;
}

/*
 * test_xnn.c - the XNNPACK backend (src/nn/backend_xnn.c) and our own element-wise and direct
 * convolution kernels that run beside it (src/nn/kernels_ew.c, kernels_conv.c) checked op by op
 * against the reference kernels
 * (src/nn/kernels_ref.c), as ggml's test-backend-ops does.
 *
 * Every case builds one vs_node by hand (SAME padding and the output shape are computed here with
 * graph.h's formulas), fills its inputs with seeded random numbers, prepares the XNNPACK operator,
 * then refills the activation inputs (so a backend that copied its inputs at prepare time instead
 * of keeping the pointers fails) and runs both backends.  The normalised error
 * max|xnn - ref| / max|ref| must be <= 1e-4; each case runs on the calling thread and on a
 * two-thread pool.  A second table lists nodes the backend must refuse with VS_UNSUPPORTED.
 * At the end a 3x3 convolution 56x56x64->64 is timed on one thread (printed, not asserted).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "nn/backend_xnn.h"
#include "nn/kernels.h"
#include "nn/kernels_conv.h"
#include "nn/kernels_ew.h"

#define MAX_ERR 1e-4

/* ---- random inputs ------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float frand(float lo, float hi)
{
    return rand_uniform(&rng_state, lo, hi);
}

/* ---- one test case ------------------------------------------------------------------------- */

typedef struct tcase {
    char name[96];
    vs_node node;
    vs_shape in_shape[VS_MAX_IN]; /* rank -1: the input is absent (node.in[i] == -1) */
    int weight[VS_MAX_IN];        /* read at prepare time: filled once, never refilled */
    float lo[VS_MAX_IN], hi[VS_MAX_IN];
    vs_shape out_shape;
} tcase;

static vs_shape shp(int rank, const int64_t *d)
{
    return vs_shape_make(rank, d);
}

static vs_shape shp4(int64_t a, int64_t b, int64_t c, int64_t d)
{
    const int64_t v[4] = {a, b, c, d};
    return shp(4, v);
}

static vs_shape shp1(int64_t a)
{
    return shp(1, &a);
}

static vs_shape shp2(int64_t a, int64_t b)
{
    const int64_t v[2] = {a, b};
    return shp(2, v);
}

static void case_init(tcase *t, vs_op op, int n_in, const char *name)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->node.op = op;
    t->node.name = t->name;
    t->node.n_in = n_in;
    for (int i = 0; i < VS_MAX_IN; i++) {
        t->node.in[i] = i < n_in ? i : -1;
        t->in_shape[i].rank = -1;
        t->lo[i] = -1.0f;
        t->hi[i] = 1.0f;
    }
    t->node.out = n_in;
    t->node.stride[0] = t->node.stride[1] = 1;
    t->node.dilation[0] = t->node.dilation[1] = 1;
    t->node.ksize[0] = t->node.ksize[1] = 1;
}

static void set_in(tcase *t, int i, vs_shape s)
{
    t->in_shape[i] = s;
}

static void drop_in(tcase *t, int i)
{
    t->node.in[i] = -1;
    t->in_shape[i].rank = -1;
}

/* Output length and pads of one spatial dim, by graph.h's VS_PAD_SAME / VALID definitions. */
static int64_t window_dim(vs_padmode mode, int64_t in, int k, int s, int d, int *before, int *after)
{
    const int64_t ek = (int64_t)(k - 1) * d + 1;
    *before = *after = 0;
    if (mode == VS_PAD_VALID)
        return (in - ek) / s + 1;
    const int64_t out = (in + s - 1) / s;
    int64_t total = (out - 1) * s + ek - in;
    if (total < 0)
        total = 0;
    *before = (int)(total / 2);
    *after = (int)(total - total / 2);
    return out;
}

/* Fills pad[] (unless explicit) and returns the output H, W of a window op on an NHWC input. */
static void window_out(vs_node *n, const vs_shape *x, int kh, int kw, int64_t *oh, int64_t *ow)
{
    if (n->padmode == VS_PAD_EXPLICIT) {
        const int64_t ekh = (int64_t)(kh - 1) * n->dilation[0] + 1;
        const int64_t ekw = (int64_t)(kw - 1) * n->dilation[1] + 1;
        *oh = (x->dim[1] + n->pad[0] + n->pad[1] - ekh) / n->stride[0] + 1;
        *ow = (x->dim[2] + n->pad[2] + n->pad[3] - ekw) / n->stride[1] + 1;
        return;
    }
    *oh =
        window_dim(n->padmode, x->dim[1], kh, n->stride[0], n->dilation[0], &n->pad[0], &n->pad[1]);
    *ow =
        window_dim(n->padmode, x->dim[2], kw, n->stride[1], n->dilation[1], &n->pad[2], &n->pad[3]);
}

/* ---- case builders ------------------------------------------------------------------------- */

static const char *pad_name(vs_padmode p)
{
    return p == VS_PAD_SAME ? "same" : p == VS_PAD_VALID ? "valid" : "explicit(1,0,2,1)";
}

static const char *act_name(vs_act a)
{
    static const char *const names[] = {"none",  "relu",  "relu6",  "clamp",
                                        "prelu", "leaky", "sigmoid"};
    return names[a];
}

typedef struct conv_spec {
    vs_op op;
    int h, w, c, kh, kw, m; /* m: output channels (CONV2D) or multiplier (DWCONV2D) */
    int stride, dilation;
    vs_padmode pad;
    vs_act act;
    int bias;
} conv_spec;

static void conv_case(tcase *t, const conv_spec *s)
{
    char name[96];
    snprintf(name, sizeof name, "%s %dx%dx%d k%dx%d m%d s%d d%d %s %s%s",
             s->op == VS_OP_CONV2D ? "conv" : "dwconv", s->h, s->w, s->c, s->kh, s->kw, s->m,
             s->stride, s->dilation, pad_name(s->pad), act_name(s->act), s->bias ? " bias" : "");
    case_init(t, s->op, 4, name);
    vs_node *n = &t->node;
    n->stride[0] = n->stride[1] = s->stride;
    n->dilation[0] = n->dilation[1] = s->dilation;
    n->padmode = s->pad;
    if (s->pad == VS_PAD_EXPLICIT) { /* asymmetric, to catch a swapped side */
        n->pad[0] = 1;
        n->pad[1] = 0;
        n->pad[2] = 2;
        n->pad[3] = 1;
    }
    n->act = s->act;
    n->act_min = -0.5f;
    n->act_max = 0.75f;
    n->alpha = 0.2f;
    const int64_t oc = s->op == VS_OP_CONV2D ? s->m : (int64_t)s->c * s->m;
    set_in(t, 0, shp4(1, s->h, s->w, s->c));
    set_in(t, 1, shp4(s->kh, s->kw, s->c, s->m));
    set_in(t, 2, shp1(oc));
    set_in(t, 3, shp1(oc));
    t->weight[1] = t->weight[2] = t->weight[3] = 1;
    t->lo[3] = 0.0f;
    t->hi[3] = 0.5f;
    if (!s->bias)
        drop_in(t, 2);
    if (s->act != VS_ACT_PRELU)
        drop_in(t, 3);
    int64_t oh, ow;
    window_out(n, &t->in_shape[0], s->kh, s->kw, &oh, &ow);
    t->out_shape = shp4(1, oh, ow, oc);
}

static void matmul_case(tcase *t, int m, int k, int nn, int transpose_b, int bias, vs_act act)
{
    char name[96];
    snprintf(name, sizeof name, "matmul %dx%d x %dx%d%s %s%s", m, k, k, nn,
             transpose_b ? " (b^T)" : "", act_name(act), bias ? " bias" : "");
    case_init(t, VS_OP_MATMUL, 4, name);
    t->node.transpose_b = transpose_b;
    t->node.act = act;
    t->node.act_min = -0.5f;
    t->node.act_max = 0.75f;
    t->node.alpha = 0.2f;
    set_in(t, 0, shp2(m, k));
    set_in(t, 1, transpose_b ? shp2(nn, k) : shp2(k, nn));
    set_in(t, 2, shp1(nn));
    set_in(t, 3, shp1(nn));
    t->weight[1] = t->weight[2] = t->weight[3] = 1;
    if (!bias)
        drop_in(t, 2);
    if (act != VS_ACT_PRELU)
        drop_in(t, 3);
    t->out_shape = shp2(m, nn);
}

static void pool_case(tcase *t, vs_op op, int h, int w, int c, int k, int stride, vs_padmode pad)
{
    char name[96];
    snprintf(name, sizeof name, "%s %dx%dx%d k%d s%d %s",
             op == VS_OP_MAXPOOL ? "maxpool" : "avgpool", h, w, c, k, stride, pad_name(pad));
    case_init(t, op, 1, name);
    t->node.ksize[0] = t->node.ksize[1] = k;
    t->node.stride[0] = t->node.stride[1] = stride;
    t->node.padmode = pad;
    if (pad == VS_PAD_EXPLICIT) { /* asymmetric, each side smaller than the window */
        t->node.pad[0] = 1;
        t->node.pad[1] = 0;
        t->node.pad[2] = 2;
        t->node.pad[3] = 1;
    }
    set_in(t, 0, shp4(2, h, w, c));
    int64_t oh, ow;
    window_out(&t->node, &t->in_shape[0], k, k, &oh, &ow);
    t->out_shape = shp4(2, oh, ow, c);
}

/* NumPy broadcasting of a and b (right-aligned). */
static vs_shape broadcast(const vs_shape *a, const vs_shape *b)
{
    vs_shape r = {0};
    r.rank = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r.rank; i++) {
        const int ia = i - (r.rank - a->rank), ib = i - (r.rank - b->rank);
        const int64_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
        r.dim[i] = da == 1 ? db : da;
    }
    return r;
}

static void shape_str(const vs_shape *s, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < s->rank && used < cap; i++)
        used +=
            (size_t)snprintf(buf + used, cap - used, i ? ",%lld" : "%lld", (long long)s->dim[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

static void binary_case(tcase *t, vs_op op, vs_shape a, vs_shape b)
{
    char name[96], sa[40], sb[40];
    shape_str(&a, sa, sizeof sa);
    shape_str(&b, sb, sizeof sb);
    snprintf(name, sizeof name, "%s %s %s", vs_op_name(op), sa, sb);
    case_init(t, op, 2, name);
    set_in(t, 0, a);
    set_in(t, 1, b);
    if (op == VS_OP_DIV) { /* keep the divisor away from zero */
        t->lo[1] = 0.5f;
        t->hi[1] = 2.0f;
    }
    t->out_shape = broadcast(&a, &b);
}

static void unary_case(tcase *t, vs_op op, vs_shape x)
{
    char name[96], sx[40];
    shape_str(&x, sx, sizeof sx);
    snprintf(name, sizeof name, "%s %s", vs_op_name(op), sx);
    case_init(t, op, 1, name);
    t->node.act_min = -0.25f;
    t->node.act_max = 0.5f;
    t->node.alpha = 0.1f;
    set_in(t, 0, x);
    t->lo[0] = op == VS_OP_SQRT ? 0.0f : -8.0f;
    t->hi[0] = 8.0f;
    t->out_shape = x;
}

static void prelu_case(tcase *t, vs_shape x, vs_shape alpha)
{
    char name[96], sx[40], sa[40];
    shape_str(&x, sx, sizeof sx);
    shape_str(&alpha, sa, sizeof sa);
    snprintf(name, sizeof name, "Prelu %s alpha %s", sx, sa);
    case_init(t, VS_OP_PRELU, 2, name);
    set_in(t, 0, x);
    set_in(t, 1, alpha);
    t->weight[1] = 1;
    t->out_shape = x;
}

static void softmax_case(tcase *t, vs_shape x)
{
    char name[96], sx[40];
    shape_str(&x, sx, sizeof sx);
    snprintf(name, sizeof name, "Softmax %s", sx);
    case_init(t, VS_OP_SOFTMAX, 1, name);
    t->node.axis = x.rank - 1;
    set_in(t, 0, x);
    t->lo[0] = -10.0f;
    t->hi[0] = 10.0f;
    t->out_shape = x;
}

static void mean_case(tcase *t, vs_shape x, uint32_t mask, int keepdims)
{
    char name[96], sx[40];
    shape_str(&x, sx, sizeof sx);
    snprintf(name, sizeof name, "Mean %s axes 0x%x%s", sx, (unsigned)mask,
             keepdims ? " keepdims" : "");
    case_init(t, VS_OP_MEAN, 1, name);
    t->node.axes_mask = mask;
    t->node.keepdims = keepdims;
    set_in(t, 0, x);
    vs_shape o = {0};
    for (int i = 0; i < x.rank; i++)
        if (!(mask & (1u << i)))
            o.dim[o.rank++] = x.dim[i];
        else if (keepdims)
            o.dim[o.rank++] = 1;
    t->out_shape = o;
}

static void pad_case(tcase *t, vs_shape x, const int64_t (*pads)[2], float value)
{
    char name[96], sx[40];
    shape_str(&x, sx, sizeof sx);
    snprintf(name, sizeof name, "Pad %s value %g", sx, value);
    case_init(t, VS_OP_PAD, 1, name);
    t->node.pad_value = value;
    set_in(t, 0, x);
    t->out_shape = x;
    for (int i = 0; i < x.rank; i++) {
        t->node.pads[i][0] = pads[i][0];
        t->node.pads[i][1] = pads[i][1];
        t->out_shape.dim[i] += pads[i][0] + pads[i][1];
    }
}

static void resize_case(tcase *t, int h, int w, int c, int oh, int ow, int align, int half)
{
    char name[96];
    snprintf(name, sizeof name, "ResizeBilinear %dx%dx%d -> %dx%d%s%s", h, w, c, oh, ow,
             align ? " align_corners" : "", half ? " half_pixel" : "");
    case_init(t, VS_OP_RESIZE_BILINEAR, 1, name);
    t->node.out_h = oh;
    t->node.out_w = ow;
    t->node.align_corners = align;
    t->node.half_pixel_centers = half;
    set_in(t, 0, shp4(1, h, w, c));
    t->out_shape = shp4(1, oh, ow, c);
}

static void transpose_case(tcase *t, vs_shape x, const int *perm)
{
    char name[96], sx[40];
    shape_str(&x, sx, sizeof sx);
    int used = snprintf(name, sizeof name, "Transpose %s perm ", sx);
    for (int i = 0; i < x.rank && used < (int)sizeof name; i++)
        used += snprintf(name + used, sizeof name - (size_t)used, "%d", perm[i]);
    case_init(t, VS_OP_TRANSPOSE, 1, name);
    set_in(t, 0, x);
    t->out_shape = x;
    for (int i = 0; i < x.rank; i++) {
        t->node.perm[i] = perm[i];
        t->out_shape.dim[i] = x.dim[perm[i]];
    }
}

/* AFFINE over pieces of widths w[0..k-1] (rows of [1, 5, 6]) and a [2, C] scale and bias. */
static void affine_case(tcase *t, const int *w, int k, vs_act act)
{
    char name[96];
    int used = snprintf(name, sizeof name, "ChannelAffine %s pieces", act_name(act)), c = 0;
    case_init(t, VS_OP_AFFINE, k + 1, name);
    for (int i = 0; i < k; i++) {
        set_in(t, i, shp4(1, 5, 6, w[i]));
        c += w[i];
        if (used < (int)sizeof name)
            used += snprintf(name + used, sizeof name - (size_t)used, " %d", w[i]);
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    set_in(t, k, shp2(2, c));
    t->weight[k] = 1;
    t->node.act = act;
    t->node.act_min = -0.25f;
    t->node.act_max = 0.5f;
    t->out_shape = shp4(1, 5, 6, c);
}

static void reshape_case(tcase *t, vs_shape x, vs_shape to)
{
    case_init(t, VS_OP_RESHAPE, 1, "Reshape (copy)");
    t->node.new_shape = to;
    set_in(t, 0, x);
    t->out_shape = to;
}

/* ---- running a case ------------------------------------------------------------------------ */

static float *alloc_tensor(const vs_shape *s)
{
    /* XNNPACK may read XNN_EXTRA_BYTES past an input, as the runtime's arena allows. */
    return malloc((size_t)vs_shape_numel(s) * sizeof(float) + 16);
}

static void fill(float *p, const vs_shape *s, float lo, float hi)
{
    for (int64_t i = 0; i < vs_shape_numel(s); i++)
        p[i] = frand(lo, hi);
}

/* max|a - r| / max|r| (the denominator floored at 1e-6). */
static double norm_err(const float *a, const float *r, int64_t n)
{
    double diff = 0.0, mag = 1e-6;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - (double)r[i]);
        diff = d > diff || isnan(d) ? d : diff;
        mag = fabs((double)r[i]) > mag ? fabs((double)r[i]) : mag;
    }
    return isnan(diff) ? INFINITY : diff / mag;
}

/* Which implementation a case runs against the reference. */
typedef enum { ON_XNNPACK, ON_OWN, ON_CONV } impl;

/* Runs one case on one pool; returns the normalised error (INFINITY on a failure). */
static double run_case(const tcase *t, pthreadpool_t pool, impl on)
{
    vs_tview in[VS_MAX_IN] = {0};
    vs_tview xo = {.shape = t->out_shape}, ro = {.shape = t->out_shape};
    double err = INFINITY;
    vs_xnn_op *op = NULL;
    vs_ew_plan *own = NULL;
    vs_conv_plan *conv = NULL;
    for (int i = 0; i < t->node.n_in; i++) {
        if (t->in_shape[i].rank < 0)
            continue;
        in[i].shape = t->in_shape[i];
        in[i].data = alloc_tensor(&in[i].shape);
        if (!in[i].data)
            goto out;
        fill(in[i].data, &in[i].shape, t->lo[i], t->hi[i]);
    }
    xo.data = alloc_tensor(&xo.shape);
    ro.data = alloc_tensor(&ro.shape);
    if (!xo.data || !ro.data)
        goto out;
    const int threads = pool ? (int)pthreadpool_get_threads_count(pool) : 1;
    vs_status st = on == ON_OWN    ? vs_ew_plan_new(&t->node, in, &xo, &own)
                   : on == ON_CONV ? vs_conv_plan_new(&t->node, in, &xo, threads, &conv)
                                   : vs_xnn_prepare(&t->node, in, &xo, pool, &op);
    CHECK(st == VS_OK && (op || own || conv), "%s: prepare: %s", t->name, vs_status_str(st));
    if (st != VS_OK)
        goto out;
    for (int i = 0; i < t->node.n_in; i++)
        if (in[i].data && !t->weight[i])
            fill(in[i].data, &in[i].shape, t->lo[i], t->hi[i]);
    st = on == ON_OWN    ? vs_ew_plan_run(own, pool)
         : on == ON_CONV ? vs_conv_plan_run(conv, pool)
                         : vs_xnn_run(op);
    CHECK(st == VS_OK, "%s: run: %s", t->name, vs_status_str(st));
    vs_status rst = vs_ref_run(&t->node, in, &ro);
    CHECK(rst == VS_OK, "%s: reference: %s", t->name, vs_status_str(rst));
    if (st == VS_OK && rst == VS_OK)
        err = norm_err(xo.data, ro.data, vs_shape_numel(&ro.shape));
out:
    vs_xnn_free(op);
    vs_ew_plan_free(own);
    vs_conv_plan_free(conv);
    for (int i = 0; i < VS_MAX_IN; i++)
        free(in[i].data);
    free(xo.data);
    free(ro.data);
    return err;
}

/* Runs t on one thread and on pool2 against the reference; the errors must be <= max_err. */
static void check_impl(const tcase *t, pthreadpool_t pool2, impl on, double max_err)
{
    const double e1 = run_case(t, NULL, on);
    const double e2 = run_case(t, pool2, on);
    const int ok = e1 <= max_err && e2 <= max_err;
    printf("  %-4s %-58s err %.2e (1 thread) %.2e (2 threads)\n", ok ? "ok" : "FAIL", t->name, e1,
           e2);
    if (!ok)
        failures++;
}

static void check_case(const tcase *t, pthreadpool_t pool2)
{
    check_impl(t, pool2, ON_XNNPACK, MAX_ERR);
}

/* ---- the cases ----------------------------------------------------------------------------- */

static const conv_spec conv_specs[] = {
    {VS_OP_CONV2D, 7, 9, 3, 3, 3, 5, 1, 1, VS_PAD_SAME, VS_ACT_NONE, 1},
    {VS_OP_CONV2D, 7, 9, 3, 3, 3, 5, 1, 1, VS_PAD_VALID, VS_ACT_NONE, 0},
    {VS_OP_CONV2D, 7, 9, 3, 3, 3, 5, 2, 1, VS_PAD_SAME, VS_ACT_RELU, 1},
    {VS_OP_CONV2D, 7, 9, 3, 3, 3, 5, 2, 1, VS_PAD_VALID, VS_ACT_RELU6, 1},
    {VS_OP_CONV2D, 8, 8, 4, 3, 3, 6, 2, 1, VS_PAD_SAME, VS_ACT_CLAMP, 1},
    {VS_OP_CONV2D, 11, 13, 4, 3, 3, 8, 1, 2, VS_PAD_SAME, VS_ACT_PRELU, 1},
    {VS_OP_CONV2D, 11, 13, 4, 3, 3, 8, 1, 2, VS_PAD_VALID, VS_ACT_LEAKY_RELU, 1},
    {VS_OP_CONV2D, 7, 9, 5, 5, 5, 7, 1, 1, VS_PAD_SAME, VS_ACT_SIGMOID, 1},
    {VS_OP_CONV2D, 7, 9, 16, 1, 1, 32, 1, 1, VS_PAD_VALID, VS_ACT_PRELU, 0},
    {VS_OP_CONV2D, 7, 9, 16, 1, 1, 32, 2, 1, VS_PAD_SAME, VS_ACT_RELU, 1},
    {VS_OP_CONV2D, 9, 7, 3, 7, 7, 16, 2, 1, VS_PAD_SAME, VS_ACT_NONE, 1},
    {VS_OP_CONV2D, 6, 6, 3, 2, 2, 4, 2, 1, VS_PAD_SAME, VS_ACT_NONE, 1},
    {VS_OP_CONV2D, 8, 10, 2, 2, 3, 3, 1, 1, VS_PAD_SAME, VS_ACT_NONE, 1},
    {VS_OP_CONV2D, 7, 9, 3, 3, 3, 4, 2, 1, VS_PAD_EXPLICIT, VS_ACT_RELU, 1},
    {VS_OP_CONV2D, 7, 9, 3, 3, 3, 4, 1, 2, VS_PAD_EXPLICIT, VS_ACT_NONE, 1},
    {VS_OP_DWCONV2D, 7, 9, 8, 3, 3, 1, 1, 1, VS_PAD_SAME, VS_ACT_NONE, 1},
    {VS_OP_DWCONV2D, 7, 9, 8, 3, 3, 1, 2, 1, VS_PAD_SAME, VS_ACT_RELU, 1},
    {VS_OP_DWCONV2D, 7, 9, 8, 3, 3, 1, 2, 1, VS_PAD_VALID, VS_ACT_RELU6, 0},
    {VS_OP_DWCONV2D, 7, 9, 8, 3, 3, 2, 1, 1, VS_PAD_SAME, VS_ACT_PRELU, 1},
    {VS_OP_DWCONV2D, 7, 9, 8, 3, 3, 2, 2, 1, VS_PAD_VALID, VS_ACT_CLAMP, 1},
    {VS_OP_DWCONV2D, 11, 13, 5, 3, 3, 1, 1, 2, VS_PAD_SAME, VS_ACT_LEAKY_RELU, 1},
    {VS_OP_DWCONV2D, 11, 13, 5, 3, 3, 2, 1, 2, VS_PAD_VALID, VS_ACT_SIGMOID, 1},
    {VS_OP_DWCONV2D, 7, 9, 24, 5, 5, 1, 2, 1, VS_PAD_SAME, VS_ACT_RELU, 1},
    {VS_OP_DWCONV2D, 7, 9, 6, 1, 1, 2, 1, 1, VS_PAD_VALID, VS_ACT_NONE, 1},
    {VS_OP_DWCONV2D, 7, 9, 6, 1, 1, 1, 1, 1, VS_PAD_VALID, VS_ACT_NONE, 1},
    {VS_OP_DWCONV2D, 8, 9, 3, 2, 3, 1, 1, 1, VS_PAD_SAME, VS_ACT_NONE, 1},
    {VS_OP_DWCONV2D, 7, 9, 4, 3, 3, 2, 2, 1, VS_PAD_EXPLICIT, VS_ACT_NONE, 1},
};

static void op_cases(pthreadpool_t pool2)
{
    tcase t;
    printf("CONV2D / DWCONV2D\n");
    for (size_t i = 0; i < sizeof conv_specs / sizeof conv_specs[0]; i++) {
        conv_case(&t, &conv_specs[i]);
        check_case(&t, pool2);
    }

    printf("MATMUL\n");
    matmul_case(&t, 1, 64, 10, 0, 1, VS_ACT_NONE);
    check_case(&t, pool2);
    matmul_case(&t, 3, 17, 9, 1, 1, VS_ACT_RELU);
    check_case(&t, pool2);
    matmul_case(&t, 5, 33, 7, 0, 0, VS_ACT_PRELU);
    check_case(&t, pool2);
    matmul_case(&t, 2, 8, 6, 1, 0, VS_ACT_SIGMOID);
    check_case(&t, pool2);
    matmul_case(&t, 4, 12, 5, 0, 1, VS_ACT_LEAKY_RELU);
    check_case(&t, pool2);
    matmul_case(&t, 4, 12, 5, 0, 1, VS_ACT_CLAMP);
    check_case(&t, pool2);

    printf("binary ops (broadcasting)\n");
    static const vs_op bin_ops[] = {VS_OP_ADD, VS_OP_SUB,     VS_OP_MUL,
                                    VS_OP_DIV, VS_OP_MINIMUM, VS_OP_MAXIMUM};
    const int64_t d0[1] = {0};
    for (size_t i = 0; i < sizeof bin_ops / sizeof bin_ops[0]; i++) {
        binary_case(&t, bin_ops[i], shp4(1, 7, 9, 5), shp4(1, 7, 9, 5));
        check_case(&t, pool2);
        binary_case(&t, bin_ops[i], shp4(1, 7, 9, 5), shp1(5));
        check_case(&t, pool2);
        binary_case(&t, bin_ops[i], shp(0, d0), shp4(1, 7, 9, 5));
        check_case(&t, pool2);
        binary_case(&t, bin_ops[i], shp4(2, 7, 1, 5), shp4(1, 1, 9, 1));
        check_case(&t, pool2);
        binary_case(&t, bin_ops[i], shp2(3, 1), shp2(1, 4));
        check_case(&t, pool2);
    }

    printf("unary ops\n");
    static const vs_op un_ops[] = {VS_OP_ABS,   VS_OP_NEG,     VS_OP_SQUARE,
                                   VS_OP_SQRT,  VS_OP_SIGMOID, VS_OP_RELU,
                                   VS_OP_RELU6, VS_OP_CLAMP,   VS_OP_LEAKY_RELU};
    for (size_t i = 0; i < sizeof un_ops / sizeof un_ops[0]; i++) {
        unary_case(&t, un_ops[i], shp4(1, 7, 9, 3));
        check_case(&t, pool2);
    }
    unary_case(&t, VS_OP_SIGMOID, shp2(1, 4099));
    check_case(&t, pool2);

    printf("PRELU / SOFTMAX\n");
    prelu_case(&t, shp4(1, 7, 9, 6), shp1(6));
    check_case(&t, pool2);
    prelu_case(&t, shp4(1, 7, 9, 6), shp(3, (const int64_t[]){1, 1, 6}));
    check_case(&t, pool2);
    prelu_case(&t, shp4(1, 7, 9, 6), shp1(1));
    check_case(&t, pool2);
    softmax_case(&t, shp2(1, 10));
    check_case(&t, pool2);
    softmax_case(&t, shp(3, (const int64_t[]){1, 896, 2}));
    check_case(&t, pool2);
    softmax_case(&t, shp4(1, 7, 9, 7));
    check_case(&t, pool2);

    printf("pooling / MEAN\n");
    static const int pool_params[][3] = {
        {2, 2, VS_PAD_VALID}, {2, 2, VS_PAD_SAME}, {3, 2, VS_PAD_SAME},    {3, 2, VS_PAD_VALID},
        {3, 1, VS_PAD_SAME},  {5, 3, VS_PAD_SAME}, {3, 2, VS_PAD_EXPLICIT}};
    for (size_t i = 0; i < sizeof pool_params / sizeof pool_params[0]; i++) {
        pool_case(&t, VS_OP_MAXPOOL, 7, 9, 5, pool_params[i][0], pool_params[i][1],
                  (vs_padmode)pool_params[i][2]);
        check_case(&t, pool2);
        pool_case(&t, VS_OP_AVGPOOL, 7, 9, 5, pool_params[i][0], pool_params[i][1],
                  (vs_padmode)pool_params[i][2]);
        check_case(&t, pool2);
    }
    mean_case(&t, shp4(1, 7, 9, 5), 0x6, 0);
    check_case(&t, pool2);
    mean_case(&t, shp4(2, 7, 9, 33), 0x6, 1);
    check_case(&t, pool2);
    mean_case(&t, shp4(2, 7, 9, 5), 0x8, 1);
    check_case(&t, pool2);

    printf("PAD / RESIZE_BILINEAR / RESHAPE\n");
    static const int64_t pads4[4][2] = {{0, 0}, {1, 2}, {0, 3}, {0, 0}};
    static const int64_t pads2[2][2] = {{2, 1}, {1, 0}};
    pad_case(&t, shp4(1, 7, 9, 3), pads4, 0.0f);
    check_case(&t, pool2);
    pad_case(&t, shp2(5, 3), pads2, -1.5f);
    check_case(&t, pool2);
    for (int mode = 0; mode < 3; mode++) {
        const int align = mode == 1, half = mode == 2;
        resize_case(&t, 7, 9, 3, 14, 18, align, half);
        check_case(&t, pool2);
        resize_case(&t, 7, 9, 3, 5, 4, align, half);
        check_case(&t, pool2);
        resize_case(&t, 8, 8, 2, 13, 1, align, half);
        check_case(&t, pool2);
    }
    reshape_case(&t, shp4(1, 7, 9, 3), shp2(7, 27));
    check_case(&t, pool2);

    printf("TRANSPOSE (a channel shuffle or a copy once dims are merged)\n");
    static const struct {
        int rank;
        int64_t dim[5];
        int perm[5];
    } transposes[] = {
        {4, {1, 3, 7, 9}, {0, 2, 3, 1}},       /* NCHW -> NHWC */
        {4, {1, 7, 9, 3}, {0, 3, 1, 2}},       /* NHWC -> NCHW */
        {5, {1, 4, 5, 2, 6}, {0, 1, 2, 4, 3}}, /* ShuffleNet's channel shuffle */
        {3, {2, 3, 4}, {0, 2, 1}},             /* with a batch */
        {3, {2, 3, 4}, {2, 0, 1}},             /* two merged dims against one */
        {4, {1, 1, 6, 5}, {0, 2, 1, 3}},       /* moves a dim of size 1 only: a copy */
        {3, {2, 1, 3}, {0, 2, 1}},             /* the same, between two others */
        {4, {2, 1, 3, 5}, {3, 1, 0, 2}},       /* dims merged across one of size 1 */
    };
    for (size_t i = 0; i < sizeof transposes / sizeof transposes[0]; i++) {
        transpose_case(&t, shp(transposes[i].rank, transposes[i].dim), transposes[i].perm);
        check_case(&t, pool2);
    }
}

/* Our own element-wise kernels (kernels_ew.c): tanh and exp within a few ulp, softmax over narrow
 * rows, and AFFINE exactly. */
static void own_cases(pthreadpool_t pool2)
{
    tcase t;
    printf("own kernels (kernels_ew.c)\n");
    unary_case(&t, VS_OP_TANH, shp4(1, 7, 9, 3));
    check_impl(&t, pool2, ON_OWN, 1e-6);
    unary_case(&t, VS_OP_TANH, shp4(1, 64, 64, 16));
    check_impl(&t, pool2, ON_OWN, 1e-6);
    unary_case(&t, VS_OP_EXP, shp4(1, 7, 9, 3));
    t.lo[0] = -10.0f;
    t.hi[0] = 10.0f;
    check_impl(&t, pool2, ON_OWN, 1e-6);
    unary_case(&t, VS_OP_EXP, shp2(3, 5001));
    t.lo[0] = -90.0f; /* down to subnormal results */
    t.hi[0] = 0.0f;
    check_impl(&t, pool2, ON_OWN, 1e-6);
    softmax_case(&t, shp(3, (const int64_t[]){1, 4420, 2}));
    check_impl(&t, pool2, ON_OWN, 1e-6);
    softmax_case(&t, shp(3, (const int64_t[]){3, 5, 7}));
    check_impl(&t, pool2, ON_OWN, 1e-6);
    static const int widths[] = {64, 32, 32, 13, 3, 8, 1};
    affine_case(&t, widths, 1, VS_ACT_NONE);
    check_impl(&t, pool2, ON_OWN, 0.0);
    affine_case(&t, widths, 3, VS_ACT_RELU);
    check_impl(&t, pool2, ON_OWN, 0.0);
    affine_case(&t, widths + 3, 4, VS_ACT_CLAMP);
    check_impl(&t, pool2, ON_OWN, 0.0);
    affine_case(&t, widths, 7, VS_ACT_RELU6);
    check_impl(&t, pool2, ON_OWN, 0.0);

    /* What they do not run goes to XNNPACK or the reference. */
    static const struct {
        vs_op op;
        int channels;
    } refused[] = {{VS_OP_SOFTMAX, 8}, {VS_OP_SIGMOID, 4}, {VS_OP_TRANSPOSE, 4}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        vs_node n = {.op = refused[i].op, .n_in = 1, .axis = 1, .perm = {1, 0}};
        float d[64] = {0};
        vs_tview in = {d, shp2(2, refused[i].channels)}, out = in;
        vs_ew_plan *p = (vs_ew_plan *)&out; /* must be overwritten with NULL */
        const vs_status st = vs_ew_plan_new(&n, &in, &out, &p);
        const int ok = st == VS_UNSUPPORTED && p == NULL;
        printf("  %-4s %-58s %s\n", ok ? "ok" : "FAIL", vs_op_name(n.op), vs_status_str(st));
        if (!ok)
            failures++;
    }
}

/* Our direct convolution for few input channels (kernels_conv.c): first layers of every shape
 * its tiles treat differently (channel groups of 3, 2 and 1 vectors and an overlapping tail,
 * interior tiles and clipped border pixels, images smaller than the window), and the nodes it
 * must refuse. */
static void own_conv_cases(pthreadpool_t pool2)
{
    static const conv_spec specs[] = {
        {VS_OP_CONV2D, 7, 9, 3, 3, 3, 8, 1, 1, VS_PAD_SAME, VS_ACT_NONE, 1},
        {VS_OP_CONV2D, 19, 21, 3, 5, 5, 24, 2, 1, VS_PAD_SAME, VS_ACT_RELU, 1},
        {VS_OP_CONV2D, 8, 8, 4, 3, 3, 20, 2, 1, VS_PAD_VALID, VS_ACT_RELU6, 1},
        {VS_OP_CONV2D, 9, 11, 1, 7, 7, 48, 2, 1, VS_PAD_EXPLICIT, VS_ACT_CLAMP, 0},
        {VS_OP_CONV2D, 3, 2, 3, 5, 5, 24, 1, 1, VS_PAD_SAME, VS_ACT_RELU, 1},
        {VS_OP_CONV2D, 12, 17, 3, 3, 3, 16, 2, 1, VS_PAD_SAME, VS_ACT_NONE, 1},
        {VS_OP_CONV2D, 10, 13, 2, 3, 3, 40, 1, 1, VS_PAD_EXPLICIT, VS_ACT_RELU, 1},
    };
    printf("own direct convolution (kernels_conv.c)\n");
    tcase t;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        conv_case(&t, &specs[i]);
        check_impl(&t, pool2, ON_CONV, MAX_ERR);
    }
    static const conv_spec refused[] = {
        {VS_OP_CONV2D, 7, 9, 5, 3, 3, 8, 1, 1, VS_PAD_SAME, VS_ACT_NONE, 1},   /* 5 channels in */
        {VS_OP_CONV2D, 7, 9, 3, 3, 3, 6, 1, 1, VS_PAD_SAME, VS_ACT_NONE, 1},   /* 6 out */
        {VS_OP_CONV2D, 7, 9, 3, 3, 3, 8, 1, 1, VS_PAD_SAME, VS_ACT_PRELU, 1},  /* PReLU */
        {VS_OP_CONV2D, 11, 13, 3, 3, 3, 8, 1, 2, VS_PAD_SAME, VS_ACT_NONE, 1}, /* dilated */
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        conv_case(&t, &refused[i]);
        vs_tview in[VS_MAX_IN] = {0}, out = {.shape = t.out_shape};
        float unread[1]; /* the plan refuses before it reads any data */
        for (int k = 0; k < t.node.n_in; k++)
            if (t.in_shape[k].rank >= 0)
                in[k] = (vs_tview){unread, t.in_shape[k]};
        out.data = unread;
        vs_conv_plan *p = (vs_conv_plan *)&out; /* must be overwritten with NULL */
        const vs_status st = vs_conv_plan_new(&t.node, in, &out, 1, &p);
        const int ok = st == VS_UNSUPPORTED && p == NULL;
        printf("  %-4s refused: %-49s %s\n", ok ? "ok" : "FAIL", t.name, vs_status_str(st));
        if (!ok)
            failures++;
    }
}

/* Nodes XNNPACK cannot run: prepare must refuse them with VS_UNSUPPORTED and a NULL op. */
static void unsupported_cases(void)
{
    printf("refused with VS_UNSUPPORTED\n");
    tcase cases[10];
    int nc = 0;
    unary_case(&cases[nc++], VS_OP_TANH, shp2(3, 4));
    unary_case(&cases[nc++], VS_OP_EXP, shp2(3, 4));
    matmul_case(&cases[nc], 3, 4, 5, 0, 0, VS_ACT_NONE);
    cases[nc].node.transpose_a = 1;
    snprintf(cases[nc++].name, sizeof cases[0].name, "MatMul transpose_a");
    softmax_case(&cases[nc], shp2(3, 4));
    cases[nc].node.axis = 0;
    snprintf(cases[nc++].name, sizeof cases[0].name, "Softmax axis 0 of 2");
    resize_case(&cases[nc++], 4, 4, 1, 8, 8, 1, 1);
    mean_case(&cases[nc++], shp4(1, 4, 4, 2), 0xa, 0);
    pool_case(&cases[nc], VS_OP_AVGPOOL, 5, 5, 2, 2, 2, VS_PAD_EXPLICIT);
    /* pool_case's explicit left pad of 2 equals the 2x2 window: one column of windows lies
     * wholly in the padding (TF: 0/0, XNNPACK: 1/0). */
    snprintf(cases[nc++].name, sizeof cases[0].name, "AvgPool 2x2 with left pad 2");
    pool_case(&cases[nc], VS_OP_MAXPOOL, 5, 5, 2, 1, 2, VS_PAD_VALID);
    snprintf(cases[nc++].name, sizeof cases[0].name, "MaxPool 1x1");
    /* Swaps the outer two of three dims: no channel shuffle (the reference runs it). */
    transpose_case(&cases[nc++], shp(3, (const int64_t[]){2, 3, 4}), (const int[]){1, 0, 2});

    for (int i = 0; i < nc; i++) {
        tcase *t = &cases[i];
        t->node.name = t->name;
        vs_tview in[VS_MAX_IN] = {0};
        float dummy[256] = {0};
        for (int j = 0; j < t->node.n_in; j++)
            if (t->in_shape[j].rank >= 0)
                in[j] = (vs_tview){.data = dummy, .shape = t->in_shape[j]};
        vs_tview out = {.data = dummy, .shape = t->out_shape};
        vs_xnn_op *op = (vs_xnn_op *)&out; /* must be overwritten with NULL */
        const vs_status st = vs_xnn_prepare(&t->node, in, &out, NULL, &op);
        const int ok = st == VS_UNSUPPORTED && op == NULL;
        printf("  %-4s %-58s %s\n", ok ? "ok" : "FAIL", t->name, vs_status_str(st));
        if (!ok)
            failures++;
    }
}

/* An alias RESHAPE (output storage = input storage) needs no work at all. */
static void alias_is_a_noop(void)
{
    float buf[12];
    for (int i = 0; i < 12; i++)
        buf[i] = (float)i;
    tcase t;
    reshape_case(&t, shp2(3, 4), shp1(12));
    vs_tview in = {.data = buf, .shape = t.in_shape[0]}, out = {.data = buf, .shape = t.out_shape};
    vs_xnn_op *op = NULL;
    vs_status st = vs_xnn_prepare(&t.node, &in, &out, NULL, &op);
    CHECK(st == VS_OK && op, "alias reshape prepare: %s", vs_status_str(st));
    if (op) {
        st = vs_xnn_run(op);
        CHECK(st == VS_OK, "alias reshape run: %s", vs_status_str(st));
        CHECK(buf[11] == 11.0f, "alias reshape changed its data: %g", buf[11]);
    }
    vs_xnn_free(op);
    printf("  ok   Reshape (alias, no-op)\n");
}

/* ---- performance smoke check --------------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void perf_conv(void)
{
    const conv_spec s = {VS_OP_CONV2D, 56, 56, 64, 3, 3, 64, 1, 1, VS_PAD_SAME, VS_ACT_RELU, 1};
    tcase t;
    conv_case(&t, &s);
    vs_tview in[VS_MAX_IN] = {0}, out = {.shape = t.out_shape};
    for (int i = 0; i < 3; i++) {
        in[i].shape = t.in_shape[i];
        in[i].data = alloc_tensor(&in[i].shape);
        if (in[i].data)
            fill(in[i].data, &in[i].shape, -1.0f, 1.0f);
    }
    out.data = alloc_tensor(&out.shape);
    vs_xnn_op *op = NULL;
    if (in[0].data && in[1].data && in[2].data && out.data &&
        vs_xnn_prepare(&t.node, in, &out, NULL, &op) == VS_OK) {
        for (int i = 0; i < 5; i++)
            vs_xnn_run(op);
        /* Best of up to 50 runs within about a second (valgrind makes each run seconds). */
        double best = INFINITY;
        const double start = now_ms();
        for (int i = 0; i < 50 && now_ms() - start < 1000.0; i++) {
            const double t0 = now_ms();
            vs_xnn_run(op);
            const double dt = now_ms() - t0;
            best = dt < best ? dt : best;
        }
        const double flops = 2.0 * 56 * 56 * 64 * 64 * 9;
        printf("perf: conv 3x3 56x56x64->64 (1 thread): best %.3f ms, %.1f GFLOP/s "
               "(DESIGN.md: ~1.37 ms)\n",
               best, flops / best / 1e6);
    } else {
        printf("perf: conv could not be prepared\n");
        failures++;
    }
    vs_xnn_free(op);
    for (int i = 0; i < 3; i++)
        free(in[i].data);
    free(out.data);
}

int main(void)
{
    if (vs_xnn_init() != VS_OK) {
        printf("FAIL: XNNPACK does not initialise on this machine\n");
        return 1;
    }
    pthreadpool_t pool2 = pthreadpool_create(2);
    op_cases(pool2);
    own_cases(pool2);
    own_conv_cases(pool2);
    unsupported_cases();
    alias_is_a_noop();
    perf_conv();
    pthreadpool_destroy(pool2);
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}

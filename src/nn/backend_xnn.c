/*
 * backend_xnn.c - runs one graph node as one XNNPACK operator (plus, for some fused activations,
 * a second operator applied in place on the output).
 *
 * The runtime calls vs_xnn_prepare() once per node when it builds its arena.  Prepare creates the
 * operator (XNNPACK packs the weights into its own buffer at that moment, so weight inputs must
 * already hold their final values: in practice they are graph constants) and sets it up with the
 * node's fixed input and output pointers; vs_xnn_run() then only runs it.  Anything this
 * February 2022 XNNPACK (Debian's ae108ef snapshot) cannot do is refused with VS_UNSUPPORTED, and
 * the runtime falls back to the reference kernel of kernels_ref.c, which defines the semantics.
 *
 * DESIGN NOTES
 *   1. Layouts.  Our CONV2D filter is TFJS's HWIO [KH,KW,C,O]; XNNPACK's convolution wants OHWI,
 *      so prepare transposes into a temporary buffer that lives only until the operator has
 *      packed it.  The depthwise filter [KH,KW,C,M] is exactly XNNPACK's "HWGo" layout for a
 *      grouped convolution with groups = C, one input channel per group and M outputs per group,
 *      selected by XNN_FLAG_DEPTHWISE_CONVOLUTION; output channel c*M+m is TFJS's too.  MATMUL's
 *      b [K,N] is passed as is with XNN_FLAG_TRANSPOSE_WEIGHTS (the "io" packing); a transposed
 *      b [N,K] is XNNPACK's default.
 *   2. Fused activations.  RELU, RELU6 and CLAMP become the operator's output_min/output_max.
 *      PRELU, LEAKY_RELU and SIGMOID run as a second element-wise operator whose input and output
 *      are the node's output: XNNPACK's element-wise micro-kernels read each vector before
 *      writing it, so in place is safe (the tests compare against the reference on every case).
 *   3. Padding.  Windows always get explicit padding (node->pad[], top, bottom, left, right), never
 *      XNN_FLAG_TENSORFLOW_SAME_PADDING, so the graph's shape inference stays the one authority;
 *      prepare checks that XNNPACK's output size equals the inferred one.  XNNPACK's f32 average
 *      pooling with padding divides by the number of valid (unpadded) elements, as TF does, but a
 *      window lying wholly in the padding would divide by zero, so a pad as large as the window is
 *      refused.
 *   4. Resize.  XNNPACK's default is half-pixel centres, XNN_FLAG_ALIGN_CORNERS is TF's
 *      align_corners and XNN_FLAG_TENSORFLOW_LEGACY_MODE is TF's default (neither flag): the
 *      three TF modes map one to one; align_corners together with half_pixel_centers is refused.
 *   5. XNNPACK's micro-kernels may read up to XNN_EXTRA_BYTES past the end of an input tensor;
 *      the owner of the buffers (the runtime's arena, the graph's constants) must allow it.
 */
#include "backend_xnn.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include <xnnpack.h>

struct vs_xnn_op {
    xnn_operator_t main; /* NULL for a node that needs no work (an alias sharing its storage) */
    xnn_operator_t post; /* fused activation run in place on the output, or NULL */
    pthreadpool_t pool;  /* NULL = the calling thread */
};

typedef enum xnn_status (*nc_setup_fn)(xnn_operator_t, size_t, const float *, float *,
                                       pthreadpool_t);
typedef enum xnn_status (*nd_setup_fn)(xnn_operator_t, size_t, const size_t *, size_t,
                                       const size_t *, const float *, const float *, float *,
                                       pthreadpool_t);

/* ---- initialisation ------------------------------------------------------------------------ */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static enum xnn_status init_result = xnn_status_uninitialized; /* written once, under init_once */

static void init_xnnpack(void)
{
    init_result = xnn_initialize(NULL);
}

vs_status vs_xnn_init(void)
{
    if (pthread_once(&init_once, init_xnnpack) != 0)
        return VS_INTERNAL;
    if (init_result == xnn_status_out_of_memory)
        return VS_NOMEM;
    /* unsupported_hardware: XNNPACK refuses this CPU; every node then falls back. */
    return init_result == xnn_status_success ? VS_OK : VS_UNSUPPORTED;
}

/* What an XNNPACK status means to the runtime: a parameter XNNPACK rejects is a node it cannot
 * run (fall back to the reference kernel); anything else is a real failure. */
static vs_status map_status(enum xnn_status s)
{
    switch (s) {
    case xnn_status_success:
        return VS_OK;
    case xnn_status_out_of_memory:
        return VS_NOMEM;
    case xnn_status_invalid_parameter:
    case xnn_status_unsupported_parameter:
    case xnn_status_unsupported_hardware:
        return VS_UNSUPPORTED;
    default:
        return VS_INTERNAL;
    }
}

/* ---- small helpers ------------------------------------------------------------------------- */

static size_t numel(const vs_shape *s)
{
    return (size_t)vs_shape_numel(s);
}

/* The data of optional input i, or NULL when the node does not have it. */
static const float *opt_in(const vs_node *n, const vs_tview *in, int i)
{
    return i < n->n_in && n->in[i] >= 0 ? in[i].data : NULL;
}

static size_t opt_numel(const vs_node *n, const vs_tview *in, int i)
{
    return opt_in(n, in, i) ? numel(&in[i].shape) : 0;
}

static int same_numel(const vs_shape *a, const vs_shape *b)
{
    return vs_shape_numel(a) == vs_shape_numel(b);
}

/* Output bounds of a fused RELU/RELU6/CLAMP; unbounded for the other activations. */
static vs_status act_bounds(const vs_node *n, float *lo, float *hi)
{
    *lo = -INFINITY;
    *hi = INFINITY;
    switch (n->act) {
    case VS_ACT_RELU:
        *lo = 0.0f;
        break;
    case VS_ACT_RELU6:
        *lo = 0.0f;
        *hi = 6.0f;
        break;
    case VS_ACT_CLAMP:
        *lo = n->act_min;
        *hi = n->act_max;
        break;
    case VS_ACT_NONE:
    case VS_ACT_PRELU:
    case VS_ACT_LEAKY_RELU:
    case VS_ACT_SIGMOID:
        break;
    default:
        return VS_UNSUPPORTED;
    }
    /* XNNPACK wants lo < hi strictly (and rejects NaN bounds). */
    return *lo < *hi ? VS_OK : VS_UNSUPPORTED;
}

/* Creates and sets up, in place on y[batch][channels], the activation XNNPACK cannot fuse into
 * the main operator.  alpha (alpha_len floats) is the per-channel PRELU slope. */
static vs_status prep_post_act(const vs_node *n, const float *alpha, size_t alpha_len, float *y,
                               size_t batch, size_t channels, vs_xnn_op *op)
{
    enum xnn_status s;
    switch (n->act) {
    case VS_ACT_PRELU:
        if (!alpha || alpha_len != channels)
            return VS_UNSUPPORTED;
        s = xnn_create_prelu_nc_f32(channels, channels, channels, alpha, 0, &op->post);
        if (s == xnn_status_success)
            s = xnn_setup_prelu_nc_f32(op->post, batch, y, y, op->pool);
        return map_status(s);
    case VS_ACT_LEAKY_RELU:
        s = xnn_create_leaky_relu_nc_f32(1, 1, 1, n->alpha, 0, &op->post);
        if (s == xnn_status_success)
            s = xnn_setup_leaky_relu_nc_f32(op->post, batch * channels, y, y, op->pool);
        return map_status(s);
    case VS_ACT_SIGMOID:
        s = xnn_create_sigmoid_nc_f32(1, 1, 1, 0, &op->post);
        if (s == xnn_status_success)
            s = xnn_setup_sigmoid_nc_f32(op->post, batch * channels, y, y, op->pool);
        return map_status(s);
    default:
        return VS_OK;
    }
}

/* ---- windows: convolution and pooling geometry --------------------------------------------- */

typedef struct win {
    uint32_t kh, kw, sh, sw, dh, dw;
    uint32_t top, bottom, left, right;
} win;

/* Fills w from the node and checks that XNNPACK's output size, (in + pads - eff_k) / stride + 1,
 * is the inferred output size (ih, iw -> oh, ow). */
static vs_status window_geometry(const vs_node *n, uint32_t kh, uint32_t kw, int64_t ih, int64_t iw,
                                 int64_t oh, int64_t ow, win *w)
{
    if (n->stride[0] < 1 || n->stride[1] < 1 || n->dilation[0] < 1 || n->dilation[1] < 1)
        return VS_INVAL;
    *w = (win){.kh = kh,
               .kw = kw,
               .sh = (uint32_t)n->stride[0],
               .sw = (uint32_t)n->stride[1],
               .dh = (uint32_t)n->dilation[0],
               .dw = (uint32_t)n->dilation[1]};
    if (n->padmode != VS_PAD_VALID) {
        for (int i = 0; i < 4; i++)
            if (n->pad[i] < 0)
                return VS_UNSUPPORTED;
        w->top = (uint32_t)n->pad[0];
        w->bottom = (uint32_t)n->pad[1];
        w->left = (uint32_t)n->pad[2];
        w->right = (uint32_t)n->pad[3];
    }
    const int64_t ekh = (int64_t)(kh - 1) * w->dh + 1, ekw = (int64_t)(kw - 1) * w->dw + 1;
    const int64_t ph = ih + w->top + w->bottom, pw = iw + w->left + w->right;
    if (ph < ekh || pw < ekw)
        return VS_INVAL;
    if ((ph - ekh) / w->sh + 1 != oh || (pw - ekw) / w->sw + 1 != ow)
        return VS_INVAL;
    return VS_OK;
}

/* ---- CONV2D and DWCONV2D ------------------------------------------------------------------- */

/* HWIO [kh][kw][c][o] -> OHWI [o][kh][kw][c], in a malloc'd buffer the caller frees. */
static float *hwio_to_ohwi(const float *f, size_t kh, size_t kw, size_t c, size_t o)
{
    const size_t k = kh * kw;
    if (k == 0 || c == 0 || o == 0 || k > SIZE_MAX / sizeof(float) / c / o)
        return NULL;
    float *t = malloc(k * c * o * sizeof(float));
    if (!t)
        return NULL;
    for (size_t p = 0; p < k; p++)
        for (size_t i = 0; i < c; i++)
            for (size_t j = 0; j < o; j++)
                t[(j * k + p) * c + i] = f[(p * c + i) * o + j];
    return t;
}

static vs_status prep_conv(const vs_node *n, const vs_tview *in, const vs_tview *out, vs_xnn_op *op)
{
    const vs_shape *xs = &in[0].shape, *fs = &in[1].shape, *ys = &out->shape;
    if (n->n_in < 2 || xs->rank != 4 || fs->rank != 4 || ys->rank != 4)
        return VS_UNSUPPORTED;
    const int depthwise = n->op == VS_OP_DWCONV2D;
    const size_t c = (size_t)fs->dim[2], m = (size_t)fs->dim[3];
    const size_t oc = depthwise ? c * m : m;
    if (numel(fs) == 0 || numel(ys) == 0)
        return VS_UNSUPPORTED; /* XNNPACK refuses empty tensors */
    if ((size_t)xs->dim[3] != c || (size_t)ys->dim[3] != oc || ys->dim[0] != xs->dim[0])
        return VS_INVAL;
    const float *bias = opt_in(n, in, 2);
    if (bias && opt_numel(n, in, 2) != oc)
        return VS_INVAL;

    win w;
    vs_status st = window_geometry(n, (uint32_t)fs->dim[0], (uint32_t)fs->dim[1], xs->dim[1],
                                   xs->dim[2], ys->dim[1], ys->dim[2], &w);
    float lo, hi;
    if (st == VS_OK)
        st = act_bounds(n, &lo, &hi);
    if (st != VS_OK)
        return st;

    const float *kernel = in[1].data;
    float *ohwi = NULL;
    if (!depthwise) {
        ohwi = hwio_to_ohwi(kernel, w.kh, w.kw, c, m);
        if (!ohwi)
            return VS_NOMEM;
        kernel = ohwi;
    }
    /* XNNPACK's argument order for padding is top, right, bottom, left. */
    enum xnn_status s = xnn_create_convolution2d_nhwc_f32(
        w.top, w.right, w.bottom, w.left, w.kh, w.kw, w.sh, w.sw, w.dh, w.dw,
        depthwise ? (uint32_t)c : 1, depthwise ? 1 : c, m, c, oc, kernel, bias, lo, hi,
        depthwise ? XNN_FLAG_DEPTHWISE_CONVOLUTION : 0, &op->main);
    free(ohwi); /* XNNPACK has packed its own copy */
    if (s == xnn_status_success)
        s = xnn_setup_convolution2d_nhwc_f32(op->main, (size_t)xs->dim[0], (size_t)xs->dim[1],
                                             (size_t)xs->dim[2], in[0].data, out->data, op->pool);
    if (s != xnn_status_success)
        return map_status(s);
    return prep_post_act(n, opt_in(n, in, 3), opt_numel(n, in, 3), out->data, numel(ys) / oc, oc,
                         op);
}

/* ---- MATMUL -------------------------------------------------------------------------------- */

static vs_status prep_matmul(const vs_node *n, const vs_tview *in, const vs_tview *out,
                             vs_xnn_op *op)
{
    const vs_shape *as = &in[0].shape, *bs = &in[1].shape, *ys = &out->shape;
    /* fully_connected computes a[M,K] x W; a transposed a would need a real transpose. */
    if (n->n_in < 2 || as->rank != 2 || bs->rank != 2 || ys->rank != 2 || n->transpose_a)
        return VS_UNSUPPORTED;
    const size_t mrows = (size_t)as->dim[0], k = (size_t)as->dim[1];
    const size_t ncols = (size_t)(n->transpose_b ? bs->dim[0] : bs->dim[1]);
    const size_t bk = (size_t)(n->transpose_b ? bs->dim[1] : bs->dim[0]);
    if (bk != k || (size_t)ys->dim[0] != mrows || (size_t)ys->dim[1] != ncols)
        return VS_INVAL;
    const float *bias = opt_in(n, in, 2);
    if (bias && opt_numel(n, in, 2) != ncols)
        return VS_INVAL;
    float lo, hi;
    vs_status st = act_bounds(n, &lo, &hi);
    if (st != VS_OK)
        return st;
    /* b [K,N] is XNNPACK's "transposed weights" ([input_channels, output_channels]). */
    enum xnn_status s = xnn_create_fully_connected_nc_f32(
        k, ncols, k, ncols, in[1].data, bias, lo, hi,
        n->transpose_b ? 0 : XNN_FLAG_TRANSPOSE_WEIGHTS, &op->main);
    if (s == xnn_status_success)
        s = xnn_setup_fully_connected_nc_f32(op->main, mrows, in[0].data, out->data, op->pool);
    if (s != xnn_status_success)
        return map_status(s);
    return prep_post_act(n, opt_in(n, in, 3), opt_numel(n, in, 3), out->data, mrows, ncols, op);
}

/* ---- element-wise binary ops (NumPy broadcasting) ------------------------------------------ */

static vs_status prep_binary(const vs_node *n, const vs_tview *in, const vs_tview *out,
                             vs_xnn_op *op)
{
    const vs_shape *as = &in[0].shape, *bs = &in[1].shape;
    if (n->n_in < 2 || as->rank > XNN_MAX_TENSOR_DIMS || bs->rank > XNN_MAX_TENSOR_DIMS)
        return VS_UNSUPPORTED;
    enum xnn_status s;
    nd_setup_fn setup;
    float lo, hi;
    /* Only clamps fuse into element-wise ops (graph_opt.c), and XNNPACK's min/max have none. */
    if (act_bounds(n, &lo, &hi) != VS_OK ||
        (n->act != VS_ACT_NONE && (n->op == VS_OP_MINIMUM || n->op == VS_OP_MAXIMUM)) ||
        (n->act != VS_ACT_NONE && n->act != VS_ACT_RELU && n->act != VS_ACT_RELU6 &&
         n->act != VS_ACT_CLAMP))
        return VS_UNSUPPORTED;
    switch (n->op) {
    case VS_OP_ADD:
        s = xnn_create_add_nd_f32(lo, hi, 0, &op->main);
        setup = xnn_setup_add_nd_f32;
        break;
    case VS_OP_SUB:
        s = xnn_create_subtract_nd_f32(lo, hi, 0, &op->main);
        setup = xnn_setup_subtract_nd_f32;
        break;
    case VS_OP_MUL:
        s = xnn_create_multiply_nd_f32(lo, hi, 0, &op->main);
        setup = xnn_setup_multiply_nd_f32;
        break;
    case VS_OP_DIV:
        s = xnn_create_divide_nd_f32(lo, hi, 0, &op->main);
        setup = xnn_setup_divide_nd_f32;
        break;
    case VS_OP_MINIMUM:
        s = xnn_create_minimum_nd_f32(0, &op->main);
        setup = xnn_setup_minimum_nd_f32;
        break;
    case VS_OP_MAXIMUM:
        s = xnn_create_maximum_nd_f32(0, &op->main);
        setup = xnn_setup_maximum_nd_f32;
        break;
    default:
        return VS_UNSUPPORTED;
    }
    if (s != xnn_status_success)
        return map_status(s);
    size_t ad[VS_MAX_DIMS], bd[VS_MAX_DIMS];
    for (int i = 0; i < as->rank; i++)
        ad[i] = (size_t)as->dim[i];
    for (int i = 0; i < bs->rank; i++)
        bd[i] = (size_t)bs->dim[i];
    s = setup(op->main, (size_t)as->rank, ad, (size_t)bs->rank, bd, in[0].data, in[1].data,
              out->data, op->pool);
    return map_status(s);
}

/* ---- element-wise unary ops ---------------------------------------------------------------- */

/* PRELU as an op: per-channel alpha along the last dim (prelu_nc), or a scalar (leaky_relu).
 * XNNPACK packs alpha at create time, so it must be a constant. */
static vs_status prep_prelu(const vs_node *n, const vs_tview *in, const vs_tview *out,
                            vs_xnn_op *op)
{
    const vs_shape *xs = &in[0].shape, *as = &in[1].shape;
    if (n->n_in < 2 || !in[1].data || !same_numel(xs, &out->shape) || as->rank > xs->rank)
        return VS_UNSUPPORTED;
    const size_t c = xs->rank > 0 ? (size_t)xs->dim[xs->rank - 1] : 1;
    const size_t na = numel(as);
    enum xnn_status s;
    if (na == 1) {
        s = xnn_create_leaky_relu_nc_f32(1, 1, 1, in[1].data[0], 0, &op->main);
        if (s == xnn_status_success)
            s = xnn_setup_leaky_relu_nc_f32(op->main, numel(xs), in[0].data, out->data, op->pool);
        return map_status(s);
    }
    /* Broadcasting alpha along the last dim only: its other dims must all be 1. */
    if (c == 0 || na != c || (size_t)as->dim[as->rank - 1] != c)
        return VS_UNSUPPORTED;
    s = xnn_create_prelu_nc_f32(c, c, c, in[1].data, 0, &op->main);
    if (s == xnn_status_success)
        s = xnn_setup_prelu_nc_f32(op->main, numel(xs) / c, in[0].data, out->data, op->pool);
    return map_status(s);
}

/* Abs, Neg, Square, Sqrt, Sigmoid, Relu, Relu6, Clamp, LeakyRelu: one contiguous vector of
 * numel elements (XNNPACK then splits it into blocks across the pool). */
static vs_status prep_unary(const vs_node *n, const vs_tview *in, const vs_tview *out,
                            vs_xnn_op *op)
{
    if (!same_numel(&in[0].shape, &out->shape))
        return VS_INVAL;
    enum xnn_status s;
    nc_setup_fn setup;
    switch (n->op) {
    case VS_OP_ABS:
        s = xnn_create_abs_nc_f32(1, 1, 1, 0, &op->main);
        setup = xnn_setup_abs_nc_f32;
        break;
    case VS_OP_NEG:
        s = xnn_create_negate_nc_f32(1, 1, 1, 0, &op->main);
        setup = xnn_setup_negate_nc_f32;
        break;
    case VS_OP_SQUARE:
        s = xnn_create_square_nc_f32(1, 1, 1, 0, &op->main);
        setup = xnn_setup_square_nc_f32;
        break;
    case VS_OP_SQRT:
        s = xnn_create_square_root_nc_f32(1, 1, 1, 0, &op->main);
        setup = xnn_setup_square_root_nc_f32;
        break;
    case VS_OP_SIGMOID:
        s = xnn_create_sigmoid_nc_f32(1, 1, 1, 0, &op->main);
        setup = xnn_setup_sigmoid_nc_f32;
        break;
    case VS_OP_LEAKY_RELU:
        s = xnn_create_leaky_relu_nc_f32(1, 1, 1, n->alpha, 0, &op->main);
        setup = xnn_setup_leaky_relu_nc_f32;
        break;
    case VS_OP_RELU:
    case VS_OP_RELU6:
    case VS_OP_CLAMP: {
        const float lo = n->op == VS_OP_CLAMP ? n->act_min : 0.0f;
        const float hi = n->op == VS_OP_CLAMP ? n->act_max : n->op == VS_OP_RELU6 ? 6.0f : INFINITY;
        if (!(lo < hi))
            return VS_UNSUPPORTED;
        s = xnn_create_clamp_nc_f32(1, 1, 1, lo, hi, 0, &op->main);
        setup = xnn_setup_clamp_nc_f32;
        break;
    }
    default:
        return VS_UNSUPPORTED;
    }
    if (s == xnn_status_success)
        s = setup(op->main, numel(&out->shape), in[0].data, out->data, op->pool);
    return map_status(s);
}

static vs_status prep_softmax(const vs_node *n, const vs_tview *in, const vs_tview *out,
                              vs_xnn_op *op)
{
    const vs_shape *xs = &in[0].shape;
    if (xs->rank < 1 || n->axis != xs->rank - 1 || !same_numel(xs, &out->shape))
        return VS_UNSUPPORTED;
    const size_t c = (size_t)xs->dim[xs->rank - 1];
    if (c == 0)
        return VS_UNSUPPORTED;
    enum xnn_status s = xnn_create_softmax_nc_f32(c, c, c, 0, &op->main);
    if (s == xnn_status_success)
        s = xnn_setup_softmax_nc_f32(op->main, numel(xs) / c, in[0].data, out->data, op->pool);
    return map_status(s);
}

/* ---- pooling and reductions ---------------------------------------------------------------- */

static vs_status prep_pool(const vs_node *n, const vs_tview *in, const vs_tview *out, vs_xnn_op *op)
{
    const vs_shape *xs = &in[0].shape, *ys = &out->shape;
    if (xs->rank != 4 || ys->rank != 4 || n->ksize[0] < 1 || n->ksize[1] < 1)
        return VS_UNSUPPORTED;
    if (ys->dim[0] != xs->dim[0] || ys->dim[3] != xs->dim[3])
        return VS_INVAL;
    /* XNNPACK refuses 1x1 pooling ("meaningless"; with a stride it is a subsampling). */
    if (n->ksize[0] * n->ksize[1] == 1)
        return VS_UNSUPPORTED;
    vs_node nd = *n; /* pooling has no dilation attribute: force 1 */
    nd.dilation[0] = nd.dilation[1] = 1;
    win w;
    vs_status st = window_geometry(&nd, (uint32_t)n->ksize[0], (uint32_t)n->ksize[1], xs->dim[1],
                                   xs->dim[2], ys->dim[1], ys->dim[2], &w);
    if (st != VS_OK)
        return st;
    /* A window wholly inside the padding has no valid element: TF and XNNPACK disagree there. */
    if (w.top >= w.kh || w.bottom >= w.kh || w.left >= w.kw || w.right >= w.kw)
        return VS_UNSUPPORTED;
    const size_t c = (size_t)xs->dim[3];
    enum xnn_status s;
    if (n->op == VS_OP_MAXPOOL) {
        s = xnn_create_max_pooling2d_nhwc_f32(w.top, w.right, w.bottom, w.left, w.kh, w.kw, w.sh,
                                              w.sw, 1, 1, c, c, c, -INFINITY, INFINITY, 0,
                                              &op->main);
        if (s == xnn_status_success)
            s = xnn_setup_max_pooling2d_nhwc_f32(op->main, (size_t)xs->dim[0], (size_t)xs->dim[1],
                                                 (size_t)xs->dim[2], in[0].data, out->data,
                                                 op->pool);
    } else {
        s = xnn_create_average_pooling2d_nhwc_f32(w.top, w.right, w.bottom, w.left, w.kh, w.kw,
                                                  w.sh, w.sw, c, c, c, -INFINITY, INFINITY, 0,
                                                  &op->main);
        if (s == xnn_status_success)
            s = xnn_setup_average_pooling2d_nhwc_f32(op->main, (size_t)xs->dim[0],
                                                     (size_t)xs->dim[1], (size_t)xs->dim[2],
                                                     in[0].data, out->data, op->pool);
    }
    return map_status(s);
}

/* MEAN over one contiguous run of axes [first, last] is a global average pooling of
 * [outer, width, channels] (MEAN over H,W of NHWC being the usual case). */
static vs_status prep_mean(const vs_node *n, const vs_tview *in, const vs_tview *out, vs_xnn_op *op)
{
    const vs_shape *xs = &in[0].shape;
    const uint32_t mask = n->axes_mask & ((1u << xs->rank) - 1u);
    if (xs->rank < 1 || mask == 0 || mask != n->axes_mask)
        return VS_UNSUPPORTED;
    int first = 0;
    while (!(mask & (1u << first)))
        first++;
    int last = first;
    while (last + 1 < xs->rank && (mask & (1u << (last + 1))))
        last++;
    if (mask != (((1u << (last + 1)) - 1u) & ~((1u << first) - 1u)))
        return VS_UNSUPPORTED; /* not one contiguous run of axes */
    size_t outer = 1, width = 1, c = 1;
    for (int i = 0; i < xs->rank; i++) {
        const size_t d = (size_t)xs->dim[i];
        if (i < first)
            outer *= d;
        else if (i <= last)
            width *= d;
        else
            c *= d;
    }
    if (width == 0 || c == 0 || numel(&out->shape) != outer * c)
        return VS_UNSUPPORTED;
    enum xnn_status s =
        xnn_create_global_average_pooling_nwc_f32(c, c, c, -INFINITY, INFINITY, 0, &op->main);
    if (s == xnn_status_success)
        s = xnn_setup_global_average_pooling_nwc_f32(op->main, outer, width, in[0].data, out->data,
                                                     op->pool);
    return map_status(s);
}

/* ---- data movement ------------------------------------------------------------------------- */

static vs_status prep_pad(const vs_node *n, const vs_tview *in, const vs_tview *out, vs_xnn_op *op)
{
    const vs_shape *xs = &in[0].shape;
    if (xs->rank < 1 || xs->rank > XNN_MAX_TENSOR_DIMS || out->shape.rank != xs->rank)
        return VS_UNSUPPORTED;
    size_t dims[VS_MAX_DIMS], pre[VS_MAX_DIMS], post[VS_MAX_DIMS];
    for (int i = 0; i < xs->rank; i++) {
        if (n->pads[i][0] < 0 || n->pads[i][1] < 0)
            return VS_UNSUPPORTED; /* negative padding crops: not this operator */
        dims[i] = (size_t)xs->dim[i];
        pre[i] = (size_t)n->pads[i][0];
        post[i] = (size_t)n->pads[i][1];
        if ((int64_t)(dims[i] + pre[i] + post[i]) != out->shape.dim[i])
            return VS_INVAL;
    }
    const float value = n->pad_value; /* read (copied) by create */
    enum xnn_status s = xnn_create_constant_pad_nd_x32(&value, 0, &op->main);
    if (s == xnn_status_success)
        s = xnn_setup_constant_pad_nd_x32(op->main, (size_t)xs->rank, dims, pre, post, in[0].data,
                                          out->data, op->pool);
    return map_status(s);
}

static vs_status prep_resize(const vs_node *n, const vs_tview *in, const vs_tview *out,
                             vs_xnn_op *op)
{
    const vs_shape *xs = &in[0].shape, *ys = &out->shape;
    if (xs->rank != 4 || ys->rank != 4 || (n->align_corners && n->half_pixel_centers))
        return VS_UNSUPPORTED;
    if (ys->dim[0] != xs->dim[0] || ys->dim[3] != xs->dim[3])
        return VS_INVAL;
    const uint32_t flags = n->align_corners        ? XNN_FLAG_ALIGN_CORNERS
                           : n->half_pixel_centers ? 0
                                                   : XNN_FLAG_TENSORFLOW_LEGACY_MODE;
    const size_t c = (size_t)xs->dim[3];
    enum xnn_status s = xnn_create_resize_bilinear2d_nhwc_f32(c, c, c, flags, &op->main);
    if (s == xnn_status_success)
        s = xnn_setup_resize_bilinear2d_nhwc_f32(
            op->main, (size_t)xs->dim[0], (size_t)xs->dim[1], (size_t)xs->dim[2],
            (size_t)ys->dim[1], (size_t)ys->dim[2], in[0].data, out->data, op->pool);
    return map_status(s);
}

/*
 * TRANSPOSE, seen as moving whole runs of elements: dims of size 1 dropped and neighbouring dims
 * that stay neighbours merged.  What is left is either nothing (a copy) or, most often, the swap
 * of the last two of [batch, groups, group_channels]: XNNPACK's channel shuffle, which writes
 * output[b][c * groups + g] = input[b][g * group_channels + c].  That covers NCHW <-> NHWC
 * ([C, HW] <-> [HW, C]) and ShuffleNet's channel shuffle ([.., 2, C/2] -> [.., C/2, 2]).
 */
static vs_status prep_transpose(const vs_node *n, const vs_tview *in, const vs_tview *out,
                                vs_xnn_op *op)
{
    const vs_shape *xs = &in[0].shape;
    if (xs->rank < 1 || out->shape.rank != xs->rank || !same_numel(xs, &out->shape))
        return VS_UNSUPPORTED;
    /* pos[p]: input dim p's place among the input dims larger than 1. */
    int pos[VS_MAX_DIMS], npos = 0;
    for (int p = 0; p < xs->rank; p++)
        pos[p] = xs->dim[p] == 1 ? -1 : npos++;
    size_t dim[VS_MAX_DIMS]; /* merged dims in output order, and their (last) input places */
    int src[VS_MAX_DIMS], r = 0;
    for (int d = 0; d < xs->rank; d++) {
        const int p = n->perm[d];
        if (p < 0 || p >= xs->rank || out->shape.dim[d] != xs->dim[p])
            return VS_INVAL;
        if (pos[p] < 0)
            continue;
        if (r > 0 && src[r - 1] + 1 == pos[p]) {
            dim[r - 1] *= (size_t)xs->dim[p];
            src[r - 1] = pos[p];
            continue;
        }
        dim[r] = (size_t)xs->dim[p];
        src[r++] = pos[p];
    }
    enum xnn_status s;
    if (r <= 1) {
        s = xnn_create_copy_nc_x32(1, 1, 1, 0, &op->main);
        if (s == xnn_status_success)
            s = xnn_setup_copy_nc_x32(op->main, numel(xs), in[0].data, out->data, op->pool);
        return map_status(s);
    }
    /* Output order [batch,] group_channels, groups; the input holds groups before channels. */
    const int b = r == 3;
    if (r > 3 || (b && src[0] > src[1]) || src[b] < src[b + 1])
        return VS_UNSUPPORTED;
    const size_t batch = b ? dim[0] : 1, channels = dim[b], groups = dim[b + 1];
    s = xnn_create_channel_shuffle_nc_x32(groups, channels, groups * channels, groups * channels, 0,
                                          &op->main);
    if (s == xnn_status_success)
        s = xnn_setup_channel_shuffle_nc_x32(op->main, batch, in[0].data, out->data, op->pool);
    return map_status(s);
}

/* RESHAPE and IDENTITY: nothing to do when the output aliases the input, else a copy. */
static vs_status prep_alias(const vs_tview *in, const vs_tview *out, vs_xnn_op *op)
{
    if (!same_numel(&in[0].shape, &out->shape))
        return VS_INVAL;
    if (out->data == in[0].data || numel(&out->shape) == 0)
        return VS_OK;
    enum xnn_status s = xnn_create_copy_nc_x32(1, 1, 1, 0, &op->main);
    if (s == xnn_status_success)
        s = xnn_setup_copy_nc_x32(op->main, numel(&out->shape), in[0].data, out->data, op->pool);
    return map_status(s);
}

/* ---- entry points -------------------------------------------------------------------------- */

static vs_status prep_node(const vs_node *n, const vs_tview *in, const vs_tview *out, vs_xnn_op *op)
{
    switch (n->op) {
    case VS_OP_CONV2D:
    case VS_OP_DWCONV2D:
        return prep_conv(n, in, out, op);
    case VS_OP_MATMUL:
        return prep_matmul(n, in, out, op);
    case VS_OP_ADD:
    case VS_OP_SUB:
    case VS_OP_MUL:
    case VS_OP_DIV:
    case VS_OP_MINIMUM:
    case VS_OP_MAXIMUM:
        return prep_binary(n, in, out, op);
    case VS_OP_PRELU:
        return prep_prelu(n, in, out, op);
    case VS_OP_ABS:
    case VS_OP_NEG:
    case VS_OP_SQUARE:
    case VS_OP_SQRT:
    case VS_OP_SIGMOID:
    case VS_OP_LEAKY_RELU:
    case VS_OP_RELU:
    case VS_OP_RELU6:
    case VS_OP_CLAMP:
        return prep_unary(n, in, out, op);
    case VS_OP_SOFTMAX:
        return prep_softmax(n, in, out, op);
    case VS_OP_MAXPOOL:
    case VS_OP_AVGPOOL:
        return prep_pool(n, in, out, op);
    case VS_OP_MEAN:
        return prep_mean(n, in, out, op);
    case VS_OP_PAD:
        return prep_pad(n, in, out, op);
    case VS_OP_RESIZE_BILINEAR:
        return prep_resize(n, in, out, op);
    case VS_OP_RESHAPE:
    case VS_OP_IDENTITY:
        return prep_alias(in, out, op);
    case VS_OP_TRANSPOSE:
        return prep_transpose(n, in, out, op);
    default:
        /* TANH, EXP, RSQRT (no f32 operator in this XNNPACK), SUM, REDUCE_MAX, CONCAT, SLICE,
         * INPUT, CONST. */
        return VS_UNSUPPORTED;
    }
}

vs_status vs_xnn_prepare(const vs_node *n, const vs_tview *in, const vs_tview *out,
                         pthreadpool_t pool, vs_xnn_op **op)
{
    if (!op)
        return VS_INVAL;
    *op = NULL;
    if (!n || !out || (n->n_in > 0 && !in))
        return VS_INVAL;
    if (n->n_in < 1 || !in[0].data || !out->data)
        return VS_UNSUPPORTED;
    vs_status st = vs_xnn_init();
    if (st != VS_OK)
        return st;
    vs_xnn_op *o = calloc(1, sizeof *o);
    if (!o)
        return VS_NOMEM;
    o->pool = pool;
    st = prep_node(n, in, out, o);
    if (st != VS_OK) {
        vs_xnn_free(o);
        return st;
    }
    *op = o;
    return VS_OK;
}

vs_status vs_xnn_run(vs_xnn_op *op)
{
    if (!op)
        return VS_INVAL;
    if (op->main) {
        vs_status st = map_status(xnn_run_operator(op->main, op->pool));
        if (st != VS_OK)
            return st == VS_UNSUPPORTED ? VS_INTERNAL : st;
    }
    if (op->post) {
        vs_status st = map_status(xnn_run_operator(op->post, op->pool));
        if (st != VS_OK)
            return st == VS_UNSUPPORTED ? VS_INTERNAL : st;
    }
    return VS_OK;
}

void vs_xnn_free(vs_xnn_op *op)
{
    if (!op)
        return;
    if (op->main)
        xnn_delete_operator(op->main);
    if (op->post)
        xnn_delete_operator(op->post);
    free(op);
}

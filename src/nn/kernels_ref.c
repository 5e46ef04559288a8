/*
 * kernels_ref.c - the reference kernel of every op: plain C loops that define what each op of
 * graph.h computes.
 *
 * Each op matches the CPU backend of TensorFlow.js 4.22 (@tensorflow/tfjs-backend-cpu), kernel by
 * kernel; the comment above each function names the kernel it follows.  The loops are the obvious
 * ones, with the innermost loop over contiguous channels so that -O2 vectorises them, and the
 * summation order of each output element is TFJS's (convolutions sum over filter row, filter
 * column, then input channel; reductions in row-major order of the reduced dims).  Where TFJS
 * computes in JavaScript doubles and rounds once to float32 (reductions, pooling, softmax's sum,
 * transcendental functions, bilinear weights) we do the same, so those ops match bit for bit;
 * convolutions and matmul differ in the last bits only (tfjs forms each product in double before
 * adding it to its float accumulator, and sums matmul in double blocks of 48).
 *
 * The kernels never allocate: accumulators that must be wider than float live on the stack in
 * chunks of ACC_CHUNK.  They check that the shapes they are given agree with each other (and
 * return VS_INVAL when they do not) so that a bad graph cannot make them read or write out of
 * bounds.  vs_ref_run() is the only entry point; it dispatches on the op in one switch.
 */
#include "kernels.h"

#include <math.h>
#include <string.h>

/* Width of the stack-allocated double accumulators (pooling and reductions). */
#define ACC_CHUNK 256

static int64_t numel(const vs_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}

/* Row-major element strides of s. */
static void strides_of(const vs_shape *s, int64_t *st)
{
    int64_t acc = 1;
    for (int d = s->rank - 1; d >= 0; d--) {
        st[d] = acc;
        acc *= s->dim[d];
    }
}

/* The input view i, or NULL when the node has no such input (absent optional input). */
static const vs_tview *opt_in(const vs_node *n, const vs_tview *in, int i)
{
    if (i >= n->n_in || n->in[i] < 0 || !in[i].data)
        return NULL;
    return &in[i];
}

/* ---- vector helpers ---------------------------------------------------------------------- */

/* The inner loops of the convolutions and matmul.  GCC 12 at -O2 only vectorises loops whose
 * trip count it knows, so these are unrolled by 8 by hand: its basic-block vectoriser turns each
 * group of 8 into SIMD instructions.  The arithmetic is the plain loop's, element by element. */

/* y[i] += a * x[i] */
static void axpy(float *restrict y, float a, const float *restrict x, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        y[i + 0] += a * x[i + 0];
        y[i + 1] += a * x[i + 1];
        y[i + 2] += a * x[i + 2];
        y[i + 3] += a * x[i + 3];
        y[i + 4] += a * x[i + 4];
        y[i + 5] += a * x[i + 5];
        y[i + 6] += a * x[i + 6];
        y[i + 7] += a * x[i + 7];
    }
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* y[i] += x[i] * w[i] */
static void vmadd(float *restrict y, const float *restrict x, const float *restrict w, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        y[i + 0] += x[i + 0] * w[i + 0];
        y[i + 1] += x[i + 1] * w[i + 1];
        y[i + 2] += x[i + 2] * w[i + 2];
        y[i + 3] += x[i + 3] * w[i + 3];
        y[i + 4] += x[i + 4] * w[i + 4];
        y[i + 5] += x[i + 5] * w[i + 5];
        y[i + 6] += x[i + 6] * w[i + 6];
        y[i + 7] += x[i + 7] * w[i + 7];
    }
    for (; i < n; i++)
        y[i] += x[i] * w[i];
}

/* ---- activations ------------------------------------------------------------------------- */

/* An activation with its parameters, as tfjs's applyActivation() (fused_utils.ts) applies it. */
typedef struct act_params {
    vs_act act;
    float lo, hi;         /* CLAMP bounds */
    float alpha;          /* LEAKY_RELU slope */
    const float *alpha_v; /* PRELU slopes: one per channel of the row, or one for all */
    int64_t n_alpha;
} act_params;

/* y = act(x) over len elements (x may equal y).  Matches tfjs's Relu (Math.max(0, x)), Relu6,
 * ClipByValue, Prelu, LeakyRelu and Sigmoid (1 / (1 + Math.exp(-x)) in double) kernels,
 * including their NaN behaviour: NaN passes through. */
static void act_row(const act_params *p, const float *x, float *y, int64_t len)
{
    switch (p->act) {
    case VS_ACT_NONE:
        if (x != y)
            memcpy(y, x, (size_t)len * sizeof *y);
        break;
    case VS_ACT_RELU:
        for (int64_t i = 0; i < len; i++)
            y[i] = x[i] < 0.0f ? 0.0f : x[i];
        break;
    case VS_ACT_RELU6:
        for (int64_t i = 0; i < len; i++)
            y[i] = x[i] < 0.0f ? 0.0f : (x[i] > 6.0f ? 6.0f : x[i]);
        break;
    case VS_ACT_CLAMP:
        for (int64_t i = 0; i < len; i++)
            y[i] = x[i] > p->hi ? p->hi : (x[i] < p->lo ? p->lo : x[i]);
        break;
    case VS_ACT_PRELU:
        for (int64_t i = 0; i < len; i++)
            y[i] = x[i] < 0.0f ? p->alpha_v[p->n_alpha == 1 ? 0 : i] * x[i] : x[i];
        break;
    case VS_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < len; i++)
            y[i] = x[i] < 0.0f ? p->alpha * x[i] : x[i];
        break;
    case VS_ACT_SIGMOID:
        for (int64_t i = 0; i < len; i++)
            y[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
        break;
    }
}

/* The fused tail of CONV2D, DWCONV2D and MATMUL: add(bias) then the activation, per row of ch
 * output channels (tfjs's FusedConv2D / FusedDepthwiseConv2D / _FusedMatMul). */
typedef struct epilogue {
    const float *bias; /* ch values, one, or NULL */
    int64_t n_bias;
    act_params act;
} epilogue;

/* Reads bias (input 2) and PReLU alpha (input 3) for rows of ch channels. */
static vs_status epilogue_make(const vs_node *n, const vs_tview *in, int64_t ch, epilogue *ep)
{
    const vs_tview *bias = opt_in(n, in, 2);
    const vs_tview *alpha = opt_in(n, in, 3);

    memset(ep, 0, sizeof *ep);
    if ((unsigned)n->act > (unsigned)VS_ACT_SIGMOID)
        return VS_UNSUPPORTED;
    if (bias) {
        ep->bias = bias->data;
        ep->n_bias = numel(&bias->shape);
        if (ep->n_bias != ch && ep->n_bias != 1)
            return VS_INVAL;
    }
    ep->act = (act_params){n->act, n->act_min, n->act_max, n->alpha, NULL, 0};
    if (n->act == VS_ACT_PRELU) {
        if (!alpha)
            return VS_INVAL;
        ep->act.alpha_v = alpha->data;
        ep->act.n_alpha = numel(&alpha->shape);
        if (ep->act.n_alpha != ch && ep->act.n_alpha != 1)
            return VS_INVAL;
    }
    return VS_OK;
}

static void epilogue_row(const epilogue *ep, float *y, int64_t ch)
{
    if (ep->bias) {
        for (int64_t i = 0; i < ch; i++)
            y[i] += ep->bias[ep->n_bias == 1 ? 0 : i];
    }
    act_row(&ep->act, y, y, ch);
}

/* ---- convolutions ------------------------------------------------------------------------ */

/* Geometry shared by convolutions and pooling (NHWC). */
typedef struct win2d {
    int64_t n, h, w, c; /* input */
    int64_t oh, ow, oc; /* output */
    int64_t kh, kw;
    int64_t sh, sw, dh, dw; /* stride, dilation */
    int64_t pt, pl;         /* top and left padding */
} win2d;

/* Fills g from a rank-4 input, a rank-4 output and the node's window attributes. */
static vs_status win2d_make(const vs_node *n, const vs_shape *x, const vs_shape *y, int64_t kh,
                            int64_t kw, win2d *g)
{
    if (x->rank != 4 || y->rank != 4 || x->dim[0] != y->dim[0])
        return VS_INVAL;
    *g = (win2d){.n = x->dim[0],
                 .h = x->dim[1],
                 .w = x->dim[2],
                 .c = x->dim[3],
                 .oh = y->dim[1],
                 .ow = y->dim[2],
                 .oc = y->dim[3],
                 .kh = kh,
                 .kw = kw,
                 .sh = n->stride[0],
                 .sw = n->stride[1],
                 .dh = n->dilation[0],
                 .dw = n->dilation[1],
                 .pt = n->pad[0],
                 .pl = n->pad[2]};
    if (g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1 || kh < 1 || kw < 1)
        return VS_INVAL;
    return VS_OK;
}

/*
 * CONV2D: tfjs's Conv2D (channelsLast) + FusedConv2D.  filter is HWIO; each output element sums
 * x * w over filter row, filter column, input channel in that order, in float, skipping taps that
 * fall in the padding.
 * DWCONV2D (depthwise = 1): tfjs's DepthwiseConv2dNative + FusedDepthwiseConv2D.  filter is
 * [KH,KW,C,M]; output channel c*M + m sums x[..c] * w[.., c, m] over filter row then column, in
 * float.
 */
static vs_status conv2d(const vs_node *n, const vs_tview *in, vs_tview *out, int depthwise)
{
    const vs_shape *fs = &in[1].shape;
    win2d g;
    epilogue ep;
    vs_status st;

    if (n->n_in < 2 || !in[1].data || fs->rank != 4)
        return VS_INVAL;
    st = win2d_make(n, &in[0].shape, &out->shape, fs->dim[0], fs->dim[1], &g);
    if (st != VS_OK)
        return st;
    const int64_t m = fs->dim[3]; /* depthwise: the depth multiplier */
    if (fs->dim[2] != g.c || (depthwise ? g.c * m : m) != g.oc)
        return VS_INVAL;
    st = epilogue_make(n, in, g.oc, &ep);
    if (st != VS_OK)
        return st;

    const float *w = in[1].data;
    const int64_t tap_size = depthwise ? g.oc : g.c * g.oc; /* filter floats per (ky, kx) */
    for (int64_t b = 0; b < g.n; b++) {
        const float *xb = in[0].data + b * g.h * g.w * g.c;
        for (int64_t oy = 0; oy < g.oh; oy++) {
            for (int64_t ox = 0; ox < g.ow; ox++) {
                float *y = out->data + ((b * g.oh + oy) * g.ow + ox) * g.oc;
                memset(y, 0, (size_t)g.oc * sizeof *y);
                for (int64_t ky = 0; ky < g.kh; ky++) {
                    int64_t iy = oy * g.sh - g.pt + ky * g.dh;
                    if (iy < 0 || iy >= g.h)
                        continue;
                    for (int64_t kx = 0; kx < g.kw; kx++) {
                        int64_t ix = ox * g.sw - g.pl + kx * g.dw;
                        if (ix < 0 || ix >= g.w)
                            continue;
                        const float *xp = xb + (iy * g.w + ix) * g.c;
                        const float *wp = w + (ky * g.kw + kx) * tap_size;
                        if (!depthwise) {
                            for (int64_t c = 0; c < g.c; c++)
                                axpy(y, xp[c], wp + c * g.oc, g.oc);
                        } else if (m == 1) {
                            vmadd(y, xp, wp, g.c);
                        } else {
                            for (int64_t o = 0; o < g.oc; o++)
                                y[o] += xp[o / m] * wp[o];
                        }
                    }
                }
                epilogue_row(&ep, y, g.oc);
            }
        }
    }
    return VS_OK;
}

/* ---- matmul ------------------------------------------------------------------------------ */

/* Element offset of batch bi of an operand whose leading (batch) dims broadcast against the
 * output's: dims of size 1 repeat.  `mat` is the size of one matrix of the operand. */
static int64_t batch_offset(int64_t bi, const vs_shape *out, int out_batch_rank, const vs_shape *op,
                            int64_t mat)
{
    int op_batch_rank = op->rank - 2;
    int64_t off = 0, stride = mat;
    for (int d = out_batch_rank - 1; d >= 0; d--) {
        int64_t c = bi % out->dim[d];
        bi /= out->dim[d];
        int od = d - (out_batch_rank - op_batch_rank);
        if (od < 0)
            break;
        if (op->dim[od] != 1)
            off += c * stride;
        stride *= op->dim[od];
    }
    return off;
}

/* True when every batch dim of op (aligned right) is 1 or the output's. */
static int batch_dims_ok(const vs_shape *out, const vs_shape *op)
{
    int ob = out->rank - 2, pb = op->rank - 2;
    if (pb > ob)
        return 0;
    for (int d = 0; d < pb; d++) {
        int64_t v = op->dim[d], o = out->dim[d + ob - pb];
        if (v != 1 && v != o)
            return 0;
    }
    return 1;
}

/* One matrix: y[M,N] = op(a) op(b), summing over k in ascending order in float. */
static void matmul_one(const float *a, const float *b, float *y, int64_t M, int64_t K, int64_t N,
                       int ta, int tb, const epilogue *ep)
{
    for (int64_t i = 0; i < M; i++) {
        float *yr = y + i * N;
        if (tb) {
            /* b is [N,K]: a dot product per output keeps both reads contiguous. */
            for (int64_t j = 0; j < N; j++) {
                float acc = 0.0f;
                for (int64_t k = 0; k < K; k++)
                    acc += (ta ? a[k * M + i] : a[i * K + k]) * b[j * K + k];
                yr[j] = acc;
            }
        } else {
            memset(yr, 0, (size_t)N * sizeof *yr);
            for (int64_t k = 0; k < K; k++) {
                axpy(yr, ta ? a[k * M + i] : a[i * K + k], b + k * N, N);
            }
        }
        epilogue_row(ep, yr, N);
    }
}

/* MATMUL: tfjs's BatchMatMul + _FusedMatMul.  a is [..., M, K] ([..., K, M] if transpose_a), b
 * is [..., K, N] ([..., N, K] if transpose_b); batch dims broadcast as tf.matMul documents
 * (tfjs's CPU kernel indexes flattened batches modulo their count, which agrees whenever one
 * side's batch is 1 or both are equal, the only cases tf.matMul accepts in practice). */
static vs_status matmul(const vs_node *n, const vs_tview *in, vs_tview *out)
{
    const vs_shape *as = &in[0].shape, *bs = &in[1].shape, *ys = &out->shape;
    epilogue ep;

    if (n->n_in < 2 || !in[1].data || as->rank < 2 || bs->rank < 2 || ys->rank < 2)
        return VS_INVAL;
    int ta = n->transpose_a != 0, tb = n->transpose_b != 0;
    int64_t M = as->dim[as->rank - 2 + ta], K = as->dim[as->rank - 1 - ta];
    int64_t Kb = bs->dim[bs->rank - 2 + tb], N = bs->dim[bs->rank - 1 - tb];
    if (K != Kb || ys->dim[ys->rank - 2] != M || ys->dim[ys->rank - 1] != N)
        return VS_INVAL;
    if (!batch_dims_ok(ys, as) || !batch_dims_ok(ys, bs))
        return VS_INVAL;
    vs_status st = epilogue_make(n, in, N, &ep);
    if (st != VS_OK)
        return st;

    if (M * N == 0)
        return VS_OK;
    int64_t batches = numel(ys) / (M * N);
    for (int64_t bi = 0; bi < batches; bi++) {
        const float *a = in[0].data + batch_offset(bi, ys, ys->rank - 2, as, M * K);
        const float *b = in[1].data + batch_offset(bi, ys, ys->rank - 2, bs, K * N);
        matmul_one(a, b, out->data + bi * M * N, M, K, N, ta, tb, &ep);
    }
    return VS_OK;
}

/* ---- element-wise ------------------------------------------------------------------------ */

/* How two operands broadcast to the output, with dims of size 1 dropped and adjacent dims that
 * walk both operands the same way merged, so the innermost dim is as long as possible. */
typedef struct bplan {
    int rank;
    int64_t dim[VS_MAX_DIMS];
    int64_t sa[VS_MAX_DIMS], sb[VS_MAX_DIMS]; /* element strides, 0 where broadcast */
} bplan;

/* Aligned (right) strides of op against out, 0 on broadcast dims; VS_INVAL if incompatible. */
static vs_status bcast_strides(const vs_shape *op, const vs_shape *out, int64_t *s)
{
    int off = out->rank - op->rank;
    int64_t acc = 1;
    if (off < 0)
        return VS_INVAL;
    for (int d = out->rank - 1; d >= 0; d--) {
        int64_t v = d >= off ? op->dim[d - off] : 1;
        if (v != 1 && v != out->dim[d])
            return VS_INVAL;
        s[d] = v == 1 ? 0 : acc;
        acc *= v;
    }
    return VS_OK;
}

static vs_status bplan_make(const vs_shape *a, const vs_shape *b, const vs_shape *out, bplan *p)
{
    int64_t sa[VS_MAX_DIMS], sb[VS_MAX_DIMS];
    if (out->rank > VS_MAX_DIMS || bcast_strides(a, out, sa) != VS_OK ||
        bcast_strides(b, out, sb) != VS_OK)
        return VS_INVAL;
    p->rank = 0;
    for (int d = 0; d < out->rank; d++) {
        if (out->dim[d] == 1)
            continue;
        int r = p->rank;
        if (r > 0 && p->sa[r - 1] == sa[d] * out->dim[d] && p->sb[r - 1] == sb[d] * out->dim[d]) {
            p->dim[r - 1] *= out->dim[d];
            p->sa[r - 1] = sa[d];
            p->sb[r - 1] = sb[d];
            continue;
        }
        p->dim[r] = out->dim[d];
        p->sa[r] = sa[d];
        p->sb[r] = sb[d];
        p->rank++;
    }
    if (p->rank == 0) {
        p->rank = 1;
        p->dim[0] = 1;
        p->sa[0] = p->sb[0] = 0;
    }
    return VS_OK;
}

/* One run of a binary op: the formulas of tfjs's Add, Sub, Multiply, RealDiv, Minimum and
 * Maximum (Math.min / Math.max, so NaN wins) and Prelu (x < 0 ? alpha * x : x). */
static void binary_row(vs_op op, const float *a, int64_t sa, const float *b, int64_t sb, float *y,
                       int64_t len)
{
    switch (op) {
    case VS_OP_ADD:
        for (int64_t i = 0; i < len; i++)
            y[i] = a[i * sa] + b[i * sb];
        break;
    case VS_OP_SUB:
        for (int64_t i = 0; i < len; i++)
            y[i] = a[i * sa] - b[i * sb];
        break;
    case VS_OP_MUL:
        for (int64_t i = 0; i < len; i++)
            y[i] = a[i * sa] * b[i * sb];
        break;
    case VS_OP_DIV:
        for (int64_t i = 0; i < len; i++)
            y[i] = a[i * sa] / b[i * sb];
        break;
    case VS_OP_MINIMUM:
        for (int64_t i = 0; i < len; i++) {
            float u = a[i * sa], v = b[i * sb];
            y[i] = (isnan(u) || u < v) ? u : v;
        }
        break;
    case VS_OP_MAXIMUM:
        for (int64_t i = 0; i < len; i++) {
            float u = a[i * sa], v = b[i * sb];
            y[i] = (isnan(u) || u > v) ? u : v;
        }
        break;
    case VS_OP_PRELU:
        for (int64_t i = 0; i < len; i++) {
            float u = a[i * sa];
            y[i] = u < 0.0f ? b[i * sb] * u : u;
        }
        break;
    default:
        break;
    }
}

/* ADD SUB MUL DIV MINIMUM MAXIMUM PRELU: NumPy broadcasting of in[0] and in[1] to out (tfjs's
 * binaryKernelFunc / createSimpleBinaryKernelImpl). */
static vs_status binary(const vs_node *n, const vs_tview *in, vs_tview *out)
{
    bplan p;
    act_params act = {n->act, n->act_min, n->act_max, n->alpha, NULL, 0};
    if (n->n_in < 2 || !in[1].data)
        return VS_INVAL;
    if (n->act != VS_ACT_NONE && n->act != VS_ACT_RELU && n->act != VS_ACT_RELU6 &&
        n->act != VS_ACT_CLAMP)
        return VS_UNSUPPORTED;
    if (bplan_make(&in[0].shape, &in[1].shape, &out->shape, &p) != VS_OK)
        return VS_INVAL;
    int64_t total = numel(&out->shape), inner = p.dim[p.rank - 1];
    if (total == 0)
        return VS_OK;
    for (int64_t r = 0; r < total / inner; r++) {
        int64_t rem = r, oa = 0, ob = 0;
        for (int d = p.rank - 2; d >= 0; d--) {
            int64_t c = rem % p.dim[d];
            rem /= p.dim[d];
            oa += c * p.sa[d];
            ob += c * p.sb[d];
        }
        binary_row(n->op, in[0].data + oa, p.sa[p.rank - 1], in[1].data + ob, p.sb[p.rank - 1],
                   out->data + r * inner, inner);
        if (n->act != VS_ACT_NONE) /* a clamp fused by graph_opt.c */
            act_row(&act, out->data + r * inner, out->data + r * inner, inner);
    }
    return VS_OK;
}

/* Unary ops: tfjs's Abs (Math.abs), Neg (x * -1), Tanh, Exp, Sqrt (Math.* in double, rounded to
 * float), Square (x * x), Rsqrt (1 / Math.sqrt(x)); Relu, Relu6, LeakyRelu, Sigmoid and
 * ClipByValue share the fused activations' code. */
static vs_status unary(const vs_node *n, const vs_tview *in, vs_tview *out)
{
    const float *x = in[0].data;
    float *y = out->data;
    int64_t len = numel(&out->shape);
    act_params p = {VS_ACT_NONE, n->act_min, n->act_max, n->alpha, NULL, 0};

    if (numel(&in[0].shape) != len)
        return VS_INVAL;
    switch (n->op) {
    case VS_OP_ABS:
        for (int64_t i = 0; i < len; i++)
            y[i] = fabsf(x[i]);
        return VS_OK;
    case VS_OP_NEG:
        for (int64_t i = 0; i < len; i++)
            y[i] = x[i] * -1.0f;
        return VS_OK;
    case VS_OP_TANH:
        for (int64_t i = 0; i < len; i++)
            y[i] = (float)tanh((double)x[i]);
        return VS_OK;
    case VS_OP_EXP:
        for (int64_t i = 0; i < len; i++)
            y[i] = (float)exp((double)x[i]);
        return VS_OK;
    case VS_OP_SQUARE:
        for (int64_t i = 0; i < len; i++)
            y[i] = x[i] * x[i];
        return VS_OK;
    case VS_OP_SQRT:
        for (int64_t i = 0; i < len; i++)
            y[i] = (float)sqrt((double)x[i]);
        return VS_OK;
    case VS_OP_RSQRT:
        for (int64_t i = 0; i < len; i++)
            y[i] = (float)(1.0 / sqrt((double)x[i]));
        return VS_OK;
    case VS_OP_RELU:
        p.act = VS_ACT_RELU;
        break;
    case VS_OP_RELU6:
        p.act = VS_ACT_RELU6;
        break;
    case VS_OP_LEAKY_RELU:
        p.act = VS_ACT_LEAKY_RELU;
        break;
    case VS_OP_SIGMOID:
        p.act = VS_ACT_SIGMOID;
        break;
    case VS_OP_CLAMP:
        p.act = VS_ACT_CLAMP;
        break;
    default:
        return VS_UNSUPPORTED;
    }
    act_row(&p, x, y, len);
    return VS_OK;
}

/* AFFINE: MUL by sb[0] then ADD of sb[1] (each rounded to float, as those two nodes compute)
 * and the clamp graph_opt.c fused, over the inputs concatenated along their last dim. */
static vs_status affine(const vs_node *n, const vs_tview *in, vs_tview *out)
{
    const int k = n->n_in - 1;
    const vs_shape *ys = &out->shape;
    act_params act = {n->act, n->act_min, n->act_max, n->alpha, NULL, 0};
    if (k < 1 || ys->rank < 1 || !in[k].data)
        return VS_INVAL;
    if (n->act != VS_ACT_NONE && n->act != VS_ACT_RELU && n->act != VS_ACT_RELU6 &&
        n->act != VS_ACT_CLAMP)
        return VS_UNSUPPORTED;
    const int64_t ch = ys->dim[ys->rank - 1], rows = ch ? numel(ys) / ch : 0;
    int64_t sum = 0;
    for (int i = 0; i < k; i++) {
        const vs_shape *s = &in[i].shape;
        if (!in[i].data || s->rank != ys->rank || numel(s) != rows * s->dim[s->rank - 1])
            return VS_INVAL;
        sum += s->dim[s->rank - 1];
    }
    if (sum != ch || numel(&in[k].shape) != 2 * ch)
        return VS_INVAL;
    const float *scale = in[k].data, *bias = in[k].data + ch;
    for (int64_t r = 0; r < rows; r++) {
        float *y = out->data + r * ch;
        int64_t c0 = 0;
        for (int i = 0; i < k; i++) {
            const int64_t w = in[i].shape.dim[ys->rank - 1];
            const float *x = in[i].data + r * w;
            for (int64_t c = 0; c < w; c++) {
                const float m = x[c] * scale[c0 + c];
                y[c0 + c] = m + bias[c0 + c];
            }
            c0 += w;
        }
        act_row(&act, y, y, ch);
    }
    return VS_OK;
}

/* ---- softmax, pooling, reductions -------------------------------------------------------- */

/* SOFTMAX: tfjs's Softmax kernel: m = max (NaN wins), e = exp(x - m) with x - m in float and exp
 * in double, s = sum of e in double rounded to float, y = e / s.  Any axis (tfjs's CPU kernel
 * only takes the last; other axes follow the same formula). */
static vs_status softmax(const vs_node *n, const vs_tview *in, vs_tview *out)
{
    const vs_shape *s = &in[0].shape;
    int axis = n->axis < 0 ? n->axis + s->rank : n->axis;
    if (axis < 0 || axis >= s->rank || numel(&out->shape) != numel(s))
        return VS_INVAL;
    int64_t outer = 1, len = s->dim[axis], inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= s->dim[d];
    for (int d = axis + 1; d < s->rank; d++)
        inner *= s->dim[d];
    if (len == 0)
        return VS_OK;

    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            const float *x = in[0].data + o * len * inner + i;
            float *y = out->data + o * len * inner + i;
            float m = x[0];
            for (int64_t l = 0; l < len; l++) {
                if (isnan(x[l * inner]) || x[l * inner] > m)
                    m = x[l * inner];
            }
            double sum = 0.0;
            for (int64_t l = 0; l < len; l++) {
                y[l * inner] = (float)exp((double)(x[l * inner] - m));
                sum += y[l * inner];
            }
            float fs = (float)sum;
            for (int64_t l = 0; l < len; l++)
                y[l * inner] /= fs;
        }
    }
    return VS_OK;
}

/* MAXPOOL / AVGPOOL: tfjs's pool() (pool_utils.ts).  The window is clipped to the input, so
 * padded elements are ignored by both; max ignores NaN (pixel > max); average is the double sum
 * of the valid elements divided by their count (NaN for an all-padding window, as in tfjs). */
static vs_status pool2d(const vs_node *n, const vs_tview *in, vs_tview *out)
{
    win2d g;
    double acc[ACC_CHUNK];
    int is_max = n->op == VS_OP_MAXPOOL;

    if (win2d_make(n, &in[0].shape, &out->shape, n->ksize[0], n->ksize[1], &g) != VS_OK)
        return VS_INVAL;
    if (g.c != g.oc)
        return VS_INVAL;
    if (g.dh != 1 || g.dw != 1)
        return VS_UNSUPPORTED;

    for (int64_t b = 0; b < g.n; b++) {
        for (int64_t oy = 0; oy < g.oh; oy++) {
            int64_t y0 = oy * g.sh - g.pt, y1 = y0 + g.kh;
            y0 = y0 < 0 ? 0 : y0;
            y1 = y1 > g.h ? g.h : y1;
            for (int64_t ox = 0; ox < g.ow; ox++) {
                int64_t x0 = ox * g.sw - g.pl, x1 = x0 + g.kw;
                x0 = x0 < 0 ? 0 : x0;
                x1 = x1 > g.w ? g.w : x1;
                int64_t count = (y1 > y0 && x1 > x0) ? (y1 - y0) * (x1 - x0) : 0;
                float *y = out->data + ((b * g.oh + oy) * g.ow + ox) * g.c;
                for (int64_t c0 = 0; c0 < g.c; c0 += ACC_CHUNK) {
                    int64_t nc = g.c - c0 < ACC_CHUNK ? g.c - c0 : ACC_CHUNK;
                    for (int64_t c = 0; c < nc; c++)
                        acc[c] = is_max ? -INFINITY : 0.0;
                    for (int64_t iy = y0; iy < y1; iy++) {
                        for (int64_t ix = x0; ix < x1; ix++) {
                            const float *xp = in[0].data + ((b * g.h + iy) * g.w + ix) * g.c + c0;
                            if (is_max) {
                                for (int64_t c = 0; c < nc; c++)
                                    acc[c] = xp[c] > acc[c] ? xp[c] : acc[c];
                            } else {
                                for (int64_t c = 0; c < nc; c++)
                                    acc[c] += xp[c];
                            }
                        }
                    }
                    for (int64_t c = 0; c < nc; c++) {
                        if (is_max)
                            y[c0 + c] = (float)acc[c];
                        else
                            y[c0 + c] = count > 0 ? (float)(acc[c] / (double)count) : NAN;
                    }
                }
            }
        }
    }
    return VS_OK;
}

/* A reduction's input seen as alternating groups of kept and reduced dims (size-1 dims dropped,
 * neighbours of the same kind merged), kept and reduced dims listed separately. */
typedef struct rplan {
    int nk, nr;
    int64_t kdim[VS_MAX_DIMS], kstr[VS_MAX_DIMS]; /* kept dims and their input strides */
    int64_t rdim[VS_MAX_DIMS], rstr[VS_MAX_DIMS]; /* reduced dims and their input strides */
    int64_t kept, reduced;                        /* element counts */
} rplan;

static void rplan_make(const vs_shape *s, uint32_t mask, rplan *p)
{
    int64_t st[VS_MAX_DIMS];
    int last = -1; /* kind of the previous dim kept: 0 kept, 1 reduced */
    strides_of(s, st);
    memset(p, 0, sizeof *p);
    p->kept = p->reduced = 1;
    for (int d = 0; d < s->rank; d++) {
        int red = (mask >> d) & 1u;
        if (s->dim[d] == 1)
            continue;
        int64_t *dim = red ? p->rdim : p->kdim, *str = red ? p->rstr : p->kstr;
        int *cnt = red ? &p->nr : &p->nk;
        if (red)
            p->reduced *= s->dim[d];
        else
            p->kept *= s->dim[d];
        if (last == red && *cnt > 0) {
            dim[*cnt - 1] *= s->dim[d];
            str[*cnt - 1] = st[d];
        } else {
            dim[*cnt] = s->dim[d];
            str[*cnt] = st[d];
            (*cnt)++;
        }
        last = red;
    }
}

/* Input offset of flat index i over dims[0..n) with strides str. */
static int64_t flat_offset(int64_t i, const int64_t *dims, const int64_t *str, int n)
{
    int64_t off = 0;
    for (int d = n - 1; d >= 0; d--) {
        off += (i % dims[d]) * str[d];
        i /= dims[d];
    }
    return off;
}

/* MEAN / SUM / REDUCE_MAX: tfjs's Mean (x / count in float, then Sum), Sum (double sum in
 * row-major order of the reduced dims) and Max (maxImpl: NaN wins).  When the innermost dim is
 * kept, ACC_CHUNK outputs are accumulated at once so the inner loop reads contiguous memory. */
static vs_status reduce(const vs_node *n, const vs_tview *in, vs_tview *out)
{
    const vs_shape *s = &in[0].shape;
    rplan p;
    double acc[ACC_CHUNK];
    int is_max = n->op == VS_OP_REDUCE_MAX, is_mean = n->op == VS_OP_MEAN;

    if (s->rank < 32 && (n->axes_mask >> s->rank) != 0)
        return VS_INVAL;
    rplan_make(s, n->axes_mask, &p);
    if (numel(s) == 0 || p.kept != numel(&out->shape))
        return numel(s) == 0 ? VS_OK : VS_INVAL;

    /* The innermost group (stride 1) is walked as a contiguous run: when it is kept, ACC_CHUNK
     * outputs at a time (ki); when it is reduced, as the run summed into one output (ri). */
    int64_t ki = (p.nk > 0 && p.kstr[p.nk - 1] == 1) ? p.kdim[p.nk - 1] : 1;
    int64_t ri = (p.nr > 0 && p.rstr[p.nr - 1] == 1) ? p.rdim[p.nr - 1] : 1;
    int nko = ki > 1 ? p.nk - 1 : p.nk, nro = ri > 1 ? p.nr - 1 : p.nr;
    float cnt = (float)p.reduced;
    for (int64_t o = 0; o < p.kept / ki; o++) {
        const float *xo = in[0].data + flat_offset(o, p.kdim, p.kstr, nko);
        for (int64_t k0 = 0; k0 < ki; k0 += ACC_CHUNK) {
            int64_t nc = ki - k0 < ACC_CHUNK ? ki - k0 : ACC_CHUNK;
            for (int64_t k = 0; k < nc; k++)
                acc[k] = is_max ? -INFINITY : 0.0;
            for (int64_t r = 0; r < p.reduced / ri; r++) {
                const float *xr = xo + flat_offset(r, p.rdim, p.rstr, nro) + k0;
                for (int64_t j = 0; j < ri; j++) {
                    const float *xp = xr + j;
                    for (int64_t k = 0; k < nc; k++) {
                        if (is_max)
                            acc[k] = (isnan(xp[k]) || xp[k] > acc[k]) ? xp[k] : acc[k];
                        else
                            acc[k] += is_mean ? xp[k] / cnt : xp[k];
                    }
                }
            }
            for (int64_t k = 0; k < nc; k++)
                out->data[o * ki + k0 + k] = (float)acc[k];
        }
    }
    return VS_OK;
}

/* ---- data movement ----------------------------------------------------------------------- */

/* PAD: tfjs's PadV2: the output is filled with pad_value and the input copied at offset
 * pads[d][0] in every dim. */
static vs_status pad(const vs_node *n, const vs_tview *in, vs_tview *out)
{
    const vs_shape *s = &in[0].shape, *ys = &out->shape;
    int64_t ost[VS_MAX_DIMS];
    if (s->rank != ys->rank)
        return VS_INVAL;
    for (int d = 0; d < s->rank; d++) {
        if (n->pads[d][0] < 0 || n->pads[d][1] < 0 ||
            ys->dim[d] != s->dim[d] + n->pads[d][0] + n->pads[d][1])
            return VS_INVAL;
    }
    int64_t total = numel(ys), len = numel(s);
    for (int64_t i = 0; i < total; i++)
        out->data[i] = n->pad_value;
    if (len == 0)
        return VS_OK;
    if (s->rank == 0) {
        out->data[0] = in[0].data[0];
        return VS_OK;
    }
    strides_of(ys, ost);
    int64_t inner = s->dim[s->rank - 1];
    for (int64_t r = 0; r < len / inner; r++) {
        int64_t rem = r, off = n->pads[s->rank - 1][0];
        for (int d = s->rank - 2; d >= 0; d--) {
            off += (rem % s->dim[d] + n->pads[d][0]) * ost[d];
            rem /= s->dim[d];
        }
        memcpy(out->data + off, in[0].data + r * inner, (size_t)inner * sizeof(float));
    }
    return VS_OK;
}

/* RESHAPE / IDENTITY / SQUEEZE: tfjs's Reshape, Identity and Squeeze share the data; we copy
 * unless the runtime already made the output an alias of the input. */
static vs_status copy_op(const vs_tview *in, vs_tview *out)
{
    int64_t len = numel(&out->shape);
    if (numel(&in[0].shape) != len)
        return VS_INVAL;
    if (out->data != in[0].data && len > 0)
        memmove(out->data, in[0].data, (size_t)len * sizeof(float));
    return VS_OK;
}

/* TRANSPOSE: tfjs's Transpose: out.dim[d] = in.dim[perm[d]]. */
static vs_status transpose(const vs_node *n, const vs_tview *in, vs_tview *out)
{
    const vs_shape *s = &in[0].shape, *ys = &out->shape;
    int64_t ist[VS_MAX_DIMS], pst[VS_MAX_DIMS];
    unsigned seen = 0;
    int r = s->rank;
    if (ys->rank != r)
        return VS_INVAL;
    strides_of(s, ist);
    for (int d = 0; d < r; d++) {
        int p = n->perm[d];
        if (p < 0 || p >= r || (seen & (1u << p)) || ys->dim[d] != s->dim[p])
            return VS_INVAL;
        seen |= 1u << p;
        pst[d] = ist[p];
    }
    int64_t total = numel(ys);
    if (total == 0)
        return VS_OK;
    if (r == 0) {
        out->data[0] = in[0].data[0];
        return VS_OK;
    }
    int64_t inner = ys->dim[r - 1], is = pst[r - 1];
    for (int64_t row = 0; row < total / inner; row++) {
        const float *x = in[0].data + flat_offset(row, ys->dim, pst, r - 1);
        float *y = out->data + row * inner;
        for (int64_t i = 0; i < inner; i++)
            y[i] = x[i * is];
    }
    return VS_OK;
}

/* Copies n floats: a plain loop for short runs (fr_detect concatenates and slices thousands of
 * rows of two), where a call to memcpy costs more than the copy.  GCC would turn the loop back
 * into a memcpy call: COPY_OPTS, on this helper and on the kernels that inline it, stops it. */
#if defined(__GNUC__) && !defined(__clang__)
#define COPY_OPTS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define COPY_OPTS
#endif

COPY_OPTS static inline __attribute__((always_inline)) void
copy_run(float *restrict y, const float *restrict x, int64_t n)
{
    if (n >= 16) {
        memcpy(y, x, (size_t)n * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i];
}

/* CONCAT: tfjs's Concat: inputs laid one after the other along axis. */
COPY_OPTS static vs_status concat(const vs_node *n, const vs_tview *in, vs_tview *out)
{
    const vs_shape *ys = &out->shape;
    int axis = n->axis < 0 ? n->axis + ys->rank : n->axis;
    int64_t sum = 0, outer = 1, inner = 1;
    if (axis < 0 || axis >= ys->rank || n->n_in < 1)
        return VS_INVAL;
    for (int i = 0; i < n->n_in; i++) {
        const vs_shape *s = &in[i].shape;
        if (!in[i].data || s->rank != ys->rank)
            return VS_INVAL;
        for (int d = 0; d < s->rank; d++) {
            if (d != axis && s->dim[d] != ys->dim[d])
                return VS_INVAL;
        }
        sum += s->dim[axis];
    }
    if (sum != ys->dim[axis])
        return VS_INVAL;
    for (int d = 0; d < axis; d++)
        outer *= ys->dim[d];
    for (int d = axis + 1; d < ys->rank; d++)
        inner *= ys->dim[d];
    float *y = out->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int i = 0; i < n->n_in; i++) {
            int64_t chunk = in[i].shape.dim[axis] * inner;
            copy_run(y, in[i].data + o * chunk, chunk);
            y += chunk;
        }
    }
    return VS_OK;
}

/* SLICE: tfjs's Slice: out[i...] = in[begin + i...]; sizes come from the inferred out shape. */
COPY_OPTS static vs_status slice(const vs_node *n, const vs_tview *in, vs_tview *out)
{
    const vs_shape *s = &in[0].shape, *ys = &out->shape;
    int64_t ist[VS_MAX_DIMS];
    int r = s->rank;
    if (ys->rank != r)
        return VS_INVAL;
    for (int d = 0; d < r; d++) {
        if (n->begin[d] < 0 || n->begin[d] + ys->dim[d] > s->dim[d])
            return VS_INVAL;
    }
    int64_t total = numel(ys);
    if (total == 0)
        return VS_OK;
    if (r == 0) {
        out->data[0] = in[0].data[0];
        return VS_OK;
    }
    strides_of(s, ist);
    const float *x = in[0].data;
    for (int d = 0; d < r; d++)
        x += n->begin[d] * ist[d];
    /* The dims after d0 are taken whole, so each index of dims [0, d0) is one contiguous run;
     * the loop walks those indices as an odometer. */
    int d0 = r - 1;
    while (d0 > 0 && ys->dim[d0] == s->dim[d0])
        d0--;
    const int64_t run = ys->dim[d0] * ist[d0];
    int64_t idx[VS_MAX_DIMS] = {0};
    float *y = out->data;
    for (int64_t row = 0; row < total / run; row++, y += run) {
        copy_run(y, x, run);
        for (int d = d0 - 1; d >= 0; d--) {
            x += ist[d];
            if (++idx[d] < ys->dim[d])
                break;
            x -= ist[d] * ys->dim[d];
            idx[d] = 0;
        }
    }
    return VS_OK;
}

/* Source coordinate of output index i for tfjs's ResizeBilinear: floor/ceil neighbours and the
 * fraction between them, computed in double as the JavaScript kernel does. */
static void bilinear_src(double ratio, int hpc, int64_t i, int64_t in_size, int64_t *lo,
                         int64_t *hi, double *frac)
{
    double src = hpc ? ratio * ((double)i + 0.5) - 0.5 : ratio * (double)i;
    double fl = floor(src);
    *lo = fl > 0.0 ? (int64_t)fl : 0;
    if (*lo > in_size - 1) /* cannot happen for in-range ratios; guards the reads */
        *lo = in_size - 1;
    *frac = src - (double)*lo;
    double ce = ceil(src);
    *hi = ce < (double)(in_size - 1) ? (int64_t)ce : in_size - 1;
    if (*hi < 0)
        *hi = 0;
}

/* RESIZE_BILINEAR: tfjs's ResizeBilinear (tf.image.resizeBilinear) with align_corners and
 * half_pixel_centers; interpolation in double, rounded once to float. */
static vs_status resize_bilinear(const vs_node *n, const vs_tview *in, vs_tview *out)
{
    const vs_shape *s = &in[0].shape, *ys = &out->shape;
    if (s->rank != 4 || ys->rank != 4 || s->dim[0] != ys->dim[0] || s->dim[3] != ys->dim[3])
        return VS_INVAL;
    int64_t nb = s->dim[0], ih = s->dim[1], iw = s->dim[2], c = s->dim[3];
    int64_t oh = ys->dim[1], ow = ys->dim[2];
    if (numel(ys) == 0)
        return VS_OK;
    if (ih < 1 || iw < 1)
        return VS_INVAL;
    int ac = n->align_corners != 0, hpc = n->half_pixel_centers != 0;
    double rh = (double)(ac && oh > 1 ? ih - 1 : ih) / (double)(ac && oh > 1 ? oh - 1 : oh);
    double rw = (double)(ac && ow > 1 ? iw - 1 : iw) / (double)(ac && ow > 1 ? ow - 1 : ow);

    for (int64_t b = 0; b < nb; b++) {
        for (int64_t r = 0; r < oh; r++) {
            int64_t r0, r1, c0, c1;
            double fr, fc;
            bilinear_src(rh, hpc, r, ih, &r0, &r1, &fr);
            const float *top = in[0].data + (b * ih + r0) * iw * c;
            const float *bot = in[0].data + (b * ih + r1) * iw * c;
            for (int64_t q = 0; q < ow; q++) {
                bilinear_src(rw, hpc, q, iw, &c0, &c1, &fc);
                float *y = out->data + ((b * oh + r) * ow + q) * c;
                const float *tl = top + c0 * c, *tr = top + c1 * c;
                const float *bl = bot + c0 * c, *br = bot + c1 * c;
                for (int64_t d = 0; d < c; d++) {
                    double t = tl[d] + ((double)tr[d] - tl[d]) * fc;
                    double u = bl[d] + ((double)br[d] - bl[d]) * fc;
                    y[d] = (float)(t + (u - t) * fr);
                }
            }
        }
    }
    return VS_OK;
}

/* ---- dispatch ---------------------------------------------------------------------------- */

vs_status vs_ref_run(const vs_node *n, const vs_tview *in, vs_tview *out)
{
    if (!n || !out || !out->data || (n->n_in > 0 && (!in || !in[0].data)))
        return VS_INVAL;
    if (n->n_in < 1 && n->op != VS_OP_INPUT && n->op != VS_OP_CONST)
        return VS_INVAL;
    switch (n->op) {
    case VS_OP_CONV2D:
        return conv2d(n, in, out, 0);
    case VS_OP_DWCONV2D:
        return conv2d(n, in, out, 1);
    case VS_OP_MATMUL:
        return matmul(n, in, out);
    case VS_OP_ADD:
    case VS_OP_SUB:
    case VS_OP_MUL:
    case VS_OP_DIV:
    case VS_OP_MINIMUM:
    case VS_OP_MAXIMUM:
    case VS_OP_PRELU:
        return binary(n, in, out);
    case VS_OP_ABS:
    case VS_OP_NEG:
    case VS_OP_RELU:
    case VS_OP_RELU6:
    case VS_OP_LEAKY_RELU:
    case VS_OP_SIGMOID:
    case VS_OP_TANH:
    case VS_OP_EXP:
    case VS_OP_SQUARE:
    case VS_OP_SQRT:
    case VS_OP_RSQRT:
    case VS_OP_CLAMP:
        return unary(n, in, out);
    case VS_OP_SOFTMAX:
        return softmax(n, in, out);
    case VS_OP_MAXPOOL:
    case VS_OP_AVGPOOL:
        return pool2d(n, in, out);
    case VS_OP_MEAN:
    case VS_OP_SUM:
    case VS_OP_REDUCE_MAX:
        return reduce(n, in, out);
    case VS_OP_PAD:
        return pad(n, in, out);
    case VS_OP_RESHAPE:
    case VS_OP_IDENTITY:
    case VS_OP_SQUEEZE: /* shape inference turns it into RESHAPE; the same copy if it is not */
        return copy_op(in, out);
    case VS_OP_TRANSPOSE:
        return transpose(n, in, out);
    case VS_OP_CONCAT:
        return concat(n, in, out);
    case VS_OP_SLICE:
        return slice(n, in, out);
    case VS_OP_RESIZE_BILINEAR:
        return resize_bilinear(n, in, out);
    case VS_OP_AFFINE:
        return affine(n, in, out);
    case VS_OP_INPUT:
    case VS_OP_CONST:
    case VS_OP_COUNT:
        break;
    }
    return VS_UNSUPPORTED;
}

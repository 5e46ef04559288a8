/*
 * kernels_block.c - depthwise -> 1x1 -> add residual -> activation, one output row at a time
 * (see kernels_block.h for what and why).
 *
 * A task owns a contiguous range of output rows and one row-sized scratch buffer.  For each row
 * it runs the depthwise plan's row (kernels_dw.c) into the scratch, then the 1x1 convolution over
 * that row in tiles of PW_T pixels x up to 3 vectors of 8 output channels, adds the residual row,
 * applies the activation and stores the block's output row.  In a stride-2 block the residual
 * row is the input max-pooled (and zero-padded to the output's channels), made into a second
 * scratch row first.
 *
 * DESIGN NOTES
 *   1. Vectors of VW = 8 floats (GCC vector extensions), as in kernels_dw.c and for the same
 *      reason: BlazeFace has 24 channels, three 8-wide vectors with no waste, and on AMD Zen 4 a
 *      256-bit FMA has the FLOP rate of a 512-bit one.  A tile of 4 pixels x 3 vectors is 12
 *      accumulators, 3 filter vectors and a broadcast: the 16 registers of AVX2.
 *   2. A channel count that is not a multiple of 8 ends with one vector that starts at N - 8 and
 *      overlaps the one before it (as kernels_dw.c does): those lanes are computed twice, with
 *      the same inputs in the same order, and stored twice with the same value.  The block's
 *      output overlaps neither of the tensors it reads (vs_block_plan_new checks), so that is
 *      harmless.
 *   3. Each output is bias + sum over input channels in order (one FMA per term), then + the
 *      residual, then the activation with the reference kernel's comparisons: the reference's
 *      sum in the same order, rounded once per FMA instead of twice.
 *   4. The block's output must not overlap its input: rows in flight would read what earlier
 *      rows wrote.  Node by node that overlap is legal once the input's last reader has run, as
 *      in a stride-2 block whose input only the depthwise node and the pool read, so the memory
 *      plan keeps such an input alive through the block (graph_plan.c, note 6), and
 *      vs_block_plan_new refuses any block whose output overlaps its input all the same.
 *   5. The hot function is compiled for x86-64-v4, v3 and baseline (target_clones), once
 *      elsewhere; GCC needs -ffp-contract=fast (turned off by -std=c11) to emit FMAs.  The
 *      vector helpers (vec8.h) are kernels_dw.c's.
 */
#include "kernels_block.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_dw.h"

#include "row_tasks.h"

/* Last: it sets this file's floating-point contraction and warnings (vec8.h). */
#include "vec8.h"

#define BK_INLINE static inline __attribute__((always_inline))
#define PRAGMA_UNROLL _Pragma("GCC unroll 8")

enum { PW_T = 4, PW_B = 3 };

struct vs_block_plan {
    vs_dw_plan *dw;
    const float *x;   /* the block's input: the depthwise node's input */
    const float *res; /* the residual, [rows][ow][n], or NULL: the input max-pooled (pool_*) */
    float *y;         /* the block's output, [rows][ow][n] */
    float *w;         /* the 1x1 filter, [k][n] */
    float *bias;      /* n values (zeros when the node has none) */
    float *scratch;   /* tasks x ow x k: one depthwise row per task */
    float *res_rows;  /* tasks x ow x n: one pooled residual row per task, or NULL */
    int64_t rows, ow, k, n;
    int64_t xh, xw, oh; /* the input's height and width; output rows per image */
    int64_t pool_kh, pool_kw, pool_sh, pool_sw; /* the MAXPOOL's window and strides */
    int tasks;
    vs_act act;
    float lo, hi; /* CLAMP bounds */
};

/* ---- the 1x1 convolution with the residual ----------------------------------------------- */

/* T pixels x B vectors of output channels from c0.  d: the T pixels' depthwise outputs (k
 * apart); res and y: the same pixels' residual and output rows (n apart), at channel 0. */
BK_INLINE void pw_tile(const vs_block_plan *p, const float *d, const float *res, float *y,
                       int64_t c0, const int T, const int B, const vs_act act)
{
    const int64_t k_n = p->k, n_n = p->n;
    v8f acc[PW_T * PW_B];
    PRAGMA_UNROLL
    for (int b = 0; b < B; b++) {
        const v8f bv = vld(p->bias + c0 + b * VW);
        PRAGMA_UNROLL
        for (int t = 0; t < T; t++)
            acc[t * B + b] = bv;
    }
    const float *w = p->w + c0;
    for (int64_t k = 0; k < k_n; k++) {
        v8f wv[PW_B];
        PRAGMA_UNROLL
        for (int b = 0; b < B; b++)
            wv[b] = vld(w + k * n_n + b * VW);
        PRAGMA_UNROLL
        for (int t = 0; t < T; t++) {
            const v8f xv = vsplat(d[t * k_n + k]);
            PRAGMA_UNROLL
            for (int b = 0; b < B; b++)
                acc[t * B + b] += xv * wv[b];
        }
    }
    PRAGMA_UNROLL
    for (int t = 0; t < T; t++) {
        PRAGMA_UNROLL
        for (int b = 0; b < B; b++) {
            const int64_t o = t * n_n + c0 + b * VW;
            v8f v = acc[t * B + b] + vld(res + o);
            vact(&v, act, p->lo, p->hi);
            vst(y + o, &v);
        }
    }
}

/* T pixels, every output channel: groups of PW_B vectors, the rest, then the overlapping tail
 * vector (DESIGN NOTES 2). */
BK_INLINE void pw_pixels(const vs_block_plan *p, const float *d, const float *res, float *y,
                         const int T, const vs_act act)
{
    const int64_t n_n = p->n;
    int64_t c = 0;
    for (; c + PW_B * VW <= n_n; c += PW_B * VW)
        pw_tile(p, d, res, y, c, T, PW_B, act);
    if (c + 2 * VW <= n_n) {
        pw_tile(p, d, res, y, c, T, 2, act);
        c += 2 * VW;
    } else if (c + VW <= n_n) {
        pw_tile(p, d, res, y, c, T, 1, act);
        c += VW;
    }
    if (c < n_n)
        pw_tile(p, d, res, y, n_n - VW, T, 1, act);
}

/* The 1x1 convolution, residual and activation of one row: tiles of PW_T pixels, then single
 * pixels.  d: the row's depthwise output. */
BK_INLINE void pw_row(const vs_block_plan *p, const float *d, const float *res, float *y,
                      const vs_act act)
{
    const int64_t k_n = p->k, n_n = p->n;
    int64_t px = 0;
    for (; px + PW_T <= p->ow; px += PW_T)
        pw_pixels(p, d + px * k_n, res + px * n_n, y + px * n_n, PW_T, act);
    for (; px < p->ow; px++)
        pw_pixels(p, d + px * k_n, res + px * n_n, y + px * n_n, 1, act);
}

/* Output row r of the residual when it is the block's input max-pooled (k channels, zeros up to
 * n): kernels_ref.c's MAXPOOL, window rows then columns, v > max ? v : max as there, 8 channels
 * at a time (k >= 8; the last vector may overlap the one before). */
BK_INLINE void pool_row(const vs_block_plan *p, int64_t r, float *rs)
{
    const int64_t b = r / p->oh, oy = r % p->oh, k_n = p->k;
    const float *xb = p->x + (b * p->xh + oy * p->pool_sh) * p->xw * k_n;
    for (int64_t ox = 0; ox < p->ow; ox++) {
        const float *xp = xb + ox * p->pool_sw * k_n;
        float *o = rs + ox * p->n;
        for (int64_t c0 = 0; c0 < k_n; c0 += VW) {
            const int64_t c = c0 + VW <= k_n ? c0 : k_n - VW;
            v8f m = vsplat(-INFINITY);
            for (int64_t ky = 0; ky < p->pool_kh; ky++)
                for (int64_t kx = 0; kx < p->pool_kw; kx++) {
                    const v8f v = vld(xp + (ky * p->xw + kx) * k_n + c);
                    m = VSEL(v > m, v, m);
                }
            vst(o + c, &m);
        }
        for (int64_t c = k_n; c < p->n; c++)
            o[c] = 0.0f;
    }
}

/* Task `task`'s share of the output rows. */
VEC8_CLONES static void block_rows(const vs_block_plan *p, int64_t task)
{
    int64_t r0, r1;
    vs_row_range(p->rows, task, p->tasks, &r0, &r1);
    const int64_t row_in = p->ow * p->k, row_out = p->ow * p->n;
    float *d = p->scratch + task * row_in;
    for (int64_t r = r0; r < r1; r++) {
        vs_dw_plan_row(p->dw, p->x, (size_t)r, d);
        const float *res = p->res ? p->res + r * row_out : p->res_rows + task * row_out;
        if (!p->res)
            pool_row(p, r, p->res_rows + task * row_out);
        float *y = p->y + r * row_out;
        switch (p->act) { /* one copy of the row code per activation */
        case VS_ACT_RELU:
            pw_row(p, d, res, y, VS_ACT_RELU);
            break;
        case VS_ACT_RELU6:
            pw_row(p, d, res, y, VS_ACT_RELU6);
            break;
        case VS_ACT_CLAMP:
            pw_row(p, d, res, y, VS_ACT_CLAMP);
            break;
        default:
            pw_row(p, d, res, y, VS_ACT_NONE);
            break;
        }
    }
}

static void block_task(void *ctx, size_t task)
{
    block_rows(ctx, (int64_t)task);
}

/* ---- plans ------------------------------------------------------------------------------- */

/* Whether the float ranges [a, a + na) and [b, b + nb) share an element. */
static int overlaps(const float *a, int64_t na, const float *b, int64_t nb)
{
    const uintptr_t a0 = (uintptr_t)a, a1 = a0 + (uintptr_t)na * sizeof(float);
    const uintptr_t b0 = (uintptr_t)b, b1 = b0 + (uintptr_t)nb * sizeof(float);
    return a0 < b1 && b0 < a1;
}

/* The 1x1 node: filter [1,1,K,N], stride 1, no padding, no activation, reading the depthwise
 * output; returns the bias view or NULL through *bias. */
static int pointwise_ok(const vs_node *dw, const vs_node *pw, const vs_tview *in,
                        const vs_tview *out, const vs_tview **bias)
{
    const vs_shape *fs = &in[1].shape;
    *bias = NULL;
    if (pw->op != VS_OP_CONV2D || pw->n_in < 2 || pw->in[0] != dw->out || !in[1].data ||
        fs->rank != 4 || fs->dim[0] != 1 || fs->dim[1] != 1 || pw->act != VS_ACT_NONE ||
        pw->stride[0] != 1 || pw->stride[1] != 1 || out->shape.rank != 4)
        return 0;
    for (int i = 0; i < 4; i++)
        if (pw->pad[i] != 0)
            return 0;
    if (pw->n_in > 2 && pw->in[2] >= 0) {
        if (!in[2].data || vs_shape_numel(&in[2].shape) != fs->dim[3])
            return 0;
        *bias = &in[2];
    }
    return fs->dim[2] == in[0].shape.dim[3] && fs->dim[3] == out->shape.dim[3] &&
           out->shape.dim[0] == in[0].shape.dim[0] && out->shape.dim[1] == in[0].shape.dim[1] &&
           out->shape.dim[2] == in[0].shape.dim[2];
}

/* The MAXPOOL of a pooled block: reads the block's input x with no padding, its output is
 * oh x ow (the depthwise output's) with x's channels. */
static int pool_ok(const vs_block_node *dw, const vs_block_node *pool)
{
    const vs_node *n = pool->n;
    const vs_shape *xs = &pool->in[0].shape, *ys = &pool->out.shape;
    if (n->op != VS_OP_MAXPOOL || n->in[0] != dw->n->in[0] || xs->rank != 4 || ys->rank != 4 ||
        n->act != VS_ACT_NONE || n->ksize[0] < 1 || n->ksize[1] < 1 || n->stride[0] < 1 ||
        n->stride[1] < 1)
        return 0;
    for (int i = 0; i < 4; i++)
        if (n->pad[i] != 0)
            return 0;
    return ys->dim[1] == dw->out.shape.dim[1] && ys->dim[2] == dw->out.shape.dim[2] &&
           ys->dim[3] == xs->dim[3] && ys->dim[0] == xs->dim[0] &&
           (ys->dim[1] - 1) * n->stride[0] + n->ksize[0] <= xs->dim[1] &&
           (ys->dim[2] - 1) * n->stride[1] + n->ksize[1] <= xs->dim[2];
}

/* The PAD of a pooled block: zeros appended to the channels of `from`'s output, nothing else. */
static int channel_pad_ok(const vs_block_node *from, const vs_block_node *pad)
{
    const vs_node *n = pad->n;
    if (n->op != VS_OP_PAD || n->in[0] != from->n->out || pad->out.shape.rank != 4 ||
        n->pad_value != 0.0f || n->act != VS_ACT_NONE)
        return 0;
    for (int d = 0; d < 4; d++)
        if (n->pads[d][0] != 0 || (d < 3 && n->pads[d][1] != 0))
            return 0;
    return 1;
}

vs_status vs_block_plan_new(const vs_block_node *b, int count, int threads, vs_block_plan **plan)
{
    *plan = NULL;
    if (count < 3 || count > 5)
        return VS_UNSUPPORTED;
    const vs_block_node *dw = &b[0], *pool = count > 3 ? &b[1] : NULL;
    const vs_block_node *pw = &b[count > 3 ? 2 : 1], *pad = count == 5 ? &b[3] : NULL;
    const vs_block_node *add = &b[count - 1];
    const vs_tview *bias;
    if (dw->n->op != VS_OP_DWCONV2D || !pointwise_ok(dw->n, pw->n, pw->in, &pw->out, &bias) ||
        (pool && !pool_ok(dw, pool)) || (pad && !channel_pad_ok(pool, pad)))
        return VS_UNSUPPORTED;
    /* The ADD: the 1x1 output plus a residual of the same shape: the pool's (or its pad's)
     * output, or a tensor that is neither intermediate. */
    const vs_node *an = add->n;
    if (an->op != VS_OP_ADD || an->n_in != 2 ||
        (an->in[0] == pw->n->out) == (an->in[1] == pw->n->out))
        return VS_UNSUPPORTED;
    const int ri = an->in[0] == pw->n->out ? 1 : 0;
    const vs_tview *res = &add->in[ri];
    const vs_block_node *res_node = pad ? pad : pool;
    if ((res_node && an->in[ri] != res_node->n->out) || an->in[ri] == dw->n->out ||
        !vs_shape_equal(&res->shape, &pw->out.shape) ||
        !vs_shape_equal(&add->out.shape, &pw->out.shape))
        return VS_UNSUPPORTED;
    if (an->act != VS_ACT_NONE && an->act != VS_ACT_RELU && an->act != VS_ACT_RELU6 &&
        an->act != VS_ACT_CLAMP)
        return VS_UNSUPPORTED;
    const vs_shape *xs = &dw->in[0].shape;
    const int64_t k = dw->out.shape.dim[3], nout = pw->out.shape.dim[3];
    const int64_t rows = pw->out.shape.dim[0] * pw->out.shape.dim[1], ow = pw->out.shape.dim[2];
    const int64_t n_y = vs_shape_numel(&add->out.shape);
    if (k < VW || nout < VW || nout < k || rows < 1 || ow < 1 || !dw->in[0].data ||
        !add->out.data || !res->data ||
        overlaps(add->out.data, n_y, dw->in[0].data, vs_shape_numel(xs)) ||
        (!res_node && overlaps(add->out.data, n_y, res->data, n_y)))
        return VS_UNSUPPORTED;

    vs_block_plan *p = calloc(1, sizeof *p);
    if (!p)
        return VS_NOMEM;
    vs_status st = vs_dw_plan_new(dw->n, dw->in, &dw->out, &p->dw);
    if (st != VS_OK) {
        free(p);
        return st == VS_NOMEM ? VS_NOMEM : VS_UNSUPPORTED;
    }
    p->tasks = vs_row_tasks(threads, rows);
    /* The tensors exist in memory with these many elements, so the sizes cannot overflow. */
    p->w = malloc((size_t)(k * nout) * sizeof(float));
    p->bias = calloc((size_t)nout, sizeof(float));
    p->scratch = malloc((size_t)(p->tasks * ow * k) * sizeof(float));
    if (res_node)
        p->res_rows = malloc((size_t)(p->tasks * ow * nout) * sizeof(float));
    if (!p->w || !p->bias || !p->scratch || (res_node && !p->res_rows)) {
        vs_block_plan_free(p);
        return VS_NOMEM;
    }
    memcpy(p->w, pw->in[1].data, (size_t)(k * nout) * sizeof(float));
    if (bias)
        memcpy(p->bias, bias->data, (size_t)nout * sizeof(float));
    p->x = dw->in[0].data;
    p->res = res_node ? NULL : res->data;
    p->y = add->out.data;
    p->rows = rows;
    p->ow = ow;
    p->k = k;
    p->n = nout;
    p->xh = xs->dim[1];
    p->xw = xs->dim[2];
    p->oh = pw->out.shape.dim[1];
    if (pool) {
        p->pool_kh = pool->n->ksize[0];
        p->pool_kw = pool->n->ksize[1];
        p->pool_sh = pool->n->stride[0];
        p->pool_sw = pool->n->stride[1];
    }
    p->act = an->act;
    p->lo = an->act_min;
    p->hi = an->act_max;
    *plan = p;
    return VS_OK;
}

vs_status vs_block_plan_run(const vs_block_plan *p, pthreadpool_t pool)
{
    if (!p)
        return VS_INVAL;
    vs_row_tasks_run(pool, block_task, (void *)p, p->tasks);
    return VS_OK;
}

void vs_block_plan_free(vs_block_plan *p)
{
    if (!p)
        return;
    vs_dw_plan_free(p->dw);
    free(p->w);
    free(p->bias);
    free(p->scratch);
    free(p->res_rows);
    free(p);
}

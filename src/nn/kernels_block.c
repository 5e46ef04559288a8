/*
 * kernels_block.c - depthwise -> 1x1 -> add residual -> activation, one output row at a time
 * (see kernels_block.h for what and why).
 *
 * A task owns a contiguous range of output rows and one row-sized scratch buffer.  For each row
 * it runs the depthwise plan's row (kernels_dw.c) into the scratch, then the 1x1 convolution over
 * that row in tiles of PW_T pixels x up to 3 vectors of 8 output channels, adds the residual row,
 * applies the activation and stores the block's output row.
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
 *   4. The hot function is compiled for x86-64-v4, v3 and baseline (target_clones), once
 *      elsewhere; GCC needs -ffp-contract=fast (turned off by -std=c11) to emit FMAs.  The
 *      vector helpers (vec8.h) are kernels_dw.c's.
 */
#include "kernels_block.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_dw.h"

/* Last: it sets this file's floating-point contraction and warnings (vec8.h). */
#include "vec8.h"

#define BK_INLINE static inline __attribute__((always_inline))
#define PRAGMA_UNROLL _Pragma("GCC unroll 8")

enum { PW_T = 4, PW_B = 3, MAX_TASKS = 64 };

struct vs_block_plan {
    vs_dw_plan *dw;
    const float *x;   /* the block's input: the depthwise node's input */
    const float *res; /* the residual, [rows][ow][n] */
    float *y;         /* the block's output, [rows][ow][n] */
    float *w;         /* the 1x1 filter, [k][n] */
    float *bias;      /* n values (zeros when the node has none) */
    float *scratch;   /* tasks x ow x k: one depthwise row per task */
    int64_t rows, ow, k, n;
    int tasks;
    vs_act act;
    float lo, hi; /* CLAMP bounds */
};

/* The activations of kernels_ref.c's act_row that an ADD can carry, with its comparisons, in
 * place (by address: see vst).  act is a constant after inlining (block_rows). */
BK_INLINE void act_vec(const vs_block_plan *p, v8f *v, const vs_act act)
{
    const v8f zero = vsplat(0.0f);
    switch (act) {
    case VS_ACT_RELU:
        *v = VSEL(*v < zero, zero, *v);
        break;
    case VS_ACT_RELU6: {
        const v8f six = vsplat(6.0f);
        *v = VSEL(*v < zero, zero, VSEL(*v > six, six, *v));
        break;
    }
    case VS_ACT_CLAMP: {
        const v8f lo = vsplat(p->lo), hi = vsplat(p->hi);
        *v = VSEL(*v > hi, hi, VSEL(*v < lo, lo, *v));
        break;
    }
    default: /* NONE; vs_block_plan_new refused the others */
        break;
    }
}

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
            act_vec(p, &v, act);
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

/* Task `task`'s share of the output rows. */
VEC8_CLONES static void block_rows(const vs_block_plan *p, int64_t task)
{
    const int64_t r0 = p->rows * task / p->tasks, r1 = p->rows * (task + 1) / p->tasks;
    const int64_t row_in = p->ow * p->k, row_out = p->ow * p->n;
    float *d = p->scratch + task * row_in;
    for (int64_t r = r0; r < r1; r++) {
        vs_dw_plan_row(p->dw, p->x, (size_t)r, d);
        const float *res = p->res + r * row_out;
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

vs_status vs_block_plan_new(const vs_node *const n[3], const vs_tview *const in[3],
                            const vs_tview out[3], int threads, vs_block_plan **plan)
{
    *plan = NULL;
    const vs_node *dw = n[0], *pw = n[1], *add = n[2];
    const vs_tview *bias;
    if (dw->op != VS_OP_DWCONV2D || !pointwise_ok(dw, pw, in[1], &out[1], &bias))
        return VS_UNSUPPORTED;
    /* The ADD: the 1x1 output plus a residual of the same shape that is neither intermediate. */
    if (add->op != VS_OP_ADD || add->n_in != 2 ||
        (add->in[0] == pw->out) == (add->in[1] == pw->out))
        return VS_UNSUPPORTED;
    const int ri = add->in[0] == pw->out ? 1 : 0;
    const vs_tview *res = &in[2][ri];
    if (add->in[ri] == dw->out || !res->data || !vs_shape_equal(&res->shape, &out[1].shape) ||
        !vs_shape_equal(&out[2].shape, &out[1].shape))
        return VS_UNSUPPORTED;
    if (add->act != VS_ACT_NONE && add->act != VS_ACT_RELU && add->act != VS_ACT_RELU6 &&
        add->act != VS_ACT_CLAMP)
        return VS_UNSUPPORTED;
    const int64_t k = out[0].shape.dim[3], nout = out[1].shape.dim[3];
    const int64_t rows = out[1].shape.dim[0] * out[1].shape.dim[1], ow = out[1].shape.dim[2];
    const int64_t n_y = vs_shape_numel(&out[2].shape);
    if (k < VW || nout < VW || rows < 1 || ow < 1 || !in[0][0].data || !out[2].data ||
        overlaps(out[2].data, n_y, in[0][0].data, vs_shape_numel(&in[0][0].shape)) ||
        overlaps(out[2].data, n_y, res->data, n_y))
        return VS_UNSUPPORTED;

    vs_block_plan *p = calloc(1, sizeof *p);
    if (!p)
        return VS_NOMEM;
    vs_status st = vs_dw_plan_new(dw, in[0], &out[0], &p->dw);
    if (st != VS_OK) {
        free(p);
        return st == VS_NOMEM ? VS_NOMEM : VS_UNSUPPORTED;
    }
    p->tasks = threads < 1 ? 1 : threads > MAX_TASKS ? MAX_TASKS : threads;
    if (p->tasks > rows)
        p->tasks = (int)rows;
    /* The tensors exist in memory with these many elements, so the sizes cannot overflow. */
    p->w = malloc((size_t)(k * nout) * sizeof(float));
    p->bias = calloc((size_t)nout, sizeof(float));
    p->scratch = malloc((size_t)(p->tasks * ow * k) * sizeof(float));
    if (!p->w || !p->bias || !p->scratch) {
        vs_block_plan_free(p);
        return VS_NOMEM;
    }
    memcpy(p->w, in[1][1].data, (size_t)(k * nout) * sizeof(float));
    if (bias)
        memcpy(p->bias, bias->data, (size_t)nout * sizeof(float));
    p->x = in[0][0].data;
    p->res = res->data;
    p->y = out[2].data;
    p->rows = rows;
    p->ow = ow;
    p->k = k;
    p->n = nout;
    p->act = add->act;
    p->lo = add->act_min;
    p->hi = add->act_max;
    *plan = p;
    return VS_OK;
}

vs_status vs_block_plan_run(const vs_block_plan *p, pthreadpool_t pool)
{
    if (!p)
        return VS_INVAL;
    if (p->tasks > 1 && pool && pthreadpool_get_threads_count(pool) > 1)
        pthreadpool_parallelize_1d(pool, block_task, (void *)p, (size_t)p->tasks, 0);
    else
        for (int64_t t = 0; t < p->tasks; t++)
            block_rows(p, t);
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
    free(p);
}

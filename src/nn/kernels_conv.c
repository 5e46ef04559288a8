/*
 * kernels_conv.c - direct convolution for inputs with few channels (see kernels_conv.h).
 *
 * A task owns a contiguous range of output rows.  In a row, the output columns whose window lies
 * inside the input ("interior") run in tiles of CV_T pixels with no bounds checks; the border
 * columns run one pixel at a time with the window clipped.  Window rows outside the input are
 * clipped once per row.  Output channels go in groups of up to 3 vectors of 8, then a tail vector
 * that may overlap the one before it (as in kernels_dw.c: computed twice, stored twice with the
 * same value; the output never overlaps the input).
 *
 * DESIGN NOTES
 *   1. The reduction is short (KH*KW*C, 75 for BlazeFace's 5x5x3), so the tile keeps every
 *      accumulator in registers for the whole window: 4 pixels x 3 vectors is 12 accumulators,
 *      3 filter vectors and a broadcast, the 16 registers of AVX2.
 *   2. Each output is the bias, then the taps in the reference's order (window row, column,
 *      input channel), one FMA each, then the activation with the reference's comparisons.
 *   3. vec8.h sets -ffp-contract=fast and the target_clones of the hot function.
 */
#include "kernels_conv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "row_tasks.h"

/* Last: it sets this file's floating-point contraction and warnings (vec8.h). */
#include "vec8.h"

#define CV_INLINE static inline __attribute__((always_inline))
#define PRAGMA_UNROLL _Pragma("GCC unroll 8")

enum { CV_T = 4, CV_B = 3, CV_MAX_C = 4 };

struct vs_conv_plan {
    const float *x;
    float *y;
    float *w;    /* [KH][KW][C][N] (HWIO) */
    float *bias; /* N values (zeros when the node has none) */
    int64_t h, wd, c, oh, ow, n, kh, kw, sh, sw, pt, pl;
    int64_t rows;         /* batch x output height */
    int64_t ox_lo, ox_hi; /* output columns [ox_lo, ox_hi) read no padding */
    int tasks;
    vs_act act;
    float lo, hi; /* CLAMP bounds */
};

/* T output pixels (their first window tap at x0, the pixels sw columns apart) x B vectors of
 * output channels from c0, over window rows [ky0, ky1) and columns [kx0, kx1). */
CV_INLINE void conv_tile(const vs_conv_plan *p, const float *x0, int64_t ky0, int64_t ky1,
                         int64_t kx0, int64_t kx1, float *yp, int64_t c0, const int T, const int B,
                         const vs_act act)
{
    const int64_t c_n = p->c, n_n = p->n, row = p->wd * c_n, ps = p->sw * c_n;
    v8f acc[CV_T * CV_B];
    PRAGMA_UNROLL
    for (int b = 0; b < B; b++) {
        const v8f bv = vld(p->bias + c0 + b * VW);
        PRAGMA_UNROLL
        for (int t = 0; t < T; t++)
            acc[t * B + b] = bv;
    }
    for (int64_t ky = ky0; ky < ky1; ky++) {
        const float *xr = x0 + (ky - ky0) * row;
        for (int64_t kx = kx0; kx < kx1; kx++) {
            const float *xk = xr + (kx - kx0) * c_n;
            const float *wk = p->w + ((ky * p->kw + kx) * c_n) * n_n + c0;
            for (int64_t ci = 0; ci < c_n; ci++) {
                v8f wv[CV_B];
                PRAGMA_UNROLL
                for (int b = 0; b < B; b++)
                    wv[b] = vld(wk + ci * n_n + b * VW);
                PRAGMA_UNROLL
                for (int t = 0; t < T; t++) {
                    const v8f xv = vsplat(xk[t * ps + ci]);
                    PRAGMA_UNROLL
                    for (int b = 0; b < B; b++)
                        acc[t * B + b] += xv * wv[b];
                }
            }
        }
    }
    PRAGMA_UNROLL
    for (int t = 0; t < T; t++) {
        PRAGMA_UNROLL
        for (int b = 0; b < B; b++) {
            vact(&acc[t * B + b], act, p->lo, p->hi);
            vst(yp + t * n_n + c0 + b * VW, &acc[t * B + b]);
        }
    }
}

/* T pixels, every output channel: groups of CV_B vectors, the rest, then the overlapping tail. */
CV_INLINE void conv_pixels(const vs_conv_plan *p, const float *x0, int64_t ky0, int64_t ky1,
                           int64_t kx0, int64_t kx1, float *yp, const int T, const vs_act act)
{
    const int64_t n_n = p->n;
    int64_t c = 0;
    for (; c + CV_B * VW <= n_n; c += CV_B * VW)
        conv_tile(p, x0, ky0, ky1, kx0, kx1, yp, c, T, CV_B, act);
    if (c + 2 * VW <= n_n) {
        conv_tile(p, x0, ky0, ky1, kx0, kx1, yp, c, T, 2, act);
        c += 2 * VW;
    } else if (c + VW <= n_n) {
        conv_tile(p, x0, ky0, ky1, kx0, kx1, yp, c, T, 1, act);
        c += VW;
    }
    if (c < n_n)
        conv_tile(p, x0, ky0, ky1, kx0, kx1, yp, n_n - VW, T, 1, act);
}

/* One output pixel with its window clipped to the input (a border column). */
CV_INLINE void conv_edge(const vs_conv_plan *p, const float *xb, int64_t iy0, int64_t ky0,
                         int64_t ky1, int64_t ox, float *yp, const vs_act act)
{
    const int64_t ix0 = ox * p->sw - p->pl;
    const int64_t kx0 = ix0 < 0 ? -ix0 : 0;
    const int64_t kx1 = p->wd - ix0 < p->kw ? p->wd - ix0 : p->kw;
    /* With no tap inside the input the loops read nothing and x0 stays at the image start. */
    const float *x0 = xb;
    if (ky1 > ky0 && kx1 > kx0)
        x0 = xb + ((iy0 + ky0) * p->wd + ix0 + kx0) * p->c;
    conv_pixels(p, x0, ky0, ky1 > ky0 ? ky1 : ky0, kx0, kx1 > kx0 ? kx1 : kx0, yp, 1, act);
}

/* Output row r (of batch x OH). */
CV_INLINE void conv_row(const vs_conv_plan *p, int64_t r, const vs_act act)
{
    const int64_t b = r / p->oh, oy = r % p->oh, c_n = p->c, n_n = p->n;
    const float *xb = p->x + b * p->h * p->wd * c_n;
    float *yr = p->y + r * p->ow * n_n;
    const int64_t iy0 = oy * p->sh - p->pt;
    const int64_t ky0 = iy0 < 0 ? -iy0 : 0;
    const int64_t ky1 = p->h - iy0 < p->kh ? p->h - iy0 : p->kh;
    int64_t ox = 0;
    for (; ox < p->ox_lo; ox++)
        conv_edge(p, xb, iy0, ky0, ky1, ox, yr + ox * n_n, act);
    if (ky1 > ky0) {
        const float *xrow = xb + (iy0 + ky0) * p->wd * c_n;
        for (; ox + CV_T <= p->ox_hi; ox += CV_T)
            conv_pixels(p, xrow + (ox * p->sw - p->pl) * c_n, ky0, ky1, 0, p->kw, yr + ox * n_n,
                        CV_T, act);
        for (; ox < p->ox_hi; ox++)
            conv_pixels(p, xrow + (ox * p->sw - p->pl) * c_n, ky0, ky1, 0, p->kw, yr + ox * n_n, 1,
                        act);
    }
    for (; ox < p->ow; ox++)
        conv_edge(p, xb, iy0, ky0, ky1, ox, yr + ox * n_n, act);
}

/* Task `task`'s share of the output rows, one copy of the row code per activation. */
VEC8_CLONES static void conv_rows(const vs_conv_plan *p, int64_t task)
{
    int64_t r0, r1;
    vs_row_range(p->rows, task, p->tasks, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        switch (p->act) {
        case VS_ACT_RELU:
            conv_row(p, r, VS_ACT_RELU);
            break;
        case VS_ACT_RELU6:
            conv_row(p, r, VS_ACT_RELU6);
            break;
        case VS_ACT_CLAMP:
            conv_row(p, r, VS_ACT_CLAMP);
            break;
        default:
            conv_row(p, r, VS_ACT_NONE);
            break;
        }
    }
}

static void conv_task(void *ctx, size_t task)
{
    conv_rows(ctx, (int64_t)task);
}

/* ---- plans ------------------------------------------------------------------------------- */

vs_status vs_conv_plan_new(const vs_node *n, const vs_tview *in, const vs_tview *out, int threads,
                           vs_conv_plan **plan)
{
    *plan = NULL;
    const vs_shape *xs = &in[0].shape, *fs = &in[1].shape, *ys = &out->shape;
    if (n->op != VS_OP_CONV2D || n->n_in < 2 || !in[1].data || xs->rank != 4 || fs->rank != 4 ||
        ys->rank != 4 || n->dilation[0] != 1 || n->dilation[1] != 1 || n->stride[0] < 1 ||
        n->stride[1] < 1 || !in[0].data || !out->data)
        return VS_UNSUPPORTED;
    if (n->act != VS_ACT_NONE && n->act != VS_ACT_RELU && n->act != VS_ACT_RELU6 &&
        n->act != VS_ACT_CLAMP)
        return VS_UNSUPPORTED;
    const int64_t c = xs->dim[3], nout = ys->dim[3], kh = fs->dim[0], kw = fs->dim[1];
    if (c < 1 || c > CV_MAX_C || nout < VW || fs->dim[2] != c || fs->dim[3] != nout || kh < 1 ||
        kw < 1 || ys->dim[0] != xs->dim[0])
        return VS_UNSUPPORTED;
    for (int i = 0; i < 4; i++)
        if (n->pad[i] < 0)
            return VS_UNSUPPORTED;
    const int64_t sh = n->stride[0], sw = n->stride[1], pt = n->pad[0], pl = n->pad[2];
    if ((xs->dim[1] + pt + n->pad[1] - kh) / sh + 1 != ys->dim[1] ||
        (xs->dim[2] + pl + n->pad[3] - kw) / sw + 1 != ys->dim[2] ||
        xs->dim[1] + pt + n->pad[1] < kh || xs->dim[2] + pl + n->pad[3] < kw)
        return VS_UNSUPPORTED;
    const int has_bias = n->n_in > 2 && n->in[2] >= 0;
    if (has_bias && (!in[2].data || vs_shape_numel(&in[2].shape) != nout))
        return VS_UNSUPPORTED;

    vs_conv_plan *p = calloc(1, sizeof *p);
    if (!p)
        return VS_NOMEM;
    const int64_t wn = kh * kw * c * nout, rows = ys->dim[0] * ys->dim[1];
    p->w = malloc((size_t)wn * sizeof(float));
    p->bias = calloc((size_t)nout, sizeof(float));
    if (!p->w || !p->bias) {
        vs_conv_plan_free(p);
        return VS_NOMEM;
    }
    memcpy(p->w, in[1].data, (size_t)wn * sizeof(float));
    if (has_bias)
        memcpy(p->bias, in[2].data, (size_t)nout * sizeof(float));
    p->x = in[0].data;
    p->y = out->data;
    p->h = xs->dim[1];
    p->wd = xs->dim[2];
    p->c = c;
    p->oh = ys->dim[1];
    p->ow = ys->dim[2];
    p->n = nout;
    p->kh = kh;
    p->kw = kw;
    p->sh = sh;
    p->sw = sw;
    p->pt = pt;
    p->pl = pl;
    p->rows = rows;
    vs_interior_cols(p->wd, kw, sw, pl, p->ow, &p->ox_lo, &p->ox_hi);
    p->tasks = vs_row_tasks(threads, rows);
    p->act = n->act;
    p->lo = n->act_min;
    p->hi = n->act_max;
    *plan = p;
    return VS_OK;
}

vs_status vs_conv_plan_run(const vs_conv_plan *p, pthreadpool_t pool)
{
    if (!p)
        return VS_INVAL;
    vs_row_tasks_run(pool, conv_task, (void *)p, p->tasks);
    return VS_OK;
}

void vs_conv_plan_free(vs_conv_plan *p)
{
    if (!p)
        return;
    free(p->w);
    free(p->bias);
    free(p);
}

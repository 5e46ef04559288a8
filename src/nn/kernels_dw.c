/*
 * kernels_dw.c - direct NHWC depthwise convolution (depth multiplier 1), faster than Debian's
 * XNNPACK 2022 on the depthwise layers of blazeface, the MobileNets and faceres.
 *
 * One task computes one output row, in chunks of up to DW_CHUNK channels.  Within a chunk,
 * output columns whose window lies inside the input ("interior") run a register-blocked tile of
 * T neighbouring pixels times B vectors of channels with no bounds checks; the few border columns
 * run the same tile with T = 1 and the window clipped.  Window rows in the top or bottom padding
 * are clipped once per row, outside the column loops.
 *
 * DESIGN NOTES
 *   1. Channels go in vectors of VW = 8 floats (GCC vector extensions: AVX2/AVX-512VL ymm on x86,
 *      two NEON registers on ARM).  Eight, not sixteen, because blazeface has 24 channels: on AMD
 *      Zen 4 a 256-bit FMA has the same FLOP rate as a 512-bit one, and a narrower vector wastes
 *      less on the channel tail.
 *   2. The channel tail needs no mask: when C >= VW and C is not a multiple of VW, the last
 *      vector starts at C - VW and overlaps the one before it.  The overlapped lanes are computed
 *      twice and stored twice with the same value, which is harmless because the input and the
 *      output never overlap.  Rows with C < VW take a scalar loop.
 *   3. A tile of T pixels x B vectors keeps T * B accumulators (8) in registers, enough to hide
 *      the FMA latency, and reuses each loaded input vector for up to KW taps (stride 1).  Single
 *      pixels (borders, the end of a row) use B = 4 for four independent chains.
 *   4. The filter can be read in TFJS's [KH,KW,C,1] layout as it is ([tap][channel]).  With 512
 *      or 1024 channels its taps are 2 or 4 KiB apart and all fall in the same L1 set; a
 *      vs_dw_plan therefore repacks it chunk by chunk (dw_chunk), each chunk's taps contiguous.
 *      The input has the same problem (pixels C * 4 bytes apart) and no cheap cure: those wide,
 *      small layers (7x7x1024) run at about XNNPACK's speed, not faster.
 *   5. The hot function is compiled three times (target_clones: x86-64-v4, x86-64-v3 and
 *      baseline) and the loader picks one for the CPU; on other architectures once.  GCC only
 *      fuses a * b + c into an FMA under -ffp-contract=fast, which -std=c11 turns off, so this
 *      file turns it back on (clang fuses within an expression by default).
 *   6. Each output is bias + the sum over filter row, then filter column, as the reference
 *      kernel sums (kernels_ref.c), with one rounding per FMA instead of two.
 */
#include "kernels_dw.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Last: it sets this file's floating-point contraction and warnings (vec8.h). */
#include "vec8.h"

#define DW_INLINE static inline __attribute__((always_inline))
#define PRAGMA_UNROLL _Pragma("GCC unroll 8")

enum { TILE_MAX = 16 };

/* Tile shapes (T pixels, B vectors) for 3x3 stride 1 and 2, and the channel chunk, tuned on the
 * layers of bench/dw_bench.c (AMD Zen 4); -D overrides them for experiments. */
#ifndef DW_T31
#define DW_T31 4
#define DW_B31 2
#define DW_T32 2
#define DW_B32 4
#endif
#ifndef DW_CHUNK
#define DW_CHUNK 256
#endif

/* Everything one row task needs; built once per call, read-only in the tasks. */
typedef struct dw_job {
    const float *x, *w, *bias, *alpha;
    float *y;
    int64_t n, h, wd, c; /* input batch, height, width, channels */
    int64_t oh, ow;      /* output height, width */
    int64_t kh, kw, sh, sw, pt, pl;
    int64_t ox_lo, ox_hi; /* output columns [ox_lo, ox_hi) read no padding */
    vs_act act;
    float lo, hi, leak;    /* CLAMP bounds, LEAKY_RELU slope */
    int bias_bc, alpha_bc; /* bias / alpha hold one value for every channel */
    int packed;            /* w is a vs_dw_plan's packed filter (dw_chunk) */
} dw_job;

DW_INLINE v8f bias_vec(const dw_job *j, int64_t c)
{
    if (!j->bias)
        return vsplat(0.0f);
    return j->bias_bc ? vsplat(j->bias[0]) : vld(j->bias + c);
}

/* The activations of kernels_ref.c's act_row on T vectors of channels c..c+VW-1; the
 * comparisons are the reference's, so NaN passes through the same way. */
DW_INLINE void act_vec(const dw_job *j, v8f *acc, const int t_n, int64_t c)
{
    const v8f zero = vsplat(0.0f);
    switch (j->act) {
    case VS_ACT_RELU:
        PRAGMA_UNROLL
        for (int t = 0; t < t_n; t++)
            acc[t] = VSEL(acc[t] < zero, zero, acc[t]);
        break;
    case VS_ACT_RELU6: {
        const v8f six = vsplat(6.0f);
        PRAGMA_UNROLL
        for (int t = 0; t < t_n; t++)
            acc[t] = VSEL(acc[t] < zero, zero, VSEL(acc[t] > six, six, acc[t]));
        break;
    }
    case VS_ACT_CLAMP: {
        const v8f lo = vsplat(j->lo), hi = vsplat(j->hi);
        PRAGMA_UNROLL
        for (int t = 0; t < t_n; t++)
            acc[t] = VSEL(acc[t] > hi, hi, VSEL(acc[t] < lo, lo, acc[t]));
        break;
    }
    case VS_ACT_PRELU: {
        const v8f a = j->alpha_bc ? vsplat(j->alpha[0]) : vld(j->alpha + c);
        PRAGMA_UNROLL
        for (int t = 0; t < t_n; t++)
            acc[t] = VSEL(acc[t] < zero, a * acc[t], acc[t]);
        break;
    }
    case VS_ACT_LEAKY_RELU: {
        const v8f a = vsplat(j->leak);
        PRAGMA_UNROLL
        for (int t = 0; t < t_n; t++)
            acc[t] = VSEL(acc[t] < zero, a * acc[t], acc[t]);
        break;
    }
    default: /* NONE; vs_dw_check refused the others */
        break;
    }
}

/* ---- the vector path (C >= VW) ----------------------------------------------------------- */

/* The filter of one chunk of channels [cs, ce): tap t (ky * KW + kx), channel cs + i is at
 * w[t * wts + i].  Unpacked (TFJS layout) wts = C; packed (vs_dw_plan) wts = ce - cs and the
 * chunk's taps are contiguous. */
typedef struct dw_chunk {
    int64_t cs, ce;
    const float *w;
    int64_t wts;
} dw_chunk;

static inline dw_chunk dw_chunk_at(const dw_job *j, int64_t cs)
{
    dw_chunk ch = {cs, j->c - cs <= DW_CHUNK ? j->c : cs + DW_CHUNK, NULL, j->c};
    if (j->packed) {
        ch.w = j->w + cs * j->kh * j->kw;
        ch.wts = ch.ce - cs;
    } else {
        ch.w = j->w + cs;
    }
    return ch;
}

/*
 * T neighbouring output pixels (S input columns apart) times B vectors of channels from c0, with
 * T * B independent accumulators so that FMA latency is hidden.  xr: the input pixel of the
 * first tap inside the image (ky0, kx0) for the first output pixel, at channel 0; the window is
 * nky rows by nkx columns of taps from (ky0, kx0).  In the interior nkx, S, T and B are
 * constants after inlining, so the tap and pixel loops unroll and the accumulators live in
 * registers; at the borders nkx varies and T = 1.
 */
DW_INLINE void dw_tile_cb(const dw_job *j, const dw_chunk *ch, const float *xr, int64_t ky0,
                          int64_t kx0, int64_t nky, const int64_t nkx, float *yp, int64_t c0,
                          const int S, const int T, const int B)
{
    const int64_t c_n = j->c, rs = j->wd * c_n, wts = ch->wts;
    const float *wk = ch->w + (ky0 * j->kw + kx0) * wts + (c0 - ch->cs);
    v8f acc[TILE_MAX];
    PRAGMA_UNROLL
    for (int b = 0; b < B; b++) {
        const v8f bv = bias_vec(j, c0 + b * VW);
        PRAGMA_UNROLL
        for (int t = 0; t < T; t++)
            acc[t * B + b] = bv;
    }
    for (int64_t ky = 0; ky < nky; ky++) {
        const float *xk = xr + ky * rs + c0, *wr = wk + ky * j->kw * wts;
        PRAGMA_UNROLL
        for (int64_t kx = 0; kx < nkx; kx++) {
            PRAGMA_UNROLL
            for (int b = 0; b < B; b++) {
                const v8f wv = vld(wr + kx * wts + b * VW);
                PRAGMA_UNROLL
                for (int t = 0; t < T; t++)
                    acc[t * B + b] += vld(xk + (t * S + kx) * c_n + b * VW) * wv;
            }
        }
    }
    PRAGMA_UNROLL
    for (int b = 0; b < B; b++) {
        v8f out[TILE_MAX];
        PRAGMA_UNROLL
        for (int t = 0; t < T; t++)
            out[t] = acc[t * B + b];
        act_vec(j, out, T, c0 + b * VW);
        PRAGMA_UNROLL
        for (int t = 0; t < T; t++)
            vst(yp + t * c_n + c0 + b * VW, &out[t]);
    }
}

/* dw_tile_cb over the chunk's channels: groups of B vectors, then single vectors, the last of
 * which may overlap the one before (DESIGN NOTES 2). */
DW_INLINE void dw_tile(const dw_job *j, const dw_chunk *ch, const float *xr, int64_t ky0,
                       int64_t kx0, int64_t nky, const int64_t nkx, float *yp, const int S,
                       const int T, const int B)
{
    int64_t c0 = ch->cs;
    if (B > 1) {
        for (; c0 + B * VW <= ch->ce; c0 += B * VW)
            dw_tile_cb(j, ch, xr, ky0, kx0, nky, nkx, yp, c0, S, T, B);
    }
    for (; c0 < ch->ce; c0 += VW)
        dw_tile_cb(j, ch, xr, ky0, kx0, nky, nkx, yp, c0 + VW <= ch->ce ? c0 : ch->ce - VW, S, T,
                   1);
}

/* One border output pixel: the window is clipped to the image in both directions.  Four
 * channel vectors at a time, for four independent FMA chains. */
DW_INLINE void dw_edge_pixel(const dw_job *j, const dw_chunk *ch, const float *xb, int64_t iy0,
                             int64_t ky0, int64_t ky1, int64_t ox, float *yp)
{
    const int64_t ix0 = ox * j->sw - j->pl;
    const int64_t kx0 = ix0 < 0 ? -ix0 : 0;
    const int64_t kx1 = j->wd - ix0 < j->kw ? j->wd - ix0 : j->kw;
    const int64_t nky = ky1 > ky0 ? ky1 - ky0 : 0, nkx = kx1 > kx0 ? kx1 - kx0 : 0;
    /* The pointer starts at the first tap inside the image; when the window lies wholly in the
     * padding nothing is read and it stays at the buffer's start. */
    const float *xr = xb;
    if (nky > 0 && nkx > 0)
        xr = xb + ((iy0 + ky0) * j->wd + ix0 + kx0) * j->c;
    dw_tile(j, ch, xr, ky0, kx0, nky, nkx, yp, 1, 1, 4);
}

/* Interior output columns [ox_lo, ox_hi) of one row, window rows [ky0, ky0 + nky): tiles of T
 * pixels, then pixels one by one.  xrow: input row iy0 + ky0. */
DW_INLINE void dw_interior(const dw_job *j, const dw_chunk *ch, const float *xrow, int64_t ky0,
                           int64_t nky, float *yr, const int KW, const int S, const int T,
                           const int B)
{
    const int64_t c_n = j->c;
    int64_t ox = j->ox_lo;
    for (; ox + T <= j->ox_hi; ox += T)
        dw_tile(j, ch, xrow + (ox * S - j->pl) * c_n, ky0, 0, nky, KW, yr + ox * c_n, S, T, B);
    for (; ox < j->ox_hi; ox++)
        dw_tile(j, ch, xrow + (ox * S - j->pl) * c_n, ky0, 0, nky, KW, yr + ox * c_n, S, 1, 4);
}

/* ---- the scalar path (C < VW) ------------------------------------------------------------ */

DW_INLINE float act_scalar(const dw_job *j, float v, int64_t c)
{
    switch (j->act) {
    case VS_ACT_RELU:
        return v < 0.0f ? 0.0f : v;
    case VS_ACT_RELU6:
        return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
    case VS_ACT_CLAMP:
        return v > j->hi ? j->hi : (v < j->lo ? j->lo : v);
    case VS_ACT_PRELU:
        return v < 0.0f ? j->alpha[j->alpha_bc ? 0 : c] * v : v;
    case VS_ACT_LEAKY_RELU:
        return v < 0.0f ? j->leak * v : v;
    default:
        return v;
    }
}

DW_INLINE void dw_row_scalar(const dw_job *j, const float *xb, int64_t iy0, int64_t ky0,
                             int64_t ky1, float *yr)
{
    const int64_t c_n = j->c;
    for (int64_t ox = 0; ox < j->ow; ox++) {
        const int64_t ix0 = ox * j->sw - j->pl;
        const int64_t kx0 = ix0 < 0 ? -ix0 : 0;
        const int64_t kx1 = j->wd - ix0 < j->kw ? j->wd - ix0 : j->kw;
        for (int64_t c = 0; c < c_n; c++) {
            float acc = j->bias ? j->bias[j->bias_bc ? 0 : c] : 0.0f;
            for (int64_t ky = ky0; ky < ky1; ky++)
                for (int64_t kx = kx0; kx < kx1; kx++)
                    acc += xb[((iy0 + ky) * j->wd + ix0 + kx) * c_n + c] *
                           j->w[(ky * j->kw + kx) * c_n + c];
            yr[ox * c_n + c] = act_scalar(j, acc, c);
        }
    }
}

/* ---- one output row ---------------------------------------------------------------------- */

/* The interior of one output row for kernel widths and strides with a specialised tile;
 * returns 0 (and does nothing) for the others. */
DW_INLINE int dw_interior_any(const dw_job *j, const dw_chunk *ch, const float *xrow, int64_t ky0,
                              int64_t nky, float *yr)
{
    if (j->kw == 3 && j->sw == 1 && (ch->ce - ch->cs) % (3 * VW) == 0)
        dw_interior(j, ch, xrow, ky0, nky, yr, 3, 1, DW_T31, 3);
    else if (j->kw == 3 && j->sw == 1)
        dw_interior(j, ch, xrow, ky0, nky, yr, 3, 1, DW_T31, DW_B31);
    else if (j->kw == 3 && j->sw == 2 && (ch->ce - ch->cs) % (3 * VW) == 0)
        dw_interior(j, ch, xrow, ky0, nky, yr, 3, 2, 4, 3);
    else if (j->kw == 3 && j->sw == 2)
        dw_interior(j, ch, xrow, ky0, nky, yr, 3, 2, DW_T32, DW_B32);
    else if (j->kw == 5 && j->sw == 1)
        dw_interior(j, ch, xrow, ky0, nky, yr, 5, 1, 4, 2);
    else if (j->kw == 5 && j->sw == 2)
        dw_interior(j, ch, xrow, ky0, nky, yr, 5, 2, 2, 4);
    else
        return 0;
    return 1;
}

/* The chunk ch of one output row: left border, interior, right border.  Any other kernel size
 * or stride runs the clipped per-pixel loop over the whole row. */
DW_INLINE void dw_row_chunk(const dw_job *j, const dw_chunk *ch, const float *xb, int64_t iy0,
                            int64_t ky0, int64_t ky1, float *yr)
{
    const int64_t c_n = j->c;
    int64_t ox = 0;
    for (; ox < j->ox_lo; ox++)
        dw_edge_pixel(j, ch, xb, iy0, ky0, ky1, ox, yr + ox * c_n);
    if (ky1 > ky0 && j->ox_hi > j->ox_lo &&
        dw_interior_any(j, ch, xb + (iy0 + ky0) * j->wd * c_n, ky0, ky1 - ky0, yr))
        ox = j->ox_hi;
    for (; ox < j->ow; ox++)
        dw_edge_pixel(j, ch, xb, iy0, ky0, ky1, ox, yr + ox * c_n);
}

/* Output row r of N*OH into yr (OW*C floats). */
VEC8_CLONES static void dw_row_to(const dw_job *j, size_t r, float *yr)
{
    const int64_t c_n = j->c, b = (int64_t)r / j->oh, oy = (int64_t)r % j->oh;
    const float *xb = j->x + b * j->h * j->wd * c_n;
    const int64_t iy0 = oy * j->sh - j->pt;
    const int64_t ky0 = iy0 < 0 ? -iy0 : 0;
    const int64_t ky1 = j->h - iy0 < j->kh ? j->h - iy0 : j->kh;

    if (c_n < VW) {
        dw_row_scalar(j, xb, iy0, ky0, ky1, yr);
        return;
    }
    /* Chunks of channels, so that the filter and the input a tile reads stay in L1. */
    for (int64_t cs = 0; cs < c_n; cs += DW_CHUNK) {
        const dw_chunk ch = dw_chunk_at(j, cs);
        dw_row_chunk(j, &ch, xb, iy0, ky0, ky1, yr);
        if (ch.ce == c_n)
            break;
    }
}

/* pthreadpool task: output row r of N*OH, in place in the output tensor. */
static void dw_row(void *ctx, size_t r)
{
    const dw_job *j = ctx;
    dw_row_to(j, r, j->y + (int64_t)r * j->ow * j->c);
}

/* ---- entry points ------------------------------------------------------------------------ */

static const vs_tview *opt_in(const vs_node *n, const vs_tview *in, int i)
{
    if (i >= n->n_in || n->in[i] < 0 || !in[i].data)
        return NULL;
    return &in[i];
}

static int64_t numel(const vs_shape *s)
{
    int64_t k = 1;
    for (int i = 0; i < s->rank; i++)
        k *= s->dim[i];
    return k;
}

/* Checks n against its views and, when j is non-NULL, fills the job (with the views' data
 * pointers; need_io: whether x and y must already be there). */
static vs_status dw_setup(const vs_node *n, const vs_tview *in, const vs_tview *out, int need_io,
                          dw_job *j)
{
    if (n->op != VS_OP_DWCONV2D || n->n_in < 2)
        return VS_UNSUPPORTED;
    const vs_shape *xs = &in[0].shape, *fs = &in[1].shape, *ys = &out->shape;
    if (xs->rank != 4 || fs->rank != 4 || ys->rank != 4 || !in[1].data ||
        (need_io && (!in[0].data || !out->data)))
        return VS_INVAL;
    if (fs->dim[3] != 1 || n->dilation[0] != 1 || n->dilation[1] != 1 ||
        (unsigned)n->act > (unsigned)VS_ACT_LEAKY_RELU)
        return VS_UNSUPPORTED;
    const int64_t h = xs->dim[1], wd = xs->dim[2], c = xs->dim[3], kh = fs->dim[0], kw = fs->dim[1];
    const int64_t sh = n->stride[0], sw = n->stride[1];
    const int64_t pt = n->pad[0], pb = n->pad[1], pl = n->pad[2], pr = n->pad[3];
    if (fs->dim[2] != c || ys->dim[3] != c || ys->dim[0] != xs->dim[0] || kh < 1 || kw < 1 ||
        kh > INT_MAX || kw > INT_MAX || sh < 1 || sw < 1 || pt < 0 || pb < 0 || pl < 0 || pr < 0)
        return VS_INVAL;
    if (h + pt + pb < kh || wd + pl + pr < kw || (h + pt + pb - kh) / sh + 1 != ys->dim[1] ||
        (wd + pl + pr - kw) / sw + 1 != ys->dim[2])
        return VS_INVAL;
    const vs_tview *bias = opt_in(n, in, 2), *alpha = opt_in(n, in, 3);
    if (bias && numel(&bias->shape) != c && numel(&bias->shape) != 1)
        return VS_INVAL;
    if (n->act == VS_ACT_PRELU &&
        (!alpha || (numel(&alpha->shape) != c && numel(&alpha->shape) != 1)))
        return VS_INVAL;
    if (!j)
        return VS_OK;

    *j = (dw_job){.x = in[0].data,
                  .w = in[1].data,
                  .y = out->data,
                  .n = xs->dim[0],
                  .h = h,
                  .wd = wd,
                  .c = c,
                  .oh = ys->dim[1],
                  .ow = ys->dim[2],
                  .kh = kh,
                  .kw = kw,
                  .sh = sh,
                  .sw = sw,
                  .pt = pt,
                  .pl = pl,
                  .act = n->act,
                  .lo = n->act_min,
                  .hi = n->act_max,
                  .leak = n->alpha};
    if (bias) {
        j->bias = bias->data;
        j->bias_bc = numel(&bias->shape) == 1 && c != 1;
    }
    if (n->act == VS_ACT_PRELU) {
        j->alpha = alpha->data;
        j->alpha_bc = numel(&alpha->shape) == 1 && c != 1;
    }
    vs_interior_cols(wd, kw, sw, pl, j->ow, &j->ox_lo, &j->ox_hi);
    return VS_OK;
}

/* Runs every output row of j, on the pool's threads when it has more than one. */
static void dw_launch(dw_job *j, pthreadpool_t pool)
{
    const size_t rows = (size_t)(j->n * j->oh);
    if (j->ow == 0 || j->c == 0 || rows == 0)
        return;
    if (pool && pthreadpool_get_threads_count(pool) > 1) {
        pthreadpool_parallelize_1d(pool, dw_row, j, rows, 0);
    } else {
        for (size_t r = 0; r < rows; r++)
            dw_row(j, r);
    }
}

vs_status vs_dw_check(const vs_node *n, const vs_tview *in, const vs_tview *out)
{
    return dw_setup(n, in, out, 0, NULL);
}

vs_status vs_dw_conv(const vs_node *n, const vs_tview *in, vs_tview *out, pthreadpool_t pool)
{
    dw_job j;
    vs_status st = dw_setup(n, in, out, 1, &j);
    if (st != VS_OK)
        return st;
    dw_launch(&j, pool);
    return VS_OK;
}

/* ---- plans ------------------------------------------------------------------------------- */

struct vs_dw_plan {
    dw_job job;   /* geometry, activation and the arrays below; x and y are set per run */
    float *w;     /* the filter, chunk by chunk, each chunk's taps contiguous (dw_chunk) */
    float *bias;  /* C values (zeros when the node has none) */
    float *alpha; /* C PReLU slopes, or NULL */
};

/* Fills p's arrays from the node's filter, bias and alpha; j describes them as the node has. */
static void dw_pack(vs_dw_plan *p, const dw_job *j)
{
    const int64_t c_n = j->c, taps = j->kh * j->kw;
    dw_job packed = *j;
    packed.packed = 1;
    packed.w = p->w;
    for (int64_t cs = 0; cs < c_n; cs += DW_CHUNK) {
        const dw_chunk ch = dw_chunk_at(&packed, cs);
        float *dst = p->w + cs * taps;
        for (int64_t t = 0; t < taps; t++)
            memcpy(dst + t * ch.wts, j->w + t * c_n + cs, (size_t)(ch.ce - cs) * sizeof(float));
        if (ch.ce == c_n)
            break;
    }
    for (int64_t c = 0; c < c_n; c++) {
        p->bias[c] = j->bias ? j->bias[j->bias_bc ? 0 : c] : 0.0f;
        if (p->alpha)
            p->alpha[c] = j->alpha[j->alpha_bc ? 0 : c];
    }
    p->job = packed;
    p->job.bias = p->bias;
    p->job.alpha = p->alpha;
    p->job.bias_bc = p->job.alpha_bc = 0;
    p->job.x = NULL;
    p->job.y = NULL;
}

vs_status vs_dw_plan_new(const vs_node *n, const vs_tview *in, const vs_tview *out,
                         vs_dw_plan **plan)
{
    *plan = NULL;
    dw_job j;
    vs_status st = dw_setup(n, in, out, 0, &j);
    if (st != VS_OK)
        return st;
    /* The filter exists in memory with this many elements, so the sizes cannot overflow. */
    const size_t wn = (size_t)numel(&in[1].shape), c = (size_t)j.c;
    vs_dw_plan *p = calloc(1, sizeof *p);
    if (!p)
        return VS_NOMEM;
    p->w = malloc((wn ? wn : 1) * sizeof(float));
    p->bias = malloc((c ? c : 1) * sizeof(float));
    if (j.act == VS_ACT_PRELU)
        p->alpha = malloc((c ? c : 1) * sizeof(float));
    if (!p->w || !p->bias || (j.act == VS_ACT_PRELU && !p->alpha)) {
        vs_dw_plan_free(p);
        return VS_NOMEM;
    }
    dw_pack(p, &j);
    *plan = p;
    return VS_OK;
}

vs_status vs_dw_plan_run(const vs_dw_plan *p, const float *x, float *y, pthreadpool_t pool)
{
    if (!p || !x || !y)
        return VS_INVAL;
    dw_job j = p->job;
    j.x = x;
    j.y = y;
    dw_launch(&j, pool);
    return VS_OK;
}

void vs_dw_plan_row(const vs_dw_plan *p, const float *x, size_t r, float *yrow)
{
    dw_job j = p->job;
    j.x = x;
    dw_row_to(&j, r, yrow);
}

void vs_dw_plan_free(vs_dw_plan *p)
{
    if (!p)
        return;
    free(p->w);
    free(p->bias);
    free(p->alpha);
    free(p);
}

/*
 * kernels_dw.c - direct NHWC depthwise convolution (depth multiplier 1), faster than Debian's
 * XNNPACK 2022 on the small-channel layers of blazeface and the MobileNets.
 *
 * One task computes one output row.  Within a row, output columns whose window lies inside the
 * input ("interior") run a register-blocked tile of T neighbouring pixels with no bounds checks;
 * the few border columns run a per-pixel loop that clips the window.  Rows of the window that
 * fall in the top or bottom padding are clipped once per row, outside the column loops.
 *
 * DESIGN NOTES
 *   1. Channels go in vectors of VW = 8 floats (GCC vector extensions: AVX2/AVX-512VL ymm on x86,
 *      two NEON registers on ARM).  Eight, not sixteen, because our models have 24, 28, 36 and
 *      42 channels: on AMD Zen 4 a 256-bit FMA has the same FLOP rate as a 512-bit one, and a
 *      narrower vector wastes less on the channel tail.
 *   2. The channel tail needs no mask: when C >= VW and C is not a multiple of VW, the last
 *      vector starts at C - VW and overlaps the one before it.  The overlapped lanes are computed
 *      twice and stored twice with the same value, which is harmless because the input and the
 *      output never overlap.  Rows with C < VW take a scalar loop.
 *   3. The filter stays in TFJS's [KH,KW,C,1] layout, which is already [tap][channel]: a vector
 *      of 8 channels of one tap is one unaligned load from L1, so repacking would buy nothing
 *      and the kernel needs no per-runtime state.
 *   4. The hot functions are compiled three times (target_clones: x86-64-v4, x86-64-v3 and
 *      baseline) and the loader picks one for the CPU; on other architectures once.  GCC only
 *      fuses a * b + c into an FMA under -ffp-contract=fast, which -std=c11 turns off, so this
 *      file turns it back on (clang fuses within an expression by default).
 *   5. Each output is bias + the sum over filter row, then filter column, as the reference
 *      kernel sums (kernels_ref.c), with one rounding per FMA instead of two.
 */
#include "kernels_dw.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
/* The vector helpers are always inlined, so no vector ever crosses a real call: GCC's note that
 * passing 32-byte vectors without AVX changes the ABI does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define DW_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DW_CLONES
#endif

#define DW_INLINE static inline __attribute__((always_inline))
#define PRAGMA_UNROLL _Pragma("GCC unroll 8")

enum { VW = 8, TILE_MAX = 8 };

typedef float v8f __attribute__((vector_size(VW * sizeof(float))));
typedef int32_t v8i __attribute__((vector_size(VW * sizeof(int32_t))));

/* Everything one row task needs; built once per call, read-only in the tasks. */
typedef struct dw_job {
    const float *x, *w, *bias, *alpha;
    float *y;
    int64_t h, wd, c;     /* input height, width, channels */
    int64_t oh, ow;       /* output height, width */
    int64_t kh, kw, sh, sw, pt, pl;
    int64_t ox_lo, ox_hi; /* output columns [ox_lo, ox_hi) read no padding */
    vs_act act;
    float lo, hi, leak;   /* CLAMP bounds, LEAKY_RELU slope */
    int bias_bc, alpha_bc; /* bias / alpha hold one value for every channel */
} dw_job;

/* ---- vector helpers ---------------------------------------------------------------------- */

DW_INLINE v8f vld(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Takes the vector by address for the reason given at VSEL. */
DW_INLINE void vst(float *p, const v8f *v)
{
    memcpy(p, v, sizeof *v);
}

DW_INLINE v8f vsplat(float a)
{
    return (v8f){0} + a; /* GCC turns a vector-scalar operation into a broadcast */
}

/* m ? a : b, lane by lane (m from a vector comparison: all ones or all zeros).  A macro, not a
 * function: GCC prints an ABI note for any function taking 32-byte vectors in a file compiled
 * without AVX, even one that is always inlined.  Arguments are evaluated more than once. */
#define VSEL(m, a, b) ((v8f)(((m) & (v8i)(a)) | (~(m) & (v8i)(b))))

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

/*
 * T neighbouring interior output pixels, every channel.  xr: the input at the first filter row
 * that is inside the image and the first filter column of the first pixel; wk: the filter at
 * that row; nky filter rows.  KW, S and T are constants after inlining, so the tap and pixel
 * loops unroll and the accumulators live in registers.
 */
DW_INLINE void dw_tile(const dw_job *j, const float *xr, const float *wk, int64_t nky, float *yp,
                       const int KW, const int S, const int T)
{
    const int64_t c_n = j->c, rs = j->wd * c_n;
    for (int64_t c0 = 0;; c0 += VW) {
        if (c0 > c_n - VW)
            c0 = c_n - VW; /* the overlapping last vector (DESIGN NOTES 2) */
        v8f acc[TILE_MAX];
        const v8f b = bias_vec(j, c0);
        /* -O2 unrolls no loop that grows the code: these must unroll for acc[] to live in
         * registers. */
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            acc[t] = b;
        for (int64_t ky = 0; ky < nky; ky++) {
            const float *xk = xr + ky * rs + c0, *wr = wk + ky * KW * c_n + c0;
#pragma GCC unroll 8
            for (int kx = 0; kx < KW; kx++) {
                const v8f wv = vld(wr + kx * c_n);
#pragma GCC unroll 8
                for (int t = 0; t < T; t++)
                    acc[t] += vld(xk + (t * S + kx) * c_n) * wv;
            }
        }
        act_vec(j, acc, T, c0);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            vst(yp + t * c_n + c0, &acc[t]);
        if (c0 == c_n - VW)
            break;
    }
}

/* Interior output columns [ox, ox_end) of one row, in tiles of T then one by one. */
DW_INLINE void dw_interior(const dw_job *j, const float *xrow, const float *wk, int64_t nky,
                           float *yr, const int KW, const int S, const int T)
{
    const int64_t c_n = j->c;
    int64_t ox = j->ox_lo;
    for (; ox + T <= j->ox_hi; ox += T)
        dw_tile(j, xrow + (ox * S - j->pl) * c_n, wk, nky, yr + ox * c_n, KW, S, T);
    for (; ox < j->ox_hi; ox++)
        dw_tile(j, xrow + (ox * S - j->pl) * c_n, wk, nky, yr + ox * c_n, KW, S, 1);
}

/* One border output pixel: the window is clipped to the image in both directions. */
DW_INLINE void dw_edge_pixel(const dw_job *j, const float *xb, int64_t iy0, int64_t ky0,
                             int64_t ky1, int64_t ox, float *yp)
{
    const int64_t c_n = j->c, ix0 = ox * j->sw - j->pl;
    const int64_t kx0 = ix0 < 0 ? -ix0 : 0;
    const int64_t kx1 = j->wd - ix0 < j->kw ? j->wd - ix0 : j->kw;
    for (int64_t c0 = 0;; c0 += VW) {
        if (c0 > c_n - VW)
            c0 = c_n - VW;
        v8f acc = bias_vec(j, c0);
        for (int64_t ky = ky0; ky < ky1; ky++) {
            /* Pointers start at the first tap inside the image, never before the buffer. */
            const float *xk = xb + ((iy0 + ky) * j->wd + ix0 + kx0) * c_n + c0;
            const float *wr = j->w + (ky * j->kw + kx0) * c_n + c0;
            for (int64_t kx = 0; kx < kx1 - kx0; kx++)
                acc += vld(xk + kx * c_n) * vld(wr + kx * c_n);
        }
        act_vec(j, &acc, 1, c0);
        vst(yp + c0, &acc);
        if (c0 == c_n - VW)
            break;
    }
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

/* pthreadpool task: output row r of N*OH. */
DW_CLONES static void dw_row(void *ctx, size_t r)
{
    const dw_job *j = ctx;
    const int64_t c_n = j->c, b = (int64_t)r / j->oh, oy = (int64_t)r % j->oh;
    const float *xb = j->x + b * j->h * j->wd * c_n;
    float *yr = j->y + (int64_t)r * j->ow * c_n;
    const int64_t iy0 = oy * j->sh - j->pt;
    const int64_t ky0 = iy0 < 0 ? -iy0 : 0;
    const int64_t ky1 = j->h - iy0 < j->kh ? j->h - iy0 : j->kh;

    if (c_n < VW) {
        dw_row_scalar(j, xb, iy0, ky0, ky1, yr);
        return;
    }
    for (int64_t ox = 0; ox < j->ox_lo; ox++)
        dw_edge_pixel(j, xb, iy0, ky0, ky1, ox, yr + ox * c_n);
    if (ky1 > ky0 && j->ox_hi > j->ox_lo) {
        const float *xrow = xb + (iy0 + ky0) * j->wd * c_n;
        const float *wk = j->w + ky0 * j->kw * c_n;
        const int64_t nky = ky1 - ky0;
        if (j->kw == 3 && j->sw == 1)
            dw_interior(j, xrow, wk, nky, yr, 3, 1, 8);
        else if (j->kw == 3 && j->sw == 2)
            dw_interior(j, xrow, wk, nky, yr, 3, 2, 4);
        else if (j->kw == 5 && j->sw == 1)
            dw_interior(j, xrow, wk, nky, yr, 5, 1, 4);
        else if (j->kw == 5 && j->sw == 2)
            dw_interior(j, xrow, wk, nky, yr, 5, 2, 4);
        else
            for (int64_t ox = j->ox_lo; ox < j->ox_hi; ox++)
                dw_edge_pixel(j, xb, iy0, ky0, ky1, ox, yr + ox * c_n);
    } else {
        for (int64_t ox = j->ox_lo; ox < j->ox_hi; ox++)
            dw_edge_pixel(j, xb, iy0, ky0, ky1, ox, yr + ox * c_n);
    }
    for (int64_t ox = j->ox_hi; ox < j->ow; ox++)
        dw_edge_pixel(j, xb, iy0, ky0, ky1, ox, yr + ox * c_n);
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

/* Checks n against its views and, when j is non-NULL, fills the job. */
static vs_status dw_setup(const vs_node *n, const vs_tview *in, const vs_tview *out, dw_job *j)
{
    if (n->op != VS_OP_DWCONV2D || n->n_in < 2)
        return VS_UNSUPPORTED;
    const vs_shape *xs = &in[0].shape, *fs = &in[1].shape, *ys = &out->shape;
    if (xs->rank != 4 || fs->rank != 4 || ys->rank != 4 || !in[0].data || !in[1].data ||
        !out->data)
        return VS_INVAL;
    if (fs->dim[3] != 1 || n->dilation[0] != 1 || n->dilation[1] != 1 ||
        (unsigned)n->act > (unsigned)VS_ACT_LEAKY_RELU)
        return VS_UNSUPPORTED;
    const int64_t h = xs->dim[1], wd = xs->dim[2], c = xs->dim[3], kh = fs->dim[0],
                  kw = fs->dim[1];
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

    *j = (dw_job){.x = in[0].data, .w = in[1].data, .y = out->data, .h = h, .wd = wd, .c = c,
                  .oh = ys->dim[1], .ow = ys->dim[2], .kh = kh, .kw = kw, .sh = sh, .sw = sw,
                  .pt = pt, .pl = pl, .act = n->act, .lo = n->act_min, .hi = n->act_max,
                  .leak = n->alpha};
    if (bias) {
        j->bias = bias->data;
        j->bias_bc = numel(&bias->shape) == 1 && c != 1;
    }
    if (n->act == VS_ACT_PRELU) {
        j->alpha = alpha->data;
        j->alpha_bc = numel(&alpha->shape) == 1 && c != 1;
    }
    /* Interior columns: ox * sw - pl >= 0 and ox * sw - pl + kw <= wd. */
    int64_t lo = (pl + sw - 1) / sw, hi = wd + pl >= kw ? (wd + pl - kw) / sw + 1 : 0;
    lo = lo < j->ow ? lo : j->ow;
    hi = hi < j->ow ? hi : j->ow;
    j->ox_lo = lo;
    j->ox_hi = hi > lo ? hi : lo;
    return VS_OK;
}

vs_status vs_dw_check(const vs_node *n, const vs_tview *in, const vs_tview *out)
{
    return dw_setup(n, in, out, NULL);
}

vs_status vs_dw_conv(const vs_node *n, const vs_tview *in, vs_tview *out, pthreadpool_t pool)
{
    dw_job j;
    vs_status st = dw_setup(n, in, out, &j);
    if (st != VS_OK)
        return st;
    const size_t rows = (size_t)(out->shape.dim[0] * j.oh);
    if (j.ow == 0 || j.c == 0 || rows == 0)
        return VS_OK;
    if (pool && pthreadpool_get_threads_count(pool) > 1) {
        pthreadpool_parallelize_1d(pool, dw_row, &j, rows, 0);
    } else {
        for (size_t r = 0; r < rows; r++)
            dw_row(&j, r);
    }
    return VS_OK;
}

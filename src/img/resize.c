/*
 * resize.c - bilinear and area resampling, and cropping.
 *
 * The detectors and embedders were trained (and their reference outputs computed) with
 * TensorFlow.js's resizeBilinear, so the bilinear path reproduces its CPU kernel step by step:
 * the same source-coordinate formula for each of the three conventions, the same clamping of the
 * two taps, x interpolated before y, all in double precision as JavaScript computes.  The area
 * filter is the usual box filter for downscaling (each target pixel is the coverage-weighted mean
 * of the source pixels under it), which avoids the aliasing bilinear shows when shrinking a large
 * photo by more than two.
 *
 * Both write either 8-bit pixels (rounded half up, clamped) or floats scaled and offset for the
 * engine; nothing here allocates.  Sizes are small enough (ints) that per-pixel tap computation
 * costs less than the memory a tap table would need, so taps are recomputed per pixel.
 */
#include <math.h>
#include <string.h>

#include "img/img.h"

typedef struct tap {
    int i0, i1;  /* bilinear: the two source indices; area: the first and last covered index */
    double f;    /* bilinear: the weight of i1 */
    double s, e; /* area: the covered source interval [s, e) */
} tap;

/* TFJS: effectiveInputSize / effectiveOutputSize. */
static double axis_ratio(vs_resize_mode m, int in, int out)
{
    if (m == VS_RESIZE_BILINEAR_CORNERS && out > 1)
        return (double)(in - 1) / (double)(out - 1);
    return (double)in / (double)out;
}

static tap make_tap(vs_resize_mode m, int i, int in, double ratio)
{
    tap t = {0, 0, 0.0, 0.0, 0.0};
    if (m == VS_RESIZE_AREA) {
        t.s = ratio * i;
        t.e = ratio * (i + 1);
        if (t.e > in)
            t.e = in;
        t.i0 = (int)floor(t.s);
        t.i1 = (int)ceil(t.e) - 1;
        if (t.i1 < t.i0)
            t.i1 = t.i0;
        if (t.i1 > in - 1)
            t.i1 = in - 1;
        return t;
    }
    double s = m == VS_RESIZE_BILINEAR_HALF ? ratio * (i + 0.5) - 0.5 : ratio * i;
    double fl = floor(s);
    t.i0 = fl < 0 ? 0 : (int)fl;
    t.f = s - t.i0;
    double cl = ceil(s);
    t.i1 = cl > in - 1 ? in - 1 : (int)cl;
    if (t.i1 < 0)
        t.i1 = 0;
    return t;
}

static void sample_bilinear(const vs_image *src, const tap *tx, const tap *ty, double *v)
{
    const uint8_t *r0 = src->px + (size_t)ty->i0 * src->stride;
    const uint8_t *r1 = src->px + (size_t)ty->i1 * src->stride;
    size_t x0 = (size_t)tx->i0 * src->c, x1 = (size_t)tx->i1 * src->c;
    for (int k = 0; k < src->c; k++) {
        double tl = r0[x0 + k], tr = r0[x1 + k], bl = r1[x0 + k], br = r1[x1 + k];
        double top = tl + (tr - tl) * tx->f;
        double bottom = bl + (br - bl) * tx->f;
        v[k] = top + (bottom - top) * ty->f;
    }
}

/* The overlap of source pixel j ([j, j+1)) with the interval [s, e). */
static double overlap(int j, double s, double e)
{
    double lo = j > s ? j : s, hi = j + 1 < e ? j + 1 : e;
    return hi > lo ? hi - lo : 0.0;
}

static void sample_area(const vs_image *src, const tap *tx, const tap *ty, double *v)
{
    double acc[4] = {0, 0, 0, 0}, total = 0.0;
    for (int y = ty->i0; y <= ty->i1; y++) {
        double wy = overlap(y, ty->s, ty->e);
        const uint8_t *row = src->px + (size_t)y * src->stride;
        for (int x = tx->i0; x <= tx->i1; x++) {
            double wgt = wy * overlap(x, tx->s, tx->e);
            for (int k = 0; k < src->c; k++)
                acc[k] += wgt * row[(size_t)x * src->c + k];
            total += wgt;
        }
    }
    for (int k = 0; k < src->c; k++)
        v[k] = total > 0 ? acc[k] / total : 0.0;
}

static uint8_t to_u8(double v)
{
    if (v <= 0.0)
        return 0;
    if (v >= 255.0)
        return 255;
    return (uint8_t)floor(v + 0.5);
}

/* Resamples src to w x h; writes u8 rows into du (stride ds) or floats into df. */
static void resample(const vs_image *src, int w, int h, vs_resize_mode m, uint8_t *du, size_t ds,
                     float *df, float scale, float offset)
{
    double rx = axis_ratio(m, src->w, w), ry = axis_ratio(m, src->h, h);
    int c = src->c;
    double v[4];
    for (int y = 0; y < h; y++) {
        tap ty = make_tap(m, y, src->h, ry);
        for (int x = 0; x < w; x++) {
            tap tx = make_tap(m, x, src->w, rx);
            if (m == VS_RESIZE_AREA)
                sample_area(src, &tx, &ty, v);
            else
                sample_bilinear(src, &tx, &ty, v);
            for (int k = 0; k < c; k++) {
                if (du)
                    du[(size_t)y * ds + (size_t)x * c + k] = to_u8(v[k]);
                else
                    df[((size_t)y * w + x) * c + k] = (float)v[k] * scale + offset;
            }
        }
    }
}

static vs_status check_src(const vs_image *src, vs_resize_mode mode, vs_err *err)
{
    if (!src || !src->px || src->w <= 0 || src->h <= 0 || src->c < 1 || src->c > 4)
        return vs_err_set(err, VS_INVAL, "resize: bad source image");
    if ((unsigned)mode > VS_RESIZE_AREA)
        return vs_err_set(err, VS_INVAL, "resize: unknown mode %d", (int)mode);
    return VS_OK;
}

vs_status vs_img_resize(const vs_image *src, vs_image *dst, vs_resize_mode mode, vs_err *err)
{
    vs_status st = check_src(src, mode, err);
    if (st != VS_OK)
        return st;
    if (!dst || !dst->px || dst->w <= 0 || dst->h <= 0 || dst->c != src->c)
        return vs_err_set(err, VS_INVAL, "resize: destination must be a %d-channel image", src->c);
    if (dst->px == src->px)
        return vs_err_set(err, VS_INVAL, "resize cannot work in place");
    resample(src, dst->w, dst->h, mode, dst->px, dst->stride, NULL, 0.0f, 0.0f);
    return VS_OK;
}

vs_status vs_img_resize_to_f32(const vs_image *src, int w, int h, vs_resize_mode mode, float scale,
                               float offset, float *dst, vs_err *err)
{
    vs_status st = check_src(src, mode, err);
    if (st != VS_OK)
        return st;
    if (!dst || w <= 0 || h <= 0)
        return vs_err_set(err, VS_INVAL, "resize_to_f32: bad target %dx%d", w, h);
    resample(src, w, h, mode, NULL, 0, dst, scale, offset);
    return VS_OK;
}

vs_status vs_img_crop(const vs_image *src, int x, int y, int w, int h, vs_image **out, vs_err *err)
{
    if (!out)
        return vs_err_set(err, VS_INVAL, "crop: out is NULL");
    *out = NULL;
    if (!src || !src->px)
        return vs_err_set(err, VS_INVAL, "crop: no source image");
    /* 64-bit so that x + w cannot overflow. */
    long long x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    long long x1 = (long long)x + w, y1 = (long long)y + h;
    if (x1 > src->w)
        x1 = src->w;
    if (y1 > src->h)
        y1 = src->h;
    if (w <= 0 || h <= 0 || x1 <= x0 || y1 <= y0)
        return vs_err_set(err, VS_INVAL, "crop (%d,%d %dx%d) lies outside the %dx%d image", x, y, w,
                          h, src->w, src->h);
    vs_status st = vs_image_new((int)(x1 - x0), (int)(y1 - y0), src->c, out, err);
    if (st != VS_OK)
        return st;
    size_t row = (size_t)(*out)->w * src->c;
    for (int r = 0; r < (*out)->h; r++)
        memcpy((*out)->px + (size_t)r * (*out)->stride,
               src->px + (size_t)(y0 + r) * src->stride + (size_t)x0 * src->c, row);
    return VS_OK;
}

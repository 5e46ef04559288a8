/*
 * warp.c - affine warps and the similarity fit used to align faces.
 *
 * Face alignment maps a face's landmarks (eyes, nose, mouth corners) onto the fixed template an
 * embedder was trained with (e.g. ArcFace's 112 x 112 five-point template): fit a similarity
 * transform from the detected points to the template (vs_img_fit_similarity), then resample the
 * photo through it (vs_img_warp_affine).  Coordinates follow OpenCV's warpAffine, where pixel
 * (x, y) is the point (x, y), so templates and matrices published for OpenCV work unchanged.
 *
 * The fit is the least-squares similarity without reflection.  Umeyama's SVD solution restricted
 * to det(R) = +1 reduces in 2-D to a closed form: writing points as complex numbers z, the model
 * d = q z + t with complex q = a + ib is linear in (q, t), and the normal equations on centred
 * points give q = sum(conj(s_i) d_i) / sum |s_i|^2.  No SVD, no iteration, exact.
 */
#include <math.h>

#include "img/img.h"

vs_status vs_img_affine_invert(const float m[6], float inv[6], vs_err *err)
{
    if (!m || !inv)
        return vs_err_set(err, VS_INVAL, "affine_invert: NULL matrix");
    double a = m[0], b = m[1], tx = m[2], c = m[3], d = m[4], ty = m[5];
    double det = a * d - b * c;
    if (!(fabs(det) >= 1e-12))
        return vs_err_set(err, VS_INVAL, "affine matrix is singular (det %g)", det);
    double ia = d / det, ib = -b / det, ic = -c / det, id = a / det;
    inv[0] = (float)ia;
    inv[1] = (float)ib;
    inv[2] = (float)(-(ia * tx + ib * ty));
    inv[3] = (float)ic;
    inv[4] = (float)id;
    inv[5] = (float)(-(ic * tx + id * ty));
    return VS_OK;
}

/* One channel value at integer source (x, y), or the border value outside the image. */
static double fetch(const vs_image *src, int x, int y, int k, uint8_t border)
{
    if (x < 0 || y < 0 || x >= src->w || y >= src->h)
        return border;
    return src->px[(size_t)y * src->stride + (size_t)x * src->c + k];
}

static uint8_t round_u8(double v)
{
    if (v <= 0.0)
        return 0;
    if (v >= 255.0)
        return 255;
    return (uint8_t)floor(v + 0.5);
}

vs_status vs_img_warp_affine(const vs_image *src, const float m[6], uint8_t border, vs_image *dst,
                             vs_err *err)
{
    if (!src || !dst || !src->px || !dst->px || !m)
        return vs_err_set(err, VS_INVAL, "warp_affine: missing argument");
    if (src->c != dst->c)
        return vs_err_set(err, VS_INVAL, "warp_affine: %d channels into %d", src->c, dst->c);
    if (src->px == dst->px)
        return vs_err_set(err, VS_INVAL, "warp_affine cannot work in place");
    float inv[6];
    vs_status st = vs_img_affine_invert(m, inv, err);
    if (st != VS_OK)
        return st;

    int c = src->c;
    for (int y = 0; y < dst->h; y++) {
        uint8_t *out = dst->px + (size_t)y * dst->stride;
        for (int x = 0; x < dst->w; x++) {
            double sx = (double)inv[0] * x + (double)inv[1] * y + inv[2];
            double sy = (double)inv[3] * x + (double)inv[4] * y + inv[5];
            /* Far outside (or NaN): all four taps are border; also keeps the int casts safe. */
            if (!(sx > -2.0 && sy > -2.0 && sx < src->w + 1.0 && sy < src->h + 1.0)) {
                for (int k = 0; k < c; k++)
                    out[(size_t)x * c + k] = border;
                continue;
            }
            int x0 = (int)floor(sx), y0 = (int)floor(sy);
            double fx = sx - x0, fy = sy - y0;
            for (int k = 0; k < c; k++) {
                double top = fetch(src, x0, y0, k, border) * (1.0 - fx) +
                             fetch(src, x0 + 1, y0, k, border) * fx;
                double bot = fetch(src, x0, y0 + 1, k, border) * (1.0 - fx) +
                             fetch(src, x0 + 1, y0 + 1, k, border) * fx;
                out[(size_t)x * c + k] = round_u8(top * (1.0 - fy) + bot * fy);
            }
        }
    }
    return VS_OK;
}

vs_status vs_img_fit_similarity(const float *src_xy, const float *dst_xy, int n, float m[6],
                                vs_err *err)
{
    if (!src_xy || !dst_xy || !m || n < 2)
        return vs_err_set(err, VS_INVAL, "fit_similarity needs at least 2 point pairs (got %d)", n);
    double msx = 0, msy = 0, mdx = 0, mdy = 0;
    for (int i = 0; i < n; i++) {
        msx += src_xy[2 * i];
        msy += src_xy[2 * i + 1];
        mdx += dst_xy[2 * i];
        mdy += dst_xy[2 * i + 1];
    }
    msx /= n;
    msy /= n;
    mdx /= n;
    mdy /= n;
    double ss = 0, dot = 0, cross = 0;
    for (int i = 0; i < n; i++) {
        double sx = src_xy[2 * i] - msx, sy = src_xy[2 * i + 1] - msy;
        double dx = dst_xy[2 * i] - mdx, dy = dst_xy[2 * i + 1] - mdy;
        ss += sx * sx + sy * sy;
        dot += sx * dx + sy * dy;
        cross += sx * dy - sy * dx;
    }
    if (!(ss > 1e-12))
        return vs_err_set(err, VS_INVAL, "fit_similarity: the source points all coincide");
    double a = dot / ss, b = cross / ss;
    m[0] = (float)a;
    m[1] = (float)-b;
    m[2] = (float)(mdx - (a * msx - b * msy));
    m[3] = (float)b;
    m[4] = (float)a;
    m[5] = (float)(mdy - (b * msx + a * msy));
    return VS_OK;
}

/*
 * colour.c - channel conversions and the hand-off to the engine as floats.
 *
 * Luma is BT.601 (0.299, 0.587, 0.114), the weights JPEG's YCbCr and most grey-input face models
 * (e.g. a 64 x 64 grey landmark crop) were built with.  It is computed exactly in integers,
 * 299 R + 587 G + 114 B in thousandths, rounded half up, so results do not depend on float
 * rounding.  The float exporters write the layouts the engine's inputs use: NHWC for TFJS graphs,
 * NCHW (optionally BGR) for ONNX models.
 */
#include <math.h>
#include <string.h>

#include "img/img.h"

static uint8_t luma(const uint8_t *p)
{
    return (uint8_t)((299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u);
}

static uint8_t clamp_round(double v)
{
    if (v <= 0.0)
        return 0;
    if (v >= 255.0)
        return 255;
    return (uint8_t)floor(v + 0.5);
}

static int valid(const vs_image *img)
{
    return img && img->px && img->w > 0 && img->h > 0 &&
           (img->c == 1 || img->c == 3 || img->c == 4) && img->stride >= (size_t)img->w * img->c;
}

static vs_status check_pair(const vs_image *src, const vs_image *dst, const char *fn, vs_err *err)
{
    if (!valid(src) || !valid(dst))
        return vs_err_set(err, VS_INVAL, "%s: bad image", fn);
    if (src->w != dst->w || src->h != dst->h)
        return vs_err_set(err, VS_INVAL, "%s: %dx%d into %dx%d", fn, src->w, src->h, dst->w,
                          dst->h);
    return VS_OK;
}

/* One pixel from c_in to c_out channels (1, 3, 4). */
static void convert_px(const uint8_t *s, int ci, uint8_t *d, int co)
{
    uint8_t rgb[3];
    if (ci == 1)
        rgb[0] = rgb[1] = rgb[2] = s[0];
    else
        memcpy(rgb, s, 3);
    if (co == 1) {
        d[0] = ci == 1 ? s[0] : luma(rgb);
        return;
    }
    memcpy(d, rgb, 3);
    if (co == 4)
        d[3] = ci == 4 ? s[3] : 255;
}

vs_status vs_img_convert(const vs_image *src, vs_image *dst, vs_err *err)
{
    vs_status st = check_pair(src, dst, "convert", err);
    if (st != VS_OK)
        return st;
    if (src->px == dst->px && src->c != dst->c)
        return vs_err_set(err, VS_INVAL, "convert cannot change channels in place");
    for (int y = 0; y < src->h; y++) {
        const uint8_t *s = src->px + (size_t)y * src->stride;
        uint8_t *d = dst->px + (size_t)y * dst->stride;
        for (int x = 0; x < src->w; x++)
            convert_px(s + (size_t)x * src->c, src->c, d + (size_t)x * dst->c, dst->c);
    }
    return VS_OK;
}

vs_status vs_img_to_grey(const vs_image *src, vs_image *dst, vs_err *err)
{
    if (dst && dst->c != 1)
        return vs_err_set(err, VS_INVAL, "to_grey: destination has %d channels, not 1", dst->c);
    return vs_img_convert(src, dst, err);
}

vs_status vs_img_rgb_to_ycbcr(const vs_image *src, vs_image *dst, vs_err *err)
{
    vs_status st = check_pair(src, dst, "rgb_to_ycbcr", err);
    if (st != VS_OK)
        return st;
    if (src->c < 3 || dst->c != 3)
        return vs_err_set(err, VS_INVAL, "rgb_to_ycbcr: %d channels into %d (want 3/4 into 3)",
                          src->c, dst->c);
    for (int y = 0; y < src->h; y++) {
        const uint8_t *s = src->px + (size_t)y * src->stride;
        uint8_t *d = dst->px + (size_t)y * dst->stride;
        for (int x = 0; x < src->w; x++, s += src->c, d += 3) {
            double r = s[0], g = s[1], b = s[2];
            uint8_t yy = luma(s);
            d[0] = yy;
            d[1] = clamp_round(128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b);
            d[2] = clamp_round(128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b);
        }
    }
    return VS_OK;
}

vs_status vs_img_to_f32(const vs_image *img, float *dst, float scale, float offset)
{
    if (!valid(img) || !dst)
        return VS_INVAL;
    size_t row = (size_t)img->w * img->c;
    for (int y = 0; y < img->h; y++) {
        const uint8_t *s = img->px + (size_t)y * img->stride;
        float *d = dst + (size_t)y * row;
        for (size_t i = 0; i < row; i++)
            d[i] = (float)s[i] * scale + offset;
    }
    return VS_OK;
}

vs_status vs_img_to_f32_chw(const vs_image *img, float *dst, float scale, float offset, int bgr)
{
    if (!valid(img) || !dst)
        return VS_INVAL;
    size_t plane = (size_t)img->w * img->h;
    for (int k = 0; k < img->c; k++) {
        /* With bgr, plane k takes channel 2 - k for the colour channels; alpha stays last. */
        int from = bgr && k < 3 && img->c >= 3 ? 2 - k : k;
        float *d = dst + (size_t)k * plane;
        for (int y = 0; y < img->h; y++) {
            const uint8_t *s = img->px + (size_t)y * img->stride + from;
            for (int x = 0; x < img->w; x++)
                d[(size_t)y * img->w + x] = (float)s[(size_t)x * img->c] * scale + offset;
        }
    }
    return VS_OK;
}

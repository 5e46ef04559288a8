/*
 * quality.c - face quality measures and the good/poor verdict (see quality.h for every formula
 * and threshold).  Pure arithmetic on the image and the landmarks: no model, no allocation.
 */
#include "face/quality.h"

#include <math.h>
#include <string.h>

#define RAD2DEG 57.29577951308232

const char *vs_quality_reason_name(vs_quality_reason r)
{
    switch (r) {
    case VS_Q_TOO_SMALL:
        return "too_small";
    case VS_Q_BLURRY:
        return "blurry";
    case VS_Q_TOO_DARK:
        return "too_dark";
    case VS_Q_OVEREXPOSED:
        return "overexposed";
    case VS_Q_PROFILE:
        return "profile";
    case VS_Q_LOW_SCORE:
        return "low_score";
    }
    return NULL;
}

static void mean_pt(const float (*lm)[2], int from, int to, double p[2])
{
    p[0] = p[1] = 0;
    for (int i = from; i <= to; i++) {
        p[0] += lm[i][0];
        p[1] += lm[i][1];
    }
    p[0] /= to - from + 1;
    p[1] /= to - from + 1;
}

void vs_quality_pose(const float (*lm68)[2], float *yaw, float *pitch, float *roll)
{
    double el[2], er[2], c[2], m[2], q[68][2];
    mean_pt(lm68, 36, 41, el);
    mean_pt(lm68, 42, 47, er);
    double a = atan2(er[1] - el[1], er[0] - el[0]);
    c[0] = 0.5 * (el[0] + er[0]);
    c[1] = 0.5 * (el[1] + er[1]);
    /* Undo roll: rotate every point by -a about the eyes' midpoint. */
    double ca = cos(a), sa = sin(a);
    for (int i = 0; i < 68; i++) {
        double dx = lm68[i][0] - c[0], dy = lm68[i][1] - c[1];
        q[i][0] = ca * dx + sa * dy;
        q[i][1] = -sa * dx + ca * dy;
    }
    double span = q[16][0] - q[0][0];
    double r = fabs(span) > 1e-6 ? (q[30][0] - q[0][0]) / span : 0.5;
    double s = fmin(1.0, fmax(-1.0, 2.0 * r - 1.0));
    m[1] = 0.5 * (q[48][1] + q[54][1]); /* eyes are at y = 0 after the rotation */
    double ratio = fabs(m[1]) > 1e-6 ? q[30][1] / m[1] : VS_QUALITY_Q0;
    *roll = (float)(a * RAD2DEG);
    *yaw = (float)(asin(s) * RAD2DEG);
    *pitch = (float)(atan((ratio - VS_QUALITY_Q0) / VS_QUALITY_NOSE_DEPTH) * RAD2DEG);
}

/* The box, clipped to the image, as integer pixel bounds; 0 when empty. */
static int clip_box(const vs_image *img, const vs_det *det, int r[4])
{
    int x0 = (int)floorf(fmaxf(det->x0, 0.0f)), y0 = (int)floorf(fmaxf(det->y0, 0.0f));
    int x1 = (int)ceilf(fminf(det->x1, (float)img->w)),
        y1 = (int)ceilf(fminf(det->y1, (float)img->h));
    r[0] = x0;
    r[1] = y0;
    r[2] = x1 - x0;
    r[3] = y1 - y0;
    return r[2] > 0 && r[3] > 0;
}

/* Sharpness, brightness and contrast of the grey crop. */
static vs_status crop_stats(const vs_image *img, const int r[4], vs_quality *q, vs_err *err)
{
    enum { N = VS_QUALITY_CROP };
    uint8_t rgb[N * N * 4], grey[N * N];
    vs_image view = {r[2], r[3], img->c, img->stride,
                     img->px + (size_t)r[1] * img->stride + (size_t)r[0] * img->c};
    vs_image small = {N, N, img->c, (size_t)N * img->c, rgb};
    vs_image g = {N, N, 1, N, grey};
    int shrink = r[2] >= N && r[3] >= N;
    vs_status st =
        vs_img_resize(&view, &small, shrink ? VS_RESIZE_AREA : VS_RESIZE_BILINEAR_HALF, err);
    if (st == VS_OK)
        st = vs_img_to_grey(&small, &g, err);
    if (st != VS_OK)
        return st;
    double sum = 0, sum2 = 0, ls = 0, ls2 = 0;
    for (int i = 0; i < N * N; i++) {
        sum += grey[i];
        sum2 += (double)grey[i] * grey[i];
    }
    for (int y = 1; y < N - 1; y++)
        for (int x = 1; x < N - 1; x++) {
            const uint8_t *p = grey + y * N + x;
            double l = 4.0 * p[0] - p[-1] - p[1] - p[-N] - p[N];
            ls += l;
            ls2 += l * l;
        }
    double n = (double)N * N, nl = (double)(N - 2) * (N - 2);
    q->brightness = (float)(sum / n);
    q->contrast = (float)sqrt(fmax(0.0, sum2 / n - (sum / n) * (sum / n)));
    q->sharpness = (float)(ls2 / nl - (ls / nl) * (ls / nl));
    q->sharpness_norm = q->contrast > 0.0f ? q->sharpness / (q->contrast * q->contrast) : 0.0f;
    return VS_OK;
}

static float opt_or(float v, float def)
{
    return v > 0.0f ? v : def;
}

vs_status vs_quality_measure(const vs_image *img, const vs_det *det, const float (*lm68)[2],
                             const vs_quality_opts *opts, vs_quality *out, vs_err *err)
{
    static const vs_quality_opts none;
    if (!img || !det || !lm68 || !out)
        return vs_err_set(err, VS_INVAL, "quality: NULL argument");
    const vs_quality_opts *o = opts ? opts : &none;
    int r[4];
    memset(out, 0, sizeof *out);
    if (!clip_box(img, det, r))
        return vs_err_set(err, VS_INVAL, "quality: the box is empty inside the image");
    vs_status st = crop_stats(img, r, out, err);
    if (st != VS_OK)
        return st;
    double el[2], er[2];
    mean_pt(lm68, 36, 41, el);
    mean_pt(lm68, 42, 47, er);
    out->eye_dist = (float)hypot(er[0] - el[0], er[1] - el[1]);
    out->box_w = det->x1 - det->x0;
    out->box_h = det->y1 - det->y0;
    out->det_score = det->score;
    vs_quality_pose(lm68, &out->yaw, &out->pitch, &out->roll);

    unsigned why = 0;
    if (out->eye_dist < opt_or(o->min_eye_dist, 20.0f) ||
        fminf(out->box_w, out->box_h) < opt_or(o->min_box, 40.0f))
        why |= VS_Q_TOO_SMALL;
    if (out->sharpness_norm < opt_or(o->min_sharpness, 0.045f))
        why |= VS_Q_BLURRY;
    if (out->brightness < opt_or(o->min_brightness, 50.0f))
        why |= VS_Q_TOO_DARK;
    if (out->brightness > opt_or(o->max_brightness, 205.0f))
        why |= VS_Q_OVEREXPOSED;
    if (fabsf(out->yaw) > opt_or(o->max_yaw, 45.0f))
        why |= VS_Q_PROFILE;
    if (out->det_score < opt_or(o->min_score, 0.5f))
        why |= VS_Q_LOW_SCORE;
    out->reasons = why;
    out->good = why == 0;
    return VS_OK;
}

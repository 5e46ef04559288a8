/*
 * align.c - face chips for the embedders: dlib's 150 x 150 chip, ArcFace's 112 x 112 crop and
 * human's 224 x 224 faceres crop, each a least-squares similarity from the landmarks.
 *
 * dlib's mean face shape below is data, the average position of landmarks 17..67 in the unit
 * square, as published in dlib's get_face_chip_details (dlib/image_transforms/interpolation.h);
 * a chip point is (padding + mean) / (1 + 2 padding) * size.  dlib fits chip -> image; we fit
 * image -> chip, the same transform up to the least-squares weighting, which on 33 good points
 * differs by a fraction of a pixel.
 */
#include <math.h>

#include "face/align.h"

#define DLIB_PADDING 0.25

/* dlib's mean face, landmarks 17..67 (51 points). */
static const float dlib_mean_x[51] = {
    0.000213256f, 0.0752622f, 0.18113f,  0.29077f,  0.393397f, 0.586856f, 0.689483f, 0.799124f,
    0.904991f,    0.98004f,   0.490127f, 0.490127f, 0.490127f, 0.490127f, 0.36688f,  0.426036f,
    0.490127f,    0.554217f,  0.613373f, 0.121737f, 0.187122f, 0.265825f, 0.334606f, 0.260918f,
    0.182743f,    0.645647f,  0.714428f, 0.793132f, 0.858516f, 0.79751f,  0.719335f, 0.254149f,
    0.340985f,    0.428858f,  0.490127f, 0.551395f, 0.639268f, 0.726104f, 0.642159f, 0.556721f,
    0.490127f,    0.423532f,  0.338094f, 0.290379f, 0.428096f, 0.490127f, 0.552157f, 0.689874f,
    0.553364f,    0.490127f,  0.42689f};
static const float dlib_mean_y[51] = {
    0.106454f, 0.038915f, 0.0187482f, 0.0344891f, 0.0773906f, 0.0773906f, 0.0344891f, 0.0187482f,
    0.038915f, 0.106454f, 0.203352f,  0.307009f,  0.409805f,  0.515625f,  0.587326f,  0.609345f,
    0.628106f, 0.609345f, 0.587326f,  0.216423f,  0.178758f,  0.179852f,  0.231733f,  0.245099f,
    0.244077f, 0.231733f, 0.179852f,  0.178758f,  0.216423f,  0.244077f,  0.245099f,  0.780233f,
    0.745405f, 0.727388f, 0.742578f,  0.727388f,  0.745405f,  0.780233f,  0.864805f,  0.902192f,
    0.909281f, 0.902192f, 0.864805f,  0.784792f,  0.778746f,  0.785343f,  0.778746f,  0.784792f,
    0.824182f, 0.831803f, 0.824182f};

/* InsightFace's 112 x 112 five-point template (arcface_torch / faceplugin's
 * REFERENCE_FACIAL_POINTS). */
static const float arcface_112[5][2] = {{38.2946f, 51.6963f},
                                        {73.5318f, 51.5014f},
                                        {56.0252f, 71.7366f},
                                        {41.5493f, 92.3655f},
                                        {70.7299f, 92.2041f}};

int vs_align_size(vs_align_template t)
{
    switch (t) {
    case VS_ALIGN_DLIB_150:
        return 150;
    case VS_ALIGN_FACERES_224:
        return 224;
    default:
        return 112;
    }
}

/* dlib uses every landmark from 17 on except the brows (17..26) and the lower lip (55..59,
 * 65..67). */
static int dlib_uses(int i)
{
    return i >= 27 && !(i >= 55 && i <= 59) && !(i >= 65 && i <= 67);
}

static void dlib_point(int i, float out[2])
{
    const float k = (float)(150.0 / (1.0 + 2.0 * DLIB_PADDING)), p = (float)DLIB_PADDING;
    out[0] = (p + dlib_mean_x[i - 17]) * k;
    out[1] = (p + dlib_mean_y[i - 17]) * k;
}

static void mean_dlib(int from, int n, float out[2])
{
    float sx = 0, sy = 0, q[2];
    for (int i = from; i < from + n; i++) {
        dlib_point(i, q);
        sx += q[0];
        sy += q[1];
    }
    out[0] = sx / (float)n;
    out[1] = sy / (float)n;
}

void vs_align_template_lm5(vs_align_template t, vs_lm5 *out)
{
    if (t == VS_ALIGN_DLIB_150) {
        mean_dlib(36, 6, out->pt[0]);
        mean_dlib(42, 6, out->pt[1]);
        mean_dlib(30, 1, out->pt[2]);
        mean_dlib(48, 1, out->pt[3]);
        mean_dlib(54, 1, out->pt[4]);
        return;
    }
    /* faceres: the ArcFace layout scaled by 64 / 40.7 (eye-to-mouth 64 px) about the point
     * (56, 51.6), which goes to (112, 87). */
    float s = t == VS_ALIGN_FACERES_224 ? 64.0f / 40.7f : 1.0f;
    float cx = t == VS_ALIGN_FACERES_224 ? 112.0f : 56.0f;
    float cy = t == VS_ALIGN_FACERES_224 ? 87.0f : 51.6f;
    for (int i = 0; i < 5; i++) {
        out->pt[i][0] = cx + (arcface_112[i][0] - 56.0f) * s;
        out->pt[i][1] = cy + (arcface_112[i][1] - 51.6f) * s;
    }
}

/* Collects matching (image, chip) point pairs for template t; returns how many. */
static int point_pairs(vs_align_template t, const vs_lm68 *lm, float src[68 * 2], float dst[68 * 2])
{
    int n = 0;
    if (t == VS_ALIGN_DLIB_150) {
        for (int i = 17; i < 68; i++) {
            if (!dlib_uses(i))
                continue;
            src[2 * n] = lm->pt[i][0];
            src[2 * n + 1] = lm->pt[i][1];
            dlib_point(i, &dst[2 * n]);
            n++;
        }
        return n;
    }
    vs_lm5 a, b;
    vs_lm5_from_lm68(lm, &a);
    vs_align_template_lm5(t, &b);
    for (n = 0; n < 5; n++) {
        src[2 * n] = a.pt[n][0];
        src[2 * n + 1] = a.pt[n][1];
        dst[2 * n] = b.pt[n][0];
        dst[2 * n + 1] = b.pt[n][1];
    }
    return n;
}

vs_status vs_align_transform(vs_align_template t, const vs_lm68 *lm, float m[6], float *rms,
                             vs_err *err)
{
    if (!lm || !m || t < 0 || t >= VS_ALIGN_COUNT)
        return vs_err_set(err, VS_INVAL, "align: missing argument");
    float src[68 * 2], dst[68 * 2];
    int n = point_pairs(t, lm, src, dst);
    vs_status st = vs_img_fit_similarity(src, dst, n, m, err);
    if (st != VS_OK)
        return st;
    if (rms) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            double x = m[0] * src[2 * i] + m[1] * src[2 * i + 1] + m[2] - dst[2 * i];
            double y = m[3] * src[2 * i] + m[4] * src[2 * i + 1] + m[5] - dst[2 * i + 1];
            s += x * x + y * y;
        }
        *rms = (float)sqrt(s / n);
    }
    return VS_OK;
}

vs_status vs_align_chip(const vs_image *img, vs_align_template t, const vs_lm68 *lm, vs_image *chip,
                        vs_err *err)
{
    if (!img || !chip)
        return vs_err_set(err, VS_INVAL, "align: missing argument");
    int size = vs_align_size(t);
    if (chip->w != size || chip->h != size || chip->c != img->c)
        return vs_err_set(err, VS_INVAL, "align: chip must be %d x %d x %d", size, size, img->c);
    float m[6];
    vs_status st = vs_align_transform(t, lm, m, NULL, err);
    if (st != VS_OK)
        return st;
    return vs_img_warp_affine(img, m, 0, chip, err);
}

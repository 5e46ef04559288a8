/*
 * landmarks.c - 68-point landmarks with face-api's face_landmark_68 or faceplugin's fr_landmark.
 *
 * Each landmarker reproduces the pre- and post-processing of the library that shipped its model
 * (see landmarks.h), because a landmark net only works on crops framed the way it was trained:
 * face-api's net sees the detector box padded to a square, faceplugin's sees the box stretched
 * to 64 x 64 in grey.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "face/landmarks.h"

struct vs_landmarker {
    vs_lm_kind kind;
    vs_runtime *rt;
    int in_size; /* 112 or 64 */
};

const char *vs_landmarker_model_name(vs_lm_kind kind)
{
    return kind == VS_LM_FR_LANDMARK ? "fr_landmark" : "face_landmark_68";
}

vs_status vs_landmarker_new(const vs_model *model, vs_lm_kind kind, int threads,
                            vs_landmarker **out, vs_err *err)
{
    *out = NULL;
    if (!model)
        return vs_err_set(err, VS_INVAL, "landmarker: no model");
    vs_nn_tensor_info in = vs_nn_input_info(model, 0);
    int size = kind == VS_LM_FR_LANDMARK ? 64 : 112;
    int ok = kind == VS_LM_FR_LANDMARK
                 ? (in.rank == 4 && in.dim[1] == 1 && in.dim[2] == 64 && in.dim[3] == 64)
                 : (in.rank == 4 && in.dim[1] == 112 && in.dim[2] == 112 && in.dim[3] == 3);
    if (!ok)
        return vs_err_set(err, VS_INVAL, "landmarker: model input is not %s's",
                          vs_landmarker_model_name(kind));
    vs_landmarker *lm = calloc(1, sizeof *lm);
    if (!lm)
        return vs_err_set(err, VS_NOMEM, "landmarker");
    lm->kind = kind;
    lm->in_size = size;
    vs_status st = vs_nn_runtime_new(model, VS_NN_BACKEND_XNNPACK, threads, &lm->rt, err);
    if (st != VS_OK) {
        free(lm);
        return st;
    }
    *out = lm;
    return VS_OK;
}

void vs_landmarker_free(vs_landmarker *lm)
{
    if (!lm)
        return;
    vs_nn_runtime_free(lm->rt);
    free(lm);
}

/* The integer rectangle face-api slices: the box clipped to the image, then floored. */
static int faceapi_rect(const vs_image *img, const vs_det *b, int r[4])
{
    double x0 = fmax(0.0, b->x0), y0 = fmax(0.0, b->y0);
    double x1 = fmin((double)img->w, b->x1), y1 = fmin((double)img->h, b->y1);
    r[0] = (int)floor(x0);
    r[1] = (int)floor(y0);
    r[2] = (int)floor(x1 - x0);
    r[3] = (int)floor(y1 - y0);
    if (r[0] + r[2] > img->w)
        r[2] = img->w - r[0];
    if (r[1] + r[3] > img->h)
        r[3] = img->h - r[1];
    return r[2] > 0 && r[3] > 0;
}

static vs_status detect_faceapi(vs_landmarker *lm, const vs_image *img, const vs_det *box,
                                vs_lm68 *out, vs_err *err)
{
    int r[4];
    if (!faceapi_rect(img, box, r))
        return vs_err_set(err, VS_INVAL, "landmarks: face box outside the image");
    int w = r[2], h = r[3], side = w > h ? w : h;
    /* padToSquare(centred): round(diff / 2) zeros after the crop, the rest before it. */
    int diff = side - (w > h ? h : w);
    int after = (int)floor(diff * 0.5 + 0.5);
    int before = diff - after;
    int px = w < h ? before : 0, py = h < w ? before : 0;

    vs_image *sq = NULL;
    vs_status st = vs_image_new(side, side, 3, &sq, err);
    if (st != VS_OK)
        return st;
    memset(sq->px, 0, sq->stride * (size_t)side);
    for (int y = 0; y < h; y++)
        memcpy(sq->px + (size_t)(y + py) * sq->stride + (size_t)px * 3,
               img->px + (size_t)(r[1] + y) * img->stride + (size_t)r[0] * img->c, (size_t)w * 3);
    st = vs_img_resize_to_f32(sq, 112, 112, VS_RESIZE_BILINEAR, 1.0f, 0.0f, vs_nn_input(lm->rt, 0),
                              err);
    vs_image_free(sq);
    if (st == VS_OK)
        st = vs_nn_run(lm->rt, err);
    if (st != VS_OK)
        return st;

    /* postProcess: (v * 112 - pad) / scaled dimension, with the padding in the 112 frame. */
    const float *o = vs_nn_output(lm->rt, 0);
    double s = 112.0 / side, sw = w * s, sh = h * s;
    double padx = w < h ? (sh - sw) / 2 : 0, pady = h < w ? (sw - sh) / 2 : 0;
    for (int i = 0; i < 68; i++) {
        out->pt[i][0] = (float)((o[2 * i] * 112.0 - padx) / sw * w + r[0]);
        out->pt[i][1] = (float)((o[2 * i + 1] * 112.0 - pady) / sh * h + r[1]);
    }
    return VS_OK;
}

static vs_status detect_fr(vs_landmarker *lm, const vs_image *img, const vs_det *box, vs_lm68 *out,
                           vs_err *err)
{
    /* faceplugin: integer box, kept inside the image by shifting, then stretched to 64 x 64. */
    int x = (int)box->x0, y = (int)box->y0;
    int w = (int)box->x1 - x, h = (int)box->y1 - y;
    if (w <= 0 || h <= 0)
        return vs_err_set(err, VS_INVAL, "landmarks: empty face box");
    if (w > img->w)
        w = img->w;
    if (h > img->h)
        h = img->h;
    x = x < 0 ? 0 : (x + w > img->w ? img->w - w : x);
    y = y < 0 ? 0 : (y + h > img->h ? img->h - h : y);

    vs_image *crop = NULL;
    vs_image small = {0}, grey = {0};
    uint8_t buf[64 * 64 * 4];
    vs_status st = vs_img_crop(img, x, y, w, h, &crop, err);
    if (st != VS_OK)
        return st;
    small = (vs_image){.w = 64, .h = 64, .c = crop->c, .stride = 64 * (size_t)crop->c, .px = buf};
    st = vs_img_resize(crop, &small, VS_RESIZE_BILINEAR_HALF, err);
    vs_image_free(crop);
    if (st != VS_OK)
        return st;
    uint8_t gbuf[64 * 64];
    grey = (vs_image){.w = 64, .h = 64, .c = 1, .stride = 64, .px = gbuf};
    st = vs_img_to_grey(&small, &grey, err);
    if (st == VS_OK)
        st = vs_img_to_f32(&grey, vs_nn_input(lm->rt, 0), 1.0f / 256.0f, 0.0f);
    if (st == VS_OK)
        st = vs_nn_run(lm->rt, err);
    if (st != VS_OK)
        return st;
    const float *o = vs_nn_output(lm->rt, 0);
    for (int i = 0; i < 68; i++) {
        out->pt[i][0] = o[2 * i] * (float)w + (float)x;
        out->pt[i][1] = o[2 * i + 1] * (float)h + (float)y;
    }
    return VS_OK;
}

vs_status vs_landmarks_detect(vs_landmarker *lm, const vs_image *img, const vs_det *box,
                              vs_lm68 *out, vs_err *err)
{
    if (!lm || !img || !img->px || !box || !out)
        return vs_err_set(err, VS_INVAL, "landmarks: missing argument");
    if (img->c != 3)
        return vs_err_set(err, VS_INVAL, "landmarks: image has %d channels, want RGB", img->c);
    if (lm->kind == VS_LM_FR_LANDMARK)
        return detect_fr(lm, img, box, out, err);
    return detect_faceapi(lm, img, box, out, err);
}

void vs_landmarks_box(const vs_lm68 *lm, vs_det *box)
{
    float x0 = lm->pt[0][0], x1 = x0, y0 = lm->pt[0][1], y1 = y0;
    for (int i = 1; i < 68; i++) {
        x0 = fminf(x0, lm->pt[i][0]);
        x1 = fmaxf(x1, lm->pt[i][0]);
        y0 = fminf(y0, lm->pt[i][1]);
        y1 = fmaxf(y1, lm->pt[i][1]);
    }
    float w = x1 - x0, h = y1 - y0;
    memset(box, 0, sizeof *box);
    box->x0 = x0 - 0.01f * w;
    box->x1 = x1 + 0.01f * w;
    box->y0 = y0 - 0.24f * h;
    box->y1 = y1 + 0.03f * h;
    box->score = 1.0f;
}

static void mean_pt(const vs_lm68 *lm, int from, int n, float out[2])
{
    float sx = 0, sy = 0;
    for (int i = from; i < from + n; i++) {
        sx += lm->pt[i][0];
        sy += lm->pt[i][1];
    }
    out[0] = sx / (float)n;
    out[1] = sy / (float)n;
}

void vs_lm5_from_lm68(const vs_lm68 *lm, vs_lm5 *out)
{
    mean_pt(lm, 36, 6, out->pt[0]);
    mean_pt(lm, 42, 6, out->pt[1]);
    mean_pt(lm, 30, 1, out->pt[2]);
    mean_pt(lm, 48, 1, out->pt[3]);
    mean_pt(lm, 54, 1, out->pt[4]);
}

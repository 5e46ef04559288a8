/*
 * test_quality.c - face quality measures and verdict (src/face/quality.c).
 *
 * Faces, boxes and landmarks come from face-api (tests/data/attr/faceapi_attr.json, written by
 * tests/node/attr_faceapi.js) on the bbt/ cast crops, which are good, sharp, frontal TV stills.
 * The bbt crops are measured unpadded (the box and landmarks shifted back by the padding):
 *   good_crops_are_good            at least 90 % of the bbt faces get the verdict "good";
 *   blur_lowers_sharpness          a 5 x 5 box blur of the photo lowers every face's sharpness
 *                                  and makes it "blurry";
 *   darkening_is_too_dark          the photo's pixels times 0.2 make every face "too_dark";
 *   downscaling_is_too_small       the photo shrunk to a fifth makes every face "too_small";
 *   roll_follows_rotation          the photo rotated by 20 degrees about the face, landmarks
 *                                  found again on it by face-api's landmark net
 *                                  (src/face/landmarks.c), gives roll within 3 degrees of the
 *                                  unrotated roll + 20;
 *   reason_names                   every reason bit has its documented name.
 * Without the photos the test prints SKIP and exits 77.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "face/landmarks.h"
#include "face/quality.h"
#include "face_fixture.h"

static void reason_names(void)
{
    static const char *const want[VS_Q_REASON_COUNT] = {"too_small",   "blurry",  "too_dark",
                                                        "overexposed", "profile", "low_score"};
    for (int i = 0; i < VS_Q_REASON_COUNT; i++) {
        const char *n = vs_quality_reason_name((vs_quality_reason)(1u << i));
        CHECK(n && strcmp(n, want[i]) == 0, "reason bit %d is named %s", i, n ? n : "(null)");
    }
}

/* A face of the fixture moved into the coordinates of the unpadded photo. */
static void unpad(const fx_image *im, const fx_face *f, vs_det *det, float lm[68][2])
{
    *det = f->det;
    det->x0 -= im->pad;
    det->x1 -= im->pad;
    det->y0 -= im->pad;
    det->y1 -= im->pad;
    for (int i = 0; i < 68; i++) {
        lm[i][0] = f->lm[i][0] - im->pad;
        lm[i][1] = f->lm[i][1] - im->pad;
    }
}

/* 5 x 5 box blur (edges clamped) of an RGB image, into a new image. */
static vs_image *box_blur(const vs_image *src)
{
    vs_image *dst = NULL;
    if (vs_image_new(src->w, src->h, src->c, &dst, NULL) != VS_OK)
        return NULL;
    for (int y = 0; y < src->h; y++)
        for (int x = 0; x < src->w; x++)
            for (int k = 0; k < src->c; k++) {
                int s = 0;
                for (int dy = -2; dy <= 2; dy++)
                    for (int dx = -2; dx <= 2; dx++) {
                        int yy = y + dy < 0 ? 0 : (y + dy >= src->h ? src->h - 1 : y + dy);
                        int xx = x + dx < 0 ? 0 : (x + dx >= src->w ? src->w - 1 : x + dx);
                        s += src->px[(size_t)yy * src->stride + (size_t)xx * src->c + k];
                    }
                dst->px[(size_t)y * dst->stride + (size_t)x * dst->c + k] =
                    (uint8_t)((s + 12) / 25);
            }
    return dst;
}

static vs_quality measure(const vs_image *img, const vs_det *det, const float (*lm)[2])
{
    vs_quality q;
    vs_err err = {{0}};
    vs_status st = vs_quality_measure(img, det, lm, NULL, &q, &err);
    CHECK_ST(st, err);
    return q;
}

static void check_transforms(const fx_image *im, const vs_image *img, const vs_det *det,
                             const float (*lm)[2], const vs_quality *q0)
{
    vs_image *blur = box_blur(img);
    vs_quality q = measure(blur, det, lm);
    CHECK(q.sharpness < q0->sharpness && (q.reasons & VS_Q_BLURRY),
          "%s blurred: sharpness %.1f / %.3f (sharp %.1f / %.3f), reasons %#x", im->file,
          q.sharpness, q.sharpness_norm, q0->sharpness, q0->sharpness_norm, q.reasons);
    vs_image_free(blur);

    vs_image *dark = NULL;
    vs_image_clone(img, &dark, NULL);
    for (size_t i = 0; dark && i < dark->stride * (size_t)dark->h; i++)
        dark->px[i] = (uint8_t)(dark->px[i] / 5);
    q = measure(dark, det, lm);
    CHECK(q.reasons & VS_Q_TOO_DARK, "%s darkened: brightness %.1f, reasons %#x", im->file,
          q.brightness, q.reasons);
    vs_image_free(dark);

    vs_image *small = NULL;
    if (vs_image_new(img->w / 5, img->h / 5, img->c, &small, NULL) == VS_OK &&
        vs_img_resize(img, small, VS_RESIZE_AREA, NULL) == VS_OK) {
        vs_det d = *det;
        float l[68][2];
        d.x0 /= 5.0f, d.y0 /= 5.0f, d.x1 /= 5.0f, d.y1 /= 5.0f;
        for (int i = 0; i < 68; i++) /* pixel-centre coordinates scale about -0.5 */
            for (int k = 0; k < 2; k++)
                l[i][k] = (lm[i][k] + 0.5f) / 5.0f - 0.5f;
        q = measure(small, &d, (const float(*)[2])l);
        CHECK(q.reasons & VS_Q_TOO_SMALL, "%s downscaled: eye distance %.1f, reasons %#x", im->file,
              q.eye_dist, q.reasons);
    }
    vs_image_free(small);
}

/* Rotates the photo by deg about the box centre, finds the landmarks again, checks roll. */
static void check_roll(vs_landmarker *lmk, const fx_image *im, const vs_image *img,
                       const vs_det *det, float roll0, float deg)
{
    float cx = 0.5f * (det->x0 + det->x1), cy = 0.5f * (det->y0 + det->y1);
    float a = deg / 57.29578f, c = cosf(a), s = sinf(a);
    float m[6] = {c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy};
    vs_image *rot = NULL;
    vs_err err = {{0}};
    vs_lm68 lm;
    if (vs_image_new(img->w, img->h, img->c, &rot, NULL) != VS_OK)
        return;
    vs_status st = vs_img_warp_affine(img, m, 0, rot, &err);
    CHECK_ST(st, err);
    /* The rotated face's box: the square around the rotated box. */
    float half = 0.5f * fmaxf(det->x1 - det->x0, det->y1 - det->y0) * (fabsf(c) + fabsf(s));
    vs_det d = {cx - half, cy - half, cx + half, cy + half, det->score, 0, {{0}}};
    st = vs_landmarks_detect(lmk, rot, &d, &lm, &err);
    CHECK_ST(st, err);
    float yaw, pitch, roll;
    vs_quality_pose((const float(*)[2])lm.pt, &yaw, &pitch, &roll);
    CHECK(fabsf(roll - (roll0 + deg)) <= 3.0f, "%s rotated %.0f: roll %.1f, expected %.1f",
          im->file, deg, roll, roll0 + deg);
    vs_image_free(rot);
}

int main(void)
{
    reason_names();
    fx_image *ims = NULL;
    int n = fx_have_data() ? fx_load(&ims) : -1;
    if (n <= 0) {
        printf("SKIP test_quality: needs %s and %s\n", fx_data_dir(), FX_JSON);
        return failures ? 1 : 77;
    }
    vs_model *lm_model = NULL;
    vs_landmarker *lmk = NULL;
    vs_err err = {{0}};
    vs_status st =
        vs_nn_model_load(NULL, vs_landmarker_model_name(VS_LM_FACEAPI_68), NULL, &lm_model, &err);
    if (st == VS_OK)
        st = vs_landmarker_new(lm_model, VS_LM_FACEAPI_68, 1, &lmk, &err);
    CHECK_ST(st, err);
    int n_bbt = 0, n_good = 0;
    for (int i = 0; i < n; i++) {
        if (strncmp(ims[i].file, "bbt/", 4) != 0 || ims[i].pad == 0 || ims[i].n_faces == 0)
            continue;
        fx_image raw = ims[i];
        raw.pad = 0;
        vs_image *img = fx_image_load(&raw);
        CHECK(img != NULL, "cannot load %s", ims[i].file);
        if (!img)
            continue;
        vs_det det;
        float lm[68][2];
        unpad(&ims[i], &ims[i].face[0], &det, lm);
        vs_quality q = measure(img, &det, (const float(*)[2])lm);
        printf("  %-28s eyes %5.1f px sharp %7.1f %.3f bright %5.1f contrast %5.1f yaw %6.1f pitch "
               "%6.1f roll %6.1f score %.2f %s %#x\n",
               ims[i].file, q.eye_dist, q.sharpness, q.sharpness_norm, q.brightness, q.contrast,
               q.yaw, q.pitch, q.roll, q.det_score, q.good ? "good" : "poor", q.reasons);
        n_bbt++;
        n_good += q.good;
        check_transforms(&ims[i], img, &det, (const float(*)[2])lm, &q);
        if (lmk)
            check_roll(lmk, &ims[i], img, &det, q.roll, 20.0f);
        vs_image_free(img);
    }
    CHECK(n_bbt >= 30 && n_good >= 0.9 * n_bbt, "%d of %d bbt faces good", n_good, n_bbt);
    printf("  %d of %d bbt faces good\n", n_good, n_bbt);
    vs_landmarker_free(lmk);
    vs_nn_model_free(lm_model);
    free(ims);
    printf("%s test_quality\n", failures ? "FAIL" : "PASS");
    return failures ? 1 : 0;
}

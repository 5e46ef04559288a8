/*
 * face_fixture.h - the faces that face-api itself found in real photos, for the attribute, quality
 * and liveness tests (tests/test_attributes.c, test_quality.c, test_liveness.c).
 *
 * tests/data/attr/faceapi_attr.json is written by tests/node/attr_faceapi.js: for each photo
 * under ../shared/data (or $VISAGE_TEST_DATA) face-api 1.7.15's SSD box and score, its 68
 * landmarks, the integer crop it cut for age/gender/expression, and its age, gender and
 * expression probabilities.  fx_load reads it; fx_image_load decodes a photo and pads it the way
 * the script did.  Header-only (static functions): each test is one translation unit.
 */
#ifndef VS_TESTS_FACE_FIXTURE_H
#define VS_TESTS_FACE_FIXTURE_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "face/face.h"

#define CHECK_ST(st, err) CHECK((st) == VS_OK, "status %s (%s)", vs_status_str(st), (err).msg)

#define FX_JSON "tests/data/attr/faceapi_attr.json"
#define FX_MAX_FACES 3

typedef struct fx_face {
    vs_det det;
    float lm[68][2];
    int crop[4];
    float age, gender_prob;
    int male;
    float expr[7]; /* face-api's order: neutral happy sad angry fearful disgusted surprised */
} fx_face;

typedef struct fx_image {
    char file[160];
    int pad, w, h, n_faces;
    fx_face face[FX_MAX_FACES];
} fx_image;

static const char *fx_data_dir(void)
{
    const char *d = getenv("VISAGE_TEST_DATA");
    return d && *d ? d : "../shared/data";
}

/* 1 when the photo folder is there. */
static int fx_have_data(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/SOURCES.md", fx_data_dir());
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

static char *fx_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = 0;
    fclose(f);
    return buf;
}

static float fx_num(const cJSON *a, int i)
{
    const cJSON *v = cJSON_GetArrayItem(a, i);
    return v ? (float)v->valuedouble : 0.0f;
}

static void fx_parse_face(const cJSON *jf, fx_face *f)
{
    const cJSON *box = cJSON_GetObjectItem(jf, "box"), *lm = cJSON_GetObjectItem(jf, "lm68");
    const cJSON *crop = cJSON_GetObjectItem(jf, "crop");
    const cJSON *ex = cJSON_GetObjectItem(jf, "expressions");
    memset(f, 0, sizeof *f);
    f->det.x0 = fx_num(box, 0);
    f->det.y0 = fx_num(box, 1);
    f->det.x1 = f->det.x0 + fx_num(box, 2);
    f->det.y1 = f->det.y0 + fx_num(box, 3);
    f->det.score = (float)cJSON_GetObjectItem(jf, "score")->valuedouble;
    for (int i = 0; i < 68; i++) {
        f->lm[i][0] = fx_num(cJSON_GetArrayItem(lm, i), 0);
        f->lm[i][1] = fx_num(cJSON_GetArrayItem(lm, i), 1);
    }
    for (int i = 0; i < 4; i++)
        f->crop[i] = (int)fx_num(crop, i);
    for (int i = 0; i < 7; i++)
        f->expr[i] = fx_num(ex, i);
    f->age = (float)cJSON_GetObjectItem(jf, "age")->valuedouble;
    f->gender_prob = (float)cJSON_GetObjectItem(jf, "genderProbability")->valuedouble;
    f->male = strcmp(cJSON_GetObjectItem(jf, "gender")->valuestring, "male") == 0;
}

/* Reads FX_JSON into a malloc'ed array (*out, free()); returns the number of images, -1 on error.
 */
static int fx_load(fx_image **out)
{
    char *text = fx_slurp(FX_JSON);
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    const cJSON *imgs = doc ? cJSON_GetObjectItem(doc, "images") : NULL;
    int n = imgs ? cJSON_GetArraySize(imgs) : -1;
    *out = n > 0 ? calloc((size_t)n, sizeof **out) : NULL;
    for (int i = 0; *out && i < n; i++) {
        const cJSON *ji = cJSON_GetArrayItem(imgs, i);
        fx_image *im = &(*out)[i];
        snprintf(im->file, sizeof im->file, "%s", cJSON_GetObjectItem(ji, "file")->valuestring);
        im->pad = cJSON_GetObjectItem(ji, "pad")->valueint;
        im->w = cJSON_GetObjectItem(ji, "width")->valueint;
        im->h = cJSON_GetObjectItem(ji, "height")->valueint;
        const cJSON *faces = cJSON_GetObjectItem(ji, "faces");
        im->n_faces = cJSON_GetArraySize(faces);
        if (im->n_faces > FX_MAX_FACES)
            im->n_faces = FX_MAX_FACES;
        for (int k = 0; k < im->n_faces; k++)
            fx_parse_face(cJSON_GetArrayItem(faces, k), &im->face[k]);
    }
    cJSON_Delete(doc);
    free(text);
    if (n > 0 && !*out)
        n = -1;
    return n;
}

/* A copy of src with `pad` black pixels on every side (pad 0: a plain copy). */
static vs_image *fx_pad(const vs_image *src, int pad)
{
    vs_image *dst = NULL;
    if (vs_image_new(src->w + 2 * pad, src->h + 2 * pad, src->c, &dst, NULL) != VS_OK)
        return NULL;
    memset(dst->px, 0, dst->stride * (size_t)dst->h);
    for (int y = 0; y < src->h; y++)
        memcpy(dst->px + (size_t)(y + pad) * dst->stride + (size_t)pad * src->c,
               src->px + (size_t)y * src->stride, (size_t)src->w * src->c);
    return dst;
}

/* Decodes a fixture photo and pads it as tests/node/attr_faceapi.js did; NULL on failure. */
static vs_image *fx_image_load(const fx_image *im)
{
    char path[512];
    vs_image *raw = NULL;
    snprintf(path, sizeof path, "%s/%s", fx_data_dir(), im->file);
    if (vs_img_load(path, NULL, &raw, NULL) != VS_OK)
        return NULL;
    vs_image *out = fx_pad(raw, im->pad);
    vs_image_free(raw);
    return out;
}

#endif

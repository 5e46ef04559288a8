/*
 * test_detect.c - the face detectors (src/face/detect*.c) against references from outside our
 * code.
 *
 * References:
 *   - the SSD anchors: face-api's weight Output/extra_dim, read here from the shipped weights
 *     file (models/faceapi/ssd_mobilenetv1_model*);
 *   - non-max suppression: face-api's own nonMaxSuppression run by tests/node/detect_faceapi.js
 *     on the predicted boxes of faceapi-test/reference/boxes.json (tests/data/detect/
 *     faceapi_nms.json);
 *   - faces.jpg: the six boxes of faceapi-test/ssd_mobilenetv1_expected_boxes.json (face-api.js's
 *     own expected result; integer x, y, width, height in image pixels);
 *   - group photos: face-api 1.7.15's detectAllFaces with SsdMobilenetv1Options run in Node on
 *     the same files (tests/data/detect/faceapi_ssd.json, written by detect_faceapi.js);
 *   - LFW: every image of the data set shows a face (its own labels), so an image with no
 *     detection is a miss;
 *   - low light: the faces our detector finds on an original photo are the truth for a darkened
 *     copy of it (gamma 2.5..3, exposure x0.3, Gaussian-like noise from a fixed-seed PRNG).
 *
 * Run from the repository root.  Photos come from $VISAGE_TEST_DATA or ../shared/data, models
 * from $VISAGE_MODELS or models/; without them the test prints SKIP and exits 77.
 *   build/tests/test_detect          the tests (LFW on every 20th image)
 *   build/tests/test_detect lfw      LFW on all 4,992 images, with the table per threshold
 *   build/tests/test_detect NAME     only the test called NAME
 * VISAGE_DETECT_DRAW=DIR draws every group photo's detections (the whole-image pass in thin blue,
 * the tiled result over it in green where it matches a blue box and in red where tiling added it)
 * as PNG files in DIR for review.
 */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "face/detect.h"
#include "img/img.h"
#include "nn/nn.h"

#define EXIT_SKIP 77
#define MAX_DET 1000

#define CHECK_EQ_INT(a, b)                                                                         \
    CHECK((long long)(a) == (long long)(b), "%s == %lld, expected %s == %lld", #a, (long long)(a), \
          #b, (long long)(b))

static const char *data_dir;
static const char *models_dir;
static int lfw_all;
static vs_model *models[VS_DETECTOR_COUNT];
static vs_detector *dets[VS_DETECTOR_COUNT];
static vs_det dbuf[MAX_DET], dbuf2[MAX_DET];

/* ---- helpers ------------------------------------------------------------------------------- */

static const char *data_path(const char *rel)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", data_dir, rel);
    return buf;
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
            if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else {
                buf[n] = 0;
                if (len)
                    *len = (size_t)n;
            }
        }
    }
    fclose(f);
    return buf;
}

static cJSON *read_json(const char *path)
{
    char *text = read_text(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

static vs_image *load(const char *rel)
{
    vs_err err = {{0}};
    vs_image *img = NULL;
    vs_status st = vs_img_load(data_path(rel), NULL, &img, &err);
    CHECK(st == VS_OK, "load %s: %s", rel, err.msg);
    return img;
}

static vs_det box_xywh(double x, double y, double w, double h, double score)
{
    vs_det d = {0};
    d.x0 = (float)x;
    d.y0 = (float)y;
    d.x1 = (float)(x + w);
    d.y1 = (float)(y + h);
    d.score = (float)score;
    return d;
}

/* Runs detector k; returns the count (or -1 on error, reported). */
static int run(vs_detector_kind k, const vs_image *img, const vs_detect_opts *o, vs_det *out,
               vs_detect_info *info)
{
    vs_err err = {{0}};
    int n = 0;
    vs_status st = vs_detect(dets[k], img, o, out, MAX_DET, &n, info, &err);
    CHECK(st == VS_OK, "vs_detect: %s", err.msg);
    return st == VS_OK ? n : -1;
}

/* Faces smaller than this (shorter side, pixels) match at TINY_IOU: one pixel of difference
 * between two JPEG decoders moves a 10-pixel box's IoU by 0.2. */
#define TINY_FACE 16.0f
#define TINY_IOU 0.35f

/* For each of the `na` boxes of a, the best IoU with any box of b; returns how many reach
 * min_iou and the mean IoU of those.  Each b box is matched at most once, greedily in a's order,
 * unless `lenient`: then tiny faces need only TINY_IOU and a box of b may match several of a
 * (face-api's NMS at 0.5 leaves two boxes on some faces, offset by half a face, and a decoder's
 * worth of noise decides whether the second survives). */
static int match_boxes(const vs_det *a, int na, const vs_det *b, int nb, float min_iou, int lenient,
                       double *mean)
{
    char used[MAX_DET] = {0};
    int hits = 0;
    double sum = 0;
    for (int i = 0; i < na; i++) {
        int best = -1;
        float best_iou = 0;
        for (int j = 0; j < nb; j++) {
            float v = vs_detect_iou(&a[i], &b[j]);
            if (!used[j] && v > best_iou) {
                best_iou = v;
                best = j;
            }
        }
        float need = min_iou;
        if (lenient && fminf(a[i].x1 - a[i].x0, a[i].y1 - a[i].y0) < TINY_FACE)
            need = fminf(min_iou, TINY_IOU);
        if (best >= 0 && best_iou >= need) {
            used[best] = !lenient;
            hits++;
            sum += best_iou;
        }
    }
    if (mean)
        *mean = hits ? sum / hits : 0.0;
    return hits;
}

static int match(const vs_det *a, int na, const vs_det *b, int nb, float min_iou, double *mean)
{
    return match_boxes(a, na, b, nb, min_iou, 0, mean);
}

/* Options; a negative rescue also switches the zoomed-out pass off (face-api's behaviour). */
static vs_detect_opts opts(float score, float rescue, vs_tile_mode tiling, vs_lowlight_mode ll)
{
    vs_detect_opts o = {0};
    o.score = score;
    o.rescue_score = rescue;
    o.tiling = tiling;
    o.zoom_out = rescue < 0 ? VS_ZOOM_OFF : VS_ZOOM_DEFAULT;
    o.low_light = ll;
    return o;
}

/* ---- anchors and NMS ----------------------------------------------------------------------- */

/* Byte size of one manifest weight as stored. */
static size_t weight_bytes(const cJSON *w)
{
    size_t n = 1;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, cJSON_GetObjectItem(w, "shape")) n *= (size_t)dim->valuedouble;
    const cJSON *q = cJSON_GetObjectItem(w, "quantization");
    if (q) {
        const char *dt = cJSON_GetStringValue(cJSON_GetObjectItem(q, "dtype"));
        return n * (dt && strcmp(dt, "uint8") == 0 ? 1 : 2);
    }
    return n * 4;
}

static void ssd_anchors_match_extra_dim(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/faceapi/ssd_mobilenetv1_model-weights_manifest.json",
             models_dir);
    cJSON *manifest = read_json(path);
    CHECK(manifest != NULL, "cannot read %s", path);
    if (!manifest)
        return;
    /* One group, one shard: find Output/extra_dim's offset in it. */
    const cJSON *group = cJSON_GetArrayItem(manifest, 0);
    const char *shard =
        cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(group, "paths"), 0));
    size_t off = 0;
    int found = 0;
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItem(group, "weights"))
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(w, "name")), "Output/extra_dim") == 0) {
            found = 1;
            break;
        }
        off += weight_bytes(w);
    }
    CHECK(found && shard, "no Output/extra_dim in the manifest");
    size_t len = 0;
    snprintf(path, sizeof path, "%s/faceapi/%s", models_dir, shard ? shard : "");
    char *bin = found ? read_text(path, &len) : NULL;
    CHECK(bin && off + VS_SSD_ANCHORS * 16 <= len, "cannot read extra_dim from %s", path);
    if (bin && off + VS_SSD_ANCHORS * 16 <= len) {
        static float ours[VS_SSD_ANCHORS * 4], ref[VS_SSD_ANCHORS * 4];
        memcpy(ref, bin + off, sizeof ref);
        vs_ssd_anchors(ours);
        double max_diff = 0;
        for (int i = 0; i < VS_SSD_ANCHORS * 4; i++)
            max_diff = fmax(max_diff, fabs((double)ours[i] - ref[i]));
        printf("  anchors: max |ours - Output/extra_dim| = %.2e over %d anchors\n", max_diff,
               VS_SSD_ANCHORS);
        CHECK(max_diff < 1e-6, "anchors differ from Output/extra_dim by %.3e", max_diff);
    }
    free(bin);
    cJSON_Delete(manifest);
}

static int json_ints(const cJSON *arr, int *out, int max)
{
    int n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) if (n < max) out[n++] = v->valueint;
    return n;
}

static void nms_matches_faceapi(void)
{
    cJSON *doc = read_json("tests/data/detect/faceapi_nms.json");
    CHECK(doc != NULL, "cannot read tests/data/detect/faceapi_nms.json (run from the repo root)");
    if (!doc)
        return;
    static const struct {
        const char *key;
        float iou, io_min;
    } rules[] = {{"iou_0_3", 0.3f, 0.0f}, {"iou_0_5", 0.5f, 0.0f}, {"iomin_0_65", 2.0f, 0.65f}};
    int cases = 0, agree = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(doc, "cases"))
    {
        vs_det d[16];
        int n = 0;
        const cJSON *b;
        cJSON_ArrayForEach(b, cJSON_GetObjectItem(c, "boxes")) if (n < 16) d[n++] =
            box_xywh(cJSON_GetArrayItem(b, 0)->valuedouble, cJSON_GetArrayItem(b, 1)->valuedouble,
                     cJSON_GetArrayItem(b, 2)->valuedouble, cJSON_GetArrayItem(b, 3)->valuedouble,
                     cJSON_GetArrayItem(b, 4)->valuedouble);
        for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
            int want[16], got[16], scratch[32];
            int nw = json_ints(cJSON_GetObjectItem(c, rules[r].key), want, 16);
            int ng = vs_detect_nms(d, n, -1.0f, rules[r].iou, rules[r].io_min, 16, scratch, got);
            int same = nw == ng;
            for (int i = 0; same && i < ng; i++)
                same = want[i] == got[i];
            CHECK(same, "boxes.json entry %d, %s: %d kept, face-api keeps %d",
                  cJSON_GetObjectItem(c, "entry")->valueint, rules[r].key, ng, nw);
            cases++;
            agree += same;
        }
    }
    printf("  nms: %d / %d cases pick the same boxes in the same order as face-api\n", agree,
           cases);
    CHECK(cases > 0, "no NMS cases");
    cJSON_Delete(doc);
}

/* ---- faces.jpg and the group photos -------------------------------------------------------- */

static void faces_jpg_has_the_expected_boxes(void)
{
    cJSON *doc = read_json(data_path("faceapi-test/ssd_mobilenetv1_expected_boxes.json"));
    vs_image *img = load("faceapi-test/images/faces.jpg");
    CHECK(doc != NULL, "cannot read ssd_mobilenetv1_expected_boxes.json");
    if (doc && img) {
        vs_det want[8];
        int nw = 0;
        const cJSON *b;
        cJSON_ArrayForEach(b, cJSON_GetObjectItem(doc, "boxes")) if (nw < 8) want[nw++] = box_xywh(
            cJSON_GetObjectItem(b, "x")->valuedouble, cJSON_GetObjectItem(b, "y")->valuedouble,
            cJSON_GetObjectItem(b, "width")->valuedouble,
            cJSON_GetObjectItem(b, "height")->valuedouble, 1.0);
        int n = run(VS_DETECTOR_SSD, img, NULL, dbuf, NULL);
        double mean = 0;
        int hits = match(want, nw, dbuf, n, 0.9f, &mean);
        printf("  faces.jpg: %d detections, %d / %d expected boxes at IoU >= 0.9 (mean %.3f)\n", n,
               hits, nw, mean);
        CHECK_EQ_INT(nw, 6);
        CHECK_EQ_INT(hits, nw);
        CHECK_EQ_INT(n, nw);
    }
    vs_image_free(img);
    cJSON_Delete(doc);
}

static int json_boxes(const cJSON *arr, vs_det *out, int max)
{
    int n = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, arr)
    {
        if (n < max)
            out[n++] = box_xywh(
                cJSON_GetArrayItem(b, 0)->valuedouble, cJSON_GetArrayItem(b, 1)->valuedouble,
                cJSON_GetArrayItem(b, 2)->valuedouble, cJSON_GetArrayItem(b, 3)->valuedouble,
                cJSON_GetArrayItem(b, 4)->valuedouble);
    }
    return n;
}

static void draw_review(vs_image *img, const char *file, const vs_det *whole, int nw,
                        const vs_det *tiled, int nt)
{
    const char *dir = getenv("VISAGE_DETECT_DRAW");
    if (!dir || !*dir)
        return;
    for (int i = 0; i < nw; i++) {
        const vs_det *d = &whole[i];
        vs_img_draw_rect(img, (int)d->x0 - 2, (int)d->y0 - 2, (int)(d->x1 - d->x0) + 4,
                         (int)(d->y1 - d->y0) + 4, 1, (vs_rgb){0, 128, 255});
    }
    for (int i = 0; i < nt; i++) {
        int extra = match(&tiled[i], 1, whole, nw, 0.5f, NULL) == 0;
        vs_rgb c = extra ? (vs_rgb){255, 0, 0} : (vs_rgb){0, 255, 0};
        const vs_det *d = &tiled[i];
        vs_img_draw_rect(img, (int)d->x0, (int)d->y0, (int)(d->x1 - d->x0), (int)(d->y1 - d->y0), 2,
                         c);
        char s[16];
        snprintf(s, sizeof s, "%.2f", d->score);
        vs_img_draw_text(img, (int)d->x0, (int)d->y0 - 9, s, 1, c);
    }
    char path[1024], name[256];
    snprintf(name, sizeof name, "%s", file);
    for (char *p = name; *p; p++)
        if (*p == '/')
            *p = '_';
    snprintf(path, sizeof path, "%s/%s.png", dir, name);
    vs_img_save_png(img, path, NULL);
}

/* How many of a's boxes have a box of b over them: IoU >= 0.5, or b's box lies mostly
 * (intersection / smaller area >= 0.5) inside or around it.  Tiling sees small faces at a finer
 * scale, where the SSD draws them tighter than in the whole-image pass, and the merge keeps the
 * better-scoring of two such boxes. */
static int covered(const vs_det *a, int na, const vs_det *b, int nb)
{
    int hits = 0;
    for (int i = 0; i < na; i++) {
        int hit = 0;
        for (int j = 0; j < nb && !hit; j++) {
            float ix = fminf(a[i].x1, b[j].x1) - fmaxf(a[i].x0, b[j].x0);
            float iy = fminf(a[i].y1, b[j].y1) - fmaxf(a[i].y0, b[j].y0);
            float area_a = (a[i].x1 - a[i].x0) * (a[i].y1 - a[i].y0);
            float area_b = (b[j].x1 - b[j].x0) * (b[j].y1 - b[j].y0);
            float inter = ix > 0 && iy > 0 ? ix * iy : 0.0f;
            hit = vs_detect_iou(&a[i], &b[j]) >= 0.5f || inter >= 0.5f * fminf(area_a, area_b);
        }
        hits += hit;
    }
    return hits;
}

/* Prints the boxes of a no box of b matches at IoU >= 0.5, with b's nearest. */
static void print_unmatched(const vs_det *a, int na, const vs_det *b, int nb)
{
    for (int i = 0; i < na; i++) {
        int best = -1;
        float best_iou = 0;
        for (int j = 0; j < nb; j++)
            if (vs_detect_iou(&a[i], &b[j]) > best_iou) {
                best_iou = vs_detect_iou(&a[i], &b[j]);
                best = j;
            }
        if (best_iou >= 0.5f)
            continue;
        printf("    face-api [%.1f %.1f %.1f %.1f] %.3f; nearest of ours", a[i].x0, a[i].y0,
               a[i].x1, a[i].y1, a[i].score);
        if (best >= 0)
            printf(" [%.1f %.1f %.1f %.1f] %.3f, IoU %.3f", b[best].x0, b[best].y0, b[best].x1,
                   b[best].y1, b[best].score, best_iou);
        printf("\n");
    }
}

/* The faces of face-api's list scoring at least min_score. */
static int ref_above(const vs_det *ref, int n, float min_score, vs_det *out)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (ref[i].score >= min_score)
            out[m++] = ref[i];
    return m;
}

/* Every face face-api finds in Node is found by ours in the whole-image pass (as face-api runs
 * it): at 0.5 those face-api scores at >= 0.6, and at 0.4 all of them.  The margin is the JPEG
 * decoders': jpeg-js and libjpeg-turbo differ by a level or two per pixel, which moves scores of
 * faces 15 pixels tall by up to ~0.07 (and their boxes by a pixel: see TINY_FACE).  Then tiling
 * keeps every face of the whole-image pass and adds what it finds. */
static void groups_match_faceapi_and_tiling_adds(void)
{
    cJSON *doc = read_json("tests/data/detect/faceapi_ssd.json");
    CHECK(doc != NULL, "cannot read tests/data/detect/faceapi_ssd.json (run from the repo root)");
    if (!doc)
        return;
    printf("  %-32s %9s %5s %5s %7s %6s %6s %6s %6s %6s\n", "image", "size", "f-api", "ours",
           "matched", "IoU", "@0.4", "tiled", "+tiles", "ms");
    int tot_ref = 0, tot_hit = 0, tot_low = 0, tot_whole = 0, tot_tiled = 0, tot_lost = 0;
    double iou_sum = 0, ms_whole = 0, ms_tiled = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "images"))
    {
        const char *file = cJSON_GetStringValue(cJSON_GetObjectItem(e, "file"));
        vs_image *img = load(file);
        if (!img)
            continue;
        CHECK_EQ_INT(img->w, cJSON_GetObjectItem(e, "w")->valueint);
        CHECK_EQ_INT(img->h, cJSON_GetObjectItem(e, "h")->valueint);
        static vs_det ref[MAX_DET], sure[MAX_DET], low[MAX_DET];
        int nr = json_boxes(cJSON_GetObjectItem(e, "faces_0.5"), ref, MAX_DET);
        int ns = ref_above(ref, nr, 0.6f, sure);
        vs_detect_opts whole = opts(0.5f, -1.0f, VS_TILE_OFF, VS_LOWLIGHT_OFF);
        vs_detect_opts lower = opts(0.4f, -1.0f, VS_TILE_OFF, VS_LOWLIGHT_OFF);
        vs_detect_opts tiled = opts(0.5f, -1.0f, VS_TILE_ON, VS_LOWLIGHT_OFF);
        whole.max_faces = lower.max_faces = tiled.max_faces = MAX_DET;
        vs_detect_info info = {0};
        clock_t t0 = clock();
        int nw = run(VS_DETECTOR_SSD, img, &whole, dbuf, NULL);
        clock_t t1 = clock();
        int nt = run(VS_DETECTOR_SSD, img, &tiled, dbuf2, &info);
        clock_t t2 = clock();
        int nl = run(VS_DETECTOR_SSD, img, &lower, low, NULL);
        double mean = 0;
        int hits = match_boxes(ref, nr, dbuf, nw, 0.5f, 1, &mean);
        int sure_hits = match_boxes(sure, ns, dbuf, nw, 0.5f, 1, NULL);
        int low_hits = match_boxes(ref, nr, low, nl, 0.5f, 1, NULL);
        int kept = covered(dbuf, nw, dbuf2, nt);
        char size[32];
        snprintf(size, sizeof size, "%dx%d", img->w, img->h);
        printf("  %-32s %9s %5d %5d %7d %6.3f %6d %6d %+6d %6.0f\n", file, size, nr, nw, hits, mean,
               low_hits, nt, nt - nw, 1000.0 * (double)(t2 - t1) / CLOCKS_PER_SEC);
        CHECK(sure_hits == ns, "%s: ours at 0.5 finds %d of the %d faces face-api scores >= 0.6",
              file, sure_hits, ns);
        if (sure_hits != ns)
            print_unmatched(sure, ns, dbuf, nw);
        CHECK(low_hits == nr, "%s: ours at 0.4 finds %d of face-api's %d faces", file, low_hits,
              nr);
        CHECK(kept == nw, "%s: tiling loses %d of the whole-image faces", file, nw - kept);
        tot_ref += nr;
        tot_hit += hits;
        tot_low += low_hits;
        iou_sum += mean * hits;
        tot_whole += nw;
        tot_tiled += nt;
        tot_lost += nw - kept;
        ms_whole += 1000.0 * (double)(t1 - t0) / CLOCKS_PER_SEC;
        ms_tiled += 1000.0 * (double)(t2 - t1) / CLOCKS_PER_SEC;
        draw_review(img, file, dbuf, nw, dbuf2, nt);
        vs_image_free(img);
    }
    printf("  total: face-api %d faces; ours %d, matching %d of them at 0.5 (mean IoU %.3f) and "
           "%d at 0.4; tiled %d (%+d, %d whole-image faces lost); %.0f ms whole-image, %.0f ms "
           "tiled\n",
           tot_ref, tot_whole, tot_hit, tot_hit ? iou_sum / tot_hit : 0.0, tot_low, tot_tiled,
           tot_tiled - tot_whole, tot_lost, ms_whole, ms_tiled);
    cJSON_Delete(doc);
}

/* On lossless images (both sides decode the same pixels) our SSD equals face-api's at
 * minConfidence 0.1: the same faces in the same order, boxes within 0.05 pixel and scores within
 * 0.002 (the JSON's rounding, plus TFJS's wasm kernels and XNNPACK rounding differently in the
 * last bits). */
static void ssd_equals_faceapi_on_lossless_images(void)
{
    cJSON *doc = read_json("tests/data/detect/faceapi_ssd.json");
    if (!doc)
        return;
    double max_px = 0, max_score = 0;
    int faces = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "exact"))
    {
        const char *file = cJSON_GetStringValue(cJSON_GetObjectItem(e, "file"));
        vs_image *img = load(file);
        if (!img)
            continue;
        vs_det ref[16];
        int nr = json_boxes(cJSON_GetObjectItem(e, "faces_0.1"), ref, 16);
        vs_detect_opts o = opts(0.1f, -1.0f, VS_TILE_OFF, VS_LOWLIGHT_OFF);
        int n = run(VS_DETECTOR_SSD, img, &o, dbuf, NULL);
        CHECK(n == nr, "%s: %d faces, face-api %d", file, n, nr);
        for (int i = 0; i < n && i < nr; i++) {
            double d = fmax(fmax(fabs(dbuf[i].x0 - ref[i].x0), fabs(dbuf[i].y0 - ref[i].y0)),
                            fmax(fabs(dbuf[i].x1 - ref[i].x1), fabs(dbuf[i].y1 - ref[i].y1)));
            double ds = fabs(dbuf[i].score - ref[i].score);
            CHECK(d <= 0.05 && ds <= 0.002, "%s face %d: box off by %.3f px, score by %.4f", file,
                  i, d, ds);
            max_px = fmax(max_px, d);
            max_score = fmax(max_score, ds);
            faces++;
        }
        vs_image_free(img);
    }
    printf("  lossless images: %d faces, max box difference %.3f px, max score difference %.4f\n",
           faces, max_px, max_score);
    cJSON_Delete(doc);
}

/* Close crops: bbt's 40 face crops (150x150, one face filling each).  face-api's SSD finds few
 * of them at 0.5; the default (zoomed-out pass, then the rescue) must find a face in every one,
 * with its centre in the middle half of the crop. */
static void close_crops_are_found(void)
{
    cJSON *doc = read_json("tests/data/detect/faceapi_ssd.json");
    if (!doc)
        return;
    int crops = 0, fa_05 = 0, fa_01 = 0, plain = 0, dflt = 0, zoomed = 0, rescued = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(doc, "crops"))
    {
        const char *file = cJSON_GetStringValue(cJSON_GetArrayItem(c, 0));
        double fa = cJSON_GetArrayItem(c, 1)->valuedouble;
        vs_image *img = load(file);
        if (!img)
            continue;
        crops++;
        fa_05 += fa > 0.5;
        fa_01 += fa > 0.1;
        vs_detect_opts o = opts(0.5f, -1.0f, VS_TILE_OFF, VS_LOWLIGHT_OFF);
        plain += run(VS_DETECTOR_SSD, img, &o, dbuf, NULL) > 0;
        vs_detect_info info = {0};
        int n = run(VS_DETECTOR_SSD, img, NULL, dbuf, &info);
        float cx = n > 0 ? (dbuf[0].x0 + dbuf[0].x1) / 2 : -1;
        float cy = n > 0 ? (dbuf[0].y0 + dbuf[0].y1) / 2 : -1;
        int centred =
            cx > img->w / 4.0f && cx < img->w * 0.75f && cy > img->h / 4.0f && cy < img->h * 0.75f;
        CHECK(n > 0 && centred, "%s: no face found by the default (n = %d)", file, n);
        dflt += n > 0 && centred;
        zoomed += info.zoomed;
        rescued += info.rescued;
        vs_image_free(img);
    }
    printf("  close crops: %d; face-api finds %d at 0.5 and %d at 0.1; ours at 0.5 without the "
           "zoomed-out pass %d; the default %d (%d zoomed out, %d rescued)\n",
           crops, fa_05, fa_01, plain, dflt, zoomed, rescued);
    CHECK(crops == 40, "expected bbt's 40 crops, read %d", crops);
    cJSON_Delete(doc);
}

/* BlazeFace and fr_detect find faces.jpg's six faces (their boxes are cut differently from the
 * SSD's, so the match is looser). */
static void other_detectors_find_faces_jpg(void)
{
    cJSON *doc = read_json(data_path("faceapi-test/ssd_mobilenetv1_expected_boxes.json"));
    vs_image *img = load("faceapi-test/images/faces.jpg");
    if (doc && img) {
        vs_det want[8];
        int nw = 0;
        const cJSON *b;
        cJSON_ArrayForEach(b, cJSON_GetObjectItem(doc, "boxes")) if (nw < 8) want[nw++] = box_xywh(
            cJSON_GetObjectItem(b, "x")->valuedouble, cJSON_GetObjectItem(b, "y")->valuedouble,
            cJSON_GetObjectItem(b, "width")->valuedouble,
            cJSON_GetObjectItem(b, "height")->valuedouble, 1.0);
        for (int k = VS_DETECTOR_BLAZE; k < VS_DETECTOR_COUNT; k++) {
            if (!dets[k])
                continue;
            int n = run((vs_detector_kind)k, img, NULL, dbuf, NULL);
            double mean = 0;
            int hits = match(want, nw, dbuf, n, 0.4f, &mean);
            printf("  %s on faces.jpg: %d detections, %d / %d expected at IoU >= 0.4 (mean "
                   "%.3f)\n",
                   vs_detector_model_name((vs_detector_kind)k), n, hits, nw, mean);
            CHECK_EQ_INT(hits, nw);
            CHECK_EQ_INT(n, nw);
        }
    }
    vs_image_free(img);
    cJSON_Delete(doc);
}

/* ---- LFW ----------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the names in dir (relative to the data root) that end in `suffix`, sorted, each
 * prefixed with dir; returns the new count (the list grows with realloc). */
static int list_dir(const char *dir, const char *suffix, char ***list, int n)
{
    DIR *d = opendir(data_path(dir));
    if (!d)
        return n;
    int first = n;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        size_t len = strlen(ent->d_name), sl = strlen(suffix);
        if (ent->d_name[0] == '.' || len < sl || strcmp(ent->d_name + len - sl, suffix) != 0)
            continue;
        char **grown = realloc(*list, sizeof(char *) * (size_t)(n + 1));
        if (!grown)
            break;
        *list = grown;
        size_t need = strlen(dir) + len + 2;
        (*list)[n] = malloc(need);
        if (!(*list)[n])
            break;
        snprintf((*list)[n], need, "%s/%s", dir, ent->d_name);
        n++;
    }
    closedir(d);
    qsort(*list + first, (size_t)(n - first), sizeof(char *), cmp_str);
    return n;
}

static void free_list(char **list, int n)
{
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* Every LFW image shows a face: the share of images with at least one detection, per setting.
 * The SSD's thresholds come from one run at 0.1 without the rescue (the best score per image);
 * the default setting (0.5 + rescue) is asserted to find >= 99%. */
static void lfw_plain_faces_are_found(void)
{
    char **people = NULL, **files = NULL;
    int np = list_dir("lfw-dev/images", "", &people, 0), nf = 0;
    for (int i = 0; i < np; i++)
        nf = list_dir(people[i], ".jpg", &files, nf);
    free_list(people, np);
    CHECK(nf > 0, "no LFW images under %s", data_path("lfw-dev/images"));
    static const float cuts[] = {0.5f, 0.3f, 0.2f, 0.1f};
    int ssd_found[4] = {0}, dflt = 0, rescued = 0, other[VS_DETECTOR_COUNT] = {0}, used = 0;
    int step = lfw_all ? 1 : 20;
    clock_t t0 = clock();
    for (int i = 0; i < nf; i += step) {
        vs_image *img = load(files[i]);
        if (!img)
            continue;
        vs_detect_opts low = opts(0.1f, -1.0f, VS_TILE_OFF, VS_LOWLIGHT_OFF);
        int n = run(VS_DETECTOR_SSD, img, &low, dbuf, NULL);
        for (int c = 0; c < 4; c++)
            ssd_found[c] += n > 0 && dbuf[0].score > cuts[c];
        vs_detect_info info = {0};
        dflt += run(VS_DETECTOR_SSD, img, NULL, dbuf, &info) > 0;
        rescued += info.rescued;
        for (int k = VS_DETECTOR_BLAZE; k < VS_DETECTOR_COUNT; k++) {
            vs_detect_opts o = opts(0.0f, -1.0f, VS_TILE_DEFAULT, VS_LOWLIGHT_OFF);
            if (dets[k])
                other[k] += run((vs_detector_kind)k, img, &o, dbuf, NULL) > 0;
        }
        used++;
        vs_image_free(img);
    }
    free_list(files, nf);
    if (!used)
        return;
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("  LFW dev: %d of %d images (every %d%s), %.1f s; share with >= 1 face:\n", used, nf,
           step, step == 1 ? "" : "; `test_detect lfw` for all", secs);
    for (int c = 0; c < 4; c++)
        printf("    ssd_mobilenetv1 score > %.1f          %6.2f%%\n", cuts[c],
               100.0 * ssd_found[c] / used);
    printf("    ssd_mobilenetv1 default (0.5 + rescue) %6.2f%%  (%d rescued)\n",
           100.0 * dflt / used, rescued);
    for (int k = VS_DETECTOR_BLAZE; k < VS_DETECTOR_COUNT; k++) {
        vs_detect_opts d = vs_detect_opts_default((vs_detector_kind)k);
        if (dets[k])
            printf("    %-15s score > %.2f          %6.2f%%\n",
                   vs_detector_model_name((vs_detector_kind)k), d.score, 100.0 * other[k] / used);
    }
    CHECK(dflt >= 0.99 * used, "the default finds a face in %d of %d LFW images (< 99%%)", dflt,
          used);
}

/* ---- low light ----------------------------------------------------------------------------- */

static uint32_t rng_next(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static double rng_uniform(uint32_t *s)
{
    return (rng_next(s) >> 8) * (1.0 / 16777216.0);
}

/* Sum of four uniforms, centred and scaled to unit variance: close enough to Gaussian. */
static double rng_gauss(uint32_t *s)
{
    double u = rng_uniform(s) + rng_uniform(s) + rng_uniform(s) + rng_uniform(s);
    return (u - 2.0) * sqrt(3.0);
}

/* A night-time copy: gamma in [2.5, 3], exposure x0.3, sensor noise of sigma 2 levels. */
static vs_image *darken(const vs_image *src, uint32_t seed)
{
    vs_image *img = NULL;
    if (vs_image_clone(src, &img, NULL) != VS_OK)
        return NULL;
    uint32_t s = seed * 2654435761u + 12345u;
    double gamma = 2.5 + 0.5 * rng_uniform(&s);
    double lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = 255.0 * pow(v / 255.0, gamma) * 0.3;
    for (int y = 0; y < img->h; y++) {
        uint8_t *row = img->px + (size_t)y * img->stride;
        for (int x = 0; x < img->w * img->c; x++) {
            double v = lut[row[x]] + 2.0 * rng_gauss(&s);
            row[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lround(v));
        }
    }
    return img;
}

/* Faces whose shorter side is at least this many pixels: large enough to recognise. */
#define LL_RECOGNISABLE 32.0f

/*
 * Recall on the darkened copies with the low-light step, all faces, relative to the originals
 * (1 by construction).  Issue #7 asks for 0.95; the step reaches 0.874 and this floor guards it.
 * What stops 0.95 is the darkening itself, measured on the same photos with exact knowledge of
 * it: quantising the dark frame to 8 bits, with no noise at all, and inverting the curve exactly
 * already loses 5.4% of the faces (10..20-pixel faces in crowds whose dark half is one or two
 * levels), and sensor noise of sigma 2 alone, on the originals, 2.4%.
 */
#define LL_MIN_RECALL 0.85
#define LL_GOAL_RECALL 0.95

typedef struct ll_tally {
    int images, faces, dark, enhanced, found_off, found_on;
    int big, big_off, big_on; /* the same for faces >= LL_RECOGNISABLE */
} ll_tally;

/* Counts the faces of truth[0..n) found in got[0..m) (IoU >= 0.5), in total and large ones. */
static void ll_count(const vs_det *truth, int n, const vs_det *got, int m, int *all, int *big)
{
    char used[MAX_DET] = {0};
    for (int i = 0; i < n; i++) {
        int best = -1;
        float best_iou = 0.5f;
        for (int j = 0; j < m; j++) {
            float v = vs_detect_iou(&truth[i], &got[j]);
            if (!used[j] && v >= best_iou) {
                best_iou = v;
                best = j;
            }
        }
        if (best < 0)
            continue;
        used[best] = 1;
        (*all)++;
        *big += fminf(truth[i].x1 - truth[i].x0, truth[i].y1 - truth[i].y0) >= LL_RECOGNISABLE;
    }
}

/* One photo: ours on the original is the truth; the darkened copy without and with the
 * low-light step. */
static void low_light_one(const char *file, ll_tally *t)
{
    vs_image *img = load(file);
    if (!img)
        return;
    vs_detect_opts o = opts(0.0f, 0.0f, VS_TILE_DEFAULT, VS_LOWLIGHT_OFF);
    o.max_faces = MAX_DET;
    int n0 = run(VS_DETECTOR_SSD, img, &o, dbuf, NULL);
    vs_image *night = n0 > 0 ? darken(img, (uint32_t)t->images + 1) : NULL;
    if (night) {
        vs_brightness b;
        vs_img_brightness(night, &b, NULL);
        t->dark += b.is_dark;
        int n1 = run(VS_DETECTOR_SSD, night, &o, dbuf2, NULL);
        ll_count(dbuf, n0, dbuf2, n1, &t->found_off, &t->big_off);
        vs_detect_info info = {0};
        o.low_light = VS_LOWLIGHT_AUTO;
        int n2 = run(VS_DETECTOR_SSD, night, &o, dbuf2, &info);
        ll_count(dbuf, n0, dbuf2, n2, &t->found_on, &t->big_on);
        t->enhanced += info.enhanced;
        t->faces += n0;
        for (int i = 0; i < n0; i++)
            t->big += fminf(dbuf[i].x1 - dbuf[i].x0, dbuf[i].y1 - dbuf[i].y0) >= LL_RECOGNISABLE;
        t->images++;
    }
    vs_image_free(night);
    vs_image_free(img);
}

static void low_light_recall(void)
{
    cJSON *doc = read_json("tests/data/detect/faceapi_ssd.json");
    if (!doc)
        return;
    ll_tally t = {0};
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "images"))
        low_light_one(cJSON_GetStringValue(cJSON_GetObjectItem(e, "file")), &t);
    cJSON_Delete(doc);
    static const char *const more[] = {
        "faceapi-test/images/angry.jpg", "faceapi-test/images/surprised.jpg",
        "faceapi-test/images/face1.png", "faceapi-test/images/face2.png"};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        low_light_one(more[i], &t);
    double r_off = t.faces ? (double)t.found_off / t.faces : 0;
    double r_on = t.faces ? (double)t.found_on / t.faces : 0;
    double b_off = t.big ? (double)t.big_off / t.big : 0;
    double b_on = t.big ? (double)t.big_on / t.big : 0;
    printf("  low light: %d photos, %d faces on the originals (%d at least %.0f px); the darkened "
           "copies: %d dark, %d enhanced\n",
           t.images, t.faces, t.big, LL_RECOGNISABLE, t.dark, t.enhanced);
    printf("  recall on the darkened copies, without / with the low-light step: all faces "
           "%.1f%% / %.1f%% (issue #7's goal: %.0f%%); faces >= %.0f px %.1f%% / %.1f%%\n",
           100 * r_off, 100 * r_on, 100 * LL_GOAL_RECALL, LL_RECOGNISABLE, 100 * b_off, 100 * b_on);
    CHECK(t.dark == t.images && t.enhanced == t.images,
          "every darkened photo must be measured dark and enhanced");
    CHECK(r_on >= LL_MIN_RECALL, "recall with enhancement on all faces: %.3f < %.2f", r_on,
          LL_MIN_RECALL);
    CHECK(b_on >= 0.95, "recall with enhancement on faces >= %.0f px: %.3f < 0.95", LL_RECOGNISABLE,
          b_on);
    CHECK(r_on > r_off, "the low-light step must help: %.3f <= %.3f", r_on, r_off);
}

/* ---- bad input ----------------------------------------------------------------------------- */

static void bad_input_never_crashes(void)
{
    vs_err err = {{0}};
    vs_detector *det = dets[VS_DETECTOR_SSD];
    int n = -1;
    uint8_t px[64 * 64 * 4];
    memset(px, 0, sizeof px);
    vs_image ok = {64, 64, 3, 64 * 3, px};
    CHECK(vs_detect(NULL, &ok, NULL, dbuf, 10, &n, NULL, &err) == VS_INVAL, "NULL detector");
    CHECK(vs_detect(det, NULL, NULL, dbuf, 10, &n, NULL, &err) == VS_INVAL, "NULL image");
    CHECK(vs_detect(det, &ok, NULL, NULL, 10, &n, NULL, &err) == VS_INVAL, "NULL out");
    CHECK(vs_detect(det, &ok, NULL, dbuf, -1, &n, NULL, &err) == VS_INVAL, "negative max");
    CHECK(vs_detect(det, &ok, NULL, dbuf, 10, NULL, NULL, &err) == VS_INVAL, "NULL n");
    const vs_image bad[] = {{0, 64, 3, 192, px},
                            {64, 0, 3, 192, px},
                            {64, 64, 2, 128, px},
                            {64, 64, 3, 100, px},
                            {64, 64, 3, 192, NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(vs_detect(det, &bad[i], NULL, dbuf, 10, &n, NULL, &err) == VS_INVAL,
              "bad image %zu accepted", i);
    /* Odd but valid images: tiny, one row, grey, RGBA, black, noise; max = 0. */
    uint32_t s = 7;
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)rng_next(&s);
    const vs_image odd[] = {{1, 1, 3, 3, px},    {64, 1, 3, 192, px},  {1, 64, 1, 1, px},
                            {64, 64, 1, 64, px}, {64, 64, 4, 256, px}, {32, 32, 3, 256, px}};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        for (int k = 0; k < VS_DETECTOR_COUNT; k++) {
            vs_detect_opts o = opts(0.0f, 0.0f, VS_TILE_ON, VS_LOWLIGHT_AUTO);
            CHECK(!dets[k] ||
                      vs_detect(dets[k], &odd[i], &o, dbuf, MAX_DET, &n, NULL, &err) == VS_OK,
                  "odd image %zu: %s", i, err.msg);
        }
    CHECK(vs_detect(det, &ok, NULL, dbuf, 0, &n, NULL, &err) == VS_OK && n == 0, "max = 0");
    /* A wide strip larger than any input, tiled. */
    vs_image *strip = NULL;
    if (vs_image_new(3000, 40, 3, &strip, &err) == VS_OK) {
        memset(strip->px, 90, (size_t)strip->w * strip->h * 3);
        vs_detect_opts o = opts(0.0f, 0.0f, VS_TILE_ON, VS_LOWLIGHT_AUTO);
        CHECK(vs_detect(det, strip, &o, dbuf, MAX_DET, &n, NULL, &err) == VS_OK, "strip: %s",
              err.msg);
    }
    vs_image_free(strip);
    /* A model that is not a detector. */
    vs_model *m = NULL;
    vs_detector *d = NULL;
    if (vs_nn_model_load(models_dir, "face_landmark_68_tiny", NULL, &m, &err) == VS_OK) {
        CHECK(vs_detector_new(m, 1, &d, &err) == VS_UNSUPPORTED && d == NULL,
              "a landmark model accepted as a detector");
        vs_nn_model_free(m);
    }
    CHECK(vs_detector_new(NULL, 1, &d, &err) == VS_INVAL, "NULL model");
    CHECK(vs_detect_nms(NULL, 3, 0, 0.5f, 0, 3, NULL, NULL) == 0, "NMS on NULL");
}

/* ---- main ---------------------------------------------------------------------------------- */

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

/* The photo-heavy cases: the sanitizer pass of `make test` sets VISAGE_TEST_QUICK and skips them
 * (their code paths are the same as the small cases'; the plain build runs them in full). */
static int heavy(const char *name)
{
    return strcmp(name, "groups_match_faceapi_and_tiling_adds") == 0 ||
           strcmp(name, "lfw_plain_faces_are_found") == 0 || strcmp(name, "low_light_recall") == 0;
}

static const test_case tests[] = {
    {"ssd_anchors_match_extra_dim", ssd_anchors_match_extra_dim},
    {"nms_matches_faceapi", nms_matches_faceapi},
    {"faces_jpg_has_the_expected_boxes", faces_jpg_has_the_expected_boxes},
    {"other_detectors_find_faces_jpg", other_detectors_find_faces_jpg},
    {"ssd_equals_faceapi_on_lossless_images", ssd_equals_faceapi_on_lossless_images},
    {"groups_match_faceapi_and_tiling_adds", groups_match_faceapi_and_tiling_adds},
    {"close_crops_are_found", close_crops_are_found},
    {"lfw_plain_faces_are_found", lfw_plain_faces_are_found},
    {"low_light_recall", low_light_recall},
    {"bad_input_never_crashes", bad_input_never_crashes},
};

static int load_detectors(void)
{
    for (int k = 0; k < VS_DETECTOR_COUNT; k++) {
        vs_err err = {{0}};
        const char *name = vs_detector_model_name((vs_detector_kind)k);
        if (vs_nn_model_load(models_dir, name, NULL, &models[k], &err) != VS_OK) {
            printf("  (%s not loaded: %s)\n", name, err.msg);
            continue;
        }
        if (vs_detector_new(models[k], 1, &dets[k], &err) != VS_OK) {
            printf("  FAIL detector %s: %s\n", name, err.msg);
            failures++;
        }
    }
    return dets[VS_DETECTOR_SSD] != NULL;
}

int main(int argc, char **argv)
{
    data_dir = data_root();
    models_dir = getenv("VISAGE_MODELS");
    if (!models_dir || !*models_dir)
        models_dir = "models";
    lfw_all = argc > 1 && strcmp(argv[1], "lfw") == 0;
    const char *only = argc > 1 && !lfw_all ? argv[1] : NULL;
    struct stat sb;
    if (stat(data_path("faceapi-test/images/faces.jpg"), &sb) != 0) {
        printf("SKIP test_detect: no test photos in %s (set VISAGE_TEST_DATA)\n", data_dir);
        return EXIT_SKIP;
    }
    if (!load_detectors()) {
        printf("SKIP test_detect: ssd_mobilenetv1 not found under %s (run scripts/setup.sh)\n",
               models_dir);
        return EXIT_SKIP;
    }
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if ((lfw_all && tests[i].fn != lfw_plain_faces_are_found) ||
            (only && strcmp(only, tests[i].name) != 0))
            continue;
        const char *quick = getenv("VISAGE_TEST_QUICK");
        if (quick && *quick && !only && heavy(tests[i].name)) {
            printf("skip %s (VISAGE_TEST_QUICK: the plain build runs it)\n", tests[i].name);
            continue;
        }
        int before = failures;
        tests[i].fn();
        printf("%s %s\n", failures == before ? "ok  " : "FAIL", tests[i].name);
    }
    for (int k = 0; k < VS_DETECTOR_COUNT; k++) {
        vs_detector_free(dets[k]);
        vs_nn_model_free(models[k]);
    }
    if (failures) {
        printf("test_detect: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_detect: all passed\n");
    return 0;
}

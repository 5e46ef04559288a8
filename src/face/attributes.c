/*
 * attributes.c - age, gender and expression of one face, by the net the caller picked, each fed
 * the crop its own library cuts (see attributes.h for the recipes), and the crop helpers that
 * liveness.c shares.
 *
 * Layout: a vs_attr_models holds up to three loaded nets in fixed slots (age or age+gender, gender
 * for faceplugin's separate net, expression); a vs_attr_ctx holds one runtime per loaded net and
 * the crop buffers, sized once.  Each model's pre- and post-processing is one pair of static
 * functions; the post-processing follows the library that ships the net (face-api's AgeGenderNet
 * and FaceExpressionNet, human's gear.ts / faceres.ts / emotion.ts, faceplugin's lib/fr_*.js).
 */
#include "face/attributes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HUMAN_CROP 192 /* human's face tensor: the mesh model's input size */
#define MAX_TAPS 512   /* largest output side of the samplers below */

enum { SLOT_AG, SLOT_G2, SLOT_EXPR, N_SLOTS };

struct vs_attr_models {
    vs_ag_model ag;
    vs_expr_model expr;
    vs_model *net[N_SLOTS];
};

struct vs_attr_ctx {
    const vs_attr_models *m;
    vs_runtime *rt[N_SLOTS];
    float *human;    /* HUMAN_CROP^2 * 3 floats */
    vs_image *u8;    /* growable scratch: face-api's padded square, faceplugin's crops */
    size_t u8_bytes; /* capacity of u8->px */
};

/* ---- names -------------------------------------------------------------------------------- */

const char *vs_expression_name(vs_expression e)
{
    static const char *const names[VS_EXPR_COUNT] = {"neutral", "happy",     "sad",      "angry",
                                                     "fearful", "disgusted", "surprised"};
    return (unsigned)e < VS_EXPR_COUNT ? names[e] : "unknown";
}

const char *vs_gender_name(vs_gender g)
{
    return g == VS_GENDER_MALE ? "male" : "female";
}

const char *vs_ag_model_name(vs_ag_model m)
{
    static const char *const names[VS_AG_COUNT] = {"none", "faceapi", "gear", "faceres", "fr"};
    return (unsigned)m < VS_AG_COUNT ? names[m] : "unknown";
}

const char *vs_expr_model_name(vs_expr_model m)
{
    static const char *const names[VS_EXPR_MODEL_COUNT] = {"none", "faceapi", "emotion", "fr"};
    return (unsigned)m < VS_EXPR_MODEL_COUNT ? names[m] : "unknown";
}

/* ---- samplers ----------------------------------------------------------------------------- */

/* One output coordinate along an axis: the two source indices, the weight of the second, and
 * whether the coordinate fell outside the source (cropAndResize's extrapolation). */
typedef struct {
    int i0, i1;
    float f;
    int inside;
} axis_tap;

/* cropAndResize along one axis: normalised box edges a0..a1 of a source of n pixels. */
static void taps_crop(int n, int out, double a0, double a1, axis_tap *t)
{
    double step = out > 1 ? (a1 - a0) * (n - 1) / (out - 1) : 0.0;
    for (int i = 0; i < out; i++) {
        double s = out > 1 ? a0 * (n - 1) + i * step : 0.5 * (a0 + a1) * (n - 1);
        t[i].inside = s >= 0.0 && s <= n - 1;
        double fl = floor(s);
        t[i].i0 = t[i].inside ? (int)fl : 0;
        t[i].i1 = t[i].inside ? (int)ceil(s) : 0;
        t[i].f = (float)(s - fl);
    }
}

/* resizeBilinear (asymmetric) along one axis. */
static void taps_resize(int n, int out, axis_tap *t)
{
    double ratio = (double)n / out;
    for (int i = 0; i < out; i++) {
        double s = ratio * i;
        int s0 = (int)floor(s);
        t[i].i0 = s0 < 0 ? 0 : s0;
        t[i].i1 = (int)ceil(s) > n - 1 ? n - 1 : (int)ceil(s);
        t[i].f = (float)(s - t[i].i0);
        t[i].inside = 1;
    }
}

/* Bilinear sampling of a float (f != NULL) or u8 source with precomputed taps, as TFJS's CPU
 * kernels interpolate: along x first, then y. */
static void sample(const float *f, const uint8_t *u, size_t stride, int c, const axis_tap *ty,
                   const axis_tap *tx, int out_w, int out_h, float scale, float offset, float *dst)
{
    for (int y = 0; y < out_h; y++) {
        for (int x = 0; x < out_w; x++) {
            float *o = dst + ((size_t)y * out_w + x) * c;
            if (!ty[y].inside || !tx[x].inside) {
                for (int k = 0; k < c; k++)
                    o[k] = offset;
                continue;
            }
            size_t r0 = ty[y].i0 * stride, r1 = ty[y].i1 * stride;
            size_t c0 = (size_t)tx[x].i0 * c, c1 = (size_t)tx[x].i1 * c;
            for (int k = 0; k < c; k++) {
                float tl = f ? f[r0 + c0 + k] : u[r0 + c0 + k];
                float tr = f ? f[r0 + c1 + k] : u[r0 + c1 + k];
                float bl = f ? f[r1 + c0 + k] : u[r1 + c0 + k];
                float br = f ? f[r1 + c1 + k] : u[r1 + c1 + k];
                float top = tl + (tr - tl) * tx[x].f;
                float bot = bl + (br - bl) * tx[x].f;
                o[k] = (top + (bot - top) * ty[y].f) * scale + offset;
            }
        }
    }
}

void vs_attr_crop_and_resize(const vs_attr_fimg *src, const float box[4], int out_w, int out_h,
                             float scale, float offset, float *dst)
{
    axis_tap ty[MAX_TAPS], tx[MAX_TAPS];
    if (out_w > MAX_TAPS || out_h > MAX_TAPS)
        return;
    taps_crop(src->h, out_h, box[0], box[2], ty);
    taps_crop(src->w, out_w, box[1], box[3], tx);
    sample(src->px, NULL, (size_t)src->w * src->c, src->c, ty, tx, out_w, out_h, scale, offset,
           dst);
}

void vs_attr_resize_bilinear(const vs_attr_fimg *src, int out_w, int out_h, float scale,
                             float offset, float *dst)
{
    axis_tap ty[MAX_TAPS], tx[MAX_TAPS];
    if (out_w > MAX_TAPS || out_h > MAX_TAPS)
        return;
    taps_resize(src->h, out_h, ty);
    taps_resize(src->w, out_w, tx);
    sample(src->px, NULL, (size_t)src->w * src->c, src->c, ty, tx, out_w, out_h, scale, offset,
           dst);
}

/* JavaScript's Math.round: halves go up. */
static double js_round(double v)
{
    return floor(v + 0.5);
}

vs_status vs_attr_human_crop(const vs_image *img, const vs_det *det, vs_attr_fimg *dst, vs_err *err)
{
    if (!img || !det || !dst || !dst->px || img->c != 3 || dst->c != 3 || dst->w > MAX_TAPS ||
        dst->h > MAX_TAPS)
        return vs_err_set(err, VS_INVAL, "human crop: bad arguments");
    /* enlargeBox(box, 1.4) then squarifyBox: a square of side 1.4 * max(w, h), corners rounded. */
    double cx = 0.5 * ((double)det->x0 + det->x1), cy = 0.5 * ((double)det->y0 + det->y1);
    double w = (double)det->x1 - det->x0, h = (double)det->y1 - det->y0;
    double half = 0.5 * 1.4 * (w > h ? w : h);
    if (!(half > 0.0))
        return vs_err_set(err, VS_INVAL, "human crop: empty box");
    double sx = js_round(cx - half), sy = js_round(cy - half);
    double ex = js_round(cx + half), ey = js_round(cy + half);
    /* cutAndResize normalises by the image size (not size - 1) before cropAndResize. */
    axis_tap ty[MAX_TAPS], tx[MAX_TAPS];
    taps_crop(img->h, dst->h, sy / img->h, ey / img->h, ty);
    taps_crop(img->w, dst->w, sx / img->w, ex / img->w, tx);
    sample(NULL, img->px, img->stride, 3, ty, tx, dst->w, dst->h, 1.0f / 255.0f, 0.0f, dst->px);
    return VS_OK;
}

/* Grows the u8 scratch image to w x h x 3 (contents undefined). */
static vs_status scratch_u8(vs_attr_ctx *ctx, int w, int h, vs_err *err)
{
    size_t need = (size_t)w * (size_t)h * 3;
    if (need > ctx->u8_bytes) {
        uint8_t *px = realloc(ctx->u8->px, need);
        if (!px)
            return vs_err_set(err, VS_NOMEM, "attributes: crop buffer of %zu bytes", need);
        ctx->u8->px = px;
        ctx->u8_bytes = need;
    }
    ctx->u8->w = w;
    ctx->u8->h = h;
    ctx->u8->c = 3;
    ctx->u8->stride = (size_t)w * 3;
    return VS_OK;
}

/* The faceplugin crop rectangle (see vs_attr_fp_crop); centred = 0 is fr_expression's variant,
 * which grows the box by `factor` to the right and down from its top-left corner. */
static void fp_rect(const vs_image *img, const vs_det *det, float factor, int centred, int r[4])
{
    int W = img->w, H = img->h;
    int x1 = (int)det->x0, y1 = (int)det->y0, x2 = (int)det->x1, y2 = (int)det->y1;
    double bw = abs(x2 - x1), bh = abs(y2 - y1);
    if (!centred) {
        r[0] = x1;
        r[1] = y1;
        r[2] = (int)(bw * factor) < W - 1 ? (int)(bw * factor) : W - 1;
        r[3] = (int)(bh * factor) < H - 1 ? (int)(bh * factor) : H - 1;
    } else {
        double s = fmin((H - 1) / fmax(bh, 1.0), fmin((W - 1) / fmax(bw, 1.0), (double)factor));
        double cx = bw / 2 + x1, cy = bh / 2 + y1, nw = bw * s, nh = bh * s;
        double lx = cx - nw / 2, ly = cy - nh / 2, rx = cx + nw / 2, ry = cy + nh / 2;
        if (lx < 0) {
            rx -= lx;
            lx = 0;
        }
        if (ly < 0) {
            ry -= ly;
            ly = 0;
        }
        if (rx > W - 1) {
            lx -= rx - W + 1;
            rx = W - 1;
        }
        if (ry > H - 1) {
            ly -= ry - H + 1;
            ry = H - 1;
        }
        r[0] = (int)lx > 0 ? (int)lx : 0;
        r[1] = (int)ly > 0 ? (int)ly : 0;
        r[2] = (int)(rx - lx) < W - 1 ? (int)(rx - lx) : W - 1;
        r[3] = (int)(ry - ly) < H - 1 ? (int)(ry - ly) : H - 1;
    }
    /* OpenCV would throw on a rectangle that leaves the image; we clip it instead. */
    r[0] = r[0] < 0 ? 0 : (r[0] > W - 1 ? W - 1 : r[0]);
    r[1] = r[1] < 0 ? 0 : (r[1] > H - 1 ? H - 1 : r[1]);
    if (r[0] + r[2] > W)
        r[2] = W - r[0];
    if (r[1] + r[3] > H)
        r[3] = H - r[1];
}

static vs_status fp_crop(const vs_image *img, const vs_det *det, float factor, int centred,
                         vs_image *dst, vs_err *err)
{
    if (!img || !det || !dst || img->c != 3 || dst->c != 3)
        return vs_err_set(err, VS_INVAL, "faceplugin crop: bad arguments");
    int r[4];
    fp_rect(img, det, factor, centred, r);
    if (r[2] <= 0 || r[3] <= 0)
        return vs_err_set(err, VS_INVAL, "faceplugin crop: empty rectangle");
    vs_image view = {r[2], r[3], 3, img->stride, img->px + (size_t)r[1] * img->stride + r[0] * 3};
    return vs_img_resize(&view, dst, VS_RESIZE_BILINEAR_HALF, err);
}

vs_status vs_attr_fp_crop(const vs_image *img, const vs_det *det, float factor, vs_image *dst,
                          vs_err *err)
{
    return fp_crop(img, det, factor, 1, dst, err);
}

/* ---- face-api's crop ---------------------------------------------------------------------- */

vs_status vs_attr_faceapi_rect(int img_w, int img_h, const float (*lm68)[2], int rect[4],
                               vs_err *err)
{
    if (!lm68 || !rect || img_w <= 0 || img_h <= 0)
        return vs_err_set(err, VS_INVAL, "face-api crop: bad arguments");
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (int i = 0; i < 68; i++) {
        double x = lm68[i][0];
        double y = lm68[i][1];
        x0 = fmin(x0, x);
        y0 = fmin(y0, y);
        x1 = fmax(x1, x);
        y1 = fmax(y1, y);
    }
    /* alignMinBbox: pad by 20 % of width and height, half on each side. */
    double w = x1 - x0, h = y1 - y0;
    double x = x0 - 0.1 * w, y = y0 - 0.1 * h, right = x + 1.2 * w, bottom = y + 1.2 * h;
    /* Box.clipAtImageBorders, then floor of x, y, width and height. */
    double cx = fmax(x, 0.0), cy = fmax(y, 0.0);
    double cw = fmin(right - cx, img_w - cx), ch = fmin(bottom - cy, img_h - cy);
    rect[0] = (int)floor(cx);
    rect[1] = (int)floor(cy);
    rect[2] = (int)floor(cw);
    rect[3] = (int)floor(ch);
    if (rect[2] <= 0 || rect[3] <= 0)
        return vs_err_set(err, VS_INVAL, "face-api crop: empty rectangle");
    return VS_OK;
}

/* extractFaceTensors + padToSquare(centred) + resizeBilinear to 112: writes 112 * 112 * 3 raw
 * pixel values into dst. */
static vs_status faceapi_input(vs_attr_ctx *ctx, const vs_image *img, const float (*lm68)[2],
                               float *dst, vs_err *err)
{
    int r[4];
    vs_status st = vs_attr_faceapi_rect(img->w, img->h, lm68, r, err);
    if (st != VS_OK)
        return st;
    int side = r[2] > r[3] ? r[2] : r[3];
    int diff = side - (r[2] < r[3] ? r[2] : r[3]);
    /* padToSquare appends round(diff / 2) after the image and prepends the rest. */
    int before = diff - (int)js_round(diff * 0.5);
    int ox = r[2] < r[3] ? before : 0, oy = r[3] < r[2] ? before : 0;
    st = scratch_u8(ctx, side, side, err);
    if (st != VS_OK)
        return st;
    vs_image *sq = ctx->u8;
    memset(sq->px, 0, sq->stride * (size_t)side);
    for (int y = 0; y < r[3]; y++)
        memcpy(sq->px + (size_t)(y + oy) * sq->stride + (size_t)ox * 3,
               img->px + (size_t)(y + r[1]) * img->stride + (size_t)r[0] * 3, (size_t)r[2] * 3);
    return vs_img_resize_to_f32(sq, 112, 112, VS_RESIZE_BILINEAR, 1.0f, 0.0f, dst, err);
}

/* ---- loading ------------------------------------------------------------------------------ */

/* The engine names of the nets a choice needs, by slot (NULL: slot unused). */
static void net_names(vs_ag_model ag, vs_expr_model expr, const char *names[N_SLOTS])
{
    static const char *const ag_net[VS_AG_COUNT] = {NULL, "age_gender", "gear", "faceres",
                                                    "fr_age"};
    static const char *const expr_net[VS_EXPR_MODEL_COUNT] = {NULL, "face_expression", "emotion",
                                                              "fr_expression"};
    names[SLOT_AG] = ag_net[ag];
    names[SLOT_G2] = ag == VS_AG_FR ? "fr_gender" : NULL;
    names[SLOT_EXPR] = expr_net[expr];
}

vs_status vs_attr_models_load(const char *models_dir, vs_ag_model ag, vs_expr_model expr,
                              vs_attr_models **out, vs_err *err)
{
    if (!out)
        return vs_err_set(err, VS_INVAL, "attributes: NULL out");
    *out = NULL;
    if ((unsigned)ag >= VS_AG_COUNT || (unsigned)expr >= VS_EXPR_MODEL_COUNT)
        return vs_err_set(err, VS_INVAL, "attributes: unknown model %d / %d", ag, expr);
    vs_attr_models *m = calloc(1, sizeof *m);
    if (!m)
        return vs_err_set(err, VS_NOMEM, "attributes: models");
    m->ag = ag;
    m->expr = expr;
    const char *names[N_SLOTS];
    net_names(ag, expr, names);
    vs_status st = VS_OK;
    for (int s = 0; s < N_SLOTS && st == VS_OK; s++)
        if (names[s])
            st = vs_nn_model_load(models_dir, names[s], NULL, &m->net[s], err);
    if (st != VS_OK) {
        vs_attr_models_free(m);
        return st;
    }
    *out = m;
    return VS_OK;
}

void vs_attr_models_free(vs_attr_models *m)
{
    if (!m)
        return;
    for (int s = 0; s < N_SLOTS; s++)
        vs_nn_model_free(m->net[s]);
    free(m);
}

vs_status vs_attr_ctx_new(const vs_attr_models *m, int threads, vs_attr_ctx **out, vs_err *err)
{
    if (!m || !out)
        return vs_err_set(err, VS_INVAL, "attributes: NULL argument");
    *out = NULL;
    vs_attr_ctx *ctx = calloc(1, sizeof *ctx);
    vs_status st = VS_NOMEM;
    if (!ctx)
        return vs_err_set(err, st, "attributes: context");
    ctx->m = m;
    ctx->human = malloc(sizeof(float) * HUMAN_CROP * HUMAN_CROP * 3);
    ctx->u8 = calloc(1, sizeof *ctx->u8);
    if (!ctx->human || !ctx->u8) {
        vs_err_set(err, st, "attributes: buffers");
        goto fail;
    }
    st = VS_OK;
    for (int s = 0; s < N_SLOTS && st == VS_OK; s++)
        if (m->net[s])
            st = vs_nn_runtime_new(m->net[s], VS_NN_BACKEND_XNNPACK, threads, &ctx->rt[s], err);
    if (st != VS_OK)
        goto fail;
    *out = ctx;
    return VS_OK;
fail:
    vs_attr_ctx_free(ctx);
    return st;
}

void vs_attr_ctx_free(vs_attr_ctx *ctx)
{
    if (!ctx)
        return;
    for (int s = 0; s < N_SLOTS; s++)
        vs_nn_runtime_free(ctx->rt[s]);
    free(ctx->human);
    if (ctx->u8)
        free(ctx->u8->px);
    free(ctx->u8);
    free(ctx);
}

/* ---- running the nets --------------------------------------------------------------------- */

/* Output `name` of slot s, or NULL (the caller reports VS_FORMAT). */
static const float *output_named(const vs_attr_ctx *ctx, int s, const char *name, int64_t n)
{
    vs_nn_model_info info;
    vs_nn_model_info_get(ctx->m->net[s], &info);
    for (int i = 0; i < info.n_outputs; i++) {
        vs_nn_tensor_info ti = vs_nn_output_info(ctx->m->net[s], i);
        int64_t count = 1;
        for (int d = 0; d < ti.rank; d++)
            count *= ti.dim[d];
        if (ti.name && strcmp(ti.name, name) == 0 && count == n)
            return vs_nn_output(ctx->rt[s], i);
    }
    return NULL;
}

static vs_status missing(const char *net, const char *name, vs_err *err)
{
    return vs_err_set(err, VS_FORMAT, "%s: no output %s of the expected size", net, name);
}

static void set_gender(vs_attributes *a, float p_male)
{
    a->gender = p_male > 0.5f ? VS_GENDER_MALE : VS_GENDER_FEMALE;
    a->gender_prob = p_male > 0.5f ? p_male : 1.0f - p_male;
}

/* Human's face tensor, computed once per face for every human net that runs. */
static vs_status human_tensor(vs_attr_ctx *ctx, const vs_image *img, const vs_det *det,
                              vs_attr_fimg *t, vs_err *err)
{
    *t = (vs_attr_fimg){HUMAN_CROP, HUMAN_CROP, 3, ctx->human};
    return vs_attr_human_crop(img, det, t, err);
}

/* gear.ts: age is a walk from the most probable bucket towards each other bucket by its
 * probability, in decreasing order of probability. */
static float gear_age(const float p[7])
{
    static const float weight[7] = {15, 23, 28, 35.5f, 45.5f, 55.5f, 65};
    int order[7] = {0, 1, 2, 3, 4, 5, 6};
    for (int i = 1; i < 7; i++) /* insertion sort, descending; ties keep index order */
        for (int j = i; j > 0 && p[order[j]] > p[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    float age = weight[order[0]];
    for (int i = 1; i < 7; i++)
        age += p[order[i]] * (weight[order[i]] - age);
    return age;
}

/* faceres.ts: the argmax bin refined towards the larger neighbour. */
static float faceres_age(const float p[100])
{
    int k = 0;
    for (int i = 1; i < 100; i++)
        if (p[i] > p[k])
            k = i;
    float lo = k > 0 ? p[k - 1] : 0.0f, hi = k < 99 ? p[k + 1] : 0.0f;
    return lo > hi ? (float)k - 10.0f * lo : (float)k + 10.0f * hi;
}

/* SSR-Net's stage-wise regression (faceplugin's mergeAge / mergeGender): x holds the nine outputs
 * concatenated (3 x prob, 3 x delta_k, 3 x index_offset, each stage of size 3). */
static float ssr_merge(const float x[21], float v)
{
    float d1 = 3.0f * (1.0f + x[9]), d2 = 3.0f * (1.0f + x[10]), d3 = 3.0f * (1.0f + x[11]);
    float a = 0, b = 0, c = 0;
    for (int i = 0; i < 3; i++) {
        a += (i + x[12 + i]) * x[i];
        b += (i + x[15 + i]) * x[3 + i];
        c += (i + x[18 + i]) * x[6 + i];
    }
    return (a / d1 + b / d1 / d2 + c / d1 / d2 / d3) * v;
}

static vs_status ssr_run(vs_attr_ctx *ctx, int s, const char *net, float v, float *out, vs_err *err)
{
    static const char *const names[9] = {
        "prob_stage_1",        "prob_stage_2",        "prob_stage_3",
        "stage1_delta_k",      "stage2_delta_k",      "stage3_delta_k",
        "index_offset_stage1", "index_offset_stage2", "index_offset_stage3"};
    static const int size[9] = {3, 3, 3, 1, 1, 1, 3, 3, 3};
    float x[21];
    vs_status st = vs_nn_run(ctx->rt[s], err);
    if (st != VS_OK)
        return st;
    for (int i = 0, at = 0; i < 9; at += size[i], i++) {
        const float *o = output_named(ctx, s, names[i], size[i]);
        if (!o)
            return missing(net, names[i], err);
        memcpy(x + at, o, sizeof(float) * size[i]);
    }
    *out = ssr_merge(x, v);
    return VS_OK;
}

/* faceplugin's ImageNet normalisation into NCHW planes. */
static void fp_imagenet_chw(const vs_image *u8, float *dst)
{
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    size_t n = (size_t)u8->w * u8->h;
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < n; i++)
            dst[k * n + i] = (u8->px[i * 3 + k] / 255.0f - mean[k]) / std[k];
}

static vs_status run_fr_age_gender(vs_attr_ctx *ctx, const vs_image *img, const vs_det *det,
                                   vs_attributes *a, vs_err *err)
{
    vs_status st = scratch_u8(ctx, 64, 64, err);
    if (st == VS_OK)
        st = fp_crop(img, det, 1.4f, 1, ctx->u8, err);
    if (st != VS_OK)
        return st;
    fp_imagenet_chw(ctx->u8, vs_nn_input(ctx->rt[SLOT_AG], 0));
    fp_imagenet_chw(ctx->u8, vs_nn_input(ctx->rt[SLOT_G2], 0));
    float g = 0;
    st = ssr_run(ctx, SLOT_AG, "fr_age", 101.0f, &a->age, err);
    if (st == VS_OK)
        st = ssr_run(ctx, SLOT_G2, "fr_gender", 1.0f, &g, err);
    if (st == VS_OK) /* SSR-Net's gender regresses 1 for male, 0 for female */
        set_gender(a, fminf(fmaxf(g, 0.0f), 1.0f));
    return st;
}

static vs_status run_age_gender(vs_attr_ctx *ctx, const vs_image *img, const vs_det *det,
                                const float (*lm68)[2], vs_attributes *a, vs_err *err)
{
    vs_runtime *rt = ctx->rt[SLOT_AG];
    vs_attr_fimg t;
    vs_status st = VS_OK;
    const float *o, *g;
    switch (ctx->m->ag) {
    case VS_AG_FACEAPI:
        if ((st = faceapi_input(ctx, img, lm68, vs_nn_input(rt, 0), err)) != VS_OK ||
            (st = vs_nn_run(rt, err)) != VS_OK)
            return st;
        if (!(o = output_named(ctx, SLOT_AG, "age", 1)) ||
            !(g = output_named(ctx, SLOT_AG, "gender", 2)))
            return missing("age_gender", "age/gender", err);
        a->age = o[0];
        set_gender(a, g[0]); /* face-api: probMale = gender[0] */
        return VS_OK;
    case VS_AG_GEAR: {
        static const float box[4] = {0.0f, 0.10f, 0.90f, 0.90f};
        if ((st = human_tensor(ctx, img, det, &t, err)) != VS_OK)
            return st;
        vs_attr_crop_and_resize(&t, box, 198, 198, 1.0f, 0.0f, vs_nn_input(rt, 0));
        if ((st = vs_nn_run(rt, err)) != VS_OK)
            return st;
        if (!(o = output_named(ctx, SLOT_AG, "Identity", 7)) ||
            !(g = output_named(ctx, SLOT_AG, "Identity_1", 2)))
            return missing("gear", "Identity/Identity_1", err);
        a->age = gear_age(o);
        a->gender = g[0] > g[1] ? VS_GENDER_MALE : VS_GENDER_FEMALE; /* [male, female] */
        a->gender_prob = g[0] > g[1] ? g[0] : g[1];
        return VS_OK;
    }
    case VS_AG_FACERES:
        if ((st = human_tensor(ctx, img, det, &t, err)) != VS_OK)
            return st;
        vs_attr_resize_bilinear(&t, 224, 224, 255.0f, 0.0f, vs_nn_input(rt, 0));
        if ((st = vs_nn_run(rt, err)) != VS_OK)
            return st;
        if (!(o = output_named(ctx, SLOT_AG, "age_pred/Softmax", 100)) ||
            !(g = output_named(ctx, SLOT_AG, "gender_pred/Sigmoid", 1)))
            return missing("faceres", "age_pred/gender_pred", err);
        a->age = faceres_age(o);
        set_gender(a, g[0]); /* faceres.ts: <= 0.5 is female */
        return VS_OK;
    case VS_AG_FR:
        return run_fr_age_gender(ctx, img, det, a, err);
    default:
        return VS_OK;
    }
}

static void softmax(const float *x, int n, float *p)
{
    float mx = x[0], sum = 0;
    for (int i = 1; i < n; i++)
        mx = fmaxf(mx, x[i]);
    for (int i = 0; i < n; i++)
        sum += p[i] = expf(x[i] - mx);
    for (int i = 0; i < n; i++)
        p[i] /= sum;
}

/* Models trained on FER-2013 (human's emotion, faceplugin's fr_expression) share its label order:
 * angry, disgust, fear, happy, sad, surprise, neutral. */
static void from_fer_order(const float *p, float *out)
{
    static const vs_expression map[7] = {VS_EXPR_ANGRY,  VS_EXPR_DISGUSTED, VS_EXPR_FEARFUL,
                                         VS_EXPR_HAPPY,  VS_EXPR_SAD,       VS_EXPR_SURPRISED,
                                         VS_EXPR_NEUTRAL};
    float sum = 0;
    for (int i = 0; i < 7; i++)
        sum += p[i];
    for (int i = 0; i < 7; i++)
        out[map[i]] = sum > 0 ? p[i] / sum : 0.0f;
}

static vs_status expr_input(vs_attr_ctx *ctx, const vs_image *img, const vs_det *det,
                            const float (*lm68)[2], float *in, vs_err *err)
{
    vs_attr_fimg t;
    vs_status st;
    switch (ctx->m->expr) {
    case VS_EXPR_FACEAPI:
        return faceapi_input(ctx, img, lm68, in, err);
    case VS_EXPR_EMOTION: {
        float rgb[64 * 64 * 3];
        if ((st = human_tensor(ctx, img, det, &t, err)) != VS_OK)
            return st;
        vs_attr_resize_bilinear(&t, 64, 64, 1.0f, 0.0f, rgb);
        for (int i = 0; i < 64 * 64; i++)
            in[i] = ((rgb[i * 3] * 0.2989f + rgb[i * 3 + 1] * 0.5870f + rgb[i * 3 + 2] * 0.1140f) -
                     0.5f) *
                    2.0f;
        return VS_OK;
    }
    case VS_EXPR_FR:
        if ((st = scratch_u8(ctx, 224, 224, err)) != VS_OK ||
            (st = fp_crop(img, det, 1.2f, 0, ctx->u8, err)) != VS_OK)
            return st;
        return vs_img_to_f32_chw(ctx->u8, in, 1.0f / 255.0f, 0.0f, 0);
    default:
        return VS_OK;
    }
}

static vs_status run_expression(vs_attr_ctx *ctx, const vs_image *img, const vs_det *det,
                                const float (*lm68)[2], vs_attributes *a, vs_err *err)
{
    static const char *const out_name[VS_EXPR_MODEL_COUNT] = {NULL, "expressions", "Identity",
                                                              "output"};
    vs_runtime *rt = ctx->rt[SLOT_EXPR];
    vs_status st = expr_input(ctx, img, det, lm68, vs_nn_input(rt, 0), err);
    if (st == VS_OK)
        st = vs_nn_run(rt, err);
    if (st != VS_OK)
        return st;
    const float *o = output_named(ctx, SLOT_EXPR, out_name[ctx->m->expr], 7);
    if (!o)
        return missing(vs_expr_model_name(ctx->m->expr), out_name[ctx->m->expr], err);
    float p[7];
    if (ctx->m->expr == VS_EXPR_FACEAPI) {
        memcpy(a->expr_prob, o, sizeof p); /* already softmax, already in our order */
    } else if (ctx->m->expr == VS_EXPR_EMOTION) {
        from_fer_order(o, a->expr_prob); /* the net ends in a softmax */
    } else {
        softmax(o, 7, p); /* fr_expression returns logits */
        from_fer_order(p, a->expr_prob);
    }
    a->expression = VS_EXPR_NEUTRAL;
    for (int i = 1; i < VS_EXPR_COUNT; i++)
        if (a->expr_prob[i] > a->expr_prob[a->expression])
            a->expression = (vs_expression)i;
    return VS_OK;
}

vs_status vs_attr_run(vs_attr_ctx *ctx, const vs_image *img, const vs_det *det,
                      const float (*lm68)[2], vs_attributes *out, vs_err *err)
{
    if (!ctx || !img || !det || !out || img->c != 3)
        return vs_err_set(err, VS_INVAL, "attributes: NULL argument or not an RGB image");
    int needs_lm = ctx->m->ag == VS_AG_FACEAPI || ctx->m->expr == VS_EXPR_FACEAPI;
    if (needs_lm && !lm68)
        return vs_err_set(err, VS_INVAL, "attributes: face-api nets need the 68 landmarks");
    memset(out, 0, sizeof *out);
    out->age = -1.0f;
    vs_status st = run_age_gender(ctx, img, det, lm68, out, err);
    if (st == VS_OK && ctx->m->expr != VS_EXPR_MODEL_NONE)
        st = run_expression(ctx, img, det, lm68, out, err);
    return st;
}

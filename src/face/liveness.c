/*
 * liveness.c - presentation-attack scores (see liveness.h): one net per vs_live_models, its crop
 * cut with the helpers of attributes.c, its output read the way its library reads it.
 */
#include "face/liveness.h"

#include <math.h>
#include <stdlib.h>

#include "face/attributes.h"
#include "nn/nn.h"

#define HUMAN_CROP 192

struct vs_live_models {
    vs_live_model which;
    vs_model *net;
};

struct vs_live_ctx {
    const vs_live_models *m;
    vs_runtime *rt;
    float *human;   /* HUMAN_CROP^2 * 3 floats */
    vs_image *crop; /* 128 x 128 x 3 for fr_liveness */
};

static const char *const net_name[VS_LIVE_COUNT] = {NULL, "antispoof", "liveness", "fr_liveness"};

const char *vs_live_model_name(vs_live_model m)
{
    return (unsigned)m < VS_LIVE_COUNT && net_name[m] ? net_name[m] : "none";
}

vs_status vs_live_models_load(const char *models_dir, vs_live_model which, vs_live_models **out,
                              vs_err *err)
{
    if (!out)
        return vs_err_set(err, VS_INVAL, "liveness: NULL out");
    *out = NULL;
    if (which <= VS_LIVE_NONE || which >= VS_LIVE_COUNT)
        return vs_err_set(err, VS_INVAL, "liveness: unknown model %d", (int)which);
    vs_live_models *m = calloc(1, sizeof *m);
    if (!m)
        return vs_err_set(err, VS_NOMEM, "liveness: models");
    m->which = which;
    vs_status st = vs_nn_model_load(models_dir, net_name[which], NULL, &m->net, err);
    if (st != VS_OK) {
        free(m);
        return st;
    }
    *out = m;
    return VS_OK;
}

void vs_live_models_free(vs_live_models *m)
{
    if (!m)
        return;
    vs_nn_model_free(m->net);
    free(m);
}

vs_status vs_live_ctx_new(const vs_live_models *m, int threads, vs_live_ctx **out, vs_err *err)
{
    if (!m || !out)
        return vs_err_set(err, VS_INVAL, "liveness: NULL argument");
    *out = NULL;
    vs_live_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return vs_err_set(err, VS_NOMEM, "liveness: context");
    ctx->m = m;
    vs_status st = VS_NOMEM;
    ctx->human = malloc(sizeof(float) * HUMAN_CROP * HUMAN_CROP * 3);
    if (!ctx->human || vs_image_new(128, 128, 3, &ctx->crop, err) != VS_OK) {
        vs_err_set(err, st, "liveness: buffers");
        goto fail;
    }
    st = vs_nn_runtime_new(m->net, VS_NN_BACKEND_XNNPACK, threads, &ctx->rt, err);
    if (st != VS_OK)
        goto fail;
    *out = ctx;
    return VS_OK;
fail:
    vs_live_ctx_free(ctx);
    return st;
}

void vs_live_ctx_free(vs_live_ctx *ctx)
{
    if (!ctx)
        return;
    vs_nn_runtime_free(ctx->rt);
    free(ctx->human);
    vs_image_free(ctx->crop);
    free(ctx);
}

static float clamp01(float v)
{
    return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}

vs_status vs_live_run(vs_live_ctx *ctx, const vs_image *img, const vs_det *det, float *score,
                      vs_err *err)
{
    if (!ctx || !img || !det || !score || img->c != 3)
        return vs_err_set(err, VS_INVAL, "liveness: NULL argument or not an RGB image");
    *score = 0.0f;
    float *in = vs_nn_input(ctx->rt, 0);
    vs_status st;
    if (ctx->m->which == VS_LIVE_FR) {
        st = vs_attr_fp_crop(img, det, 2.7f, ctx->crop, err);
        if (st == VS_OK)
            st = vs_img_to_f32_chw(ctx->crop, in, 1.0f, 0.0f, 0);
    } else {
        vs_attr_fimg t = {HUMAN_CROP, HUMAN_CROP, 3, ctx->human};
        int side = ctx->m->which == VS_LIVE_ANTISPOOF ? 128 : 32;
        st = vs_attr_human_crop(img, det, &t, err);
        if (st == VS_OK)
            vs_attr_resize_bilinear(&t, side, side, 1.0f, 0.0f, in);
    }
    if (st == VS_OK)
        st = vs_nn_run(ctx->rt, err);
    if (st != VS_OK)
        return st;
    const float *o = vs_nn_output(ctx->rt, 0);
    if (ctx->m->which == VS_LIVE_FR) {
        float mx = fmaxf(o[0], fmaxf(o[1], o[2]));
        float e0 = expf(o[0] - mx), e1 = expf(o[1] - mx), e2 = expf(o[2] - mx);
        *score = e0 / (e0 + e1 + e2);
    } else {
        *score = clamp01(o[0]);
    }
    return VS_OK;
}

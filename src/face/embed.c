/*
 * embed.c - the four embedders: chip -> engine input -> vector -> L2 norm (see embed.h).
 *
 * One table says, per embedder, which model it runs, which chip it needs, how pixels become the
 * model's input and how long the vector is; everything else is shared.  Models with several
 * outputs (faceres also predicts age and gender) are searched for the output of the embedder's
 * dimension when the embedder is made.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "face/embed.h"

typedef struct embedder_spec {
    const char *name;  /* stored with every vector */
    const char *model; /* engine model name */
    vs_align_template tmpl;
    int dim;
    int chw; /* 1: NCHW input (ONNX) */
    float scale, offset;
} embedder_spec;

static const embedder_spec specs[VS_EMB_COUNT] = {
    [VS_EMB_FACE_RECOGNITION] = {"face_recognition", "face_recognition", VS_ALIGN_DLIB_150, 128, 0,
                                 1.0f, 0.0f},
    [VS_EMB_FR_FEATURE] = {"fr_feature", "fr_feature", VS_ALIGN_ARCFACE_112, 512, 1, 1.0f / 128.0f,
                           -127.0f / 128.0f},
    [VS_EMB_FACERES] = {"faceres", "faceres", VS_ALIGN_FACERES_224, 1024, 0, 1.0f, 0.0f},
    [VS_EMB_MOBILEFACE] = {"mobileface", "mobileface", VS_ALIGN_ARCFACE_112, 256, 0, 1.0f, 0.0f},
};

struct vs_embedder {
    vs_embedder_id id;
    const embedder_spec *spec;
    vs_runtime *rt;
    int out_index; /* which model output holds the vector */
};

static const embedder_spec *spec_of(vs_embedder_id id)
{
    return id > VS_EMB_NONE && id < VS_EMB_COUNT ? &specs[id] : NULL;
}

const char *vs_embedder_name(vs_embedder_id id)
{
    const embedder_spec *s = spec_of(id);
    return s ? s->name : "none";
}

const char *vs_embedder_model_name(vs_embedder_id id)
{
    const embedder_spec *s = spec_of(id);
    return s ? s->model : NULL;
}

vs_align_template vs_embedder_template(vs_embedder_id id)
{
    const embedder_spec *s = spec_of(id);
    return s ? s->tmpl : VS_ALIGN_COUNT;
}

int vs_embedder_dim(vs_embedder_id id)
{
    const embedder_spec *s = spec_of(id);
    return s ? s->dim : 0;
}

vs_embedder_id vs_embedder_from_name(const char *name)
{
    for (int i = VS_EMB_NONE + 1; name && i < VS_EMB_COUNT; i++)
        if (strcmp(specs[i].name, name) == 0)
            return (vs_embedder_id)i;
    return VS_EMB_NONE;
}

static int64_t numel(const vs_nn_tensor_info *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dim[i];
    return n;
}

/* The input must be the chip (NHWC or NCHW); one output must hold `dim` numbers. */
static vs_status check_model(const vs_model *m, const embedder_spec *s, int *out_index, vs_err *err)
{
    int size = vs_align_size(s->tmpl);
    vs_nn_tensor_info in = vs_nn_input_info(m, 0);
    int ok = in.rank == 4 && (s->chw ? in.dim[1] == 3 && in.dim[2] == size && in.dim[3] == size
                                     : in.dim[1] == size && in.dim[2] == size && in.dim[3] == 3);
    if (!ok)
        return vs_err_set(err, VS_INVAL, "%s: model input is not a %d x %d RGB chip", s->name, size,
                          size);
    vs_nn_model_info info;
    vs_nn_model_info_get(m, &info);
    for (int i = 0; i < info.n_outputs; i++) {
        vs_nn_tensor_info o = vs_nn_output_info(m, i);
        if (numel(&o) == s->dim) {
            *out_index = i;
            return VS_OK;
        }
    }
    return vs_err_set(err, VS_INVAL, "%s: model has no %d-D output", s->name, s->dim);
}

vs_status vs_embedder_new(const vs_model *model, vs_embedder_id id, int threads, vs_embedder **out,
                          vs_err *err)
{
    *out = NULL;
    const embedder_spec *s = spec_of(id);
    if (!s || !model)
        return vs_err_set(err, VS_INVAL, "embedder: bad id %d or no model", (int)id);
    int oi = 0;
    vs_status st = check_model(model, s, &oi, err);
    if (st != VS_OK)
        return st;
    vs_embedder *e = calloc(1, sizeof *e);
    if (!e)
        return vs_err_set(err, VS_NOMEM, "embedder");
    e->id = id;
    e->spec = s;
    e->out_index = oi;
    st = vs_nn_runtime_new(model, VS_NN_BACKEND_XNNPACK, threads, &e->rt, err);
    if (st != VS_OK) {
        free(e);
        return st;
    }
    *out = e;
    return VS_OK;
}

void vs_embedder_free(vs_embedder *e)
{
    if (!e)
        return;
    vs_nn_runtime_free(e->rt);
    free(e);
}

vs_status vs_img_flip_lr(const vs_image *src, vs_image *dst, vs_err *err)
{
    if (!src || !dst || !src->px || !dst->px || src->px == dst->px || src->w != dst->w ||
        src->h != dst->h || src->c != dst->c)
        return vs_err_set(err, VS_INVAL, "flip: images must match and not alias");
    int c = src->c;
    for (int y = 0; y < src->h; y++) {
        const uint8_t *s = src->px + (size_t)y * src->stride;
        uint8_t *d = dst->px + (size_t)y * dst->stride;
        for (int x = 0; x < src->w; x++)
            memcpy(d + (size_t)(src->w - 1 - x) * c, s + (size_t)x * c, (size_t)c);
    }
    return VS_OK;
}

/* Runs the net on one chip and adds its unit vector to acc. */
static vs_status run_one(vs_embedder *e, const vs_image *chip, float *acc, vs_err *err)
{
    const embedder_spec *s = e->spec;
    float *in = vs_nn_input(e->rt, 0);
    vs_status st = s->chw ? vs_img_to_f32_chw(chip, in, s->scale, s->offset, 0)
                          : vs_img_to_f32(chip, in, s->scale, s->offset);
    if (st != VS_OK)
        return vs_err_set(err, st, "%s: bad chip", s->name);
    st = vs_nn_run(e->rt, err);
    if (st != VS_OK)
        return st;
    const float *o = vs_nn_output(e->rt, e->out_index);
    double n2 = 0;
    for (int i = 0; i < s->dim; i++)
        n2 += (double)o[i] * o[i];
    if (!(n2 > 0 && isfinite(n2)))
        return vs_err_set(err, VS_INTERNAL, "%s: zero or non-finite embedding", s->name);
    float k = (float)(1.0 / sqrt(n2));
    for (int i = 0; i < s->dim; i++)
        acc[i] += o[i] * k;
    return VS_OK;
}

static void normalise(float *v, int n)
{
    double n2 = 0;
    for (int i = 0; i < n; i++)
        n2 += (double)v[i] * v[i];
    float k = n2 > 0 ? (float)(1.0 / sqrt(n2)) : 0.0f;
    for (int i = 0; i < n; i++)
        v[i] *= k;
}

vs_status vs_embed_chip(vs_embedder *e, const vs_image *chip, int mirror, vs_embedding *out,
                        vs_err *err)
{
    if (!e || !chip || !chip->px || !out)
        return vs_err_set(err, VS_INVAL, "embed: missing argument");
    int size = vs_align_size(e->spec->tmpl);
    if (chip->w != size || chip->h != size || chip->c != 3)
        return vs_err_set(err, VS_INVAL, "%s: chip must be %d x %d RGB", e->spec->name, size, size);
    memset(out, 0, sizeof *out);
    out->id = e->id;
    out->dim = e->spec->dim;
    out->mirrored = mirror ? 1 : 0;

    float a[VS_FACE_MAX_DIM] = {0}, b[VS_FACE_MAX_DIM] = {0};
    vs_image *flip = NULL;
    vs_status st = run_one(e, chip, a, err);
    if (st != VS_OK || !mirror)
        goto done;
    st = vs_image_new(size, size, 3, &flip, err);
    if (st == VS_OK)
        st = vs_img_flip_lr(chip, flip, err);
    if (st == VS_OK)
        st = run_one(e, flip, b, err);
done:
    vs_image_free(flip);
    if (st != VS_OK)
        return st;
    /* a + b is commutative in floating point, so chip and its flip give identical vectors. */
    for (int i = 0; i < out->dim; i++)
        out->v[i] = a[i] + b[i];
    normalise(out->v, out->dim);
    return VS_OK;
}

vs_status vs_embed_face(vs_embedder *e, const vs_image *img, const vs_lm68 *lm, int mirror,
                        vs_embedding *out, vs_err *err)
{
    if (!e || !img || !lm || !out)
        return vs_err_set(err, VS_INVAL, "embed: missing argument");
    int size = vs_align_size(e->spec->tmpl);
    vs_image *chip = NULL, *rgb = NULL;
    vs_status st = vs_image_new(size, size, 3, &chip, err);
    if (st != VS_OK)
        return st;
    const vs_image *src = img;
    if (img->c != 3) {
        st = vs_image_new(img->w, img->h, 3, &rgb, err);
        if (st == VS_OK)
            st = vs_img_convert(img, rgb, err);
        src = rgb;
    }
    if (st == VS_OK)
        st = vs_align_chip(src, e->spec->tmpl, lm, chip, err);
    if (st == VS_OK)
        st = vs_embed_chip(e, chip, mirror, out, err);
    vs_image_free(rgb);
    vs_image_free(chip);
    return st;
}

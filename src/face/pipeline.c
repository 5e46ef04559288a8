/*
 * pipeline.c - the one pipeline call: an image in, one record per face out.
 *
 *   image -> brightness -> (CLAHE on luma when dark) -> detect -> per face: 68 landmarks
 *         -> 5 points -> aligned chip per embedder -> embeddings (the matcher's nets)
 *
 * vs_face_models holds every model the configuration needs, loaded once and shared read-only
 * by all threads.  vs_face_ctx is one thread's working set: the detector, landmarker and
 * embedders (each owns an engine runtime), the enhanced-frame buffer and the result array, all
 * reused from call to call, so steady-state analysis allocates only when a photo has more faces
 * or more pixels than any before it.
 *
 * When a frame is dark, the detector enhances its own copy (detect.c's chain) and the later
 * stages (landmarks, attributes, embeddings) see a CLAHE-enhanced copy made here.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "face/attributes.h"
#include "face/detect.h"
#include "face/embed.h"
#include "face/face_types.h"
#include "face/landmarks.h"
#include "face/liveness.h"
#include "face/match.h"
#include "face/pipeline.h"
#include "face/quality.h"

struct vs_face_models {
    vs_face_config cfg;
    vs_detector_kind det_kind;
    vs_model *det;
    vs_model *lm;
    vs_matcher matcher;
    float threshold;
    vs_model *emb[VS_MATCH_MAX];
    vs_attr_models *attr; /* NULL when attributes are off */
    vs_live_models *live; /* NULL when liveness is off */
};

struct vs_face_ctx {
    const vs_face_models *m;
    vs_detector *det;
    vs_landmarker *lm;
    vs_embedder *emb[VS_MATCH_MAX];
    vs_attr_ctx *attr;
    vs_live_ctx *live;
    vs_image *enhanced; /* scratch for a dark frame, grown as needed */
    vs_det *dets;       /* VS_DETECT_MAX_FACES */
    vs_face *faces;     /* result records, grown as needed */
    int cap_faces;
};

static vs_status load(const char *dir, const char *name, vs_model **out, vs_err *err)
{
    return vs_nn_model_load(dir, name, NULL, out, err);
}

static vs_detector_kind detector_kind(const char *name)
{
    if (!name || strcmp(name, "ssd_mobilenetv1") == 0 || strcmp(name, "ssd") == 0)
        return VS_DETECTOR_SSD;
    if (strncmp(name, "blazeface", 9) == 0)
        return VS_DETECTOR_BLAZE;
    if (strcmp(name, "fr_detect") == 0)
        return VS_DETECTOR_FR;
    return VS_DETECTOR_COUNT;
}

vs_status vs_face_models_load(const vs_face_config *cfg, vs_face_models **out, vs_err *err)
{
    *out = NULL;
    vs_face_models *m = calloc(1, sizeof *m);
    if (!m)
        return vs_err_set(err, VS_NOMEM, "face models");
    if (cfg)
        m->cfg = *cfg;
    vs_status st = VS_OK;
    m->det_kind = detector_kind(m->cfg.detector);
    if (m->det_kind == VS_DETECTOR_COUNT) {
        st = vs_err_set(err, VS_INVAL,
                        "unknown detector '%s' (ssd_mobilenetv1, blazeface-back, "
                        "fr_detect)",
                        m->cfg.detector);
        goto fail;
    }
    vs_matcher_default(&m->matcher, &m->threshold);
    if (m->cfg.embedder) {
        vs_embedder_id id = vs_embedder_from_name(m->cfg.embedder);
        if (id == VS_EMB_NONE) {
            st = vs_err_set(err, VS_INVAL, "unknown embedder '%s'", m->cfg.embedder);
            goto fail;
        }
        vs_matcher_single(&m->matcher, id, m->cfg.mirror);
        m->threshold = NAN;
    }
    const char *dir = m->cfg.models_dir;
    st = load(dir, vs_detector_model_name(m->det_kind), &m->det, err);
    if (st == VS_OK)
        st = load(dir, vs_landmarker_model_name(VS_LM_FACEAPI_68), &m->lm, err);
    for (int k = 0; st == VS_OK && k < m->matcher.n; k++)
        st = load(dir, vs_embedder_model_name(m->matcher.id[k]), &m->emb[k], err);
    if (st == VS_OK && !m->cfg.no_attributes)
        st = vs_attr_models_load(dir, VS_AG_DEFAULT, VS_EXPR_DEFAULT, &m->attr, err);
    if (st == VS_OK && !m->cfg.no_liveness)
        st = vs_live_models_load(dir, VS_LIVE_DEFAULT, &m->live, err);
    if (st != VS_OK)
        goto fail;
    *out = m;
    return VS_OK;
fail:
    vs_face_models_free(m);
    return st;
}

void vs_face_models_free(vs_face_models *m)
{
    if (!m)
        return;
    vs_nn_model_free(m->det);
    vs_nn_model_free(m->lm);
    for (int k = 0; k < VS_MATCH_MAX; k++)
        vs_nn_model_free(m->emb[k]);
    vs_attr_models_free(m->attr);
    vs_live_models_free(m->live);
    free(m);
}

const vs_matcher *vs_face_models_matcher(const vs_face_models *m, float *threshold)
{
    if (threshold)
        *threshold = m->threshold;
    return &m->matcher;
}

vs_status vs_face_ctx_new(const vs_face_models *m, vs_face_ctx **out, vs_err *err)
{
    *out = NULL;
    vs_face_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return vs_err_set(err, VS_NOMEM, "face context");
    c->m = m;
    int threads = m->cfg.threads > 0 ? m->cfg.threads : 1;
    vs_status st = vs_detector_new(m->det, threads, &c->det, err);
    if (st == VS_OK)
        st = vs_landmarker_new(m->lm, VS_LM_FACEAPI_68, threads, &c->lm, err);
    for (int k = 0; st == VS_OK && k < m->matcher.n; k++)
        st = vs_embedder_new(m->emb[k], m->matcher.id[k], threads, &c->emb[k], err);
    if (st == VS_OK && m->attr)
        st = vs_attr_ctx_new(m->attr, threads, &c->attr, err);
    if (st == VS_OK && m->live)
        st = vs_live_ctx_new(m->live, threads, &c->live, err);
    if (st == VS_OK) {
        c->dets = malloc(VS_DETECT_MAX_FACES * sizeof *c->dets);
        if (!c->dets)
            st = vs_err_set(err, VS_NOMEM, "face context");
    }
    if (st != VS_OK) {
        vs_face_ctx_free(c);
        return st;
    }
    *out = c;
    return VS_OK;
}

void vs_face_ctx_free(vs_face_ctx *c)
{
    if (!c)
        return;
    vs_detector_free(c->det);
    vs_landmarker_free(c->lm);
    for (int k = 0; k < VS_MATCH_MAX; k++)
        vs_embedder_free(c->emb[k]);
    vs_attr_ctx_free(c->attr);
    vs_live_ctx_free(c->live);
    vs_image_free(c->enhanced);
    free(c->dets);
    free(c->faces);
    free(c);
}

/* The frame the nets should see: img itself, or an enhanced copy when it is dark. */
static vs_status prepare_frame(vs_face_ctx *c, const vs_image *img, const vs_face_opts *o,
                               const vs_image **frame, vs_face_result *res, vs_err *err)
{
    vs_brightness b;
    vs_status st = vs_img_brightness(img, &b, err);
    if (st != VS_OK)
        return st;
    res->mean_luma = b.mean_luma;
    *frame = img;
    int want = o->low_light == VS_FACE_LOWLIGHT_ALWAYS ||
               (o->low_light == VS_FACE_LOWLIGHT_AUTO && b.is_dark);
    if (!want)
        return VS_OK;
    if (!c->enhanced || c->enhanced->w != img->w || c->enhanced->h != img->h) {
        vs_image_free(c->enhanced);
        c->enhanced = NULL;
        st = vs_image_new(img->w, img->h, 3, &c->enhanced, err);
        if (st != VS_OK)
            return st;
    }
    st = vs_img_convert(img, c->enhanced, err);
    if (st == VS_OK)
        st = vs_img_enhance_low_light(c->enhanced, NULL, err);
    if (st != VS_OK)
        return st;
    res->enhanced = 1;
    *frame = c->enhanced;
    return VS_OK;
}

static vs_status ensure_faces(vs_face_ctx *c, int n, vs_err *err)
{
    if (n <= c->cap_faces)
        return VS_OK;
    vs_face *f = realloc(c->faces, (size_t)n * sizeof *f);
    if (!f)
        return vs_err_set(err, VS_NOMEM, "%d face records", n);
    c->faces = f;
    c->cap_faces = n;
    return VS_OK;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Adds the time since *t0 to *acc and restarts the clock. */
static void lap(double *t0, double *acc)
{
    double t = now_ms();
    *acc += t - *t0;
    *t0 = t;
}

/* Landmarks, quality, attributes, liveness and embeddings of one detected face. */
static vs_status describe(vs_face_ctx *c, const vs_image *frame, const vs_face_opts *o, vs_face *f,
                          vs_face_result *res, vs_err *err)
{
    double t = now_ms();
    vs_status st = vs_landmarks_detect(c->lm, frame, &f->det, &f->lm, err);
    if (st != VS_OK)
        return st;
    vs_lm5_from_lm68(&f->lm, &f->lm5);
    lap(&t, &res->ms_landmarks);
    st = vs_quality_measure(frame, &f->det, (const float(*)[2])f->lm.pt, NULL, &f->quality, err);
    if (st != VS_OK)
        return st;
    lap(&t, &res->ms_quality);
    f->has_attributes = c->attr && o->attributes;
    if (f->has_attributes) {
        st = vs_attr_run(c->attr, frame, &f->det, (const float(*)[2])f->lm.pt, &f->attr, err);
        if (st != VS_OK)
            return st;
    }
    lap(&t, &res->ms_attributes);
    f->liveness = -1.0f;
    if (c->live && o->liveness) {
        st = vs_live_run(c->live, frame, &f->det, &f->liveness, err);
        if (st != VS_OK)
            return st;
    }
    lap(&t, &res->ms_liveness);
    f->n_emb = 0;
    for (int k = 0; o->embed && k < c->m->matcher.n; k++) {
        st = vs_embed_face(c->emb[k], frame, &f->lm, c->m->matcher.mirror[k], &f->emb[k], err);
        if (st != VS_OK)
            return st;
        f->n_emb++;
    }
    lap(&t, &res->ms_embed);
    return VS_OK;
}

vs_face_opts vs_face_opts_default(void)
{
    vs_face_opts o = {0};
    o.embed = 1;
    o.attributes = 1;
    o.liveness = 1;
    o.max_faces = 100;
    o.low_light = VS_FACE_LOWLIGHT_AUTO;
    return o;
}

vs_status vs_face_analyze(vs_face_ctx *c, const vs_image *img, const vs_face_opts *opts,
                          vs_face_result *res, vs_err *err)
{
    memset(res, 0, sizeof *res);
    vs_face_opts o = opts ? *opts : vs_face_opts_default();
    if (!img || !img->px || img->w <= 0 || img->h <= 0)
        return vs_err_set(err, VS_INVAL, "no image");
    if (o.max_faces <= 0 || o.max_faces > VS_DETECT_MAX_FACES)
        o.max_faces = VS_DETECT_MAX_FACES;
    const vs_image *frame;
    vs_status st = prepare_frame(c, img, &o, &frame, res, err);
    if (st != VS_OK)
        return st;
    vs_detect_opts d = vs_detect_opts_default(c->m->det_kind);
    if (o.min_score > 0)
        d.score = o.min_score;
    if (o.min_face > 0)
        d.min_size = o.min_face;
    d.max_faces = o.max_faces;
    if (o.tiling)
        d.tiling = o.tiling;
    /* The detector runs its own low-light chain on the original frame (denoise, levels, CLAHE:
     * it finds more faces in the dark than CLAHE alone, detect.c); the later stages see the
     * CLAHE-enhanced frame prepared above. */
    d.low_light = o.low_light == VS_FACE_LOWLIGHT_OFF      ? VS_LOWLIGHT_OFF
                  : o.low_light == VS_FACE_LOWLIGHT_ALWAYS ? VS_LOWLIGHT_ALWAYS
                                                           : VS_LOWLIGHT_AUTO;
    vs_detect_info info;
    int n = 0;
    double t = now_ms();
    st = vs_detect(c->det, img, &d, c->dets, o.max_faces, &n, &info, err);
    lap(&t, &res->ms_detect);
    if (st == VS_OK)
        st = ensure_faces(c, n, err);
    if (st != VS_OK)
        return st;
    res->rescued = info.rescued;
    for (int i = 0; i < n; i++) {
        vs_face *f = &c->faces[i];
        memset(f, 0, sizeof *f);
        f->det = c->dets[i];
        st = describe(c, frame, &o, f, res, err);
        if (st != VS_OK)
            return st;
    }
    res->n = n;
    res->faces = c->faces;
    res->width = img->w;
    res->height = img->h;
    return VS_OK;
}

vs_status vs_face_compare(const vs_face_models *m, const vs_face *a, const vs_face *b, float *score,
                          vs_err *err)
{
    const vs_embedding *ea[VS_MATCH_MAX], *eb[VS_MATCH_MAX];
    if (a->n_emb != m->matcher.n || b->n_emb != m->matcher.n)
        return vs_err_set(err, VS_INVAL, "faces were not embedded with this matcher");
    for (int k = 0; k < m->matcher.n; k++) {
        ea[k] = &a->emb[k];
        eb[k] = &b->emb[k];
    }
    return vs_match_score(&m->matcher, ea, eb, score, err);
}

/*
 * app_internal.h - what the files of src/app/ share (private to src/app/).
 */
#ifndef VS_APP_INTERNAL_H
#define VS_APP_INTERNAL_H

#include <math.h>
#include <pthread.h>

#include "app/app.h"
#include "index/index.h"

struct vs_app {
    vs_app_config cfg;
    vs_store *store;
    vs_face_models *models;
    vs_matcher matcher;
    char model[VS_STORE_MODEL_MAX]; /* model name of stored faces */
    int dim;                        /* concatenated dimension */
    float *scale;                   /* dim: per-net sqrt(w / sigma) */
    float offset;                   /* sum w mu / sigma: fused = <a', b'> - offset */
    vs_index *index;
    pthread_mutex_t lock; /* serialises index writes */
};

struct vs_app_worker {
    vs_app *app;
    vs_face_ctx *ctx;
    float *raw; /* dim: the matcher's raw vectors of one face, concatenated */
    float *q;   /* dim: the same, scaled for the index */
    vs_identity *ids;
    int cap_ids;
    vs_hit *hits; /* scratch for searches */
    int cap_hits;
};

static inline float sqrtf_pos(float x)
{
    return x > 0 ? sqrtf(x) : 0.0f;
}

/* raw (dim) -> index space. */
void vs_app_scale_vector(const vs_app *app, const float *raw, float *scaled);

/* Fills w->raw and w->q from an analysed face.  VS_INTERNAL if it was not embedded. */
vs_status vs_app_face_vector(vs_app_worker *w, const vs_face *f, vs_err *err);

/* A store row for analysed face f of person_id; row->vector points at w->raw (fill it with
 * vs_app_face_vector first).  source is kept by pointer. */
void vs_app_face_row(const vs_app_worker *w, const vs_face *f, int64_t person_id,
                     const char *source, vs_face_row *row);

/* attrs (a JSON object or NULL) with "age" and "gender" estimated from faces where attrs has
 * none; the estimated members are listed in "estimated".  *out: malloc'd JSON object text.
 * VS_NOMEM / VS_FORMAT on failure (*out = NULL). */
vs_status vs_app_estimated_attributes(const char *attrs, const vs_face *const *faces, int n,
                                      char **out, vs_err *err);

/* Adds a committed face to the index (serialised with other index writers). */
vs_status vs_app_index_add(vs_app *app, int64_t face_id, int64_t person_id, const float *scaled,
                           vs_err *err);

/* Top persons for w->q: fused scores, best first.  *n <= k. */
vs_status vs_app_search(vs_app_worker *w, int k, vs_candidate *out, int *n, vs_err *err);

/* Fused-score thresholds for a gallery of n_faces faces at a target FPIR (calib.c). */
float vs_calib_threshold(size_t n_faces, float fpir);

#endif

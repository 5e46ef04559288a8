/*
 * app.h - the service: enrol people, identify every face of a photo, keep unknown visitors.
 *
 * vs_app ties the face pipeline (face/), the vector index (index/) and the store (store/)
 * together.  The store is the system of record; the index is rebuilt from it at open, and every
 * write goes to the store first, then to the index, so a crash never loses a committed face.
 *
 * Matching.  A face is described by the default matcher of face/match.h: several nets, each
 * mirror-averaged, fused by z-scores, s = sum_k w_k (cos_k - mu_k) / sigma_k.  The store keeps
 * the nets' raw unit vectors concatenated (model = the matcher's name); the index holds the same
 * vectors scaled by sqrt(w_k / sigma_k) per net, so one inner product gives the fused score
 * exactly: s = <a', b'> - sum_k w_k mu_k / sigma_k.  A person is matched as a template: the
 * best of their faces.
 *
 * Decisions, per face, in three bands (see calib.c for how thresholds follow the gallery):
 *   KNOWN     score >= t_known(N) and ahead of the second person by the margin;
 *   POSSIBLE  score >= t_review(N): a person confirms or rejects (vs_app_review);
 *   UNKNOWN   otherwise; with record_unknown the face becomes, or joins, an anonymous person.
 * No person is given to two faces of one photo (best scores are assigned first).
 *
 * Threads: vs_app is shared; each thread that analyses photos uses its own vs_app_worker.
 */
#ifndef VS_APP_APP_H
#define VS_APP_APP_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "face/face.h"
#include "store/store.h"

typedef struct vs_app vs_app;
typedef struct vs_app_worker vs_app_worker;

typedef struct vs_app_config {
    const char *db;         /* NULL: "var/visage.db"; a path, sqlite:PATH or postgres://... */
    const char *models_dir; /* NULL: $VISAGE_MODELS or "models" */
    const char *index;      /* "flat" (default), "int8" or "hnsw" */
    float fpir_known;       /* target false-positive identification rate of KNOWN (0.01) */
    float fpir_review;      /* ... of POSSIBLE (0.10) */
    float margin;           /* fused-score lead over the second person for KNOWN (0.5) */
    int threads;            /* engine threads per worker (1) */
} vs_app_config;

vs_status vs_app_open(const vs_app_config *cfg, vs_app **out, vs_err *err);
void vs_app_close(vs_app *app);

/* The store (for listing persons, visits, ...): owned by app. */
vs_store *vs_app_store(vs_app *app);

/* Faces in the index (= faces of the matcher's model in the store). */
size_t vs_app_gallery_size(vs_app *app);

/* The thresholds for the gallery as it is now. */
void vs_app_thresholds(vs_app *app, float *known, float *review);

vs_status vs_app_worker_new(vs_app *app, vs_app_worker **out, vs_err *err);
void vs_app_worker_free(vs_app_worker *w);

/* ---- enrolment ---------------------------------------------------------------------------- */

#define VS_ENROLL_MAX_PHOTOS 32

typedef struct vs_enroll_photo {
    const vs_image *img;
    const char *source; /* stored with the face (a file name, "upload"); may be NULL */
} vs_enroll_photo;

typedef struct vs_enroll_result {
    int64_t person_id; /* 0 when no photo was accepted (nothing was written) */
    int n_added;
    int64_t face_ids[VS_ENROLL_MAX_PHOTOS]; /* n_added: the new faces, in photo order */
    int n_refused;
    struct {
        int photo;        /* index into the photos */
        char reason[128]; /* "no face", "2 faces", "blurry, too_dark", ... */
    } refused[VS_ENROLL_MAX_PHOTOS];
    int64_t duplicate_of; /* another person the new faces already match (KNOWN band), or 0 */
    float duplicate_score;
} vs_enroll_result;

/*
 * Enrols a person: each photo must hold one clear face (the quality bar of face/quality.h);
 * refused photos are listed with their reasons.  With into == 0 a new person is created from
 * profile (kind customer unless set); else faces are added to person `into`.  Nothing is written
 * when no photo is accepted.  A match of the new faces against someone else is reported as a
 * possible duplicate (and still enrolled).
 */
vs_status vs_app_enroll(vs_app_worker *w, const vs_person *profile, int64_t into,
                        const vs_enroll_photo *photos, int n, vs_enroll_result *res, vs_err *err);

/*
 * Replaces face face_id of person_id with the one clear face of photo (same id; the store,
 * then the index).  Errors: VS_NOTFOUND (no such face of that person), VS_NOFACE (the photo
 * has no face, several, or one below the quality bar: the message says which), those of
 * vs_face_analyze and the store.  Nothing changes on error.
 */
vs_status vs_app_face_replace(vs_app_worker *w, int64_t person_id, int64_t face_id,
                              const vs_enroll_photo *photo, vs_err *err);

/* ---- identification ------------------------------------------------------------------------ */

typedef enum { VS_BAND_UNKNOWN = 0, VS_BAND_POSSIBLE, VS_BAND_KNOWN } vs_band;

const char *vs_band_name(vs_band b);

#define VS_APP_MAX_CANDIDATES 10

typedef struct vs_candidate {
    int64_t person_id;
    int64_t face_id; /* the person's best face */
    float score;     /* fused score */
} vs_candidate;

typedef struct vs_identity {
    const vs_face *face; /* the pipeline's record (valid until the worker's next call) */
    vs_band band;
    int64_t person_id; /* KNOWN or POSSIBLE: who; UNKNOWN with record_unknown: the anonymous
                          person it created or joined; else 0 */
    float score;
    int new_anonymous; /* 1: an anonymous person was created for this face */
    int quality_ok;    /* 0: the face is too poor to decide or to keep (band UNKNOWN) */
    int n_candidates;
    vs_candidate candidates[VS_APP_MAX_CANDIDATES];
} vs_identity;

typedef struct vs_identify_opts {
    int top_k;          /* candidates per face (5) */
    int record_unknown; /* 1: unknown faces become / join anonymous persons */
    int record_visit;   /* 1: store a visit for every KNOWN face and recorded unknown */
    const char *camera; /* stored with visits; may be NULL */
    int max_faces;      /* at most this many faces are analysed (0: the pipeline's 100) */
} vs_identify_opts;

typedef struct vs_identify_result {
    vs_face_result faces; /* the pipeline's result */
    int n;
    vs_identity *ids; /* n, owned by the worker */
} vs_identify_result;

vs_identify_opts vs_identify_opts_default(void);

vs_status vs_app_identify(vs_app_worker *w, const vs_image *img, const vs_identify_opts *o,
                          vs_identify_result *res, vs_err *err);

/* ---- changing who is who ------------------------------------------------------------------ */

/* Merges person `from` (typically an anonymous visitor) into `into`: faces, visits, purchases
 * and incidents move, `from` is kept as merged (store, one transaction), then the index follows
 * and the merge is audited under `actor`. */
vs_status vs_app_merge(vs_app *app, int64_t from, int64_t into, const char *actor, vs_err *err);

/* Gives an anonymous visitor a name, turning them into a customer. */
vs_status vs_app_name_visitor(vs_app *app, int64_t id, const char *name, vs_err *err);

/* A reviewer's answer to a POSSIBLE identity from the worker's last vs_app_identify: confirm
 * adds the face to that person's template; either answer is kept in the audit log. */
vs_status vs_app_review(vs_app_worker *w, const vs_identity *id, int confirm, const char *reviewer,
                        vs_err *err);

/* Removes one face from the store, then from the index. */
vs_status vs_app_face_delete(vs_app *app, int64_t face_id, vs_err *err);

/* ---- detection, comparison, statistics, erasure ------------------------------------------ */

/*
 * Finds and describes every face of img (box, landmarks, quality, attributes, liveness and
 * embeddings) without searching the gallery.  o may be NULL (vs_face_opts_default()).
 * res->faces belongs to the worker and is valid until its next call.
 * Errors: those of vs_face_analyze.
 */
vs_status vs_app_detect(vs_app_worker *w, const vs_image *img, const vs_face_opts *o,
                        vs_face_result *res, vs_err *err);

typedef struct vs_compare_result {
    float similarity; /* the matcher's fused score of the two faces */
    float threshold;  /* the matcher's 1:1 decision threshold */
    int same_person;  /* similarity >= threshold */
    int faces_a;      /* faces found in each image; the largest of each was compared */
    int faces_b;
} vs_compare_result;

/*
 * Compares the largest face of a with the largest face of b.
 * Errors: VS_NOFACE ("no face in image a" / "... b"), those of vs_face_analyze.
 */
vs_status vs_app_compare(vs_app_worker *w, const vs_image *a, const vs_image *b,
                         vs_compare_result *res, vs_err *err);

typedef struct vs_verify_result {
    float similarity; /* the fused score of the photo's largest face and the person's best face */
    float threshold;  /* the matcher's 1:1 decision threshold */
    int same_person;  /* similarity >= threshold */
    int faces;        /* faces found in the photo */
    int64_t face_id;  /* the person's best-matching face */
} vs_verify_result;

/*
 * Verifies the largest face of img against person person_id (1:1 against their template: the
 * best of their faces).  Errors: VS_NOTFOUND (no such person), VS_NOFACE ("no face in the
 * image" / "person N has no enrolled face"), those of vs_face_analyze and the store.
 */
vs_status vs_app_verify_person(vs_app_worker *w, const vs_image *img, int64_t person_id,
                               vs_verify_result *res, vs_err *err);

typedef struct vs_person_stats {
    int64_t faces;      /* stored faces, all models */
    int64_t visits;     /* recorded visits */
    int64_t first_seen; /* ms of the oldest visit, 0 if none */
    int64_t last_seen;  /* ms of the newest visit, 0 if none */
} vs_person_stats;

/* Faces and visit statistics of person id.  Errors: VS_NOTFOUND, store errors. */
vs_status vs_app_person_stats(vs_app *app, int64_t id, vs_person_stats *out, vs_err *err);

/*
 * Erases person id: the store deletes the person with their faces, visits, purchases, incidents
 * and watchlist entries in one transaction, then each of their faces leaves the index, so that
 * they can no longer be matched.  faces_removed (may be NULL) receives the number of faces the
 * person had.  Errors: VS_NOTFOUND (no such person; nothing changes), store errors (nothing
 * changes).  Thread-safe.
 */
vs_status vs_app_person_delete(vs_app *app, int64_t id, int64_t *faces_removed, vs_err *err);

#endif

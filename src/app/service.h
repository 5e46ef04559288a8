/*
 * service.h - service calls that the HTTP server needs beyond app.h: detection without
 * identification, 1:1 comparison, a person's gallery statistics, and erasure of a person from
 * both the store and the index.  (Written as a separate header because app.h belongs to another
 * engineer; it is meant to be folded into app.h.)
 *
 * The same rules as app.h: the store first, then the index; vs_app is shared, a vs_app_worker
 * belongs to one thread at a time.
 */
#ifndef VS_APP_SERVICE_H
#define VS_APP_SERVICE_H

#include "app/app.h"

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

/*
 * enroll.c - enrolling a person from photos: one clear face per photo, or a reason why not.
 *
 * Every photo is analysed first; the accepted faces are then written in two short
 * transactions (the person, then all faces at once) and only after that added to the index.
 * If the faces cannot be written, a person created for them is deleted again, so a failed
 * enrolment leaves nothing behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_internal.h"

/* Why a face is not good enough, as "blurry, too_dark". */
static void quality_reasons(const vs_quality *q, char *buf, size_t n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int r = 0; r < VS_Q_REASON_COUNT && at < n; r++)
        if (q->reasons & (1u << r))
            at += (size_t)snprintf(buf + at, n - at, "%s%s", at ? ", " : "",
                                   vs_quality_reason_name((vs_quality_reason)(1u << r)));
}

static void refuse(vs_enroll_result *res, int photo, const char *why)
{
    int k = res->n_refused++;
    res->refused[k].photo = photo;
    snprintf(res->refused[k].reason, sizeof res->refused[k].reason, "%s", why);
}

/* Analyses one photo; on success row holds the face (vector in a fresh malloc'd copy) and
 * *face a copy of its record (for the estimated attributes). */
static vs_status accept_photo(vs_app_worker *w, const vs_enroll_photo *ph, int i, vs_face_row *row,
                              vs_face *face, vs_enroll_result *res, vs_err *err)
{
    vs_face_result fr;
    vs_status st = vs_face_analyze(w->ctx, ph->img, NULL, &fr, err);
    if (st != VS_OK)
        return st;
    if (fr.n != 1) {
        char why[64];
        snprintf(why, sizeof why, fr.n ? "%d faces: one face per photo" : "no face", fr.n);
        refuse(res, i, why);
        return VS_NOTFOUND;
    }
    const vs_face *f = &fr.faces[0];
    if (!f->quality.good) {
        char why[128];
        quality_reasons(&f->quality, why, sizeof why);
        refuse(res, i, why);
        return VS_NOTFOUND;
    }
    st = vs_app_face_vector(w, f, err);
    if (st != VS_OK)
        return st;
    /* A possible duplicate: the face already matches someone in the KNOWN band. */
    vs_candidate c[2];
    int n = 0;
    float t_known;
    vs_app_thresholds(w->app, &t_known, NULL);
    st = vs_app_search(w, 2, c, &n, err);
    if (st != VS_OK)
        return st;
    if (n > 0 && c[0].score >= t_known && c[0].score > res->duplicate_score) {
        res->duplicate_of = c[0].person_id;
        res->duplicate_score = c[0].score;
    }
    vs_app_face_row(w, f, 0, ph->source, row);
    row->vector = malloc((size_t)w->app->dim * sizeof(float));
    if (!row->vector)
        return vs_err_set(err, VS_NOMEM, "enrol");
    memcpy(row->vector, w->raw, (size_t)w->app->dim * sizeof(float));
    *face = *f;
    return VS_OK;
}

/* Creates the person of profile, with age and gender estimated from faces when not given. */
static vs_status create_person(vs_app *app, const vs_person *profile, const vs_face *faces, int n,
                               int64_t *pid, vs_err *err)
{
    vs_person p = profile ? *profile : (vs_person){0};
    if (!p.kind)
        p.kind = VS_PERSON_CUSTOMER;
    if (!p.consent_status)
        p.consent_status = VS_CONSENT_NONE;
    const vs_face *fs[VS_ENROLL_MAX_PHOTOS];
    for (int i = 0; i < n; i++)
        fs[i] = &faces[i];
    char *attrs = NULL;
    vs_status st = vs_app_estimated_attributes(p.attributes_json, fs, n, &attrs, err);
    p.attributes_json = attrs;
    if (st == VS_OK)
        st = vs_store_person_create(app->store, &p, pid, err);
    free(attrs);
    return st;
}

/* Writes the accepted faces (and the person when new), then indexes them. */
static vs_status commit(vs_app_worker *w, const vs_person *profile, int64_t into, vs_face_row *rows,
                        const vs_face *faces, int n, vs_enroll_result *res, vs_err *err)
{
    vs_app *app = w->app;
    int64_t pid = into;
    vs_status st = VS_OK;
    if (!pid && (st = create_person(app, profile, faces, n, &pid, err)) != VS_OK)
        return st;
    for (int i = 0; i < n; i++)
        rows[i].person_id = pid;
    st = vs_store_faces_add(app->store, rows, (size_t)n, res->face_ids, err);
    if (st != VS_OK) {
        if (!into)
            vs_store_person_delete(app->store, pid, NULL);
        return st;
    }
    res->person_id = pid;
    for (int i = 0; i < n && st == VS_OK; i++) {
        vs_app_scale_vector(app, rows[i].vector, w->q);
        st = vs_app_index_add(app, res->face_ids[i], pid, w->q, err);
        res->n_added += st == VS_OK;
    }
    return st;
}

vs_status vs_app_enroll(vs_app_worker *w, const vs_person *profile, int64_t into,
                        const vs_enroll_photo *photos, int n, vs_enroll_result *res, vs_err *err)
{
    memset(res, 0, sizeof *res);
    if (n < 1 || n > VS_ENROLL_MAX_PHOTOS)
        return vs_err_set(err, VS_INVAL, "1 to %d photos per enrolment", VS_ENROLL_MAX_PHOTOS);
    vs_face_row rows[VS_ENROLL_MAX_PHOTOS];
    vs_face *faces = malloc((size_t)n * sizeof *faces);
    if (!faces)
        return vs_err_set(err, VS_NOMEM, "enrol");
    int accepted = 0;
    vs_status st = VS_OK;
    for (int i = 0; i < n && (st == VS_OK || st == VS_NOTFOUND); i++) {
        st = accept_photo(w, &photos[i], i, &rows[accepted], &faces[accepted], res, err);
        accepted += st == VS_OK;
    }
    if (st == VS_NOTFOUND)
        st = VS_OK; /* refused photos are reported, not errors */
    if (st == VS_OK && accepted > 0)
        st = commit(w, profile, into, rows, faces, accepted, res, err);
    for (int i = 0; i < accepted; i++)
        free(rows[i].vector);
    free(faces);
    return st;
}

vs_status vs_app_face_replace(vs_app_worker *w, int64_t person_id, int64_t face_id,
                              const vs_enroll_photo *photo, vs_err *err)
{
    vs_app *app = w->app;
    vs_face_list faces = {0};
    vs_status st = vs_store_face_list(app->store, person_id, &faces, err);
    int found = 0;
    for (size_t i = 0; st == VS_OK && i < faces.n; i++)
        found |= faces.items[i].id == face_id;
    vs_face_list_free(&faces);
    if (st != VS_OK)
        return st;
    if (!found)
        return vs_err_set(err, VS_NOTFOUND, "person %lld has no face %lld", (long long)person_id,
                          (long long)face_id);
    vs_enroll_result *probe = calloc(1, sizeof *probe);
    vs_face *face = malloc(sizeof *face);
    vs_face_row row = {0};
    st = probe && face ? accept_photo(w, photo, 0, &row, face, probe, err)
                       : vs_err_set(err, VS_NOMEM, "face replace");
    if (st == VS_NOTFOUND)
        st = vs_err_set(err, VS_NOFACE, "the photo cannot be enrolled: %s",
                        probe->refused[0].reason);
    if (st == VS_OK) {
        row.person_id = person_id;
        st = vs_store_face_replace(app->store, face_id, &row, err);
    }
    if (st == VS_OK) {
        vs_app_scale_vector(app, row.vector, w->q);
        pthread_mutex_lock(&app->lock);
        st = vs_index_contains(app->index, face_id, NULL)
                 ? vs_index_replace(app->index, face_id, person_id, w->q, err)
                 : vs_index_add(app->index, face_id, person_id, w->q, err);
        pthread_mutex_unlock(&app->lock);
    }
    free(row.vector);
    free(face);
    free(probe);
    return st;
}

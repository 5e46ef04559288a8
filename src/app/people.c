/*
 * people.c - changing who is who: merge an anonymous visitor into a person, name a visitor,
 * a reviewer's answer to a POSSIBLE match, and removing one face.
 *
 * Same rule as everywhere in app/: the store changes first (one transaction), then the index
 * follows, so a crash in between leaves the store right and the index is rebuilt from it at the
 * next start.  Review answers are kept in the audit log (who, when, which person, the score),
 * which is also where a later calibration of the review band can read them from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_internal.h"

/* Points the index entries of every face of person `into` at `into` (after a merge). */
static vs_status reindex_person(vs_app *app, int64_t into, vs_err *err)
{
    vs_face_list faces = {0};
    vs_status st = vs_store_face_list(app->store, into, &faces, err);
    float *scaled = malloc((size_t)app->dim * sizeof *scaled);
    if (st == VS_OK && !scaled)
        st = vs_err_set(err, VS_NOMEM, "merge");
    pthread_mutex_lock(&app->lock);
    for (size_t i = 0; st == VS_OK && i < faces.n; i++) {
        const vs_face_row *f = &faces.items[i];
        int64_t owner = 0;
        if (strcmp(f->model, app->model) != 0 || (int)f->dim != app->dim)
            continue;
        if (vs_index_contains(app->index, f->id, &owner) && owner == into)
            continue;
        vs_app_scale_vector(app, f->vector, scaled);
        st = vs_index_replace(app->index, f->id, into, scaled, err);
    }
    pthread_mutex_unlock(&app->lock);
    free(scaled);
    vs_face_list_free(&faces);
    return st;
}

vs_status vs_app_merge(vs_app *app, int64_t from, int64_t into, const char *actor, vs_err *err)
{
    vs_merge_counts counts;
    vs_status st = vs_store_person_merge(app->store, from, into, &counts, err);
    if (st != VS_OK)
        return st;
    char target[64], detail[160];
    snprintf(target, sizeof target, "person:%lld", (long long)into);
    snprintf(detail, sizeof detail, "{\"from\":%lld,\"faces\":%lld,\"visits\":%lld}",
             (long long)from, (long long)counts.faces, (long long)counts.visits);
    st = reindex_person(app, into, err);
    if (st == VS_OK)
        st = vs_store_audit_append(app->store, actor ? actor : "system", "person.merge", target,
                                   detail, err);
    return st;
}

vs_status vs_app_name_visitor(vs_app *app, int64_t id, const char *name, vs_err *err)
{
    vs_person p = {0};
    vs_status st = vs_store_person_get(app->store, id, &p, err);
    if (st != VS_OK)
        return st;
    char *old = p.name;
    p.name = (char *)name;
    if (p.kind == VS_PERSON_ANONYMOUS)
        p.kind = VS_PERSON_CUSTOMER;
    st = vs_store_person_update(app->store, &p, err);
    p.name = old;
    vs_person_clear(&p);
    return st;
}

vs_status vs_app_review(vs_app_worker *w, const vs_identity *id, int confirm, const char *reviewer,
                        vs_err *err)
{
    vs_app *app = w->app;
    if (id->band != VS_BAND_POSSIBLE || !id->person_id)
        return vs_err_set(err, VS_INVAL, "only a POSSIBLE match can be reviewed");
    vs_status st = VS_OK;
    if (confirm) {
        /* A confirmed face joins the person's template: next time it is a clear match. */
        st = vs_app_face_vector(w, id->face, err);
        vs_face_row row;
        int64_t fid = 0;
        vs_app_face_row(w, id->face, id->person_id, "review", &row);
        if (st == VS_OK)
            st = vs_store_faces_add(app->store, &row, 1, &fid, err);
        if (st == VS_OK)
            st = vs_app_index_add(app, fid, id->person_id, w->q, err);
    }
    if (st != VS_OK)
        return st;
    char target[64], detail[128];
    snprintf(target, sizeof target, "person:%lld", (long long)id->person_id);
    snprintf(detail, sizeof detail, "{\"score\":%.4f,\"answer\":\"%s\"}", id->score,
             confirm ? "confirmed" : "rejected");
    return vs_store_audit_append(app->store, reviewer ? reviewer : "reviewer",
                                 confirm ? "review.confirm" : "review.reject", target, detail, err);
}

vs_status vs_app_face_delete(vs_app *app, int64_t face_id, vs_err *err)
{
    vs_status st = vs_store_face_delete(app->store, face_id, err);
    if (st != VS_OK)
        return st;
    pthread_mutex_lock(&app->lock);
    if (vs_index_contains(app->index, face_id, NULL))
        st = vs_index_remove(app->index, face_id, err);
    pthread_mutex_unlock(&app->lock);
    return st;
}

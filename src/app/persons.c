/*
 * persons.c - a person as the service sees them: gallery statistics (faces, visits, first and
 * last seen) and erasure from the store and the index together.
 *
 * Erasure follows the app's rule (app.c, note 1) in reverse: the store deletes first, in one
 * transaction, and only then do the faces leave the index.  A crash between the two leaves
 * faces in the index of a person the store no longer has; the next start rebuilds the index
 * from the store, so they are gone then, and until then a match on them names a person that
 * does not exist, which the callers treat as "unknown".
 */
#include <stdlib.h>

#include "app/app.h"
#include "app/app_internal.h"

/* Visits are read newest first in pages of this many rows. */
#define STATS_PAGE 1000

vs_status vs_app_person_stats(vs_app *app, int64_t id, vs_person_stats *out, vs_err *err)
{
    *out = (vs_person_stats){0};
    vs_face_list faces = {0};
    vs_status st = vs_store_face_list(app->store, id, &faces, err);
    if (st != VS_OK)
        return st;
    out->faces = (int64_t)faces.n;
    vs_face_list_free(&faces);
    /* The store has no aggregate query for visits yet: page through them (newest first). */
    for (size_t offset = 0;; offset += STATS_PAGE) {
        vs_visit_list l = {0};
        st = vs_store_visit_list(app->store, id, STATS_PAGE, offset, &l, err);
        if (st != VS_OK)
            return st;
        if (l.n && offset == 0)
            out->last_seen = l.items[0].at;
        if (l.n)
            out->first_seen = l.items[l.n - 1].at;
        out->visits += (int64_t)l.n;
        size_t n = l.n;
        vs_visit_list_free(&l);
        if (n < STATS_PAGE)
            break;
    }
    return VS_OK;
}

vs_status vs_app_person_delete(vs_app *app, int64_t id, int64_t *faces_removed, vs_err *err)
{
    if (faces_removed)
        *faces_removed = 0;
    vs_person p = {0};
    vs_status st = vs_store_person_get(app->store, id, &p, err);
    vs_person_clear(&p);
    if (st != VS_OK)
        return st;
    vs_face_list faces = {0};
    st = vs_store_face_list(app->store, id, &faces, err);
    if (st == VS_OK)
        st = vs_store_person_delete(app->store, id, err);
    if (st != VS_OK) {
        vs_face_list_free(&faces);
        return st;
    }
    pthread_mutex_lock(&app->lock);
    for (size_t i = 0; i < faces.n; i++)
        vs_index_remove(app->index, faces.items[i].id, NULL); /* other models are not indexed */
    pthread_mutex_unlock(&app->lock);
    if (faces_removed)
        *faces_removed = (int64_t)faces.n;
    vs_face_list_free(&faces);
    return VS_OK;
}

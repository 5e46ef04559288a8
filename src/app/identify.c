/*
 * identify.c - who is in this photo: search, decide in three bands, keep unknown visitors.
 *
 * Per face: the matcher's vector, the top persons from the index (best face per person, fused
 * score), then the band (app.h).  Across the photo, a person is given to at most one face: all
 * (face, first candidate) decisions are made best-score-first, and a face whose person was
 * already taken falls back to its next candidate, re-judged against the same thresholds.
 * Unknown faces of good quality become anonymous persons, or join the anonymous person they
 * match (that is just the KNOWN band: an anonymous person is in the gallery like anyone).
 * A poor-quality face is still searched and may be KNOWN (the thresholds bound false matches
 * whatever the quality; poor faces mostly lose genuine score), but it never founds an
 * anonymous person: a blurred profile would make a stranger's template useless.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_internal.h"

vs_identify_opts vs_identify_opts_default(void)
{
    vs_identify_opts o = {0};
    o.top_k = 5;
    return o;
}

void vs_app_thresholds(vs_app *app, float *known, float *review)
{
    size_t n = vs_index_size(app->index);
    if (known)
        *known = vs_calib_threshold(n, app->cfg.fpir_known);
    if (review)
        *review = vs_calib_threshold(n, app->cfg.fpir_review);
}

vs_status vs_app_search(vs_app_worker *w, int k, vs_candidate *out, int *n, vs_err *err)
{
    if (w->cap_hits < k) {
        vs_hit *h = realloc(w->hits, (size_t)k * sizeof *h);
        if (!h)
            return vs_err_set(err, VS_NOMEM, "search");
        w->hits = h;
        w->cap_hits = k;
    }
    int got = 0;
    vs_status st = vs_index_search(w->app->index, w->q, k, w->hits, &got, err);
    if (st != VS_OK)
        return st;
    for (int i = 0; i < got; i++) {
        out[i].person_id = w->hits[i].person_id;
        out[i].face_id = w->hits[i].face_id;
        out[i].score = w->hits[i].score - w->app->offset;
    }
    *n = got;
    return VS_OK;
}

static vs_status ensure_ids(vs_app_worker *w, int n, vs_err *err)
{
    if (n <= w->cap_ids)
        return VS_OK;
    vs_identity *p = realloc(w->ids, (size_t)n * sizeof *p);
    if (!p)
        return vs_err_set(err, VS_NOMEM, "identities");
    w->ids = p;
    w->cap_ids = n;
    return VS_OK;
}

/* The band of a candidate list's entry `i` given the runner-up score. */
static vs_band judge(float score, float second, float t_known, float t_review, float margin)
{
    if (score >= t_known && score - second >= margin)
        return VS_BAND_KNOWN;
    if (score >= t_review)
        return VS_BAND_POSSIBLE;
    return VS_BAND_UNKNOWN;
}

/* Assigns persons to faces best-first so that no person is used twice. */
static void assign(vs_identity *ids, int n, float t_known, float t_review, float margin)
{
    int *next = calloc((size_t)(n ? n : 1), sizeof *next); /* candidate cursor per face */
    char *done = calloc((size_t)(n ? n : 1), 1);
    if (!next || !done) {
        free(next);
        free(done);
        for (int i = 0; i < n; i++) /* no memory: decide faces independently */
            ids[i].band =
                ids[i].n_candidates
                    ? judge(ids[i].candidates[0].score,
                            ids[i].n_candidates > 1 ? ids[i].candidates[1].score : -INFINITY,
                            t_known, t_review, margin)
                    : VS_BAND_UNKNOWN;
        return;
    }
    for (int round = 0; round < n; round++) {
        int best = -1;
        float best_score = -INFINITY;
        for (int i = 0; i < n; i++) {
            if (done[i])
                continue;
            /* skip candidates already taken by a decided face */
            while (next[i] < ids[i].n_candidates) {
                int64_t pid = ids[i].candidates[next[i]].person_id;
                int taken = 0;
                for (int j = 0; j < n && !taken; j++)
                    taken = done[j] && ids[j].band != VS_BAND_UNKNOWN && ids[j].person_id == pid;
                if (!taken)
                    break;
                next[i]++;
            }
            float s = next[i] < ids[i].n_candidates ? ids[i].candidates[next[i]].score : -INFINITY;
            if (best < 0 || s > best_score) {
                best = i;
                best_score = s;
            }
        }
        vs_identity *id = &ids[best];
        done[best] = 1;
        if (next[best] >= id->n_candidates) {
            id->band = VS_BAND_UNKNOWN;
            continue;
        }
        const vs_candidate *c = &id->candidates[next[best]];
        float second =
            next[best] + 1 < id->n_candidates ? id->candidates[next[best] + 1].score : -INFINITY;
        id->band = judge(c->score, second, t_known, t_review, margin);
        id->person_id = id->band != VS_BAND_UNKNOWN ? c->person_id : 0;
        id->score = c->score;
    }
    free(next);
    free(done);
}

/* Creates an anonymous person holding face f (store first, then index); their estimated age
 * and gender go into the attributes, for segments. */
static vs_status keep_unknown(vs_app_worker *w, const vs_face *f, vs_identity *id, vs_err *err)
{
    vs_app *app = w->app;
    vs_person p = {0};
    p.kind = VS_PERSON_ANONYMOUS;
    p.consent_status = VS_CONSENT_NONE;
    int64_t pid = 0, fid = 0;
    vs_status st = vs_app_estimated_attributes(NULL, &f, 1, &p.attributes_json, err);
    if (st == VS_OK)
        st = vs_store_person_create(app->store, &p, &pid, err);
    free(p.attributes_json);
    if (st != VS_OK)
        return st;
    vs_face_row row;
    vs_app_face_row(w, f, pid, "visitor", &row);
    st = vs_store_faces_add(app->store, &row, 1, &fid, err);
    if (st != VS_OK) {
        vs_store_person_delete(app->store, pid, NULL); /* no face-less anonymous persons */
        return st;
    }
    st = vs_app_index_add(app, fid, pid, w->q, err);
    if (st != VS_OK)
        return st;
    id->person_id = pid;
    id->new_anonymous = 1;
    return VS_OK;
}

static vs_status record_visit(vs_app *app, const vs_identity *id, const char *camera, vs_err *err)
{
    vs_visit v = {0};
    v.person_id = id->person_id;
    v.camera = (char *)camera;
    v.face_id = id->n_candidates && !id->new_anonymous ? id->candidates[0].face_id : 0;
    v.score = id->new_anonymous ? 0.0 : id->score;
    return vs_store_visit_add(app->store, &v, NULL, err);
}

/* Search for every face; fills ids (band decided later). */
static vs_status search_all(vs_app_worker *w, const vs_face_result *fr, int top_k, vs_err *err)
{
    for (int i = 0; i < fr->n; i++) {
        vs_identity *id = &w->ids[i];
        memset(id, 0, sizeof *id);
        id->face = &fr->faces[i];
        id->quality_ok = fr->faces[i].quality.good;
        vs_status st = vs_app_face_vector(w, &fr->faces[i], err);
        if (st == VS_OK)
            st = vs_app_search(w, top_k, id->candidates, &id->n_candidates, err);
        if (st != VS_OK)
            return st;
    }
    return VS_OK;
}

vs_status vs_app_identify(vs_app_worker *w, const vs_image *img, const vs_identify_opts *opts,
                          vs_identify_result *res, vs_err *err)
{
    memset(res, 0, sizeof *res);
    vs_identify_opts o = opts ? *opts : vs_identify_opts_default();
    if (o.top_k < 1 || o.top_k > VS_APP_MAX_CANDIDATES)
        o.top_k = o.top_k < 1 ? 1 : VS_APP_MAX_CANDIDATES;
    vs_face_opts fo = vs_face_opts_default();
    if (o.max_faces > 0)
        fo.max_faces = o.max_faces;
    vs_status st = vs_face_analyze(w->ctx, img, &fo, &res->faces, err);
    if (st == VS_OK)
        st = ensure_ids(w, res->faces.n, err);
    /* Candidates beyond top_k are needed when one person is claimed by two faces. */
    int k = o.top_k + 2 > VS_APP_MAX_CANDIDATES ? VS_APP_MAX_CANDIDATES : o.top_k + 2;
    if (st == VS_OK)
        st = search_all(w, &res->faces, k, err);
    if (st != VS_OK)
        return st;
    float t_known, t_review;
    vs_app_thresholds(w->app, &t_known, &t_review);
    assign(w->ids, res->faces.n, t_known, t_review, w->app->cfg.margin);
    for (int i = 0; i < res->faces.n; i++) {
        vs_identity *id = &w->ids[i];
        if (id->n_candidates > o.top_k)
            id->n_candidates = o.top_k;
        /* A face kept only by the detector's rescue pass (detect.h) may be no face at all:
         * it never founds an anonymous visitor. */
        if (id->band == VS_BAND_UNKNOWN && o.record_unknown && id->quality_ok &&
            !res->faces.rescued) {
            st = vs_app_face_vector(w, id->face, err);
            if (st == VS_OK)
                st = keep_unknown(w, id->face, id, err);
        }
        int visit = o.record_visit && (id->band == VS_BAND_KNOWN || id->new_anonymous);
        if (st == VS_OK && visit)
            st = record_visit(w->app, id, o.camera, err);
        if (st != VS_OK)
            return st;
    }
    res->n = res->faces.n;
    res->ids = w->ids;
    return VS_OK;
}

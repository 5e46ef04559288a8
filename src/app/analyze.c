/*
 * analyze.c - the face pipeline through the service without the gallery: detection (faces and
 * their attributes, nothing searched or stored) and 1:1 comparison of two photos.  These are
 * the calls behind POST /v1/detect and POST /v1/compare; they run on a worker's face context.
 */
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/app_internal.h"

vs_status vs_app_detect(vs_app_worker *w, const vs_image *img, const vs_face_opts *o,
                        vs_face_result *res, vs_err *err)
{
    vs_face_opts fo = o ? *o : vs_face_opts_default();
    return vs_face_analyze(w->ctx, img, &fo, res, err);
}

/* The index of the face with the largest box, or -1 when there is none. */
static int largest_face(const vs_face_result *r)
{
    int best = -1;
    float best_area = -1;
    for (int i = 0; i < r->n; i++) {
        const vs_det *d = &r->faces[i].det;
        float area = (d->x1 - d->x0) * (d->y1 - d->y0);
        if (area > best_area) {
            best = i;
            best_area = area;
        }
    }
    return best;
}

vs_status vs_app_compare(vs_app_worker *w, const vs_image *a, const vs_image *b,
                         vs_compare_result *res, vs_err *err)
{
    memset(res, 0, sizeof *res);
    /* The context owns its results until the next call: keep a copy of a's face. */
    vs_face *fa = malloc(sizeof *fa);
    if (!fa)
        return vs_err_set(err, VS_NOMEM, "compare");
    vs_face_result r;
    vs_status st = vs_face_analyze(w->ctx, a, NULL, &r, err);
    int ia = st == VS_OK ? largest_face(&r) : -1;
    res->faces_a = st == VS_OK ? r.n : 0;
    if (st == VS_OK && ia < 0)
        st = vs_err_set(err, VS_NOFACE, "no face in image a");
    if (st == VS_OK) {
        *fa = r.faces[ia];
        st = vs_face_analyze(w->ctx, b, NULL, &r, err);
    }
    int ib = st == VS_OK ? largest_face(&r) : -1;
    res->faces_b = st == VS_OK ? r.n : 0;
    if (st == VS_OK && ib < 0)
        st = vs_err_set(err, VS_NOFACE, "no face in image b");
    if (st == VS_OK)
        st = vs_face_compare(w->app->models, fa, &r.faces[ib], &res->similarity, err);
    if (st == VS_OK) {
        vs_face_models_matcher(w->app->models, &res->threshold);
        res->same_person = res->similarity >= res->threshold;
    }
    free(fa);
    return st;
}

vs_status vs_app_verify_person(vs_app_worker *w, const vs_image *img, int64_t person_id,
                               vs_verify_result *res, vs_err *err)
{
    vs_app *app = w->app;
    memset(res, 0, sizeof *res);
    vs_person p = {0};
    vs_status st = vs_store_person_get(app->store, person_id, &p, err);
    vs_person_clear(&p);
    if (st != VS_OK)
        return st;
    vs_face_list faces = {0};
    st = vs_store_face_list(app->store, person_id, &faces, err);
    vs_face_result r;
    if (st == VS_OK)
        st = vs_face_analyze(w->ctx, img, NULL, &r, err);
    int i = st == VS_OK ? largest_face(&r) : -1;
    res->faces = st == VS_OK ? r.n : 0;
    if (st == VS_OK && i < 0)
        st = vs_err_set(err, VS_NOFACE, "no face in the image");
    if (st == VS_OK)
        st = vs_app_face_vector(w, &r.faces[i], err);
    float *scaled = st == VS_OK ? malloc((size_t)app->dim * sizeof *scaled) : NULL;
    if (st == VS_OK && !scaled)
        st = vs_err_set(err, VS_NOMEM, "verify");
    res->similarity = -INFINITY;
    for (size_t k = 0; st == VS_OK && k < faces.n; k++) {
        const vs_face_row *f = &faces.items[k];
        if (strcmp(f->model, app->model) != 0 || (int)f->dim != app->dim)
            continue;
        vs_app_scale_vector(app, f->vector, scaled);
        float s = -app->offset;
        for (int d = 0; d < app->dim; d++)
            s += w->q[d] * scaled[d];
        if (s > res->similarity) {
            res->similarity = s;
            res->face_id = f->id;
        }
    }
    if (st == VS_OK && !res->face_id)
        st = vs_err_set(err, VS_NOFACE, "person %lld has no enrolled face", (long long)person_id);
    if (st == VS_OK) {
        vs_face_models_matcher(app->models, &res->threshold);
        res->same_person = res->similarity >= res->threshold;
    }
    free(scaled);
    vs_face_list_free(&faces);
    return st;
}

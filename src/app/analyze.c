/*
 * analyze.c - the face pipeline through the service without the gallery: detection (faces and
 * their attributes, nothing searched or stored) and 1:1 comparison of two photos.  These are
 * the calls behind POST /v1/detect and POST /v1/compare; they run on a worker's face context.
 */
#include <stdlib.h>
#include <string.h>

#include "app/app_internal.h"
#include "app/app.h"

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

/*
 * app.c - opening the service: store, face models, and the index rebuilt from the store.
 *
 * DESIGN NOTES
 *   1. The store is the system of record.  Every write goes to the store first and to the index
 *      only after the store committed, so the index never holds a face the store lacks.
 *   2. At open the index is rebuilt from every face of the matcher's model in the store (one
 *      keyset scan), so a crash between a store write and its index write loses nothing.
 *   3. Index writes are serialised by app->lock (the index allows many readers, one writer);
 *      searches take no app lock.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/app_internal.h"

const char *vs_band_name(vs_band b)
{
    switch (b) {
    case VS_BAND_KNOWN:
        return "known";
    case VS_BAND_POSSIBLE:
        return "possible";
    default:
        return "unknown";
    }
}

/* The model name faces are stored under: the matcher's nets, e.g.
 * "face_recognition+fr_feature/mirror". */
static void matcher_model_name(const vs_matcher *m, char *buf, size_t n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int k = 0; k < m->n && at < n; k++)
        at += (size_t)snprintf(buf + at, n - at, "%s%s", k ? "+" : "", vs_embedder_name(m->id[k]));
    if (at < n)
        snprintf(buf + at, n - at, "%s", m->mirror[0] ? "/mirror" : "");
}

void vs_app_scale_vector(const vs_app *app, const float *raw, float *scaled)
{
    for (int i = 0; i < app->dim; i++)
        scaled[i] = raw[i] * app->scale[i];
}

typedef struct rebuild_ctx {
    vs_app *app;
    float *tmp;
    vs_status st;
    vs_err *err;
} rebuild_ctx;

static int rebuild_batch(void *ctx, const vs_face_row *rows, size_t n)
{
    rebuild_ctx *r = ctx;
    for (size_t i = 0; i < n; i++) {
        if ((int)rows[i].dim != r->app->dim) {
            r->st = vs_err_set(r->err, VS_FORMAT, "face %lld has %u dims, the matcher %d",
                               (long long)rows[i].id, rows[i].dim, r->app->dim);
            return 1;
        }
        vs_app_scale_vector(r->app, rows[i].vector, r->tmp);
        r->st = vs_index_add(r->app->index, rows[i].id, rows[i].person_id, r->tmp, r->err);
        if (r->st != VS_OK)
            return 1;
    }
    return 0;
}

static vs_status rebuild_index(vs_app *app, vs_err *err)
{
    rebuild_ctx r = {app, malloc((size_t)app->dim * sizeof(float)), VS_OK, err};
    if (!r.tmp)
        return vs_err_set(err, VS_NOMEM, "index rebuild");
    vs_status st = vs_store_face_scan(app->store, app->model, 0, 1024, rebuild_batch, &r, err);
    free(r.tmp);
    return st != VS_OK ? st : r.st;
}

static vs_status make_parent_dir(const char *db)
{
    /* The default database lives in var/; create it for a fresh clone. */
    if (strncmp(db, "postgres", 8) == 0)
        return VS_OK;
    const char *path = strncmp(db, "sqlite:", 7) == 0 ? db + 7 : db;
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return VS_OK;
    char dir[1024];
    size_t len = (size_t)(slash - path);
    if (len >= sizeof dir)
        return VS_INVAL;
    memcpy(dir, path, len);
    dir[len] = '\0';
    mkdir(dir, 0755); /* an existing directory is fine; other failures surface at open */
    return VS_OK;
}

static vs_status setup_matcher(vs_app *app, vs_err *err)
{
    const vs_matcher *m = vs_face_models_matcher(app->models, NULL);
    app->matcher = *m;
    matcher_model_name(m, app->model, sizeof app->model);
    app->dim = 0;
    app->offset = 0;
    for (int k = 0; k < m->n; k++)
        app->dim += vs_embedder_dim(m->id[k]);
    app->scale = malloc((size_t)app->dim * sizeof *app->scale);
    if (!app->scale)
        return vs_err_set(err, VS_NOMEM, "matcher");
    int at = 0;
    for (int k = 0; k < m->n; k++) {
        float s = sqrtf_pos(m->w[k] / m->sigma[k]);
        for (int i = 0; i < vs_embedder_dim(m->id[k]); i++)
            app->scale[at++] = s;
        app->offset += m->w[k] * m->mu[k] / m->sigma[k];
    }
    return VS_OK;
}

vs_status vs_app_open(const vs_app_config *cfg, vs_app **out, vs_err *err)
{
    *out = NULL;
    vs_app *app = calloc(1, sizeof *app);
    if (!app)
        return vs_err_set(err, VS_NOMEM, "app");
    if (cfg)
        app->cfg = *cfg;
    if (!app->cfg.db)
        app->cfg.db = "var/visage.db";
    if (app->cfg.fpir_known <= 0)
        app->cfg.fpir_known = 0.01f;
    if (app->cfg.fpir_review <= 0)
        app->cfg.fpir_review = 0.10f;
    if (app->cfg.margin <= 0)
        app->cfg.margin = 0.5f;
    pthread_mutex_init(&app->lock, NULL);
    vs_status st = make_parent_dir(app->cfg.db);
    if (st == VS_OK)
        st = vs_store_open(app->cfg.db, &app->store, err);
    vs_face_config fc = {.models_dir = app->cfg.models_dir, .threads = app->cfg.threads};
    if (st == VS_OK)
        st = vs_face_models_load(&fc, &app->models, err);
    if (st == VS_OK)
        st = setup_matcher(app, err);
    vs_index_kind kind = VS_INDEX_FLAT;
    if (st == VS_OK && app->cfg.index)
        st = vs_index_kind_from_name(app->cfg.index, &kind);
    if (st == VS_OK)
        st = vs_index_new(kind, app->dim, NULL, &app->index, err);
    if (st == VS_OK)
        st = rebuild_index(app, err);
    if (st != VS_OK) {
        vs_app_close(app);
        return st;
    }
    *out = app;
    return VS_OK;
}

void vs_app_close(vs_app *app)
{
    if (!app)
        return;
    vs_index_free(app->index);
    vs_face_models_free(app->models);
    vs_store_close(app->store);
    free(app->scale);
    pthread_mutex_destroy(&app->lock);
    free(app);
}

vs_store *vs_app_store(vs_app *app)
{
    return app->store;
}

size_t vs_app_gallery_size(vs_app *app)
{
    return vs_index_size(app->index);
}

vs_status vs_app_worker_new(vs_app *app, vs_app_worker **out, vs_err *err)
{
    *out = NULL;
    vs_app_worker *w = calloc(1, sizeof *w);
    if (!w)
        return vs_err_set(err, VS_NOMEM, "worker");
    w->app = app;
    w->q = malloc((size_t)app->dim * sizeof *w->q);
    w->raw = malloc((size_t)app->dim * sizeof *w->raw);
    vs_status st = w->q && w->raw ? VS_OK : vs_err_set(err, VS_NOMEM, "worker");
    if (st == VS_OK)
        st = vs_face_ctx_new(app->models, &w->ctx, err);
    if (st != VS_OK) {
        vs_app_worker_free(w);
        return st;
    }
    *out = w;
    return VS_OK;
}

void vs_app_worker_free(vs_app_worker *w)
{
    if (!w)
        return;
    vs_face_ctx_free(w->ctx);
    free(w->q);
    free(w->raw);
    free(w->ids);
    free(w->hits);
    free(w);
}

vs_status vs_app_face_vector(vs_app_worker *w, const vs_face *f, vs_err *err)
{
    const vs_app *app = w->app;
    if (f->n_emb != app->matcher.n)
        return vs_err_set(err, VS_INTERNAL, "face was not embedded by the matcher's nets");
    int at = 0;
    for (int k = 0; k < f->n_emb; k++) {
        memcpy(w->raw + at, f->emb[k].v, (size_t)f->emb[k].dim * sizeof(float));
        at += f->emb[k].dim;
    }
    vs_app_scale_vector(app, w->raw, w->q);
    return VS_OK;
}

void vs_app_face_row(const vs_app_worker *w, const vs_face *f, int64_t person_id,
                     const char *source, vs_face_row *row)
{
    memset(row, 0, sizeof *row);
    row->person_id = person_id;
    snprintf(row->model, sizeof row->model, "%s", w->app->model);
    row->dim = (uint32_t)w->app->dim;
    row->vector = w->raw;
    row->quality = f->det.score;
    row->box_x = f->det.x0;
    row->box_y = f->det.y0;
    row->box_w = f->det.x1 - f->det.x0;
    row->box_h = f->det.y1 - f->det.y0;
    row->source = (char *)source;
}

vs_status vs_app_estimated_attributes(const char *attrs, const vs_face *const *faces, int n,
                                      char **out, vs_err *err)
{
    *out = NULL;
    double age = 0;
    int n_age = 0, female = 0, n_gender = 0;
    for (int i = 0; i < n; i++) {
        if (!faces[i]->has_attributes)
            continue;
        if (faces[i]->attr.age >= 0) {
            age += faces[i]->attr.age;
            n_age++;
        }
        female += faces[i]->attr.gender == VS_GENDER_FEMALE;
        n_gender++;
    }
    cJSON *j = attrs ? cJSON_Parse(attrs) : cJSON_CreateObject();
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return vs_err_set(err, VS_FORMAT, "attributes: not a JSON object");
    }
    cJSON *estimated = cJSON_CreateArray();
    if (n_age && !cJSON_HasObjectItem(j, "age")) {
        cJSON_AddNumberToObject(j, "age", (double)lround(age / n_age));
        cJSON_AddItemToArray(estimated, cJSON_CreateString("age"));
    }
    if (n_gender && !cJSON_HasObjectItem(j, "gender")) {
        vs_gender g = 2 * female >= n_gender ? VS_GENDER_FEMALE : VS_GENDER_MALE;
        cJSON_AddStringToObject(j, "gender", vs_gender_name(g));
        cJSON_AddItemToArray(estimated, cJSON_CreateString("gender"));
    }
    if (cJSON_GetArraySize(estimated) > 0 && !cJSON_HasObjectItem(j, "estimated"))
        cJSON_AddItemToObject(j, "estimated", estimated);
    else
        cJSON_Delete(estimated);
    *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return *out ? VS_OK : vs_err_set(err, VS_NOMEM, "attributes");
}

vs_status vs_app_index_add(vs_app *app, int64_t face_id, int64_t person_id, const float *scaled,
                           vs_err *err)
{
    pthread_mutex_lock(&app->lock);
    vs_status st = vs_index_add(app->index, face_id, person_id, scaled, err);
    pthread_mutex_unlock(&app->lock);
    return st;
}

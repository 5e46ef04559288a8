/*
 * api_face.c - the photo routes: POST /v1/recognize, /v1/detect, /v1/compare and /v1/verify.
 *
 * Each takes its images either as multipart/form-data (field `file`, or `a` and `b` for
 * compare) or as JSON with base64 images ({"image": "..."} or {"a": "...", "b": "..."}; a
 * data URL is fine).  verify takes either two images (as compare) or one image and a
 * person_id (form field or JSON integer): the largest face against the person's template. recognize
 * also takes top_k (1..10, default 5), record_visit (false), record_unknown (default: record_visit;
 * keeps unknown faces as anonymous visitors) and camera. Unknown fields are refused (400).  A photo
 * that does not decode is 400 invalid_image and changes nothing.
 *
 * The recognize reply, per face: box [x, y, w, h], score, 68 landmarks, quality {good,
 * reasons}, liveness, age, gender, expression, decision (known / possible / unknown),
 * similarity (the fused score of the best candidate, null without one), person (null, or id,
 * name, kind, visits, first_seen, last_seen), new_anonymous, candidates [{person_id, name,
 * score}].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"

#define MAX_TOP_K VS_APP_MAX_CANDIDATES

#define MAX_IMAGES 3

typedef struct face_in {
    const uint8_t *img[MAX_IMAGES];
    size_t n[MAX_IMAGES];
    uint8_t *owned[MAX_IMAGES]; /* base64-decoded images */
    vs_identify_opts opts;
    int64_t person_id; /* verify */
    int record_unknown_set;
    char camera[VS_STORE_NAME_MAX];
} face_in;

static void face_in_free(face_in *in)
{
    for (int i = 0; i < MAX_IMAGES; i++)
        free(in->owned[i]);
}

/* "true"/"false" and friends; -1 when it is neither. */
static int parse_bool(const char *s)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* Sets one recognize option from text (form fields); 1 on success, else replied 400. */
static int set_option(http_req *r, face_in *in, const char *name, const char *v)
{
    if (strcmp(name, "top_k") == 0) {
        char *end;
        long k = strtol(v, &end, 10);
        if (*end || end == v || k < 1 || k > MAX_TOP_K) {
            vs_http_reply_error(r, 400, "bad_request", "top_k: an integer in 1..%d", MAX_TOP_K);
            return 0;
        }
        in->opts.top_k = (int)k;
    } else if (strcmp(name, "camera") == 0) {
        if (strlen(v) >= sizeof in->camera) {
            vs_http_reply_error(r, 400, "bad_request", "camera: at most %d bytes",
                                VS_STORE_NAME_MAX - 1);
            return 0;
        }
        snprintf(in->camera, sizeof in->camera, "%s", v);
        in->opts.camera = in->camera;
    } else if (strcmp(name, "person_id") == 0) {
        char *end;
        long long id = strtoll(v, &end, 10);
        if (*end || end == v || id < 1) {
            vs_http_reply_error(r, 400, "bad_request", "person_id: a positive integer");
            return 0;
        }
        in->person_id = id;
    } else {
        int b = parse_bool(v);
        if (b < 0) {
            vs_http_reply_error(r, 400, "bad_request", "%s: true or false", name);
            return 0;
        }
        if (strcmp(name, "record_visit") == 0) {
            in->opts.record_visit = b;
        } else {
            in->opts.record_unknown = b;
            in->record_unknown_set = 1;
        }
    }
    return 1;
}

/* The options a route takes besides its images. */
typedef struct option_set {
    const char *const *names;
    int n;
} option_set;

static const char *const recognize_names[] = {"top_k", "record_visit", "record_unknown", "camera"};
static const char *const verify_names[] = {"person_id"};
static const option_set no_options = {NULL, 0};
static const option_set recognize_options = {recognize_names, 4};
static const option_set verify_options = {verify_names, 1};

/* The options from JSON values (typed: top_k and person_id integers, record_* booleans,
 * camera a string). */
static int json_options(http_req *r, const cJSON *j, const option_set *os, face_in *in)
{
    for (int i = 0; i < os->n; i++) {
        const char *name = os->names[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
        int is_int = strcmp(name, "top_k") == 0 || strcmp(name, "person_id") == 0;
        int is_bool = strncmp(name, "record_", 7) == 0;
        char buf[32];
        if (!v)
            continue;
        if (is_int && cJSON_IsNumber(v) && v->valuedouble == (double)(int64_t)v->valuedouble)
            snprintf(buf, sizeof buf, "%lld", (long long)v->valuedouble);
        else if (is_bool && cJSON_IsBool(v))
            snprintf(buf, sizeof buf, "%s", cJSON_IsTrue(v) ? "true" : "false");
        else if (!is_int && !is_bool && cJSON_IsString(v)) {
            if (!set_option(r, in, name, v->valuestring))
                return 0;
            continue;
        } else {
            vs_http_reply_error(r, 400, "bad_request", "%s: wrong type", name);
            return 0;
        }
        if (!set_option(r, in, name, buf))
            return 0;
    }
    return 1;
}

static int read_json(http_req *r, const char *const *imgs, int n_img, const option_set *os,
                     face_in *in)
{
    const char *allowed[MAX_IMAGES + 8];
    int na = 0;
    for (int i = 0; i < n_img; i++)
        allowed[na++] = imgs[i];
    for (int i = 0; i < os->n; i++)
        allowed[na++] = os->names[i];
    allowed[na] = NULL;
    cJSON *j = vs_http_json_body(r);
    int ok = j && vs_http_json_fields(r, j, allowed) && json_options(r, j, os, in);
    for (int i = 0; ok && i < n_img; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, imgs[i]);
        if (!v)
            continue;
        if (!cJSON_IsString(v)) {
            vs_http_reply_error(r, 400, "bad_request", "%s: a base64 image is required", imgs[i]);
            ok = 0;
            break;
        }
        vs_err err = {{0}};
        vs_status st = vs_http_base64_decode(v->valuestring, r->srv->cfg.max_body, &in->owned[i],
                                             &in->n[i], &err);
        if (st == VS_FORMAT)
            vs_http_reply_error(r, 400, "invalid_image", "%s: %s", imgs[i], err.msg);
        else if (st != VS_OK)
            vs_http_reply_status(r, st, &err);
        in->img[i] = in->owned[i];
        ok = st == VS_OK;
    }
    cJSON_Delete(j);
    return ok;
}

static int read_form(http_req *r, const char *const *imgs, int n_img, const option_set *os,
                     face_in *in)
{
    http_form *f = malloc(sizeof *f);
    if (!f) {
        vs_http_reply_error(r, 500, "internal", "out of memory");
        return 0;
    }
    int ok = vs_http_form_read(r, f, NULL);
    for (int i = 0; ok && i < f->n; i++) {
        const http_part *p = &f->parts[i];
        int k = -1, opt = -1;
        for (int m = 0; m < n_img; m++)
            if (strcmp(p->name, imgs[m]) == 0)
                k = m;
        for (int o = 0; o < os->n; o++)
            if (strcmp(p->name, os->names[o]) == 0)
                opt = o;
        if (k >= 0 && in->img[k]) {
            vs_http_reply_error(r, 400, "bad_request", "one '%s' image per request", p->name);
            ok = 0;
        } else if (k >= 0) {
            in->img[k] = p->data;
            in->n[k] = p->len;
        } else if (opt < 0) {
            vs_http_reply_error(r, 400, "bad_request", "unknown form field '%s'", p->name);
            ok = 0;
        } else {
            char v[VS_STORE_NAME_MAX + 1];
            size_t n = p->len < sizeof v - 1 ? p->len : sizeof v - 1;
            memcpy(v, p->data, n);
            v[n] = '\0';
            ok = set_option(r, in, p->name, v);
        }
    }
    free(f);
    return ok;
}

/* Reads the images named imgs (the first n_required must be there) and the options of os;
 * 1 on success, else replied. */
static int read_inputs(http_req *r, const char *const *imgs, int n_img, int n_required,
                       const option_set *os, face_in *in)
{
    memset(in, 0, sizeof *in);
    in->opts = vs_identify_opts_default();
    int ok = r->body_kind == BODY_JSON ? read_json(r, imgs, n_img, os, in)
                                       : read_form(r, imgs, n_img, os, in);
    for (int i = 0; ok && i < n_required; i++)
        if (!in->img[i]) {
            vs_http_reply_error(r, 400, "bad_request", "%s '%s' (an image) is required",
                                r->body_kind == BODY_JSON ? "member" : "form field", imgs[i]);
            ok = 0;
        }
    if (ok && !in->record_unknown_set)
        in->opts.record_unknown = in->opts.record_visit;
    in->opts.max_faces = r->srv->cfg.max_faces;
    return ok;
}

/* ---- JSON of a face ----------------------------------------------------------------------- */

static cJSON *face_json(const vs_face *f)
{
    cJSON *j = cJSON_CreateObject();
    const vs_det *d = &f->det;
    cJSON *box = cJSON_AddArrayToObject(j, "box");
    double b[4] = {d->x0, d->y0, d->x1 - d->x0, d->y1 - d->y0};
    for (int i = 0; i < 4; i++)
        cJSON_AddItemToArray(box, vs_http_num(b[i], 0.01));
    cJSON_AddItemToObject(j, "score", vs_http_num(d->score, 1e-4));
    cJSON *lm = cJSON_AddArrayToObject(j, "landmarks");
    for (int i = 0; i < 68; i++) {
        cJSON *pt = cJSON_CreateArray();
        cJSON_AddItemToArray(pt, vs_http_num(f->lm.pt[i][0], 0.01));
        cJSON_AddItemToArray(pt, vs_http_num(f->lm.pt[i][1], 0.01));
        cJSON_AddItemToArray(lm, pt);
    }
    cJSON *q = cJSON_AddObjectToObject(j, "quality");
    cJSON_AddBoolToObject(q, "good", f->quality.good);
    cJSON *reasons = cJSON_AddArrayToObject(q, "reasons");
    for (int r = 0; r < VS_Q_REASON_COUNT; r++)
        if (f->quality.reasons & (1u << r))
            cJSON_AddItemToArray(
                reasons, cJSON_CreateString(vs_quality_reason_name((vs_quality_reason)(1u << r))));
    if (f->liveness >= 0)
        cJSON_AddItemToObject(j, "liveness", vs_http_num(f->liveness, 1e-4));
    else
        cJSON_AddNullToObject(j, "liveness");
    if (f->has_attributes) {
        cJSON_AddItemToObject(j, "age", vs_http_num(f->attr.age, 0.1));
        cJSON_AddStringToObject(j, "gender", vs_gender_name(f->attr.gender));
        cJSON_AddItemToObject(j, "gender_probability", vs_http_num(f->attr.gender_prob, 1e-4));
        cJSON_AddStringToObject(j, "expression", vs_expression_name(f->attr.expression));
    }
    return j;
}

static cJSON *frame_json(const vs_face_result *fr)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "width", fr->width);
    cJSON_AddNumberToObject(j, "height", fr->height);
    cJSON_AddBoolToObject(j, "enhanced", fr->enhanced);
    return j;
}

/* Person names for candidate lists, looked up once per request. */
typedef struct name_cache {
    int64_t id[64];
    char *name[64];
    int n;
} name_cache;

static const char *person_name(vs_store *s, name_cache *c, int64_t id)
{
    for (int i = 0; i < c->n; i++)
        if (c->id[i] == id)
            return c->name[i];
    vs_person p = {0};
    char *name = NULL;
    if (vs_store_person_get(s, id, &p, NULL) == VS_OK && p.name)
        name = strdup(p.name);
    vs_person_clear(&p);
    if (c->n < 64) {
        c->id[c->n] = id;
        c->name[c->n++] = name;
        return name;
    }
    free(name);
    return NULL;
}

static void name_cache_free(name_cache *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->name[i]);
}

/* The short person record of a recognize reply, or JSON null. */
static cJSON *person_brief(vs_app *app, int64_t id)
{
    vs_person p = {0};
    vs_person_stats stats;
    if (!id || vs_store_person_get(vs_app_store(app), id, &p, NULL) != VS_OK)
        return cJSON_CreateNull();
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", (double)id);
    if (p.name)
        cJSON_AddStringToObject(j, "name", p.name);
    else
        cJSON_AddNullToObject(j, "name");
    cJSON_AddStringToObject(j, "kind", vs_person_kind_name(p.kind));
    if (vs_app_person_stats(app, id, &stats, NULL) == VS_OK) {
        cJSON_AddNumberToObject(j, "visits", (double)stats.visits);
        if (stats.first_seen) {
            cJSON_AddNumberToObject(j, "first_seen", (double)stats.first_seen);
            cJSON_AddNumberToObject(j, "last_seen", (double)stats.last_seen);
        } else {
            cJSON_AddNullToObject(j, "first_seen");
            cJSON_AddNullToObject(j, "last_seen");
        }
    }
    vs_person_clear(&p);
    return j;
}

static cJSON *identity_json(vs_app *app, const vs_identity *id, name_cache *names)
{
    cJSON *j = face_json(id->face);
    cJSON_AddStringToObject(j, "decision", vs_band_name(id->band));
    if (id->n_candidates)
        cJSON_AddItemToObject(j, "similarity", vs_http_num(id->candidates[0].score, 1e-4));
    else
        cJSON_AddNullToObject(j, "similarity");
    cJSON_AddItemToObject(j, "person", person_brief(app, id->person_id));
    cJSON_AddBoolToObject(j, "new_anonymous", id->new_anonymous);
    cJSON *c = cJSON_AddArrayToObject(j, "candidates");
    for (int k = 0; k < id->n_candidates; k++) {
        cJSON *e = cJSON_CreateObject();
        const char *name = person_name(vs_app_store(app), names, id->candidates[k].person_id);
        cJSON_AddNumberToObject(e, "person_id", (double)id->candidates[k].person_id);
        if (name)
            cJSON_AddStringToObject(e, "name", name);
        else
            cJSON_AddNullToObject(e, "name");
        cJSON_AddItemToObject(e, "score", vs_http_num(id->candidates[k].score, 1e-4));
        cJSON_AddItemToArray(c, e);
    }
    return j;
}

/* ---- the routes --------------------------------------------------------------------------- */

static const char *const one_image[] = {"file", "image"};

/* Decodes image `slot` of in; 1 on success, else replied. */
static int prepare(http_req *r, face_in *in, int slot, vs_image **img)
{
    *img = vs_http_decode_image(r, in->img[slot], in->n[slot]);
    return *img != NULL;
}

void vs_http_api_recognize(http_req *r)
{
    face_in in;
    vs_image *img = NULL;
    const char *const *imgs = r->body_kind == BODY_JSON ? one_image + 1 : one_image;
    if (!read_inputs(r, imgs, 1, 1, &recognize_options, &in) || !prepare(r, &in, 0, &img)) {
        face_in_free(&in);
        return;
    }
    vs_http_server *s = r->srv;
    vs_app_worker *w = NULL;
    vs_identify_result res;
    vs_err err = {{0}};
    vs_status st = vs_http_worker_get(s, &w, &err);
    if (st == VS_OK)
        st = vs_app_identify(w, img, &in.opts, &res, &err);
    if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
    } else {
        name_cache names = {0};
        cJSON *j = frame_json(&res.faces);
        cJSON *faces = cJSON_AddArrayToObject(j, "faces");
        for (int i = 0; i < res.n; i++) {
            cJSON_AddItemToArray(faces, identity_json(s->app, &res.ids[i], &names));
            atomic_fetch_add(&s->metrics.decisions[res.ids[i].band], 1);
        }
        atomic_fetch_add(&s->metrics.faces, (unsigned long long)res.n);
        name_cache_free(&names);
        vs_http_reply_json(r, 200, j);
    }
    vs_http_worker_put(s, w);
    vs_image_free(img);
    face_in_free(&in);
}

void vs_http_api_detect(http_req *r)
{
    face_in in;
    vs_image *img = NULL;
    const char *const *imgs = r->body_kind == BODY_JSON ? one_image + 1 : one_image;
    if (!read_inputs(r, imgs, 1, 1, &no_options, &in) || !prepare(r, &in, 0, &img)) {
        face_in_free(&in);
        return;
    }
    vs_http_server *s = r->srv;
    vs_app_worker *w = NULL;
    vs_face_result res;
    vs_err err = {{0}};
    vs_face_opts fo = vs_face_opts_default();
    fo.max_faces = s->cfg.max_faces;
    vs_status st = vs_http_worker_get(s, &w, &err);
    if (st == VS_OK)
        st = vs_app_detect(w, img, &fo, &res, &err);
    if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
    } else {
        cJSON *j = frame_json(&res);
        cJSON *faces = cJSON_AddArrayToObject(j, "faces");
        for (int i = 0; i < res.n; i++)
            cJSON_AddItemToArray(faces, face_json(&res.faces[i]));
        atomic_fetch_add(&s->metrics.faces, (unsigned long long)res.n);
        vs_http_reply_json(r, 200, j);
    }
    vs_http_worker_put(s, w);
    vs_image_free(img);
    face_in_free(&in);
}

/* The 1:1 reply of compare and of verify with two images. */
static cJSON *compare_json(const vs_compare_result *res)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "similarity", vs_http_num(res->similarity, 1e-4));
    cJSON_AddItemToObject(j, "threshold", vs_http_num(res->threshold, 1e-4));
    cJSON_AddBoolToObject(j, "same_person", res->same_person);
    cJSON_AddNumberToObject(j, "faces_a", res->faces_a);
    cJSON_AddNumberToObject(j, "faces_b", res->faces_b);
    return j;
}

/* Compares images a and b of in (decoded here); replies. */
static void run_compare(http_req *r, face_in *in)
{
    vs_image *a = NULL, *b = NULL;
    if (!prepare(r, in, 0, &a) || !prepare(r, in, 1, &b)) {
        vs_image_free(a);
        return;
    }
    vs_http_server *s = r->srv;
    vs_app_worker *w = NULL;
    vs_compare_result res;
    vs_err err = {{0}};
    vs_status st = vs_http_worker_get(s, &w, &err);
    if (st == VS_OK)
        st = vs_app_compare(w, a, b, &res, &err);
    if (st != VS_OK)
        vs_http_reply_status(r, st, &err);
    else
        vs_http_reply_json(r, 200, compare_json(&res));
    vs_http_worker_put(s, w);
    vs_image_free(a);
    vs_image_free(b);
}

void vs_http_api_compare(http_req *r)
{
    static const char *const ab[] = {"a", "b"};
    face_in in;
    if (read_inputs(r, ab, 2, 2, &no_options, &in))
        run_compare(r, &in);
    face_in_free(&in);
}

/* Verifies image 2 of in against in->person_id; replies. */
static void run_verify_person(http_req *r, face_in *in)
{
    vs_image *img = NULL;
    if (!prepare(r, in, 2, &img))
        return;
    vs_http_server *s = r->srv;
    vs_app_worker *w = NULL;
    vs_verify_result res;
    vs_err err = {{0}};
    vs_status st = vs_http_worker_get(s, &w, &err);
    if (st == VS_OK)
        st = vs_app_verify_person(w, img, in->person_id, &res, &err);
    if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
    } else {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "similarity", vs_http_num(res.similarity, 1e-4));
        cJSON_AddItemToObject(j, "threshold", vs_http_num(res.threshold, 1e-4));
        cJSON_AddBoolToObject(j, "same_person", res.same_person);
        cJSON_AddNumberToObject(j, "person_id", (double)in->person_id);
        cJSON_AddNumberToObject(j, "face_id", (double)res.face_id);
        cJSON_AddNumberToObject(j, "faces", res.faces);
        vs_http_reply_json(r, 200, j);
    }
    vs_http_worker_put(s, w);
    vs_image_free(img);
}

void vs_http_api_verify(http_req *r)
{
    static const char *const form_imgs[] = {"a", "b", "file"};
    static const char *const json_imgs[] = {"a", "b", "image"};
    const char *const *imgs = r->body_kind == BODY_JSON ? json_imgs : form_imgs;
    face_in in;
    if (read_inputs(r, imgs, 3, 0, &verify_options, &in)) {
        int pair = in.img[0] && in.img[1] && !in.img[2] && !in.person_id;
        int person = in.img[2] && in.person_id && !in.img[0] && !in.img[1];
        if (pair)
            run_compare(r, &in);
        else if (person)
            run_verify_person(r, &in);
        else
            vs_http_reply_error(r, 400, "bad_request",
                                "give two images ('a' and 'b') or one image ('%s') and a "
                                "person_id",
                                imgs[2]);
    }
    face_in_free(&in);
}

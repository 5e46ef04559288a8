/*
 * api_persons.c - the people routes:
 *
 *   POST   /v1/persons              multipart: name (required), description, kind, consent,
 *                                   consent_purpose, one or more `file` photos.  Photos are
 *                                   biometric data: they are refused (400) unless consent is
 *                                   "given".  201 {person, faces_added, refused [{file, reason}],
 *                                   possible_duplicate_of}; 422 no_face when no photo is usable
 *                                   (nothing is written).
 *   GET    /v1/persons              ?name= (substring) &kind= &limit= (1..1000) &after= (id)
 *                                   -> {persons, next_after}
 *   GET    /v1/persons/{id}         the person with faces, visits, first_seen, last_seen
 *   PATCH  /v1/persons/{id}         JSON: name, description, kind, consent, consent_purpose,
 *                                   consent_expires_at, attributes (null clears a field)
 *   DELETE /v1/persons/{id}         erases the person, their faces (store and index) and visits
 *   GET    /v1/persons/{id}/visits  ?limit= &offset= -> {visits, next_offset}, newest first
 *
 * Every change is audited under the API key's name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "http/http_internal.h"

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void add_str_or_null(cJSON *j, const char *name, const char *v)
{
    if (v)
        cJSON_AddStringToObject(j, name, v);
    else
        cJSON_AddNullToObject(j, name);
}

static void add_time_or_null(cJSON *j, const char *name, int64_t v)
{
    if (v)
        cJSON_AddNumberToObject(j, name, (double)v);
    else
        cJSON_AddNullToObject(j, name);
}

cJSON *vs_http_person_json(vs_http_server *s, const vs_person *p)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", (double)p->id);
    add_str_or_null(j, "name", p->name);
    add_str_or_null(j, "description", p->description);
    cJSON_AddStringToObject(j, "kind", vs_person_kind_name(p->kind));
    cJSON *c = cJSON_AddObjectToObject(j, "consent");
    cJSON_AddStringToObject(c, "status", vs_consent_name(p->consent_status));
    add_str_or_null(c, "purpose", p->consent_purpose);
    add_time_or_null(c, "given_at", p->consent_given_at);
    add_time_or_null(c, "expires_at", p->consent_expires_at);
    cJSON *attrs = p->attributes_json ? cJSON_Parse(p->attributes_json) : NULL;
    cJSON_AddItemToObject(j, "attributes", attrs ? attrs : cJSON_CreateNull());
    cJSON_AddNumberToObject(j, "created_at", (double)p->created_at);
    cJSON_AddNumberToObject(j, "updated_at", (double)p->updated_at);
    if (p->merged_into)
        cJSON_AddNumberToObject(j, "merged_into", (double)p->merged_into);
    vs_person_stats st;
    if (vs_app_person_stats(s->app, p->id, &st, NULL) == VS_OK) {
        cJSON_AddNumberToObject(j, "faces", (double)st.faces);
        cJSON_AddNumberToObject(j, "visits", (double)st.visits);
        add_time_or_null(j, "first_seen", st.first_seen);
        add_time_or_null(j, "last_seen", st.last_seen);
    }
    return j;
}

static void audit(http_req *r, const char *action, int64_t id, const char *detail)
{
    char target[32];
    snprintf(target, sizeof target, "person:%lld", (long long)id);
    vs_store_audit_append(vs_app_store(r->srv->app), r->who.name[0] ? r->who.name : "api", action,
                          target, detail, NULL);
}

/* An integer query argument in [lo, hi] (def when absent); 1 on success, else replied. */
static int query_int(http_req *r, const char *name, int64_t lo, int64_t hi, int64_t def,
                     int64_t *out)
{
    const char *v = vs_http_query(r, name);
    *out = def;
    if (!v || !v[0])
        return 1;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*end || x < lo || x > hi) {
        vs_http_reply_error(r, 400, "bad_request", "%s: an integer in %lld..%lld", name,
                            (long long)lo, (long long)hi);
        return 0;
    }
    *out = x;
    return 1;
}

/* Reads person id; 1 on success (p filled, caller clears), else replied (404 ...). */
static int load_person(http_req *r, int64_t id, vs_person *p)
{
    vs_err err = {{0}};
    vs_status st = vs_store_person_get(vs_app_store(r->srv->app), id, p, &err);
    if (st == VS_NOTFOUND)
        vs_http_reply_error(r, 404, "not_found", "person %lld does not exist", (long long)id);
    else if (st != VS_OK)
        vs_http_reply_status(r, st, &err);
    return st == VS_OK;
}

/* ---- create ------------------------------------------------------------------------------- */

typedef struct refusal {
    int file;
    char reason[300];
} refusal;

typedef struct enrol_req {
    http_form form;
    vs_person profile;
    char *text[5]; /* name, description, kind, consent, consent_purpose (owned) */
    const http_part *files[VS_ENROLL_MAX_PHOTOS];
    int n_files;
    vs_image *imgs[VS_ENROLL_MAX_PHOTOS];
    int file_of[VS_ENROLL_MAX_PHOTOS]; /* decoded photo -> file index */
    vs_enroll_photo photos[VS_ENROLL_MAX_PHOTOS];
    int n_photos;
    refusal refused[VS_ENROLL_MAX_PHOTOS];
    int n_refused;
} enrol_req;

static void enrol_req_free(enrol_req *e)
{
    for (int i = 0; i < 5; i++)
        free(e->text[i]);
    for (int i = 0; i < e->n_photos; i++)
        vs_image_free(e->imgs[i]);
    free(e);
}

/* Parses and checks the form into e->profile and e->files; 1 on success, else replied. */
static int enrol_parse(http_req *r, enrol_req *e)
{
    static const char *const fields[] = {
        "name", "description", "kind", "consent", "consent_purpose", "file", NULL};
    vs_err err = {{0}};
    if (vs_http_multipart_parse(r->body, r->len, r->boundary, &e->form, &err) != VS_OK) {
        vs_http_reply_error(r, 400, "bad_request", "%s", err.msg);
        return 0;
    }
    if (!vs_http_form_fields(r, &e->form, fields))
        return 0;
    for (int i = 0; i < 5; i++)
        e->text[i] = vs_http_form_text(&e->form, fields[i]);
    for (int i = 0; i < e->form.n; i++) {
        if (strcmp(e->form.parts[i].name, "file") != 0)
            continue;
        if (e->n_files == VS_ENROLL_MAX_PHOTOS) {
            vs_http_reply_error(r, 400, "bad_request", "at most %d photos per request",
                                VS_ENROLL_MAX_PHOTOS);
            return 0;
        }
        e->files[e->n_files++] = &e->form.parts[i];
    }
    vs_person *p = &e->profile;
    p->name = e->text[0];
    p->description = e->text[1];
    p->kind = e->text[2] ? vs_person_kind_parse(e->text[2]) : VS_PERSON_CUSTOMER;
    p->consent_status = e->text[3] ? vs_consent_parse(e->text[3]) : VS_CONSENT_NONE;
    p->consent_purpose = e->text[4];
    if (p->consent_status == VS_CONSENT_GIVEN)
        p->consent_given_at = now_ms();
    const char *bad = !p->name || !p->name[0]                ? "name is required"
                      : strlen(p->name) >= VS_STORE_NAME_MAX ? "name is too long"
                      : !p->kind                             ? "kind: customer, staff or anonymous"
                      : !p->consent_status ? "consent: given, refused, withdrawn or none"
                      : e->n_files && p->consent_status != VS_CONSENT_GIVEN
                          ? "consent \"given\" is required to enrol photos (biometric data)"
                          : NULL;
    if (bad) {
        vs_http_reply_error(r, 400, "bad_request", "%s", bad);
        return 0;
    }
    return 1;
}

static void refuse(enrol_req *e, int file, const char *reason)
{
    refusal *f = &e->refused[e->n_refused++];
    f->file = file;
    snprintf(f->reason, sizeof f->reason, "%s", reason);
}

/* Decodes every photo; those that do not decode are refused. */
static void enrol_decode(http_req *r, enrol_req *e)
{
    vs_img_limits lim = {.max_bytes = r->srv->cfg.max_body, .max_pixels = r->srv->cfg.max_pixels};
    for (int i = 0; i < e->n_files; i++) {
        vs_err err = {{0}};
        vs_image *img = NULL;
        if (vs_img_decode(e->files[i]->data, e->files[i]->len, &lim, &img, &err) != VS_OK) {
            char why[300];
            snprintf(why, sizeof why, "invalid image: %s", err.msg);
            refuse(e, i, why);
            continue;
        }
        e->imgs[e->n_photos] = img;
        e->file_of[e->n_photos] = i;
        e->photos[e->n_photos] = (vs_enroll_photo){img, "upload"};
        e->n_photos++;
    }
}

static int cmp_refusal(const void *a, const void *b)
{
    return ((const refusal *)a)->file - ((const refusal *)b)->file;
}

static cJSON *refused_json(enrol_req *e)
{
    qsort(e->refused, (size_t)e->n_refused, sizeof e->refused[0], cmp_refusal);
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < e->n_refused; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "file", e->refused[i].file);
        cJSON_AddStringToObject(o, "reason", e->refused[i].reason);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

/* Creates the person (and enrols the photos); *pid = 0 when nothing was written. */
static vs_status enrol_commit(http_req *r, enrol_req *e, vs_enroll_result *res, vs_err *err)
{
    memset(res, 0, sizeof *res);
    if (e->n_files == 0)
        return vs_store_person_create(vs_app_store(r->srv->app), &e->profile, &res->person_id, err);
    if (e->n_photos == 0)
        return VS_OK;
    vs_app_worker *w = NULL;
    vs_status st = vs_http_worker_get(r->srv, &w, err);
    if (st == VS_OK)
        st = vs_app_enroll(w, &e->profile, 0, e->photos, e->n_photos, res, err);
    vs_http_worker_put(r->srv, w);
    for (int i = 0; st == VS_OK && i < res->n_refused; i++)
        refuse(e, e->file_of[res->refused[i].photo], res->refused[i].reason);
    return st;
}

void vs_http_api_person_create(http_req *r)
{
    enrol_req *e = calloc(1, sizeof *e);
    if (!e) {
        vs_http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    vs_enroll_result res;
    vs_err err = {{0}};
    if (!enrol_parse(r, e)) {
        enrol_req_free(e);
        return;
    }
    enrol_decode(r, e);
    vs_status st = enrol_commit(r, e, &res, &err);
    vs_person p = {0};
    if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
    } else if (!res.person_id) {
        int undecodable = e->n_photos == 0;
        vs_http_reply_error_with(
            r, undecodable ? 400 : 422, undecodable ? "invalid_image" : "no_face",
            "no photo could be enrolled; nothing was written", "refused", refused_json(e));
    } else if (load_person(r, res.person_id, &p)) {
        audit(r, "person.create", res.person_id, NULL);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "person", vs_http_person_json(r->srv, &p));
        cJSON_AddNumberToObject(j, "faces_added", res.n_added);
        cJSON_AddItemToObject(j, "refused", refused_json(e));
        if (res.duplicate_of)
            cJSON_AddNumberToObject(j, "possible_duplicate_of", (double)res.duplicate_of);
        else
            cJSON_AddNullToObject(j, "possible_duplicate_of");
        vs_http_reply_json(r, 201, j);
    }
    vs_person_clear(&p);
    enrol_req_free(e);
}

/* ---- read --------------------------------------------------------------------------------- */

void vs_http_api_person_list(http_req *r)
{
    vs_person_filter f = {0};
    int64_t limit, after;
    const char *kind = vs_http_query(r, "kind");
    f.name_contains = vs_http_query(r, "name");
    if (f.name_contains && !f.name_contains[0])
        f.name_contains = NULL;
    if (!query_int(r, "limit", 1, VS_STORE_LIST_MAX, 50, &limit) ||
        !query_int(r, "after", 0, INT64_MAX, 0, &after))
        return;
    if (kind && kind[0] && !(f.kind = vs_person_kind_parse(kind))) {
        vs_http_reply_error(r, 400, "bad_request", "kind: customer, anonymous or staff");
        return;
    }
    f.limit = (size_t)limit;
    f.after_id = after;
    vs_person_list l = {0};
    vs_err err = {{0}};
    vs_status st = vs_store_person_list(vs_app_store(r->srv->app), &f, &l, &err);
    if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(j, "persons");
    for (size_t i = 0; i < l.n; i++)
        cJSON_AddItemToArray(arr, vs_http_person_json(r->srv, &l.items[i]));
    add_time_or_null(j, "next_after", l.next_after_id);
    vs_person_list_free(&l);
    vs_http_reply_json(r, 200, j);
}

void vs_http_api_person_get(http_req *r)
{
    vs_person p = {0};
    if (load_person(r, r->ids[0], &p))
        vs_http_reply_json(r, 200, vs_http_person_json(r->srv, &p));
    vs_person_clear(&p);
}

void vs_http_api_person_visits(http_req *r)
{
    vs_person p = {0};
    int64_t limit, offset;
    if (!query_int(r, "limit", 1, VS_STORE_LIST_MAX, 100, &limit) ||
        !query_int(r, "offset", 0, INT32_MAX, 0, &offset) || !load_person(r, r->ids[0], &p))
        return;
    vs_person_clear(&p);
    vs_visit_list l = {0};
    vs_err err = {{0}};
    vs_status st = vs_store_visit_list(vs_app_store(r->srv->app), r->ids[0], (size_t)limit + 1,
                                       (size_t)offset, &l, &err);
    if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(j, "visits");
    for (size_t i = 0; i < l.n && i < (size_t)limit; i++) {
        const vs_visit *v = &l.items[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)v->id);
        cJSON_AddNumberToObject(o, "at", (double)v->at);
        add_str_or_null(o, "camera", v->camera);
        add_time_or_null(o, "face_id", v->face_id);
        cJSON_AddItemToObject(o, "score", vs_http_num(v->score, 1e-4));
        cJSON_AddItemToArray(arr, o);
    }
    add_time_or_null(j, "next_offset", l.n > (size_t)limit ? offset + limit : 0);
    vs_visit_list_free(&l);
    vs_http_reply_json(r, 200, j);
}

/* ---- update and delete -------------------------------------------------------------------- */

/* Replaces *slot with a copy of a string member (NULL for JSON null); 1 on success. */
static int patch_string(http_req *r, const cJSON *v, const char *name, char **slot)
{
    if (!cJSON_IsString(v) && !cJSON_IsNull(v)) {
        vs_http_reply_error(r, 400, "bad_request", "%s: a string or null", name);
        return 0;
    }
    char *copy = cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
    if (cJSON_IsString(v) && !copy) {
        vs_http_reply_error(r, 500, "internal", "out of memory");
        return 0;
    }
    free(*slot);
    *slot = copy;
    return 1;
}

/* Applies one PATCH member to p; 1 on success, else replied. */
static int patch_field(http_req *r, const cJSON *v, vs_person *p)
{
    const char *n = v->string;
    if (strcmp(n, "name") == 0)
        return patch_string(r, v, n, &p->name);
    if (strcmp(n, "description") == 0)
        return patch_string(r, v, n, &p->description);
    if (strcmp(n, "consent_purpose") == 0)
        return patch_string(r, v, n, &p->consent_purpose);
    if (strcmp(n, "attributes") == 0) {
        if (!cJSON_IsObject(v) && !cJSON_IsNull(v)) {
            vs_http_reply_error(r, 400, "bad_request", "attributes: an object or null");
            return 0;
        }
        free(p->attributes_json);
        p->attributes_json = cJSON_IsObject(v) ? cJSON_PrintUnformatted(v) : NULL;
        return 1;
    }
    if (strcmp(n, "consent_expires_at") == 0) {
        if (!cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble >= 0)) {
            vs_http_reply_error(r, 400, "bad_request", "consent_expires_at: ms or null");
            return 0;
        }
        p->consent_expires_at = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
        return 1;
    }
    /* kind, consent: words */
    int is_kind = strcmp(n, "kind") == 0;
    int val = !cJSON_IsString(v) ? 0
              : is_kind          ? (int)vs_person_kind_parse(v->valuestring)
                                 : (int)vs_consent_parse(v->valuestring);
    if (!val) {
        vs_http_reply_error(r, 400, "bad_request", "%s",
                            is_kind ? "kind: customer, anonymous or staff"
                                    : "consent: given, refused, withdrawn or none");
        return 0;
    }
    if (is_kind) {
        p->kind = (vs_person_kind)val;
    } else {
        if (val == VS_CONSENT_GIVEN && p->consent_status != VS_CONSENT_GIVEN)
            p->consent_given_at = now_ms();
        p->consent_status = (vs_consent_status)val;
    }
    return 1;
}

void vs_http_api_person_patch(http_req *r)
{
    static const char *const fields[] = {
        "name",       "description", "kind", "consent", "consent_purpose", "consent_expires_at",
        "attributes", NULL};
    vs_person p = {0};
    cJSON *j = vs_http_json_body(r);
    int ok = j && vs_http_json_fields(r, j, fields) && load_person(r, r->ids[0], &p);
    for (const cJSON *v = ok ? j->child : NULL; v && ok; v = v->next)
        ok = patch_field(r, v, &p);
    if (ok) {
        vs_err err = {{0}};
        vs_status st = vs_store_person_update(vs_app_store(r->srv->app), &p, &err);
        vs_person_clear(&p);
        if (st != VS_OK) {
            vs_http_reply_status(r, st, &err);
        } else if (load_person(r, r->ids[0], &p)) {
            audit(r, "person.update", p.id, NULL);
            vs_http_reply_json(r, 200, vs_http_person_json(r->srv, &p));
        }
    }
    vs_person_clear(&p);
    cJSON_Delete(j);
}

void vs_http_api_person_delete(http_req *r)
{
    int64_t faces = 0;
    vs_err err = {{0}};
    vs_status st = vs_app_person_delete(r->srv->app, r->ids[0], &faces, &err);
    if (st == VS_NOTFOUND) {
        vs_http_reply_error(r, 404, "not_found", "person %lld does not exist",
                            (long long)r->ids[0]);
        return;
    }
    if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
        return;
    }
    char detail[64];
    snprintf(detail, sizeof detail, "%lld faces removed", (long long)faces);
    audit(r, "person.delete", r->ids[0], detail);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", (double)r->ids[0]);
    cJSON_AddBoolToObject(j, "deleted", 1);
    cJSON_AddNumberToObject(j, "faces_removed", (double)faces);
    vs_http_reply_json(r, 200, j);
}

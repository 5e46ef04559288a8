/*
 * api_persons.c - the people routes:
 *
 *   POST   /v1/persons              multipart: name (required), description, kind, consent,
 *                                   consent_purpose, one or more `file` photos.  Photos are
 *                                   biometric data: they are refused (400) unless consent is
 *                                   "given".  201 {person, faces_added, refused [{file, reason}],
 *                                   possible_duplicate_of}; 422 no_face when no photo is usable
 *                                   (nothing is written).
 *   GET    /v1/persons              ?name= (substring) &kind= &gender= &age_min= &age_max=
 *                                   (on attributes.age, inclusive) &tag= (in attributes.tags)
 *                                   &created_from= &created_to= (ms, [from, to)) &limit=
 *                                   (1..1000) &after= (id) -> {persons, next_after}
 *   GET    /v1/persons/{id}         the person with faces, visits, first_seen, last_seen
 *   PATCH  /v1/persons/{id}         JSON: name, description, kind, consent, consent_purpose,
 *                                   consent_expires_at, attributes (null clears a field)
 *   DELETE /v1/persons/{id}         erases the person, their faces (store and index) and visits
 *   GET    /v1/persons/{id}/visits  ?limit= &offset= -> {visits, next_offset}, newest first
 *   GET    /v1/persons/{id}/faces   {faces: [{id, person_id, quality, box, source, created_at}]}
 *   POST   /v1/persons/{id}/faces   multipart `file` photos added to the person's template
 *                                   (consent must be given: else 409 consent_required) ->
 *                                   201 {person_id, faces_added, face_ids, refused,
 *                                   possible_duplicate_of}; 422 no_face when none is usable
 *   PUT    /v1/persons/{id}/faces/{face_id}     one `file`: the face gets the photo's face
 *   DELETE /v1/persons/{id}/faces/{face_id}     removes one face (store, then index)
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

/* Parses the form into e->form and its `file` parts into e->files (every field must be in
 * allowed); 1 on success, else replied. */
static int enrol_files(http_req *r, enrol_req *e, const char *const *allowed)
{
    if (!vs_http_form_read(r, &e->form, allowed))
        return 0;
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
    return 1;
}

/* Parses and checks the form into e->profile and e->files; 1 on success, else replied. */
static int enrol_parse(http_req *r, enrol_req *e)
{
    static const char *const fields[] = {
        "name", "description", "kind", "consent", "consent_purpose", "file", NULL};
    if (!enrol_files(r, e, fields))
        return 0;
    for (int i = 0; i < 5; i++)
        e->text[i] = vs_http_form_text(&e->form, fields[i]);
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
        int consent = strncmp(bad, "consent \"given\"", 15) == 0;
        vs_http_reply_error(r, 400, consent ? "consent_required" : "bad_request", "%s", bad);
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

/* The reply when no photo could be enrolled: 400 when none decoded, else 422 no_face; the
 * reasons per file in error.refused. */
static void reply_refused(http_req *r, enrol_req *e)
{
    int undecodable = e->n_photos == 0;
    vs_http_reply_error_with(r, undecodable ? 400 : 422, undecodable ? "invalid_image" : "no_face",
                             "no photo could be enrolled; nothing was written", "refused",
                             refused_json(e));
}

/* Creates the person (into == 0) or adds to person into, enrolling the photos;
 * res->person_id = 0 when nothing was written. */
static vs_status enrol_commit(http_req *r, enrol_req *e, int64_t into, vs_enroll_result *res,
                              vs_err *err)
{
    memset(res, 0, sizeof *res);
    if (e->n_files == 0 && !into)
        return vs_store_person_create(vs_app_store(r->srv->app), &e->profile, &res->person_id, err);
    if (e->n_photos == 0)
        return VS_OK;
    vs_app_worker *w = NULL;
    vs_status st = vs_http_worker_get(r->srv, &w, err);
    if (st == VS_OK)
        st = vs_app_enroll(w, into ? NULL : &e->profile, into, e->photos, e->n_photos, res, err);
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
    vs_status st = enrol_commit(r, e, 0, &res, &err);
    vs_person p = {0};
    if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
    } else if (!res.person_id) {
        reply_refused(r, e);
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

/* A non-empty query text argument, or NULL. */
static const char *query_text(http_req *r, const char *name)
{
    const char *v = vs_http_query(r, name);
    return v && v[0] ? v : NULL;
}

void vs_http_api_person_list(http_req *r)
{
    vs_person_filter f = {0};
    int64_t limit, after, age_min, age_max, from, to;
    const char *kind = query_text(r, "kind");
    f.name_contains = query_text(r, "name");
    f.gender = query_text(r, "gender");
    f.tag = query_text(r, "tag");
    if (!query_int(r, "limit", 1, VS_STORE_LIST_MAX, 50, &limit) ||
        !query_int(r, "after", 0, INT64_MAX, 0, &after) ||
        !query_int(r, "age_min", 0, 150, 0, &age_min) ||
        !query_int(r, "age_max", 0, 150, 0, &age_max) ||
        !query_int(r, "created_from", 0, INT64_MAX, 0, &from) ||
        !query_int(r, "created_to", 0, INT64_MAX, 0, &to))
        return;
    if (kind && !(f.kind = vs_person_kind_parse(kind))) {
        vs_http_reply_error(r, 400, "bad_request", "kind: customer, anonymous or staff");
        return;
    }
    if (f.gender && strcmp(f.gender, "female") != 0 && strcmp(f.gender, "male") != 0) {
        vs_http_reply_error(r, 400, "bad_request", "gender: female or male");
        return;
    }
    f.age_min = (int)age_min;
    f.age_max = (int)age_max;
    f.created_from = from;
    f.created_to = to;
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

/* ---- a person's faces --------------------------------------------------------------------- */

static cJSON *face_row_json(const vs_face_row *f)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", (double)f->id);
    cJSON_AddNumberToObject(j, "person_id", (double)f->person_id);
    cJSON_AddItemToObject(j, "quality", vs_http_num(f->quality, 1e-4));
    cJSON *box = cJSON_AddArrayToObject(j, "box"); /* [x, y, w, h] as in recognize */
    double b[4] = {f->box_x, f->box_y, f->box_w, f->box_h};
    for (int i = 0; i < 4; i++)
        cJSON_AddItemToArray(box, vs_http_num(b[i], 0.01));
    add_str_or_null(j, "source", f->source);
    cJSON_AddNumberToObject(j, "created_at", (double)f->created_at);
    return j;
}

/* The faces of person id into *l (caller frees); 1 on success, else replied (404 ...). */
static int load_faces(http_req *r, int64_t id, vs_face_list *l)
{
    vs_person p = {0};
    if (!load_person(r, id, &p))
        return 0;
    vs_person_clear(&p);
    vs_err err = {{0}};
    vs_status st = vs_store_face_list(vs_app_store(r->srv->app), id, l, &err);
    if (st != VS_OK)
        vs_http_reply_status(r, st, &err);
    return st == VS_OK;
}

/* The face face_id of the list, or NULL after a 404 reply. */
static const vs_face_row *find_face(http_req *r, const vs_face_list *l, int64_t face_id)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].id == face_id)
            return &l->items[i];
    vs_http_reply_error(r, 404, "not_found", "person %lld has no face %lld", (long long)r->ids[0],
                        (long long)face_id);
    return NULL;
}

/* 1 when person id may have biometric data stored (consent given and not expired), else
 * replied (404, 409 consent_required). */
int vs_http_consent_given(http_req *r, int64_t id)
{
    vs_person p = {0};
    if (!load_person(r, id, &p))
        return 0;
    int ok = p.consent_status == VS_CONSENT_GIVEN &&
             (!p.consent_expires_at || p.consent_expires_at > now_ms());
    vs_person_clear(&p);
    if (!ok)
        vs_http_reply_error(r, 409, "consent_required",
                            "person %lld has no valid consent (\"given\", not expired) for "
                            "biometric data: set it first (PATCH /v1/persons/%lld)",
                            (long long)id, (long long)id);
    return ok;
}

void vs_http_api_person_faces(http_req *r)
{
    vs_face_list l = {0};
    if (!load_faces(r, r->ids[0], &l))
        return;
    cJSON *j = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(j, "faces");
    for (size_t i = 0; i < l.n; i++)
        cJSON_AddItemToArray(arr, face_row_json(&l.items[i]));
    vs_face_list_free(&l);
    vs_http_reply_json(r, 200, j);
}

void vs_http_api_face_add(http_req *r)
{
    static const char *const fields[] = {"file", NULL};
    enrol_req *e = calloc(1, sizeof *e);
    if (!e) {
        vs_http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    int64_t pid = r->ids[0];
    int ok = enrol_files(r, e, fields);
    if (ok && !e->n_files) {
        vs_http_reply_error(r, 400, "bad_request", "form field 'file' (a photo) is required");
        ok = 0;
    }
    if (ok && vs_http_consent_given(r, pid)) {
        vs_enroll_result res;
        vs_err err = {{0}};
        enrol_decode(r, e);
        vs_status st = enrol_commit(r, e, pid, &res, &err);
        if (st != VS_OK) {
            vs_http_reply_status(r, st, &err);
        } else if (!res.person_id) {
            reply_refused(r, e);
        } else {
            char detail[64];
            snprintf(detail, sizeof detail, "%d faces added", res.n_added);
            audit(r, "face.add", pid, detail);
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "person_id", (double)pid);
            cJSON_AddNumberToObject(j, "faces_added", res.n_added);
            cJSON *ids = cJSON_AddArrayToObject(j, "face_ids");
            for (int i = 0; i < res.n_added; i++)
                cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)res.face_ids[i]));
            cJSON_AddItemToObject(j, "refused", refused_json(e));
            if (res.duplicate_of && res.duplicate_of != pid)
                cJSON_AddNumberToObject(j, "possible_duplicate_of", (double)res.duplicate_of);
            else
                cJSON_AddNullToObject(j, "possible_duplicate_of");
            vs_http_reply_json(r, 201, j);
        }
    }
    enrol_req_free(e);
}

void vs_http_api_face_replace(http_req *r)
{
    static const char *const fields[] = {"file", NULL};
    int64_t pid = r->ids[0], fid = r->ids[1];
    enrol_req *e = calloc(1, sizeof *e);
    vs_face_list l = {0};
    if (!e) {
        vs_http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    int ok = enrol_files(r, e, fields);
    if (ok && e->n_files != 1) {
        vs_http_reply_error(r, 400, "bad_request", "exactly one 'file' (a photo) is required");
        ok = 0;
    }
    ok = ok && load_faces(r, pid, &l) && find_face(r, &l, fid) && vs_http_consent_given(r, pid);
    vs_face_list_free(&l);
    vs_image *img = ok ? vs_http_decode_image(r, e->files[0]->data, e->files[0]->len) : NULL;
    if (img) {
        vs_err err = {{0}};
        vs_app_worker *w = NULL;
        vs_enroll_photo photo = {img, "upload"};
        vs_status st = vs_http_worker_get(r->srv, &w, &err);
        if (st == VS_OK)
            st = vs_app_face_replace(w, pid, fid, &photo, &err);
        vs_http_worker_put(r->srv, w);
        if (st == VS_OK)
            st = vs_store_face_list(vs_app_store(r->srv->app), pid, &l, &err);
        const vs_face_row *f = NULL;
        for (size_t i = 0; st == VS_OK && i < l.n; i++)
            if (l.items[i].id == fid)
                f = &l.items[i];
        if (st != VS_OK) {
            vs_http_reply_status(r, st, &err);
        } else if (!f) {
            vs_http_reply_error(r, 404, "not_found", "face %lld is gone", (long long)fid);
        } else {
            char detail[64];
            snprintf(detail, sizeof detail, "face %lld replaced", (long long)fid);
            audit(r, "face.replace", pid, detail);
            cJSON *j = cJSON_CreateObject();
            cJSON_AddItemToObject(j, "face", face_row_json(f));
            vs_http_reply_json(r, 200, j);
        }
        vs_face_list_free(&l);
        vs_image_free(img);
    }
    enrol_req_free(e);
}

void vs_http_api_face_delete(http_req *r)
{
    int64_t pid = r->ids[0], fid = r->ids[1];
    vs_face_list l = {0};
    int ok = load_faces(r, pid, &l) && find_face(r, &l, fid);
    vs_face_list_free(&l);
    if (!ok)
        return;
    vs_err err = {{0}};
    vs_status st = vs_app_face_delete(r->srv->app, fid, &err);
    if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
        return;
    }
    char detail[64];
    snprintf(detail, sizeof detail, "face %lld deleted", (long long)fid);
    audit(r, "face.delete", pid, detail);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", (double)fid);
    cJSON_AddBoolToObject(j, "deleted", 1);
    vs_http_reply_json(r, 200, j);
}

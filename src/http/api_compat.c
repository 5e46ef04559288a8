/*
 * api_compat.c - routes for clients written against other products, each mapped onto the same
 * service as /v1 (same keys, roles, limits and error shape {"error": {"code", "message"}}).
 *
 * FaceAnalytics style (multipart field `file`, replies {name, description, confidence}):
 *   POST /face_recognize     the largest face of the photo: a KNOWN person's name and
 *                            description, confidence = the fused similarity; anyone else is
 *                            {"name": "New User", "description": "Please enter a description
 *                            for the user", "confidence": 0.5}.  person_id is added (null for
 *                            a new user).  Nothing is recorded.
 *   POST /add_new_person     fields file, description, optional name and consent: a face that
 *                            is already KNOWN answers with that person; else a customer is
 *                            enrolled ("User <id>" when no name is given).
 *
 * Pinecone face-matcher style (the id is the person's name; the file name's stem on add):
 *   POST   /ValidateImage?top_k=N      [{id, score, message}] for the largest face, best first
 *   POST   /AddImageToIndex            file: a new person named after the file, or one more
 *                                      face of the person of that name (whose own consent
 *                                      must be given: else 409 consent_required)
 *   DELETE /DeleteImageFromIndex?user_id=X   erases person X (store and index)
 *   POST   /ReplaceImage?user_id=X     file: person X's faces become the photo's face
 * Their clients send the key as "access_token: KEY" (server.c accepts it).
 *
 * Consent.  Enrolling stores biometric data, so the routes that enrol need consent: either the
 * request says consent=given (a form field), or the operator started the server with
 * --compat-consent PURPOSE, declaring that the clients of these routes collect consent for
 * PURPOSE; without either they answer 400 consent_required and write nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "http/http_internal.h"

typedef struct compat_in {
    http_form form;
    const http_part *file;
    vs_image *img;
} compat_in;

/* Parses the form (fields in allowed, one `file`) and decodes the photo; 1 on success, else
 * replied. */
static int read_photo(http_req *r, compat_in *in, const char *const *allowed)
{
    if (!vs_http_form_read(r, &in->form, allowed))
        return 0;
    int n = 0;
    for (int i = 0; i < in->form.n; i++)
        n += strcmp(in->form.parts[i].name, "file") == 0;
    in->file = vs_http_form_get(&in->form, "file");
    if (n != 1) {
        vs_http_reply_error(r, 400, "bad_request", "exactly one form field 'file' (a photo)");
        return 0;
    }
    in->img = vs_http_decode_image(r, in->file->data, in->file->len);
    return in->img != NULL;
}

/* The identity of the largest face of img; VS_NOFACE when there is none. */
static vs_status identify_largest(vs_app_worker *w, const vs_image *img, int top_k,
                                  const vs_identity **id, vs_err *err)
{
    vs_identify_opts o = vs_identify_opts_default();
    o.top_k = top_k;
    o.record_unknown = 0;
    o.record_visit = 0;
    vs_identify_result res;
    *id = NULL;
    vs_status st = vs_app_identify(w, img, &o, &res, err);
    float best = -1;
    for (int i = 0; st == VS_OK && i < res.n; i++) {
        const vs_det *d = &res.ids[i].face->det;
        float area = (d->x1 - d->x0) * (d->y1 - d->y0);
        if (area > best) {
            best = area;
            *id = &res.ids[i];
        }
    }
    if (st == VS_OK && !*id)
        st = vs_err_set(err, VS_NOFACE, "no face detected");
    return st;
}

/* {name, description, confidence, person_id} of person pid (FaceAnalytics' reply). */
static cJSON *person_reply(http_req *r, int64_t pid, double confidence)
{
    vs_person p = {0};
    cJSON *j = cJSON_CreateObject();
    char name[48];
    vs_store_person_get(vs_app_store(r->srv->app), pid, &p, NULL);
    snprintf(name, sizeof name, "User %lld", (long long)pid);
    cJSON_AddStringToObject(j, "name", p.name ? p.name : name);
    cJSON_AddStringToObject(j, "description", p.description ? p.description : "No description");
    cJSON_AddItemToObject(j, "confidence", vs_http_num(confidence, 1e-4));
    cJSON_AddNumberToObject(j, "person_id", (double)pid);
    vs_person_clear(&p);
    return j;
}

static cJSON *new_user_reply(void)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", "New User");
    cJSON_AddStringToObject(j, "description", "Please enter a description for the user");
    cJSON_AddNumberToObject(j, "confidence", 0.5);
    cJSON_AddNullToObject(j, "person_id");
    return j;
}

static void audit(http_req *r, const char *action, int64_t id, const char *detail)
{
    char target[32];
    snprintf(target, sizeof target, "person:%lld", (long long)id);
    vs_store_audit_append(vs_app_store(r->srv->app), r->who.name[0] ? r->who.name : "api", action,
                          target, detail, NULL);
}

/* The consent purpose that allows enrolling here (the request's consent=given or the server's
 * declaration), or NULL after a 400 consent_required reply. */
static const char *consent_purpose(http_req *r, const http_form *f)
{
    char *c = vs_http_form_text(f, "consent");
    int given = c && strcmp(c, "given") == 0;
    free(c);
    if (given)
        return "compat";
    if (r->srv->cfg.compat_consent)
        return r->srv->cfg.compat_consent;
    vs_http_reply_error(r, 400, "consent_required",
                        "enrolling stores biometric data: send consent=given (or start the "
                        "server with --compat-consent PURPOSE)");
    return NULL;
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Enrols img as a new customer (name may be NULL: "User <id>") or into person `into`; returns
 * the person id, or 0 after a reply (422 with the reason when the photo is refused). */
static int64_t enrol_one(http_req *r, vs_app_worker *w, const vs_image *img, int64_t into,
                         const char *name, const char *description, const char *purpose)
{
    vs_person p = {0};
    p.kind = VS_PERSON_CUSTOMER;
    p.name = (char *)name;
    p.description = (char *)description;
    p.consent_status = VS_CONSENT_GIVEN;
    p.consent_purpose = (char *)purpose;
    p.consent_given_at = now_ms();
    vs_enroll_photo photo = {img, "upload"};
    vs_enroll_result res;
    vs_err err = {{0}};
    vs_status st = vs_app_enroll(w, into ? NULL : &p, into, &photo, 1, &res, &err);
    if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
        return 0;
    }
    if (!res.person_id) {
        vs_http_reply_error(r, 422, "no_face", "the photo cannot be enrolled: %s",
                            res.n_refused ? res.refused[0].reason : "no face");
        return 0;
    }
    if (!into && !name) {
        char auto_name[48];
        snprintf(auto_name, sizeof auto_name, "User %lld", (long long)res.person_id);
        vs_app_name_visitor(r->srv->app, res.person_id, auto_name, NULL);
    }
    audit(r, into ? "face.add" : "person.create", res.person_id, "compat");
    return res.person_id;
}

/* Runs body with a worker and a decoded photo; the photo routes share this frame. */
typedef void (*photo_fn)(http_req *r, vs_app_worker *w, compat_in *in);

static void with_photo(http_req *r, const char *const *allowed, photo_fn body)
{
    compat_in *in = calloc(1, sizeof *in);
    if (!in) {
        vs_http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    if (read_photo(r, in, allowed)) {
        vs_app_worker *w = NULL;
        vs_err err = {{0}};
        vs_status st = vs_http_worker_get(r->srv, &w, &err);
        if (st != VS_OK)
            vs_http_reply_status(r, st, &err);
        else
            body(r, w, in);
        vs_http_worker_put(r->srv, w);
    }
    vs_image_free(in->img);
    free(in);
}

/* ---- FaceAnalytics ------------------------------------------------------------------------ */

static void face_recognize(http_req *r, vs_app_worker *w, compat_in *in)
{
    const vs_identity *id;
    vs_err err = {{0}};
    vs_status st = identify_largest(w, in->img, 1, &id, &err);
    if (st != VS_OK)
        vs_http_reply_status(r, st, &err);
    else if (id->band == VS_BAND_KNOWN)
        vs_http_reply_json(r, 200, person_reply(r, id->person_id, id->score));
    else
        vs_http_reply_json(r, 200, new_user_reply());
}

void vs_http_compat_face_recognize(http_req *r)
{
    static const char *const fields[] = {"file", NULL};
    with_photo(r, fields, face_recognize);
}

static void add_new_person(http_req *r, vs_app_worker *w, compat_in *in)
{
    const vs_identity *id;
    vs_err err = {{0}};
    vs_status st = identify_largest(w, in->img, 1, &id, &err);
    if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
        return;
    }
    if (id->band == VS_BAND_KNOWN) {
        vs_http_reply_json(r, 200, person_reply(r, id->person_id, id->score));
        return;
    }
    const char *purpose = consent_purpose(r, &in->form);
    char *name = vs_http_form_text(&in->form, "name");
    char *description = vs_http_form_text(&in->form, "description");
    int64_t pid = 0;
    if (purpose && name && (!name[0] || strlen(name) >= VS_STORE_NAME_MAX))
        vs_http_reply_error(r, 400, "bad_request", "name: 1 to %d bytes", VS_STORE_NAME_MAX - 1);
    else if (purpose)
        pid = enrol_one(r, w, in->img, 0, name, description, purpose);
    if (pid) {
        cJSON *j = person_reply(r, pid, 0.5);
        if (!name)
            cJSON_ReplaceItemInObject(j, "name", cJSON_CreateString("New User"));
        vs_http_reply_json(r, 200, j);
    }
    free(name);
    free(description);
}

void vs_http_compat_add_new_person(http_req *r)
{
    static const char *const fields[] = {"file", "description", "name", "consent", NULL};
    with_photo(r, fields, add_new_person);
}

/* ---- Pinecone face matcher ---------------------------------------------------------------- */

/* The one live person called name: its id, or 0 after a reply (404, or 409 when ambiguous). */
static int64_t person_by_name(http_req *r, const char *name)
{
    vs_person_filter f = {.name_contains = name, .limit = VS_STORE_LIST_MAX};
    vs_person_list l = {0};
    vs_err err = {{0}};
    int64_t id = 0;
    int n = 0;
    vs_status st = vs_store_person_list(vs_app_store(r->srv->app), &f, &l, &err);
    for (size_t i = 0; st == VS_OK && i < l.n; i++)
        if (l.items[i].name && strcmp(l.items[i].name, name) == 0) {
            id = l.items[i].id;
            n++;
        }
    vs_person_list_free(&l);
    if (st != VS_OK)
        vs_http_reply_status(r, st, &err);
    else if (n == 0)
        vs_http_reply_error(r, 404, "not_found", "no person with id '%s'", name);
    else if (n > 1)
        vs_http_reply_error(r, 409, "conflict", "%d persons are called '%s'", n, name);
    return st == VS_OK && n == 1 ? id : 0;
}

/* The user_id query argument, or NULL after a 400 reply. */
static const char *user_id(http_req *r)
{
    const char *v = vs_http_query(r, "user_id");
    if (!v || !v[0] || strlen(v) >= VS_STORE_NAME_MAX) {
        vs_http_reply_error(r, 400, "bad_request", "user_id: the id (1 to %d bytes) is required",
                            VS_STORE_NAME_MAX - 1);
        return NULL;
    }
    return v;
}

static cJSON *message_reply(const char *message, const char *id)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "message", message);
    cJSON_AddStringToObject(j, "id", id);
    return j;
}

static void validate_image(http_req *r, vs_app_worker *w, compat_in *in)
{
    const char *k = vs_http_query(r, "top_k");
    char *end = NULL;
    long top_k = k && k[0] ? strtol(k, &end, 10) : 1;
    if ((end && *end) || top_k < 1 || top_k > VS_APP_MAX_CANDIDATES) {
        vs_http_reply_error(r, 400, "bad_request", "top_k: an integer in 1..%d",
                            VS_APP_MAX_CANDIDATES);
        return;
    }
    const vs_identity *id;
    vs_err err = {{0}};
    vs_status st = identify_largest(w, in->img, (int)top_k, &id, &err);
    if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
        return;
    }
    float t_known, t_review;
    vs_app_thresholds(r->srv->app, &t_known, &t_review);
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < id->n_candidates; i++) {
        const vs_candidate *c = &id->candidates[i];
        vs_person p = {0};
        char idbuf[32];
        snprintf(idbuf, sizeof idbuf, "%lld", (long long)c->person_id);
        vs_store_person_get(vs_app_store(r->srv->app), c->person_id, &p, NULL);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", p.name ? p.name : idbuf);
        cJSON_AddItemToObject(o, "score", vs_http_num(c->score, 1e-4));
        cJSON_AddStringToObject(o, "message",
                                c->score >= t_known    ? "Matching face found"
                                : c->score >= t_review ? "Similar face found"
                                                       : "No similar face found");
        cJSON_AddItemToArray(arr, o);
        vs_person_clear(&p);
    }
    vs_http_reply_json(r, 200, arr);
}

void vs_http_compat_validate_image(http_req *r)
{
    static const char *const fields[] = {"file", NULL};
    with_photo(r, fields, validate_image);
}

static void add_image(http_req *r, vs_app_worker *w, compat_in *in)
{
    /* The id is the file name without folders and extension. */
    const char *base = strrchr(in->file->filename, '/');
    base = base ? base + 1 : in->file->filename;
    char stem[VS_STORE_NAME_MAX];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem)
        *dot = '\0';
    if (!stem[0]) {
        vs_http_reply_error(r, 400, "bad_request", "the file needs a name: it is the id");
        return;
    }
    const char *purpose = consent_purpose(r, &in->form);
    if (!purpose)
        return;
    /* An existing person of that name gets one more face; else a new person. */
    vs_person_filter f = {.name_contains = stem, .limit = VS_STORE_LIST_MAX};
    vs_person_list l = {0};
    int64_t into = 0;
    if (vs_store_person_list(vs_app_store(r->srv->app), &f, &l, NULL) == VS_OK)
        for (size_t i = 0; i < l.n; i++)
            if (l.items[i].name && strcmp(l.items[i].name, stem) == 0)
                into = l.items[i].id;
    vs_person_list_free(&l);
    if (into && !vs_http_consent_given(r, into))
        return;
    if (enrol_one(r, w, in->img, into, stem, NULL, purpose))
        vs_http_reply_json(r, 200, message_reply("Image added successfully", stem));
}

void vs_http_compat_add_image(http_req *r)
{
    static const char *const fields[] = {"file", "consent", NULL};
    with_photo(r, fields, add_image);
}

void vs_http_compat_delete_image(http_req *r)
{
    const char *name = user_id(r);
    int64_t pid = name ? person_by_name(r, name) : 0;
    if (!pid)
        return;
    vs_err err = {{0}};
    vs_status st = vs_app_person_delete(r->srv->app, pid, NULL, &err);
    if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
        return;
    }
    audit(r, "person.delete", pid, "compat");
    vs_http_reply_json(r, 200, message_reply("Vector deleted successfully", name));
}

static void replace_image(http_req *r, vs_app_worker *w, compat_in *in)
{
    const char *name = user_id(r);
    int64_t pid = name ? person_by_name(r, name) : 0;
    vs_face_list old = {0};
    vs_err err = {{0}};
    if (pid && !vs_http_consent_given(r, pid))
        pid = 0;
    vs_status st = pid ? vs_store_face_list(vs_app_store(r->srv->app), pid, &old, &err) : VS_OK;
    if (st != VS_OK)
        vs_http_reply_status(r, st, &err);
    /* The new face first: when the photo is refused, nothing changes. */
    else if (pid && enrol_one(r, w, in->img, pid, NULL, NULL, NULL)) {
        for (size_t i = 0; st == VS_OK && i < old.n; i++)
            st = vs_app_face_delete(r->srv->app, old.items[i].id, &err);
        if (st != VS_OK)
            vs_http_reply_status(r, st, &err);
        else
            vs_http_reply_json(r, 200, message_reply("Vector updated successfully", name));
    }
    vs_face_list_free(&old);
}

void vs_http_compat_replace_image(http_req *r)
{
    static const char *const fields[] = {"file", NULL};
    with_photo(r, fields, replace_image);
}

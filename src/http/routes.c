/*
 * routes.c - the one route table of the server, path matching, and the small routes: /healthz,
 * /metrics, API keys, and the web UI's static files.
 *
 * Roles (a route lists the roles that may call it; /healthz and static files need no key):
 *   admin     everything, and alone manages keys
 *   operator  recognize, detect, compare, verify, persons and faces create / update / delete,
 *             the compatibility routes, and every GET except keys
 *   viewer    GET routes (persons, faces, visits, metrics, the OpenAPI document)
 *   device    recognize (and its compatibility forms face_recognize, ValidateImage) and the
 *             OpenAPI document: a camera at the door
 * The OpenAPI document (openapi.json, compiled in) lists the same routes with the same roles
 * (x-roles); test_http checks that both agree.
 *
 * Static files.  GET of any path outside /v1/ that is not a route is a file under web_dir
 * ("/" is index.html).  Paths are restricted to [A-Za-z0-9._-/] without "..", hidden names or
 * empty segments, so nothing outside web_dir can be named.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/http_internal.h"

#define READERS (R_ADMIN | R_OPERATOR | R_VIEWER)
#define WRITERS (R_ADMIN | R_OPERATOR)

static void api_health(http_req *r);
static void api_metrics(http_req *r);
static void api_openapi(http_req *r);
static void api_key_create(http_req *r);
static void api_key_list(http_req *r);
static void api_key_revoke(http_req *r);

const http_route vs_http_routes[] = {
    {"GET", "/healthz", 0, 0, api_health},
    {"GET", "/metrics", READERS, 0, api_metrics},
    {"GET", "/v1/openapi.json", READERS | R_DEVICE, 0, api_openapi},
    {"POST", "/v1/recognize", WRITERS | R_DEVICE, BODY_JSON | BODY_FORM, vs_http_api_recognize},
    {"POST", "/v1/detect", WRITERS, BODY_JSON | BODY_FORM, vs_http_api_detect},
    {"POST", "/v1/compare", WRITERS, BODY_JSON | BODY_FORM, vs_http_api_compare},
    {"POST", "/v1/verify", WRITERS, BODY_JSON | BODY_FORM, vs_http_api_verify},
    {"POST", "/v1/persons", WRITERS, BODY_FORM, vs_http_api_person_create},
    {"GET", "/v1/persons", READERS, 0, vs_http_api_person_list},
    {"GET", "/v1/persons/{id}", READERS, 0, vs_http_api_person_get},
    {"PATCH", "/v1/persons/{id}", WRITERS, BODY_JSON, vs_http_api_person_patch},
    {"DELETE", "/v1/persons/{id}", WRITERS, 0, vs_http_api_person_delete},
    {"GET", "/v1/persons/{id}/visits", READERS, 0, vs_http_api_person_visits},
    {"GET", "/v1/persons/{id}/faces", READERS, 0, vs_http_api_person_faces},
    {"POST", "/v1/persons/{id}/faces", WRITERS, BODY_FORM, vs_http_api_face_add},
    {"PUT", "/v1/persons/{id}/faces/{id}", WRITERS, BODY_FORM, vs_http_api_face_replace},
    {"DELETE", "/v1/persons/{id}/faces/{id}", WRITERS, 0, vs_http_api_face_delete},
    {"POST", "/v1/keys", R_ADMIN, BODY_JSON, api_key_create},
    {"GET", "/v1/keys", R_ADMIN, 0, api_key_list},
    {"DELETE", "/v1/keys/{id}", R_ADMIN, 0, api_key_revoke},
    /* compatibility routes (api_compat.c) */
    {"POST", "/face_recognize", WRITERS | R_DEVICE, BODY_FORM, vs_http_compat_face_recognize},
    {"POST", "/add_new_person", WRITERS, BODY_FORM, vs_http_compat_add_new_person},
    {"POST", "/ValidateImage", WRITERS | R_DEVICE, BODY_FORM, vs_http_compat_validate_image},
    {"POST", "/AddImageToIndex", WRITERS, BODY_FORM, vs_http_compat_add_image},
    {"DELETE", "/DeleteImageFromIndex", WRITERS, 0, vs_http_compat_delete_image},
    {"POST", "/ReplaceImage", WRITERS, BODY_FORM, vs_http_compat_replace_image},
};
const int vs_http_n_routes = (int)(sizeof vs_http_routes / sizeof vs_http_routes[0]);

_Static_assert(sizeof vs_http_routes / sizeof vs_http_routes[0] + 2 <= ROUTE_COUNT_MAX,
               "metrics need a slot per route");

int vs_http_route_info(int i, const char **method, const char **path, unsigned *roles)
{
    if (i < 0 || i >= vs_http_n_routes)
        return 0;
    *method = vs_http_routes[i].method;
    *path = vs_http_routes[i].path;
    *roles = vs_http_routes[i].roles;
    return 1;
}

/* Matches path against pattern; {id} segments go to ids.  1 on a match. */
static int path_match(const char *pattern, const char *path, int64_t ids[2])
{
    int n_ids = 0;
    while (*pattern && *path) {
        if (strncmp(pattern, "{id}", 4) == 0) {
            int64_t v = 0;
            int digits = 0;
            for (; *path >= '0' && *path <= '9' && digits < 18; path++, digits++)
                v = v * 10 + (*path - '0');
            if (!digits || v <= 0 || (*path && *path != '/') || n_ids == 2)
                return 0;
            ids[n_ids++] = v;
            pattern += 4;
            continue;
        }
        if (*pattern++ != *path++)
            return 0;
    }
    return *pattern == '\0' && *path == '\0';
}

int vs_http_route_find(const char *method, const char *path, int64_t ids[2], int *path_exists)
{
    *path_exists = 0;
    for (int i = 0; i < vs_http_n_routes; i++) {
        int64_t got[2] = {0, 0};
        if (!path_match(vs_http_routes[i].path, path, got))
            continue;
        *path_exists = 1;
        if (strcmp(vs_http_routes[i].method, method) == 0) {
            ids[0] = got[0];
            ids[1] = got[1];
            return i;
        }
    }
    return -1;
}

/* ---- health and metrics ------------------------------------------------------------------- */

static void api_health(http_req *r)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "status", "ok");
    cJSON_AddNumberToObject(j, "gallery_faces", (double)vs_app_gallery_size(r->srv->app));
    vs_http_reply_json(r, 200, j);
}

static void api_metrics(http_req *r)
{
    char *text = vs_http_metrics_render(&r->srv->metrics, vs_app_gallery_size(r->srv->app));
    vs_http_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text,
                       text ? strlen(text) : 0);
}

/* The OpenAPI document, compiled in from src/http/openapi.json (build/gen/openapi_json.c). */
extern const char vs_http_openapi_json[];
extern const size_t vs_http_openapi_json_len;

static void api_openapi(http_req *r)
{
    char *text = malloc(vs_http_openapi_json_len);
    if (text)
        memcpy(text, vs_http_openapi_json, vs_http_openapi_json_len);
    vs_http_reply_text(r, 200, "application/json", text, text ? vs_http_openapi_json_len : 0);
}

/* ---- API keys ----------------------------------------------------------------------------- */

static cJSON *key_json(const vs_api_key *k)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", (double)k->id);
    cJSON_AddStringToObject(j, "name", k->name ? k->name : "");
    cJSON_AddStringToObject(j, "role", vs_role_name(k->role) ? vs_role_name(k->role) : "");
    cJSON_AddNumberToObject(j, "created_at", (double)k->created_at);
    if (k->last_used)
        cJSON_AddNumberToObject(j, "last_used", (double)k->last_used);
    else
        cJSON_AddNullToObject(j, "last_used");
    cJSON_AddBoolToObject(j, "revoked", k->revoked);
    return j;
}

static void audit(http_req *r, const char *action, const char *target, const char *detail)
{
    /* Best effort: the action itself has succeeded. */
    vs_store_audit_append(vs_app_store(r->srv->app), r->who.name[0] ? r->who.name : "api", action,
                          target, detail, NULL);
}

static void api_key_create(http_req *r)
{
    static const char *const fields[] = {"name", "role", NULL};
    cJSON *j = vs_http_json_body(r);
    if (!j || !vs_http_json_fields(r, j, fields)) {
        cJSON_Delete(j);
        return;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(j, "role");
    vs_api_role rl = cJSON_IsString(role) ? vs_role_parse(role->valuestring) : 0;
    if (!cJSON_IsString(name) || !name->valuestring[0] ||
        strlen(name->valuestring) >= VS_STORE_NAME_MAX) {
        vs_http_reply_error(r, 400, "bad_request", "name: a non-empty string is required");
    } else if (!rl) {
        vs_http_reply_error(r, 400, "bad_request",
                            "role: one of admin, operator, viewer, device is required");
    } else {
        char key[VS_HTTP_KEY_LEN + 1], target[32];
        int64_t id = 0;
        vs_err err = {{0}};
        vs_status st =
            vs_http_key_issue(vs_app_store(r->srv->app), name->valuestring, rl, key, &id, &err);
        if (st != VS_OK) {
            vs_http_reply_status(r, st, &err);
        } else {
            snprintf(target, sizeof target, "key:%lld", (long long)id);
            audit(r, "key.create", target, vs_role_name(rl));
            cJSON *out = cJSON_CreateObject();
            cJSON_AddNumberToObject(out, "id", (double)id);
            cJSON_AddStringToObject(out, "name", name->valuestring);
            cJSON_AddStringToObject(out, "role", vs_role_name(rl));
            cJSON_AddStringToObject(out, "key", key);
            vs_http_reply_json(r, 201, out);
        }
    }
    cJSON_Delete(j);
}

static void api_key_list(http_req *r)
{
    vs_api_key_list l = {0};
    vs_err err = {{0}};
    vs_status st = vs_store_api_key_list(vs_app_store(r->srv->app), &l, &err);
    if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(j, "keys");
    for (size_t i = 0; i < l.n; i++)
        cJSON_AddItemToArray(arr, key_json(&l.items[i]));
    vs_api_key_list_free(&l);
    vs_http_reply_json(r, 200, j);
}

static void api_key_revoke(http_req *r)
{
    int64_t id = r->ids[0];
    vs_api_key_list l = {0};
    vs_err err = {{0}};
    vs_store *store = vs_app_store(r->srv->app);
    vs_status st = vs_store_api_key_list(store, &l, &err);
    if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
        return;
    }
    const vs_api_key *k = NULL;
    int active_admins = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (l.items[i].id == id)
            k = &l.items[i];
        active_admins += l.items[i].role == VS_ROLE_ADMIN && !l.items[i].revoked;
    }
    int last_admin = k && k->role == VS_ROLE_ADMIN && !k->revoked && active_admins == 1;
    if (k && !last_admin)
        st = vs_store_api_key_revoke(store, id, &err);
    if (!k) {
        vs_http_reply_error(r, 404, "not_found", "key %lld does not exist", (long long)id);
    } else if (last_admin) {
        vs_http_reply_error(r, 409, "conflict", "key %lld is the last admin key", (long long)id);
    } else if (st != VS_OK) {
        vs_http_reply_status(r, st, &err);
    } else {
        char target[32];
        snprintf(target, sizeof target, "key:%lld", (long long)id);
        vs_http_auth_forget(&r->srv->auth, id);
        audit(r, "key.revoke", target, NULL);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "id", (double)id);
        cJSON_AddBoolToObject(j, "revoked", 1);
        vs_http_reply_json(r, 200, j);
    }
    vs_api_key_list_free(&l);
}

/* ---- static files ------------------------------------------------------------------------- */

static const struct {
    const char *ext, *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".webp", "image/webp"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".webmanifest", "application/manifest+json"},
};

static const char *content_type_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof content_types / sizeof content_types[0]; i++)
        if (strcmp(dot, content_types[i].ext) == 0)
            return content_types[i].type;
    return "application/octet-stream";
}

/* 1 when path names a file inside the web folder (see the top of the file). */
static int safe_path(const char *path)
{
    if (path[0] != '/' || strlen(path) > 200)
        return 0;
    for (const char *p = path; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-' || c == '/';
        if (!ok || (c == '/' && (p[1] == '/' || p[1] == '.')))
            return 0;
    }
    return 1;
}

void vs_http_static(http_req *r, const char *path)
{
    const char *rel = strcmp(path, "/") == 0 ? "/index.html" : path;
    char full[1300];
    if (!safe_path(rel) ||
        snprintf(full, sizeof full, "%s%s", r->srv->web_dir, rel) >= (int)sizeof full) {
        vs_http_reply_error(r, 404, "not_found", "no such file");
        return;
    }
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        vs_http_reply_error(r, 404, "not_found", "no such file: %s", rel);
        return;
    }
    vs_http_reply_fd(r, fd, (size_t)st.st_size, content_type_of(rel));
}

/*
 * json.c - the JSON side of the server: error replies in the one shape the API uses,
 *
 *     {"error": {"code": "not_found", "message": "person 42 does not exist"}}
 *
 * the one table that turns a library status into an HTTP status and error code, request JSON
 * read with a nesting limit and a closed set of fields, base64 images, and image decoding with
 * the server's limits.
 */
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"

/* vs_status -> HTTP status and error code: the only such table (STYLE.md). */
#define HTTP_STATUS_MAP(X)                                                                         \
    X(OK, 200, "ok")                                                                               \
    X(NOMEM, 500, "internal")                                                                      \
    X(INVAL, 400, "bad_request")                                                                   \
    X(FORMAT, 400, "invalid_image")                                                                \
    X(LIMIT, 413, "payload_too_large")                                                             \
    X(NOFACE, 422, "no_face")                                                                      \
    X(IO, 503, "unavailable")                                                                      \
    X(UNSUPPORTED, 415, "unsupported_media_type")                                                  \
    X(NOTFOUND, 404, "not_found")                                                                  \
    X(INTERNAL, 500, "internal")

static const struct {
    vs_status st;
    unsigned http;
    const char *code;
} status_map[] = {
#define HTTP_STATUS_ROW(name, http, code) {VS_##name, http, code},
    HTTP_STATUS_MAP(HTTP_STATUS_ROW)
#undef HTTP_STATUS_ROW
};

void vs_http_reply_status(http_req *r, vs_status st, const vs_err *err)
{
    unsigned http = 500;
    const char *code = "internal";
    for (size_t i = 0; i < sizeof status_map / sizeof status_map[0]; i++)
        if (status_map[i].st == st) {
            http = status_map[i].http;
            code = status_map[i].code;
        }
    const char *msg = err && err->msg[0] ? err->msg : vs_status_str(st);
    vs_http_reply_error(r, http, code, "%s", msg);
}

void vs_http_reply_error_with(http_req *r, unsigned status, const char *code, const char *msg,
                              const char *name, cJSON *extra)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    if (name && extra)
        cJSON_AddItemToObject(e, name, extra);
    else
        cJSON_Delete(extra);
    vs_http_reply_json(r, status, root);
}

void vs_http_reply_error(http_req *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vs_http_reply_error_with(r, status, code, msg, NULL, NULL);
}

/* The deepest nesting of arrays and objects in text (strings skipped); stops early past max. */
static int json_depth(const char *s, size_t n, int max)
{
    int depth = 0, deepest = 0, in_str = 0;
    for (size_t i = 0; i < n && deepest <= max; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > deepest)
                deepest = depth;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return deepest;
}

cJSON *vs_http_json_body(http_req *r)
{
    if (r->len == 0) {
        vs_http_reply_error(r, 400, "bad_request", "the request body is empty");
        return NULL;
    }
    int max = r->srv->cfg.json_depth;
    if (json_depth((const char *)r->body, r->len, max) > max) {
        vs_http_reply_error(r, 400, "bad_request", "JSON nested deeper than %d levels", max);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)r->body, r->len, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - (const char *)r->body) : 0;
        vs_http_reply_error(r, 400, "bad_request", "malformed JSON near byte %zu", at);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        vs_http_reply_error(r, 400, "bad_request", "the body must be a JSON object");
        return NULL;
    }
    return root;
}

static int name_allowed(const char *name, const char *const *allowed)
{
    for (int i = 0; allowed[i]; i++)
        if (strcmp(name, allowed[i]) == 0)
            return 1;
    return 0;
}

int vs_http_json_fields(http_req *r, const cJSON *obj, const char *const *allowed)
{
    for (const cJSON *it = obj->child; it; it = it->next)
        if (!it->string || !name_allowed(it->string, allowed)) {
            vs_http_reply_error(r, 400, "bad_request", "unknown field '%.64s'",
                                it->string ? it->string : "");
            return 0;
        }
    return 1;
}

int vs_http_form_fields(http_req *r, const http_form *f, const char *const *allowed)
{
    for (int i = 0; i < f->n; i++)
        if (!name_allowed(f->parts[i].name, allowed)) {
            vs_http_reply_error(r, 400, "bad_request", "unknown form field '%s'", f->parts[i].name);
            return 0;
        }
    return 1;
}

vs_status vs_http_base64_decode(const char *s, size_t max, uint8_t **out, size_t *n, vs_err *err)
{
    *out = NULL;
    *n = 0;
    /* A data URL, as a browser's canvas.toDataURL() makes it. */
    if (strncmp(s, "data:", 5) == 0) {
        const char *comma = strchr(s, ',');
        if (!comma || !strstr(s, ";base64"))
            return vs_err_set(err, VS_FORMAT, "a data URL must be base64");
        s = comma + 1;
    }
    size_t len = strlen(s);
    size_t cap = len / 4 * 3 + 3;
    if (cap > max + 3)
        return vs_err_set(err, VS_LIMIT, "the image is over %zu bytes", max);
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf)
        return vs_err_set(err, VS_NOMEM, "base64");
    int urlsafe = strpbrk(s, "-_") != NULL;
    int variant = urlsafe ? sodium_base64_VARIANT_URLSAFE_NO_PADDING
                          : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
    /* libsodium's NO_PADDING variants reject '=': decode the text without its padding. */
    while (len > 0 && s[len - 1] == '=')
        len--;
    const char *end = NULL;
    if (sodium_base642bin(buf, cap, s, len, " \r\n\t", n, &end, variant) != 0 || end != s + len) {
        free(buf);
        return vs_err_set(err, VS_FORMAT, "malformed base64");
    }
    *out = buf;
    return VS_OK;
}

vs_image *vs_http_decode_image(http_req *r, const uint8_t *bytes, size_t n)
{
    vs_img_limits lim = {.max_bytes = r->srv->cfg.max_body, .max_pixels = r->srv->cfg.max_pixels};
    vs_image *img = NULL;
    vs_err err = {{0}};
    vs_status st = vs_img_decode(bytes, n, &lim, &img, &err);
    if (st == VS_OK)
        return img;
    if (st == VS_FORMAT || st == VS_UNSUPPORTED)
        vs_http_reply_error(r, 400, "invalid_image", "%s", err.msg);
    else
        vs_http_reply_status(r, st, &err);
    return NULL;
}

cJSON *vs_http_num(double v, double step)
{
    if (!isfinite(v))
        return cJSON_CreateNull();
    return cJSON_CreateNumber(round(v / step) * step);
}

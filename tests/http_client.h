/*
 * http_client.h - a small HTTP/1.1 client for the server tests: one connection per request
 * ("Connection: close") to 127.0.0.1:port, whole replies read into memory, JSON and error-code
 * helpers, multipart bodies, and the test photos.  Include after check.h.
 */
#ifndef VS_TESTS_HTTP_CLIENT_H
#define VS_TESTS_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"

#define CHECK_STATUS(resp, want)                                                                   \
    CHECK((resp).status == (want), "status %d, want %d: %.300s", (resp).status, (want),            \
          (resp).body ? (resp).body : "")

/* ---- a small HTTP client ------------------------------------------------------------------ */

typedef struct resp {
    int status;
    char ctype[128];
    char *body; /* NUL-terminated */
    size_t len;
} resp;

static void resp_free(resp *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

static int port;

static int connect_local(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 300};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads a whole response (the server closes the connection after it). */
static void read_resp(int fd, resp *out)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    ssize_t k;
    while (buf && (k = recv(fd, buf + n, cap - n, 0)) > 0) {
        n += (size_t)k;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    if (!buf)
        return;
    buf[n] = '\0';
    sscanf(buf, "HTTP/1.%*d %d", &out->status);
    char *eoh = strstr(buf, "\r\n\r\n");
    char *ct = strcasestr(buf, "\r\nContent-Type: ");
    if (ct && (!eoh || ct < eoh))
        sscanf(ct + 16, "%127[^\r\n]", out->ctype);
    size_t off = eoh ? (size_t)(eoh + 4 - buf) : n;
    out->len = n - off;
    out->body = malloc(out->len + 1);
    memcpy(out->body, buf + off, out->len);
    out->body[out->len] = '\0';
    free(buf);
}

/* One request: method, path, key (NULL: none), content type (NULL: none), body. */
/* One request; the key (when non-NULL) goes in the header key_header, e.g. "X-API-Key: " or
 * "Authorization: Bearer ". */
static resp request_as(const char *method, const char *path, const char *key_header,
                       const char *key, const char *ctype, const void *body, size_t n)
{
    resp r = {0};
    int fd = connect_local();
    if (fd < 0)
        return r;
    char head[2048];
    int h = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", method, path);
    if (key)
        h += snprintf(head + h, sizeof head - (size_t)h, "%s%s\r\n", key_header, key);
    if (ctype)
        h += snprintf(head + h, sizeof head - (size_t)h, "Content-Type: %s\r\n", ctype);
    if (body || strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0 ||
        strcmp(method, "PUT") == 0)
        h += snprintf(head + h, sizeof head - (size_t)h, "Content-Length: %zu\r\n", n);
    h += snprintf(head + h, sizeof head - (size_t)h, "\r\n");
    if (send_all(fd, head, (size_t)h) == 0 && (!n || send_all(fd, body, n) == 0))
        read_resp(fd, &r);
    close(fd);
    return r;
}

static resp request(const char *method, const char *path, const char *key, const char *ctype,
                    const void *body, size_t n)
{
    return request_as(method, path, "Authorization: Bearer ", key, ctype, body, n);
}

static resp get(const char *path, const char *key)
{
    return request("GET", path, key, NULL, NULL, 0);
}

static resp post_json(const char *path, const char *key, const char *json)
{
    return request("POST", path, key, "application/json", json, strlen(json));
}

static resp patch(const char *path, const char *key, const char *json)
{
    return request("PATCH", path, key, "application/json", json, strlen(json));
}

static cJSON *json_of(const resp *r)
{
    return r->body ? cJSON_Parse(r->body) : NULL;
}

/* The error code of an error reply ("" if it is not one). */
static const char *error_code(const resp *r, char *buf, size_t n)
{
    cJSON *j = json_of(r);
    const cJSON *e = cJSON_GetObjectItem(j, "error");
    const cJSON *c = cJSON_GetObjectItem(e, "code");
    const cJSON *m = cJSON_GetObjectItem(e, "message");
    snprintf(buf, n, "%s", cJSON_IsString(c) && cJSON_IsString(m) ? c->valuestring : "");
    cJSON_Delete(j);
    return buf;
}

#define CHECK_ERROR(resp, want_status, want_code)                                                  \
    do {                                                                                           \
        char code_[64];                                                                            \
        CHECK_STATUS(resp, want_status);                                                           \
        CHECK(strcmp(error_code(&(resp), code_, sizeof code_), want_code) == 0,                    \
              "error code '%s', want '%s'", code_, want_code);                                     \
    } while (0)

/* ---- multipart bodies --------------------------------------------------------------------- */

#define BOUNDARY "vsTestBoundary8d2f"
#define FORM_TYPE "multipart/form-data; boundary=" BOUNDARY

typedef struct form {
    char *buf;
    size_t n, cap;
} form;

static void form_put(form *f, const void *p, size_t n)
{
    if (f->n + n > f->cap) {
        f->cap = (f->n + n) * 2 + 1024;
        f->buf = realloc(f->buf, f->cap);
    }
    memcpy(f->buf + f->n, p, n);
    f->n += n;
}

static void form_field(form *f, const char *name, const char *value)
{
    char h[512];
    int k = snprintf(h, sizeof h,
                     "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n", name);
    form_put(f, h, (size_t)k);
    form_put(f, value, strlen(value));
    form_put(f, "\r\n", 2);
}

static void form_file(form *f, const char *name, const char *filename, const void *data, size_t n)
{
    char h[512];
    int k = snprintf(h, sizeof h,
                     "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"%s\"; "
                     "filename=\"%s\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                     name, filename);
    form_put(f, h, (size_t)k);
    form_put(f, data, n);
    form_put(f, "\r\n", 2);
}

static void form_end(form *f)
{
    form_put(f, "--" BOUNDARY "--\r\n", strlen("--" BOUNDARY "--\r\n"));
}

/* Sends the form with method (POST, PUT) and frees it. */
static resp send_form(const char *method, const char *path, const char *key, form *f)
{
    resp r = request(method, path, key, FORM_TYPE, f->buf, f->n);
    free(f->buf);
    memset(f, 0, sizeof *f);
    return r;
}

static resp post_form(const char *path, const char *key, form *f)
{
    return send_form("POST", path, key, f);
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, fp);
    fclose(fp);
    return b;
}

static uint8_t *data_file(const char *rel, size_t *n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", data_root(), rel);
    return read_file(path, n);
}

static uint8_t *crop(const char *person, int k, size_t *n)
{
    char rel[256];
    snprintf(rel, sizeof rel, "bbt/%s/%s%d.png", person, person, k);
    return data_file(rel, n);
}

#endif

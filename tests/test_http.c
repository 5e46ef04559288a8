/*
 * test_http.c - the HTTP server end to end: the real server started in-process on a free
 * loopback port against a temporary SQLite database, called over real sockets by a small
 * HTTP/1.1 client written here (one connection per request, "Connection: close").
 *
 * Cases:
 *   health_and_static             /healthz without a key; the UI's files with their content
 *                                 types; no path outside web/; unknown route 404, wrong
 *                                 method 405
 *   auth_rejects                  401 without a key, with a malformed key, with an unknown
 *                                 well-formed key; errors in the one JSON shape
 *   keys_lifecycle                admin creates viewer and device keys (shown once), lists
 *                                 them without secrets; viewer may GET but not POST /v1/persons
 *                                 (403); device may not list persons (403); a revoked key is
 *                                 401; the last admin key cannot be revoked (409)
 *   rate_limit                    a key that goes past its burst gets 429
 *   enrol_needs_consent           photos without consent "given" are refused (400) and
 *                                 nothing is written
 *   enrol_and_recognize           the 8 bbt people enrolled from one crop each (multipart);
 *                                 bbt1.jpg recognised with faces named, no name twice;
 *                                 the same over JSON + base64; a visit is recorded
 *   bad_input_changes_nothing     corrupt JPEG 400 invalid_image (gallery and persons
 *                                 unchanged); declared oversize body 413 before it is sent;
 *                                 chunked oversize body 413; wrong content type 415; unknown
 *                                 JSON field 400; JSON nested too deep 400; malformed
 *                                 multipart 400
 *   compare_two_photos            same person true, different people false
 *   person_get_patch_delete       get with stats, patch, delete: 404 afterwards, its face no
 *                                 longer matches anyone in bbt1.jpg, gallery one face smaller
 *   metrics_count_requests        /metrics shows the counters of the calls above
 *
 * Data: models from models/ (or $VISAGE_MODELS), photos from $VISAGE_TEST_DATA or
 * ../shared/data; exit 77 (skip) when either is missing.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "app/app.h"
#include "http/http.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("  FAIL %s:%d: ", __FILE__, __LINE__);                                          \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#define CHECK_STATUS(resp, want)                                                                   \
    CHECK((resp).status == (want), "status %d, want %d: %.300s", (resp).status, (want),            \
          (resp).body ? (resp).body : "")

static const char *data_root(void)
{
    const char *d = getenv("VISAGE_TEST_DATA");
    return d ? d : "../shared/data";
}

static const char *const bbt_people[8] = {"amy",   "bernadette", "howard",  "leonard",
                                          "penny", "raj",        "sheldon", "stuart"};

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
static resp request(const char *method, const char *path, const char *key, const char *ctype,
                    const void *body, size_t n)
{
    resp r = {0};
    int fd = connect_local();
    if (fd < 0)
        return r;
    char head[2048];
    int h = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", method, path);
    if (key)
        h += snprintf(head + h, sizeof head - (size_t)h, "Authorization: Bearer %s\r\n", key);
    if (ctype)
        h += snprintf(head + h, sizeof head - (size_t)h, "Content-Type: %s\r\n", ctype);
    if (body || strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0)
        h += snprintf(head + h, sizeof head - (size_t)h, "Content-Length: %zu\r\n", n);
    h += snprintf(head + h, sizeof head - (size_t)h, "\r\n");
    if (send_all(fd, head, (size_t)h) == 0 && (!n || send_all(fd, body, n) == 0))
        read_resp(fd, &r);
    close(fd);
    return r;
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

static resp post_form(const char *path, const char *key, form *f)
{
    resp r = request("POST", path, key, FORM_TYPE, f->buf, f->n);
    free(f->buf);
    memset(f, 0, sizeof *f);
    return r;
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

/* ---- the server under test ---------------------------------------------------------------- */

typedef struct fixture {
    char dir[256];
    vs_app *app;
    vs_http_server *srv;
    char admin[VS_HTTP_KEY_LEN + 1];
    int64_t ids[8]; /* enrolled bbt people */
} fixture;

static int64_t json_int(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

static int64_t gallery_faces(void)
{
    resp r = get("/healthz", NULL);
    cJSON *j = json_of(&r);
    int64_t n = json_int(j, "gallery_faces");
    cJSON_Delete(j);
    resp_free(&r);
    return n;
}

static int64_t person_count(const fixture *fx)
{
    vs_person_filter f = {0};
    int64_t n = -1;
    vs_store_person_count(vs_app_store(fx->app), &f, &n, NULL);
    return n;
}

/* Creates a key through the API; returns its id, key text in out. */
static int64_t make_key(const fixture *fx, const char *name, const char *role, char *out)
{
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"role\":\"%s\"}", name, role);
    resp r = post_json("/v1/keys", fx->admin, body);
    CHECK_STATUS(r, 201);
    cJSON *j = json_of(&r);
    const cJSON *k = cJSON_GetObjectItem(j, "key");
    snprintf(out, VS_HTTP_KEY_LEN + 1, "%s", cJSON_IsString(k) ? k->valuestring : "");
    int64_t id = json_int(j, "id");
    cJSON_Delete(j);
    resp_free(&r);
    return id;
}

static void health_and_static(fixture *fx)
{
    (void)fx;
    resp r = get("/healthz", NULL);
    CHECK_STATUS(r, 200);
    CHECK(strstr(r.ctype, "application/json") != NULL, "content type %s", r.ctype);
    CHECK(r.body && strstr(r.body, "\"status\":\"ok\"") && strstr(r.body, "\"gallery_faces\":0"),
          "healthz %s", r.body);
    resp_free(&r);
    r = get("/", NULL);
    CHECK_STATUS(r, 200);
    CHECK(strncmp(r.ctype, "text/html", 9) == 0, "index content type %s", r.ctype);
    CHECK(r.body && strstr(r.body, "visage test page"), "index body %s", r.body);
    resp_free(&r);
    r = get("/app.js", NULL);
    CHECK_STATUS(r, 200);
    CHECK(strncmp(r.ctype, "text/javascript", 15) == 0, "app.js content type %s", r.ctype);
    resp_free(&r);
    static const char *const outside[] = {"/../http.db", "/.hidden", "/%2e%2e/http.db",
                                          "/nothing.css", "//etc/passwd"};
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        r = get(outside[i], NULL);
        CHECK_ERROR(r, 404, "not_found");
        resp_free(&r);
    }
    r = get("/v1/nothing", fx->admin);
    CHECK_ERROR(r, 404, "not_found");
    resp_free(&r);
    r = request("PUT", "/v1/persons", fx->admin, NULL, NULL, 0);
    CHECK_ERROR(r, 405, "method_not_allowed");
    resp_free(&r);
}

static void auth_rejects(fixture *fx)
{
    (void)fx;
    resp r = get("/v1/persons", NULL);
    CHECK_ERROR(r, 401, "unauthorized");
    resp_free(&r);
    r = get("/v1/persons", "not-a-key");
    CHECK_ERROR(r, 401, "unauthorized");
    resp_free(&r);
    r = get("/v1/persons", "vs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    CHECK_ERROR(r, 401, "unauthorized");
    resp_free(&r);
    r = get("/metrics", NULL);
    CHECK_ERROR(r, 401, "unauthorized");
    resp_free(&r);
    /* X-API-Key works as well as Authorization. */
    int fd = connect_local();
    char head[256];
    int h = snprintf(head, sizeof head,
                     "GET /v1/persons HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"
                     "Connection: close\r\n\r\n",
                     fx->admin);
    resp x = {0};
    if (fd >= 0 && send_all(fd, head, (size_t)h) == 0)
        read_resp(fd, &x);
    if (fd >= 0)
        close(fd);
    CHECK_STATUS(x, 200);
    resp_free(&x);
}

static void keys_lifecycle(fixture *fx)
{
    char viewer[VS_HTTP_KEY_LEN + 1], device[VS_HTTP_KEY_LEN + 1];
    int64_t vid = make_key(fx, "reader", "viewer", viewer);
    int64_t did = make_key(fx, "door camera", "device", device);
    CHECK(vid > 0 && did > 0 && strlen(viewer) == VS_HTTP_KEY_LEN, "keys %lld %lld '%s'",
          (long long)vid, (long long)did, viewer);
    resp r = get("/v1/keys", fx->admin);
    CHECK_STATUS(r, 200);
    CHECK(r.body && strstr(r.body, "\"door camera\"") && !strstr(r.body, viewer) &&
              !strstr(r.body, "blake2b") && !strstr(r.body, "\"key\""),
          "key list shows secrets or misses keys: %s", r.body);
    resp_free(&r);
    r = get("/v1/keys", viewer);
    CHECK_ERROR(r, 403, "forbidden");
    resp_free(&r);
    r = get("/v1/persons", viewer);
    CHECK_STATUS(r, 200);
    resp_free(&r);
    form f = {0};
    form_field(&f, "name", "nobody");
    form_end(&f);
    r = post_form("/v1/persons", viewer, &f);
    CHECK_ERROR(r, 403, "forbidden");
    resp_free(&r);
    r = get("/v1/persons", device);
    CHECK_ERROR(r, 403, "forbidden");
    resp_free(&r);
    r = post_json("/v1/keys", fx->admin, "{\"name\":\"x\",\"role\":\"king\"}");
    CHECK_ERROR(r, 400, "bad_request");
    resp_free(&r);
    char path[64];
    snprintf(path, sizeof path, "/v1/keys/%lld", (long long)did);
    r = request("DELETE", path, fx->admin, NULL, NULL, 0);
    CHECK_STATUS(r, 200);
    resp_free(&r);
    r = post_json("/v1/recognize", device, "{\"image\":\"AAAA\"}");
    CHECK_ERROR(r, 401, "unauthorized");
    resp_free(&r);
    r = request("DELETE", "/v1/keys/1", fx->admin, NULL, NULL, 0); /* the bootstrap admin key */
    CHECK_ERROR(r, 409, "conflict");
    resp_free(&r);
    r = request("DELETE", "/v1/keys/999", fx->admin, NULL, NULL, 0);
    CHECK_ERROR(r, 404, "not_found");
    resp_free(&r);
    /* last_used was written for the admin key. */
    vs_api_key_list l = {0};
    vs_store_api_key_list(vs_app_store(fx->app), &l, NULL);
    CHECK(l.n >= 1 && l.items[0].last_used > 0, "admin key last_used not set");
    vs_api_key_list_free(&l);
}

static void rate_limit(fixture *fx)
{
    char key[VS_HTTP_KEY_LEN + 1];
    make_key(fx, "hasty", "viewer", key);
    int ok = 0, limited = 0, first_limited = -1;
    for (int i = 0; i < 80; i++) {
        resp r = get("/v1/persons?limit=1", key);
        if (r.status == 200)
            ok++;
        if (r.status == 429) {
            char code[64];
            if (first_limited < 0)
                first_limited = i;
            limited++;
            CHECK(strcmp(error_code(&r, code, sizeof code), "too_many_requests") == 0, "code %s",
                  code);
        }
        resp_free(&r);
    }
    printf("  rate limit: %d ok, %d limited (first at request %d; burst 40, 20/s)\n", ok, limited,
           first_limited);
    CHECK(limited > 0 && first_limited >= 40, "limited %d, first at %d", limited, first_limited);
}

static void enrol_needs_consent(fixture *fx)
{
    size_t n;
    uint8_t *img = crop("amy", 1, &n);
    int64_t before = person_count(fx), faces = gallery_faces();
    form f = {0};
    form_field(&f, "name", "amy");
    form_file(&f, "file", "amy1.png", img, n);
    form_end(&f);
    resp r = post_form("/v1/persons", fx->admin, &f);
    CHECK_ERROR(r, 400, "bad_request");
    CHECK(r.body && strstr(r.body, "consent"), "message %s", r.body);
    resp_free(&r);
    CHECK(person_count(fx) == before && gallery_faces() == faces, "something was written");
    free(img);
}

/* Names of the known faces of a recognize reply; returns how many faces it had. */
static int known_names(const resp *r, char names[][32], int *n_known, int64_t *ids)
{
    cJSON *j = json_of(r);
    const cJSON *faces = cJSON_GetObjectItem(j, "faces");
    int n = 0;
    *n_known = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, faces)
    {
        n++;
        const cJSON *d = cJSON_GetObjectItem(f, "decision");
        const cJSON *p = cJSON_GetObjectItem(f, "person");
        const cJSON *lm = cJSON_GetObjectItem(f, "landmarks");
        CHECK(cJSON_GetArraySize(lm) == 68 && cJSON_IsArray(cJSON_GetObjectItem(f, "box")) &&
                  cJSON_IsObject(cJSON_GetObjectItem(f, "quality")) &&
                  cJSON_IsArray(cJSON_GetObjectItem(f, "candidates")),
              "face fields missing");
        if (cJSON_IsString(d) && strcmp(d->valuestring, "known") == 0 && cJSON_IsObject(p)) {
            const cJSON *name = cJSON_GetObjectItem(p, "name");
            snprintf(names[*n_known], 32, "%s", cJSON_IsString(name) ? name->valuestring : "?");
            if (ids)
                ids[*n_known] = json_int(p, "id");
            (*n_known)++;
        }
    }
    cJSON_Delete(j);
    return n;
}

static resp recognize_file(const char *key, const char *rel, const char *record)
{
    size_t n;
    uint8_t *img = data_file(rel, &n);
    form f = {0};
    form_file(&f, "file", "photo.jpg", img, n);
    if (record)
        form_field(&f, "record_visit", record);
    form_field(&f, "record_unknown", "false"); /* no anonymous visitors: names stay comparable */
    form_field(&f, "top_k", "3");
    form_end(&f);
    free(img);
    return post_form("/v1/recognize", key, &f);
}

static void enrol_and_recognize(fixture *fx)
{
    for (int p = 0; p < 8; p++) {
        size_t n;
        uint8_t *img = crop(bbt_people[p], 1, &n);
        form f = {0};
        form_field(&f, "name", bbt_people[p]);
        form_field(&f, "consent", "given");
        form_field(&f, "consent_purpose", "test");
        form_file(&f, "file", "crop.png", img, n);
        form_end(&f);
        free(img);
        resp r = post_form("/v1/persons", fx->admin, &f);
        CHECK_STATUS(r, 201);
        cJSON *j = json_of(&r);
        const cJSON *person = cJSON_GetObjectItem(j, "person");
        fx->ids[p] = json_int(person, "id");
        CHECK(json_int(j, "faces_added") == 1 && fx->ids[p] > 0, "enrol %s: %s", bbt_people[p],
              r.body);
        cJSON_Delete(j);
        resp_free(&r);
    }
    CHECK(gallery_faces() == 8, "gallery has %lld faces", (long long)gallery_faces());
    resp r = recognize_file(fx->admin, "bbt/bbt1.jpg", "true");
    CHECK_STATUS(r, 200);
    char names[64][32];
    int known = 0;
    int faces = known_names(&r, names, &known, NULL);
    printf("  bbt1.jpg: %d faces, %d known:", faces, known);
    for (int i = 0; i < known; i++)
        printf(" %s", names[i]);
    printf("\n");
    CHECK(faces >= 4 && known >= faces / 2, "%d faces, %d known", faces, known);
    for (int i = 0; i < known; i++) {
        int is_bbt = 0;
        for (int p = 0; p < 8; p++)
            is_bbt |= strcmp(names[i], bbt_people[p]) == 0;
        CHECK(is_bbt, "named %s", names[i]);
        for (int k = 0; k < i; k++)
            CHECK(strcmp(names[i], names[k]) != 0, "%s named twice", names[i]);
    }
    resp_free(&r);
    /* The same photo as JSON with a base64 image (a data URL, as a browser sends it). */
    size_t n;
    uint8_t *img = data_file("bbt/bbt1.jpg", &n);
    size_t b64 = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *body = malloc(b64 + 128);
    int at = snprintf(body, 128, "{\"top_k\":2,\"image\":\"data:image/jpeg;base64,");
    sodium_bin2base64(body + at, b64, img, n, sodium_base64_VARIANT_ORIGINAL);
    strcat(body + at, "\"}");
    r = post_json("/v1/recognize", fx->admin, body);
    CHECK_STATUS(r, 200);
    int known2 = 0;
    char names2[64][32];
    CHECK(known_names(&r, names2, &known2, NULL) == faces && known2 == known,
          "JSON recognize differs: %d known", known2);
    resp_free(&r);
    free(body);
    free(img);
}

static void bad_input_changes_nothing(fixture *fx)
{
    int64_t faces = gallery_faces(), persons = person_count(fx);
    size_t n;
    uint8_t *img = data_file("bbt/bbt1.jpg", &n);
    /* Corrupt: the JPEG's headers, then noise. */
    for (size_t i = 700; i < n; i++)
        img[i] = (uint8_t)(i * 131 + 7);
    form f = {0};
    form_file(&f, "file", "bad.jpg", img, n);
    form_field(&f, "record_visit", "true");
    form_end(&f);
    resp r = post_form("/v1/recognize", fx->admin, &f);
    CHECK_ERROR(r, 400, "invalid_image");
    resp_free(&r);
    free(img);
    r = post_json("/v1/recognize", fx->admin, "{\"image\":\"bm90IGFuIGltYWdl\"}");
    CHECK_ERROR(r, 400, "invalid_image");
    resp_free(&r);
    r = post_json("/v1/recognize", fx->admin, "{\"image\":\"%%%\"}");
    CHECK_ERROR(r, 400, "invalid_image");
    resp_free(&r);
    /* A declared length over the limit: refused before the body is sent. */
    int fd = connect_local();
    static const char big[] = "POST /v1/recognize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ";
    char head[512];
    int h = snprintf(head, sizeof head,
                     "%s%s\r\nContent-Type: application/json\r\nContent-Length: 30000000\r\n\r\n",
                     big, fx->admin);
    r = (resp){0};
    if (fd >= 0 && send_all(fd, head, (size_t)h) == 0)
        read_resp(fd, &r);
    if (fd >= 0)
        close(fd);
    CHECK_ERROR(r, 413, "payload_too_large");
    resp_free(&r);
    /* A chunked body that passes the limit. */
    fd = connect_local();
    h = snprintf(head, sizeof head,
                 "%s%s\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                 big, fx->admin);
    size_t chunk = 1 << 20;
    char *junk = malloc(chunk + 32);
    int sent = fd >= 0 && send_all(fd, head, (size_t)h) == 0;
    for (int i = 0; sent && i < 22; i++) {
        int k = snprintf(junk, 32, "%zx\r\n", chunk);
        memset(junk + k, ' ', chunk);
        memcpy(junk + k + chunk, "\r\n", 2);
        sent = send_all(fd, junk, (size_t)k + chunk + 2) == 0;
    }
    r = (resp){0};
    if (sent && send_all(fd, "0\r\n\r\n", 5) == 0)
        read_resp(fd, &r);
    if (fd >= 0)
        close(fd);
    free(junk);
    CHECK_ERROR(r, 413, "payload_too_large");
    resp_free(&r);
    r = request("POST", "/v1/recognize", fx->admin, "text/plain", "hello", 5);
    CHECK_ERROR(r, 415, "unsupported_media_type");
    resp_free(&r);
    r = request("POST", "/v1/persons", fx->admin, "application/json", "{}", 2);
    CHECK_ERROR(r, 415, "unsupported_media_type");
    resp_free(&r);
    r = post_json("/v1/recognize", fx->admin, "{\"image\":\"AAAA\",\"colour\":1}");
    CHECK_ERROR(r, 400, "bad_request");
    CHECK(r.body && strstr(r.body, "colour"), "message %s", r.body);
    resp_free(&r);
    char deep_body[256] = "{\"image\":";
    memset(deep_body + 9, '[', 40); /* depth 41 > 32: refused before parsing */
    snprintf(deep_body + 49, sizeof deep_body - 49, "}");
    r = post_json("/v1/recognize", fx->admin, deep_body);
    CHECK_ERROR(r, 400, "bad_request");
    resp_free(&r);
    r = post_json("/v1/recognize", fx->admin, "{\"image\": ");
    CHECK_ERROR(r, 400, "bad_request");
    resp_free(&r);
    static const char torn[] = "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"file\""
                               "\r\n\r\nabc";
    r = request("POST", "/v1/recognize", fx->admin, FORM_TYPE, torn, sizeof torn - 1);
    CHECK_ERROR(r, 400, "bad_request");
    resp_free(&r);
    r = post_json("/v1/recognize", fx->admin, "{\"image\":\"AAAA\",\"top_k\":99}");
    CHECK_ERROR(r, 400, "bad_request");
    resp_free(&r);
    CHECK(gallery_faces() == faces && person_count(fx) == persons,
          "bad input changed the gallery: %lld faces (was %lld), %lld persons (was %lld)",
          (long long)gallery_faces(), (long long)faces, (long long)person_count(fx),
          (long long)persons);
}

static void compare_two_photos(fixture *fx)
{
    for (int other = 0; other < 2; other++) {
        size_t na, nb;
        uint8_t *a = crop("amy", 2, &na), *b = crop(other ? "sheldon" : "amy", 3, &nb);
        form f = {0};
        form_file(&f, "a", "a.png", a, na);
        form_file(&f, "b", "b.png", b, nb);
        form_end(&f);
        free(a);
        free(b);
        resp r = post_form("/v1/compare", fx->admin, &f);
        CHECK_STATUS(r, 200);
        cJSON *j = json_of(&r);
        const cJSON *same = cJSON_GetObjectItem(j, "same_person");
        CHECK(cJSON_IsBool(same) && cJSON_IsTrue(same) == !other, "amy vs %s: %s",
              other ? "sheldon" : "amy", r.body);
        cJSON_Delete(j);
        resp_free(&r);
    }
}

static void person_get_patch_delete(fixture *fx)
{
    /* Find who bbt1.jpg names first; that person is patched and then deleted. */
    resp r = recognize_file(fx->admin, "bbt/bbt1.jpg", NULL);
    char names[64][32];
    int64_t ids[64];
    int known = 0;
    known_names(&r, names, &known, ids);
    resp_free(&r);
    CHECK(known > 0, "nobody known in bbt1.jpg");
    if (!known)
        return;
    int64_t id = ids[0];
    char path[64], vpath[80];
    snprintf(path, sizeof path, "/v1/persons/%lld", (long long)id);
    snprintf(vpath, sizeof vpath, "%s/visits", path);
    r = get(path, fx->admin);
    CHECK_STATUS(r, 200);
    cJSON *j = json_of(&r);
    CHECK(json_int(j, "faces") == 1 && json_int(j, "visits") >= 1 && json_int(j, "last_seen") > 0,
          "person %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    r = get(vpath, fx->admin);
    CHECK_STATUS(r, 200);
    CHECK(r.body && strstr(r.body, "\"visits\":[{"), "visits %s", r.body);
    resp_free(&r);
    r = patch(path, fx->admin, "{\"description\":\"regular\",\"kind\":\"staff\"}");
    CHECK_STATUS(r, 200);
    CHECK(r.body && strstr(r.body, "\"description\":\"regular\"") &&
              strstr(r.body, "\"kind\":\"staff\""),
          "patched %s", r.body);
    resp_free(&r);
    r = patch(path, fx->admin, "{\"shoe_size\":44}");
    CHECK_ERROR(r, 400, "bad_request");
    resp_free(&r);
    r = get("/v1/persons?kind=staff", fx->admin);
    CHECK(r.body && strstr(r.body, names[0]), "staff list %s", r.body);
    resp_free(&r);
    int64_t faces = gallery_faces();
    r = request("DELETE", path, fx->admin, NULL, NULL, 0);
    CHECK_STATUS(r, 200);
    resp_free(&r);
    r = get(path, fx->admin);
    CHECK_ERROR(r, 404, "not_found");
    resp_free(&r);
    r = request("DELETE", path, fx->admin, NULL, NULL, 0);
    CHECK_ERROR(r, 404, "not_found");
    resp_free(&r);
    CHECK(gallery_faces() == faces - 1, "gallery %lld after deleting from %lld",
          (long long)gallery_faces(), (long long)faces);
    /* The deleted person's face no longer matches: not as a decision, not as a candidate. */
    r = recognize_file(fx->admin, "bbt/bbt1.jpg", NULL);
    CHECK_STATUS(r, 200);
    char idtext[48];
    snprintf(idtext, sizeof idtext, "\"id\":%lld,", (long long)id);
    char cand[48];
    snprintf(cand, sizeof cand, "\"person_id\":%lld,", (long long)id);
    CHECK(r.body && !strstr(r.body, idtext) && !strstr(r.body, cand),
          "deleted person %lld still matches", (long long)id);
    resp_free(&r);
}

static void metrics_count_requests(fixture *fx)
{
    resp r = get("/metrics", fx->admin);
    CHECK_STATUS(r, 200);
    CHECK(strncmp(r.ctype, "text/plain", 10) == 0, "content type %s", r.ctype);
    static const char *const want[] = {
        "visage_requests_total{method=\"POST\",route=\"/v1/recognize\",code=\"200\"}",
        "visage_requests_total{method=\"POST\",route=\"/v1/recognize\",code=\"400\"}",
        "visage_requests_total{method=\"GET\",route=\"/v1/persons\",code=\"429\"}",
        "visage_requests_total{method=\"GET\",route=\"/healthz\",code=\"200\"}",
        "visage_request_seconds_bucket{method=\"POST\",route=\"/v1/recognize\",le=\"+Inf\"}",
        "visage_faces_total ",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK(r.body && strstr(r.body, want[i]), "metrics lack %s", want[i]);
    char gauge[64];
    snprintf(gauge, sizeof gauge, "visage_gallery_faces %lld\n", (long long)gallery_faces());
    CHECK(r.body && strstr(r.body, gauge), "metrics lack %s", gauge);
    resp_free(&r);
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

int main(void)
{
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/bbt/bbt1.jpg", data_root());
    if (access(probe, R_OK) != 0) {
        printf("SKIP test_http: no test photos at %s\n", probe);
        return 77;
    }
    fixture fx = {0};
    snprintf(fx.dir, sizeof fx.dir, "/tmp/visage_http_XXXXXX");
    if (!mkdtemp(fx.dir))
        return 1;
    char db[512], web[512], file[600];
    snprintf(db, sizeof db, "%s/http.db", fx.dir);
    snprintf(web, sizeof web, "%s/web", fx.dir);
    mkdir(web, 0755);
    snprintf(file, sizeof file, "%s/index.html", web);
    write_text(file, "<!doctype html><title>visage test page</title>\n");
    snprintf(file, sizeof file, "%s/app.js", web);
    write_text(file, "console.log('visage');\n");
    vs_err err = {{0}};
    vs_app_config cfg = {.db = db, .threads = 1};
    if (vs_app_open(&cfg, &fx.app, &err) != VS_OK) {
        printf("SKIP test_http: cannot open the service (models?): %s\n", err.msg);
        return 77;
    }
    int issued = 0;
    CHECK(vs_http_bootstrap_admin(vs_app_store(fx.app), fx.admin, &issued, &err) == VS_OK &&
              issued && strlen(fx.admin) == VS_HTTP_KEY_LEN,
          "bootstrap: %s", err.msg);
    char again[VS_HTTP_KEY_LEN + 1];
    CHECK(vs_http_bootstrap_admin(vs_app_store(fx.app), again, &issued, &err) == VS_OK && !issued,
          "a second admin key was issued");
    vs_http_config hc = {.bind = "127.0.0.1", .port = -1, .threads = 2, .web_dir = web};
    CHECK(vs_http_start(fx.app, &hc, &fx.srv, &err) == VS_OK, "start: %s", err.msg);
    if (!fx.srv)
        return 1;
    port = vs_http_port(fx.srv);
    printf("  server on 127.0.0.1:%d, db %s\n", port, db);

    static const struct {
        const char *name;
        void (*run)(fixture *);
    } cases[] = {
        {"health_and_static", health_and_static},
        {"auth_rejects", auth_rejects},
        {"keys_lifecycle", keys_lifecycle},
        {"rate_limit", rate_limit},
        {"enrol_needs_consent", enrol_needs_consent},
        {"enrol_and_recognize", enrol_and_recognize},
        {"bad_input_changes_nothing", bad_input_changes_nothing},
        {"compare_two_photos", compare_two_photos},
        {"person_get_patch_delete", person_get_patch_delete},
        {"metrics_count_requests", metrics_count_requests},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct timeval t0, t1;
        int before = failures;
        gettimeofday(&t0, NULL);
        cases[i].run(&fx);
        gettimeofday(&t1, NULL);
        printf("  %-28s %s (%.2f s)\n", cases[i].name, failures > before ? "FAIL" : "ok",
               (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_usec - t0.tv_usec) / 1e6);
    }

    vs_http_stop(fx.srv);
    vs_app_close(fx.app);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.dir);
    if (system(cmd) != 0)
        printf("  (could not remove %s)\n", fx.dir);
    printf("test_http: %s (%d failure%s)\n", failures ? "FAIL" : "ok", failures,
           failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}

/*
 * test_http.c - the HTTP server end to end: the real server started in-process on a free
 * loopback port, called over real sockets by the small HTTP/1.1 client of http_client.h (one
 * connection per request, "Connection: close").  Every case runs twice: against a temporary
 * SQLite database, then against PostgreSQL (a throwaway server started by
 * scripts/pg_test_server.sh, or $VISAGE_TEST_PG; see pg.h), each with a fresh service.
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
 *   enrol_needs_consent           photos without consent "given" are refused (400
 *                                 consent_required) and nothing is written
 *   enrol_and_recognize           the 8 bbt people enrolled from one crop each (multipart);
 *                                 bbt1.jpg recognised with faces named, no name twice;
 *                                 the same over JSON + base64; a visit is recorded
 *   bad_input_changes_nothing     corrupt JPEG 400 invalid_image (gallery and persons
 *                                 unchanged); declared oversize body 413 before it is sent;
 *                                 chunked oversize body 413; wrong content type 415; unknown
 *                                 JSON field 400; JSON nested too deep 400; malformed
 *                                 multipart 400
 *   compare_two_photos            same person true, different people false
 *   openapi_matches_routes        GET /v1/openapi.json: every documented operation is a route
 *                                 with the same roles (x-roles), every route is documented once
 *   every_role_on_every_route     each route of the table with no key (401 unless public) and
 *                                 with each role's key: 403 exactly where the table says, never
 *                                 401/403/5xx where it allows; nothing written; X-API-Key and
 *                                 access_token headers work too
 *   verify_photo_and_person       /v1/verify with two photos (JSON, multipart) and with a photo
 *                                 and a person id; 404, 400, 422 for bad input
 *   person_faces_add_replace_delete  a person's faces: list, add (201), refused photo (422,
 *                                 nothing written), replace in place, 404 through another
 *                                 person, delete; no faces without consent (409)
 *   persons_list_filters          estimated age/gender on enrolment; list filters by name,
 *                                 gender, age range, tag, kind, created range; bad values 400
 *   compat_routes                 /face_recognize, /add_new_person (consent required; a known
 *                                 face answers with its person), /AddImageToIndex,
 *                                 /ValidateImage (top_k), /ReplaceImage, /DeleteImageFromIndex
 *   person_get_patch_delete       get with stats, patch, delete: 404 afterwards, its face no
 *                                 longer matches anyone in bbt1.jpg, gallery one face smaller
 *   metrics_count_requests        /metrics shows the counters of the calls above
 *
 * Data: models from models/ (or $VISAGE_MODELS), photos from $VISAGE_TEST_DATA or
 * ../shared/data (bbt/ and lfw-dev/); exit 77 (skip) when either is missing.
 */
#include <sodium.h>
#include <sys/stat.h>

#include "app/app.h"
#include "http/http.h"
#include "http_client.h"
#include "img/img.h"
#include "pg.h"

static const char *const bbt_people[8] = {"amy",   "bernadette", "howard",  "leonard",
                                          "penny", "raj",        "sheldon", "stuart"};

/* ---- the server under test ---------------------------------------------------------------- */

/* The server's per-key rate limit in these tests: a burst the cases stay within. */
#define TEST_RATE 50
#define TEST_BURST 150

typedef struct fixture {
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
    for (int i = 0; i < 2 * TEST_BURST; i++) {
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
    printf("  rate limit: %d ok, %d limited (first at request %d; burst %d, %d/s)\n", ok, limited,
           first_limited, TEST_BURST, TEST_RATE);
    CHECK(limited > 0 && first_limited >= TEST_BURST, "limited %d, first at %d", limited,
          first_limited);
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
    CHECK_ERROR(r, 400, "consent_required");
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

/* ---- the API document, roles, verify, faces, filters, compatibility routes -------------- */

/* A one-colour PNG without any face (for "no face" replies). */
static uint8_t *blank_png(size_t *n)
{
    vs_image *img = NULL;
    uint8_t *png = NULL;
    *n = 0;
    if (vs_image_new(160, 160, 3, &img, NULL) == VS_OK) {
        for (int y = 0; y < 160; y++)
            memset(img->px + (size_t)y * img->stride, 128, 160 * 3);
        vs_img_encode_png(img, &png, n, NULL);
    }
    vs_image_free(img);
    return png;
}

static resp form_with_file(const char *method, const char *path, const char *key, const char *field,
                           const char *filename, const uint8_t *img, size_t n,
                           const char *const *text /* name, value pairs, NULL-ended */)
{
    form f = {0};
    for (int i = 0; text && text[i]; i += 2)
        form_field(&f, text[i], text[i + 1]);
    if (img)
        form_file(&f, field, filename, img, n);
    form_end(&f);
    return send_form(method, path, key, &f);
}

/* A photo from the data folder sent as the one `file` of a form. */
static resp send_photo(const char *method, const char *path, const char *key, const char *rel,
                       const char *filename, const char *const *text)
{
    size_t n;
    uint8_t *img = data_file(rel, &n);
    CHECK(img != NULL, "missing photo %s", rel);
    resp r = form_with_file(method, path, key, "file", filename, img, n, text);
    free(img);
    return r;
}

static const char *role_names[] = {NULL, "admin", "operator", "viewer", "device"};

/* The bit of role name in the route table's role masks. */
static unsigned role_bit(const char *name)
{
    vs_api_role r = vs_role_parse(name);
    return r ? 1u << r : 0;
}

static void openapi_matches_routes(fixture *fx)
{
    resp r = get("/v1/openapi.json", fx->admin);
    CHECK_STATUS(r, 200);
    CHECK(strncmp(r.ctype, "application/json", 16) == 0, "type %s", r.ctype);
    cJSON *doc = json_of(&r);
    const cJSON *paths = cJSON_GetObjectItem(doc, "paths");
    CHECK(cJSON_IsObject(paths), "no paths in the document");
    static const char *const methods[] = {"get", "post", "put", "patch", "delete"};
    int documented[64] = {0}, n_ops = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, paths)
    {
        /* Any {name} segment stands for the table's {id}. */
        char path[256];
        size_t o = 0;
        for (const char *c = item->string; *c && o < sizeof path - 5; c++) {
            if (*c == '{') {
                memcpy(path + o, "{id}", 4);
                o += 4;
                while (*c && *c != '}')
                    c++;
            } else {
                path[o++] = *c;
            }
        }
        path[o] = '\0';
        for (int m = 0; m < 5; m++) {
            const cJSON *op = cJSON_GetObjectItem(item, methods[m]);
            if (!op)
                continue;
            n_ops++;
            char upper[8];
            for (int k = 0; k < 7 && methods[m][k - (k > 0)]; k++)
                upper[k] = (char)(methods[m][k] - 32 * (methods[m][k] >= 'a'));
            upper[strlen(methods[m])] = '\0';
            const char *rm, *rp;
            unsigned roles, doc_roles = 0;
            int found = -1;
            for (int i = 0; vs_http_route_info(i, &rm, &rp, &roles); i++)
                if (strcmp(rm, upper) == 0 && strcmp(rp, path) == 0)
                    found = i;
            CHECK(found >= 0, "documented %s %s is not a route", upper, item->string);
            if (found < 0)
                continue;
            documented[found]++;
            const cJSON *xr = cJSON_GetObjectItem(op, "x-roles"), *e;
            CHECK(cJSON_IsArray(xr), "%s %s: no x-roles", upper, path);
            cJSON_ArrayForEach(e, xr) doc_roles |= cJSON_IsString(e) ? role_bit(e->valuestring) : 0;
            vs_http_route_info(found, &rm, &rp, &roles);
            CHECK(doc_roles == roles, "%s %s: documented roles %#x, the server's %#x", rm, rp,
                  doc_roles, roles);
        }
    }
    int n_routes = 0;
    const char *rm, *rp;
    unsigned roles;
    for (; vs_http_route_info(n_routes, &rm, &rp, &roles); n_routes++)
        CHECK(documented[n_routes] == 1, "route %s %s is documented %d times", rm, rp,
              documented[n_routes]);
    CHECK(n_ops == n_routes, "%d documented operations, %d routes", n_ops, n_routes);
    printf("  openapi.json: %d operations = %d routes\n", n_ops, n_routes);
    cJSON_Delete(doc);
    resp_free(&r);
}

static void every_role_on_every_route(fixture *fx)
{
    char keys[5][VS_HTTP_KEY_LEN + 1] = {{0}};
    snprintf(keys[1], sizeof keys[1], "%s", fx->admin);
    for (int k = 2; k < 5; k++)
        make_key(fx, role_names[k], role_names[k], keys[k]);
    int64_t persons = person_count(fx), faces = gallery_faces();
    const char *m, *p;
    unsigned roles;
    int calls = 0;
    for (int i = 0; vs_http_route_info(i, &m, &p, &roles); i++) {
        /* Ids that do not exist and no body: nothing can change. */
        char path[256];
        size_t o = 0;
        for (const char *c = p; *c && o < sizeof path - 8; c++) {
            if (strncmp(c, "{id}", 4) == 0) {
                o += (size_t)snprintf(path + o, sizeof path - o, "999999");
                c += 3;
            } else {
                path[o++] = *c;
            }
        }
        path[o] = '\0';
        for (int k = 0; k < 5; k++) {
            resp r = request(m, path, k ? keys[k] : NULL, NULL, NULL, 0);
            char code[64];
            error_code(&r, code, sizeof code);
            calls++;
            if (!roles)
                CHECK(r.status != 401 && r.status != 403, "%s %s public: %d", m, p, r.status);
            else if (!k)
                CHECK(r.status == 401 && strcmp(code, "unauthorized") == 0,
                      "%s %s without a key: %d %s", m, p, r.status, code);
            else if (!(roles & role_bit(role_names[k])))
                CHECK(r.status == 403 && strcmp(code, "forbidden") == 0, "%s %s as %s: %d %s", m, p,
                      role_names[k], r.status, code);
            else
                CHECK(r.status != 401 && r.status != 403 && r.status < 500 && r.status > 0,
                      "%s %s as %s: %d %s", m, p, role_names[k], r.status, code);
            resp_free(&r);
        }
    }
    printf("  %d calls: every route with no key and each of the 4 roles\n", calls);
    CHECK(person_count(fx) == persons && gallery_faces() == faces, "the role calls wrote data");
    /* The other key headers: X-API-Key, and access_token (Pinecone face-matcher clients). */
    static const char *const headers[] = {"X-API-Key: ", "access_token: "};
    for (int h = 0; h < 2; h++) {
        resp r = request_as("GET", "/v1/openapi.json", headers[h], keys[4], NULL, NULL, 0);
        CHECK_STATUS(r, 200);
        resp_free(&r);
    }
}

static double json_num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : -1e9;
}

static int json_true(const cJSON *o, const char *name)
{
    return cJSON_IsTrue(cJSON_GetObjectItem(o, name));
}

/* A JSON body {"<a>": base64 of crop a, ...}; malloc'd. */
static char *json_images(const char *na, const uint8_t *a, size_t n_a, const char *nb,
                         const uint8_t *b, size_t n_b, const char *extra)
{
    size_t la = sodium_base64_ENCODED_LEN(n_a, sodium_base64_VARIANT_ORIGINAL);
    size_t lb = b ? sodium_base64_ENCODED_LEN(n_b, sodium_base64_VARIANT_ORIGINAL) : 0;
    char *s = malloc(la + lb + 256);
    int at = sprintf(s, "{\"%s\":\"", na);
    sodium_bin2base64(s + at, la, a, n_a, sodium_base64_VARIANT_ORIGINAL);
    at += (int)strlen(s + at);
    if (b) {
        at += sprintf(s + at, "\",\"%s\":\"", nb);
        sodium_bin2base64(s + at, lb, b, n_b, sodium_base64_VARIANT_ORIGINAL);
        at += (int)strlen(s + at);
    }
    sprintf(s + at, "\"%s}", extra ? extra : "");
    return s;
}

static void verify_photo_and_person(fixture *fx)
{
    size_t na, nb;
    uint8_t *amy2 = crop("amy", 2, &na), *penny2 = crop("penny", 2, &nb);
    /* Two images, JSON: same person. */
    size_t n3;
    uint8_t *amy3 = crop("amy", 3, &n3);
    char *body = json_images("a", amy2, na, "b", amy3, n3, NULL);
    resp r = post_json("/v1/verify", fx->admin, body);
    CHECK_STATUS(r, 200);
    cJSON *j = json_of(&r);
    CHECK(json_true(j, "same_person") && json_num(j, "similarity") >= json_num(j, "threshold"),
          "amy 2 vs 3: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    free(body);
    /* Two images, multipart: different people. */
    form f = {0};
    form_file(&f, "a", "a.png", amy2, na);
    form_file(&f, "b", "b.png", penny2, nb);
    form_end(&f);
    r = post_form("/v1/verify", fx->admin, &f);
    CHECK_STATUS(r, 200);
    j = json_of(&r);
    CHECK(!json_true(j, "same_person") && json_int(j, "faces_a") == 1, "amy vs penny: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    /* A photo against an enrolled person (amy was enrolled from crop 1). */
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)fx->ids[0]);
    const char *const amy_id[] = {"person_id", id, NULL};
    r = form_with_file("POST", "/v1/verify", fx->admin, "file", "x.png", amy2, na, amy_id);
    CHECK_STATUS(r, 200);
    j = json_of(&r);
    CHECK(json_true(j, "same_person") && json_int(j, "person_id") == fx->ids[0] &&
              json_int(j, "face_id") > 0 && json_int(j, "faces") == 1,
          "amy 2 vs amy: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    r = form_with_file("POST", "/v1/verify", fx->admin, "file", "x.png", penny2, nb, amy_id);
    j = json_of(&r);
    CHECK(r.status == 200 && !json_true(j, "same_person"), "penny 2 vs amy: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    char extra[64];
    snprintf(extra, sizeof extra, ",\"person_id\":%lld", (long long)fx->ids[0]);
    body = json_images("image", amy3, n3, NULL, NULL, 0, extra);
    r = post_json("/v1/verify", fx->admin, body);
    j = json_of(&r);
    CHECK(r.status == 200 && json_true(j, "same_person"), "JSON amy 3 vs amy: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    free(body);
    /* Bad input. */
    const char *const nobody[] = {"person_id", "999999", NULL};
    r = form_with_file("POST", "/v1/verify", fx->admin, "file", "x.png", amy2, na, nobody);
    CHECK_ERROR(r, 404, "not_found");
    resp_free(&r);
    r = form_with_file("POST", "/v1/verify", fx->admin, "a", "x.png", amy2, na, NULL);
    CHECK_ERROR(r, 400, "bad_request");
    resp_free(&r);
    const char *const bad_id[] = {"person_id", "amy", NULL};
    r = form_with_file("POST", "/v1/verify", fx->admin, "file", "x.png", amy2, na, bad_id);
    CHECK_ERROR(r, 400, "bad_request");
    resp_free(&r);
    size_t nblank;
    uint8_t *blank = blank_png(&nblank);
    r = form_with_file("POST", "/v1/verify", fx->admin, "file", "x.png", blank, nblank, amy_id);
    CHECK_ERROR(r, 422, "no_face");
    resp_free(&r);
    free(blank);
    free(amy2);
    free(amy3);
    free(penny2);
}

/* The ids of a person's faces (GET .../faces); returns how many. */
static int face_ids(fixture *fx, int64_t pid, int64_t *ids, int cap)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/persons/%lld/faces", (long long)pid);
    resp r = get(path, fx->admin);
    CHECK_STATUS(r, 200);
    cJSON *j = json_of(&r);
    const cJSON *e;
    int n = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "faces"))
    {
        if (n < cap)
            ids[n] = json_int(e, "id");
        n++;
        const cJSON *box = cJSON_GetObjectItem(e, "box");
        CHECK(cJSON_GetArraySize(box) == 4 && json_int(e, "person_id") == pid, "face %s", r.body);
    }
    cJSON_Delete(j);
    resp_free(&r);
    return n;
}

static void person_faces_add_replace_delete(fixture *fx)
{
    int64_t pid = fx->ids[0], other = fx->ids[4]; /* amy, penny */
    int64_t ids[8];
    char path[96], fpath[128];
    snprintf(path, sizeof path, "/v1/persons/%lld/faces", (long long)pid);
    CHECK(face_ids(fx, pid, ids, 8) == 1, "amy has one face");
    int64_t first = ids[0], gallery = gallery_faces();
    /* Add a second photo. */
    resp r = send_photo("POST", path, fx->admin, "bbt/amy/amy2.png", "amy2.png", NULL);
    CHECK_STATUS(r, 201);
    cJSON *j = json_of(&r);
    const cJSON *added = cJSON_GetObjectItem(j, "face_ids");
    int64_t second = cJSON_IsNumber(cJSON_GetArrayItem(added, 0))
                         ? (int64_t)cJSON_GetArrayItem(added, 0)->valuedouble
                         : -1;
    CHECK(json_int(j, "faces_added") == 1 && second > first, "add: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    CHECK(face_ids(fx, pid, ids, 8) == 2 && gallery_faces() == gallery + 1, "after add");
    /* A photo without a face is refused and nothing is written. */
    size_t nb;
    uint8_t *blank = blank_png(&nb);
    r = form_with_file("POST", path, fx->admin, "file", "blank.png", blank, nb, NULL);
    CHECK_ERROR(r, 422, "no_face");
    CHECK(r.body && strstr(r.body, "\"refused\""), "refusal reasons: %s", r.body);
    resp_free(&r);
    CHECK(gallery_faces() == gallery + 1, "a refused photo was written");
    /* Replace the second face with crop 3: same id, the gallery size unchanged. */
    snprintf(fpath, sizeof fpath, "%s/%lld", path, (long long)second);
    r = send_photo("PUT", fpath, fx->admin, "bbt/amy/amy3.png", "amy3.png", NULL);
    CHECK_STATUS(r, 200);
    j = json_of(&r);
    CHECK(json_int(cJSON_GetObjectItem(j, "face"), "id") == second, "replace: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    CHECK(gallery_faces() == gallery + 1, "replace changed the gallery size");
    r = form_with_file("PUT", fpath, fx->admin, "file", "blank.png", blank, nb, NULL);
    CHECK_ERROR(r, 422, "no_face");
    resp_free(&r);
    /* Another person's path does not reach this face. */
    snprintf(fpath, sizeof fpath, "/v1/persons/%lld/faces/%lld", (long long)other,
             (long long)second);
    r = send_photo("PUT", fpath, fx->admin, "bbt/amy/amy3.png", "amy3.png", NULL);
    CHECK_ERROR(r, 404, "not_found");
    resp_free(&r);
    r = request("DELETE", fpath, fx->admin, NULL, NULL, 0);
    CHECK_ERROR(r, 404, "not_found");
    resp_free(&r);
    /* Delete it. */
    snprintf(fpath, sizeof fpath, "%s/%lld", path, (long long)second);
    r = request("DELETE", fpath, fx->admin, NULL, NULL, 0);
    CHECK_STATUS(r, 200);
    resp_free(&r);
    r = request("DELETE", fpath, fx->admin, NULL, NULL, 0);
    CHECK_ERROR(r, 404, "not_found");
    resp_free(&r);
    CHECK(face_ids(fx, pid, ids, 8) == 1 && ids[0] == first && gallery_faces() == gallery,
          "after delete");
    /* A person without consent gets no faces (409), and nothing is written. */
    form f = {0};
    form_field(&f, "name", "no consent");
    form_end(&f);
    r = post_form("/v1/persons", fx->admin, &f);
    CHECK_STATUS(r, 201);
    j = json_of(&r);
    int64_t nc = json_int(cJSON_GetObjectItem(j, "person"), "id");
    cJSON_Delete(j);
    resp_free(&r);
    snprintf(fpath, sizeof fpath, "/v1/persons/%lld/faces", (long long)nc);
    r = send_photo("POST", fpath, fx->admin, "bbt/amy/amy2.png", "amy2.png", NULL);
    CHECK_ERROR(r, 409, "consent_required");
    resp_free(&r);
    CHECK(gallery_faces() == gallery, "a face without consent was written");
    snprintf(fpath, sizeof fpath, "/v1/persons/%lld", (long long)nc);
    r = request("DELETE", fpath, fx->admin, NULL, NULL, 0);
    resp_free(&r);
    r = send_photo("POST", "/v1/persons/999999/faces", fx->admin, "bbt/amy/amy2.png", "a.png",
                   NULL);
    CHECK_ERROR(r, 404, "not_found");
    resp_free(&r);
    free(blank);
}

/* Persons matching a list query (all pages of 1000 at most). */
static int list_count(fixture *fx, const char *query)
{
    char path[512];
    snprintf(path, sizeof path, "/v1/persons?limit=1000&%s", query);
    resp r = get(path, fx->admin);
    CHECK_STATUS(r, 200);
    cJSON *j = json_of(&r);
    int n = r.status == 200 ? cJSON_GetArraySize(cJSON_GetObjectItem(j, "persons")) : -1;
    cJSON_Delete(j);
    resp_free(&r);
    return n;
}

static void persons_list_filters(fixture *fx)
{
    /* Enrolment estimated age and gender for each bbt person. */
    for (int p = 0; p < 8; p++) {
        char path[64];
        snprintf(path, sizeof path, "/v1/persons/%lld", (long long)fx->ids[p]);
        resp r = get(path, fx->admin);
        cJSON *j = json_of(&r);
        const cJSON *a = cJSON_GetObjectItem(j, "attributes");
        const cJSON *g = cJSON_GetObjectItem(a, "gender");
        double age = json_num(a, "age");
        CHECK(cJSON_IsString(g) && age >= 10 && age <= 90 &&
                  cJSON_GetArraySize(cJSON_GetObjectItem(a, "estimated")) == 2,
              "%s: attributes %s", bbt_people[p], r.body);
        cJSON_Delete(j);
        resp_free(&r);
    }
    /* Three profiles with set attributes. */
    static const char *const attrs[] = {
        "{\"attributes\":{\"age\":25,\"gender\":\"female\",\"tags\":[\"vip\",\"regular\"]}}",
        "{\"attributes\":{\"age\":47,\"gender\":\"male\",\"tags\":[\"vip\"]}}",
        "{\"attributes\":{\"age\":70,\"gender\":\"female\"}}",
    };
    int64_t ids[3];
    for (int i = 0; i < 3; i++) {
        form f = {0};
        char name[32];
        snprintf(name, sizeof name, "filter-%d", i);
        form_field(&f, "name", name);
        form_end(&f);
        resp r = post_form("/v1/persons", fx->admin, &f);
        cJSON *j = json_of(&r);
        ids[i] = json_int(cJSON_GetObjectItem(j, "person"), "id");
        cJSON_Delete(j);
        resp_free(&r);
        char path[64];
        snprintf(path, sizeof path, "/v1/persons/%lld", (long long)ids[i]);
        r = patch(path, fx->admin, attrs[i]);
        CHECK_STATUS(r, 200);
        resp_free(&r);
    }
    static const struct {
        const char *q;
        int want;
    } cases[] = {
        {"name=filter-", 3},
        {"name=filter-&gender=female", 2},
        {"name=filter-&gender=male", 1},
        {"name=filter-&age_min=40", 2},
        {"name=filter-&age_max=30", 1},
        {"name=filter-&age_min=20&age_max=50", 2},
        {"name=filter-&tag=vip", 2},
        {"name=filter-&tag=regular&gender=female", 1},
        {"name=filter-&tag=vip&age_min=30", 1},
        {"name=filter-&kind=staff", 0},
        {"name=filter-&created_from=1", 3},
        {"name=filter-&created_to=1", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = list_count(fx, cases[i].q);
        CHECK(n == cases[i].want, "%s: %d persons, want %d", cases[i].q, n, cases[i].want);
    }
    static const char *const bad[] = {"gender=other",    "age_min=abc", "age_max=200",
                                      "created_from=-5", "kind=alien",  "limit=0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/persons?%s", bad[i]);
        resp r = get(path, fx->admin);
        CHECK_ERROR(r, 400, "bad_request");
        resp_free(&r);
    }
    for (int i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof path, "/v1/persons/%lld", (long long)ids[i]);
        resp r = request("DELETE", path, fx->admin, NULL, NULL, 0);
        CHECK_STATUS(r, 200);
        resp_free(&r);
    }
}

#define LFW "lfw-dev/images/"

/* A string member, or "". */
static const char *json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void compat_routes(fixture *fx)
{
    const char *howard = "bbt/howard/howard2.png";
    const char *stranger = LFW "Adel_Al-Jubeir/Adel_Al-Jubeir_0001.jpg";
    const char *stranger2 = LFW "Adel_Al-Jubeir/Adel_Al-Jubeir_0003.jpg";
    char device[VS_HTTP_KEY_LEN + 1];
    make_key(fx, "door", "device", device);
    /* FaceAnalytics: a known face, as a camera (device key) asks. */
    resp r = send_photo("POST", "/face_recognize", device, howard, "h.png", NULL);
    CHECK_STATUS(r, 200);
    cJSON *j = json_of(&r);
    CHECK(strcmp(json_str(j, "name"), "howard") == 0 && json_int(j, "person_id") == fx->ids[2] &&
              json_num(j, "confidence") > 0,
          "face_recognize howard: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    r = send_photo("POST", "/face_recognize", device, stranger, "s.jpg", NULL);
    j = json_of(&r);
    CHECK(r.status == 200 && strcmp(json_str(j, "name"), "New User") == 0 &&
              cJSON_IsNull(cJSON_GetObjectItem(j, "person_id")),
          "face_recognize stranger: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    /* add_new_person: without consent nothing is written. */
    int64_t persons = person_count(fx), faces = gallery_faces();
    const char *const desc[] = {"description", "vip guest", NULL};
    r = send_photo("POST", "/add_new_person", fx->admin, stranger, "s.jpg", desc);
    CHECK_ERROR(r, 400, "consent_required");
    resp_free(&r);
    CHECK(person_count(fx) == persons && gallery_faces() == faces, "written without consent");
    const char *const desc_ok[] = {"description", "vip guest", "consent", "given", NULL};
    r = send_photo("POST", "/add_new_person", fx->admin, stranger, "s.jpg", desc_ok);
    CHECK_STATUS(r, 200);
    j = json_of(&r);
    int64_t sid = json_int(j, "person_id");
    CHECK(sid > 0 && strcmp(json_str(j, "name"), "New User") == 0 &&
              strcmp(json_str(j, "description"), "vip guest") == 0,
          "add_new_person: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    CHECK(person_count(fx) == persons + 1 && gallery_faces() == faces + 1, "not enrolled");
    /* The same person again: answered with the existing person, nothing new. */
    r = send_photo("POST", "/add_new_person", fx->admin, stranger2, "s2.jpg", desc_ok);
    j = json_of(&r);
    CHECK(r.status == 200 && json_int(j, "person_id") == sid, "add again: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    CHECK(person_count(fx) == persons + 1, "the same person was added twice");
    r = send_photo("POST", "/face_recognize", fx->admin, stranger2, "s2.jpg", NULL);
    j = json_of(&r);
    CHECK(json_int(j, "person_id") == sid && strcmp(json_str(j, "description"), "vip guest") == 0,
          "recognised after add: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    /* Pinecone face matcher: add (id = file stem), validate, replace, delete. */
    const char *const consent[] = {"consent", "given", NULL};
    r = send_photo("POST", "/AddImageToIndex", fx->admin, LFW "Abdullah_Gul/Abdullah_Gul_0013.jpg",
                   "gul.jpg", consent);
    j = json_of(&r);
    CHECK(r.status == 200 && strcmp(json_str(j, "id"), "gul") == 0 &&
              strcmp(json_str(j, "message"), "Image added successfully") == 0,
          "AddImageToIndex: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    /* A person of that name who has not given consent gets no face through the index route. */
    form nf = {0};
    form_field(&nf, "name", "holdout");
    form_end(&nf);
    r = post_form("/v1/persons", fx->admin, &nf);
    j = json_of(&r);
    int64_t holdout = json_int(cJSON_GetObjectItem(j, "person"), "id");
    cJSON_Delete(j);
    resp_free(&r);
    int64_t faces_now = gallery_faces();
    r = send_photo("POST", "/AddImageToIndex", fx->admin, LFW "Abdullah_Gul/Abdullah_Gul_0013.jpg",
                   "holdout.jpg", consent);
    CHECK_ERROR(r, 409, "consent_required");
    resp_free(&r);
    CHECK(gallery_faces() == faces_now, "a face was stored without the person's consent");
    char hpath[64];
    snprintf(hpath, sizeof hpath, "/v1/persons/%lld", (long long)holdout);
    r = request("DELETE", hpath, fx->admin, NULL, NULL, 0);
    resp_free(&r);
    r = send_photo("POST", "/ValidateImage?top_k=3", device,
                   LFW "Abdullah_Gul/Abdullah_Gul_0014.jpg", "q.jpg", NULL);
    CHECK_STATUS(r, 200);
    j = json_of(&r);
    const cJSON *best = cJSON_GetArrayItem(j, 0);
    CHECK(cJSON_IsArray(j) && cJSON_GetArraySize(j) >= 1 && cJSON_GetArraySize(j) <= 3 &&
              strcmp(json_str(best, "id"), "gul") == 0 &&
              strcmp(json_str(best, "message"), "Matching face found") == 0,
          "ValidateImage: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    r = send_photo("POST", "/ValidateImage?top_k=99", device, howard, "q.jpg", NULL);
    CHECK_ERROR(r, 400, "bad_request");
    resp_free(&r);
    int64_t before = gallery_faces();
    r = send_photo("POST", "/ReplaceImage?user_id=gul", fx->admin,
                   LFW "Alan_Greenspan/Alan_Greenspan_0001.jpg", "n.jpg", NULL);
    CHECK_STATUS(r, 200);
    resp_free(&r);
    CHECK(gallery_faces() == before, "replace changed the gallery size");
    r = send_photo("POST", "/ValidateImage", device, LFW "Alan_Greenspan/Alan_Greenspan_0005.jpg",
                   "q.jpg", NULL);
    j = json_of(&r);
    CHECK(strcmp(json_str(cJSON_GetArrayItem(j, 0), "id"), "gul") == 0,
          "the replaced face answers: %s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    r = send_photo("POST", "/ReplaceImage?user_id=nobody", fx->admin, howard, "n.jpg", NULL);
    CHECK_ERROR(r, 404, "not_found");
    resp_free(&r);
    r = request("DELETE", "/DeleteImageFromIndex?user_id=gul", fx->admin, NULL, NULL, 0);
    CHECK_STATUS(r, 200);
    resp_free(&r);
    CHECK(gallery_faces() == before - 1, "delete left the face");
    r = request("DELETE", "/DeleteImageFromIndex?user_id=gul", fx->admin, NULL, NULL, 0);
    CHECK_ERROR(r, 404, "not_found");
    resp_free(&r);
    r = request("DELETE", "/DeleteImageFromIndex", fx->admin, NULL, NULL, 0);
    CHECK_ERROR(r, 400, "bad_request");
    resp_free(&r);
    /* The stranger added above leaves again. */
    char path[64];
    snprintf(path, sizeof path, "/v1/persons/%lld", (long long)sid);
    r = request("DELETE", path, fx->admin, NULL, NULL, 0);
    CHECK_STATUS(r, 200);
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
    {"openapi_matches_routes", openapi_matches_routes},
    {"every_role_on_every_route", every_role_on_every_route},
    {"verify_photo_and_person", verify_photo_and_person},
    {"person_faces_add_replace_delete", person_faces_add_replace_delete},
    {"persons_list_filters", persons_list_filters},
    {"compat_routes", compat_routes},
    {"person_get_patch_delete", person_get_patch_delete},
    {"metrics_count_requests", metrics_count_requests},
};

/* Every case against a fresh service and server on database db.  0 when the service cannot
 * open (models missing: the caller skips), else 1. */
static int run_suite(const char *db, const char *label, const char *web)
{
    fixture fx = {0};
    vs_err err = {{0}};
    vs_app_config cfg = {.db = db, .threads = 1};
    if (vs_app_open(&cfg, &fx.app, &err) != VS_OK) {
        printf("  cannot open the service on %s: %s\n", label, err.msg);
        return 0;
    }
    int issued = 0;
    CHECK(vs_http_bootstrap_admin(vs_app_store(fx.app), fx.admin, &issued, &err) == VS_OK &&
              issued && strlen(fx.admin) == VS_HTTP_KEY_LEN,
          "bootstrap: %s", err.msg);
    char again[VS_HTTP_KEY_LEN + 1];
    CHECK(vs_http_bootstrap_admin(vs_app_store(fx.app), again, &issued, &err) == VS_OK && !issued,
          "a second admin key was issued");
    vs_http_config hc = {.bind = "127.0.0.1",
                         .port = -1,
                         .threads = 2,
                         .web_dir = web,
                         .rate = TEST_RATE,
                         .burst = TEST_BURST};
    CHECK(vs_http_start(fx.app, &hc, &fx.srv, &err) == VS_OK, "start: %s", err.msg);
    if (!fx.srv) {
        vs_app_close(fx.app);
        return 1;
    }
    port = vs_http_port(fx.srv);
    printf("== %s: server on 127.0.0.1:%d\n", label, port);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct timeval t0, t1;
        int before = failures;
        gettimeofday(&t0, NULL);
        cases[i].run(&fx);
        gettimeofday(&t1, NULL);
        printf("  %-32s %s [%s] (%.2f s)\n", cases[i].name, failures > before ? "FAIL" : "ok",
               label, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_usec - t0.tv_usec) / 1e6);
    }
    vs_http_stop(fx.srv);
    vs_app_close(fx.app);
    return 1;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/bbt/bbt1.jpg", data_root());
    if (access(probe, R_OK) != 0) {
        printf("SKIP test_http: no test photos at %s\n", probe);
        return 77;
    }
    char dir[256], db[512], web[512], file[600];
    snprintf(dir, sizeof dir, "/tmp/visage_http_XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(db, sizeof db, "%s/http.db", dir);
    snprintf(web, sizeof web, "%s/web", dir);
    mkdir(web, 0755);
    snprintf(file, sizeof file, "%s/index.html", web);
    write_text(file, "<!doctype html><title>visage test page</title>\n");
    snprintf(file, sizeof file, "%s/app.js", web);
    write_text(file, "console.log('visage');\n");
    int ran = run_suite(db, "sqlite", web);
    if (ran) {
        test_pg server;
        char url[1024];
        if (!test_pg_begin(&server)) {
            printf("SKIP postgres half: %s\n", server.why);
        } else {
            int ok = test_pg_schema_url(server.url, "http_test", url, sizeof url);
            CHECK(ok, "no schema on %s", server.url);
            CHECK(!ok || run_suite(url, "postgres", web), "the service did not open on PostgreSQL");
        }
        test_pg_end(&server);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("  (could not remove %s)\n", dir);
    if (!ran) {
        printf("SKIP test_http: the service does not open (models?)\n");
        return 77;
    }
    printf("test_http: %s (%d failure%s)\n", failures ? "FAIL" : "ok", failures,
           failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}

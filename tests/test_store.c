/*
 * test_store.c - the store (src/store/) against both backends, one table of cases.
 *
 * Every case runs against SQLite (a fresh file in a temporary folder) and against PostgreSQL
 * (a fresh schema, through `options=-csearch_path=...` in the URL) when a server is available:
 *   VISAGE_TEST_PG=postgresql://...   use that server (tests/run_store_tests.sh sets it);
 *   VISAGE_TEST_PG=skip[:reason]      SQLite only, the PostgreSQL half prints SKIP and why;
 *   unset                             start one with scripts/pg_test_server.sh (run from the
 *                                     repository root) and stop it at the end; if it cannot
 *                                     start, SKIP with its message.
 * Expected values come from the inputs the cases write (counts, bit patterns, ids), checked
 * through the store's API and, where the API has no reader (watchlist, purchase_lines,
 * schema_version), through the database itself (sqlite3 / libpq directly).  Failures in the
 * middle of an operation are made by real database errors: a missing person, a duplicate
 * unique key, and triggers installed by the test that raise on a given row.
 */
#include <float.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pg.h"
#include "store/store.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
    ((cond) ? 1                                                                                    \
            : (printf("  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond), printf(__VA_ARGS__),       \
               printf("\n"), failures++, 0))

/* A status check that prints both statuses and the detail message. */
#define CHECK_ST(expr, want, e) check_st_at((expr), (want), (e), #expr, __LINE__)

static int check_st_at(vs_status got, vs_status want, const vs_err *e, const char *what, int line)
{
    if (got == want)
        return 1;
    printf("  FAIL %s:%d: %s: got %s, want %s (%s)\n", __FILE__, line, what, vs_status_str(got),
           vs_status_str(want), e ? e->msg : "");
    failures++;
    return 0;
}

/* ---- backends ----------------------------------------------------------------------------- */

typedef struct backend {
    const char *name; /* "sqlite" or "postgres" */
    int pg;
    char base[512];  /* sqlite: a temporary folder; postgres: the server URL */
    char url[1024];  /* the current case's database */
    char schema[64]; /* postgres: the current case's schema */
    int n;           /* cases so far */
} backend;

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static int pg_raw(const backend *b, const char *sql, long long *val)
{
    PGconn *c = PQconnectdb(b->base);
    int ok = PQstatus(c) == CONNECTION_OK;
    PQsetNoticeProcessor(c, quiet, NULL);
    char set[128];
    snprintf(set, sizeof set, "SET search_path TO %s", b->schema);
    PGresult *r = ok ? PQexec(c, set) : NULL;
    ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    r = ok ? PQexec(c, sql) : NULL;
    ExecStatusType t = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    ok = ok && (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK);
    if (!ok)
        printf("  raw postgres: %s", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    if (ok && val)
        *val = t == PGRES_TUPLES_OK && PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    PQfinish(c);
    return ok;
}

static int sqlite_raw(const backend *b, const char *sql, long long *val)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_open(b->url + strlen("sqlite:"), &db) == SQLITE_OK;
    ok = ok && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK;
    int rc = ok ? sqlite3_step(st) : SQLITE_ERROR;
    ok = ok && (rc == SQLITE_ROW || rc == SQLITE_DONE);
    if (!ok)
        printf("  raw sqlite: %s\n", sqlite3_errmsg(db));
    if (ok && val)
        *val = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok;
}

/* Runs one SQL statement on the case's database behind the store's back; *val (may be NULL)
 * gets the first column of the first row.  0 on failure (printed). */
static int raw(const backend *b, const char *sql, long long *val)
{
    return b->pg ? pg_raw(b, sql, val) : sqlite_raw(b, sql, val);
}

static long long raw_count(const backend *b, const char *sql)
{
    long long v = -1;
    raw(b, sql, &v);
    return v;
}

/* Points b->url at a new empty database for the next case. */
static int fresh_db(backend *b)
{
    b->n++;
    if (!b->pg) {
        snprintf(b->url, sizeof b->url, "sqlite:%s/case%d.db", b->base, b->n);
        return 1;
    }
    snprintf(b->schema, sizeof b->schema, "t%d_%d", (int)getpid(), b->n);
    return test_pg_schema_url(b->base, b->schema, b->url, sizeof b->url);
}

static void drop_db(backend *b)
{
    if (b->pg) {
        char sql[160];
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", b->schema);
        raw(b, sql, NULL);
    }
}

/* ---- helpers ------------------------------------------------------------------------------ */

static vs_store *open_store(const backend *b)
{
    vs_store *s = NULL;
    vs_err e = {{0}};
    CHECK_ST(vs_store_open(b->url, &s, &e), VS_OK, &e);
    return s;
}

static int64_t add_person(vs_store *s, vs_person_kind kind, const char *name, int64_t created)
{
    vs_person p = {.kind = kind,
                   .name = (char *)name,
                   .consent_status = VS_CONSENT_NONE,
                   .created_at = created};
    int64_t id = 0;
    vs_err e = {{0}};
    CHECK_ST(vs_store_person_create(s, &p, &id, &e), VS_OK, &e);
    return id;
}

/* A face of `dim` floats made from seed (finite, varied bit patterns). */
static vs_face_row make_face(int64_t person, const char *model, uint32_t dim, uint32_t seed,
                             float *buf)
{
    vs_face_row f = {.person_id = person,
                     .dim = dim,
                     .vector = buf,
                     .quality = 0.25 + seed,
                     .box_x = 1.5,
                     .box_y = 2.5,
                     .box_w = 30,
                     .box_h = 40,
                     .source = (char *)"test"};
    snprintf(f.model, sizeof f.model, "%s", model);
    uint32_t x = seed * 2654435761u + 1;
    for (uint32_t i = 0; i < dim; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        uint32_t bits = x;
        if ((bits & 0x7f800000u) == 0x7f800000u) /* Inf/NaN exponent: make it finite */
            bits &= 0xbfffffffu;
        memcpy(&buf[i], &bits, 4);
    }
    return f;
}

static int64_t add_face(vs_store *s, int64_t person, const char *model, uint32_t seed)
{
    float buf[16];
    vs_face_row f = make_face(person, model, 16, seed, buf);
    int64_t id = 0;
    vs_err e = {{0}};
    CHECK_ST(vs_store_faces_add(s, &f, 1, &id, &e), VS_OK, &e);
    return id;
}

static long long count_where(const backend *b, const char *table, const char *col, int64_t id)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE %s = %lld", table, col, (long long)id);
    return raw_count(b, sql);
}

/* ---- cases -------------------------------------------------------------------------------- */

static const char *const all_tables[] = {
    "persons",   "faces",    "visits", "purchases", "purchase_lines", "incidents",
    "watchlist", "api_keys", "audit",  "settings",  "schema_version"};

static void migrations_create_every_table_from_empty(backend *b)
{
    vs_store *s = open_store(b);
    if (!s)
        return;
    CHECK(vs_store_schema_version(s) == vs_store_schema_latest(), "version %d, latest %d",
          vs_store_schema_version(s), vs_store_schema_latest());
    CHECK(strcmp(vs_store_backend(s), b->name) == 0, "backend %s", vs_store_backend(s));
    for (size_t i = 0; i < sizeof all_tables / sizeof all_tables[0]; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", all_tables[i]);
        CHECK(raw_count(b, sql) >= 0, "table %s", all_tables[i]);
    }
    CHECK(raw_count(b, "SELECT COUNT(*) FROM schema_version") == vs_store_schema_latest(),
          "one schema_version row per migration");
    vs_store_close(s);
}

static void reopen_is_idempotent(backend *b)
{
    vs_store *s = open_store(b);
    if (!s)
        return;
    int64_t id = add_person(s, VS_PERSON_STAFF, "Ann", 0);
    vs_store_close(s);
    for (int k = 0; k < 2; k++) {
        s = open_store(b);
        if (!s)
            return;
        vs_person p = {0};
        vs_err e = {{0}};
        CHECK_ST(vs_store_person_get(s, id, &p, &e), VS_OK, &e);
        CHECK(p.name && strcmp(p.name, "Ann") == 0, "name survives reopen");
        vs_person_clear(&p);
        vs_store_close(s);
    }
    CHECK(raw_count(b, "SELECT COUNT(*) FROM schema_version") == vs_store_schema_latest(),
          "no migration applied twice");
}

static void person_crud_round_trips_every_field(backend *b)
{
    vs_store *s = open_store(b);
    if (!s)
        return;
    vs_err e = {{0}};
    /* jsonb keeps this text as is: keys already in its order (shorter first), ", " and ": ". */
    vs_person in = {.kind = VS_PERSON_CUSTOMER,
                    .name = "Zoë O'Brien",
                    .description = "likes tea; 'quoted' \"double\" ? marks",
                    .attributes_json = "{\"vip\": true, \"segment\": \"gold\"}",
                    .consent_status = VS_CONSENT_GIVEN,
                    .consent_purpose = "loyalty",
                    .consent_given_at = 1700000000123,
                    .consent_expires_at = 1800000000456,
                    .created_at = 1690000000789};
    int64_t id = 0;
    CHECK_ST(vs_store_person_create(s, &in, &id, &e), VS_OK, &e);
    CHECK(id > 0, "id %lld", (long long)id);
    vs_person p = {0};
    CHECK_ST(vs_store_person_get(s, id, &p, &e), VS_OK, &e);
    CHECK(p.id == id && p.kind == in.kind && p.consent_status == in.consent_status, "ids/enums");
    CHECK(p.name && strcmp(p.name, in.name) == 0, "name '%s'", p.name ? p.name : "(null)");
    CHECK(p.description && strcmp(p.description, in.description) == 0, "description");
    CHECK(p.attributes_json && strcmp(p.attributes_json, in.attributes_json) == 0,
          "attributes '%s'", p.attributes_json ? p.attributes_json : "(null)");
    CHECK(p.consent_purpose && strcmp(p.consent_purpose, "loyalty") == 0, "purpose");
    CHECK(p.consent_given_at == in.consent_given_at &&
              p.consent_expires_at == in.consent_expires_at,
          "consent times");
    CHECK(p.created_at == in.created_at && p.updated_at > 0 && p.merged_into == 0, "times");
    vs_person_clear(&p);

    vs_person up = {
        .id = id, .kind = VS_PERSON_STAFF, .name = "Zoe", .consent_status = VS_CONSENT_WITHDRAWN};
    CHECK_ST(vs_store_person_update(s, &up, &e), VS_OK, &e);
    CHECK_ST(vs_store_person_get(s, id, &p, &e), VS_OK, &e);
    CHECK(p.kind == VS_PERSON_STAFF && strcmp(p.name, "Zoe") == 0 && !p.description &&
              !p.attributes_json && p.consent_given_at == 0 && p.created_at == in.created_at,
          "update replaced the profile");
    vs_person_clear(&p);

    /* Bad input is refused before the database and changes nothing. */
    vs_person bad = in;
    bad.kind = 0;
    CHECK_ST(vs_store_person_create(s, &bad, NULL, &e), VS_INVAL, &e);
    bad = in;
    bad.attributes_json = "{\"a\": ";
    CHECK_ST(vs_store_person_create(s, &bad, NULL, &e), VS_INVAL, &e);
    bad.attributes_json = "[1, 2]";
    CHECK_ST(vs_store_person_create(s, &bad, NULL, &e), VS_INVAL, &e);
    up.id = id + 1000;
    CHECK_ST(vs_store_person_update(s, &up, &e), VS_NOTFOUND, &e);
    int64_t n = -1;
    CHECK_ST(vs_store_person_count(s, NULL, &n, &e), VS_OK, &e);
    CHECK(n == 1, "count %lld", (long long)n);

    CHECK_ST(vs_store_person_delete(s, id, &e), VS_OK, &e);
    CHECK_ST(vs_store_person_get(s, id, &p, &e), VS_NOTFOUND, &e);
    CHECK_ST(vs_store_person_delete(s, id, &e), VS_NOTFOUND, &e);
    char msg[64];
    CHECK(strstr(vs_store_errmsg(s, msg, sizeof msg), "does not exist") != NULL, "errmsg '%s'",
          msg);
    vs_store_close(s);
}

static void person_list_filters_and_pages(backend *b)
{
    vs_store *s = open_store(b);
    if (!s)
        return;
    vs_err e = {{0}};
    int64_t ids[25];
    for (int i = 0; i < 25; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s %d", i % 3 == 0 ? "ALICE" : "bob", i);
        ids[i] = add_person(s, i % 5 == 0 ? VS_PERSON_STAFF : VS_PERSON_CUSTOMER, name, 1000 + i);
    }
    int64_t odd = add_person(s, VS_PERSON_ANONYMOUS, "100%_sure", 5000);

    vs_person_filter f = {.name_contains = "alice"};
    int64_t n = 0;
    CHECK_ST(vs_store_person_count(s, &f, &n, &e), VS_OK, &e);
    CHECK(n == 9, "case-insensitive name filter: %lld", (long long)n);
    f = (vs_person_filter){.kind = VS_PERSON_STAFF};
    CHECK_ST(vs_store_person_count(s, &f, &n, &e), VS_OK, &e);
    CHECK(n == 5, "kind filter: %lld", (long long)n);
    f = (vs_person_filter){.created_from = 1010, .created_to = 1020};
    CHECK_ST(vs_store_person_count(s, &f, &n, &e), VS_OK, &e);
    CHECK(n == 10, "created range: %lld", (long long)n);
    f = (vs_person_filter){.name_contains = "%_"};
    vs_person_list l = {0};
    CHECK_ST(vs_store_person_list(s, &f, &l, &e), VS_OK, &e);
    CHECK(l.n == 1 && l.items[0].id == odd, "LIKE metacharacters are literal: %zu", l.n);
    vs_person_list_free(&l);

    /* Keyset pages of 10 walk all 26 in id order, each once. */
    f = (vs_person_filter){.limit = 10};
    int seen = 0, pages = 0;
    int64_t last = 0;
    do {
        CHECK_ST(vs_store_person_list(s, &f, &l, &e), VS_OK, &e);
        for (size_t i = 0; i < l.n; i++) {
            CHECK(l.items[i].id > last, "ascending ids");
            last = l.items[i].id;
            seen++;
        }
        f.after_id = l.next_after_id;
        pages++;
        vs_person_list_free(&l);
    } while (f.after_id && pages < 10);
    CHECK(seen == 26 && pages == 3, "keyset: %d rows in %d pages", seen, pages);

    f = (vs_person_filter){.limit = 5, .offset = 21};
    CHECK_ST(vs_store_person_list(s, &f, &l, &e), VS_OK, &e);
    CHECK(l.n == 5 && l.items[0].id == ids[21] && l.items[4].id == odd, "offset page");
    vs_person_list_free(&l);
    f = (vs_person_filter){.kind = (vs_person_kind)9};
    CHECK_ST(vs_store_person_list(s, &f, &l, &e), VS_INVAL, &e);
    vs_store_close(s);
}

/* Gender, age range and tag filters read the attributes JSON (each dialect its own SQL). */
static void person_attribute_filters(backend *b)
{
    vs_store *s = open_store(b);
    if (!s)
        return;
    static const char *const attrs[] = {
        "{\"age\":25,\"gender\":\"female\",\"tags\":[\"vip\",\"regular\"]}",
        "{\"age\":40,\"gender\":\"male\",\"tags\":[\"vip\"]}",
        "{\"gender\":\"female\"}",
        NULL,
        "{\"age\":61.5,\"gender\":\"male\",\"tags\":[]}",
    };
    vs_err e = {{0}};
    for (int i = 0; i < 5; i++) {
        vs_person p = {.kind = VS_PERSON_CUSTOMER, .consent_status = VS_CONSENT_NONE};
        p.name = (char *)"attr";
        p.attributes_json = (char *)attrs[i];
        int64_t id = 0;
        CHECK_ST(vs_store_person_create(s, &p, &id, &e), VS_OK, &e);
    }
    static const struct {
        vs_person_filter f;
        int64_t want;
        const char *what;
    } cases[] = {
        {{.gender = "female"}, 2, "gender female"},
        {{.gender = "male"}, 2, "gender male"},
        {{.age_min = 30}, 2, "age >= 30"},
        {{.age_max = 30}, 1, "age <= 30"},
        {{.age_min = 20, .age_max = 45}, 2, "age 20..45"},
        {{.age_min = 61, .age_max = 62}, 1, "fractional age"},
        {{.tag = "vip"}, 2, "tag vip"},
        {{.tag = "regular", .gender = "female"}, 1, "tag and gender"},
        {{.tag = "vi"}, 0, "tags match whole"},
        {{.gender = "male", .age_max = 50}, 1, "gender and age"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t n = -1;
        vs_person_filter f = cases[i].f;
        f.name_contains = "attr";
        CHECK_ST(vs_store_person_count(s, &f, &n, &e), VS_OK, &e);
        CHECK(n == cases[i].want, "%s: %lld, want %lld", cases[i].what, (long long)n,
              (long long)cases[i].want);
        vs_person_list l = {0};
        CHECK_ST(vs_store_person_list(s, &f, &l, &e), VS_OK, &e);
        CHECK((int64_t)l.n == cases[i].want, "%s (list): %zu", cases[i].what, l.n);
        vs_person_list_free(&l);
    }
    vs_person_filter bad = {.age_min = -1};
    int64_t n = 0;
    CHECK_ST(vs_store_person_count(s, &bad, &n, &e), VS_INVAL, &e);
    vs_store_close(s);
}

typedef struct scan_ctx {
    int64_t last;
    size_t rows, calls;
    int ordered, exact;
} scan_ctx;

static int scan_check(void *ctx, const vs_face_row *rows, size_t n)
{
    scan_ctx *c = ctx;
    c->calls++;
    for (size_t i = 0; i < n; i++) {
        float want[16];
        make_face(rows[i].person_id, "m1", 16, (uint32_t)rows[i].person_id * 7 + (uint32_t)c->rows,
                  want);
        c->ordered &= rows[i].id > c->last;
        c->exact &= rows[i].dim == 16 && memcmp(rows[i].vector, want, sizeof want) == 0;
        c->last = rows[i].id;
        c->rows++;
    }
    return 0;
}

static void faces_round_trip_bit_exact(backend *b)
{
    vs_store *s = open_store(b);
    if (!s)
        return;
    vs_err e = {{0}};
    int64_t p = add_person(s, VS_PERSON_CUSTOMER, "F", 0);
    /* Edge values a text round trip would break: -0, denormals, extremes, epsilon steps. */
    float edge[12] = {-0.0f, FLT_MIN, -FLT_MAX, FLT_MAX, 1e-45f, 1.0f + FLT_EPSILON,
                      0.1f,  -0.3f,   3.4e38f,  1e-38f,  0.0f,   (float)M_PI};
    float scratch[12];
    vs_face_row f = make_face(p, "fr_feature", 12, 1, scratch);
    f.vector = edge;
    int64_t fid = 0;
    CHECK_ST(vs_store_faces_add(s, &f, 1, &fid, &e), VS_OK, &e);
    /* Five faces of model m1 for the scan; seeds chosen so scan_check can recompute them. */
    for (size_t k = 0; k < 5; k++) {
        float buf[16];
        vs_face_row g = make_face(p, "m1", 16, (uint32_t)p * 7 + (uint32_t)k, buf);
        CHECK_ST(vs_store_faces_add(s, &g, 1, NULL, &e), VS_OK, &e);
    }
    vs_face_list l = {0};
    CHECK_ST(vs_store_face_list(s, p, &l, &e), VS_OK, &e);
    CHECK(l.n == 6 && l.items[0].id == fid, "6 faces, first %lld", (long long)fid);
    if (l.n == 6) {
        const vs_face_row *r = &l.items[0];
        CHECK(r->dim == 12 && memcmp(r->vector, edge, sizeof edge) == 0, "vector bits");
        CHECK(strcmp(r->model, "fr_feature") == 0 && r->person_id == p, "model, person");
        CHECK(r->quality == f.quality && r->box_x == 1.5 && r->box_y == 2.5 && r->box_w == 30 &&
                  r->box_h == 40 && strcmp(r->source, "test") == 0 && r->created_at > 0,
              "quality, box, source");
    }
    vs_face_list_free(&l);

    int64_t n = 0;
    CHECK_ST(vs_store_face_count(s, "m1", &n, &e), VS_OK, &e);
    CHECK(n == 5, "count m1 %lld", (long long)n);
    CHECK_ST(vs_store_face_count(s, NULL, &n, &e), VS_OK, &e);
    CHECK(n == 6, "count all %lld", (long long)n);
    scan_ctx c = {.ordered = 1, .exact = 1};
    CHECK_ST(vs_store_face_scan(s, "m1", 0, 2, scan_check, &c, &e), VS_OK, &e);
    CHECK(c.rows == 5 && c.calls == 3 && c.ordered && c.exact, "scan: %zu rows, %zu calls", c.rows,
          c.calls);

    /* Replace keeps id and person; delete removes; a NaN is refused. */
    float nv[4] = {1, 2, 3, 4};
    vs_face_row g = {.dim = 4, .vector = nv, .quality = 0.5};
    snprintf(g.model, sizeof g.model, "other");
    CHECK_ST(vs_store_face_replace(s, fid, &g, &e), VS_OK, &e);
    CHECK_ST(vs_store_face_list(s, p, &l, &e), VS_OK, &e);
    CHECK(l.n == 6 && l.items[0].id == fid && l.items[0].dim == 4 &&
              memcmp(l.items[0].vector, nv, sizeof nv) == 0 && !l.items[0].source,
          "replaced in place");
    vs_face_list_free(&l);
    CHECK_ST(vs_store_face_delete(s, fid, &e), VS_OK, &e);
    CHECK_ST(vs_store_face_delete(s, fid, &e), VS_NOTFOUND, &e);
    CHECK_ST(vs_store_face_replace(s, fid, &g, &e), VS_NOTFOUND, &e);
    nv[2] = NAN;
    g.person_id = p;
    CHECK_ST(vs_store_faces_add(s, &g, 1, NULL, &e), VS_INVAL, &e);
    CHECK_ST(vs_store_face_count(s, NULL, &n, &e), VS_OK, &e);
    CHECK(n == 5, "count after delete %lld", (long long)n);
    vs_store_close(s);
}

/* A person with 2 faces, 3 visits, a purchase with 2 lines, 2 incidents, 1 watchlist entry. */
static void fill_person(const backend *b, vs_store *s, int64_t p)
{
    vs_err e = {{0}};
    int64_t f1 = add_face(s, p, "m", 1);
    add_face(s, p, "m", 2);
    for (int i = 0; i < 3; i++) {
        vs_visit v = {
            .person_id = p, .at = 100 + i, .camera = "door", .face_id = f1, .score = 0.75};
        CHECK_ST(vs_store_visit_add(s, &v, NULL, &e), VS_OK, &e);
    }
    vs_purchase_line lines[2] = {
        {.sku = "A1", .name = "Tea", .category = "drinks", .qty = 2, .price_cents = 350},
        {.sku = "B2", .qty = 0.5, .price_cents = 1000}};
    vs_purchase pu = {.person_id = p,
                      .at = 200,
                      .total_cents = 1200,
                      .currency = "EUR",
                      .lines = lines,
                      .n_lines = 2};
    CHECK_ST(vs_store_purchase_add(s, &pu, NULL, &e), VS_OK, &e);
    for (int i = 0; i < 2; i++) {
        vs_incident in = {.person_id = p,
                          .at = 300 + i,
                          .kind = "theft",
                          .severity = 4 + i,
                          .notes = "n",
                          .reporter = "guard"};
        CHECK_ST(vs_store_incident_add(s, &in, NULL, &e), VS_OK, &e);
    }
    char sql[160];
    snprintf(sql, sizeof sql,
             "INSERT INTO watchlist (person_id, status, proposed_at) VALUES (%lld, 'proposed', 1)",
             (long long)p);
    CHECK(raw(b, sql, NULL), "watchlist insert");
}

static const char *const owned_tables[] = {"faces", "visits", "purchases", "incidents",
                                           "watchlist"};
static const long long filled[] = {2, 3, 1, 2, 1};

static void merge_moves_everything(backend *b)
{
    vs_store *s = open_store(b);
    if (!s)
        return;
    vs_err e = {{0}};
    int64_t a = add_person(s, VS_PERSON_ANONYMOUS, NULL, 0);
    int64_t into = add_person(s, VS_PERSON_CUSTOMER, "B", 0);
    int64_t c = add_person(s, VS_PERSON_ANONYMOUS, NULL, 0);
    fill_person(b, s, a);
    add_face(s, into, "m", 9);
    vs_merge_counts mc;
    CHECK_ST(vs_store_person_merge(s, c, a, &mc, &e), VS_OK, &e); /* c -> a, then a -> b */
    CHECK_ST(vs_store_person_merge(s, a, into, &mc, &e), VS_OK, &e);
    CHECK(mc.faces == 2 && mc.visits == 3 && mc.purchases == 1 && mc.incidents == 2 &&
              mc.watchlist == 1 && mc.persons == 1,
          "counts %lld %lld %lld %lld %lld %lld", (long long)mc.faces, (long long)mc.visits,
          (long long)mc.purchases, (long long)mc.incidents, (long long)mc.watchlist,
          (long long)mc.persons);
    for (size_t i = 0; i < 5; i++) {
        CHECK(count_where(b, owned_tables[i], "person_id", a) == 0, "%s left on A",
              owned_tables[i]);
        long long want = filled[i] + (i == 0);
        CHECK(count_where(b, owned_tables[i], "person_id", into) == want, "%s on B",
              owned_tables[i]);
    }
    vs_person p = {0};
    CHECK_ST(vs_store_person_get(s, a, &p, &e), VS_OK, &e);
    CHECK(p.merged_into == into, "A merged into B");
    vs_person_clear(&p);
    CHECK_ST(vs_store_person_get(s, c, &p, &e), VS_OK, &e);
    CHECK(p.merged_into == into, "C (merged into A) now points at B: %lld",
          (long long)p.merged_into);
    vs_person_clear(&p);
    CHECK_ST(vs_store_person_merge(s, a, into, NULL, &e), VS_INVAL, &e);
    CHECK_ST(vs_store_person_merge(s, into, into, NULL, &e), VS_INVAL, &e);
    CHECK_ST(vs_store_person_merge(s, into, 99999, NULL, &e), VS_NOTFOUND, &e);
    float buf[16];
    vs_face_row f = make_face(a, "m", 16, 3, buf);
    CHECK_ST(vs_store_faces_add(s, &f, 1, NULL, &e), VS_INVAL, &e);
    int64_t n = 0;
    CHECK_ST(vs_store_person_count(s, NULL, &n, &e), VS_OK, &e);
    CHECK(n == 1, "merged persons are hidden: %lld", (long long)n);
    vs_person_filter all = {.include_merged = 1};
    CHECK_ST(vs_store_person_count(s, &all, &n, &e), VS_OK, &e);
    CHECK(n == 3, "include_merged: %lld", (long long)n);
    vs_store_close(s);
}

/* A trigger that fails every UPDATE of incidents and every INSERT of a line with sku BOOM. */
static int install_traps(const backend *b)
{
    if (!b->pg)
        return raw(b,
                   "CREATE TRIGGER trap_line BEFORE INSERT ON purchase_lines WHEN NEW.sku = 'BOOM'"
                   " BEGIN SELECT RAISE(ABORT, 'trap'); END",
                   NULL) &&
               raw(b,
                   "CREATE TRIGGER trap_inc BEFORE UPDATE ON incidents"
                   " BEGIN SELECT RAISE(ABORT, 'trap'); END",
                   NULL);
    return raw(b,
               "CREATE FUNCTION trap() RETURNS trigger LANGUAGE plpgsql AS"
               " $$ BEGIN RAISE EXCEPTION 'trap'; END $$;"
               "CREATE TRIGGER trap_line BEFORE INSERT ON purchase_lines FOR EACH ROW"
               " WHEN (NEW.sku = 'BOOM') EXECUTE FUNCTION trap();"
               "CREATE TRIGGER trap_inc BEFORE UPDATE ON incidents FOR EACH ROW"
               " EXECUTE FUNCTION trap()",
               NULL);
}

static void merge_failure_moves_nothing(backend *b)
{
    vs_store *s = open_store(b);
    if (!s || !CHECK(install_traps(b), "traps")) {
        vs_store_close(s);
        return;
    }
    vs_err e = {{0}};
    int64_t a = add_person(s, VS_PERSON_ANONYMOUS, NULL, 0);
    int64_t into = add_person(s, VS_PERSON_CUSTOMER, "B", 0);
    fill_person(b, s, a);
    /* faces, visits and purchases move before incidents, whose UPDATE the trap fails. */
    vs_status st = vs_store_person_merge(s, a, into, NULL, &e);
    CHECK(st != VS_OK, "merge must fail");
    for (size_t i = 0; i < 5; i++) {
        CHECK(count_where(b, owned_tables[i], "person_id", a) == filled[i], "%s still on A",
              owned_tables[i]);
        CHECK(count_where(b, owned_tables[i], "person_id", into) == 0, "%s not on B",
              owned_tables[i]);
    }
    vs_person p = {0};
    CHECK_ST(vs_store_person_get(s, a, &p, &e), VS_OK, &e);
    CHECK(p.merged_into == 0, "A not marked merged");
    vs_person_clear(&p);
    vs_store_close(s);
}

static void failed_write_leaves_nothing(backend *b)
{
    vs_store *s = open_store(b);
    if (!s || !CHECK(install_traps(b), "traps")) {
        vs_store_close(s);
        return;
    }
    vs_err e = {{0}};
    int64_t p = add_person(s, VS_PERSON_CUSTOMER, "P", 0);
    float b1[16], b2[16], b3[16];
    vs_face_row fs[3] = {make_face(p, "m", 16, 1, b1), make_face(p, "m", 16, 2, b2),
                         make_face(p + 1000, "m", 16, 3, b3)};
    CHECK_ST(vs_store_faces_add(s, fs, 3, NULL, &e), VS_NOTFOUND, &e); /* third: no person */
    b2[5] = INFINITY;
    fs[2].person_id = p;
    CHECK_ST(vs_store_faces_add(s, fs, 3, NULL, &e), VS_INVAL, &e); /* second: not finite */
    int64_t n = -1;
    CHECK_ST(vs_store_face_count(s, NULL, &n, &e), VS_OK, &e);
    CHECK(n == 0, "no face written: %lld", (long long)n);

    int64_t k1 = 0;
    CHECK_ST(vs_store_api_key_create(s, "k1", VS_ROLE_ADMIN, "h1", &k1, &e), VS_OK, &e);
    CHECK_ST(vs_store_api_key_create(s, "k2", VS_ROLE_VIEWER, "h1", NULL, &e), VS_INVAL, &e);
    vs_api_key_list kl = {0};
    CHECK_ST(vs_store_api_key_list(s, &kl, &e), VS_OK, &e);
    CHECK(kl.n == 1, "duplicate hash not stored: %zu keys", kl.n);
    vs_api_key_list_free(&kl);

    /* The trap fails the second line, after the purchase row and the first line. */
    vs_purchase_line lines[3] = {{.sku = "OK", .qty = 1, .price_cents = 1},
                                 {.sku = "BOOM", .qty = 1, .price_cents = 2},
                                 {.sku = "OK2", .qty = 1, .price_cents = 3}};
    vs_purchase pu = {
        .person_id = p, .total_cents = 6, .receipt = "R1", .lines = lines, .n_lines = 3};
    CHECK(vs_store_purchase_add(s, &pu, NULL, &e) != VS_OK, "trapped purchase must fail");
    CHECK(raw_count(b, "SELECT COUNT(*) FROM purchases") == 0 &&
              raw_count(b, "SELECT COUNT(*) FROM purchase_lines") == 0,
          "no purchase or line left");
    lines[1].sku = "FINE";
    CHECK_ST(vs_store_purchase_add(s, &pu, NULL, &e), VS_OK, &e);
    pu.n_lines = 1;
    CHECK_ST(vs_store_purchase_add(s, &pu, NULL, &e), VS_INVAL, &e); /* receipt R1 again */
    CHECK(raw_count(b, "SELECT COUNT(*) FROM purchases") == 1 &&
              raw_count(b, "SELECT COUNT(*) FROM purchase_lines") == 3,
          "duplicate receipt left nothing");
    vs_purchase_list pl = {0};
    CHECK_ST(vs_store_purchase_list(s, p, 0, 0, &pl, &e), VS_OK, &e);
    CHECK(pl.n == 1 && pl.items[0].n_lines == 3 && strcmp(pl.items[0].lines[1].sku, "FINE") == 0 &&
              pl.items[0].lines[0].qty == 1 && pl.items[0].lines[2].price_cents == 3,
          "purchase with its lines in order");
    vs_purchase_list_free(&pl);
    vs_store_close(s);
}

static void delete_cascades(backend *b)
{
    vs_store *s = open_store(b);
    if (!s)
        return;
    vs_err e = {{0}};
    int64_t p = add_person(s, VS_PERSON_CUSTOMER, "Del", 0);
    int64_t keep = add_person(s, VS_PERSON_CUSTOMER, "Keep", 0);
    int64_t alias = add_person(s, VS_PERSON_ANONYMOUS, NULL, 0);
    fill_person(b, s, p);
    fill_person(b, s, keep);
    CHECK_ST(vs_store_person_merge(s, alias, p, NULL, &e), VS_OK, &e);

    /* Deleting a face keeps the visits that named it, without the reference. */
    vs_face_list fl = {0};
    CHECK_ST(vs_store_face_list(s, keep, &fl, &e), VS_OK, &e);
    if (CHECK(fl.n == 2, "keep has 2 faces"))
        CHECK_ST(vs_store_face_delete(s, fl.items[0].id, &e), VS_OK, &e);
    vs_face_list_free(&fl);
    vs_visit_list vl = {0};
    CHECK_ST(vs_store_visit_list(s, keep, 0, 0, &vl, &e), VS_OK, &e);
    CHECK(vl.n == 3 && vl.items[0].face_id == 0 && vl.items[0].at == 102, "visits kept, newest "
                                                                          "first, face unset");
    vs_visit_list_free(&vl);

    CHECK_ST(vs_store_person_delete(s, p, &e), VS_OK, &e);
    for (size_t i = 0; i < 5; i++) {
        CHECK(count_where(b, owned_tables[i], "person_id", p) == 0, "%s of deleted person",
              owned_tables[i]);
        CHECK(count_where(b, owned_tables[i], "person_id", keep) == filled[i] - (i == 0),
              "%s of the other person", owned_tables[i]);
    }
    CHECK(raw_count(b, "SELECT COUNT(*) FROM purchase_lines") == 2, "lines cascade");
    vs_person a = {0};
    CHECK_ST(vs_store_person_get(s, alias, &a, &e), VS_OK, &e);
    CHECK(a.merged_into == 0, "alias kept, merged_into cleared");
    vs_person_clear(&a);
    vs_store_close(s);
}

#define WRITERS 4
#define ROUNDS 40

typedef struct writer_arg {
    vs_store *s;
    int id;
    int errors;
    char first[320];
} writer_arg;

static void *writer(void *p)
{
    writer_arg *w = p;
    for (int r = 0; r < ROUNDS; r++) {
        vs_err e = {{0}};
        char name[32];
        snprintf(name, sizeof name, "w%d-%d", w->id, r);
        vs_person pe = {
            .kind = VS_PERSON_ANONYMOUS, .name = name, .consent_status = VS_CONSENT_NONE};
        int64_t pid = 0, fid = 0;
        float buf[16];
        vs_status st = vs_store_person_create(w->s, &pe, &pid, &e);
        vs_face_row f = make_face(pid, "m", 16, (uint32_t)r, buf);
        if (st == VS_OK)
            st = vs_store_faces_add(w->s, &f, 1, &fid, &e);
        vs_visit v = {.person_id = pid, .face_id = fid, .score = 0.5};
        if (st == VS_OK)
            st = vs_store_visit_add(w->s, &v, NULL, &e);
        if (st == VS_OK)
            st = vs_store_audit_append(w->s, name, "visit.add", NULL, NULL, &e);
        vs_person_list l = {0};
        vs_person_filter all = {.limit = 50};
        if (st == VS_OK)
            st = vs_store_person_list(w->s, &all, &l, &e);
        vs_person_list_free(&l);
        if (st != VS_OK && w->errors++ == 0)
            snprintf(w->first, sizeof w->first, "%s: %s", vs_status_str(st), e.msg);
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Threads 0 and 1 share one handle, 2 and 3 another (as two processes would): within a handle
 * the pool and writer mutex serialise, across handles the database's own locking must. */
static void concurrent_writers_add_up(backend *b)
{
    vs_store *s = open_store(b), *s2 = s ? open_store(b) : NULL;
    if (!s2) {
        vs_store_close(s);
        return;
    }
    pthread_t th[WRITERS];
    writer_arg w[WRITERS];
    double t0 = now_s();
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer_arg){.s = i < WRITERS / 2 ? s : s2, .id = i};
        pthread_create(&th[i], NULL, writer, &w[i]);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].errors == 0, "writer %d: %d errors, first %s", i, w[i].errors, w[i].first);
    }
    double secs = now_s() - t0;
    vs_err e = {{0}};
    int64_t n = 0;
    CHECK_ST(vs_store_person_count(s, NULL, &n, &e), VS_OK, &e);
    CHECK(n == WRITERS * ROUNDS, "persons %lld", (long long)n);
    CHECK_ST(vs_store_face_count(s, NULL, &n, &e), VS_OK, &e);
    CHECK(n == WRITERS * ROUNDS, "faces %lld", (long long)n);
    CHECK(raw_count(b, "SELECT COUNT(*) FROM visits") == WRITERS * ROUNDS &&
              raw_count(b, "SELECT COUNT(*) FROM audit") == WRITERS * ROUNDS,
          "visits and audit rows");
    printf("  %d threads on 2 handles x %d rounds (4 writes + 1 list each): %.2f s, %.0f calls/s\n",
           WRITERS, ROUNDS, secs, WRITERS * ROUNDS * 5 / secs);
    vs_store_close(s2);
    vs_store_close(s);
}

static void keys_settings_audit(backend *b)
{
    vs_store *s = open_store(b);
    if (!s)
        return;
    vs_err e = {{0}};
    int64_t k1 = 0, k2 = 0;
    CHECK_ST(vs_store_api_key_create(s, "door", VS_ROLE_DEVICE, "hash-door", &k1, &e), VS_OK, &e);
    CHECK_ST(vs_store_api_key_create(s, "boss", VS_ROLE_ADMIN, "hash-boss", &k2, &e), VS_OK, &e);
    CHECK_ST(vs_store_api_key_create(s, "x", (vs_api_role)0, "h", NULL, &e), VS_INVAL, &e);
    CHECK_ST(vs_store_api_key_revoke(s, k1, &e), VS_OK, &e);
    CHECK_ST(vs_store_api_key_touch(s, k2, 424242, &e), VS_OK, &e);
    CHECK_ST(vs_store_api_key_revoke(s, 999, &e), VS_NOTFOUND, &e);
    vs_api_key k = {0};
    CHECK_ST(vs_store_api_key_find(s, "hash-door", &k, &e), VS_OK, &e);
    CHECK(k.id == k1 && k.revoked && k.role == VS_ROLE_DEVICE && strcmp(k.name, "door") == 0,
          "found revoked key");
    vs_api_key_clear(&k);
    CHECK_ST(vs_store_api_key_find(s, "hash-boss", &k, &e), VS_OK, &e);
    CHECK(k.id == k2 && !k.revoked && k.last_used == 424242 && k.created_at > 0, "last_used");
    vs_api_key_clear(&k);
    CHECK_ST(vs_store_api_key_find(s, "nope", &k, &e), VS_NOTFOUND, &e);

    char *v = NULL;
    CHECK_ST(vs_store_setting_get(s, "threshold", &v, &e), VS_NOTFOUND, &e);
    CHECK_ST(vs_store_setting_set(s, "threshold", "0.42", &e), VS_OK, &e);
    CHECK_ST(vs_store_setting_set(s, "threshold", "0.43", &e), VS_OK, &e);
    CHECK_ST(vs_store_setting_get(s, "threshold", &v, &e), VS_OK, &e);
    CHECK(v && strcmp(v, "0.43") == 0, "setting overwritten: %s", v ? v : "(null)");
    free(v);

    for (int i = 0; i < 3; i++)
        CHECK_ST(vs_store_audit_append(s, "admin", "person.delete", "person:1", "{}", &e), VS_OK,
                 &e);
    CHECK_ST(vs_store_audit_append(s, "", "x", NULL, NULL, &e), VS_INVAL, &e);
    vs_audit_list al = {0};
    CHECK_ST(vs_store_audit_list(s, 0, 2, &al, &e), VS_OK, &e);
    CHECK(al.n == 2 && strcmp(al.items[0].action, "person.delete") == 0 &&
              strcmp(al.items[1].target, "person:1") == 0,
          "audit page");
    int64_t after = al.n ? al.items[al.n - 1].id : 0;
    vs_audit_list_free(&al);
    CHECK_ST(vs_store_audit_list(s, after, 0, &al, &e), VS_OK, &e);
    CHECK(al.n == 1, "audit after id: %zu", al.n);
    vs_audit_list_free(&al);

    vs_incident_list il = {0};
    int64_t p = add_person(s, VS_PERSON_CUSTOMER, "I", 0);
    vs_incident bad = {.person_id = p, .kind = "theft", .severity = 6};
    CHECK_ST(vs_store_incident_add(s, &bad, NULL, &e), VS_INVAL, &e);
    bad.severity = 5;
    bad.person_id = p + 100;
    CHECK_ST(vs_store_incident_add(s, &bad, NULL, &e), VS_NOTFOUND, &e);
    CHECK_ST(vs_store_incident_list(s, p, 0, 0, &il, &e), VS_OK, &e);
    CHECK(il.n == 0, "no incident");
    vs_incident_list_free(&il);
    vs_store_close(s);
}

static void newer_schema_is_refused(backend *b)
{
    vs_store *s = open_store(b);
    if (!s)
        return;
    vs_store_close(s);
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO schema_version (version, applied_at) VALUES (%d, 0)",
             vs_store_schema_latest() + 1);
    CHECK(raw(b, sql, NULL), "raw insert");
    vs_err e = {{0}};
    CHECK_ST(vs_store_open(b->url, &s, &e), VS_UNSUPPORTED, &e);
    CHECK(s == NULL && strstr(e.msg, "newer") != NULL, "message: %s", e.msg);
    CHECK(raw_count(b, "SELECT MAX(version) FROM schema_version") == vs_store_schema_latest() + 1,
          "database left as it was");
}

static void corrupt_database_is_a_clear_error(backend *b)
{
    if (b->pg) {
        printf("  (n/a for postgres: the server owns its files)\n");
        return;
    }
    const char *path = b->url + strlen("sqlite:");
    FILE *f = fopen(path, "wb");
    if (!CHECK(f != NULL, "create %s", path))
        return;
    for (int i = 0; i < 8192; i++)
        fputc((i * 131 + 7) & 0xff, f);
    fclose(f);
    vs_store *s = NULL;
    vs_err e = {{0}};
    CHECK_ST(vs_store_open(b->url, &s, &e), VS_FORMAT, &e);
    CHECK(s == NULL && strstr(e.msg, "not a database") != NULL, "message: %s", e.msg);

    /* A real database whose schema page (page 1 after the 100-byte header) is damaged. */
    remove(path);
    s = open_store(b);
    vs_store_close(s);
    f = fopen(path, "r+b");
    if (!CHECK(f != NULL, "reopen %s", path))
        return;
    fseek(f, 100, SEEK_SET);
    for (int i = 0; i < 3000; i++)
        fputc(0xa5, f);
    fclose(f);
    vs_status st = vs_store_open(b->url, &s, &e);
    CHECK(st == VS_FORMAT && s == NULL, "damaged page: %s (%s)", vs_status_str(st), e.msg);
    vs_store_close(s);
}

static void bad_urls_are_refused(backend *b)
{
    vs_store *s = NULL;
    vs_err e = {{0}};
    CHECK_ST(vs_store_open("mysql://x/y", &s, &e), VS_UNSUPPORTED, &e);
    CHECK_ST(vs_store_open("", &s, &e), VS_INVAL, &e);
    if (b->pg)
        CHECK_ST(vs_store_open("postgresql://postgres@127.0.0.1:1/none", &s, &e), VS_IO, &e);
    else
        CHECK_ST(vs_store_open("sqlite:/proc/visage/no.db", &s, &e), VS_IO, &e);
    CHECK(s == NULL, "no handle");
}

static const struct {
    const char *name;
    void (*fn)(backend *b);
} cases[] = {
    {"migrations_create_every_table_from_empty", migrations_create_every_table_from_empty},
    {"reopen_is_idempotent", reopen_is_idempotent},
    {"person_crud_round_trips_every_field", person_crud_round_trips_every_field},
    {"person_list_filters_and_pages", person_list_filters_and_pages},
    {"person_attribute_filters", person_attribute_filters},
    {"faces_round_trip_bit_exact", faces_round_trip_bit_exact},
    {"merge_moves_everything", merge_moves_everything},
    {"merge_failure_moves_nothing", merge_failure_moves_nothing},
    {"failed_write_leaves_nothing", failed_write_leaves_nothing},
    {"delete_cascades", delete_cascades},
    {"concurrent_writers_add_up", concurrent_writers_add_up},
    {"keys_settings_audit", keys_settings_audit},
    {"newer_schema_is_refused", newer_schema_is_refused},
    {"corrupt_database_is_a_clear_error", corrupt_database_is_a_clear_error},
    {"bad_urls_are_refused", bad_urls_are_refused},
};

static void run_all(backend *b)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int before = failures;
        double t0 = now_s();
        if (!CHECK(fresh_db(b), "fresh database for %s", cases[i].name))
            continue;
        cases[i].fn(b);
        drop_db(b);
        printf("%s %s [%s] (%.0f ms)\n", failures == before ? "ok  " : "FAIL", cases[i].name,
               b->name, (now_s() - t0) * 1e3);
    }
}

/* ---- main --------------------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    backend lite = {.name = "sqlite"};
    snprintf(lite.base, sizeof lite.base, "/tmp/visage-store-XXXXXX");
    if (!mkdtemp(lite.base)) {
        perror("mkdtemp");
        return 1;
    }
    run_all(&lite);
    nftw(lite.base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

    backend pg = {.name = "postgres", .pg = 1};
    test_pg server;
    if (test_pg_begin(&server)) {
        snprintf(pg.base, sizeof pg.base, "%s", server.url);
        run_all(&pg);
    } else {
        printf("SKIP postgres: %s\n", server.why);
    }
    test_pg_end(&server);
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}

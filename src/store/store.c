/*
 * store.c - the store's handle, pool and transactions, the SQL of every statement, the checks
 * shared by both backends, and the person and face operations.
 *
 * vs_store_open picks a driver from the URL (sqlite_store.c or pg_store.c), opens the first
 * pooled connection and applies the migrations (migrations.c).  Each public call validates its
 * input here, the same for both backends, then runs as one transaction on one pooled
 * connection (vs_tx_run): BEGIN, the statements, COMMIT, or ROLLBACK on any failure.  The SQL
 * is written once, in the table `sql` below, with `?` placeholders; a statement has PostgreSQL
 * text of its own only where the dialects differ (row locks).  Visits, purchases, incidents,
 * API keys, audit and settings are in store_records.c, over the helpers of store_impl.h.
 *
 * DESIGN NOTES
 *
 *   1. Every public call is exactly one transaction on one connection; nothing is written
 *      outside vs_tx_run, and a body that fails makes vs_tx_run roll back, so a failed call
 *      changes nothing (the tests check this with triggers that fail mid-operation).
 *   2. A body resets every statement it opened before it returns, on every path: a statement
 *      left open would keep a SQLite read snapshot or serve a stale PostgreSQL result to the
 *      next call on that connection.
 *   3. The pool hands a connection to one thread at a time (mutex + condition variable); a
 *      call holds one connection and never asks for a second, so the pool cannot deadlock.
 *      vs_store_face_scan reads a batch, gives the connection back, then calls the callback.
 *   4. SQLite write transactions start with BEGIN IMMEDIATE under the store's writer mutex:
 *      a writer never upgrades a read lock, so SQLITE_BUSY cannot surface between threads of
 *      one process.  PostgreSQL: writes that must see a person unmerged lock its row (FOR
 *      SHARE), and merge locks both rows FOR UPDATE, so merge and add cannot interleave.
 *   5. A person that was merged (merged_into set) takes no new faces, visits, purchases or
 *      incidents; its rows were moved to the person it was merged into.
 */
#include "store.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_impl.h"

/* ---- the SQL ------------------------------------------------------------------------------ */

#define PERSON_COLS                                                                                \
    "id, kind, name, description, CAST(attributes AS TEXT), consent_status, consent_purpose,"      \
    " consent_given_at, consent_expires_at, created_at, updated_at, merged_into"
#define PERSON_WHERE_BASE                                                                          \
    " WHERE (CAST(? AS TEXT) IS NULL OR lower(name) LIKE lower(CAST(? AS TEXT)) ESCAPE '\\')"      \
    " AND (CAST(? AS TEXT) IS NULL OR kind = CAST(? AS TEXT))"                                     \
    " AND created_at >= ? AND created_at < ? AND (? <> 0 OR merged_into IS NULL) AND id > ?"
/* The attribute filters (gender, age range, tag) read the attributes JSON: two dialects. */
#define PERSON_WHERE_SQLITE                                                                        \
    PERSON_WHERE_BASE                                                                              \
    " AND (CAST(? AS TEXT) IS NULL OR json_extract(attributes, '$.gender') = CAST(? AS TEXT))"     \
    " AND (? = 0 OR CAST(json_extract(attributes, '$.age') AS REAL) >= ?)"                         \
    " AND (? = 0 OR CAST(json_extract(attributes, '$.age') AS REAL) <= ?)"                         \
    " AND (CAST(? AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM json_each(persons.attributes,"         \
    " '$.tags') AS t WHERE t.value = CAST(? AS TEXT)))"
#define PG_AGE                                                                                     \
    "(CASE WHEN jsonb_typeof(attributes->'age') = 'number'"                                        \
    " THEN CAST(attributes->>'age' AS DOUBLE PRECISION) END)"
#define PERSON_WHERE_PG                                                                            \
    PERSON_WHERE_BASE                                                                              \
    " AND (CAST(? AS TEXT) IS NULL OR attributes->>'gender' = CAST(? AS TEXT))"                    \
    " AND (CAST(? AS BIGINT) = 0 OR " PG_AGE " >= CAST(? AS BIGINT))"                              \
    " AND (CAST(? AS BIGINT) = 0 OR " PG_AGE " <= CAST(? AS BIGINT))"                              \
    " AND (CAST(? AS TEXT) IS NULL"                                                                \
    " OR COALESCE(attributes->'tags', CAST('[]' AS JSONB)) @> jsonb_build_array(CAST(? AS TEXT)))"
#define FACE_COLS                                                                                  \
    "id, person_id, model, dim, vector, quality, box_x, box_y, box_w, box_h, source, created_at"
#define MOVE(table) "UPDATE " table " SET person_id = ? WHERE person_id = ?"

/* [id] = {both dialects, PostgreSQL's own text or NULL}.  A NULL first text: SQLite skips it. */
static const struct {
    const char *sql;
    const char *pg;
} sql[S_COUNT] = {
    [S_PERSON_INSERT] = {"INSERT INTO persons (kind, name, description, attributes,"
                         " consent_status, consent_purpose, consent_given_at, consent_expires_at,"
                         " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                         " RETURNING id"},
    [S_PERSON_GET] = {"SELECT " PERSON_COLS " FROM persons WHERE id = ?"},
    [S_PERSON_UPDATE] = {"UPDATE persons SET kind = ?, name = ?, description = ?,"
                         " attributes = ?, consent_status = ?, consent_purpose = ?,"
                         " consent_given_at = ?, consent_expires_at = ?, updated_at = ?"
                         " WHERE id = ?"},
    [S_PERSON_DELETE] = {"DELETE FROM persons WHERE id = ?"},
    [S_PERSON_LIST] = {"SELECT " PERSON_COLS " FROM persons" PERSON_WHERE_SQLITE
                       " ORDER BY id LIMIT ? OFFSET ?",
                       "SELECT " PERSON_COLS " FROM persons" PERSON_WHERE_PG
                       " ORDER BY id LIMIT ? OFFSET ?"},
    [S_PERSON_COUNT] = {"SELECT COUNT(*) FROM persons" PERSON_WHERE_SQLITE,
                        "SELECT COUNT(*) FROM persons" PERSON_WHERE_PG},
    [S_PERSON_STATE] = {"SELECT merged_into FROM persons WHERE id = ?",
                        "SELECT merged_into FROM persons WHERE id = ? FOR SHARE"},
    [S_PERSON_LOCK2] = {NULL, "SELECT id FROM persons WHERE id IN (?, ?) ORDER BY id FOR UPDATE"},
    [S_MOVE_FACES] = {MOVE("faces")},
    [S_MOVE_VISITS] = {MOVE("visits")},
    [S_MOVE_PURCHASES] = {MOVE("purchases")},
    [S_MOVE_INCIDENTS] = {MOVE("incidents")},
    [S_MOVE_WATCHLIST] = {MOVE("watchlist")},
    [S_MOVE_MERGED] = {"UPDATE persons SET merged_into = ? WHERE merged_into = ?"},
    [S_PERSON_MARK_MERGED] = {"UPDATE persons SET merged_into = ?, updated_at = ? WHERE id = ?"},
    [S_FACE_INSERT] = {"INSERT INTO faces (person_id, model, dim, vector, quality, box_x, box_y,"
                       " box_w, box_h, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                       " RETURNING id"},
    [S_FACE_DELETE] = {"DELETE FROM faces WHERE id = ?"},
    [S_FACE_REPLACE] = {"UPDATE faces SET model = ?, dim = ?, vector = ?, quality = ?,"
                        " box_x = ?, box_y = ?, box_w = ?, box_h = ?, source = ?, created_at = ?"
                        " WHERE id = ?"},
    [S_FACE_LIST] = {"SELECT " FACE_COLS " FROM faces WHERE person_id = ? ORDER BY id"},
    [S_FACE_SCAN] = {"SELECT " FACE_COLS " FROM faces WHERE model = ? AND id > ?"
                     " ORDER BY id LIMIT ?"},
    [S_FACE_COUNT] = {"SELECT COUNT(*) FROM faces"
                      " WHERE CAST(? AS TEXT) IS NULL OR model = CAST(? AS TEXT)"},
    [S_VISIT_INSERT] = {"INSERT INTO visits (person_id, at, camera, face_id, score)"
                        " VALUES (?, ?, ?, ?, ?) RETURNING id"},
    [S_VISIT_LIST] = {"SELECT id, person_id, at, camera, face_id, score FROM visits"
                      " WHERE person_id = ? ORDER BY at DESC, id DESC LIMIT ? OFFSET ?"},
    [S_PURCHASE_INSERT] = {"INSERT INTO purchases (person_id, at, total_cents, currency, receipt)"
                           " VALUES (?, ?, ?, ?, ?) RETURNING id"},
    [S_PURCHASE_LINE_INSERT] = {"INSERT INTO purchase_lines (purchase_id, line_no, sku, name,"
                                " category, qty, price_cents) VALUES (?, ?, ?, ?, ?, ?, ?)"},
    [S_PURCHASE_LIST] = {"SELECT id, person_id, at, total_cents, currency, receipt FROM purchases"
                         " WHERE person_id = ? ORDER BY at DESC, id DESC LIMIT ? OFFSET ?"},
    [S_PURCHASE_LINES] = {"SELECT sku, name, category, qty, price_cents FROM purchase_lines"
                          " WHERE purchase_id = ? ORDER BY line_no"},
    [S_INCIDENT_INSERT] = {"INSERT INTO incidents (person_id, at, kind, severity, notes, reporter)"
                           " VALUES (?, ?, ?, ?, ?, ?) RETURNING id"},
    [S_INCIDENT_LIST] = {"SELECT id, person_id, at, kind, severity, notes, reporter FROM incidents"
                         " WHERE person_id = ? ORDER BY at DESC, id DESC LIMIT ? OFFSET ?"},
    [S_KEY_INSERT] = {"INSERT INTO api_keys (name, role, hash, created_at) VALUES (?, ?, ?, ?)"
                      " RETURNING id"},
    [S_KEY_LIST] = {"SELECT id, name, role, hash, created_at, last_used, revoked FROM api_keys"
                    " ORDER BY id"},
    [S_KEY_REVOKE] = {"UPDATE api_keys SET revoked = 1 WHERE id = ?"},
    [S_KEY_FIND] = {"SELECT id, name, role, hash, created_at, last_used, revoked FROM api_keys"
                    " WHERE hash = ?"},
    [S_KEY_TOUCH] = {"UPDATE api_keys SET last_used = ? WHERE id = ?"},
    [S_AUDIT_INSERT] = {"INSERT INTO audit (at, actor, action, target, detail)"
                        " VALUES (?, ?, ?, ?, ?)"},
    [S_AUDIT_LIST] = {"SELECT id, at, actor, action, target, detail FROM audit WHERE id > ?"
                      " ORDER BY id LIMIT ?"},
    [S_SETTING_GET] = {"SELECT value FROM settings WHERE key = ?"},
    [S_SETTING_SET] = {"INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                       " updated_at = excluded.updated_at"},
};

/* ---- the handle and its pool -------------------------------------------------------------- */

struct vs_store {
    const vs_db_driver *drv;
    vs_db_config cfg;
    char *target;
    int version;
    int pool_n;
    int n_free;
    vs_db_conn *conns[VS_STORE_MAX_POOL];
    unsigned char busy[VS_STORE_MAX_POOL];
    pthread_mutex_t mu;       /* guards conns, busy, n_free, errmsg */
    pthread_cond_t cv;        /* signalled when a connection is given back */
    pthread_mutex_t write_mu; /* serialises write transactions when drv->serial_writes */
    char errmsg[sizeof(((vs_err *)0)->msg)];
};

int64_t vs_store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Takes a free connection (waiting for one), connecting it on first use. */
static vs_status pool_get(vs_store *s, vs_db_conn **out, int *slot, vs_err *err)
{
    pthread_mutex_lock(&s->mu);
    while (s->n_free == 0)
        pthread_cond_wait(&s->cv, &s->mu);
    int k = -1;
    for (int i = 0; i < s->pool_n; i++) {
        if (!s->busy[i] && (k < 0 || (s->conns[i] && !s->conns[k])))
            k = i; /* prefer a slot that is already connected */
    }
    s->busy[k] = 1;
    s->n_free--;
    vs_db_conn *c = s->conns[k];
    pthread_mutex_unlock(&s->mu);

    vs_status st = VS_OK;
    if (!c)
        st = s->drv->connect(&s->cfg, &c, err);
    else if (!s->drv->usable(c))
        st = vs_err_set(err, VS_IO, "%s: connection lost and could not be re-established",
                        s->drv->name);
    pthread_mutex_lock(&s->mu);
    if (st == VS_OK) {
        s->conns[k] = c;
    } else {
        s->busy[k] = 0;
        s->n_free++;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    *out = st == VS_OK ? c : NULL;
    *slot = k;
    return st;
}

static void pool_put(vs_store *s, int slot)
{
    pthread_mutex_lock(&s->mu);
    s->busy[slot] = 0;
    s->n_free++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- transactions and statements ---------------------------------------------------------- */

static const char *const begin_sql[VS_DIALECT_COUNT][2] = {
    {"BEGIN", "BEGIN IMMEDIATE"},
    {"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", "BEGIN"},
};

static vs_status keep_err(vs_store *s, vs_status st, const vs_err *local, vs_err *err)
{
    if (st == VS_OK)
        return st;
    if (err)
        *err = *local;
    pthread_mutex_lock(&s->mu);
    memcpy(s->errmsg, local->msg, sizeof s->errmsg);
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* Runs body as one transaction (DESIGN NOTES 1). */
vs_status vs_tx_run(vs_store *s, int write, vs_tx_body body, void *arg, vs_err *err)
{
    vs_err local = {{0}};
    vs_tx t = {s, s->drv, NULL, &local};
    int slot;
    vs_status st = pool_get(s, &t.c, &slot, &local);
    if (st != VS_OK)
        return keep_err(s, st, &local, err);
    int serial = write && s->drv->serial_writes;
    if (serial)
        pthread_mutex_lock(&s->write_mu);
    st = s->drv->exec(t.c, begin_sql[s->drv->dialect][write != 0], &local);
    if (st == VS_OK) {
        st = body(&t, arg);
        if (st == VS_OK)
            st = s->drv->exec(t.c, "COMMIT", &local);
        if (st != VS_OK)
            s->drv->exec(t.c, "ROLLBACK", NULL);
    }
    if (serial)
        pthread_mutex_unlock(&s->write_mu);
    pool_put(s, slot);
    return keep_err(s, st, &local, err);
}

/* Prepares statement id on the transaction's connection and binds a[0..n-1] to it. */
vs_status vs_q_open(vs_tx *t, int id, const sql_arg *a, size_t n, vs_db_stmt **out)
{
    vs_status st = t->d->prepare(
        t->c, id, sql[id].pg && t->d->dialect == VS_DIALECT_PG ? sql[id].pg : sql[id].sql, out,
        t->err);
    if (st != VS_OK)
        return st;
    for (size_t k = 0; k < n; k++) {
        int i = (int)k + 1;
        switch (a[k].type) {
        case 'i':
            t->d->bind_i64(*out, i, a[k].i);
            break;
        case 'o':
            if (a[k].i)
                t->d->bind_i64(*out, i, a[k].i);
            else
                t->d->bind_null(*out, i);
            break;
        case 'f':
            t->d->bind_f64(*out, i, a[k].f);
            break;
        case 't':
            t->d->bind_text(*out, i, a[k].p);
            break;
        default:
            t->d->bind_blob(*out, i, a[k].p, a[k].n);
            break;
        }
    }
    return VS_OK;
}

/* Runs a statement that returns no rows, or whose first row's first integer is wanted:
 * *val (may be NULL) gets it, *found (may be NULL) says whether there was a row, *changes
 * (may be NULL) the rows it changed.  A statement without SQL in this dialect is a no-op. */
vs_status vs_q_run(vs_tx *t, int id, const sql_arg *a, size_t n, int64_t *val, int *found,
                   int64_t *changes)
{
    if (!sql[id].sql && t->d->dialect == VS_DIALECT_SQLITE)
        return VS_OK;
    vs_db_stmt *st;
    vs_status rc = vs_q_open(t, id, a, n, &st);
    if (rc != VS_OK)
        return rc;
    int row = 0;
    rc = t->d->step(st, &row, t->err);
    if (rc == VS_OK && val)
        *val = row && !t->d->col_null(st, 0) ? t->d->col_i64(st, 0) : 0;
    if (found)
        *found = row;
    if (changes)
        *changes = rc == VS_OK ? t->d->changes(st) : 0;
    t->d->reset(st);
    return rc;
}

/* ---- reading rows ------------------------------------------------------------------------- */

/* A malloc'd copy of text column i into *out (NULL for SQL NULL). */
vs_status vs_col_dup(vs_tx *t, vs_db_stmt *st, int i, char **out)
{
    const char *v = t->d->col_text(st, i);
    *out = NULL;
    if (!v)
        return VS_OK;
    *out = strdup(v);
    return *out ? VS_OK : vs_err_set(t->err, VS_NOMEM, "store: out of memory");
}

/* Reads the text columns first..first+n-1 into dst[0..n-1]. */
vs_status vs_col_dups(vs_tx *t, vs_db_stmt *st, int first, char **const dst[], int n)
{
    for (int k = 0; k < n; k++) {
        vs_status rc = vs_col_dup(t, st, first + k, dst[k]);
        if (rc != VS_OK)
            return rc;
    }
    return VS_OK;
}

/* Steps st to the end, reading each row with rd into a growing array of size-byte items.
 * On failure the items read so far are cleared and freed.  Does not reset st. */
static vs_status collect(vs_tx *t, vs_db_stmt *st, size_t size, vs_row_reader rd, vs_item_clear clr,
                         void **items, size_t *n)
{
    char *a = NULL;
    size_t cap = 0, k = 0;
    vs_status rc;
    for (;;) {
        int row = 0;
        rc = t->d->step(st, &row, t->err);
        if (rc != VS_OK || !row)
            break;
        if (k == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char *na = realloc(a, ncap * size);
            if (!na) {
                rc = vs_err_set(t->err, VS_NOMEM, "store: out of memory");
                break;
            }
            a = na;
            cap = ncap;
        }
        memset(a + k * size, 0, size);
        rc = rd(t, st, a + k * size);
        k++; /* a half-read item is cleared below with the others */
        if (rc != VS_OK)
            break;
    }
    if (rc != VS_OK) {
        for (size_t j = 0; j < k; j++)
            clr(a + j * size);
        free(a);
        a = NULL;
        k = 0;
    }
    *items = a;
    *n = k;
    return rc;
}

/* Opens statement id, collects all its rows, resets it. */
vs_status vs_q_list(vs_tx *t, int id, const sql_arg *a, size_t na, size_t size, vs_row_reader rd,
                    vs_item_clear clr, void **items, size_t *n)
{
    vs_db_stmt *st;
    *items = NULL;
    *n = 0;
    vs_status rc = vs_q_open(t, id, a, na, &st);
    if (rc != VS_OK)
        return rc;
    rc = collect(t, st, size, rd, clr, items, n);
    t->d->reset(st);
    return rc;
}

/* ---- names of enum values ----------------------------------------------------------------- */

static const char *const kind_names[] = {NULL, "customer", "anonymous", "staff"};
static const char *const consent_names[] = {NULL, "none", "given", "refused", "withdrawn"};
static const char *const role_names[] = {NULL, "admin", "operator", "viewer", "device"};
#define N_OF(a) (int)(sizeof a / sizeof a[0])

static const char *name_of(const char *const *names, int n, int v)
{
    return v > 0 && v < n ? names[v] : NULL;
}

static int parse_name(const char *const *names, int n, const char *s)
{
    for (int v = 1; s && v < n; v++)
        if (strcmp(s, names[v]) == 0)
            return v;
    return 0;
}

const char *vs_person_kind_name(vs_person_kind k)
{
    return name_of(kind_names, N_OF(kind_names), (int)k);
}

const char *vs_consent_name(vs_consent_status c)
{
    return name_of(consent_names, N_OF(consent_names), (int)c);
}

const char *vs_role_name(vs_api_role r)
{
    return name_of(role_names, N_OF(role_names), (int)r);
}

vs_person_kind vs_person_kind_parse(const char *s)
{
    return (vs_person_kind)parse_name(kind_names, N_OF(kind_names), s);
}

vs_consent_status vs_consent_parse(const char *s)
{
    return (vs_consent_status)parse_name(consent_names, N_OF(consent_names), s);
}

vs_api_role vs_role_parse(const char *s)
{
    return (vs_api_role)parse_name(role_names, N_OF(role_names), s);
}

/* ---- shared validation -------------------------------------------------------------------- */

vs_status vs_check_text(const char *what, const char *v, size_t max, int required, vs_err *err)
{
    if (!v)
        return required ? vs_err_set(err, VS_INVAL, "%s is required", what) : VS_OK;
    size_t n = strnlen(v, max + 1);
    if (required && n == 0)
        return vs_err_set(err, VS_INVAL, "%s is empty", what);
    if (n > max)
        return vs_err_set(err, VS_INVAL, "%s is longer than %zu bytes", what, max);
    return VS_OK;
}

vs_status vs_check_finite(const char *what, double v, vs_err *err)
{
    return isfinite(v) ? VS_OK : vs_err_set(err, VS_INVAL, "%s is not a finite number", what);
}

vs_status vs_check_id(const char *what, int64_t id, vs_err *err)
{
    return id > 0 ? VS_OK
                  : vs_err_set(err, VS_INVAL, "%s %lld is not a valid id", what, (long long)id);
}

static vs_status check_json_object(const char *what, const char *json, vs_err *err)
{
    vs_status st = vs_check_text(what, json, VS_STORE_JSON_MAX, 0, err);
    if (st != VS_OK || !json)
        return st;
    cJSON *j = cJSON_Parse(json);
    int ok = j && cJSON_IsObject(j);
    cJSON_Delete(j);
    return ok ? VS_OK : vs_err_set(err, VS_INVAL, "%s is not a JSON object", what);
}

static vs_status check_person(const vs_person *p, vs_err *err)
{
    if (!p)
        return vs_err_set(err, VS_INVAL, "person is NULL");
    if (!vs_person_kind_name(p->kind))
        return vs_err_set(err, VS_INVAL, "person kind %d is not customer/anonymous/staff",
                          (int)p->kind);
    if (!vs_consent_name(p->consent_status))
        return vs_err_set(err, VS_INVAL, "consent status %d is not none/given/refused/withdrawn",
                          (int)p->consent_status);
    vs_status st = vs_check_text("name", p->name, VS_STORE_NAME_MAX, 0, err);
    if (st == VS_OK)
        st = vs_check_text("description", p->description, VS_STORE_TEXT_MAX, 0, err);
    if (st == VS_OK)
        st = vs_check_text("consent purpose", p->consent_purpose, VS_STORE_NAME_MAX, 0, err);
    if (st == VS_OK)
        st = check_json_object("attributes", p->attributes_json, err);
    return st;
}

static vs_status check_face(const vs_face_row *f, vs_err *err)
{
    if (!f)
        return vs_err_set(err, VS_INVAL, "face is NULL");
    size_t ml = strnlen(f->model, VS_STORE_MODEL_MAX);
    if (ml == 0 || ml == VS_STORE_MODEL_MAX)
        return vs_err_set(err, VS_INVAL, "face model name is empty or not terminated");
    if (f->dim == 0 || f->dim > VS_STORE_DIM_MAX || !f->vector)
        return vs_err_set(err, VS_INVAL, "face vector: dim %u (1..%d) or no data", f->dim,
                          VS_STORE_DIM_MAX);
    for (uint32_t i = 0; i < f->dim; i++)
        if (!isfinite(f->vector[i]))
            return vs_err_set(err, VS_INVAL, "face vector[%u] is not finite", i);
    const double nums[] = {f->quality, f->box_x, f->box_y, f->box_w, f->box_h};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (vs_check_finite("face quality/box", nums[i], err) != VS_OK)
            return VS_INVAL;
    if (f->box_w < 0 || f->box_h < 0)
        return vs_err_set(err, VS_INVAL, "face box has a negative size");
    return vs_check_text("face source", f->source, VS_STORE_NAME_MAX, 0, err);
}

/* The person's row locked against a concurrent merge (PostgreSQL) and checked unmerged. */
vs_status vs_person_writable(vs_tx *t, int64_t person_id)
{
    int64_t merged = 0;
    int found = 0;
    vs_status rc = vs_q_run(t, S_PERSON_STATE, ARGS(arg_i64(person_id)), &merged, &found, NULL);
    if (rc != VS_OK)
        return rc;
    if (!found)
        return vs_err_set(t->err, VS_NOTFOUND, "person %lld does not exist", (long long)person_id);
    if (merged)
        return vs_err_set(t->err, VS_INVAL, "person %lld was merged into %lld",
                          (long long)person_id, (long long)merged);
    return VS_OK;
}

vs_status vs_check_changed(vs_tx *t, int64_t changes, const char *what, int64_t id)
{
    return changes > 0
               ? VS_OK
               : vs_err_set(t->err, VS_NOTFOUND, "%s %lld does not exist", what, (long long)id);
}

size_t vs_page_limit(size_t limit)
{
    return limit == 0 ? VS_STORE_LIST_DEFAULT
                      : (limit > VS_STORE_LIST_MAX ? VS_STORE_LIST_MAX : limit);
}

/* ---- open / close ------------------------------------------------------------------------- */

static vs_status pick_driver(vs_store *s, const char *url, vs_err *err)
{
    static const char *const pg_schemes[] = {"postgres://", "postgresql://"};
    for (size_t i = 0; i < 2; i++) {
        if (strncmp(url, pg_schemes[i], strlen(pg_schemes[i])) == 0) {
            s->drv = &vs_pg_driver;
            s->target = strdup(url);
            return s->target ? VS_OK : vs_err_set(err, VS_NOMEM, "store: out of memory");
        }
    }
    const char *path = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
    if (strncmp(path, "//", 2) == 0)
        path += 2; /* sqlite://var/x.db */
    const char *colon = strchr(path, ':'), *slash = strchr(path, '/');
    if (colon && (!slash || colon < slash) && path == url)
        return vs_err_set(err, VS_UNSUPPORTED,
                          "store URL scheme of '%.40s' is not sqlite: or "
                          "postgres(ql)://",
                          url);
    if (!*path)
        return vs_err_set(err, VS_INVAL, "store URL '%s' has no path", url);
    s->drv = &vs_sqlite_driver;
    s->target = strdup(path);
    return s->target ? VS_OK : vs_err_set(err, VS_NOMEM, "store: out of memory");
}

vs_status vs_store_open(const char *url, vs_store **out, vs_err *err)
{
    return vs_store_open_with(url, NULL, out, err);
}

vs_status vs_store_open_with(const char *url, const vs_store_options *opt, vs_store **out,
                             vs_err *err)
{
    if (out)
        *out = NULL;
    if (!url || !*url || !out)
        return vs_err_set(err, VS_INVAL, "store URL and out are required");
    int pool = opt && opt->pool_size ? opt->pool_size : VS_STORE_DEFAULT_POOL;
    if (pool < 1 || pool > VS_STORE_MAX_POOL)
        return vs_err_set(err, VS_INVAL, "pool size %d is not 1..%d", pool, VS_STORE_MAX_POOL);
    vs_store *s = calloc(1, sizeof *s);
    if (!s)
        return vs_err_set(err, VS_NOMEM, "store: out of memory");
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->pool_n = s->n_free = pool;
    vs_status st = pick_driver(s, url, err);
    if (st != VS_OK)
        goto fail;
    s->cfg.target = s->target;
    s->cfg.busy_timeout_ms = opt && opt->busy_timeout_ms ? opt->busy_timeout_ms : 10000;
    s->cfg.max_stmts = S_COUNT;
    st = s->drv->connect(&s->cfg, &s->conns[0], err);
    if (st == VS_OK)
        st = vs_migrations_apply(s->drv, s->conns[0], &s->version, err);
    if (st != VS_OK)
        goto fail;
    *out = s;
    return VS_OK;
fail:
    vs_store_close(s);
    return st;
}

void vs_store_close(vs_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->pool_n; i++)
        if (s->conns[i])
            s->drv->disconnect(s->conns[i]);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->write_mu);
    pthread_mutex_destroy(&s->mu);
    free(s->target);
    free(s);
}

const char *vs_store_backend(const vs_store *s)
{
    return s->drv->name;
}

int vs_store_schema_version(const vs_store *s)
{
    return s->version;
}

int vs_store_schema_latest(void)
{
    return vs_migrations_latest();
}

const char *vs_store_errmsg(vs_store *s, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return buf;
    pthread_mutex_lock(&s->mu);
    size_t n = strnlen(s->errmsg, sizeof s->errmsg);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, s->errmsg, n);
    buf[n] = '\0';
    pthread_mutex_unlock(&s->mu);
    return buf;
}

/* ---- persons ------------------------------------------------------------------------------ */

void vs_person_clear(vs_person *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->description);
    free(p->attributes_json);
    free(p->consent_purpose);
    memset(p, 0, sizeof *p);
}

static void person_clear_item(void *p)
{
    vs_person_clear(p);
}

void vs_person_list_free(vs_person_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        vs_person_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static vs_status read_person(vs_tx *t, vs_db_stmt *st, void *item)
{
    vs_person *p = item;
    const vs_db_driver *d = t->d;
    p->id = d->col_i64(st, 0);
    p->kind = vs_person_kind_parse(d->col_text(st, 1));
    p->consent_status = vs_consent_parse(d->col_text(st, 5));
    p->consent_given_at = d->col_i64(st, 7);
    p->consent_expires_at = d->col_i64(st, 8);
    p->created_at = d->col_i64(st, 9);
    p->updated_at = d->col_i64(st, 10);
    p->merged_into = d->col_i64(st, 11);
    char **const texts[] = {&p->name, &p->description, &p->attributes_json};
    vs_status rc = vs_col_dups(t, st, 2, texts, 3);
    if (rc == VS_OK)
        rc = vs_col_dup(t, st, 6, &p->consent_purpose);
    return rc;
}

typedef struct person_op {
    const vs_person *in;
    int64_t id;
    vs_person *out;
    const vs_person_filter *f;
    vs_person_list *list;
    int64_t n;
} person_op;

static vs_status person_insert_body(vs_tx *t, void *arg)
{
    person_op *op = arg;
    const vs_person *p = op->in;
    int64_t now = vs_store_now_ms();
    int64_t created = p->created_at ? p->created_at : now;
    return vs_q_run(t, S_PERSON_INSERT,
                    ARGS(arg_txt(vs_person_kind_name(p->kind)), arg_txt(p->name),
                         arg_txt(p->description), arg_txt(p->attributes_json),
                         arg_txt(vs_consent_name(p->consent_status)), arg_txt(p->consent_purpose),
                         arg_opt(p->consent_given_at), arg_opt(p->consent_expires_at),
                         arg_i64(created), arg_i64(now)),
                    &op->id, NULL, NULL);
}

vs_status vs_store_person_create(vs_store *s, const vs_person *p, int64_t *id_out, vs_err *err)
{
    if (id_out)
        *id_out = 0;
    vs_status st = check_person(p, err);
    if (st != VS_OK)
        return st;
    person_op op = {.in = p};
    st = vs_tx_run(s, 1, person_insert_body, &op, err);
    if (st == VS_OK && id_out)
        *id_out = op.id;
    return st;
}

static vs_status person_get_body(vs_tx *t, void *arg)
{
    person_op *op = arg;
    vs_db_stmt *st;
    vs_status rc = vs_q_open(t, S_PERSON_GET, ARGS(arg_i64(op->id)), &st);
    if (rc != VS_OK)
        return rc;
    int row = 0;
    rc = t->d->step(st, &row, t->err);
    if (rc == VS_OK && !row)
        rc = vs_err_set(t->err, VS_NOTFOUND, "person %lld does not exist", (long long)op->id);
    if (rc == VS_OK)
        rc = read_person(t, st, op->out);
    t->d->reset(st);
    return rc;
}

vs_status vs_store_person_get(vs_store *s, int64_t id, vs_person *out, vs_err *err)
{
    if (!out)
        return vs_err_set(err, VS_INVAL, "out is NULL");
    memset(out, 0, sizeof *out);
    person_op op = {.id = id, .out = out};
    vs_status st = vs_tx_run(s, 0, person_get_body, &op, err);
    if (st != VS_OK)
        vs_person_clear(out);
    return st;
}

static vs_status person_update_body(vs_tx *t, void *arg)
{
    const vs_person *p = ((person_op *)arg)->in;
    int64_t changed = 0;
    vs_status rc = vs_q_run(
        t, S_PERSON_UPDATE,
        ARGS(arg_txt(vs_person_kind_name(p->kind)), arg_txt(p->name), arg_txt(p->description),
             arg_txt(p->attributes_json), arg_txt(vs_consent_name(p->consent_status)),
             arg_txt(p->consent_purpose), arg_opt(p->consent_given_at),
             arg_opt(p->consent_expires_at), arg_i64(vs_store_now_ms()), arg_i64(p->id)),
        NULL, NULL, &changed);
    return rc != VS_OK ? rc : vs_check_changed(t, changed, "person", p->id);
}

vs_status vs_store_person_update(vs_store *s, const vs_person *p, vs_err *err)
{
    vs_status st = check_person(p, err);
    if (st == VS_OK)
        st = vs_check_id("person", p->id, err);
    if (st != VS_OK)
        return st;
    person_op op = {.in = p};
    return vs_tx_run(s, 1, person_update_body, &op, err);
}

static vs_status person_delete_body(vs_tx *t, void *arg)
{
    int64_t id = ((person_op *)arg)->id, changed = 0;
    vs_status rc = vs_q_run(t, S_PERSON_DELETE, ARGS(arg_i64(id)), NULL, NULL, &changed);
    return rc != VS_OK ? rc : vs_check_changed(t, changed, "person", id);
}

vs_status vs_store_person_delete(vs_store *s, int64_t id, vs_err *err)
{
    person_op op = {.id = id};
    return vs_tx_run(s, 1, person_delete_body, &op, err);
}

/* "%" + needle with LIKE's metacharacters escaped + "%", or NULL when there is no needle. */
static vs_status like_pattern(const char *needle, char **out, vs_err *err)
{
    *out = NULL;
    if (!needle)
        return VS_OK;
    vs_status st = vs_check_text("name filter", needle, VS_STORE_NAME_MAX, 0, err);
    if (st != VS_OK)
        return st;
    char *p = malloc(2 * strlen(needle) + 3), *o = p;
    if (!p)
        return vs_err_set(err, VS_NOMEM, "store: out of memory");
    *o++ = '%';
    for (const char *c = needle; *c; c++) {
        if (*c == '%' || *c == '_' || *c == '\\')
            *o++ = '\\';
        *o++ = *c;
    }
    *o++ = '%';
    *o = '\0';
    *out = p;
    return VS_OK;
}

/* Binds PERSON_WHERE_*'s 16 parameters; `like` from like_pattern. */
#define PERSON_WHERE_ARGS(f, like)                                                                 \
    arg_txt(like), arg_txt(like), arg_txt(vs_person_kind_name((f)->kind)),                         \
        arg_txt(vs_person_kind_name((f)->kind)),                                                   \
        arg_i64((f)->created_from ? (f)->created_from : INT64_MIN),                                \
        arg_i64((f)->created_to ? (f)->created_to : INT64_MAX), arg_i64((f)->include_merged != 0), \
        arg_i64((f)->after_id), arg_txt((f)->gender), arg_txt((f)->gender), arg_i64((f)->age_min), \
        arg_i64((f)->age_min), arg_i64((f)->age_max), arg_i64((f)->age_max), arg_txt((f)->tag),    \
        arg_txt((f)->tag)

typedef struct person_query {
    const vs_person_filter *f;
    const char *like;
    vs_person_list *list;
    int64_t count;
} person_query;

static vs_status person_list_body(vs_tx *t, void *arg)
{
    person_query *q = arg;
    size_t limit = vs_page_limit(q->f->limit);
    void *items;
    size_t n;
    vs_status rc = vs_q_list(t, S_PERSON_LIST,
                             ARGS(PERSON_WHERE_ARGS(q->f, q->like), arg_i64((int64_t)limit),
                                  arg_i64((int64_t)q->f->offset)),
                             sizeof(vs_person), read_person, person_clear_item, &items, &n);
    if (rc != VS_OK)
        return rc;
    q->list->items = items;
    q->list->n = n;
    q->list->next_after_id = n == limit ? q->list->items[n - 1].id : 0;
    return VS_OK;
}

static vs_status person_count_body(vs_tx *t, void *arg)
{
    person_query *q = arg;
    return vs_q_run(t, S_PERSON_COUNT, ARGS(PERSON_WHERE_ARGS(q->f, q->like)), &q->count, NULL,
                    NULL);
}

static vs_status person_query_run(vs_store *s, const vs_person_filter *f, person_query *q,
                                  vs_tx_body body, vs_err *err)
{
    static const vs_person_filter all = {0};
    q->f = f ? f : &all;
    if (q->f->kind && !vs_person_kind_name(q->f->kind))
        return vs_err_set(err, VS_INVAL, "person kind %d is not valid", (int)q->f->kind);
    if (q->f->offset > INT64_MAX || q->f->after_id < 0)
        return vs_err_set(err, VS_INVAL, "bad paging (offset or after_id)");
    if (q->f->age_min < 0 || q->f->age_max < 0)
        return vs_err_set(err, VS_INVAL, "age bounds must not be negative");
    vs_status ok = vs_check_text("gender filter", q->f->gender, VS_STORE_NAME_MAX, 0, err);
    if (ok == VS_OK)
        ok = vs_check_text("tag filter", q->f->tag, VS_STORE_NAME_MAX, 0, err);
    if (ok != VS_OK)
        return ok;
    char *like = NULL;
    vs_status st = like_pattern(q->f->name_contains, &like, err);
    if (st != VS_OK)
        return st;
    q->like = like;
    st = vs_tx_run(s, 0, body, q, err);
    free(like);
    return st;
}

vs_status vs_store_person_list(vs_store *s, const vs_person_filter *f, vs_person_list *out,
                               vs_err *err)
{
    if (!out)
        return vs_err_set(err, VS_INVAL, "out is NULL");
    memset(out, 0, sizeof *out);
    person_query q = {.list = out};
    return person_query_run(s, f, &q, person_list_body, err);
}

vs_status vs_store_person_count(vs_store *s, const vs_person_filter *f, int64_t *n_out, vs_err *err)
{
    if (!n_out)
        return vs_err_set(err, VS_INVAL, "n_out is NULL");
    person_query q = {0};
    vs_status st = person_query_run(s, f, &q, person_count_body, err);
    *n_out = st == VS_OK ? q.count : 0;
    return st;
}

typedef struct merge_op {
    int64_t from, into;
    vs_merge_counts counts;
} merge_op;

static vs_status merge_body(vs_tx *t, void *arg)
{
    merge_op *m = arg;
    int64_t lo = m->from < m->into ? m->from : m->into, hi = m->from ^ m->into ^ lo;
    vs_status rc = vs_q_run(t, S_PERSON_LOCK2, ARGS(arg_i64(lo), arg_i64(hi)), NULL, NULL, NULL);
    if (rc == VS_OK)
        rc = vs_person_writable(t, m->from);
    if (rc == VS_OK)
        rc = vs_person_writable(t, m->into);
    const int moves[] = {S_MOVE_FACES,     S_MOVE_VISITS,    S_MOVE_PURCHASES,
                         S_MOVE_INCIDENTS, S_MOVE_WATCHLIST, S_MOVE_MERGED};
    int64_t *const counts[] = {&m->counts.faces,     &m->counts.visits,    &m->counts.purchases,
                               &m->counts.incidents, &m->counts.watchlist, &m->counts.persons};
    for (size_t i = 0; rc == VS_OK && i < sizeof moves / sizeof moves[0]; i++)
        rc = vs_q_run(t, moves[i], ARGS(arg_i64(m->into), arg_i64(m->from)), NULL, NULL, counts[i]);
    if (rc == VS_OK)
        rc = vs_q_run(t, S_PERSON_MARK_MERGED,
                      ARGS(arg_i64(m->into), arg_i64(vs_store_now_ms()), arg_i64(m->from)), NULL,
                      NULL, NULL);
    return rc;
}

vs_status vs_store_person_merge(vs_store *s, int64_t from, int64_t into, vs_merge_counts *counts,
                                vs_err *err)
{
    if (counts)
        memset(counts, 0, sizeof *counts);
    vs_status st = vs_check_id("person", from, err);
    if (st == VS_OK)
        st = vs_check_id("person", into, err);
    if (st == VS_OK && from == into)
        st = vs_err_set(err, VS_INVAL, "cannot merge person %lld into itself", (long long)from);
    if (st != VS_OK)
        return st;
    merge_op m = {.from = from, .into = into};
    st = vs_tx_run(s, 1, merge_body, &m, err);
    if (st == VS_OK && counts)
        *counts = m.counts;
    return st;
}

/* ---- faces -------------------------------------------------------------------------------- */

void vs_face_row_clear(vs_face_row *f)
{
    if (!f)
        return;
    free(f->vector);
    free(f->source);
    memset(f, 0, sizeof *f);
}

static void face_clear_item(void *f)
{
    vs_face_row_clear(f);
}

void vs_face_list_free(vs_face_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        vs_face_row_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* Vectors are stored as float32 little-endian (migrations.c DESIGN NOTES 6). */
static void vector_to_le(const float *v, uint32_t dim, unsigned char *out)
{
    for (uint32_t i = 0; i < dim; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int b = 0; b < 4; b++)
            out[4 * i + b] = (unsigned char)(u >> (8 * b));
    }
}

static void vector_from_le(const unsigned char *in, uint32_t dim, float *v)
{
    for (uint32_t i = 0; i < dim; i++) {
        uint32_t u = 0;
        for (int b = 0; b < 4; b++)
            u |= (uint32_t)in[4 * i + b] << (8 * b);
        memcpy(&v[i], &u, 4);
    }
}

static vs_status read_face(vs_tx *t, vs_db_stmt *st, void *item)
{
    vs_face_row *f = item;
    const vs_db_driver *d = t->d;
    f->id = d->col_i64(st, 0);
    f->person_id = d->col_i64(st, 1);
    const char *model = d->col_text(st, 2);
    snprintf(f->model, sizeof f->model, "%s", model ? model : "");
    int64_t dim = d->col_i64(st, 3);
    size_t n = 0;
    const unsigned char *blob = d->col_blob(st, 4, &n);
    if (dim <= 0 || dim > VS_STORE_DIM_MAX || n != (size_t)dim * 4 || !blob)
        return vs_err_set(t->err, VS_FORMAT, "face %lld: vector of %zu bytes for dim %lld",
                          (long long)f->id, n, (long long)dim);
    f->dim = (uint32_t)dim;
    f->vector = malloc(n);
    if (!f->vector)
        return vs_err_set(t->err, VS_NOMEM, "store: out of memory");
    vector_from_le(blob, f->dim, f->vector);
    f->quality = d->col_f64(st, 5);
    f->box_x = d->col_f64(st, 6);
    f->box_y = d->col_f64(st, 7);
    f->box_w = d->col_f64(st, 8);
    f->box_h = d->col_f64(st, 9);
    f->created_at = d->col_i64(st, 11);
    return vs_col_dup(t, st, 10, &f->source);
}

typedef struct face_op {
    const vs_face_row *faces;
    size_t n;
    int64_t *ids;
    int64_t id;
    unsigned char *buf; /* scratch for one little-endian vector, VS_STORE_DIM_MAX * 4 bytes */
    const char *model;
    size_t batch;
    vs_face_list *list;
    int64_t count;
} face_op;

static vs_status faces_add_body(vs_tx *t, void *arg)
{
    face_op *op = arg;
    int64_t now = vs_store_now_ms(), checked = 0;
    for (size_t i = 0; i < op->n; i++) {
        const vs_face_row *f = &op->faces[i];
        vs_status rc = VS_OK;
        if (f->person_id != checked)
            rc = vs_person_writable(t, f->person_id);
        if (rc != VS_OK)
            return rc;
        checked = f->person_id;
        vector_to_le(f->vector, f->dim, op->buf);
        rc = vs_q_run(t, S_FACE_INSERT,
                      ARGS(arg_i64(f->person_id), arg_txt(f->model), arg_i64(f->dim),
                           arg_blob(op->buf, (size_t)f->dim * 4), arg_f64(f->quality),
                           arg_f64(f->box_x), arg_f64(f->box_y), arg_f64(f->box_w),
                           arg_f64(f->box_h), arg_txt(f->source),
                           arg_i64(f->created_at ? f->created_at : now)),
                      &op->ids[i], NULL, NULL);
        if (rc != VS_OK)
            return rc;
    }
    return VS_OK;
}

vs_status vs_store_faces_add(vs_store *s, const vs_face_row *faces, size_t n, int64_t *ids_out,
                             vs_err *err)
{
    if (!faces || n == 0)
        return vs_err_set(err, VS_INVAL, "no faces to add");
    if (n > SIZE_MAX / sizeof(int64_t))
        return vs_err_set(err, VS_LIMIT, "too many faces");
    for (size_t i = 0; i < n; i++) {
        vs_status st = check_face(&faces[i], err);
        if (st == VS_OK)
            st = vs_check_id("person", faces[i].person_id, err);
        if (st != VS_OK)
            return st;
    }
    face_op op = {.faces = faces, .n = n};
    op.ids = calloc(n, sizeof *op.ids);
    op.buf = malloc((size_t)VS_STORE_DIM_MAX * 4);
    vs_status st = op.ids && op.buf ? vs_tx_run(s, 1, faces_add_body, &op, err)
                                    : vs_err_set(err, VS_NOMEM, "store: out of memory");
    if (st == VS_OK && ids_out)
        memcpy(ids_out, op.ids, n * sizeof *op.ids);
    free(op.ids);
    free(op.buf);
    return st;
}

static vs_status face_delete_body(vs_tx *t, void *arg)
{
    int64_t id = ((face_op *)arg)->id, changed = 0;
    vs_status rc = vs_q_run(t, S_FACE_DELETE, ARGS(arg_i64(id)), NULL, NULL, &changed);
    return rc != VS_OK ? rc : vs_check_changed(t, changed, "face", id);
}

vs_status vs_store_face_delete(vs_store *s, int64_t face_id, vs_err *err)
{
    face_op op = {.id = face_id};
    return vs_tx_run(s, 1, face_delete_body, &op, err);
}

static vs_status face_replace_body(vs_tx *t, void *arg)
{
    face_op *op = arg;
    const vs_face_row *f = op->faces;
    int64_t changed = 0;
    vector_to_le(f->vector, f->dim, op->buf);
    vs_status rc =
        vs_q_run(t, S_FACE_REPLACE,
                 ARGS(arg_txt(f->model), arg_i64(f->dim), arg_blob(op->buf, (size_t)f->dim * 4),
                      arg_f64(f->quality), arg_f64(f->box_x), arg_f64(f->box_y), arg_f64(f->box_w),
                      arg_f64(f->box_h), arg_txt(f->source),
                      arg_i64(f->created_at ? f->created_at : vs_store_now_ms()), arg_i64(op->id)),
                 NULL, NULL, &changed);
    return rc != VS_OK ? rc : vs_check_changed(t, changed, "face", op->id);
}

vs_status vs_store_face_replace(vs_store *s, int64_t face_id, const vs_face_row *f, vs_err *err)
{
    vs_status st = check_face(f, err);
    if (st == VS_OK)
        st = vs_check_id("face", face_id, err);
    if (st != VS_OK)
        return st;
    face_op op = {.faces = f, .id = face_id, .buf = malloc((size_t)f->dim * 4)};
    st = op.buf ? vs_tx_run(s, 1, face_replace_body, &op, err)
                : vs_err_set(err, VS_NOMEM, "store: out of memory");
    free(op.buf);
    return st;
}

static vs_status face_list_body(vs_tx *t, void *arg)
{
    face_op *op = arg;
    void *items;
    vs_status rc = vs_q_list(t, S_FACE_LIST, ARGS(arg_i64(op->id)), sizeof(vs_face_row), read_face,
                             face_clear_item, &items, &op->list->n);
    op->list->items = items;
    return rc;
}

vs_status vs_store_face_list(vs_store *s, int64_t person_id, vs_face_list *out, vs_err *err)
{
    if (!out)
        return vs_err_set(err, VS_INVAL, "out is NULL");
    memset(out, 0, sizeof *out);
    face_op op = {.id = person_id, .list = out};
    return vs_tx_run(s, 0, face_list_body, &op, err);
}

static vs_status face_count_body(vs_tx *t, void *arg)
{
    face_op *op = arg;
    return vs_q_run(t, S_FACE_COUNT, ARGS(arg_txt(op->model), arg_txt(op->model)), &op->count, NULL,
                    NULL);
}

vs_status vs_store_face_count(vs_store *s, const char *model, int64_t *n_out, vs_err *err)
{
    if (!n_out)
        return vs_err_set(err, VS_INVAL, "n_out is NULL");
    face_op op = {.model = model};
    vs_status st = vs_tx_run(s, 0, face_count_body, &op, err);
    *n_out = st == VS_OK ? op.count : 0;
    return st;
}

static vs_status face_scan_body(vs_tx *t, void *arg)
{
    face_op *op = arg;
    void *items;
    vs_status rc = vs_q_list(t, S_FACE_SCAN,
                             ARGS(arg_txt(op->model), arg_i64(op->id), arg_i64((int64_t)op->batch)),
                             sizeof(vs_face_row), read_face, face_clear_item, &items, &op->list->n);
    op->list->items = items;
    return rc;
}

vs_status vs_store_face_scan(vs_store *s, const char *model, int64_t after_id, size_t batch,
                             vs_face_scan_fn fn, void *ctx, vs_err *err)
{
    vs_status st = vs_check_text("model", model, VS_STORE_MODEL_MAX - 1, 1, err);
    if (st != VS_OK)
        return st;
    if (!fn)
        return vs_err_set(err, VS_INVAL, "scan callback is NULL");
    vs_face_list list = {0};
    face_op op = {.model = model, .id = after_id, .list = &list};
    op.batch = batch == 0 ? 512 : (batch > 65536 ? 65536 : batch);
    for (;;) {
        st = vs_tx_run(s, 0, face_scan_body, &op, err);
        if (st != VS_OK || list.n == 0)
            break;
        /* The connection is back in the pool: fn may call the store (DESIGN NOTES 3). */
        int stop = fn(ctx, list.items, list.n);
        int last = list.n < op.batch;
        op.id = list.items[list.n - 1].id;
        vs_face_list_free(&list);
        if (stop || last)
            break;
    }
    vs_face_list_free(&list);
    return st;
}

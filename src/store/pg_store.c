/*
 * pg_store.c - the PostgreSQL driver of the store (shared and multi-node use), over libpq.
 *
 * Implements store_db.h: one PGconn per pooled connection; each statement id is prepared once
 * per connection (PQprepare, named "vs<id>") after its `?` placeholders are rewritten to $1..$n.
 * Parameters go as text (integers, doubles printed with 17 significant digits so they round
 * trip exactly) except blobs, which go binary; results come back binary, so int8 / float8 /
 * bytea need no parsing and vectors arrive bit-exact.  Column readers accept the integer and
 * float types the schema uses (int2/4/8, bool, float4/8) whatever width an expression has.
 *
 * Notices (e.g. "relation already exists, skipping") are swallowed: library code never
 * prints.  A connection that broke is reset by `usable` before the pool hands it out again, and
 * its prepared statements are forgotten so they are prepared anew.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_db.h"

#define PG_MAX_PARAMS 32
#define PG_MIN_SERVER 100000 /* identity columns: PostgreSQL 10 */

/* Type OIDs from PostgreSQL's pg_type.dat (stable across versions). */
enum {
    OID_BOOL = 16,
    OID_BYTEA = 17,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_TEXT = 25,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_VARCHAR = 1043,
    OID_JSONB = 3802,
};

struct vs_db_stmt {
    struct vs_db_conn *c;
    int id;
    int prepared;
    int nparams;
    int bind_bad; /* a parameter index out of range was bound */
    const char *vals[PG_MAX_PARAMS];
    int lens[PG_MAX_PARAMS];
    int fmts[PG_MAX_PARAMS];
    char num[PG_MAX_PARAMS][32];
    PGresult *res;
    int row, nrows;
    int64_t changes;
};

struct vs_db_conn {
    PGconn *pg;
    vs_db_stmt *stmts;
    int n_stmts;
};

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static vs_status map_sqlstate(const char *code, PGconn *pg)
{
    if (!code || strlen(code) != 5)
        return PQstatus(pg) == CONNECTION_OK ? VS_INTERNAL : VS_IO;
    if (strcmp(code, "53200") == 0)
        return VS_NOMEM;
    if (strncmp(code, "XX001", 5) == 0 || strncmp(code, "XX002", 5) == 0)
        return VS_FORMAT;
    static const struct {
        const char cls[3];
        vs_status st;
    } classes[] = {{"23", VS_INVAL}, {"22", VS_INVAL}, {"08", VS_IO}, {"53", VS_IO},
                   {"57", VS_IO},    {"58", VS_IO},    {"40", VS_IO}, {"0A", VS_UNSUPPORTED}};
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (strncmp(code, classes[i].cls, 2) == 0)
            return classes[i].st;
    return VS_INTERNAL;
}

/* The error of a failed result (res may be NULL) as a status + one-line message. */
static vs_status fail(PGconn *pg, const PGresult *res, vs_err *err)
{
    const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    if (!msg)
        msg = PQerrorMessage(pg);
    vs_status st = map_sqlstate(code, pg);
    char one[200];
    snprintf(one, sizeof one, "%s", msg ? msg : "unknown error");
    one[strcspn(one, "\n")] = '\0';
    return vs_err_set(err, st, "postgres%s%s: %s%s%s", code ? " " : "", code ? code : "", one,
                      detail ? " - " : "", detail ? detail : "");
}

static void forget_prepared(vs_db_conn *c)
{
    for (int i = 0; i < c->n_stmts; i++) {
        PQclear(c->stmts[i].res);
        c->stmts[i].res = NULL;
        c->stmts[i].prepared = 0;
    }
}

static void pg_disconnect(vs_db_conn *c)
{
    if (!c)
        return;
    if (c->stmts)
        forget_prepared(c);
    free(c->stmts);
    PQfinish(c->pg);
    free(c);
}

static vs_status pg_connect(const vs_db_config *cfg, vs_db_conn **out, vs_err *err)
{
    *out = NULL;
    vs_db_conn *c = calloc(1, sizeof *c);
    vs_status st = VS_OK;
    if (!c)
        return vs_err_set(err, VS_NOMEM, "postgres: out of memory");
    c->n_stmts = cfg->max_stmts;
    c->stmts = calloc((size_t)cfg->max_stmts, sizeof *c->stmts);
    if (!c->stmts) {
        st = vs_err_set(err, VS_NOMEM, "postgres: out of memory");
        goto out;
    }
    for (int i = 0; i < c->n_stmts; i++) {
        c->stmts[i].c = c;
        c->stmts[i].id = i;
    }
    /* Our defaults first: anything the URI says comes later and wins. */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const vals[] = {"10", "visage", cfg->target, NULL};
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg) {
        st = vs_err_set(err, VS_NOMEM, "postgres: out of memory");
        goto out;
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        st = fail(c->pg, NULL, err);
        if (st == VS_INTERNAL)
            st = VS_IO;
        goto out;
    }
    if (PQserverVersion(c->pg) < PG_MIN_SERVER) {
        st = vs_err_set(err, VS_UNSUPPORTED, "postgres: server version %d is older than 10",
                        PQserverVersion(c->pg));
        goto out;
    }
    PQsetNoticeProcessor(c->pg, quiet, NULL);
out:
    if (st != VS_OK) {
        pg_disconnect(c);
        return st;
    }
    *out = c;
    return VS_OK;
}

static int pg_usable(vs_db_conn *c)
{
    if (PQstatus(c->pg) == CONNECTION_OK)
        return 1;
    forget_prepared(c);
    PQreset(c->pg);
    if (PQstatus(c->pg) != CONNECTION_OK)
        return 0;
    PQsetNoticeProcessor(c->pg, quiet, NULL);
    return 1;
}

static vs_status pg_exec(vs_db_conn *c, const char *sql, vs_err *err)
{
    PGresult *res = PQexec(c->pg, sql);
    ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    vs_status st = VS_OK;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        st = fail(c->pg, res, err);
    PQclear(res);
    return st;
}

/* sql with `?` (outside quotes) rewritten to $1..$n; *nparams = n.  malloc'd. */
static char *number_params(const char *sql, int *nparams)
{
    size_t n = 0;
    for (const char *p = sql; *p; p++)
        n += *p == '?';
    char *out = malloc(strlen(sql) + n * 3 + 1), *o = out;
    if (!out)
        return NULL;
    int k = 0, quoted = 0;
    for (const char *p = sql; *p; p++) {
        if (*p == '\'')
            quoted = !quoted;
        if (*p == '?' && !quoted)
            o += snprintf(o, 5, "$%d", ++k); /* "$32" at most: the caller checked n */
        else
            *o++ = *p;
    }
    *o = '\0';
    *nparams = k;
    return out;
}

static vs_status pg_prepare(vs_db_conn *c, int id, const char *sql, vs_db_stmt **out, vs_err *err)
{
    *out = NULL;
    if (id < 0 || id >= c->n_stmts)
        return vs_err_set(err, VS_INTERNAL, "postgres: statement id %d out of range", id);
    vs_db_stmt *s = &c->stmts[id];
    if (!s->prepared) {
        size_t marks = 0;
        for (const char *p = sql; *p; p++)
            marks += *p == '?';
        if (marks > PG_MAX_PARAMS)
            return vs_err_set(err, VS_INTERNAL, "postgres: statement %d has too many params", id);
        int np = 0;
        char *text = number_params(sql, &np);
        if (!text)
            return vs_err_set(err, VS_NOMEM, "postgres: out of memory");
        char name[16];
        snprintf(name, sizeof name, "vs%d", id);
        PGresult *res = PQprepare(c->pg, name, text, np, NULL);
        free(text);
        vs_status st = VS_OK;
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
            st = fail(c->pg, res, err);
        PQclear(res);
        if (st != VS_OK)
            return st;
        s->prepared = 1;
        s->nparams = np;
    }
    *out = s;
    return VS_OK;
}

/* The slot of parameter i (1-based), or -1 (remembered as a bind error). */
static int slot(vs_db_stmt *s, int i)
{
    if (i < 1 || i > s->nparams) {
        s->bind_bad = 1;
        return -1;
    }
    return i - 1;
}

static void pg_bind_text(vs_db_stmt *s, int i, const char *v)
{
    int k = slot(s, i);
    if (k < 0)
        return;
    s->vals[k] = v;
    s->lens[k] = 0;
    s->fmts[k] = 0;
}

static void pg_bind_null(vs_db_stmt *s, int i)
{
    pg_bind_text(s, i, NULL);
}

static void pg_bind_i64(vs_db_stmt *s, int i, int64_t v)
{
    int k = slot(s, i);
    if (k < 0)
        return;
    snprintf(s->num[k], sizeof s->num[k], "%lld", (long long)v);
    pg_bind_text(s, i, s->num[k]);
}

static void pg_bind_f64(vs_db_stmt *s, int i, double v)
{
    int k = slot(s, i);
    if (k < 0)
        return;
    snprintf(s->num[k], sizeof s->num[k], "%.17g", v);
    pg_bind_text(s, i, s->num[k]);
}

static void pg_bind_blob(vs_db_stmt *s, int i, const void *p, size_t n)
{
    int k = slot(s, i);
    if (k < 0)
        return;
    if (n > (size_t)0x3fffffff) {
        s->bind_bad = 1;
        return;
    }
    static const char empty[1];
    s->vals[k] = n ? p : empty;
    s->lens[k] = (int)n;
    s->fmts[k] = 1;
}

static vs_status pg_step(vs_db_stmt *s, int *has_row, vs_err *err)
{
    *has_row = 0;
    if (!s->res) {
        if (s->bind_bad)
            return vs_err_set(err, VS_INTERNAL, "postgres: statement %d: bad parameter", s->id);
        char name[16];
        snprintf(name, sizeof name, "vs%d", s->id);
        PGresult *res = PQexecPrepared(s->c->pg, name, s->nparams, s->vals, s->lens, s->fmts, 1);
        ExecStatusType t = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (t != PGRES_TUPLES_OK && t != PGRES_COMMAND_OK) {
            vs_status st = fail(s->c->pg, res, err);
            PQclear(res);
            return st;
        }
        s->res = res;
        s->nrows = t == PGRES_TUPLES_OK ? PQntuples(res) : 0;
        s->row = -1;
        s->changes = strtoll(PQcmdTuples(res), NULL, 10);
    }
    if (s->row < s->nrows)
        s->row++;
    *has_row = s->row < s->nrows;
    return VS_OK;
}

static int64_t pg_changes(vs_db_stmt *s)
{
    return s->changes;
}

static void pg_reset(vs_db_stmt *s)
{
    PQclear(s->res);
    s->res = NULL;
    s->bind_bad = 0;
    s->nrows = 0;
    s->changes = 0;
    for (int k = 0; k < s->nparams; k++)
        pg_bind_text(s, k + 1, NULL);
}

static int pg_col_null(vs_db_stmt *s, int i)
{
    return PQgetisnull(s->res, s->row, i);
}

/* Big-endian bytes of a binary result value as an unsigned integer. */
static uint64_t be_bytes(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int k = 0; k < n; k++)
        v = v << 8 | p[k];
    return v;
}

static double as_double(Oid t, const unsigned char *p)
{
    if (t == OID_FLOAT8) {
        uint64_t u = be_bytes(p, 8);
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    uint32_t u = (uint32_t)be_bytes(p, 4);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static int64_t pg_col_i64(vs_db_stmt *s, int i)
{
    if (PQgetisnull(s->res, s->row, i))
        return 0;
    const unsigned char *p = (const unsigned char *)PQgetvalue(s->res, s->row, i);
    switch (PQftype(s->res, i)) {
    case OID_INT8:
        return (int64_t)be_bytes(p, 8);
    case OID_INT4:
        return (int32_t)(uint32_t)be_bytes(p, 4);
    case OID_INT2:
        return (int16_t)(uint16_t)be_bytes(p, 2);
    case OID_BOOL:
        return p[0] != 0;
    case OID_FLOAT4:
    case OID_FLOAT8:
        return (int64_t)as_double(PQftype(s->res, i), p);
    default:
        return strtoll((const char *)p, NULL, 10);
    }
}

static double pg_col_f64(vs_db_stmt *s, int i)
{
    if (PQgetisnull(s->res, s->row, i))
        return 0;
    Oid t = PQftype(s->res, i);
    if (t == OID_FLOAT4 || t == OID_FLOAT8)
        return as_double(t, (const unsigned char *)PQgetvalue(s->res, s->row, i));
    return (double)pg_col_i64(s, i);
}

static const char *pg_col_text(vs_db_stmt *s, int i)
{
    if (PQgetisnull(s->res, s->row, i))
        return NULL;
    const char *v = PQgetvalue(s->res, s->row, i);
    /* Binary jsonb is a version byte (1) and the text; store.c selects it as text anyway. */
    if (PQftype(s->res, i) == OID_JSONB && PQgetlength(s->res, s->row, i) > 0)
        v++;
    return v;
}

static const void *pg_col_blob(vs_db_stmt *s, int i, size_t *n)
{
    *n = 0;
    if (PQgetisnull(s->res, s->row, i))
        return NULL;
    *n = (size_t)PQgetlength(s->res, s->row, i);
    return PQgetvalue(s->res, s->row, i);
}

const vs_db_driver vs_pg_driver = {
    .name = "postgres",
    .dialect = VS_DIALECT_PG,
    .serial_writes = 0,
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .usable = pg_usable,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .bind_null = pg_bind_null,
    .bind_i64 = pg_bind_i64,
    .bind_f64 = pg_bind_f64,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .step = pg_step,
    .changes = pg_changes,
    .reset = pg_reset,
    .col_null = pg_col_null,
    .col_i64 = pg_col_i64,
    .col_f64 = pg_col_f64,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
};

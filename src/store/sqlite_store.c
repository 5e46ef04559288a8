/*
 * sqlite_store.c - the SQLite driver of the store (the embedded default).
 *
 * Implements store_db.h over the SQLite C API: one sqlite3 handle per pooled connection,
 * opened in WAL mode with foreign keys on and a busy timeout, and an array of prepared
 * statements per connection indexed by store.c's statement ids (SQLITE_PREPARE_PERSISTENT).
 * Writers are serialised in the process by store.c (serial_writes) and begin with BEGIN
 * IMMEDIATE, so a write transaction never has to upgrade a read lock (the SQLITE_BUSY that no
 * timeout can cure); other processes are waited for through busy_timeout.
 *
 * A new database file is created 0600 (it holds biometric data) inside a parent folder made
 * 0750 when missing.  A file that is not a SQLite database, or a damaged one, is VS_FORMAT.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_db.h"

struct vs_db_stmt {
    sqlite3_stmt *st;
    sqlite3 *db;
    int bind_rc; /* the first failed bind since the last reset */
};

struct vs_db_conn {
    sqlite3 *db;
    char *path;
    vs_db_stmt *stmts; /* [n_stmts], st NULL until first prepared */
    int n_stmts;
};

static vs_status map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return VS_OK;
    case SQLITE_NOMEM:
        return VS_NOMEM;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
        return VS_INVAL;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return VS_FORMAT;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_PROTOCOL:
        return VS_IO;
    default:
        return VS_INTERNAL;
    }
}

static vs_status fail(sqlite3 *db, int rc, const char *path, vs_err *err)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return vs_err_set(err, map_rc(rc), "sqlite %s: %s", path ? path : "", msg);
}

/* mkdir -p of the folder that holds path (mode 0750 for what it creates). */
static vs_status make_parents(const char *path, vs_err *err)
{
    char *dir = strdup(path);
    if (!dir)
        return vs_err_set(err, VS_NOMEM, "sqlite: out of memory");
    vs_status st = VS_OK;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0750) != 0 && errno != EEXIST)
            st =
                vs_err_set(err, VS_IO, "sqlite: cannot create folder %s: %s", dir, strerror(errno));
        *p = '/';
        if (st != VS_OK)
            break;
    }
    free(dir);
    return st;
}

/* Creates an absent database file with mode 0600 before SQLite opens it. */
static vs_status create_private(const char *path, vs_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST)
        return vs_err_set(err, VS_IO, "sqlite: cannot create %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return VS_OK;
}

static void sq_disconnect(vs_db_conn *c)
{
    if (!c)
        return;
    for (int i = 0; c->stmts && i < c->n_stmts; i++)
        sqlite3_finalize(c->stmts[i].st);
    free(c->stmts);
    sqlite3_close_v2(c->db);
    free(c->path);
    free(c);
}

static vs_status sq_connect(const vs_db_config *cfg, vs_db_conn **out, vs_err *err)
{
    *out = NULL;
    vs_status st = make_parents(cfg->target, err);
    if (st == VS_OK)
        st = create_private(cfg->target, err);
    if (st != VS_OK)
        return st;
    vs_db_conn *c = calloc(1, sizeof *c);
    if (!c)
        return vs_err_set(err, VS_NOMEM, "sqlite: out of memory");
    c->n_stmts = cfg->max_stmts;
    c->stmts = calloc((size_t)cfg->max_stmts, sizeof *c->stmts);
    c->path = strdup(cfg->target);
    if (!c->stmts || !c->path) {
        st = vs_err_set(err, VS_NOMEM, "sqlite: out of memory");
        goto out;
    }
    int rc =
        sqlite3_open_v2(cfg->target, &c->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        st = vs_err_set(err, VS_IO, "sqlite: cannot open %s: %s", cfg->target,
                        c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, cfg->busy_timeout_ms);
    /* journal_mode reads the file header: this is where a file that is not a database fails. */
    rc = sqlite3_exec(c->db,
                      "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;"
                      " PRAGMA synchronous = NORMAL; SELECT count(*) FROM sqlite_master",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        st = fail(c->db, rc, cfg->target, err);
out:
    if (st != VS_OK) {
        sq_disconnect(c);
        return st;
    }
    *out = c;
    return VS_OK;
}

static int sq_usable(vs_db_conn *c)
{
    return c && c->db;
}

static vs_status sq_exec(vs_db_conn *c, const char *sql, vs_err *err)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? VS_OK : fail(c->db, rc, c->path, err);
}

static vs_status sq_prepare(vs_db_conn *c, int id, const char *sql, vs_db_stmt **out, vs_err *err)
{
    *out = NULL;
    if (id < 0 || id >= c->n_stmts)
        return vs_err_set(err, VS_INTERNAL, "sqlite: statement id %d out of range", id);
    vs_db_stmt *s = &c->stmts[id];
    if (!s->st) {
        int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL);
        if (rc != SQLITE_OK)
            return fail(c->db, rc, c->path, err);
        s->db = c->db;
    }
    *out = s;
    return VS_OK;
}

static void note_bind(vs_db_stmt *s, int rc)
{
    if (rc != SQLITE_OK && s->bind_rc == SQLITE_OK)
        s->bind_rc = rc;
}

static void sq_bind_null(vs_db_stmt *s, int i)
{
    note_bind(s, sqlite3_bind_null(s->st, i));
}

static void sq_bind_i64(vs_db_stmt *s, int i, int64_t v)
{
    note_bind(s, sqlite3_bind_int64(s->st, i, v));
}

static void sq_bind_f64(vs_db_stmt *s, int i, double v)
{
    note_bind(s, sqlite3_bind_double(s->st, i, v));
}

static void sq_bind_text(vs_db_stmt *s, int i, const char *v)
{
    note_bind(s,
              v ? sqlite3_bind_text(s->st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s->st, i));
}

static void sq_bind_blob(vs_db_stmt *s, int i, const void *p, size_t n)
{
    /* A zero-length blob must still be a blob, not NULL: give SQLite a non-NULL pointer. */
    static const char empty[1];
    note_bind(s, sqlite3_bind_blob64(s->st, i, n ? p : empty, n, SQLITE_STATIC));
}

static vs_status sq_step(vs_db_stmt *s, int *has_row, vs_err *err)
{
    *has_row = 0;
    if (s->bind_rc != SQLITE_OK)
        return fail(s->db, s->bind_rc, "bind", err);
    int rc = sqlite3_step(s->st);
    if (rc == SQLITE_ROW) {
        *has_row = 1;
        return VS_OK;
    }
    if (rc == SQLITE_DONE)
        return VS_OK;
    return fail(s->db, rc, sqlite3_db_filename(s->db, "main"), err);
}

static int64_t sq_changes(vs_db_stmt *s)
{
    return sqlite3_changes64(s->db);
}

static void sq_reset(vs_db_stmt *s)
{
    sqlite3_reset(s->st);
    sqlite3_clear_bindings(s->st);
    s->bind_rc = SQLITE_OK;
}

static int sq_col_null(vs_db_stmt *s, int i)
{
    return sqlite3_column_type(s->st, i) == SQLITE_NULL;
}

static int64_t sq_col_i64(vs_db_stmt *s, int i)
{
    return sqlite3_column_int64(s->st, i);
}

static double sq_col_f64(vs_db_stmt *s, int i)
{
    return sqlite3_column_double(s->st, i);
}

static const char *sq_col_text(vs_db_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s->st, i);
}

static const void *sq_col_blob(vs_db_stmt *s, int i, size_t *n)
{
    const void *p = sqlite3_column_blob(s->st, i);
    *n = (size_t)sqlite3_column_bytes(s->st, i);
    return p;
}

const vs_db_driver vs_sqlite_driver = {
    .name = "sqlite",
    .dialect = VS_DIALECT_SQLITE,
    .serial_writes = 1,
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .usable = sq_usable,
    .exec = sq_exec,
    .prepare = sq_prepare,
    .bind_null = sq_bind_null,
    .bind_i64 = sq_bind_i64,
    .bind_f64 = sq_bind_f64,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .step = sq_step,
    .changes = sq_changes,
    .reset = sq_reset,
    .col_null = sq_col_null,
    .col_i64 = sq_col_i64,
    .col_f64 = sq_col_f64,
    .col_text = sq_col_text,
    .col_blob = sq_col_blob,
};

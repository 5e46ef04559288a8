/*
 * store_db.h - private: the small SQL driver interface that each backend implements.
 *
 * store.c writes every operation once, against this interface: prepare a statement (cached per
 * connection by its id), bind parameters by 1-based position, step through rows, read columns.
 * SQL text uses `?` placeholders in both dialects; the PostgreSQL driver rewrites them to $1..$n
 * when it prepares.  sqlite_store.c and pg_store.c are the two implementations.
 *
 * Contract shared by both drivers:
 *   - A connection is used by one thread at a time (store.c's pool guarantees it).
 *   - bind_* never fail: a bind problem is remembered and reported by the next step.
 *   - Bound strings and blobs must stay valid until the statement is reset (store.c binds
 *     and steps within one function).
 *   - step() runs the statement on its first call, then moves to the next row; *has_row is 0
 *     after the last row.  reset() makes the statement ready to bind again.
 *   - Column readers are valid on a row; col_text and col_blob point into the driver's memory,
 *     valid until the next step or reset.  Column types the schema uses: integer, double,
 *     text, blob.
 *   - Errors are mapped to vs_status: constraint and data errors VS_INVAL, corrupt / not a
 *     database VS_FORMAT, I/O and connection VS_IO, out of memory VS_NOMEM, else VS_INTERNAL;
 *     the message says what the database said.
 */
#ifndef VS_STORE_STORE_DB_H
#define VS_STORE_STORE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum { VS_DIALECT_SQLITE = 0, VS_DIALECT_PG = 1, VS_DIALECT_COUNT } vs_dialect;

typedef struct vs_db_conn vs_db_conn; /* one connection, defined by each driver */
typedef struct vs_db_stmt vs_db_stmt; /* one prepared statement of a connection */

/* Connection settings store.c passes to connect. */
typedef struct vs_db_config {
    const char *target;  /* a file path (SQLite) or a libpq URI (PostgreSQL) */
    int busy_timeout_ms; /* SQLite only */
    int max_stmts;       /* statement ids are 0..max_stmts-1 */
} vs_db_config;

typedef struct vs_db_driver {
    const char *name; /* "sqlite", "postgres" */
    vs_dialect dialect;
    int serial_writes; /* non-zero: store.c serialises write transactions in the process */

    vs_status (*connect)(const vs_db_config *cfg, vs_db_conn **out, vs_err *err);
    void (*disconnect)(vs_db_conn *c);
    /* Non-zero if the connection is usable; a driver may try to re-establish it here. */
    int (*usable)(vs_db_conn *c);
    /* Runs SQL without parameters (may hold several statements; no rows are returned). */
    vs_status (*exec)(vs_db_conn *c, const char *sql, vs_err *err);
    /* The cached statement `id` of this connection, prepared from sql on first use. */
    vs_status (*prepare)(vs_db_conn *c, int id, const char *sql, vs_db_stmt **out, vs_err *err);

    void (*bind_null)(vs_db_stmt *st, int i);
    void (*bind_i64)(vs_db_stmt *st, int i, int64_t v);
    void (*bind_f64)(vs_db_stmt *st, int i, double v);
    void (*bind_text)(vs_db_stmt *st, int i, const char *v); /* NULL binds NULL */
    void (*bind_blob)(vs_db_stmt *st, int i, const void *p, size_t n);

    vs_status (*step)(vs_db_stmt *st, int *has_row, vs_err *err);
    /* Rows changed by the last INSERT / UPDATE / DELETE of this statement. */
    int64_t (*changes)(vs_db_stmt *st);
    void (*reset)(vs_db_stmt *st);

    int (*col_null)(vs_db_stmt *st, int i); /* columns are 0-based */
    int64_t (*col_i64)(vs_db_stmt *st, int i);
    double (*col_f64)(vs_db_stmt *st, int i);
    const char *(*col_text)(vs_db_stmt *st, int i); /* NULL for SQL NULL */
    const void *(*col_blob)(vs_db_stmt *st, int i, size_t *n);
} vs_db_driver;

/* The wall clock in milliseconds since the epoch (store.c). */
int64_t vs_store_now_ms(void);

extern const vs_db_driver vs_sqlite_driver;
extern const vs_db_driver vs_pg_driver;

#endif

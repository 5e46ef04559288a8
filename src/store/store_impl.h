/*
 * store_impl.h - private: what store.c shares with store_records.c.
 *
 * The statement ids (their SQL is the one table in store.c), one-transaction bodies
 * (vs_tx_run), parameter binding (ARGS(arg_i64(x), arg_txt(y), ...)), row readers and the
 * validation that is the same for both backends.  See store.c's DESIGN NOTES.
 */
#ifndef VS_STORE_STORE_IMPL_H
#define VS_STORE_STORE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "migrations.h"
#include "store.h"
#include "store_db.h"

/* Statement ids; store.c's table `sql` holds the text of each. */
enum {
    S_PERSON_INSERT = VS_MIG_STMT_COUNT,
    S_PERSON_GET,
    S_PERSON_UPDATE,
    S_PERSON_DELETE,
    S_PERSON_LIST,
    S_PERSON_COUNT,
    S_PERSON_STATE,
    S_PERSON_LOCK2,
    S_MOVE_FACES,
    S_MOVE_VISITS,
    S_MOVE_PURCHASES,
    S_MOVE_INCIDENTS,
    S_MOVE_WATCHLIST,
    S_MOVE_MERGED,
    S_PERSON_MARK_MERGED,
    S_FACE_INSERT,
    S_FACE_DELETE,
    S_FACE_REPLACE,
    S_FACE_LIST,
    S_FACE_SCAN,
    S_FACE_COUNT,
    S_VISIT_INSERT,
    S_VISIT_LIST,
    S_PURCHASE_INSERT,
    S_PURCHASE_LINE_INSERT,
    S_PURCHASE_LIST,
    S_PURCHASE_LINES,
    S_INCIDENT_INSERT,
    S_INCIDENT_LIST,
    S_KEY_INSERT,
    S_KEY_LIST,
    S_KEY_REVOKE,
    S_KEY_FIND,
    S_KEY_TOUCH,
    S_AUDIT_INSERT,
    S_AUDIT_LIST,
    S_SETTING_GET,
    S_SETTING_SET,
    S_COUNT
};

typedef struct vs_tx {
    vs_store *s;
    const vs_db_driver *d;
    vs_db_conn *c;
    vs_err *err;
} vs_tx;

typedef vs_status (*vs_tx_body)(vs_tx *t, void *arg);

/* Runs body as one transaction on one pooled connection (write: a write transaction); commits
 * if body returns VS_OK, else rolls back.  The detail goes to err and to the handle. */
vs_status vs_tx_run(vs_store *s, int write, vs_tx_body body, void *arg, vs_err *err);

/* One bound parameter.  Build arrays of them with ARGS(arg_i64(x), arg_txt(y), ...). */
typedef struct sql_arg {
    char type; /* 'i' int64, 'o' int64 or NULL when 0, 'f' double, 't' text, 'b' blob */
    int64_t i;
    double f;
    const void *p;
    size_t n;
} sql_arg;

static inline sql_arg arg_i64(int64_t v)
{
    return (sql_arg){.type = 'i', .i = v};
}

/* An optional reference: 0 binds NULL. */
static inline sql_arg arg_opt(int64_t v)
{
    return (sql_arg){.type = 'o', .i = v};
}

static inline sql_arg arg_f64(double v)
{
    return (sql_arg){.type = 'f', .f = v};
}

static inline sql_arg arg_txt(const char *v)
{
    return (sql_arg){.type = 't', .p = v};
}

static inline sql_arg arg_blob(const void *p, size_t n)
{
    return (sql_arg){.type = 'b', .p = p, .n = n};
}

#define ARGS(...)                                                                                  \
    (const sql_arg[]){__VA_ARGS__}, sizeof((const sql_arg[]){__VA_ARGS__}) / sizeof(sql_arg)

/* Prepares statement id on the transaction's connection and binds a[0..n-1] to it. */
vs_status vs_q_open(vs_tx *t, int id, const sql_arg *a, size_t n, vs_db_stmt **out);

/* Runs a statement that returns no rows, or whose first row's first integer is wanted:
 * *val (may be NULL) gets it, *found (may be NULL) says whether there was a row, *changes
 * (may be NULL) the rows it changed.  A statement without SQL in this dialect is a no-op. */
vs_status vs_q_run(vs_tx *t, int id, const sql_arg *a, size_t n, int64_t *val, int *found,
                   int64_t *changes);

typedef vs_status (*vs_row_reader)(vs_tx *t, vs_db_stmt *st, void *item);
typedef void (*vs_item_clear)(void *item);

/* Opens statement id, reads all its rows with rd into a malloc'd array of size-byte items
 * (cleared with clr on failure), resets it. */
vs_status vs_q_list(vs_tx *t, int id, const sql_arg *a, size_t na, size_t size, vs_row_reader rd,
                    vs_item_clear clr, void **items, size_t *n);

/* A malloc'd copy of text column i into *out (NULL for SQL NULL). */
vs_status vs_col_dup(vs_tx *t, vs_db_stmt *st, int i, char **out);
/* Reads the text columns first..first+n-1 into *dst[0..n-1]. */
vs_status vs_col_dups(vs_tx *t, vs_db_stmt *st, int first, char **const dst[], int n);

/* Validation (err gets the detail): text length (required: non-NULL and non-empty), finite
 * numbers, positive ids. */
vs_status vs_check_text(const char *what, const char *v, size_t max, int required, vs_err *err);
vs_status vs_check_finite(const char *what, double v, vs_err *err);
vs_status vs_check_id(const char *what, int64_t id, vs_err *err);

/* Checks inside a transaction that a person exists and is not merged (locking its row on
 * PostgreSQL).  VS_NOTFOUND / VS_INVAL. */
vs_status vs_person_writable(vs_tx *t, int64_t person_id);

/* VS_NOTFOUND "<what> <id> does not exist" when changes is 0. */
vs_status vs_check_changed(vs_tx *t, int64_t changes, const char *what, int64_t id);

/* A page size: 0 -> VS_STORE_LIST_DEFAULT, capped at VS_STORE_LIST_MAX. */
size_t vs_page_limit(size_t limit);

#endif

/*
 * store.h - the gallery's system of record: persons, faces, visits, purchases, incidents,
 * watchlist, API keys, audit and settings, behind one interface with two backends.
 *
 *   - SQLite (the embedded default): `var/visage.db`, a plain path or `sqlite:PATH`.  WAL,
 *     foreign keys on, a busy timeout; the parent folder is created when missing.
 *   - PostgreSQL (shared, multi-node): `postgres://...` or `postgresql://...` (any libpq URI,
 *     e.g. `postgresql://user@host:5432/db?options=-csearch_path%3Dvisage`), through libpq.
 *
 * Both backends run the same SQL (written once in store.c, with per-dialect text only where the
 * dialects differ) and the same versioned migrations (migrations.c), which vs_store_open applies
 * inside one transaction.  A database whose schema is newer than this build is refused.
 *
 * Conventions:
 *   - Functions return a vs_status; a vs_err * (may be NULL) receives the detail, which is also
 *     kept on the handle (vs_store_errmsg).  `*out` results are zeroed / NULL on failure.
 *   - Every call that writes is one transaction: on any failure (bad input, a constraint, a lost
 *     connection, a full disk) it rolls back and the database is as it was before the call.
 *   - Times are int64 milliseconds since the Unix epoch (UTC).  0 means "unset" (NULL) for
 *     optional times, and "now" for the time of a new row (created_at, at).
 *   - Ids are positive int64, never reused (SQLite AUTOINCREMENT, PostgreSQL identity); 0 means
 *     "none" in optional references (merged_into, face_id).
 *   - Strings are UTF-8, NUL-terminated; NULL means SQL NULL.  Input structs are only read;
 *     strings in output structs are malloc'd and belong to the caller, who releases them with the
 *     matching *_clear / *_list_free function.
 *   - Status codes: VS_INVAL bad argument or a violated constraint (unknown enum, bad JSON,
 *     duplicate unique key); VS_NOTFOUND a row that does not exist; VS_IO the database could not
 *     be opened or reached, or an I/O error; VS_FORMAT the file is not a database or is corrupt;
 *     VS_UNSUPPORTED an unknown URL scheme or a schema newer than this build; VS_NOMEM.
 *
 * Thread safety: a vs_store may be shared by any number of threads.  It holds a small pool of
 * connections (default 4) handed out one per call under a mutex + condition variable; prepared
 * statements are cached per connection.  SQLite writers are serialised inside the process by a
 * writer mutex (and across processes by BEGIN IMMEDIATE + busy_timeout), readers run in
 * parallel under WAL; PostgreSQL transactions run in parallel on their own connections.
 *
 * Link with -lsqlite3 -lpq -lcjson -lpthread (compile with -I/usr/include/postgresql).
 */
#ifndef VS_STORE_STORE_H
#define VS_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct vs_store vs_store;

/* ---- opening ----------------------------------------------------------------------------- */

#define VS_STORE_DEFAULT_POOL 4
#define VS_STORE_MAX_POOL 64

/* Options for vs_store_open_with.  A zero field means "the default". */
typedef struct vs_store_options {
    int pool_size;       /* connections, 1..VS_STORE_MAX_POOL; default VS_STORE_DEFAULT_POOL */
    int busy_timeout_ms; /* SQLite: how long to wait for another process's lock; 10000 */
} vs_store_options;

/*
 * Opens (creating it if needed) the database named by url and brings its schema up to date.
 *   url  a path or `sqlite:PATH` (SQLite), or `postgres://...` / `postgresql://...`.
 *   out  OUT: the handle, NULL on failure.  Free with vs_store_close.
 * Errors: VS_INVAL (NULL/empty url), VS_UNSUPPORTED (unknown scheme, or a schema version newer
 * than this build knows), VS_IO (cannot open / connect), VS_FORMAT (not a database / corrupt).
 */
vs_status vs_store_open(const char *url, vs_store **out, vs_err *err);
vs_status vs_store_open_with(const char *url, const vs_store_options *opt, vs_store **out,
                             vs_err *err);

/* Closes every connection and frees the handle.  NULL is a no-op.  No call may be running. */
void vs_store_close(vs_store *s);

/* "sqlite" or "postgres". */
const char *vs_store_backend(const vs_store *s);

/* The schema version the database is at (after vs_store_open: the newest this build knows). */
int vs_store_schema_version(const vs_store *s);

/* The newest schema version this build knows. */
int vs_store_schema_latest(void);

/*
 * Copies the detail message of the last failed call on this handle into buf (cap bytes,
 * NUL-terminated; "" when nothing failed) and returns buf.  With several threads sharing the
 * handle "last" is any thread's: threaded callers should read the vs_err of their own call.
 */
const char *vs_store_errmsg(vs_store *s, char *buf, size_t cap);

/* ---- enums and their names ---------------------------------------------------------------- */

/* 0 is never a valid value: a zeroed struct is rejected (and means "any" in filters). */
typedef enum {
    VS_PERSON_CUSTOMER = 1,
    VS_PERSON_ANONYMOUS = 2,
    VS_PERSON_STAFF = 3,
} vs_person_kind;

typedef enum {
    VS_CONSENT_NONE = 1, /* never asked */
    VS_CONSENT_GIVEN = 2,
    VS_CONSENT_REFUSED = 3,
    VS_CONSENT_WITHDRAWN = 4,
} vs_consent_status;

typedef enum {
    VS_ROLE_ADMIN = 1,
    VS_ROLE_OPERATOR = 2,
    VS_ROLE_VIEWER = 3,
    VS_ROLE_DEVICE = 4,
} vs_api_role;

/* The stored word for each value ("customer", "given", "admin", ...); NULL if out of range. */
const char *vs_person_kind_name(vs_person_kind k);
const char *vs_consent_name(vs_consent_status c);
const char *vs_role_name(vs_api_role r);
/* The value for a word; 0 if the word is unknown or NULL. */
vs_person_kind vs_person_kind_parse(const char *s);
vs_consent_status vs_consent_parse(const char *s);
vs_api_role vs_role_parse(const char *s);

/* ---- persons ------------------------------------------------------------------------------ */

#define VS_STORE_NAME_MAX 256     /* bytes of name, purpose, camera, source, kind, actor ... */
#define VS_STORE_TEXT_MAX 65536   /* bytes of description, notes, detail, setting values */
#define VS_STORE_JSON_MAX 65536   /* bytes of attributes_json */
#define VS_STORE_LIST_DEFAULT 100 /* rows per page when limit is 0 */
#define VS_STORE_LIST_MAX 1000    /* the largest page */

typedef struct vs_person {
    int64_t id; /* set by the store */
    vs_person_kind kind;
    char *name;            /* may be NULL (anonymous visitors) */
    char *description;     /* may be NULL */
    char *attributes_json; /* a JSON object, or NULL */
    vs_consent_status consent_status;
    char *consent_purpose; /* may be NULL */
    int64_t consent_given_at;
    int64_t consent_expires_at;
    int64_t created_at;  /* set by the store on create (or taken from the caller when non-zero) */
    int64_t updated_at;  /* set by the store */
    int64_t merged_into; /* 0, or the person this one was merged into (set by person_merge) */
} vs_person;

/* Frees the strings of p and zeroes it.  NULL is a no-op. */
void vs_person_clear(vs_person *p);

typedef struct vs_person_list {
    vs_person *items;
    size_t n;
    int64_t next_after_id; /* pass as after_id for the next page; 0 when this page was the last */
} vs_person_list;

void vs_person_list_free(vs_person_list *l);

/* Filters for person_list / person_count.  A zeroed struct lists everyone not merged. */
typedef struct vs_person_filter {
    const char *name_contains; /* case-insensitive substring of name; NULL = any */
    vs_person_kind kind;       /* 0 = any */
    int64_t created_from;      /* created_at >= created_from; 0 = open */
    int64_t created_to;        /* created_at < created_to; 0 = open */
    const char *gender;        /* attributes.gender equals it; NULL = any */
    int age_min, age_max;      /* attributes.age within [age_min, age_max]; 0 = open end */
    const char *tag;           /* attributes.tags holds it; NULL = any */
    int include_merged;        /* non-zero: also persons merged into another */
    int64_t after_id;          /* keyset paging: only ids > after_id */
    size_t offset;             /* offset paging (after the keyset condition) */
    size_t limit;              /* 0 = VS_STORE_LIST_DEFAULT; at most VS_STORE_LIST_MAX */
} vs_person_filter;

/*
 * Inserts p (p->id and p->updated_at are ignored) and returns the new id through id_out.
 * Checks: kind and consent_status valid, attributes_json NULL or a JSON object, lengths.
 */
vs_status vs_store_person_create(vs_store *s, const vs_person *p, int64_t *id_out, vs_err *err);

/* Reads person id into *out (which the caller later clears).  VS_NOTFOUND if there is none. */
vs_status vs_store_person_get(vs_store *s, int64_t id, vs_person *out, vs_err *err);

/*
 * Replaces the profile fields of person p->id (kind, name, description, attributes, consent)
 * and sets updated_at.  created_at and merged_into are not changed.  VS_NOTFOUND if absent.
 */
vs_status vs_store_person_update(vs_store *s, const vs_person *p, vs_err *err);

/* Deletes a person with their faces, visits, purchases, incidents and watchlist entries.
 * Persons merged into it keep their rows with merged_into cleared.  VS_NOTFOUND if absent. */
vs_status vs_store_person_delete(vs_store *s, int64_t id, vs_err *err);

/* Lists persons matching f in id order.  *out is filled (and must be freed) on VS_OK. */
vs_status vs_store_person_list(vs_store *s, const vs_person_filter *f, vs_person_list *out,
                               vs_err *err);

/* Counts persons matching f (after_id counts; offset and limit are ignored). */
vs_status vs_store_person_count(vs_store *s, const vs_person_filter *f, int64_t *n_out,
                                vs_err *err);

/* What a merge moved. */
typedef struct vs_merge_counts {
    int64_t faces, visits, purchases, incidents, watchlist, persons;
} vs_merge_counts;

/*
 * Merges person `from` into person `into` in one transaction: faces, visits, purchases,
 * incidents and watchlist entries of `from` move to `into`, persons merged into `from` now point
 * at `into`, and `from` is kept with merged_into = into (its profile stays for the audit trail).
 * Errors: VS_INVAL (from == into, or either is already merged), VS_NOTFOUND (either absent).
 * counts (may be NULL) receives what moved.
 */
vs_status vs_store_person_merge(vs_store *s, int64_t from, int64_t into, vs_merge_counts *counts,
                                vs_err *err);

/* ---- faces -------------------------------------------------------------------------------- */

#define VS_STORE_MODEL_MAX 64 /* bytes of a model name, with its NUL */
#define VS_STORE_DIM_MAX 4096

typedef struct vs_face_row {
    int64_t id;                        /* set by the store */
    int64_t person_id;                 /* must exist and not be merged */
    char model[VS_STORE_MODEL_MAX];    /* the embedder that made the vector, e.g. "fr_feature" */
    uint32_t dim;                      /* 1..VS_STORE_DIM_MAX */
    float *vector;                     /* dim finite floats, stored bit-exact (float32 LE) */
    double quality;                    /* finite */
    double box_x, box_y, box_w, box_h; /* the face in its source image, pixels; w, h >= 0 */
    char *source;                      /* where it came from ("enroll", "camera:door"); NULL */
    int64_t created_at;                /* 0 = now */
} vs_face_row;

/* Frees the vector and source of f and zeroes it.  NULL is a no-op. */
void vs_face_row_clear(vs_face_row *f);

typedef struct vs_face_list {
    vs_face_row *items;
    size_t n;
} vs_face_list;

void vs_face_list_free(vs_face_list *l);

/*
 * Adds n faces (n >= 1, any persons) in one transaction; ids_out (may be NULL) receives the n
 * new ids.  If any face is invalid or its person is absent or merged, nothing is added.
 */
vs_status vs_store_faces_add(vs_store *s, const vs_face_row *faces, size_t n, int64_t *ids_out,
                             vs_err *err);

/* Deletes one face.  VS_NOTFOUND if absent. */
vs_status vs_store_face_delete(vs_store *s, int64_t face_id, vs_err *err);

/*
 * Replaces face `face_id` in place (same id, same person) with f's model, vector, quality, box
 * and source (f->id and f->person_id are ignored).  VS_NOTFOUND if absent.
 */
vs_status vs_store_face_replace(vs_store *s, int64_t face_id, const vs_face_row *f, vs_err *err);

/* Every face of one person (all models) in id order. */
vs_status vs_store_face_list(vs_store *s, int64_t person_id, vs_face_list *out, vs_err *err);

/* The number of faces of a model (NULL = all models). */
vs_status vs_store_face_count(vs_store *s, const char *model, int64_t *n_out, vs_err *err);

/*
 * Called by vs_store_face_scan with up to `batch` faces in id order.  The rows and their
 * vectors are valid only during the call (copy what you keep).  Return 0 to go on, non-zero to
 * stop the scan (vs_store_face_scan then returns VS_OK).  No connection is held during the
 * call, so the callback may call the store.
 */
typedef int (*vs_face_scan_fn)(void *ctx, const vs_face_row *rows, size_t n);

/*
 * Visits every face of `model` whose id > after_id, in id order, `batch` rows at a time
 * (0 = 512), each batch read in its own short transaction (keyset paging, so concurrent writes
 * neither block nor break the scan).  This is how the index is rebuilt at start.
 */
vs_status vs_store_face_scan(vs_store *s, const char *model, int64_t after_id, size_t batch,
                             vs_face_scan_fn fn, void *ctx, vs_err *err);

/* ---- visits, purchases, incidents --------------------------------------------------------- */

typedef struct vs_visit {
    int64_t id;
    int64_t person_id;
    int64_t at;      /* 0 = now */
    char *camera;    /* NULL allowed */
    int64_t face_id; /* the stored face that matched, 0 = none */
    double score;    /* the match score, finite */
} vs_visit;

typedef struct vs_visit_list {
    vs_visit *items;
    size_t n;
} vs_visit_list;

void vs_visit_list_free(vs_visit_list *l);

vs_status vs_store_visit_add(vs_store *s, const vs_visit *v, int64_t *id_out, vs_err *err);

/* A person's visits, newest first (ties: highest id first), paged by limit + offset. */
vs_status vs_store_visit_list(vs_store *s, int64_t person_id, size_t limit, size_t offset,
                              vs_visit_list *out, vs_err *err);

typedef struct vs_purchase_line {
    char *sku;           /* NULL allowed */
    char *name;          /* NULL allowed */
    char *category;      /* NULL allowed */
    double qty;          /* > 0 */
    int64_t price_cents; /* unit price in minor units, >= 0 */
} vs_purchase_line;

typedef struct vs_purchase {
    int64_t id;
    int64_t person_id;
    int64_t at;          /* 0 = now */
    int64_t total_cents; /* >= 0 */
    char *currency;      /* ISO 4217 code, NULL allowed */
    char *receipt;       /* the till's receipt id, unique when given; NULL allowed */
    vs_purchase_line *lines;
    size_t n_lines;
} vs_purchase;

typedef struct vs_purchase_list {
    vs_purchase *items;
    size_t n;
} vs_purchase_list;

void vs_purchase_list_free(vs_purchase_list *l);

/* Adds a purchase and its lines in one transaction.  A duplicate receipt is VS_INVAL. */
vs_status vs_store_purchase_add(vs_store *s, const vs_purchase *p, int64_t *id_out, vs_err *err);

/* A person's purchases with their lines, newest first, paged by limit + offset. */
vs_status vs_store_purchase_list(vs_store *s, int64_t person_id, size_t limit, size_t offset,
                                 vs_purchase_list *out, vs_err *err);

typedef struct vs_incident {
    int64_t id;
    int64_t person_id;
    int64_t at;     /* 0 = now */
    char *kind;     /* e.g. "theft", required */
    int severity;   /* 1..5 */
    char *notes;    /* NULL allowed */
    char *reporter; /* NULL allowed */
} vs_incident;

typedef struct vs_incident_list {
    vs_incident *items;
    size_t n;
} vs_incident_list;

void vs_incident_list_free(vs_incident_list *l);

vs_status vs_store_incident_add(vs_store *s, const vs_incident *in, int64_t *id_out, vs_err *err);

/* A person's incidents, newest first, paged by limit + offset. */
vs_status vs_store_incident_list(vs_store *s, int64_t person_id, size_t limit, size_t offset,
                                 vs_incident_list *out, vs_err *err);

/* ---- API keys ----------------------------------------------------------------------------- */

typedef struct vs_api_key {
    int64_t id;
    char *name;
    vs_api_role role;
    char *hash; /* the stored hash of the key (the key itself is never stored) */
    int64_t created_at;
    int64_t last_used; /* 0 = never */
    int revoked;
} vs_api_key;

void vs_api_key_clear(vs_api_key *k);

typedef struct vs_api_key_list {
    vs_api_key *items;
    size_t n;
} vs_api_key_list;

void vs_api_key_list_free(vs_api_key_list *l);

/* Stores a new key.  A hash already stored is VS_INVAL. */
vs_status vs_store_api_key_create(vs_store *s, const char *name, vs_api_role role, const char *hash,
                                  int64_t *id_out, vs_err *err);

/* Every key, revoked ones included, in id order. */
vs_status vs_store_api_key_list(vs_store *s, vs_api_key_list *out, vs_err *err);

/* Marks a key revoked (idempotent).  VS_NOTFOUND if absent. */
vs_status vs_store_api_key_revoke(vs_store *s, int64_t id, vs_err *err);

/* The key with this hash, revoked or not (the caller checks `revoked`).  VS_NOTFOUND if none. */
vs_status vs_store_api_key_find(vs_store *s, const char *hash, vs_api_key *out, vs_err *err);

/* Sets last_used (0 = now).  VS_NOTFOUND if absent. */
vs_status vs_store_api_key_touch(vs_store *s, int64_t id, int64_t at, vs_err *err);

/* ---- audit and settings ------------------------------------------------------------------- */

typedef struct vs_audit_entry {
    int64_t id;
    int64_t at;
    char *actor;  /* who: an API key name, "cli", "system" */
    char *action; /* what: "person.delete", "watchlist.approve" ... */
    char *target; /* to whom: "person:42"; NULL allowed */
    char *detail; /* free text or JSON, never biometric data; NULL allowed */
} vs_audit_entry;

typedef struct vs_audit_list {
    vs_audit_entry *items;
    size_t n;
} vs_audit_list;

void vs_audit_list_free(vs_audit_list *l);

/* Appends one audit record (at = now).  actor and action are required. */
vs_status vs_store_audit_append(vs_store *s, const char *actor, const char *action,
                                const char *target, const char *detail, vs_err *err);

/* Audit records with id > after_id in id order, at most limit (0 = default). */
vs_status vs_store_audit_list(vs_store *s, int64_t after_id, size_t limit, vs_audit_list *out,
                              vs_err *err);

/* The value of a setting (malloc'd, the caller frees).  VS_NOTFOUND if unset. */
vs_status vs_store_setting_get(vs_store *s, const char *key, char **value_out, vs_err *err);

/* Sets (inserts or replaces) a setting. */
vs_status vs_store_setting_set(vs_store *s, const char *key, const char *value, vs_err *err);

#endif

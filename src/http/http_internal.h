/*
 * http_internal.h - what the files of src/http/ share (private to src/http/).
 *
 *   server.c     the libmicrohttpd daemon, one request's life, replies, the worker pool
 *   routes.c     the route table, path matching, /healthz, /metrics, keys, static files
 *   api_face.c   /v1/recognize, /v1/detect, /v1/compare
 *   api_persons.c  /v1/persons... and a person's faces
 *   api_compat.c routes of other products (FaceAnalytics, Pinecone face matcher)
 *   auth.c       API keys: issue, hash, check, per-key token buckets
 *   json.c       JSON replies and errors (the one vs_status -> HTTP table), request JSON
 *   multipart.c  a bounded multipart/form-data parser over the buffered body
 *   metrics.c    Prometheus counters and histograms
 */
#ifndef VS_HTTP_INTERNAL_H
#define VS_HTTP_INTERNAL_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "app/app.h"
#include "http/http.h"
#include "img/img.h"

/* ---- routes ------------------------------------------------------------------------------- */

/* Role bits of a route (bit r = vs_api_role r may call it). */
#define R_ADMIN (1u << VS_ROLE_ADMIN)
#define R_OPERATOR (1u << VS_ROLE_OPERATOR)
#define R_VIEWER (1u << VS_ROLE_VIEWER)
#define R_DEVICE (1u << VS_ROLE_DEVICE)

/* Request bodies a route accepts. */
#define BODY_JSON 1u
#define BODY_FORM 2u

typedef struct http_req http_req;

typedef struct http_route {
    const char *method;
    const char *path; /* segments; "{id}" matches a positive integer */
    unsigned roles;   /* 0: public (no key) */
    unsigned accepts; /* BODY_* bits; 0: no body expected */
    void (*run)(http_req *r);
} http_route;

/* The route table (routes.c) and its size; metrics label routes by their index. */
extern const http_route vs_http_routes[];
extern const int vs_http_n_routes;

/* Route indexes past the table, for metrics. */
#define ROUTE_STATIC (vs_http_n_routes)
#define ROUTE_OTHER (vs_http_n_routes + 1)
#define ROUTE_COUNT_MAX 48

/* Finds the route for method + path: its index, or -1 with *path_exists set when only the
 * method is wrong.  ids receives the {id} segments in order (at most 2). */
int vs_http_route_find(const char *method, const char *path, int64_t ids[2], int *path_exists);

/* GET of a static UI file (routes.c). */
void vs_http_static(http_req *r, const char *path);

/* ---- metrics ------------------------------------------------------------------------------ */

#define METRIC_CODES 16
#define METRIC_BUCKETS 12

typedef struct http_metrics {
    atomic_ullong requests[ROUTE_COUNT_MAX][METRIC_CODES];
    atomic_ullong buckets[ROUTE_COUNT_MAX][METRIC_BUCKETS]; /* cumulative at render time */
    atomic_ullong count[ROUTE_COUNT_MAX];
    atomic_ullong micros[ROUTE_COUNT_MAX]; /* sum of request durations */
    atomic_ullong faces;                   /* faces analysed by recognize and detect */
    atomic_ullong decisions[3];            /* per vs_band */
} http_metrics;

void vs_http_metrics_observe(http_metrics *m, int route, unsigned status, double seconds);
/* Prometheus text exposition; malloc'd, the caller frees. */
char *vs_http_metrics_render(http_metrics *m, size_t gallery_faces);

/* ---- auth --------------------------------------------------------------------------------- */

typedef struct http_bucket {
    int64_t key_id;
    double tokens;
    double at;       /* seconds (monotonic) of the last refill */
    int64_t touched; /* ms (wall clock) of the last last_used write */
} http_bucket;

typedef struct http_auth {
    double rate, burst;
    pthread_mutex_t lock;
    http_bucket *buckets; /* one per key seen, unordered */
    size_t n, cap;
} http_auth;

typedef struct http_caller {
    int64_t id;
    vs_api_role role;
    char name[VS_STORE_NAME_MAX];
} http_caller;

typedef enum { AUTH_OK, AUTH_MISSING, AUTH_INVALID, AUTH_REVOKED, AUTH_ERROR } http_auth_result;

vs_status vs_http_auth_init(http_auth *a, double rate, double burst);
void vs_http_auth_free(http_auth *a);

/* Checks a presented key against the store; fills *who on AUTH_OK.  Records the use
 * (last_used, at most one store write per key per second). */
http_auth_result vs_http_auth_check(http_auth *a, vs_store *store, const char *key,
                                    http_caller *who, vs_err *err);

/* Takes one token from the caller's bucket: 1 when allowed, 0 when over the rate (then
 * *retry_s says when the next token comes). */
int vs_http_auth_take(http_auth *a, int64_t key_id, double *retry_s);

/* Forgets a key's bucket (after revocation). */
void vs_http_auth_forget(http_auth *a, int64_t key_id);

/* ---- the server and one request ----------------------------------------------------------- */

struct vs_http_server {
    vs_app *app;
    vs_http_config cfg;
    char web_dir[1024];
    struct MHD_Daemon *daemon;
    int port;
    http_auth auth;
    http_metrics metrics;
    /* worker pool: at most cfg.threads workers, created on first need */
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    vs_app_worker **idle;
    int n_idle, n_made;
};

struct http_req {
    vs_http_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    char path[512];
    int route; /* index into vs_http_routes, or ROUTE_STATIC / ROUTE_OTHER */
    int64_t ids[2];
    http_caller who;
    unsigned body_kind; /* BODY_JSON or BODY_FORM once the content type was accepted */
    char boundary[72];  /* multipart boundary */
    uint8_t *body;
    size_t len, cap;
    int too_large; /* the body passed max_body: the rest is discarded, then 413 */
    int replied;
    double t0;
};

/* Replies (each queues the response once and records metrics). */
void vs_http_reply_json(http_req *r, unsigned status, cJSON *body); /* takes body */
void vs_http_reply_text(http_req *r, unsigned status, const char *content_type, char *text,
                        size_t n); /* takes text (malloc'd) */
void vs_http_reply_error(http_req *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A file's content (static files); takes fd. */
void vs_http_reply_fd(http_req *r, int fd, size_t size, const char *type);
/* The error for a failed library call: the one vs_status -> HTTP table (json.c). */
void vs_http_reply_status(http_req *r, vs_status st, const vs_err *err);
/* As vs_http_reply_error, with an extra member "name": extra inside "error". */
void vs_http_reply_error_with(http_req *r, unsigned status, const char *code, const char *msg,
                              const char *name, cJSON *extra);

/* Borrow / return an analysis worker (blocks while all are busy). */
vs_status vs_http_worker_get(vs_http_server *s, vs_app_worker **out, vs_err *err);
void vs_http_worker_put(vs_http_server *s, vs_app_worker *w);

/* A query-string argument of the request, or NULL. */
const char *vs_http_query(http_req *r, const char *name);

/* Monotonic seconds. */
double vs_http_now(void);

/* ---- request bodies: JSON and multipart ------------------------------------------------- */

/* Parses the body as one JSON object within cfg.json_depth; on failure replies 400 and
 * returns NULL. */
cJSON *vs_http_json_body(http_req *r);

/* 1 when every member of obj is named in allowed (NULL-terminated); else replies 400. */
int vs_http_json_fields(http_req *r, const cJSON *obj, const char *const *allowed);

#define FORM_MAX_PARTS 48

typedef struct http_part {
    char name[64];
    char filename[128];
    const uint8_t *data; /* into the request body */
    size_t len;
} http_part;

typedef struct http_form {
    http_part parts[FORM_MAX_PARTS];
    int n;
} http_form;

/* The boundary of a multipart/form-data content type; 0 if it is not one. */
int vs_http_multipart_boundary(const char *content_type, char *out, size_t cap);

/* Splits body into parts.  Errors: VS_FORMAT (malformed), VS_LIMIT (too many parts). */
vs_status vs_http_multipart_parse(const uint8_t *body, size_t n, const char *boundary,
                                  http_form *form, vs_err *err);

/* Parses the request's multipart body into f; every part must be named in allowed (NULL: any
 * name).  1 on success, else replied 400. */
int vs_http_form_read(http_req *r, http_form *f, const char *const *allowed);

/* Form helpers: 1 when every part is named in allowed (else replies 400); the first part
 * called name (NULL if none). */
int vs_http_form_fields(http_req *r, const http_form *f, const char *const *allowed);
const http_part *vs_http_form_get(const http_form *f, const char *name);
/* A text field as a NUL-terminated copy (malloc'd) or NULL when absent. */
char *vs_http_form_text(const http_form *f, const char *name);

/* Decodes base64 (standard or URL-safe, padding optional, a "data:...;base64," prefix allowed)
 * into a malloc'd buffer.  Errors: VS_FORMAT, VS_LIMIT (over max), VS_NOMEM. */
vs_status vs_http_base64_decode(const char *s, size_t max, uint8_t **out, size_t *n, vs_err *err);

/* Decodes an image with the server's limits; replies with the error and returns NULL on
 * failure. */
vs_image *vs_http_decode_image(http_req *r, const uint8_t *bytes, size_t n);

/* JSON numbers rounded for output (pixels to 0.01, scores to 1e-4). */
cJSON *vs_http_num(double v, double step);

/* ---- handlers ----------------------------------------------------------------------------- */

void vs_http_api_recognize(http_req *r);
void vs_http_api_detect(http_req *r);
void vs_http_api_compare(http_req *r);
void vs_http_api_person_create(http_req *r);
void vs_http_api_person_list(http_req *r);
void vs_http_api_person_get(http_req *r);
void vs_http_api_person_patch(http_req *r);
void vs_http_api_person_delete(http_req *r);
void vs_http_api_person_visits(http_req *r);
void vs_http_api_person_faces(http_req *r);
void vs_http_api_face_add(http_req *r);
void vs_http_api_face_replace(http_req *r);
void vs_http_api_face_delete(http_req *r);
void vs_http_api_verify(http_req *r);
/* Compatibility routes (api_compat.c). */
void vs_http_compat_face_recognize(http_req *r);
void vs_http_compat_add_new_person(http_req *r);
void vs_http_compat_validate_image(http_req *r);
void vs_http_compat_add_image(http_req *r);
void vs_http_compat_delete_image(http_req *r);
void vs_http_compat_replace_image(http_req *r);
/* 1 when person id may have biometric data stored (consent "given", not expired); else
 * replied (404, 409 consent_required). */
int vs_http_consent_given(http_req *r, int64_t id);
/* A person as JSON (profile + stats), or NULL on error (replied). */
cJSON *vs_http_person_json(vs_http_server *s, const vs_person *p);

#endif

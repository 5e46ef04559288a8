/*
 * server.c - the HTTP server: a libmicrohttpd daemon (a thread per connection), the life of one
 * request, replies, and the pool of analysis workers.
 *
 * DESIGN NOTES (threads)
 *   A. libmicrohttpd runs each connection in its own thread; how many photos are analysed at
 *      once is bounded by the pool of analysis workers (cfg.threads), not by connections.  Its
 *      thread-pool mode was measured first and dropped: a pool thread accepts every pending
 *      connection it can when it wakes, and a kept-alive connection stays with the thread that
 *      accepted it, so with 4 keep-alive clients on 2 threads one thread served all 4 in 3 of
 *      6 runs while the other idled (bench/http_load.sh).  Here any free worker takes the next
 *      photo of any connection, and a cheap request (/healthz, a GET) never queues behind an
 *      analysis running on "its" thread.
 *
 * DESIGN NOTES (one request)
 *   1. libmicrohttpd calls on_request several times per request: first with the headers only,
 *      then once per chunk of body, then once with no data.  The first call decides everything
 *      that does not need the body: the route (404 / 405), the API key (401), the role (403),
 *      the rate limit (429), a declared Content-Length over max_body (413) and the content
 *      type (415).  An error found there is queued at once, before any body is read (for a
 *      client that sent "Expect: 100-continue", before the body is even sent), and
 *      libmicrohttpd closes the connection after it.
 *   2. The body is buffered, never beyond max_body: past it (a chunked upload that declared no
 *      length) the rest is read and dropped, and the reply is 413.
 *   3. The last call runs the route's handler in the connection's thread.  A
 *      handler replies exactly once (a missing reply becomes a 500); every reply is JSON except
 *      /metrics and static files, and every reply is counted in the metrics.
 *   4. Handlers that analyse photos borrow a vs_app_worker (at most cfg.threads, made on first
 *      need and kept until the server stops); when all are busy the request waits for one.
 *   5. Bad input changes nothing: writes happen only after the whole request was parsed and
 *      validated, through service calls that are transactions.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "http/http_internal.h"

#define DEFAULT_MAX_BODY ((size_t)20 << 20)
#define DEFAULT_MAX_PIXELS ((uint64_t)40000000)

double vs_http_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *vs_http_query(http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- replies ------------------------------------------------------------------------------ */

static void queue(http_req *r, unsigned status, struct MHD_Response *resp, const char *type)
{
    if (type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (status == 429)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == 413) /* do not invite the client to send more of it on this connection */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->replied = 1;
    vs_http_metrics_observe(&r->srv->metrics, r->route, status, vs_http_now() - r->t0);
}

void vs_http_reply_text(http_req *r, unsigned status, const char *content_type, char *text,
                        size_t n)
{
    if (r->replied) {
        free(text);
        return;
    }
    struct MHD_Response *resp =
        text ? MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!resp) {
        free(text);
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        resp = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        status = 500;
        content_type = "application/json";
        if (!resp)
            return; /* libmicrohttpd closes the connection */
    }
    queue(r, status, resp, content_type);
}

void vs_http_reply_json(http_req *r, unsigned status, cJSON *body)
{
    char *s = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    vs_http_reply_text(r, status, "application/json; charset=utf-8", s, s ? strlen(s) : 0);
}

void vs_http_reply_fd(http_req *r, int fd, size_t size, const char *type)
{
    struct MHD_Response *resp = MHD_create_response_from_fd(size, fd);
    if (!resp) {
        close(fd);
        vs_http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    queue(r, 200, resp, type);
}

/* ---- workers ------------------------------------------------------------------------------ */

vs_status vs_http_worker_get(vs_http_server *s, vs_app_worker **out, vs_err *err)
{
    *out = NULL;
    pthread_mutex_lock(&s->pool_lock);
    while (s->n_idle == 0 && s->n_made >= s->cfg.threads)
        pthread_cond_wait(&s->pool_cond, &s->pool_lock);
    if (s->n_idle > 0) {
        *out = s->idle[--s->n_idle];
        pthread_mutex_unlock(&s->pool_lock);
        return VS_OK;
    }
    s->n_made++;
    pthread_mutex_unlock(&s->pool_lock);
    vs_status st = vs_app_worker_new(s->app, out, err);
    if (st != VS_OK) {
        pthread_mutex_lock(&s->pool_lock);
        s->n_made--;
        pthread_cond_signal(&s->pool_cond);
        pthread_mutex_unlock(&s->pool_lock);
    }
    return st;
}

void vs_http_worker_put(vs_http_server *s, vs_app_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&s->pool_lock);
    s->idle[s->n_idle++] = w;
    pthread_cond_signal(&s->pool_cond);
    pthread_mutex_unlock(&s->pool_lock);
}

/* ---- one request -------------------------------------------------------------------------- */

static const char *header(http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* The key from "Authorization: Bearer KEY", "X-API-Key: KEY" or, for clients of the Pinecone
 * face matcher (compatibility routes), "access_token: KEY"; NULL if none. */
static const char *presented_key(http_req *r)
{
    const char *a = header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (a && strncasecmp(a, "Bearer ", 7) == 0) {
        a += 7;
        while (*a == ' ')
            a++;
        return a;
    }
    const char *k = header(r, "X-API-Key");
    return k ? k : header(r, "access_token");
}

/* Key, role and rate limit; 1 when the request may go on (else replied). */
static int admit(http_req *r, const http_route *rt)
{
    vs_http_server *s = r->srv;
    vs_err err = {{0}};
    switch (vs_http_auth_check(&s->auth, vs_app_store(s->app), presented_key(r), &r->who, &err)) {
    case AUTH_OK:
        break;
    case AUTH_MISSING:
        vs_http_reply_error(r, 401, "unauthorized",
                            "an API key is required (Authorization: Bearer KEY or X-API-Key)");
        return 0;
    case AUTH_INVALID:
        vs_http_reply_error(r, 401, "unauthorized", "unknown API key");
        return 0;
    case AUTH_REVOKED:
        vs_http_reply_error(r, 401, "unauthorized", "this API key was revoked");
        return 0;
    default:
        vs_http_reply_error(r, 503, "unavailable", "cannot check the API key: %s", err.msg);
        return 0;
    }
    if (!(rt->roles & (1u << r->who.role))) {
        vs_http_reply_error(r, 403, "forbidden", "the %s role may not call %s %s",
                            vs_role_name(r->who.role), rt->method, rt->path);
        return 0;
    }
    double retry;
    if (!vs_http_auth_take(&s->auth, r->who.id, &retry)) {
        vs_http_reply_error(r, 429, "too_many_requests",
                            "over %.0f requests per second; retry in %.2f s", s->auth.rate, retry);
        return 0;
    }
    return 1;
}

/* Declared length and content type; 1 when the body may be read (else replied). */
static int check_body(http_req *r, const http_route *rt)
{
    const char *cl = header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || *end || n > r->srv->cfg.max_body) {
            vs_http_reply_error(r, 413, "payload_too_large", "the body is over %zu bytes",
                                r->srv->cfg.max_body);
            return 0;
        }
    }
    if (!rt->accepts)
        return 1;
    const char *ct = header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if ((rt->accepts & BODY_JSON) && ct && strncasecmp(ct, "application/json", 16) == 0 &&
        (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ')) {
        r->body_kind = BODY_JSON;
        return 1;
    }
    if ((rt->accepts & BODY_FORM) &&
        vs_http_multipart_boundary(ct, r->boundary, sizeof r->boundary)) {
        r->body_kind = BODY_FORM;
        return 1;
    }
    vs_http_reply_error(r, 415, "unsupported_media_type", "%s %s takes %s%s%s", rt->method,
                        rt->path, rt->accepts & BODY_FORM ? "multipart/form-data" : "",
                        rt->accepts == (BODY_FORM | BODY_JSON) ? " or " : "",
                        rt->accepts & BODY_JSON ? "application/json" : "");
    return 0;
}

/* The first call: route, admission, body checks (note 1). */
static void begin(http_req *r, const char *url)
{
    if (snprintf(r->path, sizeof r->path, "%s", url) >= (int)sizeof r->path) {
        vs_http_reply_error(r, 404, "not_found", "no such path");
        return;
    }
    int exists = 0;
    const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
    int route = vs_http_route_find(method, r->path, r->ids, &exists);
    if (route < 0) {
        int api = strncmp(r->path, "/v1/", 4) == 0 || strcmp(r->path, "/v1") == 0;
        if (!exists && !api && strcmp(method, "GET") == 0) {
            r->route = ROUTE_STATIC;
            vs_http_static(r, r->path);
        } else if (exists) {
            vs_http_reply_error(r, 405, "method_not_allowed", "%s is not allowed on %s", r->method,
                                r->path);
        } else {
            vs_http_reply_error(r, 404, "not_found", "no route %s %s", r->method, r->path);
        }
        return;
    }
    r->route = route;
    const http_route *rt = &vs_http_routes[route];
    if (rt->roles && !admit(r, rt))
        return;
    check_body(r, rt);
}

/* Appends a chunk of body, or drops it once the body is over the limit (note 2). */
static void take_chunk(http_req *r, const char *data, size_t n)
{
    size_t max = r->srv->cfg.max_body;
    if (r->too_large || n > max - r->len) {
        r->too_large = 1;
        return;
    }
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 64 * 1024;
        while (cap < r->len + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        uint8_t *b = realloc(r->body, cap + 1); /* + 1: room for a NUL after JSON */
        if (!b) {
            r->too_large = 1;
            return;
        }
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    http_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        r->srv = cls;
        r->conn = conn;
        r->method = method;
        r->route = ROUTE_OTHER;
        r->t0 = vs_http_now();
        begin(r, url);
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->replied)
            take_chunk(r, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->replied)
        return MHD_YES;
    if (r->too_large) {
        vs_http_reply_error(r, 413, "payload_too_large", "the body is over %zu bytes",
                            r->srv->cfg.max_body);
        return MHD_YES;
    }
    if (r->body)
        r->body[r->len] = '\0';
    vs_http_routes[r->route].run(r);
    if (!r->replied)
        vs_http_reply_error(r, 500, "internal", "the handler gave no reply");
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    http_req *r = *con_cls;
    if (!r)
        return;
    free(r->body);
    free(r);
    *con_cls = NULL;
}

/* ---- start and stop ----------------------------------------------------------------------- */

static void config_defaults(vs_http_config *c)
{
    if (!c->bind)
        c->bind = "0.0.0.0";
    if (c->port == 0)
        c->port = 8080;
    if (c->threads <= 0)
        c->threads = 2;
    if (!c->web_dir)
        c->web_dir = "web";
    if (!c->max_body)
        c->max_body = DEFAULT_MAX_BODY;
    if (!c->max_pixels)
        c->max_pixels = DEFAULT_MAX_PIXELS;
    if (c->max_faces <= 0)
        c->max_faces = 100;
    if (c->json_depth <= 0)
        c->json_depth = 32;
    if (c->rate <= 0)
        c->rate = 20;
    if (c->burst <= 0)
        c->burst = 40;
    if (c->timeout_s <= 0)
        c->timeout_s = 30;
    if (c->max_connections <= 0)
        c->max_connections = 256;
}

static vs_status check_config(const vs_http_config *c, vs_err *err)
{
    if (c->port < -1 || c->port > 65535)
        return vs_err_set(err, VS_INVAL, "port %d is out of range", c->port);
    if (c->threads > 256)
        return vs_err_set(err, VS_INVAL, "at most 256 threads");
    if (c->max_faces > 1000)
        return vs_err_set(err, VS_INVAL, "at most 1000 faces per image");
    if (c->burst < 1)
        return vs_err_set(err, VS_INVAL, "the rate-limit burst must be at least 1");
    if (strlen(c->web_dir) >= 1024)
        return vs_err_set(err, VS_INVAL, "web folder path too long");
    return VS_OK;
}

vs_status vs_http_start(vs_app *app, const vs_http_config *cfg, vs_http_server **out, vs_err *err)
{
    *out = NULL;
    vs_http_config c = cfg ? *cfg : (vs_http_config){0};
    config_defaults(&c);
    vs_status st = check_config(&c, err);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_port = htons((uint16_t)(c.port < 0 ? 0 : c.port));
    if (st == VS_OK && inet_pton(AF_INET, c.bind, &addr.sin_addr) != 1)
        st = vs_err_set(err, VS_INVAL, "bind address '%s' is not an IPv4 address", c.bind);
    if (st != VS_OK)
        return st;
    vs_http_server *s = calloc(1, sizeof *s);
    if (!s || !(s->idle = calloc((size_t)c.threads, sizeof *s->idle))) {
        free(s);
        return vs_err_set(err, VS_NOMEM, "server");
    }
    s->app = app;
    s->cfg = c;
    snprintf(s->web_dir, sizeof s->web_dir, "%s", c.web_dir);
    s->cfg.web_dir = s->web_dir;
    s->cfg.bind = NULL; /* the caller's string is not kept */
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_cond_init(&s->pool_cond, NULL);
    if (vs_http_auth_init(&s->auth, c.rate, c.burst) != VS_OK) {
        vs_http_stop(s);
        return vs_err_set(err, VS_INTERNAL, "libsodium failed to initialise");
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    s->daemon = MHD_start_daemon(flags, (uint16_t)(c.port < 0 ? 0 : c.port), NULL, NULL, on_request,
                                 s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c.timeout_s,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)c.max_connections,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->daemon) {
        int e = errno;
        vs_http_stop(s);
        return vs_err_set(err, VS_IO, "cannot listen on %s:%d: %s", c.bind, c.port,
                          e ? strerror(e) : "libmicrohttpd refused the settings");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : c.port;
    *out = s;
    return VS_OK;
}

int vs_http_port(const vs_http_server *s)
{
    return s->port;
}

void vs_http_stop(vs_http_server *s)
{
    if (!s)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon); /* joins the pool: no request runs after this */
    for (int i = 0; i < s->n_idle; i++)
        vs_app_worker_free(s->idle[i]);
    free(s->idle);
    vs_http_auth_free(&s->auth);
    pthread_mutex_destroy(&s->pool_lock);
    pthread_cond_destroy(&s->pool_cond);
    free(s);
}

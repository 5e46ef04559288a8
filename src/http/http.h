/*
 * http.h - visage's HTTP/JSON server: the /v1 API, /healthz, /metrics and the web UI's static
 * files, over libmicrohttpd (a thread per connection).
 *
 * The server sits on top of the service (app/app.h): every request that analyses a photo
 * borrows a vs_app_worker from a pool of at most cfg.threads (the photos analysed at once), so
 * the face contexts are created once and reused.  API keys (auth.c) are random 32-byte secrets
 * shown once as "vs_" + 43 base64url characters; the store keeps only their BLAKE2b hash.
 *
 * Routes, roles, limits and the error format are described in routes.c (one route table) and
 * server.c; the contract the web UI codes against is docs-in-code there.
 *
 * Link with -lmicrohttpd -lsodium (and what app.h needs).
 */
#ifndef VS_HTTP_HTTP_H
#define VS_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "app/app.h"
#include "core/status.h"
#include "store/store.h"

/* Server settings.  A zero field means the default in brackets. */
typedef struct vs_http_config {
    const char *bind;           /* IPv4 address to listen on ("0.0.0.0") */
    int port;                   /* TCP port (8080); -1: any free port (see vs_http_port) */
    int threads;                /* analysis workers: photos analysed at once (2) */
    const char *web_dir;        /* folder of the UI's static files ("web") */
    size_t max_body;            /* request body bytes (20 MiB) */
    uint64_t max_pixels;        /* decoded image pixels (40,000,000) */
    int max_faces;              /* faces analysed per image by recognize and detect (100) */
    int json_depth;             /* nesting of request JSON (32) */
    double rate;                /* requests per second per key, token refill (20) */
    double burst;               /* bucket size per key (40) */
    int timeout_s;              /* idle connection timeout, seconds (30) */
    int max_connections;        /* open connections (256) */
    const char *compat_consent; /* NULL: the compatibility routes that enrol need consent=given
                                   in each request; else the purpose for which the operator
                                   declares that their clients collect consent */
} vs_http_config;

typedef struct vs_http_server vs_http_server;

/*
 * Starts listening and serving in background threads.  app must outlive the server.
 * out: OUT, the server (NULL on failure); stop it with vs_http_stop.
 * Errors: VS_INVAL (bad settings, e.g. an unparsable bind address), VS_IO (cannot listen: the
 * port is taken, no permission), VS_NOMEM, VS_INTERNAL (libsodium failed to initialise).
 */
vs_status vs_http_start(vs_app *app, const vs_http_config *cfg, vs_http_server **out, vs_err *err);

/* The TCP port the server listens on (useful after port -1). */
int vs_http_port(const vs_http_server *s);

/* Stops accepting, finishes the requests in flight, frees everything.  NULL is a no-op. */
void vs_http_stop(vs_http_server *s);

/* Route i of the server's table (for documentation checks): its method, path ("{id}" marks a
 * numeric segment) and the roles that may call it (bit r set = vs_api_role r may; 0 = public,
 * no key).  Returns 0 when i is past the end. */
int vs_http_route_info(int i, const char **method, const char **path, unsigned *roles);

/* ---- API keys ----------------------------------------------------------------------------- */

#define VS_HTTP_KEY_LEN 46 /* "vs_" + 43 base64url characters (32 random bytes) */

/*
 * Makes a new random key, stores its hash under name and role, and writes the key (shown once,
 * never stored) into key_out (VS_HTTP_KEY_LEN + 1 bytes).  id_out may be NULL.
 * Errors: VS_INVAL (empty name, invalid role), VS_INTERNAL (libsodium), store errors.
 */
vs_status vs_http_key_issue(vs_store *store, const char *name, vs_api_role role,
                            char key_out[VS_HTTP_KEY_LEN + 1], int64_t *id_out, vs_err *err);

/*
 * First start: when the store holds no API key at all, issues an admin key named "admin" into
 * key_out and sets *issued = 1; otherwise *issued = 0 and key_out is "".  The caller shows the
 * key to the operator once.
 */
vs_status vs_http_bootstrap_admin(vs_store *store, char key_out[VS_HTTP_KEY_LEN + 1], int *issued,
                                  vs_err *err);

#endif

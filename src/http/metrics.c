/*
 * metrics.c - the server's Prometheus metrics (text exposition format 0.0.4), kept in atomic
 * counters inside the server (no global state, no lock on the request path):
 *
 *   visage_requests_total{method,route,code}   requests by route (the route table's pattern,
 *                                               "static" for UI files, "other" for the rest)
 *   visage_request_seconds{method,route}       histogram of request durations
 *   visage_faces_total                          faces analysed by recognize and detect
 *   visage_decisions_total{decision}            recognize decisions (known / possible / unknown)
 *   visage_gallery_faces                        faces in the index now (gauge)
 *
 * Only series that have been observed are printed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"

static const unsigned codes[METRIC_CODES] = {200, 201, 204, 400, 401, 403, 404, 405,
                                             409, 413, 415, 422, 429, 500, 503, 0};
static const double bounds[METRIC_BUCKETS - 1] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                  0.5,   1,    2.5,   5,    10};

void vs_http_metrics_observe(http_metrics *m, int route, unsigned status, double seconds)
{
    if (route < 0 || route >= ROUTE_COUNT_MAX)
        return;
    int c = METRIC_CODES - 1; /* "other" codes share the last slot */
    for (int i = 0; i < METRIC_CODES - 1; i++)
        if (codes[i] == status)
            c = i;
    atomic_fetch_add(&m->requests[route][c], 1);
    int b = METRIC_BUCKETS - 1;
    for (int i = 0; i < METRIC_BUCKETS - 1; i++)
        if (seconds <= bounds[i]) {
            b = i;
            break;
        }
    atomic_fetch_add(&m->buckets[route][b], 1);
    atomic_fetch_add(&m->count[route], 1);
    atomic_fetch_add(&m->micros[route], (unsigned long long)(seconds * 1e6 + 0.5));
}

typedef struct text {
    char *s;
    size_t n, cap;
    int failed;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
        va_end(ap);
        if (k < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)k < t->cap - t->n) {
            t->n += (size_t)k;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)k;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->failed = 1;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

static void route_labels(int route, const char **method, const char **path)
{
    if (route < vs_http_n_routes) {
        *method = vs_http_routes[route].method;
        *path = vs_http_routes[route].path;
    } else {
        *method = route == ROUTE_STATIC ? "GET" : "";
        *path = route == ROUTE_STATIC ? "static" : "other";
    }
}

static void render_requests(text *t, http_metrics *m, int n_routes)
{
    put(t, "# HELP visage_requests_total HTTP requests by route and status code.\n"
           "# TYPE visage_requests_total counter\n");
    for (int r = 0; r < n_routes; r++) {
        const char *method, *path;
        route_labels(r, &method, &path);
        for (int c = 0; c < METRIC_CODES; c++) {
            unsigned long long v = atomic_load(&m->requests[r][c]);
            if (!v)
                continue;
            char code[8];
            snprintf(code, sizeof code, codes[c] ? "%u" : "other", codes[c]);
            put(t, "visage_requests_total{method=\"%s\",route=\"%s\",code=\"%s\"} %llu\n", method,
                path, code, v);
        }
    }
}

static void render_durations(text *t, http_metrics *m, int n_routes)
{
    put(t, "# HELP visage_request_seconds Time from a request's headers to its response.\n"
           "# TYPE visage_request_seconds histogram\n");
    for (int r = 0; r < n_routes; r++) {
        unsigned long long n = atomic_load(&m->count[r]);
        if (!n)
            continue;
        const char *method, *path;
        route_labels(r, &method, &path);
        unsigned long long cum = 0;
        for (int b = 0; b < METRIC_BUCKETS; b++) {
            cum += atomic_load(&m->buckets[r][b]);
            char le[16];
            if (b < METRIC_BUCKETS - 1)
                snprintf(le, sizeof le, "%g", bounds[b]);
            else
                snprintf(le, sizeof le, "+Inf");
            put(t, "visage_request_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%s\"} %llu\n",
                method, path, le, cum);
        }
        put(t, "visage_request_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n", method, path,
            (double)atomic_load(&m->micros[r]) / 1e6);
        put(t, "visage_request_seconds_count{method=\"%s\",route=\"%s\"} %llu\n", method, path, n);
    }
}

char *vs_http_metrics_render(http_metrics *m, size_t gallery_faces)
{
    text t = {malloc(8192), 0, 8192, 0};
    if (!t.s)
        return NULL;
    t.s[0] = '\0';
    int n_routes = vs_http_n_routes + 2;
    render_requests(&t, m, n_routes);
    render_durations(&t, m, n_routes);
    put(&t,
        "# HELP visage_faces_total Faces analysed by recognize and detect.\n"
        "# TYPE visage_faces_total counter\nvisage_faces_total %llu\n",
        atomic_load(&m->faces));
    put(&t, "# HELP visage_decisions_total Recognition decisions per face.\n"
            "# TYPE visage_decisions_total counter\n");
    for (int b = 0; b < 3; b++)
        put(&t, "visage_decisions_total{decision=\"%s\"} %llu\n", vs_band_name((vs_band)b),
            atomic_load(&m->decisions[b]));
    put(&t,
        "# HELP visage_gallery_faces Faces in the gallery index.\n"
        "# TYPE visage_gallery_faces gauge\nvisage_gallery_faces %zu\n",
        gallery_faces);
    if (t.failed) {
        free(t.s);
        return NULL;
    }
    return t.s;
}

/*
 * cmd_serve.c - `visage serve`: the HTTP/JSON API and the web UI (src/http/) until SIGINT or
 * SIGTERM.
 *
 *   visage serve [--port 8080] [--bind 0.0.0.0] [--db URL] [--threads N] [--models DIR]
 *                [--web DIR] [--rate R] [--burst B] [--max-body MB] [--compat-consent PURPOSE]
 *
 * On the first start against a database without API keys it issues an admin key and prints it
 * once, next to the URL; only its hash is stored.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "cli.h"
#include "http/http.h"

static const char serve_usage[] =
    "usage: visage serve [--port N] [--bind ADDR] [--db URL] [--threads N] [--models DIR]\n"
    "                    [--web DIR] [--rate R] [--burst B] [--max-body MB]\n"
    "                    [--compat-consent PURPOSE]\n"
    "Serves the HTTP/JSON API (/v1/...) and the web UI until interrupted.\n"
    "  --port N       TCP port (8080)            --bind ADDR  IPv4 address (0.0.0.0)\n"
    "  --db URL       SQLite path or postgres:// URL (var/visage.db, or $VISAGE_DB)\n"
    "  --threads N    request threads, each with its own analysis worker (2)\n"
    "  --models DIR   model folder (models, or $VISAGE_MODELS)\n"
    "  --web DIR      the UI's static files (web)\n"
    "  --rate R       requests per second per API key (20); --burst B: bucket size (40)\n"
    "  --max-body MB  largest request body in MiB (20)\n"
    "  --compat-consent PURPOSE  the clients of the compatibility enrolment routes\n"
    "                 (/add_new_person, /AddImageToIndex) collect consent for PURPOSE;\n"
    "                 without it those requests must send consent=given\n"
    "On first start an admin API key is printed once.\n";

typedef struct serve_opts {
    const char *db, *models;
    vs_http_config http;
} serve_opts;

/* A number option in [lo, hi]; -1 on error (printed). */
static int number(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    double x = v ? strtod(v, &end) : 0;
    if (!v || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, "visage serve: %s needs a number in %g..%g\n", opt, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse(int argc, char **argv, serve_opts *o)
{
    memset(o, 0, sizeof *o);
    o->db = getenv("VISAGE_DB");
    o->models = getenv("VISAGE_MODELS");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(serve_usage, stdout);
            return 1;
        }
        const char **slot = strcmp(a, "--db") == 0               ? &o->db
                            : strcmp(a, "--models") == 0         ? &o->models
                            : strcmp(a, "--bind") == 0           ? &o->http.bind
                            : strcmp(a, "--web") == 0            ? &o->http.web_dir
                            : strcmp(a, "--compat-consent") == 0 ? &o->http.compat_consent
                                                                 : NULL;
        if (slot && !v) {
            fprintf(stderr, "visage serve: %s needs a value\n", a);
            return -1;
        } else if (slot) {
            *slot = v;
        } else if (strcmp(a, "--port") == 0) {
            if (number(a, v, 1, 65535, &x))
                return -1;
            o->http.port = (int)x;
        } else if (strcmp(a, "--threads") == 0) {
            if (number(a, v, 1, 256, &x))
                return -1;
            o->http.threads = (int)x;
        } else if (strcmp(a, "--rate") == 0) {
            if (number(a, v, 0.001, 1e6, &o->http.rate))
                return -1;
        } else if (strcmp(a, "--burst") == 0) {
            if (number(a, v, 1, 1e6, &o->http.burst))
                return -1;
        } else if (strcmp(a, "--max-body") == 0) {
            if (number(a, v, 1, 1024, &x))
                return -1;
            o->http.max_body = (size_t)(x * 1024 * 1024);
        } else {
            fprintf(stderr, "visage serve: unknown argument %s\n", a);
            return -1;
        }
        i++;
    }
    return 0;
}

int vs_cli_serve(int argc, char **argv)
{
    serve_opts o;
    int r = parse(argc, argv, &o);
    if (r)
        return r > 0 ? 0 : 2;
    /* Block the stop signals before any thread starts, so every thread inherits the mask and
     * sigwait below is the only place they arrive. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    vs_app_config cfg = {.db = o.db, .models_dir = o.models, .threads = 1};
    vs_app *app = NULL;
    vs_http_server *srv = NULL;
    vs_err err = {{0}};
    char key[VS_HTTP_KEY_LEN + 1];
    int issued = 0;
    vs_status st = vs_app_open(&cfg, &app, &err);
    if (st == VS_OK)
        st = vs_http_bootstrap_admin(vs_app_store(app), key, &issued, &err);
    if (st == VS_OK)
        st = vs_http_start(app, &o.http, &srv, &err);
    if (st != VS_OK) {
        fprintf(stderr, "visage serve: %s: %s\n", vs_status_str(st), err.msg);
        vs_app_close(app);
        return 1;
    }
    const char *host =
        o.http.bind && strcmp(o.http.bind, "0.0.0.0") != 0 ? o.http.bind : "localhost";
    printf("visage: serving http://%s:%d/ (%zu faces in the gallery; Ctrl-C stops)\n", host,
           vs_http_port(srv), vs_app_gallery_size(app));
    if (issued)
        printf("visage: first start: admin API key (shown once, keep it now):\n  %s\n", key);
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "visage serve: stopping (%s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    vs_http_stop(srv);
    vs_app_close(app);
    return 0;
}

/*
 * cmd_serve.c - `visage serve`: the HTTP/JSON API and the web UI (src/http/) until SIGINT or
 * SIGTERM.
 *
 *   visage serve [--config FILE] [--port 8080] [--bind 0.0.0.0] [--db URL] [--threads N] ...
 *
 * Settings come from a config file and from flags (flags win).  The file holds one setting per
 * line, the flag's name without "--" and its value ("port 8090", "db postgres://..."); blank
 * lines and lines starting with # are ignored.
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
    "usage: visage serve [--config FILE] [--port N] [--bind ADDR] [--db URL] [--threads N] ...\n"
    "Serves the HTTP/JSON API (/v1/...) and the web UI until interrupted.\n"
    "  --config FILE   settings, one per line: a flag's name without -- and its value\n"
    "  --port N        TCP port (8080)            --bind ADDR  IPv4 address (0.0.0.0)\n"
    "  --db URL        SQLite path or postgres:// URL (var/visage.db, or $VISAGE_DB)\n"
    "  --threads N     photos analysed at once (analysis workers) (2)\n"
    "  --models DIR    model folder (models, or $VISAGE_MODELS)\n"
    "  --web DIR       the UI's static files (web)\n"
    "  --index KIND    gallery index: flat (exact, default), int8 or hnsw\n"
    "  --fpir-known F  false-positive identification rate of a KNOWN decision (0.01)\n"
    "  --fpir-review F ... of a POSSIBLE decision, sent to review (0.10)\n"
    "  --rate R        requests per second per API key (20); --burst B: bucket size (40)\n"
    "  --max-body MB   largest request body in MiB (20)\n"
    "  --max-pixels MP largest decoded image in megapixels (40)\n"
    "  --max-faces N   faces analysed per image by recognize and detect (100)\n"
    "  --compat-consent PURPOSE  the clients of the compatibility enrolment routes\n"
    "                  (/add_new_person, /AddImageToIndex) collect consent for PURPOSE;\n"
    "                  without it those requests must send consent=given\n"
    "On first start an admin API key is printed once.\n";

typedef struct serve_opts {
    vs_app_config app;
    vs_http_config http;
    char *config_text; /* the config file's text: its values point into it */
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

/* Sets one setting (name without "--"); -1 on error (printed). */
static int set(serve_opts *o, const char *name, const char *v)
{
    const char **text = strcmp(name, "db") == 0               ? &o->app.db
                        : strcmp(name, "models") == 0         ? &o->app.models_dir
                        : strcmp(name, "index") == 0          ? &o->app.index
                        : strcmp(name, "bind") == 0           ? &o->http.bind
                        : strcmp(name, "web") == 0            ? &o->http.web_dir
                        : strcmp(name, "compat-consent") == 0 ? &o->http.compat_consent
                                                              : NULL;
    double x = 0;
    if (text) {
        *text = v;
        if (text == &o->app.index && strcmp(v, "flat") != 0 && strcmp(v, "int8") != 0 &&
            strcmp(v, "hnsw") != 0) {
            fprintf(stderr, "visage serve: --index is flat, int8 or hnsw\n");
            return -1;
        }
    } else if (strcmp(name, "port") == 0) {
        if (number("--port", v, 1, 65535, &x))
            return -1;
        o->http.port = (int)x;
    } else if (strcmp(name, "threads") == 0) {
        if (number("--threads", v, 1, 256, &x))
            return -1;
        o->http.threads = (int)x;
    } else if (strcmp(name, "rate") == 0) {
        return number("--rate", v, 0.001, 1e6, &o->http.rate);
    } else if (strcmp(name, "burst") == 0) {
        return number("--burst", v, 1, 1e6, &o->http.burst);
    } else if (strcmp(name, "max-body") == 0) {
        if (number("--max-body", v, 1, 1024, &x))
            return -1;
        o->http.max_body = (size_t)(x * 1024 * 1024);
    } else if (strcmp(name, "max-pixels") == 0) {
        if (number("--max-pixels", v, 0.01, 1000, &x))
            return -1;
        o->http.max_pixels = (uint64_t)(x * 1e6);
    } else if (strcmp(name, "max-faces") == 0) {
        if (number("--max-faces", v, 1, 10000, &x))
            return -1;
        o->http.max_faces = (int)x;
    } else if (strcmp(name, "fpir-known") == 0 || strcmp(name, "fpir-review") == 0) {
        if (number(name[5] == 'k' ? "--fpir-known" : "--fpir-review", v, 1e-6, 0.5, &x))
            return -1;
        *(name[5] == 'k' ? &o->app.fpir_known : &o->app.fpir_review) = (float)x;
    } else {
        fprintf(stderr, "visage serve: unknown setting %s\n", name);
        return -1;
    }
    return 0;
}

/* Reads the settings of a config file (kept in o->config_text); -1 on error (printed). */
static int read_config(serve_opts *o, const char *path)
{
    FILE *f = fopen(path, "rb");
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (!f || n < 0 || n > 1 << 20 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "visage serve: cannot read the config file %s\n", path);
        if (f)
            fclose(f);
        return -1;
    }
    char *text = malloc((size_t)n + 1);
    size_t got = text ? fread(text, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!text || got != (size_t)n) {
        free(text);
        fprintf(stderr, "visage serve: cannot read the config file %s\n", path);
        return -1;
    }
    text[n] = '\0';
    o->config_text = text;
    int line_no = 0;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line_no++;
        line += strspn(line, " \t\r");
        char *end = line + strlen(line);
        while (end > line && strchr(" \t\r", end[-1]))
            *--end = '\0';
        if (!*line || *line == '#')
            continue;
        char *value = line + strcspn(line, " \t");
        if (*value)
            *value++ = '\0';
        value += strspn(value, " \t");
        if (!*value) {
            fprintf(stderr, "visage serve: %s:%d: %s needs a value\n", path, line_no, line);
            return -1;
        }
        if (set(o, line, value)) {
            fprintf(stderr, "visage serve: (in %s:%d)\n", path, line_no);
            return -1;
        }
    }
    return 0;
}

/* Settings from the environment, the config file, then the flags.  1: help shown, -1: error. */
static int parse(int argc, char **argv, serve_opts *o)
{
    memset(o, 0, sizeof *o);
    o->app.db = getenv("VISAGE_DB");
    o->app.models_dir = getenv("VISAGE_MODELS");
    o->app.threads = 1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(serve_usage, stdout);
            return 1;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc && read_config(o, argv[i + 1]))
            return -1;
    }
    for (int i = 0; i < argc; i += 2) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || !a[2]) {
            fprintf(stderr, "visage serve: unknown argument %s\n", a);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "visage serve: %s needs a value\n", a);
            return -1;
        }
        if (strcmp(a, "--config") != 0 && set(o, a + 2, argv[i + 1]))
            return -1;
    }
    return 0;
}

int vs_cli_serve(int argc, char **argv)
{
    serve_opts o;
    int r = parse(argc, argv, &o);
    if (r) {
        free(o.config_text);
        return r > 0 ? 0 : 2;
    }
    /* Block the stop signals before any thread starts, so every thread inherits the mask and
     * sigwait below is the only place they arrive. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    vs_app *app = NULL;
    vs_http_server *srv = NULL;
    vs_err err = {{0}};
    char key[VS_HTTP_KEY_LEN + 1];
    int issued = 0;
    vs_status st = vs_app_open(&o.app, &app, &err);
    if (st == VS_OK)
        st = vs_http_bootstrap_admin(vs_app_store(app), key, &issued, &err);
    if (st == VS_OK)
        st = vs_http_start(app, &o.http, &srv, &err);
    if (st != VS_OK) {
        fprintf(stderr, "visage serve: %s: %s\n", vs_status_str(st), err.msg);
        vs_app_close(app);
        free(o.config_text);
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
    free(o.config_text);
    return 0;
}

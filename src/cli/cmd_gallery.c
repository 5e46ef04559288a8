/*
 * cmd_gallery.c - the gallery from the command line: enroll, import, identify, persons.
 *
 *   visage enroll --name NAME IMG... [--db URL]
 *   visage import DIR [--db URL]            (DIR/<person name>/<photos>)
 *   visage identify IMG... [--db URL] [--record] [--json]
 *   visage persons [--name TEXT] [--kind customer|anonymous|staff] [--db URL]
 *
 * --db is a SQLite path (default var/visage.db) or a postgres:// URL.  import is resumable: a
 * photo whose path is already stored as a face's source for that person is skipped, so an
 * import killed midway continues where it stopped.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "cli.h"
#include "img/img.h"

typedef struct gal_opts {
    const char *db, *models, *name, *kind, *camera;
    int json, record;
    int n_args;
    const char *args[512];
} gal_opts;

static int parse(const char *cmd, int argc, char **argv, gal_opts *o, const char *usage)
{
    memset(o, 0, sizeof *o);
    o->models = getenv("VISAGE_MODELS");
    o->db = getenv("VISAGE_DB");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = strcmp(a, "--db") == 0       ? &o->db
                            : strcmp(a, "--models") == 0 ? &o->models
                            : strcmp(a, "--name") == 0   ? &o->name
                            : strcmp(a, "--kind") == 0   ? &o->kind
                            : strcmp(a, "--camera") == 0 ? &o->camera
                                                         : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 1;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--record") == 0) {
            o->record = 1;
        } else if (slot) {
            if (!v) {
                fprintf(stderr, "visage %s: %s needs a value\n", cmd, a);
                return -1;
            }
            *slot = v;
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "visage %s: unknown option %s\n", cmd, a);
            return -1;
        } else if (o->n_args < (int)(sizeof o->args / sizeof o->args[0])) {
            o->args[o->n_args++] = a;
        } else {
            fprintf(stderr, "visage %s: too many arguments\n", cmd);
            return -1;
        }
    }
    return 0;
}

typedef struct service {
    vs_app *app;
    vs_app_worker *w;
} service;

static int service_open(const char *cmd, const gal_opts *o, service *s)
{
    vs_app_config cfg = {.db = o->db, .models_dir = o->models, .threads = 1};
    vs_err err = {{0}};
    vs_status st = vs_app_open(&cfg, &s->app, &err);
    if (st == VS_OK)
        st = vs_app_worker_new(s->app, &s->w, &err);
    if (st != VS_OK) {
        fprintf(stderr, "visage %s: %s: %s\n", cmd, vs_status_str(st), err.msg);
        vs_app_close(s->app);
        return -1;
    }
    return 0;
}

static void service_close(service *s)
{
    vs_app_worker_free(s->w);
    vs_app_close(s->app);
}

/* Enrols the photos at paths[0..n) as one person; prints the outcome. */
static int enroll_paths(service *s, const char *name, int64_t into, const char *const *paths, int n,
                        int quiet, vs_enroll_result *res)
{
    vs_image *imgs[VS_ENROLL_MAX_PHOTOS] = {0};
    vs_enroll_photo photos[VS_ENROLL_MAX_PHOTOS];
    int np = 0, rc = 0;
    vs_err err = {{0}};
    for (int i = 0; i < n && np < VS_ENROLL_MAX_PHOTOS; i++) {
        vs_status st = vs_img_load(paths[i], NULL, &imgs[np], &err);
        if (st != VS_OK) {
            fprintf(stderr, "  %s: %s: %s\n", paths[i], vs_status_str(st), err.msg);
            continue;
        }
        photos[np] = (vs_enroll_photo){imgs[np], paths[i]};
        np++;
    }
    memset(res, 0, sizeof *res);
    if (np > 0) {
        vs_person p = {0};
        p.kind = VS_PERSON_CUSTOMER;
        p.consent_status = VS_CONSENT_NONE;
        p.name = (char *)name;
        vs_status st = vs_app_enroll(s->w, &p, into, photos, np, res, &err);
        if (st != VS_OK) {
            fprintf(stderr, "visage: enrolling %s: %s: %s\n", name, vs_status_str(st), err.msg);
            rc = 1;
        }
    }
    if (!quiet && rc == 0) {
        printf("%s: person %lld, %d face%s added, %d refused\n", name, (long long)res->person_id,
               res->n_added, res->n_added == 1 ? "" : "s", res->n_refused);
        for (int i = 0; i < res->n_refused; i++)
            printf("  refused %s: %s\n", photos[res->refused[i].photo].source,
                   res->refused[i].reason);
        if (res->duplicate_of)
            printf("  warning: possible duplicate of person %lld (score %.2f)\n",
                   (long long)res->duplicate_of, res->duplicate_score);
    }
    for (int i = 0; i < np; i++)
        vs_image_free(imgs[i]);
    return rc;
}

static const char enroll_usage[] =
    "usage: visage enroll --name NAME IMG... [--db URL]\n"
    "Enrols one person from photos with one clear face each (refused photos say why).\n";

int vs_cli_enroll(int argc, char **argv)
{
    gal_opts o;
    int r = parse("enroll", argc, argv, &o, enroll_usage);
    if (r)
        return r > 0 ? 0 : 2;
    if (!o.name || o.n_args < 1) {
        fputs(enroll_usage, stderr);
        return 2;
    }
    service s = {0};
    if (service_open("enroll", &o, &s))
        return 1;
    vs_enroll_result res;
    int rc = enroll_paths(&s, o.name, 0, o.args, o.n_args, 0, &res);
    service_close(&s);
    return rc ? rc : res.n_added ? 0 : 1;
}

/* ---- import ------------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted names of the entries of dir that are directories (want_dir) or files; malloc'ed. */
static int list_dir(const char *dir, int want_dir, char ***out)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0, cap = 0;
    char **v = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) || (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv)
                break;
            v = nv;
        }
        v[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* The person named exactly `name` (not merged), or 0; their stored sources in *faces. */
static int64_t find_person(vs_store *st, const char *name, vs_face_list *faces)
{
    vs_person_filter f = {.name_contains = name, .limit = VS_STORE_LIST_MAX};
    vs_person_list l = {0};
    int64_t id = 0;
    memset(faces, 0, sizeof *faces);
    if (vs_store_person_list(st, &f, &l, NULL) != VS_OK)
        return 0;
    for (size_t i = 0; i < l.n && !id; i++)
        if (l.items[i].name && strcmp(l.items[i].name, name) == 0)
            id = l.items[i].id;
    vs_person_list_free(&l);
    if (id)
        vs_store_face_list(st, id, faces, NULL);
    return id;
}

static int stored(const vs_face_list *faces, const char *source)
{
    for (size_t i = 0; i < faces->n; i++)
        if (faces->items[i].source && strcmp(faces->items[i].source, source) == 0)
            return 1;
    return 0;
}

static void progress(int done, int total, double t0, int tty, const char *name)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double el = ts.tv_sec + ts.tv_nsec / 1e9 - t0, rate = el > 0 ? done / el : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    if (tty) {
        int bar = total ? 30 * done / total : 30;
        fprintf(stderr, "\r[%.*s%*s] %d/%d people  %.1f/s  ETA %02d:%02d  %-24.24s", bar,
                "##############################", 30 - bar, "", done, total, rate, (int)eta / 60,
                (int)eta % 60, name);
        if (done == total)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "import: %d/%d people (%.1f/s, ETA %.0f s) %s\n", done, total, rate, eta,
                name);
    }
}

/* Imports one person folder; adds to the counters. */
static void import_person(service *s, const char *dir, const char *name, int *added, int *refused,
                          int *skipped)
{
    char pdir[4096];
    snprintf(pdir, sizeof pdir, "%s/%s", dir, name);
    char **files;
    int nf = list_dir(pdir, 0, &files);
    if (nf <= 0)
        return;
    vs_face_list have;
    int64_t pid = find_person(vs_app_store(s->app), name, &have);
    char *paths[VS_ENROLL_MAX_PHOTOS];
    int np = 0;
    for (int i = 0; i < nf && np < VS_ENROLL_MAX_PHOTOS; i++) {
        char path[8200];
        snprintf(path, sizeof path, "%s/%s", pdir, files[i]);
        if (pid && stored(&have, path)) {
            (*skipped)++;
            continue;
        }
        paths[np++] = strdup(path);
    }
    vs_face_list_free(&have);
    if (np > 0) {
        vs_enroll_result res;
        enroll_paths(s, name, pid, (const char *const *)paths, np, 1, &res);
        *added += res.n_added;
        *refused += res.n_refused;
        for (int i = 0; i < res.n_refused; i++)
            printf("refused %s: %s\n", paths[res.refused[i].photo], res.refused[i].reason);
    }
    for (int i = 0; i < np; i++)
        free(paths[i]);
    free_list(files, nf);
}

static const char import_usage[] =
    "usage: visage import DIR [--db URL]\n"
    "Enrols one person per folder of DIR (the folder's name is the person's name).  Resumable:\n"
    "photos already stored for that person are skipped.  Ends with the refused photos and why.\n";

int vs_cli_import(int argc, char **argv)
{
    gal_opts o;
    int r = parse("import", argc, argv, &o, import_usage);
    if (r)
        return r > 0 ? 0 : 2;
    if (o.n_args != 1) {
        fputs(import_usage, stderr);
        return 2;
    }
    char **people;
    int n = list_dir(o.args[0], 1, &people);
    if (n < 0) {
        fprintf(stderr, "visage import: cannot read %s\n", o.args[0]);
        return 1;
    }
    service s = {0};
    if (service_open("import", &o, &s)) {
        free_list(people, n);
        return 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double t0 = ts.tv_sec + ts.tv_nsec / 1e9;
    int tty = isatty(2), added = 0, refused = 0, skipped = 0;
    for (int i = 0; i < n; i++) {
        import_person(&s, o.args[0], people[i], &added, &refused, &skipped);
        progress(i + 1, n, t0, tty, people[i]);
    }
    printf("imported %d people: %d faces added, %d photos refused, %d already stored\n", n, added,
           refused, skipped);
    free_list(people, n);
    service_close(&s);
    return 0;
}

/* ---- identify and persons ----------------------------------------------------------------- */

static const char *person_label(vs_store *st, int64_t id, char *buf, size_t n)
{
    vs_person p = {0};
    if (!id || vs_store_person_get(st, id, &p, NULL) != VS_OK) {
        snprintf(buf, n, "-");
        return buf;
    }
    if (p.kind == VS_PERSON_ANONYMOUS || !p.name)
        snprintf(buf, n, "anonymous visitor #%lld", (long long)id);
    else
        snprintf(buf, n, "%s (#%lld)", p.name, (long long)id);
    vs_person_clear(&p);
    return buf;
}

static cJSON *identity_json(vs_store *st, const vs_identity *id)
{
    char label[300];
    cJSON *j = cJSON_CreateObject();
    const vs_det *d = &id->face->det;
    float box[4] = {d->x0, d->y0, d->x1 - d->x0, d->y1 - d->y0};
    cJSON_AddItemToObject(j, "box", cJSON_CreateFloatArray(box, 4));
    cJSON_AddStringToObject(j, "decision", vs_band_name(id->band));
    cJSON_AddNumberToObject(j, "person_id", (double)id->person_id);
    cJSON_AddStringToObject(j, "person", person_label(st, id->person_id, label, sizeof label));
    cJSON_AddNumberToObject(j, "score", id->score);
    cJSON_AddBoolToObject(j, "new_anonymous", id->new_anonymous);
    cJSON_AddBoolToObject(j, "quality_ok", id->quality_ok);
    cJSON *c = cJSON_AddArrayToObject(j, "candidates");
    for (int k = 0; k < id->n_candidates; k++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "person_id", (double)id->candidates[k].person_id);
        cJSON_AddNumberToObject(e, "score", id->candidates[k].score);
        cJSON_AddItemToArray(c, e);
    }
    return j;
}

static const char identify_usage[] =
    "usage: visage identify IMG... [--db URL] [--record] [--camera NAME] [--json]\n"
    "Who is in each photo: every face is known (with its person), possible (needs review) or\n"
    "unknown.  --record keeps unknown faces as anonymous visitors and stores visits.\n";

int vs_cli_identify(int argc, char **argv)
{
    gal_opts o;
    int r = parse("identify", argc, argv, &o, identify_usage);
    if (r)
        return r > 0 ? 0 : 2;
    if (o.n_args < 1) {
        fputs(identify_usage, stderr);
        return 2;
    }
    service s = {0};
    if (service_open("identify", &o, &s))
        return 1;
    vs_identify_opts io = vs_identify_opts_default();
    io.record_unknown = io.record_visit = o.record;
    io.camera = o.camera;
    int rc = 0;
    cJSON *all = o.json ? cJSON_CreateArray() : NULL;
    for (int i = 0; i < o.n_args; i++) {
        vs_image *img = NULL;
        vs_identify_result res;
        vs_err err = {{0}};
        vs_status st = vs_img_load(o.args[i], NULL, &img, &err);
        if (st == VS_OK)
            st = vs_app_identify(s.w, img, &io, &res, &err);
        vs_image_free(img);
        if (st != VS_OK) {
            fprintf(stderr, "visage identify: %s: %s: %s\n", o.args[i], vs_status_str(st), err.msg);
            rc = 1;
            continue;
        }
        vs_store *store = vs_app_store(s.app);
        if (all) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "file", o.args[i]);
            cJSON *faces = cJSON_AddArrayToObject(f, "faces");
            for (int k = 0; k < res.n; k++)
                cJSON_AddItemToArray(faces, identity_json(store, &res.ids[k]));
            cJSON_AddItemToArray(all, f);
            continue;
        }
        printf("%s: %d face%s\n", o.args[i], res.n, res.n == 1 ? "" : "s");
        for (int k = 0; k < res.n; k++) {
            const vs_identity *id = &res.ids[k];
            char label[300];
            printf("  %d: %-8s %s score %.2f%s\n", k + 1, vs_band_name(id->band),
                   person_label(store, id->person_id, label, sizeof label), id->score,
                   id->new_anonymous ? " (new anonymous visitor)" : "");
        }
    }
    if (all) {
        char *txt = cJSON_Print(all);
        if (txt)
            puts(txt);
        free(txt);
        cJSON_Delete(all);
    }
    service_close(&s);
    return rc;
}

static const char persons_usage[] =
    "usage: visage persons [--name TEXT] [--kind customer|anonymous|staff] [--db URL]\n";

int vs_cli_persons(int argc, char **argv)
{
    gal_opts o;
    int r = parse("persons", argc, argv, &o, persons_usage);
    if (r)
        return r > 0 ? 0 : 2;
    vs_store *st;
    vs_err err = {{0}};
    if (vs_store_open(o.db ? o.db : "var/visage.db", &st, &err) != VS_OK) {
        fprintf(stderr, "visage persons: %s\n", err.msg);
        return 1;
    }
    vs_person_filter f = {.name_contains = o.name, .limit = VS_STORE_LIST_MAX};
    if (o.kind && !(f.kind = vs_person_kind_parse(o.kind))) {
        fprintf(stderr, "visage persons: --kind is customer, anonymous or staff\n");
        vs_store_close(st);
        return 2;
    }
    int rc = 0;
    for (;;) {
        vs_person_list l = {0};
        if (vs_store_person_list(st, &f, &l, &err) != VS_OK) {
            fprintf(stderr, "visage persons: %s\n", err.msg);
            rc = 1;
            break;
        }
        for (size_t i = 0; i < l.n; i++) {
            vs_face_list faces = {0};
            vs_store_face_list(st, l.items[i].id, &faces, NULL);
            printf("%6lld  %-10s %-32s %zu face%s\n", (long long)l.items[i].id,
                   vs_person_kind_name(l.items[i].kind), l.items[i].name ? l.items[i].name : "-",
                   faces.n, faces.n == 1 ? "" : "s");
            vs_face_list_free(&faces);
        }
        f.after_id = l.next_after_id;
        vs_person_list_free(&l);
        if (!f.after_id)
            break;
    }
    vs_store_close(st);
    return rc;
}

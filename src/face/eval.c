/*
 * eval.c - LFW verification and open-set identification for embedders and fusions (eval.h).
 *
 * The expensive part, landmarks and vectors for every image, is computed once per embedder and
 * kept in small binary caches ("VSEC" files: magic, version, n, dim, hash of the image list, then
 * n x dim float32), so a change of matcher or protocol re-runs in seconds.  The metrics are plain
 * loops over those vectors.
 *
 * Where the face is: LFW's images are 250 x 250 crops centred on the face that the Viola-Jones
 * detector found, enlarged 2.2 times, so the named person's face is the one in the middle.  Until
 * visage's detector is wired in here, the landmark net starts from the box face-api's SSD draws
 * there on average (x 30..70%, y 27..73% of the image) and is run a second time on the box its
 * first landmarks imply; this also picks the centre face of two-person photos, which a
 * detector-based pipeline has to do explicitly.
 */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face/detect.h"
#include "face/eval.h"

/* ---- the data set ------------------------------------------------------------------------ */

typedef struct strlist {
    char **s;
    int n, cap;
} strlist;

static int strlist_push(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **p = realloc(l->s, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        l->s = p;
        l->cap = cap;
    }
    l->s[l->n] = strdup(s);
    return l->s[l->n] ? (l->n++, 0) : -1;
}

static void strlist_free(strlist *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->s[i]);
    free(l->s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entries of dir: folders when want_dirs, else files ending in .jpg. */
static vs_status list_dir(const char *dir, int want_dirs, strlist *out, vs_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return vs_err_set(err, VS_IO, "cannot read directory %s", dir);
    struct dirent *e;
    vs_status st = VS_OK;
    while (st == VS_OK && (e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        size_t len = strlen(nm);
        if (nm[0] == '.')
            continue;
        int is_jpg = len > 4 && strcmp(nm + len - 4, ".jpg") == 0;
        if ((want_dirs && !is_jpg) || (!want_dirs && is_jpg))
            if (strlist_push(out, nm) != 0)
                st = vs_err_set(err, VS_NOMEM, "listing %s", dir);
    }
    closedir(d);
    if (st == VS_OK)
        qsort(out->s, (size_t)out->n, sizeof *out->s, cmp_str);
    return st;
}

void vs_lfw_set_free(vs_lfw_set *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_images; i++)
        free(s->path[i]);
    for (int i = 0; i < s->n_people; i++)
        free(s->name[i]);
    free(s->path);
    free(s->person);
    free(s->name);
    free(s->first);
    free(s->count);
    free(s);
}

static unsigned fnv1a(unsigned h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static vs_status add_person(vs_lfw_set *s, const char *dir, const char *name, strlist *paths,
                            vs_err *err)
{
    char pd[4096];
    if (snprintf(pd, sizeof pd, "%s/%s", dir, name) >= (int)sizeof pd)
        return vs_err_set(err, VS_INVAL, "path too long");
    strlist files = {0};
    vs_status st = list_dir(pd, 0, &files, err);
    if (st != VS_OK || files.n == 0) {
        strlist_free(&files);
        return st;
    }
    int p = s->n_people++;
    s->name[p] = strdup(name);
    s->first[p] = paths->n;
    s->count[p] = files.n;
    for (int i = 0; i < files.n && st == VS_OK; i++) {
        char fp[4096];
        if (snprintf(fp, sizeof fp, "%s/%s", pd, files.s[i]) >= (int)sizeof fp)
            st = vs_err_set(err, VS_INVAL, "path too long");
        else if (strlist_push(paths, fp) != 0)
            st = vs_err_set(err, VS_NOMEM, "image list");
        s->hash = fnv1a(fnv1a(s->hash, name), files.s[i]);
    }
    strlist_free(&files);
    return s->name[p] ? st : vs_err_set(err, VS_NOMEM, "image list");
}

vs_status vs_lfw_set_load(const char *dir, vs_lfw_set **out, vs_err *err)
{
    *out = NULL;
    strlist people = {0}, paths = {0};
    vs_status st = list_dir(dir, 1, &people, err);
    vs_lfw_set *s = calloc(1, sizeof *s);
    if (st == VS_OK && !s)
        st = vs_err_set(err, VS_NOMEM, "image list");
    if (st == VS_OK) {
        size_t np = (size_t)(people.n ? people.n : 1);
        s->hash = 2166136261u;
        s->name = calloc(np, sizeof *s->name);
        s->first = calloc(np, sizeof *s->first);
        s->count = calloc(np, sizeof *s->count);
        if (!s->name || !s->first || !s->count)
            st = vs_err_set(err, VS_NOMEM, "image list");
    }
    for (int i = 0; st == VS_OK && i < people.n; i++)
        st = add_person(s, dir, people.s[i], &paths, err);
    if (st == VS_OK && paths.n == 0)
        st = vs_err_set(err, VS_NOTFOUND, "no <person>/*.jpg images under %s", dir);
    if (st == VS_OK) {
        s->n_images = paths.n;
        s->path = paths.s;
        paths.s = NULL;
        paths.n = 0;
        s->person = malloc((size_t)s->n_images * sizeof *s->person);
        if (!s->person)
            st = vs_err_set(err, VS_NOMEM, "image list");
        for (int p = 0; st == VS_OK && p < s->n_people; p++)
            for (int k = 0; k < s->count[p]; k++)
                s->person[s->first[p] + k] = p;
    }
    strlist_free(&people);
    strlist_free(&paths);
    if (st != VS_OK) {
        vs_lfw_set_free(s);
        return st;
    }
    *out = s;
    return VS_OK;
}

static int find_person(const vs_lfw_set *s, const char *name)
{
    int lo = 0, hi = s->n_people - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(s->name[mid], name);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Image index of LFW's "name n" (name_%04d.jpg), -1 if absent. */
static int find_image(const vs_lfw_set *s, const char *name, int n)
{
    int p = find_person(s, name);
    if (p < 0)
        return -1;
    char want[300];
    snprintf(want, sizeof want, "/%s_%04d.jpg", name, n);
    size_t wl = strlen(want);
    for (int k = 0; k < s->count[p]; k++) {
        const char *path = s->path[s->first[p] + k];
        size_t pl = strlen(path);
        if (pl >= wl && strcmp(path + pl - wl, want) == 0)
            return s->first[p] + k;
    }
    return -1;
}

static vs_status parse_pair_line(const vs_lfw_set *set, const char *line, int lineno,
                                 vs_lfw_pair *p, vs_err *err)
{
    char a[256], b[256];
    int n1, n2, n3;
    int k = sscanf(line, "%255s %d %255s %d", a, &n1, b, &n3);
    if (k == 4) {
        p->a = find_image(set, a, n1);
        p->b = find_image(set, b, n3);
        p->same = strcmp(a, b) == 0;
    } else if (sscanf(line, "%255s %d %d", a, &n1, &n2) == 3) {
        p->a = find_image(set, a, n1);
        p->b = find_image(set, a, n2);
        p->same = 1;
    } else {
        return vs_err_set(err, VS_FORMAT,
                          "pairs line %d is not 'name n1 n2' or "
                          "'name1 n1 name2 n2'",
                          lineno);
    }
    if (p->a < 0 || p->b < 0)
        return vs_err_set(err, VS_NOTFOUND, "pairs line %d names an image not in the set", lineno);
    return VS_OK;
}

vs_status vs_lfw_pairs_load(const char *path, const vs_lfw_set *set, vs_lfw_pair **out, int *n,
                            vs_err *err)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return vs_err_set(err, VS_IO, "cannot open %s", path);
    vs_lfw_pair *v = NULL;
    int cap = 0, cnt = 0, lineno = 0;
    char line[1024];
    vs_status st = VS_OK;
    while (st == VS_OK && fgets(line, sizeof line, f)) {
        lineno++;
        char w[4][256];
        int words = sscanf(line, "%255s %255s %255s %255s", w[0], w[1], w[2], w[3]);
        if (words <= 0 || (lineno == 1 && words <= 2))
            continue; /* blank line, or the "N" / "sets N" header */
        if (cnt == cap) {
            cap = cap ? 2 * cap : 1024;
            vs_lfw_pair *nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) {
                st = vs_err_set(err, VS_NOMEM, "pairs");
                break;
            }
            v = nv;
        }
        st = parse_pair_line(set, line, lineno, &v[cnt], err);
        cnt += st == VS_OK;
    }
    fclose(f);
    if (st == VS_OK && cnt == 0)
        st = vs_err_set(err, VS_FORMAT, "%s holds no pairs", path);
    if (st != VS_OK) {
        free(v);
        return st;
    }
    *out = v;
    *n = cnt;
    return VS_OK;
}

/* ---- caches ------------------------------------------------------------------------------ */

#define CACHE_MAGIC 0x43455356u /* "VSEC" */
#define CACHE_VERSION 2u

typedef struct cache_header {
    uint32_t magic, version, n, dim, hash;
} cache_header;

static int cache_path(const vs_eval_opts *o, const char *what, char *buf, size_t n)
{
    if (!o || !o->cache_dir)
        return 0;
    return snprintf(buf, n, "%s/%s.bin", o->cache_dir, what) < (int)n;
}

/* Reads n x dim floats into v when the cache exists and matches; returns 1 on a hit. */
static int cache_read(const vs_eval_opts *o, const char *what, const vs_lfw_set *set, int dim,
                      float *v)
{
    char p[4096];
    if (!cache_path(o, what, p, sizeof p))
        return 0;
    FILE *f = fopen(p, "rb");
    if (!f)
        return 0;
    cache_header h;
    size_t want = (size_t)set->n_images * (size_t)dim;
    int ok = fread(&h, sizeof h, 1, f) == 1 && h.magic == CACHE_MAGIC &&
             h.version == CACHE_VERSION && h.n == (uint32_t)set->n_images &&
             h.dim == (uint32_t)dim && h.hash == set->hash && fread(v, sizeof *v, want, f) == want;
    fclose(f);
    return ok;
}

static vs_status cache_write(const vs_eval_opts *o, const char *what, const vs_lfw_set *set,
                             int dim, const float *v, vs_err *err)
{
    char p[4096];
    if (!cache_path(o, what, p, sizeof p))
        return VS_OK;
    FILE *f = fopen(p, "wb");
    if (!f)
        return vs_err_set(err, VS_IO, "cannot write cache %s", p);
    cache_header h = {CACHE_MAGIC, CACHE_VERSION, (uint32_t)set->n_images, (uint32_t)dim,
                      set->hash};
    size_t want = (size_t)set->n_images * (size_t)dim;
    int ok = fwrite(&h, sizeof h, 1, f) == 1 && fwrite(v, sizeof *v, want, f) == want;
    ok = (fclose(f) == 0) && ok;
    return ok ? VS_OK : vs_err_set(err, VS_IO, "cannot write cache %s", p);
}

static void report(const vs_eval_opts *o, const char *what, int done, int total)
{
    if (o && o->progress)
        o->progress(o->user, what, done, total);
}

/* ---- landmarks --------------------------------------------------------------------------- */

/* The face-api SSD box of an LFW-style centred face, in fractions of the image. */
static void centre_box(const vs_image *img, vs_det *b)
{
    memset(b, 0, sizeof *b);
    b->x0 = 0.30f * (float)img->w;
    b->x1 = 0.70f * (float)img->w;
    b->y0 = 0.272f * (float)img->h;
    b->y1 = 0.732f * (float)img->h;
    b->score = 1.0f;
}

/* The detection nearest the image centre (LFW names the person in the middle), or the centre box
 * when the detector finds nothing. */
static vs_status start_box(vs_detector *det, const vs_image *img, vs_det *box, vs_err *err)
{
    centre_box(img, box);
    if (!det)
        return VS_OK;
    vs_det found[16];
    int n = 0;
    vs_status st = vs_detect(det, img, NULL, found, 16, &n, NULL, err);
    float best = INFINITY;
    for (int i = 0; st == VS_OK && i < n; i++) {
        float dx = 0.5f * (found[i].x0 + found[i].x1 - (float)img->w);
        float dy = 0.5f * (found[i].y0 + found[i].y1 - (float)img->h);
        if (dx * dx + dy * dy < best) {
            best = dx * dx + dy * dy;
            *box = found[i];
        }
    }
    return st;
}

/* Landmarks from a start box, then again from the box they imply. */
static vs_status landmarks_twice(vs_landmarker *lm, const vs_image *img, vs_det box, vs_lm68 *out,
                                 vs_err *err)
{
    vs_lm68 first;
    vs_status st = vs_landmarks_detect(lm, img, &box, &first, err);
    if (st == VS_OK) {
        vs_landmarks_box(&first, &box);
        st = vs_landmarks_detect(lm, img, &box, out, err);
    }
    return st;
}

vs_status vs_eval_centre_landmarks(vs_landmarker *lm, const vs_image *img, vs_lm68 *out,
                                   vs_err *err)
{
    if (!img || !out)
        return vs_err_set(err, VS_INVAL, "centre_landmarks: missing argument");
    vs_det box;
    centre_box(img, &box);
    return landmarks_twice(lm, img, box, out, err);
}

static vs_status landmarks_of(vs_landmarker *lm, vs_detector *det, const char *path, float *out,
                              vs_err *err)
{
    vs_image *img = NULL;
    vs_status st = vs_img_load(path, NULL, &img, err);
    if (st != VS_OK)
        return st;
    vs_det box;
    vs_lm68 b;
    st = start_box(det, img, &box, err);
    if (st == VS_OK)
        st = landmarks_twice(lm, img, box, &b, err);
    vs_image_free(img);
    if (st == VS_OK)
        memcpy(out, b.pt, sizeof b.pt);
    return st;
}

static vs_status load_model(const vs_eval_opts *o, const char *name, vs_model **m, vs_err *err)
{
    return vs_nn_model_load(o ? o->models_dir : NULL, name, NULL, m, err);
}

/* Cache-name suffix of the landmark source. */
static const char *tag_of(const vs_eval_opts *o)
{
    return o && o->use_detector ? "_ssd" : "";
}

static int threads_of(const vs_eval_opts *o)
{
    return o && o->threads > 0 ? o->threads : 1;
}

vs_status vs_eval_landmarks(const vs_lfw_set *set, const vs_eval_opts *o, float **out, vs_err *err)
{
    *out = NULL;
    float *v = malloc((size_t)set->n_images * 136 * sizeof *v);
    if (!v)
        return vs_err_set(err, VS_NOMEM, "landmarks");
    char what[64];
    snprintf(what, sizeof what, "landmarks68%s", tag_of(o));
    if (cache_read(o, what, set, 136, v)) {
        *out = v;
        return VS_OK;
    }
    vs_model *m = NULL, *dm = NULL;
    vs_landmarker *lm = NULL;
    vs_detector *det = NULL;
    vs_status st = load_model(o, vs_landmarker_model_name(VS_LM_FACEAPI_68), &m, err);
    if (st == VS_OK)
        st = vs_landmarker_new(m, VS_LM_FACEAPI_68, threads_of(o), &lm, err);
    if (st == VS_OK && o && o->use_detector)
        st = load_model(o, vs_detector_model_name(VS_DETECTOR_SSD), &dm, err);
    if (st == VS_OK && dm)
        st = vs_detector_new(dm, threads_of(o), &det, err);
    for (int i = 0; st == VS_OK && i < set->n_images; i++) {
        vs_err e1;
        /* An unreadable image is a missing face, not the end of the evaluation. */
        if (landmarks_of(lm, det, set->path[i], v + (size_t)i * 136, &e1) != VS_OK)
            for (int k = 0; k < 136; k++)
                v[(size_t)i * 136 + k] = NAN;
        report(o, "landmarks", i + 1, set->n_images);
    }
    vs_detector_free(det);
    vs_nn_model_free(dm);
    vs_landmarker_free(lm);
    vs_nn_model_free(m);
    if (st == VS_OK)
        st = cache_write(o, what, set, 136, v, err);
    if (st != VS_OK) {
        free(v);
        return st;
    }
    *out = v;
    return VS_OK;
}

/* ---- vectors ----------------------------------------------------------------------------- */

void vs_eval_feats_free(vs_eval_feats *f)
{
    if (!f)
        return;
    free(f->v);
    free(f->ok);
    free(f);
}

static vs_status feats_new(const vs_lfw_set *set, const char *name, vs_embedder_id id, int mirror,
                           int dim, vs_eval_feats **out, vs_err *err)
{
    vs_eval_feats *f = calloc(1, sizeof *f);
    if (f) {
        f->v = calloc((size_t)set->n_images * (size_t)dim, sizeof *f->v);
        f->ok = calloc((size_t)set->n_images, 1);
    }
    if (!f || !f->v || !f->ok) {
        vs_eval_feats_free(f);
        return vs_err_set(err, VS_NOMEM, "vectors");
    }
    snprintf(f->name, sizeof f->name, "%s%s", name, mirror ? "+mirror" : "");
    f->id = id;
    f->mirror = mirror;
    f->dim = dim;
    *out = f;
    return VS_OK;
}

/* Embeds image i's chip and its flip (unit vectors a, b); a stays NaN when there is no face. */
static vs_status embed_pair(vs_embedder *e, vs_embedder_id id, const char *path, const float *lm68,
                            float *a, float *b, vs_err *err)
{
    int dim = vs_embedder_dim(id), size = vs_align_size(vs_embedder_template(id));
    vs_lm68 lm;
    memcpy(lm.pt, lm68, sizeof lm.pt);
    if (isnan(lm68[0]))
        return VS_NOFACE;
    vs_image *img = NULL, *chip = NULL, *flip = NULL;
    vs_embedding *emb = malloc(sizeof *emb);
    vs_status st = emb ? vs_img_load(path, NULL, &img, err) : VS_NOMEM;
    if (st == VS_OK)
        st = vs_image_new(size, size, 3, &chip, err);
    if (st == VS_OK)
        st = vs_image_new(size, size, 3, &flip, err);
    if (st == VS_OK)
        st = vs_align_chip(img, vs_embedder_template(id), &lm, chip, err);
    if (st == VS_OK)
        st = vs_img_flip_lr(chip, flip, err);
    if (st == VS_OK)
        st = vs_embed_chip(e, chip, 0, emb, err);
    if (st == VS_OK) {
        memcpy(a, emb->v, (size_t)dim * sizeof *a);
        st = vs_embed_chip(e, flip, 0, emb, err);
    }
    if (st == VS_OK)
        memcpy(b, emb->v, (size_t)dim * sizeof *b);
    free(emb);
    vs_image_free(flip);
    vs_image_free(chip);
    vs_image_free(img);
    return st;
}

/* raw: n x 2 x dim (chip, flip), computed or read from the cache. */
static vs_status embed_all(const vs_lfw_set *set, const float *landmarks, vs_embedder_id id,
                           const vs_eval_opts *o, float *raw, vs_err *err)
{
    int dim = vs_embedder_dim(id);
    char what[64];
    snprintf(what, sizeof what, "emb_%s%s", vs_embedder_name(id), tag_of(o));
    if (cache_read(o, what, set, 2 * dim, raw))
        return VS_OK;
    vs_model *m = NULL;
    vs_embedder *e = NULL;
    vs_status st = load_model(o, vs_embedder_model_name(id), &m, err);
    if (st == VS_OK)
        st = vs_embedder_new(m, id, threads_of(o), &e, err);
    for (int i = 0; st == VS_OK && i < set->n_images; i++) {
        float *a = raw + (size_t)i * 2 * dim, *b = a + dim;
        vs_err e1;
        if (embed_pair(e, id, set->path[i], landmarks + (size_t)i * 136, a, b, &e1) != VS_OK)
            for (int k = 0; k < 2 * dim; k++)
                a[k] = NAN;
        report(o, vs_embedder_name(id), i + 1, set->n_images);
    }
    vs_embedder_free(e);
    vs_nn_model_free(m);
    if (st == VS_OK)
        st = cache_write(o, what, set, 2 * dim, raw, err);
    return st;
}

static void unit(float *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    float k = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
    for (int i = 0; i < n; i++)
        v[i] *= k;
}

vs_status vs_eval_embed(const vs_lfw_set *set, const float *landmarks, vs_embedder_id id,
                        const vs_eval_opts *o, vs_eval_feats **plain, vs_eval_feats **mirror,
                        vs_err *err)
{
    if (plain)
        *plain = NULL;
    if (mirror)
        *mirror = NULL;
    int dim = vs_embedder_dim(id);
    if (!set || !landmarks || dim == 0)
        return vs_err_set(err, VS_INVAL, "eval_embed: bad arguments");
    float *raw = malloc((size_t)set->n_images * 2 * (size_t)dim * sizeof *raw);
    vs_eval_feats *fp = NULL, *fm = NULL;
    vs_status st =
        raw ? embed_all(set, landmarks, id, o, raw, err) : vs_err_set(err, VS_NOMEM, "vectors");
    const char *name = vs_embedder_name(id);
    if (st == VS_OK)
        st = feats_new(set, name, id, 0, dim, &fp, err);
    if (st == VS_OK)
        st = feats_new(set, name, id, 1, dim, &fm, err);
    for (int i = 0; st == VS_OK && i < set->n_images; i++) {
        const float *a = raw + (size_t)i * 2 * dim, *b = a + dim;
        if (isnan(a[0]))
            continue;
        float *p = fp->v + (size_t)i * dim, *q = fm->v + (size_t)i * dim;
        for (int k = 0; k < dim; k++) {
            p[k] = a[k];
            q[k] = a[k] + b[k];
        }
        unit(q, dim);
        fp->ok[i] = fm->ok[i] = 1;
    }
    free(raw);
    if (st != VS_OK) {
        vs_eval_feats_free(fp);
        vs_eval_feats_free(fm);
        return st;
    }
    if (plain)
        *plain = fp;
    else
        vs_eval_feats_free(fp);
    if (mirror)
        *mirror = fm;
    else
        vs_eval_feats_free(fm);
    return VS_OK;
}

vs_status vs_eval_feats_read_faceapi(const char *path, const vs_lfw_set *set, vs_eval_feats **out,
                                     vs_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return vs_err_set(err, VS_IO, "cannot open %s", path);
    char magic[4];
    uint32_t n = 0, dim = 0;
    vs_eval_feats *fe = NULL;
    vs_status st = VS_OK;
    if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "VSFA", 4) != 0 || fread(&n, 4, 1, f) != 1 ||
        fread(&dim, 4, 1, f) != 1 || dim == 0 || dim > 4096)
        st = vs_err_set(err, VS_FORMAT, "%s is not a lfw_faceapi.js output", path);
    else if (n != (uint32_t)set->n_images)
        st = vs_err_set(err, VS_FORMAT, "%s has %u images, the set %d", path, n, set->n_images);
    if (st == VS_OK)
        st = feats_new(set, "face-api (Node)", VS_EMB_NONE, 0, (int)dim, &fe, err);
    for (int i = 0; st == VS_OK && i < set->n_images; i++) {
        float flag;
        if (fread(&flag, 4, 1, f) != 1 || fread(fe->v + (size_t)i * dim, 4, dim, f) != dim)
            st = vs_err_set(err, VS_FORMAT, "%s is truncated", path);
        fe->ok[i] = flag > 0.0f; /* 1, 2: a face; 0: none; -1: not run */
    }
    fclose(f);
    if (st != VS_OK) {
        vs_eval_feats_free(fe);
        return st;
    }
    fe->metric = VS_EVAL_NEG_L2;
    *out = fe;
    return VS_OK;
}

/* ---- scores and metrics ------------------------------------------------------------------ */

static void pair_cosines(const vs_eval_scorer *s, int a, int b, float *cos)
{
    for (int k = 0; k < s->m.n; k++) {
        const vs_eval_feats *f = s->f[k];
        cos[k] = vs_cosine(f->v + (size_t)a * f->dim, f->v + (size_t)b * f->dim, f->dim);
    }
}

static int both_ok(const vs_eval_scorer *s, int a, int b)
{
    for (int k = 0; k < s->m.n; k++)
        if (!s->f[k]->ok[a] || !s->f[k]->ok[b])
            return 0;
    return 1;
}

float vs_eval_score(const vs_eval_scorer *s, int a, int b)
{
    if (!both_ok(s, a, b))
        return -INFINITY;
    const vs_eval_feats *f = s->f[0];
    if (s->m.n == 1 && f->metric == VS_EVAL_NEG_L2) {
        const float *x = f->v + (size_t)a * f->dim, *y = f->v + (size_t)b * f->dim;
        float d = 0;
        for (int i = 0; i < f->dim; i++)
            d += (x[i] - y[i]) * (x[i] - y[i]);
        return -sqrtf(d);
    }
    float cos[VS_MATCH_MAX];
    pair_cosines(s, a, b, cos);
    return vs_matcher_fuse(&s->m, cos);
}

vs_status vs_eval_calibrate(vs_eval_scorer *s, const vs_lfw_pair *p, int n, vs_err *err)
{
    float *cos = malloc((size_t)n * VS_MATCH_MAX * sizeof *cos);
    int *same = malloc((size_t)n * sizeof *same);
    vs_status st = VS_OK;
    if (!cos || !same)
        st = vs_err_set(err, VS_NOMEM, "calibrate");
    int k = 0;
    for (int i = 0; st == VS_OK && i < n; i++) {
        if (!both_ok(s, p[i].a, p[i].b))
            continue;
        pair_cosines(s, p[i].a, p[i].b, cos + (size_t)k * s->m.n);
        same[k++] = p[i].same;
    }
    if (st == VS_OK)
        st = vs_matcher_calibrate(&s->m, cos, same, k, err);
    free(cos);
    free(same);
    return st;
}

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* The lowest threshold that at most floor(rate * n) of the n negative scores reach. */
static float threshold_for_rate(float *neg, int n, float rate)
{
    qsort(neg, (size_t)n, sizeof *neg, cmp_desc);
    int k = (int)floor(rate * n + 1e-9);
    if (k >= n)
        return -INFINITY;
    return nextafterf(neg[k], INFINITY);
}

float vs_eval_tar_at_far(const float *score, const int *same, int n, float far)
{
    float *neg = malloc((size_t)(n ? n : 1) * sizeof *neg);
    if (!neg)
        return NAN;
    int nn = 0, np = 0, hit = 0;
    for (int i = 0; i < n; i++)
        if (!same[i])
            neg[nn++] = score[i];
    float t = threshold_for_rate(neg, nn, far);
    for (int i = 0; i < n; i++)
        if (same[i]) {
            np++;
            hit += score[i] >= t;
        }
    free(neg);
    return np ? (float)hit / (float)np : NAN;
}

static vs_status pair_scores(const vs_eval_scorer *s, const vs_lfw_pair *p, int n, float **sc,
                             int **same, vs_err *err)
{
    *sc = malloc((size_t)n * sizeof **sc);
    *same = malloc((size_t)n * sizeof **same);
    if (!*sc || !*same) {
        free(*sc);
        free(*same);
        *sc = NULL;
        *same = NULL;
        return vs_err_set(err, VS_NOMEM, "scores");
    }
    for (int i = 0; i < n; i++) {
        (*sc)[i] = vs_eval_score(s, p[i].a, p[i].b);
        (*same)[i] = p[i].same;
    }
    return VS_OK;
}

vs_status vs_eval_verify(const vs_eval_scorer *s, const vs_lfw_pair *train, int n_train,
                         const vs_lfw_pair *test, int n_test, vs_eval_result *r, vs_err *err)
{
    float *sc = NULL;
    int *same = NULL;
    vs_status st = pair_scores(s, train, n_train, &sc, &same, err);
    if (st == VS_OK)
        st = vs_match_best_threshold(sc, same, n_train, &r->threshold, &r->train_acc, err);
    free(sc);
    free(same);
    if (st == VS_OK)
        st = pair_scores(s, test, n_test, &sc, &same, err);
    if (st != VS_OK)
        return st;
    int right = 0;
    for (int i = 0; i < n_test; i++)
        right += (sc[i] >= r->threshold) == (same[i] != 0);
    r->test_acc = n_test ? (float)right / (float)n_test : NAN;
    r->n_test_wrong = n_test - right;
    r->tar_far001 = vs_eval_tar_at_far(sc, same, n_test, 0.001f);
    r->tar_far01 = vs_eval_tar_at_far(sc, same, n_test, 0.01f);
    free(sc);
    free(same);
    return VS_OK;
}

/* Open-set layout: candidates = people with >= 2 images (their first image is enrolled when
 * drawn), probes = every other image of a candidate (mated) and every single-image person's
 * image (non-mated).  S[probe][cand] holds all scores, so each draw only picks columns. */
typedef struct openset {
    int n_cand, n_probe;
    int *cand_person; /* n_cand */
    int *probe_img;   /* n_probe */
    int *probe_cand;  /* n_probe: the probe's own candidate, -1 for non-mated */
    float *S;         /* n_probe x n_cand */
} openset;

static void openset_free(openset *o)
{
    free(o->cand_person);
    free(o->probe_img);
    free(o->probe_cand);
    free(o->S);
}

static vs_status openset_build(const vs_eval_scorer *s, const vs_lfw_set *set, openset *o,
                               vs_err *err)
{
    memset(o, 0, sizeof *o);
    o->cand_person = malloc((size_t)set->n_people * sizeof(int));
    o->probe_img = malloc((size_t)set->n_images * sizeof(int));
    o->probe_cand = malloc((size_t)set->n_images * sizeof(int));
    if (!o->cand_person || !o->probe_img || !o->probe_cand)
        return vs_err_set(err, VS_NOMEM, "open set");
    for (int p = 0; p < set->n_people; p++) {
        int c = -1;
        if (set->count[p] >= 2) {
            c = o->n_cand++;
            o->cand_person[c] = p;
        }
        for (int k = c >= 0 ? 1 : 0; k < set->count[p]; k++) {
            o->probe_img[o->n_probe] = set->first[p] + k;
            o->probe_cand[o->n_probe++] = c;
        }
    }
    o->S = malloc((size_t)o->n_probe * (size_t)o->n_cand * sizeof *o->S);
    if (!o->S)
        return vs_err_set(err, VS_NOMEM, "open set scores");
    for (int i = 0; i < o->n_probe; i++)
        for (int c = 0; c < o->n_cand; c++)
            o->S[(size_t)i * o->n_cand + c] =
                vs_eval_score(s, o->probe_img[i], set->first[o->cand_person[c]]);
    return VS_OK;
}

/* A small seeded generator (SplitMix64) so draws are the same on every machine. */
static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* One draw of n gallery people (seed): FNIR at FPIR 1% and 0.1%, rank-1. */
static vs_status openset_draw(const openset *o, int n, uint64_t seed, float res[3], vs_err *err)
{
    int *perm = malloc((size_t)o->n_cand * sizeof *perm);
    char *in = calloc((size_t)o->n_cand, 1);
    float *nm = malloc((size_t)o->n_probe * sizeof *nm);
    float *best = malloc((size_t)o->n_probe * sizeof *best);
    int *arg = malloc((size_t)o->n_probe * sizeof *arg);
    if (!perm || !in || !nm || !best || !arg) {
        free(perm), free(in), free(nm), free(best), free(arg);
        return vs_err_set(err, VS_NOMEM, "open set draw");
    }
    for (int i = 0; i < o->n_cand; i++)
        perm[i] = i;
    for (int i = 0; i < n; i++) {
        int j = i + (int)(splitmix(&seed) % (uint64_t)(o->n_cand - i));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        in[perm[i]] = 1;
    }
    int n_nm = 0, n_m = 0, r1 = 0;
    for (int i = 0; i < o->n_probe; i++) {
        int pc = o->probe_cand[i];
        if (pc >= 0 && !in[pc])
            continue; /* a mated probe of someone not drawn: not part of this experiment */
        const float *row = o->S + (size_t)i * o->n_cand;
        float b = -INFINITY;
        int a = -1;
        for (int k = 0; k < n; k++)
            if (a < 0 || row[perm[k]] > b) {
                b = row[perm[k]];
                a = perm[k];
            }
        best[i] = b;
        arg[i] = a;
        if (pc < 0)
            nm[n_nm++] = b;
        else {
            n_m++;
            r1 += a == pc && b > -INFINITY;
        }
    }
    const float rates[2] = {0.01f, 0.001f};
    for (int q = 0; q < 2; q++) {
        float *tmp = malloc((size_t)(n_nm ? n_nm : 1) * sizeof *tmp);
        if (!tmp) {
            res[q] = NAN;
            continue;
        }
        memcpy(tmp, nm, (size_t)n_nm * sizeof *tmp);
        float t = threshold_for_rate(tmp, n_nm, rates[q]);
        free(tmp);
        int miss = 0;
        for (int i = 0; i < o->n_probe; i++) {
            int pc = o->probe_cand[i];
            if (pc < 0 || !in[pc])
                continue;
            miss += !(arg[i] == pc && best[i] >= t && best[i] > -INFINITY);
        }
        res[q] = n_m ? (float)miss / (float)n_m : NAN;
    }
    res[2] = n_m ? (float)r1 / (float)n_m : NAN;
    free(perm), free(in), free(nm), free(best), free(arg);
    return VS_OK;
}

vs_status vs_eval_openset(const vs_eval_scorer *s, const vs_lfw_set *set, int repeats,
                          vs_eval_result *r, vs_err *err)
{
    static const int sizes[VS_EVAL_N_GALLERY] = {50, 200, 1000};
    openset o;
    vs_status st = openset_build(s, set, &o, err);
    if (repeats < 1)
        repeats = 1;
    for (int g = 0; st == VS_OK && g < VS_EVAL_N_GALLERY; g++) {
        int n = sizes[g] < o.n_cand ? sizes[g] : o.n_cand;
        double acc[3] = {0, 0, 0};
        for (int rep = 0; st == VS_OK && rep < repeats; rep++) {
            float res[3];
            st = openset_draw(&o, n, (uint64_t)(rep + 1) * 1000003ull + (uint64_t)n, res, err);
            for (int q = 0; q < 3; q++)
                acc[q] += res[q];
        }
        r->gallery[g] = n;
        r->fnir_fpir01[g] = (float)(acc[0] / repeats);
        r->fnir_fpir001[g] = (float)(acc[1] / repeats);
        r->rank1[g] = (float)(acc[2] / repeats);
    }
    openset_free(&o);
    return st;
}

/* snprintf at buf + *len, advancing *len, never past size. */
static void appendf(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void appendf(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    if (*len >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *len, size - *len, fmt, ap);
    va_end(ap);
    *len += w > 0 ? (size_t)w : 0;
}

void vs_eval_format_table(const vs_eval_result *r, int n, char *buf, size_t size)
{
    size_t len = 0;
    if (size == 0)
        return;
    buf[0] = 0;
    appendf(buf, size, &len,
            "| matcher | threshold | train acc | test acc | TAR@FAR=0.1%% | TAR@FAR=1%% | "
            "FNIR@FPIR=1%% (50/200/1000) | FNIR@FPIR=0.1%% (50/200/1000) | "
            "rank-1 (50/200/1000) |\n");
    appendf(buf, size, &len, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++) {
        const vs_eval_result *x = &r[i];
        appendf(buf, size, &len,
                "| %s | %.4f | %.2f%% | **%.2f%%** | %.1f%% | %.1f%% | %.1f / %.1f / %.1f%% | "
                "%.1f / %.1f / %.1f%% | %.1f / %.1f / %.1f%% |\n",
                x->name, x->threshold, 100 * x->train_acc, 100 * x->test_acc, 100 * x->tar_far001,
                100 * x->tar_far01, 100 * x->fnir_fpir01[0], 100 * x->fnir_fpir01[1],
                100 * x->fnir_fpir01[2], 100 * x->fnir_fpir001[0], 100 * x->fnir_fpir001[1],
                100 * x->fnir_fpir001[2], 100 * x->rank1[0], 100 * x->rank1[1], 100 * x->rank1[2]);
    }
}

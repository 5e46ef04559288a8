/*
 * cmd_face.c - `visage detect`, `visage embed`, `visage compare`: the face pipeline from the
 * command line.
 *
 *   visage detect IMG... [--json] [--draw OUT.png] [--detector NAME] [--min-score S]
 *   visage embed IMG [--json]
 *   visage compare A B [--json]
 *
 * Each loads the pipeline's models once, decodes every image with the library's limits, and
 * prints either readable lines or one JSON document.  A file that cannot be read or decoded is
 * reported with the library's message and makes the exit status 1; the others still run.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "face/face.h"
#include "img/img.h"

typedef struct face_opts {
    const char *draw;
    const char *detector;
    const char *models;
    float min_score;
    int json;
    int n_files;
    const char *files[256];
} face_opts;

static int parse_opts(const char *cmd, int argc, char **argv, face_opts *o, const char *usage)
{
    memset(o, 0, sizeof *o);
    o->models = getenv("VISAGE_MODELS");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        int takes = strcmp(a, "--draw") == 0 || strcmp(a, "--detector") == 0 ||
                    strcmp(a, "--min-score") == 0 || strcmp(a, "--models") == 0;
        if (takes && !v) {
            fprintf(stderr, "visage %s: %s needs a value\n", cmd, a);
            return -1;
        }
        if (strcmp(a, "--draw") == 0)
            o->draw = v;
        else if (strcmp(a, "--detector") == 0)
            o->detector = v;
        else if (strcmp(a, "--models") == 0)
            o->models = v;
        else if (strcmp(a, "--min-score") == 0) {
            char *end;
            o->min_score = strtof(v, &end);
            if (*end || o->min_score <= 0 || o->min_score >= 1) {
                fprintf(stderr, "visage %s: --min-score must be in (0, 1)\n", cmd);
                return -1;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "visage %s: unknown option %s\n", cmd, a);
            return -1;
        } else if (o->n_files < (int)(sizeof o->files / sizeof o->files[0])) {
            o->files[o->n_files++] = a;
            continue;
        } else {
            fprintf(stderr, "visage %s: too many files\n", cmd);
            return -1;
        }
        i++;
    }
    return 0;
}

/* Models and one context, as the command's options ask. */
typedef struct session {
    vs_face_models *models;
    vs_face_ctx *ctx;
} session;

static int session_open(const char *cmd, const face_opts *o, session *s)
{
    vs_face_config cfg = {.models_dir = o->models, .detector = o->detector, .threads = 1};
    vs_err err = {{0}};
    vs_status st = vs_face_models_load(&cfg, &s->models, &err);
    if (st == VS_OK)
        st = vs_face_ctx_new(s->models, &s->ctx, &err);
    if (st != VS_OK) {
        fprintf(stderr, "visage %s: %s: %s\n", cmd, vs_status_str(st), err.msg);
        return -1;
    }
    return 0;
}

static void session_close(session *s)
{
    vs_face_ctx_free(s->ctx);
    vs_face_models_free(s->models);
}

/* The start every face command shares: parse, check the file count, load the models.
 * Returns -1 to go on, else the exit status to return at once. */
static int begin(const char *cmd, int argc, char **argv, const char *usage, int min_files,
                 int max_files, face_opts *o, session *s)
{
    int r = parse_opts(cmd, argc, argv, o, usage);
    if (r)
        return r > 0 ? 0 : 2;
    if (o->n_files < min_files || o->n_files > max_files) {
        fputs(usage, stderr);
        return 2;
    }
    return session_open(cmd, o, s) ? 1 : -1;
}

/* Decodes and analyses one file; res belongs to the session's context. */
static int analyze_file(const char *cmd, session *s, const char *path, const face_opts *o,
                        vs_image **img, vs_face_result *res)
{
    vs_err err = {{0}};
    vs_status st = vs_img_load(path, NULL, img, &err);
    if (st == VS_OK) {
        vs_face_opts fo = vs_face_opts_default();
        fo.min_score = o->min_score;
        st = vs_face_analyze(s->ctx, *img, &fo, res, &err);
    }
    if (st != VS_OK) {
        fprintf(stderr, "visage %s: %s: %s: %s\n", cmd, path, vs_status_str(st), err.msg);
        vs_image_free(*img);
        *img = NULL;
        return -1;
    }
    return 0;
}

static cJSON *face_json(const vs_face *f, int with_embedding)
{
    cJSON *j = cJSON_CreateObject();
    const vs_det *d = &f->det;
    float box[4] = {d->x0, d->y0, d->x1 - d->x0, d->y1 - d->y0};
    cJSON_AddItemToObject(j, "box", cJSON_CreateFloatArray(box, 4));
    cJSON_AddNumberToObject(j, "score", d->score);
    cJSON *lm = cJSON_AddArrayToObject(j, "landmarks");
    for (int i = 0; i < 68; i++)
        cJSON_AddItemToArray(lm, cJSON_CreateFloatArray(f->lm.pt[i], 2));
    cJSON *lm5 = cJSON_AddArrayToObject(j, "points5");
    for (int i = 0; i < 5; i++)
        cJSON_AddItemToArray(lm5, cJSON_CreateFloatArray(f->lm5.pt[i], 2));
    cJSON *q = cJSON_AddObjectToObject(j, "quality");
    cJSON_AddBoolToObject(q, "good", f->quality.good);
    cJSON *reasons = cJSON_AddArrayToObject(q, "reasons");
    for (int r = 0; r < VS_Q_REASON_COUNT; r++)
        if (f->quality.reasons & (1u << r))
            cJSON_AddItemToArray(
                reasons, cJSON_CreateString(vs_quality_reason_name((vs_quality_reason)(1u << r))));
    cJSON_AddNumberToObject(q, "sharpness", f->quality.sharpness);
    cJSON_AddNumberToObject(q, "brightness", f->quality.brightness);
    cJSON_AddNumberToObject(q, "eye_distance", f->quality.eye_dist);
    cJSON_AddNumberToObject(q, "yaw", f->quality.yaw);
    cJSON_AddNumberToObject(q, "pitch", f->quality.pitch);
    cJSON_AddNumberToObject(q, "roll", f->quality.roll);
    if (f->has_attributes) {
        cJSON_AddNumberToObject(j, "age", f->attr.age);
        cJSON_AddStringToObject(j, "gender", vs_gender_name(f->attr.gender));
        cJSON_AddNumberToObject(j, "gender_probability", f->attr.gender_prob);
        cJSON_AddStringToObject(j, "expression", vs_expression_name(f->attr.expression));
    }
    if (f->liveness >= 0)
        cJSON_AddNumberToObject(j, "liveness", f->liveness);
    if (with_embedding) {
        cJSON *embs = cJSON_AddArrayToObject(j, "embeddings");
        for (int k = 0; k < f->n_emb; k++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "model", vs_embedder_name(f->emb[k].id));
            cJSON_AddBoolToObject(e, "mirrored", f->emb[k].mirrored);
            cJSON_AddItemToObject(e, "vector", cJSON_CreateFloatArray(f->emb[k].v, f->emb[k].dim));
            cJSON_AddItemToArray(embs, e);
        }
    }
    return j;
}

static cJSON *result_json(const char *path, const vs_face_result *r, int with_embedding)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "file", path);
    cJSON_AddNumberToObject(j, "width", r->width);
    cJSON_AddNumberToObject(j, "height", r->height);
    cJSON_AddNumberToObject(j, "mean_luma", r->mean_luma);
    cJSON_AddBoolToObject(j, "enhanced", r->enhanced);
    cJSON *faces = cJSON_AddArrayToObject(j, "faces");
    for (int i = 0; i < r->n; i++)
        cJSON_AddItemToArray(faces, face_json(&r->faces[i], with_embedding));
    return j;
}

static void print_json(cJSON *j)
{
    char *s = cJSON_Print(j);
    if (s)
        puts(s);
    free(s);
    cJSON_Delete(j);
}

static int draw_result(const char *path, vs_image *img, const vs_face_result *r)
{
    const vs_rgb box = {40, 220, 60}, dot = {255, 60, 60};
    for (int i = 0; i < r->n; i++) {
        const vs_face *f = &r->faces[i];
        int x = (int)f->det.x0, y = (int)f->det.y0;
        int w = (int)(f->det.x1 - f->det.x0), h = (int)(f->det.y1 - f->det.y0);
        int t = img->w > 1000 ? 3 : 2;
        vs_img_draw_rect(img, x, y, w, h, t, box);
        for (int p = 0; p < 68; p++)
            vs_img_draw_point(img, (int)(f->lm.pt[p][0] + 0.5f), (int)(f->lm.pt[p][1] + 0.5f), 1,
                              dot);
        char label[32];
        snprintf(label, sizeof label, "%d %.2f", i + 1, f->det.score);
        vs_img_draw_text(img, x, y > 12 ? y - 10 : y + 2, label, img->w > 1000 ? 2 : 1, box);
    }
    vs_err err = {{0}};
    vs_status st = vs_img_save_png(img, path, &err);
    if (st != VS_OK) {
        fprintf(stderr, "visage detect: cannot write %s: %s\n", path, err.msg);
        return -1;
    }
    return 0;
}

static const char detect_usage[] =
    "usage: visage detect IMG... [--json] [--draw OUT.png] [--detector NAME] [--min-score S]\n"
    "Finds every face: box, detector score, 68 landmarks.  --draw writes the (last) image with\n"
    "the faces boxed and numbered.  Detectors: ssd_mobilenetv1 (default), blazeface-back,\n"
    "fr_detect.\n";

int vs_cli_detect(int argc, char **argv)
{
    face_opts o;
    session s = {0};
    int r = begin("detect", argc, argv, detect_usage, 1, 256, &o, &s);
    if (r >= 0)
        return r;
    int rc = 0;
    cJSON *all = o.json ? cJSON_CreateArray() : NULL;
    for (int i = 0; i < o.n_files; i++) {
        vs_image *img = NULL;
        vs_face_result res;
        if (analyze_file("detect", &s, o.files[i], &o, &img, &res)) {
            rc = 1;
            continue;
        }
        if (all) {
            cJSON_AddItemToArray(all, result_json(o.files[i], &res, 0));
        } else {
            printf("%s: %d face%s%s\n", o.files[i], res.n, res.n == 1 ? "" : "s",
                   res.enhanced ? " (dark frame enhanced)" : "");
            for (int k = 0; k < res.n; k++) {
                const vs_face *f = &res.faces[k];
                const vs_det *d = &f->det;
                printf("  %d: box %.0f,%.0f %.0fx%.0f score %.3f quality %s", k + 1, d->x0, d->y0,
                       d->x1 - d->x0, d->y1 - d->y0, d->score, f->quality.good ? "good" : "poor");
                if (f->has_attributes)
                    printf(" age %.0f %s %s", f->attr.age, vs_gender_name(f->attr.gender),
                           vs_expression_name(f->attr.expression));
                if (f->liveness >= 0)
                    printf(" liveness %.2f", f->liveness);
                putchar('\n');
            }
        }
        if (o.draw && i == o.n_files - 1 && draw_result(o.draw, img, &res))
            rc = 1;
        vs_image_free(img);
    }
    if (all)
        print_json(all);
    session_close(&s);
    return rc;
}

static const char embed_usage[] =
    "usage: visage embed IMG [--json]\n"
    "Prints the embedding(s) of the most prominent face (the highest detector score) under the\n"
    "default matcher: one L2-normalised vector per net, tagged with its model.\n";

int vs_cli_embed(int argc, char **argv)
{
    face_opts o;
    session s = {0};
    int r = begin("embed", argc, argv, embed_usage, 1, 1, &o, &s);
    if (r >= 0)
        return r;
    vs_image *img = NULL;
    vs_face_result res;
    int rc = 1;
    if (analyze_file("embed", &s, o.files[0], &o, &img, &res) == 0) {
        if (res.n == 0) {
            fprintf(stderr, "visage embed: %s: no face found\n", o.files[0]);
        } else if (o.json) {
            print_json(face_json(&res.faces[0], 1));
            rc = 0;
        } else {
            for (int k = 0; k < res.faces[0].n_emb; k++) {
                const vs_embedding *e = &res.faces[0].emb[k];
                printf("%s%s %d:", vs_embedder_name(e->id), e->mirrored ? "+mirror" : "", e->dim);
                for (int i = 0; i < e->dim; i++)
                    printf(" %.6f", e->v[i]);
                putchar('\n');
            }
            rc = 0;
        }
    }
    vs_image_free(img);
    session_close(&s);
    return rc;
}

static const char compare_usage[] =
    "usage: visage compare A B [--json]\n"
    "Are the most prominent faces of A and B the same person?  Prints the similarity under the\n"
    "default matcher and the threshold it is judged against.\n";

int vs_cli_compare(int argc, char **argv)
{
    face_opts o;
    session s = {0};
    int r = begin("compare", argc, argv, compare_usage, 2, 2, &o, &s);
    if (r >= 0)
        return r;
    vs_face faces[2];
    int rc = 1, ok = 1;
    for (int i = 0; i < 2 && ok; i++) {
        vs_image *img = NULL;
        vs_face_result res;
        ok = analyze_file("compare", &s, o.files[i], &o, &img, &res) == 0;
        if (ok && res.n == 0) {
            fprintf(stderr, "visage compare: %s: no face found\n", o.files[i]);
            ok = 0;
        }
        if (ok)
            faces[i] = res.faces[0];
        vs_image_free(img);
    }
    float score, thr;
    vs_err err = {{0}};
    if (ok) {
        const vs_matcher *m = vs_face_models_matcher(s.models, &thr);
        vs_status st = vs_face_compare(s.models, &faces[0], &faces[1], &score, &err);
        if (st != VS_OK) {
            fprintf(stderr, "visage compare: %s\n", err.msg);
        } else {
            char desc[128];
            vs_matcher_describe(m, desc, sizeof desc);
            if (o.json) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddBoolToObject(j, "same_person", score >= thr);
                cJSON_AddNumberToObject(j, "similarity", score);
                cJSON_AddNumberToObject(j, "threshold", thr);
                cJSON_AddStringToObject(j, "matcher", desc);
                print_json(j);
            } else {
                printf("%s: similarity %.4f, threshold %.4f (%s)\n",
                       score >= thr ? "same person" : "different people", score, thr, desc);
            }
            rc = 0;
        }
    }
    session_close(&s);
    return rc;
}

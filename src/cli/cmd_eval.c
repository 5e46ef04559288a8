/*
 * cmd_eval.c - `visage eval lfw DIR PAIRS`: verification accuracy of the default matcher on an
 * LFW-style data set, at the product's threshold, with points of the ROC.
 *
 *   visage eval lfw DIR PAIRS [--cache DIR] [--detector] [--json]
 *
 * DIR holds <person>/<person>_NNNN.jpg; PAIRS is in LFW's pairs format.  Landmarks and
 * embeddings of every image are computed once (and kept in --cache when given).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "face/face.h"

static const char usage[] =
    "usage: visage eval lfw DIR PAIRS [--cache DIR] [--detector] [--json]\n"
    "Accuracy of the default matcher on the pairs at its threshold, and TAR at FAR = 0.1%, 1%\n"
    "and 10%.  --detector starts every face from visage's own detector (the face nearest the\n"
    "centre) instead of LFW's known face region.\n";

static void progress(void *user, const char *what, int done, int total)
{
    (void)user;
    if (done == total || done % 250 == 0)
        fprintf(stderr, "eval: %s %d/%d\n", what, done, total);
}

typedef struct eval_out {
    int n_pairs, n_same, right, no_face;
    float acc, threshold, tar[3];
} eval_out;

static vs_status score_pairs(const char *dir, const char *pairs, const char *cache, int detector,
                             eval_out *r, vs_err *err)
{
    vs_lfw_set *set = NULL;
    vs_lfw_pair *p = NULL;
    float *lm = NULL, *score = NULL;
    int *same = NULL, n = 0;
    vs_eval_opts o = {
        .cache_dir = cache, .threads = 1, .use_detector = detector, .progress = progress};
    vs_eval_scorer sc = {0};
    vs_eval_feats *f[VS_MATCH_MAX] = {0};
    vs_matcher_default(&sc.m, &r->threshold);
    vs_status st = vs_lfw_set_load(dir, &set, err);
    if (st == VS_OK)
        st = vs_lfw_pairs_load(pairs, set, &p, &n, err);
    if (st == VS_OK)
        st = vs_eval_landmarks(set, &o, &lm, err);
    for (int k = 0; st == VS_OK && k < sc.m.n; k++) {
        vs_eval_feats *plain = NULL;
        st = vs_eval_embed(set, lm, sc.m.id[k], &o, sc.m.mirror[k] ? NULL : &plain,
                           sc.m.mirror[k] ? &f[k] : NULL, err);
        if (plain)
            f[k] = plain;
        sc.f[k] = f[k];
    }
    if (st == VS_OK) {
        score = malloc((size_t)n * sizeof *score);
        same = malloc((size_t)n * sizeof *same);
        if (!score || !same)
            st = vs_err_set(err, VS_NOMEM, "scores");
    }
    for (int i = 0; st == VS_OK && i < n; i++) {
        score[i] = vs_eval_score(&sc, p[i].a, p[i].b);
        same[i] = p[i].same;
        r->no_face += !isfinite(score[i]);
        r->right += (score[i] >= r->threshold) == (same[i] != 0);
        r->n_same += same[i] != 0;
    }
    if (st == VS_OK) {
        r->n_pairs = n;
        r->acc = n ? (float)r->right / (float)n : 0;
        const float far[3] = {0.001f, 0.01f, 0.1f};
        for (int i = 0; i < 3; i++)
            r->tar[i] = vs_eval_tar_at_far(score, same, n, far[i]);
    }
    free(score);
    free(same);
    free(lm);
    free(p);
    for (int k = 0; k < VS_MATCH_MAX; k++)
        vs_eval_feats_free(f[k]);
    vs_lfw_set_free(set);
    return st;
}

int vs_cli_eval(int argc, char **argv)
{
    const char *args[3] = {0}, *cache = NULL;
    int n = 0, json = 0, detector = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--detector") == 0) {
            detector = 1;
        } else if (strcmp(argv[i], "--cache") == 0 && i + 1 < argc) {
            cache = argv[++i];
        } else if (argv[i][0] != '-' && n < 3) {
            args[n++] = argv[i];
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (n != 3 || strcmp(args[0], "lfw") != 0) {
        fputs(usage, stderr);
        return 2;
    }
    eval_out r = {0};
    vs_err err = {{0}};
    vs_status st = score_pairs(args[1], args[2], cache, detector, &r, &err);
    if (st != VS_OK) {
        fprintf(stderr, "visage eval: %s: %s\n", vs_status_str(st), err.msg);
        return 1;
    }
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "pairs", r.n_pairs);
        cJSON_AddNumberToObject(j, "same_pairs", r.n_same);
        cJSON_AddNumberToObject(j, "threshold", r.threshold);
        cJSON_AddNumberToObject(j, "accuracy", r.acc);
        cJSON_AddNumberToObject(j, "images_without_face_pairs", r.no_face);
        cJSON *roc = cJSON_AddArrayToObject(j, "roc");
        const float far[3] = {0.001f, 0.01f, 0.1f};
        for (int i = 0; i < 3; i++) {
            cJSON *pt = cJSON_CreateObject();
            cJSON_AddNumberToObject(pt, "far", far[i]);
            cJSON_AddNumberToObject(pt, "tar", r.tar[i]);
            cJSON_AddItemToArray(roc, pt);
        }
        char *s = cJSON_Print(j);
        if (s)
            puts(s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("%d pairs (%d same): accuracy %.2f%% at the default threshold %.4f\n", r.n_pairs,
               r.n_same, 100 * r.acc, r.threshold);
        printf("TAR at FAR 0.1%% / 1%% / 10%%: %.1f%% / %.1f%% / %.1f%%\n", 100 * r.tar[0],
               100 * r.tar[1], 100 * r.tar[2]);
        if (r.no_face)
            printf("%d pairs had an image without a face (scored as different)\n", r.no_face);
    }
    return 0;
}

/*
 * eval_lfw.c - the accuracy table that chooses visage's default matcher (docs/accuracy.md).
 *
 *   build/bench/eval_lfw IMAGES_DIR TRAIN_PAIRS TEST_PAIRS [--cache DIR] [--faceapi FILE]
 *                        [--models DIR] [--repeats R] [--dump DIR] [--detector ssd|centre]
 *
 * Embeds every image with each candidate embedder (plain and mirror-averaged; landmarks and
 * vectors are cached in --cache, default /tmp/visage_lfw/cache), calibrates fusions of two and
 * three on TRAIN_PAIRS, then prints for every matcher: the threshold from TRAIN_PAIRS, accuracy
 * on TEST_PAIRS at that threshold, TAR at FAR = 0.1% and 1%, and open-set FNIR at FPIR = 1% and
 * 0.1% for galleries of 50, 200 and 1,000 people (eval.h), plus face-api's own pipeline when
 * --faceapi names tests/node/lfw_faceapi.js's output.  The default is the matcher with the lowest
 * FNIR at FPIR = 1% for 1,000 people, then for 200, then the best test accuracy.  --dump DIR
 * writes the dlib and ArcFace chips of the default matcher's misclassified test pairs as PNGs.
 * --detector ssd starts the landmarks from visage's SSD detector (the face nearest the centre)
 * instead of LFW's known face region (the default, "centre").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "face/eval.h"

#define MAX_FEATS 16
#define MAX_RESULTS 40

typedef struct run {
    vs_lfw_set *set;
    vs_lfw_pair *train, *test;
    int n_train, n_test;
    float *landmarks;
    vs_eval_feats *feats[MAX_FEATS];
    int n_feats;
    vs_eval_result res[MAX_RESULTS];
    vs_eval_scorer scorer[MAX_RESULTS];
    int n_res;
    int repeats;
} run;

static void progress(void *user, const char *what, int done, int total)
{
    (void)user;
    if (done % 500 == 0 || done == total)
        fprintf(stderr, "  %s: %d / %d\n", what, done, total);
}

static const vs_eval_feats *find_feats(const run *r, vs_embedder_id id, int mirror)
{
    for (int i = 0; i < r->n_feats; i++)
        if (r->feats[i]->id == id && r->feats[i]->mirror == mirror)
            return r->feats[i];
    return NULL;
}

static int evaluate(run *r, vs_eval_scorer *s, const char *name)
{
    vs_err err = {{0}};
    vs_eval_result *x = &r->res[r->n_res];
    memset(x, 0, sizeof *x);
    vs_status st = VS_OK;
    if (s->m.n > 1)
        st = vs_eval_calibrate(s, r->train, r->n_train, &err);
    if (st == VS_OK)
        st = vs_eval_verify(s, r->train, r->n_train, r->test, r->n_test, x, &err);
    if (st == VS_OK)
        st = vs_eval_openset(s, r->set, r->repeats, x, &err);
    if (st != VS_OK) {
        fprintf(stderr, "eval %s: %s: %s\n", name, vs_status_str(st), err.msg);
        return 1;
    }
    if (name)
        snprintf(x->name, sizeof x->name, "%s", name);
    else
        vs_matcher_describe(&s->m, x->name, sizeof x->name);
    r->scorer[r->n_res++] = *s;
    fprintf(stderr, "  %-60s test %.2f%%  FNIR@1%% 1000: %.1f%%\n", x->name, 100 * x->test_acc,
            100 * x->fnir_fpir01[2]);
    return 0;
}

static int eval_single(run *r, vs_embedder_id id, int mirror)
{
    const vs_eval_feats *f = find_feats(r, id, mirror);
    if (!f)
        return 0;
    vs_eval_scorer s;
    memset(&s, 0, sizeof s);
    vs_matcher_single(&s.m, id, mirror);
    s.f[0] = f;
    return evaluate(r, &s, NULL);
}

static int eval_fusion(run *r, const vs_embedder_id *ids, int n)
{
    vs_eval_scorer s;
    memset(&s, 0, sizeof s);
    s.m.n = n;
    for (int k = 0; k < n; k++) {
        s.m.id[k] = ids[k];
        s.m.mirror[k] = 1;
        s.f[k] = find_feats(r, ids[k], 1);
        if (!s.f[k])
            return 0;
    }
    return evaluate(r, &s, NULL);
}

static int better(const vs_eval_result *a, const vs_eval_result *b)
{
    if (a->fnir_fpir01[2] != b->fnir_fpir01[2])
        return a->fnir_fpir01[2] < b->fnir_fpir01[2];
    if (a->fnir_fpir01[1] != b->fnir_fpir01[1])
        return a->fnir_fpir01[1] < b->fnir_fpir01[1];
    return a->test_acc > b->test_acc;
}

static void save_chip(const char *dir, const char *tag, int img_idx, const run *r,
                      vs_align_template t)
{
    vs_image *img = NULL, *chip = NULL;
    vs_lm68 lm;
    memcpy(lm.pt, r->landmarks + (size_t)img_idx * 136, sizeof lm.pt);
    int size = vs_align_size(t);
    if (vs_img_load(r->set->path[img_idx], NULL, &img, NULL) == VS_OK &&
        vs_image_new(size, size, 3, &chip, NULL) == VS_OK &&
        vs_align_chip(img, t, &lm, chip, NULL) == VS_OK) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s_%d_%s.png", dir, tag, size,
                 r->set->name[r->set->person[img_idx]]);
        vs_img_save_png(chip, p, NULL);
    }
    vs_image_free(chip);
    vs_image_free(img);
}

static void dump_failures(const run *r, int best, const char *dir)
{
    mkdir(dir, 0755);
    const vs_eval_scorer *s = &r->scorer[best];
    float t = r->res[best].threshold;
    int k = 0;
    for (int i = 0; i < r->n_test; i++) {
        const vs_lfw_pair *p = &r->test[i];
        float sc = vs_eval_score(s, p->a, p->b);
        if ((sc >= t) == (p->same != 0))
            continue;
        char tag[64];
        snprintf(tag, sizeof tag, "%02d_%s_%.2f", k++, p->same ? "same" : "diff", sc);
        printf("failure %s: %s | %s\n", tag, r->set->path[p->a], r->set->path[p->b]);
        for (int j = 0; j < 2; j++) {
            char tj[80];
            snprintf(tj, sizeof tj, "%s_%c", tag, 'a' + j);
            save_chip(dir, tj, j ? p->b : p->a, r, VS_ALIGN_DLIB_150);
            save_chip(dir, tj, j ? p->b : p->a, r, VS_ALIGN_ARCFACE_112);
        }
    }
}

static int load_inputs(run *r, char **argv, const char *faceapi, vs_eval_opts *o)
{
    vs_err err = {{0}};
    vs_status st = vs_lfw_set_load(argv[1], &r->set, &err);
    if (st == VS_OK)
        st = vs_lfw_pairs_load(argv[2], r->set, &r->train, &r->n_train, &err);
    if (st == VS_OK)
        st = vs_lfw_pairs_load(argv[3], r->set, &r->test, &r->n_test, &err);
    if (st == VS_OK) {
        fprintf(stderr, "%d images of %d people; %d train and %d test pairs\n", r->set->n_images,
                r->set->n_people, r->n_train, r->n_test);
        st = vs_eval_landmarks(r->set, o, &r->landmarks, &err);
    }
    for (vs_embedder_id id = VS_EMB_FACE_RECOGNITION; st == VS_OK && id < VS_EMB_COUNT; id++) {
        vs_eval_feats *a = NULL, *b = NULL;
        st = vs_eval_embed(r->set, r->landmarks, id, o, &a, &b, &err);
        if (st == VS_OK) {
            r->feats[r->n_feats++] = a;
            r->feats[r->n_feats++] = b;
        } else {
            fprintf(stderr, "skipping %s: %s: %s\n", vs_embedder_name(id), vs_status_str(st),
                    err.msg);
            st = VS_OK;
        }
    }
    if (st == VS_OK && faceapi) {
        vs_eval_feats *f = NULL;
        st = vs_eval_feats_read_faceapi(faceapi, r->set, &f, &err);
        if (st == VS_OK)
            r->feats[r->n_feats++] = f;
    }
    if (st != VS_OK)
        fprintf(stderr, "eval_lfw: %s: %s\n", vs_status_str(st), err.msg);
    return st != VS_OK;
}

static void run_all(run *r)
{
    for (int i = 0; i < r->n_feats; i++)
        if (r->feats[i]->id == VS_EMB_NONE) {
            vs_eval_scorer s;
            memset(&s, 0, sizeof s);
            vs_matcher_single(&s.m, VS_EMB_NONE, 0);
            s.f[0] = r->feats[i];
            evaluate(r, &s, "face-api's own pipeline (Node, SSD + 68 landmarks + descriptor)");
        }
    for (vs_embedder_id id = VS_EMB_FACE_RECOGNITION; id < VS_EMB_COUNT; id++)
        for (int m = 0; m <= 1; m++)
            eval_single(r, id, m);
    vs_embedder_id all[4] = {VS_EMB_FACE_RECOGNITION, VS_EMB_FR_FEATURE, VS_EMB_FACERES,
                             VS_EMB_MOBILEFACE};
    for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++)
            eval_fusion(r, (vs_embedder_id[]){all[a], all[b]}, 2);
    for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++)
            for (int c = b + 1; c < 4; c++)
                eval_fusion(r, (vs_embedder_id[]){all[a], all[b], all[c]}, 3);
}

int main(int argc, char **argv)
{
    const char *cache = "/tmp/visage_lfw/cache", *faceapi = NULL, *models = NULL, *dump = NULL;
    int detector = 0;
    run r;
    memset(&r, 0, sizeof r);
    r.repeats = 5;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--cache") == 0)
            cache = argv[i + 1];
        else if (strcmp(argv[i], "--faceapi") == 0)
            faceapi = argv[i + 1];
        else if (strcmp(argv[i], "--models") == 0)
            models = argv[i + 1];
        else if (strcmp(argv[i], "--repeats") == 0)
            r.repeats = (int)strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--dump") == 0)
            dump = argv[i + 1];
        else if (strcmp(argv[i], "--detector") == 0)
            detector = strcmp(argv[i + 1], "ssd") == 0;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: eval_lfw IMAGES_DIR TRAIN_PAIRS TEST_PAIRS [--cache DIR] "
                        "[--faceapi FILE] [--models DIR] [--repeats R] [--dump DIR] "
                        "[--detector ssd|centre]\n");
        return 2;
    }
    mkdir(cache, 0755);
    vs_eval_opts o = {.models_dir = models,
                      .cache_dir = cache,
                      .threads = 1,
                      .progress = progress,
                      .use_detector = detector};
    int rc = load_inputs(&r, argv, faceapi, &o);
    if (rc == 0) {
        run_all(&r);
        int best = -1;
        for (int i = 0; i < r.n_res; i++)
            if (r.scorer[i].f[0]->id != VS_EMB_NONE &&
                (best < 0 || better(&r.res[i], &r.res[best])))
                best = i;
        static char table[32768];
        vs_eval_format_table(r.res, r.n_res, table, sizeof table);
        printf("%s\n", table);
        if (best >= 0) {
            printf("default matcher: %s (threshold %.4f)\n", r.res[best].name,
                   r.res[best].threshold);
            printf("calibration: ");
            for (int k = 0; k < r.scorer[best].m.n; k++)
                printf("%s mu %.4f sigma %.4f w %.2f; ", vs_embedder_name(r.scorer[best].m.id[k]),
                       r.scorer[best].m.mu[k], r.scorer[best].m.sigma[k], r.scorer[best].m.w[k]);
            printf("\n");
            if (dump)
                dump_failures(&r, best, dump);
        }
    }
    for (int i = 0; i < r.n_feats; i++)
        vs_eval_feats_free(r.feats[i]);
    free(r.landmarks);
    free(r.train);
    free(r.test);
    vs_lfw_set_free(r.set);
    return rc;
}

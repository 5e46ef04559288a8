/*
 * openset.c - open-set identification on LFW the way the product decides: the default matcher
 * at the threshold the service computes for the gallery's size (src/app/calib.c), against
 * face-api's own pipeline (tests/node/lfw_faceapi.js output) at the threshold that gives it
 * FPIR = 1% on these very strangers (an oracle threshold: it flatters face-api).
 *
 *   build/bench/openset LFW_IMAGES_DIR CACHE_DIR [FACEAPI_BIN]
 *
 * Protocol (NIST's terms): gallery = the first photo of every person with >= 2 photos; mated
 * probes = their other photos; non-mated probes = every person with exactly one photo (never
 * enrolled).  FPIR = share of non-mated probes whose best gallery score >= t; FNIR = share of
 * mated probes whose own person is not the rank-1 answer with score >= t.
 * Templates: people with >= 4 photos enrol their first 3; probes are their other photos; the
 * template's score is the best of its faces ("best") or the cosine fusion against the mean of
 * its faces' vectors ("mean").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/calib.h"
#include "face/face.h"

typedef struct protocol {
    int n_gallery; /* persons */
    int *g_first;  /* first gallery image of each gallery person */
    int *g_count;  /* gallery images per person (1..3) */
    int *g_person; /* the LFW person index */
    int n_mated, n_non;
    int *mated, *mated_owner; /* probe image, its gallery slot */
    int *non;
} protocol;

static void protocol_build(const vs_lfw_set *s, int per_person, int min_photos, protocol *p)
{
    memset(p, 0, sizeof *p);
    int cap = s->n_images;
    p->g_first = malloc(cap * sizeof(int));
    p->g_count = malloc(cap * sizeof(int));
    p->g_person = malloc(cap * sizeof(int));
    p->mated = malloc(cap * sizeof(int));
    p->mated_owner = malloc(cap * sizeof(int));
    p->non = malloc(cap * sizeof(int));
    for (int q = 0; q < s->n_people; q++) {
        if (s->count[q] == 1) {
            p->non[p->n_non++] = s->first[q];
            continue;
        }
        if (s->count[q] < min_photos)
            continue;
        int g = p->n_gallery++;
        p->g_first[g] = s->first[q];
        p->g_count[g] = per_person;
        p->g_person[g] = q;
        for (int k = per_person; k < s->count[q]; k++) {
            p->mated[p->n_mated] = s->first[q] + k;
            p->mated_owner[p->n_mated++] = g;
        }
    }
}

static int use_mean; /* template = mean vector instead of best face */

/* Fused score of probe a against the mean of slot g's vectors (per net, re-normalised). */
static float mean_score(const vs_eval_scorer *sc, const protocol *p, int a, int g)
{
    float cos[VS_MATCH_MAX];
    for (int k = 0; k < sc->m.n; k++) {
        const vs_eval_feats *f = sc->f[k];
        if (!f->ok[a])
            return -INFINITY;
        double dot = 0, norm = 0;
        for (int d = 0; d < f->dim; d++) {
            double m = 0;
            for (int j = 0; j < p->g_count[g]; j++)
                if (f->ok[p->g_first[g] + j])
                    m += f->v[(size_t)(p->g_first[g] + j) * f->dim + d];
            dot += m * f->v[(size_t)a * f->dim + d];
            norm += m * m;
        }
        if (norm <= 0)
            return -INFINITY;
        cos[k] = (float)(dot / sqrt(norm));
    }
    return vs_matcher_fuse(&sc->m, cos);
}

/* Score of probe image a against gallery slot g: best of the slot's faces. */
static float slot_score(const vs_eval_scorer *sc, const protocol *p, int a, int g)
{
    if (use_mean)
        return mean_score(sc, p, a, g);
    float best = -INFINITY;
    for (int k = 0; k < p->g_count[g]; k++) {
        float s = vs_eval_score(sc, a, p->g_first[g] + k);
        if (s > best)
            best = s;
    }
    return best;
}

/* Best and second slot of a probe. */
static void search(const vs_eval_scorer *sc, const protocol *p, int a, int *top, float *score)
{
    *top = -1;
    *score = -INFINITY;
    for (int g = 0; g < p->n_gallery; g++) {
        float s = slot_score(sc, p, a, g);
        if (s > *score) {
            *score = s;
            *top = g;
        }
    }
}

typedef struct outcome {
    float t, fpir, fnir, rank1;
} outcome;

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Scores every probe once; then FNIR/FPIR at threshold t (t = NAN: the oracle threshold for
 * the target FPIR on these non-mated scores). */
static outcome run(const vs_eval_scorer *sc, const protocol *p, float t, float target)
{
    float *non = malloc((size_t)p->n_non * sizeof *non);
    float *ms = malloc((size_t)p->n_mated * sizeof *ms);
    int *hit = malloc((size_t)p->n_mated * sizeof *hit);
    int g;
    for (int i = 0; i < p->n_non; i++)
        search(sc, p, p->non[i], &g, &non[i]);
    int r1 = 0;
    for (int i = 0; i < p->n_mated; i++) {
        search(sc, p, p->mated[i], &g, &ms[i]);
        hit[i] = g == p->mated_owner[i];
        r1 += hit[i];
    }
    if (isnan(t)) {
        float *sorted = malloc((size_t)p->n_non * sizeof *sorted);
        memcpy(sorted, non, (size_t)p->n_non * sizeof *sorted);
        qsort(sorted, (size_t)p->n_non, sizeof *sorted, cmp_desc);
        int allowed = (int)floorf(target * (float)p->n_non);
        t = nextafterf(sorted[allowed], INFINITY); /* only `allowed` strangers at or above */
        free(sorted);
    }
    int fp = 0, miss = 0;
    for (int i = 0; i < p->n_non; i++)
        fp += non[i] >= t;
    for (int i = 0; i < p->n_mated; i++)
        miss += !(hit[i] && ms[i] >= t);
    outcome o = {t, (float)fp / (float)p->n_non, (float)miss / (float)p->n_mated,
                 (float)r1 / (float)p->n_mated};
    free(non);
    free(ms);
    free(hit);
    return o;
}

static void print_row(const char *name, const protocol *p, outcome a, outcome b)
{
    printf("| %s | %d | %d / %d | %.1f%% | %.4g | %.2f%% | **%.1f%%** | %.4g | %.2f%% | %.1f%% |\n",
           name, p->n_gallery, p->n_mated, p->n_non, 100 * a.rank1, a.t, 100 * a.fpir, 100 * a.fnir,
           b.t, 100 * b.fpir, 100 * b.fnir);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: openset LFW_IMAGES_DIR CACHE_DIR [FACEAPI_BIN]\n");
        return 2;
    }
    vs_err err = {{0}};
    vs_lfw_set *set;
    float *lm;
    vs_eval_opts o = {.cache_dir = argv[2], .threads = 1};
    if (vs_lfw_set_load(argv[1], &set, &err) || vs_eval_landmarks(set, &o, &lm, &err)) {
        fprintf(stderr, "openset: %s\n", err.msg);
        return 1;
    }
    vs_eval_scorer ours = {0};
    float verify_t;
    vs_matcher_default(&ours.m, &verify_t);
    vs_eval_feats *f[VS_MATCH_MAX] = {0};
    for (int k = 0; k < ours.m.n; k++) {
        if (vs_eval_embed(set, lm, ours.m.id[k], &o, NULL, &f[k], &err)) {
            fprintf(stderr, "openset: %s\n", err.msg);
            return 1;
        }
        ours.f[k] = f[k];
    }
    vs_eval_feats *fa = NULL;
    vs_eval_scorer theirs = {0};
    if (argc > 3 && vs_eval_feats_read_faceapi(argv[3], set, &fa, &err) == VS_OK) {
        vs_matcher_single(&theirs.m, VS_EMB_NONE, 0);
        theirs.f[0] = fa;
    } else if (argc > 3) {
        fprintf(stderr, "openset: face-api features: %s\n", err.msg);
    }
    printf("| gallery | people | mated / non-mated probes | rank-1 | product t(N) at FPIR 1%% | "
           "FPIR | FNIR | t(N) at 0.1%% | FPIR | FNIR |\n|---|---:|---:|---:|---:|---:|---:|---:|"
           "---:|---:|\n");
    protocol one, three;
    protocol_build(set, 1, 2, &one);
    protocol_build(set, 3, 4, &three);
    const protocol *ps[2] = {&one, &three};
    const char *names[2] = {"1 photo per person", "3 photos per person (>= 4 photos)"};
    for (int i = 0; i < 2; i++) {
        size_t faces = 0;
        for (int g = 0; g < ps[i]->n_gallery; g++)
            faces += (size_t)ps[i]->g_count[g];
        outcome a = run(&ours, ps[i], vs_calib_threshold(faces, 0.01f), 0);
        outcome b = run(&ours, ps[i], vs_calib_threshold(faces, 0.001f), 0);
        char label[160];
        snprintf(label, sizeof label, "visage, %s%s", names[i], i ? ", best face" : "");
        print_row(label, ps[i], a, b);
        if (i) {
            use_mean = 1;
            a = run(&ours, ps[i], vs_calib_threshold(faces, 0.01f), 0);
            b = run(&ours, ps[i], vs_calib_threshold(faces, 0.001f), 0);
            use_mean = 0;
            snprintf(label, sizeof label, "visage, %s, mean template", names[i]);
            print_row(label, ps[i], a, b);
        }
        if (fa) {
            outcome c = run(&theirs, ps[i], NAN, 0.01f), d = run(&theirs, ps[i], NAN, 0.001f);
            snprintf(label, sizeof label, "face-api (Node), %s, oracle threshold", names[i]);
            print_row(label, ps[i], c, d);
        }
    }
    return 0;
}

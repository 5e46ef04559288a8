/*
 * match.c - scores of face pairs: cosine for one embedder, impostor-normalised weighted sums for
 * fusions, and the calibration of those fusions on labelled pairs (see match.h).
 *
 * Why z-scores against impostors: the cosines of different nets live on different scales
 * (face_recognition's strangers sit near 0.85, fr_feature's near 0.0), so a raw average lets the
 * wider net dominate.  Normalising by the impostor distribution puts "how unusual is this
 * similarity for two strangers" on one scale, which is also what an open-set threshold is about.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face/match.h"

void vs_matcher_single(vs_matcher *m, vs_embedder_id id, int mirror)
{
    memset(m, 0, sizeof *m);
    m->n = 1;
    m->id[0] = id;
    m->mirror[0] = mirror ? 1 : 0;
    m->mu[0] = 0.0f;
    m->sigma[0] = 1.0f;
    m->w[0] = 1.0f;
}

/*
 * The default: face_recognition and fr_feature, both mirror-averaged, fused half and half.  On LFW
 * (docs/accuracy.md, bench/eval_lfw.c) it has the lowest open-set FNIR at FPIR = 1% for 200 and
 * 1,000 people (4.4% / 8.3%, against 5.8% / 9.2% for fr_feature alone) and 99.2% on
 * pairsDevTest.  mu and sigma are the impostor cosine statistics of pairsDevTrain's 1,100
 * different-person pairs, the threshold the one that classifies pairsDevTrain best.
 */
void vs_matcher_default(vs_matcher *m, float *threshold)
{
    memset(m, 0, sizeof *m);
    m->n = 2;
    m->id[0] = VS_EMB_FACE_RECOGNITION;
    m->id[1] = VS_EMB_FR_FEATURE;
    m->mirror[0] = m->mirror[1] = 1;
    m->mu[0] = 0.8370f;
    m->sigma[0] = 0.0349f;
    m->mu[1] = 0.0075f;
    m->sigma[1] = 0.0983f;
    m->w[0] = m->w[1] = 0.5f;
    *threshold = 2.6470f;
}

float vs_cosine(const float *a, const float *b, int dim)
{
    float s = 0;
    for (int i = 0; i < dim; i++)
        s += a[i] * b[i];
    return s;
}

float vs_matcher_fuse(const vs_matcher *m, const float *cos)
{
    float s = 0;
    for (int k = 0; k < m->n; k++)
        s += m->w[k] * (cos[k] - m->mu[k]) / m->sigma[k];
    return s;
}

vs_status vs_match_score(const vs_matcher *m, const vs_embedding *const *a,
                         const vs_embedding *const *b, float *score, vs_err *err)
{
    if (!m || !a || !b || !score || m->n < 1 || m->n > VS_MATCH_MAX)
        return vs_err_set(err, VS_INVAL, "match: missing argument");
    float cos[VS_MATCH_MAX];
    for (int k = 0; k < m->n; k++) {
        const vs_embedding *x = a[k], *y = b[k];
        int dim = vs_embedder_dim(m->id[k]);
        if (!x || !y || x->id != m->id[k] || y->id != m->id[k] || x->dim != dim || y->dim != dim ||
            x->mirrored != m->mirror[k] || y->mirrored != m->mirror[k])
            return vs_err_set(err, VS_INVAL, "match: embedding %d is not %s%s", k,
                              vs_embedder_name(m->id[k]), m->mirror[k] ? "+mirror" : "");
        cos[k] = vs_cosine(x->v, y->v, dim);
    }
    *score = vs_matcher_fuse(m, cos);
    return VS_OK;
}

typedef struct scored {
    float s;
    int same;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

vs_status vs_match_best_threshold(const float *score, const int *same, int n, float *thr,
                                  float *acc, vs_err *err)
{
    if (!score || !same || n < 1)
        return vs_err_set(err, VS_INVAL, "threshold: no pairs");
    scored *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return vs_err_set(err, VS_NOMEM, "threshold");
    int n_same = 0;
    for (int i = 0; i < n; i++) {
        v[i].s = score[i];
        v[i].same = same[i] != 0;
        n_same += v[i].same;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_scored);
    /* Threshold below v[i]: pairs 0..i-1 say "different", i..n-1 say "same". */
    int right = n_same, best = right;
    float best_t = v[0].s - 1e-3f;
    for (int i = 1; i <= n; i++) {
        right += v[i - 1].same ? -1 : 1;
        if (i < n && v[i].s == v[i - 1].s)
            continue;
        if (right > best) {
            best = right;
            best_t = i < n ? 0.5f * (v[i - 1].s + v[i].s) : v[n - 1].s + 1e-3f;
        }
    }
    free(v);
    *thr = best_t;
    *acc = (float)best / (float)n;
    return VS_OK;
}

static void mean_sd(const float *x, int stride, int k, const int *same, int want, int n, double *mu,
                    double *sd)
{
    double s = 0, s2 = 0;
    int c = 0;
    for (int i = 0; i < n; i++) {
        if ((same[i] != 0) != want)
            continue;
        double v = x[(size_t)i * stride + k];
        s += v;
        s2 += v * v;
        c++;
    }
    *mu = c ? s / c : 0;
    *sd = c > 1 ? sqrt(fmax(0.0, (s2 - s * s / c) / (c - 1))) : 0;
}

/* Accuracy at the best threshold and d' of the fused scores under m. */
static vs_status judge(const vs_matcher *m, const float *cos, const int *same, int n, float *buf,
                       float *acc, double *dprime, vs_err *err)
{
    for (int i = 0; i < n; i++)
        buf[i] = vs_matcher_fuse(m, cos + (size_t)i * m->n);
    float t;
    vs_status st = vs_match_best_threshold(buf, same, n, &t, acc, err);
    if (st != VS_OK)
        return st;
    double mg, sg, mi, si;
    mean_sd(buf, 1, 0, same, 1, n, &mg, &sg);
    mean_sd(buf, 1, 0, same, 0, n, &mi, &si);
    *dprime = (mg - mi) / sqrt(fmax(1e-12, 0.5 * (sg * sg + si * si)));
    return VS_OK;
}

vs_status vs_matcher_calibrate(vs_matcher *m, const float *cos, const int *same, int n_pairs,
                               vs_err *err)
{
    if (!m || !cos || !same || m->n < 1 || m->n > VS_MATCH_MAX)
        return vs_err_set(err, VS_INVAL, "calibrate: missing argument");
    if (m->n == 1)
        return VS_OK;
    int n_same = 0;
    for (int i = 0; i < n_pairs; i++)
        n_same += same[i] != 0;
    if (n_same < 2 || n_pairs - n_same < 2)
        return vs_err_set(err, VS_INVAL, "calibrate: need 2 genuine and 2 impostor pairs");
    for (int k = 0; k < m->n; k++) {
        double mu, sd;
        mean_sd(cos, m->n, k, same, 0, n_pairs, &mu, &sd);
        if (!(sd > 0))
            return vs_err_set(err, VS_INVAL, "calibrate: %s impostor cosines do not vary",
                              vs_embedder_name(m->id[k]));
        m->mu[k] = (float)mu;
        m->sigma[k] = (float)sd;
    }
    float *buf = malloc((size_t)n_pairs * sizeof *buf);
    if (!buf)
        return vs_err_set(err, VS_NOMEM, "calibrate");
    const int steps = 20;
    vs_matcher best = *m, t = *m;
    float best_acc = -1;
    double best_d = -1e30;
    vs_status st = VS_OK;
    for (int a = 0; a <= steps && st == VS_OK; a++) {
        for (int b = 0; b <= steps - a && st == VS_OK; b++) {
            if (m->n == 2 && a + b != steps)
                continue;
            t.w[0] = (float)a / steps;
            t.w[1] = (float)b / steps;
            if (m->n == 3)
                t.w[2] = (float)(steps - a - b) / steps;
            float acc;
            double d;
            st = judge(&t, cos, same, n_pairs, buf, &acc, &d, err);
            if (st == VS_OK && (acc > best_acc || (acc == best_acc && d > best_d))) {
                best = t;
                best_acc = acc;
                best_d = d;
            }
        }
    }
    free(buf);
    if (st == VS_OK)
        *m = best;
    return st;
}

void vs_matcher_describe(const vs_matcher *m, char *buf, size_t n)
{
    size_t len = 0;
    if (n == 0)
        return;
    buf[0] = 0;
    for (int k = 0; k < m->n && len < n; k++) {
        int w = snprintf(buf + len, n - len, "%s%s%s", k ? " + " : "", vs_embedder_name(m->id[k]),
                         m->mirror[k] ? "(mirror)" : "");
        len += w > 0 ? (size_t)w : 0;
    }
    if (m->n > 1 && len < n) {
        int w = snprintf(buf + len, n - len, " [w");
        len += w > 0 ? (size_t)w : 0;
        for (int k = 0; k < m->n && len < n; k++) {
            w = snprintf(buf + len, n - len, " %.2f", m->w[k]);
            len += w > 0 ? (size_t)w : 0;
        }
        if (len < n)
            snprintf(buf + len, n - len, "]");
    }
}

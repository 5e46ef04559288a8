/*
 * match.h - how similar two faces are under a matcher: one embedder, or a fusion of two or three
 * (private to src/face/; the gallery search calls it).
 *
 * A matcher names up to VS_MATCH_MAX embedders (each with or without mirror averaging).  For one
 * embedder the score is the plain cosine of the two unit vectors.  For a fusion each model's
 * cosine is first put on a common scale, a z-score against that model's impostor (different-
 * person) distribution learned on training pairs, z_k = (cos_k - mu_k) / sigma_k, and the score
 * is sum_k w_k z_k with weights summing to 1: a score of 0 is "as similar as a typical stranger",
 * 5 is five impostor standard deviations above it.  vs_matcher_calibrate learns mu, sigma and w
 * from labelled training pairs (LFW's pairsDevTrain).  Thresholds are in the matcher's own units
 * (cosine for one model, impostor sigmas for a fusion) and come from the evaluation (eval.h).
 */
#ifndef VS_FACE_MATCH_H
#define VS_FACE_MATCH_H

#include "face/embed.h"

#define VS_MATCH_MAX 3

typedef struct vs_matcher {
    int n; /* 1..VS_MATCH_MAX embedders */
    vs_embedder_id id[VS_MATCH_MAX];
    int mirror[VS_MATCH_MAX];
    float mu[VS_MATCH_MAX], sigma[VS_MATCH_MAX]; /* impostor cosine mean, standard deviation */
    float w[VS_MATCH_MAX];                       /* weights, sum 1 */
} vs_matcher;

/* A single-model matcher: the score is the cosine (mu 0, sigma 1, w 1). */
void vs_matcher_single(vs_matcher *m, vs_embedder_id id, int mirror);

/*
 * visage's default matcher and its decision threshold (in the matcher's units), as chosen and
 * calibrated by the LFW measurement in docs/accuracy.md (bench/eval_lfw.c prints these values).
 */
void vs_matcher_default(vs_matcher *m, float *threshold);

/* Cosine of two vectors of length dim (unit vectors: their dot product). */
float vs_cosine(const float *a, const float *b, int dim);

/* The matcher's score from its n per-model cosines (in the matcher's order). */
float vs_matcher_fuse(const vs_matcher *m, const float *cos);

/*
 * Score of two faces, each given as the matcher's n embeddings in order (a[k], b[k] made by
 * m->id[k], with m->mirror[k]).  Errors: VS_INVAL (an embedding of another model, another
 * dimension or another mirror setting: vectors of different models never compare).
 */
vs_status vs_match_score(const vs_matcher *m, const vs_embedding *const *a,
                         const vs_embedding *const *b, float *score, vs_err *err);

/*
 * Learns mu, sigma (from the impostor pairs) and the weights (a grid over the simplex in steps of
 * 0.05, keeping the weights whose best threshold classifies the most training pairs right, ties
 * broken by the larger separation d' between genuine and impostor scores).
 *   cos   n_pairs x m->n cosines, row-major, in the matcher's order
 *   same  1 for a genuine (same person) pair, 0 for an impostor pair
 * A single-model matcher is left as it is.  Errors: VS_INVAL (fewer than 2 pairs of each kind,
 * or an impostor sigma of 0).
 */
vs_status vs_matcher_calibrate(vs_matcher *m, const float *cos, const int *same, int n_pairs,
                               vs_err *err);

/*
 * The threshold that classifies the most pairs right ("same" when score >= t; t is the midpoint
 * between two neighbouring sorted scores) and that accuracy (0..1).  Sorts a copy of the scores.
 * Errors: VS_INVAL (n < 1), VS_NOMEM.
 */
vs_status vs_match_best_threshold(const float *score, const int *same, int n, float *thr,
                                  float *acc, vs_err *err);

/* "face_recognition+mirror", "fr_feature+faceres (0.60/0.40)"... into buf (always terminated). */
void vs_matcher_describe(const vs_matcher *m, char *buf, size_t n);

#endif

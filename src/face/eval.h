/*
 * eval.h - accuracy measurement on LFW-style data: verification on pairs files and open-set
 * identification, for single embedders and fusions (the CLI's `visage eval lfw DIR PAIRS` and
 * bench/eval_lfw.c call it; nothing here prints).
 *
 * Data: DIR/<person>/<person>_NNNN.jpg (LFW layout).  Images are indexed in sorted order (person
 * folders by name, then files by name, byte order), the order tests/node/lfw_faceapi.js uses too.
 *
 * Protocols:
 *   verification  a threshold is chosen on the training pairs (the one that classifies the most
 *                 right), then accuracy is measured on the test pairs at that threshold; TAR at
 *                 FAR = 0.1% on the test pairs uses the test impostors' own score distribution
 *                 (the threshold above all but floor(0.001 * impostors) of them).
 *   open set      N people drawn from those with 2 or more photos (sorted by name, a seeded
 *                 Fisher-Yates draw); gallery = each drawn person's first photo; mated probes =
 *                 their other photos; non-mated probes = every person with exactly one photo
 *                 (never enrolled).  At threshold t, FPIR = share of non-mated probes whose best
 *                 gallery score >= t, FNIR = share of mated probes whose own person is not the
 *                 rank-1 answer with score >= t.  t is set for a target FPIR on the non-mated
 *                 scores themselves; results are averaged over several draws (seeds 1..R).
 * A missing face (no vector for an image) scores -infinity against everything: a pair with it is
 * "different", a probe without a face is neither a false positive nor a hit.
 */
#ifndef VS_FACE_EVAL_H
#define VS_FACE_EVAL_H

#include "face/match.h"

/* ---- the data set ------------------------------------------------------------------------ */

typedef struct vs_lfw_set {
    int n_images, n_people;
    char **path;   /* n_images full paths */
    int *person;   /* n_images: person index */
    char **name;   /* n_people names (folder names) */
    int *first;    /* n_people: index of the person's first image */
    int *count;    /* n_people: images of the person */
    unsigned hash; /* FNV-1a of the relative paths: ties caches to this exact list */
} vs_lfw_set;

/* Scans dir.  Errors: VS_IO (unreadable dir), VS_NOTFOUND (no images), VS_NOMEM. */
vs_status vs_lfw_set_load(const char *dir, vs_lfw_set **out, vs_err *err);
void vs_lfw_set_free(vs_lfw_set *s);

typedef struct vs_lfw_pair {
    int a, b; /* image indices */
    int same; /* 1 genuine, 0 impostor */
} vs_lfw_pair;

/* Parses an LFW pairs file ("N" or "sets N" header, then "name n1 n2" and "name1 n1 name2 n2"
 * lines).  *out is malloc'ed (free()).  Errors: VS_IO, VS_FORMAT (bad line, with its number),
 * VS_NOTFOUND (a pair names an image not in the set), VS_NOMEM. */
vs_status vs_lfw_pairs_load(const char *path, const vs_lfw_set *set, vs_lfw_pair **out, int *n,
                            vs_err *err);

/* ---- vectors of every image ------------------------------------------------------------- */

typedef enum { VS_EVAL_COSINE = 0, VS_EVAL_NEG_L2 } vs_eval_metric;

/* One vector per image for one way of embedding (an embedder with or without mirror, or an
 * external pipeline read from a file). */
typedef struct vs_eval_feats {
    char name[48];
    vs_embedder_id id; /* VS_EMB_NONE for an external pipeline */
    int mirror;
    int dim;
    vs_eval_metric metric;
    float *v;    /* n_images x dim */
    uint8_t *ok; /* n_images: 1 when the image has a vector */
} vs_eval_feats;

void vs_eval_feats_free(vs_eval_feats *f);

/* Progress callback: called after every image with (done, total); may be NULL. */
typedef void (*vs_eval_progress)(void *user, const char *what, int done, int total);

typedef struct vs_eval_opts {
    const char *models_dir; /* NULL: engine default */
    const char *cache_dir;  /* NULL: no cache; else landmarks and vectors are kept there */
    int threads;            /* engine threads (1) */
    int use_detector;       /* 1: start landmarks from visage's SSD detector (the face nearest
                               the image centre), 0: from LFW's known face region */
    vs_eval_progress progress;
    void *user;
} vs_eval_opts;

/*
 * The 68 landmarks of the face of every image (n_images x 136 floats, NaN when none), computed
 * once and cached: face-api's face_landmark_68 on the LFW crop's known face region (or on the
 * detector's box, see use_detector), run twice (the second time on the box the first pass's
 * landmarks imply).  *out is malloc'ed.
 */
vs_status vs_eval_landmarks(const vs_lfw_set *set, const vs_eval_opts *o, float **out, vs_err *err);

/* The landmarks eval uses for one LFW-style image without a detector: face_landmark_68 on the
 * central face region, then again on the box those landmarks imply. */
vs_status vs_eval_centre_landmarks(vs_landmarker *lm, const vs_image *img, vs_lm68 *out,
                                   vs_err *err);

/*
 * Embeds every image with embedder id, plain and mirror-averaged (the net runs on the chip and
 * its flip once; both results are cached).  plain, mirror: OUT, either may be NULL.
 */
vs_status vs_eval_embed(const vs_lfw_set *set, const float *landmarks, vs_embedder_id id,
                        const vs_eval_opts *o, vs_eval_feats **plain, vs_eval_feats **mirror,
                        vs_err *err);

/* Reads tests/node/lfw_faceapi.js's output (face-api's own pipeline; -L2 distance). */
vs_status vs_eval_feats_read_faceapi(const char *path, const vs_lfw_set *set, vs_eval_feats **out,
                                     vs_err *err);

/* ---- scoring and metrics ---------------------------------------------------------------- */

/* A matcher over feats: f[k] holds the vectors for m.id[k] (external feats: n = 1). */
typedef struct vs_eval_scorer {
    vs_matcher m;
    const vs_eval_feats *f[VS_MATCH_MAX];
} vs_eval_scorer;

/* Score of images a and b (-INFINITY when either has no vector). */
float vs_eval_score(const vs_eval_scorer *s, int a, int b);

/* Calibrates a fusion scorer's matcher on the pairs (vs_matcher_calibrate on their cosines;
 * pairs with a missing vector are left out). */
vs_status vs_eval_calibrate(vs_eval_scorer *s, const vs_lfw_pair *p, int n, vs_err *err);

#define VS_EVAL_N_GALLERY 3 /* gallery sizes 50, 200, 1000 */

typedef struct vs_eval_result {
    char name[128];
    float threshold;  /* from the training pairs */
    float train_acc;  /* at that threshold */
    float test_acc;   /* test pairs at the training threshold */
    float tar_far001; /* test pairs: TAR at FAR = 0.1% */
    float tar_far01;  /* test pairs: TAR at FAR = 1% */
    int gallery[VS_EVAL_N_GALLERY];
    float fnir_fpir01[VS_EVAL_N_GALLERY];  /* FNIR at FPIR = 1% */
    float fnir_fpir001[VS_EVAL_N_GALLERY]; /* FNIR at FPIR = 0.1% */
    float rank1[VS_EVAL_N_GALLERY];        /* rank-1 hit rate of mated probes, no threshold */
    int n_test_wrong;                      /* test pairs misclassified */
} vs_eval_result;

/* TAR at the threshold that lets through floor(far * impostors) impostors (0..1). */
float vs_eval_tar_at_far(const float *score, const int *same, int n, float far);

/* Verification fields of r from training and test pairs. */
vs_status vs_eval_verify(const vs_eval_scorer *s, const vs_lfw_pair *train, int n_train,
                         const vs_lfw_pair *test, int n_test, vs_eval_result *r, vs_err *err);

/* Open-set fields of r, galleries of 50, 200, 1000 people (capped at the number available),
 * averaged over `repeats` seeded draws. */
vs_status vs_eval_openset(const vs_eval_scorer *s, const vs_lfw_set *set, int repeats,
                          vs_eval_result *r, vs_err *err);

/* The markdown table of n results into buf (always terminated; truncated if too small). */
void vs_eval_format_table(const vs_eval_result *r, int n, char *buf, size_t size);

#endif

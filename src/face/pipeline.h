/*
 * pipeline.h - the face pipeline's entry points (see pipeline.c).  Part of the module's public
 * surface: the CLI and the service include it next to face.h.
 */
#ifndef VS_FACE_PIPELINE_H
#define VS_FACE_PIPELINE_H

#include "face/attributes.h"
#include "face/detect.h"
#include "face/embed.h"
#include "face/landmarks.h"
#include "face/match.h"
#include "face/quality.h"

/* What to load.  Zero fields mean the defaults. */
typedef struct vs_face_config {
    const char *models_dir; /* NULL: $VISAGE_MODELS or "models" */
    const char *detector;   /* "ssd_mobilenetv1" (default), "blazeface-back", "fr_detect" */
    const char *embedder;   /* NULL: the default matcher; else this one net alone (its raw
                               cosine is the score; no calibrated threshold: NAN) */
    int mirror;             /* with `embedder`: mirror-average it */
    int threads;            /* engine threads per context (1) */
    int no_attributes;      /* 1: do not load the age/gender/expression nets */
    int no_liveness;        /* 1: do not load the liveness net */
} vs_face_config;

typedef enum {
    VS_FACE_LOWLIGHT_AUTO = 0, /* enhance when the frame is dark */
    VS_FACE_LOWLIGHT_OFF,
    VS_FACE_LOWLIGHT_ALWAYS
} vs_face_lowlight;

/* Per call.  Start from vs_face_opts_default(). */
typedef struct vs_face_opts {
    float min_score; /* detector score threshold (0: the detector's default) */
    float min_face;  /* minimum face size in pixels (0: the detector's default) */
    int max_faces;   /* 1..VS_DETECT_MAX_FACES */
    vs_face_lowlight low_light;
    vs_tile_mode tiling; /* small faces in large photos (detect.h); 0: the detector's default */
    int embed;           /* compute embeddings (1) */
    int attributes;      /* age, gender, expression (1; needs the nets loaded) */
    int liveness;        /* presentation-attack score (1; needs the net loaded) */
} vs_face_opts;

/* One face. */
typedef struct vs_face {
    vs_det det; /* box and detector score, image pixels */
    vs_lm68 lm; /* 68 landmarks, pixel-centre coordinates */
    vs_lm5 lm5; /* eye centres, nose tip, mouth corners */
    vs_quality quality;
    int has_attributes;
    vs_attributes attr;
    float liveness; /* 0..1, 1 = live; -1 when not computed */
    int n_emb;      /* embeddings below, one per net of the matcher (0 when not embedded) */
    vs_embedding emb[VS_MATCH_MAX];
} vs_face;

typedef struct vs_face_result {
    int n;          /* faces found */
    vs_face *faces; /* owned by the context; valid until its next analyze call */
    int width, height;
    float mean_luma; /* of the input frame, 0..255 */
    int enhanced;    /* 1: the frame was dark and was enhanced before detection */
    int rescued;     /* 1: the face was kept below the default score (detect.h) */
    /* Where the time went, milliseconds of this call (wall clock). */
    double ms_detect, ms_landmarks, ms_quality, ms_attributes, ms_liveness, ms_embed;
} vs_face_result;

typedef struct vs_face_models vs_face_models;
typedef struct vs_face_ctx vs_face_ctx;

/* Loads every model cfg needs (NULL: defaults).  The result is immutable: share it between
 * threads.  Errors: VS_INVAL (unknown detector or embedder), model loading errors. */
vs_status vs_face_models_load(const vs_face_config *cfg, vs_face_models **out, vs_err *err);
void vs_face_models_free(vs_face_models *m);

/* The matcher the models embed for, and its decision threshold (OUT, may be NULL). */
const vs_matcher *vs_face_models_matcher(const vs_face_models *m, float *threshold);

/* One thread's working set over m (which must outlive it). */
vs_status vs_face_ctx_new(const vs_face_models *m, vs_face_ctx **out, vs_err *err);
void vs_face_ctx_free(vs_face_ctx *c);

vs_face_opts vs_face_opts_default(void);

/* Finds and describes every face of img (RGB, c = 3; other channel counts are converted).
 * res->faces belongs to c.  No face is not an error (res->n = 0).  Errors: VS_INVAL, VS_NOMEM,
 * engine errors. */
vs_status vs_face_analyze(vs_face_ctx *c, const vs_image *img, const vs_face_opts *opts,
                          vs_face_result *res, vs_err *err);

/* Similarity of two analysed faces under m's matcher (higher = more alike; the same person when
 * >= the threshold of vs_face_models_matcher). */
vs_status vs_face_compare(const vs_face_models *m, const vs_face *a, const vs_face *b, float *score,
                          vs_err *err);

#endif

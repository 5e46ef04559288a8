/*
 * liveness.h - presentation-attack scores of one face: is it a live face or a photo of one
 * (printed, on a screen, recaptured)?  Step 6 of the pipeline.
 *
 * Three nets, each fed the crop its own library cuts, each score in 0..1 with 1 = live:
 *   VS_LIVE_ANTISPOOF  human `antispoof`: human's face crop (attributes.h: the box enlarged 1.4x,
 *                      squared, cropAndResize 192 x 192, 0..1) resized bilinearly to 128 x 128;
 *                      the score is the net's single output, as human's antispoof.ts reports it
 *   VS_LIVE_LIVENESS   human `liveness`: the same crop resized to 32 x 32; the score is output[0]
 *                      of two, as human's liveness.ts reports it
 *   VS_LIVE_FR         faceplugin `fr_liveness` (MiniFASNet-style): the detection box scaled 2.7x
 *                      about its centre and shifted into the image (faceplugin's
 *                      alignLivenessImage), 128 x 128 RGB 0..255, NCHW; the score is softmax[0] of
 *                      three, as faceplugin's lib/fr_liveness.js reports it
 * VS_LIVE_DEFAULT is the one that separated live photos from our synthetic spoofs best in
 * tests/test_liveness.c (60 live faces, 180 spoofs): fr_liveness AUC 0.728 / APCER 0.556 at
 * BPCER = 10 %, human's liveness 0.623 / 0.844, human's antispoof 0.461 / 0.933 (worse than
 * chance on these).  Those spoofs are simulated, not real attacks, and no model separates them
 * well: treat every score as a hint, never as proof.
 *
 * Threading: vs_live_models immutable and shareable; a vs_live_ctx belongs to one thread.
 */
#ifndef VS_FACE_LIVENESS_H
#define VS_FACE_LIVENESS_H

#include "face/face_types.h"

typedef enum {
    VS_LIVE_NONE = 0,
    VS_LIVE_ANTISPOOF,
    VS_LIVE_LIVENESS,
    VS_LIVE_FR,
    VS_LIVE_COUNT
} vs_live_model;

#define VS_LIVE_DEFAULT VS_LIVE_FR

/* "antispoof", "liveness", "fr_liveness" (static). */
const char *vs_live_model_name(vs_live_model m);

typedef struct vs_live_models vs_live_models;
typedef struct vs_live_ctx vs_live_ctx;

/* Loads the net of `which` from models_dir (NULL: the engine's default).  OUT: *out.
 * Errors: VS_INVAL (unknown model), engine errors. */
vs_status vs_live_models_load(const char *models_dir, vs_live_model which, vs_live_models **out,
                              vs_err *err);
void vs_live_models_free(vs_live_models *m);

/* One runtime (XNNPACK, `threads` threads) and the crop buffers; m must outlive it. */
vs_status vs_live_ctx_new(const vs_live_models *m, int threads, vs_live_ctx **out, vs_err *err);
void vs_live_ctx_free(vs_live_ctx *ctx);

/*
 * The liveness score of the face in det (img RGB, c = 3).  OUT: *score in [0, 1], 1 = live.
 * Errors: VS_INVAL (NULL, not RGB, empty crop), engine errors.
 */
vs_status vs_live_run(vs_live_ctx *ctx, const vs_image *img, const vs_det *det, float *score,
                      vs_err *err);

#endif

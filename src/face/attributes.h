/*
 * attributes.h - per-face age, gender and expression (step 6 of the pipeline), and the face crops
 * that the attribute and liveness nets are fed.
 *
 * Several nets can answer each question; each is fed the crop its own library cuts, so that our
 * numbers equal that library's (face-api's to 1e-3, checked in tests/test_attributes.c against
 * tests/node/attr_faceapi.js):
 *
 *   age and gender   VS_AG_FACEAPI  face-api `age_gender`: the landmarks' box padded by 20 %
 *                                   (face-api's alignedRect), clipped and floored, zero-padded to a
 *                                   square (centred), bilinear to 112 x 112, raw 0..255
 *                    VS_AG_GEAR     human `gear`: human's face crop (below), then cropAndResize of
 *                                   its [top 0, left 0.1, bottom 0.9, right 0.9] to 198 x 198,
 * 0..1; age is a weighted walk over 7 age buckets, as human computes it VS_AG_FACERES  human
 * `faceres`' age (100-bin softmax) and gender (sigmoid) heads: human's face crop bilinear to 224 x
 * 224, 0..255 VS_AG_FR       faceplugin `fr_age` + `fr_gender` (SSR-Net): the detection box
 *                                   scaled 1.4 about its centre, shifted into the image, resized to
 *                                   64 x 64, ImageNet mean/std, NCHW
 *   expression       VS_EXPR_FACEAPI  face-api `face_expression`, the same crop as VS_AG_FACEAPI
 *                    VS_EXPR_EMOTION  human `emotion`: human's face crop bilinear to 64 x 64, grey
 *                                     0.2989 R + 0.587 G + 0.114 B, (grey - 0.5) * 2
 *                    VS_EXPR_FR       faceplugin `fr_expression`: the detection box grown by 20 %
 *                                     to the right and down, 224 x 224, x / 255, NCHW, softmax
 *
 * "Human's face crop" (vs_attr_human_crop): the detection box enlarged 1.4 times about its centre
 * and made square with rounded corners (human's enlargeBox + squarifyBox of its BlazeFace box),
 * then tf.image.cropAndResize to 192 x 192 (corner-aligned sampling, zeros outside the image),
 * 0..1.  Human's nets all start from this tensor.  Our detection box comes from SSD, not BlazeFace,
 * so the crop is human's recipe on our box, not bit-for-bit human's crop.
 *
 * Defaults (VS_AG_DEFAULT, VS_EXPR_DEFAULT) were chosen by measurement; see the report in the
 * commit and tests/test_attributes.c.
 *
 * Landmarks: the 68 iBUG points as src/face/landmarks.c reports them, which for face-api's
 * landmarker are face-api's own positions unchanged; face-api's alignedRect is computed on them
 * as they are.
 *
 * Threading: a vs_attr_models is immutable after load and may be shared; a vs_attr_ctx (engine
 * runtimes and buffers) belongs to one thread at a time.  Nothing here prints.
 */
#ifndef VS_FACE_ATTRIBUTES_H
#define VS_FACE_ATTRIBUTES_H

#include "face/face_types.h"
#include "nn/nn.h"

typedef enum {
    VS_AG_NONE = 0,
    VS_AG_FACEAPI,
    VS_AG_GEAR,
    VS_AG_FACERES,
    VS_AG_FR,
    VS_AG_COUNT
} vs_ag_model;

typedef enum {
    VS_EXPR_MODEL_NONE = 0,
    VS_EXPR_FACEAPI,
    VS_EXPR_EMOTION,
    VS_EXPR_FR,
    VS_EXPR_MODEL_COUNT
} vs_expr_model;

#define VS_AG_DEFAULT VS_AG_FACEAPI
#define VS_EXPR_DEFAULT VS_EXPR_FACEAPI

/* Expressions, in face-api's order; every model's labels are mapped onto these. */
typedef enum {
    VS_EXPR_NEUTRAL = 0,
    VS_EXPR_HAPPY,
    VS_EXPR_SAD,
    VS_EXPR_ANGRY,
    VS_EXPR_FEARFUL,
    VS_EXPR_DISGUSTED,
    VS_EXPR_SURPRISED,
    VS_EXPR_COUNT
} vs_expression;

typedef enum { VS_GENDER_FEMALE = 0, VS_GENDER_MALE = 1 } vs_gender;

typedef struct vs_attributes {
    float age;                      /* years; < 0 when no age model ran */
    vs_gender gender;               /* the more probable label */
    float gender_prob;              /* probability of `gender`, 0.5..1 */
    vs_expression expression;       /* argmax of expr_prob */
    float expr_prob[VS_EXPR_COUNT]; /* sum to 1; all 0 when no expression model ran */
} vs_attributes;

/* "neutral", "happy", ...; "female", "male"; "faceapi", "gear", ... (static strings). */
const char *vs_expression_name(vs_expression e);
const char *vs_gender_name(vs_gender g);
const char *vs_ag_model_name(vs_ag_model m);
const char *vs_expr_model_name(vs_expr_model m);

typedef struct vs_attr_models vs_attr_models;
typedef struct vs_attr_ctx vs_attr_ctx;

/*
 * Loads the nets that `ag` and `expr` need (VS_AG_NONE / VS_EXPR_MODEL_NONE: that question is not
 * asked) from models_dir (NULL: the engine's default).  OUT: *out, freed with vs_attr_models_free.
 * Errors: VS_INVAL (unknown model id), whatever vs_nn_model_load returns.
 */
vs_status vs_attr_models_load(const char *models_dir, vs_ag_model ag, vs_expr_model expr,
                              vs_attr_models **out, vs_err *err);
void vs_attr_models_free(vs_attr_models *m);

/* A per-thread context: one runtime per net (XNNPACK, `threads` threads) and the crop buffers.
 * m must outlive it.  Errors: those of vs_nn_runtime_new, VS_NOMEM. */
vs_status vs_attr_ctx_new(const vs_attr_models *m, int threads, vs_attr_ctx **out, vs_err *err);
void vs_attr_ctx_free(vs_attr_ctx *ctx);

/*
 * Age, gender and expression of one face.
 *   img   the decoded RGB image (c = 3) the face was found in
 *   det   its detection box and score
 *   lm68  its 68 landmarks (pixel-centre); needed by the face-api nets, may be NULL otherwise
 *   out   OUT: the attributes
 * Errors: VS_INVAL (NULL, c != 3, a face-api net without landmarks, an empty crop), engine errors.
 */
vs_status vs_attr_run(vs_attr_ctx *ctx, const vs_image *img, const vs_det *det,
                      const float (*lm68)[2], vs_attributes *out, vs_err *err);

/*
 * The integer rectangle (x, y, w, h) face-api cuts for age_gender and face_expression:
 * alignedRect (the landmarks' box padded by 20 %) clipped at the image borders, then x, y, w, h
 * floored (Box.clipAtImageBorders).  Errors: VS_INVAL (NULL, empty rectangle).
 */
vs_status vs_attr_faceapi_rect(int img_w, int img_h, const float (*lm68)[2], int rect[4],
                               vs_err *err);

/* ---- face crops shared with liveness.c -------------------------------------------------- */

/* A float image, interleaved, rows w * c apart; used for crops that must stay unrounded. */
typedef struct vs_attr_fimg {
    int w, h, c;
    float *px;
} vs_attr_fimg;

/*
 * Human's face crop of det (see the top of this file): dst->w x dst->h x 3 floats in 0..1
 * (human uses 192 x 192).  dst->px must hold w * h * 3 floats.  Errors: VS_INVAL.
 */
vs_status vs_attr_human_crop(const vs_image *img, const vs_det *det, vs_attr_fimg *dst,
                             vs_err *err);

/*
 * TFJS's tf.image.cropAndResize of one box [y1, x1, y2, x2] (normalised, corner-aligned:
 * source row y1 * (h - 1) + i * (y2 - y1) * (h - 1) / (out_h - 1)), bilinear, extrapolation 0,
 * from src into the out_w x out_h NHWC floats dst (src->c channels), each value * scale + offset.
 */
void vs_attr_crop_and_resize(const vs_attr_fimg *src, const float box[4], int out_w, int out_h,
                             float scale, float offset, float *dst);

/* TFJS's tf.image.resizeBilinear (alignCorners = false, halfPixelCenters = false) of src into
 * out_w x out_h NHWC floats, each value * scale + offset. */
void vs_attr_resize_bilinear(const vs_attr_fimg *src, int out_w, int out_h, float scale,
                             float offset, float *dst);

/*
 * faceplugin's box crop (alignAgeImage / alignLivenessImage in its lib/fr_age.js and
 * lib/fr_liveness.js): the integer box of det (x, y truncated as parseInt does) scaled `factor`
 * about its centre (capped so it fits the image), shifted back inside the image, truncated to
 * integers, and resized with OpenCV's INTER_LINEAR (half-pixel bilinear) to dst->w x dst->h (dst->c
 * == 3, caller's buffer). Errors: VS_INVAL.
 */
vs_status vs_attr_fp_crop(const vs_image *img, const vs_det *det, float factor, vs_image *dst,
                          vs_err *err);

#endif

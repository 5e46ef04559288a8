/*
 * embed.h - face embedders: an aligned chip in, an L2-normalised vector out (private to
 * src/face/).
 *
 *   id                       model             chip (align.h)        input          dim
 *   VS_EMB_FACE_RECOGNITION  face_recognition  dlib 150 x 150        RGB 0..255     128
 *   VS_EMB_FR_FEATURE        fr_feature        ArcFace 112 x 112     RGB (x-127)/128, NCHW  512
 *   VS_EMB_FACERES           faceres           faceres 224 x 224     RGB 0..255     1024
 *   VS_EMB_MOBILEFACE        mobileface        ArcFace 112 x 112     RGB 0..255     256
 * (face_recognition subtracts its mean inside the net; mobileface's graph starts with
 * (x - 127.5) / 128; human feeds faceres the 0..1 crop times 255; faceplugin's fr_feature.js
 * reads the canvas as RGBA and writes channels 0, 1, 2 = R, G, B.)
 *
 * Mirror averaging: with mirror != 0 the chip and its left-right flip are both embedded and the
 * two unit vectors averaged and re-normalised, which removes the net's left-right bias; the
 * result is the same whichever of the two is given.
 *
 * A vs_embedder owns one runtime over a caller-loaded model: one embedder per thread.
 */
#ifndef VS_FACE_EMBED_H
#define VS_FACE_EMBED_H

#include "face/align.h"

typedef struct vs_embedding {
    vs_embedder_id id; /* which model made it: vectors of different models never compare */
    int dim;
    int mirrored; /* 1 when mirror-averaged */
    float v[VS_FACE_MAX_DIM];
} vs_embedding;

typedef struct vs_embedder vs_embedder;

/* Model name (as vs_nn_model_load knows it), chip template and dimension of an embedder; NULL,
 * VS_ALIGN_COUNT, 0 for an invalid id. */
const char *vs_embedder_model_name(vs_embedder_id id);
vs_align_template vs_embedder_template(vs_embedder_id id);
int vs_embedder_dim(vs_embedder_id id);

/* The embedder id whose name (vs_embedder_name) is `name`, VS_EMB_NONE if none. */
vs_embedder_id vs_embedder_from_name(const char *name);

/*
 * An embedder `id` over `model` (loaded under vs_embedder_model_name(id); the caller keeps it
 * alive), on `threads` XNNPACK threads.  Errors: VS_INVAL (bad id, or a model whose input or
 * output shape is not the embedder's), VS_NOMEM, engine errors.
 */
vs_status vs_embedder_new(const vs_model *model, vs_embedder_id id, int threads, vs_embedder **out,
                          vs_err *err);
void vs_embedder_free(vs_embedder *e);

/* Embeds an aligned chip (RGB, vs_align_size(vs_embedder_template(id)) square).  Errors:
 * VS_INVAL (wrong chip size), VS_NOMEM (mirror scratch), VS_INTERNAL (the net returned a zero or
 * non-finite vector), engine errors. */
vs_status vs_embed_chip(vs_embedder *e, const vs_image *chip, int mirror, vs_embedding *out,
                        vs_err *err);

/* Aligns the face with landmarks lm in img onto the embedder's template and embeds the chip. */
vs_status vs_embed_face(vs_embedder *e, const vs_image *img, const vs_lm68 *lm, int mirror,
                        vs_embedding *out, vs_err *err);

/* Left-right flip of src into dst (same size and channels, not aliased).  Errors: VS_INVAL. */
vs_status vs_img_flip_lr(const vs_image *src, vs_image *dst, vs_err *err);

#endif

/*
 * align.h - the crops ("chips") each embedder was trained on, cut from 68 landmarks (private to
 * src/face/).
 *
 * Every template is a similarity transform (rotation, uniform scale, translation) fitted by least
 * squares from image landmarks onto fixed chip coordinates, then a bilinear warp:
 *   VS_ALIGN_DLIB_150      dlib's get_face_chip_details(shape, 150, 0.25), the chip dlib's
 *                          ResNet (face-api's face_recognition) was trained on: landmarks
 *                          27..54 and 60..64 (dlib skips the brows and the lower lip) onto dlib's
 *                          mean face shape, padded by 0.25 on each side.
 *   VS_ALIGN_ARCFACE_112   the InsightFace 5-point template (eye centres, nose tip, mouth
 *                          corners) in 112 x 112: fr_feature and mobileface.
 *   VS_ALIGN_FACERES_224   the crop human feeds faceres: a square about 1.5 times the face mesh's
 *                          extent, turned upright, 224 x 224.  human cuts it from its own face
 *                          mesh; we place the 5 points where that crop puts them (the ArcFace
 *                          layout scaled so the eye-to-mouth distance is 64 px, eyes at y = 87).
 * Chip coordinates are pixel-centre (pixel (x, y) is the point (x, y)), as vs_img_warp_affine.
 */
#ifndef VS_FACE_ALIGN_H
#define VS_FACE_ALIGN_H

#include "face/landmarks.h"

typedef enum {
    VS_ALIGN_DLIB_150 = 0,
    VS_ALIGN_ARCFACE_112,
    VS_ALIGN_FACERES_224,
    VS_ALIGN_COUNT
} vs_align_template;

/* Side of the square chip in pixels (150, 112, 224). */
int vs_align_size(vs_align_template t);

/*
 * The 2x3 matrix m mapping image coordinates to chip coordinates for a face with landmarks lm
 * (vs_img_warp_affine's convention).  Optional rms: the root-mean-square distance, in chip pixels,
 * between the mapped landmarks and the template points (a large value means the landmarks do not
 * look like a face).  Errors: VS_INVAL (degenerate landmarks).
 */
vs_status vs_align_transform(vs_align_template t, const vs_lm68 *lm, float m[6], float *rms,
                             vs_err *err);

/*
 * Cuts the chip: chip must be vs_align_size(t) square with the channels of img; outside the
 * image reads black.  Errors: as vs_align_transform, VS_INVAL (chip of the wrong size).
 */
vs_status vs_align_chip(const vs_image *img, vs_align_template t, const vs_lm68 *lm, vs_image *chip,
                        vs_err *err);

/* The template's 5 points (face.h order) in chip coordinates, e.g. for a test of the fit. */
void vs_align_template_lm5(vs_align_template t, vs_lm5 *out);

#endif

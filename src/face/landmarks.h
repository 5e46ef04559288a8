/*
 * landmarks.h - 68-point facial landmarks from a face box (private to src/face/).
 *
 * Two landmarkers, both predicting the iBUG 300-W 68-point layout (jaw 0..16, brows 17..26,
 * nose 27..35, eyes 36..47, mouth 48..67) that dlib and face-api use:
 *   VS_LM_FACEAPI_68  face-api's face_landmark_68 (112 x 112 RGB, raw 0..255).  Fed as face-api
 *                     feeds it: the box is clipped to the image and floored, the crop is padded
 *                     to a square with zeros (centred: the larger half of the padding after the
 *                     crop), resized bilinearly (TFJS, asymmetric) to 112 and the output, relative
 *                     to the padded square, is mapped back to the crop and then to the image.
 *   VS_LM_FR_LANDMARK faceplugin's fr_landmark (64 x 64 grey, x / 256, NCHW).  Fed as
 *                     faceplugin's lib/fr_landmark.js does: the box (shifted inside the image),
 *                     resized to 64 x 64 (OpenCV INTER_LINEAR = half-pixel bilinear), BT.601 luma;
 *                     the output is relative to the box's width and height.
 *
 * A vs_landmarker owns one engine runtime over a model the caller loaded (and keeps alive):
 * one landmarker per thread, the model shared.  Points are pixel-centre image coordinates.
 */
#ifndef VS_FACE_LANDMARKS_H
#define VS_FACE_LANDMARKS_H

#include "face/face_types.h"
#include "nn/nn.h"

typedef struct vs_lm68 {
    float pt[68][2];
} vs_lm68;

typedef enum { VS_LM_FACEAPI_68 = 0, VS_LM_FR_LANDMARK } vs_lm_kind;

typedef struct vs_landmarker vs_landmarker;

/* Model name for a kind ("face_landmark_68", "fr_landmark"). */
const char *vs_landmarker_model_name(vs_lm_kind kind);

/*
 * A landmarker of `kind` over `model` (loaded by the caller under vs_landmarker_model_name(kind),
 * kept alive while the landmarker exists), running on `threads` threads of the XNNPACK backend.
 * Errors: VS_INVAL (model's input shape is not the kind's), VS_NOMEM, engine errors.
 */
vs_status vs_landmarker_new(const vs_model *model, vs_lm_kind kind, int threads,
                            vs_landmarker **out, vs_err *err);
void vs_landmarker_free(vs_landmarker *lm);

/*
 * The 68 landmarks of the face in `box` (x0, y0, x1, y1 in pixels; score and keypoints ignored)
 * of img (RGB, c = 3).  Errors: VS_INVAL (box empty after clipping to the image), VS_NOMEM,
 * engine errors.  Not thread-safe for one landmarker.
 */
vs_status vs_landmarks_detect(vs_landmarker *lm, const vs_image *img, const vs_det *box,
                              vs_lm68 *out, vs_err *err);

/*
 * The box a face detector (face-api's SSD) would draw around a face with these landmarks, so a
 * second landmark pass can start from where the first one found the face: the landmarks' extent
 * widened by 2% and lifted to the forehead (24% of their height above, 3% below), as measured
 * against face-api's SSD boxes on LFW.
 */
void vs_landmarks_box(const vs_lm68 *lm, vs_det *box);

/* The five points of face.h from 68 landmarks: eye centres (mean of the six eye-contour points
 * 36..41 and 42..47), nose tip (30), mouth corners (48, 54). */
void vs_lm5_from_lm68(const vs_lm68 *lm, vs_lm5 *out);

#endif

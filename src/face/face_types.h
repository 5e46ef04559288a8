/*
 * face_types.h - the types the face module's pieces share: detections, the five points, the
 * embedder ids (private to src/face/; what the rest of visage uses is face.h).
 */
#ifndef VS_FACE_FACE_TYPES_H
#define VS_FACE_FACE_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "img/img.h"

#define VS_FACE_MAX_DIM 1024 /* longest embedding (faceres: 1024) */

/* One detection: a box, its score and the detector's own keypoints if it has any. */
typedef struct vs_det {
    float x0, y0, x1, y1; /* pixels */
    float score;          /* 0..1 */
    int n_kp;             /* detector keypoints (blazeface: 6), 0 if none */
    float kp[6][2];
} vs_det;

/* The five points every aligner uses, derived from 68 landmarks when that is what we have:
 * left eye centre, right eye centre (as seen in the image: "left" is the smaller x), nose tip,
 * left mouth corner, right mouth corner. */
typedef struct vs_lm5 {
    float pt[5][2];
} vs_lm5;

typedef enum {
    VS_EMB_NONE = 0,
    VS_EMB_FACE_RECOGNITION, /* face-api ResNet-34, 128-D, dlib 150x150 chip */
    VS_EMB_FR_FEATURE,       /* faceplugin, 512-D, ArcFace 112x112 */
    VS_EMB_FACERES,          /* human, 1024-D */
    VS_EMB_MOBILEFACE,       /* human, 256-D, ArcFace 112x112 */
    VS_EMB_COUNT
} vs_embedder_id;

/* Name of an embedder as stored with every vector ("face_recognition", "fr_feature", ...). */
const char *vs_embedder_name(vs_embedder_id id);

#endif

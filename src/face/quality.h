/*
 * quality.h - how usable one detected face is: size, sharpness, exposure, pose, detector score,
 * and one verdict {good, poor} with the reasons (step 6 of the pipeline; enrolment refuses poor
 * faces and says why).
 *
 * Measures (all from the decoded RGB image, the detection box and the 68 landmarks):
 *   eye_dist     distance in pixels between the eye centres (mean of points 36..41 and 42..47)
 *   box_w, box_h the detection box in pixels
 *   sharpness    variance of the 4-neighbour Laplacian (4 c - n - s - e - w) of the grey face
 *                crop (the box resampled to VS_QUALITY_CROP x VS_QUALITY_CROP, area averaging when
 *                shrinking, half-pixel bilinear when growing, BT.601 luma), over its interior.  At
 *                a fixed size the number does not grow with the photo's resolution.
 *   sharpness_norm  sharpness / contrast^2: the same divided by the crop's grey variance, so that
 *                a dim or flat face is not taken for a blurred one (the verdict uses this one)
 *   brightness   mean luma of that crop, 0..255;  contrast: its standard deviation
 *   roll         degrees, the angle of the eye line: atan2(eR.y - eL.y, eR.x - eL.x) (positive:
 *                the face turned clockwise in the image, y pointing down)
 *   yaw          degrees, from the nose tip's place between the face's sides after undoing roll:
 *                r = (x30 - x0) / (x16 - x0) (jaw points 0 and 16), yaw = asin(2 r - 1), a
 *                cylinder model (0 frontal, positive: nose towards the image's right)
 *   pitch        degrees, from vertical ratios after undoing roll: q = (y30 - y_eyes) /
 *                (y_mouth - y_eyes) (y_mouth: mean of the corners 48 and 54); a nose tip that
 *                stands VS_QUALITY_NOSE_DEPTH eye-to-mouth distances in front of the eye-mouth
 *                plane moves by that times tan(pitch):  pitch = atan((q - Q0) / NOSE_DEPTH), Q0 =
 *                VS_QUALITY_Q0 (positive: face tilted down).  Q0 is the median q of the 36 bbt/
 *                crops (frontal TV stills, face-api landmarks); NOSE_DEPTH is an anthropometric
 *                estimate (nose tip ~30 mm in front of the eyes-mouth plane, eyes to mouth ~70 mm)
 *   det_score    the detector's score
 * Reasons (bits of vs_quality.reasons, names for JSON from vs_quality_reason_name), with the
 * default thresholds (vs_quality_opts, zero fields take these):
 *   too_small    eye_dist < 20 px or min(box_w, box_h) < 40 px
 *   blurry       sharpness_norm < 0.045
 *   too_dark     brightness < 50
 *   overexposed  brightness > 205
 *   profile      |yaw| > 45 degrees
 *   low_score    det_score < 0.5
 * The thresholds are documented starting points: the size bar follows the face-api / SSD minimum
 * at which recognition still works on LFW-sized faces (about 20 px between the eyes); the
 * sharpness bar was set between the 36 sharp bbt/ face crops (lowest 0.058) and the same crops
 * box-blurred 5 x 5 (highest 0.033), which tests/test_quality.c checks; the exposure bars are the
 * mean lumas at which a face crop has lost most of its contrast to black or white clipping.
 */
#ifndef VS_FACE_QUALITY_H
#define VS_FACE_QUALITY_H

#include <stddef.h>

#include "face/face_types.h"

#define VS_QUALITY_CROP 112
#define VS_QUALITY_Q0 0.61f         /* nose-to-eyes / mouth-to-eyes of a frontal face */
#define VS_QUALITY_NOSE_DEPTH 0.45f /* nose tip depth / eye-to-mouth distance */

typedef enum {
    VS_Q_TOO_SMALL = 1u << 0,
    VS_Q_BLURRY = 1u << 1,
    VS_Q_TOO_DARK = 1u << 2,
    VS_Q_OVEREXPOSED = 1u << 3,
    VS_Q_PROFILE = 1u << 4,
    VS_Q_LOW_SCORE = 1u << 5,
} vs_quality_reason;

#define VS_Q_REASON_COUNT 6

typedef struct vs_quality_opts {
    float min_eye_dist;   /* 20 */
    float min_box;        /* 40 */
    float min_sharpness;  /* 0.045, on sharpness_norm */
    float min_brightness; /* 50 */
    float max_brightness; /* 205 */
    float max_yaw;        /* 45 */
    float min_score;      /* 0.5 */
} vs_quality_opts;

typedef struct vs_quality {
    float eye_dist, box_w, box_h;
    float sharpness, sharpness_norm;
    float brightness, contrast;
    float yaw, pitch, roll;
    float det_score;
    int good;         /* 1 when reasons == 0 */
    unsigned reasons; /* vs_quality_reason bits */
} vs_quality;

/* "too_small", "blurry", ... for one bit; NULL for anything else. */
const char *vs_quality_reason_name(vs_quality_reason r);

/*
 * Measures one face.
 *   img   the decoded image (c = 1, 3 or 4)
 *   det   the detection box and score
 *   lm68  the 68 landmarks in pixel-centre coordinates
 *   opts  thresholds (NULL or zero fields: the defaults above)
 *   out   OUT
 * Errors: VS_INVAL (NULL, a box that is empty after clipping to the image).  Allocates nothing
 * (about 50 KB of stack); thread-safe.
 */
vs_status vs_quality_measure(const vs_image *img, const vs_det *det, const float (*lm68)[2],
                             const vs_quality_opts *opts, vs_quality *out, vs_err *err);

/* Pose alone: yaw, pitch, roll in degrees from 68 landmarks (formulas above). */
void vs_quality_pose(const float (*lm68)[2], float *yaw, float *pitch, float *roll);

#endif

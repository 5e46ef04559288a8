/*
 * detect.h - face detectors (private to src/face/): SSD MobileNetV1 (face-api, the default),
 * BlazeFace (human's blazeface-back / blazeface-front, the fast mode) and faceplugin's fr_detect
 * (an UltraFace / RFB-320 style net).
 *
 * A vs_detector wraps one loaded detection model (shared, immutable) with its own engine runtime
 * and scratch buffers: one per thread.  vs_detect() runs it over an image and returns faces in
 * image pixels ([x0, x1) x [y0, y1) continuous coordinates, see face.h), best score first.
 *
 * One call is up to four steps, each reported in vs_detect_info:
 *   1. low light: when the frame's mean luma is at or below VS_IMG_DARK_LUMA, detection runs on an
 *      enhanced copy (denoise, levels, CLAHE; the caller's image is never modified) and
 *      info.enhanced = 1;
 *   2. the whole-image pass: the image is padded to the net's aspect ratio at the bottom and
 *      right and resized to its input (exactly as face-api does for the SSD: pad with zeros to a
 *      square, tf.image.resizeBilinear to 512), decoded, thresholded and non-max suppressed;
 *   3. tiles (VS_TILE_AUTO: images over 1.5 times the net's input, e.g. 768 px for the SSD;
 *      a 1024x768 photo takes 6 tiles, 1920x1080 15, at most 16 with larger tiles): overlapping
 *      windows at a finer scale, so small faces in large photos reach the net at a size it can
 *      see; detections cut by a tile's inner border are dropped and the passes are merged by
 *      non-max suppression;
 *   4. zoom out (VS_ZOOM_AUTO): when no face passed the score threshold, the image is padded to
 *      twice its size and run again: the SSD misses faces that fill the frame (close crops,
 *      LFW's portraits) and finds them once they are half as large in its input.
 *
 * The score threshold: face-api's SSD at its default 0.5 finds no face in about 10% of LFW's
 * 250x250 portraits, whose faces are plain; the zoomed-out pass finds nearly all of them.  When
 * even that finds nothing above `score`, the best detection above `rescue_score` is returned
 * (info.rescued = 1): a caller may want to treat such a face with suspicion (a faceless photo can
 * get one).  detect.c's file comment has the measurements behind the defaults.
 */
#ifndef VS_FACE_DETECT_H
#define VS_FACE_DETECT_H

#include "face/face_types.h"
#include "nn/nn.h"

typedef enum {
    VS_DETECTOR_SSD = 0, /* face-api ssd_mobilenetv1, 512x512 */
    VS_DETECTOR_BLAZE,   /* human blazeface-back (256x256) or blazeface-front (128x128) */
    VS_DETECTOR_FR,      /* faceplugin fr_detect, 320x240 */
    VS_DETECTOR_COUNT
} vs_detector_kind;

typedef enum {
    VS_TILE_DEFAULT = 0, /* the detector's default: AUTO, except OFF for BlazeFace (fast mode) */
    VS_TILE_AUTO,        /* tiles when the image is much larger than the net's input */
    VS_TILE_OFF,         /* the whole-image pass only (what face-api does) */
    VS_TILE_ON,          /* tiles whenever the image is larger than the net's input */
} vs_tile_mode;

typedef enum {
    VS_ZOOM_DEFAULT = 0, /* the detector's default: AUTO */
    VS_ZOOM_AUTO,        /* a zoomed-out pass when the whole-image pass finds no face */
    VS_ZOOM_OFF,
} vs_zoom_mode;

typedef enum {
    VS_LOWLIGHT_AUTO = 0, /* enhance when vs_img_brightness says the frame is dark */
    VS_LOWLIGHT_OFF,      /* never */
    VS_LOWLIGHT_ALWAYS,   /* always (for measurements) */
} vs_lowlight_mode;

/* Options of one vs_detect call.  A zero field means "the detector's default" (listed in
 * vs_detect_opts_default); set score or rescue_score to a negative value to switch them off. */
typedef struct vs_detect_opts {
    float score;        /* keep detections scoring above this (face-api: strictly above) */
    float rescue_score; /* when nothing passes `score`: keep the best above this; < 0: off */
    float iou;          /* non-max suppression: drop a box whose IoU with a better one > iou */
    float min_size;     /* drop boxes whose shorter side is below this many pixels */
    int max_faces;      /* at most this many (1..VS_DETECT_MAX_FACES) */
    vs_tile_mode tiling;
    vs_zoom_mode zoom_out;
    vs_lowlight_mode low_light;
} vs_detect_opts;

#define VS_DETECT_MAX_FACES 1000

/* What a call did besides finding faces. */
typedef struct vs_detect_info {
    int enhanced;    /* 1: the frame was dark and detection ran on an enhanced copy */
    float mean_luma; /* of the input frame, 0..255 */
    int tiles;       /* tile passes run (0: the whole-image pass only) */
    int zoomed;      /* 1: the zoomed-out pass ran (the whole-image pass found no face) */
    int rescued;     /* 1: the result is the single best face below `score` (see above) */
} vs_detect_info;

typedef struct vs_detector vs_detector;

/*
 * Creates a detector for a loaded model: the kind comes from the model's name
 * ("ssd_mobilenetv1", "blazeface-back", "blazeface-front", "fr_detect").  The detector owns an
 * engine runtime with `threads` threads (1 = the caller's thread) and its scratch buffers; m must
 * outlive it.  Not thread-safe: one detector per thread.
 * Errors: VS_INVAL (NULL), VS_UNSUPPORTED (a model that is not a known detector, or whose inputs
 * and outputs do not have the shapes the decoder expects), VS_NOMEM, engine errors.
 */
vs_status vs_detector_new(const vs_model *m, int threads, vs_detector **out, vs_err *err);
void vs_detector_free(vs_detector *det);

vs_detector_kind vs_detector_get_kind(const vs_detector *det);

/* The engine model name a detector kind uses by default ("ssd_mobilenetv1", "blazeface-back",
 * "fr_detect"); NULL for an unknown kind. */
const char *vs_detector_model_name(vs_detector_kind kind);

/* The defaults for a detector kind, every field filled. */
vs_detect_opts vs_detect_opts_default(vs_detector_kind kind);

/*
 * Detects faces in img (c = 1, 3 or 4; grey is replicated, alpha ignored).
 *   o     options (NULL: the defaults; zero fields: the defaults)
 *   out   OUT: up to max detections, best score first, in image pixels, clipped to the image
 *   n     OUT: how many were written
 *   info  OUT (may be NULL): what the call did
 * No faces is not an error (*n = 0).  Allocates only for an enhanced copy of a dark frame and,
 * the first time it is needed, a larger merge buffer.
 * Errors: VS_INVAL (NULL arguments, a bad image, max < 0), VS_NOMEM, engine errors.
 */
vs_status vs_detect(vs_detector *det, const vs_image *img, const vs_detect_opts *o, vs_det *out,
                    int max, int *n, vs_detect_info *info, vs_err *err);

/*
 * Greedy non-max suppression as face-api does it (ssdMobilenetv1/nonMaxSuppression.ts for the
 * SSD, ops/nonMaxSuppression.ts for the others): boxes scoring above `score` are visited best
 * first (ties in input order); one is kept unless its IoU with an already kept box exceeds `iou`
 * or, when io_min > 0, its intersection with one over the smaller of the two areas exceeds
 * io_min (face-api's iou(isIOU = false)); at most max_out are kept.  Boxes whose corners are
 * swapped are measured by their min/max extents, and a box of zero area overlaps nothing.
 *   d, n     candidates (not modified)
 *   scratch  2 * n ints
 *   keep     OUT: indices into d of the kept boxes, best first (room for max_out)
 * Returns how many were kept.
 */
int vs_detect_nms(const vs_det *d, int n, float score, float iou, float io_min, int max_out,
                  int *scratch, int *keep);

/* Intersection over union of two boxes as face-api's IOU (min/max extents; 0 when either box
 * has no area). */
float vs_detect_iou(const vs_det *a, const vs_det *b);

/* ---- between detect.c and the decoders (detect_ssd.c, detect_blaze.c, detect_fr.c) ---------- */

/* A detection net as detect.c drives it: how to fill its input and which outputs to decode.
 * The image region goes in padded at the bottom and right to the input's aspect ratio (padding
 * pixels are 0 before normalisation), resized with `resize`, as value * scale + offset, NHWC or
 * NCHW, RGB or BGR.  Decoders return boxes and keypoints relative to that padded frame (0..1 on
 * each axis, face-api's relativeBox), which detect.c maps back to image pixels. */
typedef struct vs_det_net {
    vs_detector_kind kind;
    int in_w, in_h;        /* net input size */
    int nchw, bgr;         /* input layout and channel order */
    float scale, offset;   /* input = pixel * scale + offset */
    vs_resize_mode resize; /* VS_RESIZE_BILINEAR (TFJS) or VS_RESIZE_BILINEAR_HALF (OpenCV) */
    int n_anchors;         /* candidates per pass */
    float *anchors;        /* decoder-specific, malloc'ed, freed by detect.c */
    int out[4];            /* engine output indices the decoder reads */
    vs_detect_opts defaults;
} vs_det_net;

/* Each init checks the model's input and output shapes, fills net (anchors included) and returns
 * VS_UNSUPPORTED with a message when the model is not what the decoder expects. */
vs_status vs_ssd_init(const vs_model *m, vs_det_net *net, vs_err *err);
vs_status vs_blaze_init(const vs_model *m, vs_det_net *net, vs_err *err);
vs_status vs_frdet_init(const vs_model *m, vs_det_net *net, vs_err *err);

/* Each decode reads the outputs of the last run of rt and writes the candidates scoring above
 * min_score into cand (room for net->n_anchors), in anchor order, relative to the padded frame.
 * Returns how many. */
int vs_ssd_decode(const vs_det_net *net, const vs_runtime *rt, float min_score, vs_det *cand);
int vs_blaze_decode(const vs_det_net *net, const vs_runtime *rt, float min_score, vs_det *cand);
int vs_frdet_decode(const vs_det_net *net, const vs_runtime *rt, float min_score, vs_det *cand);

/* The SSD's 5118 anchors as [ymin, xmin, ymax, xmax] relative to the input, generated as the
 * TF Object Detection API's multiple-grid anchor generator does for this net (the same values
 * face-api ships in the weight Output/extra_dim).  out: 5118 * 4 floats. */
#define VS_SSD_ANCHORS 5118
void vs_ssd_anchors(float *out);

#endif

/*
 * detect.c - the detector driver: options, feeding an image region to a detection net,
 * non-max suppression, tiling and merging, and the low-light step (see detect.h).
 *
 * The per-model parts (anchors, output decoding) live in detect_ssd.c, detect_blaze.c and
 * detect_fr.c behind vs_det_net; everything here is shared by the three.
 *
 * Feeding a region (det_fill_input).  face-api's SsdMobilenetv1 pads the image tensor with zeros
 * at the bottom or right to a square (padToSquare(isCenterImage = false)), resizes it with
 * tf.image.resizeBilinear(alignCorners = false, halfPixelCenters = false) to 512 and maps a box
 * back by relative coordinate * (512 / round(side * 512 / max(w, h))) * side.  We sample the
 * padded square without building it: a tap past the real pixels reads 0.  The same code serves
 * the other nets with their own aspect ratio, resize convention and normalisation.
 *
 * Thresholds, zoom-out and rescue, as measured (build/tests/test_detect lfw; test_detect's
 * close_crops and groups tests).  On the 4,992 LFW dev images (250x250, one centred face each)
 * the SSD finds a face in 89.3% of the images at score 0.5, 93.5% at 0.3, 95.6% at 0.2 and
 * 98.2% at 0.1 (BlazeFace and fr_detect at their defaults: 100%); on bbt's 40 close face crops
 * face-api itself finds 6 at 0.5 and 21 at 0.1.  The misses are faces that fill the frame: padded
 * to twice its size (the face half as large in the net's input), the image gives the face a score
 * above 0.5 in 132 of the first 135 LFW misses and above 0.3 in all of them.  A lower threshold for
 * everything would instead add junk to crowds: at 0.2 the SSD finds 82 boxes in retinaface_img3.jpg
 * against 38 at 0.5, most of them real faces in the stands but several on fists and arms.  So the
 * default keeps face-api's 0.5; when the whole-image pass finds nothing above it, a zoomed-out pass
 * (DET_ZOOM_OUT) runs; when that too finds nothing, the single best box above 0.1 is returned with
 * info.rescued = 1.  Crowds never reach either step.  With it the default finds a face in 4,991 of
 * the 4,992 LFW images (13 rescued) and in all 40 crops (34 by zooming out, 4 rescued at
 * 0.17..0.33).  The price: a faceless photo may get one rescued box (a sunlit landscape gets one at
 * 0.16), which is why it is flagged.
 *
 * Tiling.  The whole-image pass shrinks a large photo to the net's input, and faces under about
 * 20 input pixels are lost.  Tiles are square windows of the net's input size (so faces reach
 * the net at full resolution), overlapping by a quarter, evenly spaced to cover the image; when
 * that would take more than DET_MAX_TILES windows they grow until it does not.  A tile's box
 * that touches one of the tile's inner borders is a face cut in two and is dropped (the
 * neighbouring tile sees the whole face).  The passes are merged greedily, best score first,
 * suppressing a box whose IoU with a kept one exceeds the NMS threshold or which lies half
 * (DET_MERGE_IOMIN) inside a kept box or around it: at the finer scale the SSD draws a small
 * face's box tighter than in the whole-image pass, so the two boxes of one face can overlap
 * with an IoU under 0.5.  On the 39 group photos, tiles at 1:1 scale find 1,472 faces where the
 * whole-image pass finds 828 (face-api: 743, capped at 100 per photo), and no face of the
 * whole-image pass is lost; the additions are real faces in the back rows (reviewed by eye).
 *
 * Low light.  vs_img_brightness on the frame; when it is dark (mean luma <= VS_IMG_DARK_LUMA)
 * detection runs on an enhanced copy: a 3x3 binomial blur against sensor noise whose sums stay
 * unrounded (12 bits), then levels on R, G and B alike through one table over those 12 bits
 * (stretch the 99.5th percentile to 255, then the power curve whose mean over the frame's pixels
 * is 110), then CLAHE with a low clip limit (vs_img_enhance_low_light).  test_detect's
 * low_light_recall darkens the 43 test photos (gamma 2.5..3, exposure x0.3, noise of sigma 2
 * levels) and takes our own detections on the originals, tiles on, as the truth: the step finds
 * 87.4% of all faces and 96.6% of those at least 32 px tall (48.1% and 73.1% without it), where
 * the chain before it (a 3x3 box blur rounded to 8 bits, a curve taking the mean luma itself to
 * 110, CLAHE at 1.5) found 83.2% and 95.6%.  One change at a time: the binomial for the box
 * +2.9 points on all faces (the box is wider, sigma 0.82 against 0.71, and a 10-pixel face has
 * no detail to spare); keeping the 12 bits +2 (the curve's gain in the shadows is 10 or more, so
 * a quarter level of the dark frame is two or three levels of the result); a curve whose mean is
 * 110 rather than one taking the mean to 110 +1.3 (the frames are skewed dark, and by Jensen's
 * inequality the old rule brightened them less than it meant to); clip 1.2 for 1.5 +0.7 (no
 * CLAHE at all loses 3 points on faces of 32 px and more).  Other denoising did worse: a Gaussian
 * of sigma 1 81%, bilateral 84%, a guided filter 84%, non-local means 76% (the SSD takes flat,
 * painted regions for background), chroma blurred more than luma 82%; a linear toe on the curve,
 * or the darkening's exact inverse in place of the automatic curve, changed nothing beyond noise.
 * The rest is the darkening itself: quantising the dark photos to 8 bits without any noise and
 * inverting the curve exactly already loses 5.4% of the faces, and noise of sigma 2 alone on the
 * originals 2.4%; the misses are mostly faces under 16 px whose dark half the darkening left at
 * one or two levels, under noise of two.  Running detection a second time on an unblurred copy and
 * merging would add 2 points for twice the detection time.  The step costs about 20 ms per
 * megapixel on one core (the chain before it: 32), half of it CLAHE.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "face/detect.h"

#define DET_MAX_TILES 16
#define DET_TILE_TRIGGER 1.5f /* VS_TILE_AUTO: tile when the long side exceeds this x the input */
#define DET_MERGE_IOMIN 0.5f  /* across passes: suppress a box half inside a better one */
#define DET_EDGE_MARGIN 0.01f /* of the tile side: a box this close to an inner border is cut */
#define DET_MAX_INPUT 1024    /* the largest net input side the tap tables hold */
#define DET_ZOOM_OUT 2.0      /* the zoomed-out pass pads the image to this many times its size */

/* The low-light step (see the file comment). */
#define DET_LL_FRAC 4                      /* fractional bits of the blurred values */
#define DET_LL_LEVELS (256 << DET_LL_FRAC) /* blurred values: 0 .. 255 x 16 */
#define DET_LL_MEAN 110.0                  /* the curve takes the frame's mean luma here */
#define DET_LL_GMIN 0.25                   /* with an exponent of at least this */
#define DET_LL_CLAHE_CLIP 1.2f             /* CLAHE clip limit (vs_img's default: 2.5) */

struct vs_detector {
    vs_det_net net;
    vs_runtime *rt;
    vs_det *cand;       /* net.n_anchors candidates of one pass */
    int *keep;          /* net.n_anchors */
    int *scratch;       /* 2 * max(net.n_anchors, merge_cap) for the sort */
    vs_det *merged;     /* detections of all passes */
    vs_det *merged_tmp; /* the merged detections after cross-pass suppression */
    int merge_cap;      /* room in merged, merged_tmp and merge_keep */
    int *merge_keep;
    double *rows; /* det_fill_input's two horizontally resized rows, 2 x net.in_w x 3 */
};

/* Where a region of the image sits in a net's padded input frame: image x = x + rel * sx. */
typedef struct det_frame {
    int x, y, w, h;
    double zoom; /* the padded frame is this many times the region's padded size (>= 1) */
    double sx, sy;
} det_frame;

typedef struct det_tap {
    int i0, i1; /* source indices inside the padded frame; >= the region size reads 0 */
    double f;   /* weight of i1 */
} det_tap;

/* ---- kinds and options --------------------------------------------------------------------- */

static const char *const DET_MODEL_NAMES[VS_DETECTOR_COUNT] = {"ssd_mobilenetv1", "blazeface-back",
                                                               "fr_detect"};

const char *vs_detector_model_name(vs_detector_kind kind)
{
    return (unsigned)kind < VS_DETECTOR_COUNT ? DET_MODEL_NAMES[kind] : NULL;
}

vs_detect_opts vs_detect_opts_default(vs_detector_kind kind)
{
    vs_detect_opts o = {0};
    o.max_faces = 100; /* face-api's SsdMobilenetv1Options maxResults */
    o.tiling = VS_TILE_AUTO;
    o.zoom_out = VS_ZOOM_AUTO;
    o.low_light = VS_LOWLIGHT_AUTO;
    o.min_size = 0.0f;
    switch (kind) {
    case VS_DETECTOR_BLAZE:
        o.score = 0.5f;
        o.rescue_score = 0.2f; /* human's minConfidence */
        o.iou = 0.3f;
        o.tiling = VS_TILE_OFF; /* the fast mode: one pass */
        break;
    case VS_DETECTOR_FR:
        o.score = 0.65f; /* faceplugin's confidence_threshold */
        o.rescue_score = 0.3f;
        o.iou = 0.4f; /* faceplugin's nms_threshold */
        break;
    default:
        o.score = 0.5f; /* face-api's default minConfidence */
        o.rescue_score = 0.1f;
        o.iou = 0.5f; /* face-api's iouThreshold */
        break;
    }
    return o;
}

/* o with its zero fields replaced by the defaults; negative score / rescue mean "off". */
static vs_detect_opts det_resolve(vs_detector_kind kind, const vs_detect_opts *o)
{
    vs_detect_opts d = vs_detect_opts_default(kind);
    if (!o)
        return d;
    vs_detect_opts r = *o;
    if (r.score == 0.0f)
        r.score = d.score;
    if (r.score < 0.0f)
        r.score = 0.0f;
    if (r.rescue_score == 0.0f)
        r.rescue_score = d.rescue_score;
    if (r.rescue_score >= r.score)
        r.rescue_score = -1.0f;
    if (r.iou <= 0.0f)
        r.iou = d.iou;
    if (r.tiling == VS_TILE_DEFAULT)
        r.tiling = d.tiling;
    if (r.zoom_out == VS_ZOOM_DEFAULT)
        r.zoom_out = d.zoom_out;
    if (r.max_faces <= 0)
        r.max_faces = d.max_faces;
    if (r.max_faces > VS_DETECT_MAX_FACES)
        r.max_faces = VS_DETECT_MAX_FACES;
    if (r.min_size < 0.0f)
        r.min_size = 0.0f;
    return r;
}

/* ---- create / free ------------------------------------------------------------------------- */

static vs_status det_init_net(const vs_model *m, vs_det_net *net, vs_err *err)
{
    vs_nn_model_info info;
    vs_nn_model_info_get(m, &info);
    const char *name = info.name ? info.name : "";
    if (strcmp(name, "ssd_mobilenetv1") == 0)
        return vs_ssd_init(m, net, err);
    if (strcmp(name, "blazeface-back") == 0 || strcmp(name, "blazeface-front") == 0)
        return vs_blaze_init(m, net, err);
    if (strcmp(name, "fr_detect") == 0)
        return vs_frdet_init(m, net, err);
    return vs_err_set(err, VS_UNSUPPORTED, "'%s' is not a face detector", name);
}

/* Makes room for `cap` merged detections. */
static vs_status det_reserve(vs_detector *det, int cap, vs_err *err)
{
    if (cap <= det->merge_cap)
        return VS_OK;
    int sort_n = cap > det->net.n_anchors ? cap : det->net.n_anchors;
    vs_det *merged = realloc(det->merged, sizeof(vs_det) * (size_t)cap);
    if (merged)
        det->merged = merged;
    vs_det *tmp = realloc(det->merged_tmp, sizeof(vs_det) * (size_t)cap);
    if (tmp)
        det->merged_tmp = tmp;
    int *keep = realloc(det->merge_keep, sizeof(int) * (size_t)cap);
    if (keep)
        det->merge_keep = keep;
    int *scratch = realloc(det->scratch, sizeof(int) * 2 * (size_t)sort_n);
    if (scratch)
        det->scratch = scratch;
    if (!merged || !tmp || !keep || !scratch)
        return vs_err_set(err, VS_NOMEM, "detector merge buffer of %d", cap);
    det->merge_cap = cap;
    return VS_OK;
}

vs_status vs_detector_new(const vs_model *m, int threads, vs_detector **out, vs_err *err)
{
    if (!out)
        return vs_err_set(err, VS_INVAL, "vs_detector_new: NULL out");
    *out = NULL;
    if (!m)
        return vs_err_set(err, VS_INVAL, "vs_detector_new: NULL model");
    vs_detector *det = calloc(1, sizeof *det);
    if (!det)
        return vs_err_set(err, VS_NOMEM, "detector");
    vs_status st = det_init_net(m, &det->net, err);
    if (st != VS_OK)
        goto fail;
    if (det->net.in_w > DET_MAX_INPUT || det->net.in_h > DET_MAX_INPUT) {
        st = vs_err_set(err, VS_UNSUPPORTED, "detector input larger than %d", DET_MAX_INPUT);
        goto fail;
    }
    det->net.defaults = vs_detect_opts_default(det->net.kind);
    size_t na = (size_t)det->net.n_anchors;
    det->cand = malloc(sizeof(vs_det) * na);
    det->keep = malloc(sizeof(int) * na);
    if (!det->cand || !det->keep) {
        st = vs_err_set(err, VS_NOMEM, "detector candidates");
        goto fail;
    }
    st = det_reserve(det, 4 * 100, err);
    if (st != VS_OK)
        goto fail;
    det->rows = malloc(sizeof(double) * 2 * 3 * (size_t)det->net.in_w);
    if (!det->rows) {
        st = vs_err_set(err, VS_NOMEM, "detector input rows");
        goto fail;
    }
    st = vs_nn_runtime_new(m, VS_NN_BACKEND_XNNPACK, threads, &det->rt, err);
    if (st != VS_OK)
        goto fail;
    *out = det;
    return VS_OK;
fail:
    vs_detector_free(det);
    return st;
}

void vs_detector_free(vs_detector *det)
{
    if (!det)
        return;
    vs_nn_runtime_free(det->rt);
    free(det->net.anchors);
    free(det->cand);
    free(det->keep);
    free(det->scratch);
    free(det->merged);
    free(det->merged_tmp);
    free(det->merge_keep);
    free(det->rows);
    free(det);
}

vs_detector_kind vs_detector_get_kind(const vs_detector *det)
{
    return det->net.kind;
}

/* ---- non-max suppression ------------------------------------------------------------------- */

/* The box with its corners in order (face-api's IOU takes min/max of each pair). */
static vs_det det_norm(const vs_det *a)
{
    vs_det r = *a;
    r.x0 = fminf(a->x0, a->x1);
    r.x1 = fmaxf(a->x0, a->x1);
    r.y0 = fminf(a->y0, a->y1);
    r.y1 = fmaxf(a->y0, a->y1);
    return r;
}

static float det_inter(const vs_det *p, const vs_det *q)
{
    return fmaxf(fminf(p->y1, q->y1) - fmaxf(p->y0, q->y0), 0.0f) *
           fmaxf(fminf(p->x1, q->x1) - fmaxf(p->x0, q->x0), 0.0f);
}

float vs_detect_iou(const vs_det *a, const vs_det *b)
{
    vs_det p = det_norm(a), q = det_norm(b);
    float area_p = (p.y1 - p.y0) * (p.x1 - p.x0), area_q = (q.y1 - q.y0) * (q.x1 - q.x0);
    if (area_p <= 0 || area_q <= 0)
        return 0.0f;
    float inter = det_inter(&p, &q);
    return inter / (area_p + area_q - inter);
}

/* Intersection over the smaller box's area (0 when either has none). */
static float det_io_min(const vs_det *a, const vs_det *b)
{
    vs_det p = det_norm(a), q = det_norm(b);
    float area_p = (p.x1 - p.x0) * (p.y1 - p.y0), area_q = (q.x1 - q.x0) * (q.y1 - q.y0);
    float small = fminf(area_p, area_q);
    return small > 0 ? det_inter(&p, &q) / small : 0.0f;
}

/* Stable merge sort of idx[0..n) by descending d[idx].score; tmp holds n ints. */
static void det_sort_by_score(const vs_det *d, int *idx, int *tmp, int n)
{
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n;
            int hi = lo + 2 * width < n ? lo + 2 * width : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = d[idx[j]].score > d[idx[i]].score ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[k++] = idx[i++];
            while (j < hi)
                tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, sizeof(int) * (size_t)n);
    }
}

/* Greedy NMS; io_min > 0 also suppresses a box lying that much inside a kept one. */
static int det_nms(const vs_det *d, int n, float score, float iou, float io_min, int max_out,
                   int *scratch, int *keep)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (d[i].score > score)
            scratch[m++] = i;
    det_sort_by_score(d, scratch, scratch + n, m);
    int kept = 0;
    for (int c = 0; c < m && kept < max_out; c++) {
        const vs_det *cand = &d[scratch[c]];
        int suppressed = 0;
        /* face-api walks the kept boxes from the last one back; the outcome is the same. */
        for (int j = kept - 1; j >= 0 && !suppressed; j--) {
            const vs_det *k = &d[keep[j]];
            suppressed =
                vs_detect_iou(cand, k) > iou || (io_min > 0 && det_io_min(cand, k) > io_min);
        }
        if (!suppressed)
            keep[kept++] = scratch[c];
    }
    return kept;
}

int vs_detect_nms(const vs_det *d, int n, float score, float iou, float io_min, int max_out,
                  int *scratch, int *keep)
{
    if (!d || n <= 0 || !scratch || !keep || max_out <= 0)
        return 0;
    return det_nms(d, n, score, iou, io_min, max_out, scratch, keep);
}

/* ---- feeding the net ----------------------------------------------------------------------- */

/* Taps for out samples over a padded axis of `pad` pixels (TFJS / OpenCV bilinear). */
static void det_taps(vs_resize_mode mode, int pad, int out, det_tap *t)
{
    double ratio = (double)pad / (double)out;
    for (int i = 0; i < out; i++) {
        double s = mode == VS_RESIZE_BILINEAR_HALF ? ratio * (i + 0.5) - 0.5 : ratio * i;
        double fl = floor(s), cl = ceil(s);
        t[i].i0 = fl < 0 ? 0 : (int)fl;
        t[i].f = s - t[i].i0;
        t[i].i1 = cl > pad - 1 ? pad - 1 : (int)cl;
        if (t[i].i1 < 0)
            t[i].i1 = 0;
        if (t[i].f < 0)
            t[i].f = 0;
    }
}

/* Source row sy of region f resized horizontally through the taps tx into row[x * 3 + k], in
 * double as face-api's resize computes (0 past the region: the padding). */
static void det_hrow(const vs_image *img, const det_frame *f, const det_tap *tx, int out_w, int sy,
                     double *row)
{
    if (sy >= f->h) {
        memset(row, 0, sizeof(double) * 3 * (size_t)out_w);
        return;
    }
    const int c = img->c;
    const uint8_t *p = img->px + (size_t)(f->y + sy) * img->stride + (size_t)f->x * (size_t)c;
    for (int x = 0; x < out_w; x++) {
        const int i0 = tx[x].i0, i1 = tx[x].i1;
        const double fx = tx[x].f;
        for (int k = 0; k < 3; k++) {
            const int ch = c == 1 ? 0 : k;
            const double l = i0 < f->w ? p[(size_t)i0 * (size_t)c + (size_t)ch] : 0.0;
            const double r = i1 < f->w ? p[(size_t)i1 * (size_t)c + (size_t)ch] : 0.0;
            row[x * 3 + k] = l + (r - l) * fx;
        }
    }
}

/* Pads region f to the net's aspect ratio, resizes it into the net's input and sets the frame's
 * mapping back to image pixels.  Separable: each source row the output needs is resized
 * horizontally once (consecutive output rows share them when upsampling), then the two rows of
 * an output row are blended; the same operations in the same order as tap by tap, so the same
 * values.  rows: room for two resized rows (2 x in_w x 3). */
static void det_fill_input(const vs_det_net *net, const vs_image *img, det_frame *f, float *dst,
                           double *rows)
{
    /* The padded size: the region grown at the bottom or right to the input's aspect ratio. */
    double aspect = (double)net->in_w / net->in_h;
    int pw = f->w, ph = f->h;
    if ((double)f->w / f->h > aspect)
        ph = (int)lround(f->w / aspect);
    else
        pw = (int)lround(f->h * aspect);
    if (pw < f->w)
        pw = f->w;
    if (ph < f->h)
        ph = f->h;
    if (f->zoom > 1.0) {
        pw = (int)lround(pw * f->zoom);
        ph = (int)lround(ph * f->zoom);
    }
    /* face-api's getReshapedInputDimensions and its pad factors (SsdMobilenetv1.locateFaces). */
    double s = fmin((double)net->in_w / pw, (double)net->in_h / ph);
    double rw = fmax(1.0, round(f->w * s)), rh = fmax(1.0, round(f->h * s));
    f->sx = net->in_w / rw * f->w;
    f->sy = net->in_h / rh * f->h;

    det_tap tx[DET_MAX_INPUT], ty[DET_MAX_INPUT];
    det_taps(net->resize, pw, net->in_w, tx);
    det_taps(net->resize, ph, net->in_h, ty);
    const int w = net->in_w;
    const size_t plane = (size_t)w * net->in_h;
    /* Where channel k of a pixel goes: planes (NCHW) or interleaved (NHWC), RGB or BGR. */
    const size_t px_step = net->nchw ? 1 : 3, ch_step = net->nchw ? plane : 1;
    size_t ch_at[3];
    for (int k = 0; k < 3; k++)
        ch_at[k] = (size_t)(net->bgr ? 2 - k : k) * ch_step;
    double *held[2] = {rows, rows + 3 * (size_t)w};
    int held_row[2] = {-1, -1};
    for (int y = 0; y < net->in_h; y++) {
        const double *r[2];
        const int want[2] = {ty[y].i0, ty[y].i1};
        for (int e = 0; e < 2; e++) {
            int slot = held_row[0] == want[e] ? 0 : held_row[1] == want[e] ? 1 : -1;
            if (slot < 0) { /* resize it into the slot that does not hold the other one */
                slot = held_row[0] == want[1 - e] ? 1 : 0;
                det_hrow(img, f, tx, w, want[e], held[slot]);
                held_row[slot] = want[e];
            }
            r[e] = held[slot];
        }
        const double fy = ty[y].f;
        float *row = dst + (size_t)y * w * px_step;
        for (int x = 0; x < w; x++) {
            for (int k = 0; k < 3; k++) {
                const double top = r[0][x * 3 + k], bottom = r[1][x * 3 + k];
                row[(size_t)x * px_step + ch_at[k]] =
                    (float)(top + (bottom - top) * fy) * net->scale + net->offset;
            }
        }
    }
}

/* ---- one pass ------------------------------------------------------------------------------ */

static float clamp01(float v)
{
    return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

/* Maps a relative detection (clipped to the frame, as locateFaces does) into image pixels,
 * clipped to the region. */
static vs_det det_to_image(const vs_det *r, const det_frame *f)
{
    vs_det d = *r;
    d.x0 = (float)(f->x + clamp01(fminf(r->x0, r->x1)) * f->sx);
    d.x1 = (float)(f->x + clamp01(fmaxf(r->x0, r->x1)) * f->sx);
    d.y0 = (float)(f->y + clamp01(fminf(r->y0, r->y1)) * f->sy);
    d.y1 = (float)(f->y + clamp01(fmaxf(r->y0, r->y1)) * f->sy);
    d.x0 = fminf(d.x0, (float)(f->x + f->w));
    d.y0 = fminf(d.y0, (float)(f->y + f->h));
    d.x1 = fminf(d.x1, (float)(f->x + f->w));
    d.y1 = fminf(d.y1, (float)(f->y + f->h));
    for (int k = 0; k < d.n_kp; k++) {
        d.kp[k][0] = (float)(f->x + r->kp[k][0] * f->sx);
        d.kp[k][1] = (float)(f->y + r->kp[k][1] * f->sy);
    }
    return d;
}

static int det_decode(const vs_detector *det, float min_score)
{
    switch (det->net.kind) {
    case VS_DETECTOR_BLAZE:
        return vs_blaze_decode(&det->net, det->rt, min_score, det->cand);
    case VS_DETECTOR_FR:
        return vs_frdet_decode(&det->net, det->rt, min_score, det->cand);
    default:
        return vs_ssd_decode(&det->net, det->rt, min_score, det->cand);
    }
}

/* Runs the net on region f and appends up to o->max_faces detections above min_score, in image
 * pixels, to det->merged[*n ..]. */
static vs_status det_pass(vs_detector *det, const vs_image *img, det_frame f, float min_score,
                          const vs_detect_opts *o, int *n, vs_err *err)
{
    det_fill_input(&det->net, img, &f, vs_nn_input(det->rt, 0), det->rows);
    vs_status st = vs_nn_run(det->rt, err);
    if (st != VS_OK)
        return st;
    int nc = det_decode(det, min_score);
    int nk = det_nms(det->cand, nc, min_score, o->iou, 0.0f, o->max_faces, det->scratch, det->keep);
    st = det_reserve(det, *n + nk, err);
    if (st != VS_OK)
        return st;
    for (int i = 0; i < nk; i++) {
        vs_det d = det_to_image(&det->cand[det->keep[i]], &f);
        /* A box wholly in the padding (possible in the zoomed-out pass) is no face. */
        if (d.x1 - d.x0 >= 1.0f && d.y1 - d.y0 >= 1.0f)
            det->merged[(*n)++] = d;
    }
    return VS_OK;
}

/* ---- tiles --------------------------------------------------------------------------------- */

typedef struct det_grid {
    int side, nx, ny;
} det_grid;

static int det_tiles_along(int len, int side)
{
    if (len <= side)
        return 1;
    int step = side - side / 4;
    return (len - side + step - 1) / step + 1;
}

/* The tile grid for an image, or nx = ny = 1 when tiles would add nothing. */
static det_grid det_plan_tiles(const vs_det_net *net, int w, int h, vs_tile_mode mode)
{
    det_grid g = {net->in_w > net->in_h ? net->in_w : net->in_h, 1, 1};
    int longest = w > h ? w : h;
    if (mode == VS_TILE_OFF || longest <= g.side ||
        (mode == VS_TILE_AUTO && longest <= DET_TILE_TRIGGER * g.side))
        return g;
    for (;;) {
        g.nx = det_tiles_along(w, g.side);
        g.ny = det_tiles_along(h, g.side);
        if (g.nx * g.ny <= DET_MAX_TILES)
            return g;
        g.side += g.side / 4;
    }
}

/* The start of tile i of n along an axis of len pixels, tiles of `side`. */
static int det_tile_start(int i, int n, int len, int side)
{
    if (n <= 1 || len <= side)
        return 0;
    return (int)lround((double)i * (len - side) / (n - 1));
}

/* 1 when d touches an inner border of tile f (a face the tile cuts). */
static int det_cut_by_tile(const vs_det *d, const det_frame *f, int w, int h)
{
    float m = DET_EDGE_MARGIN * (f->w > f->h ? f->w : f->h) + 1.0f;
    return (f->x > 0 && d->x0 < f->x + m) || (f->y > 0 && d->y0 < f->y + m) ||
           (f->x + f->w < w && d->x1 > f->x + f->w - m) ||
           (f->y + f->h < h && d->y1 > f->y + f->h - m);
}

static vs_status det_tile_passes(vs_detector *det, const vs_image *img, det_grid g, float min_score,
                                 const vs_detect_opts *o, int *n, vs_err *err)
{
    for (int ty = 0; ty < g.ny; ty++) {
        for (int tx = 0; tx < g.nx; tx++) {
            det_frame f = {0};
            f.zoom = 1.0;
            f.w = img->w < g.side ? img->w : g.side;
            f.h = img->h < g.side ? img->h : g.side;
            f.x = det_tile_start(tx, g.nx, img->w, g.side);
            f.y = det_tile_start(ty, g.ny, img->h, g.side);
            int first = *n;
            vs_status st = det_pass(det, img, f, min_score, o, n, err);
            if (st != VS_OK)
                return st;
            /* Drop the faces this tile cuts in two. */
            int kept = first;
            for (int i = first; i < *n; i++)
                if (!det_cut_by_tile(&det->merged[i], &f, img->w, img->h))
                    det->merged[kept++] = det->merged[i];
            *n = kept;
        }
    }
    return VS_OK;
}

/* ---- the call ------------------------------------------------------------------------------ */

static int det_valid_image(const vs_image *img)
{
    return img && img->px && img->w > 0 && img->h > 0 &&
           (img->c == 1 || img->c == 3 || img->c == 4) && img->stride >= (size_t)img->w * img->c;
}

/* Copies the final detections: min size, then `score` (or the rescue), best first. */
static int det_select(vs_detector *det, int n, const vs_detect_opts *o, vs_det *out, int max,
                      vs_detect_info *info)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        const vs_det *d = &det->merged[i];
        if (fminf(d->x1 - d->x0, d->y1 - d->y0) >= o->min_size)
            det->merged[m++] = *d;
    }
    int nk =
        det_nms(det->merged, m, o->score, 2.0f, 0.0f, o->max_faces, det->scratch, det->merge_keep);
    if (nk == 0 && o->rescue_score >= 0.0f) {
        nk = det_nms(det->merged, m, o->rescue_score, 2.0f, 0.0f, 1, det->scratch, det->merge_keep);
        info->rescued = nk > 0;
    }
    int count = nk < max ? nk : max;
    for (int i = 0; i < count; i++)
        out[i] = det->merged[det->merge_keep[i]];
    return count;
}

/* 1 when one of merged[0..n) scores above score. */
static int det_any_above(const vs_detector *det, int n, float score)
{
    for (int i = 0; i < n; i++)
        if (det->merged[i].score > score)
            return 1;
    return 0;
}

/* Merges the passes: one box per face, the best-scoring one. */
static int det_merge(vs_detector *det, int n, float min_score, const vs_detect_opts *o)
{
    int nk = det_nms(det->merged, n, min_score, o->iou, DET_MERGE_IOMIN, n, det->scratch,
                     det->merge_keep);
    for (int i = 0; i < nk; i++)
        det->merged_tmp[i] = det->merged[det->merge_keep[i]];
    vs_det *swap = det->merged;
    det->merged = det->merged_tmp;
    det->merged_tmp = swap;
    return nk;
}

static vs_status det_run(vs_detector *det, const vs_image *img, const vs_detect_opts *o,
                         vs_det *out, int max, int *n_out, vs_detect_info *info, vs_err *err)
{
    float min_score = o->rescue_score >= 0.0f ? fminf(o->score, o->rescue_score) : o->score;
    int n = 0;
    det_frame whole = {0, 0, img->w, img->h, 1.0, 0.0, 0.0};
    vs_status st = det_pass(det, img, whole, min_score, o, &n, err);
    if (st != VS_OK)
        return st;
    int passes = 1;
    if (o->zoom_out == VS_ZOOM_AUTO && !det_any_above(det, n, o->score)) {
        det_frame wide = whole;
        wide.zoom = DET_ZOOM_OUT;
        st = det_pass(det, img, wide, min_score, o, &n, err);
        if (st != VS_OK)
            return st;
        info->zoomed = 1;
        passes++;
    }
    det_grid g = det_plan_tiles(&det->net, img->w, img->h, o->tiling);
    if (g.nx * g.ny > 1) {
        info->tiles = g.nx * g.ny;
        st = det_tile_passes(det, img, g, min_score, o, &n, err);
        if (st != VS_OK)
            return st;
        passes++;
    }
    if (passes > 1)
        n = det_merge(det, n, min_score, o);
    *n_out = det_select(det, n, o, out, max, info);
    return VS_OK;
}

/* ---- low light ----------------------------------------------------------------------------- */

/*
 * The blur is a 3x3 binomial ([1 2 1] x [1 2 1] / 16, sigma 0.71 px) whose sums are kept
 * unrounded: a channel value times 16, 12 bits exact (DET_LL_FRAC).  Rows are produced one at a
 * time from a ring of three horizontal passes, so the whole job holds four rows of scratch.
 */
typedef struct det_blur {
    const vs_image *img;
    uint16_t *ring[3];  /* horizontal passes (value x 4) of rows y - 1, y, y + 1, in some order */
    uint16_t *up, *mid; /* the ring rows of y - 1 and y (edges replicate) */
    uint16_t *out;      /* row y, value x 16 */
    int y;              /* the next row det_blur_next produces */
} det_blur;

/* The horizontal [1 2 1] pass of row y into dst (edges replicate), value x 4. */
static void det_blur_h(const det_blur *b, int y, uint16_t *dst)
{
    const vs_image *img = b->img;
    const uint8_t *row = img->px + (size_t)y * img->stride;
    size_t c = (size_t)img->c, end = (size_t)img->w * c;
    if (img->w == 1) {
        for (size_t k = 0; k < c; k++)
            dst[k] = (uint16_t)(4 * row[k]);
        return;
    }
    for (size_t k = 0; k < c; k++) {
        dst[k] = (uint16_t)(3 * row[k] + row[c + k]);
        dst[end - c + k] = (uint16_t)(row[end - 2 * c + k] + 3 * row[end - c + k]);
    }
    for (size_t i = c; i < end - c; i++)
        dst[i] = (uint16_t)(row[i - c] + 2 * row[i] + row[i + c]);
}

/* The ring row holding neither y - 1 nor y. */
static uint16_t *det_blur_spare(const det_blur *b)
{
    for (int i = 0; i < 3; i++)
        if (b->ring[i] != b->up && b->ring[i] != b->mid)
            return b->ring[i];
    return NULL; /* not reached: up and mid take at most two of the three */
}

/* Rewinds b to row 0. */
static void det_blur_start(det_blur *b)
{
    det_blur_h(b, 0, b->ring[0]);
    b->up = b->mid = b->ring[0];
    b->y = 0;
}

/* Blurs the next row into b->out. */
static void det_blur_next(det_blur *b)
{
    const vs_image *img = b->img;
    uint16_t *down = b->mid;
    if (b->y + 1 < img->h) {
        down = det_blur_spare(b);
        det_blur_h(b, b->y + 1, down);
    }
    size_t n = (size_t)img->w * img->c;
    for (size_t i = 0; i < n; i++)
        b->out[i] = (uint16_t)(b->up[i] + 2 * b->mid[i] + down[i]);
    b->up = b->mid;
    b->mid = down;
    b->y++;
}

/* Luma of blurred channel values, on the same x 16 scale. */
static unsigned det_ll_luma(const uint16_t *p, int c)
{
    if (c == 1)
        return p[0];
    return (299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u;
}

/* The exponent g taking the mean of min(1, v / hi)^g over the luma histogram to DET_LL_MEAN
 * (in [DET_LL_GMIN, 1]).  The mean of the curve, not the curve of the mean: the frames are
 * skewed dark, and the power of their mean overestimates the brightness the curve yields. */
static double det_ll_gamma(const uint64_t *luma, double hi)
{
    /* Solved on 256 bins of 16 levels each (by their centres): as exact as the result needs,
     * and 16 times fewer powers. */
    uint64_t coarse[256] = {0}, n = 0;
    for (int v = 0; v < DET_LL_LEVELS; v++)
        coarse[v >> DET_LL_FRAC] += luma[v];
    for (int v = 0; v < 256; v++)
        n += coarse[v];
    double target = DET_LL_MEAN / 255.0, lo = DET_LL_GMIN, up = 1.0;
    for (int it = 0; it < 16; it++) {
        double g = 0.5 * (lo + up), sum = 0;
        for (int v = 0; v < 256; v++) {
            double t = (v + 0.5) * (1 << DET_LL_FRAC) / hi;
            if (coarse[v])
                sum += coarse[v] * (t >= 1.0 ? 1.0 : pow(t, g));
        }
        /* The mean falls as g rises: too bright means g may rise. */
        if (sum > target * (double)n)
            lo = g;
        else
            up = g;
    }
    return 0.5 * (lo + up);
}

/*
 * Levels, from one pass of the blur: stretch so the 99.5th percentile of the channel values
 * becomes 255, then the power curve of det_ll_gamma, as a table over the 12-bit blurred values.
 * Applied to R, G and B alike, it also restores the colour a dark exposure washes out.
 * hist: 2 * DET_LL_LEVELS counts of scratch.
 */
static void det_ll_table(det_blur *b, uint64_t *hist, uint8_t *lut)
{
    uint64_t *luma = hist + DET_LL_LEVELS, total = 0;
    memset(hist, 0, 2 * DET_LL_LEVELS * sizeof *hist);
    int c = b->img->c, cc = c == 4 ? 3 : c;
    det_blur_start(b);
    for (int y = 0; y < b->img->h; y++) {
        det_blur_next(b);
        for (int x = 0; x < b->img->w; x++) {
            const uint16_t *p = b->out + (size_t)x * c;
            for (int k = 0; k < cc; k++)
                hist[p[k]]++;
            luma[det_ll_luma(p, c)]++;
        }
    }
    for (int v = 0; v < DET_LL_LEVELS; v++)
        total += hist[v];
    uint64_t acc = 0;
    int hi = DET_LL_LEVELS - 1;
    for (int v = 0; v < DET_LL_LEVELS; v++) {
        acc += hist[v];
        if (acc * 1000 >= total * 995) {
            hi = v > 0 ? v : 1;
            break;
        }
    }
    double g = det_ll_gamma(luma, hi);
    for (int v = 0; v < DET_LL_LEVELS; v++)
        lut[v] = (uint8_t)lround(255.0 * (v >= hi ? 1.0 : pow((double)v / hi, g)));
}

/* The second pass of the blur, through the table into dst (alpha copied). */
static void det_ll_apply(det_blur *b, const uint8_t *lut, vs_image *dst)
{
    const vs_image *img = b->img;
    int c = img->c;
    det_blur_start(b);
    for (int y = 0; y < img->h; y++) {
        det_blur_next(b);
        const uint8_t *src = img->px + (size_t)y * img->stride;
        uint8_t *row = dst->px + (size_t)y * dst->stride;
        size_t n = (size_t)img->w * c;
        for (size_t i = 0; i < n; i++)
            row[i] = lut[b->out[i]];
        /* Alpha was blurred along (it kept the loops simple); put the original back. */
        for (size_t i = 3; c == 4 && i < n; i += 4)
            row[i] = src[i];
    }
}

/* The low-light step: a brightened copy of a dark frame (*out, freed by the caller). */
static vs_status det_enhance(const vs_image *img, vs_image **out, vs_err *err)
{
    vs_image *copy = NULL;
    vs_status st = vs_image_new(img->w, img->h, img->c, &copy, err);
    if (st != VS_OK)
        return st;
    det_blur b = {img, {NULL, NULL, NULL}, NULL, NULL, NULL, 0};
    size_t row = (size_t)img->w * img->c;
    uint16_t *rows = malloc(4 * row * sizeof *rows);
    uint64_t *hist = malloc(2 * DET_LL_LEVELS * sizeof *hist);
    uint8_t *lut = malloc(DET_LL_LEVELS);
    if (!rows || !hist || !lut) {
        st = vs_err_set(err, VS_NOMEM, "low-light scratch");
        goto out;
    }
    for (int i = 0; i < 3; i++)
        b.ring[i] = rows + (size_t)i * row;
    b.out = rows + 3 * row;
    det_ll_table(&b, hist, lut);
    det_ll_apply(&b, lut, copy);
    /* Then local contrast, gently: CLAHE with a low clip limit. */
    vs_enhance_opts clahe = {VS_ENHANCE_CLAHE, 8, 8, DET_LL_CLAHE_CLIP, 0.0f};
    st = vs_img_enhance_low_light(copy, &clahe, err);
out:
    free(rows);
    free(hist);
    free(lut);
    if (st != VS_OK) {
        vs_image_free(copy);
        return st;
    }
    *out = copy;
    return VS_OK;
}

vs_status vs_detect(vs_detector *det, const vs_image *img, const vs_detect_opts *opts, vs_det *out,
                    int max, int *n, vs_detect_info *info, vs_err *err)
{
    vs_detect_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    if (n)
        *n = 0;
    if (!det || !n || (!out && max > 0) || max < 0)
        return vs_err_set(err, VS_INVAL, "vs_detect: NULL argument or negative max");
    if (!det_valid_image(img))
        return vs_err_set(err, VS_INVAL, "vs_detect: bad image");
    vs_detect_opts o = det_resolve(det->net.kind, opts);

    vs_brightness b;
    vs_status st = vs_img_brightness(img, &b, err);
    if (st != VS_OK)
        return st;
    info->mean_luma = b.mean_luma;
    vs_image *work = NULL;
    if (o.low_light == VS_LOWLIGHT_ALWAYS || (o.low_light == VS_LOWLIGHT_AUTO && b.is_dark)) {
        st = det_enhance(img, &work, err);
        if (st != VS_OK)
            return st;
        info->enhanced = 1;
    }
    st = det_run(det, work ? work : img, &o, out, max, n, info, err);
    vs_image_free(work);
    return st;
}

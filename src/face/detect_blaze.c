/*
 * detect_blaze.c - decoding human's BlazeFace (blazeface-back 256x256, blazeface-front 128x128),
 * the fast detector.
 *
 * The graph model has four outputs: for the 512 anchors of the finer grid and the 384 of the
 * coarser one, a score logit [1, n, 1] and 16 regressors [1, n, 16].  human
 * (src/face/blazeface.ts) sorts them by size, concatenates them into one [896, 17] batch, finer
 * grid first, and decodes each row as below; we pick the four outputs by shape instead and read
 * them in the same order.
 *   - anchors (facemeshutil.ts generateAnchors): strides in/16 and in/8 (16 x 16 cells with 2
 *     anchors, then 8 x 8 cells with 6), each at the cell centre stride * (g + 0.5), in input
 *     pixels, cells row-major;
 *   - box: centre = anchor + (r0, r1), size = (r2, r3), all in input pixels;
 *   - six keypoints (right eye, left eye, nose, mouth, right ear, left ear as the model orders
 *     them): anchor + (r[4 + 2k], r[5 + 2k]);
 *   - score: sigmoid(logit).
 * human then enlarges the box by 1.4 and squares it for its mesh model; a detector's box is the
 * raw one, which is what we return (relative to the input frame, like the other decoders).
 * The input is x / 127.5 - 1, resized with TFJS's bilinear.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "face/detect.h"

#define BLAZE_FINE 512   /* anchors of the in/16 grid */
#define BLAZE_COARSE 384 /* anchors of the in/8 grid */
#define BLAZE_REGS 16

/* The output of m shaped [1, n, k], or -1. */
static int output_by_shape(const vs_model *m, int n, int k)
{
    for (int i = 0;; i++) {
        vs_nn_tensor_info t = vs_nn_output_info(m, i);
        if (!t.name)
            return -1;
        if (t.rank == 3 && t.dim[0] == 1 && t.dim[1] == n && t.dim[2] == k)
            return i;
    }
}

/* human's generateAnchors(inputSize): anchor centres in input pixels, 2 floats each. */
static void blaze_anchors(int size, float *out)
{
    const int strides[2] = {size / 16, size / 8}, per_cell[2] = {2, 6};
    size_t i = 0;
    for (int l = 0; l < 2; l++) {
        int s = strides[l], cells = (size + s - 1) / s;
        for (int gy = 0; gy < cells; gy++)
            for (int gx = 0; gx < cells; gx++)
                for (int a = 0; a < per_cell[l]; a++) {
                    out[i++] = (float)(s * (gx + 0.5));
                    out[i++] = (float)(s * (gy + 0.5));
                }
    }
}

vs_status vs_blaze_init(const vs_model *m, vs_det_net *net, vs_err *err)
{
    vs_nn_tensor_info in = vs_nn_input_info(m, 0);
    if (in.rank != 4 || in.dim[1] != in.dim[2] || (in.dim[1] != 128 && in.dim[1] != 256) ||
        in.dim[3] != 3)
        return vs_err_set(err, VS_UNSUPPORTED,
                          "blazeface: expected a [1,256,256,3] or "
                          "[1,128,128,3] input");
    net->out[0] = output_by_shape(m, BLAZE_FINE, 1);
    net->out[1] = output_by_shape(m, BLAZE_FINE, BLAZE_REGS);
    net->out[2] = output_by_shape(m, BLAZE_COARSE, 1);
    net->out[3] = output_by_shape(m, BLAZE_COARSE, BLAZE_REGS);
    for (int i = 0; i < 4; i++)
        if (net->out[i] < 0)
            return vs_err_set(err, VS_UNSUPPORTED,
                              "blazeface: expected outputs [1,512,1], [1,512,16], [1,384,1], "
                              "[1,384,16]");
    net->kind = VS_DETECTOR_BLAZE;
    net->in_w = net->in_h = (int)in.dim[1];
    net->nchw = 0;
    net->bgr = 0;
    net->scale = 1.0f / 127.5f;
    net->offset = -1.0f;
    net->resize = VS_RESIZE_BILINEAR;
    net->n_anchors = BLAZE_FINE + BLAZE_COARSE;
    net->anchors = malloc(sizeof(float) * 2 * (size_t)net->n_anchors);
    if (!net->anchors)
        return vs_err_set(err, VS_NOMEM, "blazeface anchors");
    blaze_anchors(net->in_w, net->anchors);
    return VS_OK;
}

/* Decodes row i of one output pair into d, relative to the input. */
static void blaze_box(const vs_det_net *net, const float *r, const float *anchor, float score,
                      vs_det *d)
{
    float inv = 1.0f / (float)net->in_w;
    float cx = r[0] + anchor[0], cy = r[1] + anchor[1];
    memset(d, 0, sizeof *d);
    d->x0 = (cx - r[2] / 2) * inv;
    d->y0 = (cy - r[3] / 2) * inv;
    d->x1 = (cx + r[2] / 2) * inv;
    d->y1 = (cy + r[3] / 2) * inv;
    d->score = score;
    d->n_kp = 6;
    for (int k = 0; k < 6; k++) {
        d->kp[k][0] = (r[4 + 2 * k] + anchor[0]) * inv;
        d->kp[k][1] = (r[5 + 2 * k] + anchor[1]) * inv;
    }
}

int vs_blaze_decode(const vs_det_net *net, const vs_runtime *rt, float min_score, vs_det *cand)
{
    int n = 0, row = 0;
    for (int l = 0; l < 2; l++) {
        const float *logit = vs_nn_output(rt, net->out[2 * l]);
        const float *regs = vs_nn_output(rt, net->out[2 * l + 1]);
        int count = l == 0 ? BLAZE_FINE : BLAZE_COARSE;
        for (int i = 0; i < count; i++, row++) {
            float score = 1.0f / (1.0f + expf(-logit[i]));
            if (score > min_score)
                blaze_box(net, regs + (size_t)i * BLAZE_REGS, net->anchors + (size_t)row * 2, score,
                          &cand[n++]);
        }
    }
    return n;
}

/*
 * detect_fr.c - decoding faceplugin's fr_detect (an UltraFace / RFB-320 style net, 320x240).
 *
 * The ONNX graph already decodes its 4,420 priors (min sizes {10,16,24}, {32,48}, {64,96},
 * {128,192,256} on strides 8, 16, 32, 64 with variances 0.1 / 0.2) and applies the softmax: its
 * outputs are scores [1, 4420, 2] (background, face) and boxes [1, 4420, 4] as corner form
 * (x0, y0, x1, y1) relative to the input.  faceplugin's lib/fr_detect.js builds the priors and a
 * decodeBBox() too, but then uses the graph's boxes directly (scaled by 320 and 240), which is
 * what we do.  Its input: the frame resized to 320x240 with OpenCV's INTER_LINEAR (half-pixel
 * centres), channels in B, G, R order (cvtColor(BGR2RGB) on the canvas's RGBA), (x - 127) / 128,
 * NCHW.  Unlike faceplugin, which stretches the frame to 4:3, detect.c pads it to 4:3 at the
 * bottom and right, so faces keep their shape.  faceplugin's own threshold is 0.65 and its NMS an
 * intersection-over-area rule at 0.4; we use the common IoU NMS.
 */
#include <string.h>

#include "face/detect.h"

#define FR_W 320
#define FR_H 240
#define FR_PRIORS 4420

static int output_named(const vs_model *m, const char *name, int k)
{
    for (int i = 0;; i++) {
        vs_nn_tensor_info t = vs_nn_output_info(m, i);
        if (!t.name)
            return -1;
        if (strcmp(t.name, name) == 0)
            return t.rank == 3 && t.dim[1] == FR_PRIORS && t.dim[2] == k ? i : -1;
    }
}

vs_status vs_frdet_init(const vs_model *m, vs_det_net *net, vs_err *err)
{
    vs_nn_tensor_info in = vs_nn_input_info(m, 0);
    if (in.rank != 4 || in.dim[1] != 3 || in.dim[2] != FR_H || in.dim[3] != FR_W)
        return vs_err_set(err, VS_UNSUPPORTED, "fr_detect: expected a [1,3,240,320] input");
    net->out[0] = output_named(m, "scores", 2);
    net->out[1] = output_named(m, "boxes", 4);
    if (net->out[0] < 0 || net->out[1] < 0)
        return vs_err_set(err, VS_UNSUPPORTED,
                          "fr_detect: expected outputs scores [1,4420,2] and boxes [1,4420,4]");
    net->kind = VS_DETECTOR_FR;
    net->in_w = FR_W;
    net->in_h = FR_H;
    net->nchw = 1;
    net->bgr = 1;
    net->scale = 1.0f / 128.0f;
    net->offset = -127.0f / 128.0f;
    net->resize = VS_RESIZE_BILINEAR_HALF;
    net->n_anchors = FR_PRIORS;
    net->anchors = NULL;
    return VS_OK;
}

int vs_frdet_decode(const vs_det_net *net, const vs_runtime *rt, float min_score, vs_det *cand)
{
    const float *scores = vs_nn_output(rt, net->out[0]);
    const float *boxes = vs_nn_output(rt, net->out[1]);
    int n = 0;
    for (int i = 0; i < net->n_anchors; i++) {
        float score = scores[i * 2 + 1];
        if (!(score > min_score))
            continue;
        vs_det *d = &cand[n++];
        memset(d, 0, sizeof *d);
        d->x0 = boxes[i * 4 + 0];
        d->y0 = boxes[i * 4 + 1];
        d->x1 = boxes[i * 4 + 2];
        d->y1 = boxes[i * 4 + 3];
        d->score = score;
    }
    return n;
}

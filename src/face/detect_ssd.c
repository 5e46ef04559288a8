/*
 * detect_ssd.c - decoding face-api's SSD MobileNetV1 (the default detector).
 *
 * The engine runs the net up to the two tensors face-api's predictionLayer() concatenates:
 * box_encodings [1, 5118, 4] and class_predictions [1, 5118, 3].  This file does what face-api's
 * ssdMobilenetv1/outputLayer.ts does after that, in float32 as TFJS does:
 *   - anchors a = [ymin, xmin, ymax, xmax] give size (h, w) and centre (cy, cx);
 *   - an encoding e = (ty, tx, th, tw) with variances 10 (centre) and 5 (size) decodes to
 *     centre (cy + ty / 10 * h, cx + tx / 10 * w) and half size (exp(th / 5) * h / 2,
 *     exp(tw / 5) * w / 2);
 *   - the face score is sigmoid(class_predictions[..., 1]) (column 0 is the background, column 2
 *     unused).
 * Boxes stay unclipped here because face-api's NMS measures the unclipped boxes; detect.c clips
 * to the frame afterwards as locateFaces() does.
 *
 * The anchors are the ones face-api ships as the weight Output/extra_dim.  The engine does not
 * expose weights, so they are generated here the way the TF Object Detection API's
 * multiple_grid_anchor_generator built them for this net (6 feature maps of 32, 16, 8, 4, 2, 1
 * cells; scales 0.2 .. 0.95 in equal steps; the lowest layer with (0.1, 1), (0.2, 2), (0.2, 0.5)
 * (scale, aspect ratio); the others with (s, 1), (sqrt(s * s_next), 1), (s, 2), (s, 0.5), (s, 3),
 * (s, 0.3333); cells row-major, anchors within a cell in that order).  test_detect.c checks them
 * against Output/extra_dim read from the shipped weights file (max difference ~1e-7).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "face/detect.h"

#define SSD_INPUT 512
#define SSD_LAYERS 6

static const int SSD_GRID[SSD_LAYERS] = {32, 16, 8, 4, 2, 1};

/* The (scale, aspect ratio) pairs of one cell of layer k; returns how many (3 or 6). */
static int ssd_layer_boxes(int k, double scale_ar[6][2])
{
    if (k == 0) {
        static const double lowest[3][2] = {{0.1, 1.0}, {0.2, 2.0}, {0.2, 0.5}};
        memcpy(scale_ar, lowest, sizeof lowest);
        return 3;
    }
    double s = 0.2 + (0.95 - 0.2) * k / (SSD_LAYERS - 1);
    double s_next = k + 1 < SSD_LAYERS ? 0.2 + (0.95 - 0.2) * (k + 1) / (SSD_LAYERS - 1) : 1.0;
    const double pairs[6][2] = {{s, 1.0},   {sqrt(s * s_next), 1.0}, {s, 2.0}, {s, 0.5}, {s, 3.0},
                                {s, 0.3333}};
    memcpy(scale_ar, pairs, sizeof pairs);
    return 6;
}

void vs_ssd_anchors(float *out)
{
    size_t i = 0;
    for (int k = 0; k < SSD_LAYERS; k++) {
        double scale_ar[6][2];
        int nb = ssd_layer_boxes(k, scale_ar);
        int g = SSD_GRID[k];
        for (int y = 0; y < g; y++) {
            for (int x = 0; x < g; x++) {
                double cy = (y + 0.5) / g, cx = (x + 0.5) / g;
                for (int b = 0; b < nb; b++) {
                    double r = sqrt(scale_ar[b][1]);
                    double h = scale_ar[b][0] / r, w = scale_ar[b][0] * r;
                    out[i++] = (float)(cy - h / 2);
                    out[i++] = (float)(cx - w / 2);
                    out[i++] = (float)(cy + h / 2);
                    out[i++] = (float)(cx + w / 2);
                }
            }
        }
    }
}

/* The output of m named `name` with shape [1, n, k], or -1. */
static int find_output(const vs_model *m, const char *name, int n, int k)
{
    for (int i = 0;; i++) {
        vs_nn_tensor_info t = vs_nn_output_info(m, i);
        if (!t.name)
            return -1;
        if (strcmp(t.name, name) == 0)
            return t.rank == 3 && t.dim[0] == 1 && t.dim[1] == n && t.dim[2] == k ? i : -1;
    }
}

vs_status vs_ssd_init(const vs_model *m, vs_det_net *net, vs_err *err)
{
    vs_nn_tensor_info in = vs_nn_input_info(m, 0);
    if (in.rank != 4 || in.dim[1] != SSD_INPUT || in.dim[2] != SSD_INPUT || in.dim[3] != 3)
        return vs_err_set(err, VS_UNSUPPORTED, "ssd: expected a [1,512,512,3] input");
    net->out[0] = find_output(m, "box_encodings", VS_SSD_ANCHORS, 4);
    net->out[1] = find_output(m, "class_predictions", VS_SSD_ANCHORS, 3);
    if (net->out[0] < 0 || net->out[1] < 0)
        return vs_err_set(err, VS_UNSUPPORTED,
                          "ssd: expected outputs box_encodings [1,5118,4] and "
                          "class_predictions [1,5118,3]");
    net->kind = VS_DETECTOR_SSD;
    net->in_w = net->in_h = SSD_INPUT;
    net->nchw = 0;
    net->bgr = 0;
    net->scale = 1.0f; /* the graph normalises x / 127.5 - 1 itself */
    net->offset = 0.0f;
    net->resize = VS_RESIZE_BILINEAR;
    net->n_anchors = VS_SSD_ANCHORS;
    net->anchors = malloc(sizeof(float) * 4 * VS_SSD_ANCHORS);
    if (!net->anchors)
        return vs_err_set(err, VS_NOMEM, "ssd anchors");
    vs_ssd_anchors(net->anchors);
    return VS_OK;
}

int vs_ssd_decode(const vs_det_net *net, const vs_runtime *rt, float min_score, vs_det *cand)
{
    const float *enc = vs_nn_output(rt, net->out[0]);
    const float *cls = vs_nn_output(rt, net->out[1]);
    int n = 0;
    for (int i = 0; i < net->n_anchors; i++) {
        float score = 1.0f / (1.0f + expf(-cls[i * 3 + 1]));
        if (!(score > min_score))
            continue;
        const float *a = net->anchors + (size_t)i * 4, *e = enc + (size_t)i * 4;
        float h = a[2] - a[0], w = a[3] - a[1];
        float cy = a[0] + h / 2, cx = a[1] + w / 2;
        float half_h = expf(e[2] / 5) * h / 2, half_w = expf(e[3] / 5) * w / 2;
        float y = e[0] / 10 * h + cy, x = e[1] / 10 * w + cx;
        vs_det *d = &cand[n++];
        memset(d, 0, sizeof *d);
        d->y0 = y - half_h;
        d->x0 = x - half_w;
        d->y1 = y + half_h;
        d->x1 = x + half_w;
        d->score = score;
    }
    return n;
}

/*
 * faceapi_nets.c - face-api's seven code-defined networks, rebuilt as graphs from their weights.
 *
 * @vladmandic/face-api 1.7.15 ships weights only; each net's structure is TypeScript code
 * (src/ssdMobilenetv1, faceFeatureExtractor, faceRecognitionNet, xception, tinyYolov2, ...).
 * The builders below follow that code op by op, reading the weights the graph already holds as
 * constants named as in the manifest.  The input is float32 NHWC RGB pixels 0..255 at the net's
 * size; the normalisation face-api does before the net is the first nodes of the graph.
 *
 * What each graph outputs (the golden tests, tests/golden/gen_faceapi.js, capture the same
 * tensors from face-api's own code):
 *   ssd_mobilenetv1        x / 127.5 - 1, 512x512.  "box_encodings" [1,5118,4] and
 *                          "class_predictions" [1,5118,3]: the two tensors predictionLayer()
 *                          concatenates, raw (before outputLayer(), which decodes the boxes
 *                          against the anchors in the weight Output/extra_dim, not used here,
 *                          and takes sigmoid(class_predictions[..., 1]) as the face score).
 *   tiny_face_detector     (x - [117.001, 114.697, 97.404]) / 255, 416x416.  "grid"
 *                          [1,13,13,25]: 5 anchors x (x, y, w, h, score logit), before the
 *                          sigmoid/exp of extractBoxes().
 *   face_landmark_68       (x - [122.782, 117.001, 104.298]) / 255, 112x112.  "landmarks"
 *   face_landmark_68_tiny  [1,136]: x0, y0, x1, ... relative to the input (runNet's output;
 *                          postProcess is the identity for a square input).
 *   face_recognition       same normalisation, 150x150, ResNet-34.  "descriptor" [1,128].
 *   age_gender             same normalisation, 112x112, TinyXception with 2 main blocks.
 *                          "age" [1,1] and "gender" [1,2] (softmax: male, female).
 *   face_expression        as face_landmark_68 with a 7-way head.  "expressions" [1,7]
 *                          (softmax over neutral, happy, sad, angry, fearful, disgusted,
 *                          surprised).
 *
 * TFJS ops are mapped one to one except where the engine has a direct form: conv2d + add(bias)
 * is one CONV2D with its bias input, an activation right after it is fused into the node,
 * separableConv2d is DWCONV2D then a 1x1 CONV2D, tf.batchNorm is Sub/Mul/Add with the factor
 * gamma * rsqrt(variance + eps) left to constant folding, tinyYolo's leaky() (relu(x - 0.1x) +
 * 0.1x) is LEAKY_RELU 0.1, and residualDown's concat-with-zeros is PAD.  The dense blocks add
 * their branch outputs left to right where face-api nests the sums to the right; the results
 * differ by float rounding only.
 *
 * Building uses one sticky error: the first failure (a missing or misshapen weight, a shape that
 * does not chain) is recorded in the builder and every later helper call returns -1 at once, so
 * each net reads as straight-line code and the status is checked once at the end.
 */
#include "faceapi_nets.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FA_NAME_MAX 160

typedef struct fa_builder {
    vs_graph *g;
    vs_err *err;
    vs_status st; /* first failure; once set, every helper returns -1 */
} fa_builder;

/* How a convolution is run: stride, padding, fused activation, output name (NULL: the weight
 * prefix). */
typedef struct fa_conv_cfg {
    int stride;
    vs_padmode pad;
    int explicit_pad; /* all four sides, with VS_PAD_EXPLICIT */
    vs_act act;
    const char *name;
} fa_conv_cfg;

static const float FA_MEAN_RGB[3] = {122.782f, 117.001f, 104.298f};     /* ops/normalize callers */
static const float FA_MEAN_RGB_TINY[3] = {117.001f, 114.697f, 97.404f}; /* tinyFaceDetector */
static const float FA_LEAKY_ALPHA = 0.10000000149011612f;               /* tinyYolov2/leaky.ts */
static const float FA_BN_EPSILON = 0.0010000000474974513f;              /* mobileNetV1.ts */

/* ---- builder primitives -------------------------------------------------------------------- */

/* snprintf for node and weight names; every name used here is far below FA_NAME_MAX. */
static void fa_name(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fa_name(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

static int fa_fail(fa_builder *b, vs_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fa_fail(fa_builder *b, vs_status st, const char *fmt, ...)
{
    if (b->st == VS_OK) {
        b->st = st;
        if (b->err) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(b->err->msg, sizeof b->err->msg, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static const vs_shape *fa_shape(const fa_builder *b, int v)
{
    return &b->g->values[v].shape;
}

/* Finds the weight `prefix`/`suffix` (suffix NULL: prefix alone) and checks its shape against
 * dims (-1 matches any size). */
static int fa_weight(fa_builder *b, const char *prefix, const char *suffix, int rank,
                     const int64_t *dims)
{
    char name[FA_NAME_MAX];
    if (b->st != VS_OK)
        return -1;
    fa_name(name, sizeof name, "%s%s%s", prefix, suffix ? "/" : "", suffix ? suffix : "");
    int v = vs_graph_find(b->g, name);
    if (v < 0 || !b->g->values[v].data)
        return fa_fail(b, VS_FORMAT, "face-api net %s: weight %s is missing", b->g->name, name);
    const vs_shape *s = fa_shape(b, v);
    int ok = s->rank == rank && b->g->values[v].dtype == VS_DT_F32;
    for (int i = 0; ok && i < rank; i++)
        ok = dims[i] < 0 || s->dim[i] == dims[i];
    if (!ok) {
        char want[80] = "", got[80] = "";
        for (int i = 0; i < rank; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? "," : "",
                     (long long)dims[i]);
        for (int i = 0; i < s->rank && i < VS_MAX_DIMS; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "",
                     (long long)s->dim[i]);
        return fa_fail(b, VS_FORMAT, "face-api net %s: weight %s has shape [%s], expected [%s]",
                       b->g->name, name, got, want);
    }
    return v;
}

/* A float constant of n values, shape [n]. */
static int fa_const(fa_builder *b, const char *name, const float *vals, int n)
{
    if (b->st != VS_OK)
        return -1;
    float *data = malloc((size_t)n * sizeof *data);
    if (!data)
        return fa_fail(b, VS_NOMEM, "face-api net %s: out of memory", b->g->name);
    memcpy(data, vals, (size_t)n * sizeof *data);
    vs_shape s = vs_shape_make(1, (int64_t[]){n});
    int v = vs_graph_add_const(b->g, name, VS_DT_F32, &s, data);
    return v < 0 ? fa_fail(b, VS_NOMEM, "face-api net %s: out of memory", b->g->name) : v;
}

/* Adds node `op` named `name` over in[0..n_in) with the attributes of `attrs` (NULL: defaults),
 * infers its shape and returns the value it writes. */
static int fa_node(fa_builder *b, vs_op op, const char *name, const int *in, int n_in,
                   const vs_node *attrs)
{
    if (b->st != VS_OK)
        return -1;
    int id = vs_graph_add_node(b->g, op, name, in, n_in);
    if (id < 0)
        return fa_fail(b, VS_NOMEM, "face-api net %s: out of memory", b->g->name);
    vs_node *n = vs_graph_node(b->g, id);
    if (attrs) {
        vs_node keep = *n;
        *n = *attrs;
        n->op = keep.op;
        n->name = keep.name;
        n->n_in = keep.n_in;
        memcpy(n->in, keep.in, sizeof n->in);
        n->out = keep.out;
    }
    vs_err e = {{0}};
    vs_status st = vs_graph_infer_node(b->g, n, &e);
    if (st != VS_OK)
        return fa_fail(b, st, "face-api net %s: %s", b->g->name, e.msg);
    return vs_graph_node_out(b->g, id);
}

/* Default attributes, as vs_graph_add_node sets them. */
static vs_node fa_attrs(void)
{
    vs_node a;
    memset(&a, 0, sizeof a);
    a.stride[0] = a.stride[1] = 1;
    a.dilation[0] = a.dilation[1] = 1;
    a.ksize[0] = a.ksize[1] = 1;
    a.act_min = -INFINITY;
    a.act_max = INFINITY;
    for (int i = 0; i < VS_MAX_DIMS; i++)
        a.perm[i] = i;
    return a;
}

static int fa_binary(fa_builder *b, vs_op op, const char *name, int x, int y)
{
    return fa_node(b, op, name, (int[]){x, y}, 2, NULL);
}

static int fa_unary(fa_builder *b, vs_op op, const char *name, int x)
{
    return fa_node(b, op, name, &x, 1, NULL);
}

static int fa_pool(fa_builder *b, vs_op op, const char *name, int x, int k, int stride,
                   vs_padmode pad)
{
    vs_node a = fa_attrs();
    a.ksize[0] = a.ksize[1] = k;
    a.stride[0] = a.stride[1] = stride;
    a.padmode = pad;
    return fa_node(b, op, name, &x, 1, &a);
}

static int fa_reshape(fa_builder *b, const char *name, int x, int rank, const int64_t *dims)
{
    vs_node a = fa_attrs();
    a.new_shape = vs_shape_make(rank, dims);
    return fa_node(b, VS_OP_RESHAPE, name, &x, 1, &a);
}

/* Spatial average pool to 1x1 as face-api writes it (avgPool with a window the size of the map)
 * followed by the flatten to [1, C] its fully connected layers take. */
static int fa_pool_flatten(fa_builder *b, int x, int k)
{
    x = fa_pool(b, VS_OP_AVGPOOL, "features/avgpool", x, k, 2, VS_PAD_VALID);
    return fa_reshape(b, "features", x, 2, (int64_t[]){1, -1});
}

/* conv2d(x, prefix/fsuffix) + prefix/bsuffix, then cfg's activation (common/convLayer.ts and
 * the conv + bias + activation patterns around it). */
static int fa_conv(fa_builder *b, int x, const char *prefix, const char *fsuffix,
                   const char *bsuffix, const fa_conv_cfg *cfg)
{
    if (b->st != VS_OK || x < 0)
        return -1;
    int f = fa_weight(b, prefix, fsuffix, 4, (int64_t[]){-1, -1, fa_shape(b, x)->dim[3], -1});
    if (f < 0)
        return -1;
    int bias = fa_weight(b, prefix, bsuffix, 1, (int64_t[]){fa_shape(b, f)->dim[3]});
    vs_node a = fa_attrs();
    a.stride[0] = a.stride[1] = cfg->stride;
    a.padmode = cfg->pad;
    for (int i = 0; i < 4; i++)
        a.pad[i] = cfg->explicit_pad;
    a.act = cfg->act;
    if (cfg->act == VS_ACT_LEAKY_RELU)
        a.alpha = FA_LEAKY_ALPHA;
    return fa_node(b, VS_OP_CONV2D, cfg->name ? cfg->name : prefix, (int[]){x, f, bias}, 3, &a);
}

/* Depthwise conv with filter prefix/fsuffix [3,3,C,1], no bias. */
static int fa_dwconv(fa_builder *b, int x, const char *prefix, const char *fsuffix,
                     const fa_conv_cfg *cfg)
{
    char name[FA_NAME_MAX];
    if (b->st != VS_OK || x < 0)
        return -1;
    int f = fa_weight(b, prefix, fsuffix, 4, (int64_t[]){3, 3, fa_shape(b, x)->dim[3], 1});
    vs_node a = fa_attrs();
    a.stride[0] = a.stride[1] = cfg->stride;
    a.padmode = cfg->pad;
    for (int i = 0; i < 4; i++)
        a.pad[i] = cfg->explicit_pad;
    fa_name(name, sizeof name, "%s/depthwise", prefix);
    return fa_node(b, VS_OP_DWCONV2D, name, (int[]){x, f, -1}, 3, &a);
}

/* separableConv2d(x, prefix/depthwise_filter, prefix/pointwise_filter) + prefix/bias, then
 * cfg's activation (common/depthwiseSeparableConv.ts, tinyYolov2/depthwiseSeparableConv.ts).
 * The stride and padding are the depthwise step's; the pointwise step is 1x1. */
static int fa_sepconv(fa_builder *b, int x, const char *prefix, const fa_conv_cfg *cfg)
{
    x = fa_dwconv(b, x, prefix, "depthwise_filter", cfg);
    fa_conv_cfg pw = {.stride = 1, .pad = VS_PAD_VALID, .act = cfg->act, .name = cfg->name};
    return fa_conv(b, x, prefix, "pointwise_filter", "bias", &pw);
}

/* x - mean_rgb, then / 255 (ops/normalize.ts and the .div(255) after it). */
static int fa_normalize(fa_builder *b, int x, const float *mean_rgb)
{
    static const float k255 = 255.0f;
    x = fa_binary(b, VS_OP_SUB, "preprocess/sub_mean", x,
                  fa_const(b, "preprocess/mean_rgb", mean_rgb, 3));
    return fa_binary(b, VS_OP_DIV, "preprocess/div_255", x,
                     fa_const(b, "preprocess/255", &k255, 1));
}

static int fa_input(fa_builder *b, int size)
{
    if (b->st != VS_OK)
        return -1;
    vs_shape s = vs_shape_make(4, (int64_t[]){1, size, size, 3});
    int v = vs_graph_add_input(b->g, "input", &s);
    return v < 0 ? fa_fail(b, VS_NOMEM, "face-api net %s: out of memory", b->g->name) : v;
}

static void fa_output(fa_builder *b, int v)
{
    if (b->st != VS_OK)
        return;
    vs_status st = vs_graph_mark_output(b->g, v);
    if (st != VS_OK)
        fa_fail(b, st, "face-api net %s: cannot mark output", b->g->name);
}

/* A fully connected layer: matMul(x, prefix/weights) + prefix/bias (common/fullyConnectedLayer),
 * named `name`. */
static int fa_fc(fa_builder *b, int x, const char *prefix, const char *name)
{
    if (b->st != VS_OK || x < 0)
        return -1;
    int w = fa_weight(b, prefix, "weights", 2, (int64_t[]){fa_shape(b, x)->dim[1], -1});
    if (w < 0)
        return -1;
    int bias = fa_weight(b, prefix, "bias", 1, (int64_t[]){fa_shape(b, w)->dim[1]});
    return fa_node(b, VS_OP_MATMUL, name, (int[]){x, w, bias}, 3, NULL);
}

static int fa_softmax(fa_builder *b, const char *name, int x)
{
    vs_node a = fa_attrs();
    a.axis = 1;
    return fa_node(b, VS_OP_SOFTMAX, name, &x, 1, &a);
}

/* ---- ssd_mobilenetv1 ----------------------------------------------------------------------- */

/* pointwiseConvLayer: conv2d 'same' + convolution_bn_offset, clipped to 0..6. */
static int ssd_pointwise(fa_builder *b, int x, const char *scope, int idx, int stride)
{
    char prefix[FA_NAME_MAX];
    fa_name(prefix, sizeof prefix, "%s/Conv2d_%d_pointwise", scope, idx);
    fa_conv_cfg cfg = {.stride = stride, .pad = VS_PAD_SAME, .act = VS_ACT_RELU6};
    return fa_conv(b, x, prefix, "weights", "convolution_bn_offset", &cfg);
}

/* mobileNetV1's depthwiseConvLayer: depthwise conv 'same', tf.batchNorm, clipped to 0..6. */
static int ssd_depthwise(fa_builder *b, int x, int idx, int stride)
{
    char p[FA_NAME_MAX], n[FA_NAME_MAX];
    fa_name(p, sizeof p, "MobilenetV1/Conv2d_%d_depthwise", idx);
    const fa_conv_cfg cfg = {.stride = stride, .pad = VS_PAD_SAME};
    x = fa_dwconv(b, x, p, "depthwise_weights", &cfg);
    if (x < 0)
        return -1;
    const int64_t c[1] = {fa_shape(b, x)->dim[3]};
    int mean = fa_weight(b, p, "BatchNorm/moving_mean", 1, c);
    int var = fa_weight(b, p, "BatchNorm/moving_variance", 1, c);
    int gamma = fa_weight(b, p, "BatchNorm/gamma", 1, c);
    int beta = fa_weight(b, p, "BatchNorm/beta", 1, c);
    fa_name(n, sizeof n, "%s/BatchNorm/epsilon", p);
    int eps = fa_const(b, n, &FA_BN_EPSILON, 1);
    fa_name(n, sizeof n, "%s/BatchNorm/var_eps", p);
    int k = fa_binary(b, VS_OP_ADD, n, var, eps);
    fa_name(n, sizeof n, "%s/BatchNorm/rsqrt", p);
    k = fa_unary(b, VS_OP_RSQRT, n, k);
    fa_name(n, sizeof n, "%s/BatchNorm/factor", p);
    k = fa_binary(b, VS_OP_MUL, n, k, gamma);
    fa_name(n, sizeof n, "%s/BatchNorm/sub", p);
    x = fa_binary(b, VS_OP_SUB, n, x, mean);
    fa_name(n, sizeof n, "%s/BatchNorm/mul", p);
    x = fa_binary(b, VS_OP_MUL, n, x, k);
    fa_name(n, sizeof n, "%s/BatchNorm/add", p);
    x = fa_binary(b, VS_OP_ADD, n, x, beta);
    fa_name(n, sizeof n, "%s/relu6", p);
    return fa_unary(b, VS_OP_RELU6, n, x);
}

/* boxPredictionLayer: 1x1 convs for 4 box encodings and 3 class logits per anchor, reshaped to
 * [1, anchors, 4] and [1, anchors, 3]. */
static void ssd_box_predictor(fa_builder *b, int x, int idx, int *box, int *cls)
{
    char p[FA_NAME_MAX], n[FA_NAME_MAX];
    const fa_conv_cfg cfg = {.stride = 1, .pad = VS_PAD_SAME};
    fa_name(p, sizeof p, "Prediction/BoxPredictor_%d/BoxEncodingPredictor", idx);
    fa_name(n, sizeof n, "%s/reshape", p);
    *box = fa_reshape(b, n, fa_conv(b, x, p, "weights", "biases", &cfg), 3, (int64_t[]){1, -1, 4});
    fa_name(p, sizeof p, "Prediction/BoxPredictor_%d/ClassPredictor", idx);
    fa_name(n, sizeof n, "%s/reshape", p);
    *cls = fa_reshape(b, n, fa_conv(b, x, p, "weights", "biases", &cfg), 3, (int64_t[]){1, -1, 3});
}

static void build_ssd_mobilenetv1(fa_builder *b)
{
    static const float k127_5 = 127.5f, k1 = 1.0f;
    int x = fa_input(b, 512);
    x = fa_binary(b, VS_OP_DIV, "preprocess/div", x, fa_const(b, "preprocess/127.5", &k127_5, 1));
    x = fa_binary(b, VS_OP_SUB, "preprocess/sub", x, fa_const(b, "preprocess/1", &k1, 1));

    int conv11 = -1, feat[6], box[6], cls[6];
    x = ssd_pointwise(b, x, "MobilenetV1", 0, 2);
    for (int i = 1; i <= 13; i++) {
        int stride = i == 2 || i == 4 || i == 6 || i == 12 ? 2 : 1;
        x = ssd_depthwise(b, x, i, stride);
        x = ssd_pointwise(b, x, "MobilenetV1", i, 1);
        if (i == 11)
            conv11 = x;
    }
    /* predictionLayer: four stride-2 pairs of 1x1 convs; predictors on conv11, the backbone's
     * output and every second of those convs. */
    feat[0] = conv11;
    feat[1] = x;
    for (int i = 0; i < 8; i++) {
        x = ssd_pointwise(b, x, "Prediction", i, i % 2 ? 2 : 1);
        if (i % 2)
            feat[2 + i / 2] = x;
    }
    for (int i = 0; i < 6; i++)
        ssd_box_predictor(b, feat[i], i, &box[i], &cls[i]);
    vs_node a = fa_attrs();
    a.axis = 1;
    fa_output(b, fa_node(b, VS_OP_CONCAT, "box_encodings", box, 6, &a));
    fa_output(b, fa_node(b, VS_OP_CONCAT, "class_predictions", cls, 6, &a));
}

/* ---- tiny_face_detector -------------------------------------------------------------------- */

/* TinyYolov2Base.runMobilenet with TinyFaceDetector's config (first layer a plain conv, no
 * conv6/conv7, 5 anchors without class scores). */
static void build_tiny_face_detector(fa_builder *b)
{
    char p[FA_NAME_MAX], n[FA_NAME_MAX];
    /* tinyYolov2/depthwiseSeparableConv: pad 1, separable conv 'valid', bias, leaky. */
    const fa_conv_cfg sep = {
        .stride = 1, .pad = VS_PAD_EXPLICIT, .explicit_pad = 1, .act = VS_ACT_LEAKY_RELU};
    int x = fa_normalize(b, fa_input(b, 416), FA_MEAN_RGB_TINY);
    x = fa_conv(b, x, "conv0", "filters", "bias",
                &(fa_conv_cfg){.stride = 1, .pad = VS_PAD_VALID, .act = VS_ACT_LEAKY_RELU});
    for (int i = 1; i <= 6; i++) {
        fa_name(n, sizeof n, "conv%d/maxpool", i - 1);
        x = fa_pool(b, VS_OP_MAXPOOL, n, x, 2, i < 6 ? 2 : 1, VS_PAD_SAME);
        if (i == 6)
            break;
        fa_name(p, sizeof p, "conv%d", i);
        x = fa_sepconv(b, x, p, &sep);
    }
    x = fa_conv(b, x, "conv8", "filters", "bias",
                &(fa_conv_cfg){.stride = 1, .pad = VS_PAD_VALID, .name = "grid"});
    fa_output(b, x);
}

/* ---- face feature extractors (landmarks, expressions) --------------------------------------- */

/* denseBlock3 / denseBlock4 (n_convs 3 or 4): a stride-2 entry conv, then separable convs each
 * fed relu(the sum of the block's outputs so far); the block returns relu of the full sum. */
static int fa_dense_block(fa_builder *b, int x, int idx, int n_convs)
{
    char p[FA_NAME_MAX], n[FA_NAME_MAX];
    const fa_conv_cfg down = {.stride = 2, .pad = VS_PAD_SAME, .act = VS_ACT_RELU};
    const fa_conv_cfg same = {.stride = 1, .pad = VS_PAD_SAME};
    fa_name(p, sizeof p, "dense%d/conv0", idx);
    int out1 = idx == 0 ? fa_conv(b, x, p, "filters", "bias", &down) : fa_sepconv(b, x, p, &down);
    int in = out1, sum = -1;
    for (int i = 1; i < n_convs; i++) {
        fa_name(p, sizeof p, "dense%d/conv%d", idx, i);
        int out = fa_sepconv(b, in, p, &same);
        fa_name(n, sizeof n, "dense%d/sum%d", idx, i);
        sum = fa_binary(b, VS_OP_ADD, n, i == 1 ? out1 : sum, out);
        fa_name(n, sizeof n, "dense%d/relu%d", idx, i);
        in = fa_unary(b, VS_OP_RELU, n, sum);
    }
    return in;
}

/* FaceFeatureExtractor (4 dense blocks of 4, pool 7) or TinyFaceFeatureExtractor (3 of 3,
 * pool 14) on a 112x112 input, flattened to [1, C]. */
static int fa_face_features(fa_builder *b, int n_blocks)
{
    int x = fa_normalize(b, fa_input(b, 112), FA_MEAN_RGB);
    for (int i = 0; i < n_blocks; i++)
        x = fa_dense_block(b, x, i, n_blocks);
    return fa_pool_flatten(b, x, n_blocks == 4 ? 7 : 14);
}

static void build_face_landmark_68(fa_builder *b)
{
    fa_output(b, fa_fc(b, fa_face_features(b, 4), "fc", "landmarks"));
}

static void build_face_landmark_68_tiny(fa_builder *b)
{
    fa_output(b, fa_fc(b, fa_face_features(b, 3), "fc", "landmarks"));
}

static void build_face_expression(fa_builder *b)
{
    int x = fa_fc(b, fa_face_features(b, 4), "fc", "fc/logits");
    fa_output(b, fa_softmax(b, "expressions", x));
}

/* ---- face_recognition (ResNet-34) ---------------------------------------------------------- */

/* faceRecognitionNet/convLayer: conv + bias, scale layer (x * weights + biases), relu. */
static int fr_conv(fa_builder *b, int x, const char *scope, int down, int relu)
{
    char p[FA_NAME_MAX], n[FA_NAME_MAX];
    fa_name(p, sizeof p, "%s/conv", scope);
    x = fa_conv(b, x, p, "filters", "bias",
                &(fa_conv_cfg){.stride = down ? 2 : 1, .pad = down ? VS_PAD_VALID : VS_PAD_SAME});
    if (x < 0)
        return -1;
    const int64_t c[1] = {fa_shape(b, x)->dim[3]};
    fa_name(p, sizeof p, "%s/scale", scope);
    fa_name(n, sizeof n, "%s/mul", p);
    x = fa_binary(b, VS_OP_MUL, n, x, fa_weight(b, p, "weights", 1, c));
    fa_name(n, sizeof n, "%s/add", p);
    x = fa_binary(b, VS_OP_ADD, n, x, fa_weight(b, p, "biases", 1, c));
    fa_name(n, sizeof n, "%s/relu", scope);
    return relu ? fa_unary(b, VS_OP_RELU, n, x) : x;
}

/* residual / residualDown.  The down variant adds the 2x2 average pool of x, zero-padded to
 * the branch's channels (face-api concatenates zeros), and pads the branch with a zero row and
 * column where the valid stride-2 conv came out one smaller than the pool. */
static int fr_residual(fa_builder *b, int x, const char *scope, int down)
{
    char p[FA_NAME_MAX], n[FA_NAME_MAX];
    fa_name(p, sizeof p, "%s/conv1", scope);
    int out = fr_conv(b, x, p, down, 1);
    fa_name(p, sizeof p, "%s/conv2", scope);
    out = fr_conv(b, out, p, 0, 0);
    int skip = x;
    if (down && out >= 0) {
        fa_name(n, sizeof n, "%s/avgpool", scope);
        skip = fa_pool(b, VS_OP_AVGPOOL, n, x, 2, 2, VS_PAD_VALID);
        if (skip < 0)
            return -1;
        /* Copies: adding nodes may move the value array. */
        const vs_shape so = *fa_shape(b, out), sp = *fa_shape(b, skip);
        vs_node a = fa_attrs();
        a.pads[1][1] = sp.dim[1] - so.dim[1];
        a.pads[2][1] = sp.dim[2] - so.dim[2];
        if (a.pads[1][1] || a.pads[2][1]) {
            fa_name(n, sizeof n, "%s/pad_spatial", scope);
            out = fa_node(b, VS_OP_PAD, n, &out, 1, &a);
        }
        a = fa_attrs();
        a.pads[3][1] = so.dim[3] - sp.dim[3];
        if (a.pads[3][1]) {
            fa_name(n, sizeof n, "%s/pad_channels", scope);
            skip = fa_node(b, VS_OP_PAD, n, &skip, 1, &a);
        }
    }
    fa_name(n, sizeof n, "%s/add", scope);
    x = down ? fa_binary(b, VS_OP_ADD, n, skip, out) : fa_binary(b, VS_OP_ADD, n, out, skip);
    fa_name(n, sizeof n, "%s/relu", scope);
    return fa_unary(b, VS_OP_RELU, n, x);
}

static void build_face_recognition(fa_builder *b)
{
    static const struct {
        const char *scope;
        int down;
    } blocks[] = {
        {"conv32_1", 0},  {"conv32_2", 0},         {"conv32_3", 0},     {"conv64_down", 1},
        {"conv64_1", 0},  {"conv64_2", 0},         {"conv64_3", 0},     {"conv128_down", 1},
        {"conv128_1", 0}, {"conv128_2", 0},        {"conv256_down", 1}, {"conv256_1", 0},
        {"conv256_2", 0}, {"conv256_down_out", 1},
    };
    int x = fa_normalize(b, fa_input(b, 150), FA_MEAN_RGB);
    x = fr_conv(b, x, "conv32_down", 1, 1);
    x = fa_pool(b, VS_OP_MAXPOOL, "conv32_down/maxpool", x, 3, 2, VS_PAD_VALID);
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
        x = fr_residual(b, x, blocks[i].scope, blocks[i].down);
    vs_node a = fa_attrs();
    a.axes_mask = (1u << 1) | (1u << 2);
    x = fa_node(b, VS_OP_MEAN, "global_avg", &x, 1, &a);
    if (x < 0)
        return;
    int fc = fa_weight(b, "fc", NULL, 2, (int64_t[]){fa_shape(b, x)->dim[1], 128});
    fa_output(b, fa_node(b, VS_OP_MATMUL, "descriptor", (int[]){x, fc, -1}, 3, NULL));
}

/* ---- age_gender (TinyXception) ------------------------------------------------------------ */

/* relu(x), or x itself when `on` is 0. */
static int xc_relu(fa_builder *b, int x, const char *prefix, int on)
{
    char n[FA_NAME_MAX];
    fa_name(n, sizeof n, "%s/relu_in", prefix);
    return on ? fa_unary(b, VS_OP_RELU, n, x) : x;
}

/* reductionBlock: two separable convs, 3x3/2 max pool, plus a stride-2 1x1 expansion conv of
 * the block's (unactivated) input. */
static int xc_reduction(fa_builder *b, int x, const char *scope, int activate_input)
{
    char p[FA_NAME_MAX], n[FA_NAME_MAX];
    const fa_conv_cfg same = {.stride = 1, .pad = VS_PAD_SAME};
    fa_name(p, sizeof p, "%s/separable_conv0", scope);
    int out = fa_sepconv(b, xc_relu(b, x, p, activate_input), p, &same);
    fa_name(p, sizeof p, "%s/separable_conv1", scope);
    out = fa_sepconv(b, xc_relu(b, out, p, 1), p, &same);
    fa_name(n, sizeof n, "%s/maxpool", scope);
    out = fa_pool(b, VS_OP_MAXPOOL, n, out, 3, 2, VS_PAD_SAME);
    fa_name(p, sizeof p, "%s/expansion_conv", scope);
    int skip = fa_conv(b, x, p, "filters", "bias", &(fa_conv_cfg){.stride = 2, .pad = VS_PAD_SAME});
    fa_name(n, sizeof n, "%s/add", scope);
    return fa_binary(b, VS_OP_ADD, n, out, skip);
}

/* mainBlock: three relu + separable conv steps and the identity shortcut. */
static int xc_main(fa_builder *b, int x, int idx)
{
    char p[FA_NAME_MAX];
    const fa_conv_cfg same = {.stride = 1, .pad = VS_PAD_SAME};
    int out = x;
    for (int i = 0; i < 3; i++) {
        fa_name(p, sizeof p, "middle_flow/main_block_%d/separable_conv%d", idx, i);
        out = fa_sepconv(b, xc_relu(b, out, p, 1), p, &same);
    }
    fa_name(p, sizeof p, "middle_flow/main_block_%d/add", idx);
    return fa_binary(b, VS_OP_ADD, p, out, x);
}

static void build_age_gender(fa_builder *b)
{
    int x = fa_normalize(b, fa_input(b, 112), FA_MEAN_RGB);
    x = fa_conv(b, x, "entry_flow/conv_in", "filters", "bias",
                &(fa_conv_cfg){.stride = 2, .pad = VS_PAD_SAME, .act = VS_ACT_RELU});
    x = xc_reduction(b, x, "entry_flow/reduction_block_0", 0);
    x = xc_reduction(b, x, "entry_flow/reduction_block_1", 1);
    for (int i = 0; i < 2; i++)
        x = xc_main(b, x, i);
    x = xc_reduction(b, x, "exit_flow/reduction_block", 1);
    x = fa_sepconv(b, x, "exit_flow/separable_conv",
                   &(fa_conv_cfg){.stride = 1, .pad = VS_PAD_SAME, .act = VS_ACT_RELU});
    x = fa_pool_flatten(b, x, 7);
    fa_output(b, fa_fc(b, x, "fc/age", "age"));
    fa_output(b, fa_softmax(b, "gender", fa_fc(b, x, "fc/gender", "fc/gender/logits")));
}

/* ---- entry point --------------------------------------------------------------------------- */

static const struct {
    const char *name;
    void (*build)(fa_builder *b);
} FA_NETS[] = {
    {"ssd_mobilenetv1", build_ssd_mobilenetv1},
    {"tiny_face_detector", build_tiny_face_detector},
    {"face_landmark_68", build_face_landmark_68},
    {"face_landmark_68_tiny", build_face_landmark_68_tiny},
    {"face_recognition", build_face_recognition},
    {"age_gender", build_age_gender},
    {"face_expression", build_face_expression},
};

vs_status vs_faceapi_build(vs_graph *g, const char *net, vs_err *err)
{
    if (!g || !net)
        return vs_err_set(err, VS_INVAL, "vs_faceapi_build: no graph or net name");
    for (size_t i = 0; i < sizeof FA_NETS / sizeof FA_NETS[0]; i++) {
        if (strcmp(FA_NETS[i].name, net) != 0)
            continue;
        fa_builder b = {.g = g, .err = err, .st = VS_OK};
        FA_NETS[i].build(&b);
        return b.st;
    }
    return vs_err_set(err, VS_NOTFOUND, "no face-api net named %s", net);
}

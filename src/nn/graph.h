/*
 * graph.h - the engine's internal representation of a network (private to src/nn/).
 *
 * Every model format (TFJS graph models, face-api's code-defined nets, later ONNX) is turned into
 * one vs_graph: a list of values (tensors) and a list of nodes (ops) that read values and write
 * exactly one value each.  All activations are float32 NHWC (TFJS layout, batch first); int32
 * appears only in constants that loaders turn into node attributes (shapes, axes, paddings).
 *
 * Life of a graph:
 *   1. a loader builds it with vs_graph_add_input / _add_const / _add_node and marks outputs;
 *   2. vs_graph_finalize() sorts it, infers every shape, folds constants, fuses
 *      conv + bias + activation (and batch-norm spelled as Mul/Add), drops dead nodes and plans
 *      memory: every activation gets a byte offset in one arena (vs_value.offset);
 *   3. a runtime (runtime.c) allocates the arena once and runs the nodes in order on a backend.
 *
 * DESIGN NOTES
 *   1. After finalize, nodes are in topological order and every value has a fully known shape
 *      (batch fixed at 1 unless the input says otherwise).
 *   2. A value is exactly one of: a graph input, a constant (data != NULL, owned by the graph),
 *      or the output of exactly one node (producer >= 0).
 *   3. Reshape, Squeeze and Identity produce aliases: alias_of names the value whose storage they
 *      share; the memory plan keeps the aliased storage alive as long as any alias is alive.
 *   4. Graph outputs and inputs are never overwritten by another value (the plan pins them).
 */
#ifndef VS_NN_GRAPH_H
#define VS_NN_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"

#define VS_MAX_DIMS 6
#define VS_MAX_IN 8

typedef struct vs_shape {
    int rank;
    int64_t dim[VS_MAX_DIMS];
} vs_shape;

typedef enum { VS_DT_F32 = 0, VS_DT_I32 = 1 } vs_dtype;

/* X(name, "display name"): every op the engine knows.  Attributes used by each op are listed in
 * the vs_node comment below.  Element-wise binary ops broadcast as NumPy/TFJS do. */
#define VS_OP_MAP(X)                                                                               \
    X(INPUT, "Input")                                                                              \
    X(CONST, "Const")                                                                              \
    X(CONV2D, "Conv2D")                                                                            \
    X(DWCONV2D, "DepthwiseConv2D")                                                                 \
    X(MATMUL, "MatMul")                                                                            \
    X(ADD, "Add")                                                                                  \
    X(SUB, "Sub")                                                                                  \
    X(MUL, "Mul")                                                                                  \
    X(DIV, "Div")                                                                                  \
    X(MINIMUM, "Minimum")                                                                          \
    X(MAXIMUM, "Maximum")                                                                          \
    X(PRELU, "Prelu")                                                                              \
    X(ABS, "Abs")                                                                                  \
    X(NEG, "Neg")                                                                                  \
    X(RELU, "Relu")                                                                                \
    X(RELU6, "Relu6")                                                                              \
    X(LEAKY_RELU, "LeakyRelu")                                                                     \
    X(SIGMOID, "Sigmoid")                                                                          \
    X(TANH, "Tanh")                                                                                \
    X(EXP, "Exp")                                                                                  \
    X(SQUARE, "Square")                                                                            \
    X(SQRT, "Sqrt")                                                                                \
    X(RSQRT, "Rsqrt")                                                                              \
    X(CLAMP, "Clamp")                                                                              \
    X(SOFTMAX, "Softmax")                                                                          \
    X(MAXPOOL, "MaxPool")                                                                          \
    X(AVGPOOL, "AvgPool")                                                                          \
    X(MEAN, "Mean")                                                                                \
    X(SUM, "Sum")                                                                                  \
    X(REDUCE_MAX, "Max")                                                                           \
    X(PAD, "Pad")                                                                                  \
    X(RESHAPE, "Reshape")                                                                          \
    X(TRANSPOSE, "Transpose")                                                                      \
    X(CONCAT, "Concat")                                                                            \
    X(SLICE, "Slice")                                                                              \
    X(RESIZE_BILINEAR, "ResizeBilinear")                                                           \
    X(IDENTITY, "Identity")                                                                        \
    X(SQUEEZE, "Squeeze")                                                                          \
    X(AFFINE, "ChannelAffine")

typedef enum {
#define VS_OP_ENUM(name, str) VS_OP_##name,
    VS_OP_MAP(VS_OP_ENUM)
#undef VS_OP_ENUM
        VS_OP_COUNT
} vs_op;

const char *vs_op_name(vs_op op);

/* Activation fused into CONV2D, DWCONV2D and MATMUL (applied after the bias). */
typedef enum {
    VS_ACT_NONE = 0,
    VS_ACT_RELU,       /* max(x, 0) */
    VS_ACT_RELU6,      /* min(max(x, 0), 6) */
    VS_ACT_CLAMP,      /* min(max(x, act_min), act_max) */
    VS_ACT_PRELU,      /* x < 0 ? alpha[c] * x : x, alpha is input 3 (per output channel) */
    VS_ACT_LEAKY_RELU, /* x < 0 ? alpha * x : x, alpha is the scalar attribute */
    VS_ACT_SIGMOID
} vs_act;

typedef enum {
    VS_PAD_VALID = 0, /* TF "VALID": no padding */
    VS_PAD_SAME,      /* TF "SAME": total = max((ceil(in/stride)-1)*stride + eff_k - in, 0),
                         top/left = total/2, bottom/right = the rest */
    VS_PAD_EXPLICIT   /* pad[] holds top, bottom, left, right as given */
} vs_padmode;

typedef struct vs_value {
    char *name; /* owned; unique within the graph */
    vs_dtype dtype;
    vs_shape shape;
    void *data;   /* constant data, owned by the graph; NULL for inputs and activations */
    int producer; /* index of the producing node, -1 for inputs and constants */
    int is_input;
    int is_output;
    int alias_of;  /* value whose storage this one shares (reshape etc.), or -1 */
    size_t offset; /* byte offset in the runtime arena (activations and inputs, after plan) */
} vs_value;

/*
 * One op.  in[] holds value ids (-1 for an absent optional input); out is the value it writes.
 *
 * Inputs and attributes by op:
 *   CONV2D           in: x[N,H,W,C], filter[KH,KW,C,O] (HWIO), bias[O] or -1, alpha[O] or -1
 *                    attrs: stride, dilation, padmode + pad, act, act_min/act_max, alpha
 *   DWCONV2D         in: x, filter[KH,KW,C,M] (TFJS depthwise layout), bias[C*M], alpha
 *                    attrs: as CONV2D
 *   MATMUL           in: a[M,K], b[K,N] (or transposed per transpose_a/b), bias[N], alpha
 *                    attrs: transpose_a, transpose_b, act, act_min/act_max, alpha
 *   ADD..MAXIMUM     in: a, b (broadcast)           PRELU in: x, alpha (broadcast)
 *                    ADD SUB MUL DIV may carry a clamp fused by graph_opt.c: act RELU, RELU6
 *                    or CLAMP (act_min/act_max), applied to the result
 *   unary ops        in: x                          LEAKY_RELU attrs: alpha
 *   CLAMP            attrs: act_min, act_max        SOFTMAX attrs: axis (normalised >= 0)
 *   MAXPOOL/AVGPOOL  attrs: ksize, stride, padmode + pad (AVGPOOL averages over the valid
 *                    (unpadded) elements only, as TF does)
 *   MEAN/SUM/MAX     attrs: axes_mask (bit i = reduce dim i), keepdims.  Loaders that do not
 *                    know the input's rank set n_axes/axes instead (negative axes allowed);
 *                    shape inference turns them into axes_mask.
 *   PAD              attrs: pads[i][0..1] before/after per dim, pad_value
 *   RESHAPE          attrs: new_shape (may hold one -1, resolved at shape inference; 0 is not
 *                    special).
 *   TRANSPOSE        attrs: perm
 *   CONCAT           in: up to VS_MAX_IN values; attrs: axis
 *   SLICE            attrs: begin[], size[] (size -1 = to the end)
 *   RESIZE_BILINEAR  attrs: out_h, out_w, align_corners, half_pixel_centers
 *   IDENTITY         in: x
 *   SQUEEZE          attrs: n_axes/axes (the dims to drop; none = every dim of size 1).  Only
 *                    loaders emit it: shape inference turns it into a RESHAPE, so kernels and
 *                    backends never see it.
 *   SOFTMAX, CONCAT  axis may be negative when loaded; shape inference normalises it.
 *   AFFINE           in: x_0 .. x_k-1 (k >= 1), then sb [2, C]: y = act(x * sb[0][c] + sb[1][c])
 *                    for channel c of the last dim, x being the x_i concatenated along their
 *                    last dim (C channels in all); rounded after the multiply and after the
 *                    add, exactly as MUL then ADD.  act NONE, RELU, RELU6 or CLAMP.  Only
 *                    graph_opt.c makes it (a batch-norm that no convolution can absorb, as in
 *                    DenseNet, where it follows a concat).
 */
typedef struct vs_node {
    vs_op op;
    char *name; /* owned */
    int n_in;
    int in[VS_MAX_IN];
    int out;

    int stride[2];   /* h, w */
    int dilation[2]; /* h, w */
    int ksize[2];    /* h, w */
    vs_padmode padmode;
    int pad[4]; /* top, bottom, left, right; filled for SAME at shape inference */

    vs_act act;
    float act_min, act_max;
    float alpha;

    int transpose_a, transpose_b;
    int axis;
    uint32_t axes_mask;
    int n_axes;
    int axes[VS_MAX_DIMS];
    int keepdims;
    int64_t pads[VS_MAX_DIMS][2];
    float pad_value;
    vs_shape new_shape;
    int perm[VS_MAX_DIMS];
    int64_t begin[VS_MAX_DIMS], size[VS_MAX_DIMS];
    int out_h, out_w;
    int align_corners, half_pixel_centers;
} vs_node;

typedef struct vs_graph {
    char *name; /* owned; the model's name, e.g. "faceres" */
    vs_value *values;
    int n_values, cap_values;
    vs_node *nodes;
    int n_nodes, cap_nodes;
    int inputs[VS_MAX_IN];
    int n_inputs;
    int outputs[16];
    int n_outputs;
    size_t arena_bytes; /* set by the memory plan */
} vs_graph;

/* ---- building ---------------------------------------------------------------------------- */

vs_graph *vs_graph_new(const char *name);
void vs_graph_free(vs_graph *g);

/* Adds a graph input; returns its value id or -1 on OOM.  Dims of -1 become 1. */
int vs_graph_add_input(vs_graph *g, const char *name, const vs_shape *shape);

/* Adds a constant; the graph takes ownership of data (malloc'd, shape-sized, of dtype) even on
 * failure.  Returns the value id or -1 on OOM. */
int vs_graph_add_const(vs_graph *g, const char *name, vs_dtype dtype, const vs_shape *shape,
                       void *data);

/* Adds a node with the given inputs and a fresh output value named `name`; attributes are zero
 * (act NONE, padmode VALID, stride/dilation/ksize 1) and the caller sets them through
 * vs_graph_node(g, id).  Returns the node id or -1 on OOM or n_in > VS_MAX_IN. */
int vs_graph_add_node(vs_graph *g, vs_op op, const char *name, const int *in, int n_in);

/* The node at id (valid until the next add_node call). */
vs_node *vs_graph_node(vs_graph *g, int id);

/* The value id a node writes. */
int vs_graph_node_out(const vs_graph *g, int node_id);

/* Marks a value as a graph output (in call order).  Returns VS_LIMIT past 16 outputs. */
vs_status vs_graph_mark_output(vs_graph *g, int value_id);

/* Finds a value by name; -1 if absent. */
int vs_graph_find(const vs_graph *g, const char *name);

/* ---- finishing --------------------------------------------------------------------------- */

/* Sorts, infers shapes, folds constants, fuses, removes dead nodes and plans memory (see the
 * DESIGN NOTES above).  On failure err says which node and why; the graph must then be freed. */
vs_status vs_graph_finalize(vs_graph *g, vs_err *err);

/* Infers the output shape of node n from its inputs' shapes (and fills SAME padding).
 * Exposed for the loaders' own checks and for tests. */
vs_status vs_graph_infer_node(vs_graph *g, vs_node *n, vs_err *err);

/* ---- helpers ----------------------------------------------------------------------------- */

int64_t vs_shape_numel(const vs_shape *s);
/* Same rank and the same dims. */
int vs_shape_equal(const vs_shape *a, const vs_shape *b);
/* NumPy broadcast of a and b into *o.  Returns -1, or the (output) dim where they do not
 * broadcast (*o then partly written). */
int vs_shape_broadcast(const vs_shape *a, const vs_shape *b, vs_shape *o);
vs_shape vs_shape_make(int rank, const int64_t *dims);
static inline size_t vs_dtype_size(vs_dtype t)
{
    (void)t;
    return 4; /* float32 and int32 */
}

/* FLOPs of one node (a multiply-add counts as 2), for `nn info` and the benchmark. */
double vs_node_flops(const vs_graph *g, const vs_node *n);

#endif

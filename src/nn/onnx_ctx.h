/*
 * onnx_ctx.h - private to the ONNX loader: what onnx_load.c (the model, its value table and
 * layouts, the graph's inputs and outputs) shares with onnx_ops.c (one translator per ONNX op,
 * constant folding, tensors stored in the file).  See onnx_load.c's DESIGN NOTES.
 */
#ifndef VS_NN_ONNX_CTX_H
#define VS_NN_ONNX_CTX_H

#include <stdint.h>

#include "graph.h"
#include "onnx.pb-c.h"

#define OX_MIN_OPSET 7
#define OX_MAX_OPSET 17
#define OX_MAX_NUMEL ((int64_t)1 << 31)
#define OX_NAME 512

typedef enum { OX_RUNTIME, OX_F32, OX_I64, OX_BADTYPE } ox_kind;

/* What the loader knows about one ONNX tensor name. */
typedef struct ox_val {
    char *name;     /* owned */
    vs_shape shape; /* the ONNX shape */
    ox_kind kind;
    int dtype;             /* ONNX data type of an OX_BADTYPE constant */
    float *f;              /* OX_F32 data, ONNX (row-major) order; owned */
    int64_t *i;            /* OX_I64 data; owned */
    int vid;               /* OX_RUNTIME: the engine value */
    int perm[VS_MAX_DIMS]; /* engine dim k holds ONNX dim perm[k] */
    int alt_vid;           /* the same tensor in layout alt_perm, or -1 */
    int alt_perm[VS_MAX_DIMS];
} ox_val;

typedef struct ox_ctx {
    vs_graph *g;
    vs_err *err;
    const char *path;
    const Onnx__NodeProto *node; /* the node being translated, for messages */
    ox_val **vals;
    int n_vals, cap_vals;
    int opset;
} ox_ctx;

/* Engine layouts of a runtime value (ox_val.perm): NHWC from NCHW, and as in the file. */
extern const int ox_perm_nhwc[VS_MAX_DIMS];
extern const int ox_perm_id[VS_MAX_DIMS];

/* ---- onnx_load.c: errors, values, inputs and attributes, engine nodes, layouts ------------- */

/* Sets err to "<file>: node '<name>' (<op>): <message>" and returns st. */
__attribute__((format(printf, 3, 4))) vs_status ox_fail(ox_ctx *c, vs_status st, const char *fmt,
                                                        ...);

/* The entry of ONNX tensor `name`, or NULL. */
ox_val *ox_find_val(const ox_ctx *c, const char *name);

/* A fresh entry for `name` (a later definition of a name shadows an earlier one). */
vs_status ox_new_val(ox_ctx *c, const char *name, ox_val **out);

/* Defines `name` as engine value vid in layout perm; its ONNX shape follows from both. */
vs_status ox_def_runtime(ox_ctx *c, const char *name, int vid, const int *perm);

/* Defines `name` as a constant; takes ownership of data (float or int64_t by kind). */
vs_status ox_def_const(ox_ctx *c, const char *name, ox_kind kind, const vs_shape *s, void *data);

/* Input k of the current node.  OUT: *v, NULL for an absent optional input. */
vs_status ox_get_in(ox_ctx *c, int k, int required, ox_val **v);

/* Input k, which must be a runtime tensor. */
vs_status ox_get_runtime(ox_ctx *c, int k, ox_val **v);

/* Input k, which must be a float constant. */
vs_status ox_get_fconst(ox_ctx *c, int k, int required, ox_val **v);

/* The current node's attribute `name`, or NULL; then its int (def when absent) and float. */
const Onnx__AttributeProto *ox_attr(const ox_ctx *c, const char *name);

int64_t ox_attr_i(const ox_ctx *c, const char *name, int64_t def);
float ox_attr_f(const ox_ctx *c, const char *name, float def);

/* Copies attribute `name` (ints) into out[max].  OUT: *count, -1 when absent. */
vs_status ox_attr_ints(ox_ctx *c, const char *name, int64_t *out, int max, int *count);

/* True when string attribute `name` is absent or equals one of the given values (NULL-ended). */
int ox_attr_str_is(const ox_ctx *c, const char *name, const char *value);

/* The ints of attribute `name` (opsets before the change) or of int64 constant input k (after):
 * how Unsqueeze, Squeeze, Split, Pad, Slice and the reductions moved their arguments. */
vs_status ox_ints_arg(ox_ctx *c, const char *name, int k, int64_t *out, int max, int *count);

/* Normalises an axis of a rank-r tensor; -1 when out of range. */
int ox_norm_axis(int64_t a, int r);

/* Adds an engine node (name: base + suffix, made unique) reading in[0..n_in).  OUT: *nid. */
vs_status ox_emit(ox_ctx *c, vs_op op, const char *base, const char *suffix, const int *in,
                  int n_in, int *nid);

/* Infers node nid's output shape now (the loader needs every shape as it goes). */
vs_status ox_settle(ox_ctx *c, int nid, int *vid);

/* Adds an engine constant (name: base + suffix) owning data.  OUT: *vid. */
vs_status ox_add_const(ox_ctx *c, const char *base, const char *suffix, const vs_shape *s,
                       float *data, int *vid);

/* Whether the first r entries of two permutations agree. */
int ox_perm_eq(const int *a, const int *b, int r);

/* Row-major strides of s. */
void ox_strides(const vs_shape *s, int64_t *st);

/* dst = src (shape s) transposed so that dst dim k is src dim perm[k]. */
void ox_permute_f32(const float *src, const vs_shape *s, const int *perm, float *dst);

/* An engine constant holding float constant v expanded to `rank` dims (leading 1s, as
 * broadcasting reads it) and laid out by perm. */
vs_status ox_const_vid(ox_ctx *c, const ox_val *v, int rank, const int *perm, int *vid);

/* The engine value of v in layout perm (of v's rank), converting once and remembering it. */
vs_status ox_in_layout(ox_ctx *c, ox_val *v, const int *perm, int *vid);

/* ---- onnx_ops.c ------------------------------------------------------------------------------ */

/* Reads an ONNX TensorProto into a loader constant named `name`. */
vs_status ox_read_tensor(ox_ctx *c, const Onnx__TensorProto *t, const char *name);

/* Translates node n (the table of supported ops); an unknown op is VS_FORMAT naming it. */
vs_status ox_translate_node(ox_ctx *c, const Onnx__NodeProto *n);

#endif

/*
 * onnx_load.c - reading an ONNX model (protobuf) into a vs_graph.
 *
 * The file is unpacked whole by protobuf-c, then its graph is walked once, in the file's node
 * order (ONNX requires it to be topological).  Each ONNX tensor name becomes an ox_val: either a
 * constant known at load (float32, or int64 for shapes and indices) or a runtime tensor held in
 * one engine value.  Constants stay on the loader's side until a real op needs one as data, so
 * shape arithmetic (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) is evaluated here and
 * never reaches the engine.
 *
 * DESIGN NOTES
 *   1. Layout.  The engine's convolutions and pools are NHWC; ONNX is NCHW.  Every runtime ox_val
 *      records a permutation perm: engine dim k holds ONNX dim perm[k].  A Conv asks for its input
 *      in layout {0,2,3,1} (NHWC) and writes its output in that layout; element-wise ops, concat,
 *      split, slice, pad and reductions work in whatever layout their input has, with axes and
 *      constants remapped; an ONNX Transpose costs nothing (only perm changes); Reshape and
 *      Flatten keep the layout when the reshape only splits or merges dims that are adjacent and
 *      in order in memory (a channel shuffle stays NHWC), and otherwise convert first.
 *   2. Conversions are made on demand by in_layout() (a TRANSPOSE, or a RESHAPE when the move
 *      touches only dims of size 1) and remembered (alt_vid), so the graph input is transposed
 *      to NHWC once however many nodes read it.  Graph outputs are converted back to the
 *      model's own layout, so callers see exactly the shapes and element order of onnxruntime.
 *   3. Constants used as data are materialised in the layout of the op that reads them:
 *      Conv weights OIHW -> HWIO (depthwise, group = C: [KH,KW,C,M]), a per-channel [C,1,1]
 *      operand of an NHWC tensor -> [1,1,1,C], BatchNormalization -> Mul and Add constants
 *      (scale / sqrt(var + eps), bias - mean * scale) that finalize folds into the conv.
 *   4. Engine value names are the ONNX names; helper values are "<name>/nhwc", "<name>/nchw",
 *      "<name>/layout" and so on, made unique with "#k" when taken.  A graph output's final
 *      value carries the ONNX output name exactly.
 *   5. Anything the file says that we cannot honour exactly is an error naming the node:
 *      VS_FORMAT for malformed data and unknown ops, VS_UNSUPPORTED for known ops with
 *      attribute values we do not implement.  Nothing is approximated silently.
 */
#include "onnx_load.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx.pb-c.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "onnx_load.c reads raw_data as little-endian bytes: add byte swapping for this target"
#endif

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

static const int PERM_NHWC[VS_MAX_DIMS] = {0, 2, 3, 1, 4, 5};
static const int PERM_ID[VS_MAX_DIMS] = {0, 1, 2, 3, 4, 5};

/* ---- errors ------------------------------------------------------------------------------ */

static const char *node_label(const Onnx__NodeProto *n)
{
    if (n->name && n->name[0])
        return n->name;
    return n->n_output > 0 && n->output[0] ? n->output[0] : "?";
}

/* Sets err to "<file>: node '<name>' (<op>): <message>" and returns st. */
__attribute__((format(printf, 3, 4))) static vs_status fail(ox_ctx *c, vs_status st,
                                                            const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->node)
        return vs_err_set(c->err, st, "%s: node '%s' (%s): %s", c->path, node_label(c->node),
                          c->node->op_type ? c->node->op_type : "?", msg);
    return vs_err_set(c->err, st, "%s: %s", c->path, msg);
}

/* ---- the value table --------------------------------------------------------------------- */

static ox_val *find_val(const ox_ctx *c, const char *name)
{
    for (int i = c->n_vals - 1; i >= 0; i--)
        if (strcmp(c->vals[i]->name, name) == 0)
            return c->vals[i];
    return NULL;
}

static void val_free(ox_val *v)
{
    if (!v)
        return;
    free(v->name);
    free(v->f);
    free(v->i);
    free(v);
}

/* A fresh entry for `name` (a later definition of a name shadows an earlier one). */
static vs_status new_val(ox_ctx *c, const char *name, ox_val **out)
{
    *out = NULL;
    if (c->n_vals == c->cap_vals) {
        int cap = c->cap_vals ? 2 * c->cap_vals : 256;
        ox_val **p = realloc(c->vals, (size_t)cap * sizeof *p);
        if (!p)
            return fail(c, VS_NOMEM, "value table");
        c->vals = p;
        c->cap_vals = cap;
    }
    ox_val *v = calloc(1, sizeof *v);
    if (!v || !(v->name = strdup(name))) {
        free(v);
        return fail(c, VS_NOMEM, "value table");
    }
    v->vid = -1;
    v->alt_vid = -1;
    c->vals[c->n_vals++] = v;
    *out = v;
    return VS_OK;
}

/* Defines `name` as engine value vid in layout perm; its ONNX shape follows from both. */
static vs_status def_runtime(ox_ctx *c, const char *name, int vid, const int *perm)
{
    ox_val *v;
    vs_status st = new_val(c, name, &v);
    if (st != VS_OK)
        return st;
    const vs_shape *es = &c->g->values[vid].shape;
    v->kind = OX_RUNTIME;
    v->vid = vid;
    v->shape.rank = es->rank;
    for (int k = 0; k < es->rank; k++) {
        v->perm[k] = perm[k];
        v->shape.dim[perm[k]] = es->dim[k];
    }
    return VS_OK;
}

/* Defines `name` as a constant; takes ownership of data (float or int64_t by kind). */
static vs_status def_const(ox_ctx *c, const char *name, ox_kind kind, const vs_shape *s, void *data)
{
    ox_val *v;
    vs_status st = new_val(c, name, &v);
    if (st != VS_OK) {
        free(data);
        return st;
    }
    v->kind = kind;
    v->shape = *s;
    if (kind == OX_F32)
        v->f = data;
    else
        v->i = data;
    return VS_OK;
}

/* ---- node inputs and attributes ---------------------------------------------------------- */

/* Input k of the current node.  OUT: *v, NULL for an absent optional input. */
static vs_status get_in(ox_ctx *c, int k, int required, ox_val **v)
{
    const Onnx__NodeProto *n = c->node;
    *v = NULL;
    if ((size_t)k >= n->n_input || !n->input[k] || !n->input[k][0])
        return required ? fail(c, VS_FORMAT, "input %d is missing", k) : VS_OK;
    *v = find_val(c, n->input[k]);
    if (!*v)
        return fail(c, VS_FORMAT, "reads '%s', which no earlier node or initializer defines",
                    n->input[k]);
    if ((*v)->kind == OX_BADTYPE)
        return fail(c, VS_UNSUPPORTED, "input '%s' has ONNX data type %d", (*v)->name, (*v)->dtype);
    return VS_OK;
}

/* Input k, which must be a runtime tensor. */
static vs_status get_runtime(ox_ctx *c, int k, ox_val **v)
{
    vs_status st = get_in(c, k, 1, v);
    if (st == VS_OK && (*v)->kind != OX_RUNTIME)
        return fail(c, VS_UNSUPPORTED, "input '%s' is a constant here", (*v)->name);
    return st;
}

/* Input k, which must be a float constant. */
static vs_status get_fconst(ox_ctx *c, int k, int required, ox_val **v)
{
    vs_status st = get_in(c, k, required, v);
    if (st == VS_OK && *v && (*v)->kind != OX_F32)
        return fail(c, VS_UNSUPPORTED, "input '%s' must be a float32 constant", (*v)->name);
    return st;
}

static const Onnx__AttributeProto *attr(const ox_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->node->n_attribute; i++)
        if (c->node->attribute[i]->name && strcmp(c->node->attribute[i]->name, name) == 0)
            return c->node->attribute[i];
    return NULL;
}

static int64_t attr_i(const ox_ctx *c, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = attr(c, name);
    return a && a->has_i ? a->i : def;
}

static float attr_f(const ox_ctx *c, const char *name, float def)
{
    const Onnx__AttributeProto *a = attr(c, name);
    return a && a->has_f ? a->f : def;
}

/* Copies attribute `name` (ints) into out[max].  OUT: *count, -1 when absent. */
static vs_status attr_ints(ox_ctx *c, const char *name, int64_t *out, int max, int *count)
{
    const Onnx__AttributeProto *a = attr(c, name);
    *count = -1;
    if (!a)
        return VS_OK;
    if (a->n_ints > (size_t)max)
        return fail(c, VS_UNSUPPORTED, "attribute %s has %zu values (at most %d)", name, a->n_ints,
                    max);
    for (size_t i = 0; i < a->n_ints; i++)
        out[i] = a->ints[i];
    *count = (int)a->n_ints;
    return VS_OK;
}

/* True when string attribute `name` is absent or equals one of the given values (NULL-ended). */
static int attr_str_is(const ox_ctx *c, const char *name, const char *value)
{
    const Onnx__AttributeProto *a = attr(c, name);
    if (!a || !a->has_s)
        return value == NULL;
    return value && strlen(value) == a->s.len && memcmp(a->s.data, value, a->s.len) == 0;
}

/* The ints of attribute `name` (opsets before the change) or of int64 constant input k (after):
 * how Unsqueeze, Squeeze, Split, Pad, Slice and the reductions moved their arguments. */
static vs_status ints_arg(ox_ctx *c, const char *name, int k, int64_t *out, int max, int *count)
{
    vs_status st = attr_ints(c, name, out, max, count);
    if (st != VS_OK || *count >= 0)
        return st;
    ox_val *v;
    st = get_in(c, k, 0, &v);
    if (st != VS_OK || !v)
        return st;
    if (v->kind != OX_I64)
        return fail(c, VS_UNSUPPORTED, "input '%s' must be an int64 constant", v->name);
    int64_t n = vs_shape_numel(&v->shape);
    if (n > max)
        return fail(c, VS_UNSUPPORTED, "input '%s' has %lld values (at most %d)", v->name,
                    (long long)n, max);
    memcpy(out, v->i, (size_t)n * sizeof *out);
    *count = (int)n;
    return VS_OK;
}

/* Normalises an axis of a rank-r tensor; -1 when out of range. */
static int norm_axis(int64_t a, int r)
{
    if (a < 0)
        a += r;
    return a >= 0 && a < r ? (int)a : -1;
}

/* ---- engine nodes and names -------------------------------------------------------------- */

/* base or base/suffix, made unique among the graph's values with "#k". */
static void uniq_name(const ox_ctx *c, const char *base, const char *suffix, char *buf)
{
    if (suffix)
        snprintf(buf, OX_NAME, "%s/%s", base, suffix);
    else
        snprintf(buf, OX_NAME, "%s", base);
    if (vs_graph_find(c->g, buf) < 0)
        return;
    char stem[OX_NAME];
    snprintf(stem, sizeof stem, "%s", buf);
    for (int k = 2; vs_graph_find(c->g, buf) >= 0; k++)
        snprintf(buf, OX_NAME, "%.480s#%d", stem, k);
}

static vs_status emit(ox_ctx *c, vs_op op, const char *base, const char *suffix, const int *in,
                      int n_in, int *nid)
{
    char name[OX_NAME];
    uniq_name(c, base, suffix, name);
    *nid = vs_graph_add_node(c->g, op, name, in, n_in);
    return *nid < 0 ? fail(c, VS_NOMEM, "adding node %s", name) : VS_OK;
}

/* Infers node nid's output shape now (the loader needs every shape as it goes). */
static vs_status settle(ox_ctx *c, int nid, int *vid)
{
    vs_err e = {{0}};
    vs_status st = vs_graph_infer_node(c->g, vs_graph_node(c->g, nid), &e);
    if (st != VS_OK)
        return fail(c, st, "%s", e.msg);
    *vid = vs_graph_node_out(c->g, nid);
    return VS_OK;
}

static vs_status add_const(ox_ctx *c, const char *base, const char *suffix, const vs_shape *s,
                           float *data, int *vid)
{
    char name[OX_NAME];
    uniq_name(c, base, suffix, name);
    *vid = vs_graph_add_const(c->g, name, VS_DT_F32, s, data);
    return *vid < 0 ? fail(c, VS_NOMEM, "constant %s", name) : VS_OK;
}

/* ---- layouts ----------------------------------------------------------------------------- */

static int perm_eq(const int *a, const int *b, int r)
{
    for (int k = 0; k < r; k++)
        if (a[k] != b[k])
            return 0;
    return 1;
}

/* Row-major strides of s. */
static void strides(const vs_shape *s, int64_t *st)
{
    int64_t acc = 1;
    for (int d = s->rank - 1; d >= 0; d--) {
        st[d] = acc;
        acc *= s->dim[d];
    }
}

/* dst = src (shape s) transposed so that dst dim k is src dim perm[k]. */
static void permute_f32(const float *src, const vs_shape *s, const int *perm, float *dst)
{
    int64_t st[VS_MAX_DIMS], pst[VS_MAX_DIMS], od[VS_MAX_DIMS], idx[VS_MAX_DIMS] = {0};
    int r = s->rank;
    strides(s, st);
    for (int k = 0; k < r; k++) {
        pst[k] = st[perm[k]];
        od[k] = s->dim[perm[k]];
    }
    int64_t n = vs_shape_numel(s);
    for (int64_t i = 0, off = 0; i < n; i++) {
        dst[i] = src[off];
        for (int k = r - 1; k >= 0; k--) {
            off += pst[k];
            if (++idx[k] < od[k])
                break;
            off -= pst[k] * od[k];
            idx[k] = 0;
        }
    }
}

/* True when transposing a tensor of shape s (engine dims) by rp moves no data: the dims larger
 * than 1 keep their order. */
static int moves_no_data(const vs_shape *s, const int *rp)
{
    int last = -1;
    for (int k = 0; k < s->rank; k++) {
        if (s->dim[rp[k]] == 1)
            continue;
        if (rp[k] < last)
            return 0;
        last = rp[k];
    }
    return 1;
}

static const char *layout_suffix(const int *perm, int r)
{
    if (perm_eq(perm, PERM_ID, r))
        return "nchw";
    if (r == 4 && perm_eq(perm, PERM_NHWC, 4))
        return "nhwc";
    return "layout";
}

/* An engine constant holding float constant v expanded to `rank` dims (leading 1s, as
 * broadcasting reads it) and laid out by perm. */
static vs_status const_vid(ox_ctx *c, const ox_val *v, int rank, const int *perm, int *vid)
{
    if (v->kind != OX_F32)
        return fail(c, VS_UNSUPPORTED, "'%s' is used as float data but is not float32", v->name);
    if (rank < v->shape.rank)
        return fail(c, VS_INTERNAL, "constant '%s' of rank %d in a rank-%d op", v->name,
                    v->shape.rank, rank);
    vs_shape e = {.rank = rank}, es = {.rank = rank};
    for (int d = 0; d < rank; d++)
        e.dim[d] = d < rank - v->shape.rank ? 1 : v->shape.dim[d - (rank - v->shape.rank)];
    for (int k = 0; k < rank; k++)
        es.dim[k] = e.dim[perm[k]];
    int64_t n = vs_shape_numel(&e);
    float *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    if (!d)
        return fail(c, VS_NOMEM, "constant %s", v->name);
    permute_f32(v->f, &e, perm, d);
    if (es.rank == 0)
        es = (vs_shape){.rank = 1, .dim = {1}};
    int plain = perm_eq(perm, PERM_ID, rank) && rank == v->shape.rank;
    return add_const(c, v->name, plain ? NULL : layout_suffix(perm, rank), &es, d, vid);
}

/* The engine value of v in layout perm (of v's rank), converting once and remembering it. */
static vs_status in_layout(ox_ctx *c, ox_val *v, const int *perm, int *vid)
{
    int r = v->shape.rank;
    if (v->kind != OX_RUNTIME)
        return const_vid(c, v, r, perm, vid);
    if (perm_eq(v->perm, perm, r)) {
        *vid = v->vid;
        return VS_OK;
    }
    if (v->alt_vid >= 0 && perm_eq(v->alt_perm, perm, r)) {
        *vid = v->alt_vid;
        return VS_OK;
    }
    int inv[VS_MAX_DIMS], rp[VS_MAX_DIMS], nid;
    vs_shape os = {.rank = r};
    for (int k = 0; k < r; k++)
        inv[v->perm[k]] = k;
    for (int k = 0; k < r; k++) {
        rp[k] = inv[perm[k]];
        os.dim[k] = v->shape.dim[perm[k]];
    }
    int quiet = moves_no_data(&c->g->values[v->vid].shape, rp);
    vs_status st = emit(c, quiet ? VS_OP_RESHAPE : VS_OP_TRANSPOSE, v->name, layout_suffix(perm, r),
                        &v->vid, 1, &nid);
    if (st != VS_OK)
        return st;
    vs_node *n = vs_graph_node(c->g, nid);
    if (quiet)
        n->new_shape = os;
    else
        memcpy(n->perm, rp, sizeof rp);
    st = settle(c, nid, vid);
    if (st == VS_OK) {
        v->alt_vid = *vid;
        memcpy(v->alt_perm, perm, sizeof v->alt_perm);
    }
    return st;
}

/* ---- constant folding at load ------------------------------------------------------------ */

/* NumPy broadcast of a and b.  Returns 0, or -1 when they do not broadcast. */
static int bcast_shape(const vs_shape *a, const vs_shape *b, vs_shape *o)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    o->rank = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return -1;
        o->dim[i] = da == 1 ? db : da;
    }
    return 0;
}

/* Flat offset into x (broadcast against o) of o's flat element i. */
static int64_t bcast_off(const vs_shape *x, const vs_shape *o, int64_t i)
{
    int64_t off = 0, stride = 1;
    for (int d = o->rank - 1; d >= 0; d--) {
        int64_t c = i % o->dim[d];
        i /= o->dim[d];
        int xd = d - (o->rank - x->rank);
        if (xd < 0)
            break;
        if (x->dim[xd] != 1)
            off += c * stride;
        stride *= x->dim[xd];
    }
    return off;
}

static double apply_op(vs_op op, double x, double y)
{
    switch (op) {
    case VS_OP_ADD:
        return x + y;
    case VS_OP_SUB:
        return x - y;
    case VS_OP_MUL:
        return x * y;
    case VS_OP_DIV:
        return x / y;
    case VS_OP_MINIMUM:
        return x < y ? x : y;
    default:
        return x > y ? x : y;
    }
}

/* Element-wise op on two constants of the same kind (int64 division truncates, as ONNX's). */
static vs_status fold_binary(ox_ctx *c, vs_op op, const ox_val *a, const ox_val *b, const char *out)
{
    vs_shape o;
    if (a->kind != b->kind)
        return fail(c, VS_FORMAT, "operands of different types");
    if (bcast_shape(&a->shape, &b->shape, &o))
        return fail(c, VS_FORMAT, "constant shapes do not broadcast");
    int64_t n = vs_shape_numel(&o);
    void *d = malloc((size_t)(n ? n : 1) * 8);
    if (!d)
        return fail(c, VS_NOMEM, "folding");
    for (int64_t i = 0; i < n; i++) {
        int64_t ia = bcast_off(&a->shape, &o, i), ib = bcast_off(&b->shape, &o, i);
        if (a->kind == OX_F32) {
            ((float *)d)[i] = (float)apply_op(op, a->f[ia], b->f[ib]);
        } else if (op == VS_OP_DIV && b->i[ib] == 0) {
            free(d);
            return fail(c, VS_FORMAT, "integer division by zero");
        } else {
            int64_t x = a->i[ia], y = b->i[ib];
            ((int64_t *)d)[i] = op == VS_OP_ADD       ? x + y
                                : op == VS_OP_SUB     ? x - y
                                : op == VS_OP_MUL     ? x * y
                                : op == VS_OP_DIV     ? x / y
                                : op == VS_OP_MINIMUM ? (x < y ? x : y)
                                                      : (x > y ? x : y);
        }
    }
    return def_const(c, out, a->kind, &o, d);
}

/* A copy of constant v's data (n elements of its kind). */
static void *const_copy(const ox_val *v)
{
    int64_t n = vs_shape_numel(&v->shape);
    size_t es = v->kind == OX_F32 ? sizeof(float) : sizeof(int64_t);
    void *d = malloc((size_t)(n ? n : 1) * es);
    if (d && n)
        memcpy(d, v->kind == OX_F32 ? (void *)v->f : (void *)v->i, (size_t)n * es);
    return d;
}

/* ---- element-wise ops -------------------------------------------------------------------- */

/* out = a op b with NumPy broadcasting, in the layout of a runtime operand of the full rank. */
static vs_status binary(ox_ctx *c, vs_op op, const char *out, ox_val *a, ox_val *b)
{
    if (a->kind != OX_RUNTIME && b->kind != OX_RUNTIME)
        return fold_binary(c, op, a, b, out);
    vs_shape os;
    if (bcast_shape(&a->shape, &b->shape, &os))
        return fail(c, VS_FORMAT, "shapes of '%s' and '%s' do not broadcast", a->name, b->name);
    int r = os.rank;
    const int *perm = PERM_ID;
    ox_val *x[2] = {a, b};
    for (int k = 0; k < 2; k++)
        if (x[k]->kind == OX_RUNTIME && x[k]->shape.rank == r) {
            perm = x[k]->perm;
            break;
        }
    int in[2], nid, vid;
    for (int k = 0; k < 2; k++) {
        vs_status st;
        if (x[k]->kind != OX_RUNTIME)
            st = const_vid(c, x[k], perm_eq(perm, PERM_ID, r) ? x[k]->shape.rank : r, perm, &in[k]);
        else if (x[k]->shape.rank == r)
            st = in_layout(c, x[k], perm, &in[k]);
        else if (perm_eq(perm, PERM_ID, r))
            st = in_layout(c, x[k], PERM_ID, &in[k]);
        else
            st = fail(c, VS_UNSUPPORTED, "broadcasting '%s' against a transposed tensor",
                      x[k]->name);
        if (st != VS_OK)
            return st;
    }
    int perm_copy[VS_MAX_DIMS];
    memcpy(perm_copy, perm, sizeof perm_copy);
    vs_status st = emit(c, op, out, NULL, in, 2, &nid);
    if (st == VS_OK)
        st = settle(c, nid, &vid);
    return st == VS_OK ? def_runtime(c, out, vid, perm_copy) : st;
}

static vs_status op_binary(ox_ctx *c, vs_op op)
{
    ox_val *a, *b;
    vs_status st = get_in(c, 0, 1, &a);
    if (st == VS_OK)
        st = get_in(c, 1, 1, &b);
    return st == VS_OK ? binary(c, op, c->node->output[0], a, b) : st;
}

/* A unary op in the input's own layout; attributes set per op. */
static vs_status op_unary(ox_ctx *c, vs_op op)
{
    ox_val *x;
    int nid, vid;
    vs_status st = get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = emit(c, op, c->node->output[0], NULL, &x->vid, 1, &nid);
    if (st != VS_OK)
        return st;
    vs_node *n = vs_graph_node(c->g, nid);
    if (op == VS_OP_LEAKY_RELU)
        n->alpha = attr_f(c, "alpha", 0.01f);
    if (op == VS_OP_CLAMP) {
        /* Clip: bounds are attributes up to opset 10, optional scalar inputs from 11. */
        n->act_min = attr_f(c, "min", -INFINITY);
        n->act_max = attr_f(c, "max", INFINITY);
        for (int k = 1; k < 3; k++) {
            ox_val *b;
            st = get_fconst(c, k, 0, &b);
            if (st != VS_OK)
                return st;
            if (b && vs_shape_numel(&b->shape) != 1)
                return fail(c, VS_FORMAT, "Clip bound '%s' is not a scalar", b->name);
            if (b)
                *(k == 1 ? &n->act_min : &n->act_max) = b->f[0];
        }
    }
    st = settle(c, nid, &vid);
    return st == VS_OK ? def_runtime(c, c->node->output[0], vid, x->perm) : st;
}

/* PRelu: the slope broadcasts to x (ONNX's unidirectional broadcast), usually [C,1,1]. */
static vs_status op_prelu(ox_ctx *c)
{
    ox_val *x, *slope;
    vs_status st = get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = get_in(c, 1, 1, &slope);
    if (st == VS_OK && slope->shape.rank > x->shape.rank)
        return fail(c, VS_FORMAT, "slope has a higher rank than the input");
    return st == VS_OK ? binary(c, VS_OP_PRELU, c->node->output[0], x, slope) : st;
}

/* Identity and Dropout (inference): the output is the input. */
static vs_status op_identity(ox_ctx *c)
{
    ox_val *x;
    vs_status st = get_in(c, 0, 1, &x);
    if (st != VS_OK)
        return st;
    if (c->node->n_output > 1 && c->node->output[1][0])
        return fail(c, VS_UNSUPPORTED, "the dropout mask output is not supported");
    if (x->kind != OX_RUNTIME) {
        void *d = const_copy(x);
        return d ? def_const(c, c->node->output[0], x->kind, &x->shape, d)
                 : fail(c, VS_NOMEM, "copy");
    }
    st = def_runtime(c, c->node->output[0], x->vid, x->perm);
    return st;
}

/* BatchNormalization (inference): x * s + t per channel (dim 1), s = scale / sqrt(var + eps),
 * t = bias - mean * s.  Emitted as Mul and Add with constants; finalize folds them into the
 * convolution that precedes them. */
static vs_status op_batchnorm(ox_ctx *c)
{
    ox_val *x, *p[4];
    vs_status st = get_runtime(c, 0, &x);
    for (int k = 0; st == VS_OK && k < 4; k++)
        st = get_fconst(c, k + 1, 1, &p[k]);
    if (st != VS_OK)
        return st;
    if (x->shape.rank < 2)
        return fail(c, VS_FORMAT, "input of rank %d", x->shape.rank);
    int64_t ch = x->shape.dim[1];
    for (int k = 0; k < 4; k++)
        if (vs_shape_numel(&p[k]->shape) != ch)
            return fail(c, VS_FORMAT, "'%s' has %lld values for %lld channels", p[k]->name,
                        (long long)vs_shape_numel(&p[k]->shape), (long long)ch);
    float eps = attr_f(c, "epsilon", 1e-5f);
    float *s = malloc((size_t)ch * sizeof *s), *t = malloc((size_t)ch * sizeof *t);
    if (!s || !t) {
        free(s);
        free(t);
        return fail(c, VS_NOMEM, "batch norm");
    }
    for (int64_t i = 0; i < ch; i++) {
        s[i] = p[0]->f[i] / sqrtf(p[3]->f[i] + eps);
        t[i] = p[1]->f[i] - p[2]->f[i] * s[i];
    }
    /* [C, 1, ...]: broadcast from the right, the values land on dim 1 of x. */
    vs_shape cs = {.rank = x->shape.rank - 1};
    for (int d = 0; d < cs.rank; d++)
        cs.dim[d] = d == 0 ? ch : 1;
    const char *out = c->node->output[0];
    char sn[OX_NAME], tn[OX_NAME], mn[OX_NAME];
    snprintf(sn, sizeof sn, "%s/bn_scale", out);
    snprintf(tn, sizeof tn, "%s/bn_shift", out);
    snprintf(mn, sizeof mn, "%s/bn_mul", out);
    st = def_const(c, sn, OX_F32, &cs, s);
    if (st != VS_OK) {
        free(t);
        return st;
    }
    st = def_const(c, tn, OX_F32, &cs, t);
    if (st == VS_OK)
        st = binary(c, VS_OP_MUL, mn, x, find_val(c, sn));
    if (st == VS_OK)
        st = binary(c, VS_OP_ADD, out, find_val(c, mn), find_val(c, tn));
    return st;
}

/* ---- convolution and pooling ------------------------------------------------------------- */

/* strides, dilations, pads and auto_pad of a 2-D window op into node n. */
static vs_status window_attrs(ox_ctx *c, vs_node *n)
{
    int64_t v[4];
    int cnt;
    vs_status st = attr_ints(c, "strides", v, 2, &cnt);
    if (st != VS_OK)
        return st;
    if (cnt == 2) {
        n->stride[0] = (int)v[0];
        n->stride[1] = (int)v[1];
    }
    if ((st = attr_ints(c, "dilations", v, 2, &cnt)) != VS_OK)
        return st;
    if (cnt == 2) {
        n->dilation[0] = (int)v[0];
        n->dilation[1] = (int)v[1];
    }
    for (int k = 0; k < 2; k++)
        if (n->stride[k] < 1 || n->dilation[k] < 1 || n->stride[k] > 1024 || n->dilation[k] > 1024)
            return fail(c, VS_FORMAT, "bad stride or dilation");
    if ((st = attr_ints(c, "pads", v, 4, &cnt)) != VS_OK)
        return st;
    n->padmode = VS_PAD_EXPLICIT;
    if (cnt == 4) {
        /* ONNX: [top, left, bottom, right]; ours: top, bottom, left, right. */
        n->pad[0] = (int)v[0];
        n->pad[1] = (int)v[2];
        n->pad[2] = (int)v[1];
        n->pad[3] = (int)v[3];
        for (int k = 0; k < 4; k++)
            if (v[k] < 0 || v[k] > 1024)
                return fail(c, VS_FORMAT, "bad padding");
    } else if (cnt >= 0) {
        return fail(c, VS_FORMAT, "pads has %d values for a 2-D window", cnt);
    }
    if (attr_str_is(c, "auto_pad", NULL) || attr_str_is(c, "auto_pad", "NOTSET"))
        return VS_OK;
    if (attr_str_is(c, "auto_pad", "VALID"))
        n->padmode = VS_PAD_VALID;
    else if (attr_str_is(c, "auto_pad", "SAME_UPPER"))
        n->padmode = VS_PAD_SAME;
    else
        return fail(c, VS_UNSUPPORTED, "auto_pad other than NOTSET, VALID, SAME_UPPER");
    return VS_OK;
}

/* Conv weights OIHW -> HWIO ([KH,KW,C,O]), or for depthwise (group = C, O = C*M) ->
 * [KH,KW,C,M]: output channel o = c*M + m in both ONNX and the engine. */
static float *conv_filter(const float *w, int64_t o_n, int64_t i_n, int64_t kh_n, int64_t kw_n)
{
    float *f = malloc((size_t)(o_n * i_n * kh_n * kw_n) * sizeof *f);
    if (!f)
        return NULL;
    for (int64_t o = 0; o < o_n; o++)
        for (int64_t i = 0; i < i_n; i++)
            for (int64_t y = 0; y < kh_n; y++)
                for (int64_t x = 0; x < kw_n; x++) {
                    /* Depthwise has i_n == 1 and o = c*M + m: [KH,KW,C,M] is the same walk. */
                    f[((y * kw_n + x) * i_n + i) * o_n + o] =
                        w[((o * i_n + i) * kh_n + y) * kw_n + x];
                }
    return f;
}

static vs_status op_conv(ox_ctx *c)
{
    ox_val *x, *w, *b;
    vs_status st = get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = get_fconst(c, 1, 1, &w);
    if (st == VS_OK)
        st = get_fconst(c, 2, 0, &b);
    if (st != VS_OK)
        return st;
    if (x->shape.rank != 4 || w->shape.rank != 4)
        return fail(c, VS_UNSUPPORTED, "only 2-D convolution (rank-4 input and weights)");
    int64_t o_n = w->shape.dim[0], i_n = w->shape.dim[1], kh = w->shape.dim[2];
    int64_t kw = w->shape.dim[3], ch = x->shape.dim[1], group = attr_i(c, "group", 1);
    int64_t ks[2];
    int cnt;
    if ((st = attr_ints(c, "kernel_shape", ks, 2, &cnt)) != VS_OK)
        return st;
    if (cnt >= 0 && (cnt != 2 || ks[0] != kh || ks[1] != kw))
        return fail(c, VS_FORMAT, "kernel_shape does not match the weights");
    int depthwise = group != 1;
    if (group == 1 && i_n != ch)
        return fail(c, VS_FORMAT, "weights for %lld input channels, input has %lld", (long long)i_n,
                    (long long)ch);
    if (group != 1 && !(group == ch && i_n == 1 && o_n % ch == 0))
        return fail(c, VS_UNSUPPORTED, "grouped convolution (group %lld of %lld channels)",
                    (long long)group, (long long)ch);
    if (b && vs_shape_numel(&b->shape) != o_n)
        return fail(c, VS_FORMAT, "bias of %lld values for %lld outputs",
                    (long long)vs_shape_numel(&b->shape), (long long)o_n);
    int in[3] = {-1, -1, -1}, nid, vid;
    if ((st = in_layout(c, x, PERM_NHWC, &in[0])) != VS_OK)
        return st;
    float *f = conv_filter(w->f, o_n, i_n, kh, kw);
    if (!f)
        return fail(c, VS_NOMEM, "filter");
    vs_shape fs = {.rank = 4, .dim = {kh, kw, depthwise ? ch : i_n, depthwise ? o_n / ch : o_n}};
    if ((st = add_const(c, w->name, depthwise ? "hwcm" : "hwio", &fs, f, &in[1])) != VS_OK)
        return st;
    if (b && (st = const_vid(c, b, 1, PERM_ID, &in[2])) != VS_OK)
        return st;
    st = emit(c, depthwise ? VS_OP_DWCONV2D : VS_OP_CONV2D, c->node->output[0], NULL, in, 3, &nid);
    if (st == VS_OK)
        st = window_attrs(c, vs_graph_node(c->g, nid));
    if (st == VS_OK)
        st = settle(c, nid, &vid);
    return st == VS_OK ? def_runtime(c, c->node->output[0], vid, PERM_NHWC) : st;
}

static vs_status pool(ox_ctx *c, vs_op op)
{
    ox_val *x;
    int64_t ks[2];
    int cnt, nid, vid;
    vs_status st = get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = attr_ints(c, "kernel_shape", ks, 2, &cnt);
    if (st != VS_OK)
        return st;
    if (x->shape.rank != 4 || cnt != 2)
        return fail(c, VS_UNSUPPORTED, "only 2-D pooling with a 2-D kernel_shape");
    if (ks[0] < 1 || ks[1] < 1 || ks[0] > 4096 || ks[1] > 4096)
        return fail(c, VS_FORMAT, "bad kernel_shape");
    if (attr_i(c, "ceil_mode", 0))
        return fail(c, VS_UNSUPPORTED, "ceil_mode = 1");
    if (c->node->n_output > 1 && c->node->output[1][0])
        return fail(c, VS_UNSUPPORTED, "the indices output");
    int in;
    if ((st = in_layout(c, x, PERM_NHWC, &in)) != VS_OK)
        return st;
    if ((st = emit(c, op, c->node->output[0], NULL, &in, 1, &nid)) != VS_OK)
        return st;
    vs_node *n = vs_graph_node(c->g, nid);
    n->ksize[0] = (int)ks[0];
    n->ksize[1] = (int)ks[1];
    if ((st = window_attrs(c, n)) != VS_OK)
        return st;
    if (n->dilation[0] != 1 || n->dilation[1] != 1)
        return fail(c, VS_UNSUPPORTED, "dilated pooling");
    int padded = n->padmode == VS_PAD_SAME || n->pad[0] || n->pad[1] || n->pad[2] || n->pad[3];
    /* Our AvgPool divides by the valid elements only: ONNX's count_include_pad = 0. */
    if (op == VS_OP_AVGPOOL && padded && attr_i(c, "count_include_pad", 0))
        return fail(c, VS_UNSUPPORTED, "count_include_pad = 1 with padding");
    st = settle(c, nid, &vid);
    return st == VS_OK ? def_runtime(c, c->node->output[0], vid, PERM_NHWC) : st;
}

/* A reduction over ONNX axes ax[0..na) of x (all when na < 0), in x's own layout. */
static vs_status reduce(ox_ctx *c, vs_op op, ox_val *x, const int64_t *ax, int na, int keep)
{
    int r = x->shape.rank, nid, vid;
    uint32_t mask = 0;
    for (int k = 0; k < (na < 0 ? r : na); k++) {
        int a = na < 0 ? k : norm_axis(ax[k], r);
        if (a < 0)
            return fail(c, VS_FORMAT, "axis %lld out of range", (long long)ax[k]);
        mask |= 1u << a;
    }
    int perm[VS_MAX_DIMS], np = 0;
    vs_status st = emit(c, op, c->node->output[0], NULL, &x->vid, 1, &nid);
    if (st != VS_OK)
        return st;
    vs_node *n = vs_graph_node(c->g, nid);
    n->keepdims = keep;
    for (int k = 0; k < r; k++) {
        int d = x->perm[k];
        if (mask & (1u << d)) {
            n->axes_mask |= 1u << k;
            if (keep)
                perm[np++] = d;
            continue;
        }
        /* Without keepdims the ONNX dims after a dropped one shift down. */
        int shift = 0;
        for (int e = 0; e < d; e++)
            shift += !keep && (mask & (1u << e));
        perm[np++] = d - shift;
    }
    st = settle(c, nid, &vid);
    return st == VS_OK ? def_runtime(c, c->node->output[0], vid, perm) : st;
}

static vs_status op_reduce(ox_ctx *c, vs_op op)
{
    ox_val *x;
    int64_t ax[VS_MAX_DIMS];
    int na;
    vs_status st = get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = ints_arg(c, "axes", 1, ax, VS_MAX_DIMS, &na);
    if (st != VS_OK)
        return st;
    if (na == 0 && attr_i(c, "noop_with_empty_axes", 0))
        return def_runtime(c, c->node->output[0], x->vid, x->perm);
    return reduce(c, op, x, ax, na == 0 ? -1 : na, (int)attr_i(c, "keepdims", 1));
}

static vs_status global_pool(ox_ctx *c, vs_op op)
{
    ox_val *x;
    vs_status st = get_runtime(c, 0, &x);
    if (st != VS_OK)
        return st;
    if (x->shape.rank < 3)
        return fail(c, VS_FORMAT, "input of rank %d", x->shape.rank);
    int64_t ax[VS_MAX_DIMS];
    for (int d = 2; d < x->shape.rank; d++)
        ax[d - 2] = d;
    return reduce(c, op, x, ax, x->shape.rank - 2, 1);
}

/* ---- reshapes ---------------------------------------------------------------------------- */

/* Plans a reshape of x to `to` that moves no data: groups of input dims that become groups of
 * output dims must sit together and in order in x's memory.  OUT: T, the layout x must be in
 * (x's own when it qualifies), and P, the layout of the result. */
static void plan_reshape(const ox_val *x, const vs_shape *to, int *t, int *p)
{
    int rin = x->shape.rank, rout = to->rank, gin[VS_MAX_DIMS], gout[VS_MAX_DIMS], ng = 0;
    int i = 0, j = 0;
    while (i < rin || j < rout) {
        int64_t pi = 1, pj = 1;
        if (i < rin)
            pi *= x->shape.dim[i], gin[i++] = ng;
        if (j < rout)
            pj *= to->dim[j], gout[j++] = ng;
        while (pi != pj && (i < rin || j < rout)) {
            if ((pi < pj && i < rin) || j >= rout)
                pi *= x->shape.dim[i], gin[i++] = ng;
            else
                pj *= to->dim[j], gout[j++] = ng;
        }
        ng++;
    }
    /* Memory order of x's non-unit dims; each group's must be consecutive and ascending. */
    int ok = 1, last_g = -1, last_d = -1, seen[VS_MAX_DIMS * 2] = {0};
    int key[VS_MAX_DIMS * 2];
    for (int g = 0; g < ng; g++)
        key[g] = -1;
    for (int k = 0; k < rin; k++) {
        int d = x->perm[k];
        if (x->shape.dim[d] == 1)
            continue;
        int g = gin[d];
        if (key[g] < 0)
            key[g] = k;
        if (g != last_g && seen[g])
            ok = 0;
        if (g == last_g && d < last_d)
            ok = 0;
        seen[g] = 1;
        last_g = g;
        last_d = d;
    }
    /* Groups in memory order (groups of 1s first), each group's dims ascending. */
    int order[VS_MAX_DIMS * 2], nt = 0, np = 0;
    for (int g = 0; g < ng; g++)
        order[g] = g;
    for (int a = 1; a < ng; a++)
        for (int b = a; b > 0 && key[order[b]] < key[order[b - 1]]; b--) {
            int tmp = order[b];
            order[b] = order[b - 1];
            order[b - 1] = tmp;
        }
    for (int k = 0; k < ng; k++) {
        for (int d = 0; d < rin; d++)
            if (gin[d] == order[k])
                t[nt++] = d;
        for (int d = 0; d < rout; d++)
            if (gout[d] == order[k])
                p[np++] = d;
    }
    if (ok)
        memcpy(t, x->perm, sizeof(int) * (size_t)rin);
}

/* out = x reshaped to `to` (ONNX row-major semantics), moving data only when it must. */
static vs_status reshape_to(ox_ctx *c, ox_val *x, const vs_shape *to, const char *out)
{
    if (vs_shape_numel(to) != vs_shape_numel(&x->shape))
        return fail(c, VS_FORMAT, "reshape of %lld elements to %lld",
                    (long long)vs_shape_numel(&x->shape), (long long)vs_shape_numel(to));
    if (x->kind != OX_RUNTIME) {
        void *d = const_copy(x);
        return d ? def_const(c, out, x->kind, to, d) : fail(c, VS_NOMEM, "reshape");
    }
    int t[VS_MAX_DIMS], p[VS_MAX_DIMS], in, nid, vid;
    plan_reshape(x, to, t, p);
    vs_status st = in_layout(c, x, t, &in);
    if (st == VS_OK)
        st = emit(c, VS_OP_RESHAPE, out, NULL, &in, 1, &nid);
    if (st != VS_OK)
        return st;
    vs_node *n = vs_graph_node(c->g, nid);
    n->new_shape.rank = to->rank;
    for (int k = 0; k < to->rank; k++)
        n->new_shape.dim[k] = to->dim[p[k]];
    st = settle(c, nid, &vid);
    return st == VS_OK ? def_runtime(c, out, vid, p) : st;
}

static vs_status op_reshape(ox_ctx *c)
{
    ox_val *x, *s;
    vs_status st = get_in(c, 0, 1, &x);
    if (st == VS_OK)
        st = get_in(c, 1, 1, &s);
    if (st != VS_OK)
        return st;
    if (s->kind != OX_I64 || s->shape.rank != 1 || s->shape.dim[0] > VS_MAX_DIMS)
        return fail(c, VS_UNSUPPORTED, "the shape must be a constant int64 vector of rank <= %d",
                    VS_MAX_DIMS);
    vs_shape to = {.rank = (int)s->shape.dim[0]};
    int64_t known = 1;
    int unknown = -1;
    for (int k = 0; k < to.rank; k++) {
        int64_t d = s->i[k];
        if (d == 0 && !attr_i(c, "allowzero", 0)) {
            if (k >= x->shape.rank)
                return fail(c, VS_FORMAT, "shape copies dim %d of a rank-%d input", k,
                            x->shape.rank);
            d = x->shape.dim[k];
        }
        if (d == -1 && unknown < 0)
            unknown = k;
        else if (d <= 0)
            return fail(c, VS_FORMAT, "bad target dim %lld", (long long)d);
        else
            known *= d;
        to.dim[k] = d;
    }
    if (unknown >= 0)
        to.dim[unknown] = known ? vs_shape_numel(&x->shape) / known : 0;
    return reshape_to(c, x, &to, c->node->output[0]);
}

static vs_status op_flatten(ox_ctx *c)
{
    ox_val *x;
    vs_status st = get_in(c, 0, 1, &x);
    if (st != VS_OK)
        return st;
    int64_t axis = attr_i(c, "axis", 1);
    if (axis < 0)
        axis += x->shape.rank;
    if (axis < 0 || axis > x->shape.rank)
        return fail(c, VS_FORMAT, "axis out of range");
    vs_shape to = {.rank = 2, .dim = {1, 1}};
    for (int d = 0; d < x->shape.rank; d++)
        to.dim[d >= axis] *= x->shape.dim[d];
    return reshape_to(c, x, &to, c->node->output[0]);
}

static vs_status op_unsqueeze(ox_ctx *c)
{
    ox_val *x;
    int64_t ax[VS_MAX_DIMS];
    int na;
    vs_status st = get_in(c, 0, 1, &x);
    if (st == VS_OK)
        st = ints_arg(c, "axes", 1, ax, VS_MAX_DIMS, &na);
    if (st != VS_OK)
        return st;
    int r = x->shape.rank + (na > 0 ? na : 0);
    if (na <= 0 || r > VS_MAX_DIMS)
        return fail(c, VS_FORMAT, "needs 1 to %d axes", VS_MAX_DIMS - x->shape.rank);
    uint32_t mask = 0;
    for (int k = 0; k < na; k++) {
        int a = norm_axis(ax[k], r);
        if (a < 0 || (mask & (1u << a)))
            return fail(c, VS_FORMAT, "bad axis %lld", (long long)ax[k]);
        mask |= 1u << a;
    }
    vs_shape to = {.rank = r};
    for (int d = 0, s = 0; d < r; d++)
        to.dim[d] = mask & (1u << d) ? 1 : x->shape.dim[s++];
    return reshape_to(c, x, &to, c->node->output[0]);
}

static vs_status op_squeeze(ox_ctx *c)
{
    ox_val *x;
    int64_t ax[VS_MAX_DIMS];
    int na;
    vs_status st = get_in(c, 0, 1, &x);
    if (st == VS_OK)
        st = ints_arg(c, "axes", 1, ax, VS_MAX_DIMS, &na);
    if (st != VS_OK)
        return st;
    uint32_t mask = 0;
    for (int k = 0; k < na; k++) {
        int a = norm_axis(ax[k], x->shape.rank);
        if (a < 0 || x->shape.dim[a] != 1)
            return fail(c, VS_FORMAT, "axis %lld is not a dim of size 1", (long long)ax[k]);
        mask |= 1u << a;
    }
    vs_shape to = {0};
    for (int d = 0; d < x->shape.rank; d++)
        if (!(na > 0 ? mask & (1u << d) : x->shape.dim[d] == 1))
            to.dim[to.rank++] = x->shape.dim[d];
    return reshape_to(c, x, &to, c->node->output[0]);
}

/* Transpose costs nothing: the output is the same engine value in another layout. */
static vs_status op_transpose(ox_ctx *c)
{
    ox_val *x;
    vs_status st = get_in(c, 0, 1, &x);
    if (st != VS_OK)
        return st;
    int r = x->shape.rank, q[VS_MAX_DIMS], qinv[VS_MAX_DIMS], np, p[VS_MAX_DIMS];
    int64_t v[VS_MAX_DIMS];
    if ((st = attr_ints(c, "perm", v, VS_MAX_DIMS, &np)) != VS_OK)
        return st;
    if (np >= 0 && np != r)
        return fail(c, VS_FORMAT, "perm of %d values for rank %d", np, r);
    uint32_t seen = 0;
    for (int k = 0; k < r; k++) {
        q[k] = np < 0 ? r - 1 - k : (int)v[k];
        if (q[k] < 0 || q[k] >= r || (seen & (1u << q[k])))
            return fail(c, VS_FORMAT, "perm is not a permutation");
        seen |= 1u << q[k];
        qinv[q[k]] = k;
    }
    if (x->kind != OX_RUNTIME) {
        if (x->kind != OX_F32)
            return fail(c, VS_UNSUPPORTED, "transpose of an int64 constant");
        float *d = malloc((size_t)(vs_shape_numel(&x->shape) + 1) * sizeof *d);
        if (!d)
            return fail(c, VS_NOMEM, "transpose");
        permute_f32(x->f, &x->shape, q, d);
        vs_shape s = {.rank = r};
        for (int k = 0; k < r; k++)
            s.dim[k] = x->shape.dim[q[k]];
        return def_const(c, c->node->output[0], OX_F32, &s, d);
    }
    /* y = x.transpose(q); engine dim k of x is x's ONNX dim perm[k] = y's ONNX dim qinv[..]. */
    for (int k = 0; k < r; k++)
        p[k] = qinv[x->perm[k]];
    return def_runtime(c, c->node->output[0], x->vid, p);
}

/* ---- softmax, matmul --------------------------------------------------------------------- */

static vs_status op_softmax(ox_ctx *c)
{
    ox_val *x;
    int in, nid, vid;
    vs_status st = get_runtime(c, 0, &x);
    if (st != VS_OK)
        return st;
    int r = x->shape.rank, axis = norm_axis(attr_i(c, "axis", c->opset >= 13 ? -1 : 1), r);
    if (axis < 0)
        return fail(c, VS_FORMAT, "axis out of range");
    int64_t inner = 1;
    for (int d = axis + 1; d < r; d++)
        inner *= x->shape.dim[d];
    /* Before opset 13, Softmax normalises over all dims from axis on, flattened. */
    if (c->opset < 13 && inner > 1)
        return fail(c, VS_UNSUPPORTED, "softmax over the flattened dims %d.. (opset %d)", axis,
                    c->opset);
    if ((st = in_layout(c, x, PERM_ID, &in)) != VS_OK)
        return st;
    if ((st = emit(c, VS_OP_SOFTMAX, c->node->output[0], NULL, &in, 1, &nid)) != VS_OK)
        return st;
    vs_graph_node(c->g, nid)->axis = axis;
    st = settle(c, nid, &vid);
    return st == VS_OK ? def_runtime(c, c->node->output[0], vid, PERM_ID) : st;
}

/* y = a @ b (+ bias): b constant is the weight [K,N]; anything else is a runtime matmul. */
static vs_status matmul(ox_ctx *c, ox_val *a, ox_val *b, int ta, const float *wt, int64_t k_n,
                        int64_t n_n, const float *bias, const char *out)
{
    int in[3] = {-1, -1, -1}, nid, vid;
    vs_status st = in_layout(c, a, PERM_ID, &in[0]);
    if (st != VS_OK)
        return st;
    if (wt) {
        vs_shape ws = {.rank = 2, .dim = {k_n, n_n}};
        float *w = malloc((size_t)(k_n * n_n) * sizeof *w);
        if (!w)
            return fail(c, VS_NOMEM, "weights");
        memcpy(w, wt, (size_t)(k_n * n_n) * sizeof *w);
        st = add_const(c, b->name, b->kind == OX_F32 ? "kn" : NULL, &ws, w, &in[1]);
    } else {
        st = in_layout(c, b, PERM_ID, &in[1]);
    }
    if (st == VS_OK && bias) {
        vs_shape bs = {.rank = 1, .dim = {n_n}};
        float *bb = malloc((size_t)n_n * sizeof *bb);
        if (!bb)
            return fail(c, VS_NOMEM, "bias");
        memcpy(bb, bias, (size_t)n_n * sizeof *bb);
        st = add_const(c, out, "bias", &bs, bb, &in[2]);
    }
    if (st == VS_OK)
        st = emit(c, VS_OP_MATMUL, out, NULL, in, 3, &nid);
    if (st != VS_OK)
        return st;
    vs_graph_node(c->g, nid)->transpose_a = ta;
    st = settle(c, nid, &vid);
    return st == VS_OK ? def_runtime(c, out, vid, PERM_ID) : st;
}

static vs_status op_matmul(ox_ctx *c)
{
    ox_val *a, *b;
    vs_status st = get_runtime(c, 0, &a);
    if (st == VS_OK)
        st = get_in(c, 1, 1, &b);
    if (st != VS_OK)
        return st;
    if (a->shape.rank < 2 || b->shape.rank < 2)
        return fail(c, VS_UNSUPPORTED, "matmul of vectors (rank 1)");
    if (b->kind == OX_F32 && b->shape.rank == 2)
        return matmul(c, a, b, 0, b->f, b->shape.dim[0], b->shape.dim[1], NULL, c->node->output[0]);
    return matmul(c, a, b, 0, NULL, 0, 0, NULL, c->node->output[0]);
}

/* Gemm: alpha * A' B' + beta * C with B constant: B' is stored [K,N] with alpha folded in, and
 * C (one value per column) becomes the bias. */
static vs_status op_gemm(ox_ctx *c)
{
    ox_val *a, *b, *cc;
    vs_status st = get_runtime(c, 0, &a);
    if (st == VS_OK)
        st = get_fconst(c, 1, 1, &b);
    if (st == VS_OK)
        st = get_fconst(c, 2, 0, &cc);
    if (st != VS_OK)
        return st;
    int ta = (int)attr_i(c, "transA", 0), tb = (int)attr_i(c, "transB", 0);
    float alpha = attr_f(c, "alpha", 1.0f), beta = attr_f(c, "beta", 1.0f);
    if (a->shape.rank != 2 || b->shape.rank != 2)
        return fail(c, VS_FORMAT, "A and B must be matrices");
    int64_t k_n = b->shape.dim[tb ? 1 : 0], n_n = b->shape.dim[tb ? 0 : 1];
    float *w = malloc((size_t)(k_n * n_n + 1) * sizeof *w);
    float *bias = malloc((size_t)(n_n + 1) * sizeof *bias);
    if (!w || !bias) {
        free(w);
        free(bias);
        return fail(c, VS_NOMEM, "weights");
    }
    for (int64_t k = 0; k < k_n; k++)
        for (int64_t j = 0; j < n_n; j++)
            w[k * n_n + j] = alpha * b->f[tb ? j * k_n + k : k * n_n + j];
    int64_t nc = cc ? vs_shape_numel(&cc->shape) : 0;
    int per_col = cc && (nc == 1 || (nc == n_n && cc->shape.dim[cc->shape.rank - 1] == n_n));
    if (cc && !per_col)
        st = fail(c, VS_UNSUPPORTED, "C is not one value per column");
    for (int64_t j = 0; j < n_n && st == VS_OK; j++)
        bias[j] = cc ? beta * cc->f[nc == 1 ? 0 : j] : 0.0f;
    if (st == VS_OK)
        st = matmul(c, a, b, ta, w, k_n, n_n, cc ? bias : NULL, c->node->output[0]);
    free(w);
    free(bias);
    return st;
}

/* ---- data movement ----------------------------------------------------------------------- */

/* Concat of constants (shape arithmetic), at load. */
static vs_status concat_consts(ox_ctx *c, ox_val **xs, int n, int axis)
{
    vs_shape o = xs[0]->shape;
    o.dim[axis] = 0;
    for (int k = 0; k < n; k++) {
        if (xs[k]->kind != xs[0]->kind || xs[k]->shape.rank != o.rank)
            return fail(c, VS_FORMAT, "inputs of different types or ranks");
        o.dim[axis] += xs[k]->shape.dim[axis];
    }
    size_t es = xs[0]->kind == OX_F32 ? sizeof(float) : sizeof(int64_t);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= o.dim[d];
    for (int d = axis + 1; d < o.rank; d++)
        inner *= o.dim[d];
    char *d = malloc((size_t)(vs_shape_numel(&o) + 1) * es), *y = d;
    if (!d)
        return fail(c, VS_NOMEM, "concat");
    for (int64_t i = 0; i < outer; i++)
        for (int k = 0; k < n; k++) {
            size_t chunk = (size_t)(xs[k]->shape.dim[axis] * inner) * es;
            const char *src =
                xs[k]->kind == OX_F32 ? (const char *)xs[k]->f : (const char *)xs[k]->i;
            memcpy(y, src + (size_t)i * chunk, chunk);
            y += chunk;
        }
    return def_const(c, c->node->output[0], xs[0]->kind, &o, d);
}

static vs_status op_concat(ox_ctx *c)
{
    int n = (int)c->node->n_input;
    ox_val **xs = calloc((size_t)(n ? n : 1), sizeof *xs);
    int *in = calloc((size_t)(n ? n : 1), sizeof *in);
    vs_status st = xs && in ? VS_OK : fail(c, VS_NOMEM, "concat");
    int runtime = -1;
    for (int k = 0; st == VS_OK && k < n; k++) {
        st = get_in(c, k, 1, &xs[k]);
        if (st == VS_OK && xs[k]->kind == OX_RUNTIME && runtime < 0)
            runtime = k;
    }
    int r = st == VS_OK && n > 0 ? xs[0]->shape.rank : 0;
    int axis = norm_axis(attr_i(c, "axis", 0), r);
    if (st == VS_OK && (n < 1 || axis < 0))
        st = fail(c, VS_FORMAT, "no inputs or axis out of range");
    for (int k = 0; st == VS_OK && k < n; k++) {
        if (xs[k]->shape.rank != r)
            st = fail(c, VS_FORMAT, "inputs of different ranks");
        for (int d = 0; st == VS_OK && d < r; d++)
            if (d != axis && xs[k]->shape.dim[d] != xs[0]->shape.dim[d])
                st = fail(c, VS_FORMAT, "input %d differs in dim %d", k, d);
    }
    if (st == VS_OK && runtime < 0) {
        st = concat_consts(c, xs, n, axis);
        goto out;
    }
    int perm[VS_MAX_DIMS], eaxis = 0, nid = -1, vid = -1;
    if (st == VS_OK)
        memcpy(perm, xs[runtime]->perm, sizeof perm);
    for (int k = 0; st == VS_OK && k < n; k++)
        st = in_layout(c, xs[k], perm, &in[k]);
    for (int k = 0; k < r; k++)
        if (perm[k] == axis)
            eaxis = k;
    /* More inputs than a node takes: concatenate in runs, each run's result leading the next. */
    for (int done = 0; st == VS_OK && done < n;) {
        int run[VS_MAX_IN], cnt = 0;
        if (vid >= 0)
            run[cnt++] = vid;
        while (cnt < VS_MAX_IN && done < n)
            run[cnt++] = in[done++];
        st = emit(c, VS_OP_CONCAT, c->node->output[0], done < n ? "part" : NULL, run, cnt, &nid);
        if (st == VS_OK) {
            vs_graph_node(c->g, nid)->axis = eaxis;
            st = settle(c, nid, &vid);
        }
    }
    if (st == VS_OK)
        st = def_runtime(c, c->node->output[0], vid, perm);
out:
    free(xs);
    free(in);
    return st;
}

/* out = x[begin .. begin+size) along ONNX axes, as one SLICE in x's layout. */
static vs_status slice(ox_ctx *c, ox_val *x, const int64_t *begin, const int64_t *size,
                       const char *out)
{
    int nid, vid;
    vs_status st = emit(c, VS_OP_SLICE, out, NULL, &x->vid, 1, &nid);
    if (st != VS_OK)
        return st;
    vs_node *n = vs_graph_node(c->g, nid);
    for (int k = 0; k < x->shape.rank; k++) {
        n->begin[k] = begin[x->perm[k]];
        n->size[k] = size[x->perm[k]];
    }
    st = settle(c, nid, &vid);
    return st == VS_OK ? def_runtime(c, out, vid, x->perm) : st;
}

static vs_status op_split(ox_ctx *c)
{
    ox_val *x;
    int64_t parts[16];
    int np;
    vs_status st = get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = ints_arg(c, "split", 1, parts, 16, &np);
    if (st != VS_OK)
        return st;
    int r = x->shape.rank, axis = norm_axis(attr_i(c, "axis", 0), r);
    int n_out = (int)c->node->n_output;
    if (axis < 0 || n_out < 1 || n_out > 16 || (np >= 0 && np != n_out))
        return fail(c, VS_FORMAT, "bad axis or split");
    int64_t len = x->shape.dim[axis], begin[VS_MAX_DIMS] = {0}, size[VS_MAX_DIMS], sum = 0;
    for (int k = 0; k < n_out; k++) {
        if (np < 0)
            parts[k] = len / n_out;
        sum += parts[k];
        if (parts[k] < 1)
            return fail(c, VS_UNSUPPORTED, "empty split");
    }
    if (sum != len)
        return fail(c, VS_FORMAT, "split sizes add to %lld, dim is %lld", (long long)sum,
                    (long long)len);
    for (int d = 0; d < r; d++)
        size[d] = x->shape.dim[d];
    for (int k = 0; k < n_out && st == VS_OK; k++) {
        size[axis] = parts[k];
        if (c->node->output[k][0])
            st = slice(c, x, begin, size, c->node->output[k]);
        begin[axis] += parts[k];
    }
    return st;
}

static vs_status op_slice(ox_ctx *c)
{
    ox_val *x;
    int64_t sv[VS_MAX_DIMS], ev[VS_MAX_DIMS], av[VS_MAX_DIMS], tv[VS_MAX_DIMS];
    int ns, ne, na, nt;
    vs_status st = get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = ints_arg(c, "starts", 1, sv, VS_MAX_DIMS, &ns);
    if (st == VS_OK)
        st = ints_arg(c, "ends", 2, ev, VS_MAX_DIMS, &ne);
    if (st == VS_OK)
        st = ints_arg(c, "axes", 3, av, VS_MAX_DIMS, &na);
    if (st == VS_OK)
        st = ints_arg(c, "steps", 4, tv, VS_MAX_DIMS, &nt);
    if (st != VS_OK)
        return st;
    int r = x->shape.rank;
    if (ns < 0 || ns != ne || (na >= 0 && na != ns) || (nt >= 0 && nt != ns))
        return fail(c, VS_FORMAT, "starts, ends, axes and steps differ in length");
    int64_t begin[VS_MAX_DIMS] = {0}, size[VS_MAX_DIMS];
    for (int d = 0; d < r; d++)
        size[d] = x->shape.dim[d];
    for (int k = 0; k < ns; k++) {
        int a = norm_axis(na >= 0 ? av[k] : k, r);
        if (a < 0 || (nt >= 0 && tv[k] != 1))
            return fail(c, VS_UNSUPPORTED, "axis out of range or step other than 1");
        int64_t dim = x->shape.dim[a], s = sv[k], e = ev[k];
        s = s < 0 ? s + dim : s;
        e = e < 0 ? e + dim : e;
        s = s < 0 ? 0 : s > dim ? dim : s;
        e = e < 0 ? 0 : e > dim ? dim : e;
        if (e <= s)
            return fail(c, VS_UNSUPPORTED, "empty slice");
        begin[a] = s;
        size[a] = e - s;
    }
    return slice(c, x, begin, size, c->node->output[0]);
}

static vs_status op_pad(ox_ctx *c)
{
    ox_val *x, *val = NULL;
    int64_t pads[2 * VS_MAX_DIMS];
    int np, nid, vid;
    vs_status st = get_runtime(c, 0, &x);
    if (st == VS_OK)
        st = ints_arg(c, "pads", 1, pads, 2 * VS_MAX_DIMS, &np);
    if (st == VS_OK && c->opset >= 11)
        st = get_fconst(c, 2, 0, &val);
    if (st != VS_OK)
        return st;
    int r = x->shape.rank, zero = 1;
    if (!attr_str_is(c, "mode", NULL) && !attr_str_is(c, "mode", "constant"))
        return fail(c, VS_UNSUPPORTED, "only constant padding");
    if (np != 2 * r)
        return fail(c, VS_FORMAT, "%d pads for rank %d", np, r);
    for (int k = 0; k < np; k++) {
        if (pads[k] < 0 || pads[k] > 65536)
            return fail(c, VS_UNSUPPORTED, "negative or huge padding");
        zero &= pads[k] == 0;
    }
    if (zero)
        return def_runtime(c, c->node->output[0], x->vid, x->perm);
    if ((st = emit(c, VS_OP_PAD, c->node->output[0], NULL, &x->vid, 1, &nid)) != VS_OK)
        return st;
    vs_node *n = vs_graph_node(c->g, nid);
    n->pad_value = val ? val->f[0] : attr_f(c, "value", 0.0f);
    for (int k = 0; k < r; k++) {
        n->pads[k][0] = pads[x->perm[k]];
        n->pads[k][1] = pads[r + x->perm[k]];
    }
    st = settle(c, nid, &vid);
    return st == VS_OK ? def_runtime(c, c->node->output[0], vid, x->perm) : st;
}

/* ---- shape arithmetic (constants only) --------------------------------------------------- */

static vs_status op_shape(ox_ctx *c)
{
    ox_val *x;
    vs_status st = get_in(c, 0, 1, &x);
    if (st != VS_OK)
        return st;
    int r = x->shape.rank;
    int64_t *d = malloc((size_t)(r + 1) * sizeof *d);
    if (!d)
        return fail(c, VS_NOMEM, "shape");
    for (int k = 0; k < r; k++)
        d[k] = x->shape.dim[k];
    vs_shape s = {.rank = 1, .dim = {r}};
    return def_const(c, c->node->output[0], OX_I64, &s, d);
}

static vs_status op_gather(ox_ctx *c)
{
    ox_val *x, *idx;
    vs_status st = get_in(c, 0, 1, &x);
    if (st == VS_OK)
        st = get_in(c, 1, 1, &idx);
    if (st != VS_OK)
        return st;
    if (x->kind == OX_RUNTIME || idx->kind != OX_I64)
        return fail(c, VS_UNSUPPORTED, "only gathers from constants with constant indices");
    int r = x->shape.rank, axis = norm_axis(attr_i(c, "axis", 0), r);
    if (axis < 0 || r - 1 + idx->shape.rank > VS_MAX_DIMS)
        return fail(c, VS_FORMAT, "axis out of range");
    vs_shape o = {0};
    for (int d = 0; d < axis; d++)
        o.dim[o.rank++] = x->shape.dim[d];
    for (int d = 0; d < idx->shape.rank; d++)
        o.dim[o.rank++] = idx->shape.dim[d];
    for (int d = axis + 1; d < r; d++)
        o.dim[o.rank++] = x->shape.dim[d];
    int64_t outer = 1, inner = 1, len = x->shape.dim[axis], ni = vs_shape_numel(&idx->shape);
    for (int d = 0; d < axis; d++)
        outer *= x->shape.dim[d];
    for (int d = axis + 1; d < r; d++)
        inner *= x->shape.dim[d];
    size_t es = x->kind == OX_F32 ? sizeof(float) : sizeof(int64_t);
    char *d = malloc((size_t)(vs_shape_numel(&o) + 1) * es), *y = d;
    const char *src = x->kind == OX_F32 ? (const char *)x->f : (const char *)x->i;
    if (!d)
        return fail(c, VS_NOMEM, "gather");
    for (int64_t i = 0; i < outer; i++)
        for (int64_t j = 0; j < ni; j++) {
            int64_t at = idx->i[j] < 0 ? idx->i[j] + len : idx->i[j];
            if (at < 0 || at >= len) {
                free(d);
                return fail(c, VS_FORMAT, "index %lld out of range", (long long)idx->i[j]);
            }
            memcpy(y, src + (size_t)((i * len + at) * inner) * es, (size_t)inner * es);
            y += (size_t)inner * es;
        }
    return def_const(c, c->node->output[0], x->kind, &o, d);
}

static vs_status op_cast(ox_ctx *c)
{
    ox_val *x;
    vs_status st = get_in(c, 0, 1, &x);
    if (st != VS_OK)
        return st;
    int64_t to = attr_i(c, "to", 0);
    int want_f = to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    int want_i =
        to == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || to == ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
    if (x->kind == OX_RUNTIME) {
        if (!want_f)
            return fail(c, VS_UNSUPPORTED, "cast of a float tensor to type %lld", (long long)to);
        return def_runtime(c, c->node->output[0], x->vid, x->perm);
    }
    if (!want_f && !want_i)
        return fail(c, VS_UNSUPPORTED, "cast to type %lld", (long long)to);
    int64_t n = vs_shape_numel(&x->shape);
    void *d = malloc((size_t)(n + 1) * 8);
    if (!d)
        return fail(c, VS_NOMEM, "cast");
    for (int64_t k = 0; k < n; k++) {
        if (want_f)
            ((float *)d)[k] = x->kind == OX_F32 ? x->f[k] : (float)x->i[k];
        else
            ((int64_t *)d)[k] = x->kind == OX_I64 ? x->i[k] : (int64_t)x->f[k];
    }
    return def_const(c, c->node->output[0], want_f ? OX_F32 : OX_I64, &x->shape, d);
}

/* ---- tensors in the file ----------------------------------------------------------------- */

/* Reads an ONNX TensorProto into a loader constant named `name`. */
static vs_status read_tensor(ox_ctx *c, const Onnx__TensorProto *t, const char *name)
{
    vs_shape s = {.rank = (int)t->n_dims};
    if (t->n_dims > VS_MAX_DIMS)
        return fail(c, VS_UNSUPPORTED, "tensor '%s' has rank %zu", name, t->n_dims);
    int64_t n = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0 || (t->dims[d] > 0 && n > OX_MAX_NUMEL / t->dims[d]))
            return fail(c, VS_FORMAT, "tensor '%s' has a bad or huge shape", name);
        s.dim[d] = t->dims[d];
        n *= t->dims[d];
    }
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return fail(c, VS_UNSUPPORTED, "tensor '%s' keeps its data in an external file", name);
    int dt = t->data_type;
    int is_f =
        dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    int is_i =
        dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
    if (!is_f && !is_i) {
        /* Kept as a placeholder: an error only if a node reads it. */
        ox_val *v;
        vs_status st = new_val(c, name, &v);
        if (st == VS_OK) {
            v->kind = OX_BADTYPE;
            v->dtype = dt;
            v->shape = s;
        }
        return st;
    }
    size_t width = dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32   ? 4
                   : dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ? 4
                                                                : 8;
    size_t have = t->has_raw_data                               ? t->raw_data.len / width
                  : dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT  ? t->n_float_data
                  : dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ? t->n_double_data
                  : dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32  ? t->n_int32_data
                                                                : t->n_int64_data;
    if (have != (size_t)n || (t->has_raw_data && t->raw_data.len != (size_t)n * width))
        return fail(c, VS_FORMAT, "tensor '%s' holds %zu values, its shape says %lld", name, have,
                    (long long)n);
    void *d = malloc((size_t)(n + 1) * 8);
    if (!d)
        return fail(c, VS_NOMEM, "tensor '%s'", name);
    const uint8_t *raw = t->has_raw_data ? t->raw_data.data : NULL;
    for (int64_t k = 0; k < n; k++) {
        float fv = 0;
        double dv = 0;
        int32_t iv = 0;
        int64_t lv = 0;
        switch (dt) {
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
            if (raw)
                memcpy(&fv, raw + k * 4, 4);
            ((float *)d)[k] = raw ? fv : t->float_data[k];
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
            if (raw)
                memcpy(&dv, raw + k * 8, 8);
            ((float *)d)[k] = (float)(raw ? dv : t->double_data[k]);
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
            if (raw)
                memcpy(&iv, raw + k * 4, 4);
            ((int64_t *)d)[k] = raw ? iv : t->int32_data[k];
            break;
        default:
            if (raw)
                memcpy(&lv, raw + k * 8, 8);
            ((int64_t *)d)[k] = raw ? lv : t->int64_data[k];
            break;
        }
    }
    return def_const(c, name, is_f ? OX_F32 : OX_I64, &s, d);
}

static vs_status op_constant(ox_ctx *c)
{
    const Onnx__AttributeProto *a = attr(c, "value");
    if (a && a->t)
        return read_tensor(c, a->t, c->node->output[0]);
    vs_shape s = {0};
    if ((a = attr(c, "value_float")) && a->has_f) {
        float *d = malloc(sizeof *d);
        if (!d)
            return fail(c, VS_NOMEM, "constant");
        *d = a->f;
        return def_const(c, c->node->output[0], OX_F32, &s, d);
    }
    if ((a = attr(c, "value_ints")) || (a = attr(c, "value_int"))) {
        size_t n = a->n_ints ? a->n_ints : 1;
        int64_t *d = malloc(n * sizeof *d);
        if (!d)
            return fail(c, VS_NOMEM, "constant");
        if (a->n_ints) {
            memcpy(d, a->ints, n * sizeof *d);
            s = (vs_shape){.rank = 1, .dim = {(int64_t)n}};
        } else {
            d[0] = a->i;
        }
        return def_const(c, c->node->output[0], OX_I64, &s, d);
    }
    return fail(c, VS_UNSUPPORTED, "constant without a tensor, float or int value");
}

/* ---- the graph --------------------------------------------------------------------------- */

typedef struct ox_op {
    const char *name;
    vs_status (*fn)(ox_ctx *c);               /* a handler for this op alone, or */
    vs_status (*shared)(ox_ctx *c, vs_op op); /* one shared by ops that map onto one engine op */
    vs_op op;
} ox_op;

static const ox_op ops[] = {
    {"Conv", op_conv, NULL, VS_OP_IDENTITY},
    {"BatchNormalization", op_batchnorm, NULL, VS_OP_IDENTITY},
    {"Relu", NULL, op_unary, VS_OP_RELU},
    {"PRelu", op_prelu, NULL, VS_OP_IDENTITY},
    {"LeakyRelu", NULL, op_unary, VS_OP_LEAKY_RELU},
    {"Sigmoid", NULL, op_unary, VS_OP_SIGMOID},
    {"Tanh", NULL, op_unary, VS_OP_TANH},
    {"Exp", NULL, op_unary, VS_OP_EXP},
    {"Abs", NULL, op_unary, VS_OP_ABS},
    {"Neg", NULL, op_unary, VS_OP_NEG},
    {"Sqrt", NULL, op_unary, VS_OP_SQRT},
    {"Clip", NULL, op_unary, VS_OP_CLAMP},
    {"Add", NULL, op_binary, VS_OP_ADD},
    {"Sub", NULL, op_binary, VS_OP_SUB},
    {"Mul", NULL, op_binary, VS_OP_MUL},
    {"Div", NULL, op_binary, VS_OP_DIV},
    {"Max", NULL, op_binary, VS_OP_MAXIMUM},
    {"Min", NULL, op_binary, VS_OP_MINIMUM},
    {"MaxPool", NULL, pool, VS_OP_MAXPOOL},
    {"AveragePool", NULL, pool, VS_OP_AVGPOOL},
    {"GlobalAveragePool", NULL, global_pool, VS_OP_MEAN},
    {"GlobalMaxPool", NULL, global_pool, VS_OP_REDUCE_MAX},
    {"ReduceMean", NULL, op_reduce, VS_OP_MEAN},
    {"ReduceSum", NULL, op_reduce, VS_OP_SUM},
    {"ReduceMax", NULL, op_reduce, VS_OP_REDUCE_MAX},
    {"Softmax", op_softmax, NULL, VS_OP_IDENTITY},
    {"Gemm", op_gemm, NULL, VS_OP_IDENTITY},
    {"MatMul", op_matmul, NULL, VS_OP_IDENTITY},
    {"Flatten", op_flatten, NULL, VS_OP_IDENTITY},
    {"Reshape", op_reshape, NULL, VS_OP_IDENTITY},
    {"Squeeze", op_squeeze, NULL, VS_OP_IDENTITY},
    {"Unsqueeze", op_unsqueeze, NULL, VS_OP_IDENTITY},
    {"Transpose", op_transpose, NULL, VS_OP_IDENTITY},
    {"Concat", op_concat, NULL, VS_OP_IDENTITY},
    {"Split", op_split, NULL, VS_OP_IDENTITY},
    {"Slice", op_slice, NULL, VS_OP_IDENTITY},
    {"Pad", op_pad, NULL, VS_OP_IDENTITY},
    {"Identity", op_identity, NULL, VS_OP_IDENTITY},
    {"Dropout", op_identity, NULL, VS_OP_IDENTITY},
    {"Shape", op_shape, NULL, VS_OP_IDENTITY},
    {"Gather", op_gather, NULL, VS_OP_IDENTITY},
    {"Cast", op_cast, NULL, VS_OP_IDENTITY},
    {"Constant", op_constant, NULL, VS_OP_IDENTITY},
};

static vs_status translate_node(ox_ctx *c, const Onnx__NodeProto *n)
{
    c->node = n;
    if (!n->op_type || n->n_output < 1 || !n->output[0] || !n->output[0][0])
        return fail(c, VS_FORMAT, "node without an op type or output");
    if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
        return fail(c, VS_FORMAT, "op of domain '%s' is not supported", n->domain);
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].name, n->op_type) == 0)
            return ops[i].fn ? ops[i].fn(c) : ops[i].shared(c, ops[i].op);
    return fail(c, VS_FORMAT, "op '%s' is not supported", n->op_type);
}

/* The graph's real inputs (initializers listed as inputs by old exporters are skipped). */
static vs_status add_inputs(ox_ctx *c, const Onnx__GraphProto *gp)
{
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name || find_val(c, vi->name))
            continue;
        const Onnx__TypeProto__Tensor *tt = vi->type ? vi->type->tensor_type : NULL;
        if (!tt || !tt->shape || tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
            return fail(c, VS_UNSUPPORTED, "input '%s' is not a float tensor of known rank",
                        vi->name);
        vs_shape s = {.rank = (int)tt->shape->n_dim};
        if (tt->shape->n_dim > VS_MAX_DIMS)
            return fail(c, VS_UNSUPPORTED, "input '%s' has rank %zu", vi->name, tt->shape->n_dim);
        for (size_t d = 0; d < tt->shape->n_dim; d++) {
            const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[d];
            int known = dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            /* A symbolic batch dim is fixed at 1; any other symbolic dim we cannot plan. */
            if (!known && d != 0)
                return fail(c, VS_UNSUPPORTED, "input '%s' dim %zu is not fixed", vi->name, d);
            s.dim[d] = known ? dm->dim_value : 1;
            if (s.dim[d] < 1 || s.dim[d] > 65536)
                return fail(c, VS_FORMAT, "input '%s' dim %zu is %lld", vi->name, d,
                            (long long)s.dim[d]);
        }
        int vid = vs_graph_add_input(c->g, vi->name, &s);
        if (vid < 0)
            return fail(c, VS_LIMIT, "too many inputs (at most %d)", VS_MAX_IN);
        vs_status st = def_runtime(c, vi->name, vid, PERM_ID);
        if (st != VS_OK)
            return st;
    }
    return VS_OK;
}

static vs_status rename_value(ox_ctx *c, int vid, const char *name)
{
    char *dup = strdup(name);
    if (!dup)
        return fail(c, VS_NOMEM, "rename");
    vs_value *v = &c->g->values[vid];
    if (v->producer >= 0) {
        vs_node *n = vs_graph_node(c->g, v->producer);
        char *nd = strdup(name);
        if (!nd) {
            free(dup);
            return fail(c, VS_NOMEM, "rename");
        }
        free(n->name);
        n->name = nd;
    }
    free(v->name);
    v->name = dup;
    return VS_OK;
}

/* Marks ONNX output `name`, in the model's own layout, under exactly that name. */
static vs_status add_output(ox_ctx *c, const char *name)
{
    ox_val *v = find_val(c, name);
    if (!v)
        return fail(c, VS_FORMAT, "output '%s' is not produced by any node", name);
    if (v->kind != OX_RUNTIME)
        return fail(c, VS_UNSUPPORTED, "output '%s' is a constant", name);
    int vid, nid;
    vs_status st = in_layout(c, v, PERM_ID, &vid);
    if (st != VS_OK)
        return st;
    const vs_value *val = &c->g->values[vid];
    if (strcmp(val->name, name) != 0) {
        char other[OX_NAME];
        int holder = vs_graph_find(c->g, name);
        if (holder >= 0) { /* e.g. the NHWC value that the output transposes */
            uniq_name(c, name, layout_suffix(v->perm, v->shape.rank), other);
            if ((st = rename_value(c, holder, other)) != VS_OK)
                return st;
        }
        if (val->is_input || val->is_output || val->producer < 0) {
            if ((st = emit(c, VS_OP_IDENTITY, name, NULL, &vid, 1, &nid)) != VS_OK ||
                (st = settle(c, nid, &vid)) != VS_OK)
                return st;
        } else if ((st = rename_value(c, vid, name)) != VS_OK) {
            return st;
        }
    }
    st = vs_graph_mark_output(c->g, vid);
    return st == VS_OK ? VS_OK : fail(c, st, "cannot mark output '%s'", name);
}

static vs_status translate(ox_ctx *c, const Onnx__ModelProto *m)
{
    const Onnx__GraphProto *gp = m->graph;
    if (!gp)
        return fail(c, VS_FORMAT, "no graph in the model");
    c->opset = 0;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (!o->domain || !o->domain[0] || strcmp(o->domain, "ai.onnx") == 0)
            c->opset = (int)o->version;
    }
    if (c->opset < OX_MIN_OPSET || c->opset > OX_MAX_OPSET)
        return fail(c, c->opset ? VS_UNSUPPORTED : VS_FORMAT, "ONNX opset %d (supported: %d to %d)",
                    c->opset, OX_MIN_OPSET, OX_MAX_OPSET);
    vs_status st = VS_OK;
    for (size_t i = 0; st == VS_OK && i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        st = t->name ? read_tensor(c, t, t->name) : fail(c, VS_FORMAT, "unnamed initializer");
    }
    if (st == VS_OK)
        st = add_inputs(c, gp);
    for (size_t i = 0; st == VS_OK && i < gp->n_node; i++)
        st = translate_node(c, gp->node[i]);
    c->node = NULL;
    if (st == VS_OK && (gp->n_output < 1 || c->g->n_inputs < 1))
        st = fail(c, VS_FORMAT, "the graph has no %s", gp->n_output ? "inputs" : "outputs");
    for (size_t i = 0; st == VS_OK && i < gp->n_output; i++)
        st = gp->output[i]->name ? add_output(c, gp->output[i]->name)
                                 : fail(c, VS_FORMAT, "unnamed output");
    return st;
}

/* Reads the whole file.  OUT: *buf (malloc'd), *len. */
static vs_status read_file(const char *path, uint8_t **buf, size_t *len, vs_err *err)
{
    struct stat sb;
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return vs_err_set(err, VS_IO, "cannot open %s", path);
    vs_status st = VS_OK;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = vs_err_set(err, VS_IO, "%s is not a regular file", path);
    } else if ((uint64_t)sb.st_size > VS_ONNX_MAX_FILE) {
        st = vs_err_set(err, VS_LIMIT, "%s is %lld bytes (at most %zu)", path,
                        (long long)sb.st_size, VS_ONNX_MAX_FILE);
    } else if (!(*buf = malloc((size_t)sb.st_size + 1))) {
        st = vs_err_set(err, VS_NOMEM, "reading %s", path);
    } else if (fread(*buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
        st = vs_err_set(err, VS_IO, "cannot read %s", path);
    } else {
        *len = (size_t)sb.st_size;
    }
    fclose(f);
    if (st != VS_OK) {
        free(*buf);
        *buf = NULL;
    }
    return st;
}

vs_status vs_onnx_load_graph(const char *path, const char *name, vs_graph **out, vs_err *err)
{
    uint8_t *buf;
    size_t len;
    ox_ctx c = {.err = err, .path = path};
    Onnx__ModelProto *m = NULL;

    *out = NULL;
    vs_status st = read_file(path, &buf, &len, err);
    if (st != VS_OK)
        return st;
    m = onnx__model_proto__unpack(NULL, len, buf);
    if (!m) {
        st = vs_err_set(err, VS_FORMAT,
                        "%s: not an ONNX model (protobuf parse failed: "
                        "truncated or corrupt)",
                        path);
        goto done;
    }
    c.g = vs_graph_new(name);
    if (!c.g) {
        st = vs_err_set(err, VS_NOMEM, "loading %s", path);
        goto done;
    }
    st = translate(&c, m);
done:
    for (int i = 0; i < c.n_vals; i++)
        val_free(c.vals[i]);
    free(c.vals);
    if (m)
        onnx__model_proto__free_unpacked(m, NULL);
    free(buf);
    if (st != VS_OK) {
        vs_graph_free(c.g);
        return st;
    }
    *out = c.g;
    return VS_OK;
}

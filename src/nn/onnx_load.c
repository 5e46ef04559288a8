/*
 * onnx_load.c - reading an ONNX model (protobuf) into a vs_graph.  This file holds the loader's
 * state (the value table, layouts, names) and the graph's wiring; onnx_ops.c translates the
 * nodes, one function per ONNX op (onnx_ctx.h is what they share).
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
 *   2. Conversions are made on demand by ox_in_layout() (a TRANSPOSE, or a RESHAPE when the move
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

#include "onnx_ctx.h"

const int ox_perm_nhwc[VS_MAX_DIMS] = {0, 2, 3, 1, 4, 5};
const int ox_perm_id[VS_MAX_DIMS] = {0, 1, 2, 3, 4, 5};

/* ---- errors ------------------------------------------------------------------------------ */

static const char *node_label(const Onnx__NodeProto *n)
{
    if (n->name && n->name[0])
        return n->name;
    return n->n_output > 0 && n->output[0] ? n->output[0] : "?";
}

/* Sets err to "<file>: node '<name>' (<op>): <message>" and returns st. */
__attribute__((format(printf, 3, 4))) vs_status ox_fail(ox_ctx *c, vs_status st, const char *fmt,
                                                        ...)
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

ox_val *ox_find_val(const ox_ctx *c, const char *name)
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
vs_status ox_new_val(ox_ctx *c, const char *name, ox_val **out)
{
    *out = NULL;
    if (c->n_vals == c->cap_vals) {
        int cap = c->cap_vals ? 2 * c->cap_vals : 256;
        ox_val **p = realloc(c->vals, (size_t)cap * sizeof *p);
        if (!p)
            return ox_fail(c, VS_NOMEM, "value table");
        c->vals = p;
        c->cap_vals = cap;
    }
    ox_val *v = calloc(1, sizeof *v);
    if (!v || !(v->name = strdup(name))) {
        free(v);
        return ox_fail(c, VS_NOMEM, "value table");
    }
    v->vid = -1;
    v->alt_vid = -1;
    c->vals[c->n_vals++] = v;
    *out = v;
    return VS_OK;
}

/* Defines `name` as engine value vid in layout perm; its ONNX shape follows from both. */
vs_status ox_def_runtime(ox_ctx *c, const char *name, int vid, const int *perm)
{
    ox_val *v;
    vs_status st = ox_new_val(c, name, &v);
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
vs_status ox_def_const(ox_ctx *c, const char *name, ox_kind kind, const vs_shape *s, void *data)
{
    ox_val *v;
    vs_status st = ox_new_val(c, name, &v);
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
vs_status ox_get_in(ox_ctx *c, int k, int required, ox_val **v)
{
    const Onnx__NodeProto *n = c->node;
    *v = NULL;
    if ((size_t)k >= n->n_input || !n->input[k] || !n->input[k][0])
        return required ? ox_fail(c, VS_FORMAT, "input %d is missing", k) : VS_OK;
    *v = ox_find_val(c, n->input[k]);
    if (!*v)
        return ox_fail(c, VS_FORMAT, "reads '%s', which no earlier node or initializer defines",
                       n->input[k]);
    if ((*v)->kind == OX_BADTYPE)
        return ox_fail(c, VS_UNSUPPORTED, "input '%s' has ONNX data type %d", (*v)->name,
                       (*v)->dtype);
    return VS_OK;
}

/* Input k, which must be a runtime tensor. */
vs_status ox_get_runtime(ox_ctx *c, int k, ox_val **v)
{
    vs_status st = ox_get_in(c, k, 1, v);
    if (st == VS_OK && (*v)->kind != OX_RUNTIME)
        return ox_fail(c, VS_UNSUPPORTED, "input '%s' is a constant here", (*v)->name);
    return st;
}

/* Input k, which must be a float constant. */
vs_status ox_get_fconst(ox_ctx *c, int k, int required, ox_val **v)
{
    vs_status st = ox_get_in(c, k, required, v);
    if (st == VS_OK && *v && (*v)->kind != OX_F32)
        return ox_fail(c, VS_UNSUPPORTED, "input '%s' must be a float32 constant", (*v)->name);
    return st;
}

const Onnx__AttributeProto *ox_attr(const ox_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->node->n_attribute; i++)
        if (c->node->attribute[i]->name && strcmp(c->node->attribute[i]->name, name) == 0)
            return c->node->attribute[i];
    return NULL;
}

int64_t ox_attr_i(const ox_ctx *c, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = ox_attr(c, name);
    return a && a->has_i ? a->i : def;
}

float ox_attr_f(const ox_ctx *c, const char *name, float def)
{
    const Onnx__AttributeProto *a = ox_attr(c, name);
    return a && a->has_f ? a->f : def;
}

/* Copies attribute `name` (ints) into out[max].  OUT: *count, -1 when absent. */
vs_status ox_attr_ints(ox_ctx *c, const char *name, int64_t *out, int max, int *count)
{
    const Onnx__AttributeProto *a = ox_attr(c, name);
    *count = -1;
    if (!a)
        return VS_OK;
    if (a->n_ints > (size_t)max)
        return ox_fail(c, VS_UNSUPPORTED, "attribute %s has %zu values (at most %d)", name,
                       a->n_ints, max);
    for (size_t i = 0; i < a->n_ints; i++)
        out[i] = a->ints[i];
    *count = (int)a->n_ints;
    return VS_OK;
}

/* True when string attribute `name` is absent or equals one of the given values (NULL-ended). */
int ox_attr_str_is(const ox_ctx *c, const char *name, const char *value)
{
    const Onnx__AttributeProto *a = ox_attr(c, name);
    if (!a || !a->has_s)
        return value == NULL;
    return value && strlen(value) == a->s.len && memcmp(a->s.data, value, a->s.len) == 0;
}

/* The ints of attribute `name` (opsets before the change) or of int64 constant input k (after):
 * how Unsqueeze, Squeeze, Split, Pad, Slice and the reductions moved their arguments. */
vs_status ox_ints_arg(ox_ctx *c, const char *name, int k, int64_t *out, int max, int *count)
{
    vs_status st = ox_attr_ints(c, name, out, max, count);
    if (st != VS_OK || *count >= 0)
        return st;
    ox_val *v;
    st = ox_get_in(c, k, 0, &v);
    if (st != VS_OK || !v)
        return st;
    if (v->kind != OX_I64)
        return ox_fail(c, VS_UNSUPPORTED, "input '%s' must be an int64 constant", v->name);
    int64_t n = vs_shape_numel(&v->shape);
    if (n > max)
        return ox_fail(c, VS_UNSUPPORTED, "input '%s' has %lld values (at most %d)", v->name,
                       (long long)n, max);
    memcpy(out, v->i, (size_t)n * sizeof *out);
    *count = (int)n;
    return VS_OK;
}

/* Normalises an axis of a rank-r tensor; -1 when out of range. */
int ox_norm_axis(int64_t a, int r)
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

vs_status ox_emit(ox_ctx *c, vs_op op, const char *base, const char *suffix, const int *in,
                  int n_in, int *nid)
{
    char name[OX_NAME];
    uniq_name(c, base, suffix, name);
    *nid = vs_graph_add_node(c->g, op, name, in, n_in);
    return *nid < 0 ? ox_fail(c, VS_NOMEM, "adding node %s", name) : VS_OK;
}

/* Infers node nid's output shape now (the loader needs every shape as it goes). */
vs_status ox_settle(ox_ctx *c, int nid, int *vid)
{
    vs_err e = {{0}};
    vs_status st = vs_graph_infer_node(c->g, vs_graph_node(c->g, nid), &e);
    if (st != VS_OK)
        return ox_fail(c, st, "%s", e.msg);
    *vid = vs_graph_node_out(c->g, nid);
    return VS_OK;
}

vs_status ox_add_const(ox_ctx *c, const char *base, const char *suffix, const vs_shape *s,
                       float *data, int *vid)
{
    char name[OX_NAME];
    uniq_name(c, base, suffix, name);
    *vid = vs_graph_add_const(c->g, name, VS_DT_F32, s, data);
    return *vid < 0 ? ox_fail(c, VS_NOMEM, "constant %s", name) : VS_OK;
}

/* ---- layouts ----------------------------------------------------------------------------- */

int ox_perm_eq(const int *a, const int *b, int r)
{
    for (int k = 0; k < r; k++)
        if (a[k] != b[k])
            return 0;
    return 1;
}

/* Row-major strides of s. */
void ox_strides(const vs_shape *s, int64_t *st)
{
    int64_t acc = 1;
    for (int d = s->rank - 1; d >= 0; d--) {
        st[d] = acc;
        acc *= s->dim[d];
    }
}

/* dst = src (shape s) transposed so that dst dim k is src dim perm[k]. */
void ox_permute_f32(const float *src, const vs_shape *s, const int *perm, float *dst)
{
    int64_t st[VS_MAX_DIMS], pst[VS_MAX_DIMS], od[VS_MAX_DIMS], idx[VS_MAX_DIMS] = {0};
    int r = s->rank;
    ox_strides(s, st);
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
    if (ox_perm_eq(perm, ox_perm_id, r))
        return "nchw";
    if (r == 4 && ox_perm_eq(perm, ox_perm_nhwc, 4))
        return "nhwc";
    return "layout";
}

/* An engine constant holding float constant v expanded to `rank` dims (leading 1s, as
 * broadcasting reads it) and laid out by perm. */
vs_status ox_const_vid(ox_ctx *c, const ox_val *v, int rank, const int *perm, int *vid)
{
    if (v->kind != OX_F32)
        return ox_fail(c, VS_UNSUPPORTED, "'%s' is used as float data but is not float32", v->name);
    if (rank < v->shape.rank)
        return ox_fail(c, VS_INTERNAL, "constant '%s' of rank %d in a rank-%d op", v->name,
                       v->shape.rank, rank);
    vs_shape e = {.rank = rank}, es = {.rank = rank};
    for (int d = 0; d < rank; d++)
        e.dim[d] = d < rank - v->shape.rank ? 1 : v->shape.dim[d - (rank - v->shape.rank)];
    for (int k = 0; k < rank; k++)
        es.dim[k] = e.dim[perm[k]];
    int64_t n = vs_shape_numel(&e);
    float *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    if (!d)
        return ox_fail(c, VS_NOMEM, "constant %s", v->name);
    ox_permute_f32(v->f, &e, perm, d);
    if (es.rank == 0)
        es = (vs_shape){.rank = 1, .dim = {1}};
    int plain = ox_perm_eq(perm, ox_perm_id, rank) && rank == v->shape.rank;
    return ox_add_const(c, v->name, plain ? NULL : layout_suffix(perm, rank), &es, d, vid);
}

/* The engine value of v in layout perm (of v's rank), converting once and remembering it. */
vs_status ox_in_layout(ox_ctx *c, ox_val *v, const int *perm, int *vid)
{
    int r = v->shape.rank;
    if (v->kind != OX_RUNTIME)
        return ox_const_vid(c, v, r, perm, vid);
    if (ox_perm_eq(v->perm, perm, r)) {
        *vid = v->vid;
        return VS_OK;
    }
    if (v->alt_vid >= 0 && ox_perm_eq(v->alt_perm, perm, r)) {
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
    vs_status st = ox_emit(c, quiet ? VS_OP_RESHAPE : VS_OP_TRANSPOSE, v->name,
                           layout_suffix(perm, r), &v->vid, 1, &nid);
    if (st != VS_OK)
        return st;
    vs_node *n = vs_graph_node(c->g, nid);
    if (quiet)
        n->new_shape = os;
    else
        memcpy(n->perm, rp, sizeof rp);
    st = ox_settle(c, nid, vid);
    if (st == VS_OK) {
        v->alt_vid = *vid;
        memcpy(v->alt_perm, perm, sizeof v->alt_perm);
    }
    return st;
}

/* The graph's real inputs (initializers listed as inputs by old exporters are skipped). */
static vs_status add_inputs(ox_ctx *c, const Onnx__GraphProto *gp)
{
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name || ox_find_val(c, vi->name))
            continue;
        const Onnx__TypeProto__Tensor *tt = vi->type ? vi->type->tensor_type : NULL;
        if (!tt || !tt->shape || tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
            return ox_fail(c, VS_UNSUPPORTED, "input '%s' is not a float tensor of known rank",
                           vi->name);
        vs_shape s = {.rank = (int)tt->shape->n_dim};
        if (tt->shape->n_dim > VS_MAX_DIMS)
            return ox_fail(c, VS_UNSUPPORTED, "input '%s' has rank %zu", vi->name,
                           tt->shape->n_dim);
        for (size_t d = 0; d < tt->shape->n_dim; d++) {
            const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[d];
            int known = dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            /* A symbolic batch dim is fixed at 1; any other symbolic dim we cannot plan. */
            if (!known && d != 0)
                return ox_fail(c, VS_UNSUPPORTED, "input '%s' dim %zu is not fixed", vi->name, d);
            s.dim[d] = known ? dm->dim_value : 1;
            if (s.dim[d] < 1 || s.dim[d] > 65536)
                return ox_fail(c, VS_FORMAT, "input '%s' dim %zu is %lld", vi->name, d,
                               (long long)s.dim[d]);
        }
        int vid = vs_graph_add_input(c->g, vi->name, &s);
        if (vid < 0)
            return ox_fail(c, VS_LIMIT, "too many inputs (at most %d)", VS_MAX_IN);
        vs_status st = ox_def_runtime(c, vi->name, vid, ox_perm_id);
        if (st != VS_OK)
            return st;
    }
    return VS_OK;
}

static vs_status rename_value(ox_ctx *c, int vid, const char *name)
{
    char *dup = strdup(name);
    if (!dup)
        return ox_fail(c, VS_NOMEM, "rename");
    vs_value *v = &c->g->values[vid];
    if (v->producer >= 0) {
        vs_node *n = vs_graph_node(c->g, v->producer);
        char *nd = strdup(name);
        if (!nd) {
            free(dup);
            return ox_fail(c, VS_NOMEM, "rename");
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
    ox_val *v = ox_find_val(c, name);
    if (!v)
        return ox_fail(c, VS_FORMAT, "output '%s' is not produced by any node", name);
    if (v->kind != OX_RUNTIME)
        return ox_fail(c, VS_UNSUPPORTED, "output '%s' is a constant", name);
    int vid, nid;
    vs_status st = ox_in_layout(c, v, ox_perm_id, &vid);
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
            if ((st = ox_emit(c, VS_OP_IDENTITY, name, NULL, &vid, 1, &nid)) != VS_OK ||
                (st = ox_settle(c, nid, &vid)) != VS_OK)
                return st;
        } else if ((st = rename_value(c, vid, name)) != VS_OK) {
            return st;
        }
    }
    st = vs_graph_mark_output(c->g, vid);
    return st == VS_OK ? VS_OK : ox_fail(c, st, "cannot mark output '%s'", name);
}

static vs_status translate(ox_ctx *c, const Onnx__ModelProto *m)
{
    const Onnx__GraphProto *gp = m->graph;
    if (!gp)
        return ox_fail(c, VS_FORMAT, "no graph in the model");
    c->opset = 0;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (!o->domain || !o->domain[0] || strcmp(o->domain, "ai.onnx") == 0)
            c->opset = (int)o->version;
    }
    if (c->opset < OX_MIN_OPSET || c->opset > OX_MAX_OPSET)
        return ox_fail(c, c->opset ? VS_UNSUPPORTED : VS_FORMAT,
                       "ONNX opset %d (supported: %d to %d)", c->opset, OX_MIN_OPSET, OX_MAX_OPSET);
    vs_status st = VS_OK;
    for (size_t i = 0; st == VS_OK && i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        st = t->name ? ox_read_tensor(c, t, t->name) : ox_fail(c, VS_FORMAT, "unnamed initializer");
    }
    if (st == VS_OK)
        st = add_inputs(c, gp);
    for (size_t i = 0; st == VS_OK && i < gp->n_node; i++)
        st = ox_translate_node(c, gp->node[i]);
    c->node = NULL;
    if (st == VS_OK && (gp->n_output < 1 || c->g->n_inputs < 1))
        st = ox_fail(c, VS_FORMAT, "the graph has no %s", gp->n_output ? "inputs" : "outputs");
    for (size_t i = 0; st == VS_OK && i < gp->n_output; i++)
        st = gp->output[i]->name ? add_output(c, gp->output[i]->name)
                                 : ox_fail(c, VS_FORMAT, "unnamed output");
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

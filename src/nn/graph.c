/*
 * graph.c - building a vs_graph: values, nodes, names, and the small shape helpers.
 *
 * Loaders call these to describe a network; graph_shape.c infers shapes, graph_opt.c folds and
 * fuses, graph_plan.c lays out memory.  Everything here is bookkeeping: arrays that grow, names
 * that are copied, ownership of constant data that passes to the graph.
 */
#include "graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[] = {
#define VS_OP_NAME(name, str) str,
    VS_OP_MAP(VS_OP_NAME)
#undef VS_OP_NAME
};

const char *vs_op_name(vs_op op)
{
    if ((unsigned)op >= (unsigned)VS_OP_COUNT)
        return "?";
    return op_names[op];
}

int64_t vs_shape_numel(const vs_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}

int vs_shape_equal(const vs_shape *a, const vs_shape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

int vs_shape_broadcast(const vs_shape *a, const vs_shape *b, vs_shape *o)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    o->rank = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return i;
        o->dim[i] = da == 1 ? db : da;
    }
    return -1;
}

vs_shape vs_shape_make(int rank, const int64_t *dims)
{
    vs_shape s = {0};
    s.rank = rank;
    for (int i = 0; i < rank && i < VS_MAX_DIMS; i++)
        s.dim[i] = dims[i];
    return s;
}

vs_graph *vs_graph_new(const char *name)
{
    vs_graph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->name = strdup(name ? name : "");
    if (!g->name) {
        free(g);
        return NULL;
    }
    return g;
}

void vs_graph_free(vs_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_values; i++) {
        free(g->values[i].name);
        free(g->values[i].data);
    }
    for (int i = 0; i < g->n_nodes; i++)
        free(g->nodes[i].name);
    free(g->values);
    free(g->nodes);
    free(g->name);
    free(g);
}

/* Grows an array of elem-sized items to hold at least need items. */
static int grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int ncap = *cap ? *cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

static int add_value(vs_graph *g, const char *name)
{
    if (grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof *g->values))
        return -1;
    vs_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = strdup(name ? name : "");
    if (!v->name)
        return -1;
    v->producer = -1;
    v->alias_of = -1;
    return g->n_values++;
}

int vs_graph_add_input(vs_graph *g, const char *name, const vs_shape *shape)
{
    if (g->n_inputs >= VS_MAX_IN)
        return -1;
    int id = add_value(g, name);
    if (id < 0)
        return -1;
    vs_value *v = &g->values[id];
    v->dtype = VS_DT_F32;
    v->shape = *shape;
    for (int i = 0; i < v->shape.rank; i++)
        if (v->shape.dim[i] < 0)
            v->shape.dim[i] = 1;
    v->is_input = 1;
    g->inputs[g->n_inputs++] = id;
    return id;
}

int vs_graph_add_const(vs_graph *g, const char *name, vs_dtype dtype, const vs_shape *shape,
                       void *data)
{
    int id = add_value(g, name);
    if (id < 0) {
        free(data);
        return -1;
    }
    vs_value *v = &g->values[id];
    v->dtype = dtype;
    v->shape = *shape;
    v->data = data;
    return id;
}

int vs_graph_add_node(vs_graph *g, vs_op op, const char *name, const int *in, int n_in)
{
    if (n_in > VS_MAX_IN || n_in < 0)
        return -1;
    if (grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes))
        return -1;
    int out = add_value(g, name);
    if (out < 0)
        return -1;
    vs_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->name = strdup(name ? name : "");
    if (!n->name)
        return -1;
    n->op = op;
    n->n_in = n_in;
    for (int i = 0; i < VS_MAX_IN; i++)
        n->in[i] = i < n_in ? in[i] : -1;
    n->out = out;
    n->stride[0] = n->stride[1] = 1;
    n->dilation[0] = n->dilation[1] = 1;
    n->ksize[0] = n->ksize[1] = 1;
    n->act_min = -INFINITY;
    n->act_max = INFINITY;
    for (int i = 0; i < VS_MAX_DIMS; i++)
        n->perm[i] = i;
    g->values[out].dtype = VS_DT_F32;
    g->values[out].producer = g->n_nodes;
    return g->n_nodes++;
}

vs_node *vs_graph_node(vs_graph *g, int id)
{
    return &g->nodes[id];
}

int vs_graph_node_out(const vs_graph *g, int node_id)
{
    return g->nodes[node_id].out;
}

vs_status vs_graph_mark_output(vs_graph *g, int value_id)
{
    if (value_id < 0 || value_id >= g->n_values)
        return VS_INVAL;
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == value_id)
            return VS_OK;
    if (g->n_outputs >= (int)(sizeof g->outputs / sizeof g->outputs[0]))
        return VS_LIMIT;
    g->outputs[g->n_outputs++] = value_id;
    g->values[value_id].is_output = 1;
    return VS_OK;
}

int vs_graph_find(const vs_graph *g, const char *name)
{
    /* Latest first: a name re-used by a rewrite refers to the newest value. */
    for (int i = g->n_values - 1; i >= 0; i--)
        if (strcmp(g->values[i].name, name) == 0)
            return i;
    return -1;
}

double vs_node_flops(const vs_graph *g, const vs_node *n)
{
    const vs_shape *os = &g->values[n->out].shape;
    double out = (double)vs_shape_numel(os);
    switch (n->op) {
    case VS_OP_CONV2D: {
        const vs_shape *f = &g->values[n->in[1]].shape;
        return 2.0 * out * (double)(f->dim[0] * f->dim[1] * f->dim[2]);
    }
    case VS_OP_DWCONV2D: {
        const vs_shape *f = &g->values[n->in[1]].shape;
        return 2.0 * out * (double)(f->dim[0] * f->dim[1]);
    }
    case VS_OP_MATMUL: {
        const vs_shape *a = &g->values[n->in[0]].shape;
        int64_t k = n->transpose_a ? a->dim[a->rank - 2] : a->dim[a->rank - 1];
        return 2.0 * out * (double)k;
    }
    case VS_OP_MAXPOOL:
    case VS_OP_AVGPOOL:
        return out * (double)(n->ksize[0] * n->ksize[1]);
    case VS_OP_MEAN:
    case VS_OP_SUM:
    case VS_OP_REDUCE_MAX:
        return (double)vs_shape_numel(&g->values[n->in[0]].shape);
    case VS_OP_RESHAPE:
    case VS_OP_SQUEEZE:
    case VS_OP_IDENTITY:
    case VS_OP_INPUT:
    case VS_OP_CONST:
        return 0.0;
    default:
        return out;
    }
}

/*
 * graph_plan.c - vs_graph_finalize and the static memory plan.
 *
 * The plan gives every activation a byte offset in one arena that a runtime allocates once, so
 * inference never allocates.  Two activations may share bytes when their lifetimes (from the
 * node that writes one to the last node that reads it) do not overlap.
 *
 * DESIGN NOTES
 *   1. Lifetimes are closed intervals of node indices [def, last]; inputs are defined at -1 and
 *      graph outputs live to n_nodes, so neither is ever overwritten during a run.
 *   2. A node's output never overlaps its inputs: the input is live at the node's own index.
 *   3. Alias ops (RESHAPE, IDENTITY) take their input's storage; the storage's lifetime is
 *      extended to the last reader of any alias.
 *   4. Every block is padded by VS_PLAN_SLACK bytes and aligned to VS_PLAN_ALIGN, because
 *      XNNPACK kernels may read (never write) up to 16 bytes past a tensor.
 *   5. Placement is greedy, largest block first, at the lowest offset free of every placed
 *      block whose lifetime overlaps.  Not optimal, but within a few percent on these nets.
 *   6. When a depthwise node and the max-pool after it read the same input (BlazeFace's
 *      stride-2 block, which the runtime may run as one kernel: kernels_block.h), that input
 *      lives BLOCK_SPAN nodes past the depthwise node, through the block's final add, so that
 *      the block's output is never placed over the input the kernel is still reading.  (In the
 *      other blocks the add itself reads the input.)
 */
#include <stdlib.h>
#include <string.h>

#include "graph_opt.h"

#define VS_PLAN_ALIGN 64
#define VS_PLAN_SLACK 64
#define BLOCK_SPAN 4 /* nodes after the depthwise node of a pooled block: pool, 1x1, pad, add */

typedef struct block {
    int value;
    int def, last;
    size_t size, offset;
} block;

static int root_of(const vs_graph *g, int v)
{
    while (g->values[v].alias_of >= 0)
        v = g->values[v].alias_of;
    return v;
}

static void mark_aliases(vs_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const vs_node *n = &g->nodes[i];
        int in = n->in[0];
        int alias = (n->op == VS_OP_RESHAPE || n->op == VS_OP_IDENTITY) && in >= 0 &&
                    !g->values[in].data && !g->values[n->out].is_output && !g->values[in].is_input;
        g->values[n->out].alias_of = alias ? root_of(g, in) : -1;
    }
}

static int by_size_desc(const void *a, const void *b)
{
    const block *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->def - y->def;
}

static int by_offset(const void *a, const void *b)
{
    const block *x = *(const block *const *)a, *y = *(const block *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Places blocks[k] given blocks[0..k-1] placed; scratch holds k pointers. */
static void place(block *blocks, int k, block **scratch)
{
    block *b = &blocks[k];
    int m = 0;
    for (int j = 0; j < k; j++)
        if (blocks[j].def <= b->last && b->def <= blocks[j].last)
            scratch[m++] = &blocks[j];
    qsort(scratch, (size_t)m, sizeof *scratch, by_offset);
    size_t at = 0;
    for (int j = 0; j < m; j++) {
        if (scratch[j]->offset >= at + b->size)
            break;
        size_t end = scratch[j]->offset + scratch[j]->size;
        if (end > at)
            at = end;
    }
    b->offset = at;
}

vs_status vs_graph_plan(vs_graph *g, vs_err *err)
{
    mark_aliases(g);
    int nv = g->n_values;
    int *def = malloc((size_t)nv * sizeof *def), *last = malloc((size_t)nv * sizeof *last);
    block *blocks = malloc((size_t)nv * sizeof *blocks);
    block **scratch = malloc((size_t)nv * sizeof *scratch);
    vs_status st = VS_OK;
    if (!def || !last || !blocks || !scratch) {
        st = vs_err_set(err, VS_NOMEM, "planning %s", g->name);
        goto out;
    }
    for (int v = 0; v < nv; v++) {
        def[v] = g->values[v].is_input ? -1 : g->values[v].producer;
        last[v] = g->values[v].is_output ? g->n_nodes : def[v];
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int v = g->nodes[i].in[k];
            /* The input of a pooled block outlives the block (note 6). */
            int pooled = g->nodes[i].op == VS_OP_DWCONV2D && k == 0 && i + 1 < g->n_nodes &&
                         g->nodes[i + 1].op == VS_OP_MAXPOOL && g->nodes[i + 1].in[0] == v;
            int until = pooled ? i + BLOCK_SPAN : i;
            until = until < g->n_nodes ? until : g->n_nodes - 1;
            if (v >= 0 && !g->values[v].data && last[root_of(g, v)] < until)
                last[root_of(g, v)] = until;
        }
    for (int v = 0; v < nv; v++)
        if (g->values[v].alias_of >= 0 && last[v] > last[root_of(g, v)])
            last[root_of(g, v)] = last[v];
    int nb = 0;
    for (int v = 0; v < nv; v++) {
        const vs_value *val = &g->values[v];
        if (val->data || val->alias_of >= 0 || (!val->is_input && val->producer < 0))
            continue;
        size_t bytes = (size_t)vs_shape_numel(&val->shape) * sizeof(float) + VS_PLAN_SLACK;
        bytes = (bytes + VS_PLAN_ALIGN - 1) / VS_PLAN_ALIGN * VS_PLAN_ALIGN;
        blocks[nb++] = (block){v, def[v], last[v], bytes, 0};
    }
    qsort(blocks, (size_t)nb, sizeof *blocks, by_size_desc);
    g->arena_bytes = VS_PLAN_ALIGN;
    for (int k = 0; k < nb; k++) {
        place(blocks, k, scratch);
        if (blocks[k].offset + blocks[k].size > g->arena_bytes)
            g->arena_bytes = blocks[k].offset + blocks[k].size;
        g->values[blocks[k].value].offset = blocks[k].offset;
    }
    for (int v = 0; v < nv; v++)
        if (g->values[v].alias_of >= 0)
            g->values[v].offset = g->values[root_of(g, v)].offset;
out:
    free(def);
    free(last);
    free(blocks);
    free(scratch);
    return st;
}

/* XNNPACK may read (never write) up to 16 bytes past any operand, constants included: give every
 * constant VS_PLAN_SLACK zeroed bytes of tail, as the plan does for activations. */
static vs_status pad_constants(vs_graph *g, vs_err *err)
{
    for (int v = 0; v < g->n_values; v++) {
        vs_value *val = &g->values[v];
        if (!val->data)
            continue;
        size_t bytes = (size_t)vs_shape_numel(&val->shape) * vs_dtype_size(val->dtype);
        unsigned char *p = realloc(val->data, bytes + VS_PLAN_SLACK);
        if (!p)
            return vs_err_set(err, VS_NOMEM, "constants of %s", g->name);
        memset(p + bytes, 0, VS_PLAN_SLACK);
        val->data = p;
    }
    return VS_OK;
}

vs_status vs_graph_finalize(vs_graph *g, vs_err *err)
{
    if (g->n_inputs == 0 || g->n_outputs == 0)
        return vs_err_set(err, VS_FORMAT, "model %s has no %s", g->name,
                          g->n_inputs ? "outputs" : "inputs");
    vs_status st = vs_graph_toposort(g, err);
    for (int i = 0; st == VS_OK && i < g->n_nodes; i++)
        st = vs_graph_infer_node(g, &g->nodes[i], err);
    if (st == VS_OK)
        st = vs_graph_fold(g, err);
    if (st == VS_OK)
        st = vs_graph_fuse(g, err);
    for (int i = 0; st == VS_OK && i < g->n_outputs; i++)
        if (g->values[g->outputs[i]].data)
            st = vs_err_set(err, VS_UNSUPPORTED, "output %s of %s is a constant",
                            g->values[g->outputs[i]].name, g->name);
    if (st == VS_OK)
        st = pad_constants(g, err);
    if (st == VS_OK)
        st = vs_graph_plan(g, err);
    return st;
}

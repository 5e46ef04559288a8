/*
 * graph_opt.h - graph passes run by vs_graph_finalize (private to src/nn/): see graph_opt.c.
 */
#ifndef VS_NN_GRAPH_OPT_H
#define VS_NN_GRAPH_OPT_H

#include "graph.h"

/* Orders nodes so every node comes after the producers of its inputs. */
vs_status vs_graph_toposort(vs_graph *g, vs_err *err);

/* Replaces every node whose inputs are all constants by its constant result (shapes must be
 * inferred). */
vs_status vs_graph_fold(vs_graph *g, vs_err *err);

/* Fuses batch-norm, bias, activations and padding into convolutions, the rest of a batch-norm
 * into AFFINE nodes, and moves pools before per-pixel ops (see graph_opt.c). */
vs_status vs_graph_fuse(vs_graph *g, vs_err *err);

/* Drops nodes whose output no graph output needs, and frees constants nothing reads. */
void vs_graph_prune(vs_graph *g);

/* Lays out every activation in one arena (graph_plan.c); sets value offsets and arena_bytes. */
vs_status vs_graph_plan(vs_graph *g, vs_err *err);

#endif

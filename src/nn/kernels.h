/*
 * kernels.h - the reference (plain C) kernel of every op (private to src/nn/).
 *
 * One entry point runs one finalized node on views of its inputs and output.  These kernels are
 * the engine's definition of each op's semantics (TFJS's, op by op: see kernels_ref.c) and the
 * oracle that the XNNPACK backend is tested against.  They never allocate.
 */
#ifndef VS_NN_KERNELS_H
#define VS_NN_KERNELS_H

#include "graph.h"

/* A float32 tensor in memory: contiguous, row-major (last dim fastest). */
typedef struct vs_tview {
    float *data;
    vs_shape shape;
} vs_tview;

/*
 * Runs node n.  in[i] views the value n->in[i] (data == NULL where n->in[i] == -1); out views
 * n->out with its inferred shape.  Inputs and output never overlap, except for the alias ops
 * (RESHAPE, IDENTITY), whose output may share the input's storage.
 * Returns VS_UNSUPPORTED for an op or attribute combination it does not implement.
 */
vs_status vs_ref_run(const vs_node *n, const vs_tview *in, vs_tview *out);

#endif

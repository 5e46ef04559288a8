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

/* For our own window kernels (kernels_dw.c, kernels_conv.c): the output columns [*lo, *hi) of a
 * row of ow whose window (kw wide, stride sw, left padding pl) lies inside an input of wd columns,
 * i.e. ox * sw - pl >= 0 and ox * sw - pl + kw <= wd; the rest need their window clipped. */
static inline void vs_interior_cols(int64_t wd, int64_t kw, int64_t sw, int64_t pl, int64_t ow,
                                    int64_t *lo, int64_t *hi)
{
    int64_t a = (pl + sw - 1) / sw, b = wd + pl >= kw ? (wd + pl - kw) / sw + 1 : 0;
    a = a < ow ? a : ow;
    b = b < ow ? b : ow;
    *lo = a;
    *hi = b > a ? b : a;
}

#endif

/*
 * kernels_dw.h - a fast direct depthwise convolution (NHWC float32, depth multiplier 1), for
 * DWCONV2D nodes where it beats XNNPACK's (private to src/nn/).
 *
 * The kernel reads the filter in TFJS's [KH,KW,C,1] layout as it is ([tap][channel]), so it needs
 * no packed copy and no plan: a runtime calls vs_dw_check() once when it prepares a node, then
 * vs_dw_conv() on every run.  It computes what vs_ref_run() computes for the node (the same sums
 * in the same order, but with fused multiply-adds, so results differ in the last bits only).
 */
#ifndef VS_NN_KERNELS_DW_H
#define VS_NN_KERNELS_DW_H

#include <pthreadpool.h>

#include "kernels.h"

/*
 * Whether vs_dw_conv() can run node n on inputs in[] and output out (views as for vs_ref_run:
 * x[N,H,W,C], filter[KH,KW,C,M], bias or data NULL, PReLU alpha or data NULL).
 * Returns VS_OK; VS_UNSUPPORTED for a node it does not implement (not DWCONV2D, M != 1,
 * dilation != 1, SIGMOID activation); VS_INVAL when the shapes, padding or bias/alpha sizes
 * disagree with each other.  Pure: no side effects, thread-safe.
 */
vs_status vs_dw_check(const vs_node *n, const vs_tview *in, const vs_tview *out);

/*
 * Runs depthwise convolution node n (fused bias and activation NONE, RELU, RELU6, CLAMP, PRELU
 * or LEAKY_RELU, any kernel size, stride and explicit padding n->pad[] top, bottom, left, right)
 * from in[] into out.  in[0] and out must not overlap.  pool: rows of the output are shared over
 * its threads; NULL runs on the calling thread.  Never allocates.
 * Returns what vs_dw_check() returns; out is written only on VS_OK.
 */
vs_status vs_dw_conv(const vs_node *n, const vs_tview *in, vs_tview *out, pthreadpool_t pool);

#endif

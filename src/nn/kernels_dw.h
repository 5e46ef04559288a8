/*
 * kernels_dw.h - a fast direct depthwise convolution (NHWC float32, depth multiplier 1), for
 * DWCONV2D nodes where it beats XNNPACK's (private to src/nn/).
 *
 * Two ways to run a node: vs_dw_conv() reads the filter in TFJS's [KH,KW,C,1] layout as it is
 * (no state, no allocation); a vs_dw_plan, made once per runtime, holds a repacked copy and is
 * faster on wide layers (512 channels and more).  Both compute what vs_ref_run() computes for
 * the node (the same sums in the same order, with fused multiply-adds, so results differ in the
 * last bits only).
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

/*
 * A node prepared once per runtime: its own copy of the filter repacked so that each chunk of
 * channels has its taps contiguous (channel counts that are multiples of 512 otherwise put every
 * tap in the same L1 cache set), bias and PReLU slopes expanded to one value per channel.
 * Immutable after vs_dw_plan_new, so one plan may run on several threads at once.
 */
typedef struct vs_dw_plan vs_dw_plan;

/*
 * Prepares node n for the shapes of in[] and out (as vs_dw_check(); the data of in[0] and out
 * are not read and may be NULL; the filter, bias and alpha are copied).
 * OUT: *plan, NULL on failure.  Returns what vs_dw_check() returns, or VS_NOMEM.
 */
vs_status vs_dw_plan_new(const vs_node *n, const vs_tview *in, const vs_tview *out,
                         vs_dw_plan **plan);

/* Runs the plan on x (the node's input shape) into y (its output shape; must not overlap x),
 * as vs_dw_conv() would.  Never allocates.  Returns VS_INVAL for a NULL argument. */
vs_status vs_dw_plan_run(const vs_dw_plan *p, const float *x, float *y, pthreadpool_t pool);

/* Output row r (of N*OH) of the plan on input x, into yrow (OW*C floats), on the calling
 * thread: for a kernel that consumes the depthwise output row by row (kernels_block.c). */
void vs_dw_plan_row(const vs_dw_plan *p, const float *x, size_t r, float *yrow);

void vs_dw_plan_free(vs_dw_plan *p);

#endif

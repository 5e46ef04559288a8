/*
 * kernels_conv.h - a direct NHWC convolution for inputs with few channels (private to src/nn/):
 * the first layer of an image net (3 colour channels, a 3x3 or 5x5 window, stride 2).
 *
 * XNNPACK runs such a layer as an indirect GEMM whose reduction is only KH*KW*3 long and pads
 * the output channels to its 16-wide tile (BlazeFace's 24 become 32).  Here each output row is
 * computed directly: tiles of 4 pixels x up to 3 vectors of 8 output channels, one broadcast per
 * pixel and tap, the filter vectors shared by the 4 pixels.  The result is what the reference
 * kernel computes, up to the order of the additions (the bias first, not last).
 */
#ifndef VS_NN_KERNELS_CONV_H
#define VS_NN_KERNELS_CONV_H

#include <pthreadpool.h>

#include "kernels.h"

typedef struct vs_conv_plan vs_conv_plan;

/*
 * Prepares CONV2D node n (filter HWIO [KH,KW,C,N] with C <= 4 and N >= 8, any stride and
 * explicit padding n->pad[], dilation 1, optional bias, activation NONE, RELU, RELU6 or CLAMP)
 * for the views in[] and out as the runtime holds them (the data pointers are kept; the filter
 * and bias are copied).  threads: the number of tasks rows are split over.
 * OUT: *plan, NULL on failure.  Returns VS_UNSUPPORTED for a node it does not run, VS_NOMEM.
 */
vs_status vs_conv_plan_new(const vs_node *n, const vs_tview *in, const vs_tview *out, int threads,
                           vs_conv_plan **plan);

/* Runs the plan: writes the node's output.  Never allocates. */
vs_status vs_conv_plan_run(const vs_conv_plan *p, pthreadpool_t pool);

void vs_conv_plan_free(vs_conv_plan *p);

#endif

/*
 * kernels_block.h - a residual block run as one kernel (private to src/nn/): depthwise
 * convolution, then a 1x1 convolution, then the block's input added back, then an activation.
 *
 * That is BlazeFace's block (blazeface-back has 15 of them): three graph nodes, DWCONV2D ->
 * CONV2D 1x1 -> ADD(+RELU), whose two intermediate tensors are read once each.  Run node by node
 * they cost five passes over memory for little arithmetic (24 channels); run here, one output row
 * at a time, the depthwise row and the 1x1 convolution's input stay in L1 and only the block's
 * input and output touch memory.
 *
 * The runtime (runtime.c) finds such consecutive nodes, prepares a plan, runs it at the first
 * node's place and skips the others.  The result is what the reference kernels give node by
 * node, up to the order of the additions.
 */
#ifndef VS_NN_KERNELS_BLOCK_H
#define VS_NN_KERNELS_BLOCK_H

#include <pthreadpool.h>

#include "kernels.h"

typedef struct vs_block_plan vs_block_plan;

/* One node of a block as the runtime holds it. */
typedef struct vs_block_node {
    const vs_node *n;
    const vs_tview *in; /* views of n's inputs (data in the runtime's arena or the graph) */
    vs_tview out;       /* view of n's output */
} vs_block_node;

/*
 * Prepares the block of consecutive nodes b[0..count), one of:
 *   3: DWCONV2D, CONV2D, ADD(the CONV2D's output, a residual tensor);
 *   4: DWCONV2D, MAXPOOL, CONV2D, ADD(the CONV2D's output, the MAXPOOL's output);
 *   5: DWCONV2D, MAXPOOL, CONV2D, PAD, ADD(the CONV2D's output, the PAD's output).
 * The CONV2D has a 1x1 filter, stride 1, no padding and no activation and reads the DWCONV2D's
 * output; the ADD's activation is NONE, RELU, RELU6 or CLAMP.  In the last two (BlazeFace's
 * stride-2 blocks) the MAXPOOL (no padding) reads the block's input, the PAD only appends zero
 * channels, and the residual is computed row by row too.  Data pointers of the views are kept
 * and used by vs_block_plan_run.  threads: the number of tasks to split rows over (1 on the
 * calling thread).
 * Checks everything the kernel relies on: the shapes chain, the depthwise node is one that
 * vs_dw_plan runs, each node reads the one before as said, at least 8 channels in and out, and
 * the block's output overlaps neither its input nor a residual tensor.  The caller checks that
 * the intermediate tensors have no reader outside the block.
 * OUT: *plan, NULL on failure.  Returns VS_UNSUPPORTED for a block it does not run, VS_NOMEM.
 */
vs_status vs_block_plan_new(const vs_block_node *b, int count, int threads, vs_block_plan **plan);

/* Runs the block: writes the ADD node's output.  Never allocates. */
vs_status vs_block_plan_run(const vs_block_plan *p, pthreadpool_t pool);

void vs_block_plan_free(vs_block_plan *p);

#endif

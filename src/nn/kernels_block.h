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
 * The runtime (runtime.c) finds such a triple of consecutive nodes, prepares a plan, runs it at
 * the first node's place and skips the other two.  The result is what the three reference
 * kernels give node by node, up to the order of the additions.
 */
#ifndef VS_NN_KERNELS_BLOCK_H
#define VS_NN_KERNELS_BLOCK_H

#include <pthreadpool.h>

#include "kernels.h"

typedef struct vs_block_plan vs_block_plan;

/*
 * Prepares the block of nodes n[0] (DWCONV2D), n[1] (CONV2D with a 1x1 filter, stride 1, no
 * padding, no activation) and n[2] (ADD of n[1]'s output and a residual of the same shape,
 * activation NONE, RELU, RELU6 or CLAMP), with in[k] / out[k] the views of node k's inputs and
 * output as the runtime holds them (data pointers into its arena or the graph's constants; they
 * are kept and used by vs_block_plan_run).  threads: the number of tasks to split rows over (1
 * on the calling thread).
 * Checks everything the kernel relies on: the shapes chain, the depthwise node is one that
 * vs_dw_plan runs, the 1x1 node reads exactly the depthwise output and the ADD exactly the 1x1
 * output, at least 8 channels in and out, and the block's output overlaps neither its input
 * nor the residual.  The caller checks that the two intermediate tensors have no other reader.
 * OUT: *plan, NULL on failure.  Returns VS_UNSUPPORTED for a block it does not run, VS_NOMEM.
 */
vs_status vs_block_plan_new(const vs_node *const n[3], const vs_tview *const in[3],
                            const vs_tview out[3], int threads, vs_block_plan **plan);

/* Runs the block: writes the ADD node's output.  Never allocates. */
vs_status vs_block_plan_run(const vs_block_plan *p, pthreadpool_t pool);

void vs_block_plan_free(vs_block_plan *p);

#endif

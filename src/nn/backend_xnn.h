/*
 * backend_xnn.h - XNNPACK backend: one XNNPACK operator per graph node (private to src/nn/).
 *
 * We use XNNPACK's operator API (not its subgraph API) so that XNNPACK operators and our own
 * kernels interleave freely over one static memory plan: each node is created (weights packed)
 * and set up once per runtime with its final input/output pointers, then only run per inference.
 * Debian's libxnnpack-dev is a February 2022 snapshot; its xnnpack.h is the API reference.
 */
#ifndef VS_NN_BACKEND_XNN_H
#define VS_NN_BACKEND_XNN_H

#include <pthreadpool.h>

#include "kernels.h"

typedef struct vs_xnn_op vs_xnn_op;

/* Initialises XNNPACK once per process (thread-safe; later calls are no-ops). */
vs_status vs_xnn_init(void);

/*
 * Creates and sets up the XNNPACK operator(s) for node n, reading in[] and writing out (views of
 * the runtime's arena and of the model's constants, fixed for the runtime's life).
 * The weights of CONV2D, DWCONV2D and MATMUL (in[1..3]) and PRELU's alpha (in[1]) are packed
 * here, so they must be constants; every buffer must be readable 16 bytes past its end
 * (XNN_EXTRA_BYTES): the memory plan and vs_graph_finalize guarantee both for the runtime.
 * OUT: *op, or NULL with VS_UNSUPPORTED when XNNPACK cannot run this node (the runtime then uses
 * the reference kernel); other statuses are real failures.
 */
vs_status vs_xnn_prepare(const vs_node *n, const vs_tview *in, const vs_tview *out,
                         pthreadpool_t pool, vs_xnn_op **op);

/* Runs a prepared operator on the pool given at prepare time. */
vs_status vs_xnn_run(vs_xnn_op *op);

void vs_xnn_free(vs_xnn_op *op);

#endif

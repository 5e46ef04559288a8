/*
 * kernels_ew.h - element-wise kernels of our own, for ops that Debian's XNNPACK 2022 has no f32
 * operator for or runs slowly (private to src/nn/).
 *
 * The runtime uses them on the XNNPACK backend in place of the reference kernels of
 * kernels_ref.c, which stay the definition of each op: results agree with the reference exactly
 * or within a few units in the last place (see vs_ew_plan_new).
 */
#ifndef VS_NN_KERNELS_EW_H
#define VS_NN_KERNELS_EW_H

#include <pthreadpool.h>

#include "kernels.h"

/* A node prepared once per runtime, with its input and output pointers fixed. */
typedef struct vs_ew_plan vs_ew_plan;

/*
 * Prepares node n (views as for vs_ref_run, the runtime's fixed buffers) if one of this file's
 * kernels implements it:
 *   TANH     Eigen's and onnxruntime's (MLAS) rational approximation: an odd degree-13
 *            numerator over an even degree-6 denominator, the input clamped to +-7.9988;
 *            within 5 ulp (3e-7 absolute) of the correctly rounded result;
 *   EXP      Cephes' expf (reduction by ln2, a degree-6 polynomial, scaling in two steps),
 *            within 1 ulp, subnormal results and overflow to inf included;
 *   SOFTMAX  over the last axis with fewer than 8 channels: the reference's steps with that exp;
 *   AFFINE   bit for bit the reference's result.
 * NaN in gives NaN out, as in the reference.
 * OUT: *plan, NULL on failure.  Returns VS_OK; VS_UNSUPPORTED for any other node; VS_INVAL when
 * the shapes disagree; VS_NOMEM.
 */
vs_status vs_ew_plan_new(const vs_node *n, const vs_tview *in, const vs_tview *out,
                         vs_ew_plan **plan);

/* Runs the plan; pool shares the work over its threads (NULL: the calling thread).  Never
 * allocates. */
vs_status vs_ew_plan_run(const vs_ew_plan *p, pthreadpool_t pool);

void vs_ew_plan_free(vs_ew_plan *p);

#endif

/*
 * nn.h - the neural-network engine: load a shipped model by name, run it, fast and exactly.
 *
 * A vs_model is loaded once, finalized (shapes, folding, fusion, memory plan) and then immutable:
 * share it between threads.  Each thread that runs inference owns a vs_runtime: the model's
 * arena, allocated once, and the backend's prepared kernels.  vs_nn_run() allocates nothing.
 *
 * Models are found by name under a models directory laid out by scripts/setup.sh (see
 * models.c for the table): "faceres", "mobilefacenet", "ssd_mobilenetv1", ...
 */
#ifndef VS_NN_NN_H
#define VS_NN_NN_H

#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"

typedef struct vs_model vs_model;
typedef struct vs_runtime vs_runtime;

typedef enum { VS_NN_BACKEND_REF = 0, VS_NN_BACKEND_XNNPACK = 1 } vs_nn_backend;

/* A tensor's description as the public API shows it. */
typedef struct vs_nn_tensor_info {
    const char *name; /* owned by the model */
    int rank;
    int64_t dim[6];
} vs_nn_tensor_info;

/* Summary for `visage nn info`. */
typedef struct vs_nn_model_info {
    const char *name;
    const char *format; /* "tfjs-graph", "faceapi", ... */
    int n_inputs, n_outputs;
    int n_nodes;        /* after fusion */
    size_t n_params;    /* float parameters held as constants */
    double flops;       /* per inference, multiply-add = 2 */
    size_t arena_bytes; /* activation memory per runtime */
    int op_count[64];   /* nodes per op kind, indexed like vs_nn_op_name() */
} vs_nn_model_info;

/* Names of the models the engine knows, NULL-terminated; static. */
const char *const *vs_nn_model_names(void);

/*
 * Loads model `name` from `models_dir` (NULL: $VISAGE_MODELS or "models").
 * extra_outputs: NULL or a NULL-terminated list of value names to expose as additional outputs
 * (after the model's own), for debugging a single node.
 * OUT: *out, NULL on failure (err says why: missing file, malformed file, unknown node name).
 */
vs_status vs_nn_model_load(const char *models_dir, const char *name,
                           const char *const *extra_outputs, vs_model **out, vs_err *err);
void vs_nn_model_free(vs_model *m);

void vs_nn_model_info_get(const vs_model *m, vs_nn_model_info *info);
const char *vs_nn_op_name(int op);
vs_nn_tensor_info vs_nn_input_info(const vs_model *m, int i);
vs_nn_tensor_info vs_nn_output_info(const vs_model *m, int i);

/* Creates a runtime for m on a backend with `threads` threads (1 = the calling thread only).
 * m must outlive the runtime. */
vs_status vs_nn_runtime_new(const vs_model *m, vs_nn_backend backend, int threads, vs_runtime **out,
                            vs_err *err);
void vs_nn_runtime_free(vs_runtime *rt);

/* Where to write input i (float32 NHWC, the model's input shape) before vs_nn_run. */
float *vs_nn_input(vs_runtime *rt, int i);
/* Output i after vs_nn_run; valid until the next run. */
const float *vs_nn_output(const vs_runtime *rt, int i);

/* Runs one inference.  No allocation. */
vs_status vs_nn_run(vs_runtime *rt, vs_err *err);

/* How many residual blocks (depthwise -> 1x1 -> add) the runtime runs as one kernel each
 * (kernels_block.h); 0 on the reference backend.  For tests and the benchmark. */
int vs_nn_runtime_blocks(const vs_runtime *rt);

#endif

/*
 * model.h - what a loaded model is (private to src/nn/): a finalized graph plus its summary.
 */
#ifndef VS_NN_MODEL_H
#define VS_NN_MODEL_H

#include "graph.h"
#include "nn.h"

struct vs_model {
    vs_graph *g;        /* finalized; immutable after load */
    const char *format; /* static string */
    size_t n_params;
    double flops;
};

#endif

/*
 * onnx_load.h - ONNX model files read into the engine's graph (private to src/nn/).
 *
 * The file is parsed with protobuf-c from the onnx.proto of Debian's libonnx-dev (code generated
 * at build time, see mk/onnx.mk) and mapped onto the NHWC ops of graph.h.  The model keeps its own
 * layout at the edges: the graph input has the model's NCHW shape (feed NCHW float32) and every
 * graph output has the model's shape and element order, so a caller sees exactly what
 * onnxruntime would give.  Inside, 4-D activations run NHWC: transposes are added where the
 * model's layout and the engine's meet (after the input, before a flatten, before the outputs)
 * and folded away where a model transposes on its own.
 *
 * Supported: the default ONNX domain, opsets 7 to 13, float32 activations, the ops listed in
 * onnx_load.c (those of faceplugin's fr_* models and their close relatives).  Every shape is
 * static: Shape/Gather/Unsqueeze/Concat chains on shapes are evaluated at load.
 */
#ifndef VS_NN_ONNX_LOAD_H
#define VS_NN_ONNX_LOAD_H

#include "graph.h"

/* The largest .onnx file we read (weights are held in the file: protobuf's own limit is 2 GB). */
#define VS_ONNX_MAX_FILE ((size_t)1 << 30)

/*
 * Reads the ONNX model at `path` into a new graph named `name`, not yet finalized (the caller
 * may mark extra outputs, then calls vs_graph_finalize).  Inputs and outputs keep the names and
 * the order of the model's graph; initializers listed as inputs (old exporters) are constants.
 * OUT: *out, NULL on failure.
 * Errors: VS_IO (cannot read the file), VS_LIMIT (file larger than VS_ONNX_MAX_FILE), VS_FORMAT
 * (not an ONNX protobuf, truncated, inconsistent shapes, an op we do not know), VS_UNSUPPORTED
 * (a known op with an attribute value we do not implement, e.g. grouped convolution),
 * VS_NOMEM.  err says which file, node and why.
 */
vs_status vs_onnx_load_graph(const char *path, const char *name, vs_graph **out, vs_err *err);

#endif

/*
 * tfjs_load.h - TensorFlow.js model files: graph models and face-api's weights-only manifests
 * (private to src/nn/).
 *
 * Weights: a manifest is a list of groups {paths: [shard files], weights: [{name, shape, dtype,
 * quantization?}]}; the shards of a group are concatenated and the weights follow one another in
 * manifest order.  dtypes float32 and int32 are read as is; float16 is widened; a quantization
 * block {dtype: "uint8" | "uint16", scale, min} means the stored values q give q * scale + min
 * (dequantised to float32 at load; int32 weights quantised the same way are rounded back).
 * Every inconsistency (shard shorter than the weights, a shape with a negative or overflowing
 * size, an unknown dtype, an unknown op) is a VS_FORMAT with a message, never a crash.
 */
#ifndef VS_NN_TFJS_LOAD_H
#define VS_NN_TFJS_LOAD_H

#include "graph.h"

/* Loads a TFJS graph model (model.json with modelTopology.node + weightsManifest; shard paths are
 * relative to the json's folder) into a new, not yet finalized graph named `name`.
 * OUT: *out (NULL on failure). */
vs_status vs_tfjs_load_graph(const char *model_json, const char *name, vs_graph **out, vs_err *err);

/* Adds every weight of a face-api weights-only manifest (a JSON array of groups) to g as a
 * constant named as in the manifest. */
vs_status vs_tfjs_load_weights(vs_graph *g, const char *manifest_json, vs_err *err);

#endif

/*
 * faceapi_nets.h - face-api's code-defined networks built as graphs (private to src/nn/).
 *
 * face-api ships weights only; each net's structure lives in its TypeScript sources.  These
 * builders add the nodes of one net to a graph that already holds the net's weights as constants
 * named as in its manifest (vs_tfjs_load_weights).  The graph input is float32 NHWC pixel values
 * 0..255, RGB, already resized to the net's input size; the per-net normalisation face-api does
 * in code (mean subtraction, scaling) is part of the graph.
 *
 * Nets: "ssd_mobilenetv1" (512x512, outputs: box encodings and class scores of the 5118
 * anchors, before decoding/NMS), "face_landmark_68" (112x112 -> 136), "face_landmark_68_tiny",
 * "face_recognition" (150x150 -> 128), "age_gender" (112x112 -> age 1, gender 2),
 * "face_expression" (112x112 -> 7), "tiny_face_detector" (416x416 -> 13x13x30 grid).
 */
#ifndef VS_NN_FACEAPI_NETS_H
#define VS_NN_FACEAPI_NETS_H

#include "graph.h"

/* Builds net `net` into g (input, nodes, outputs).  VS_NOTFOUND for an unknown net name,
 * VS_FORMAT when a weight it needs is missing or has the wrong shape. */
vs_status vs_faceapi_build(vs_graph *g, const char *net, vs_err *err);

#endif

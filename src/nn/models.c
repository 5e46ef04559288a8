/*
 * models.c - the table of models the engine knows, and loading one by name.
 *
 * scripts/setup.sh unpacks the npm packages into <models>/faceapi, <models>/human and
 * <models>/faceplugin; this table says, for each model name, which file holds it and how to
 * read it.  Loading = read the file(s) into a graph, mark the outputs, finalize.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faceapi_nets.h"
#include "model.h"
#include "onnx_load.h"
#include "tfjs_load.h"

typedef enum { FMT_TFJS_GRAPH, FMT_FACEAPI, FMT_ONNX } model_format;

typedef struct model_entry {
    const char *name;
    model_format format;
    const char *file; /* relative to the models dir */
} model_entry;

/* X(name, format, file): one row per model; the names list and the table both come from it. */
#define MODEL_TABLE(X)                                                                             \
    X("ssd_mobilenetv1", FMT_FACEAPI, "faceapi/ssd_mobilenetv1_model-weights_manifest.json")       \
    X("tiny_face_detector", FMT_FACEAPI, "faceapi/tiny_face_detector_model-weights_manifest.json") \
    X("face_landmark_68", FMT_FACEAPI, "faceapi/face_landmark_68_model-weights_manifest.json")     \
    X("face_landmark_68_tiny", FMT_FACEAPI,                                                        \
      "faceapi/face_landmark_68_tiny_model-weights_manifest.json")                                 \
    X("face_recognition", FMT_FACEAPI, "faceapi/face_recognition_model-weights_manifest.json")     \
    X("age_gender", FMT_FACEAPI, "faceapi/age_gender_model-weights_manifest.json")                 \
    X("face_expression", FMT_FACEAPI, "faceapi/face_expression_model-weights_manifest.json")       \
    X("mobilefacenet", FMT_TFJS_GRAPH, "human/mobilefacenet.json")                                 \
    X("mobileface", FMT_TFJS_GRAPH, "human/mobileface.json")                                       \
    X("faceres", FMT_TFJS_GRAPH, "human/faceres.json")                                             \
    X("faceres-deep", FMT_TFJS_GRAPH, "human/faceres-deep.json")                                   \
    X("blazeface-back", FMT_TFJS_GRAPH, "human/blazeface-back.json")                               \
    X("blazeface-front", FMT_TFJS_GRAPH, "human/blazeface-front.json")                             \
    X("antispoof", FMT_TFJS_GRAPH, "human/antispoof.json")                                         \
    X("liveness", FMT_TFJS_GRAPH, "human/liveness.json")                                           \
    X("gear", FMT_TFJS_GRAPH, "human/gear.json")                                                   \
    X("emotion", FMT_TFJS_GRAPH, "human/emotion.json")                                             \
    X("fr_detect", FMT_ONNX, "faceplugin/fr_detect.onnx")                                          \
    X("fr_landmark", FMT_ONNX, "faceplugin/fr_landmark.onnx")                                      \
    X("fr_feature", FMT_ONNX, "faceplugin/fr_feature.onnx")                                        \
    X("fr_liveness", FMT_ONNX, "faceplugin/fr_liveness.onnx")                                      \
    X("fr_age", FMT_ONNX, "faceplugin/fr_age.onnx")                                                \
    X("fr_gender", FMT_ONNX, "faceplugin/fr_gender.onnx")                                          \
    X("fr_expression", FMT_ONNX, "faceplugin/fr_expression.onnx")                                  \
    X("fr_pose", FMT_ONNX, "faceplugin/fr_pose.onnx")                                              \
    X("fr_eye", FMT_ONNX, "faceplugin/fr_eye.onnx")

#define MODEL_ENTRY(name, format, file) {name, format, file},
static const model_entry model_table[] = {MODEL_TABLE(MODEL_ENTRY)};
#undef MODEL_ENTRY

#define MODEL_NAME(name, format, file) name,
static const char *const model_names[] = {MODEL_TABLE(MODEL_NAME) NULL};
#undef MODEL_NAME

#define N_MODELS (sizeof model_table / sizeof model_table[0])

const char *const *vs_nn_model_names(void)
{
    return model_names;
}

static const model_entry *find_entry(const char *name)
{
    for (size_t i = 0; i < N_MODELS; i++)
        if (strcmp(model_table[i].name, name) == 0)
            return &model_table[i];
    return NULL;
}

static vs_status read_graph(const model_entry *e, const char *path, vs_graph **out, vs_err *err)
{
    *out = NULL;
    if (e->format == FMT_TFJS_GRAPH)
        return vs_tfjs_load_graph(path, e->name, out, err);
    if (e->format == FMT_ONNX)
        return vs_onnx_load_graph(path, e->name, out, err);
    vs_graph *g = vs_graph_new(e->name);
    if (!g)
        return vs_err_set(err, VS_NOMEM, "loading %s", e->name);
    vs_status st = vs_tfjs_load_weights(g, path, err);
    if (st == VS_OK)
        st = vs_faceapi_build(g, e->name, err);
    if (st != VS_OK) {
        vs_graph_free(g);
        return st;
    }
    *out = g;
    return VS_OK;
}

static void summarise(vs_model *m)
{
    const vs_graph *g = m->g;
    char *counted = calloc((size_t)(g->n_values ? g->n_values : 1), 1);
    m->flops = 0;
    m->n_params = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const vs_node *n = &g->nodes[i];
        m->flops += vs_node_flops(g, n);
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v >= 0 && g->values[v].data && counted && !counted[v]) {
                counted[v] = 1;
                m->n_params += (size_t)vs_shape_numel(&g->values[v].shape);
            }
        }
    }
    free(counted);
}

vs_status vs_nn_model_load(const char *models_dir, const char *name,
                           const char *const *extra_outputs, vs_model **out, vs_err *err)
{
    *out = NULL;
    const model_entry *e = find_entry(name);
    if (!e)
        return vs_err_set(err, VS_NOTFOUND, "unknown model '%s'", name);
    if (!models_dir)
        models_dir = getenv("VISAGE_MODELS");
    if (!models_dir)
        models_dir = "models";
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", models_dir, e->file) >= (int)sizeof path)
        return vs_err_set(err, VS_INVAL, "models path too long");
    vs_model *m = calloc(1, sizeof *m);
    if (!m)
        return vs_err_set(err, VS_NOMEM, "loading %s", name);
    m->format = e->format == FMT_TFJS_GRAPH ? "tfjs-graph"
                : e->format == FMT_ONNX     ? "onnx"
                                            : "faceapi";
    vs_status st = read_graph(e, path, &m->g, err);
    for (int i = 0; st == VS_OK && extra_outputs && extra_outputs[i]; i++) {
        int v = vs_graph_find(m->g, extra_outputs[i]);
        if (v < 0)
            st = vs_err_set(err, VS_NOTFOUND, "model %s has no node named '%s'", name,
                            extra_outputs[i]);
        else if (m->g->values[v].data)
            st = vs_err_set(err, VS_INVAL, "'%s' is a constant of %s, not a node", extra_outputs[i],
                            name);
        else
            st = vs_graph_mark_output(m->g, v);
    }
    if (st == VS_OK)
        st = vs_graph_finalize(m->g, err);
    if (st != VS_OK) {
        vs_nn_model_free(m);
        return st;
    }
    summarise(m);
    *out = m;
    return VS_OK;
}

void vs_nn_model_free(vs_model *m)
{
    if (!m)
        return;
    vs_graph_free(m->g);
    free(m);
}

void vs_nn_model_info_get(const vs_model *m, vs_nn_model_info *info)
{
    memset(info, 0, sizeof *info);
    info->name = m->g->name;
    info->format = m->format;
    info->n_inputs = m->g->n_inputs;
    info->n_outputs = m->g->n_outputs;
    info->n_nodes = m->g->n_nodes;
    info->n_params = m->n_params;
    info->flops = m->flops;
    info->arena_bytes = m->g->arena_bytes;
    for (int i = 0; i < m->g->n_nodes; i++)
        if ((int)m->g->nodes[i].op < 64)
            info->op_count[m->g->nodes[i].op]++;
}

const char *vs_nn_op_name(int op)
{
    return vs_op_name((vs_op)op);
}

static vs_nn_tensor_info tensor_info(const vs_graph *g, int v)
{
    vs_nn_tensor_info t = {0};
    t.name = g->values[v].name;
    t.rank = g->values[v].shape.rank;
    for (int i = 0; i < t.rank; i++)
        t.dim[i] = g->values[v].shape.dim[i];
    return t;
}

vs_nn_tensor_info vs_nn_input_info(const vs_model *m, int i)
{
    return tensor_info(m->g, m->g->inputs[i]);
}

vs_nn_tensor_info vs_nn_output_info(const vs_model *m, int i)
{
    return tensor_info(m->g, m->g->outputs[i]);
}

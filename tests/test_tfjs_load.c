/*
 * test_tfjs_load.c - checks the TensorFlow.js loaders (src/nn/tfjs_load.c).
 *
 * Every graph model under models/human is loaded and compared with what its model.json says,
 * read here independently with cJSON: the node count, the IR op each TF op must become, every
 * weight's name, dtype and shape, the input shapes, the conv/matmul attributes, the graph
 * outputs, and (after shape inference) the output shapes the json's signature declares.
 * Weight values are checked against numbers computed here from the raw .bin bytes with
 * tfjs-core's formulas (io_utils.decodeWeights: q * scale + min in double stored as float32,
 * Math.round for int32, IEEE half widened exactly; the loader was also checked bit for bit
 * against tfjs's own decodeWeights while it was written).  Each small hand-written broken
 * file under tests/data/malformed must fail with VS_FORMAT or VS_IO and a message.
 * Run from the repository root; exits non-zero on any failure.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/tfjs_load.h"

#define MODELS "models/human/"
#define FACEAPI "models/faceapi/"
#define MALFORMED "tests/data/malformed/"

/* libuv-style assertions that print both sides; they fail the current test function. */
#define ASSERT_EQ_INT(a, b)                                                                        \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "%s:%d: ASSERT_EQ(%s, %s) failed: %lld != %lld\n", __FILE__, __LINE__, \
                    #a, #b, a_, b_);                                                               \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

#define ASSERT_EQ_FLT(a, b)                                                                        \
    do {                                                                                           \
        float a_ = (a), b_ = (b);                                                                  \
        if (memcmp(&a_, &b_, sizeof a_) != 0) {                                                    \
            fprintf(stderr, "%s:%d: ASSERT_EQ(%s, %s) failed: %.9g != %.9g\n", __FILE__, __LINE__, \
                    #a, #b, a_, b_);                                                               \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (strcmp(a_, b_) != 0) {                                                                 \
            fprintf(stderr, "%s:%d: ASSERT_EQ(%s, %s) failed: '%s' != '%s'\n", __FILE__, __LINE__, \
                    #a, #b, a_, b_);                                                               \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

#define ASSERT_TRUE(c)                                                                             \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: ASSERT(%s) failed\n", __FILE__, __LINE__, #c);                 \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* ---- independent readers ----------------------------------------------------------------- */

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        if (buf) {
            buf[n] = 0;
            *len = (size_t)n;
        }
    }
    fclose(f);
    return buf;
}

static cJSON *load_json(const char *path)
{
    size_t len;
    unsigned char *text = slurp(path, &len);
    cJSON *j = text ? cJSON_ParseWithLength((const char *)text, len) : NULL;
    free(text);
    return j;
}

/* Decodes base64 text into buf (TF writes string attributes that way). */
static const char *b64(const char *in, char *buf, size_t cap)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    unsigned acc = 0, bits = 0;
    for (const char *p = in ? in : ""; *p && *p != '='; p++) {
        const char *hit = strchr(tbl, *p);
        acc = (acc << 6) | (unsigned)(hit ? hit - tbl : 0);
        bits += 6;
        if (bits >= 8 && n + 1 < cap) {
            bits -= 8;
            buf[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    buf[n] = 0;
    return buf;
}

/* The value of a TF attr {"s": base64}, decoded into buf ("" when absent). */
static const char *attr_s(const cJSON *node, const char *key, char *buf, size_t cap)
{
    const cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(node, "attr"), key);
    const cJSON *s = cJSON_GetObjectItem(a, "s");
    return b64(cJSON_IsString(s) ? s->valuestring : NULL, buf, cap);
}

/* Name of the k-th input of a json node. */
static const char *input_name(const cJSON *node, int k)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(node, "input"), k)->valuestring;
}

/* Element i of an attr's list.i / list.s array, or NULL. */
static const cJSON *attr_list(const cJSON *node, const char *key, const char *kind, int i)
{
    const cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(node, "attr"), key);
    return cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "list"), kind), i);
}

static int attr_b(const cJSON *node, const char *key)
{
    const cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(node, "attr"), key);
    return cJSON_IsTrue(cJSON_GetObjectItem(a, "b"));
}

static long long str_ll(const cJSON *j)
{
    return cJSON_IsString(j) ? strtoll(j->valuestring, NULL, 10) : (long long)j->valuedouble;
}

/* The IR op a TF op must become, by this test's own reading of graph.h. */
static int expected_op(const char *tf)
{
    static const struct {
        const char *tf;
        vs_op op;
    } map[] = {{"Conv2D", VS_OP_CONV2D},
               {"_FusedConv2D", VS_OP_CONV2D},
               {"DepthwiseConv2dNative", VS_OP_DWCONV2D},
               {"FusedDepthwiseConv2dNative", VS_OP_DWCONV2D},
               {"MatMul", VS_OP_MATMUL},
               {"_FusedMatMul", VS_OP_MATMUL},
               {"Add", VS_OP_ADD},
               {"AddV2", VS_OP_ADD},
               {"Sub", VS_OP_SUB},
               {"Mul", VS_OP_MUL},
               {"Minimum", VS_OP_MINIMUM},
               {"Maximum", VS_OP_MAXIMUM},
               {"Abs", VS_OP_ABS},
               {"Relu", VS_OP_RELU},
               {"Sigmoid", VS_OP_SIGMOID},
               {"Square", VS_OP_SQUARE},
               {"Rsqrt", VS_OP_RSQRT},
               {"Softmax", VS_OP_SOFTMAX},
               {"MaxPool", VS_OP_MAXPOOL},
               {"Mean", VS_OP_MEAN},
               {"Sum", VS_OP_SUM},
               {"Max", VS_OP_REDUCE_MAX},
               {"Pad", VS_OP_PAD},
               {"Reshape", VS_OP_RESHAPE},
               {"Squeeze", VS_OP_SQUEEZE},
               {"Identity", VS_OP_IDENTITY}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].tf, tf) == 0)
            return map[i].op;
    return -1;
}

static int value_named(const vs_graph *g, const char *name)
{
    for (int i = 0; i < g->n_values; i++)
        if (strcmp(g->values[i].name, name) == 0)
            return i;
    return -1;
}

static const cJSON *json_node(const cJSON *nodes, const char *name)
{
    const cJSON *n;
    cJSON_ArrayForEach(n, nodes)
    {
        if (strcmp(cJSON_GetObjectItem(n, "name")->valuestring, name) == 0)
            return n;
    }
    return NULL;
}

/* ---- graph models ------------------------------------------------------------------------ */

/* Every manifest weight is a constant of that name, dtype and shape. */
static int check_weights(const vs_graph *g, const cJSON *manifest, int *n_weights)
{
    const cJSON *grp, *w;
    *n_weights = 0;
    cJSON_ArrayForEach(grp, manifest)
    {
        cJSON_ArrayForEach(w, cJSON_GetObjectItem(grp, "weights"))
        {
            const cJSON *shape = cJSON_GetObjectItem(w, "shape");
            int v = value_named(g, cJSON_GetObjectItem(w, "name")->valuestring);
            int is_int = strcmp(cJSON_GetObjectItem(w, "dtype")->valuestring, "int32") == 0;
            ASSERT_TRUE(v >= 0 && g->values[v].data != NULL);
            ASSERT_EQ_INT(g->values[v].dtype, is_int ? VS_DT_I32 : VS_DT_F32);
            ASSERT_EQ_INT(g->values[v].shape.rank, cJSON_GetArraySize(shape));
            for (int d = 0; d < g->values[v].shape.rank; d++)
                ASSERT_EQ_INT(g->values[v].shape.dim[d], cJSON_GetArrayItem(shape, d)->valueint);
            (*n_weights)++;
        }
    }
    return 0;
fail:
    return 1;
}

/* Conv and matmul attributes against the json node. */
static int check_node_attrs(const vs_graph *g, const vs_node *n, const cJSON *jn)
{
    char pad[16], act[16];
    const char *op = cJSON_GetObjectItem(jn, "op")->valuestring;
    int fused = strncmp(op, "_Fused", 6) == 0 || strncmp(op, "Fused", 5) == 0;
    attr_s(jn, "padding", pad, sizeof pad);
    const cJSON *a1 = attr_list(jn, "fused_ops", "s", 1);
    b64(a1 ? a1->valuestring : NULL, act, sizeof act);
    if (n->op == VS_OP_CONV2D || n->op == VS_OP_DWCONV2D) {
        ASSERT_EQ_INT(n->stride[0], str_ll(attr_list(jn, "strides", "i", 1)));
        ASSERT_EQ_INT(n->stride[1], str_ll(attr_list(jn, "strides", "i", 2)));
        ASSERT_EQ_INT(n->padmode, strcmp(pad, "SAME") == 0 ? VS_PAD_SAME : VS_PAD_VALID);
    }
    if (n->op == VS_OP_MATMUL) {
        ASSERT_EQ_INT(n->transpose_a, attr_b(jn, "transpose_a"));
        ASSERT_EQ_INT(n->transpose_b, attr_b(jn, "transpose_b"));
    }
    if (n->op == VS_OP_CONV2D || n->op == VS_OP_DWCONV2D || n->op == VS_OP_MATMUL) {
        ASSERT_EQ_INT(n->act, strcmp(act, "Relu") == 0 ? VS_ACT_RELU : VS_ACT_NONE);
        ASSERT_EQ_INT(n->in[2] >= 0, fused);
        ASSERT_EQ_INT(n->in[0], value_named(g, input_name(jn, 0)));
        ASSERT_EQ_INT(n->in[1], value_named(g, input_name(jn, 1)));
    }
    if (n->op == VS_OP_RESHAPE) {
        const vs_value *c = &g->values[value_named(g, input_name(jn, 1))];
        ASSERT_EQ_INT(n->new_shape.rank, vs_shape_numel(&c->shape));
        for (int d = 0; d < n->new_shape.rank; d++)
            ASSERT_EQ_INT(n->new_shape.dim[d], ((const int32_t *)c->data)[d]);
    }
    return 0;
fail:
    return 1;
}

/* The graph's outputs: signature.outputs (":0" stripped) or the unconsumed nodes. */
static int check_outputs(const vs_graph *g, const cJSON *root, const cJSON *nodes)
{
    const cJSON *sig = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "signature"), "outputs");
    const cJSON *o, *n, *m, *in;
    int k = 0;
    if (sig) {
        cJSON_ArrayForEach(o, sig)
        {
            char name[256];
            snprintf(name, sizeof name, "%s", cJSON_GetObjectItem(o, "name")->valuestring);
            char *colon = strchr(name, ':');
            if (colon)
                *colon = 0;
            ASSERT_TRUE(k < g->n_outputs);
            ASSERT_STR_EQ(g->values[g->outputs[k++]].name, name);
        }
        ASSERT_EQ_INT(g->n_outputs, k);
        return 0;
    }
    cJSON_ArrayForEach(n, nodes)
    {
        const char *name = cJSON_GetObjectItem(n, "name")->valuestring;
        int used = 0;
        cJSON_ArrayForEach(m, nodes)
        {
            cJSON_ArrayForEach(in, cJSON_GetObjectItem(m, "input"))
            {
                used |= strcmp(in->valuestring, name) == 0;
            }
        }
        if (!used) {
            ASSERT_TRUE(k < g->n_outputs);
            ASSERT_STR_EQ(g->values[g->outputs[k++]].name, name);
        }
    }
    ASSERT_EQ_INT(g->n_outputs, k);
    return 0;
fail:
    return 1;
}

/* After inferring every node in load order, the outputs have the signature's shapes. */
static int check_output_shapes(vs_graph *g, const cJSON *root)
{
    const cJSON *sig = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "signature"), "outputs");
    const cJSON *o;
    vs_err err = {{0}};
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        vs_status st = vs_graph_infer_node(g, &g->nodes[i], &err);
        if (st != VS_OK)
            fprintf(stderr, "infer: %s\n", err.msg);
        ASSERT_EQ_INT(st, VS_OK);
    }
    cJSON_ArrayForEach(o, sig)
    {
        const cJSON *dims = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "tensorShape"), "dim");
        const vs_shape *s = &g->values[g->outputs[k++]].shape;
        if (!dims)
            continue;
        ASSERT_EQ_INT(s->rank, cJSON_GetArraySize(dims));
        for (int d = 0; d < s->rank; d++) {
            long long want = str_ll(cJSON_GetObjectItem(cJSON_GetArrayItem(dims, d), "size"));
            ASSERT_EQ_INT(s->dim[d], want < 0 ? 1 : want);
        }
    }
    return 0;
fail:
    return 1;
}

static int model_matches_its_json(const char *model)
{
    char path[256];
    vs_graph *g = NULL;
    vs_err err = {{0}};
    cJSON *root;
    int want[VS_OP_COUNT] = {0}, got[VS_OP_COUNT] = {0}, n_ops = 0, n_inputs = 0, n_weights;
    int n_const = 0;
    const cJSON *jn;
    snprintf(path, sizeof path, MODELS "%s.json", model);
    root = load_json(path);
    ASSERT_TRUE(root != NULL);
    const cJSON *nodes = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "modelTopology"), "node");
    cJSON_ArrayForEach(jn, nodes)
    {
        const char *op = cJSON_GetObjectItem(jn, "op")->valuestring;
        if (strcmp(op, "Const") == 0)
            continue;
        if (strcmp(op, "Placeholder") == 0) {
            n_inputs++;
            continue;
        }
        if (expected_op(op) < 0)
            fprintf(stderr, "%s: op %s is not in this test's table\n", model, op);
        ASSERT_TRUE(expected_op(op) >= 0);
        want[expected_op(op)]++;
        n_ops++;
    }
    vs_status st = vs_tfjs_load_graph(path, model, &g, &err);
    if (st != VS_OK)
        fprintf(stderr, "%s: %s\n", model, err.msg);
    ASSERT_EQ_INT(st, VS_OK);
    ASSERT_STR_EQ(g->name, model);
    ASSERT_EQ_INT(g->n_nodes, n_ops);
    ASSERT_EQ_INT(g->n_inputs, n_inputs);
    for (int i = 0; i < g->n_values; i++)
        n_const += g->values[i].data != NULL;
    ASSERT_EQ_INT(check_weights(g, cJSON_GetObjectItem(root, "weightsManifest"), &n_weights), 0);
    ASSERT_EQ_INT(n_const, n_weights);
    for (int i = 0; i < g->n_nodes; i++) {
        const cJSON *src = json_node(nodes, g->nodes[i].name);
        got[g->nodes[i].op]++;
        ASSERT_TRUE(src != NULL);
        ASSERT_EQ_INT(check_node_attrs(g, &g->nodes[i], src), 0);
    }
    for (int op = 0; op < VS_OP_COUNT; op++)
        ASSERT_EQ_INT(got[op], want[op]);
    const cJSON *in = json_node(nodes, g->values[g->inputs[0]].name);
    const cJSON *dims = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(in, "attr"), "shape"), "shape"),
        "dim");
    ASSERT_EQ_INT(g->values[g->inputs[0]].shape.rank, cJSON_GetArraySize(dims));
    for (int d = 0; d < cJSON_GetArraySize(dims); d++) {
        long long v = str_ll(cJSON_GetObjectItem(cJSON_GetArrayItem(dims, d), "size"));
        ASSERT_EQ_INT(g->values[g->inputs[0]].shape.dim[d], v < 0 ? 1 : v);
    }
    ASSERT_EQ_INT(check_outputs(g, root, nodes), 0);
    ASSERT_EQ_INT(check_output_shapes(g, root), 0);
    vs_graph_free(g);
    cJSON_Delete(root);
    return 0;
fail:
    vs_graph_free(g);
    cJSON_Delete(root);
    return 1;
}

/* ---- weight values ----------------------------------------------------------------------- */

static double half_ref(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}

/* Walks a manifest of one group and one shard (a weights-only manifest, or a graph model's
 * weightsManifest) and checks up to `probes` elements of every quantised weight against the
 * .bin bytes.  OUT: *checked, how many quantised weights there were. */
static int check_dequantised(const char *json, const char *bin, int probes, int *checked)
{
    vs_graph *g = NULL;
    vs_err err = {{0}};
    size_t len = 0, off = 0;
    unsigned char *raw = slurp(bin, &len);
    cJSON *root = load_json(json);
    const cJSON *w,
        *groups = cJSON_IsArray(root) ? root : cJSON_GetObjectItem(root, "weightsManifest");
    *checked = 0;
    ASSERT_TRUE(raw && root);
    ASSERT_EQ_INT(cJSON_GetArraySize(groups), 1);
    if (cJSON_IsArray(root)) {
        g = vs_graph_new("w");
        ASSERT_EQ_INT(vs_tfjs_load_weights(g, json, &err), VS_OK);
    } else {
        ASSERT_EQ_INT(vs_tfjs_load_graph(json, "w", &g, &err), VS_OK);
    }
    cJSON_ArrayForEach(w, cJSON_GetObjectItem(cJSON_GetArrayItem(groups, 0), "weights"))
    {
        const cJSON *q = cJSON_GetObjectItem(w, "quantization");
        const char *qd = q ? cJSON_GetObjectItem(q, "dtype")->valuestring : "";
        int is_int = strcmp(cJSON_GetObjectItem(w, "dtype")->valuestring, "int32") == 0;
        int unit = strcmp(qd, "uint8") == 0 ? 1 : q ? 2 : 4;
        const vs_value *v = &g->values[value_named(g, cJSON_GetObjectItem(w, "name")->valuestring)];
        size_t count = (size_t)vs_shape_numel(&v->shape);
        for (int p = 0; q && unit <= 2 && p < probes && count; p++) {
            size_t i = p == 0            ? 0
                       : p == probes - 1 ? count - 1
                                         : count * (size_t)p / (size_t)probes;
            const unsigned char *b = raw + off + i * (size_t)unit;
            double qv = unit == 1 ? b[0] : b[0] | b[1] << 8;
            if (strcmp(qd, "float16") == 0) {
                ASSERT_EQ_FLT(((const float *)v->data)[i], (float)half_ref((uint16_t)qv));
                continue;
            }
            double r = qv * cJSON_GetObjectItem(q, "scale")->valuedouble +
                       cJSON_GetObjectItem(q, "min")->valuedouble;
            if (is_int)
                ASSERT_EQ_INT(((const int32_t *)v->data)[i], (long long)floor(r + 0.5));
            else
                ASSERT_EQ_FLT(((const float *)v->data)[i], (float)r);
        }
        *checked += q != NULL;
        off += count * (size_t)unit;
    }
    ASSERT_EQ_INT(off, len);
    vs_graph_free(g);
    free(raw);
    cJSON_Delete(root);
    return 0;
fail:
    vs_graph_free(g);
    free(raw);
    cJSON_Delete(root);
    return 1;
}

static int uint8_weights_equal_q_times_scale_plus_min(void)
{
    int n;
    ASSERT_EQ_INT(check_dequantised(FACEAPI "ssd_mobilenetv1_model-weights_manifest.json",
                                    FACEAPI "ssd_mobilenetv1_model.bin", 5, &n),
                  0);
    ASSERT_EQ_INT(n, 150); /* 135 float32 + 15 int32 weights are uint8-quantised */
    ASSERT_EQ_INT(check_dequantised(FACEAPI "face_recognition_model-weights_manifest.json",
                                    FACEAPI "face_recognition_model.bin", 5, &n),
                  0);
    ASSERT_EQ_INT(n, 109);
    /* Hand-made: uint8 and uint16 float weights, then an int32 one rounded back. */
    ASSERT_EQ_INT(check_dequantised(MALFORMED "weights_good-weights_manifest.json",
                                    MALFORMED "tiny.bin", 18, &n),
                  0);
    ASSERT_EQ_INT(n, 3);
    return 0;
fail:
    return 1;
}

/* faceres and gear store float16 weights: each must be the exact widening of its half. */
static int float16_weights_widen_exactly(void)
{
    int n;
    ASSERT_EQ_INT(check_dequantised(MODELS "faceres.json", MODELS "faceres.bin", 7, &n), 0);
    ASSERT_EQ_INT(n, 127);
    ASSERT_EQ_INT(check_dequantised(MODELS "gear.json", MODELS "gear.bin", 7, &n), 0);
    ASSERT_EQ_INT(n, 34);
    return 0;
fail:
    return 1;
}

/* ---- a hand-written model and broken files ----------------------------------------------- */

static int tiny_model_maps_as_written(void)
{
    vs_graph *g = NULL;
    vs_err err = {{0}};
    ASSERT_EQ_INT(vs_tfjs_load_graph(MALFORMED "good.json", "tiny", &g, &err), VS_OK);
    ASSERT_EQ_INT(g->n_nodes, 2);
    ASSERT_EQ_INT(g->n_inputs, 1);
    const vs_node *conv = &g->nodes[0], *resh = &g->nodes[1];
    ASSERT_EQ_INT(conv->op, VS_OP_CONV2D);
    ASSERT_EQ_INT(conv->in[0], value_named(g, "x"));
    ASSERT_EQ_INT(conv->in[1], value_named(g, "w"));
    ASSERT_EQ_INT(conv->in[2], value_named(g, "b"));
    ASSERT_EQ_INT(conv->in[3], -1);
    ASSERT_EQ_INT(conv->act, VS_ACT_RELU);
    ASSERT_EQ_INT(conv->padmode, VS_PAD_SAME);
    ASSERT_EQ_INT(resh->op, VS_OP_RESHAPE);
    ASSERT_EQ_INT(resh->n_in, 1); /* the int32 shape is an attribute, ^x a control edge */
    ASSERT_EQ_INT(resh->in[0], conv->out);
    ASSERT_EQ_INT(resh->new_shape.rank, 2);
    ASSERT_EQ_INT(resh->new_shape.dim[1], 8);
    ASSERT_EQ_INT(g->n_outputs, 1);
    ASSERT_STR_EQ(g->values[g->outputs[0]].name, "out");
    ASSERT_EQ_INT(g->values[g->inputs[0]].shape.dim[0], 1);
    ASSERT_EQ_FLT(((const float *)g->values[value_named(g, "w")].data)[1], -1.0f);
    vs_graph_free(g);
    return 0;
fail:
    vs_graph_free(g);
    return 1;
}

static int malformed_files_fail_with_a_message(void)
{
    static const struct {
        const char *file;
        int weights_only;
        vs_status want;
    } cases[] = {
        {"truncated_shard.json", 0, VS_FORMAT},
        {"shard_too_long.json", 0, VS_FORMAT},
        {"missing_shard.json", 0, VS_IO},
        {"bias_shape_mismatch.json", 0, VS_FORMAT},
        {"wrong_shape_count.json", 0, VS_FORMAT},
        {"shape_not_array.json", 0, VS_FORMAT},
        {"overflow_shape.json", 0, VS_FORMAT},
        {"negative_dim.json", 0, VS_FORMAT},
        {"unknown_op.json", 0, VS_FORMAT},
        {"unknown_dtype.json", 0, VS_FORMAT},
        {"unknown_quantization.json", 0, VS_FORMAT},
        {"not_json.json", 0, VS_FORMAT},
        {"no_manifest.json", 0, VS_FORMAT},
        {"no_topology.json", 0, VS_FORMAT},
        {"weight_without_name.json", 0, VS_FORMAT},
        {"node_without_op.json", 0, VS_FORMAT},
        {"missing_input.json", 0, VS_FORMAT},
        {"cycle.json", 0, VS_FORMAT},
        {"bad_num_args.json", 0, VS_FORMAT},
        {"bad_padding.json", 0, VS_FORMAT},
        {"const_without_weight.json", 0, VS_FORMAT},
        {"reshape_float_shape.json", 0, VS_FORMAT},
        {"absent.json", 0, VS_IO},
        {"weights_truncated-weights_manifest.json", 1, VS_FORMAT},
        {"weights_too_long-weights_manifest.json", 1, VS_FORMAT},
        {"weights_no_scale-weights_manifest.json", 1, VS_FORMAT},
        {"weights_not_array-weights_manifest.json", 1, VS_FORMAT},
        {"not_json.json", 1, VS_FORMAT},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char path[256];
        vs_err err = {{0}};
        vs_graph *g = (vs_graph *)1;
        vs_status st;
        snprintf(path, sizeof path, MALFORMED "%s", cases[c].file);
        if (cases[c].weights_only) {
            g = vs_graph_new("w");
            st = vs_tfjs_load_weights(g, path, &err);
            vs_graph_free(g);
            g = NULL;
        } else {
            st = vs_tfjs_load_graph(path, "bad", &g, &err);
        }
        if (st != cases[c].want)
            fprintf(stderr, "%s: got %s (%s)\n", cases[c].file, vs_status_str(st), err.msg);
        ASSERT_EQ_INT(st, cases[c].want);
        ASSERT_TRUE(g == NULL);
        ASSERT_TRUE(err.msg[0] != 0);
        ASSERT_TRUE(strstr(err.msg, ".json") != NULL || strstr(err.msg, ".bin") != NULL);
    }
    return 0;
fail:
    return 1;
}

int main(void)
{
    static const char *const models[] = {
        "mobilefacenet",   "mobileface", "faceres",  "faceres-deep", "blazeface-back",
        "blazeface-front", "antispoof",  "liveness", "gear",         "emotion"};
    int failed = 0, run = 0;
    FILE *probe = fopen(MODELS "faceres.json", "rb");
    if (!probe) {
        printf("test_tfjs_load: skipped, models/ is not set up (scripts/setup.sh)\n");
        return 77;
    }
    fclose(probe);
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++, run++)
        if (model_matches_its_json(models[i])) {
            fprintf(stderr, "FAIL model_matches_its_json(%s)\n", models[i]);
            failed++;
        }
#define RUN(t)                                                                                     \
    do {                                                                                           \
        run++;                                                                                     \
        if (t()) {                                                                                 \
            fprintf(stderr, "FAIL %s\n", #t);                                                      \
            failed++;                                                                              \
        }                                                                                          \
    } while (0)
    RUN(uint8_weights_equal_q_times_scale_plus_min);
    RUN(float16_weights_widen_exactly);
    RUN(tiny_model_maps_as_written);
    RUN(malformed_files_fail_with_a_message);
    printf("test_tfjs_load: %d/%d passed\n", run - failed, run);
    return failed != 0;
}

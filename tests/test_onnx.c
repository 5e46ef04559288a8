/*
 * test_onnx.c - the ONNX loader (src/nn/onnx_load.c) on faceplugin's fr_* models, checked end to
 * end against onnxruntime, and on broken files.
 *
 * Goldens: every tests/golden/fr_<model>/meta.json (written by tests/gen_onnx_golden.js with
 * onnxruntime-node on a real photo; "layout": "nchw", input.u8 planar) names a model in
 * models/faceplugin.  The model is loaded with vs_onnx_load_graph, finalized, and run through the
 * runtime (a vs_model wrapped around the graph by hand: the model table does not list ONNX models
 * yet) on the reference kernels (1 thread) and on XNNPACK (1 and 2 threads), fed
 * float(float(u8 * scale) + offset) in NCHW order exactly as onnxruntime was.  Every output must
 * match: max |ours - ref| <= 1e-4 * max(1, max |ref|); embeddings (rank 2, >= 64 values) also
 * need cosine similarity >= 0.99999.  The input and output shapes must be the model's own (NCHW).
 *
 * Broken files: truncated copies of a real model (several lengths), random bytes, an empty file,
 * real models re-packed with protobuf-c with a weight cut in half or a node whose op we do not
 * know must fail with VS_FORMAT and a message; a grouped convolution with VS_UNSUPPORTED; a
 * missing file with VS_IO.  300 copies with random bytes changed must load or be refused with a
 * message, never crash (the test runs under ASan/UBSan in `make test`).
 *
 * Run from the repository root.  Environment: VISAGE_GOLDEN (default tests/golden),
 * VISAGE_MODELS (default models).  Exit status: 0 passed, 1 failed, 77 skipped (no models).
 */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "nn/model.h"
#include "nn/onnx_load.h"
#include "onnx.pb-c.h"

#define EXIT_SKIP 77
#define ABS_TOL 1e-4
#define COS_TOL 0.99999
#define MAX_OUT 16

static int failures, checks;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            printf("  FAIL %s:%d: ", __FILE__, __LINE__);                                          \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* ---- files ------------------------------------------------------------------------------- */

/* Writes a/b into buf.  Returns 0, or -1 when it does not fit. */
static int join(char *buf, size_t size, const char *a, const char *b)
{
    int n = snprintf(buf, size, "%s/%s", a, b);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Reads a whole file.  Returns the malloc'd bytes (NUL-terminated) or NULL; OUT: *len. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    *len = 0;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
        *len = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static int spill(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* ---- goldens ----------------------------------------------------------------------------- */

typedef struct golden_out {
    char name[256];
    vs_shape shape;
    float *data;
} golden_out;

typedef struct golden {
    char model[64];
    vs_shape in_shape;
    uint8_t *input;
    float scale, offset;
    int n_out;
    golden_out out[MAX_OUT];
} golden;

static int json_shape(const cJSON *arr, vs_shape *s)
{
    const cJSON *d;
    s->rank = 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > VS_MAX_DIMS)
        return -1;
    cJSON_ArrayForEach(d, arr)
    {
        if (!cJSON_IsNumber(d) || d->valuedouble < 1)
            return -1;
        s->dim[s->rank++] = (int64_t)d->valuedouble;
    }
    return 0;
}

/* Reads dir/name, which must hold exactly `want` bytes. */
static void *golden_file(const char *dir, const char *name, size_t want)
{
    char path[1024];
    size_t len;
    char *d = join(path, sizeof path, dir, name) == 0 ? slurp(path, &len) : NULL;
    if (d && len != want) {
        printf("  %s: %zu bytes, expected %zu\n", path, len, want);
        free(d);
        return NULL;
    }
    return d;
}

static void golden_free(golden *g)
{
    free(g->input);
    for (int i = 0; i < g->n_out; i++)
        free(g->out[i].data);
    memset(g, 0, sizeof *g);
}

static int golden_load(const char *dir, golden *g)
{
    char path[1024];
    size_t len;
    int rc = -1;
    memset(g, 0, sizeof *g);
    char *text = join(path, sizeof path, dir, "meta.json") == 0 ? slurp(path, &len) : NULL;
    cJSON *meta = text ? cJSON_Parse(text) : NULL;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(meta, "model");
    const cJSON *layout = cJSON_GetObjectItemCaseSensitive(meta, "layout");
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(meta, "input");
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(meta, "outputs"), *o;
    const cJSON *scale = cJSON_GetObjectItemCaseSensitive(in, "scale");
    const cJSON *offset = cJSON_GetObjectItemCaseSensitive(in, "offset");
    if (!cJSON_IsString(model) || !cJSON_IsString(layout) ||
        strcmp(layout->valuestring, "nchw") != 0 || !cJSON_IsNumber(scale) ||
        !cJSON_IsNumber(offset) || !cJSON_IsArray(outs) || cJSON_GetArraySize(outs) > MAX_OUT ||
        json_shape(cJSON_GetObjectItemCaseSensitive(in, "shape"), &g->in_shape) != 0) {
        printf("  %s: missing or malformed field\n", path);
        goto out;
    }
    snprintf(g->model, sizeof g->model, "%s", model->valuestring);
    g->scale = (float)scale->valuedouble;
    g->offset = (float)offset->valuedouble;
    if (!(g->input = golden_file(dir, "input.u8", (size_t)vs_shape_numel(&g->in_shape))))
        goto out;
    cJSON_ArrayForEach(o, outs)
    {
        golden_out *go = &g->out[g->n_out];
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(o, "file");
        if (!cJSON_IsString(name) || !cJSON_IsString(file) ||
            json_shape(cJSON_GetObjectItemCaseSensitive(o, "shape"), &go->shape) != 0) {
            printf("  %s: malformed output\n", path);
            goto out;
        }
        snprintf(go->name, sizeof go->name, "%s", name->valuestring);
        g->n_out++;
        size_t bytes = (size_t)vs_shape_numel(&go->shape) * sizeof(float);
        if (!(go->data = golden_file(dir, file->valuestring, bytes)))
            goto out;
    }
    rc = 0;
out:
    cJSON_Delete(meta);
    free(text);
    return rc;
}

/* Index of the graph output named `name`, or -1. */
static int find_output(const vs_graph *g, const char *name)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (strcmp(g->values[g->outputs[i]].name, name) == 0)
            return i;
    return -1;
}

static void compare(const golden *gd, const char *label, const golden_out *go, const float *ours)
{
    int64_t n = vs_shape_numel(&go->shape);
    double max_ref = 0, max_err = 0, dot = 0, no = 0, nr = 0;
    int finite = 1;
    for (int64_t i = 0; i < n; i++) {
        double r = go->data[i], o = ours[i];
        finite &= isfinite(o) != 0;
        max_ref = fmax(max_ref, fabs(r));
        max_err = fmax(max_err, fabs(o - r));
        dot += o * r;
        no += o * o;
        nr += r * r;
    }
    double tol = ABS_TOL * fmax(1.0, max_ref);
    int embedding = go->shape.rank == 2 && n >= 64;
    double cosine = embedding && no > 0 && nr > 0 ? dot / sqrt(no * nr) : NAN;
    printf("  %-14s %-10s %-20s max err %10.3e  tol %9.3e", gd->model, label, go->name, max_err,
           tol);
    if (embedding)
        printf("  cosine %.8f", cosine);
    printf("\n");
    CHECK(finite && max_err <= tol, "%s %s %s: max err %.3e > %.3e (or non-finite)", gd->model,
          label, go->name, max_err, tol);
    CHECK(!embedding || cosine >= COS_TOL, "%s %s %s: cosine %.8f", gd->model, label, go->name,
          cosine);
}

static void run_backend(const golden *gd, const vs_model *m, vs_nn_backend be, int threads)
{
    char label[32];
    vs_runtime *rt = NULL;
    vs_err err = {{0}};
    snprintf(label, sizeof label, "%s/%d", be == VS_NN_BACKEND_REF ? "ref" : "xnnpack", threads);
    vs_status st = vs_nn_runtime_new(m, be, threads, &rt, &err);
    CHECK(st == VS_OK, "%s %s: runtime: %s", gd->model, label, err.msg);
    if (st != VS_OK)
        return;
    float *in = vs_nn_input(rt, 0);
    for (int64_t i = 0; i < vs_shape_numel(&gd->in_shape); i++) {
        float v = (float)gd->input[i] * gd->scale; /* two roundings, as the generator */
        in[i] = v + gd->offset;
    }
    st = vs_nn_run(rt, &err);
    CHECK(st == VS_OK, "%s %s: run: %s", gd->model, label, err.msg);
    for (int k = 0; st == VS_OK && k < gd->n_out; k++) {
        int idx = find_output(m->g, gd->out[k].name);
        CHECK(idx >= 0, "%s: no output named %s", gd->model, gd->out[k].name);
        if (idx < 0)
            continue;
        const vs_shape *s = &m->g->values[m->g->outputs[idx]].shape;
        CHECK(vs_shape_equal(s, &gd->out[k].shape), "%s %s: output shape differs from ONNX's",
              gd->model, gd->out[k].name);
        if (vs_shape_equal(s, &gd->out[k].shape))
            compare(gd, label, &gd->out[k], vs_nn_output(rt, idx));
    }
    vs_nn_runtime_free(rt);
}

static void check_golden(const char *dir, const char *models)
{
    golden gd;
    char path[1024];
    vs_err err = {{0}};
    vs_model m = {.format = "onnx"};
    if (golden_load(dir, &gd) != 0) {
        CHECK(0, "%s: bad golden files", dir);
        return;
    }
    char file[128];
    snprintf(file, sizeof file, "faceplugin/%s.onnx", gd.model);
    vs_status st = join(path, sizeof path, models, file) == 0
                       ? vs_onnx_load_graph(path, gd.model, &m.g, &err)
                       : VS_LIMIT;
    CHECK(st == VS_OK, "%s: load: %s", gd.model, err.msg);
    if (st == VS_OK) {
        st = vs_graph_finalize(m.g, &err);
        CHECK(st == VS_OK, "%s: finalize: %s", gd.model, err.msg);
    }
    if (st == VS_OK) {
        const vs_shape *is = &m.g->values[m.g->inputs[0]].shape;
        CHECK(m.g->n_inputs == 1 && vs_shape_equal(is, &gd.in_shape),
              "%s: input is not the model's NCHW shape", gd.model);
        CHECK(m.g->n_outputs == gd.n_out, "%s: %d outputs, onnxruntime gave %d", gd.model,
              m.g->n_outputs, gd.n_out);
        printf("  %-14s %d nodes after finalize, arena %zu KB\n", gd.model, m.g->n_nodes,
               m.g->arena_bytes / 1024);
        run_backend(&gd, &m, VS_NN_BACKEND_REF, 1);
        run_backend(&gd, &m, VS_NN_BACKEND_XNNPACK, 1);
        run_backend(&gd, &m, VS_NN_BACKEND_XNNPACK, 2);
    }
    vs_graph_free(m.g);
    golden_free(&gd);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int check_goldens(const char *root, const char *models)
{
    DIR *d = opendir(root);
    struct dirent *e;
    char *names[64], path[1024];
    int n = 0;
    struct stat sb;
    if (!d)
        return 0;
    while ((e = readdir(d)) && n < 64) {
        char sub[512];
        if (strncmp(e->d_name, "fr_", 3) == 0 &&
            join(sub, sizeof sub, e->d_name, "meta.json") == 0 &&
            join(path, sizeof path, root, sub) == 0 && stat(path, &sb) == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        if (join(path, sizeof path, root, names[i]) == 0)
            check_golden(path, models);
        free(names[i]);
    }
    return n;
}

/* ---- broken files ------------------------------------------------------------------------ */

static void expect_failure(const char *what, const char *path, vs_status want)
{
    vs_graph *g = (vs_graph *)&g; /* must be reset to NULL on failure */
    vs_err err = {{0}};
    vs_status st = vs_onnx_load_graph(path, "broken", &g, &err);
    CHECK(st == want, "%s: status %s, expected %s", what, vs_status_str(st), vs_status_str(want));
    CHECK(g == NULL, "%s: *out not NULL on failure", what);
    CHECK(err.msg[0] != '\0', "%s: no error message", what);
    printf("  %-34s -> %s: %s\n", what, vs_status_str(st), err.msg);
    if (st == VS_OK)
        vs_graph_free(g);
}

/* How to break a real model (applied to its unpacked protobuf). */
typedef enum { BREAK_OP, BREAK_WEIGHT, BREAK_GROUP } breakage;

/* Writes a copy of the model src[len] broken in one way to path.  Returns 0 or -1. */
static int write_broken(const char *src, size_t len, breakage how, const char *path)
{
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, (const uint8_t *)src);
    if (!m || !m->graph || m->graph->n_node < 4 || m->graph->n_initializer < 1)
        return -1;
    Onnx__NodeProto *n = m->graph->node[3];
    Onnx__TensorProto *t = m->graph->initializer[0];
    char *saved_op = n->op_type;
    size_t saved_len = t->raw_data.len;
    Onnx__AttributeProto *group = NULL;
    for (size_t i = 0; i < m->graph->n_node && !group; i++)
        for (size_t k = 0; k < m->graph->node[i]->n_attribute; k++)
            if (strcmp(m->graph->node[i]->attribute[k]->name, "group") == 0)
                group = m->graph->node[i]->attribute[k];
    int64_t saved_group = group ? group->i : 0;
    if (how == BREAK_OP)
        n->op_type = (char *)"NoSuchOp";
    else if (how == BREAK_WEIGHT)
        t->raw_data.len = saved_len / 2; /* still valid protobuf, too few values */
    else if (group)
        group->i = 2; /* a grouped convolution */
    size_t size = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = malloc(size);
    int rc = -1;
    if (buf && onnx__model_proto__pack(m, buf) == size && (how != BREAK_GROUP || group))
        rc = spill(path, buf, size);
    free(buf);
    n->op_type = saved_op;
    t->raw_data.len = saved_len;
    if (group)
        group->i = saved_group;
    onnx__model_proto__free_unpacked(m, NULL);
    return rc;
}

/* Random byte changes in the file: any status is fine, a crash (or a sanitizer report)
 * is not.  Returns how many loads and finalizes succeeded. */
static int mutate_many(const char *src, size_t len, const char *path, int rounds)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;
    char *buf = malloc(len);
    int ok = 0;
    for (int r = 0; buf && r < rounds; r++) {
        memcpy(buf, src, len);
        for (int k = 0; k < 1 + r % 8; k++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            /* The nodes sit near the start, inputs and outputs at the end, weights between. */
            size_t at = r % 3 == 0   ? (s >> 16) % len
                        : r % 3 == 1 ? (s >> 16) % (len < 8192 ? len : 8192)
                                     : len - 1 - (s >> 16) % (len < 1024 ? len : 1024);
            buf[at] = (char)(s >> 56);
        }
        vs_graph *g = NULL;
        vs_err err = {{0}};
        if (spill(path, buf, len) != 0)
            break;
        vs_status st = vs_onnx_load_graph(path, "mutant", &g, &err);
        CHECK(st == VS_OK || st == VS_FORMAT || st == VS_UNSUPPORTED || st == VS_LIMIT,
              "mutant %d: status %s", r, vs_status_str(st));
        CHECK(st == VS_OK || err.msg[0], "mutant %d: no message", r);
        if (st == VS_OK && vs_graph_finalize(g, &err) == VS_OK)
            ok++;
        vs_graph_free(g);
    }
    free(buf);
    return ok;
}

static void check_broken(const char *models)
{
    char src_path[1024], tmp[] = "/tmp/visage_test_onnx_XXXXXX";
    size_t len;
    char *src = join(src_path, sizeof src_path, models, "faceplugin/fr_eye.onnx") == 0
                    ? slurp(src_path, &len)
                    : NULL;
    int fd = mkstemp(tmp);
    CHECK(src && fd >= 0, "cannot read %s or make a temporary file", src_path);
    if (!src || fd < 0)
        goto out;
    close(fd);

    /* Cut inside the header, inside a weight tensor, and one byte short of the end. */
    const size_t cuts[] = {1, 7, 100, len / 3, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "fr_eye.onnx cut to %zu bytes", cuts[i]);
        CHECK(spill(tmp, src, cuts[i]) == 0, "write %s", tmp);
        expect_failure(what, tmp, VS_FORMAT);
    }

    uint8_t noise[4096];
    uint64_t s = 0x2545f4914f6cdd1dull;
    for (size_t i = 0; i < sizeof noise; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        noise[i] = (uint8_t)(s >> 56);
    }
    CHECK(spill(tmp, noise, sizeof noise) == 0, "write %s", tmp);
    expect_failure("4096 random bytes", tmp, VS_FORMAT);

    CHECK(spill(tmp, "", 0) == 0, "write %s", tmp);
    expect_failure("empty file", tmp, VS_FORMAT);

    CHECK(write_broken(src, len, BREAK_WEIGHT, tmp) == 0, "re-pack fr_eye.onnx");
    expect_failure("fr_eye.onnx, a weight cut in half", tmp, VS_FORMAT);
    CHECK(write_broken(src, len, BREAK_GROUP, tmp) == 0, "re-pack fr_eye.onnx");
    expect_failure("fr_eye.onnx, a conv with group 2", tmp, VS_UNSUPPORTED);

    CHECK(write_broken(src, len, BREAK_OP, tmp) == 0, "re-pack fr_eye.onnx");
    expect_failure("fr_eye.onnx with op NoSuchOp", tmp, VS_FORMAT);
    {
        vs_graph *g = NULL;
        vs_err err = {{0}};
        vs_onnx_load_graph(tmp, "broken", &g, &err);
        CHECK(strstr(err.msg, "NoSuchOp") != NULL, "message does not name the op: %s", err.msg);
        vs_graph_free(g);
    }

    expect_failure("missing file", "/nonexistent/visage/model.onnx", VS_IO);

    int ok = mutate_many(src, len, tmp, 300);
    printf("  300 randomly mutated copies of fr_eye.onnx: %d loaded and finalized, the rest "
           "refused\n",
           ok);
out:
    unlink(tmp);
    free(src);
}

int main(void)
{
    const char *root = getenv("VISAGE_GOLDEN") ? getenv("VISAGE_GOLDEN") : "tests/golden";
    const char *models = getenv("VISAGE_MODELS") ? getenv("VISAGE_MODELS") : "models";
    char probe[1024];
    struct stat sb;
    if (join(probe, sizeof probe, models, "faceplugin/fr_eye.onnx") != 0 || stat(probe, &sb) != 0) {
        printf("SKIP: test_onnx: no %s (run scripts/setup.sh, from the repository root)\n", probe);
        return EXIT_SKIP;
    }
    printf("onnx goldens (onnxruntime-node), tolerance %.0e x max(1, max|ref|):\n", ABS_TOL);
    int n = check_goldens(root, models);
    CHECK(n > 0, "no %s/fr_*/meta.json", root);
    printf("broken files:\n");
    check_broken(models);
    printf("test_onnx: %d goldens, %d checks, %d failed\n", n, checks, failures);
    return failures ? 1 : 0;
}

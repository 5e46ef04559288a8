/*
 * test_golden.c - every model the engine loads, checked end to end against golden outputs that
 * the reference implementation (TensorFlow.js, face-api) produced for a real photo.
 *
 * For each tests/golden/<dir>/meta.json (written by tests/golden/gen_golden.js for the TFJS graph
 * models and tests/golden/gen_faceapi.js for face-api's nets), the model named there is loaded
 * through the public API of src/nn/nn.h with every golden output name requested as an extra
 * output (the loader drops names that are already outputs), fed input.u8 * scale + offset, and
 * run on the reference backend (1 thread) and on XNNPACK (1 and 2 threads).  Every output must
 * match its out*.f32 within max |ours - ref| <= 1e-4 * max(1, max |ref|); embedding outputs
 * (rank 2, at least 64 elements) must also have cosine similarity >= 0.99999.
 *
 * Usage: build/tests/test_golden [model ...] from the repository root (no argument: all).
 * Environment: VISAGE_GOLDEN (default tests/golden), VISAGE_MODELS (default models).
 * A golden whose model is not in the engine's table (vs_nn_model_names) is reported as SKIP.
 * Exit status: 0 all passed, 1 a check failed, 77 skipped (no golden files or no models).
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "nn/nn.h"

#define EXIT_SKIP 77
#define MAX_OUTPUTS 16
#define ABS_TOL 1e-4
#define COS_TOL 0.99999

typedef struct golden_output {
    char name[256];
    int rank;
    int64_t dim[6];
    size_t numel;
    float *data;
} golden_output;

typedef struct golden {
    char dir[1024];
    char model[128];
    char source[256];
    size_t in_numel;
    uint8_t *input;
    float scale, offset;
    int n_outputs;
    golden_output out[MAX_OUTPUTS];
} golden;

static int g_passed, g_failed, g_skipped;

/* Writes a/b into buf.  Returns 0, or -1 when it does not fit. */
static int path_join(char *buf, size_t size, const char *a, const char *b)
{
    int n = snprintf(buf, size, "%s/%s", a, b);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* Reads a whole file.  OUT: *data (malloc'd, NUL-terminated), *len.  Returns 0 or -1. */
static int read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    int rc = -1;

    *data = NULL;
    *len = 0;
    if (!f)
        return -1;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        goto out;
    buf[n] = '\0';
    *data = buf;
    *len = (size_t)n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

/* Reads a JSON array of dimensions.  Returns the element count, or 0 when malformed. */
static size_t parse_shape(const cJSON *arr, int *rank, int64_t *dim)
{
    size_t numel = 1;
    const cJSON *d;

    *rank = 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > 6)
        return 0;
    cJSON_ArrayForEach(d, arr)
    {
        if (!cJSON_IsNumber(d) || d->valuedouble < 1)
            return 0;
        dim[(*rank)++] = (int64_t)d->valuedouble;
        numel *= (size_t)d->valuedouble;
    }
    return numel;
}

static void golden_free(golden *g)
{
    free(g->input);
    for (int i = 0; i < g->n_outputs; i++)
        free(g->out[i].data);
    memset(g, 0, sizeof(*g));
}

/* Reads the file `name` of golden g's folder, checking it holds exactly `want` bytes. */
static void *read_golden_file(const golden *g, const char *name, size_t want)
{
    char path[1024];
    char *data;
    size_t len;

    if (path_join(path, sizeof(path), g->dir, name) != 0 || read_file(path, &data, &len) != 0) {
        fprintf(stderr, "%s: cannot read\n", path);
        return NULL;
    }
    if (len != want) {
        fprintf(stderr, "%s: %zu bytes, meta.json says %zu\n", path, len, want);
        free(data);
        return NULL;
    }
    return data;
}

/* Loads tests/golden/<dir>/meta.json and its files.  Returns 0 or -1 (message printed). */
static int golden_load(const char *dir, golden *g)
{
    char path[1024], *text = NULL;
    size_t len;
    cJSON *meta = NULL;
    const cJSON *in, *outs, *o;
    int rank, rc = -1;

    memset(g, 0, sizeof(*g));
    if (snprintf(g->dir, sizeof(g->dir), "%s", dir) >= (int)sizeof(g->dir) ||
        path_join(path, sizeof(path), dir, "meta.json") != 0 || read_file(path, &text, &len) != 0 ||
        !(meta = cJSON_Parse(text))) {
        fprintf(stderr, "%s: cannot read or parse\n", path);
        goto out;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(meta, "model");
    const cJSON *source = cJSON_GetObjectItemCaseSensitive(meta, "source");
    in = cJSON_GetObjectItemCaseSensitive(meta, "input");
    outs = cJSON_GetObjectItemCaseSensitive(meta, "outputs");
    const cJSON *scale = cJSON_GetObjectItemCaseSensitive(in, "scale");
    const cJSON *offset = cJSON_GetObjectItemCaseSensitive(in, "offset");
    const cJSON *infile = cJSON_GetObjectItemCaseSensitive(in, "file");
    int64_t dim[6];
    if (!cJSON_IsString(model) || !cJSON_IsNumber(scale) || !cJSON_IsNumber(offset) ||
        !cJSON_IsString(infile) || !cJSON_IsArray(outs) || cJSON_GetArraySize(outs) < 1 ||
        cJSON_GetArraySize(outs) > MAX_OUTPUTS) {
        fprintf(stderr, "%s: missing or malformed field\n", path);
        goto out;
    }
    snprintf(g->model, sizeof(g->model), "%s", model->valuestring);
    snprintf(g->source, sizeof(g->source), "%s",
             cJSON_IsString(source) ? source->valuestring : "?");
    g->scale = (float)scale->valuedouble;
    g->offset = (float)offset->valuedouble;
    g->in_numel = parse_shape(cJSON_GetObjectItemCaseSensitive(in, "shape"), &rank, dim);
    if (g->in_numel == 0 || !(g->input = read_golden_file(g, infile->valuestring, g->in_numel)))
        goto out;
    cJSON_ArrayForEach(o, outs)
    {
        golden_output *go = &g->out[g->n_outputs];
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(o, "file");
        go->numel = parse_shape(cJSON_GetObjectItemCaseSensitive(o, "shape"), &go->rank, go->dim);
        if (!cJSON_IsString(name) || !cJSON_IsString(file) || go->numel == 0) {
            fprintf(stderr, "%s: malformed output %d\n", path, g->n_outputs);
            goto out;
        }
        snprintf(go->name, sizeof(go->name), "%s", name->valuestring);
        g->n_outputs++;
        go->data = read_golden_file(g, file->valuestring, go->numel * sizeof(float));
        if (!go->data)
            goto out;
    }
    rc = 0;
out:
    cJSON_Delete(meta);
    free(text);
    return rc;
}

static size_t tensor_numel(const vs_nn_tensor_info *t)
{
    size_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= (size_t)t->dim[i];
    return n;
}

/* Index of the model output named `name`, or -1. */
static int find_output(const vs_model *m, int n_outputs, const char *name)
{
    for (int i = 0; i < n_outputs; i++) {
        vs_nn_tensor_info t = vs_nn_output_info(m, i);
        if (t.name && strcmp(t.name, name) == 0)
            return i;
    }
    return -1;
}

static void report(const golden *g, const char *backend, const char *output, double err, double tol,
                   double cosine, int ok, const char *why)
{
    char cos[32] = "-";
    if (!isnan(cosine))
        snprintf(cos, sizeof(cos), "%.7f", cosine);
    printf("%-22s %-10s %-34s %11.3e %11.3e %10s  %s%s%s\n", g->model, backend, output, err, tol,
           cos, ok ? "PASS" : "FAIL", why ? "  " : "", why ? why : "");
    if (ok)
        g_passed++;
    else
        g_failed++;
}

/* Compares one output with its golden values and prints a table row. */
static void check_output(const golden *g, const char *backend, const golden_output *go,
                         const float *ours)
{
    double max_ref = 0, max_err = 0, dot = 0, n_ours = 0, n_ref = 0;
    int finite = 1;

    for (size_t i = 0; i < go->numel; i++) {
        double r = go->data[i], o = ours[i];
        if (!isfinite(o))
            finite = 0;
        max_ref = fmax(max_ref, fabs(r));
        max_err = fmax(max_err, fabs(o - r));
        dot += o * r;
        n_ours += o * o;
        n_ref += r * r;
    }
    double tol = ABS_TOL * fmax(1.0, max_ref);
    int embedding = go->rank == 2 && go->numel >= 64;
    double cosine = NAN;
    if (embedding)
        cosine = (n_ours > 0 && n_ref > 0) ? dot / sqrt(n_ours * n_ref) : 0.0;
    int ok = finite && max_err <= tol && (!embedding || cosine >= COS_TOL);
    report(g, backend, go->name, max_err, tol, cosine, ok, finite ? NULL : "non-finite output");
}

/* Runs golden g on one backend configuration and checks every output. */
static void run_config(const golden *g, const vs_model *m, vs_nn_backend backend, int threads)
{
    char label[32];
    vs_runtime *rt = NULL;
    vs_err err = {{0}};
    vs_nn_model_info info;

    snprintf(label, sizeof(label), "%s/%d", backend == VS_NN_BACKEND_REF ? "ref" : "xnnpack",
             threads);
    if (vs_nn_runtime_new(m, backend, threads, &rt, &err) != VS_OK) {
        report(g, label, "(runtime)", NAN, NAN, NAN, 0, err.msg);
        return;
    }
    float *in = vs_nn_input(rt, 0);
    for (size_t i = 0; i < g->in_numel; i++) {
        float v = (float)g->input[i] * g->scale; /* two roundings, as TFJS's mul then add */
        in[i] = v + g->offset;
    }
    if (vs_nn_run(rt, &err) != VS_OK) {
        report(g, label, "(run)", NAN, NAN, NAN, 0, err.msg);
        goto out;
    }
    vs_nn_model_info_get(m, &info);
    for (int k = 0; k < g->n_outputs; k++) {
        const golden_output *go = &g->out[k];
        int idx = find_output(m, info.n_outputs, go->name);
        if (idx < 0) {
            report(g, label, go->name, NAN, NAN, NAN, 0, "no such output");
            continue;
        }
        vs_nn_tensor_info t = vs_nn_output_info(m, idx);
        if (tensor_numel(&t) != go->numel) {
            report(g, label, go->name, NAN, NAN, NAN, 0, "element count differs");
            continue;
        }
        check_output(g, label, go, vs_nn_output(rt, idx));
    }
out:
    vs_nn_runtime_free(rt);
}

/* Whether the engine's model table (vs_nn_model_names) has `name`. */
static int engine_knows(const char *name)
{
    for (const char *const *n = vs_nn_model_names(); n && *n; n++)
        if (strcmp(*n, name) == 0)
            return 1;
    return 0;
}

/* Loads the model of golden g and checks it on every backend configuration.  A golden for a
 * model the engine does not list yet (another format's goldens land before its loader) is
 * skipped, loudly; a listed model that fails to load fails. */
static void check_golden(const golden *g, const char *models_dir)
{
    const char *extra[MAX_OUTPUTS + 1];
    vs_model *m = NULL;
    vs_err err = {{0}};

    if (!engine_knows(g->model)) {
        printf("%-22s %-10s %-34s %11s %11s %10s  SKIP  not in the engine's model table yet\n",
               g->model, "-", "-", "-", "-", "-");
        g_skipped++;
        return;
    }
    for (int k = 0; k < g->n_outputs; k++)
        extra[k] = g->out[k].name;
    extra[g->n_outputs] = NULL;
    if (vs_nn_model_load(models_dir, g->model, extra, &m, &err) != VS_OK) {
        report(g, "-", "(load)", NAN, NAN, NAN, 0, err.msg);
        return;
    }
    vs_nn_tensor_info in = vs_nn_input_info(m, 0);
    if (tensor_numel(&in) != g->in_numel) {
        report(g, "-", "(input)", NAN, NAN, NAN, 0, "input element count differs");
    } else {
        run_config(g, m, VS_NN_BACKEND_REF, 1);
        run_config(g, m, VS_NN_BACKEND_XNNPACK, 1);
        run_config(g, m, VS_NN_BACKEND_XNNPACK, 2);
    }
    vs_nn_model_free(m);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names of the folders of root that hold a meta.json.  OUT: *n. */
static char **list_goldens(const char *root, int *n)
{
    DIR *d = opendir(root);
    struct dirent *e;
    char **names = NULL, path[1024];
    int cap = 0;

    *n = 0;
    if (!d)
        return NULL;
    while ((e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof(path), "%s/%s/meta.json", root, e->d_name) >= (int)sizeof(path) ||
            stat(path, &st) != 0)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            char **grown = realloc(names, (size_t)cap * sizeof(*names));
            if (!grown)
                break;
            names = grown;
        }
        names[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (names)
        qsort(names, (size_t)*n, sizeof(*names), cmp_str);
    return names;
}

static int wanted(const char *dir, const char *model, int argc, char **argv)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], dir) == 0 || strcmp(argv[i], model) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *root = getenv("VISAGE_GOLDEN") ? getenv("VISAGE_GOLDEN") : "tests/golden";
    const char *models = getenv("VISAGE_MODELS") ? getenv("VISAGE_MODELS") : "models";
    struct stat st;
    int n = 0, ran = 0;
    char **dirs = list_goldens(root, &n);

    if (n == 0) {
        printf("SKIP: test_golden: no %s/*/meta.json (run from the repository root)\n", root);
        return EXIT_SKIP;
    }
    if (stat(models, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("SKIP: test_golden: no models directory %s (run scripts/setup.sh)\n", models);
        return EXIT_SKIP;
    }
    printf("%-22s %-10s %-34s %11s %11s %10s  %s\n", "model", "backend", "output", "max err",
           "tolerance", "cosine", "result");
    for (int i = 0; i < n; i++) {
        char dir[1024];
        golden g;
        memset(&g, 0, sizeof(g));
        if (path_join(dir, sizeof(dir), root, dirs[i]) != 0 || golden_load(dir, &g) != 0) {
            printf("%-22s %-10s %-34s %11s %11s %10s  FAIL  bad golden files\n", dirs[i], "-", "-",
                   "-", "-", "-");
            g_failed++;
        } else if (wanted(dirs[i], g.model, argc, argv)) {
            check_golden(&g, models);
            ran++;
        }
        golden_free(&g);
        free(dirs[i]);
    }
    free(dirs);
    if (ran == 0 && g_failed == 0) {
        printf("SKIP: test_golden: no golden matches the models named on the command line\n");
        return EXIT_SKIP;
    }
    printf("test_golden: %d passed, %d failed, %d skipped\n", g_passed, g_failed, g_skipped);
    if (g_failed == 0 && g_passed == 0) {
        printf("SKIP: test_golden: every golden was skipped\n");
        return EXIT_SKIP;
    }
    return g_failed ? 1 : 0;
}

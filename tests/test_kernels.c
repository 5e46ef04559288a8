/*
 * test_kernels.c - checks every reference kernel (src/nn/kernels_ref.c) against TensorFlow.js.
 *
 * The cases and their reference outputs come from tests/golden/gen_ops.js, which ran each op on
 * tfjs's CPU backend and wrote tests/golden/ops/index.json plus raw float32 tensors.  For each
 * case we build the vs_node by hand from the index (padding as tfjs computed it), run
 * vs_ref_run() and compare with a normalised error, max |ours - ref| / max(1, max |ref|), which
 * must stay within 1e-5.  The output buffer starts as NaN, so an element a kernel forgot to write
 * fails the case.  A few behaviours that golden data cannot show (aliasing, refusals) are checked
 * directly.  Run from the repository root; exits non-zero on any failure.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kernels.h"

#define GOLDEN_DIR "tests/golden/ops"
#define TOL 1e-5

/* libuv-style assertions that print both sides; they fail the current test function. */
#define ASSERT_EQ_INT(a, b)                                                                        \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "%s:%d: ASSERT_EQ(%s, %s) failed: %lld != %lld\n", __FILE__, __LINE__, \
                    #a, #b, a_, b_);                                                               \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#define ASSERT_LE_DBL(a, b)                                                                        \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(a_ <= b_)) {                                                                         \
            fprintf(stderr, "%s:%d: ASSERT_LE(%s, %s) failed: %g > %g\n", __FILE__, __LINE__, #a,  \
                    #b, a_, b_);                                                                   \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#define ASSERT_TRUE(c)                                                                             \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: ASSERT(%s) failed\n", __FILE__, __LINE__, #c);                 \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static const char *const op_names[] = {
#define OP_NAME(name, str) #name,
    VS_OP_MAP(OP_NAME)
#undef OP_NAME
};

static const char *const act_names[] = {"NONE",  "RELU",       "RELU6",  "CLAMP",
                                        "PRELU", "LEAKY_RELU", "SIGMOID"};

static int name_index(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0)
            return i;
    }
    return -1;
}

static int64_t numel(const vs_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
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
            buf[n] = '\0';
            *len = (size_t)n;
        }
    }
    fclose(f);
    return buf;
}

/* Reads a JSON int array of at most max entries into out; returns the count or -1. */
static int json_ints(const cJSON *arr, int64_t *out, int max)
{
    int n = 0;
    const cJSON *it;
    if (!cJSON_IsArray(arr))
        return -1;
    cJSON_ArrayForEach(it, arr)
    {
        if (n >= max || !cJSON_IsNumber(it))
            return -1;
        out[n++] = (int64_t)it->valuedouble;
    }
    return n;
}

static int json_shape(const cJSON *arr, vs_shape *s)
{
    memset(s, 0, sizeof *s);
    s->rank = json_ints(arr, s->dim, VS_MAX_DIMS);
    return s->rank < 0 ? -1 : 0;
}

/* Loads a tensor {"shape", "file"} of the index; the caller frees view->data. */
static int load_tensor(const cJSON *t, vs_tview *view)
{
    char path[512];
    size_t len = 0;
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(t, "file");
    if (json_shape(cJSON_GetObjectItemCaseSensitive(t, "shape"), &view->shape) != 0 ||
        !cJSON_IsString(file))
        return -1;
    snprintf(path, sizeof path, "%s/%s", GOLDEN_DIR, file->valuestring);
    view->data = (float *)read_file(path, &len);
    if (!view->data || len != (size_t)numel(&view->shape) * sizeof(float)) {
        fprintf(stderr, "%s: missing or wrong size\n", path);
        free(view->data);
        view->data = NULL;
        return -1;
    }
    return 0;
}

/* Copies up to n (<= VS_MAX_DIMS) ints of attribute key into dst (keeps dst's defaults when
 * absent). */
static void attr_ints(const cJSON *attrs, const char *key, int *dst, int n)
{
    int64_t v[VS_MAX_DIMS];
    int got = json_ints(cJSON_GetObjectItemCaseSensitive(attrs, key), v, n);
    for (int i = 0; i < got; i++)
        dst[i] = (int)v[i];
}

static double attr_num(const cJSON *attrs, const char *key, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(attrs, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static const char *attr_str(const cJSON *attrs, const char *key, const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(attrs, key);
    return cJSON_IsString(v) ? v->valuestring : def;
}

/* Fills node n from a case's op name and attributes, as a loader plus shape inference would. */
static int node_from_case(const cJSON *c, vs_node *n)
{
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(c, "op");
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(c, "attrs");
    const cJSON *pads = cJSON_GetObjectItemCaseSensitive(attrs, "pads");
    const cJSON *it;
    int64_t v[VS_MAX_DIMS];
    int k;

    memset(n, 0, sizeof *n);
    if (!cJSON_IsString(op) || (k = name_index(op->valuestring, op_names, VS_OP_COUNT)) < 0)
        return -1;
    n->op = (vs_op)k;
    n->stride[0] = n->stride[1] = n->dilation[0] = n->dilation[1] = 1;
    n->ksize[0] = n->ksize[1] = 1;
    attr_ints(attrs, "stride", n->stride, 2);
    attr_ints(attrs, "dilation", n->dilation, 2);
    attr_ints(attrs, "ksize", n->ksize, 2);
    attr_ints(attrs, "pad", n->pad, 4);
    attr_ints(attrs, "perm", n->perm, VS_MAX_DIMS);
    const char *pm = attr_str(attrs, "padmode", "VALID");
    n->padmode = strcmp(pm, "SAME") == 0       ? VS_PAD_SAME
                 : strcmp(pm, "EXPLICIT") == 0 ? VS_PAD_EXPLICIT
                                               : VS_PAD_VALID;
    if ((k = name_index(attr_str(attrs, "act", "NONE"), act_names, 7)) < 0)
        return -1;
    n->act = (vs_act)k;
    n->act_min = (float)attr_num(attrs, "act_min", 0);
    n->act_max = (float)attr_num(attrs, "act_max", 0);
    n->alpha = (float)attr_num(attrs, "alpha", 0);
    n->transpose_a = (int)attr_num(attrs, "transpose_a", 0);
    n->transpose_b = (int)attr_num(attrs, "transpose_b", 0);
    n->axis = (int)attr_num(attrs, "axis", 0);
    n->axes_mask = (uint32_t)attr_num(attrs, "axes_mask", 0);
    n->keepdims = (int)attr_num(attrs, "keepdims", 0);
    n->pad_value = (float)attr_num(attrs, "pad_value", 0);
    n->out_h = (int)attr_num(attrs, "out_h", 0);
    n->out_w = (int)attr_num(attrs, "out_w", 0);
    n->align_corners = (int)attr_num(attrs, "align_corners", 0);
    n->half_pixel_centers = (int)attr_num(attrs, "half_pixel_centers", 0);
    json_ints(cJSON_GetObjectItemCaseSensitive(attrs, "begin"), n->begin, VS_MAX_DIMS);
    json_ints(cJSON_GetObjectItemCaseSensitive(attrs, "size"), n->size, VS_MAX_DIMS);
    if (json_shape(cJSON_GetObjectItemCaseSensitive(attrs, "new_shape"), &n->new_shape) != 0)
        n->new_shape.rank = 0;
    k = 0;
    cJSON_ArrayForEach(it, pads)
    {
        if (k >= VS_MAX_DIMS || json_ints(it, v, 2) != 2)
            return -1;
        n->pads[k][0] = v[0];
        n->pads[k][1] = v[1];
        k++;
    }
    return 0;
}

/* max |got - ref| / max(1, max |ref|); infinite when a value is NaN in one and not the other. */
static double normalised_error(const float *got, const float *ref, int64_t len)
{
    double maxdiff = 0.0, maxref = 1.0;
    for (int64_t i = 0; i < len; i++) {
        if (isnan(got[i]) || isnan(ref[i])) {
            if (isnan(got[i]) != isnan(ref[i]))
                return INFINITY;
            continue;
        }
        double d = fabs((double)got[i] - (double)ref[i]);
        maxdiff = d > maxdiff ? d : maxdiff;
        maxref = fabs(ref[i]) > maxref ? fabs(ref[i]) : maxref;
    }
    return maxdiff / maxref;
}

/* Worst error seen per op, for the summary. */
static double op_worst[VS_OP_COUNT];
static int op_cases[VS_OP_COUNT];

/* Runs one golden case: returns 0 when it matches tfjs. */
static int run_case(const cJSON *c)
{
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(c, "inputs");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
    const cJSON *it;
    vs_tview in[VS_MAX_IN], ref = {0}, out = {0};
    vs_node n;
    int rc = 1, n_in = 0;

    memset(in, 0, sizeof in);
    ASSERT_TRUE(cJSON_IsString(name));
    ASSERT_EQ_INT(node_from_case(c, &n), 0);
    cJSON_ArrayForEach(it, inputs)
    {
        if (n_in >= VS_MAX_IN)
            goto out;
        n.in[n_in] = -1;
        if (!cJSON_IsNull(it)) {
            if (load_tensor(it, &in[n_in]) != 0)
                goto out;
            n.in[n_in] = n_in;
        }
        n_in++;
    }
    n.n_in = n_in;
    if (load_tensor(cJSON_GetObjectItemCaseSensitive(c, "output"), &ref) != 0)
        goto out;
    out.shape = ref.shape;
    int64_t len = numel(&ref.shape);
    out.data = malloc((size_t)(len > 0 ? len : 1) * sizeof(float));
    if (!out.data)
        goto out;
    for (int64_t i = 0; i < len; i++)
        out.data[i] = NAN;

    vs_status st = vs_ref_run(&n, in, &out);
    double err = st == VS_OK ? normalised_error(out.data, ref.data, len) : INFINITY;
    rc = !(err <= TOL);
    printf("%-4s %-16s %-28s err %.3g%s%s\n", rc ? "FAIL" : "PASS", op_names[n.op],
           name->valuestring, err, st == VS_OK ? "" : " status ",
           st == VS_OK ? "" : vs_status_str(st));
    if (!(err <= op_worst[n.op]))
        op_worst[n.op] = err;
    op_cases[n.op]++;
out:
    for (int i = 0; i < VS_MAX_IN; i++)
        free(in[i].data);
    free(ref.data);
    free(out.data);
    return rc;
}

static int kernels_match_tfjs_golden(void)
{
    size_t len = 0;
    char *text = read_file(GOLDEN_DIR "/index.json", &len);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    const cJSON *c;
    int failed = 0, total = 0;

    free(text);
    if (!root) {
        fprintf(stderr, "cannot read %s/index.json (run from the repository root)\n", GOLDEN_DIR);
        return 1;
    }
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases"))
    {
        failed += run_case(c);
        total++;
    }
    cJSON_Delete(root);
    printf("\nworst normalised error per op (tolerance %g):\n", TOL);
    for (int op = 0; op < VS_OP_COUNT; op++) {
        if (op_cases[op] > 0)
            printf("  %-16s %3d cases  %.3g\n", op_names[op], op_cases[op], op_worst[op]);
    }
    printf("%d of %d golden cases failed\n", failed, total);
    ASSERT_TRUE(total > 100);
    ASSERT_EQ_INT(failed, 0);
    return 0;
}

/* An alias op whose output already shares the input's storage leaves it untouched. */
static int reshape_in_place_keeps_data(void)
{
    float buf[6] = {1, 2, 3, 4, 5, 6};
    vs_node n = {.op = VS_OP_RESHAPE, .n_in = 1};
    vs_tview in = {buf, {2, {2, 3}}}, out = {buf, {3, {3, 2, 1}}};
    ASSERT_EQ_INT(vs_ref_run(&n, &in, &out), VS_OK);
    for (int i = 0; i < 6; i++)
        ASSERT_LE_DBL(fabs(buf[i] - (float)(i + 1)), 0.0);
    return 0;
}

/* Graph inputs and constants are not computed by kernels. */
static int input_and_const_are_unsupported(void)
{
    float buf[1] = {0};
    vs_tview out = {buf, {1, {1}}};
    vs_node n = {.op = VS_OP_INPUT};
    ASSERT_EQ_INT(vs_ref_run(&n, NULL, &out), VS_UNSUPPORTED);
    n.op = VS_OP_CONST;
    ASSERT_EQ_INT(vs_ref_run(&n, NULL, &out), VS_UNSUPPORTED);
    return 0;
}

/* Shapes that do not fit together are refused instead of read out of bounds. */
static int mismatched_shapes_are_rejected(void)
{
    float a[12] = {0}, b[12] = {0}, y[12] = {0};
    vs_tview in[4] = {{a, {2, {3, 4}}}, {b, {1, {3}}}};
    vs_tview out = {y, {2, {3, 4}}};
    vs_node n = {.op = VS_OP_ADD, .n_in = 2, .in = {0, 1}};
    ASSERT_EQ_INT(vs_ref_run(&n, in, &out), VS_INVAL); /* [3,4] + [3] */

    /* Conv filter with 2 input channels against a 3-channel input. */
    n = (vs_node){
        .op = VS_OP_CONV2D, .n_in = 2, .in = {0, 1}, .stride = {1, 1}, .dilation = {1, 1}};
    in[0] = (vs_tview){a, {4, {1, 2, 2, 3}}};
    in[1] = (vs_tview){b, {4, {1, 1, 2, 2}}};
    out = (vs_tview){y, {4, {1, 2, 2, 2}}};
    ASSERT_EQ_INT(vs_ref_run(&n, in, &out), VS_INVAL);

    /* PReLU activation without its alpha input. */
    in[1] = (vs_tview){b, {4, {1, 1, 3, 2}}};
    n.act = VS_ACT_PRELU;
    ASSERT_EQ_INT(vs_ref_run(&n, in, &out), VS_INVAL);

    /* Slice reaching past the end. */
    n = (vs_node){.op = VS_OP_SLICE, .n_in = 1, .begin = {2, 0}};
    in[0] = (vs_tview){a, {2, {3, 4}}};
    out = (vs_tview){y, {2, {2, 4}}};
    ASSERT_EQ_INT(vs_ref_run(&n, in, &out), VS_INVAL);
    return 0;
}

int main(void)
{
    struct {
        const char *name;
        int (*fn)(void);
    } tests[] = {
        {"kernels_match_tfjs_golden", kernels_match_tfjs_golden},
        {"reshape_in_place_keeps_data", reshape_in_place_keeps_data},
        {"input_and_const_are_unsupported", input_and_const_are_unsupported},
        {"mismatched_shapes_are_rejected", mismatched_shapes_are_rejected},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int rc = tests[i].fn();
        printf("%s %s\n", rc ? "not ok" : "ok", tests[i].name);
        failed += rc != 0;
    }
    return failed ? 1 : 0;
}

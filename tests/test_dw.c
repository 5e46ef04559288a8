/*
 * test_dw.c - checks the fast depthwise convolution (src/nn/kernels_dw.c) against the reference
 * kernel (vs_ref_run in src/nn/kernels_ref.c, itself checked against TensorFlow.js by
 * test_kernels.c) on a table of shapes, kernels, strides, paddings, activations and biases.
 *
 * Every case runs both kernels on the same pseudo-random input, filter, bias and PReLU slopes,
 * with padding filled as shape inference fills it (SAME by TF's rule), and requires a normalised
 * error max |ours - ref| / max(1, max |ref|) <= 1e-5.  Inputs and outputs are heap blocks of
 * exactly their size (so ASan sees any read past the last pixel) and the output starts as NaN (so
 * an element the kernel forgot to write fails).  The multi-threaded run must equal the
 * single-threaded one bit for bit, and nodes the kernel does not implement must be refused.
 * Run from anywhere; exits non-zero on any failure.
 */
#include <math.h>
#include <pthreadpool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/kernels_dw.h"

#define TOL 1e-5

#define ASSERT_EQ_INT(a, b)                                                                        \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "%s:%d: ASSERT_EQ(%s, %s) failed: %lld != %lld\n", __FILE__, __LINE__, \
                    #a, #b, a_, b_);                                                               \
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

enum { PAD_SAME, PAD_VALID, PAD_ASYM, PAD_KINDS };

/* One case of the table. */
typedef struct dw_case {
    int h, w, c, k, stride, pad, bias; /* bias: 0 none, 1 per channel, 2 one for all */
    vs_act act;
} dw_case;

/* The tensors of one case; every pointer malloc'd to its exact size. */
typedef struct dw_bufs {
    vs_node n;
    vs_tview in[4];
    vs_tview out;
    float *ref;
    size_t out_n;
} dw_bufs;

static uint32_t rng_state = 12345u;

/* Uniform in [lo, hi), from a fixed-seed LCG so that failures reproduce. */
static float rnd(float lo, float hi)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(rng_state >> 8) / 16777216.0f;
}

static float *rnd_buf(size_t n, float lo, float hi)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (p) {
        for (size_t i = 0; i < n; i++)
            p[i] = rnd(lo, hi);
    }
    return p;
}

static vs_shape shape4(int64_t a, int64_t b, int64_t c, int64_t d)
{
    return (vs_shape){4, {a, b, c, d}};
}

/* TF's padding for one dimension (graph.h, VS_PAD_SAME), or the case's explicit one.  Returns the
 * output size, or 0 when the window does not fit. */
static int pad_dim(int in, int k, int s, int kind, int lo_hint, int *lo, int *hi)
{
    if (kind == PAD_SAME) {
        int out = (in + s - 1) / s;
        int total = (out - 1) * s + k - in;
        total = total > 0 ? total : 0;
        *lo = total / 2;
        *hi = total - *lo;
    } else if (kind == PAD_VALID) {
        *lo = *hi = 0;
    } else { /* asymmetric: more on one side than the other, as some ONNX models have */
        *lo = lo_hint;
        *hi = k - 1 - lo_hint + 1;
    }
    if (in + *lo + *hi < k)
        return 0;
    return (in + *lo + *hi - k) / s + 1;
}

static void bufs_free(dw_bufs *b)
{
    for (int i = 0; i < 4; i++)
        free(b->in[i].data);
    free(b->out.data);
    free(b->ref);
    memset(b, 0, sizeof *b);
}

/* Builds the node and tensors of case t.  Returns 0, or 1 when the case does not fit (skip), or
 * -1 on OOM. */
static int bufs_make(const dw_case *t, dw_bufs *b)
{
    memset(b, 0, sizeof *b);
    vs_node *n = &b->n;
    n->op = VS_OP_DWCONV2D;
    n->n_in = 4;
    n->in[0] = 0;
    n->in[1] = 1;
    n->in[2] = t->bias ? 2 : -1;
    n->in[3] = t->act == VS_ACT_PRELU ? 3 : -1;
    n->stride[0] = n->stride[1] = t->stride;
    n->dilation[0] = n->dilation[1] = 1;
    n->ksize[0] = n->ksize[1] = t->k;
    n->padmode = t->pad == PAD_SAME    ? VS_PAD_SAME
                 : t->pad == PAD_VALID ? VS_PAD_VALID
                                       : VS_PAD_EXPLICIT;
    n->act = t->act;
    n->act_min = -0.25f;
    n->act_max = 0.5f;
    n->alpha = 0.2f;
    int oh = pad_dim(t->h, t->k, t->stride, t->pad, 0, &n->pad[0], &n->pad[1]);
    int ow = pad_dim(t->w, t->k, t->stride, t->pad, t->k / 2 + 1, &n->pad[2], &n->pad[3]);
    if (oh == 0 || ow == 0)
        return 1;

    size_t xn = (size_t)t->h * t->w * t->c, fn = (size_t)t->k * t->k * t->c;
    b->out_n = (size_t)oh * ow * t->c;
    b->in[0] = (vs_tview){rnd_buf(xn, -1.0f, 1.0f), shape4(1, t->h, t->w, t->c)};
    b->in[1] = (vs_tview){rnd_buf(fn, -1.0f, 1.0f), shape4(t->k, t->k, t->c, 1)};
    if (t->bias)
        b->in[2] = (vs_tview){rnd_buf(t->bias == 1 ? (size_t)t->c : 1, -0.5f, 0.5f),
                              (vs_shape){1, {t->bias == 1 ? t->c : 1}}};
    if (t->act == VS_ACT_PRELU)
        b->in[3] = (vs_tview){rnd_buf((size_t)t->c, 0.0f, 0.5f), (vs_shape){1, {t->c}}};
    b->out = (vs_tview){malloc(b->out_n * sizeof(float)), shape4(1, oh, ow, t->c)};
    b->ref = malloc(b->out_n * sizeof(float));
    if (!b->in[0].data || !b->in[1].data || (t->bias && !b->in[2].data) ||
        (t->act == VS_ACT_PRELU && !b->in[3].data) || !b->out.data || !b->ref)
        return -1;
    return 0;
}

/* max |a - b| / max(1, max |b|); NaN anywhere gives +inf. */
static double norm_err(const float *a, const float *b, size_t n)
{
    double worst = 0.0, scale = 1.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d))
            return INFINITY;
        worst = d > worst ? d : worst;
        scale = fabs(b[i]) > scale ? fabs(b[i]) : scale;
    }
    return worst / scale;
}

static void fill_nan(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
}

/* Runs case t on ours (with pool) and the reference; 0 when they agree. */
static int run_case(const dw_case *t, pthreadpool_t pool)
{
    dw_bufs b;
    int r = bufs_make(t, &b);
    if (r != 0) {
        bufs_free(&b);
        return r < 0;
    }
    vs_tview ref_out = {b.ref, b.out.shape};
    fill_nan(b.out.data, b.out_n);
    fill_nan(b.ref, b.out_n);
    vs_status s_ref = vs_ref_run(&b.n, b.in, &ref_out);
    vs_status s_dw = vs_dw_conv(&b.n, b.in, &b.out, pool);
    double err = s_dw == VS_OK && s_ref == VS_OK ? norm_err(b.out.data, b.ref, b.out_n) : 1.0;

    /* The same node through a plan (packed filter), into a fresh NaN-filled output. */
    vs_dw_plan *plan = NULL;
    vs_status s_plan = vs_dw_plan_new(&b.n, b.in, &b.out, &plan);
    fill_nan(b.out.data, b.out_n);
    if (s_plan == VS_OK)
        s_plan = vs_dw_plan_run(plan, b.in[0].data, b.out.data, pool);
    double err_plan =
        s_plan == VS_OK && s_ref == VS_OK ? norm_err(b.out.data, b.ref, b.out_n) : 1.0;
    vs_dw_plan_free(plan);

    int bad =
        s_ref != VS_OK || s_dw != VS_OK || s_plan != VS_OK || !(err <= TOL) || !(err_plan <= TOL);
    if (bad)
        fprintf(stderr,
                "case h=%d w=%d c=%d k=%d s=%d pad=%d (%d,%d,%d,%d) act=%d bias=%d: ref %s, "
                "dw %s err %g, plan %s err %g\n",
                t->h, t->w, t->c, t->k, t->stride, t->pad, b.n.pad[0], b.n.pad[1], b.n.pad[2],
                b.n.pad[3], (int)t->act, t->bias, vs_status_str(s_ref), vs_status_str(s_dw), err,
                vs_status_str(s_plan), err_plan);
    bufs_free(&b);
    return bad;
}

static const int chans[] = {1, 3, 8, 13, 16, 24, 32, 48, 64, 96, 100, 128, 256, 520};
static const int sizes[] = {1, 2, 5, 7, 16, 17, 33, 64};
#define N_CHANS (int)(sizeof chans / sizeof chans[0])
#define N_SIZES (int)(sizeof sizes / sizeof sizes[0])

/* Every channel count x every height x both kernels x both strides x three paddings; the width,
 * activation and bias rotate through their lists so that each value meets many others. */
static int dw_matches_reference_on_shape_table(void)
{
    pthreadpool_t pool = NULL;
    int total = 0, failed = 0, rot = 0;
    for (int ci = 0; ci < N_CHANS; ci++) {
        for (int hi = 0; hi < N_SIZES; hi++) {
            for (int g = 0; g < 2 * 2 * PAD_KINDS; g++, rot++) {
                dw_case t = {.h = sizes[hi],
                             .w = sizes[(hi + 3 * ci + g) % N_SIZES],
                             .c = chans[ci],
                             .k = g % 2 ? 5 : 3,
                             .stride = (g / 2) % 2 ? 2 : 1,
                             .pad = g / 4,
                             .bias = rot % 3,
                             .act = (vs_act)(rot % 6)};
                /* Keep the reference's run time modest: big planes only with few channels. */
                if ((int64_t)t.h * t.w * t.c > 64 * 64 * 64)
                    t.h = 17;
                failed += run_case(&t, pool);
                total++;
            }
        }
    }
    fprintf(stderr, "shape table: %d cases, %d failed\n", total, failed);
    ASSERT_TRUE(total >= 1000);
    ASSERT_EQ_INT(failed, 0);
    return 0;
}

/* Every activation with every bias kind on the shapes of blazeface's first layers and on the
 * scalar (C < 8) and overlapping-tail (C = 13, 28) paths. */
static int dw_matches_reference_for_each_activation(void)
{
    static const dw_case shapes[] = {
        {.h = 33, .w = 33, .c = 24, .k = 3, .stride = 1, .pad = PAD_SAME},
        {.h = 32, .w = 32, .c = 28, .k = 3, .stride = 2, .pad = PAD_SAME},
        {.h = 17, .w = 16, .c = 13, .k = 5, .stride = 1, .pad = PAD_ASYM},
        {.h = 7, .w = 9, .c = 3, .k = 3, .stride = 2, .pad = PAD_VALID},
        {.h = 12, .w = 20, .c = 42, .k = 5, .stride = 2, .pad = PAD_SAME},
        {.h = 9, .w = 9, .c = 20, .k = 7, .stride = 1, .pad = PAD_SAME},  /* general kernel */
        {.h = 9, .w = 11, .c = 16, .k = 3, .stride = 3, .pad = PAD_ASYM}, /* general stride */
    };
    int failed = 0, total = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        for (int act = VS_ACT_NONE; act <= VS_ACT_LEAKY_RELU; act++) {
            for (int bias = 0; bias < 3; bias++) {
                dw_case t = shapes[i];
                t.act = (vs_act)act;
                t.bias = bias;
                failed += run_case(&t, NULL);
                total++;
            }
        }
    }
    fprintf(stderr, "activations: %d cases, %d failed\n", total, failed);
    ASSERT_EQ_INT(failed, 0);
    return 0;
}

/* Rows split over a 2-thread pool give exactly the single-thread result. */
static int dw_threads_give_identical_output(void)
{
    pthreadpool_t pool = pthreadpool_create(2);
    ASSERT_TRUE(pool != NULL);
    dw_case t = {.h = 40,
                 .w = 37,
                 .c = 36,
                 .k = 3,
                 .stride = 1,
                 .pad = PAD_SAME,
                 .bias = 1,
                 .act = VS_ACT_RELU6};
    dw_bufs b;
    int r = bufs_make(&t, &b);
    int ok = r == 0;
    if (ok) {
        ok = vs_dw_conv(&b.n, b.in, &b.out, NULL) == VS_OK;
        memcpy(b.ref, b.out.data, b.out_n * sizeof(float));
        fill_nan(b.out.data, b.out_n);
        ok = ok && vs_dw_conv(&b.n, b.in, &b.out, pool) == VS_OK;
        ok = ok && memcmp(b.ref, b.out.data, b.out_n * sizeof(float)) == 0;
    }
    bufs_free(&b);
    pthreadpool_destroy(pool);
    ASSERT_TRUE(ok);
    return 0;
}

/* Depth multiplier > 1, dilation and sigmoid are refused (the runtime then runs another kernel);
 * shapes that disagree with the padding are invalid. */
static int dw_refuses_what_it_does_not_implement(void)
{
    dw_case t = {.h = 8, .w = 8, .c = 8, .k = 3, .stride = 1, .pad = PAD_SAME};
    dw_bufs b;
    ASSERT_EQ_INT(bufs_make(&t, &b), 0);
    ASSERT_EQ_INT(vs_dw_check(&b.n, b.in, &b.out), VS_OK);

    b.n.dilation[0] = 2;
    ASSERT_EQ_INT(vs_dw_conv(&b.n, b.in, &b.out, NULL), VS_UNSUPPORTED);
    b.n.dilation[0] = 1;
    b.n.act = VS_ACT_SIGMOID;
    ASSERT_EQ_INT(vs_dw_check(&b.n, b.in, &b.out), VS_UNSUPPORTED);
    b.n.act = VS_ACT_PRELU; /* without alpha */
    ASSERT_EQ_INT(vs_dw_check(&b.n, b.in, &b.out), VS_INVAL);
    b.n.act = VS_ACT_NONE;
    b.n.op = VS_OP_CONV2D;
    ASSERT_EQ_INT(vs_dw_check(&b.n, b.in, &b.out), VS_UNSUPPORTED);
    b.n.op = VS_OP_DWCONV2D;

    vs_tview saved = b.in[1];
    b.in[1].shape = shape4(3, 3, 4, 2); /* same element count, M = 2 */
    ASSERT_EQ_INT(vs_dw_check(&b.n, b.in, &b.out), VS_UNSUPPORTED);
    b.in[1] = saved;

    b.n.pad[1] = 3; /* the output shape no longer follows from the padding */
    ASSERT_EQ_INT(vs_dw_conv(&b.n, b.in, &b.out, NULL), VS_INVAL);
    vs_dw_plan *plan = (vs_dw_plan *)&b; /* must be reset to NULL on failure */
    ASSERT_EQ_INT(vs_dw_plan_new(&b.n, b.in, &b.out, &plan), VS_INVAL);
    ASSERT_TRUE(plan == NULL);
    bufs_free(&b);
    return 0;
}

int main(void)
{
    int fails = 0;
    fails += dw_matches_reference_on_shape_table();
    fails += dw_matches_reference_for_each_activation();
    fails += dw_threads_give_identical_output();
    fails += dw_refuses_what_it_does_not_implement();
    if (fails)
        fprintf(stderr, "test_dw: %d test(s) FAILED\n", fails);
    else
        fprintf(stderr, "test_dw: all tests passed\n");
    return fails ? 1 : 0;
}

/*
 * kernels_ew.c - element-wise kernels of our own for what Debian's XNNPACK 2022 cannot run, or
 * runs in several passes over memory or with a large cost per row:
 *   - TANH and EXP: XNNPACK has no f32 operator for either, and the reference kernels (libm in
 *     double, correctly rounded) were the slowest nodes of SSR-Net (fr_age, fr_gender: tanh) and
 *     of the box decoding of fr_detect (exp);
 *   - SOFTMAX over rows of fewer than SOFTMAX_NARROW channels (fr_detect's 4420 rows of two
 *     scores), where XNNPACK calls three micro-kernels per row;
 *   - AFFINE: a batch-norm (+ ReLU) over a concat, DenseNet's pre-activation (fr_expression),
 *     which would otherwise be a concat copy, a multiply and an add.
 *
 * DESIGN NOTES
 *   1. Vectors of VW = 8 floats through GCC's vector extensions, as kernels_dw.c; the hot
 *      functions are compiled for x86-64-v4, v3 and baseline (target_clones).
 *   2. tanh and exp allow fused multiply-adds (fp-contract=fast), so their last bits depend on
 *      the clone.  AFFINE does not: it rounds after the multiply and after the add, exactly as
 *      the reference (kernels_ref.c) and the MUL and ADD nodes it replaces, so it matches them bit
 *      for bit.
 *   3. A tail shorter than a vector goes through the same formula (the vector code on a
 *      zero-padded copy), so every element gets the same result wherever it lies.
 *   4. Work is split over the pool in blocks of about EW_BLOCK elements (a multiple of VW), or of
 *      whole rows for the row-wise kernels.
 */
#include "kernels_ew.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
/* The vector helpers are always inlined, so no vector crosses a real call (see kernels_dw.c). */
#pragma GCC diagnostic ignored "-Wpsabi"
#elif defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi"
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define EW_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define EW_CLONES
#endif

#define EW_INLINE static inline __attribute__((always_inline))

enum { VW = 8, EW_BLOCK = 4096, SOFTMAX_NARROW = 8 };

typedef float v8f __attribute__((vector_size(VW * sizeof(float))));
typedef int32_t v8i __attribute__((vector_size(VW * sizeof(int32_t))));

/* m ? a : b, lane by lane (m all ones or all zeros); a macro for the reason kernels_dw.c gives. */
#define VSEL(m, a, b) ((v8f)(((m) & (v8i)(a)) | (~(m) & (v8i)(b))))

EW_INLINE v8f vsplat(float a)
{
    return (v8f){0} + a;
}

/* ---- tanh and exp -------------------------------------------------------------------------- */

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
#endif

/*
 * Eigen's generic_fast_tanh_float (also onnxruntime's MlasComputeTanh): p(x) / q(x) on x clamped
 * to +-7.99881172, where the approximation reaches 1 - 2^-24; below |x| = 0.0004, x itself.
 * The clamp is written with comparisons that are false for NaN, so NaN propagates.  Takes its
 * argument by address: GCC notes an ABI change for any function with a 32-byte vector parameter.
 */
EW_INLINE v8f tanh_vec(const v8f *ap)
{
    const v8f a = *ap;
    const v8f hi = vsplat(7.99881172180175781f), lo = vsplat(-7.99881172180175781f);
    const v8f x = VSEL(a > hi, hi, VSEL(a < lo, lo, a));
    const v8f x2 = x * x;
    v8f p = x2 * vsplat(-2.76076847742355e-16f) + vsplat(2.00018790482477e-13f);
    p = x2 * p + vsplat(-8.60467152213735e-11f);
    p = x2 * p + vsplat(5.12229709037114e-08f);
    p = x2 * p + vsplat(1.48572235717979e-05f);
    p = x2 * p + vsplat(6.37261928875436e-04f);
    p = x2 * p + vsplat(4.89352455891786e-03f);
    p = x * p;
    v8f q = x2 * vsplat(1.19825839466702e-06f) + vsplat(1.18534705686654e-04f);
    q = x2 * q + vsplat(2.26843463243900e-03f);
    q = x2 * q + vsplat(4.89352518554385e-03f);
    const v8f tiny = vsplat(0.0004f);
    return VSEL((a < tiny) & (a > -tiny), a, p / q);
}

/*
 * exp(x): x = n ln2 + r with |r| <= ln2 / 2 (ln2 in two parts, so r is exact), Cephes' degree-6
 * polynomial for e^r, then the scaling by 2^n in two halves so that results in the subnormal
 * range and overflow to inf come out right.  x is clamped to [-104, 89] first (beyond, the
 * result is 0 or inf anyway); comparisons false for NaN let NaN through.
 */
EW_INLINE v8f exp_vec(const v8f *ap)
{
    const v8f a = *ap;
    const v8f x =
        VSEL(a > vsplat(89.0f), vsplat(89.0f), VSEL(a < vsplat(-104.0f), vsplat(-104.0f), a));
    /* Round x / ln2 to the nearest integer with the 1.5 * 2^23 trick: n sits in t's low bits. */
    const v8f magic = vsplat(12582912.0f);
    const v8f t = x * vsplat(1.44269504088896341f) + magic;
    const v8f n = t - magic;
    const v8i ni = (v8i)t - (v8i)magic;
    const v8f r = (x - n * vsplat(0.693359375f)) - n * vsplat(-2.12194440e-4f);
    v8f p = r * vsplat(1.9875691500e-4f) + vsplat(1.3981999507e-3f);
    p = r * p + vsplat(8.3334519073e-3f);
    p = r * p + vsplat(4.1665795894e-2f);
    p = r * p + vsplat(1.6666665459e-1f);
    p = r * p + vsplat(5.0000001201e-1f);
    p = p * (r * r) + r + vsplat(1.0f);
    const v8i n1 = ni >> 1, n2 = ni - n1;
    return p * (v8f)((n1 + 127) << 23) * (v8f)((n2 + 127) << 23);
}

typedef enum { FN_TANH, FN_EXP } ew_fn;

/* y[i] = f(x[i]): whole vectors, then a zero-padded tail (note 3).  Always inlined into the
 * cloned wrappers below, where f is a constant. */
EW_INLINE void span(ew_fn f, const float *x, float *y, size_t n)
{
    size_t i = 0;
    for (; i + VW <= n; i += VW) {
        v8f v;
        memcpy(&v, x + i, sizeof v);
        v = f == FN_TANH ? tanh_vec(&v) : exp_vec(&v);
        memcpy(y + i, &v, sizeof v);
    }
    if (i < n) {
        v8f v = {0};
        memcpy(&v, x + i, (n - i) * sizeof(float));
        v = f == FN_TANH ? tanh_vec(&v) : exp_vec(&v);
        memcpy(y + i, &v, (n - i) * sizeof(float));
    }
}

EW_CLONES static void tanh_span(const float *x, float *y, size_t n)
{
    span(FN_TANH, x, y, n);
}

EW_CLONES static void exp_span(const float *x, float *y, size_t n)
{
    span(FN_EXP, x, y, n);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

/* ---- softmax over narrow rows --------------------------------------------------------------- */

/*
 * Rows of ch < SOFTMAX_NARROW channels, the reference's steps with exp vectorised across rows:
 * y = x - max (NaN wins the max, as in the reference), y = exp(y) over the whole block, then each
 * row's sum (in double, rounded to float, as the reference sums) divides it.
 */
static void softmax_rows(const float *x, float *y, size_t rows, size_t ch)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * ch;
        float m = xr[0];
        for (size_t c = 0; c < ch; c++)
            if (isnan(xr[c]) || xr[c] > m)
                m = xr[c];
        for (size_t c = 0; c < ch; c++)
            y[r * ch + c] = xr[c] - m;
    }
    exp_span(y, y, rows * ch);
    for (size_t r = 0; r < rows; r++) {
        float *yr = y + r * ch;
        double sum = 0.0;
        for (size_t c = 0; c < ch; c++)
            sum += yr[c];
        const float fs = (float)sum;
        for (size_t c = 0; c < ch; c++)
            yr[c] /= fs;
    }
}

/* ---- per-channel affine over concatenated inputs ------------------------------------------ */

typedef struct affine_job {
    int k;                     /* pieces */
    const float *x[VS_MAX_IN]; /* piece i: rows of w[i] channels */
    size_t w[VS_MAX_IN];
    const float *scale, *bias; /* ch each */
    float *y;                  /* rows of ch channels */
    size_t ch;
    float lo, hi; /* the clamp; -inf and inf for none */
} affine_job;

/* The reference's clamp (kernels_ref.c act_row): comparisons false for NaN, which passes. */
EW_INLINE v8f clamp_vec(const v8f *v, const v8f *lo, const v8f *hi)
{
    return VSEL(*v > *hi, *hi, VSEL(*v < *lo, *lo, *v));
}

EW_INLINE float clamp_one(float v, float lo, float hi)
{
    return v > hi ? hi : (v < lo ? lo : v);
}

EW_CLONES static void affine_rows(const affine_job *j, size_t r0, size_t nr)
{
    const v8f lo = vsplat(j->lo), hi = vsplat(j->hi);
    for (size_t r = r0; r < r0 + nr; r++) {
        float *y = j->y + r * j->ch;
        const float *s = j->scale, *b = j->bias;
        for (int i = 0; i < j->k; i++) {
            const size_t w = j->w[i];
            const float *x = j->x[i] + r * w;
            size_t c = 0;
            for (; c + VW <= w; c += VW) {
                v8f vx, vs, vb;
                memcpy(&vx, x + c, sizeof vx);
                memcpy(&vs, s + c, sizeof vs);
                memcpy(&vb, b + c, sizeof vb);
                const v8f m = vx * vs;
                const v8f v = m + vb;
                const v8f o = clamp_vec(&v, &lo, &hi);
                memcpy(y + c, &o, sizeof o);
            }
            for (; c < w; c++) {
                const float m = x[c] * s[c];
                y[c] = clamp_one(m + b[c], j->lo, j->hi);
            }
            y += w;
            s += w;
            b += w;
        }
    }
}

/* Fills j for AFFINE node n; VS_INVAL when the views disagree with each other. */
static vs_status affine_job_make(const vs_node *n, const vs_tview *in, const vs_tview *out,
                                 affine_job *j)
{
    const vs_shape *ys = &out->shape;
    const int k = n->n_in - 1;
    if (k < 1 || k > VS_MAX_IN || ys->rank < 1 || !in[k].data)
        return VS_INVAL;
    switch (n->act) {
    case VS_ACT_NONE:
        j->lo = -INFINITY;
        j->hi = INFINITY;
        break;
    case VS_ACT_RELU:
    case VS_ACT_RELU6:
        j->lo = 0.0f;
        j->hi = n->act == VS_ACT_RELU6 ? 6.0f : INFINITY;
        break;
    case VS_ACT_CLAMP:
        j->lo = n->act_min;
        j->hi = n->act_max;
        break;
    default:
        return VS_UNSUPPORTED;
    }
    j->k = k;
    j->ch = (size_t)ys->dim[ys->rank - 1];
    const size_t rows = j->ch ? (size_t)vs_shape_numel(ys) / j->ch : 0;
    size_t sum = 0;
    for (int i = 0; i < k; i++) {
        const vs_shape *s = &in[i].shape;
        if (!in[i].data || s->rank != ys->rank)
            return VS_INVAL;
        j->x[i] = in[i].data;
        j->w[i] = (size_t)s->dim[s->rank - 1];
        if ((size_t)vs_shape_numel(s) != rows * j->w[i])
            return VS_INVAL;
        sum += j->w[i];
    }
    if (sum != j->ch || (size_t)vs_shape_numel(&in[k].shape) != 2 * j->ch)
        return VS_INVAL;
    j->scale = in[k].data;
    j->bias = in[k].data + j->ch;
    j->y = out->data;
    return VS_OK;
}

/* ---- plans --------------------------------------------------------------------------------- */

struct vs_ew_plan {
    vs_op op;
    const float *x; /* TANH, EXP, SOFTMAX: the input, n elements in rows of ch */
    float *y;
    size_t n, ch;
    affine_job aff; /* AFFINE */
};

static void span_task(void *ctx, size_t start, size_t count)
{
    const vs_ew_plan *p = ctx;
    if (p->op == VS_OP_TANH)
        tanh_span(p->x + start, p->y + start, count);
    else
        exp_span(p->x + start, p->y + start, count);
}

static void softmax_task(void *ctx, size_t start, size_t count)
{
    const vs_ew_plan *p = ctx;
    softmax_rows(p->x + start * p->ch, p->y + start * p->ch, count, p->ch);
}

static void affine_task(void *ctx, size_t start, size_t count)
{
    const vs_ew_plan *p = ctx;
    affine_rows(&p->aff, start, count);
}

/* Which of this file's kernels runs n, if any: VS_OK, VS_UNSUPPORTED or VS_INVAL. */
static vs_status ew_check(const vs_node *n, const vs_tview *in, const vs_tview *out)
{
    const vs_shape *xs = &in[0].shape;
    switch (n->op) {
    case VS_OP_TANH:
    case VS_OP_EXP:
        return n->n_in >= 1 && vs_shape_numel(xs) == vs_shape_numel(&out->shape) ? VS_OK : VS_INVAL;
    case VS_OP_SOFTMAX:
        if (xs->rank < 1 || n->axis != xs->rank - 1 || xs->dim[xs->rank - 1] < 1 ||
            xs->dim[xs->rank - 1] >= SOFTMAX_NARROW)
            return VS_UNSUPPORTED;
        return vs_shape_numel(xs) == vs_shape_numel(&out->shape) ? VS_OK : VS_INVAL;
    default:
        return VS_UNSUPPORTED;
    }
}

vs_status vs_ew_plan_new(const vs_node *n, const vs_tview *in, const vs_tview *out,
                         vs_ew_plan **plan)
{
    *plan = NULL;
    affine_job aff = {0};
    vs_status st = n->op == VS_OP_AFFINE ? affine_job_make(n, in, out, &aff) : ew_check(n, in, out);
    if (st != VS_OK)
        return st;
    vs_ew_plan *p = calloc(1, sizeof *p);
    if (!p)
        return VS_NOMEM;
    const vs_shape *ys = &out->shape;
    *p = (vs_ew_plan){n->op,
                      in[0].data,
                      out->data,
                      (size_t)vs_shape_numel(ys),
                      ys->rank ? (size_t)ys->dim[ys->rank - 1] : 1,
                      aff};
    *plan = p;
    return VS_OK;
}

vs_status vs_ew_plan_run(const vs_ew_plan *p, pthreadpool_t pool)
{
    if (!p)
        return VS_INVAL;
    const size_t rows = p->ch ? p->n / p->ch : 0;
    const size_t row_tile = p->ch < EW_BLOCK ? EW_BLOCK / p->ch : 1;
    void *ctx = (void *)p; /* the tasks only read the plan */
    switch (p->op) {
    case VS_OP_AFFINE:
        if (pool && rows > row_tile)
            pthreadpool_parallelize_1d_tile_1d(pool, affine_task, ctx, rows, row_tile, 0);
        else
            affine_rows(&p->aff, 0, rows);
        break;
    case VS_OP_SOFTMAX:
        if (pool && rows > row_tile)
            pthreadpool_parallelize_1d_tile_1d(pool, softmax_task, ctx, rows, row_tile, 0);
        else
            softmax_rows(p->x, p->y, rows, p->ch);
        break;
    default:
        if (pool && p->n > EW_BLOCK)
            pthreadpool_parallelize_1d_tile_1d(pool, span_task, ctx, p->n, EW_BLOCK, 0);
        else
            span_task(ctx, 0, p->n);
        break;
    }
    return VS_OK;
}

void vs_ew_plan_free(vs_ew_plan *p)
{
    free(p);
}

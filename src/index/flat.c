/*
 * flat.c - exact float32 storage and scans of the gallery index (VS_INDEX_FLAT).
 *
 * Layout.  Vectors live in panels of 16 (VS_FLAT_LANES): panel p holds slots 16p..16p+15 as
 * dim rows of 16 floats, so element d of slot s is panels[(s / 16) * dim * 16 + d * 16 + s % 16].
 * A scan then needs no horizontal sums: for each d it broadcasts q[d] and multiplies it into the
 * 16 lanes of a panel row, accumulating 16 scores at once.  The capacity is a multiple of 64
 * slots (4 panels) and unused lanes are zero, so the scan always works on groups of 4 panels.
 *
 * Two kernels, one arithmetic.  A single query scores 4 panels at a time (8 independent FMA
 * chains of 8 lanes, enough to hide the FMA latency; the scan is bound by memory bandwidth).  A
 * batch scores tiles of 6 queries x 1 panel (12 accumulators: the register tile of a small
 * GEMM) over chunks of panels that stay in L2 while every query passes over them: that is what
 * makes a batch compute-bound instead of memory-bound.  Both compute each score as the same
 * chain fma(q[d], v[d], acc) for d = 0..dim-1, so a face gets bit-identical scores from either
 * path, whatever its slot.
 *
 * SIMD: GCC vector extensions (8 floats), compiled by target_clones for x86-64-v4 (AVX-512VL,
 * 32 registers), x86-64-v3 (AVX2 + FMA) and the baseline; other targets (aarch64: NEON) build
 * the portable code, which the compiler maps onto their vector unit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/backend.h"

/* Contract a*b+c into FMA here: -std=c11 turns contraction off, and the kernels rely on it. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT ON
#else
#pragma GCC optimize("fp-contract=fast")
#endif

#include "index/dot.h"

typedef vs_v8f v8f;

#define PANEL_GROUP 4   /* panels per single-query step (capacity is a multiple of this) */
#define TILE_Q 6        /* queries per batch tile */
#define CHUNK_PANELS 16 /* panels per L2-resident chunk of a batch */

/* Unaligned 8-float loads and stores (dot.h declares v8f with 4-byte alignment; GCC lets a
 * vector type alias its element type). */
#define load8(p) (*(const v8f *)(p))
#define store8(p, v) (*(v8f *)(p) = (v))

VS_SIMD_CLONES
float vs_dot_f32(const float *a, const float *b, int dim)
{
    return vs_dot_inline(a, b, dim);
}

vs_status vs_flat_reserve(vs_flat *f, size_t cap)
{
    size_t unit = (size_t)VS_FLAT_LANES * PANEL_GROUP;
    cap = (cap + unit - 1) / unit * unit;
    if (cap <= f->cap)
        return VS_OK;
    size_t panel = (size_t)f->dim * VS_FLAT_LANES * sizeof(float);
    float *p = aligned_alloc(64, cap / VS_FLAT_LANES * panel);
    if (!p)
        return VS_NOMEM;
    size_t old = f->cap / VS_FLAT_LANES * panel;
    if (f->panels)
        memcpy(p, f->panels, old);
    memset((char *)p + old, 0, cap / VS_FLAT_LANES * panel - old);
    free(f->panels);
    f->panels = p;
    f->cap = cap;
    return VS_OK;
}

void vs_flat_free(vs_flat *f)
{
    free(f->panels);
    f->panels = NULL;
    f->cap = 0;
}

static float *lane_base(const vs_flat *f, uint32_t slot)
{
    return f->panels + (size_t)(slot / VS_FLAT_LANES) * f->dim * VS_FLAT_LANES +
           slot % VS_FLAT_LANES;
}

void vs_flat_set(vs_flat *f, uint32_t slot, const float *v)
{
    float *p = lane_base(f, slot);
    for (int d = 0; d < f->dim; d++)
        p[(size_t)d * VS_FLAT_LANES] = v[d];
}

void vs_flat_get(const vs_flat *f, uint32_t slot, float *v)
{
    const float *p = lane_base(f, slot);
    for (int d = 0; d < f->dim; d++)
        v[d] = p[(size_t)d * VS_FLAT_LANES];
}

void vs_flat_clear(vs_flat *f, uint32_t slot)
{
    float *p = lane_base(f, slot);
    for (int d = 0; d < f->dim; d++)
        p[(size_t)d * VS_FLAT_LANES] = 0.0f;
}

/* Scores of 4 consecutive panels (64 slots) against one query. */
VS_SIMD_CLONES
static void score_group(const float *restrict p, const float *restrict q, int dim,
                        float *restrict out)
{
    size_t ps = (size_t)dim * VS_FLAT_LANES; /* panel stride */
    v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
    for (int d = 0; d < dim; d++) {
        const float *r = p + (size_t)d * VS_FLAT_LANES;
        v8f b = (v8f){0} + q[d];
        a0 += b * load8(r);
        a1 += b * load8(r + 8);
        a2 += b * load8(r + ps);
        a3 += b * load8(r + ps + 8);
        a4 += b * load8(r + 2 * ps);
        a5 += b * load8(r + 2 * ps + 8);
        a6 += b * load8(r + 3 * ps);
        a7 += b * load8(r + 3 * ps + 8);
    }
    store8(out, a0);
    store8(out + 8, a1);
    store8(out + 16, a2);
    store8(out + 24, a3);
    store8(out + 32, a4);
    store8(out + 40, a5);
    store8(out + 48, a6);
    store8(out + 56, a7);
}

/* Offers the scores of slots base..base+n-1 that reach the collector's threshold. */
static void offer_run(vs_topk *t, const float *s, uint32_t base, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (s[i] >= t->thr)
            vs_topk_offer(t, s[i], base + i);
}

void vs_flat_scan(const vs_flat *f, const float *q, uint32_t begin, uint32_t end, vs_topk *t)
{
    const uint32_t unit = VS_FLAT_LANES * PANEL_GROUP;
    float s[VS_FLAT_LANES * PANEL_GROUP];
    for (uint32_t b = begin; b < end; b += unit) {
        score_group(f->panels + (size_t)(b / VS_FLAT_LANES) * f->dim * VS_FLAT_LANES, q, f->dim, s);
        offer_run(t, s, b, end - b < unit ? end - b : unit);
    }
}

/* Scores of TILE_Q queries (rows of q, stride dim) against one panel: out is TILE_Q x 16. */
VS_SIMD_CLONES
static void score_tile(const float *restrict p, const float *restrict q, int dim,
                       float *restrict out)
{
    v8f a[TILE_Q][2] = {{{0}}};
    for (int d = 0; d < dim; d++) {
        v8f lo = load8(p + (size_t)d * VS_FLAT_LANES);
        v8f hi = load8(p + (size_t)d * VS_FLAT_LANES + 8);
#pragma GCC unroll 6
        for (int r = 0; r < TILE_Q; r++) {
            v8f b = (v8f){0} + q[(size_t)r * dim + d];
            a[r][0] += b * lo;
            a[r][1] += b * hi;
        }
    }
    for (int r = 0; r < TILE_Q; r++) {
        store8(out + r * VS_FLAT_LANES, a[r][0]);
        store8(out + r * VS_FLAT_LANES + 8, a[r][1]);
    }
}

/*
 * q has room for nq rounded up to TILE_Q rows (the extra rows are scored and ignored; the caller
 * zeroes them).  The loop order keeps a chunk of CHUNK_PANELS panels in L2 while every query
 * tile passes over it.
 */
void vs_flat_scan_batch(const vs_flat *f, const float *q, int nq, uint32_t count, vs_topk *t)
{
    const size_t ps = (size_t)f->dim * VS_FLAT_LANES;
    const uint32_t npanels = (count + VS_FLAT_LANES - 1) / VS_FLAT_LANES;
    float s[TILE_Q * VS_FLAT_LANES];
    for (uint32_t c0 = 0; c0 < npanels; c0 += CHUNK_PANELS) {
        uint32_t c1 = c0 + CHUNK_PANELS < npanels ? c0 + CHUNK_PANELS : npanels;
        for (int q0 = 0; q0 < nq; q0 += TILE_Q) {
            int rows = nq - q0 < TILE_Q ? nq - q0 : TILE_Q;
            for (uint32_t p = c0; p < c1; p++) {
                uint32_t base = p * VS_FLAT_LANES;
                uint32_t n = count - base < VS_FLAT_LANES ? count - base : VS_FLAT_LANES;
                score_tile(f->panels + p * ps, q + (size_t)q0 * f->dim, f->dim, s);
                for (int r = 0; r < rows; r++)
                    offer_run(&t[q0 + r], s + r * VS_FLAT_LANES, base, n);
            }
        }
    }
}

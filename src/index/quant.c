/*
 * quant.c - int8 storage of the gallery index with exact re-rank (VS_INDEX_INT8).
 *
 * Each vector is kept twice: as int8 codes with one scale (code = round(v / s), s = max|v| / 127,
 * codes in -127..127), scanned to pick candidates, and as the float32 original, with which
 * index.c re-scores the `rerank` best candidates exactly.  The query is quantised the same way,
 * so an approximate score is qs * vs * sum(q8 * c8), an integer dot product: a scan reads a
 * quarter of the bytes of a float32 scan and does four times the multiply-adds per instruction.
 * The quantisation error of a unit vector's score is about 1e-3 for 512 dimensions, far below
 * the gap between a mate and the next identity, which is why a few dozen candidates suffice.
 *
 * Kernels, by what the CPU has (checked per scan with __builtin_cpu_supports):
 *   AVX-512 VNNI  vpdpbusd: 64 u8 x s8 products per instruction.  The query is made unsigned by
 *                 flipping its sign bit (q + 128), and sum(c) x 128 (kept per slot) is taken off.
 *   AVX2          sign-extend to int16 and vpmaddwd (16 products per instruction).
 *   portable      a plain loop (the compiler vectorises it where it can).
 * The three give identical integer results.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "index/backend.h"

#define QUANT_ALIGN 64 /* dpad is a multiple of this */

/* The scan asks for the codes this many rows ahead.  One sequential stream of int8 codes does
 * not get the memory bandwidth on its own (the hardware prefetcher keeps too few lines in
 * flight): on 100k x 512 this took a single-thread scan from about 190 to 280 queries/s. */
#define PREFETCH_ROWS 16

static int32_t *csum_of(const vs_quant *qz)
{
    /* The per-slot code sums live after the scales in the same block (see reserve). */
    return (int32_t *)(qz->scale + qz->cap);
}

vs_status vs_quant_reserve(vs_quant *qz, size_t cap)
{
    cap = (cap + 63) / 64 * 64;
    if (cap <= qz->cap)
        return VS_OK;
    int8_t *codes = aligned_alloc(64, cap * (size_t)qz->dpad);
    float *scale = calloc(cap, sizeof(float) + sizeof(int32_t));
    float *orig = aligned_alloc(64, cap * (size_t)qz->dim * sizeof(float));
    if (!codes || !scale || !orig) {
        free(codes);
        free(scale);
        free(orig);
        return VS_NOMEM;
    }
    size_t old = qz->cap;
    memset(codes, 0, cap * (size_t)qz->dpad);
    if (old) {
        memcpy(codes, qz->codes, old * (size_t)qz->dpad);
        memcpy(scale, qz->scale, old * sizeof(float));
        memcpy(scale + cap, csum_of(qz), old * sizeof(int32_t));
        memcpy(orig, qz->orig, old * (size_t)qz->dim * sizeof(float));
    }
    free(qz->codes);
    free(qz->scale);
    free(qz->orig);
    qz->codes = codes;
    qz->scale = scale;
    qz->orig = orig;
    qz->cap = cap;
    return VS_OK;
}

void vs_quant_free(vs_quant *qz)
{
    free(qz->codes);
    free(qz->scale);
    free(qz->orig);
    memset(qz, 0, sizeof *qz);
}

/* Codes of v (dim values) into c (dpad bytes, zero padded); returns the scale and the code sum. */
static float quantise(const float *v, int dim, int dpad, int8_t *c, int32_t *sum)
{
    float m = 0.0f;
    for (int d = 0; d < dim; d++)
        m = fmaxf(m, fabsf(v[d]));
    float s = m > 0.0f ? m / 127.0f : 1.0f;
    float inv = 1.0f / s;
    int32_t total = 0;
    for (int d = 0; d < dim; d++) {
        long r = lrintf(v[d] * inv);
        c[d] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
        total += c[d];
    }
    memset(c + dim, 0, (size_t)(dpad - dim));
    if (sum)
        *sum = total;
    return s;
}

void vs_quant_set(vs_quant *qz, uint32_t slot, const float *v)
{
    qz->scale[slot] =
        quantise(v, qz->dim, qz->dpad, qz->codes + (size_t)slot * qz->dpad, &csum_of(qz)[slot]);
    memcpy(qz->orig + (size_t)slot * qz->dim, v, (size_t)qz->dim * sizeof(float));
}

void vs_quant_move(vs_quant *qz, uint32_t dst, uint32_t src)
{
    memcpy(qz->codes + (size_t)dst * qz->dpad, qz->codes + (size_t)src * qz->dpad,
           (size_t)qz->dpad);
    qz->scale[dst] = qz->scale[src];
    csum_of(qz)[dst] = csum_of(qz)[src];
    memcpy(qz->orig + (size_t)dst * qz->dim, qz->orig + (size_t)src * qz->dim,
           (size_t)qz->dim * sizeof(float));
    memset(qz->codes + (size_t)src * qz->dpad, 0, (size_t)qz->dpad);
    csum_of(qz)[src] = 0;
}

float vs_quant_query(const vs_quant *qz, const float *q, int8_t *q8)
{
    return quantise(q, qz->dim, qz->dpad, q8, NULL);
}

/* Integer dot products of q8 with 4 consecutive code rows. */
static void dot4_portable(const int8_t *q8, const int8_t *c, size_t dpad, int32_t *out)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (size_t d = 0; d < dpad; d++) {
        int32_t x = q8[d];
        a0 += x * c[d];
        a1 += x * c[dpad + d];
        a2 += x * c[2 * dpad + d];
        a3 += x * c[3 * dpad + d];
    }
    out[0] = a0;
    out[1] = a1;
    out[2] = a2;
    out[3] = a3;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static int32_t hsum8(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

__attribute__((target("avx2"))) static void dot4_avx2(const int8_t *q8, const int8_t *c,
                                                      size_t dpad, int32_t *out)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t d = 0; d < dpad; d += 16) {
        __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q8 + d)));
#define DOT4_AVX2_ROW(acc, r)                                                                      \
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, _mm256_cvtepi8_epi16(_mm_loadu_si128(         \
                                                         (const __m128i *)(c + (r)*dpad + d)))))
        DOT4_AVX2_ROW(a0, 0);
        DOT4_AVX2_ROW(a1, 1);
        DOT4_AVX2_ROW(a2, 2);
        DOT4_AVX2_ROW(a3, 3);
#undef DOT4_AVX2_ROW
    }
    out[0] = hsum8(a0);
    out[1] = hsum8(a1);
    out[2] = hsum8(a2);
    out[3] = hsum8(a3);
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void
dot4_vnni(const int8_t *q8, const int8_t *c, size_t dpad, const int32_t *csum, int32_t *out)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t d = 0; d < dpad; d += 64) {
        /* q8 + 128 as unsigned bytes: the sign bit flipped. */
        __m512i u = _mm512_xor_si512(_mm512_loadu_si512(q8 + d), flip);
        a0 = _mm512_dpbusd_epi32(a0, u, _mm512_loadu_si512(c + d));
        a1 = _mm512_dpbusd_epi32(a1, u, _mm512_loadu_si512(c + dpad + d));
        a2 = _mm512_dpbusd_epi32(a2, u, _mm512_loadu_si512(c + 2 * dpad + d));
        a3 = _mm512_dpbusd_epi32(a3, u, _mm512_loadu_si512(c + 3 * dpad + d));
    }
    out[0] = _mm512_reduce_add_epi32(a0) - 128 * csum[0];
    out[1] = _mm512_reduce_add_epi32(a1) - 128 * csum[1];
    out[2] = _mm512_reduce_add_epi32(a2) - 128 * csum[2];
    out[3] = _mm512_reduce_add_epi32(a3) - 128 * csum[3];
}
#endif

enum { ISA_PORTABLE, ISA_AVX2, ISA_VNNI };

static int best_isa(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw"))
        return ISA_VNNI;
    if (__builtin_cpu_supports("avx2"))
        return ISA_AVX2;
#endif
    return ISA_PORTABLE;
}

void vs_quant_scan(const vs_quant *qz, const int8_t *q8, float qscale, uint32_t begin, uint32_t end,
                   vs_topk *t)
{
    const int isa = best_isa();
    const size_t dpad = (size_t)qz->dpad;
    const int32_t *csum = csum_of(qz);
    int32_t dots[4];
    /* Capacity is a multiple of 64 slots and unused rows are zero, so groups of 4 never read
     * past the codes. */
    for (uint32_t s = begin; s < end; s += 4) {
        const int8_t *c = qz->codes + (size_t)s * dpad;
        if (s + PREFETCH_ROWS < end)
            for (size_t o = 0; o < 4 * dpad; o += 64)
                __builtin_prefetch(c + PREFETCH_ROWS * dpad + o);
#if defined(__x86_64__)
        if (isa == ISA_VNNI)
            dot4_vnni(q8, c, dpad, csum + s, dots);
        else if (isa == ISA_AVX2)
            dot4_avx2(q8, c, dpad, dots);
        else
            dot4_portable(q8, c, dpad, dots);
#else
        (void)isa;
        (void)csum;
        dot4_portable(q8, c, dpad, dots);
#endif
        uint32_t n = end - s < 4 ? end - s : 4;
        for (uint32_t i = 0; i < n; i++) {
            float score = qscale * qz->scale[s + i] * (float)dots[i];
            if (score >= t->thr)
                vs_topk_offer(t, score, s + i);
        }
    }
}

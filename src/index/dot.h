/*
 * dot.h - the float32 inner product of src/index/, as an inline function (private).
 *
 * flat.c exports it as vs_dot_f32 (INT8's exact re-rank uses it); hnsw.c inlines it into its
 * searches, which are compiled once per SIMD target (VS_SIMD_CLONES), so the graph walk pays no
 * call per distance and each clone gets the FMA of its target.  Both compute the same chain of
 * operations, so a face gets the same score from INT8's re-rank and from HNSW.  (FLAT's panel
 * kernels sum in another order: their scores agree to float rounding, not to the bit.)
 *
 * An includer must enable FMA contraction before including this (-std=c11 turns it off), as
 * flat.c and hnsw.c do with #pragma GCC optimize("fp-contract=fast") (clang: STDC FP_CONTRACT).
 */
#ifndef VS_INDEX_DOT_H
#define VS_INDEX_DOT_H

/* 8 floats (GCC vector extension); aligned(4) makes plain dereferences unaligned loads. */
typedef float vs_v8f __attribute__((vector_size(32), aligned(4)));

/* Four chains of 8 lanes, summed pairwise, then the tail in order.  The chains are named
 * variables, not an array: GCC -O2 keeps an accumulator array on the stack (a load and a store
 * around every FMA), which made this 2.5 times slower. */
static inline __attribute__((always_inline)) float vs_dot_inline(const float *a, const float *b,
                                                                 int dim)
{
#define VS_DOT_STEP(o) (*(const vs_v8f *)(a + d + (o)) * *(const vs_v8f *)(b + d + (o)))
    vs_v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    int d = 0;
    for (; d + 32 <= dim; d += 32) {
        a0 += VS_DOT_STEP(0);
        a1 += VS_DOT_STEP(8);
        a2 += VS_DOT_STEP(16);
        a3 += VS_DOT_STEP(24);
    }
#undef VS_DOT_STEP
    vs_v8f s = (a0 + a1) + (a2 + a3);
    float r = 0.0f;
    for (int j = 0; j < 8; j++)
        r += s[j];
    for (; d < dim; d++)
        r += a[d] * b[d];
    return r;
}

#endif

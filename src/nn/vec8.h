/*
 * vec8.h - 8-lane float vectors for our own kernels (private to src/nn/: kernels_dw.c,
 * kernels_block.c), in GCC vector extensions: one ymm register with AVX2 / AVX-512VL on x86, two
 * NEON registers on ARM, plain code elsewhere.
 *
 * Including it changes the rest of the including file: it turns on -ffp-contract=fast (GCC only
 * fuses a * b + c into an FMA under it, and -std=c11 turns it off) and silences -Wpsabi (the
 * helpers are always inlined, so no vector crosses a real call), so include it last.  Helpers
 * that take a vector take it by address, and VSEL is a macro, for the reason given at VSEL.
 * VEC8_CLONES compiles a hot function for x86-64-v4, v3 and baseline (the loader picks one for
 * the CPU); elsewhere it is empty.
 */
#ifndef VS_NN_VEC8_H
#define VS_NN_VEC8_H

#include <stdint.h>
#include <string.h>

#include "graph.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#pragma GCC diagnostic ignored "-Wpsabi"
#elif defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi"
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define VEC8_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VEC8_CLONES
#endif

#define VEC8_INLINE static inline __attribute__((always_inline))

enum { VW = 8 };

typedef float v8f __attribute__((vector_size(VW * sizeof(float))));
typedef int32_t v8i __attribute__((vector_size(VW * sizeof(int32_t))));

VEC8_INLINE v8f vld(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

VEC8_INLINE void vst(float *p, const v8f *v)
{
    memcpy(p, v, sizeof *v);
}

/* All lanes a, as one broadcast (from memory when a is loaded: a plain load).  Not (v8f){0} + a,
 * which costs a scalar addition first (0 + a is not a no-op for a = -0), nor a lane-by-lane
 * initialiser, which GCC builds lane by lane. */
VEC8_INLINE v8f vsplat(float a)
{
    const v8f v = {a};
#if defined(__clang__)
    return __builtin_shufflevector(v, v, 0, 0, 0, 0, 0, 0, 0, 0);
#else
    return __builtin_shuffle(v, (v8i){0});
#endif
}

/* m ? a : b, lane by lane (m from a vector comparison: all ones or all zeros).  A macro, not a
 * function: GCC prints an ABI note for any function taking 32-byte vectors by value in a file
 * compiled without AVX, even one that is always inlined.  Arguments are evaluated more than
 * once. */
#define VSEL(m, a, b) ((v8f)(((m) & (v8i)(a)) | (~(m) & (v8i)(b))))

/* The clamp activations of kernels_ref.c's act_row (NONE, RELU, RELU6, CLAMP between lo and hi)
 * in place, with its comparisons (NaN passes through); act is a constant after inlining. */
VEC8_INLINE void vact(v8f *v, const vs_act act, float lo, float hi)
{
    const v8f zero = vsplat(0.0f);
    switch (act) {
    case VS_ACT_RELU:
        *v = VSEL(*v < zero, zero, *v);
        break;
    case VS_ACT_RELU6: {
        const v8f six = vsplat(6.0f);
        *v = VSEL(*v < zero, zero, VSEL(*v > six, six, *v));
        break;
    }
    case VS_ACT_CLAMP: {
        const v8f l = vsplat(lo), h = vsplat(hi);
        *v = VSEL(*v > h, h, VSEL(*v < l, l, *v));
        break;
    }
    default:
        break;
    }
}

#endif

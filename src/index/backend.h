/*
 * backend.h - what index.c shares with the three storage backends of src/index/ (private).
 *
 * index.c owns everything that is the same for every kind: the slot arrays (face id and person
 * id by slot), the face id -> slot hash, the lock, the scratch pool and the top-k collector
 * (vs_topk).  A backend stores vectors by slot and scores them:
 *   flat.c   float32 in panels of 16 vectors (the SIMD scan and the batched kernel);
 *   quant.c  int8 codes + float32 originals (approximate scan, exact re-rank);
 *   hnsw.c   float32 rows + the graph (approximate search).
 * A backend never takes the lock: index.c calls it under the read lock (scans, searches) or the
 * write lock (set, insert, move, reserve).
 */
#ifndef VS_INDEX_BACKEND_H
#define VS_INDEX_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "index/index.h"

/* Vectors per panel of the flat layout: slot s lives in panel s / 16, lane s % 16. */
#define VS_FLAT_LANES 16

/* The x86-64 SIMD variants of a kernel (GCC function multi-versioning; resolved at load time
 * through an ifunc).  Other targets build the portable version only. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VS_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VS_SIMD_CLONES
#endif

/* A scored slot. */
typedef struct vs_cand {
    float score;
    uint32_t slot;
} vs_cand;

/*
 * The top-k collector.  Holds at most k entries, unsorted, and `thr`, the score a new entry must
 * reach (-inf until full, then the worst kept score).  With by_person it keeps at most one entry
 * per person (its best face).  "Better" is the higher score, then the smaller face id, so the
 * result is a pure function of the scores whatever the scan order or the thread split.
 */
typedef struct vs_topk {
    const int64_t *face_id;   /* by slot */
    const int64_t *person_id; /* by slot */
    vs_cand *e;               /* k entries of storage */
    int k, n, by_person, worst;
    float thr;
} vs_topk;

void vs_topk_init(vs_topk *t, vs_cand *buf, int k, int by_person, const int64_t *face_id,
                  const int64_t *person_id);
/* Offers a candidate; callers skip scores below t->thr first (the hot loops' only test). */
void vs_topk_offer(vs_topk *t, float score, uint32_t slot);
/* Offers every entry of src (same slot arrays) to dst. */
void vs_topk_merge(vs_topk *dst, const vs_topk *src);
/* Sorts the entries best first and writes them as hits; returns their number. */
int vs_topk_emit(vs_topk *t, vs_hit *out);

/* Per-search working memory, borrowed from the index's pool (see index.h). */
typedef struct vs_scratch {
    struct vs_scratch *next;
    vs_cand *cand; /* collectors' storage */
    size_t cand_cap;
    int8_t *q8; /* INT8: the quantised query */
    size_t q8_cap;
    uint8_t *visited; /* HNSW: visit tags by slot (hnsw.c's next_tag) */
    size_t visited_cap;
    uint32_t epoch;           /* the last tag used, 0..255 */
    vs_cand *heap_a, *heap_b; /* HNSW: candidates and results */
    size_t heap_a_cap, heap_b_cap;
} vs_scratch;

/* Grows *p (elements of elem bytes) to hold at least need; VS_NOMEM leaves it as it was. */
vs_status vs_grow(void **p, size_t *cap, size_t need, size_t elem);

/* Inner product of two float32 vectors (SIMD; the reference for exact scores). */
float vs_dot_f32(const float *a, const float *b, int dim);

/* ---- flat.c: float32 panels ---- */
typedef struct vs_flat {
    float *panels; /* cap / 16 panels of dim x 16 floats, 64-byte aligned, zero past the count */
    size_t cap;    /* slots, a multiple of 16 */
    int dim;
} vs_flat;

vs_status vs_flat_reserve(vs_flat *f, size_t cap);
void vs_flat_free(vs_flat *f);
void vs_flat_set(vs_flat *f, uint32_t slot, const float *v);
void vs_flat_get(const vs_flat *f, uint32_t slot, float *v);
void vs_flat_clear(vs_flat *f, uint32_t slot);
/* Scores slots [begin, end) (begin a multiple of 16) and offers them to t. */
void vs_flat_scan(const vs_flat *f, const float *q, uint32_t begin, uint32_t end, vs_topk *t);
/* Scores nq queries (row-major) against slots [0, count) and offers them to t[0..nq). */
void vs_flat_scan_batch(const vs_flat *f, const float *q, int nq, uint32_t count, vs_topk *t);

/* ---- quant.c: int8 codes with float32 originals ---- */
typedef struct vs_quant {
    int8_t *codes; /* cap x dpad, 64-byte aligned, zero padded */
    float *scale;  /* per slot: value = code x scale */
    float *orig;   /* cap x dim float32 originals for the exact re-rank */
    size_t cap;
    int dim, dpad; /* dpad: dim rounded up to 32 */
} vs_quant;

vs_status vs_quant_reserve(vs_quant *qz, size_t cap);
void vs_quant_free(vs_quant *qz);
void vs_quant_set(vs_quant *qz, uint32_t slot, const float *v);
void vs_quant_move(vs_quant *qz, uint32_t dst, uint32_t src);
/* Quantises q into q8 (dpad bytes) and returns its scale. */
float vs_quant_query(const vs_quant *qz, const float *q, int8_t *q8);
/* Approximate scores of slots [begin, end) offered to t. */
void vs_quant_scan(const vs_quant *qz, const int8_t *q8, float qscale, uint32_t begin, uint32_t end,
                   vs_topk *t);

/* ---- hnsw.c: graph over float32 rows ---- */
typedef struct vs_hnsw vs_hnsw;

vs_status vs_hnsw_new(int dim, int m, int ef_construction, uint64_t seed, vs_hnsw **out);
void vs_hnsw_free(vs_hnsw *h);
vs_status vs_hnsw_reserve(vs_hnsw *h, size_t cap);
/* Inserts `slot` (the next unused slot) with vector v; w is the writer's scratch. */
vs_status vs_hnsw_insert(vs_hnsw *h, uint32_t slot, const float *v, vs_scratch *w);
const float *vs_hnsw_vector(const vs_hnsw *h, uint32_t slot);
/* Offers the best live (deleted[slot] == 0) nodes found with candidate list ef to t. */
vs_status vs_hnsw_search(const vs_hnsw *h, const float *q, int ef, const uint8_t *deleted,
                         vs_scratch *s, vs_topk *t);
size_t vs_hnsw_memory(const vs_hnsw *h);
/* Snapshot of the graph: levels and links of slots [0, count), and back. */
typedef vs_status (*vs_write_fn)(void *ctx, const void *p, size_t n);
typedef vs_status (*vs_read_fn)(void *ctx, void *p, size_t n);
vs_status vs_hnsw_write_graph(const vs_hnsw *h, uint32_t count, vs_write_fn wr, void *ctx);
/* Reads the graph of count slots whose vectors are already set with vs_hnsw_set_vector. */
vs_status vs_hnsw_read_graph(vs_hnsw *h, uint32_t count, vs_read_fn rd, void *ctx);
void vs_hnsw_set_vector(vs_hnsw *h, uint32_t slot, const float *v);
void vs_hnsw_params(const vs_hnsw *h, int *m, int *ef_construction);

#endif

/*
 * hnsw.c - the approximate graph index of the gallery (VS_INDEX_HNSW): a hierarchical navigable
 * small world (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using
 * Hierarchical Navigable Small World graphs", 2016/2018) over inner product.
 *
 * Every node (slot) has a level drawn as floor(-ln(U) / ln(m)); on layer 0 it links to up to
 * 2m others, on layers 1..level to up to m.  Insertion descends greedily from the entry point
 * through the layers above the new node's level, then on each of its layers collects
 * ef_construction candidates (a best-first search), keeps m of them with the neighbour-selection
 * heuristic (hnswlib's: fewer than m candidates are all kept, else a candidate is kept unless it
 * is closer to a neighbour already kept than to the new node, which spreads links over
 * directions), and links both ways; a neighbour whose list overflows re-selects its own links
 * with the same heuristic.  Search descends the same way and
 * runs a best-first search with a candidate list of ef on layer 0.
 *
 * Scores are similarities (higher is closer) throughout.  Deleted nodes stay in the graph and are
 * walked through, but never enter the result list (index.c rebuilds the graph when they pile up).
 * Only the writer (under the index's write lock) changes the graph; searches only read it, each
 * with its own scratch (visit tags by slot, two heaps).
 *
 * Speed.  A walk is bound by memory latency: each step scores a node at a random place (2 KB for
 * 512 floats).  So, as hnswlib does: a node is one block, its vector then its layer-0 list
 * (padded to a cache line), so scoring a node also brings the list its expansion will read; the
 * neighbours of an expanded node are filtered against the visit tags first, then all their first
 * lines are prefetched at once so the misses overlap; the visit tags are a byte per node with a
 * per-search tag (no clearing per search); the heaps are preallocated in the scratch.  The inner
 * product (dot.h) is inlined into the searches, which are compiled per SIMD target.  Measured on
 * 100k x 512 (bench/README.md): about 1.25x the queries/s of the previous layout, mostly from the
 * prefetching and the inlined product.
 *
 * DESIGN NOTES (the snapshot of a graph, written after the vectors by index.c)
 *   1. entry (u32), max_level (i32), then levels (count x u8), then layer 0 (count x (1 + 2m)
 *      u32: a link count then the links, unused entries 0), then for each slot with level > 0 in
 *      slot order its level x (1 + m) u32 upper lists, layer 1 first.
 *   2. On reading, every count is <= its layer's maximum, every link is < count, every level is
 *      <= VS_HNSW_MAX_LEVEL and the entry has the largest level: else VS_FORMAT.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/backend.h"

/* Contract a*b+c into FMA (dot.h's requirement: the same scores as vs_dot_f32's). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT ON
#else
#pragma GCC optimize("fp-contract=fast")
#endif

#include "index/dot.h"

#define VS_HNSW_MAX_LEVEL 30
#define VS_HNSW_MAX_M 64
#define LINE 64 /* bytes per cache line (x86-64, most aarch64) */

struct vs_hnsw {
    int dim, m, m0, efc;
    double mult;   /* 1 / ln(m) */
    uint64_t rng;  /* level generator state (writer only) */
    size_t cap;    /* slots allocated */
    size_t stride; /* bytes per node: dim floats then the layer-0 list, a multiple of LINE */
    char *nodes;   /* cap x stride, LINE-aligned */
    uint32_t **up; /* cap: NULL or level x (1 + m) */
    uint8_t *level;
    uint32_t entry;
    int max_level; /* -1: empty */
};

vs_status vs_hnsw_new(int dim, int m, int ef_construction, uint64_t seed, vs_hnsw **out)
{
    *out = NULL;
    vs_hnsw *h = calloc(1, sizeof *h);
    if (!h)
        return VS_NOMEM;
    h->dim = dim;
    h->m = m;
    h->m0 = 2 * m;
    h->efc = ef_construction;
    h->mult = 1.0 / log((double)m);
    h->rng = seed ? seed : 1;
    h->max_level = -1;
    /* hnswlib's layout: the layer-0 list right after the vector, so a node is one block (one
     * region, mostly one page, per node visited); each block starts on a cache line. */
    size_t bytes = (size_t)dim * sizeof(float) + (size_t)(1 + h->m0) * sizeof(uint32_t);
    h->stride = (bytes + LINE - 1) / LINE * LINE;
    *out = h;
    return VS_OK;
}

void vs_hnsw_free(vs_hnsw *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->cap; i++)
        free(h->up[i]);
    free(h->up);
    free(h->nodes);
    free(h->level);
    free(h);
}

void vs_hnsw_params(const vs_hnsw *h, int *m, int *ef_construction)
{
    *m = h->m;
    *ef_construction = h->efc;
}

vs_status vs_hnsw_reserve(vs_hnsw *h, size_t cap)
{
    if (cap <= h->cap)
        return VS_OK;
    char *nodes = aligned_alloc(LINE, cap * h->stride);
    uint32_t **up = calloc(cap, sizeof *up);
    uint8_t *level = calloc(cap, 1);
    if (!nodes || !up || !level) {
        free(nodes);
        free(up);
        free(level);
        return VS_NOMEM;
    }
    if (h->cap) {
        memcpy(nodes, h->nodes, h->cap * h->stride);
        memcpy(up, h->up, h->cap * sizeof *up);
        memcpy(level, h->level, h->cap);
    }
    free(h->nodes);
    free(h->up);
    free(h->level);
    h->nodes = nodes;
    h->up = up;
    h->level = level;
    h->cap = cap;
    return VS_OK;
}

size_t vs_hnsw_memory(const vs_hnsw *h)
{
    size_t b = h->cap * (h->stride + 1 + sizeof(uint32_t *));
    for (size_t i = 0; i < h->cap; i++)
        if (h->up[i])
            b += (size_t)h->level[i] * (size_t)(1 + h->m) * 4;
    return b;
}

static inline float *node_vector(const vs_hnsw *h, uint32_t slot)
{
    return (float *)(h->nodes + (size_t)slot * h->stride);
}

const float *vs_hnsw_vector(const vs_hnsw *h, uint32_t slot)
{
    return node_vector(h, slot);
}

void vs_hnsw_set_vector(vs_hnsw *h, uint32_t slot, const float *v)
{
    memcpy(node_vector(h, slot), v, (size_t)h->dim * sizeof(float));
}

/* The link list of slot on layer lev: [0] is the count, then the links. */
static inline uint32_t *links(const vs_hnsw *h, uint32_t slot, int lev)
{
    if (lev == 0)
        return (uint32_t *)(h->nodes + (size_t)slot * h->stride + (size_t)h->dim * sizeof(float));
    return h->up[slot] + (size_t)(lev - 1) * (size_t)(1 + h->m);
}

static inline float sim(const vs_hnsw *h, const float *q, uint32_t slot)
{
    return vs_dot_inline(q, node_vector(h, slot), h->dim);
}

/* Asks for the first line of slot's vector ahead of its use.  Only the first: the hardware
 * streams the rest once the scoring misses on the second line, and prefetching more lines (4, 8 or
 * all 32 of a 512-d vector) measured slower, since lines already fetched do not train it. */
static inline void prefetch_vector(const vs_hnsw *h, uint32_t slot)
{
    __builtin_prefetch(node_vector(h, slot));
}

/* ---- binary max-heaps of vs_cand on score ---- */
static inline void heap_push(vs_cand *a, size_t *n, vs_cand c)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (a[p].score >= c.score)
            break;
        a[i] = a[p];
        i = p;
    }
    a[i] = c;
}

static inline vs_cand heap_pop(vs_cand *a, size_t *n)
{
    vs_cand top = a[0], last = a[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && a[c + 1].score > a[c].score)
            c++;
        if (a[c].score <= last.score)
            break;
        a[i] = a[c];
        i = c;
    }
    if (*n)
        a[i] = last;
    return top;
}

/* Greedy walk on layer lev from *cur towards q (one best neighbour at a time). */
VS_SIMD_CLONES
static void greedy(const vs_hnsw *h, const float *q, int lev, uint32_t *cur, float *cur_sim)
{
    for (int moved = 1; moved;) {
        moved = 0;
        const uint32_t *l = links(h, *cur, lev);
        for (uint32_t i = 1; i <= l[0]; i++) {
            if (i < l[0])
                prefetch_vector(h, l[i + 1]);
            float s = sim(h, q, l[i]);
            if (s > *cur_sim) {
                *cur_sim = s;
                *cur = l[i];
                moved = 1;
            }
        }
    }
}

/* Sizes s for a search of ef over h: nothing in a search or an insertion can fail after it. */
static vs_status scratch_ready(const vs_hnsw *h, vs_scratch *s, int ef)
{
    size_t need = h->cap + 1; /* each node enters the candidate heap at most once per search */
    if (s->heap_a_cap < need &&
        vs_grow((void **)&s->heap_a, &s->heap_a_cap, need, sizeof(vs_cand)) != VS_OK)
        return VS_NOMEM;
    if (s->heap_b_cap < (size_t)ef + 1 &&
        vs_grow((void **)&s->heap_b, &s->heap_b_cap, (size_t)ef + 1, sizeof(vs_cand)) != VS_OK)
        return VS_NOMEM;
    if (s->visited_cap < h->cap) {
        vs_status st = vs_grow((void **)&s->visited, &s->visited_cap, h->cap, 1);
        if (st != VS_OK)
            return st;
        memset(s->visited, 0, s->visited_cap);
        s->epoch = 0;
    }
    return VS_OK;
}

/* The tag of a new search: visited[x] == tag marks x as seen by this search.  A byte per node
 * keeps the table small (it is read at random); it is cleared once every 255 searches. */
static uint8_t next_tag(vs_scratch *s)
{
    if (++s->epoch > UINT8_MAX) {
        memset(s->visited, 0, s->visited_cap);
        s->epoch = 1;
    }
    return (uint8_t)s->epoch;
}

/*
 * Best-first search on layer lev from ep with a result list of ef (s made ready for ef).  The
 * results are left in s->heap_b as a max-heap on the NEGATED score (its top is the worst
 * result), *nres of them.  Nodes with deleted[slot] set are walked through but not kept (deleted
 * may be NULL).
 *
 * The neighbours of an expanded node are first filtered against the visit tags, then the first
 * lines of all the unvisited ones are prefetched before any is scored: the walk is bound by
 * memory latency (a 512-d vector is 2 KB at a random place), not by arithmetic.
 */
VS_SIMD_CLONES
static void search_layer(const vs_hnsw *h, const float *q, uint32_t ep, float ep_sim, int ef,
                         int lev, const uint8_t *deleted, vs_scratch *s, size_t *nres)
{
    size_t nc = 0, nr = 0;
    const uint8_t tag = next_tag(s);
    uint8_t *visited = s->visited;
    vs_cand *cand = s->heap_a, *res = s->heap_b;
    visited[ep] = tag;
    heap_push(cand, &nc, (vs_cand){ep_sim, ep});
    if (!deleted || !deleted[ep])
        heap_push(res, &nr, (vs_cand){-ep_sim, ep});
    float worst = nr ? ep_sim : -INFINITY;
    uint32_t fresh[2 * VS_HNSW_MAX_M]; /* the neighbours not yet visited */
    while (nc) {
        vs_cand c = heap_pop(cand, &nc);
        if (nr >= (size_t)ef && c.score < worst)
            break;
        const uint32_t *l = links(h, c.slot, lev);
        int nt = 0;
        for (uint32_t i = 1; i <= l[0]; i++) {
            uint32_t x = l[i];
            if (visited[x] != tag) {
                visited[x] = tag;
                fresh[nt++] = x;
            }
        }
        /* All their first lines at once (the misses overlap), then each next one again in case
         * it was evicted meanwhile. */
        for (int i = 0; i < nt; i++)
            prefetch_vector(h, fresh[i]);
        for (int i = 0; i < nt; i++) {
            uint32_t x = fresh[i];
            if (i + 1 < nt)
                prefetch_vector(h, fresh[i + 1]);
            float sx = sim(h, q, x);
            if (nr < (size_t)ef || sx > worst) {
                heap_push(cand, &nc, (vs_cand){sx, x});
                if (!deleted || !deleted[x]) {
                    heap_push(res, &nr, (vs_cand){-sx, x});
                    if (nr > (size_t)ef)
                        heap_pop(res, &nr);
                    worst = -res[0].score;
                }
            }
        }
    }
    *nres = nr;
}

static int cmp_desc(const void *a, const void *b)
{
    const vs_cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/*
 * The neighbour-selection heuristic, as hnswlib's getNeighborsByHeuristic2: c[0..n) sorted best
 * first (scores against the base node).  Fewer than mmax candidates are all kept.  Else a
 * candidate is kept unless it is closer to a neighbour already kept than to the base node (so
 * links spread over directions), until mmax are kept.  Keeps them in place; returns how many.
 */
VS_SIMD_CLONES
static int select_neighbours(const vs_hnsw *h, vs_cand *c, int n, int mmax)
{
    if (n < mmax)
        return n;
    int kept = 0;
    for (int i = 0; i < n && kept < mmax; i++) {
        const float *v = node_vector(h, c[i].slot);
        int good = 1;
        for (int j = 0; j < kept && good; j++)
            good = sim(h, v, c[j].slot) <= c[i].score;
        if (good)
            c[kept++] = c[i];
    }
    return kept;
}

/* Adds `slot` to the links of nb on layer lev, re-selecting nb's links when the list is full. */
VS_SIMD_CLONES
static void link_back(vs_hnsw *h, uint32_t nb, uint32_t slot, int lev)
{
    uint32_t *l = links(h, nb, lev);
    int mmax = lev == 0 ? h->m0 : h->m;
    if ((int)l[0] < mmax) {
        l[++l[0]] = slot;
        return;
    }
    vs_cand c[2 * VS_HNSW_MAX_M + 1];
    const float *v = node_vector(h, nb);
    int n = 0;
    /* nb's links are at random places: ask for all of them before scoring the first. */
    for (uint32_t i = 1; i <= l[0]; i++)
        prefetch_vector(h, l[i]);
    for (uint32_t i = 1; i <= l[0]; i++)
        c[n++] = (vs_cand){sim(h, v, l[i]), l[i]};
    c[n++] = (vs_cand){sim(h, v, slot), slot};
    qsort(c, (size_t)n, sizeof *c, cmp_desc);
    int kept = select_neighbours(h, c, n, mmax);
    l[0] = (uint32_t)kept;
    for (int i = 0; i < kept; i++)
        l[1 + i] = c[i].slot;
}

static int draw_level(vs_hnsw *h)
{
    /* splitmix64 */
    uint64_t z = (h->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    double u = ((double)(z >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    int lev = (int)(-log(u) * h->mult);
    return lev > VS_HNSW_MAX_LEVEL ? VS_HNSW_MAX_LEVEL : lev;
}

/* Links the new node on layer lev from the ef_construction results in w->heap_b. */
static void connect_layer(vs_hnsw *h, uint32_t slot, int lev, vs_scratch *w, size_t nres)
{
    vs_cand *c = w->heap_b;
    for (size_t i = 0; i < nres; i++)
        c[i].score = -c[i].score;
    qsort(c, nres, sizeof *c, cmp_desc);
    int kept = select_neighbours(h, c, (int)nres, h->m);
    uint32_t *l = links(h, slot, lev);
    l[0] = (uint32_t)kept;
    for (int i = 0; i < kept; i++)
        l[1 + i] = c[i].slot;
    for (int i = 0; i < kept; i++)
        link_back(h, c[i].slot, slot, lev);
}

/* Compiled per SIMD target like search_layer: the entry point's score, computed here, must come
 * from the same arithmetic (FMA or not) as every other score. */
VS_SIMD_CLONES
vs_status vs_hnsw_insert(vs_hnsw *h, uint32_t slot, const float *v, vs_scratch *w)
{
    vs_status st = scratch_ready(h, w, h->efc);
    if (st != VS_OK)
        return st;
    int lev = draw_level(h);
    if (lev > 0) {
        h->up[slot] = calloc((size_t)lev * (size_t)(1 + h->m), sizeof(uint32_t));
        if (!h->up[slot])
            return VS_NOMEM;
    }
    /* Nothing below can fail, so a node is either fully linked or not in the graph at all. */
    h->level[slot] = (uint8_t)lev;
    vs_hnsw_set_vector(h, slot, v);
    memset(links(h, slot, 0), 0, (size_t)(1 + h->m0) * sizeof(uint32_t));
    if (h->max_level < 0) {
        h->entry = slot;
        h->max_level = lev;
        return VS_OK;
    }
    const float *x = vs_hnsw_vector(h, slot);
    uint32_t cur = h->entry;
    float cur_sim = sim(h, x, cur);
    for (int l = h->max_level; l > lev; l--)
        greedy(h, x, l, &cur, &cur_sim);
    for (int l = lev < h->max_level ? lev : h->max_level; l >= 0; l--) {
        size_t nres;
        search_layer(h, x, cur, cur_sim, h->efc, l, NULL, w, &nres);
        /* The best result is the next layer's entry point. */
        for (size_t i = 0; i < nres; i++)
            if (-w->heap_b[i].score > cur_sim) {
                cur_sim = -w->heap_b[i].score;
                cur = w->heap_b[i].slot;
            }
        connect_layer(h, slot, l, w, nres);
    }
    if (lev > h->max_level) {
        h->entry = slot;
        h->max_level = lev;
    }
    return VS_OK;
}

/* Per SIMD target, as vs_hnsw_insert. */
VS_SIMD_CLONES
vs_status vs_hnsw_search(const vs_hnsw *h, const float *q, int ef, const uint8_t *deleted,
                         vs_scratch *s, vs_topk *t)
{
    if (h->max_level < 0)
        return VS_OK;
    vs_status st = scratch_ready(h, s, ef);
    if (st != VS_OK)
        return st;
    uint32_t cur = h->entry;
    float cur_sim = sim(h, q, cur);
    for (int l = h->max_level; l > 0; l--)
        greedy(h, q, l, &cur, &cur_sim);
    size_t nres;
    search_layer(h, q, cur, cur_sim, ef, 0, deleted, s, &nres);
    for (size_t i = 0; i < nres; i++) {
        float score = -s->heap_b[i].score;
        if (score >= t->thr)
            vs_topk_offer(t, score, s->heap_b[i].slot);
    }
    return VS_OK;
}

vs_status vs_hnsw_write_graph(const vs_hnsw *h, uint32_t count, vs_write_fn wr, void *ctx)
{
    int32_t ml = h->max_level;
    vs_status st;
    if ((st = wr(ctx, &h->entry, sizeof h->entry)) != VS_OK ||
        (st = wr(ctx, &ml, sizeof ml)) != VS_OK || (st = wr(ctx, h->level, count)) != VS_OK)
        return st;
    for (uint32_t i = 0; i < count; i++)
        if ((st = wr(ctx, links(h, i, 0), (size_t)(1 + h->m0) * 4)) != VS_OK)
            return st;
    for (uint32_t i = 0; i < count; i++)
        if (h->level[i] &&
            (st = wr(ctx, h->up[i], (size_t)h->level[i] * (size_t)(1 + h->m) * 4)) != VS_OK)
            return st;
    return VS_OK;
}

static int list_ok(const uint32_t *l, int mmax, uint32_t count)
{
    if (l[0] > (uint32_t)mmax)
        return 0;
    for (uint32_t i = 1; i <= l[0]; i++)
        if (l[i] >= count)
            return 0;
    return 1;
}

vs_status vs_hnsw_read_graph(vs_hnsw *h, uint32_t count, vs_read_fn rd, void *ctx)
{
    int32_t ml;
    vs_status st;
    if ((st = rd(ctx, &h->entry, sizeof h->entry)) != VS_OK ||
        (st = rd(ctx, &ml, sizeof ml)) != VS_OK || (st = rd(ctx, h->level, count)) != VS_OK)
        return st;
    for (uint32_t i = 0; i < count; i++)
        if ((st = rd(ctx, links(h, i, 0), (size_t)(1 + h->m0) * 4)) != VS_OK)
            return st;
    if (count == 0 ? ml != -1 : (h->entry >= count || ml != h->level[h->entry]))
        return VS_FORMAT;
    h->max_level = ml;
    for (uint32_t i = 0; i < count; i++) {
        if (h->level[i] > ml || !list_ok(links(h, i, 0), h->m0, count))
            return VS_FORMAT;
        if (!h->level[i])
            continue;
        size_t n = (size_t)h->level[i] * (size_t)(1 + h->m);
        if (!(h->up[i] = malloc(n * 4)))
            return VS_NOMEM;
        if ((st = rd(ctx, h->up[i], n * 4)) != VS_OK)
            return st;
        for (int l = 1; l <= h->level[i]; l++)
            if (!list_ok(links(h, i, l), h->m, count))
                return VS_FORMAT;
    }
    return VS_OK;
}

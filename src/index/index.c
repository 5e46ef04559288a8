/*
 * index.c - the gallery index's common layer (src/index/index.h): slots and id maps, the lock,
 * the scratch pool, the top-k collector with grouping by person, and the searches that drive
 * the three backends (flat.c, quant.c, hnsw.c; backend.h says who does what).
 *
 * Slots.  Every face occupies a slot; face_id[slot] and person_id[slot] say whose, and a hash
 * (open addressing, linear probing, backward-shift deletion) maps a face id to its slot.  FLAT
 * and INT8 keep slots dense: removing a face moves the last slot into the hole.  HNSW cannot
 * move a node, so it marks the slot deleted and compacts (rebuilds the graph from the live
 * faces) once deleted slots exceed 20% of the slots.
 *
 * Invariants (checked by tests/test_index.c through the public API):
 *   1. map[face_id[s]] == s for every live slot s, and the map holds nothing else.
 *   2. FLAT/INT8: slots [0, count) are all live; the backends' storage past count is zero.
 *   3. HNSW: slots [0, count) are in the graph; n_deleted of them have deleted[s] = 1.
 *   4. A failed write leaves the index as it was (except where index.h says otherwise).
 */
#include <math.h>
#include <pthread.h>
#include <pthreadpool.h>
#include <stdlib.h>
#include <string.h>

#include "index/backend.h"
#include "index/index_priv.h"

#define MAP_EMPTY UINT32_MAX

void vs_index_params_default(vs_index_params *p)
{
    p->threads = 1;
    p->rerank = 64;
    p->hnsw_m = 16;
    p->ef_construction = 200;
    p->ef_search = 64;
    p->seed = 1;
}

static const char *const kind_names[VS_INDEX_KIND_COUNT] = {"flat", "int8", "hnsw"};

const char *vs_index_kind_name(vs_index_kind kind)
{
    return (unsigned)kind < VS_INDEX_KIND_COUNT ? kind_names[kind] : NULL;
}

vs_status vs_index_kind_from_name(const char *name, vs_index_kind *out)
{
    for (int k = 0; k < VS_INDEX_KIND_COUNT; k++)
        if (name && strcmp(name, kind_names[k]) == 0) {
            *out = (vs_index_kind)k;
            return VS_OK;
        }
    return VS_INVAL;
}

vs_status vs_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return VS_OK;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return VS_NOMEM;
    *p = q;
    *cap = n;
    return VS_OK;
}

/* ---- top-k collector ---- */

void vs_topk_init(vs_topk *t, vs_cand *buf, int k, int by_person, const int64_t *face_id,
                  const int64_t *person_id)
{
    t->face_id = face_id;
    t->person_id = person_id;
    t->e = buf;
    t->k = k;
    t->n = 0;
    t->by_person = by_person;
    t->worst = 0;
    t->thr = -INFINITY;
}

/* 1 if (sa, slot a) ranks before (sb, slot b). */
static int better(const vs_topk *t, float sa, uint32_t a, float sb, uint32_t b)
{
    if (sa != sb)
        return sa > sb;
    return t->face_id[a] < t->face_id[b];
}

static void find_worst(vs_topk *t)
{
    int w = 0;
    for (int i = 1; i < t->n; i++)
        if (better(t, t->e[w].score, t->e[w].slot, t->e[i].score, t->e[i].slot))
            w = i;
    t->worst = w;
    t->thr = t->n == t->k ? t->e[w].score : -INFINITY;
}

void vs_topk_offer(vs_topk *t, float score, uint32_t slot)
{
    if (t->by_person) {
        int64_t person = t->person_id[slot];
        for (int i = 0; i < t->n; i++)
            if (t->person_id[t->e[i].slot] == person) {
                if (better(t, score, slot, t->e[i].score, t->e[i].slot)) {
                    t->e[i] = (vs_cand){score, slot};
                    if (i == t->worst || t->n == t->k)
                        find_worst(t);
                }
                return;
            }
    }
    if (t->n < t->k) {
        t->e[t->n++] = (vs_cand){score, slot};
        if (t->n == t->k)
            find_worst(t);
        return;
    }
    if (!better(t, score, slot, t->e[t->worst].score, t->e[t->worst].slot))
        return;
    t->e[t->worst] = (vs_cand){score, slot};
    find_worst(t);
}

void vs_topk_merge(vs_topk *dst, const vs_topk *src)
{
    for (int i = 0; i < src->n; i++)
        if (src->e[i].score >= dst->thr)
            vs_topk_offer(dst, src->e[i].score, src->e[i].slot);
}

int vs_topk_emit(vs_topk *t, vs_hit *out)
{
    /* Insertion sort: k is small next to the scan that filled the collector. */
    for (int i = 1; i < t->n; i++) {
        vs_cand c = t->e[i];
        int j = i;
        for (; j > 0 && better(t, c.score, c.slot, t->e[j - 1].score, t->e[j - 1].slot); j--)
            t->e[j] = t->e[j - 1];
        t->e[j] = c;
    }
    for (int i = 0; i < t->n; i++)
        out[i] = (vs_hit){t->face_id[t->e[i].slot], t->person_id[t->e[i].slot], t->e[i].score};
    return t->n;
}

/* ---- face id -> slot map ---- */

static size_t map_home(const vs_index *idx, int64_t face_id)
{
    return (size_t)(vs_index_mix64((uint64_t)face_id) & (idx->map_cap - 1));
}

/* The map position of face_id, or of the empty cell where it would go. */
static size_t map_find(const vs_index *idx, int64_t face_id)
{
    size_t i = map_home(idx, face_id);
    while (idx->map[i].slot != MAP_EMPTY && idx->map[i].face_id != face_id)
        i = (i + 1) & (idx->map_cap - 1);
    return i;
}

static uint32_t map_get(const vs_index *idx, int64_t face_id)
{
    return idx->map_cap ? idx->map[map_find(idx, face_id)].slot : MAP_EMPTY;
}

static vs_status map_reserve(vs_index *idx, size_t n)
{
    if (n * 2 <= idx->map_cap)
        return VS_OK;
    size_t cap = idx->map_cap ? idx->map_cap : 64;
    while (n * 2 > cap)
        cap *= 2;
    vs_map_cell *old = idx->map;
    size_t old_cap = idx->map_cap;
    vs_map_cell *m = malloc(cap * sizeof *m);
    if (!m)
        return VS_NOMEM;
    for (size_t i = 0; i < cap; i++)
        m[i].slot = MAP_EMPTY;
    idx->map = m;
    idx->map_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].slot != MAP_EMPTY)
            idx->map[map_find(idx, old[i].face_id)] = old[i];
    free(old);
    return VS_OK;
}

/* Sets face_id -> slot (the map has room: map_reserve first). */
static void map_put(vs_index *idx, int64_t face_id, uint32_t slot)
{
    size_t i = map_find(idx, face_id);
    if (idx->map[i].slot == MAP_EMPTY)
        idx->map_used++;
    idx->map[i] = (vs_map_cell){face_id, slot};
}

static void map_del(vs_index *idx, int64_t face_id)
{
    size_t mask = idx->map_cap - 1, i = map_find(idx, face_id);
    if (idx->map[i].slot == MAP_EMPTY)
        return;
    /* Backward-shift deletion keeps every probe sequence unbroken without tombstones. */
    for (size_t j = (i + 1) & mask; idx->map[j].slot != MAP_EMPTY; j = (j + 1) & mask) {
        size_t h = map_home(idx, idx->map[j].face_id);
        /* Move j into the hole i unless its home lies cyclically in (i, j]. */
        int stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (!stays) {
            idx->map[i] = idx->map[j];
            i = j;
        }
    }
    idx->map[i].slot = MAP_EMPTY;
    idx->map_used--;
}

/* ---- life cycle ---- */

static vs_status check_params(const vs_index_params *p, vs_err *err)
{
    if (p->threads < 1 || p->threads > VS_INDEX_MAX_THREADS)
        return vs_err_set(err, VS_INVAL, "index: threads %d not in 1..%d", p->threads,
                          VS_INDEX_MAX_THREADS);
    if (p->rerank < 1 || p->rerank > VS_INDEX_MAX_K)
        return vs_err_set(err, VS_INVAL, "index: rerank %d not in 1..%d", p->rerank,
                          VS_INDEX_MAX_K);
    if (p->hnsw_m < 2 || p->hnsw_m > 64 || p->ef_construction < 1 || p->ef_search < 1)
        return vs_err_set(err, VS_INVAL,
                          "index: hnsw m %d (2..64), ef_construction %d, "
                          "ef_search %d (>= 1)",
                          p->hnsw_m, p->ef_construction, p->ef_search);
    return VS_OK;
}

vs_status vs_index_new(vs_index_kind kind, int dim, const vs_index_params *p, vs_index **out,
                       vs_err *err)
{
    *out = NULL;
    vs_index_params def;
    if (!p) {
        vs_index_params_default(&def);
        p = &def;
    }
    if ((unsigned)kind >= VS_INDEX_KIND_COUNT)
        return vs_err_set(err, VS_INVAL, "index: unknown kind %d", (int)kind);
    if (dim < VS_INDEX_MIN_DIM || dim > VS_INDEX_MAX_DIM)
        return vs_err_set(err, VS_INVAL, "index: dim %d not in %d..%d", dim, VS_INDEX_MIN_DIM,
                          VS_INDEX_MAX_DIM);
    vs_status st = check_params(p, err);
    if (st != VS_OK)
        return st;
    vs_index *idx = calloc(1, sizeof *idx);
    if (!idx)
        return vs_err_set(err, VS_NOMEM, "index: out of memory");
    idx->kind = kind;
    idx->dim = dim;
    idx->p = *p;
    idx->ef_search = p->ef_search;
    idx->flat.dim = dim;
    idx->quant.dim = dim;
    idx->quant.dpad = (dim + 63) / 64 * 64;
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* Searches arrive all the time: without writer preference a writer could wait forever. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&idx->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&idx->pool_lock, NULL);
    if (kind == VS_INDEX_HNSW &&
        vs_hnsw_new(dim, p->hnsw_m, p->ef_construction, p->seed, &idx->hnsw) != VS_OK)
        goto nomem;
    if (p->threads > 1 && kind != VS_INDEX_HNSW &&
        !(idx->pool = pthreadpool_create((size_t)p->threads)))
        goto nomem;
    *out = idx;
    return VS_OK;
nomem:
    vs_index_free(idx);
    return vs_err_set(err, VS_NOMEM, "index: out of memory");
}

static void scratch_free(vs_scratch *s)
{
    free(s->cand);
    free(s->q8);
    free(s->visited);
    free(s->heap_a);
    free(s->heap_b);
}

void vs_index_free(vs_index *idx)
{
    if (!idx)
        return;
    while (idx->scratch) {
        vs_scratch *s = idx->scratch;
        idx->scratch = s->next;
        scratch_free(s);
        free(s);
    }
    scratch_free(&idx->wscratch);
    if (idx->pool)
        pthreadpool_destroy(idx->pool);
    vs_flat_free(&idx->flat);
    vs_quant_free(&idx->quant);
    vs_hnsw_free(idx->hnsw);
    free(idx->face_id);
    free(idx->person_id);
    free(idx->deleted);
    free(idx->map);
    pthread_rwlock_destroy(&idx->lock);
    pthread_mutex_destroy(&idx->pool_lock);
    free(idx);
}

vs_index_kind vs_index_kind_of(const vs_index *idx)
{
    return idx->kind;
}

int vs_index_dim(const vs_index *idx)
{
    return idx->dim;
}

size_t vs_index_size(vs_index *idx)
{
    pthread_rwlock_rdlock(&idx->lock);
    size_t n = idx->count - idx->n_deleted;
    pthread_rwlock_unlock(&idx->lock);
    return n;
}

size_t vs_index_memory(vs_index *idx)
{
    pthread_rwlock_rdlock(&idx->lock);
    size_t b = idx->cap * 2 * sizeof(int64_t) + idx->map_cap * sizeof(vs_map_cell);
    if (idx->kind == VS_INDEX_FLAT)
        b += idx->flat.cap * (size_t)idx->dim * sizeof(float);
    else if (idx->kind == VS_INDEX_INT8)
        b += idx->quant.cap * ((size_t)idx->quant.dpad + 8 + (size_t)idx->dim * sizeof(float));
    else
        b += vs_hnsw_memory(idx->hnsw) + idx->cap;
    pthread_rwlock_unlock(&idx->lock);
    return b;
}

void vs_index_set_ef_search(vs_index *idx, int ef)
{
    pthread_rwlock_wrlock(&idx->lock);
    idx->ef_search = ef < 1 ? 1 : ef;
    pthread_rwlock_unlock(&idx->lock);
}

int vs_index_contains(vs_index *idx, int64_t face_id, int64_t *person_id)
{
    pthread_rwlock_rdlock(&idx->lock);
    uint32_t s = map_get(idx, face_id);
    if (s != MAP_EMPTY && person_id)
        *person_id = idx->person_id[s];
    pthread_rwlock_unlock(&idx->lock);
    return s != MAP_EMPTY;
}

/* ---- writes ---- */

static vs_status check_vector(const float *v, int dim, vs_err *err)
{
    for (int d = 0; d < dim; d++)
        if (!isfinite(v[d]))
            return vs_err_set(err, VS_INVAL, "index: vector value %d is not finite", d);
    return VS_OK;
}

static vs_status grow_arrays(void **p, size_t old, size_t cap, size_t elem)
{
    void *q = realloc(*p, cap * elem);
    if (!q)
        return VS_NOMEM;
    memset((char *)q + old * elem, 0, (cap - old) * elem);
    *p = q;
    return VS_OK;
}

/* Room for n slots and n map entries in every structure (n <= VS_INDEX_MAX_FACES). */
vs_status vs_index_reserve_locked(vs_index *idx, size_t n)
{
    vs_status st = map_reserve(idx, n);
    if (st != VS_OK || n <= idx->cap)
        return st;
    size_t cap = idx->cap ? idx->cap : 64;
    while (cap < n)
        cap = cap + cap / 2 + 64;
    if ((st = grow_arrays((void **)&idx->face_id, idx->cap, cap, sizeof(int64_t))) != VS_OK ||
        (st = grow_arrays((void **)&idx->person_id, idx->cap, cap, sizeof(int64_t))) != VS_OK ||
        (st = grow_arrays((void **)&idx->deleted, idx->cap, cap, 1)) != VS_OK)
        return st;
    if (idx->kind == VS_INDEX_FLAT)
        st = vs_flat_reserve(&idx->flat, cap);
    else if (idx->kind == VS_INDEX_INT8)
        st = vs_quant_reserve(&idx->quant, cap);
    else
        st = vs_hnsw_reserve(idx->hnsw, cap);
    if (st == VS_OK)
        idx->cap = cap;
    return st;
}

/* Stores v at slot (the next slot for HNSW, which links it into the graph). */
static vs_status put_vector(vs_index *idx, uint32_t slot, const float *v)
{
    if (idx->kind == VS_INDEX_FLAT)
        vs_flat_set(&idx->flat, slot, v);
    else if (idx->kind == VS_INDEX_INT8)
        vs_quant_set(&idx->quant, slot, v);
    else
        return vs_hnsw_insert(idx->hnsw, slot, v, &idx->wscratch);
    return VS_OK;
}

vs_status vs_index_add_locked(vs_index *idx, int64_t face_id, int64_t person_id, const float *v)
{
    if (idx->count >= VS_INDEX_MAX_FACES)
        return VS_LIMIT;
    vs_status st = vs_index_reserve_locked(idx, (size_t)idx->count + 1);
    if (st != VS_OK)
        return st;
    uint32_t slot = idx->count;
    idx->face_id[slot] = face_id;
    idx->person_id[slot] = person_id;
    idx->deleted[slot] = 0;
    if ((st = put_vector(idx, slot, v)) != VS_OK)
        return st;
    map_put(idx, face_id, slot);
    idx->count++;
    return VS_OK;
}

vs_status vs_index_add(vs_index *idx, int64_t face_id, int64_t person_id, const float *v,
                       vs_err *err)
{
    vs_status st = check_vector(v, idx->dim, err);
    if (st != VS_OK)
        return st;
    pthread_rwlock_wrlock(&idx->lock);
    if (map_get(idx, face_id) != MAP_EMPTY)
        st = vs_err_set(err, VS_INVAL, "index: face %lld is already present", (long long)face_id);
    else if ((st = vs_index_add_locked(idx, face_id, person_id, v)) != VS_OK)
        vs_err_set(err, st, "index: adding face %lld: %s", (long long)face_id, vs_status_str(st));
    pthread_rwlock_unlock(&idx->lock);
    return st;
}

/* FLAT/INT8: moves the last slot into the hole at slot and shrinks the count. */
static void remove_dense(vs_index *idx, uint32_t slot)
{
    uint32_t last = idx->count - 1;
    map_del(idx, idx->face_id[slot]);
    if (slot != last) {
        if (idx->kind == VS_INDEX_FLAT) {
            float v[VS_INDEX_MAX_DIM];
            vs_flat_get(&idx->flat, last, v);
            vs_flat_set(&idx->flat, slot, v);
        } else {
            vs_quant_move(&idx->quant, slot, last);
        }
        idx->face_id[slot] = idx->face_id[last];
        idx->person_id[slot] = idx->person_id[last];
        map_put(idx, idx->face_id[slot], slot);
    }
    if (idx->kind == VS_INDEX_FLAT)
        vs_flat_clear(&idx->flat, last);
    idx->count--;
}

/*
 * HNSW: rebuilds the graph from the live slots (renumbered in slot order).  On VS_NOMEM the old
 * graph stays.  The rebuild inserts every live face again: O(n log n), under the write lock.
 */
static vs_status compact_hnsw(vs_index *idx)
{
    vs_index *tmp = NULL;
    vs_status st = vs_index_new(VS_INDEX_HNSW, idx->dim, &idx->p, &tmp, NULL);
    if (st != VS_OK)
        return st;
    if ((st = vs_index_reserve_locked(tmp, idx->count - idx->n_deleted)) != VS_OK)
        goto out;
    for (uint32_t s = 0; s < idx->count; s++)
        if (!idx->deleted[s] && (st = vs_index_add_locked(tmp, idx->face_id[s], idx->person_id[s],
                                                          vs_hnsw_vector(idx->hnsw, s))) != VS_OK)
            goto out;
    /* Swap the payloads; the old ones go with tmp. */
    vs_index swap = *idx;
#define SWAP_FIELD(f)                                                                              \
    do {                                                                                           \
        idx->f = tmp->f;                                                                           \
        tmp->f = swap.f;                                                                           \
    } while (0)
    SWAP_FIELD(hnsw);
    SWAP_FIELD(face_id);
    SWAP_FIELD(person_id);
    SWAP_FIELD(deleted);
    SWAP_FIELD(map);
    SWAP_FIELD(map_cap);
    SWAP_FIELD(map_used);
    SWAP_FIELD(cap);
    SWAP_FIELD(count);
    SWAP_FIELD(n_deleted);
#undef SWAP_FIELD
out:
    vs_index_free(tmp);
    return st;
}

/* HNSW: marks slot deleted; compacts past 20% deleted slots. */
static vs_status remove_hnsw(vs_index *idx, uint32_t slot)
{
    map_del(idx, idx->face_id[slot]);
    idx->deleted[slot] = 1;
    idx->n_deleted++;
    if (idx->n_deleted * 5 > idx->count && idx->count >= 64)
        return compact_hnsw(idx);
    return VS_OK;
}

vs_status vs_index_remove(vs_index *idx, int64_t face_id, vs_err *err)
{
    vs_status st = VS_OK;
    pthread_rwlock_wrlock(&idx->lock);
    uint32_t slot = map_get(idx, face_id);
    if (slot == MAP_EMPTY)
        st = vs_err_set(err, VS_NOTFOUND, "index: no face %lld", (long long)face_id);
    else if (idx->kind != VS_INDEX_HNSW)
        remove_dense(idx, slot);
    else if ((st = remove_hnsw(idx, slot)) != VS_OK)
        vs_err_set(err, st, "index: compacting the graph: %s", vs_status_str(st));
    pthread_rwlock_unlock(&idx->lock);
    return st;
}

vs_status vs_index_replace(vs_index *idx, int64_t face_id, int64_t person_id, const float *v,
                           vs_err *err)
{
    vs_status st = check_vector(v, idx->dim, err);
    if (st != VS_OK)
        return st;
    pthread_rwlock_wrlock(&idx->lock);
    uint32_t slot = map_get(idx, face_id);
    if (slot == MAP_EMPTY) {
        st = vs_err_set(err, VS_NOTFOUND, "index: no face %lld", (long long)face_id);
    } else if (idx->kind != VS_INDEX_HNSW) {
        put_vector(idx, slot, v);
        idx->person_id[slot] = person_id;
    } else {
        /* Insert the new node first, then retire the old one: a failure keeps the old entry. */
        map_del(idx, face_id);
        st = vs_index_add_locked(idx, face_id, person_id, v);
        if (st != VS_OK) {
            map_put(idx, face_id, slot);
            vs_err_set(err, st, "index: replacing face %lld: %s", (long long)face_id,
                       vs_status_str(st));
        } else {
            idx->deleted[slot] = 1;
            idx->n_deleted++;
            if (idx->n_deleted * 5 > idx->count && idx->count >= 64)
                compact_hnsw(idx); /* a failed compaction is retried by the next removal */
        }
    }
    pthread_rwlock_unlock(&idx->lock);
    return st;
}

vs_status vs_index_map_build_locked(vs_index *idx)
{
    idx->n_deleted = 0;
    for (uint32_t s = 0; s < idx->count; s++) {
        if (idx->deleted[s]) {
            idx->n_deleted++;
            continue;
        }
        if (map_get(idx, idx->face_id[s]) != MAP_EMPTY)
            return VS_FORMAT;
        map_put(idx, idx->face_id[s], s);
    }
    return VS_OK;
}

uint64_t vs_index_id_digest_add(uint64_t digest, int64_t face_id)
{
    /* A sum of hashed ids: independent of order, and of the slots the faces happen to use. */
    return digest + vs_index_mix64((uint64_t)face_id + 0x9e3779b97f4a7c15ull);
}

/*
 * index_priv.h - the vs_index structure, shared by index.c (writes, id maps), search.c and
 * snapshot.c (private to src/index/; backend.h holds the storage backends).
 */
#ifndef VS_INDEX_INDEX_PRIV_H
#define VS_INDEX_INDEX_PRIV_H

#include <pthread.h>
#include <pthreadpool.h>

#include "index/backend.h"

typedef struct vs_map_cell {
    int64_t face_id;
    uint32_t slot; /* UINT32_MAX: empty */
} vs_map_cell;

struct vs_index {
    vs_index_kind kind;
    int dim;
    vs_index_params p;
    int ef_search;

    pthread_rwlock_t lock;     /* readers: searches; writer: everything that changes slots */
    pthread_mutex_t pool_lock; /* guards scratch */
    vs_scratch *scratch;       /* idle scratch blocks */
    vs_scratch wscratch;       /* the writer's (HNSW insertions), under the write lock */
    pthreadpool_t pool;        /* FLAT/INT8 with p.threads > 1, else NULL */

    size_t cap;         /* slots allocated in every array and backend */
    uint32_t count;     /* slots in use */
    uint32_t n_deleted; /* HNSW: slots marked deleted */
    int64_t *face_id;   /* cap */
    int64_t *person_id; /* cap */
    uint8_t *deleted;   /* cap (all 0 for FLAT/INT8) */
    vs_map_cell *map;   /* map_cap cells, a power of two, at most half used */
    size_t map_cap, map_used;

    vs_flat flat;
    vs_quant quant;
    vs_hnsw *hnsw;
};

/* The splitmix64 finaliser: hashes face ids (the map, the id digest). */
static inline uint64_t vs_index_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Under the write lock: room for n slots; adds a face (not present yet, vector checked). */
vs_status vs_index_reserve_locked(vs_index *idx, size_t n);
vs_status vs_index_add_locked(vs_index *idx, int64_t face_id, int64_t person_id, const float *v);
/* Fills the map and n_deleted from the slot arrays [0, count); VS_FORMAT on a duplicate live id. */
vs_status vs_index_map_build_locked(vs_index *idx);

#endif

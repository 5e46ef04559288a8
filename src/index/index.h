/*
 * index.h - the in-RAM vector index of the face gallery (src/index/).
 *
 * The store (src/store/) is the system of record; this index is a cache of its face vectors,
 * rebuilt from it at start or loaded from a snapshot that the caller has checked against it.
 * Writes go to the store first, then here, so a crash never loses a committed face: at worst the
 * snapshot is stale and is rejected (see vs_index_load).
 *
 * Each entry is one face: a face id (unique), the id of the person it belongs to and a unit
 * vector (the caller L2-normalises; the index copies it).  The score of a face is the inner
 * product with the query, i.e. the cosine for unit vectors.  Three kinds:
 *
 *   VS_INDEX_FLAT  exact: every vector is scored in float32 (SIMD, blocked over queries x vectors
 *                  for batches).  The default: a watchlist must not miss.  4 x dim bytes/face.
 *   VS_INDEX_INT8  a scan over int8 codes (per-vector scale) picks the `rerank` best faces, which
 *                  are then scored exactly in float32 from the kept originals.  ~4x less memory
 *                  traffic per scan; 5 x dim bytes/face (codes + originals).
 *   VS_INDEX_HNSW  approximate graph search (hierarchical navigable small world) for very large
 *                  galleries; recall is set by ef_search.  Removal marks a face deleted (skipped
 *                  by searches, still used for navigation) and the graph is rebuilt from the
 *                  live faces once more than 20% are deleted.
 *
 * Results.  vs_index_search returns the top-k PERSONS: the best face of each person, sorted by
 * score (descending), ties broken by the smaller face id.  vs_index_search_faces returns the
 * top-k faces in the same order.  For FLAT both are exact.  For INT8 and HNSW the persons are
 * grouped from the `rerank` (INT8) or `ef_search` (HNSW) best face candidates.
 *
 * Threads.  Any number of threads may search concurrently with one writer: a writer-preferring
 * rwlock guards the index.  A search allocates nothing in steady state: it borrows a scratch
 * block from a pool owned by the index (one per concurrently searching thread; a block is
 * allocated the first time a thread finds the pool empty and grown when the gallery or k
 * outgrows it, never freed before vs_index_free).  With params.threads > 1 a flat or int8 search
 * splits its scan over a pthreadpool owned by the index (concurrent callers share that pool and
 * take turns); HNSW searches are single-threaded (run several searches at once instead).
 * vs_index_search_batch allocates its per-query working memory per call.
 */
#ifndef VS_INDEX_INDEX_H
#define VS_INDEX_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum { VS_INDEX_FLAT, VS_INDEX_INT8, VS_INDEX_HNSW, VS_INDEX_KIND_COUNT } vs_index_kind;

#define VS_INDEX_MIN_DIM 2
#define VS_INDEX_MAX_DIM 4096
#define VS_INDEX_MAX_K 4096
#define VS_INDEX_MAX_THREADS 64
#define VS_INDEX_MAX_FACES 0x7ffffff0u /* slots are 32-bit */

typedef struct vs_index_params {
    int threads;         /* threads one flat/int8 search may use, 1..64 (default 1) */
    int rerank;          /* INT8: candidates scored exactly, 1..VS_INDEX_MAX_K (default 64) */
    int hnsw_m;          /* HNSW: links per node on upper layers, 2 x m on layer 0 (default 16) */
    int ef_construction; /* HNSW: candidate list while inserting (default 200) */
    int ef_search;       /* HNSW: candidate list while searching, >= k is used (default 64) */
    uint64_t seed;       /* HNSW: seed of the level generator (default 1): builds are repeatable */
} vs_index_params;

/* One result: the face, its person and the score (inner product with the query). */
typedef struct vs_hit {
    int64_t face_id;
    int64_t person_id;
    float score;
} vs_hit;

typedef struct vs_index vs_index;

/* The defaults above. */
void vs_index_params_default(vs_index_params *p);

/* "flat", "int8", "hnsw" (NULL for an invalid kind) and the reverse (VS_INVAL if unknown). */
const char *vs_index_kind_name(vs_index_kind kind);
vs_status vs_index_kind_from_name(const char *name, vs_index_kind *out);

/*
 * A new empty index of `kind` for vectors of `dim` floats (VS_INDEX_MIN_DIM..VS_INDEX_MAX_DIM).
 * p may be NULL (defaults).  Errors: VS_INVAL (kind, dim or a parameter out of range), VS_NOMEM.
 * *out is NULL on failure.  Free with vs_index_free (NULL-safe).
 */
vs_status vs_index_new(vs_index_kind kind, int dim, const vs_index_params *p, vs_index **out,
                       vs_err *err);
void vs_index_free(vs_index *idx);

vs_index_kind vs_index_kind_of(const vs_index *idx);
int vs_index_dim(const vs_index *idx);

/* Live faces (deleted HNSW nodes not counted).  Takes the read lock. */
size_t vs_index_size(vs_index *idx);

/* Bytes held by the index (vectors, codes, graph, id maps; not the scratch pool). */
size_t vs_index_memory(vs_index *idx);

/*
 * Adds face_id (of person_id) with the vector v (dim floats, copied; unit length is the caller's
 * business, non-finite values are rejected).  Errors: VS_INVAL (face_id already present, a
 * non-finite value), VS_LIMIT (VS_INDEX_MAX_FACES), VS_NOMEM (the index is unchanged).
 */
vs_status vs_index_add(vs_index *idx, int64_t face_id, int64_t person_id, const float *v,
                       vs_err *err);

/* Removes face_id.  Errors: VS_NOTFOUND, VS_NOMEM (an HNSW compaction could not allocate: the
 * face is removed all the same and the compaction is retried by the next removal). */
vs_status vs_index_remove(vs_index *idx, int64_t face_id, vs_err *err);

/* Gives face_id a new vector and person (FLAT/INT8 in place; HNSW removes and re-inserts).
 * Errors: VS_NOTFOUND, VS_INVAL (non-finite value), VS_NOMEM (the face keeps its old entry). */
vs_status vs_index_replace(vs_index *idx, int64_t face_id, int64_t person_id, const float *v,
                           vs_err *err);

/* 1 if face_id is present (and copies its person into *person_id when that is non-NULL). */
int vs_index_contains(vs_index *idx, int64_t face_id, int64_t *person_id);

/* HNSW: the search candidate list (>= 1); ignored by other kinds.  Takes the write lock. */
void vs_index_set_ef_search(vs_index *idx, int ef);

/*
 * The top-k persons for query q (dim floats): out[0..*n) sorted by score descending, ties by
 * face id ascending, one hit per person (its best face).  *n = min(k, persons) (fewer for
 * INT8/HNSW when the candidates cover fewer persons).  k in 1..VS_INDEX_MAX_K.
 * Errors: VS_INVAL (k out of range, non-finite query), VS_NOMEM (first use of a new scratch).
 */
vs_status vs_index_search(vs_index *idx, const float *q, int k, vs_hit *out, int *n, vs_err *err);

/* The top-k faces, same order and errors. */
vs_status vs_index_search_faces(vs_index *idx, const float *q, int k, vs_hit *out, int *n,
                                vs_err *err);

/*
 * nq queries at once (q: nq x dim, row-major): out is nq x k hits (row i holds query i's n[i]
 * hits).  by_person selects vs_index_search's grouping, else faces.  FLAT scores blocks of
 * queries against blocks of vectors (what makes batches fast); the others run the queries one
 * by one.  The queries are split over `threads` threads (0: params.threads).  Allocates its
 * working memory per call.  Errors: as vs_index_search, VS_INVAL (nq < 1).
 */
vs_status vs_index_search_batch(vs_index *idx, const float *q, int nq, int k, int by_person,
                                int threads, vs_hit *out, int *n, vs_err *err);

/*
 * Snapshot.  vs_index_save writes the index (ids, persons, vectors and, for HNSW, the graph) to
 * path atomically (a temporary file renamed over it).  vs_index_load reads one back and trusts
 * it only if it describes exactly the store's faces: the caller passes the store's face count,
 * largest face id and id digest (vs_index_id_digest over the store's face ids); any difference,
 * any checksum failure or a file of another format version, kind or dimension (when
 * want_kind/want_dim are not -1/0) gives VS_FORMAT, and the caller rebuilds from the store.
 * p may be NULL (defaults; the file's HNSW m and ef_construction are always used).
 * Errors: VS_IO, VS_FORMAT, VS_NOMEM, VS_INVAL.
 */
vs_status vs_index_save(vs_index *idx, const char *path, vs_err *err);
vs_status vs_index_load(const char *path, int want_kind, int want_dim, const vs_index_params *p,
                        uint64_t store_count, int64_t store_max_id, uint64_t store_digest,
                        vs_index **out, vs_err *err);

/* Order-independent digest of a set of face ids: vs_index_id_digest_add over each id, starting
 * from 0.  The store side computes it the same way to check a snapshot. */
uint64_t vs_index_id_digest_add(uint64_t digest, int64_t face_id);

#endif

/*
 * search.c - the searches of the gallery index (src/index/index.h): one query (faces or persons),
 * and batches.  Runs under the index's read lock and borrows its working memory from the scratch
 * pool, so concurrent searches share nothing they write.
 *
 * One query:
 *   FLAT  the float32 scan offers every slot to a collector of k (by person or by face).  With
 *         params.threads > 1 and a large gallery the slots are split into one range per thread
 *         of the index's pthreadpool, each with its own collector, merged at the end: the
 *         collector's order is total (score, then face id), so the result does not depend on
 *         the split.
 *   INT8  the int8 scan keeps the max(k, rerank) best faces by approximate score (split the same
 *         way); those are scored exactly from the float32 originals into the final collector.
 *   HNSW  the graph search offers its max(k, ef_search) best live nodes to the collector.
 * Batch: FLAT scores the queries in tiles against panels of vectors (flat.c), the other kinds
 * run the queries one by one; the queries are split over threads made for the call.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_priv.h"

#define PAR_MIN_SLOTS 8192 /* below this a search does not split over threads */
#define PAR_UNIT 64        /* thread ranges start on multiples of this (4 flat panels) */
#define BATCH_TILE 6       /* flat.c's tile height: padded query rows */

static vs_scratch *scratch_get(vs_index *idx)
{
    pthread_mutex_lock(&idx->pool_lock);
    vs_scratch *s = idx->scratch;
    if (s)
        idx->scratch = s->next;
    pthread_mutex_unlock(&idx->pool_lock);
    return s ? s : calloc(1, sizeof *s);
}

static void scratch_put(vs_index *idx, vs_scratch *s)
{
    pthread_mutex_lock(&idx->pool_lock);
    s->next = idx->scratch;
    idx->scratch = s;
    pthread_mutex_unlock(&idx->pool_lock);
}

typedef struct scan_job {
    const vs_index *idx;
    const float *q;
    const int8_t *q8;
    float qscale;
    vs_topk *t; /* one per range */
    uint32_t per;
} scan_job;

/* Scores range i of the slots into collector i. */
static void scan_range(void *ctx, size_t i)
{
    const scan_job *j = ctx;
    uint32_t count = j->idx->count;
    uint32_t b = (uint32_t)i * j->per;
    if (b >= count)
        return;
    uint32_t e = count - b < j->per ? count : b + j->per;
    if (j->idx->kind == VS_INDEX_FLAT)
        vs_flat_scan(&j->idx->flat, j->q, b, e, &j->t[i]);
    else
        vs_quant_scan(&j->idx->quant, j->q8, j->qscale, b, e, &j->t[i]);
}

/* FLAT/INT8: the scan into `threads` collectors, merged into t[0]. */
static void scan_all(vs_index *idx, const float *q, vs_scratch *s, vs_topk *t, int threads)
{
    scan_job job = {idx, q, NULL, 0.0f, t, 0};
    if (idx->kind == VS_INDEX_INT8) {
        job.qscale = vs_quant_query(&idx->quant, q, s->q8);
        job.q8 = s->q8;
    }
    uint32_t per = (idx->count + (uint32_t)threads - 1) / (uint32_t)threads;
    job.per = (per + PAR_UNIT - 1) / PAR_UNIT * PAR_UNIT;
    if (threads == 1)
        scan_range(&job, 0);
    else
        pthreadpool_parallelize_1d(idx->pool, scan_range, &job, (size_t)threads, 0);
    for (int i = 1; i < threads; i++)
        vs_topk_merge(&t[0], &t[i]);
}

/* One query under the read lock with scratch s.  par: may split over the index's threads. */
static vs_status search_locked(vs_index *idx, vs_scratch *s, const float *q, int k, int by_person,
                               int par, vs_hit *out, int *n)
{
    int threads = par && idx->pool && idx->count >= PAR_MIN_SLOTS ? idx->p.threads : 1;
    int is_int8 = idx->kind == VS_INDEX_INT8;
    int stage = is_int8 && idx->p.rerank > k ? idx->p.rerank : k;
    if (vs_grow((void **)&s->cand, &s->cand_cap, (size_t)threads * (size_t)stage + (size_t)k,
                sizeof(vs_cand)) != VS_OK ||
        (is_int8 && vs_grow((void **)&s->q8, &s->q8_cap, (size_t)idx->quant.dpad, 1) != VS_OK))
        return VS_NOMEM;
    vs_topk t[VS_INDEX_MAX_THREADS], fin;
    vs_topk_init(&fin, s->cand + (size_t)threads * (size_t)stage, k, by_person, idx->face_id,
                 idx->person_id);
    if (idx->kind == VS_INDEX_HNSW) {
        int ef = idx->ef_search > k ? idx->ef_search : k;
        vs_status st = vs_hnsw_search(idx->hnsw, q, ef, idx->deleted, s, &fin);
        if (st != VS_OK)
            return st;
        *n = vs_topk_emit(&fin, out);
        return VS_OK;
    }
    for (int i = 0; i < threads; i++)
        vs_topk_init(&t[i], s->cand + (size_t)i * (size_t)stage, stage, is_int8 ? 0 : by_person,
                     idx->face_id, idx->person_id);
    scan_all(idx, q, s, t, threads);
    if (!is_int8) {
        *n = vs_topk_emit(&t[0], out);
        return VS_OK;
    }
    /* The exact re-rank of the approximate candidates. */
    for (int i = 0; i < t[0].n; i++) {
        uint32_t slot = t[0].e[i].slot;
        float score = vs_dot_f32(q, idx->quant.orig + (size_t)slot * idx->dim, idx->dim);
        if (score >= fin.thr)
            vs_topk_offer(&fin, score, slot);
    }
    *n = vs_topk_emit(&fin, out);
    return VS_OK;
}

static vs_status check_query(const vs_index *idx, const float *q, int k, vs_err *err)
{
    if (k < 1 || k > VS_INDEX_MAX_K)
        return vs_err_set(err, VS_INVAL, "index: k %d not in 1..%d", k, VS_INDEX_MAX_K);
    for (int d = 0; d < idx->dim; d++)
        if (!isfinite(q[d]))
            return vs_err_set(err, VS_INVAL, "index: query value %d is not finite", d);
    return VS_OK;
}

static vs_status search_one(vs_index *idx, const float *q, int k, int by_person, vs_hit *out,
                            int *n, vs_err *err)
{
    *n = 0;
    vs_status st = check_query(idx, q, k, err);
    if (st != VS_OK)
        return st;
    pthread_rwlock_rdlock(&idx->lock);
    vs_scratch *s = scratch_get(idx);
    st = s ? search_locked(idx, s, q, k, by_person, 1, out, n) : VS_NOMEM;
    if (s)
        scratch_put(idx, s);
    pthread_rwlock_unlock(&idx->lock);
    if (st != VS_OK)
        vs_err_set(err, st, "index: search: %s", vs_status_str(st));
    return st;
}

vs_status vs_index_search(vs_index *idx, const float *q, int k, vs_hit *out, int *n, vs_err *err)
{
    return search_one(idx, q, k, 1, out, n, err);
}

vs_status vs_index_search_faces(vs_index *idx, const float *q, int k, vs_hit *out, int *n,
                                vs_err *err)
{
    return search_one(idx, q, k, 0, out, n, err);
}

/* ---- batches ---- */

typedef struct batch_job {
    vs_index *idx;
    const float *q;
    int k, by_person;
    int q0, q1; /* this worker's queries */
    vs_hit *out;
    int *n;
    vs_status st;
} batch_job;

/* FLAT: the worker's queries in tiles against all panels at once. */
static vs_status batch_flat(batch_job *j)
{
    const vs_index *idx = j->idx;
    int rows = j->q1 - j->q0;
    size_t padded = ((size_t)rows + BATCH_TILE - 1) / BATCH_TILE * BATCH_TILE;
    float *qp = calloc(padded * (size_t)idx->dim, sizeof(float));
    vs_cand *cand = malloc((size_t)rows * (size_t)j->k * sizeof *cand);
    vs_topk *t = malloc((size_t)rows * sizeof *t);
    vs_status st = VS_NOMEM;
    if (!qp || !cand || !t)
        goto out;
    memcpy(qp, j->q + (size_t)j->q0 * idx->dim, (size_t)rows * (size_t)idx->dim * sizeof(float));
    for (int i = 0; i < rows; i++)
        vs_topk_init(&t[i], cand + (size_t)i * (size_t)j->k, j->k, j->by_person, idx->face_id,
                     idx->person_id);
    vs_flat_scan_batch(&idx->flat, qp, rows, idx->count, t);
    for (int i = 0; i < rows; i++)
        j->n[j->q0 + i] = vs_topk_emit(&t[i], j->out + (size_t)(j->q0 + i) * (size_t)j->k);
    st = VS_OK;
out:
    free(qp);
    free(cand);
    free(t);
    return st;
}

static void *batch_worker(void *arg)
{
    batch_job *j = arg;
    if (j->idx->kind == VS_INDEX_FLAT) {
        j->st = batch_flat(j);
        return NULL;
    }
    vs_scratch *s = scratch_get(j->idx);
    j->st = s ? VS_OK : VS_NOMEM;
    for (int i = j->q0; i < j->q1 && j->st == VS_OK; i++)
        j->st = search_locked(j->idx, s, j->q + (size_t)i * j->idx->dim, j->k, j->by_person, 0,
                              j->out + (size_t)i * (size_t)j->k, &j->n[i]);
    if (s)
        scratch_put(j->idx, s);
    return NULL;
}

vs_status vs_index_search_batch(vs_index *idx, const float *q, int nq, int k, int by_person,
                                int threads, vs_hit *out, int *n, vs_err *err)
{
    if (nq < 1)
        return vs_err_set(err, VS_INVAL, "index: batch of %d queries", nq);
    if (threads <= 0)
        threads = idx->p.threads;
    if (threads > VS_INDEX_MAX_THREADS)
        threads = VS_INDEX_MAX_THREADS;
    if (threads > nq)
        threads = nq;
    vs_status st = VS_OK;
    for (int i = 0; i < nq && st == VS_OK; i++) {
        n[i] = 0;
        st = check_query(idx, q + (size_t)i * idx->dim, k, err);
    }
    if (st != VS_OK)
        return st;
    batch_job jobs[VS_INDEX_MAX_THREADS];
    pthread_t tid[VS_INDEX_MAX_THREADS];
    int started[VS_INDEX_MAX_THREADS] = {0};
    pthread_rwlock_rdlock(&idx->lock);
    for (int t = 0; t < threads; t++) {
        jobs[t] = (batch_job){idx,
                              q,
                              k,
                              by_person,
                              (int)((long)nq * t / threads),
                              (int)((long)nq * (t + 1) / threads),
                              out,
                              n,
                              VS_OK};
        /* The calling thread takes job 0; a thread that cannot start runs its job here. */
        if (t > 0)
            started[t] = pthread_create(&tid[t], NULL, batch_worker, &jobs[t]) == 0;
    }
    batch_worker(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            batch_worker(&jobs[t]);
        if (jobs[t].st != VS_OK)
            st = jobs[t].st;
    }
    if (jobs[0].st != VS_OK)
        st = jobs[0].st;
    pthread_rwlock_unlock(&idx->lock);
    if (st != VS_OK)
        vs_err_set(err, st, "index: batch search: %s", vs_status_str(st));
    return st;
}

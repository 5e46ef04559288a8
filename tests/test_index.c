/*
 * test_index.c - the gallery index (src/index/index.h) against references computed here:
 *   - a brute-force scan in double precision over the same vectors (exact FLAT results, the
 *     ids and their order, ties broken by face id, and the best face per person);
 *   - FLAT as the exact truth for INT8 (top-1 after re-rank) and HNSW (recall@1);
 *   - the vectors themselves: every vector is a pure function of its face id (make_vector), so
 *     a hit returned while a writer is busy can be checked for its score and person.
 * Data are synthetic and seeded (splitmix64, Box-Muller): "clustered like faces" means a few
 * noisy copies around each identity centre (cosine to the centre about 0.8), unit-normalised.
 *
 *   build/tests/test_index          all tests (a few seconds; longer under ASan)
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "index/index.h"

#define CHECK_EQ_INT(a, b)                                                                         \
    CHECK((long long)(a) == (long long)(b), "%s == %lld, expected %s == %lld", #a, (long long)(a), \
          #b, (long long)(b))

#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        vs_err e_ = {{0}};                                                                         \
        vs_status s_ = (expr);                                                                     \
        (void)e_;                                                                                  \
        CHECK(s_ == VS_OK, "%s returned %s", #expr, vs_status_str(s_));                            \
    } while (0)

/* ---- data ---- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double gauss(uint64_t *s)
{
    double u = ((double)(splitmix(s) >> 11) + 0.5) / 9007199254740992.0;
    double v = ((double)(splitmix(s) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static void normalise(float *v, int dim)
{
    double n = 0.0;
    for (int d = 0; d < dim; d++)
        n += (double)v[d] * v[d];
    n = sqrt(n);
    for (int d = 0; d < dim; d++)
        v[d] = (float)(v[d] / n);
}

/* A unit vector: the centre of identity `ident` plus noise of norm `noise` drawn from `seed`. */
static void clustered(float *v, int dim, uint64_t ident, uint64_t seed, double noise)
{
    uint64_t sc = ident * 7919 + 17, sn = seed * 104729 + 3;
    for (int d = 0; d < dim; d++)
        v[d] = (float)(gauss(&sc) + noise * gauss(&sn));
    normalise(v, dim);
}

/* Face f's vector: identity f / 5, copy f % 5.  Person of a face: its identity. */
static void make_vector(float *v, int dim, int64_t face)
{
    clustered(v, dim, (uint64_t)(face / 5), (uint64_t)face + 1000003, 0.75);
}

static double dot_double(const float *a, const float *b, int dim)
{
    double s = 0.0;
    for (int d = 0; d < dim; d++)
        s += (double)a[d] * b[d];
    return s;
}

typedef struct ref_hit {
    double score;
    int64_t face, person;
} ref_hit;

static int ref_cmp(const void *a, const void *b)
{
    const ref_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->face > y->face) - (x->face < y->face);
}

/* Brute force: all n faces scored in double, sorted; with by_person the best face per person. */
static int brute_force(const float *vecs, const int64_t *face, const int64_t *person, int n,
                       int dim, const float *q, int by_person, int k, ref_hit *out, ref_hit *tmp)
{
    for (int i = 0; i < n; i++)
        tmp[i] = (ref_hit){dot_double(q, vecs + (size_t)i * dim, dim), face[i], person[i]};
    qsort(tmp, (size_t)n, sizeof *tmp, ref_cmp);
    int m = 0;
    for (int i = 0; i < n && m < k; i++) {
        int seen = 0;
        for (int j = 0; j < m && by_person && !seen; j++)
            seen = out[j].person == tmp[i].person;
        if (!seen)
            out[m++] = tmp[i];
    }
    return m;
}

/* Compares an index result with the brute force: same ids in the same order wherever the
 * reference scores are more than eps apart (float32 accumulation may swap nearer ones). */
static int same_as_reference(const vs_hit *h, int n, const ref_hit *r, int m, double eps)
{
    if (n != m)
        return 0;
    for (int i = 0; i < n; i++) {
        if (fabs(h[i].score - r[i].score) > eps)
            return 0;
        if (h[i].face_id == r[i].face)
            continue;
        int close = (i > 0 && r[i].score - r[i - 1].score > -eps) ||
                    (i + 1 < m && r[i].score - r[i + 1].score < eps);
        if (!close)
            return 0;
    }
    return 1;
}

/* ---- tests ---- */

/* Random (unclustered) vectors in dimensions that are and are not multiples of 16/64. */
static int flat_equals_double_brute_force(void)
{
    const int dims[] = {128, 100, 512};
    const int n = 3000, nq = 40, k = 10, persons = 700;
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        int dim = dims[di];
        float *vecs = malloc((size_t)n * dim * sizeof(float));
        int64_t *face = malloc((size_t)n * sizeof(int64_t));
        int64_t *person = malloc((size_t)n * sizeof(int64_t));
        ref_hit *tmp = malloc((size_t)n * sizeof *tmp), ref[10];
        vs_index *idx = NULL;
        vs_hit hits[10];
        int nh = 0;
        uint64_t s = 42 + (uint64_t)dim;
        CHECK_OK(vs_index_new(VS_INDEX_FLAT, dim, NULL, &idx, NULL));
        for (int i = 0; i < n; i++) {
            face[i] = 1000 + 7 * i;
            person[i] = (int64_t)(splitmix(&s) % persons);
            for (int d = 0; d < dim; d++)
                vecs[(size_t)i * dim + d] = (float)gauss(&s);
            normalise(vecs + (size_t)i * dim, dim);
            CHECK_OK(vs_index_add(idx, face[i], person[i], vecs + (size_t)i * dim, NULL));
        }
        CHECK_EQ_INT(vs_index_size(idx), n);
        int bad_faces = 0, bad_persons = 0;
        for (int qi = 0; qi < nq; qi++) {
            float q[512];
            for (int d = 0; d < dim; d++)
                q[d] = (float)gauss(&s);
            normalise(q, dim);
            int m = brute_force(vecs, face, person, n, dim, q, 0, k, ref, tmp);
            CHECK_OK(vs_index_search_faces(idx, q, k, hits, &nh, NULL));
            bad_faces += !same_as_reference(hits, nh, ref, m, 1e-5);
            m = brute_force(vecs, face, person, n, dim, q, 1, k, ref, tmp);
            CHECK_OK(vs_index_search(idx, q, k, hits, &nh, NULL));
            bad_persons += !same_as_reference(hits, nh, ref, m, 1e-5);
        }
        CHECK(bad_faces == 0, "dim %d: %d of %d face results differ from the brute force", dim,
              bad_faces, nq);
        CHECK(bad_persons == 0, "dim %d: %d of %d person results differ", dim, bad_persons, nq);
        vs_index_free(idx);
        free(vecs);
        free(face);
        free(person);
        free(tmp);
    }
    return failures;
}

/* Identical vectors score identically wherever they sit: the smaller face id comes first. */
static int ties_are_broken_by_face_id(void)
{
    const int dim = 64;
    float v[64], w[64];
    vs_index *idx = NULL;
    vs_hit h[8];
    int n = 0;
    make_vector(v, dim, 1);
    make_vector(w, dim, 400);
    CHECK_OK(vs_index_new(VS_INDEX_FLAT, dim, NULL, &idx, NULL));
    /* Far apart slots (different panels and lanes), ids added out of order. */
    CHECK_OK(vs_index_add(idx, 90, 9, v, NULL));
    for (int i = 0; i < 40; i++)
        CHECK_OK(vs_index_add(idx, 1000 + i, 1000 + i, w, NULL));
    CHECK_OK(vs_index_add(idx, 30, 3, v, NULL));
    CHECK_OK(vs_index_add(idx, 60, 6, v, NULL));
    CHECK_OK(vs_index_search_faces(idx, v, 3, h, &n, NULL));
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(h[0].face_id, 30);
    CHECK_EQ_INT(h[1].face_id, 60);
    CHECK_EQ_INT(h[2].face_id, 90);
    CHECK(h[0].score == h[1].score && h[1].score == h[2].score, "tied scores differ");
    vs_index_free(idx);
    return failures;
}

/* Builds an index of `kind` over faces [0, n) (make_vector, person = face / 5). */
static vs_index *build(vs_index_kind kind, int dim, int n, const vs_index_params *p)
{
    vs_index *idx = NULL;
    float v[512];
    CHECK_OK(vs_index_new(kind, dim, p, &idx, NULL));
    for (int f = 0; idx && f < n; f++) {
        make_vector(v, dim, f);
        CHECK_OK(vs_index_add(idx, f, f / 5, v, NULL));
    }
    return idx;
}

static int search_returns_best_face_per_person(void)
{
    const int dim = 128;
    for (int kind = 0; kind < VS_INDEX_KIND_COUNT; kind++) {
        vs_index *idx = build((vs_index_kind)kind, dim, 2000, NULL);
        vs_hit h[20], faces[200];
        int n = 0, nf = 0;
        float q[128];
        for (int t = 0; t < 20; t++) {
            clustered(q, dim, (uint64_t)(t * 17), 777 + (uint64_t)t, 0.75);
            CHECK_OK(vs_index_search(idx, q, 20, h, &n, NULL));
            CHECK_OK(vs_index_search_faces(idx, q, 200, faces, &nf, NULL));
            CHECK(n > 0 && h[0].person_id == t * 17, "%s: query %d found person %lld",
                  vs_index_kind_name(kind), t, (long long)h[0].person_id);
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < i; j++)
                    CHECK(h[j].person_id != h[i].person_id, "%s: person %lld twice",
                          vs_index_kind_name(kind), (long long)h[i].person_id);
                if (i > 0)
                    CHECK(h[i - 1].score >= h[i].score, "not sorted");
                /* Its face is the best of that person's faces among the top faces. */
                for (int j = 0; j < nf; j++)
                    if (faces[j].person_id == h[i].person_id) {
                        CHECK(kind == VS_INDEX_HNSW || faces[j].face_id == h[i].face_id,
                              "%s: person %lld: face %lld, best face %lld",
                              vs_index_kind_name(kind), (long long)h[i].person_id,
                              (long long)h[i].face_id, (long long)faces[j].face_id);
                        break;
                    }
            }
        }
        vs_index_free(idx);
    }
    return failures;
}

static int batch_equals_single_queries(void)
{
    const int dim = 96, nq = 23, k = 7;
    vs_index_params p;
    vs_index_params_default(&p);
    p.threads = 2;
    for (int kind = 0; kind < VS_INDEX_KIND_COUNT; kind++) {
        vs_index *idx = build((vs_index_kind)kind, dim, kind == VS_INDEX_HNSW ? 3000 : 20000, &p);
        float *q = malloc((size_t)nq * dim * sizeof(float));
        vs_hit *b = malloc((size_t)nq * k * sizeof *b), s[7];
        int nb[23], ns = 0;
        for (int i = 0; i < nq; i++)
            clustered(q + (size_t)i * dim, dim, (uint64_t)i * 31, 5 + (uint64_t)i, 0.75);
        for (int by_person = 0; by_person < 2; by_person++)
            for (int threads = 1; threads <= 3; threads++) {
                CHECK_OK(vs_index_search_batch(idx, q, nq, k, by_person, threads, b, nb, NULL));
                for (int i = 0; i < nq; i++) {
                    if (by_person)
                        CHECK_OK(vs_index_search(idx, q + (size_t)i * dim, k, s, &ns, NULL));
                    else
                        CHECK_OK(vs_index_search_faces(idx, q + (size_t)i * dim, k, s, &ns, NULL));
                    int same = nb[i] == ns;
                    for (int j = 0; j < ns && same; j++)
                        same = b[(size_t)i * k + j].face_id == s[j].face_id &&
                               b[(size_t)i * k + j].score == s[j].score;
                    CHECK(same, "%s: batch (%d threads, by_person %d) query %d differs",
                          vs_index_kind_name(kind), threads, by_person, i);
                }
            }
        free(q);
        free(b);
        vs_index_free(idx);
    }
    return failures;
}

static int remove_and_replace_are_honoured(void)
{
    const int dim = 64, n = 600;
    for (int kind = 0; kind < VS_INDEX_KIND_COUNT; kind++) {
        const char *name = vs_index_kind_name(kind);
        vs_index *idx = build((vs_index_kind)kind, dim, n, NULL);
        float v[64];
        vs_hit h[50];
        int nh = 0;
        vs_err err = {{0}};
        /* Remove every third face: more than 20%, so HNSW compacts on the way. */
        for (int f = 0; f < n; f += 3)
            CHECK_OK(vs_index_remove(idx, f, NULL));
        CHECK_EQ_INT(vs_index_size(idx), n - (n + 2) / 3);
        CHECK(vs_index_remove(idx, 0, &err) == VS_NOTFOUND, "%s: removing twice", name);
        for (int f = 0; f < n; f++) {
            CHECK(vs_index_contains(idx, f, NULL) == (f % 3 != 0), "%s: contains %d", name, f);
            if (f % 3 != 0)
                continue;
            make_vector(v, dim, f);
            CHECK_OK(vs_index_search_faces(idx, v, 50, h, &nh, NULL));
            for (int i = 0; i < nh; i++)
                CHECK(h[i].face_id % 3 != 0, "%s: removed face %lld returned", name,
                      (long long)h[i].face_id);
        }
        /* Face 1 takes face 599's vector and a new person. */
        make_vector(v, dim, 599);
        CHECK_OK(vs_index_replace(idx, 1, 777, v, NULL));
        CHECK_OK(vs_index_remove(idx, 599, NULL));
        CHECK_OK(vs_index_search_faces(idx, v, 1, h, &nh, NULL));
        CHECK(nh == 1 && h[0].face_id == 1 && h[0].person_id == 777 && h[0].score > 0.999f,
              "%s: replaced face not found (face %lld person %lld)", name, (long long)h[0].face_id,
              (long long)h[0].person_id);
        make_vector(v, dim, 1);
        CHECK_OK(vs_index_search_faces(idx, v, 1, h, &nh, NULL));
        CHECK(nh == 1 && h[0].face_id != 1, "%s: face 1's old vector still found", name);
        CHECK(vs_index_replace(idx, 3, 1, v, &err) == VS_NOTFOUND, "%s: replacing a removed face",
              name);
        /* Re-adding a removed id works. */
        make_vector(v, dim, 3);
        CHECK_OK(vs_index_add(idx, 3, 0, v, NULL));
        CHECK_OK(vs_index_search_faces(idx, v, 1, h, &nh, NULL));
        CHECK(nh == 1 && h[0].face_id == 3, "%s: re-added face not found", name);
        vs_index_free(idx);
    }
    return failures;
}

static int bad_input_is_rejected(void)
{
    vs_index *idx = NULL;
    vs_err err = {{0}};
    vs_hit h[1];
    int n = 0;
    float v[32];
    CHECK(vs_index_new(VS_INDEX_FLAT, 1, NULL, &idx, &err) == VS_INVAL && !idx, "dim 1");
    CHECK(vs_index_new((vs_index_kind)7, 32, NULL, &idx, &err) == VS_INVAL, "kind 7");
    vs_index_params p;
    vs_index_params_default(&p);
    p.threads = 0;
    CHECK(vs_index_new(VS_INDEX_FLAT, 32, &p, &idx, &err) == VS_INVAL, "threads 0");
    idx = build(VS_INDEX_INT8, 32, 10, NULL);
    make_vector(v, 32, 3);
    CHECK(vs_index_add(idx, 3, 0, v, &err) == VS_INVAL, "duplicate face id accepted");
    v[5] = NAN;
    CHECK(vs_index_add(idx, 100, 0, v, &err) == VS_INVAL, "NaN accepted");
    CHECK(vs_index_search(idx, v, 1, h, &n, &err) == VS_INVAL, "NaN query accepted");
    v[5] = 0.0f;
    CHECK(vs_index_search(idx, v, 0, h, &n, &err) == VS_INVAL, "k 0 accepted");
    CHECK(vs_index_search(idx, v, VS_INDEX_MAX_K + 1, h, &n, &err) == VS_INVAL, "k too big");
    CHECK_EQ_INT(vs_index_size(idx), 10);
    vs_index_free(idx);
    vs_index_free(NULL);
    return failures;
}

/* Clustered faces: int8 + exact re-rank picks FLAT's top-1 face for >= 99.9% of queries. */
static int int8_rerank_keeps_exact_top1(void)
{
    const int dim = 512, n = 10000, nq = 2000;
    vs_index *flat = build(VS_INDEX_FLAT, dim, n, NULL);
    vs_index *q8 = build(VS_INDEX_INT8, dim, n, NULL);
    float q[512];
    vs_hit a, b;
    int na = 0, nb = 0, same = 0;
    for (int i = 0; i < nq; i++) {
        clustered(q, dim, (uint64_t)(i % (n / 5)), 99991 + (uint64_t)i, 0.75);
        CHECK_OK(vs_index_search_faces(flat, q, 1, &a, &na, NULL));
        CHECK_OK(vs_index_search_faces(q8, q, 1, &b, &nb, NULL));
        same += na == 1 && nb == 1 && a.face_id == b.face_id && fabsf(a.score - b.score) < 1e-5f;
    }
    printf("  int8 top-1 = flat top-1 for %d of %d queries\n", same, nq);
    CHECK(same >= nq * 999 / 1000, "int8 top-1 agreement %d / %d < 99.9%%", same, nq);
    vs_index_free(flat);
    vs_index_free(q8);
    return failures;
}

/*
 * Recall@1 against FLAT on 20k clustered faces: mated queries (a new noisy copy of an enrolled
 * identity, the case a gallery is for) at ef_search 48 >= 0.99; strangers (identities not
 * enrolled: every face is about as far, the hardest case for a graph) at ef_search 400 >= 0.97.
 */
static int hnsw_recall_at_1(void)
{
    const int dim = 128, n = 20000, nq = 1000;
    vs_index_params p;
    vs_index_params_default(&p);
    p.ef_construction = 100;
    vs_index *flat = build(VS_INDEX_FLAT, dim, n, NULL);
    vs_index *h = build(VS_INDEX_HNSW, dim, n, &p);
    const int ef[2] = {400, 48}; /* strangers, mated */
    int hit[2] = {0, 0}, total[2] = {0, 0};
    for (int i = 0; i < nq; i++) {
        float q[128];
        vs_hit a, b;
        int na = 0, nb = 0, mated = i % 4 != 0;
        uint64_t ident = mated ? (uint64_t)(i * 3 % (n / 5)) : (uint64_t)(n + i);
        clustered(q, dim, ident, 31337 + (uint64_t)i, 0.75);
        vs_index_set_ef_search(h, ef[mated]);
        CHECK_OK(vs_index_search_faces(flat, q, 1, &a, &na, NULL));
        CHECK_OK(vs_index_search_faces(h, q, 1, &b, &nb, NULL));
        hit[mated] += na == 1 && nb == 1 && a.face_id == b.face_id;
        total[mated]++;
    }
    double mated = (double)hit[1] / total[1], strangers = (double)hit[0] / total[0];
    printf("  hnsw recall@1 (20k x 128, m 16, ef_construction 100): mated %.4f at ef_search 48, "
           "strangers %.4f at ef_search 400\n",
           mated, strangers);
    CHECK(mated >= 0.99, "hnsw mated recall@1 %.4f < 0.99", mated);
    CHECK(strangers >= 0.97, "hnsw stranger recall@1 %.4f < 0.97", strangers);
    vs_index_free(flat);
    vs_index_free(h);
    return failures;
}

/*
 * A gallery smaller than m: the neighbour selection keeps every candidate when there are fewer
 * than m (hnswlib's getNeighborsByHeuristic2), so the graph is complete and even ef_search 1
 * finds the exact top-1.  Near-duplicates (5 copies per identity) are what the pruning would
 * otherwise cut links between.
 */
static int hnsw_small_gallery_is_searched_exhaustively(void)
{
    const int dim = 64, n = 15; /* < m = 16 */
    vs_index_params p;
    vs_index_params_default(&p);
    p.ef_search = 1;
    vs_index *flat = build(VS_INDEX_FLAT, dim, n, NULL), *h = build(VS_INDEX_HNSW, dim, n, &p);
    int wrong = 0;
    for (int i = 0; i < 300; i++) {
        float q[64];
        vs_hit a, b;
        int na = 0, nb = 0;
        clustered(q, dim, (uint64_t)(i % 6), 900 + (uint64_t)i, i % 2 ? 0.75 : 3.0);
        CHECK_OK(vs_index_search_faces(flat, q, 1, &a, &na, NULL));
        CHECK_OK(vs_index_search_faces(h, q, 1, &b, &nb, NULL));
        wrong += na != 1 || nb != 1 || a.face_id != b.face_id;
    }
    CHECK(wrong == 0, "hnsw with %d faces and ef_search 1: %d of 300 top-1 differ from flat", n,
          wrong);
    vs_index_free(flat);
    vs_index_free(h);
    return failures;
}

/*
 * A search marks the nodes it visits with a one-byte tag that changes per search and wraps (the
 * table is cleared) every 255 searches: the same queries asked 700 times over give the same
 * answers every time, before and after each wrap.
 */
static int hnsw_repeated_searches_agree(void)
{
    const int dim = 32, n = 3000, nq = 7, k = 5;
    vs_index *h = build(VS_INDEX_HNSW, dim, n, NULL);
    vs_hit first[7][5], again[5];
    int nfirst[7], nagain = 0, differ = 0;
    float q[7][32];
    for (int i = 0; i < nq; i++) {
        clustered(q[i], dim, (uint64_t)(i * 41), 60 + (uint64_t)i, 0.75);
        CHECK_OK(vs_index_search_faces(h, q[i], k, first[i], &nfirst[i], NULL));
    }
    for (int r = 0; r < 700; r++) {
        int i = r % nq;
        CHECK_OK(vs_index_search_faces(h, q[i], k, again, &nagain, NULL));
        int same = nagain == nfirst[i];
        for (int j = 0; j < nagain && same; j++)
            same = again[j].face_id == first[i][j].face_id && again[j].score == first[i][j].score;
        differ += !same;
    }
    CHECK(differ == 0, "%d of 700 repeated hnsw searches differ from the first answer", differ);
    vs_index_free(h);
    return failures;
}

/* HNSW scores a face with the same arithmetic as INT8's exact re-rank (src/index/dot.h): where
 * both return a face, its score is the same float, and within 1e-5 of the double product. */
static int hnsw_and_int8_rerank_score_alike(void)
{
    const int dim = 200, n = 2000, k = 10; /* 200: a tail past the 32-float steps */
    vs_index *h = build(VS_INDEX_HNSW, dim, n, NULL), *q8 = build(VS_INDEX_INT8, dim, n, NULL);
    int compared = 0, unequal = 0, far = 0;
    for (int i = 0; i < 60; i++) {
        float q[200], v[200];
        vs_hit a[10], b[10];
        int na = 0, nb = 0;
        clustered(q, dim, (uint64_t)(i * 7), 300 + (uint64_t)i, 0.75);
        CHECK_OK(vs_index_search_faces(h, q, k, a, &na, NULL));
        CHECK_OK(vs_index_search_faces(q8, q, k, b, &nb, NULL));
        for (int x = 0; x < na; x++) {
            make_vector(v, dim, a[x].face_id);
            far += fabs(a[x].score - dot_double(q, v, dim)) > 1e-5;
            for (int y = 0; y < nb; y++)
                if (a[x].face_id == b[y].face_id) {
                    compared++;
                    unequal += a[x].score != b[y].score;
                }
        }
    }
    CHECK(compared > 300, "only %d faces found by both", compared);
    CHECK(unequal == 0, "%d of %d faces scored differently by hnsw and int8", unequal, compared);
    CHECK(far == 0, "%d hnsw scores more than 1e-5 from the double product", far);
    vs_index_free(h);
    vs_index_free(q8);
    return failures;
}

/* ---- concurrency ---- */

typedef struct conc {
    vs_index *idx;
    int dim;
    volatile int stop;
    int bad, searches;
} conc;

static void *searcher(void *arg)
{
    conc *c = arg;
    float q[64], v[64];
    vs_hit h[10];
    uint64_t s = (uint64_t)(uintptr_t)arg;
    while (!c->stop) {
        int n = 0;
        int64_t f = (int64_t)(splitmix(&s) % 3000);
        make_vector(q, c->dim, f);
        if (vs_index_search(c->idx, q, 10, h, &n, NULL) != VS_OK) {
            __atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
            continue;
        }
        for (int i = 0; i < n; i++) {
            /* Every hit is a real face with its own person and its own score. */
            make_vector(v, c->dim, h[i].face_id);
            double want = dot_double(q, v, c->dim);
            int ok = h[i].person_id == h[i].face_id / 5 && fabs(want - h[i].score) < 1e-4 &&
                     (i == 0 || h[i - 1].score >= h[i].score);
            for (int j = 0; j < i; j++)
                ok = ok && h[j].person_id != h[i].person_id;
            if (!ok)
                __atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
        }
        __atomic_add_fetch(&c->searches, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static int concurrent_searches_with_a_writer(void)
{
    const int dim = 64;
    vs_index_params p;
    vs_index_params_default(&p);
    p.threads = 2;
    for (int kind = 0; kind < VS_INDEX_KIND_COUNT; kind++) {
        conc c = {build((vs_index_kind)kind, dim, 2000, &p), dim, 0, 0, 0};
        pthread_t t[3];
        for (int i = 0; i < 3; i++)
            pthread_create(&t[i], NULL, searcher, &c);
        float v[64];
        uint64_t s = 9;
        for (int round = 0; round < 1500; round++) {
            int64_t f = (int64_t)(splitmix(&s) % 3000);
            make_vector(v, dim, f);
            if (vs_index_contains(c.idx, f, NULL))
                CHECK_OK(round % 2 ? vs_index_remove(c.idx, f, NULL)
                                   : vs_index_replace(c.idx, f, f / 5, v, NULL));
            else
                CHECK_OK(vs_index_add(c.idx, f, f / 5, v, NULL));
        }
        c.stop = 1;
        for (int i = 0; i < 3; i++)
            pthread_join(t[i], NULL);
        CHECK(c.bad == 0, "%s: %d inconsistent results in %d searches", vs_index_kind_name(kind),
              c.bad, c.searches);
        CHECK(c.searches > 0, "%s: no search ran", vs_index_kind_name(kind));
        vs_index_free(c.idx);
    }
    return failures;
}

/* ---- snapshot ---- */

static void store_facts(vs_index *idx, int n, uint64_t *count, int64_t *max_id, uint64_t *digest)
{
    *count = 0;
    *max_id = INT64_MIN;
    *digest = 0;
    for (int f = 0; f < n; f++)
        if (vs_index_contains(idx, f, NULL)) {
            (*count)++;
            *max_id = f;
            *digest = vs_index_id_digest_add(*digest, f);
        }
}

static int flip_byte(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    if (!f)
        return -1;
    int c;
    if (fseek(f, off, off < 0 ? SEEK_END : SEEK_SET) != 0 || (c = fgetc(f)) == EOF ||
        fseek(f, -1, SEEK_CUR) != 0 || fputc(c ^ 0x10, f) == EOF) {
        fclose(f);
        return -1;
    }
    return fclose(f);
}

static int copy_file(const char *from, const char *to, long cut)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    int rc = a && b ? 0 : -1;
    char buf[65536];
    size_t n;
    while (!rc && (n = fread(buf, 1, sizeof buf, a)) > 0)
        rc = fwrite(buf, 1, n, b) == n ? 0 : -1;
    if (a)
        fclose(a);
    if (b)
        fclose(b);
    return rc || cut <= 0 ? rc : truncate(to, cut);
}

static int snapshot_round_trip_and_rejection(void)
{
    const int dim = 48, n = 1500;
    char path[64], bad[80];
    snprintf(path, sizeof path, "/tmp/test_index_%d.snap", (int)getpid());
    snprintf(bad, sizeof bad, "%s.bad", path);
    for (int kind = 0; kind < VS_INDEX_KIND_COUNT; kind++) {
        const char *name = vs_index_kind_name(kind);
        vs_index *idx = build((vs_index_kind)kind, dim, n, NULL), *back = NULL;
        for (int f = 0; f < n; f += 11) /* a few deleted HNSW slots, below the compaction */
            CHECK_OK(vs_index_remove(idx, f, NULL));
        uint64_t count, digest;
        int64_t max_id;
        store_facts(idx, n, &count, &max_id, &digest);
        vs_err err = {{0}};
        CHECK_OK(vs_index_save(idx, path, NULL));
        CHECK_OK(vs_index_load(path, kind, dim, NULL, count, max_id, digest, &back, NULL));
        CHECK(back && vs_index_size(back) == count, "%s: loaded size", name);
        for (int i = 0; back && i < 50; i++) {
            float q[48];
            vs_hit a[5], b[5];
            int na = 0, nb = 0;
            clustered(q, dim, (uint64_t)i * 3, 4242 + (uint64_t)i, 0.75);
            CHECK_OK(vs_index_search(idx, q, 5, a, &na, NULL));
            CHECK_OK(vs_index_search(back, q, 5, b, &nb, NULL));
            int same = na == nb;
            for (int j = 0; j < na && same; j++)
                same = a[j].face_id == b[j].face_id && a[j].person_id == b[j].person_id &&
                       a[j].score == b[j].score;
            CHECK(same, "%s: query %d differs after the round trip", name, i);
        }
        vs_index_free(back);
        back = NULL;
        /* A store that moved on, another kind or dimension. */
        CHECK(vs_index_load(path, kind, dim, NULL, count + 1, max_id, digest, &back, &err) ==
                  VS_FORMAT,
              "%s: count mismatch accepted", name);
        CHECK(vs_index_load(path, kind, dim, NULL, count, max_id + 1, digest, &back, &err) ==
                  VS_FORMAT,
              "%s: max id mismatch accepted", name);
        CHECK(vs_index_load(path, kind, dim, NULL, count, max_id, digest ^ 1, &back, &err) ==
                  VS_FORMAT,
              "%s: digest mismatch accepted", name);
        CHECK(vs_index_load(path, (kind + 1) % 3, dim, NULL, count, max_id, digest, &back, &err) ==
                  VS_FORMAT,
              "%s: other kind accepted", name);
        CHECK(vs_index_load(path, kind, dim + 1, NULL, count, max_id, digest, &back, &err) ==
                  VS_FORMAT,
              "%s: other dim accepted", name);
        /* Corruption: a byte of the header, of the vectors, of the end; a truncated file. */
        const long offs[] = {20, 88 + 5000, -3};
        for (size_t i = 0; i < 3; i++) {
            CHECK(copy_file(path, bad, 0) == 0 && flip_byte(bad, offs[i]) == 0, "copy");
            CHECK(vs_index_load(bad, kind, dim, NULL, count, max_id, digest, &back, &err) ==
                      VS_FORMAT,
                  "%s: corruption at %ld accepted", name, offs[i]);
        }
        CHECK(copy_file(path, bad, 5000) == 0, "truncate");
        CHECK(vs_index_load(bad, kind, dim, NULL, count, max_id, digest, &back, &err) == VS_FORMAT,
              "%s: truncated file accepted", name);
        CHECK(vs_index_load("/nonexistent/x.snap", kind, dim, NULL, 0, 0, 0, &back, &err) == VS_IO,
              "%s: missing file", name);
        CHECK(back == NULL, "%s: *out set on failure", name);
        vs_index_free(idx);
    }
    remove(path);
    remove(bad);
    return failures;
}

int main(void)
{
    struct {
        const char *name;
        int (*fn)(void);
    } tests[] = {
        {"flat_equals_double_brute_force", flat_equals_double_brute_force},
        {"ties_are_broken_by_face_id", ties_are_broken_by_face_id},
        {"search_returns_best_face_per_person", search_returns_best_face_per_person},
        {"batch_equals_single_queries", batch_equals_single_queries},
        {"remove_and_replace_are_honoured", remove_and_replace_are_honoured},
        {"bad_input_is_rejected", bad_input_is_rejected},
        {"int8_rerank_keeps_exact_top1", int8_rerank_keeps_exact_top1},
        {"hnsw_recall_at_1", hnsw_recall_at_1},
        {"hnsw_small_gallery_is_searched_exhaustively",
         hnsw_small_gallery_is_searched_exhaustively},
        {"hnsw_repeated_searches_agree", hnsw_repeated_searches_agree},
        {"hnsw_and_int8_rerank_score_alike", hnsw_and_int8_rerank_score_alike},
        {"concurrent_searches_with_a_writer", concurrent_searches_with_a_writer},
        {"snapshot_round_trip_and_rejection", snapshot_round_trip_and_rejection},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int before = failures;
        tests[i].fn();
        int rc = failures != before;
        printf("%s %s\n", rc ? "not ok" : "ok", tests[i].name);
        failed += rc;
    }
    return failed ? 1 : 0;
}

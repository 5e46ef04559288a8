/*
 * snapshot.c - the gallery index written to a file and read back (vs_index_save / vs_index_load),
 * so that a start does not have to re-read every vector from the store and, for HNSW, rebuild
 * the graph.  The store stays the truth: a snapshot is used only when it describes exactly the
 * faces the store holds, else the caller rebuilds from the store.
 *
 * DESIGN NOTES
 *   1. Layout: an 88-byte header (snap_header below, host byte order; `endian` = 0x01020304
 *      as written, so a file from a machine of the other order is rejected), then the payload:
 *      face_id[slots] (i64), person_id[slots] (i64), deleted[slots] (u8, zero padded to a
 *      multiple of 8), the vectors (slots x dim f32, row-major, as added), and for HNSW the graph
 *      (hnsw.c's DESIGN NOTES).  Nothing else; payload_bytes is the payload's exact size.
 *   2. header_sum covers the header's bytes before it, payload_sum the payload (a 64-bit
 *      multiply-rotate hash over 8-byte words, the tail zero padded, seeded with the length).
 *      Both are checked before anything in the file is used; a file of another magic, version,
 *      endianness, kind or dimension is VS_FORMAT.
 *   3. count, max_face_id and id_digest describe the LIVE faces (deleted HNSW slots excluded);
 *      vs_index_load compares them with the store's before reading the payload, and recomputes
 *      them from the payload after reading it.  Any difference is VS_FORMAT.
 *   4. vs_index_save writes path.tmp, fsyncs it and renames it over path: a reader sees the
 *      old file or the new one, never a torn one.  It holds the read lock while writing, so
 *      searches go on and the snapshot is one consistent state.
 *   5. Version 1 is this layout.  Any change to it bumps the version; old files are rejected
 *      (and rebuilt from the store), never migrated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index/index_priv.h"

#define SNAP_MAGIC "VSGALIDX"
#define SNAP_VERSION 1u
#define SNAP_ENDIAN 0x01020304u
#define SNAP_ROWS 256 /* vectors per read or write */

typedef struct snap_header {
    char magic[8];
    uint32_t version, endian;
    uint32_t kind, dim;
    uint32_t hnsw_m, hnsw_efc;
    uint64_t count; /* live faces */
    uint64_t slots; /* slots written (count + deleted HNSW slots) */
    int64_t max_face_id;
    uint64_t id_digest;
    uint64_t payload_bytes;
    uint64_t payload_sum;
    uint64_t header_sum; /* of the bytes above */
} snap_header;

_Static_assert(sizeof(snap_header) == 88, "snapshot header layout");

/* ---- the checksum: 8-byte words, streamed ---- */
typedef struct sum_state {
    uint64_t h, total;
    unsigned char buf[8];
    unsigned nb;
} sum_state;

static uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static void sum_word(sum_state *s, uint64_t w)
{
    s->h = (rotl(s->h, 23) ^ (w * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
}

static void sum_update(sum_state *s, const void *p, size_t n)
{
    const unsigned char *b = p;
    s->total += n;
    while (n && s->nb) {
        s->buf[s->nb++] = *b++;
        n--;
        if (s->nb == 8) {
            uint64_t w;
            memcpy(&w, s->buf, 8);
            sum_word(s, w);
            s->nb = 0;
        }
    }
    for (; n >= 8; n -= 8, b += 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        sum_word(s, w);
    }
    memcpy(s->buf, b, n);
    s->nb = (unsigned)n;
}

static uint64_t sum_final(sum_state *s)
{
    sum_state t = *s;
    if (t.nb) {
        uint64_t w = 0;
        memcpy(&w, t.buf, t.nb);
        sum_word(&t, w);
    }
    sum_word(&t, t.total);
    return vs_index_mix64(t.h);
}

static uint64_t header_sum(const snap_header *h)
{
    sum_state s = {0};
    sum_update(&s, h, offsetof(snap_header, header_sum));
    return sum_final(&s);
}

/* ---- streams ---- */
typedef struct stream {
    FILE *f;
    sum_state sum;
    uint64_t left; /* reading: payload bytes not read yet */
} stream;

static vs_status stream_write(void *ctx, const void *p, size_t n)
{
    stream *s = ctx;
    if (n && fwrite(p, 1, n, s->f) != n)
        return VS_IO;
    sum_update(&s->sum, p, n);
    return VS_OK;
}

static vs_status stream_read(void *ctx, void *p, size_t n)
{
    stream *s = ctx;
    if (n > s->left || (n && fread(p, 1, n, s->f) != n))
        return VS_FORMAT;
    s->left -= n;
    sum_update(&s->sum, p, n);
    return VS_OK;
}

static size_t pad8(size_t n)
{
    return (n + 7) / 8 * 8;
}

/* The float32 vector of slot into v. */
static void get_vector(const vs_index *idx, uint32_t slot, float *v)
{
    if (idx->kind == VS_INDEX_FLAT)
        vs_flat_get(&idx->flat, slot, v);
    else if (idx->kind == VS_INDEX_INT8)
        memcpy(v, idx->quant.orig + (size_t)slot * idx->dim, (size_t)idx->dim * sizeof(float));
    else
        memcpy(v, vs_hnsw_vector(idx->hnsw, slot), (size_t)idx->dim * sizeof(float));
}

static void describe(const vs_index *idx, snap_header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, SNAP_MAGIC, 8);
    h->version = SNAP_VERSION;
    h->endian = SNAP_ENDIAN;
    h->kind = (uint32_t)idx->kind;
    h->dim = (uint32_t)idx->dim;
    h->hnsw_m = (uint32_t)idx->p.hnsw_m;
    h->hnsw_efc = (uint32_t)idx->p.ef_construction;
    h->slots = idx->count;
    h->max_face_id = INT64_MIN;
    for (uint32_t s = 0; s < idx->count; s++) {
        if (idx->deleted[s])
            continue;
        h->count++;
        h->id_digest = vs_index_id_digest_add(h->id_digest, idx->face_id[s]);
        if (idx->face_id[s] > h->max_face_id)
            h->max_face_id = idx->face_id[s];
    }
}

static vs_status write_payload(const vs_index *idx, stream *w)
{
    static const unsigned char zeros[8];
    size_t n = idx->count;
    float *rows = malloc((size_t)SNAP_ROWS * (size_t)idx->dim * sizeof(float));
    vs_status st = rows ? VS_OK : VS_NOMEM;
    if (st == VS_OK && ((st = stream_write(w, idx->face_id, n * 8)) != VS_OK ||
                        (st = stream_write(w, idx->person_id, n * 8)) != VS_OK ||
                        (st = stream_write(w, idx->deleted, n)) != VS_OK ||
                        (st = stream_write(w, zeros, pad8(n) - n)) != VS_OK))
        goto out;
    for (size_t s0 = 0; s0 < n && st == VS_OK; s0 += SNAP_ROWS) {
        size_t m = n - s0 < SNAP_ROWS ? n - s0 : SNAP_ROWS;
        for (size_t i = 0; i < m; i++)
            get_vector(idx, (uint32_t)(s0 + i), rows + i * (size_t)idx->dim);
        st = stream_write(w, rows, m * (size_t)idx->dim * sizeof(float));
    }
    if (st == VS_OK && idx->kind == VS_INDEX_HNSW)
        st = vs_hnsw_write_graph(idx->hnsw, idx->count, stream_write, w);
out:
    free(rows);
    return st;
}

vs_status vs_index_save(vs_index *idx, const char *path, vs_err *err)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return vs_err_set(err, VS_INVAL, "index: snapshot path too long");
    stream w = {fopen(tmp, "wb"), {0}, 0};
    if (!w.f)
        return vs_err_set(err, VS_IO, "index: cannot create %s", tmp);
    snap_header h;
    pthread_rwlock_rdlock(&idx->lock);
    describe(idx, &h);
    /* The header goes first as a placeholder, and again once the payload's sum is known. */
    vs_status st = fwrite(&h, sizeof h, 1, w.f) == 1 ? VS_OK : VS_IO;
    if (st == VS_OK)
        st = write_payload(idx, &w);
    pthread_rwlock_unlock(&idx->lock);
    if (st == VS_OK) {
        h.payload_bytes = w.sum.total;
        h.payload_sum = sum_final(&w.sum);
        h.header_sum = header_sum(&h);
        if (fseek(w.f, 0, SEEK_SET) != 0 || fwrite(&h, sizeof h, 1, w.f) != 1 || fflush(w.f) != 0 ||
            fsync(fileno(w.f)) != 0)
            st = VS_IO;
    }
    if (fclose(w.f) != 0 && st == VS_OK)
        st = VS_IO;
    if (st == VS_OK && rename(tmp, path) != 0)
        st = VS_IO;
    if (st != VS_OK) {
        remove(tmp);
        return vs_err_set(err, st, "index: writing snapshot %s: %s", path, vs_status_str(st));
    }
    return VS_OK;
}

/* The header checks of DESIGN NOTES 2 and 3 that need no payload. */
static vs_status check_header(const snap_header *h, uint64_t file_size, int want_kind, int want_dim,
                              uint64_t store_count, int64_t store_max_id, uint64_t store_digest,
                              vs_err *err)
{
    if (memcmp(h->magic, SNAP_MAGIC, 8) != 0 || h->endian != SNAP_ENDIAN)
        return vs_err_set(err, VS_FORMAT, "index: not a snapshot (or another byte order)");
    if (h->header_sum != header_sum(h))
        return vs_err_set(err, VS_FORMAT, "index: snapshot header checksum mismatch");
    if (h->version != SNAP_VERSION)
        return vs_err_set(err, VS_FORMAT, "index: snapshot version %u, expected %u", h->version,
                          SNAP_VERSION);
    if (h->kind >= VS_INDEX_KIND_COUNT || (want_kind >= 0 && h->kind != (uint32_t)want_kind) ||
        h->dim < VS_INDEX_MIN_DIM || h->dim > VS_INDEX_MAX_DIM ||
        (want_dim > 0 && h->dim != (uint32_t)want_dim))
        return vs_err_set(err, VS_FORMAT, "index: snapshot of kind %u, dim %u not wanted", h->kind,
                          h->dim);
    if (h->count != store_count || (h->count && h->max_face_id != store_max_id) ||
        h->id_digest != store_digest)
        return vs_err_set(err, VS_FORMAT,
                          "index: snapshot (%llu faces, max id %lld) does not "
                          "match the store (%llu faces, max id %lld)",
                          (unsigned long long)h->count, (long long)h->max_face_id,
                          (unsigned long long)store_count, (long long)store_max_id);
    if (h->slots < h->count || h->slots > VS_INDEX_MAX_FACES ||
        h->payload_bytes != file_size - sizeof *h ||
        h->payload_bytes < h->slots * (17 + 4ull * h->dim))
        return vs_err_set(err, VS_FORMAT, "index: snapshot size does not match its header");
    return VS_OK;
}

static vs_status read_payload(vs_index *idx, uint32_t slots, stream *r)
{
    size_t n = slots;
    unsigned char pad[8];
    vs_status st = vs_index_reserve_locked(idx, n);
    if (st != VS_OK || (st = stream_read(r, idx->face_id, n * 8)) != VS_OK ||
        (st = stream_read(r, idx->person_id, n * 8)) != VS_OK ||
        (st = stream_read(r, idx->deleted, n)) != VS_OK ||
        (st = stream_read(r, pad, pad8(n) - n)) != VS_OK)
        return st;
    float *rows = malloc((size_t)SNAP_ROWS * (size_t)idx->dim * sizeof(float));
    if (!rows)
        return VS_NOMEM;
    for (size_t s0 = 0; s0 < n && st == VS_OK; s0 += SNAP_ROWS) {
        size_t m = n - s0 < SNAP_ROWS ? n - s0 : SNAP_ROWS;
        st = stream_read(r, rows, m * (size_t)idx->dim * sizeof(float));
        for (size_t i = 0; i < m && st == VS_OK; i++) {
            const float *v = rows + i * (size_t)idx->dim;
            uint32_t slot = (uint32_t)(s0 + i);
            if (idx->kind == VS_INDEX_FLAT)
                vs_flat_set(&idx->flat, slot, v);
            else if (idx->kind == VS_INDEX_INT8)
                vs_quant_set(&idx->quant, slot, v);
            else
                vs_hnsw_set_vector(idx->hnsw, slot, v);
        }
    }
    free(rows);
    if (st == VS_OK && idx->kind == VS_INDEX_HNSW)
        st = vs_hnsw_read_graph(idx->hnsw, slots, stream_read, r);
    if (st != VS_OK)
        return st;
    idx->count = slots;
    return vs_index_map_build_locked(idx);
}

vs_status vs_index_load(const char *path, int want_kind, int want_dim, const vs_index_params *p,
                        uint64_t store_count, int64_t store_max_id, uint64_t store_digest,
                        vs_index **out, vs_err *err)
{
    *out = NULL;
    vs_index *idx = NULL;
    snap_header h, again;
    struct stat sb;
    stream r = {fopen(path, "rb"), {0}, 0};
    if (!r.f)
        return vs_err_set(err, VS_IO, "index: cannot open %s", path);
    vs_status st = VS_OK;
    if (fstat(fileno(r.f), &sb) != 0 || (uint64_t)sb.st_size < sizeof h ||
        fread(&h, sizeof h, 1, r.f) != 1) {
        st = vs_err_set(err, VS_FORMAT, "index: %s is not a snapshot", path);
        goto out;
    }
    if ((st = check_header(&h, (uint64_t)sb.st_size, want_kind, want_dim, store_count, store_max_id,
                           store_digest, err)) != VS_OK)
        goto out;
    vs_index_params prm;
    if (p)
        prm = *p;
    else
        vs_index_params_default(&prm);
    prm.hnsw_m = (int)h.hnsw_m;
    prm.ef_construction = (int)h.hnsw_efc;
    if ((st = vs_index_new((vs_index_kind)h.kind, (int)h.dim, &prm, &idx, err)) != VS_OK)
        goto out;
    r.left = h.payload_bytes;
    st = read_payload(idx, (uint32_t)h.slots, &r);
    if (st == VS_OK && (r.left != 0 || sum_final(&r.sum) != h.payload_sum))
        st = VS_FORMAT;
    if (st == VS_OK) {
        /* The header was checked against the store; now the payload against the header. */
        describe(idx, &again);
        if (again.count != h.count || again.max_face_id != h.max_face_id ||
            again.id_digest != h.id_digest)
            st = VS_FORMAT;
    }
    if (st != VS_OK)
        vs_err_set(err, st, "index: snapshot %s: %s", path,
                   st == VS_FORMAT ? "corrupt payload" : vs_status_str(st));
out:
    fclose(r.f);
    if (st != VS_OK) {
        vs_index_free(idx);
        return st;
    }
    *out = idx;
    return VS_OK;
}

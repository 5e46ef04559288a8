/*
 * auth.c - API keys: issuing them, checking a presented key, per-key rate limits.
 *
 * DESIGN NOTES
 *   1. A key is 32 bytes from randombytes_buf, shown once as "vs_" + 43 base64url characters.
 *      The store keeps only "blake2b:" + hex(BLAKE2b-256(key text)), keyed with a fixed
 *      context string for domain separation.  A fast hash is right here: the key has 256 bits
 *      of entropy, so there is nothing for a slow password hash to protect against, and every
 *      request hashes one.
 *   2. A presented key is hashed and looked up by its hash; the stored hash is then compared
 *      with the computed one by sodium_memcmp (constant time), so nothing about the key's
 *      bytes leaks through timing beyond "some key with this hash exists".  Malformed keys
 *      are refused before any lookup.
 *   3. Every check reads the store, so a key revoked by another process or node stops working
 *      at once.  last_used is written at most once per second per key (a write per request
 *      would serialise SQLite writers for no gain).
 *   4. Rate limits are token buckets per key id: `rate` tokens a second up to `burst`.  The
 *      table lives in the server (not global) and grows by one entry per key that was used.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"

#define KEY_BYTES 32
#define HASH_BYTES 32
#define HASH_PREFIX "blake2b:"
#define HASH_TEXT (sizeof HASH_PREFIX - 1 + 2 * HASH_BYTES + 1)

static const unsigned char hash_context[] = "visage api key v1";

static void key_hash(const char *key, unsigned char out[HASH_BYTES])
{
    crypto_generichash(out, HASH_BYTES, (const unsigned char *)key, strlen(key), hash_context,
                       sizeof hash_context - 1);
}

static void hash_text(const unsigned char h[HASH_BYTES], char out[HASH_TEXT])
{
    memcpy(out, HASH_PREFIX, sizeof HASH_PREFIX - 1);
    sodium_bin2hex(out + sizeof HASH_PREFIX - 1, 2 * HASH_BYTES + 1, h, HASH_BYTES);
}

vs_status vs_http_key_issue(vs_store *store, const char *name, vs_api_role role,
                            char key_out[VS_HTTP_KEY_LEN + 1], int64_t *id_out, vs_err *err)
{
    key_out[0] = '\0';
    if (!name || !name[0])
        return vs_err_set(err, VS_INVAL, "a key needs a name");
    if (!vs_role_name(role))
        return vs_err_set(err, VS_INVAL, "unknown role");
    if (sodium_init() < 0)
        return vs_err_set(err, VS_INTERNAL, "libsodium failed to initialise");
    unsigned char raw[KEY_BYTES], h[HASH_BYTES];
    randombytes_buf(raw, sizeof raw);
    memcpy(key_out, "vs_", 3);
    sodium_bin2base64(key_out + 3, VS_HTTP_KEY_LEN + 1 - 3, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    char text[HASH_TEXT];
    key_hash(key_out, h);
    hash_text(h, text);
    int64_t id = 0;
    vs_status st = vs_store_api_key_create(store, name, role, text, &id, err);
    if (st != VS_OK)
        sodium_memzero(key_out, VS_HTTP_KEY_LEN + 1);
    if (id_out)
        *id_out = id;
    return st;
}

vs_status vs_http_bootstrap_admin(vs_store *store, char key_out[VS_HTTP_KEY_LEN + 1], int *issued,
                                  vs_err *err)
{
    *issued = 0;
    key_out[0] = '\0';
    vs_api_key_list l = {0};
    vs_status st = vs_store_api_key_list(store, &l, err);
    if (st != VS_OK)
        return st;
    size_t n = l.n;
    vs_api_key_list_free(&l);
    if (n > 0)
        return VS_OK;
    st = vs_http_key_issue(store, "admin", VS_ROLE_ADMIN, key_out, NULL, err);
    *issued = st == VS_OK;
    return st;
}

/* "vs_" + 43 base64url characters. */
static int key_well_formed(const char *key)
{
    if (strlen(key) != VS_HTTP_KEY_LEN || strncmp(key, "vs_", 3) != 0)
        return 0;
    for (const char *p = key + 3; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return 0;
    return 1;
}

vs_status vs_http_auth_init(http_auth *a, double rate, double burst)
{
    memset(a, 0, sizeof *a);
    a->rate = rate;
    a->burst = burst;
    pthread_mutex_init(&a->lock, NULL);
    return sodium_init() < 0 ? VS_INTERNAL : VS_OK;
}

void vs_http_auth_free(http_auth *a)
{
    pthread_mutex_destroy(&a->lock);
    free(a->buckets);
    memset(a, 0, sizeof *a);
}

/* The bucket of key_id, created full; NULL when out of memory.  Called under a->lock. */
static http_bucket *bucket_of(http_auth *a, int64_t key_id)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->buckets[i].key_id == key_id)
            return &a->buckets[i];
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        http_bucket *b = realloc(a->buckets, cap * sizeof *b);
        if (!b)
            return NULL;
        a->buckets = b;
        a->cap = cap;
    }
    http_bucket *b = &a->buckets[a->n++];
    *b = (http_bucket){.key_id = key_id, .tokens = a->burst, .at = vs_http_now(), .touched = -1};
    return b;
}

/* 1 when last_used should be written now (at most once a second per key). */
static int due_for_touch(http_auth *a, int64_t key_id)
{
    int due = 0;
    pthread_mutex_lock(&a->lock);
    http_bucket *b = bucket_of(a, key_id);
    int64_t now_ms = (int64_t)(vs_http_now() * 1000);
    if (b && (b->touched < 0 || now_ms - b->touched >= 1000)) {
        b->touched = now_ms;
        due = 1;
    }
    pthread_mutex_unlock(&a->lock);
    return due;
}

http_auth_result vs_http_auth_check(http_auth *a, vs_store *store, const char *key,
                                    http_caller *who, vs_err *err)
{
    memset(who, 0, sizeof *who);
    if (!key || !key[0])
        return AUTH_MISSING;
    if (!key_well_formed(key))
        return AUTH_INVALID;
    unsigned char h[HASH_BYTES], stored[HASH_BYTES];
    char text[HASH_TEXT];
    key_hash(key, h);
    hash_text(h, text);
    vs_api_key k = {0};
    vs_status st = vs_store_api_key_find(store, text, &k, err);
    if (st == VS_NOTFOUND)
        return AUTH_INVALID;
    if (st != VS_OK)
        return AUTH_ERROR;
    size_t bin_len = 0;
    const char *hex = k.hash ? k.hash + sizeof HASH_PREFIX - 1 : "";
    int same = k.hash && strncmp(k.hash, HASH_PREFIX, sizeof HASH_PREFIX - 1) == 0 &&
               sodium_hex2bin(stored, sizeof stored, hex, strlen(hex), NULL, &bin_len, NULL) == 0 &&
               bin_len == HASH_BYTES && sodium_memcmp(stored, h, HASH_BYTES) == 0;
    http_auth_result res = !same ? AUTH_INVALID : k.revoked ? AUTH_REVOKED : AUTH_OK;
    if (res == AUTH_OK) {
        who->id = k.id;
        who->role = k.role;
        snprintf(who->name, sizeof who->name, "%s", k.name ? k.name : "");
    }
    vs_api_key_clear(&k);
    if (res == AUTH_OK && due_for_touch(a, who->id))
        vs_store_api_key_touch(store, who->id, 0, NULL); /* best effort: never fails a request */
    return res;
}

int vs_http_auth_take(http_auth *a, int64_t key_id, double *retry_s)
{
    *retry_s = 0;
    pthread_mutex_lock(&a->lock);
    http_bucket *b = bucket_of(a, key_id);
    int ok = 1;
    if (b) {
        double now = vs_http_now();
        b->tokens += (now - b->at) * a->rate;
        if (b->tokens > a->burst)
            b->tokens = a->burst;
        b->at = now;
        if (b->tokens >= 1) {
            b->tokens -= 1;
        } else {
            ok = 0;
            *retry_s = a->rate > 0 ? (1 - b->tokens) / a->rate : 1;
        }
    }
    pthread_mutex_unlock(&a->lock);
    return ok;
}

void vs_http_auth_forget(http_auth *a, int64_t key_id)
{
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->n; i++)
        if (a->buckets[i].key_id == key_id) {
            a->buckets[i] = a->buckets[--a->n];
            break;
        }
    pthread_mutex_unlock(&a->lock);
}

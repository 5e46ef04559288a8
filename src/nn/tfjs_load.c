/*
 * tfjs_load.c - reads TensorFlow.js model files into a vs_graph: the weight manifests that
 * face-api ships (weights only, the nets are built in C by faceapi_nets.c) and TFJS graph models
 * (model.json: a TensorFlow GraphDef in JSON plus a weight manifest).
 *
 * Both paths share one weight reader (load_manifest): every weight becomes a graph constant
 * named as in the manifest.  The graph-model path then maps each GraphDef node to one IR node
 * (graph.h), in topological order, turning the int32 constants that TF passes as tensors
 * (reshape shapes, reduction axes, paddings, permutations, concat axes) into node attributes.
 *
 * DESIGN NOTES
 *   1. Weight decoding follows tfjs-core's io_utils.decodeWeights: the shards of a group are
 *      one byte stream, weights follow each other in manifest order, quantised values are
 *      q * scale + min computed in double and stored as float32 (int32 weights: rounded half
 *      up, as Math.round does); float16 is widened exactly.  A group whose shards hold more
 *      bytes than its weights is rejected too: the manifest does not describe that file.
 *   2. Attribute semantics follow tfjs-converter's executors: fused_ops = [extra, activation]
 *      with extra "BiasAdd"; strides/dilations/ksize are [1, h, w, 1]; string attributes are
 *      base64 and compared case-insensitively; Softmax works on the last axis.
 *   3. Graph outputs are signature.outputs (in key order) when present, else every node that
 *      no other node consumes (control edges count as consumers, as in tfjs), in file order.
 *   4. Nothing is inferred here: shapes, negative axes and SQUEEZE are resolved by
 *      vs_graph_finalize.  Every inconsistency found while reading is a VS_FORMAT (VS_IO for a
 *      file that cannot be read) with a message naming the file and the weight or node.
 */
#include "tfjs_load.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- files ------------------------------------------------------------------------------- */

/* Reads a whole regular file.  OUT: *data (malloc'd, NUL-terminated for JSON), *len. */
static vs_status read_file(const char *path, unsigned char **data, size_t *len, vs_err *err)
{
    vs_status st = VS_OK;
    unsigned char *buf = NULL;
    struct stat sb;
    FILE *f = fopen(path, "rb");
    *data = NULL;
    *len = 0;
    if (!f)
        return vs_err_set(err, VS_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 0 ||
        (unsigned long long)sb.st_size >= (unsigned long long)SIZE_MAX) {
        st = vs_err_set(err, VS_IO, "%s: not a readable regular file", path);
        goto out;
    }
    size_t n = (size_t)sb.st_size;
    buf = malloc(n + 1);
    if (!buf) {
        st = vs_err_set(err, VS_NOMEM, "%s: no memory for %zu bytes", path, n);
        goto out;
    }
    if (fread(buf, 1, n, f) != n) {
        st = vs_err_set(err, VS_IO, "%s: read error", path);
        goto out;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    buf = NULL;
out:
    free(buf);
    fclose(f);
    return st;
}

static vs_status read_json(const char *path, cJSON **out, vs_err *err)
{
    unsigned char *text;
    size_t len;
    const char *end = NULL;
    *out = NULL;
    vs_status st = read_file(path, &text, &len, err);
    if (st != VS_OK)
        return st;
    *out = cJSON_ParseWithLengthOpts((const char *)text, len, &end, 0);
    if (!*out) {
        size_t at = end ? (size_t)(end - (const char *)text) : 0;
        st = vs_err_set(err, VS_FORMAT, "%s: not valid JSON (near byte %zu)", path, at);
    }
    free(text);
    return st;
}

/* dir + "/" + rel, or rel alone when dir is empty.  NULL on OOM. */
static char *path_join(const char *dir, size_t dir_len, const char *rel)
{
    size_t rl = strlen(rel);
    char *p = malloc(dir_len + 1 + rl + 1);
    if (!p)
        return NULL;
    if (dir_len) {
        memcpy(p, dir, dir_len);
        p[dir_len++] = '/';
    }
    memcpy(p + dir_len, rel, rl + 1);
    return p;
}

/* Length of the folder part of path (0 when it has none). */
static size_t dir_len_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) : 0;
}

/* ---- JSON scalars ------------------------------------------------------------------------ */

/* An integer given as a JSON number or as a decimal string (TF writes int64 as strings). */
static int json_i64(const cJSON *it, int64_t *out)
{
    if (cJSON_IsNumber(it)) {
        double d = it->valuedouble;
        if (!(d == floor(d)) || d < -9.0e18 || d > 9.0e18)
            return 0;
        *out = (int64_t)d;
        return 1;
    }
    if (cJSON_IsString(it) && it->valuestring[0]) {
        char *end;
        errno = 0;
        long long v = strtoll(it->valuestring, &end, 10);
        if (errno || *end)
            return 0;
        *out = v;
        return 1;
    }
    return 0;
}

/* A real given as a JSON number or as a string ("NaN", "-Infinity" appear in TF JSON). */
static int json_f64(const cJSON *it, double *out)
{
    if (cJSON_IsNumber(it)) {
        *out = it->valuedouble;
        return 1;
    }
    if (cJSON_IsString(it) && it->valuestring[0]) {
        char *end;
        double v = strtod(it->valuestring, &end);
        if (*end)
            return 0;
        *out = v;
        return 1;
    }
    return 0;
}

/* ---- weights ----------------------------------------------------------------------------- */

typedef enum { Q_NONE, Q_UINT8, Q_UINT16, Q_FLOAT16 } quant_kind;

/* One manifest entry, checked. */
typedef struct weight_spec {
    const char *name;
    vs_dtype dtype; /* what the graph stores */
    int stored_f16; /* dtype "float16" without quantisation: widened like Q_FLOAT16 */
    quant_kind quant;
    double scale, min;
    vs_shape shape;
    size_t count; /* elements */
    size_t bytes; /* bytes in the shard */
} weight_spec;

/* Context of the weight reader's messages. */
typedef struct shard_ctx {
    const char *manifest; /* the JSON file */
    const char *shard;    /* the group's last shard file (where a short stream ends) */
    vs_err *err;
} shard_ctx;

static vs_status weight_fail(const shard_ctx *c, vs_status st, const char *weight, const char *fmt,
                             ...) __attribute__((format(printf, 4, 5)));

static vs_status weight_fail(const shard_ctx *c, vs_status st, const char *weight, const char *fmt,
                             ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (!weight)
        return vs_err_set(c->err, st, "%s (shard %s): %s", c->manifest, c->shard ? c->shard : "-",
                          why);
    return vs_err_set(c->err, st, "%s: weight '%s' (shard %s): %s", c->manifest, weight,
                      c->shard ? c->shard : "-", why);
}

static vs_status parse_shape(const shard_ctx *c, const char *name, const cJSON *shape,
                             weight_spec *w)
{
    int n = cJSON_GetArraySize(shape);
    if (!cJSON_IsArray(shape))
        return weight_fail(c, VS_FORMAT, name, "missing or non-array \"shape\"");
    if (n > VS_MAX_DIMS)
        return weight_fail(c, VS_FORMAT, name, "rank %d above %d", n, VS_MAX_DIMS);
    int64_t count = 1;
    w->shape.rank = n;
    for (int i = 0; i < n; i++) {
        int64_t d;
        if (!json_i64(cJSON_GetArrayItem(shape, i), &d) || d < 0)
            return weight_fail(c, VS_FORMAT, name, "dim %d is not a size >= 0", i);
        if (d && count > INT64_MAX / d)
            return weight_fail(c, VS_FORMAT, name, "element count overflows");
        count *= d;
        w->shape.dim[i] = d;
    }
    if ((uint64_t)count > SIZE_MAX / 4)
        return weight_fail(c, VS_FORMAT, name, "element count overflows");
    w->count = (size_t)count;
    return VS_OK;
}

static vs_status parse_quantization(const shard_ctx *c, const cJSON *q, weight_spec *w)
{
    const cJSON *qd = cJSON_GetObjectItemCaseSensitive(q, "dtype");
    if (!cJSON_IsObject(q) || !cJSON_IsString(qd))
        return weight_fail(c, VS_FORMAT, w->name, "quantization without a dtype");
    if (strcmp(qd->valuestring, "float16") == 0) {
        if (w->dtype != VS_DT_F32)
            return weight_fail(c, VS_FORMAT, w->name, "float16 quantization of int32");
        w->quant = Q_FLOAT16;
        return VS_OK;
    }
    if (strcmp(qd->valuestring, "uint8") == 0)
        w->quant = Q_UINT8;
    else if (strcmp(qd->valuestring, "uint16") == 0)
        w->quant = Q_UINT16;
    else
        return weight_fail(c, VS_FORMAT, w->name, "unknown quantization dtype '%s'",
                           qd->valuestring);
    if (!json_f64(cJSON_GetObjectItemCaseSensitive(q, "scale"), &w->scale) ||
        !json_f64(cJSON_GetObjectItemCaseSensitive(q, "min"), &w->min) || !isfinite(w->scale) ||
        !isfinite(w->min))
        return weight_fail(c, VS_FORMAT, w->name, "quantization needs finite scale and min");
    return VS_OK;
}

static vs_status parse_weight_spec(const shard_ctx *c, const cJSON *j, weight_spec *w)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(j, "quantization");
    memset(w, 0, sizeof *w);
    if (!cJSON_IsObject(j) || !cJSON_IsString(name) || !name->valuestring[0])
        return weight_fail(c, VS_FORMAT, NULL, "entry without a name");
    w->name = name->valuestring;
    if (!cJSON_IsString(dtype))
        return weight_fail(c, VS_FORMAT, w->name, "missing \"dtype\"");
    if (strcmp(dtype->valuestring, "float32") == 0)
        w->dtype = VS_DT_F32;
    else if (strcmp(dtype->valuestring, "int32") == 0)
        w->dtype = VS_DT_I32;
    else if (strcmp(dtype->valuestring, "float16") == 0 && !q)
        w->stored_f16 = 1;
    else
        return weight_fail(c, VS_FORMAT, w->name, "unsupported dtype '%s'", dtype->valuestring);
    vs_status st = parse_shape(c, w->name, cJSON_GetObjectItemCaseSensitive(j, "shape"), w);
    if (st == VS_OK && q)
        st = parse_quantization(c, q, w);
    if (st != VS_OK)
        return st;
    size_t unit = w->quant == Q_UINT8 ? 1 : w->quant == Q_NONE && !w->stored_f16 ? 4 : 2;
    w->bytes = w->count * unit; /* count <= SIZE_MAX / 4: cannot overflow */
    return VS_OK;
}

/* IEEE half to float, exact for every half value (subnormals, infinities, NaN). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (!man) {
        bits = sign;
    } else {
        /* A subnormal half is a normal float: shift the mantissa up to its implicit bit. */
        uint32_t e = 113;
        while (!(man & 0x400)) {
            man <<= 1;
            e--;
        }
        bits = sign | (e << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* Decodes one weight's bytes into a new float32 or int32 buffer (see DESIGN NOTES 1). */
static vs_status decode_weight(const shard_ctx *c, const weight_spec *w, const unsigned char *src,
                               void **out)
{
    void *buf = malloc(w->count ? w->count * 4 : 1);
    float *f = buf;
    int32_t *iv = buf;
    *out = NULL;
    if (!buf)
        return weight_fail(c, VS_NOMEM, w->name, "no memory for %zu values", w->count);
    for (size_t i = 0; i < w->count; i++) {
        if (w->quant == Q_FLOAT16 || w->stored_f16) {
            f[i] = half_to_float(le16(src + 2 * i));
        } else if (w->quant == Q_NONE) {
            uint32_t bits = le32(src + 4 * i);
            memcpy(&f[i], &bits, 4); /* int32 and float32 alike: the bits are the value */
        } else {
            double q = w->quant == Q_UINT8 ? src[i] : le16(src + 2 * i);
            double v = q * w->scale + w->min;
            if (w->dtype == VS_DT_F32) {
                f[i] = (float)v;
                continue;
            }
            v = floor(v + 0.5);
            if (!(v >= INT32_MIN && v <= INT32_MAX)) {
                free(buf);
                return weight_fail(c, VS_FORMAT, w->name, "value %zu out of int32 range", i);
            }
            iv[i] = (int32_t)v;
        }
    }
    *out = buf;
    return VS_OK;
}

/* Reads the shard files of one group, concatenated.  OUT: *data, *len; c->shard set. */
static vs_status read_shards(shard_ctx *c, const cJSON *paths, const char *dir, size_t dir_len,
                             unsigned char **data, size_t *len)
{
    vs_status st = VS_OK;
    unsigned char *all = NULL, *part = NULL;
    size_t total = 0, n;
    const cJSON *p;
    *data = NULL;
    *len = 0;
    if (!cJSON_IsArray(paths) || cJSON_GetArraySize(paths) < 1)
        return weight_fail(c, VS_FORMAT, NULL, "group without \"paths\"");
    cJSON_ArrayForEach(p, paths)
    {
        if (!cJSON_IsString(p) || !p->valuestring[0] || p->valuestring[0] == '/') {
            st = weight_fail(c, VS_FORMAT, NULL, "a shard path is not a relative file name");
            goto out;
        }
        char *full = path_join(dir, dir_len, p->valuestring);
        if (!full) {
            st = weight_fail(c, VS_NOMEM, NULL, "no memory");
            goto out;
        }
        st = read_file(full, &part, &n, c->err);
        free(full);
        if (st != VS_OK)
            goto out;
        c->shard = p->valuestring;
        unsigned char *grown = realloc(all, total + n + 1);
        if (!grown) {
            st = weight_fail(c, VS_NOMEM, NULL, "no memory for shards");
            goto out;
        }
        all = grown;
        memcpy(all + total, part, n);
        total += n;
        free(part);
        part = NULL;
    }
    *data = all;
    *len = total;
    all = NULL;
out:
    free(part);
    free(all);
    return st;
}

static vs_status load_group(vs_graph *g, shard_ctx *c, const cJSON *group, const char *dir,
                            size_t dir_len)
{
    const cJSON *weights = cJSON_GetObjectItemCaseSensitive(group, "weights");
    const cJSON *wj;
    unsigned char *data = NULL;
    size_t len = 0, off = 0;
    vs_status st;
    c->shard = NULL;
    if (!cJSON_IsObject(group) || !cJSON_IsArray(weights))
        return weight_fail(c, VS_FORMAT, NULL, "group without a \"weights\" array");
    st =
        read_shards(c, cJSON_GetObjectItemCaseSensitive(group, "paths"), dir, dir_len, &data, &len);
    if (st != VS_OK)
        return st;
    cJSON_ArrayForEach(wj, weights)
    {
        weight_spec w;
        void *values;
        st = parse_weight_spec(c, wj, &w);
        if (st != VS_OK)
            goto out;
        if (w.bytes > len - off) {
            st = weight_fail(c, VS_FORMAT, w.name,
                             "needs bytes %zu..%zu but the shards hold %zu (truncated)", off,
                             off + w.bytes, len);
            goto out;
        }
        if (vs_graph_find(g, w.name) >= 0) {
            st = weight_fail(c, VS_FORMAT, w.name, "a value of that name already exists");
            goto out;
        }
        st = decode_weight(c, &w, data + off, &values);
        if (st != VS_OK)
            goto out;
        if (vs_graph_add_const(g, w.name, w.dtype, &w.shape, values) < 0) {
            st = weight_fail(c, VS_NOMEM, w.name, "no memory");
            goto out;
        }
        off += w.bytes;
    }
    if (off != len)
        st = weight_fail(c, VS_FORMAT, NULL,
                         "the shards hold %zu bytes but the weights use only %zu", len, off);
out:
    free(data);
    return st;
}

/* The one weight reader: every group of a manifest array into g (DESIGN NOTES 1). */
static vs_status load_manifest(vs_graph *g, const cJSON *groups, const char *manifest_path,
                               vs_err *err)
{
    shard_ctx c = {manifest_path, NULL, err};
    const cJSON *group;
    if (!cJSON_IsArray(groups))
        return vs_err_set(err, VS_FORMAT, "%s: the weight manifest is not an array", manifest_path);
    cJSON_ArrayForEach(group, groups)
    {
        vs_status st = load_group(g, &c, group, manifest_path, dir_len_of(manifest_path));
        if (st != VS_OK)
            return st;
    }
    return VS_OK;
}

vs_status vs_tfjs_load_weights(vs_graph *g, const char *manifest_json, vs_err *err)
{
    cJSON *root;
    vs_status st = read_json(manifest_json, &root, err);
    if (st != VS_OK)
        return st;
    st = load_manifest(g, root, manifest_json, err);
    cJSON_Delete(root);
    return st;
}

/* ---- graph model: nodes, names, order ---------------------------------------------------- */

typedef struct tf_node {
    const char *name;
    const char *op;
    const cJSON *attr;  /* object or NULL */
    const cJSON *input; /* array of strings or NULL */
    int value;          /* the IR value this node stands for, once loaded */
    int consumers;      /* data and control edges out of this node */
} tf_node;

typedef struct name_entry {
    const char *name;
    int node;
} name_entry;

typedef struct tf_loader {
    vs_graph *g;
    const char *path; /* the model json, for messages */
    tf_node *nodes;
    int n_nodes;
    name_entry *index; /* sorted by name */
    int *in_off;       /* data inputs of node i: in_node[in_off[i] .. in_off[i+1]) */
    int *in_node;
    int *order; /* topological order */
    vs_err *err;
} tf_loader;

static vs_status node_fail(const tf_loader *L, int i, vs_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static vs_status node_fail(const tf_loader *L, int i, vs_status st, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return vs_err_set(L->err, st, "%s: node '%s' (%s): %s", L->path, L->nodes[i].name,
                      L->nodes[i].op, why);
}

typedef struct name_key {
    const char *s;
    size_t len;
} name_key;

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const name_entry *)a)->name, ((const name_entry *)b)->name);
}

static int cmp_key(const void *k, const void *e)
{
    const name_key *key = k;
    const char *name = ((const name_entry *)e)->name;
    int c = strncmp(key->s, name, key->len);
    return c ? c : name[key->len] ? -1 : 0;
}

/* Node index of the name s[0..len), or -1. */
static int find_node(const tf_loader *L, const char *s, size_t len)
{
    name_key key = {s, len};
    const name_entry *e = bsearch(&key, L->index, (size_t)L->n_nodes, sizeof *L->index, cmp_key);
    return e ? e->node : -1;
}

/* Splits an input reference "name", "name:0" or "^name".  OUT: *len of the name, *control.
 * Returns 0 when it names an output other than 0 (no supported op has a second output). */
static int split_input(const char *ref, const char **name, size_t *len, int *control)
{
    *control = ref[0] == '^';
    *name = ref + *control;
    const char *colon = strrchr(*name, ':');
    *len = colon ? (size_t)(colon - *name) : strlen(*name);
    return !colon || strcmp(colon, ":0") == 0;
}

static vs_status collect_nodes(tf_loader *L, const cJSON *nodes)
{
    const cJSON *nj;
    int i = 0;
    L->n_nodes = cJSON_GetArraySize(nodes);
    L->nodes = calloc((size_t)L->n_nodes + 1, sizeof *L->nodes);
    L->index = calloc((size_t)L->n_nodes + 1, sizeof *L->index);
    if (!L->nodes || !L->index)
        return vs_err_set(L->err, VS_NOMEM, "%s: no memory for %d nodes", L->path, L->n_nodes);
    cJSON_ArrayForEach(nj, nodes)
    {
        tf_node *n = &L->nodes[i];
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(nj, "name");
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(nj, "op");
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(nj, "input");
        const cJSON *attr = cJSON_GetObjectItemCaseSensitive(nj, "attr");
        const cJSON *s;
        if (!cJSON_IsString(name) || !name->valuestring[0] || !cJSON_IsString(op))
            return vs_err_set(L->err, VS_FORMAT, "%s: node %d has no name or op", L->path, i);
        if ((in && !cJSON_IsArray(in)) || (attr && !cJSON_IsObject(attr)))
            return vs_err_set(L->err, VS_FORMAT, "%s: node '%s': bad input or attr", L->path,
                              name->valuestring);
        cJSON_ArrayForEach(s, in)
        {
            if (!cJSON_IsString(s))
                return vs_err_set(L->err, VS_FORMAT, "%s: node '%s': an input is not a string",
                                  L->path, name->valuestring);
        }
        *n = (tf_node){name->valuestring, op->valuestring, attr, in, -1, 0};
        L->index[i] = (name_entry){n->name, i};
        i++;
    }
    qsort(L->index, (size_t)L->n_nodes, sizeof *L->index, cmp_entry);
    for (i = 1; i < L->n_nodes; i++)
        if (strcmp(L->index[i - 1].name, L->index[i].name) == 0)
            return vs_err_set(L->err, VS_FORMAT, "%s: two nodes are named '%s'", L->path,
                              L->index[i].name);
    return VS_OK;
}

/* Resolves every input reference to a node index (in_off/in_node) and counts consumers. */
static vs_status link_nodes(tf_loader *L)
{
    size_t edges = 0;
    for (int i = 0; i < L->n_nodes; i++)
        edges += (size_t)cJSON_GetArraySize(L->nodes[i].input);
    L->in_off = calloc((size_t)L->n_nodes + 1, sizeof *L->in_off);
    L->in_node = calloc(edges + 1, sizeof *L->in_node);
    if (!L->in_off || !L->in_node || edges > INT32_MAX)
        return vs_err_set(L->err, VS_NOMEM, "%s: no memory for %zu edges", L->path, edges);
    int k = 0;
    for (int i = 0; i < L->n_nodes; i++) {
        const cJSON *s;
        L->in_off[i] = k;
        cJSON_ArrayForEach(s, L->nodes[i].input)
        {
            const char *name;
            size_t len;
            int control;
            int ok = split_input(s->valuestring, &name, &len, &control);
            int j = find_node(L, name, len);
            if (j < 0)
                return node_fail(L, i, VS_FORMAT, "input '%s' is not a node", s->valuestring);
            if (!ok && !control)
                return node_fail(L, i, VS_FORMAT, "input '%s': only output 0 exists",
                                 s->valuestring);
            L->nodes[j].consumers++;
            if (!control)
                L->in_node[k++] = j;
        }
    }
    L->in_off[L->n_nodes] = k;
    return VS_OK;
}

/* Kahn's algorithm over the data edges, ready nodes taken in file order: L->order, or
 * VS_FORMAT on a cycle. */
static vs_status sort_nodes(tf_loader *L)
{
    int n = L->n_nodes, e = L->in_off[n], head = 0, tail = 0;
    vs_status st = VS_OK;
    int *indeg = calloc((size_t)n + 1, sizeof *indeg);
    int *out_off = calloc((size_t)n + 1, sizeof *out_off); /* consumers of j: CSR by source */
    int *cursor = calloc((size_t)n + 1, sizeof *cursor);
    int *out_node = calloc((size_t)e + 1, sizeof *out_node);
    L->order = calloc((size_t)n + 1, sizeof *L->order);
    if (!indeg || !out_off || !cursor || !out_node || !L->order) {
        st = vs_err_set(L->err, VS_NOMEM, "%s: no memory", L->path);
        goto out;
    }
    for (int k = 0; k < e; k++)
        out_off[L->in_node[k] + 1]++;
    for (int j = 0; j < n; j++) {
        out_off[j + 1] += out_off[j];
        cursor[j] = out_off[j];
        indeg[j] = L->in_off[j + 1] - L->in_off[j];
    }
    for (int i = 0; i < n; i++)
        for (int k = L->in_off[i]; k < L->in_off[i + 1]; k++)
            out_node[cursor[L->in_node[k]]++] = i;
    for (int i = 0; i < n; i++)
        if (!indeg[i])
            L->order[tail++] = i;
    while (head < tail) {
        int j = L->order[head++];
        for (int k = out_off[j]; k < out_off[j + 1]; k++)
            if (--indeg[out_node[k]] == 0)
                L->order[tail++] = out_node[k];
    }
    if (tail != n)
        st = vs_err_set(L->err, VS_FORMAT, "%s: the graph has a cycle", L->path);
out:
    free(indeg);
    free(out_off);
    free(cursor);
    free(out_node);
    return st;
}

/* ---- graph model: attributes ------------------------------------------------------------- */

static const cJSON *attr_of(const tf_loader *L, int i, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(L->nodes[i].attr, key);
}

static int b64_val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' || c == '-' ? 62 : c == '/' || c == '_' ? 63 : -1;
}

/* Decodes a base64 string attribute (TF's "s" values) into buf.  Returns 0 if malformed or
 * longer than cap - 1 bytes. */
static int b64_decode(const char *in, char *buf, size_t cap)
{
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        int v = b64_val((unsigned char)*in);
        if (v < 0)
            return 0;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= cap)
                return 0;
            buf[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    buf[n] = 0;
    return memchr(buf, 0, n) == NULL;
}

/* A string attribute.  Returns 0 when absent; VS_FORMAT through *st when malformed. */
static int attr_str(const tf_loader *L, int i, const char *key, char *buf, size_t cap,
                    vs_status *st)
{
    const cJSON *a = attr_of(L, i, key);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(a, "s");
    if (!a)
        return 0;
    if (!cJSON_IsString(s) || !b64_decode(s->valuestring, buf, cap)) {
        *st = node_fail(L, i, VS_FORMAT, "attr %s is not a short base64 string", key);
        return 0;
    }
    return 1;
}

static vs_status attr_int(const tf_loader *L, int i, const char *key, int64_t def, int64_t *out)
{
    const cJSON *a = attr_of(L, i, key);
    *out = def;
    if (a && !json_i64(cJSON_GetObjectItemCaseSensitive(a, "i"), out))
        return node_fail(L, i, VS_FORMAT, "attr %s is not an integer", key);
    return VS_OK;
}

static vs_status attr_float(const tf_loader *L, int i, const char *key, double def, float *out)
{
    const cJSON *a = attr_of(L, i, key);
    double d = def;
    if (a && !json_f64(cJSON_GetObjectItemCaseSensitive(a, "f"), &d))
        return node_fail(L, i, VS_FORMAT, "attr %s is not a number", key);
    *out = (float)d;
    return VS_OK;
}

static vs_status attr_bool(const tf_loader *L, int i, const char *key, int *out)
{
    const cJSON *a = attr_of(L, i, key);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(a, "b");
    *out = 0;
    if (a && !cJSON_IsBool(b))
        return node_fail(L, i, VS_FORMAT, "attr %s is not a boolean", key);
    *out = cJSON_IsTrue(b);
    return VS_OK;
}

/* An integer-list attribute (list.i); absent or empty gives *n = 0. */
static vs_status attr_ints(const tf_loader *L, int i, const char *key, int64_t *vals, int cap,
                           int *n)
{
    const cJSON *a = attr_of(L, i, key);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(a, "list");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(list, "i");
    const cJSON *v;
    *n = 0;
    if (a && !cJSON_IsObject(list))
        return node_fail(L, i, VS_FORMAT, "attr %s is not a list", key);
    if (arr && (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > cap))
        return node_fail(L, i, VS_FORMAT, "attr %s: more than %d integers", key, cap);
    cJSON_ArrayForEach(v, arr)
    {
        if (!json_i64(v, &vals[(*n)++]))
            return node_fail(L, i, VS_FORMAT, "attr %s holds a non-integer", key);
    }
    return VS_OK;
}

/* A 4-element NHWC attribute like strides [1, h, w, 1]; absent gives def. */
static vs_status attr_hw(const tf_loader *L, int i, const char *key, int def, int hw[2])
{
    int64_t v[4];
    int n;
    vs_status st = attr_ints(L, i, key, v, 4, &n);
    if (st != VS_OK)
        return st;
    if (n == 0) {
        hw[0] = hw[1] = def;
        return VS_OK;
    }
    if (n != 4 || v[1] < 1 || v[2] < 1 || v[1] > 65536 || v[2] > 65536)
        return node_fail(L, i, VS_FORMAT, "attr %s must be [1, h, w, 1] with h, w >= 1", key);
    hw[0] = (int)v[1];
    hw[1] = (int)v[2];
    return VS_OK;
}

/* padding SAME / VALID / EXPLICIT (+ explicit_paddings, NHWC pairs) into n. */
static vs_status attr_padding(const tf_loader *L, int i, int allow_explicit, vs_node *n)
{
    char s[16];
    vs_status st = VS_OK;
    if (!attr_str(L, i, "padding", s, sizeof s, &st))
        return st != VS_OK ? st : node_fail(L, i, VS_FORMAT, "no padding attr");
    if (strcasecmp(s, "SAME") == 0) {
        n->padmode = VS_PAD_SAME;
    } else if (strcasecmp(s, "VALID") == 0) {
        n->padmode = VS_PAD_VALID;
    } else if (strcasecmp(s, "EXPLICIT") == 0 && allow_explicit) {
        int64_t p[8];
        int np;
        st = attr_ints(L, i, "explicit_paddings", p, 8, &np);
        if (st != VS_OK)
            return st;
        if (np != 8)
            return node_fail(L, i, VS_FORMAT, "EXPLICIT padding needs 8 explicit_paddings");
        for (int k = 0; k < 4; k++) {
            if (p[2 + k] < 0 || p[2 + k] > 65536)
                return node_fail(L, i, VS_FORMAT, "explicit padding out of range");
            n->pad[k] = (int)p[2 + k];
        }
        n->padmode = VS_PAD_EXPLICIT;
    } else {
        return node_fail(L, i, VS_FORMAT, "unsupported padding '%s'", s);
    }
    return VS_OK;
}

/* ---- graph model: inputs ----------------------------------------------------------------- */

static int n_inputs(const tf_loader *L, int i)
{
    return L->in_off[i + 1] - L->in_off[i];
}

/* Value id of the k-th data input of node i (loaded before i, by the topological order). */
static int input_value(const tf_loader *L, int i, int k)
{
    return L->nodes[L->in_node[L->in_off[i] + k]].value;
}

static vs_status need_inputs(const tf_loader *L, int i, int lo, int hi)
{
    int n = n_inputs(L, i);
    if (n < lo || n > hi)
        return node_fail(L, i, VS_FORMAT, "has %d inputs, expects %d..%d", n, lo, hi);
    return VS_OK;
}

/* The k-th input as an int32 constant read into vals.  OUT: *n values, *shape. */
static vs_status const_ints(const tf_loader *L, int i, int k, int64_t *vals, int cap, int *n,
                            vs_shape *shape)
{
    const vs_value *v = &L->g->values[input_value(L, i, k)];
    int64_t count = vs_shape_numel(&v->shape);
    if (!v->data || v->dtype != VS_DT_I32 || v->shape.rank > 2)
        return node_fail(L, i, VS_FORMAT, "input %d ('%s') must be an int32 constant", k, v->name);
    if (count > cap)
        return node_fail(L, i, VS_FORMAT, "input %d ('%s') has %lld values, at most %d", k, v->name,
                         (long long)count, cap);
    for (int64_t j = 0; j < count; j++)
        vals[j] = ((const int32_t *)v->data)[j];
    *n = (int)count;
    if (shape)
        *shape = v->shape;
    return VS_OK;
}

static vs_status float_inputs(const tf_loader *L, int i, int from, int to, int *in)
{
    for (int k = from; k < to; k++) {
        in[k - from] = input_value(L, i, k);
        if (L->g->values[in[k - from]].dtype != VS_DT_F32)
            return node_fail(L, i, VS_FORMAT, "input %d is int32 where float32 is needed", k);
    }
    return VS_OK;
}

/* Adds node i as op with inputs in[0..n_in).  OUT: *node (valid until the next add). */
static vs_status emit(tf_loader *L, int i, vs_op op, const int *in, int n_in, vs_node **node)
{
    int id = vs_graph_add_node(L->g, op, L->nodes[i].name, in, n_in);
    if (id < 0)
        return node_fail(L, i, VS_NOMEM, "cannot add the node");
    L->nodes[i].value = vs_graph_node_out(L->g, id);
    *node = vs_graph_node(L->g, id);
    return VS_OK;
}

/* ---- graph model: ops -------------------------------------------------------------------- */

typedef vs_status (*map_fn)(tf_loader *L, int i, vs_op op);

/* fused_ops of _FusedConv2D / FusedDepthwiseConv2dNative / _FusedMatMul (DESIGN NOTES 2).
 * OUT: *n_args extra inputs (bias, then PReLU alpha), act and alpha set on n. */
static vs_status parse_fused(const tf_loader *L, int i, vs_node *n, int *n_args)
{
    static const struct {
        const char *name;
        vs_act act;
    } acts[] = {{"relu", VS_ACT_RELU},
                {"relu6", VS_ACT_RELU6},
                {"prelu", VS_ACT_PRELU},
                {"leakyrelu", VS_ACT_LEAKY_RELU},
                {"sigmoid", VS_ACT_SIGMOID}};
    const cJSON *a = attr_of(L, i, "fused_ops");
    const cJSON *list =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a, "list"), "s");
    char ops[2][32];
    int count = cJSON_GetArraySize(list);
    int64_t num_args;
    vs_status st = attr_int(L, i, "num_args", 0, &num_args);
    *n_args = 0;
    if (st != VS_OK)
        return st;
    if (count > 2 || (list && !cJSON_IsArray(list)))
        return node_fail(L, i, VS_FORMAT, "fused_ops must hold at most 2 ops");
    for (int k = 0; k < count; k++) {
        const cJSON *s = cJSON_GetArrayItem(list, k);
        if (!cJSON_IsString(s) || !b64_decode(s->valuestring, ops[k], sizeof ops[k]))
            return node_fail(L, i, VS_FORMAT, "fused_ops holds a malformed string");
    }
    if (count == 0)
        return num_args == 0 ? VS_OK : node_fail(L, i, VS_FORMAT, "num_args without fused_ops");
    if (strcasecmp(ops[0], "BiasAdd") != 0)
        return node_fail(L, i, VS_FORMAT, "unsupported fused op '%s'", ops[0]);
    *n_args = 1;
    if (count == 2) {
        size_t k = 0;
        while (k < sizeof acts / sizeof acts[0] && strcasecmp(ops[1], acts[k].name) != 0)
            k++;
        if (k == sizeof acts / sizeof acts[0])
            return node_fail(L, i, VS_FORMAT, "unsupported fused activation '%s'", ops[1]);
        n->act = acts[k].act;
        *n_args += n->act == VS_ACT_PRELU;
        if (n->act == VS_ACT_LEAKY_RELU) {
            st = attr_float(L, i, "leakyrelu_alpha", 0.2, &n->alpha);
            if (st != VS_OK)
                return st;
        }
    }
    if (num_args != *n_args)
        return node_fail(L, i, VS_FORMAT, "num_args is %lld, fused_ops need %d",
                         (long long)num_args, *n_args);
    return VS_OK;
}

/* Conv2D, _FusedConv2D, DepthwiseConv2dNative, FusedDepthwiseConv2dNative:
 * in = {x, filter, bias or -1, alpha or -1}. */
static vs_status map_conv(tf_loader *L, int i, vs_op op)
{
    int in[4] = {-1, -1, -1, -1}, n_args;
    vs_node *n;
    vs_node tmp = {0};
    vs_status st = parse_fused(L, i, &tmp, &n_args);
    if (st == VS_OK)
        st = need_inputs(L, i, 2 + n_args, 2 + n_args);
    if (st == VS_OK)
        st = float_inputs(L, i, 0, 2 + n_args, in);
    if (st == VS_OK)
        st = emit(L, i, op, in, 4, &n);
    if (st == VS_OK)
        st = attr_hw(L, i, "strides", 1, n->stride);
    if (st == VS_OK)
        st = attr_hw(L, i, "dilations", 1, n->dilation);
    if (st == VS_OK)
        st = attr_padding(L, i, 1, n);
    if (st == VS_OK) {
        n->act = tmp.act;
        n->alpha = tmp.alpha;
    }
    return st;
}

/* MatMul, _FusedMatMul: in = {a, b, bias or -1, alpha or -1}. */
static vs_status map_matmul(tf_loader *L, int i, vs_op op)
{
    int in[4] = {-1, -1, -1, -1}, n_args, ta, tb;
    vs_node *n;
    vs_node tmp = {0};
    vs_status st = parse_fused(L, i, &tmp, &n_args);
    if (st == VS_OK)
        st = need_inputs(L, i, 2 + n_args, 2 + n_args);
    if (st == VS_OK)
        st = attr_bool(L, i, "transpose_a", &ta);
    if (st == VS_OK)
        st = attr_bool(L, i, "transpose_b", &tb);
    if (st == VS_OK)
        st = float_inputs(L, i, 0, 2 + n_args, in);
    if (st == VS_OK)
        st = emit(L, i, op, in, 4, &n);
    if (st == VS_OK) {
        n->transpose_a = ta;
        n->transpose_b = tb;
        n->act = tmp.act;
        n->alpha = tmp.alpha;
    }
    return st;
}

/* Element-wise ops: every input is a float tensor. */
static vs_status map_elementwise(tf_loader *L, int i, vs_op op)
{
    int binary = op == VS_OP_ADD || op == VS_OP_SUB || op == VS_OP_MUL || op == VS_OP_DIV ||
                 op == VS_OP_MINIMUM || op == VS_OP_MAXIMUM || op == VS_OP_PRELU;
    int in[2];
    vs_node *n;
    vs_status st = need_inputs(L, i, 1 + binary, 1 + binary);
    if (st == VS_OK)
        st = float_inputs(L, i, 0, 1 + binary, in);
    if (st == VS_OK)
        st = emit(L, i, op, in, 1 + binary, &n);
    if (st == VS_OK && op == VS_OP_LEAKY_RELU)
        st = attr_float(L, i, "alpha", 0.2, &n->alpha);
    if (st == VS_OK && op == VS_OP_SOFTMAX)
        n->axis = -1; /* tfjs's Softmax: the last axis; finalize normalises it */
    return st;
}

static vs_status map_pool(tf_loader *L, int i, vs_op op)
{
    int in[1];
    vs_node *n;
    vs_status st = need_inputs(L, i, 1, 1);
    if (st == VS_OK)
        st = float_inputs(L, i, 0, 1, in);
    if (st == VS_OK)
        st = emit(L, i, op, in, 1, &n);
    if (st == VS_OK)
        st = attr_hw(L, i, "ksize", 0, n->ksize);
    if (st == VS_OK && n->ksize[0] < 1)
        st = node_fail(L, i, VS_FORMAT, "no ksize attr");
    if (st == VS_OK)
        st = attr_hw(L, i, "strides", 1, n->stride);
    if (st == VS_OK)
        st = attr_padding(L, i, 0, n);
    return st;
}

/* Mean, Sum, Max: axes from the int32 constant input 1 (may be negative). */
static vs_status map_reduce(tf_loader *L, int i, vs_op op)
{
    int in[1], n_axes, keep;
    int64_t axes[VS_MAX_DIMS];
    vs_node *n;
    vs_status st = need_inputs(L, i, 2, 2);
    if (st == VS_OK)
        st = const_ints(L, i, 1, axes, VS_MAX_DIMS, &n_axes, NULL);
    if (st == VS_OK)
        st = attr_bool(L, i, "keep_dims", &keep);
    if (st == VS_OK)
        st = float_inputs(L, i, 0, 1, in);
    for (int k = 0; st == VS_OK && k < n_axes; k++)
        if (axes[k] < -VS_MAX_DIMS || axes[k] >= VS_MAX_DIMS)
            st = node_fail(L, i, VS_FORMAT, "axis %lld out of range", (long long)axes[k]);
    if (st == VS_OK)
        st = emit(L, i, op, in, 1, &n);
    if (st == VS_OK) {
        n->keepdims = keep;
        n->n_axes = n_axes;
        for (int k = 0; k < n_axes; k++)
            n->axes[k] = (int)axes[k];
    }
    return st;
}

/* Pad, PadV2: paddings [rank, 2] int32 constant; PadV2's third input is the pad value. */
static vs_status map_pad(tf_loader *L, int i, vs_op op)
{
    int in[1], count;
    int64_t p[2 * VS_MAX_DIMS];
    vs_shape ps;
    float value = 0;
    vs_node *n;
    int v2 = strcmp(L->nodes[i].op, "PadV2") == 0;
    vs_status st = need_inputs(L, i, 2 + v2, 2 + v2);
    if (st == VS_OK)
        st = const_ints(L, i, 1, p, 2 * VS_MAX_DIMS, &count, &ps);
    if (st == VS_OK && (ps.rank != 2 || ps.dim[1] != 2))
        st = node_fail(L, i, VS_FORMAT, "paddings must have shape [rank, 2]");
    for (int k = 0; st == VS_OK && k < count; k++)
        if (p[k] < 0 || p[k] > 65536)
            st = node_fail(L, i, VS_FORMAT, "padding %lld out of range", (long long)p[k]);
    if (st == VS_OK && v2) {
        const vs_value *cv = &L->g->values[input_value(L, i, 2)];
        if (!cv->data || cv->dtype != VS_DT_F32 || vs_shape_numel(&cv->shape) != 1)
            st = node_fail(L, i, VS_FORMAT, "constant_values must be a float32 scalar");
        else
            value = *(const float *)cv->data;
    }
    if (st == VS_OK)
        st = float_inputs(L, i, 0, 1, in);
    if (st == VS_OK)
        st = emit(L, i, op, in, 1, &n);
    if (st == VS_OK) {
        for (int k = 0; k < count / 2; k++) {
            n->pads[k][0] = p[2 * k];
            n->pads[k][1] = p[2 * k + 1];
        }
        n->pad_value = value;
    }
    return st;
}

/* Reshape: new_shape from the int32 constant input 1 (one -1 allowed). */
static vs_status map_reshape(tf_loader *L, int i, vs_op op)
{
    int in[1], count, unknown = 0;
    int64_t dims[VS_MAX_DIMS];
    vs_node *n;
    vs_status st = need_inputs(L, i, 2, 2);
    if (st == VS_OK)
        st = const_ints(L, i, 1, dims, VS_MAX_DIMS, &count, NULL);
    for (int k = 0; st == VS_OK && k < count; k++) {
        unknown += dims[k] == -1;
        if (dims[k] < -1 || unknown > 1)
            st = node_fail(L, i, VS_FORMAT, "bad target shape");
    }
    if (st == VS_OK)
        st = float_inputs(L, i, 0, 1, in);
    if (st == VS_OK)
        st = emit(L, i, op, in, 1, &n);
    if (st == VS_OK)
        n->new_shape = vs_shape_make(count, dims);
    return st;
}

/* Squeeze: the dims to drop (squeeze_dims, may be negative; none = every dim of size 1). */
static vs_status map_squeeze(tf_loader *L, int i, vs_op op)
{
    int in[1], count;
    int64_t dims[VS_MAX_DIMS];
    vs_node *n;
    vs_status st = need_inputs(L, i, 1, 1);
    if (st == VS_OK)
        st = attr_ints(L, i, "squeeze_dims", dims, VS_MAX_DIMS, &count);
    for (int k = 0; st == VS_OK && k < count; k++)
        if (dims[k] < -VS_MAX_DIMS || dims[k] >= VS_MAX_DIMS)
            st = node_fail(L, i, VS_FORMAT, "squeeze dim %lld out of range", (long long)dims[k]);
    if (st == VS_OK)
        st = float_inputs(L, i, 0, 1, in);
    if (st == VS_OK)
        st = emit(L, i, op, in, 1, &n);
    if (st == VS_OK) {
        n->n_axes = count;
        for (int k = 0; k < count; k++)
            n->axes[k] = (int)dims[k];
    }
    return st;
}

/* ConcatV2 (axis is the last input) and Concat (axis first). */
static vs_status map_concat(tf_loader *L, int i, vs_op op)
{
    int in[VS_MAX_IN], count, v2 = strcmp(L->nodes[i].op, "ConcatV2") == 0;
    int n_in = n_inputs(L, i);
    int64_t axis;
    vs_node *n;
    vs_status st = need_inputs(L, i, 2, VS_MAX_IN + 1);
    if (st == VS_OK)
        st = const_ints(L, i, v2 ? n_in - 1 : 0, &axis, 1, &count, NULL);
    if (st == VS_OK && (count != 1 || axis < -VS_MAX_DIMS || axis >= VS_MAX_DIMS))
        st = node_fail(L, i, VS_FORMAT, "axis must be one int32 within the rank");
    if (st == VS_OK)
        st = float_inputs(L, i, !v2, n_in - v2, in);
    if (st == VS_OK)
        st = emit(L, i, op, in, n_in - 1, &n);
    if (st == VS_OK)
        n->axis = (int)axis;
    return st;
}

/* Transpose: perm from the int32 constant input 1. */
static vs_status map_transpose(tf_loader *L, int i, vs_op op)
{
    int in[1], count;
    int64_t perm[VS_MAX_DIMS];
    vs_node *n;
    vs_status st = need_inputs(L, i, 2, 2);
    if (st == VS_OK)
        st = const_ints(L, i, 1, perm, VS_MAX_DIMS, &count, NULL);
    for (int k = 0; st == VS_OK && k < count; k++)
        if (perm[k] < 0 || perm[k] >= count)
            st = node_fail(L, i, VS_FORMAT, "perm[%d] = %lld out of range", k, (long long)perm[k]);
    if (st == VS_OK)
        st = float_inputs(L, i, 0, 1, in);
    if (st == VS_OK)
        st = emit(L, i, op, in, 1, &n);
    for (int k = 0; st == VS_OK && k < count; k++)
        n->perm[k] = (int)perm[k];
    return st;
}

/* Slice: begin and size from the int32 constant inputs 1 and 2 (size -1 = to the end). */
static vs_status map_slice(tf_loader *L, int i, vs_op op)
{
    int in[1], nb, ns;
    int64_t begin[VS_MAX_DIMS], size[VS_MAX_DIMS];
    vs_node *n;
    vs_status st = need_inputs(L, i, 3, 3);
    if (st == VS_OK)
        st = const_ints(L, i, 1, begin, VS_MAX_DIMS, &nb, NULL);
    if (st == VS_OK)
        st = const_ints(L, i, 2, size, VS_MAX_DIMS, &ns, NULL);
    if (st == VS_OK && nb != ns)
        st = node_fail(L, i, VS_FORMAT, "begin has %d values, size %d", nb, ns);
    for (int k = 0; st == VS_OK && k < nb; k++)
        if (begin[k] < 0 || size[k] < -1)
            st = node_fail(L, i, VS_FORMAT, "bad begin/size in dim %d", k);
    if (st == VS_OK)
        st = float_inputs(L, i, 0, 1, in);
    if (st == VS_OK)
        st = emit(L, i, op, in, 1, &n);
    for (int k = 0; st == VS_OK && k < nb; k++) {
        n->begin[k] = begin[k];
        n->size[k] = size[k];
    }
    return st;
}

/* ResizeBilinear: size [h, w] from the int32 constant input 1. */
static vs_status map_resize(tf_loader *L, int i, vs_op op)
{
    int in[1], count, ac, hp;
    int64_t size[2];
    vs_node *n;
    vs_status st = need_inputs(L, i, 2, 2);
    if (st == VS_OK)
        st = const_ints(L, i, 1, size, 2, &count, NULL);
    if (st == VS_OK &&
        (count != 2 || size[0] < 1 || size[1] < 1 || size[0] > 65536 || size[1] > 65536))
        st = node_fail(L, i, VS_FORMAT, "size must be two positive int32");
    if (st == VS_OK)
        st = attr_bool(L, i, "align_corners", &ac);
    if (st == VS_OK)
        st = attr_bool(L, i, "half_pixel_centers", &hp);
    if (st == VS_OK)
        st = float_inputs(L, i, 0, 1, in);
    if (st == VS_OK)
        st = emit(L, i, op, in, 1, &n);
    if (st == VS_OK) {
        n->out_h = (int)size[0];
        n->out_w = (int)size[1];
        n->align_corners = ac;
        n->half_pixel_centers = hp;
    }
    return st;
}

/* Placeholder: a graph input; unknown dims (-1, the batch) become 1. */
static vs_status map_placeholder(tf_loader *L, int i, vs_op op)
{
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(attr_of(L, i, "shape"), "shape");
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(shape, "dim");
    const cJSON *d;
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(attr_of(L, i, "dtype"), "type");
    vs_shape s = {0};
    (void)op;
    if (!cJSON_IsObject(shape) || cJSON_IsTrue(cJSON_GetObjectItem(shape, "unknownRank")))
        return node_fail(L, i, VS_FORMAT, "input without a known rank");
    if (dtype && (!cJSON_IsString(dtype) || strcmp(dtype->valuestring, "DT_FLOAT") != 0))
        return node_fail(L, i, VS_FORMAT, "input dtype must be DT_FLOAT");
    if (cJSON_GetArraySize(dims) > VS_MAX_DIMS)
        return node_fail(L, i, VS_FORMAT, "input rank above %d", VS_MAX_DIMS);
    cJSON_ArrayForEach(d, dims)
    {
        int64_t v;
        if (!json_i64(cJSON_GetObjectItemCaseSensitive(d, "size"), &v) || v < -1 ||
            v > ((int64_t)1 << 31))
            return node_fail(L, i, VS_FORMAT, "input dim %d is not a size", s.rank);
        s.dim[s.rank++] = v < 0 ? 1 : v;
    }
    if (L->g->n_inputs >= VS_MAX_IN)
        return node_fail(L, i, VS_LIMIT, "more than %d inputs", VS_MAX_IN);
    L->nodes[i].value = vs_graph_add_input(L->g, L->nodes[i].name, &s);
    return L->nodes[i].value < 0 ? node_fail(L, i, VS_NOMEM, "cannot add the input") : VS_OK;
}

/* Const: the manifest weight of the same name, already in the graph. */
static vs_status map_const(tf_loader *L, int i, vs_op op)
{
    (void)op;
    L->nodes[i].value = vs_graph_find(L->g, L->nodes[i].name);
    if (L->nodes[i].value < 0 || !L->g->values[L->nodes[i].value].data)
        return node_fail(L, i, VS_FORMAT, "no weight of that name in the manifest");
    return need_inputs(L, i, 0, 0);
}

static const struct op_entry {
    const char *tf;
    vs_op op;
    map_fn map;
} op_table[] = {
    {"Placeholder", VS_OP_INPUT, map_placeholder},
    {"Const", VS_OP_CONST, map_const},
    {"Conv2D", VS_OP_CONV2D, map_conv},
    {"_FusedConv2D", VS_OP_CONV2D, map_conv},
    {"DepthwiseConv2dNative", VS_OP_DWCONV2D, map_conv},
    {"FusedDepthwiseConv2dNative", VS_OP_DWCONV2D, map_conv},
    {"MatMul", VS_OP_MATMUL, map_matmul},
    {"_FusedMatMul", VS_OP_MATMUL, map_matmul},
    {"Add", VS_OP_ADD, map_elementwise},
    {"AddV2", VS_OP_ADD, map_elementwise},
    {"BiasAdd", VS_OP_ADD, map_elementwise},
    {"Sub", VS_OP_SUB, map_elementwise},
    {"Mul", VS_OP_MUL, map_elementwise},
    {"RealDiv", VS_OP_DIV, map_elementwise},
    {"Div", VS_OP_DIV, map_elementwise},
    {"Minimum", VS_OP_MINIMUM, map_elementwise},
    {"Maximum", VS_OP_MAXIMUM, map_elementwise},
    {"Prelu", VS_OP_PRELU, map_elementwise},
    {"Abs", VS_OP_ABS, map_elementwise},
    {"Neg", VS_OP_NEG, map_elementwise},
    {"Relu", VS_OP_RELU, map_elementwise},
    {"Relu6", VS_OP_RELU6, map_elementwise},
    {"LeakyRelu", VS_OP_LEAKY_RELU, map_elementwise},
    {"Sigmoid", VS_OP_SIGMOID, map_elementwise},
    {"Tanh", VS_OP_TANH, map_elementwise},
    {"Exp", VS_OP_EXP, map_elementwise},
    {"Square", VS_OP_SQUARE, map_elementwise},
    {"Sqrt", VS_OP_SQRT, map_elementwise},
    {"Rsqrt", VS_OP_RSQRT, map_elementwise},
    {"Softmax", VS_OP_SOFTMAX, map_elementwise},
    {"Identity", VS_OP_IDENTITY, map_elementwise},
    {"MaxPool", VS_OP_MAXPOOL, map_pool},
    {"AvgPool", VS_OP_AVGPOOL, map_pool},
    {"Mean", VS_OP_MEAN, map_reduce},
    {"Sum", VS_OP_SUM, map_reduce},
    {"Max", VS_OP_REDUCE_MAX, map_reduce},
    {"Pad", VS_OP_PAD, map_pad},
    {"PadV2", VS_OP_PAD, map_pad},
    {"Reshape", VS_OP_RESHAPE, map_reshape},
    {"Squeeze", VS_OP_SQUEEZE, map_squeeze},
    {"ConcatV2", VS_OP_CONCAT, map_concat},
    {"Concat", VS_OP_CONCAT, map_concat},
    {"Transpose", VS_OP_TRANSPOSE, map_transpose},
    {"Slice", VS_OP_SLICE, map_slice},
    {"ResizeBilinear", VS_OP_RESIZE_BILINEAR, map_resize},
};

/* Checks the attributes every op shares (T, data_format), then maps node i. */
static vs_status map_node(tf_loader *L, int i)
{
    const struct op_entry *e = NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(attr_of(L, i, "T"), "type");
    char fmt[8];
    vs_status st = VS_OK;
    for (size_t k = 0; k < sizeof op_table / sizeof op_table[0] && !e; k++)
        if (strcmp(op_table[k].tf, L->nodes[i].op) == 0)
            e = &op_table[k];
    if (!e)
        return vs_err_set(L->err, VS_FORMAT, "%s: unknown op %s in node %s", L->path,
                          L->nodes[i].op, L->nodes[i].name);
    if (attr_of(L, i, "T") && (!cJSON_IsString(t) || strcmp(t->valuestring, "DT_FLOAT") != 0))
        return node_fail(L, i, VS_FORMAT, "only DT_FLOAT tensors are supported");
    if (attr_str(L, i, "data_format", fmt, sizeof fmt, &st) && strcmp(fmt, "NHWC") != 0)
        return node_fail(L, i, VS_FORMAT, "data_format %s (only NHWC)", fmt);
    if (st != VS_OK)
        return st;
    if (e->op != VS_OP_CONST && vs_graph_find(L->g, L->nodes[i].name) >= 0)
        return node_fail(L, i, VS_FORMAT, "the name is also a weight's");
    return e->map(L, i, e->op);
}

/* Graph outputs (DESIGN NOTES 3). */
static vs_status mark_outputs(tf_loader *L, const cJSON *root)
{
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "signature"), "outputs");
    const cJSON *o;
    vs_status st = VS_OK;
    if (cJSON_IsObject(sig) && sig->child) {
        cJSON_ArrayForEach(o, sig)
        {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "name");
            const char *ref = cJSON_IsString(nm) ? nm->valuestring : o->string, *name;
            size_t len;
            int control;
            int ok = split_input(ref ? ref : "", &name, &len, &control);
            int j = ok && !control ? find_node(L, name, len) : -1;
            if (j < 0 || L->nodes[j].value < 0)
                return vs_err_set(L->err, VS_FORMAT, "%s: signature output '%s' is not a node",
                                  L->path, ref ? ref : "?");
            st = vs_graph_mark_output(L->g, L->nodes[j].value);
            if (st != VS_OK)
                return vs_err_set(L->err, st, "%s: cannot mark output '%s'", L->path, ref);
        }
        return VS_OK;
    }
    for (int i = 0; i < L->n_nodes && st == VS_OK; i++)
        if (!L->nodes[i].consumers) {
            st = vs_graph_mark_output(L->g, L->nodes[i].value);
            if (st != VS_OK)
                st = vs_err_set(L->err, st, "%s: cannot mark output '%s'", L->path,
                                L->nodes[i].name);
        }
    return st;
}

static vs_status build_graph(tf_loader *L, const cJSON *root)
{
    const cJSON *topo = cJSON_GetObjectItemCaseSensitive(root, "modelTopology");
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(topo, "node");
    const cJSON *manifest = cJSON_GetObjectItemCaseSensitive(root, "weightsManifest");
    vs_status st;
    if (!cJSON_IsArray(nodes))
        return vs_err_set(L->err, VS_FORMAT, "%s: no modelTopology.node array", L->path);
    if (!manifest)
        return vs_err_set(L->err, VS_FORMAT, "%s: no weightsManifest", L->path);
    st = load_manifest(L->g, manifest, L->path, L->err);
    if (st == VS_OK)
        st = collect_nodes(L, nodes);
    if (st == VS_OK)
        st = link_nodes(L);
    if (st == VS_OK)
        st = sort_nodes(L);
    for (int k = 0; st == VS_OK && k < L->n_nodes; k++)
        st = map_node(L, L->order[k]);
    if (st == VS_OK)
        st = mark_outputs(L, root);
    return st;
}

vs_status vs_tfjs_load_graph(const char *model_json, const char *name, vs_graph **out, vs_err *err)
{
    tf_loader L = {0};
    cJSON *root = NULL;
    vs_status st;
    *out = NULL;
    L.path = model_json;
    L.err = err;
    st = read_json(model_json, &root, err);
    if (st != VS_OK)
        return st;
    L.g = vs_graph_new(name);
    if (!L.g) {
        st = vs_err_set(err, VS_NOMEM, "%s: no memory for the graph", model_json);
        goto out;
    }
    st = build_graph(&L, root);
    if (st == VS_OK) {
        *out = L.g;
        L.g = NULL;
    }
out:
    vs_graph_free(L.g);
    free(L.nodes);
    free(L.index);
    free(L.in_off);
    free(L.in_node);
    free(L.order);
    cJSON_Delete(root);
    return st;
}

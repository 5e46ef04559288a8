/*
 * store_records.c - the store's records around a person (visits, purchases with their lines,
 * incidents), API keys, the audit trail and settings.
 *
 * Same pattern as the persons and faces of store.c, with the helpers of store_impl.h: the
 * public function validates (the same for both backends), a static body runs the statements
 * inside vs_tx_run's one transaction, and list pages are read with vs_q_list.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_impl.h"

/* ---- visits, purchases, incidents --------------------------------------------------------- */

static void visit_clear(void *item)
{
    vs_visit *v = item;
    free(v->camera);
    memset(v, 0, sizeof *v);
}

void vs_visit_list_free(vs_visit_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        visit_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static vs_status read_visit(vs_tx *t, vs_db_stmt *st, void *item)
{
    vs_visit *v = item;
    v->id = t->d->col_i64(st, 0);
    v->person_id = t->d->col_i64(st, 1);
    v->at = t->d->col_i64(st, 2);
    v->face_id = t->d->col_i64(st, 4);
    v->score = t->d->col_f64(st, 5);
    return vs_col_dup(t, st, 3, &v->camera);
}

/* A new visit, purchase or incident, and the id it got. */
typedef struct record_op {
    const void *in;
    int64_t id;
} record_op;

static vs_status visit_add_body(vs_tx *t, void *arg)
{
    record_op *op = arg;
    const vs_visit *v = op->in;
    vs_status rc = vs_person_writable(t, v->person_id);
    if (rc == VS_OK)
        rc = vs_q_run(t, S_VISIT_INSERT,
                      ARGS(arg_i64(v->person_id), arg_i64(v->at ? v->at : vs_store_now_ms()),
                           arg_txt(v->camera), arg_opt(v->face_id), arg_f64(v->score)),
                      &op->id, NULL, NULL);
    return rc;
}

/* Runs body as a write for a new row and hands back its id. */
static vs_status add_record(vs_store *s, vs_tx_body body, const void *in, int64_t *id_out,
                            vs_err *err)
{
    record_op op = {.in = in};
    vs_status st = vs_tx_run(s, 1, body, &op, err);
    if (id_out)
        *id_out = st == VS_OK ? op.id : 0;
    return st;
}

vs_status vs_store_visit_add(vs_store *s, const vs_visit *v, int64_t *id_out, vs_err *err)
{
    if (id_out)
        *id_out = 0;
    if (!v)
        return vs_err_set(err, VS_INVAL, "visit is NULL");
    vs_status st = vs_check_id("person", v->person_id, err);
    if (st == VS_OK)
        st = vs_check_text("camera", v->camera, VS_STORE_NAME_MAX, 0, err);
    if (st == VS_OK)
        st = vs_check_finite("visit score", v->score, err);
    if (st == VS_OK && v->face_id < 0)
        st = vs_check_id("face", v->face_id, err);
    return st != VS_OK ? st : add_record(s, visit_add_body, v, id_out, err);
}

/* The body of every per-person page: statement, reader and clear come through list_kind. */
typedef struct list_kind {
    int stmt;
    size_t size;
    vs_row_reader rd;
    vs_item_clear clr;
} list_kind;

typedef struct page_op {
    const list_kind *k;
    int64_t person_id;
    size_t limit, offset;
    void *items;
    size_t n;
} page_op;

static vs_status page_body(vs_tx *t, void *arg)
{
    page_op *op = arg;
    return vs_q_list(
        t, op->k->stmt,
        ARGS(arg_i64(op->person_id), arg_i64((int64_t)op->limit), arg_i64((int64_t)op->offset)),
        op->k->size, op->k->rd, op->k->clr, &op->items, &op->n);
}

static vs_status list_page(vs_store *s, const list_kind *k, int64_t person_id, size_t limit,
                           size_t offset, void **items, size_t *n, vs_err *err)
{
    *items = NULL;
    *n = 0;
    if (offset > INT64_MAX)
        return vs_err_set(err, VS_INVAL, "offset is too large");
    page_op op = {.k = k, .person_id = person_id, .limit = vs_page_limit(limit), .offset = offset};
    vs_status st = vs_tx_run(s, 0, page_body, &op, err);
    if (st == VS_OK) {
        *items = op.items;
        *n = op.n;
    }
    return st;
}

vs_status vs_store_visit_list(vs_store *s, int64_t person_id, size_t limit, size_t offset,
                              vs_visit_list *out, vs_err *err)
{
    static const list_kind k = {S_VISIT_LIST, sizeof(vs_visit), read_visit, visit_clear};
    if (!out)
        return vs_err_set(err, VS_INVAL, "out is NULL");
    void *items;
    vs_status st = list_page(s, &k, person_id, limit, offset, &items, &out->n, err);
    out->items = items;
    return st;
}

static void purchase_clear(void *item)
{
    vs_purchase *p = item;
    for (size_t i = 0; i < p->n_lines; i++) {
        free(p->lines[i].sku);
        free(p->lines[i].name);
        free(p->lines[i].category);
    }
    free(p->lines);
    free(p->currency);
    free(p->receipt);
    memset(p, 0, sizeof *p);
}

void vs_purchase_list_free(vs_purchase_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        purchase_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static void line_clear(void *item)
{
    vs_purchase_line *l = item;
    free(l->sku);
    free(l->name);
    free(l->category);
}

static vs_status read_line(vs_tx *t, vs_db_stmt *st, void *item)
{
    vs_purchase_line *l = item;
    l->qty = t->d->col_f64(st, 3);
    l->price_cents = t->d->col_i64(st, 4);
    char **const texts[] = {&l->sku, &l->name, &l->category};
    return vs_col_dups(t, st, 0, texts, 3);
}

/* Reads a purchase row and then its lines (a second statement, same transaction). */
static vs_status read_purchase(vs_tx *t, vs_db_stmt *st, void *item)
{
    vs_purchase *p = item;
    p->id = t->d->col_i64(st, 0);
    p->person_id = t->d->col_i64(st, 1);
    p->at = t->d->col_i64(st, 2);
    p->total_cents = t->d->col_i64(st, 3);
    char **const texts[] = {&p->currency, &p->receipt};
    vs_status rc = vs_col_dups(t, st, 4, texts, 2);
    if (rc != VS_OK)
        return rc;
    void *lines;
    rc = vs_q_list(t, S_PURCHASE_LINES, ARGS(arg_i64(p->id)), sizeof(vs_purchase_line), read_line,
                   line_clear, &lines, &p->n_lines);
    p->lines = lines;
    return rc;
}

static vs_status purchase_add_body(vs_tx *t, void *arg)
{
    record_op *op = arg;
    const vs_purchase *p = op->in;
    vs_status rc = vs_person_writable(t, p->person_id);
    if (rc == VS_OK)
        rc = vs_q_run(t, S_PURCHASE_INSERT,
                      ARGS(arg_i64(p->person_id), arg_i64(p->at ? p->at : vs_store_now_ms()),
                           arg_i64(p->total_cents), arg_txt(p->currency), arg_txt(p->receipt)),
                      &op->id, NULL, NULL);
    for (size_t i = 0; rc == VS_OK && i < p->n_lines; i++) {
        const vs_purchase_line *l = &p->lines[i];
        rc = vs_q_run(t, S_PURCHASE_LINE_INSERT,
                      ARGS(arg_i64(op->id), arg_i64((int64_t)i + 1), arg_txt(l->sku),
                           arg_txt(l->name), arg_txt(l->category), arg_f64(l->qty),
                           arg_i64(l->price_cents)),
                      NULL, NULL, NULL);
    }
    return rc;
}

static vs_status check_purchase(const vs_purchase *p, vs_err *err)
{
    if (!p)
        return vs_err_set(err, VS_INVAL, "purchase is NULL");
    vs_status st = vs_check_id("person", p->person_id, err);
    if (st == VS_OK && p->total_cents < 0)
        st = vs_err_set(err, VS_INVAL, "purchase total is negative");
    if (st == VS_OK && p->n_lines && !p->lines)
        st = vs_err_set(err, VS_INVAL, "purchase lines are NULL");
    if (st == VS_OK)
        st = vs_check_text("currency", p->currency, 8, 0, err);
    if (st == VS_OK)
        st = vs_check_text("receipt", p->receipt, VS_STORE_NAME_MAX, 0, err);
    for (size_t i = 0; st == VS_OK && i < p->n_lines; i++) {
        const vs_purchase_line *l = &p->lines[i];
        st = vs_check_text("line sku", l->sku, VS_STORE_NAME_MAX, 0, err);
        if (st == VS_OK)
            st = vs_check_text("line name", l->name, VS_STORE_NAME_MAX, 0, err);
        if (st == VS_OK)
            st = vs_check_text("line category", l->category, VS_STORE_NAME_MAX, 0, err);
        if (st == VS_OK && (!isfinite(l->qty) || l->qty <= 0 || l->price_cents < 0))
            st = vs_err_set(err, VS_INVAL, "line %zu: qty must be > 0 and price >= 0", i + 1);
    }
    return st;
}

vs_status vs_store_purchase_add(vs_store *s, const vs_purchase *p, int64_t *id_out, vs_err *err)
{
    if (id_out)
        *id_out = 0;
    vs_status st = check_purchase(p, err);
    return st != VS_OK ? st : add_record(s, purchase_add_body, p, id_out, err);
}

vs_status vs_store_purchase_list(vs_store *s, int64_t person_id, size_t limit, size_t offset,
                                 vs_purchase_list *out, vs_err *err)
{
    static const list_kind k = {S_PURCHASE_LIST, sizeof(vs_purchase), read_purchase,
                                purchase_clear};
    if (!out)
        return vs_err_set(err, VS_INVAL, "out is NULL");
    void *items;
    vs_status st = list_page(s, &k, person_id, limit, offset, &items, &out->n, err);
    out->items = items;
    return st;
}

static void incident_clear(void *item)
{
    vs_incident *in = item;
    free(in->kind);
    free(in->notes);
    free(in->reporter);
    memset(in, 0, sizeof *in);
}

void vs_incident_list_free(vs_incident_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        incident_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static vs_status read_incident(vs_tx *t, vs_db_stmt *st, void *item)
{
    vs_incident *in = item;
    in->id = t->d->col_i64(st, 0);
    in->person_id = t->d->col_i64(st, 1);
    in->at = t->d->col_i64(st, 2);
    in->severity = (int)t->d->col_i64(st, 4);
    vs_status rc = vs_col_dup(t, st, 3, &in->kind);
    char **const texts[] = {&in->notes, &in->reporter};
    return rc != VS_OK ? rc : vs_col_dups(t, st, 5, texts, 2);
}

static vs_status incident_add_body(vs_tx *t, void *arg)
{
    record_op *op = arg;
    const vs_incident *in = op->in;
    vs_status rc = vs_person_writable(t, in->person_id);
    if (rc == VS_OK)
        rc = vs_q_run(t, S_INCIDENT_INSERT,
                      ARGS(arg_i64(in->person_id), arg_i64(in->at ? in->at : vs_store_now_ms()),
                           arg_txt(in->kind), arg_i64(in->severity), arg_txt(in->notes),
                           arg_txt(in->reporter)),
                      &op->id, NULL, NULL);
    return rc;
}

vs_status vs_store_incident_add(vs_store *s, const vs_incident *in, int64_t *id_out, vs_err *err)
{
    if (id_out)
        *id_out = 0;
    if (!in)
        return vs_err_set(err, VS_INVAL, "incident is NULL");
    vs_status st = vs_check_id("person", in->person_id, err);
    if (st == VS_OK)
        st = vs_check_text("incident kind", in->kind, VS_STORE_NAME_MAX, 1, err);
    if (st == VS_OK)
        st = vs_check_text("incident notes", in->notes, VS_STORE_TEXT_MAX, 0, err);
    if (st == VS_OK)
        st = vs_check_text("incident reporter", in->reporter, VS_STORE_NAME_MAX, 0, err);
    if (st == VS_OK && (in->severity < 1 || in->severity > 5))
        st = vs_err_set(err, VS_INVAL, "incident severity %d is not 1..5", in->severity);
    return st != VS_OK ? st : add_record(s, incident_add_body, in, id_out, err);
}

vs_status vs_store_incident_list(vs_store *s, int64_t person_id, size_t limit, size_t offset,
                                 vs_incident_list *out, vs_err *err)
{
    static const list_kind k = {S_INCIDENT_LIST, sizeof(vs_incident), read_incident,
                                incident_clear};
    if (!out)
        return vs_err_set(err, VS_INVAL, "out is NULL");
    void *items;
    vs_status st = list_page(s, &k, person_id, limit, offset, &items, &out->n, err);
    out->items = items;
    return st;
}

/* ---- API keys ----------------------------------------------------------------------------- */

void vs_api_key_clear(vs_api_key *k)
{
    if (!k)
        return;
    free(k->name);
    free(k->hash);
    memset(k, 0, sizeof *k);
}

static void key_clear_item(void *k)
{
    vs_api_key_clear(k);
}

void vs_api_key_list_free(vs_api_key_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        vs_api_key_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static vs_status read_key(vs_tx *t, vs_db_stmt *st, void *item)
{
    vs_api_key *k = item;
    k->id = t->d->col_i64(st, 0);
    k->role = vs_role_parse(t->d->col_text(st, 2));
    k->created_at = t->d->col_i64(st, 4);
    k->last_used = t->d->col_i64(st, 5);
    k->revoked = t->d->col_i64(st, 6) != 0;
    vs_status rc = vs_col_dup(t, st, 1, &k->name);
    return rc != VS_OK ? rc : vs_col_dup(t, st, 3, &k->hash);
}

typedef struct key_op {
    const char *name, *hash;
    vs_api_role role;
    int64_t id, at;
    vs_api_key_list *list;
    vs_api_key *one;
} key_op;

static vs_status key_create_body(vs_tx *t, void *arg)
{
    key_op *op = arg;
    return vs_q_run(t, S_KEY_INSERT,
                    ARGS(arg_txt(op->name), arg_txt(vs_role_name(op->role)), arg_txt(op->hash),
                         arg_i64(vs_store_now_ms())),
                    &op->id, NULL, NULL);
}

vs_status vs_store_api_key_create(vs_store *s, const char *name, vs_api_role role, const char *hash,
                                  int64_t *id_out, vs_err *err)
{
    if (id_out)
        *id_out = 0;
    vs_status st = vs_check_text("key name", name, VS_STORE_NAME_MAX, 1, err);
    if (st == VS_OK)
        st = vs_check_text("key hash", hash, VS_STORE_NAME_MAX, 1, err);
    if (st == VS_OK && !vs_role_name(role))
        st = vs_err_set(err, VS_INVAL, "role %d is not admin/operator/viewer/device", (int)role);
    if (st != VS_OK)
        return st;
    key_op op = {.name = name, .hash = hash, .role = role};
    st = vs_tx_run(s, 1, key_create_body, &op, err);
    if (st == VS_OK && id_out)
        *id_out = op.id;
    return st;
}

static vs_status key_list_body(vs_tx *t, void *arg)
{
    key_op *op = arg;
    void *items;
    vs_status rc = vs_q_list(t, S_KEY_LIST, NULL, 0, sizeof(vs_api_key), read_key, key_clear_item,
                             &items, &op->list->n);
    op->list->items = items;
    return rc;
}

vs_status vs_store_api_key_list(vs_store *s, vs_api_key_list *out, vs_err *err)
{
    if (!out)
        return vs_err_set(err, VS_INVAL, "out is NULL");
    memset(out, 0, sizeof *out);
    key_op op = {.list = out};
    return vs_tx_run(s, 0, key_list_body, &op, err);
}

/* Touch when op->at is set (the wrappers make it non-zero), else revoke. */
static vs_status key_update_body(vs_tx *t, void *arg)
{
    key_op *op = arg;
    int64_t changed = 0;
    vs_status rc = op->at ? vs_q_run(t, S_KEY_TOUCH, ARGS(arg_i64(op->at), arg_i64(op->id)), NULL,
                                     NULL, &changed)
                          : vs_q_run(t, S_KEY_REVOKE, ARGS(arg_i64(op->id)), NULL, NULL, &changed);
    return rc != VS_OK ? rc : vs_check_changed(t, changed, "API key", op->id);
}

vs_status vs_store_api_key_revoke(vs_store *s, int64_t id, vs_err *err)
{
    key_op op = {.id = id};
    return vs_tx_run(s, 1, key_update_body, &op, err);
}

vs_status vs_store_api_key_touch(vs_store *s, int64_t id, int64_t at, vs_err *err)
{
    key_op op = {.id = id, .at = at ? at : vs_store_now_ms()};
    return vs_tx_run(s, 1, key_update_body, &op, err);
}

static vs_status key_find_body(vs_tx *t, void *arg)
{
    key_op *op = arg;
    vs_db_stmt *st;
    vs_status rc = vs_q_open(t, S_KEY_FIND, ARGS(arg_txt(op->hash)), &st);
    if (rc != VS_OK)
        return rc;
    int row = 0;
    rc = t->d->step(st, &row, t->err);
    if (rc == VS_OK && !row)
        rc = vs_err_set(t->err, VS_NOTFOUND, "no API key has this hash");
    if (rc == VS_OK)
        rc = read_key(t, st, op->one);
    t->d->reset(st);
    return rc;
}

vs_status vs_store_api_key_find(vs_store *s, const char *hash, vs_api_key *out, vs_err *err)
{
    if (!out)
        return vs_err_set(err, VS_INVAL, "out is NULL");
    memset(out, 0, sizeof *out);
    vs_status st = vs_check_text("key hash", hash, VS_STORE_NAME_MAX, 1, err);
    if (st != VS_OK)
        return st;
    key_op op = {.hash = hash, .one = out};
    st = vs_tx_run(s, 0, key_find_body, &op, err);
    if (st != VS_OK)
        vs_api_key_clear(out);
    return st;
}

/* ---- audit and settings ------------------------------------------------------------------- */

static void audit_clear(void *item)
{
    vs_audit_entry *a = item;
    free(a->actor);
    free(a->action);
    free(a->target);
    free(a->detail);
    memset(a, 0, sizeof *a);
}

void vs_audit_list_free(vs_audit_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        audit_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static vs_status read_audit(vs_tx *t, vs_db_stmt *st, void *item)
{
    vs_audit_entry *a = item;
    a->id = t->d->col_i64(st, 0);
    a->at = t->d->col_i64(st, 1);
    char **const texts[] = {&a->actor, &a->action, &a->target, &a->detail};
    return vs_col_dups(t, st, 2, texts, 4);
}

typedef struct kv_op {
    const char *a, *b, *c, *d; /* audit: actor, action, target, detail; settings: key, value */
    int64_t after;
    size_t limit;
    vs_audit_list *list;
    char *value;
} kv_op;

static vs_status audit_append_body(vs_tx *t, void *arg)
{
    kv_op *op = arg;
    return vs_q_run(t, S_AUDIT_INSERT,
                    ARGS(arg_i64(vs_store_now_ms()), arg_txt(op->a), arg_txt(op->b), arg_txt(op->c),
                         arg_txt(op->d)),
                    NULL, NULL, NULL);
}

vs_status vs_store_audit_append(vs_store *s, const char *actor, const char *action,
                                const char *target, const char *detail, vs_err *err)
{
    vs_status st = vs_check_text("audit actor", actor, VS_STORE_NAME_MAX, 1, err);
    if (st == VS_OK)
        st = vs_check_text("audit action", action, VS_STORE_NAME_MAX, 1, err);
    if (st == VS_OK)
        st = vs_check_text("audit target", target, VS_STORE_NAME_MAX, 0, err);
    if (st == VS_OK)
        st = vs_check_text("audit detail", detail, VS_STORE_TEXT_MAX, 0, err);
    if (st != VS_OK)
        return st;
    kv_op op = {.a = actor, .b = action, .c = target, .d = detail};
    return vs_tx_run(s, 1, audit_append_body, &op, err);
}

static vs_status audit_list_body(vs_tx *t, void *arg)
{
    kv_op *op = arg;
    void *items;
    vs_status rc = vs_q_list(t, S_AUDIT_LIST, ARGS(arg_i64(op->after), arg_i64((int64_t)op->limit)),
                             sizeof(vs_audit_entry), read_audit, audit_clear, &items, &op->list->n);
    op->list->items = items;
    return rc;
}

vs_status vs_store_audit_list(vs_store *s, int64_t after_id, size_t limit, vs_audit_list *out,
                              vs_err *err)
{
    if (!out)
        return vs_err_set(err, VS_INVAL, "out is NULL");
    memset(out, 0, sizeof *out);
    kv_op op = {.after = after_id, .limit = vs_page_limit(limit), .list = out};
    return vs_tx_run(s, 0, audit_list_body, &op, err);
}

static vs_status setting_get_body(vs_tx *t, void *arg)
{
    kv_op *op = arg;
    vs_db_stmt *st;
    vs_status rc = vs_q_open(t, S_SETTING_GET, ARGS(arg_txt(op->a)), &st);
    if (rc != VS_OK)
        return rc;
    int row = 0;
    rc = t->d->step(st, &row, t->err);
    if (rc == VS_OK && !row)
        rc = vs_err_set(t->err, VS_NOTFOUND, "setting '%s' is not set", op->a);
    if (rc == VS_OK)
        rc = vs_col_dup(t, st, 0, &op->value);
    t->d->reset(st);
    return rc;
}

vs_status vs_store_setting_get(vs_store *s, const char *key, char **value_out, vs_err *err)
{
    if (!value_out)
        return vs_err_set(err, VS_INVAL, "value_out is NULL");
    *value_out = NULL;
    vs_status st = vs_check_text("setting key", key, VS_STORE_NAME_MAX, 1, err);
    if (st != VS_OK)
        return st;
    kv_op op = {.a = key};
    st = vs_tx_run(s, 0, setting_get_body, &op, err);
    if (st == VS_OK)
        *value_out = op.value;
    else
        free(op.value);
    return st;
}

static vs_status setting_set_body(vs_tx *t, void *arg)
{
    kv_op *op = arg;
    return vs_q_run(t, S_SETTING_SET,
                    ARGS(arg_txt(op->a), arg_txt(op->b), arg_i64(vs_store_now_ms())), NULL, NULL,
                    NULL);
}

vs_status vs_store_setting_set(vs_store *s, const char *key, const char *value, vs_err *err)
{
    vs_status st = vs_check_text("setting key", key, VS_STORE_NAME_MAX, 1, err);
    if (st == VS_OK)
        st = value ? vs_check_text("setting value", value, VS_STORE_TEXT_MAX, 0, err)
                   : vs_err_set(err, VS_INVAL, "setting value is required");
    if (st != VS_OK)
        return st;
    kv_op op = {.a = key, .b = value};
    return vs_tx_run(s, 1, setting_set_body, &op, err);
}

/*
 * multipart.c - a bounded multipart/form-data parser (RFC 7578 over RFC 2046) that works on the
 * request body the server has already buffered (at most max_body bytes).  Parts are not copied:
 * each one points into the body.
 *
 * What it accepts: a preamble before the first delimiter; per part a header block of at most
 * PART_HEADERS_MAX bytes with a Content-Disposition "form-data" and a name (quoted or not,
 * filename optional; other headers ignored); the closing delimiter "--boundary--".  Anything
 * else (no closing delimiter, a part without a name, an over-long name, more than
 * FORM_MAX_PARTS parts) is an error, never a partial result.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"

#define PART_HEADERS_MAX 4096

/* Copies a parameter value (quoted or token) starting at v into out; returns 0 if too long. */
static int param_value(const char *v, const char *end, char *out, size_t cap)
{
    size_t n = 0;
    if (v < end && *v == '"') {
        for (v++; v < end && *v != '"'; v++) {
            if (*v == '\\' && v + 1 < end)
                v++;
            if (n + 1 >= cap)
                return 0;
            out[n++] = *v;
        }
    } else {
        for (; v < end && *v != ';' && !isspace((unsigned char)*v); v++) {
            if (n + 1 >= cap)
                return 0;
            out[n++] = *v;
        }
    }
    out[n] = '\0';
    return 1;
}

/* Finds parameter `key` (e.g. "name") in a header value [s, end): a pointer to its value. */
static const char *find_param(const char *s, const char *end, const char *key)
{
    size_t kl = strlen(key);
    const char *p = s;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        if (!semi)
            break;
        p = semi + 1;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if ((size_t)(end - p) > kl && strncasecmp(p, key, kl) == 0 && p[kl] == '=')
            return p + kl + 1;
    }
    return NULL;
}

int vs_http_multipart_boundary(const char *content_type, char *out, size_t cap)
{
    static const char mp[] = "multipart/form-data";
    if (!content_type || strncasecmp(content_type, mp, sizeof mp - 1) != 0)
        return 0;
    const char *end = content_type + strlen(content_type);
    const char *v = find_param(content_type, end, "boundary");
    if (!v || !param_value(v, end, out, cap) || !out[0] || strlen(out) > 70)
        return 0;
    return 1;
}

/* Reads the header block [h, end) of one part into p. */
static vs_status part_headers(const char *h, const char *end, http_part *p, vs_err *err)
{
    static const char cd[] = "content-disposition:";
    int named = 0;
    while (h < end) {
        const char *eol = memmem(h, (size_t)(end - h), "\r\n", 2);
        const char *line_end = eol ? eol : end;
        if ((size_t)(line_end - h) >= sizeof cd - 1 && strncasecmp(h, cd, sizeof cd - 1) == 0) {
            const char *v = h + sizeof cd - 1;
            while (v < line_end && (*v == ' ' || *v == '\t'))
                v++;
            if ((size_t)(line_end - v) < 9 || strncasecmp(v, "form-data", 9) != 0)
                return vs_err_set(err, VS_FORMAT, "a part is not form-data");
            const char *name = find_param(v, line_end, "name");
            const char *file = find_param(v, line_end, "filename");
            if (!name || !param_value(name, line_end, p->name, sizeof p->name) || !p->name[0])
                return vs_err_set(err, VS_FORMAT, "a part has no usable name");
            if (file && !param_value(file, line_end, p->filename, sizeof p->filename))
                snprintf(p->filename, sizeof p->filename, "upload");
            named = 1;
        }
        h = line_end + 2;
    }
    return named ? VS_OK : vs_err_set(err, VS_FORMAT, "a part has no Content-Disposition");
}

vs_status vs_http_multipart_parse(const uint8_t *body, size_t n, const char *boundary,
                                  http_form *form, vs_err *err)
{
    memset(form, 0, sizeof *form);
    if (!body || n == 0)
        return vs_err_set(err, VS_FORMAT, "the multipart body is empty");
    char delim[80]; /* "\r\n--" + boundary */
    int dl = snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    if (dl <= 4 || (size_t)dl >= sizeof delim)
        return vs_err_set(err, VS_FORMAT, "bad multipart boundary");
    const char *s = (const char *)body, *end = s + n;
    /* The first delimiter may open the body (no CRLF before it). */
    const char *at;
    if (n >= (size_t)dl - 2 && memcmp(s, delim + 2, (size_t)dl - 2) == 0) {
        at = s + dl - 2;
    } else {
        at = memmem(s, n, delim, (size_t)dl);
        at = at ? at + dl : NULL;
    }
    for (;;) {
        if (!at || end - at < 2)
            return vs_err_set(err, VS_FORMAT, "multipart body without its closing boundary");
        if (at[0] == '-' && at[1] == '-')
            return VS_OK; /* the closing delimiter: an epilogue may follow */
        while (at < end && (*at == ' ' || *at == '\t'))
            at++;
        if (end - at < 2 || at[0] != '\r' || at[1] != '\n')
            return vs_err_set(err, VS_FORMAT, "malformed multipart delimiter line");
        at += 2;
        size_t room = (size_t)(end - at);
        const char *hend =
            memmem(at, room < PART_HEADERS_MAX ? room : PART_HEADERS_MAX, "\r\n\r\n", 4);
        const char *data;
        if (room >= 2 && at[0] == '\r' && at[1] == '\n')
            return vs_err_set(err, VS_FORMAT, "a part has no headers");
        if (!hend)
            return vs_err_set(err, VS_FORMAT, "multipart part headers too long or unterminated");
        if (form->n == FORM_MAX_PARTS)
            return vs_err_set(err, VS_LIMIT, "more than %d form fields", FORM_MAX_PARTS);
        http_part *p = &form->parts[form->n];
        vs_status st = part_headers(at, hend + 2, p, err);
        if (st != VS_OK)
            return st;
        data = hend + 4;
        const char *next = memmem(data, (size_t)(end - data), delim, (size_t)dl);
        if (!next)
            return vs_err_set(err, VS_FORMAT, "multipart body without its closing boundary");
        p->data = (const uint8_t *)data;
        p->len = (size_t)(next - data);
        form->n++;
        at = next + dl;
    }
}

const http_part *vs_http_form_get(const http_form *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->parts[i].name, name) == 0)
            return &f->parts[i];
    return NULL;
}

char *vs_http_form_text(const http_form *f, const char *name)
{
    const http_part *p = vs_http_form_get(f, name);
    if (!p)
        return NULL;
    char *s = malloc(p->len + 1);
    if (!s)
        return NULL;
    memcpy(s, p->data, p->len);
    s[p->len] = '\0';
    return s;
}

int vs_http_form_read(http_req *r, http_form *f, const char *const *allowed)
{
    vs_err err = {{0}};
    if (vs_http_multipart_parse(r->body, r->len, r->boundary, f, &err) != VS_OK) {
        vs_http_reply_error(r, 400, "bad_request", "%s", err.msg);
        return 0;
    }
    return !allowed || vs_http_form_fields(r, f, allowed);
}

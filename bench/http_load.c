/*
 * http_load.c - a closed-loop load test of `visage serve`: N client threads, each with one
 * keep-alive HTTP/1.1 connection, send the same photo to POST /v1/recognize (multipart/form-data,
 * one `file` part) for S seconds, one request at a time, the next as soon as the reply is in.
 * bench/http_load.sh starts the server, enrols a gallery and runs this for several client and
 * server thread counts.  Needs nothing of libvisage: raw POSIX sockets and pthreads.
 *
 *   http_load --port P --key KEY --file PHOTO --clients N --seconds S [--path /v1/recognize]
 *             [--host 127.0.0.1]
 *
 * Output (stdout), one human line and one machine-readable line:
 *   clients 4: 62 requests, 0 errors in 5.41 s (4 connections): 11.5 req/s, p50 271.15 ms, ...
 *   RESULT clients=4 req=62 errors=0 secs=5.41 rps=11.5 p50_ms=271.15 p99_ms=526.52 conns=4
 * req counts every request that finished (replied or failed); conns the connections opened (one
 * per client when keep-alive held throughout); rps counts the successful ones
 * (status 200) over the wall time from the start until the last client stopped; p50 and p99
 * are over the latencies of the successful requests, exact (all of them kept and sorted,
 * linear interpolation between the two nearest ranks, so p50 is the median).  The first error
 * of each client is printed on stderr.  Exit status: 0 when every request succeeded, 1 when
 * some failed, 2 on a usage or set-up error.
 *
 * DESIGN NOTES (one client)
 *   1. The request (headers and body) is built once and shared read-only by every client; the
 *      body's boundary is checked not to occur in the photo.
 *   2. A request is an error when the connection fails (connect, send, a reply cut short or
 *      malformed, a 60 s receive timeout) or the status is not 200.  Its latency runs from just
 *      before it is sent (or before connecting, on a new connection) to the reply's last byte.
 *   3. A connection is reused until the server closes it: "Connection: close", a reply without
 *      a length (read to the end of the stream) or any failure closes ours, and the next
 *      request connects again.  A reused connection that the server had already closed fails
 *      before any byte of the reply; that request is sent once more on a new connection
 *      without being counted as an error (its latency includes the reconnect).
 *   4. Replies carry a Content-Length or are chunked; both are read to their end and dropped
 *      (the first 160 bytes of a failed reply's body are kept for the error message).
 *   5. A client starts no request after the deadline, so a run lasts S seconds plus at most one
 *      request's latency.
 */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RECV_TIMEOUT_S 60
#define CONN_BUF (64 * 1024)
#define SNIPPET 160
#define MAX_CLIENTS 1024

typedef struct opts {
    const char *host, *key, *file, *path;
    int port, clients;
    double seconds;
} opts;

/* What every client shares, read-only once the clients run. */
typedef struct shared {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    const char *req; /* the whole request, headers and body */
    size_t req_len;
    /* The start gate: clients wait for go, so that they all start together. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int go;
    double deadline; /* CLOCK_MONOTONIC seconds, set before go */
} shared;

/* One connection and its read buffer (bytes [beg, end) not consumed yet). */
typedef struct conn {
    int fd;
    size_t beg, end;
    char buf[CONN_BUF];
} conn;

/* One reply as far as the load test cares. */
typedef struct reply {
    int status;
    int close;     /* the server will close the connection after it */
    int got_bytes; /* some of it arrived (else a stale keep-alive connection) */
    char snippet[SNIPPET + 1];
} reply;

typedef struct client {
    shared *sh;
    pthread_t thread;
    double *lat_ms; /* latencies of the successful requests (owned) */
    size_t n_lat, cap_lat;
    size_t n_req, n_err, n_conn;
    char first_err[256];
    conn c;
} client;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- the request -------------------------------------------------------------------------- */

static const char *content_type_of(const char *file)
{
    const char *dot = strrchr(file, '.');
    if (dot && strcasecmp(dot, ".png") == 0)
        return "image/png";
    if (dot && strcasecmp(dot, ".webp") == 0)
        return "image/webp";
    return "image/jpeg";
}

/* The whole file in a new buffer (caller frees); NULL on error (printed). */
static char *read_file(const char *path, size_t *n_out)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (n > 0 && fseek(f, 0, SEEK_SET) == 0)
        data = malloc((size_t)n);
    if (data && fread(data, 1, (size_t)n, f) == (size_t)n) {
        fclose(f);
        *n_out = (size_t)n;
        return data;
    }
    fprintf(stderr, "http_load: cannot read %s%s\n", path, n == 0 ? " (empty)" : "");
    free(data);
    if (f)
        fclose(f);
    return NULL;
}

/* Builds the multipart request for photo into a new buffer (caller frees); NULL on error. */
static char *build_request(const opts *o, const char *photo, size_t n_photo, size_t *n_out)
{
    char boundary[64], head[1024], part[512];
    const char *base = strrchr(o->file, '/') ? strrchr(o->file, '/') + 1 : o->file;
    /* A boundary must not occur in the data it separates (notes 1). */
    for (unsigned k = 0;; k++) {
        snprintf(boundary, sizeof boundary, "----visage-http-load-%08x", 0x5eed1u + k * 7919u);
        if (!memmem(photo, n_photo, boundary, strlen(boundary)))
            break;
    }
    int np = snprintf(part, sizeof part,
                      "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%.200s\""
                      "\r\nContent-Type: %s\r\n\r\n",
                      boundary, base, content_type_of(o->file));
    char tail[96];
    int nt = snprintf(tail, sizeof tail, "\r\n--%s--\r\n", boundary);
    size_t body = (size_t)np + n_photo + (size_t)nt;
    int nh = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
                      "Content-Type: multipart/form-data; boundary=%s\r\n"
                      "Content-Length: %zu\r\nConnection: keep-alive\r\n\r\n",
                      o->path, o->host, o->port, o->key, boundary, body);
    if (np < 0 || (size_t)np >= sizeof part || nh < 0 || (size_t)nh >= sizeof head) {
        fprintf(stderr, "http_load: the request's headers are too long\n");
        return NULL;
    }
    char *req = malloc((size_t)nh + body);
    if (!req) {
        fprintf(stderr, "http_load: out of memory\n");
        return NULL;
    }
    memcpy(req, head, (size_t)nh);
    memcpy(req + nh, part, (size_t)np);
    memcpy(req + nh + np, photo, n_photo);
    memcpy(req + nh + np + n_photo, tail, (size_t)nt);
    *n_out = (size_t)nh + body;
    return req;
}

/* ---- one connection ----------------------------------------------------------------------- */

static void conn_close(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->beg = c->end = 0;
}

static int conn_open(conn *c, const shared *sh, char *why, size_t n_why)
{
    struct timeval tv = {.tv_sec = RECV_TIMEOUT_S};
    int one = 1;
    c->beg = c->end = 0;
    c->fd = socket(sh->addr.ss_family, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)&sh->addr, sh->addr_len) != 0) {
        snprintf(why, n_why, "connect: %s", strerror(errno));
        conn_close(c);
        return -1;
    }
    /* The request goes out in one or two writes and the reply is awaited: without NODELAY the
     * tail of a request could sit in Nagle's buffer waiting for an ACK. */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return 0;
}

static int send_all(conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads more into the buffer, compacting it first; bytes read, 0 at the end, -1 on error. */
static ssize_t conn_fill(conn *c)
{
    if (c->beg > 0) {
        memmove(c->buf, c->buf + c->beg, c->end - c->beg);
        c->end -= c->beg;
        c->beg = 0;
    }
    if (c->end == sizeof c->buf)
        return -1; /* a line longer than the buffer */
    for (;;) {
        ssize_t k = recv(c->fd, c->buf + c->end, sizeof c->buf - c->end, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k > 0)
            c->end += (size_t)k;
        return k;
    }
}

/* The next line (CRLF or LF stripped, NUL-terminated in place); NULL at the end or on error. */
static char *conn_line(conn *c, reply *rp)
{
    for (;;) {
        char *s = c->buf + c->beg;
        char *nl = memchr(s, '\n', c->end - c->beg);
        if (nl) {
            c->beg = (size_t)(nl + 1 - c->buf);
            if (nl > s && nl[-1] == '\r')
                nl--;
            *nl = '\0';
            return s;
        }
        if (conn_fill(c) <= 0)
            return NULL;
        rp->got_bytes = 1;
    }
}

/* Consumes n bytes of body, keeping the start of it in rp->snippet; -1 if the stream ends. */
static int conn_skip(conn *c, size_t n, reply *rp)
{
    while (n > 0) {
        if (c->beg == c->end && conn_fill(c) <= 0)
            return -1;
        size_t k = c->end - c->beg < n ? c->end - c->beg : n;
        size_t have = strlen(rp->snippet);
        if (have < SNIPPET) {
            size_t m = k < SNIPPET - have ? k : SNIPPET - have;
            memcpy(rp->snippet + have, c->buf + c->beg, m);
            rp->snippet[have + m] = '\0';
        }
        c->beg += k;
        n -= k;
    }
    return 0;
}

/* A chunked body (notes 4), trailers included. */
static int read_chunked(conn *c, reply *rp)
{
    for (;;) {
        char *line = conn_line(c, rp), *end;
        if (!line)
            return -1;
        unsigned long long n = strtoull(line, &end, 16);
        if (end == line)
            return -1;
        if (n == 0)
            break;
        if (conn_skip(c, (size_t)n, rp))
            return -1;
        line = conn_line(c, rp); /* the CRLF after the chunk's data */
        if (!line || *line)
            return -1;
    }
    for (;;) {
        char *line = conn_line(c, rp);
        if (!line)
            return -1;
        if (!*line)
            return 0;
    }
}

/* Parses one header line into what the reply needs; *length is -1 until one is seen. */
static void header(char *line, reply *rp, long long *length, int *chunked)
{
    char *colon = strchr(line, ':');
    if (!colon)
        return;
    *colon = '\0';
    char *v = colon + 1 + strspn(colon + 1, " \t");
    if (strcasecmp(line, "Content-Length") == 0)
        *length = strtoll(v, NULL, 10);
    else if (strcasecmp(line, "Transfer-Encoding") == 0 && strcasestr(v, "chunked"))
        *chunked = 1;
    else if (strcasecmp(line, "Connection") == 0 && strcasestr(v, "close"))
        rp->close = 1;
}

/* Reads one reply: status line, headers, body.  0 when it was read whole, else -1. */
static int read_reply(conn *c, reply *rp)
{
    long long length = -1;
    int chunked = 0, minor = 0;
    char *line = conn_line(c, rp);
    if (!line || sscanf(line, "HTTP/1.%d %d", &minor, &rp->status) != 2)
        return -1;
    if (minor == 0)
        rp->close = 1; /* HTTP/1.0 replies close unless told otherwise; be conservative */
    for (;;) {
        line = conn_line(c, rp);
        if (!line)
            return -1;
        if (!*line)
            break;
        header(line, rp, &length, &chunked);
    }
    if (chunked)
        return read_chunked(c, rp);
    if (length >= 0)
        return conn_skip(c, (size_t)length, rp);
    /* No length: the body ends with the stream. */
    rp->close = 1;
    while (conn_skip(c, c->end - c->beg, rp) == 0 && conn_fill(c) > 0)
        ;
    return 0;
}

/* ---- one client --------------------------------------------------------------------------- */

/* Sends the request and reads the reply on c, connecting first if needed.  0 with rp filled,
 * else -1 with why set; *fresh says whether the connection was new. */
static int exchange(client *cl, reply *rp, int *fresh, char *why, size_t n_why)
{
    conn *c = &cl->c;
    memset(rp, 0, sizeof *rp);
    *fresh = c->fd < 0;
    if (*fresh && conn_open(c, cl->sh, why, n_why))
        return -1;
    cl->n_conn += *fresh;
    if (send_all(c, cl->sh->req, cl->sh->req_len)) {
        snprintf(why, n_why, "send: %s", strerror(errno));
        conn_close(c);
        return -1;
    }
    errno = 0;
    if (read_reply(c, rp)) {
        snprintf(why, n_why, "%s",
                 errno == EAGAIN || errno == EWOULDBLOCK ? "no reply within the receive timeout"
                 : rp->status                            ? "reply cut short or malformed"
                                                         : "connection closed before a reply");
        conn_close(c);
        return -1;
    }
    if (rp->close)
        conn_close(c);
    return 0;
}

static int record(client *cl, double ms)
{
    if (cl->n_lat == cl->cap_lat) {
        size_t cap = cl->cap_lat ? 2 * cl->cap_lat : 1024;
        double *p = realloc(cl->lat_ms, cap * sizeof *p);
        if (!p)
            return -1;
        cl->lat_ms = p;
        cl->cap_lat = cap;
    }
    cl->lat_ms[cl->n_lat++] = ms;
    return 0;
}

static void fail(client *cl, const char *why)
{
    cl->n_err++;
    if (!cl->first_err[0])
        snprintf(cl->first_err, sizeof cl->first_err, "%s", why);
}

/* One request, retried once when a reused connection turns out closed (notes 3). */
static void one_request(client *cl)
{
    char why[224];
    reply rp;
    int fresh = 0;
    double t0 = now();
    int r = exchange(cl, &rp, &fresh, why, sizeof why);
    if (r && !fresh && !rp.got_bytes)
        r = exchange(cl, &rp, &fresh, why, sizeof why);
    double ms = (now() - t0) * 1e3;
    cl->n_req++;
    if (r) {
        fail(cl, why);
        usleep(10000); /* a server that refuses connections should not be hammered */
    } else if (rp.status != 200) {
        snprintf(why, sizeof why, "status %d: %s", rp.status, rp.snippet);
        fail(cl, why);
    } else if (record(cl, ms)) {
        fail(cl, "out of memory for the latencies");
    }
}

static void *client_main(void *arg)
{
    client *cl = arg;
    shared *sh = cl->sh;
    pthread_mutex_lock(&sh->lock);
    while (!sh->go)
        pthread_cond_wait(&sh->cond, &sh->lock);
    pthread_mutex_unlock(&sh->lock);
    while (now() < sh->deadline)
        one_request(cl);
    conn_close(&cl->c);
    return NULL;
}

/* ---- the run and the report --------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile of sorted v[0..n), linear between the two nearest ranks. */
static double percentile(const double *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    double pos = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)pos;
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (pos - (double)lo) * (v[hi] - v[lo]);
}

/* Merges, sorts and prints the clients' results; returns the number of errors, -1 on OOM. */
static long report(client *cls, int n, double secs)
{
    size_t n_lat = 0, n_req = 0, n_err = 0, n_conn = 0, k = 0;
    for (int i = 0; i < n; i++) {
        n_conn += cls[i].n_conn;
        n_lat += cls[i].n_lat;
        n_req += cls[i].n_req;
        n_err += cls[i].n_err;
    }
    double *all = malloc((n_lat ? n_lat : 1) * sizeof *all);
    if (!all) {
        fprintf(stderr, "http_load: out of memory\n");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        memcpy(all + k, cls[i].lat_ms, cls[i].n_lat * sizeof *all);
        k += cls[i].n_lat;
        if (cls[i].first_err[0])
            fprintf(stderr, "http_load: client %d: first error: %s\n", i, cls[i].first_err);
    }
    qsort(all, n_lat, sizeof *all, cmp_double);
    double rps = (double)n_lat / secs, p50 = percentile(all, n_lat, 50);
    double p99 = percentile(all, n_lat, 99);
    printf("clients %d: %zu requests, %zu errors in %.2f s (%zu connections): %.1f req/s, "
           "p50 %.2f ms, p99 %.2f ms\n",
           n, n_req, n_err, secs, n_conn, rps, p50, p99);
    printf("RESULT clients=%d req=%zu errors=%zu secs=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f "
           "conns=%zu\n",
           n, n_req, n_err, secs, rps, p50, p99, n_conn);
    fflush(stdout);
    free(all);
    return (long)n_err;
}

/* Opens the start gate with the deadline o->seconds from now (or already past when abort). */
static double open_gate(shared *sh, double seconds, int abort)
{
    double t0 = now();
    pthread_mutex_lock(&sh->lock);
    sh->deadline = abort ? 0 : t0 + seconds;
    sh->go = 1;
    pthread_cond_broadcast(&sh->cond);
    pthread_mutex_unlock(&sh->lock);
    return t0;
}

/* Runs the clients for o->seconds and reports; the exit status. */
static int run(const opts *o, shared *sh)
{
    client *cls = calloc((size_t)o->clients, sizeof *cls);
    int started = 0, status = 2;
    if (!cls) {
        fprintf(stderr, "http_load: out of memory\n");
        return 2;
    }
    pthread_mutex_init(&sh->lock, NULL);
    pthread_cond_init(&sh->cond, NULL);
    for (; started < o->clients; started++) {
        cls[started].sh = sh;
        cls[started].c.fd = -1;
        if (pthread_create(&cls[started].thread, NULL, client_main, &cls[started]))
            break;
    }
    int ok = started == o->clients;
    double t0 = open_gate(sh, o->seconds, !ok);
    for (int i = 0; i < started; i++)
        pthread_join(cls[i].thread, NULL);
    if (!ok) {
        fprintf(stderr, "http_load: could only start %d of %d client threads\n", started,
                o->clients);
    } else {
        long errors = report(cls, o->clients, now() - t0);
        status = errors < 0 ? 2 : errors > 0 ? 1 : 0;
    }
    for (int i = 0; i < o->clients; i++)
        free(cls[i].lat_ms);
    pthread_cond_destroy(&sh->cond);
    pthread_mutex_destroy(&sh->lock);
    free(cls);
    return status;
}

/* ---- options ------------------------------------------------------------------------------ */

static const char usage[] =
    "usage: http_load --port P --key KEY --file PHOTO --clients N --seconds S\n"
    "                 [--path /v1/recognize] [--host 127.0.0.1]\n"
    "N clients, each one keep-alive connection, POST PHOTO (multipart, field `file`) one request\n"
    "at a time for S seconds; prints requests, errors, req/s, p50 and p99 latency.\n";

static int number(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    double x = v ? strtod(v, &end) : 0;
    if (!v || *end || end == v || !(x >= lo && x <= hi)) {
        fprintf(stderr, "http_load: %s needs a number in %g..%g\n", opt, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

/* 0 when parsed, 1 after --help, -1 on an error (printed). */
static int parse(int argc, char **argv, opts *o)
{
    *o = (opts){.host = "127.0.0.1", .path = "/v1/recognize", .clients = 1, .seconds = 10};
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        const char **slot = strcmp(a, "--key") == 0    ? &o->key
                            : strcmp(a, "--file") == 0 ? &o->file
                            : strcmp(a, "--path") == 0 ? &o->path
                            : strcmp(a, "--host") == 0 ? &o->host
                                                       : NULL;
        if (slot && v) {
            *slot = v;
        } else if (strcmp(a, "--port") == 0) {
            if (number(a, v, 1, 65535, &x))
                return -1;
            o->port = (int)x;
        } else if (strcmp(a, "--clients") == 0) {
            if (number(a, v, 1, MAX_CLIENTS, &x))
                return -1;
            o->clients = (int)x;
        } else if (strcmp(a, "--seconds") == 0) {
            if (number(a, v, 0.001, 86400, &o->seconds))
                return -1;
        } else {
            fprintf(stderr, "http_load: %s %s\n%s", slot ? "no value for" : "unknown argument", a,
                    usage);
            return -1;
        }
    }
    if (!o->port || !o->key || !o->file) {
        fprintf(stderr, "http_load: --port, --key and --file are required\n%s", usage);
        return -1;
    }
    return 0;
}

static int resolve(const opts *o, shared *sh)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    char port[8];
    snprintf(port, sizeof port, "%d", o->port);
    int r = getaddrinfo(o->host, port, &hints, &ai);
    if (r != 0) {
        fprintf(stderr, "http_load: %s: %s\n", o->host, gai_strerror(r));
        return -1;
    }
    memcpy(&sh->addr, ai->ai_addr, ai->ai_addrlen);
    sh->addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

int main(int argc, char **argv)
{
    opts o;
    shared sh = {0};
    size_t n_photo = 0;
    char *photo = NULL, *req = NULL;
    int status = 2;
    int r = parse(argc, argv, &o);
    if (r)
        return r > 0 ? 0 : 2;
    if (resolve(&o, &sh) == 0)
        photo = read_file(o.file, &n_photo);
    if (photo)
        req = build_request(&o, photo, n_photo, &sh.req_len);
    if (req) {
        sh.req = req;
        status = run(&o, &sh);
    }
    free(req);
    free(photo);
    return status;
}

/*
 * status.h - the one status enum of the visage library.
 *
 * Every function that can fail returns a vs_status.  Codes and their messages come from one
 * table (VS_STATUS_MAP) so they cannot drift apart.  Append only: never renumber, because the
 * numbers appear in logs and in the HTTP error mapping.
 */
#ifndef VS_CORE_STATUS_H
#define VS_CORE_STATUS_H

#include <stddef.h>

#define VS_STATUS_MAP(X)                                                                           \
    X(OK, "ok")                                                                                    \
    X(NOMEM, "out of memory")                                                                      \
    X(INVAL, "invalid argument")                                                                   \
    X(FORMAT, "malformed input")                                                                   \
    X(LIMIT, "limit exceeded")                                                                     \
    X(NOFACE, "no face found")                                                                     \
    X(IO, "input/output error")                                                                    \
    X(UNSUPPORTED, "unsupported")                                                                  \
    X(NOTFOUND, "not found")                                                                       \
    X(INTERNAL, "internal error")

typedef enum {
#define VS_STATUS_ENUM(name, msg) VS_##name,
    VS_STATUS_MAP(VS_STATUS_ENUM)
#undef VS_STATUS_ENUM
        VS_STATUS_COUNT
} vs_status;

/* Static, never NULL: the message for a status ("unknown status" for out-of-range values). */
const char *vs_status_str(vs_status s);

/*
 * A detail message that travels with a failed status (the file, the field, the reason).
 * Functions that take a vs_err * fill it on failure when it is non-NULL.
 */
typedef struct vs_err {
    char msg[256];
} vs_err;

/* printf-style: writes the detail into err (if non-NULL) and returns s, so callers can write
 * `return vs_err_set(err, VS_FORMAT, "shard %s is truncated", path);`. */
vs_status vs_err_set(vs_err *err, vs_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

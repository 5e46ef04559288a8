/*
 * status.c - messages for vs_status and the vs_err detail helper.
 */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const status_msgs[] = {
#define VS_STATUS_MSG(name, msg) msg,
    VS_STATUS_MAP(VS_STATUS_MSG)
#undef VS_STATUS_MSG
};

const char *vs_status_str(vs_status s)
{
    if ((unsigned)s >= (unsigned)VS_STATUS_COUNT)
        return "unknown status";
    return status_msgs[s];
}

vs_status vs_err_set(vs_err *err, vs_status s, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return s;
}

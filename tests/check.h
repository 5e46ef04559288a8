/*
 * check.h - the assertion and data-root helpers the service-level tests share.
 *
 * CHECK(cond, fmt, ...) prints the failing line with a message and counts it in `failures`
 * (each test's main returns non-zero when it is not 0).  data_root() is where the photos are:
 * $VISAGE_TEST_DATA, else ../shared/data.
 */
#ifndef VS_TESTS_CHECK_H
#define VS_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("  FAIL %s:%d: ", __FILE__, __LINE__);                                          \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static inline const char *data_root(void)
{
    const char *d = getenv("VISAGE_TEST_DATA");
    return d ? d : "../shared/data";
}

#endif

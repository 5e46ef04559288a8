/*
 * check.h - the assertion, random-input and data-root helpers the tests share.
 *
 * CHECK(cond, fmt, ...) prints the failing line with a message and counts it in `failures`
 * (each test's main returns non-zero when it is not 0).  rand_uniform() makes seeded random
 * inputs.  data_root() is where the photos are: $VISAGE_TEST_DATA when set and not empty, else
 * ../shared/data.
 */
#ifndef VS_TESTS_CHECK_H
#define VS_TESTS_CHECK_H

#include <stdint.h>
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

/* A uniform float in [lo, hi) from the xorshift64 state *s (seeded non-zero by the caller). */
static inline float rand_uniform(uint64_t *s, float lo, float hi)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return lo + (hi - lo) * (float)((*s >> 40) / 16777216.0);
}

static inline const char *data_root(void)
{
    const char *d = getenv("VISAGE_TEST_DATA");
    return d && *d ? d : "../shared/data";
}

#endif

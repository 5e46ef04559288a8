/*
 * row_tasks.h - splitting a kernel's output rows into a fixed number of contiguous ranges, one
 * per task (private to src/nn/: kernels_block.c, kernels_conv.c).  A fixed count, known when the
 * kernel's plan is made, lets each task own a scratch row; the pool's threads then take the tasks.
 */
#ifndef VS_NN_ROW_TASKS_H
#define VS_NN_ROW_TASKS_H

#include <pthreadpool.h>
#include <stddef.h>
#include <stdint.h>

enum { VS_ROW_TASKS_MAX = 64 };

/* Tasks for `rows` rows on `threads` threads: one per thread, at most one per row. */
static inline int vs_row_tasks(int threads, int64_t rows)
{
    int t = threads < 1 ? 1 : threads > VS_ROW_TASKS_MAX ? VS_ROW_TASKS_MAX : threads;
    return t > rows ? (int)(rows > 0 ? rows : 1) : t;
}

/* Task `task` of `tasks` owns rows [*r0, *r1) of `rows`. */
static inline void vs_row_range(int64_t rows, int64_t task, int tasks, int64_t *r0, int64_t *r1)
{
    *r0 = rows * task / tasks;
    *r1 = rows * (task + 1) / tasks;
}

/* Runs fn(ctx, t) for t in [0, tasks): on the pool's threads when it has more than one, else
 * in order on the calling thread. */
static inline void vs_row_tasks_run(pthreadpool_t pool, void (*fn)(void *, size_t), void *ctx,
                                    int tasks)
{
    if (tasks > 1 && pool && pthreadpool_get_threads_count(pool) > 1) {
        pthreadpool_parallelize_1d(pool, fn, ctx, (size_t)tasks, 0);
        return;
    }
    for (int t = 0; t < tasks; t++)
        fn(ctx, (size_t)t);
}

#endif

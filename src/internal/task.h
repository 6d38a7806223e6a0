/*
 * The task seen by executors: what to run (a spec), and the lp_task handle a
 * running task uses to fail or reply. Each executor supplies the ops behind
 * lp_task: the thread pool records into memory, a process worker encodes a
 * frame for its parent.
 */
#ifndef LP_INTERNAL_TASK_H
#define LP_INTERNAL_TASK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "lambdapool/executor.h"

enum lp__task_kind { LP__TASK_POINTER = 1, LP__TASK_BYTES = 2 };

struct lp__task_spec {
    enum lp__task_kind kind;
    /* LP__TASK_POINTER */
    lp_task_fn fn;
    void *arg;
    lp_free_fn arg_free;
    lp_free_fn result_free;
    /* LP__TASK_BYTES: `in` is borrowed for the duration of submit */
    lp_bytes_fn bytes_fn;
    const void *in;
    size_t in_len;
};

struct lp__task_ops {
    void (*fail)(lp_task *task, int code, int sys_errno, const char *fmt,
                 va_list ap);
    lp_status (*reply)(lp_task *task, const void *data, size_t len);
};

#define LP__TASK_MAGIC 0x6c707461u /* "lpta" */

struct lp_task {
    uint32_t magic;
    const struct lp__task_ops *ops;
};

/*
 * The in-memory lp_task used by the thread pool and by anything else that
 * runs a task in this process: it records a failure and a reply, which
 * lp__local_task_finish() then moves onto the future.
 */
struct lp__local_task {
    struct lp_task base;
    bool failed;
    int code;
    int sys_errno;
    char *message; /* owned; NULL if allocation failed */
    bool is_bytes;
    lp_bytes *reply; /* owned until finish */
};

void lp__local_task_init(struct lp__local_task *t, bool is_bytes);

/*
 * Runs the spec's function and finishes `f` (which must be RUNNING) with the
 * outcome: result or failure. Frees arg via arg_free for pointer tasks.
 * `before_publish(ctx)` (may be NULL) runs after the task returned and before
 * the outcome is published: the thread pool marks its worker idle there, so
 * a caller woken by the result and submitting again finds that worker.
 */
void lp__run_spec(const struct lp__task_spec *spec, lp_future *f,
                  void (*before_publish)(void *ctx), void *ctx);

/* Copies a bytes input for a task that runs later; NUL-terminated. */
lp_bytes *lp__bytes_new(const void *data, size_t len);
void lp__bytes_free(void *bytes);

#endif

/*
 * What an executor implements. lp_executor is the first member of each
 * executor's private struct; the public calls in executor.c check the magic
 * number and dispatch through `vt`.
 *
 * Contract for implementations:
 *  - submit receives a validated spec and returns a future holding one
 *    reference for the caller. It must call
 *    lp_future_set_running_or_notify_cancel() before running a task, skip the
 *    task when that fails, and always finish the future (result, failure,
 *    LP_EBROKEN failure) or see it cancelled: no future is ever lost.
 *  - arg_free (pointer tasks) runs exactly once when the task no longer needs
 *    its argument, whatever happened to the future -- unless submit failed.
 *  - shutdown follows lp_executor_shutdown's contract; destroy frees the
 *    executor after executor.c already called shutdown(wait=true) (or, in a
 *    forked child, without it: see `forked`).
 */
#ifndef LP_INTERNAL_EXECUTOR_IMPL_H
#define LP_INTERNAL_EXECUTOR_IMPL_H

#include <stdint.h>

#include "lambdapool/executor.h"
#include "task.h"

#define LP__EXECUTOR_MAGIC 0x6c706578u /* "lpex" */

struct lp__executor_vtable {
    const char *kind; /* "thread pool", "process pool", ... */
    lp_status (*submit)(lp_executor *ex, const struct lp__task_spec *spec,
                        lp_future **out);
    lp_status (*shutdown)(lp_executor *ex, bool wait, bool cancel_futures);
    /* Frees everything; `forked` is true in a child forked after creation,
     * where the parent's threads and locks must not be touched. */
    void (*destroy)(lp_executor *ex, bool forked);
    lp_status (*stats)(lp_executor *ex, lp_executor_stats *out);
    /* True when called from one of this executor's own workers. */
    bool (*on_worker)(lp_executor *ex);
};

struct lp_executor {
    uint32_t magic;
    unsigned fork_generation; /* lp__fork_generation() at creation */
    const struct lp__executor_vtable *vt;
};

/* Sets up the common header; call first in every constructor. */
void lp__executor_init(lp_executor *ex, const struct lp__executor_vtable *vt);

/* True when `ex` is a live executor created in this process image. */
bool lp__executor_usable(const lp_executor *ex);

#endif

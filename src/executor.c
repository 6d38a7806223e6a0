/*
 * The public executor calls: argument checks, the magic-number guard and the
 * fork check, then dispatch through the executor's vtable. Executors only
 * ever see validated specs.
 */
#include <stdatomic.h>

#include "executor_impl.h"
#include "sync.h"

void lp__executor_init(lp_executor *ex, const struct lp__executor_vtable *vt)
{
    ex->vt = vt;
    ex->fork_generation = lp__fork_generation();
    ex->magic = LP__EXECUTOR_MAGIC;
}

static bool executor_valid(const lp_executor *ex)
{
    return ex != NULL && ex->magic == LP__EXECUTOR_MAGIC;
}

static bool forked_since_creation(const lp_executor *ex)
{
    return ex->fork_generation != lp__fork_generation();
}

bool lp__executor_usable(const lp_executor *ex)
{
    return executor_valid(ex) && !forked_since_creation(ex);
}

/* Common checks for every submit flavour. */
static lp_status check_submit(lp_executor *ex, const void *fn, lp_future **out)
{
    if (out != NULL)
        *out = NULL;
    if (!executor_valid(ex) || fn == NULL || out == NULL)
        return LP_EINVAL;
    if (forked_since_creation(ex))
        return LP_ESHUTDOWN;
    return LP_OK;
}

lp_status lp_executor_submit_with(lp_executor *ex, lp_task_fn fn, void *arg,
                                  const lp_submit_options *opts,
                                  lp_future **out)
{
    struct lp__task_spec spec = { .kind = LP__TASK_POINTER,
                                  .fn = fn,
                                  .arg = arg };
    lp_status st = check_submit(ex, (const void *)fn, out);

    if (st != LP_OK)
        return st;
    if (opts != NULL) {
        spec.arg_free = opts->arg_free;
        spec.result_free = opts->result_free;
    }
    return ex->vt->submit(ex, &spec, out);
}

lp_status lp_executor_submit(lp_executor *ex, lp_task_fn fn, void *arg,
                             lp_future **out)
{
    return lp_executor_submit_with(ex, fn, arg, NULL, out);
}

lp_status lp_executor_submit_bytes(lp_executor *ex, lp_bytes_fn fn,
                                   const void *in, size_t len, lp_future **out)
{
    struct lp__task_spec spec = {
        .kind = LP__TASK_BYTES, .bytes_fn = fn, .in = in, .in_len = len
    };
    lp_status st = check_submit(ex, (const void *)fn, out);

    if (st != LP_OK)
        return st;
    if (in == NULL && len > 0)
        return LP_EINVAL;
    return ex->vt->submit(ex, &spec, out);
}

lp_status lp_executor_shutdown(lp_executor *ex, bool wait, bool cancel_futures)
{
    if (!executor_valid(ex))
        return LP_EINVAL;
    if (forked_since_creation(ex))
        return LP_ESHUTDOWN;
    if (wait && ex->vt->on_worker != NULL && ex->vt->on_worker(ex))
        return LP_EINVAL;
    return ex->vt->shutdown(ex, wait, cancel_futures);
}

void lp_executor_destroy(lp_executor *ex)
{
    bool forked;

    if (!executor_valid(ex))
        return;
    forked = forked_since_creation(ex);
    if (!forked && ex->vt->on_worker != NULL && ex->vt->on_worker(ex))
        return;
    if (!forked)
        ex->vt->shutdown(ex, true, false);
    ex->magic = 0;
    ex->vt->destroy(ex, forked);
}

void lp_executor_destroy_scoped(lp_executor **ex)
{
    if (ex != NULL) {
        lp_executor_destroy(*ex);
        *ex = NULL;
    }
}

lp_status lp_executor_stats_get(lp_executor *ex, lp_executor_stats *out)
{
    if (!executor_valid(ex) || out == NULL)
        return LP_EINVAL;
    return ex->vt->stats(ex, out);
}

lp_status lp_thread_pool_run(const lp_thread_pool_options *opts,
                             lp_status (*body)(lp_executor *ex, void *arg),
                             void *arg)
{
    lp_executor *ex;
    lp_status st;

    if (body == NULL)
        return LP_EINVAL;
    st = lp_thread_pool_create(opts, &ex);
    if (st != LP_OK)
        return st;
    st = body(ex, arg);
    lp_executor_destroy(ex);
    return st;
}

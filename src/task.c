/*
 * Running a task in this process, and the lp_task calls a task makes.
 *
 * lp_task is a small handle with an ops table, so the same task function
 * can run on a pool thread (ops below: record in memory, then move the
 * outcome onto the future) or in a process-pool worker (ops that encode a
 * frame for the parent). A task's failure is data, never an abort.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "future_impl.h"
#include "slab.h"
#include "task.h"

#define MESSAGE_MAX 1024

void lp_task_fail(lp_task *task, int code, int sys_errno, const char *fmt, ...)
{
    va_list ap;

    if (task == NULL || task->magic != LP__TASK_MAGIC)
        return;
    va_start(ap, fmt);
    task->ops->fail(task, code == 0 ? -1 : code, sys_errno, fmt, ap);
    va_end(ap);
}

lp_status lp_task_reply(lp_task *task, const void *data, size_t len)
{
    if (task == NULL || task->magic != LP__TASK_MAGIC ||
        (data == NULL && len > 0))
        return LP_EINVAL;
    return task->ops->reply(task, data, len);
}

lp_bytes *lp__bytes_new(const void *data, size_t len)
{
    lp_bytes *b;

    if (len > SIZE_MAX - sizeof(*b) - 1)
        return NULL;
    b = lp__slab_alloc_raw(sizeof(*b) + len + 1);
    if (b == NULL)
        return NULL;
    b->data = (char *)(b + 1);
    b->len = len;
    if (len > 0)
        memcpy(b->data, data, len);
    ((char *)b->data)[len] = '\0';
    return b;
}

void lp__bytes_free(void *bytes)
{
    lp__slab_free(bytes);
}

/* ---- the in-memory lp_task ------------------------------------------- */

static void local_fail(lp_task *task, int code, int sys_errno, const char *fmt,
                       va_list ap)
{
    struct lp__local_task *t = (struct lp__local_task *)task;
    char buf[MESSAGE_MAX];

    if (t->failed)
        return;
    t->failed = true;
    t->code = code;
    t->sys_errno = sys_errno;
    vsnprintf(buf, sizeof(buf), fmt != NULL ? fmt : "task failed", ap);
    t->message = lp__strdup(buf);
}

static lp_status local_reply(lp_task *task, const void *data, size_t len)
{
    struct lp__local_task *t = (struct lp__local_task *)task;
    lp_bytes *copy;

    if (!t->is_bytes)
        return LP_EINVAL;
    copy = lp__bytes_new(data, len);
    if (copy == NULL)
        return LP_ENOMEM;
    lp__bytes_free(t->reply);
    t->reply = copy;
    return LP_OK;
}

static const struct lp__task_ops local_ops = { local_fail, local_reply };

static void local_fail_printf(lp_task *task, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    local_fail(task, code, 0, fmt, ap);
    va_end(ap);
}

void lp__local_task_init(struct lp__local_task *t, bool is_bytes)
{
    memset(t, 0, sizeof(*t));
    t->base.magic = LP__TASK_MAGIC;
    t->base.ops = &local_ops;
    t->is_bytes = is_bytes;
}

static void fail_future(lp_future *f, const struct lp__local_task *t, ...)
{
    va_list ap;

    va_start(ap, t);
    lp__future_fail_v(f, LP_ETASK, t->code, t->sys_errno, "%s", ap);
    va_end(ap);
}

/* Moves the recorded outcome onto `f`; frees what the future does not take. */
static void finish_future(lp_future *f, struct lp__local_task *t, void *result,
                          lp_free_fn result_free)
{
    if (t->failed) {
        fail_future(f, t,
                    t->message != NULL ? t->message
                                       : "task failed (message lost: "
                                         "out of memory)");
        if (result != NULL && result_free != NULL)
            result_free(result);
    } else if (lp_future_set_result(f, result, result_free) != LP_OK &&
               result != NULL && result_free != NULL) {
        result_free(result);
    }
    lp__free(t->message);
    t->message = NULL;
}

static void run_bytes(const struct lp__task_spec *spec, lp_future *f,
                      void (*before_publish)(void *ctx), void *ctx)
{
    struct lp__local_task t;
    lp_bytes *reply;

    lp__local_task_init(&t, true);
    spec->bytes_fn(&t.base, spec->in, spec->in_len);
    reply = t.reply;
    if (reply == NULL && !t.failed) {
        reply = lp__bytes_new("", 0);
        if (reply == NULL)
            local_fail_printf(&t.base, LP_ENOMEM, "out of memory");
    }
    if (before_publish != NULL)
        before_publish(ctx);
    finish_future(f, &t, reply, lp__bytes_free);
}

void lp__run_spec(const struct lp__task_spec *spec, lp_future *f,
                  void (*before_publish)(void *ctx), void *ctx)
{
    struct lp__local_task t;
    void *result;

    if (spec->kind == LP__TASK_BYTES) {
        run_bytes(spec, f, before_publish, ctx);
        return;
    }
    lp__local_task_init(&t, false);
    result = spec->fn(spec->arg, &t.base);
    if (spec->arg_free != NULL)
        spec->arg_free(spec->arg);
    if (before_publish != NULL)
        before_publish(ctx);
    finish_future(f, &t, result, spec->result_free);
}

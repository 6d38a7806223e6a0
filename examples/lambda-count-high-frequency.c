/*
 * Seed 001's countHighFrequencyItem as a Lambda function taking the items
 * as JSON.
 *
 * Event: {"items": [{"name": "a", "frequency": 12}, ...]} or the bare array;
 *        an item may also be a bare number (its frequency).
 * Reply: {"count": C, "items": N, "partial": false}
 *
 * As in the Python original, one task per item checks `frequency > 10` on a
 * pool of 4 workers and the results are collected with as_completed and
 * placed by index. The pool is created at init and reused while the
 * function stays warm; as_completed is bounded by the invocation's
 * deadline, and items not checked by then are cancelled and reported with
 * "partial": true rather than losing the whole invocation.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "lambdapool/lambdapool.h"

#define MAX_ITEMS 100000

static lp_executor *pool;

struct task_arg {
    json_int_t frequency;
    size_t index;
};

/* Python's `task(item, index)`: returns (tooFrequent, index) packed. */
static void *task(void *arg, lp_task *t)
{
    const struct task_arg *a = arg;

    (void)t;
    return (void *)(uintptr_t)((a->index << 1) | (a->frequency > 10));
}

/* Reads the items' frequencies; false if the event is not as documented. */
static bool read_items(json_t *ev, struct task_arg **out, size_t *n)
{
    json_t *items = json_is_object(ev) ? json_object_get(ev, "items") : ev;
    json_t *item;
    size_t i;

    if (!json_is_array(items) || json_array_size(items) > MAX_ITEMS)
        return false;
    *n = json_array_size(items);
    *out = calloc(*n ? *n : 1, sizeof(**out));
    if (*out == NULL)
        return false;
    json_array_foreach(items, i, item)
    {
        json_t *f =
            json_is_object(item) ? json_object_get(item, "frequency") : item;
        if (!json_is_integer(f)) {
            free(*out);
            return false;
        }
        (*out)[i].frequency = json_integer_value(f);
        (*out)[i].index = i;
    }
    return true;
}

/* Submits one task per item and counts as they complete. */
static lp_status count_high(const lp_lambda_context *ctx, struct task_arg *args,
                            size_t n, size_t *count, bool *partial)
{
    lp_future **fs = calloc(n ? n : 1, sizeof(*fs));
    lp_as_completed *it = NULL;
    lp_future *f;
    size_t submitted = 0;
    lp_status st = fs ? LP_OK : LP_ENOMEM;

    *count = 0;
    for (; st == LP_OK && submitted < n; submitted++)
        st = lp_executor_submit(pool, task, &args[submitted], &fs[submitted]);
    if (st == LP_OK)
        st = lp_as_completed_create_until(fs, n, ctx->deadline, &it);
    while (st == LP_OK && (st = lp_as_completed_next(it, &f)) == LP_OK) {
        void *r;
        if (lp_future_result(f, 0, &r) == LP_OK)
            *count += (uintptr_t)r & 1;
    }
    *partial = st == LP_ETIMEDOUT;
    if (st == LP_EOF || st == LP_ETIMEDOUT)
        st = LP_OK;
    lp_as_completed_destroy(it);
    /* Nothing may run after the reply: cancel what did not start, wait for
     * what did (the tasks are tiny). */
    lp_lambda_cancel_pending(fs, submitted);
    lp_wait(fs, submitted, LP_ALL_COMPLETED, LP_WAIT_FOREVER, NULL, NULL);
    for (size_t i = 0; i < submitted; i++)
        lp_future_release(fs[i]);
    free(fs);
    return st;
}

static void handler(lp_lambda_invocation *inv, const lp_lambda_context *ctx,
                    const char *event, size_t len, void *arg)
{
    struct task_arg *args = NULL;
    json_t *ev = NULL, *out;
    size_t n = 0, count;
    bool partial;
    lp_status st;

    (void)event, (void)len, (void)arg;
    if (lp_lambda_event_json(inv, &ev) != LP_OK || !read_items(ev, &args, &n)) {
        lp_lambda_fail(inv, "Handler.BadEvent",
                       "expected {\"items\": [{\"frequency\": int}, ...]}");
        json_decref(ev);
        return;
    }
    st = count_high(ctx, args, n, &count, &partial);
    if (st != LP_OK) {
        lp_lambda_fail(inv, "Handler.Error", "%s", lp_status_str(st));
    } else {
        out = json_pack("{s:I, s:I, s:b}", "count", (json_int_t)count, "items",
                        (json_int_t)n, "partial", partial);
        lp_lambda_reply_json(inv, out);
        json_decref(out);
    }
    free(args);
    json_decref(ev);
}

static void init(lp_lambda_init *in, void *arg)
{
    lp_thread_pool_options opts = LP_THREAD_POOL_OPTIONS_INIT;
    lp_status st;

    (void)arg;
    opts.max_workers = 4; /* ThreadPoolExecutor(max_workers=4) */
    st = lp_thread_pool_create(&opts, &pool);
    if (st != LP_OK)
        lp_lambda_init_fail(in, "Runtime.InitError", "thread pool: %s",
                            lp_status_str(st));
}

int main(void)
{
    lp_lambda_options opts = LP_LAMBDA_OPTIONS_INIT;
    lp_status st;

    opts.init = init;
    st = lp_lambda_run_with(handler, NULL, &opts);
    lp_executor_destroy(pool);
    return st == LP_OK ? 0 : 1;
}

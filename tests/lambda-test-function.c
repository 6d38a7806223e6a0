/*
 * A Lambda function for the emulator tests (lambda-emulator.test.js).
 *
 * Init creates a 2-worker thread pool, or fails with Runtime.TestInitError
 * when LP_TEST_INIT_FAIL is set. Events:
 *   {"op": "echo", ...}     replies the event unchanged (any size)
 *   {"op": "fail"}          fails with Test.Failure
 *   {"op": "info", "n": k}  sums 1..k on the pool and replies
 *                           {"pid", "invocation", "sum", "pool_completed",
 *                            "request_id", "deadline_ms", "memory"}
 *   {"op": "sleep", "ms": t} sleeps t ms, then as "info"
 * "invocation" counts this process's invocations and "pool_completed" the
 * pool's finished tasks, so a test can see that a warm process and its pool
 * were reused across freezes.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lambdapool/lambdapool.h"

static lp_executor *pool;
static long invocations;

static void *add(void *arg, lp_task *t)
{
    (void)t;
    return arg;
}

static void info(lp_lambda_invocation *inv, const lp_lambda_context *ctx,
                 json_int_t n)
{
    lp_future *fs[64];
    lp_executor_stats stats;
    json_int_t sum = 0;
    json_t *out;

    if (n < 0 || n > 64)
        n = 0;
    for (json_int_t i = 0; i < n; i++) {
        if (lp_executor_submit(pool, add, (void *)(intptr_t)(i + 1), &fs[i]) !=
            LP_OK) {
            lp_lambda_fail(inv, "Test.Submit", "submit failed");
            n = i;
            break;
        }
    }
    for (json_int_t i = 0; i < n; i++) {
        void *r;
        if (lp_future_result(fs[i], LP_WAIT_FOREVER, &r) == LP_OK)
            sum += (intptr_t)r;
        lp_future_release(fs[i]);
    }
    lp_executor_stats_get(pool, &stats);
    out = json_pack("{s:I, s:I, s:I, s:I, s:s, s:I, s:i}", "pid",
                    (json_int_t)getpid(), "invocation", (json_int_t)invocations,
                    "sum", sum, "pool_completed", (json_int_t)stats.completed,
                    "request_id", ctx->request_id, "deadline_ms",
                    (json_int_t)ctx->deadline_epoch_ms, "memory",
                    ctx->memory_size_mb);
    lp_lambda_reply_json(inv, out);
    json_decref(out);
}

static void handler(lp_lambda_invocation *inv, const lp_lambda_context *ctx,
                    const char *event, size_t len, void *arg)
{
    json_t *ev;
    const char *op = "";
    json_int_t n = 0, ms = 0;

    (void)arg;
    invocations++;
    if (lp_lambda_event_json(inv, &ev) != LP_OK) {
        lp_lambda_fail(inv, "Test.BadEvent", "not JSON");
        return;
    }
    json_unpack(ev, "{s?s, s?I, s?I}", "op", &op, "n", &n, "ms", &ms);
    if (strcmp(op, "echo") == 0) {
        lp_lambda_reply(inv, event, len);
    } else if (strcmp(op, "fail") == 0) {
        lp_lambda_fail(inv, "Test.Failure", "asked to fail in %s",
                       ctx->request_id);
    } else if (strcmp(op, "info") == 0 || strcmp(op, "sleep") == 0) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        info(inv, ctx, n);
    } else {
        lp_lambda_fail(inv, "Test.BadEvent", "unknown op \"%s\"", op);
    }
    json_decref(ev);
}

static void init(lp_lambda_init *in, void *arg)
{
    lp_thread_pool_options opts = LP_THREAD_POOL_OPTIONS_INIT;

    (void)arg;
    if (getenv("LP_TEST_INIT_FAIL") != NULL) {
        lp_lambda_init_fail(in, "Runtime.TestInitError", "init failed: %s",
                            getenv("LP_TEST_INIT_FAIL"));
        return;
    }
    opts.max_workers = 2;
    if (lp_thread_pool_create(&opts, &pool) != LP_OK)
        lp_lambda_init_fail(in, "Runtime.InitError", "no thread pool");
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

/*
 * Seed 000's handler ("Threading in AWS Lambda with Python") as a deployable
 * Lambda function: 3 I/O requests made one after another, on 3 threads, in
 * 3 processes, or all at once on one event-loop thread, as the event
 * chooses.
 *
 * Event (JSON, every field optional):
 *   {"mode": "sequential" | "threads" | "processes" | "event-loop",
 *                                                     default "threads"
 *    "url": "http://...",   fetched by each request; if absent,
 *    "delay_ms": 1000}      each request sleeps this long instead
 *                           (event-loop needs a url: sleeps have nothing
 *                           for an event loop to overlap)
 * Reply: {"mode": ..., "requests": 3, "completed": n, "elapsed_ms": t,
 *         "partial": bool}
 * A request is completed when its GET answered a status below 400 (or its
 * sleep ended).
 *
 * The thread pool and the HTTP client are created once, in the init
 * function, and reused by every invocation while the environment stays
 * warm. Every GET goes through the client: blocking lp_http_perform calls in
 * the sequential, threaded and process modes (the threads share the
 * client's DNS and TLS session caches), futures from lp_http_submit in the
 * event-loop mode, so each one gets the library's CA bundle fallback (Amazon
 * Linux's path on Lambda) and ends at the invocation's deadline. The
 * threaded and event-loop modes wait with lp_lambda_gather, so when the
 * deadline (minus the margin) comes first they reply with what completed
 * ("partial": true) instead of being killed; the requests still in flight
 * are cancelled, which aborts their transfers. The process mode forks one
 * child per request and reaps every child before replying: Lambda freezes
 * the process after the reply, and a child left running would finish in a
 * later invocation.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lambdapool/lambdapool.h"

#define N_REQUESTS 3

struct request {
    const char *url; /* NULL: sleep */
    long delay_ms;
    lp_deadline deadline; /* the invocation's, minus the margin */
};

static lp_executor *pool;
static lp_http_client *http;

static bool response_ok(const lp_http_response *r)
{
    return r->status < 400;
}

/* One I/O request: GET url, or sleep. Returns 0 on success. */
static int do_request(const struct request *rq)
{
    struct timespec ts = { rq->delay_ms / 1000,
                           (rq->delay_ms % 1000) * 1000000L };
    lp_http_request req = LP_HTTP_REQUEST_INIT;
    lp_http_response *r;
    bool ok;

    if (rq->url == NULL) {
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        return 0;
    }
    req.url = rq->url;
    req.deadline = rq->deadline;
    if (lp_http_perform(http, &req, &r) != LP_OK)
        return -1;
    ok = response_ok(r);
    lp_http_response_free(r);
    return ok ? 0 : -1;
}

static void *request_task(void *arg, lp_task *task)
{
    if (do_request(arg) != 0)
        lp_task_fail(task, 1, 0, "request failed");
    return NULL;
}

static int run_sequential(const struct request *rq)
{
    int ok = 0;

    for (int i = 0; i < N_REQUESTS; i++)
        ok += do_request(rq) == 0;
    return ok;
}

static int run_threads(const struct request *rq, const lp_lambda_context *ctx,
                       bool *partial)
{
    lp_future *fs[N_REQUESTS] = { NULL };
    size_t n = 0;
    int ok = 0;

    for (; n < N_REQUESTS; n++) {
        if (lp_executor_submit(pool, request_task, (void *)rq, &fs[n]) != LP_OK)
            break;
    }
    *partial = lp_lambda_gather(ctx, fs, n, NULL, NULL) == LP_ETIMEDOUT;
    for (size_t i = 0; i < n; i++) {
        void *r;
        ok += lp_future_result(fs[i], 0, &r) == LP_OK;
        lp_future_release(fs[i]);
    }
    return ok;
}

static int run_processes(const struct request *rq)
{
    pid_t pids[N_REQUESTS];
    int started = 0, ok = 0;

    for (; started < N_REQUESTS; started++) {
        pids[started] = fork();
        if (pids[started] < 0)
            break;
        if (pids[started] == 0)
            _exit(do_request(rq) == 0 ? 0 : 1);
    }
    for (int i = 0; i < started; i++) {
        int status;
        while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
        }
        ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    return ok;
}

/*
 * The fourth way: the client's event-loop thread runs the 3 GETs at once,
 * one future each. Past the deadline lp_lambda_gather cancels the futures
 * not done (an HTTP future stays pending until its response is complete),
 * which aborts their transfers.
 */
static int run_event_loop(const struct request *rq,
                          const lp_lambda_context *ctx, bool *partial)
{
    lp_http_request req = LP_HTTP_REQUEST_INIT;
    lp_future *fs[N_REQUESTS] = { NULL };
    size_t n = 0;
    int ok = 0;

    req.url = rq->url;
    req.deadline = rq->deadline;
    for (; n < N_REQUESTS; n++) {
        if (lp_http_submit(http, &req, &fs[n]) != LP_OK)
            break;
    }
    *partial = lp_lambda_gather(ctx, fs, n, NULL, NULL) == LP_ETIMEDOUT;
    for (size_t i = 0; i < n; i++) {
        void *r;

        if (lp_future_result(fs[i], 0, &r) == LP_OK && response_ok(r))
            ok++;
        lp_future_release(fs[i]);
    }
    return ok;
}

/* Runs `mode`; false if there is no such mode. */
static bool run_mode(const char *mode, const struct request *rq,
                     const lp_lambda_context *ctx, int *ok, bool *partial)
{
    if (strcmp(mode, "sequential") == 0)
        *ok = run_sequential(rq);
    else if (strcmp(mode, "threads") == 0)
        *ok = run_threads(rq, ctx, partial);
    else if (strcmp(mode, "processes") == 0)
        *ok = run_processes(rq);
    else if (strcmp(mode, "event-loop") == 0)
        *ok = run_event_loop(rq, ctx, partial);
    else
        return false;
    return true;
}

/* The event's fields into *rq and *mode; false after failing `inv`. */
static bool parse_event(lp_lambda_invocation *inv, json_t *ev,
                        const char **mode, struct request *rq)
{
    json_int_t delay = 1000;
    json_error_t err;

    if (!json_is_object(ev) && !json_is_null(ev)) {
        lp_lambda_fail(inv, "Handler.BadEvent",
                       "the event must be a JSON object (or null)");
        return false;
    }
    if (json_is_object(ev) &&
        json_unpack_ex(ev, &err, 0, "{s?s, s?s, s?I}", "mode", mode, "url",
                       &rq->url, "delay_ms", &delay) != 0) {
        /* e.g. "mode": 5 or "delay_ms": "abc" */
        lp_lambda_fail(inv, "Handler.BadEvent", "%s", err.text);
        return false;
    }
    if (delay < 0 || delay > 600000) {
        lp_lambda_fail(inv, "Handler.BadEvent", "delay_ms out of range");
        return false;
    }
    rq->delay_ms = (long)delay;
    if (strcmp(*mode, "event-loop") == 0 && rq->url == NULL) {
        lp_lambda_fail(inv, "Handler.BadEvent",
                       "mode event-loop needs a url to fetch");
        return false;
    }
    return true;
}

static void handler(lp_lambda_invocation *inv, const lp_lambda_context *ctx,
                    const char *event, size_t len, void *arg)
{
    json_t *ev = NULL, *out;
    const char *mode = "threads";
    struct request rq = { NULL, 1000, ctx->deadline };
    bool partial = false;
    int64_t t0;
    int ok = 0;

    (void)event, (void)len, (void)arg;
    if (lp_lambda_event_json(inv, &ev) != LP_OK) {
        lp_lambda_fail(inv, "Runtime.InvalidEvent", "the event is not JSON");
        return;
    }
    if (!parse_event(inv, ev, &mode, &rq)) {
        json_decref(ev);
        return;
    }
    t0 = lp_deadline_now();
    if (!run_mode(mode, &rq, ctx, &ok, &partial)) {
        lp_lambda_fail(inv, "Handler.BadEvent",
                       "mode must be sequential, threads, processes or "
                       "event-loop");
        json_decref(ev);
        return;
    }
    out = json_pack("{s:s, s:i, s:i, s:f, s:b}", "mode", mode, "requests",
                    N_REQUESTS, "completed", ok, "elapsed_ms",
                    (double)(lp_deadline_now() - t0) / 1e6, "partial", partial);
    lp_lambda_reply_json(inv, out);
    json_decref(out);
    json_decref(ev);
}

static void init(lp_lambda_init *in, void *arg)
{
    lp_thread_pool_options opts = LP_THREAD_POOL_OPTIONS_INIT;
    lp_status st;

    (void)arg;
    opts.max_workers = N_REQUESTS;
    st = lp_thread_pool_create(&opts, &pool);
    if (st != LP_OK) {
        lp_lambda_init_fail(in, "Runtime.InitError", "thread pool: %s",
                            lp_status_str(st));
        return;
    }
    st = lp_http_client_create(NULL, &http);
    if (st != LP_OK)
        lp_lambda_init_fail(in, "Runtime.InitError", "HTTP client: %s",
                            lp_status_str(st));
}

int main(void)
{
    lp_lambda_options opts = LP_LAMBDA_OPTIONS_INIT;
    lp_status st;

    opts.init = init;
    st = lp_lambda_run_with(handler, NULL, &opts);
    lp_http_client_destroy(http);
    lp_executor_destroy(pool);
    return st == LP_OK ? 0 : 1;
}

/*
 * Seed 000's handler ("Threading in AWS Lambda with Python") as a deployable
 * Lambda function: 3 I/O requests made one after another, on 3 threads, or
 * in 3 processes, as the event chooses.
 *
 * Event (JSON, every field optional):
 *   {"mode": "sequential" | "threads" | "processes",   default "threads"
 *    "url": "http://...",   fetched by each request (libcurl); if absent,
 *    "delay_ms": 1000}      each request sleeps this long instead
 * Reply: {"mode": ..., "requests": 3, "completed": n, "elapsed_ms": t,
 *         "partial": bool}
 *
 * The thread pool is created once, in the init function, and reused by
 * every invocation while the environment stays warm. The threaded mode waits
 * with lp_lambda_gather, so when the invocation's deadline (minus the
 * margin) comes first it replies with what completed ("partial": true)
 * instead of being killed. The process mode forks one child per request and
 * reaps every child before replying: Lambda freezes the process after the
 * reply, and a child left running would finish in a later invocation.
 */
#include <curl/curl.h>
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
};

static lp_executor *pool;

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

/* One I/O request: GET url, or sleep. Returns 0 on success. */
static int do_request(const struct request *rq)
{
    struct timespec ts = { rq->delay_ms / 1000,
                           (rq->delay_ms % 1000) * 1000000L };
    CURL *curl;
    CURLcode rc;
    long code = 0;

    if (rq->url == NULL) {
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        return 0;
    }
    curl = curl_easy_init();
    if (curl == NULL)
        return -1;
    curl_easy_setopt(curl, CURLOPT_URL, rq->url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(curl);
    return rc == CURLE_OK && code < 400 ? 0 : -1;
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

static void handler(lp_lambda_invocation *inv, const lp_lambda_context *ctx,
                    const char *event, size_t len, void *arg)
{
    json_t *ev = NULL, *out;
    const char *mode = "threads";
    struct request rq = { NULL, 1000 };
    json_int_t delay = 1000;
    bool partial = false;
    int64_t t0;
    int ok;

    (void)event, (void)len, (void)arg;
    if (lp_lambda_event_json(inv, &ev) != LP_OK) {
        lp_lambda_fail(inv, "Runtime.InvalidEvent", "the event is not JSON");
        return;
    }
    if (json_is_object(ev)) {
        json_unpack(ev, "{s?s, s?s, s?I}", "mode", &mode, "url", &rq.url,
                    "delay_ms", &delay);
    }
    rq.delay_ms = (long)delay;
    if (delay < 0 || delay > 600000) {
        lp_lambda_fail(inv, "Handler.BadEvent", "delay_ms out of range");
        json_decref(ev);
        return;
    }
    t0 = lp_deadline_now();
    if (strcmp(mode, "sequential") == 0)
        ok = run_sequential(&rq);
    else if (strcmp(mode, "threads") == 0)
        ok = run_threads(&rq, ctx, &partial);
    else if (strcmp(mode, "processes") == 0)
        ok = run_processes(&rq);
    else {
        lp_lambda_fail(inv, "Handler.BadEvent",
                       "mode must be sequential, threads or processes");
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

/*
 * The handler of "Threading in AWS Lambda with Python", in C.
 *
 * The Python original makes 3 blocking requests, first one after another,
 * then on 3 threads:
 *
 *     def thread_function(index):
 *         f = urllib.request.urlopen("https://iotespresso.com")
 *         print(index)
 *
 *     def lambda_handler(event, context):          # sequential
 *         for index in range(3):
 *             thread_function(index)
 *
 *     def lambda_handler(event, context):          # threaded
 *         threads = []
 *         for index in range(3):
 *             x = Thread(target=thread_function, args=(index,))
 *             threads.append(x)
 *             x.start()
 *         for thread in threads:
 *             thread.join()
 *
 * As the article suggests for definite timings, a sleep stands in for the
 * request (1 s by default). The threaded handler submits the 3 tasks to a
 * thread pool of 3 workers and waits for all of them (lp_wait), which is
 * what starting and joining 3 threads does. Expect sequential ~3x the delay
 * and threaded ~1x.
 *
 * With --http each request is a real GET of /delay/<DELAY_MS> from a
 * loopback delay server the program starts on an ephemeral port: blocking
 * lp_http_get calls, one after another and then inside the pool's tasks, and
 * a fourth way, the event loop: one lp_http_client thread runs the 3
 * transfers at once and hands back a future per request, waited for with
 * lp_wait(ALL_COMPLETED). The event loop overlaps the waiting as the threads
 * do, with no thread per request. (With sleep there is nothing for an event
 * loop to multiplex, so that mode needs --http.)
 *
 * Usage: seed000-handler [--http] [DELAY_MS]   (default 1000)
 * Prints each mode's wall time as "sequential: <ms> ms", "threaded: <ms> ms"
 * and, with --http, "event-loop: <ms> ms", then each mode's speed-up against
 * sequential; every request prints "  request <i> done" (with --http,
 * "  request <i> done: status <code>"). Exits 0, or 1 on an error (a request
 * that fails or answers other than 200 is one).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delay_server.h"
#include "lambdapool/executor.h"
#include "lambdapool/http.h"

#define N_REQUESTS 3

/* Slack on top of the delay before a request counts as failed. */
#define HTTP_TIMEOUT_SLACK_MS 10000

static long delay_ms = 1000;
static bool use_http;
static char request_url[64]; /* http://127.0.0.1:<port>/delay/<delay_ms> */

/* Stands in for urlopen(): blocks for delay_ms. */
static void sleep_request(void)
{
    struct timespec ts = { .tv_sec = delay_ms / 1000,
                           .tv_nsec = (delay_ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        continue;
}

/* Prints a request's outcome: 200 is success, anything else an error. */
static lp_status report_response(size_t index, const lp_http_response *r)
{
    if (r->status != 200) {
        fprintf(stderr, "seed000-handler: request %zu: HTTP status %d\n", index,
                r->status);
        return LP_EHTTP;
    }
    printf("  request %zu done: status %d\n", index, r->status);
    fflush(stdout);
    return LP_OK;
}

/* urlopen() in C: a blocking GET on the calling thread. */
static lp_status http_request(size_t index)
{
    lp_http_response *r = NULL;
    lp_status st;

    st = lp_http_get(NULL, request_url, delay_ms + HTTP_TIMEOUT_SLACK_MS, &r);
    if (st != LP_OK) {
        fprintf(stderr, "seed000-handler: request %zu: %s\n", index,
                lp_status_str(st));
        return st;
    }
    st = report_response(index, r);
    lp_http_response_free(r);
    return st;
}

static lp_status thread_function(size_t index)
{
    if (use_http)
        return http_request(index);
    sleep_request();
    printf("  request %zu done\n", index);
    fflush(stdout);
    return LP_OK;
}

static void *thread_task(void *arg, lp_task *task)
{
    lp_status st = thread_function((size_t)(uintptr_t)arg);

    if (st != LP_OK)
        lp_task_fail(task, (int)st, 0, "%s", lp_status_str(st));
    return NULL;
}

static lp_status handler_sequential(void)
{
    for (size_t index = 0; index < N_REQUESTS; index++) {
        lp_status st = thread_function(index);

        if (st != LP_OK)
            return st;
    }
    return LP_OK;
}

/* Submits the requests to a 3-worker pool and waits for all of them. */
static lp_status handler_threaded(void)
{
    lp_thread_pool_options opts = LP_THREAD_POOL_OPTIONS_INIT;
    LP_SCOPED_EXECUTOR lp_executor *executor = NULL;
    lp_future *threads[N_REQUESTS] = { NULL };
    size_t started = 0;
    lp_status st;

    opts.max_workers = N_REQUESTS;
    opts.thread_name_prefix = "handler";
    st = lp_thread_pool_create(&opts, &executor);
    if (st != LP_OK)
        return st;
    for (; started < N_REQUESTS; started++) {
        st = lp_executor_submit(executor, thread_task,
                                (void *)(uintptr_t)started, &threads[started]);
        if (st != LP_OK)
            break;
    }
    if (st == LP_OK)
        st = lp_wait(threads, N_REQUESTS, LP_ALL_COMPLETED, LP_WAIT_FOREVER,
                     NULL, NULL);
    for (size_t i = 0; i < started; i++) {
        void *unused;

        /* A failed task already said why on stderr. */
        if (st == LP_OK)
            st = lp_future_result(threads[i], 0, &unused);
        lp_future_release(threads[i]);
    }
    return st;
}

/* The outcome of one event-loop request, from its finished future. */
static lp_status event_loop_result(size_t index, lp_future *f)
{
    void *value = NULL;
    lp_status st = lp_future_result(f, 0, &value);

    if (st == LP_OK)
        return report_response(index, value);
    if (st == LP_ETASK)
        fprintf(stderr, "seed000-handler: request %zu: %s\n", index,
                lp_future_error(f)->message);
    else
        fprintf(stderr, "seed000-handler: request %zu: %s\n", index,
                lp_status_str(st));
    return st;
}

/*
 * The fourth way: one event-loop thread runs every transfer at once; each
 * request is a future, and lp_wait waits for all of them.
 */
static lp_status handler_event_loop(void)
{
    lp_http_request req = LP_HTTP_REQUEST_INIT;
    lp_future *requests[N_REQUESTS] = { NULL };
    lp_http_client *client;
    size_t submitted = 0;
    lp_status st;

    st = lp_http_client_create(NULL, &client);
    if (st != LP_OK)
        return st;
    req.url = request_url;
    req.timeout_ms = delay_ms + HTTP_TIMEOUT_SLACK_MS;
    for (; submitted < N_REQUESTS; submitted++) {
        st = lp_http_submit(client, &req, &requests[submitted]);
        if (st != LP_OK)
            break;
    }
    if (st == LP_OK)
        st = lp_wait(requests, N_REQUESTS, LP_ALL_COMPLETED, LP_WAIT_FOREVER,
                     NULL, NULL);
    for (size_t i = 0; i < submitted; i++) {
        if (st == LP_OK)
            st = event_loop_result(i, requests[i]);
        lp_future_release(requests[i]);
    }
    lp_http_client_destroy(client);
    return st;
}

struct mode {
    const char *label;
    lp_status (*handler)(void);
    bool http_only;
};

static const struct mode modes[] = {
    { "sequential", handler_sequential, false },
    { "threaded", handler_threaded, false },
    { "event-loop", handler_event_loop, true },
};

#define N_MODES (sizeof(modes) / sizeof(modes[0]))

/* Runs one handler, printing its wall time; *ms gets it. */
static lp_status timed(const char *label, lp_status (*handler)(void),
                       double *ms)
{
    int64_t t0;
    lp_status st;

    printf("%s handler, %d %s of %ld ms:\n", label, N_REQUESTS,
           use_http ? "HTTP requests" : "requests", delay_ms);
    fflush(stdout);
    t0 = lp_deadline_now();
    st = handler();
    *ms = (double)(lp_deadline_now() - t0) / 1e6;
    if (st != LP_OK) {
        fprintf(stderr, "seed000-handler: %s: %s\n", label, lp_status_str(st));
        return st;
    }
    printf("%s: %.1f ms\n", label, *ms);
    return LP_OK;
}

/* Runs every mode, then prints each one's speed-up against the first. */
static int run_modes(void)
{
    double ms[N_MODES] = { 0 };

    for (size_t i = 0; i < N_MODES; i++) {
        if (modes[i].http_only && !use_http)
            continue;
        if (timed(modes[i].label, modes[i].handler, &ms[i]) != LP_OK)
            return 1;
    }
    for (size_t i = 1; i < N_MODES; i++) {
        if (modes[i].http_only && !use_http)
            continue;
        printf("%s speed-up: %.2fx (ideal %d.00x)\n", modes[i].label,
               ms[i] > 0 ? ms[0] / ms[i] : 0.0, N_REQUESTS);
    }
    return 0;
}

/* Parses [--http] [DELAY_MS]; returns false after printing why not. */
static bool parse_args(int argc, char **argv)
{
    int i = 1;

    if (argc == 2 &&
        (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: seed000-handler [--http] [DELAY_MS]\n"
               "  3 blocking requests of DELAY_MS (0..60000, default 1000) "
               "sequentially, then concurrently;\n"
               "  --http: each a GET of a loopback server answering after "
               "DELAY_MS\n");
        exit(0);
    }
    if (i < argc && strcmp(argv[i], "--http") == 0) {
        use_http = true;
        i++;
    }
    if (argc - i > 1) {
        fprintf(stderr, "usage: seed000-handler [--http] [DELAY_MS]\n");
        return false;
    }
    if (i < argc) {
        char *end;

        errno = 0;
        delay_ms = strtol(argv[i], &end, 10);
        if (errno != 0 || end == argv[i] || *end != '\0' || delay_ms < 0 ||
            delay_ms > 60000) {
            fprintf(stderr, "seed000-handler: bad delay %s (0..60000 ms)\n",
                    argv[i]);
            return false;
        }
    }
    return true;
}

int main(int argc, char **argv)
{
    struct delay_server *server = NULL;
    int rc, err;

    if (!parse_args(argc, argv))
        return 1;
    if (!use_http)
        return run_modes();

    err = delay_server_start("127.0.0.1", 0, &server);
    if (err != 0) {
        fprintf(stderr, "seed000-handler: delay server: %s\n", strerror(err));
        return 1;
    }
    snprintf(request_url, sizeof(request_url), "http://127.0.0.1:%d/delay/%ld",
             delay_server_port(server), delay_ms);
    printf("delay server: %s\n", request_url);
    rc = run_modes();
    delay_server_stop(server);
    return rc;
}

/*
 * HTTP fan-out benchmark: N GET requests to the loopback delay server
 * (GET /delay/<ms>), all at once, in one of three ways:
 *
 *   event-loop          lp_http_submit on one lp_http_client (one thread),
 *                       then lp_wait on all futures
 *   thread-pool         a lambdapool thread pool of min(N, WORKERS) workers,
 *                       each task a blocking lp_http_get on a shared client
 *   thread-per-request  N pthreads (256 KiB stacks), each a blocking
 *                       lp_http_get, then join
 *
 *   bench-http MODE N DELAY_MS PORT|BASE_URL [WORKERS]
 *
 * BASE_URL (e.g. https://127.0.0.1:4443) replaces http://127.0.0.1:PORT.
 * Client options from the environment: LP_BENCH_HTTP_CA (ca_file),
 * LP_BENCH_HTTP_MAX_CONCURRENT (default N), LP_BENCH_HTTP_MAX_PER_HOST,
 * LP_BENCH_HTTP_MAX_STREAMS. LP_BENCH_HTTP_ROUNDS (default 1): fan-outs run
 * one after another in this process, on the same client (and thread pool);
 * only the last is measured, so rounds > 1 measure a warm process, as a
 * Lambda function's later invocations are.
 *
 * Runs in a fresh process per measurement and prints "<key> <value>" lines:
 * wall_x (wall time from the first request to the last response, divided by
 * DELAY_MS), cpu_ms (this process's user + system CPU over the same span),
 * rss_kib (peak RSS of the process, ru_maxrss), ok (responses with status
 * 200). The Python peer is bench_http.py.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "lambdapool/lambdapool.h"

#include "../bench-common.h"

static char url[128];
static lp_http_client *shared;

static long peak_rss_kib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static unsigned env_unsigned(const char *name, int fallback)
{
    const char *v = getenv(name);

    return v != NULL ? (unsigned)strtoul(v, NULL, 10) : (unsigned)fallback;
}

static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Counts futures whose response has status 200. */
static int count_ok(lp_future **fs, int n)
{
    int ok = 0;

    for (int i = 0; i < n; i++) {
        void *v;

        if (lp_future_result(fs[i], 0, &v) == LP_OK && v != NULL &&
            ((lp_http_response *)v)->status == 200)
            ok++;
    }
    return ok;
}

static int run_event_loop(int n, lp_future **fs)
{
    for (int i = 0; i < n; i++) {
        if (lp_http_submit_get(shared, url, &fs[i]) != LP_OK)
            return -1;
    }
    lp_wait(fs, (size_t)n, LP_ALL_COMPLETED, LP_WAIT_FOREVER, NULL, NULL);
    return count_ok(fs, n);
}

static void *get_task(void *arg, lp_task *task)
{
    lp_http_response *r;
    intptr_t ok;

    (void)arg;
    (void)task;
    if (lp_http_get(shared, url, 60000, &r) != LP_OK)
        return NULL;
    ok = r->status == 200;
    lp_http_response_free(r);
    return (void *)ok;
}

static lp_executor *make_pool(int n, int workers)
{
    lp_thread_pool_options po = LP_THREAD_POOL_OPTIONS_INIT;
    lp_executor *ex;

    po.max_workers = n < workers ? n : workers;
    po.stack_size = 256 * 1024;
    return lp_thread_pool_create(&po, &ex) == LP_OK ? ex : NULL;
}

static int run_thread_pool(lp_executor *ex, int n, lp_future **fs)
{
    int ok = 0;

    for (int i = 0; i < n; i++) {
        if (lp_executor_submit(ex, get_task, NULL, &fs[i]) != LP_OK)
            return -1;
    }
    lp_wait(fs, (size_t)n, LP_ALL_COMPLETED, LP_WAIT_FOREVER, NULL, NULL);
    for (int i = 0; i < n; i++) {
        void *v;

        if (lp_future_result(fs[i], 0, &v) == LP_OK && v != NULL)
            ok++;
    }
    return ok;
}

static void *get_thread(void *arg)
{
    return get_task(arg, NULL);
}

static int run_thread_per_request(int n)
{
    pthread_t *t = calloc((size_t)n, sizeof(*t));
    pthread_attr_t attr;
    int ok = 0, started = 0;

    if (t == NULL)
        return -1;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (; started < n; started++) {
        if (pthread_create(&t[started], &attr, get_thread, NULL) != 0)
            break;
    }
    for (int i = 0; i < started; i++) {
        void *v;

        pthread_join(t[i], &v);
        ok += v != NULL;
    }
    pthread_attr_destroy(&attr);
    free(t);
    return started == n ? ok : -1;
}

static void release_all(lp_future **fs, int n)
{
    for (int i = 0; i < n; i++) {
        lp_future_release(fs[i]);
        fs[i] = NULL;
    }
}

/* One fan-out of n requests in `mode`; the count answered 200, or -1. */
static int run_round(const char *mode, lp_executor *pool, int n, lp_future **fs)
{
    if (strcmp(mode, "event-loop") == 0)
        return run_event_loop(n, fs);
    if (strcmp(mode, "thread-pool") == 0)
        return run_thread_pool(pool, n, fs);
    return run_thread_per_request(n);
}

int main(int argc, char **argv)
{
    lp_http_client_options o = LP_HTTP_CLIENT_OPTIONS_INIT;
    lp_executor *pool = NULL;
    const char *mode;
    int n, delay, workers, ok = -1, rounds;
    lp_future **fs;
    double t0 = 0, c0 = 0, wall, cpu;

    if (argc < 5) {
        fprintf(stderr, "usage: bench-http event-loop|thread-pool|"
                        "thread-per-request N DELAY_MS PORT [WORKERS]\n");
        return 2;
    }
    mode = argv[1];
    n = (int)strtol(argv[2], NULL, 10);
    delay = (int)strtol(argv[3], NULL, 10);
    workers = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 1000;
    /* PORT, or a base URL such as https://127.0.0.1:4443 */
    if (strstr(argv[4], "://") != NULL)
        snprintf(url, sizeof(url), "%s/delay/%d", argv[4], delay);
    else
        snprintf(url, sizeof(url), "http://127.0.0.1:%s/delay/%d", argv[4],
                 delay);
    rounds = (int)env_unsigned("LP_BENCH_HTTP_ROUNDS", 1);
    if (n <= 0 || delay <= 0 || workers <= 0 || rounds <= 0)
        return 2;
    if (strcmp(mode, "event-loop") != 0 && strcmp(mode, "thread-pool") != 0 &&
        strcmp(mode, "thread-per-request") != 0)
        return 2;
    raise_nofile();
    fs = calloc((size_t)n, sizeof(*fs));
    if (fs == NULL)
        return 1;
    /* The client exists before the clock starts in every mode. */
    o.ca_file = getenv("LP_BENCH_HTTP_CA"); /* NULL: the system bundle */
    o.max_concurrent = env_unsigned("LP_BENCH_HTTP_MAX_CONCURRENT", n);
    o.max_per_host = env_unsigned("LP_BENCH_HTTP_MAX_PER_HOST", 0);
    o.max_streams_per_connection = env_unsigned("LP_BENCH_HTTP_MAX_STREAMS", 0);
    if (lp_http_client_create(&o, &shared) != LP_OK)
        return 1;
    if (strcmp(mode, "thread-pool") == 0 &&
        (pool = make_pool(n, workers)) == NULL)
        return 1;
    /* Rounds before the last warm the process up, as earlier invocations
     * warm a Lambda process; only the last is measured. */
    for (int r = 0; r < rounds; r++) {
        release_all(fs, n);
        t0 = bench_now_ms();
        c0 = bench_cpu_ms();
        ok = run_round(mode, pool, n, fs);
    }
    wall = bench_now_ms() - t0;
    cpu = bench_cpu_ms() - c0;
    printf("wall_x %.3f\ncpu_ms %.1f\nrss_kib %ld\nok %d\n", wall / delay, cpu,
           peak_rss_kib(), ok);
    release_all(fs, n);
    free(fs);
    if (pool != NULL)
        lp_executor_destroy(pool);
    lp_http_client_destroy(shared);
    return ok == n ? 0 : 1;
}

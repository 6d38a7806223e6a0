/*
 * lambdapool's side of `make bench`: the thread pool executor measured the
 * way bench-glib.c, bench-libuv.c and bench_python.py measure their peers
 * (see bench-common.h for the measurements and the output format).
 *
 * Every task goes through the public API a user would call: submit returns
 * a future, results are read with lp_future_result, futures are released.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-common.h"
#include "lambdapool/executor.h"

static void check(lp_status st, const char *what)
{
    if (st != LP_OK) {
        fprintf(stderr, "bench-lambdapool: %s: %s\n", what, lp_status_str(st));
        exit(1);
    }
}

static lp_executor *make_pool(int workers)
{
    lp_thread_pool_options opts = LP_THREAD_POOL_OPTIONS_INIT;
    lp_executor *ex;

    opts.max_workers = workers;
    opts.thread_name_prefix = "bench";
    check(lp_thread_pool_create(&opts, &ex), "lp_thread_pool_create");
    return ex;
}

static void *noop_task(void *arg, lp_task *task)
{
    (void)task;
    return arg;
}

static void *sleep_task(void *arg, lp_task *task)
{
    (void)task;
    bench_sleep_us((int64_t)(intptr_t)arg * 1000);
    return NULL;
}

static void *gate_task(void *arg, lp_task *task)
{
    (void)task;
    bench_gate_pass(arg);
    return NULL;
}

static void **alloc_array(size_t n)
{
    void **a = calloc(n, sizeof(*a));

    if (a == NULL) {
        fprintf(stderr, "bench-lambdapool: out of memory\n");
        exit(1);
    }
    return a;
}

/* Submits fn(arg) n times, then waits for each result in order and
 * releases it. */
static void submit_and_collect(lp_executor *ex, size_t n, lp_task_fn fn,
                               void *arg)
{
    lp_future **fs = (lp_future **)alloc_array(n);
    void *value;

    for (size_t i = 0; i < n; i++)
        check(lp_executor_submit(ex, fn, arg, &fs[i]), "submit");
    for (size_t i = 0; i < n; i++) {
        check(lp_future_result(fs[i], LP_WAIT_FOREVER, &value), "result");
        lp_future_release(fs[i]);
    }
    free(fs);
}

/*
 * As submit_and_collect, timing the two phases apart as well: the extra
 * figures show where the per-task time goes.
 */
static void bench_pertask(size_t n)
{
    lp_executor *ex = make_pool(2);
    lp_future **fs = (lp_future **)alloc_array(n);
    int64_t t0, t1, t2;
    void *value;

    t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++)
        check(lp_executor_submit(ex, noop_task, NULL, &fs[i]), "submit");
    t1 = bench_now_ns();
    for (size_t i = 0; i < n; i++) {
        check(lp_future_result(fs[i], LP_WAIT_FOREVER, &value), "result");
        lp_future_release(fs[i]);
    }
    t2 = bench_now_ns();
    printf("per_task_us %.4f\n", (double)(t2 - t0) / 1e3 / (double)n);
    printf("submit_phase_us %.4f\n", (double)(t1 - t0) / 1e3 / (double)n);
    printf("collect_phase_us %.4f\n", (double)(t2 - t1) / 1e3 / (double)n);
    free(fs);
    lp_executor_destroy(ex);
}

static int64_t round_trip_ns(lp_executor *ex)
{
    lp_future *f;
    void *value;
    int64_t t0 = bench_now_ns(), t1;

    check(lp_executor_submit(ex, noop_task, NULL, &f), "submit");
    check(lp_future_result(f, LP_WAIT_FOREVER, &value), "result");
    t1 = bench_now_ns();
    lp_future_release(f);
    return t1 - t0;
}

static void bench_latency(size_t n, int64_t gap_us)
{
    lp_executor *ex = make_pool(2);
    int64_t *ns = (int64_t *)alloc_array(n);

    for (size_t i = 0; i < 100; i++)
        (void)round_trip_ns(ex);
    for (size_t i = 0; i < n; i++) {
        if (gap_us > 0)
            bench_sleep_us(gap_us);
        ns[i] = round_trip_ns(ex);
    }
    bench_print_latency(ns, n);
    free(ns);
    lp_executor_destroy(ex);
}

static void bench_fanout(size_t n, long ms)
{
    void *arg = (void *)(intptr_t)ms;
    int64_t t0 = bench_now_ns();
    lp_executor *ex = make_pool((int)n);

    submit_and_collect(ex, n, sleep_task, arg);
    printf("fanout_cold_x %.4f\n",
           (double)(bench_now_ns() - t0) / 1e6 / (double)ms);
    t0 = bench_now_ns();
    submit_and_collect(ex, n, sleep_task, arg);
    printf("fanout_warm_x %.4f\n",
           (double)(bench_now_ns() - t0) / 1e6 / (double)ms);
    lp_executor_destroy(ex);

    /* A pool whose workers were started ahead (a Lambda init phase). */
    ex = make_pool((int)n);
    t0 = bench_now_ns();
    check(lp_thread_pool_prestart(ex, n), "prestart");
    printf("prestart_ms %.4f\n", (double)(bench_now_ns() - t0) / 1e6);
    t0 = bench_now_ns();
    submit_and_collect(ex, n, sleep_task, arg);
    printf("fanout_prestarted_x %.4f\n",
           (double)(bench_now_ns() - t0) / 1e6 / (double)ms);
    lp_executor_destroy(ex);
}

static void bench_idle(long ms)
{
    lp_executor *ex = make_pool(2);

    for (size_t i = 0; i < 1000; i++)
        (void)round_trip_ns(ex);
    bench_print_idle_cpu(ms);
    lp_executor_destroy(ex);
}

static void bench_rss(size_t n)
{
    struct bench_gate gate;
    lp_executor_stats stats;
    long rss_before = bench_status_kib("VmRSS");
    lp_executor *ex = make_pool((int)n);

    bench_gate_init(&gate, n);
    submit_and_collect(ex, n, gate_task, &gate);
    bench_sleep_us(50000); /* let the workers go idle */
    check(lp_executor_stats_get(ex, &stats), "stats");
    bench_print_rss(rss_before, stats.workers);
    lp_executor_destroy(ex);
    bench_gate_destroy(&gate);
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";

    if (strcmp(what, "pertask") == 0)
        bench_pertask((size_t)bench_arg(argc, argv, 2, 1, 100000000));
    else if (strcmp(what, "latency") == 0)
        bench_latency((size_t)bench_arg(argc, argv, 2, 1, 10000000),
                      bench_arg(argc, argv, 3, 0, 1000000));
    else if (strcmp(what, "fanout") == 0)
        bench_fanout((size_t)bench_arg(argc, argv, 2, 1, 10000),
                     bench_arg(argc, argv, 3, 1, 10000));
    else if (strcmp(what, "rss") == 0)
        bench_rss((size_t)bench_arg(argc, argv, 2, 1, 10000));
    else if (strcmp(what, "idle") == 0)
        bench_idle(bench_arg(argc, argv, 2, 1, 10000));
    else
        bench_usage(argv[0]);
    return 0;
}

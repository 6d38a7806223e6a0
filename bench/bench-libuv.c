/*
 * libuv's uv_queue_work as a `make bench` peer (see bench-common.h for the
 * measurements and the output format).
 *
 * libuv has no futures: a task is a uv_work_t whose work_cb runs on the
 * threadpool and whose after_work_cb runs on the loop thread. Each task
 * writes its result into a slot; "collect" is running the loop until every
 * after_work_cb has run, then reading the slots. libuv's threadpool is
 * process-wide and sized once by UV_THREADPOOL_SIZE (at most 1024), set
 * here before the first uv_queue_work; scripts/bench.sh runs each
 * measurement in a fresh process, so a "cold" pool really is one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "bench-common.h"

/* What the tasks of one batch share; used on the loop thread except
 * sleep_ms and gate, which are read-only while tasks run. */
static struct {
    long sleep_ms;
    struct bench_gate *gate;
    size_t completed;
} batch;

static void work_cb(uv_work_t *req)
{
    if (batch.sleep_ms > 0)
        bench_sleep_us(batch.sleep_ms * 1000);
    if (batch.gate != NULL)
        bench_gate_pass(batch.gate);
    *(intptr_t *)req->data = 1;
}

static void after_work_cb(uv_work_t *req, int status)
{
    (void)req;
    if (status != 0) {
        fprintf(stderr, "bench-libuv: work failed: %s\n", uv_strerror(status));
        exit(1);
    }
    batch.completed++;
}

static void set_pool_size(size_t n)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%zu", n);
    setenv("UV_THREADPOOL_SIZE", buf, 1);
}

/* Queues n tasks, runs the loop until all completed, reads every result. */
static void submit_and_collect(uv_loop_t *loop, size_t n)
{
    uv_work_t *reqs = calloc(n, sizeof(*reqs));
    intptr_t *slots = calloc(n, sizeof(*slots));
    size_t sum = 0;
    int err;

    if (reqs == NULL || slots == NULL) {
        fprintf(stderr, "bench-libuv: out of memory\n");
        exit(1);
    }
    batch.completed = 0;
    for (size_t i = 0; i < n; i++) {
        reqs[i].data = &slots[i];
        err = uv_queue_work(loop, &reqs[i], work_cb, after_work_cb);
        if (err != 0) {
            fprintf(stderr, "bench-libuv: uv_queue_work: %s\n",
                    uv_strerror(err));
            exit(1);
        }
    }
    uv_run(loop, UV_RUN_DEFAULT);
    for (size_t i = 0; i < n; i++)
        sum += (size_t)slots[i];
    if (batch.completed != n || sum != n) {
        fprintf(stderr, "bench-libuv: %zu results of %zu\n", sum, n);
        exit(1);
    }
    free(slots);
    free(reqs);
}

static void bench_pertask(uv_loop_t *loop, size_t n)
{
    int64_t t0;

    set_pool_size(2);
    t0 = bench_now_ns();
    submit_and_collect(loop, n);
    printf("per_task_us %.4f\n",
           (double)(bench_now_ns() - t0) / 1e3 / (double)n);
}

static int64_t round_trip_ns(uv_loop_t *loop)
{
    uv_work_t req;
    intptr_t slot = 0;
    int64_t t0 = bench_now_ns();

    req.data = &slot;
    batch.completed = 0;
    if (uv_queue_work(loop, &req, work_cb, after_work_cb) != 0)
        exit(1);
    uv_run(loop, UV_RUN_DEFAULT);
    if (slot != 1 || batch.completed != 1)
        exit(1);
    return bench_now_ns() - t0;
}

static void bench_latency(uv_loop_t *loop, size_t n, int64_t gap_us)
{
    int64_t *ns = calloc(n, sizeof(*ns));

    if (ns == NULL)
        exit(1);
    set_pool_size(2);
    for (size_t i = 0; i < 100; i++)
        (void)round_trip_ns(loop);
    for (size_t i = 0; i < n; i++) {
        if (gap_us > 0)
            bench_sleep_us(gap_us);
        ns[i] = round_trip_ns(loop);
    }
    bench_print_latency(ns, n);
    free(ns);
}

static void bench_idle(uv_loop_t *loop, long ms)
{
    set_pool_size(2);
    for (size_t i = 0; i < 1000; i++)
        (void)round_trip_ns(loop);
    bench_print_idle_cpu(ms);
}

static void bench_fanout(uv_loop_t *loop, size_t n, long ms)
{
    int64_t t0;

    set_pool_size(n);
    batch.sleep_ms = ms;
    t0 = bench_now_ns();
    submit_and_collect(loop, n);
    printf("fanout_cold_x %.4f\n",
           (double)(bench_now_ns() - t0) / 1e6 / (double)ms);
    t0 = bench_now_ns();
    submit_and_collect(loop, n);
    printf("fanout_warm_x %.4f\n",
           (double)(bench_now_ns() - t0) / 1e6 / (double)ms);
}

static void bench_rss(uv_loop_t *loop, size_t n)
{
    struct bench_gate gate;
    long rss_before = bench_status_kib("VmRSS");

    bench_gate_init(&gate, n);
    set_pool_size(n);
    batch.gate = &gate;
    submit_and_collect(loop, n);
    bench_sleep_us(50000); /* let the workers go idle */
    bench_print_rss(rss_before, n);
    batch.gate = NULL;
    bench_gate_destroy(&gate);
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    uv_loop_t loop;

    if (uv_loop_init(&loop) != 0)
        return 1;
    if (strcmp(what, "pertask") == 0)
        bench_pertask(&loop, (size_t)bench_arg(argc, argv, 2, 1, 100000000));
    else if (strcmp(what, "latency") == 0)
        bench_latency(&loop, (size_t)bench_arg(argc, argv, 2, 1, 10000000),
                      bench_arg(argc, argv, 3, 0, 1000000));
    else if (strcmp(what, "fanout") == 0)
        bench_fanout(&loop, (size_t)bench_arg(argc, argv, 2, 1, 1024),
                     bench_arg(argc, argv, 3, 1, 10000));
    else if (strcmp(what, "rss") == 0)
        bench_rss(&loop, (size_t)bench_arg(argc, argv, 2, 1, 1024));
    else if (strcmp(what, "idle") == 0)
        bench_idle(&loop, bench_arg(argc, argv, 2, 1, 10000));
    else
        bench_usage(argv[0]);
    uv_loop_close(&loop);
    return 0;
}

/*
 * GLib's GThreadPool as a `make bench` peer (see bench-common.h for the
 * measurements and the output format).
 *
 * GThreadPool has no futures: a task is g_thread_pool_push(pool, data).
 * To collect results as the other peers do, each task writes its result
 * into a slot of an array and counts itself done; the submitting thread
 * waits (mutex + condition variable) until the count is complete, then
 * reads the slots. Pools are exclusive: they own their threads.
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-common.h"

/* Completion count: tasks add to `done`; the last one signals. */
struct done_count {
    GMutex mu;
    GCond cv;
    gint done;
    gint total;
};

/* What a pool's tasks share. */
struct job {
    struct done_count count;
    long sleep_ms;
    struct bench_gate *gate;
};

static void count_init(struct done_count *c, gint total)
{
    g_mutex_init(&c->mu);
    g_cond_init(&c->cv);
    g_atomic_int_set(&c->done, 0);
    c->total = total;
}

static void count_one(struct done_count *c)
{
    if (g_atomic_int_add(&c->done, 1) + 1 == c->total) {
        g_mutex_lock(&c->mu);
        g_cond_signal(&c->cv);
        g_mutex_unlock(&c->mu);
    }
}

static void count_wait(struct done_count *c)
{
    g_mutex_lock(&c->mu);
    while (g_atomic_int_get(&c->done) < c->total)
        g_cond_wait(&c->cv, &c->mu);
    g_mutex_unlock(&c->mu);
}

static void count_clear(struct done_count *c)
{
    g_cond_clear(&c->cv);
    g_mutex_clear(&c->mu);
}

/* A task: its data is the slot that receives its result. */
static void run_task(gpointer data, gpointer user_data)
{
    struct job *job = user_data;
    intptr_t *slot = data;

    if (job->sleep_ms > 0)
        bench_sleep_us(job->sleep_ms * 1000);
    if (job->gate != NULL)
        bench_gate_pass(job->gate);
    *slot = 1;
    count_one(&job->count);
}

static GThreadPool *make_pool(struct job *job, int workers)
{
    GError *err = NULL;
    GThreadPool *pool = g_thread_pool_new(run_task, job, workers, TRUE, &err);

    if (pool == NULL) {
        fprintf(stderr, "bench-glib: g_thread_pool_new: %s\n",
                err != NULL ? err->message : "failed");
        exit(1);
    }
    return pool;
}

static intptr_t *alloc_slots(size_t n)
{
    intptr_t *slots = calloc(n, sizeof(*slots));

    if (slots == NULL) {
        fprintf(stderr, "bench-glib: out of memory\n");
        exit(1);
    }
    return slots;
}

/* Pushes n tasks, waits for all, reads every result. */
static void submit_and_collect(GThreadPool *pool, struct job *job, size_t n)
{
    intptr_t *slots = alloc_slots(n);
    size_t sum = 0;

    g_atomic_int_set(&job->count.done, 0);
    job->count.total = (gint)n;
    for (size_t i = 0; i < n; i++)
        g_thread_pool_push(pool, &slots[i], NULL);
    count_wait(&job->count);
    for (size_t i = 0; i < n; i++)
        sum += (size_t)slots[i];
    if (sum != n) {
        fprintf(stderr, "bench-glib: %zu results of %zu\n", sum, n);
        exit(1);
    }
    free(slots);
}

static void bench_pertask(size_t n)
{
    struct job job = { .sleep_ms = 0 };
    GThreadPool *pool;
    int64_t t0;

    count_init(&job.count, (gint)n);
    pool = make_pool(&job, 2);
    t0 = bench_now_ns();
    submit_and_collect(pool, &job, n);
    printf("per_task_us %.4f\n",
           (double)(bench_now_ns() - t0) / 1e3 / (double)n);
    g_thread_pool_free(pool, FALSE, TRUE);
    count_clear(&job.count);
}

static int64_t round_trip_ns(GThreadPool *pool, struct job *job)
{
    intptr_t slot = 0;
    int64_t t0 = bench_now_ns();

    g_atomic_int_set(&job->count.done, 0);
    g_thread_pool_push(pool, &slot, NULL);
    count_wait(&job->count);
    return bench_now_ns() - t0;
}

static void bench_latency(size_t n, int64_t gap_us)
{
    struct job job = { .sleep_ms = 0 };
    int64_t *ns = calloc(n, sizeof(*ns));
    GThreadPool *pool;

    if (ns == NULL)
        exit(1);
    count_init(&job.count, 1);
    pool = make_pool(&job, 2);
    for (size_t i = 0; i < 100; i++)
        (void)round_trip_ns(pool, &job);
    for (size_t i = 0; i < n; i++) {
        if (gap_us > 0)
            bench_sleep_us(gap_us);
        ns[i] = round_trip_ns(pool, &job);
    }
    bench_print_latency(ns, n);
    g_thread_pool_free(pool, FALSE, TRUE);
    count_clear(&job.count);
    free(ns);
}

static void bench_idle(long ms)
{
    struct job job = { .sleep_ms = 0 };
    GThreadPool *pool;

    count_init(&job.count, 1);
    pool = make_pool(&job, 2);
    for (size_t i = 0; i < 1000; i++)
        (void)round_trip_ns(pool, &job);
    bench_print_idle_cpu(ms);
    g_thread_pool_free(pool, FALSE, TRUE);
    count_clear(&job.count);
}

static void bench_fanout(size_t n, long ms)
{
    struct job job = { .sleep_ms = ms };
    GThreadPool *pool;
    int64_t t0;

    count_init(&job.count, (gint)n);
    t0 = bench_now_ns();
    pool = make_pool(&job, (int)n);
    submit_and_collect(pool, &job, n);
    printf("fanout_cold_x %.4f\n",
           (double)(bench_now_ns() - t0) / 1e6 / (double)ms);
    t0 = bench_now_ns();
    submit_and_collect(pool, &job, n);
    printf("fanout_warm_x %.4f\n",
           (double)(bench_now_ns() - t0) / 1e6 / (double)ms);
    g_thread_pool_free(pool, FALSE, TRUE);
    count_clear(&job.count);
}

static void bench_rss(size_t n)
{
    struct bench_gate gate;
    struct job job = { .sleep_ms = 0, .gate = &gate };
    long rss_before = bench_status_kib("VmRSS");
    GThreadPool *pool;

    bench_gate_init(&gate, n);
    count_init(&job.count, (gint)n);
    pool = make_pool(&job, (int)n);
    submit_and_collect(pool, &job, n);
    bench_sleep_us(50000); /* let the workers go idle */
    bench_print_rss(rss_before, g_thread_pool_get_num_threads(pool));
    g_thread_pool_free(pool, FALSE, TRUE);
    count_clear(&job.count);
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

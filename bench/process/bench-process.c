/*
 * lambdapool's process pool, for scripts/bench-process.sh. One measurement
 * per run, chosen by the first argument; prints `<key> <value>` lines.
 *
 *   pertask N DEPTH  N 16-byte echo tasks on 2 workers, submit all then
 *                    collect all, DEPTH tasks in flight per worker:
 *                    per_task_us
 *   map N CHUNK      lp_process_pool_map_bytes over N 8-byte items on 2
 *                    workers, chunksize CHUNK, all results collected:
 *                    per_item_us
 *   startup R        R times: create a 2-worker pool (default options),
 *                    submit 2 trivial tasks and take both results:
 *                    startup_ms (median, from before create to the second
 *                    result), and the time to shut it down and reap it:
 *                    shutdown_ms (median). bench_process.py does exactly
 *                    the same with ProcessPoolExecutor(max_workers=2),
 *                    which forks its workers at the first submit. On
 *                    either side one worker may run both tasks.
 *   mib K            K 1 MiB echo round trips on 2 workers, 4 in flight at
 *                    any time: mib_gb_per_s (payload bytes each way / wall
 *                    time)
 *   three R          the seeds' 3-task experiment, R times each: 3 trivial
 *                    tasks as fork()+waitpid() per task (fork3_us), as
 *                    pthread_create()+join per task (thread3_us), and on a
 *                    warm 2-worker process pool (pool3_us); medians
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lambdapool/lambdapool.h"

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what, lp_status st)
{
    fprintf(stderr, "bench-process: %s: %s\n", what, lp_status_str(st));
    exit(1);
}

static void check(const char *what, lp_status st)
{
    if (st != LP_OK)
        die(what, st);
}

static void echo(lp_task *task, const void *in, size_t len)
{
    lp_task_reply(task, in, len);
}

static lp_executor *pool(unsigned depth)
{
    lp_process_pool_options o = LP_PROCESS_POOL_OPTIONS_INIT;
    lp_executor *ex;

    o.max_workers = 2;
    o.max_inflight = depth;
    check("create", lp_process_pool_create(&o, &ex));
    return ex;
}

/* Submits n echo tasks of `len` bytes, then collects them all. */
static void run_batch(lp_executor *ex, size_t n, const void *in, size_t len)
{
    lp_future **fs = malloc(n * sizeof(*fs));
    void *r;

    for (size_t i = 0; i < n; i++)
        check("submit", lp_executor_submit_bytes(ex, echo, in, len, &fs[i]));
    for (size_t i = 0; i < n; i++) {
        check("result", lp_future_result(fs[i], LP_WAIT_FOREVER, &r));
        if (((lp_bytes *)r)->len != len)
            die("short result", LP_EPROTO);
        lp_future_release(fs[i]);
    }
    free(fs);
}

static void bench_pertask(size_t n, unsigned depth)
{
    lp_executor *ex = pool(depth);
    char msg[16] = "0123456789abcde";
    int64_t t0;

    run_batch(ex, 100, msg, sizeof(msg)); /* warm up */
    t0 = now_ns();
    run_batch(ex, n, msg, sizeof(msg));
    printf("per_task_us %.4f\n", (double)(now_ns() - t0) / 1e3 / (double)n);
    lp_executor_destroy(ex);
}

static void bench_map(size_t n, size_t chunk)
{
    lp_executor *ex = pool(0);
    lp_bytes *items = malloc(n * sizeof(*items));
    lp_future **fs = malloc(n * sizeof(*fs));
    int64_t t0;
    void *r;

    for (size_t i = 0; i < n; i++)
        items[i] = (lp_bytes){ "01234567", 8 };
    run_batch(ex, 100, "x", 1);
    t0 = now_ns();
    check("map", lp_process_pool_map_bytes(ex, echo, items, n, chunk, fs));
    for (size_t i = 0; i < n; i++) {
        check("result", lp_future_result(fs[i], LP_WAIT_FOREVER, &r));
        lp_future_release(fs[i]);
    }
    printf("per_item_us %.4f\n", (double)(now_ns() - t0) / 1e3 / (double)n);
    lp_executor_destroy(ex);
    free(items);
    free(fs);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static double median_ms(int64_t *ns, int n)
{
    qsort(ns, (size_t)n, sizeof(*ns), cmp_i64);
    return (double)ns[n / 2] / 1e6;
}

static void bench_startup(int reps)
{
    int64_t *up = calloc((size_t)reps, sizeof(*up));
    int64_t *down = calloc((size_t)reps, sizeof(*down));

    for (int i = 0; i < reps; i++) {
        int64_t t0 = now_ns(), t1;
        lp_executor *ex = pool(0); /* default options, as Python's */

        run_batch(ex, 2, "x", 1);
        t1 = now_ns();
        lp_executor_destroy(ex);
        up[i] = t1 - t0;
        down[i] = now_ns() - t1;
    }
    printf("startup_ms %.3f\n", median_ms(up, reps));
    printf("shutdown_ms %.3f\n", median_ms(down, reps));
    free(up);
    free(down);
}

/* K round trips of 1 MiB, WINDOW of them in flight at any time. */
static void bench_mib(size_t k)
{
    enum { WINDOW = 4 };
    size_t len = 1 << 20, sent = 0;
    lp_executor *ex = pool(0);
    lp_future *fs[WINDOW];
    char *buf = malloc(len);
    int64_t t0;
    void *r;

    memset(buf, 'm', len);
    run_batch(ex, 4, buf, len);
    t0 = now_ns();
    for (; sent < WINDOW && sent < k; sent++)
        check("submit",
              lp_executor_submit_bytes(ex, echo, buf, len, &fs[sent % WINDOW]));
    for (size_t i = 0; i < k; i++) {
        check("result", lp_future_result(fs[i % WINDOW], -1, &r));
        if (((lp_bytes *)r)->len != len)
            die("short result", LP_EPROTO);
        lp_future_release(fs[i % WINDOW]);
        if (sent < k)
            check("submit", lp_executor_submit_bytes(ex, echo, buf, len,
                                                     &fs[sent++ % WINDOW]));
    }
    printf("mib_gb_per_s %.3f\n", (double)(k * len) / (double)(now_ns() - t0));
    lp_executor_destroy(ex);
    free(buf);
}

static void *thread_task(void *arg)
{
    return arg;
}

static void bench_three(int reps)
{
    int64_t *fk = calloc((size_t)reps, sizeof(*fk));
    int64_t *th = calloc((size_t)reps, sizeof(*th));
    int64_t *pl = calloc((size_t)reps, sizeof(*pl));
    lp_executor *ex = pool(0);

    run_batch(ex, 10, "x", 1);
    for (int i = 0; i < reps; i++) {
        pid_t pids[3];
        pthread_t ts[3];
        int64_t t0 = now_ns();

        for (int j = 0; j < 3; j++)
            if ((pids[j] = fork()) == 0)
                _exit(0);
        for (int j = 0; j < 3; j++)
            waitpid(pids[j], NULL, 0);
        fk[i] = now_ns() - t0;
        t0 = now_ns();
        for (int j = 0; j < 3; j++)
            pthread_create(&ts[j], NULL, thread_task, NULL);
        for (int j = 0; j < 3; j++)
            pthread_join(ts[j], NULL);
        th[i] = now_ns() - t0;
        t0 = now_ns();
        run_batch(ex, 3, "x", 1);
        pl[i] = now_ns() - t0;
    }
    printf("fork3_us %.2f\n", median_ms(fk, reps) * 1e3);
    printf("thread3_us %.2f\n", median_ms(th, reps) * 1e3);
    printf("pool3_us %.2f\n", median_ms(pl, reps) * 1e3);
    lp_executor_destroy(ex);
    free(fk);
    free(th);
    free(pl);
}

int main(int argc, char **argv)
{
    long a = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
    long b = argc > 3 ? strtol(argv[3], NULL, 10) : 0;

    if (argc < 3 || a <= 0) {
        fprintf(stderr, "usage: bench-process pertask N DEPTH | map N CHUNK "
                        "| startup R | mib K | three R\n");
        return 2;
    }
    if (strcmp(argv[1], "pertask") == 0)
        bench_pertask((size_t)a, (unsigned)b);
    else if (strcmp(argv[1], "map") == 0)
        bench_map((size_t)a, (size_t)b);
    else if (strcmp(argv[1], "startup") == 0)
        bench_startup((int)a);
    else if (strcmp(argv[1], "mib") == 0)
        bench_mib((size_t)a);
    else if (strcmp(argv[1], "three") == 0)
        bench_three((int)a);
    else
        return 2;
    return 0;
}

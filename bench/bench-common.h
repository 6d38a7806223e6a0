/*
 * Helpers shared by the benchmark programs (bench-lambdapool, bench-glib,
 * bench-libuv; the clocks also by bench/http): a clock, /proc/self/status
 * readers, statistics, argument parsing and the output format.
 *
 * Every program takes one measurement per run, chosen by its first argument,
 * and prints one `<key> <value>` line per figure, which scripts/bench.sh
 * collects:
 *
 *   pertask N         N no-op tasks on 2 workers, submit all then collect
 *                     all: per_task_us
 *   latency N GAP_US  N single round trips on an idle 2-worker pool, each
 *                     after a GAP_US pause: latency_median_us,
 *                     latency_mean_us
 *   fanout N MS       N tasks sleeping MS ms on N workers, twice (a fresh
 *                     pool, then the same pool again): fanout_cold_x,
 *                     fanout_warm_x (wall time / MS)
 *   rss N             N workers started, then idle: rss_idle_kib_per_worker,
 *                     rss_peak_kib_per_worker, workers
 *   idle MS           1000 round trips on a 2-worker pool, then MS ms with
 *                     nothing to do: idle_cpu_pct, the process's CPU time
 *                     during those MS ms in % of one core (spinning workers
 *                     that never stop show here)
 */
#ifndef LP_BENCH_COMMON_H
#define LP_BENCH_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void bench_sleep_us(int64_t us)
{
    struct timespec ts = { .tv_sec = us / 1000000,
                           .tv_nsec = (us % 1000000) * 1000 };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        continue;
}

/* A field of /proc/self/status in KiB (VmRSS, VmHWM), or -1. */
static inline long bench_status_kib(const char *field)
{
    char line[256];
    size_t len = strlen(field);
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kib = strtol(line + len + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

static inline int bench_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Prints latency_median_us and latency_mean_us of ns[0..n-1] (sorts it). */
static inline void bench_print_latency(int64_t *ns, size_t n)
{
    double sum = 0;

    qsort(ns, n, sizeof(*ns), bench_cmp_i64);
    for (size_t i = 0; i < n; i++)
        sum += (double)ns[i];
    printf("latency_median_us %.3f\n", (double)ns[n / 2] / 1e3);
    printf("latency_mean_us %.3f\n", sum / (double)n / 1e3);
}

/* CPU time used by the whole process so far. */
static inline int64_t bench_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The two clocks in milliseconds, as the HTTP benchmarks print them. */
static inline double bench_now_ms(void)
{
    return (double)bench_now_ns() / 1e6;
}

static inline double bench_cpu_ms(void)
{
    return (double)bench_cpu_ns() / 1e6;
}

/* Sleeps `ms` and prints idle_cpu_pct: CPU time used meanwhile, in % of a
 * core. */
static inline void bench_print_idle_cpu(long ms)
{
    int64_t cpu0 = bench_cpu_ns();

    bench_sleep_us((int64_t)ms * 1000);
    printf("idle_cpu_pct %.3f\n",
           (double)(bench_cpu_ns() - cpu0) / 1e4 / (double)ms);
}

/* Prints the rss_* lines for `workers` workers started since rss_before. */
static inline void bench_print_rss(long rss_before, size_t workers)
{
    long rss_after = bench_status_kib("VmRSS");
    long hwm_after = bench_status_kib("VmHWM");

    if (workers == 0)
        workers = 1;
    printf("workers %zu\n", workers);
    printf("rss_idle_kib_per_worker %.2f\n",
           (double)(rss_after - rss_before) / (double)workers);
    printf("rss_peak_kib_per_worker %.2f\n",
           (double)(hwm_after - rss_before) / (double)workers);
}

/* argv[i] as a count in [min, max], or exits with a message. */
static inline long bench_arg(int argc, char **argv, int i, long min, long max)
{
    char *end;
    long v;

    if (i >= argc) {
        fprintf(stderr, "%s: missing argument %d\n", argv[0], i);
        exit(2);
    }
    errno = 0;
    v = strtol(argv[i], &end, 10);
    if (errno != 0 || end == argv[i] || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "%s: bad argument %s (%ld..%ld)\n", argv[0], argv[i],
                min, max);
        exit(2);
    }
    return v;
}

static inline void bench_usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s pertask N | latency N GAP_US | fanout N MS | rss N | "
            "idle MS\n",
            prog);
    exit(2);
}

/*
 * A gate that holds tasks until `total` of them have arrived, so that a
 * pool must run `total` workers at once (the rss measurement). Every peer
 * uses this same gate.
 */
struct bench_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t arrived; /* protected by mu */
    size_t total;
};

static inline void bench_gate_init(struct bench_gate *g, size_t total)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->arrived = 0;
    g->total = total;
}

static inline void bench_gate_pass(struct bench_gate *g)
{
    pthread_mutex_lock(&g->mu);
    if (++g->arrived >= g->total)
        pthread_cond_broadcast(&g->cv);
    while (g->arrived < g->total)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static inline void bench_gate_destroy(struct bench_gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

#endif

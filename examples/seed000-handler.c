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
 * Usage: seed000-handler [DELAY_MS]   (default 1000)
 * Prints each mode's wall time as "sequential: <ms> ms" and
 * "threaded: <ms> ms", then the speed-up; exits 0, or 1 on an error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lambdapool/executor.h"

#define N_REQUESTS 3

static long delay_ms = 1000;

/* Stands in for urlopen(): blocks for delay_ms. */
static void blocking_request(void)
{
    struct timespec ts = { .tv_sec = delay_ms / 1000,
                           .tv_nsec = (delay_ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        continue;
}

static void thread_function(size_t index)
{
    blocking_request();
    printf("  request %zu done\n", index);
    fflush(stdout);
}

static void *thread_task(void *arg, lp_task *task)
{
    (void)task;
    thread_function((size_t)(uintptr_t)arg);
    return NULL;
}

static lp_status handler_sequential(void)
{
    for (size_t index = 0; index < N_REQUESTS; index++)
        thread_function(index);
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
    for (size_t i = 0; i < started; i++)
        lp_future_release(threads[i]);
    return st;
}

/* Runs one handler, printing its wall time; *ms gets it. */
static lp_status timed(const char *label, lp_status (*handler)(void),
                       double *ms)
{
    int64_t t0;
    lp_status st;

    printf("%s handler, %d requests of %ld ms:\n", label, N_REQUESTS, delay_ms);
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

int main(int argc, char **argv)
{
    double seq_ms, thr_ms;

    if (argc > 2) {
        fprintf(stderr, "usage: seed000-handler [DELAY_MS]\n");
        return 1;
    }
    if (argc == 2) {
        char *end;

        errno = 0;
        delay_ms = strtol(argv[1], &end, 10);
        if (errno != 0 || end == argv[1] || *end != '\0' || delay_ms < 0 ||
            delay_ms > 60000) {
            fprintf(stderr, "seed000-handler: bad delay %s (0..60000 ms)\n",
                    argv[1]);
            return 1;
        }
    }

    if (timed("sequential", handler_sequential, &seq_ms) != LP_OK)
        return 1;
    if (timed("threaded", handler_threaded, &thr_ms) != LP_OK)
        return 1;
    printf("speed-up: %.2fx (ideal %d.00x)\n",
           thr_ms > 0 ? seq_ms / thr_ms : 0.0, N_REQUESTS);
    return 0;
}

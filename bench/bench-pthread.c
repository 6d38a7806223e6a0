/*
 * A reference for `make bench`'s fan-out, not a peer: one thread per task
 * (pthread_create, then pthread_join), no pool. Its cold figure is what
 * starting N threads from one thread costs on this machine, the floor that
 * pools starting their workers lazily are measured against.
 *
 *   bench-pthread fanout N MS   prints fanout_cold_x (see bench-common.h)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-common.h"

static void *sleep_thread(void *arg)
{
    bench_sleep_us((int64_t)(intptr_t)arg * 1000);
    return NULL;
}

int main(int argc, char **argv)
{
    size_t n;
    long ms;
    pthread_t *threads;
    int64_t t0;
    int err;

    if (argc < 2 || strcmp(argv[1], "fanout") != 0)
        bench_usage(argv[0]);
    n = (size_t)bench_arg(argc, argv, 2, 1, 10000);
    ms = bench_arg(argc, argv, 3, 1, 10000);
    threads = calloc(n, sizeof(*threads));
    if (threads == NULL)
        return 1;
    t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++) {
        err = pthread_create(&threads[i], NULL, sleep_thread,
                             (void *)(intptr_t)ms);
        if (err != 0) {
            fprintf(stderr, "bench-pthread: pthread_create: %s\n",
                    strerror(err));
            return 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    printf("fanout_cold_x %.4f\n",
           (double)(bench_now_ns() - t0) / 1e6 / (double)ms);
    free(threads);
    return 0;
}

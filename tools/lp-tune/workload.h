/*
 * One task of the handler lp-tune measures: an HTTP GET, a sleep or a
 * CPU-bound loop. Every mode (modes.c) runs the same function, so the modes
 * differ only in how they run tasks side by side.
 */
#ifndef LP_TUNE_WORKLOAD_H
#define LP_TUNE_WORKLOAD_H

#include <stddef.h>

#include "tune.h"

struct workload {
    enum tune_workload kind; /* TUNE_WL_URL, _SLEEP or _CPU in a worker */
    const char *url;         /* borrowed */
    int sleep_ms;
    long cpu_iters;
};

/*
 * Runs one task. Returns 0, or -1 with a message in err[0..errlen-1].
 * Thread-safe: tasks share nothing.
 */
int workload_run_task(const struct workload *w, char *err, size_t errlen);

/*
 * GET `url` and discard the body; 0 for a 200 answer, else -1 with a
 * message. The one place that makes a request, so the HTTP client can be
 * swapped (libcurl easy handle now, one per call). curl_global_init must
 * have been called.
 */
int tune_http_get(const char *url, char *err, size_t errlen);

/*
 * Does once, before timing, what a handler's INIT would: loads and touches
 * what the first task would otherwise pay for (libcurl's first handle).
 */
void workload_warm_up(const struct workload *w);

/*
 * Each concurrent request holds 3 descriptors (libcurl's easy interface
 * keeps a wake-up socketpair beside the connection). Raises RLIMIT_NOFILE
 * to fit `tasks` concurrent requests -- the hard limit too, where this
 * process may -- else to the hard limit. Returns the resulting soft limit.
 */
long workload_raise_fd_limit(int tasks);

/* Burns `iters` iterations of an integer hash; returns a value to keep. */
unsigned long workload_cpu_burn(long iters);

/*
 * Loop iterations that take about `cpu_ms` ms on this (unthrottled) core,
 * measured now for ~50 ms. Call before any throttling applies.
 */
long workload_cpu_calibrate(double cpu_ms);

#endif

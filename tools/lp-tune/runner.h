/*
 * Runs one measurement in a fresh process: lp-tune --worker for the C modes
 * or a seed's Python program, inside a throttle's cgroups, and reads back
 * its result line and its peak RSS.
 */
#ifndef LP_TUNE_RUNNER_H
#define LP_TUNE_RUNNER_H

#include <stdbool.h>

#include "throttle.h"

struct run_result {
    double elapsed_ms; /* as the worker measured it */
    long peak_rss_kb;  /* largest process of the worker's tree (wait4) */
    long mem_peak_kb;  /* memory the handler added, children included, from
                          the memory cgroup's peak (-1: unknown) */
    int ok, failed;    /* tasks, when the worker reports them */
    bool timed_out;
    bool killed; /* by a signal we did not send: OOM, most likely */
    char error[256];
};

/*
 * Forks; the child becomes its own process group and execs argv[0]
 * (searched in PATH) with stdin and stdout on pipes. When the worker prints
 * the ready line, it is moved into `t`'s cgroups (t NULL: none) and sent a
 * line on stdin. Waits at most `timeout_s` seconds, for its output and its
 * exit, then kills the group (out->timed_out, error "timed out").
 * Returns 0 when the worker was throttled as asked, exited 0 and printed a
 * result line, else -1 with out->error set.
 */
int runner_run(char *const argv[], const struct throttle *t, int timeout_s,
               struct run_result *out);

/* Parses a result line ("lp-tune-result elapsed_ms=... [ok=N failed=N]").
 * Returns 0 or -1. */
int runner_parse_line(const char *line, struct run_result *out);

#endif

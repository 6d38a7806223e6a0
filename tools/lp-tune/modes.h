/*
 * The concurrency modes: run `tasks` copies of one workload task and time
 * the whole, as a Lambda handler would be timed.
 */
#ifndef LP_TUNE_MODES_H
#define LP_TUNE_MODES_H

#include "tune.h"
#include "workload.h"

struct mode_result {
    double elapsed_ms; /* from the first task started to the last joined */
    int ok;
    int failed;
    char first_error[256]; /* empty when failed == 0 */
};

/*
 * Runs `tasks` tasks of `w` in C mode `m` with `workers` pool workers (0:
 * one per task). Returns 0 when the mode ran (task failures are counted in
 * *out), -1 when it could not run at all (message in out->first_error).
 */
int modes_run(enum tune_mode m, const struct workload *w, int tasks,
              int workers, struct mode_result *out);

#endif

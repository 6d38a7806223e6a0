/*
 * The measurements of one lp-tune run and what is derived from them: per
 * cell (memory setting x mode) the samples, their statistics, the peak RSS
 * and the cost; per run the cheapest, fastest and balanced picks.
 */
#ifndef LP_TUNE_RESULTS_H
#define LP_TUNE_RESULTS_H

#include <stdbool.h>

#include "cost.h"
#include "stats.h"
#include "tune.h"

struct cell {
    double *samples; /* ms, one per successful repetition */
    int n;
    struct sample_stats st;
    long peak_rss_kb; /* max over repetitions */
    long mem_peak_kb; /* memory the handler added (memory cgroup peak),
                         max over repetitions; -1: unknown */
    int failed_runs;  /* repetitions that did not produce a figure */
    char error[256];  /* the first failure's reason */
    double billed_ms; /* trimmed mean of per-run billed durations */
    double gb_s;      /* per invocation */
    double usd[COST_ARCH_COUNT]; /* per invocation, request included */
    bool valid;                  /* every repetition succeeded */
};

struct row {
    int memory_mb;
    double vcpus, vcpus_applied;
    bool capped;
    bool throttled;   /* CPU quota in force */
    bool mem_limited; /* memory limit in force */
    char note[512];   /* why not throttled / not limited */
};

struct pick {
    int row, col; /* -1 when nothing qualified */
};

struct results {
    const struct tune_config *cfg;
    struct price_table prices;
    int n_rows, n_cols;
    enum tune_mode cols[TUNE_MODE_COUNT];
    struct row rows[TUNE_MAX_MEMORY];
    struct cell *cells;       /* n_rows * n_cols, row-major */
    char throttle_note[1024]; /* how runs were throttled, or why not */
    bool throttled;           /* every row CPU-throttled */
    struct pick cheapest, fastest, balanced;
};

/* Sets up columns (the selected modes) and rows; 0 or -1 (no memory). */
int results_init(struct results *r, const struct tune_config *cfg,
                 const struct price_table *prices);

void results_free(struct results *r);

static inline struct cell *results_cell(struct results *r, int row, int col)
{
    return &r->cells[row * r->n_cols + col];
}

/*
 * Records one repetition: its duration in ms, peak RSS of the largest
 * process, and the memory the handler added (-1: unknown).
 */
int results_add_sample(struct results *r, int row, int col, double ms,
                       long rss_kb, long mem_peak_kb);

/* Records a failed repetition. */
void results_add_failure(struct results *r, int row, int col, const char *why);

/* Computes statistics, costs and the three picks. */
void results_finish(struct results *r);

/*
 * The column to compare column `col` against for speedup: "sequential" for
 * C modes, "py-sequential" for Python; -1 if that column is not present.
 */
int results_baseline_col(const struct results *r, int col);

/* Power Tuning's balanced score: w*cost/max_cost + (1-w)*time/max_time. */
double results_balanced_score(double weight, double cost, double max_cost,
                              double time, double max_time);

#endif

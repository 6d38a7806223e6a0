/*
 * Turns samples into figures. Cost follows AWS Lambda Power Tuning: each
 * run's duration is billed (rounded up to the granularity), and the cell's
 * cost uses the trimmed mean of the billed durations, speed the trimmed
 * mean of the raw ones. The picks (cheapest, fastest, balanced) consider
 * only cells whose every repetition succeeded; ties go to the better other
 * metric, as in Power Tuning's analyzer.
 */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results.h"
#include "throttle.h"

int results_init(struct results *r, const struct tune_config *cfg,
                 const struct price_table *prices)
{
    memset(r, 0, sizeof(*r));
    r->cfg = cfg;
    r->prices = *prices;
    for (int m = 0; m < TUNE_MODE_COUNT; m++) {
        if (cfg->modes & (1u << m))
            r->cols[r->n_cols++] = m;
    }
    r->n_rows = cfg->n_memory;
    if (r->n_rows == 0 || r->n_cols == 0)
        return -1;
    for (int i = 0; i < r->n_rows; i++) {
        struct row *row = &r->rows[i];

        row->memory_mb = cfg->memory_mb[i];
        row->vcpus = throttle_vcpus_for(row->memory_mb);
        row->vcpus_applied = row->vcpus;
    }
    r->cells = calloc((size_t)(r->n_rows * r->n_cols), sizeof(*r->cells));
    if (r->cells == NULL)
        return -1;
    for (int i = 0; i < r->n_rows * r->n_cols; i++)
        r->cells[i].mem_peak_kb = -1;
    return 0;
}

void results_free(struct results *r)
{
    if (r->cells != NULL) {
        for (int i = 0; i < r->n_rows * r->n_cols; i++)
            free(r->cells[i].samples);
    }
    free(r->cells);
    r->cells = NULL;
}

int results_add_sample(struct results *r, int row, int col, double ms,
                       long rss_kb, long mem_peak_kb)
{
    struct cell *c = results_cell(r, row, col);
    double *s = realloc(c->samples, sizeof(*s) * (size_t)(c->n + 1));

    if (s == NULL)
        return -1;
    c->samples = s;
    c->samples[c->n++] = ms;
    if (rss_kb > c->peak_rss_kb)
        c->peak_rss_kb = rss_kb;
    if (mem_peak_kb > c->mem_peak_kb)
        c->mem_peak_kb = mem_peak_kb;
    return 0;
}

void results_add_failure(struct results *r, int row, int col, const char *why)
{
    struct cell *c = results_cell(r, row, col);

    if (c->failed_runs++ == 0)
        snprintf(c->error, sizeof(c->error), "%s", why);
}

int results_baseline_col(const struct results *r, int col)
{
    enum tune_mode base = tune_mode_is_python(r->cols[col])
                              ? TUNE_MODE_PY_SEQUENTIAL
                              : TUNE_MODE_SEQUENTIAL;

    for (int c = 0; c < r->n_cols; c++) {
        if (r->cols[c] == base)
            return c;
    }
    return -1;
}

double results_balanced_score(double weight, double cost, double max_cost,
                              double time, double max_time)
{
    double c = max_cost > 0 ? cost / max_cost : 0;
    double t = max_time > 0 ? time / max_time : 0;

    return weight * c + (1 - weight) * t;
}

static void cost_cell(struct results *r, struct cell *c, int memory_mb)
{
    const struct tune_config *cfg = r->cfg;
    double *billed = malloc(sizeof(*billed) * (size_t)c->n);
    struct sample_stats bs;

    stats_compute(c->samples, c->n, cfg->discard, &c->st);
    if (billed == NULL)
        return;
    for (int i = 0; i < c->n; i++)
        billed[i] = cost_billed_ms(c->samples[i], cfg->billing_ms);
    stats_compute(billed, c->n, cfg->discard, &bs);
    free(billed);
    c->billed_ms = bs.trimmed_mean;
    c->gb_s = cost_gb_seconds(memory_mb, c->billed_ms);
    for (int a = 0; a < COST_ARCH_COUNT; a++)
        c->usd[a] = cost_usd(&r->prices, a, memory_mb, c->billed_ms);
}

/* Is (cost, time) better than the best so far for `key` 0 cost, 1 time? */
static bool better(double key, double tie, double best_key, double best_tie)
{
    return key < best_key || (key == best_key && tie < best_tie);
}

static void pick_best(struct results *r)
{
    double max_cost = 0, max_time = 0;
    double best[3][2] = { { DBL_MAX, DBL_MAX },
                          { DBL_MAX, DBL_MAX },
                          { DBL_MAX, DBL_MAX } };
    struct pick *picks[3] = { &r->cheapest, &r->fastest, &r->balanced };

    for (int i = 0; i < 3; i++)
        *picks[i] = (struct pick){ -1, -1 };
    for (int i = 0; i < r->n_rows * r->n_cols; i++) {
        if (r->cells[i].valid) {
            if (r->cells[i].usd[COST_X86_64] > max_cost)
                max_cost = r->cells[i].usd[COST_X86_64];
            if (r->cells[i].st.trimmed_mean > max_time)
                max_time = r->cells[i].st.trimmed_mean;
        }
    }
    for (int row = 0; row < r->n_rows; row++) {
        for (int col = 0; col < r->n_cols; col++) {
            const struct cell *c = results_cell(r, row, col);
            double cost = c->usd[COST_X86_64], t = c->st.trimmed_mean;
            double key[3] = { cost, t,
                              results_balanced_score(r->cfg->balanced_weight,
                                                     cost, max_cost, t,
                                                     max_time) };
            double tie[3] = { t, cost, t };

            if (!c->valid)
                continue;
            for (int k = 0; k < 3; k++) {
                if (better(key[k], tie[k], best[k][0], best[k][1])) {
                    best[k][0] = key[k];
                    best[k][1] = tie[k];
                    *picks[k] = (struct pick){ row, col };
                }
            }
        }
    }
}

void results_finish(struct results *r)
{
    for (int row = 0; row < r->n_rows; row++) {
        for (int col = 0; col < r->n_cols; col++) {
            struct cell *c = results_cell(r, row, col);

            c->valid = c->n > 0 && c->failed_runs == 0;
            if (c->n > 0)
                cost_cell(r, c, r->rows[row].memory_mb);
        }
    }
    pick_best(r);
}

/*
 * Report writers. The table follows seed 000's shape (rows: memory
 * settings; columns: modes; milliseconds), then speedup against the
 * sequential column of the same language, peak RSS, cost per million
 * invocations for both architectures, footnotes (capped vCPUs, failures,
 * throttling, prices) and the recommendation. CSV has one row per cell with
 * every figure; JSON (jansson) has the same plus the run's settings.
 */
#include <jansson.h>
#include <string.h>

#include "report.h"

void report_workload(const struct tune_config *cfg, char *out, size_t len)
{
    const char *s = cfg->tasks == 1 ? "" : "s";

    switch (cfg->workload) {
    case TUNE_WL_IO_DELAY:
        snprintf(out, len, "%d task%s, each GET /delay/%d on a loopback server",
                 cfg->tasks, s, cfg->delay_ms);
        break;
    case TUNE_WL_URL:
        snprintf(out, len, "%d task%s, each GET %s", cfg->tasks, s, cfg->url);
        break;
    case TUNE_WL_SLEEP:
        snprintf(out, len, "%d task%s, each sleeping %d ms", cfg->tasks, s,
                 cfg->delay_ms);
        break;
    case TUNE_WL_CPU:
        snprintf(out, len, "%d task%s, each %.4g ms of CPU", cfg->tasks, s,
                 cfg->cpu_ms);
        break;
    }
}

static int col_width(const struct results *r, int col)
{
    int w = (int)strlen(tune_mode_info(r->cols[col])->name);

    return w < 9 ? 9 : w;
}

static void print_header(FILE *f, const struct results *r, const char *title)
{
    fprintf(f, "\n%s\n%-9s %6s", title, "memory", "vCPU");
    for (int c = 0; c < r->n_cols; c++)
        fprintf(f, "  %*s", col_width(r, c), tune_mode_info(r->cols[c])->name);
    fputc('\n', f);
}

static void print_row_head(FILE *f, const struct row *row)
{
    char mem[16];

    snprintf(mem, sizeof(mem), "%d MB", row->memory_mb);
    fprintf(f, "%-9s %5.2f%c", mem, row->vcpus_applied,
            row->capped ? '*' : ' ');
}

enum figure {
    FIG_TIME,
    FIG_SPEEDUP,
    FIG_RSS,
    FIG_MEM_PEAK,
    FIG_COST_X86,
    FIG_COST_ARM
};

/* The figure for one cell, or false when there is none. */
static bool cell_figure(const struct results *r, int row, int col,
                        enum figure fig, double *v)
{
    struct results *rw = (struct results *)r;
    const struct cell *c = results_cell(rw, row, col);
    int base;

    if (c->n == 0)
        return false;
    switch (fig) {
    case FIG_TIME:
        *v = c->st.trimmed_mean;
        return true;
    case FIG_SPEEDUP:
        base = results_baseline_col(r, col);
        if (base < 0 || results_cell(rw, row, base)->n == 0 ||
            c->st.trimmed_mean <= 0)
            return false;
        *v = results_cell(rw, row, base)->st.trimmed_mean / c->st.trimmed_mean;
        return true;
    case FIG_RSS:
        *v = c->peak_rss_kb / 1024.0;
        return true;
    case FIG_MEM_PEAK:
        *v = c->mem_peak_kb / 1024.0;
        return c->mem_peak_kb >= 0;
    case FIG_COST_X86:
        *v = c->usd[COST_X86_64] * 1e6;
        return true;
    case FIG_COST_ARM:
        *v = c->usd[COST_ARM64] * 1e6;
        return true;
    }
    return false;
}

static void print_section(FILE *f, const struct results *r, const char *title,
                          enum figure fig, const char *fmt)
{
    print_header(f, r, title);
    for (int row = 0; row < r->n_rows; row++) {
        print_row_head(f, &r->rows[row]);
        for (int col = 0; col < r->n_cols; col++) {
            const struct cell *c = &r->cells[row * r->n_cols + col];
            char text[32];
            double v;

            if (cell_figure(r, row, col, fig, &v))
                snprintf(text, sizeof(text), fmt, v);
            else
                snprintf(text, sizeof(text), "%s", c->n ? "-" : "failed");
            if (c->failed_runs > 0 && c->n > 0)
                strncat(text, "!", sizeof(text) - strlen(text) - 1);
            fprintf(f, "  %*s", col_width(r, col), text);
        }
        fputc('\n', f);
    }
}

static void print_pick(FILE *f, const struct results *r, const char *what,
                       struct pick p)
{
    struct results *rw = (struct results *)r;
    const struct cell *c;

    if (p.row < 0) {
        fprintf(f, "  %-9s none (no cell succeeded in every run)\n", what);
        return;
    }
    c = results_cell(rw, p.row, p.col);
    fprintf(f, "  %-9s %d MB %s: %.1f ms, $%.4f per 1M x86_64, $%.4f arm64\n",
            what, r->rows[p.row].memory_mb,
            tune_mode_info(r->cols[p.col])->name, c->st.trimmed_mean,
            c->usd[COST_X86_64] * 1e6, c->usd[COST_ARM64] * 1e6);
}

static void print_footnotes(FILE *f, const struct results *r)
{
    bool capped = false;

    fputc('\n', f);
    for (int row = 0; row < r->n_rows; row++) {
        const struct row *w = &r->rows[row];

        if (w->capped && !capped)
            fprintf(f, "* vCPU capped at this machine's %.0f CPUs",
                    w->vcpus_applied);
        if (w->capped)
            fprintf(f, "%s %d MB would get %.2f", capped ? "," : ";",
                    w->memory_mb, w->vcpus);
        capped = capped || w->capped;
    }
    if (capped)
        fputs(" on Lambda\n", f);
    for (int i = 0; i < r->n_rows * r->n_cols; i++) {
        const struct cell *c = &r->cells[i];

        if (c->failed_runs > 0)
            fprintf(f, "! %d MB %s: %d of %d runs failed: %s\n",
                    r->rows[i / r->n_cols].memory_mb,
                    tune_mode_info(r->cols[i % r->n_cols])->name,
                    c->failed_runs, c->failed_runs + c->n, c->error);
    }
    for (int row = 0; row < r->n_rows; row++) {
        if (r->rows[row].note[0] != '\0')
            fprintf(f, "note: %d MB: %s\n", r->rows[row].memory_mb,
                    r->rows[row].note);
    }
}

static bool any_mem_peak(const struct results *r)
{
    for (int i = 0; i < r->n_rows * r->n_cols; i++) {
        if (r->cells[i].mem_peak_kb >= 0)
            return true;
    }
    return false;
}

void report_table(FILE *f, const struct results *r)
{
    const struct tune_config *cfg = r->cfg;
    char wl[512];

    report_workload(cfg, wl, sizeof(wl));
    fprintf(f, "lp-tune: %s; %d run%s per cell\n", wl, cfg->reps,
            cfg->reps == 1 ? "" : "s");
    fprintf(f, "throttle: %s\n", r->throttle_note);
    fprintf(f, "invocations: %s\n",
            cfg->cold ? "cold (each run times the first invocation in a "
                        "fresh process)"
                      : "warm (each run follows an untimed invocation with "
                        "no delay in the same process; --cold for the first)");
    print_section(f, r, "Time (ms, trimmed mean)", FIG_TIME, "%.1f");
    print_section(f, r, "Speedup vs sequential (same language)", FIG_SPEEDUP,
                  "%.2fx");
    print_section(f, r, "Peak RSS (MB, largest process)", FIG_RSS, "%.1f");
    if (any_mem_peak(r))
        print_section(f, r,
                      "Memory the handler added (MB, memory cgroup peak "
                      "after start-up, children included)",
                      FIG_MEM_PEAK, "%.1f");
    print_section(f, r, "Cost per 1M invocations, x86_64 (USD)", FIG_COST_X86,
                  "%.4f");
    print_section(f, r, "Cost per 1M invocations, arm64 (USD)", FIG_COST_ARM,
                  "%.4f");
    print_footnotes(f, r);
    fprintf(f,
            "prices: %s, %s; $%.10g/GB-s x86_64, $%.10g/GB-s arm64, "
            "$%.2f per 1M requests (included); billed in %d ms units\n",
            r->prices.source, r->prices.date, r->prices.gb_second[COST_X86_64],
            r->prices.gb_second[COST_ARM64], r->prices.request * 1e6,
            cfg->billing_ms);
    fprintf(f,
            "trimmed mean drops %.0f%% of runs at each end (Power "
            "Tuning's discardTopBottom)\n",
            cfg->discard * 100);
    fputs("\nRecommendation (x86_64 prices):\n", f);
    print_pick(f, r, "cheapest", r->cheapest);
    print_pick(f, r, "fastest", r->fastest);
    fprintf(f, "  balanced (weight %.2f on cost):\n", cfg->balanced_weight);
    print_pick(f, r, "", r->balanced);
}

void report_csv(FILE *f, const struct results *r)
{
    struct results *rw = (struct results *)r;

    fputs("memory_mb,vcpus,vcpus_applied,capped,throttled,mode,language,"
          "runs,failed_runs,min_ms,median_ms,max_ms,trimmed_mean_ms,"
          "speedup,peak_rss_kb,handler_mem_kb,billed_ms,gb_s,usd_x86_64,"
          "usd_arm64,"
          "usd_per_million_x86_64,usd_per_million_arm64\n",
          f);
    for (int row = 0; row < r->n_rows; row++) {
        const struct row *w = &r->rows[row];

        for (int col = 0; col < r->n_cols; col++) {
            const struct cell *c = results_cell(rw, row, col);
            double speedup = 0;

            cell_figure(r, row, col, FIG_SPEEDUP, &speedup);
            fprintf(f, "%d,%.4f,%.4f,%d,%d,%s,%s,%d,%d,", w->memory_mb,
                    w->vcpus, w->vcpus_applied, w->capped, w->throttled,
                    tune_mode_info(r->cols[col])->name,
                    tune_mode_is_python(r->cols[col]) ? "python" : "c", c->n,
                    c->failed_runs);
            if (c->n == 0) {
                fputs(",,,,,,,,,,,,\n", f); /* the 13 figures, empty */
                continue;
            }
            fprintf(f,
                    "%.3f,%.3f,%.3f,%.3f,%.3f,%ld,%ld,%.0f,%.9g,%.6g,%.6g,"
                    "%.6g,%.6g\n",
                    c->st.min, c->st.median, c->st.max, c->st.trimmed_mean,
                    speedup, c->peak_rss_kb, c->mem_peak_kb, c->billed_ms,
                    c->gb_s, c->usd[COST_X86_64], c->usd[COST_ARM64],
                    c->usd[COST_X86_64] * 1e6, c->usd[COST_ARM64] * 1e6);
        }
    }
}

static json_t *pick_json(const struct results *r, struct pick p)
{
    if (p.row < 0)
        return json_null();
    return json_pack("{s:i,s:s}", "memory_mb", r->rows[p.row].memory_mb, "mode",
                     tune_mode_info(r->cols[p.col])->name);
}

static json_t *cell_json(const struct results *r, int row, int col)
{
    const struct cell *c = &r->cells[row * r->n_cols + col];
    json_t *o = json_pack("{s:s,s:s,s:i,s:i}", "mode",
                          tune_mode_info(r->cols[col])->name, "language",
                          tune_mode_is_python(r->cols[col]) ? "python" : "c",
                          "runs", c->n, "failed_runs", c->failed_runs);
    json_t *samples = json_array();
    double speedup;

    for (int i = 0; i < c->n; i++)
        json_array_append_new(samples, json_real(c->samples[i]));
    json_object_set_new(o, "samples_ms", samples);
    if (c->failed_runs > 0)
        json_object_set_new(o, "error", json_string(c->error));
    if (c->n == 0)
        return o;
    json_object_set_new(o, "ms",
                        json_pack("{s:f,s:f,s:f,s:f}", "min", c->st.min,
                                  "median", c->st.median, "max", c->st.max,
                                  "trimmed_mean", c->st.trimmed_mean));
    if (cell_figure(r, row, col, FIG_SPEEDUP, &speedup))
        json_object_set_new(o, "speedup", json_real(speedup));
    json_object_set_new(o, "peak_rss_kb", json_integer(c->peak_rss_kb));
    if (c->mem_peak_kb >= 0)
        json_object_set_new(o, "handler_mem_kb", json_integer(c->mem_peak_kb));
    json_object_set_new(o, "cost",
                        json_pack("{s:f,s:f,s:f,s:f}", "billed_ms",
                                  c->billed_ms, "gb_s", c->gb_s, "usd_x86_64",
                                  c->usd[COST_X86_64], "usd_arm64",
                                  c->usd[COST_ARM64]));
    return o;
}

int report_json(FILE *f, const struct results *r)
{
    const struct tune_config *cfg = r->cfg;
    json_t *rows = json_array(), *root;
    char wl[512];
    int rc;

    report_workload(cfg, wl, sizeof(wl));
    for (int row = 0; row < r->n_rows; row++) {
        const struct row *w = &r->rows[row];
        json_t *cells = json_array();

        for (int col = 0; col < r->n_cols; col++)
            json_array_append_new(cells, cell_json(r, row, col));
        json_array_append_new(
            rows, json_pack("{s:i,s:f,s:f,s:b,s:b,s:b,s:s,s:o}", "memory_mb",
                            w->memory_mb, "vcpus", w->vcpus, "vcpus_applied",
                            w->vcpus_applied, "capped", w->capped, "throttled",
                            w->throttled, "memory_limited", w->mem_limited,
                            "note", w->note, "cells", cells));
    }
    root = json_pack(
        "{s:s,s:i,s:i,s:b,s:f,s:i,s:s,s:b,s:{s:s,s:s,s:s,s:f,s:f,s:f},s:o,"
        "s:{s:o,s:o,s:o,s:f}}",
        "workload", wl, "tasks", cfg->tasks, "reps", cfg->reps, "warm",
        !cfg->cold, "discard", cfg->discard, "billing_granularity_ms",
        cfg->billing_ms, "throttle", r->throttle_note, "throttled",
        r->throttled, "prices", "source", r->prices.source, "date",
        r->prices.date, "region", r->prices.region, "x86_64_gb_second",
        r->prices.gb_second[COST_X86_64], "arm64_gb_second",
        r->prices.gb_second[COST_ARM64], "request", r->prices.request, "rows",
        rows, "recommendation", "cheapest", pick_json(r, r->cheapest),
        "fastest", pick_json(r, r->fastest), "balanced",
        pick_json(r, r->balanced), "balanced_weight", cfg->balanced_weight);
    if (root == NULL)
        return -1;
    rc = json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', f);
    json_decref(root);
    return rc;
}

/*
 * lp-tune's arithmetic against hand-computed cases: billed duration at 1 ms
 * and 100 ms granularity, GB-s, USD per invocation from the us-east-1 price
 * list (lambda-facts.md section 3), Power Tuning's trimmed mean and balanced
 * score, the recommendation, and the price file; and the chart's styles.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cost.h"
#include "lp-test.h"
#include "plot.h"
#include "report.h"
#include "results.h"
#include "stats.h"
#include <jansson.h>

#define ASSERT_NEAR(a, b, rel)                                              \
    do {                                                                    \
        double a_ = (a), b_ = (b);                                          \
        if (!(fabs(a_ - b_) <= (rel)*fabs(b_)))                             \
            LP_TEST_FAIL("ASSERT_NEAR(%s, %s): %.12g vs %.12g", #a, #b, a_, \
                         b_);                                               \
    } while (0)

TEST(billed_duration)
{
    ASSERT_NEAR(cost_billed_ms(100.2, 1), 101, 1e-12);
    ASSERT_NEAR(cost_billed_ms(100.0, 1), 100, 1e-12);
    ASSERT_NEAR(cost_billed_ms(0.3, 1), 1, 1e-12);
    ASSERT_NEAR(cost_billed_ms(0, 1), 1, 1e-12);
    /* Before December 2020: rounded up to 100 ms. */
    ASSERT_NEAR(cost_billed_ms(100.2, 100), 200, 1e-12);
    ASSERT_NEAR(cost_billed_ms(1, 100), 100, 1e-12);
    ASSERT_NEAR(cost_billed_ms(250, 100), 300, 1e-12);
    ASSERT_NEAR(cost_billed_ms(300, 100), 300, 1e-12);
}

TEST(gb_seconds)
{
    /* lambda-facts.md: per 100 ms billed, 128 MB is 0.0125 GB-s, 512 MB
     * 0.05, 1024 MB 0.1, 2048 MB 0.2. */
    ASSERT_NEAR(cost_gb_seconds(128, 100), 0.0125, 1e-12);
    ASSERT_NEAR(cost_gb_seconds(512, 100), 0.05, 1e-12);
    ASSERT_NEAR(cost_gb_seconds(1024, 100), 0.1, 1e-12);
    ASSERT_NEAR(cost_gb_seconds(2048, 100), 0.2, 1e-12);
    ASSERT_NEAR(cost_gb_seconds(10240, 1000), 10, 1e-12);
}

TEST(usd_per_invocation)
{
    struct price_table p;

    cost_default_prices(&p);
    /* 128 MB, 100 ms, x86_64: 0.0125 GB-s * $0.0000166667 = $2.0833375e-7
     * plus $0.20 per 1M requests = $2e-7. */
    ASSERT_NEAR(cost_usd(&p, COST_X86_64, 128, 100), 4.0833375e-7, 1e-9);
    /* 1024 MB, 100 ms: 0.1 * 0.0000166667 + 2e-7 = 1.86667e-6. */
    ASSERT_NEAR(cost_usd(&p, COST_X86_64, 1024, 100), 1.86667e-6, 1e-9);
    /* arm64, 2048 MB, 1 s: 2 GB-s * 0.0000133334 + 2e-7 = 2.68668e-5. */
    ASSERT_NEAR(cost_usd(&p, COST_ARM64, 2048, 1000), 2.68668e-5, 1e-9);
    /* Power Tuning's base cost, x86_64: $2.1e-9 per ms at 128 MB (its
     * figure is rounded to two digits: within 1 %). */
    ASSERT_NEAR(cost_usd(&p, COST_X86_64, 128, 1) - p.request, 2.1e-9, 0.01);
    ASSERT_NEAR(cost_usd(&p, COST_ARM64, 128, 1) - p.request, 1.7e-9, 0.02);
}

TEST(stats_trimmed_mean)
{
    double five[] = { 5, 1, 3, 2, 4 };
    double outlier[] = { 1, 2, 3, 4, 100 };
    double four[] = { 4, 1, 3, 2 };
    double ten[] = { 10, 9, 8, 7, 6, 5, 4, 3, 2, 1000 };
    struct sample_stats s;

    stats_compute(five, 5, 0.2, &s);
    ASSERT_EQ(s.n, 5);
    ASSERT_NEAR(s.min, 1, 0);
    ASSERT_NEAR(s.max, 5, 0);
    ASSERT_NEAR(s.median, 3, 0);
    ASSERT_NEAR(s.trimmed_mean, 3, 1e-12);
    ASSERT_NEAR(five[0], 5, 0); /* input untouched */
    stats_compute(outlier, 5, 0.2, &s);
    ASSERT_NEAR(s.trimmed_mean, 3, 1e-12);
    stats_compute(outlier, 5, 0, &s);
    ASSERT_NEAR(s.trimmed_mean, 22, 1e-12);
    /* floor(4 * 0.2) = 0: nothing dropped. */
    stats_compute(four, 4, 0.2, &s);
    ASSERT_NEAR(s.median, 2.5, 0);
    ASSERT_NEAR(s.trimmed_mean, 2.5, 1e-12);
    /* Sorted 2..10, 1000; floor(10 * 0.2) = 2 dropped at each end: mean of
     * 4..9 = 6.5. */
    stats_compute(ten, 10, 0.2, &s);
    ASSERT_NEAR(s.trimmed_mean, 6.5, 1e-12);
}

TEST(balanced_score)
{
    ASSERT_NEAR(results_balanced_score(0.5, 1, 2, 3, 3), 0.75, 1e-12);
    ASSERT_NEAR(results_balanced_score(1, 1, 4, 9, 9), 0.25, 1e-12);
    ASSERT_NEAR(results_balanced_score(0, 1, 4, 3, 6), 0.5, 1e-12);
}

/* Two memory settings x two modes, one sample each. */
static void fill(struct results *r, struct tune_config *cfg,
                 const double ms[2][2])
{
    struct price_table p;

    tune_config_defaults(cfg);
    cfg->n_memory = 2;
    cfg->memory_mb[0] = 128;
    cfg->memory_mb[1] = 2048;
    cfg->modes = 1u << TUNE_MODE_SEQUENTIAL | 1u << TUNE_MODE_THREADS;
    cfg->discard = 0;
    cost_default_prices(&p);
    ASSERT_EQ(results_init(r, cfg, &p), 0);
    for (int row = 0; row < 2; row++) {
        for (int col = 0; col < 2; col++)
            ASSERT_EQ(results_add_sample(r, row, col, ms[row][col], 1000, -1),
                      0);
    }
    results_finish(r);
}

TEST(recommendation)
{
    /* 128 MB: 600 / 200 ms; 2048 MB: 590 / 150 ms. */
    const double ms[2][2] = { { 600, 200 }, { 590, 150 } };
    struct tune_config cfg;
    struct results r;

    fill(&r, &cfg, ms);
    ASSERT_EQ(r.cheapest.row, 0);
    ASSERT_EQ(r.cheapest.col, 1);
    ASSERT_EQ(r.fastest.row, 1);
    ASSERT_EQ(r.fastest.col, 1);
    /* Costs: 128/200 ~ 0.616e-6, 2048/590 ~ 19.9e-6 (max), 2048/150 ~
     * 5.2e-6; balanced at 0.5 picks 128 MB threads. */
    ASSERT_EQ(r.balanced.row, 0);
    ASSERT_EQ(r.balanced.col, 1);
    ASSERT_NEAR(results_cell(&r, 0, 1)->billed_ms, 200, 0);
    ASSERT_NEAR(results_cell(&r, 0, 1)->gb_s, 0.025, 1e-12);
    ASSERT_EQ(results_baseline_col(&r, 1), 0);
    results_free(&r);

    /* With all weight on time, balanced = fastest. */
    fill(&r, &cfg, ms);
    cfg.balanced_weight = 0;
    results_finish(&r);
    ASSERT_EQ(r.balanced.row, 1);
    ASSERT_EQ(r.balanced.col, 1);
    results_free(&r);
}

TEST(failed_cell_is_never_picked)
{
    const double ms[2][2] = { { 600, 200 }, { 590, 150 } };
    struct tune_config cfg;
    struct results r;

    fill(&r, &cfg, ms);
    results_add_failure(&r, 0, 1, "boom");
    results_finish(&r);
    ASSERT_FALSE(results_cell(&r, 0, 1)->valid);
    ASSERT_FALSE(r.cheapest.row == 0 && r.cheapest.col == 1);
    ASSERT_STR_EQ(results_cell(&r, 0, 1)->error, "boom");
    results_free(&r);
}

static const char *write_temp(const char *text)
{
    static char path[64];
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/lptune-prices.%d", (int)getpid());
    f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
    return path;
}

TEST(price_file)
{
    struct price_table def, p;
    const char *shipped = getenv("LP_TUNE_PRICES");
    char err[256];

    cost_default_prices(&def);
    /* The shipped prices.conf says exactly what the built-in table says. */
    ASSERT_TRUE(shipped != NULL);
    cost_default_prices(&p);
    p.gb_second[COST_X86_64] = p.request = 0;
    ASSERT_EQ(cost_load_prices(shipped, &p, err, sizeof(err)), 0);
    ASSERT_NEAR(p.gb_second[COST_X86_64], def.gb_second[COST_X86_64], 0);
    ASSERT_NEAR(p.gb_second[COST_ARM64], def.gb_second[COST_ARM64], 0);
    ASSERT_NEAR(p.request, def.request, 0);
    ASSERT_STR_EQ(p.source, def.source);
    ASSERT_STR_EQ(p.date, def.date);

    /* An override changes only what it names. */
    cost_default_prices(&p);
    ASSERT_EQ(cost_load_prices(write_temp("# eu\nregion = eu-west-1\n"
                                          "x86_64_gb_second = 0.00002 \n"),
                               &p, err, sizeof(err)),
              0);
    ASSERT_STR_EQ(p.region, "eu-west-1");
    ASSERT_NEAR(p.gb_second[COST_X86_64], 0.00002, 0);
    ASSERT_NEAR(p.gb_second[COST_ARM64], def.gb_second[COST_ARM64], 0);

    ASSERT_EQ(cost_load_prices(write_temp("bogus = 1\n"), &p, err, sizeof(err)),
              -1);
    ASSERT_TRUE(strstr(err, "unknown key 'bogus'") != NULL);
    ASSERT_EQ(
        cost_load_prices(write_temp("request = cheap\n"), &p, err, sizeof(err)),
        -1);
    ASSERT_TRUE(strstr(err, ":1:") != NULL);
    ASSERT_EQ(
        cost_load_prices(write_temp("no equals sign\n"), &p, err, sizeof(err)),
        -1);
    unlink(write_temp(""));
    ASSERT_EQ(cost_load_prices("/nonexistent/prices", &p, err, sizeof(err)),
              -1);
}

/* The style part (" lc rgb ... pt N") of the plot line titled `title`. */
static void style_of(const char *script, const char *title, char *out,
                     size_t len)
{
    char quoted[64];
    const char *end, *start;

    snprintf(quoted, sizeof(quoted), " title \"%s\"", title);
    end = strstr(script, quoted);
    ASSERT_TRUE(end != NULL);
    for (start = end; start > script && strncmp(start, " lc ", 4) != 0;)
        start--;
    ASSERT_TRUE(end - start < (long)len);
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
}

/*
 * A Python mode is drawn in its C counterpart's colour, dashed with hollow
 * points; other modes get other colours; both panels are log-log.
 */
TEST(plot_styles_pair_c_and_python)
{
    struct results r = { .n_cols = 4 };
    char threads[128], py_threads[128], seq[128], py_seq[128];
    char *script = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&script, &len);

    r.cols[0] = TUNE_MODE_THREADS;
    r.cols[1] = TUNE_MODE_PY_THREADS;
    r.cols[2] = TUNE_MODE_SEQUENTIAL;
    r.cols[3] = TUNE_MODE_PY_SEQUENTIAL;
    ASSERT_TRUE(f != NULL);
    plot_script(f, &r, "out.png", "data");
    ASSERT_EQ(0, fclose(f));
    style_of(script, "threads", threads, sizeof(threads));
    style_of(script, "py-threads", py_threads, sizeof(py_threads));
    style_of(script, "sequential", seq, sizeof(seq));
    style_of(script, "py-sequential", py_seq, sizeof(py_seq));
    /* " lc rgb \"#RRGGBB\"" is 17 characters, then dash and point. */
    ASSERT_EQ(0, strncmp(threads, py_threads, 17));
    ASSERT_EQ(0, strncmp(seq, py_seq, 17));
    ASSERT_NE(0, strncmp(threads, seq, 17));
    ASSERT_STR_EQ(" dt 1 pt 7", threads + 17);
    ASSERT_STR_EQ(" dt 2 pt 6", py_threads + 17);
    ASSERT_STR_EQ(" dt 1 pt 7", seq + 17);
    ASSERT_STR_EQ(" dt 2 pt 6", py_seq + 17);
    ASSERT_TRUE(strstr(script, "set logscale x 2\nset logscale y\n") != NULL);
    ASSERT_TRUE(strstr(script, "yrange") == NULL);
    free(script);
}

/* Power Tuning drops floor(n * discardTopBottom) at each end: with 3 runs
 * and 0.2 (0.6) nothing is dropped; with 7 (1.4) one is. */
TEST(stats_discard_rounds_down)
{
    double three[] = { 1, 2, 9 };
    double seven[] = { 1, 2, 3, 4, 5, 6, 100 };
    struct sample_stats s;

    stats_compute(three, 3, 0.2, &s);
    ASSERT_NEAR(s.trimmed_mean, 4, 1e-12);
    stats_compute(seven, 7, 0.2, &s);
    ASSERT_NEAR(s.trimmed_mean, 4, 1e-12); /* mean of 2..6 */
}

/* A price outside 0..1 USD is refused, as the message promises. */
TEST(price_file_range)
{
    struct price_table p;
    char err[256];

    cost_default_prices(&p);
    ASSERT_EQ(cost_load_prices(write_temp("request = -0.0000002\n"), &p, err,
                               sizeof(err)),
              -1);
    ASSERT_TRUE(strstr(err, "(0..1)") != NULL);
    ASSERT_EQ(cost_load_prices(write_temp("x86_64_gb_second = 2\n"), &p, err,
                               sizeof(err)),
              -1);
    unlink(write_temp(""));
    ASSERT_NEAR(p.request, 0.0000002, 0);
    ASSERT_NEAR(p.gb_second[COST_X86_64], 0.0000166667, 0);
}

/* One memory setting, sequential and threads, three runs each. */
static void fill3(struct results *r, struct tune_config *cfg, int billing_ms,
                  const double seq[3], const double thr[3])
{
    struct price_table p;

    tune_config_defaults(cfg);
    cfg->n_memory = 1;
    cfg->memory_mb[0] = 1024;
    cfg->modes = 1u << TUNE_MODE_SEQUENTIAL | 1u << TUNE_MODE_THREADS;
    cfg->discard = 0;
    cfg->billing_ms = billing_ms;
    cost_default_prices(&p);
    ASSERT_EQ(results_init(r, cfg, &p), 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(results_add_sample(r, 0, 0, seq[i], 1000, -1), 0);
        ASSERT_EQ(results_add_sample(r, 0, 1, thr[i], 1000, -1), 0);
    }
    results_finish(r);
}

/* Each run is billed (rounded up) on its own and the cell bills their
 * mean, as Power Tuning does: 10, 20, 150 ms in 100 ms units bill 100,
 * 100, 200 = 133.3 on average, not ceil(mean 60 ms) = 100. */
TEST(each_run_billed_before_the_mean)
{
    const double seq[3] = { 10, 20, 150 }, thr[3] = { 10, 10, 10 };
    struct tune_config cfg;
    struct results r;

    fill3(&r, &cfg, 100, seq, thr);
    ASSERT_NEAR(results_cell(&r, 0, 0)->billed_ms, 400 / 3.0, 1e-9);
    ASSERT_NEAR(results_cell(&r, 0, 1)->billed_ms, 100, 1e-12);
    results_free(&r);
}

/* Index of column `name` in the CSV header fields. */
static int csv_index(char **head, int n, const char *name)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(head[i], name) == 0)
            return i;
    }
    LP_TEST_FAIL("no CSV column %s", name);
}

/* The CSV columns hold what their header names. */
TEST(csv_columns)
{
    const double seq[3] = { 900, 300, 600 }, thr[3] = { 100, 300, 200 };
    struct tune_config cfg;
    struct results r;
    char *text = NULL, *line, *save = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    char *head[32], *row[32];
    int nh = 0, nr = 0;

    ASSERT_TRUE(f != NULL);
    fill3(&r, &cfg, 1, seq, thr);
    report_csv(f, &r);
    ASSERT_EQ(fclose(f), 0);
    line = strtok_r(text, "\n", &save);
    for (char *s = line, *t; (t = strsep(&s, ",")) != NULL && nh < 32;)
        head[nh++] = t;
    strtok_r(NULL, "\n", &save); /* sequential */
    line = strtok_r(NULL, "\n", &save);
    ASSERT_TRUE(line != NULL);
    for (char *s = line, *t; (t = strsep(&s, ",")) != NULL && nr < 32;)
        row[nr++] = t;
    ASSERT_EQ(nr, nh);
#define COL(name) (strtod(row[csv_index(head, nh, name)], NULL))
    ASSERT_STR_EQ(row[csv_index(head, nh, "mode")], "threads");
    ASSERT_NEAR(COL("min_ms"), 100, 0);
    ASSERT_NEAR(COL("median_ms"), 200, 0);
    ASSERT_NEAR(COL("max_ms"), 300, 0);
    ASSERT_NEAR(COL("trimmed_mean_ms"), 200, 1e-9);
    /* sequential 600 ms / threads 200 ms */
    ASSERT_NEAR(COL("speedup"), 3, 1e-9);
    ASSERT_NEAR(COL("billed_ms"), 200, 0);
    ASSERT_NEAR(COL("gb_s"), 0.2, 1e-9);
    ASSERT_NEAR(COL("usd_x86_64"), 0.2 * 0.0000166667 + 2e-7, 1e-5);
    ASSERT_NEAR(COL("usd_arm64"), 0.2 * 0.0000133334 + 2e-7, 1e-5);
#undef COL
    free(text);
    results_free(&r);
}

/* The JSON cost object: x86_64 and arm64 figures under their names. */
TEST(json_cost_fields)
{
    const double seq[3] = { 900, 300, 600 }, thr[3] = { 100, 300, 200 };
    struct tune_config cfg;
    struct results r;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    json_error_t jerr;
    json_t *root, *cell, *cost;

    ASSERT_TRUE(f != NULL);
    fill3(&r, &cfg, 1, seq, thr);
    ASSERT_EQ(report_json(f, &r), 0);
    ASSERT_EQ(fclose(f), 0);
    root = json_loads(text, 0, &jerr);
    ASSERT_TRUE(root != NULL);
    cell = json_array_get(
        json_object_get(json_array_get(json_object_get(root, "rows"), 0),
                        "cells"),
        1);
    cost = json_object_get(cell, "cost");
    ASSERT_NEAR(json_real_value(json_object_get(cost, "usd_x86_64")),
                0.2 * 0.0000166667 + 2e-7, 1e-5);
    ASSERT_NEAR(json_real_value(json_object_get(cost, "usd_arm64")),
                0.2 * 0.0000133334 + 2e-7, 1e-5);
    ASSERT_NEAR(json_real_value(json_object_get(cell, "speedup")), 3, 1e-9);
    json_decref(root);
    free(text);
    results_free(&r);
}

static int fields(const char *line)
{
    int n = 1;

    for (; *line != '\0' && *line != '\n'; line++)
        n += *line == ',';
    return n;
}

TEST(csv_failed_cell_has_every_column)
{
    const double ms[2][2] = { { 600, 200 }, { 590, 150 } };
    struct tune_config cfg;
    struct results r;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int want;

    ASSERT_TRUE(f != NULL);
    tune_config_defaults(&cfg);
    cfg.n_memory = 1;
    cfg.memory_mb[0] = 128;
    cfg.modes = 1u << TUNE_MODE_SEQUENTIAL | 1u << TUNE_MODE_THREADS;
    {
        struct price_table p;

        cost_default_prices(&p);
        ASSERT_EQ(results_init(&r, &cfg, &p), 0);
    }
    ASSERT_EQ(results_add_sample(&r, 0, 0, ms[0][0], 1000, -1), 0);
    results_add_failure(&r, 0, 1, "boom"); /* threads: no run succeeded */
    results_finish(&r);
    report_csv(f, &r);
    ASSERT_EQ(fclose(f), 0);
    want = fields(text);
    for (const char *l = strchr(text, '\n'); l != NULL && l[1] != '\0';
         l = strchr(l + 1, '\n'))
        ASSERT_EQ(fields(l + 1), want);
    free(text);
    results_free(&r);
}

LP_TEST_MAIN()

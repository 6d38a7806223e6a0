/* Summary statistics over one cell's repetitions. */
#ifndef LP_TUNE_STATS_H
#define LP_TUNE_STATS_H

struct sample_stats {
    int n;
    double min, max, median;
    double trimmed_mean; /* Power Tuning's: drop floor(n*discard) each end */
};

/*
 * Summarises v[0..n-1] (n >= 1; v is not modified). `discard` is the
 * fraction dropped at each end for the trimmed mean, 0..0.4.
 */
void stats_compute(const double *v, int n, double discard,
                   struct sample_stats *out);

#endif

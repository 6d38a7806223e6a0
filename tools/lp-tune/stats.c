/*
 * Median, extremes and Power Tuning's trimmed mean (analyzer: sort, drop
 * floor(n * discardTopBottom) from each end, average the rest) over a copy
 * of the samples.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

void stats_compute(const double *v, int n, double discard,
                   struct sample_stats *out)
{
    double small[64];
    double *s = n <= 64 ? small : malloc(sizeof(*s) * (size_t)n);
    double sum = 0;
    int drop;

    memset(out, 0, sizeof(*out));
    if (n <= 0 || s == NULL)
        return;
    memcpy(s, v, sizeof(*s) * (size_t)n);
    qsort(s, (size_t)n, sizeof(*s), cmp_double);
    out->n = n;
    out->min = s[0];
    out->max = s[n - 1];
    out->median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    drop = (int)floor(n * discard + 1e-9);
    if (2 * drop >= n)
        drop = (n - 1) / 2;
    for (int i = drop; i < n - drop; i++)
        sum += s[i];
    out->trimmed_mean = sum / (n - 2 * drop);
    if (s != small)
        free(s);
}

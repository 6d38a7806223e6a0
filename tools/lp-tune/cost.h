/*
 * Lambda's price arithmetic: billed duration (rounded up to the billing
 * granularity), GB-seconds and USD per invocation including the request
 * charge, from a price table that names its source and date.
 */
#ifndef LP_TUNE_COST_H
#define LP_TUNE_COST_H

#include <stddef.h>
#include <stdio.h>

enum cost_arch { COST_X86_64, COST_ARM64, COST_ARCH_COUNT };

struct price_table {
    char source[256];
    char date[32];
    char region[32];
    double gb_second[COST_ARCH_COUNT]; /* USD per GB-s */
    double request;                    /* USD per request */
};

/* The built-in table (same values as tools/lp-tune/prices.conf). */
void cost_default_prices(struct price_table *p);

/*
 * Overrides *p with the keys found in `path` (format: prices.conf). Returns
 * 0, or -1 with a message (unreadable file, unknown key, bad number).
 */
int cost_load_prices(const char *path, struct price_table *p, char *err,
                     size_t errlen);

/* cost_load_prices on an open stream; `name` is used in messages. */
int cost_read_prices(FILE *f, const char *name, struct price_table *p,
                     char *err, size_t errlen);

/* duration rounded up to a multiple of granularity_ms (at least one). */
double cost_billed_ms(double duration_ms, int granularity_ms);

/* (MB / 1024) * (billed ms / 1000). */
double cost_gb_seconds(int memory_mb, double billed_ms);

/* USD for one invocation of `billed_ms` at `memory_mb`, request included. */
double cost_usd(const struct price_table *p, enum cost_arch arch, int memory_mb,
                double billed_ms);

/* "x86_64" or "arm64". */
const char *cost_arch_name(enum cost_arch arch);

#endif

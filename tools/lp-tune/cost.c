/*
 * Cost model. Lambda bills (memory in GB) x (duration in s, rounded up to
 * 1 ms since December 2020, to 100 ms before) at a per-GB-s price, plus a
 * per-request charge. AWS Lambda Power Tuning prices the same way
 * (ceil(duration) * baseCost * MB/128) but leaves the request charge out;
 * lp-tune includes it, since for short handlers it dominates.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cost.h"

void cost_default_prices(struct price_table *p)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->source, sizeof(p->source),
             "AWS News blog 1ms billing (2020-12-01); AWS Lambda pricing, "
             "us-east-1, tier 1");
    snprintf(p->date, sizeof(p->date), "2026-11-22");
    snprintf(p->region, sizeof(p->region), "us-east-1");
    p->gb_second[COST_X86_64] = 0.0000166667;
    p->gb_second[COST_ARM64] = 0.0000133334;
    p->request = 0.0000002;
}

const char *cost_arch_name(enum cost_arch arch)
{
    return arch == COST_ARM64 ? "arm64" : "x86_64";
}

double cost_billed_ms(double duration_ms, int granularity_ms)
{
    double units;

    if (granularity_ms < 1)
        granularity_ms = 1;
    /* A hair of tolerance so 100.0000000001 (float noise) bills 100. */
    units = ceil(duration_ms / granularity_ms - 1e-9);
    if (units < 1)
        units = 1;
    return units * granularity_ms;
}

double cost_gb_seconds(int memory_mb, double billed_ms)
{
    return (memory_mb / 1024.0) * (billed_ms / 1000.0);
}

double cost_usd(const struct price_table *p, enum cost_arch arch, int memory_mb,
                double billed_ms)
{
    return cost_gb_seconds(memory_mb, billed_ms) * p->gb_second[arch] +
           p->request;
}

static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' ||
                       end[-1] == '\r'))
        *--end = '\0';
    return s;
}

static int parse_price(const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0) || v > 1)
        return -1;
    *out = v;
    return 0;
}

/* Applies one "key = value"; 0 or -1 with a message. */
static int apply_price(struct price_table *p, const char *key, const char *val,
                       char *err, size_t errlen)
{
    double *num = NULL;

    if (strcmp(key, "source") == 0)
        snprintf(p->source, sizeof(p->source), "%s", val);
    else if (strcmp(key, "date") == 0)
        snprintf(p->date, sizeof(p->date), "%s", val);
    else if (strcmp(key, "region") == 0)
        snprintf(p->region, sizeof(p->region), "%s", val);
    else if (strcmp(key, "x86_64_gb_second") == 0)
        num = &p->gb_second[COST_X86_64];
    else if (strcmp(key, "arm64_gb_second") == 0)
        num = &p->gb_second[COST_ARM64];
    else if (strcmp(key, "request") == 0)
        num = &p->request;
    else {
        snprintf(err, errlen, "unknown key '%s'", key);
        return -1;
    }
    if (num != NULL && parse_price(val, num) != 0) {
        snprintf(err, errlen, "%s: '%s' is not a price in USD (0..1)", key,
                 val);
        return -1;
    }
    return 0;
}

int cost_read_prices(FILE *f, const char *name, struct price_table *p,
                     char *err, size_t errlen)
{
    char line[512], msg[256];
    int lineno = 0;

    while (fgets(line, sizeof(line), f) != NULL) {
        char *hash = strchr(line, '#'), *eq, *key;

        lineno++;
        if (hash != NULL)
            *hash = '\0';
        key = trim(line);
        if (*key == '\0')
            continue;
        eq = strchr(key, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s:%d: expected 'key = value'", name,
                     lineno);
            return -1;
        }
        *eq = '\0';
        if (apply_price(p, trim(key), trim(eq + 1), msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "%s:%d: %s", name, lineno, msg);
            return -1;
        }
    }
    return 0;
}

int cost_load_prices(const char *path, struct price_table *p, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "re");
    int rc;

    if (f == NULL) {
        snprintf(err, errlen, "--prices %s: %s", path, strerror(errno));
        return -1;
    }
    rc = cost_read_prices(f, path, p, err, errlen);
    fclose(f);
    return rc;
}

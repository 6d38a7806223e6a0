/*
 * Fuzz target for lp-tune's parsers of outside bytes: the command line
 * (first byte even: the rest split at '\n' into at most 32 arguments) and
 * the --prices file (first byte odd: the rest is the file). Neither may
 * crash, read out of bounds or leave a half-set result: a rejected command
 * line comes with a message, an accepted one is within the documented
 * ranges.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cost.h"
#include "tune.h"

#define MAX_ARGS 32

static void check(int rc, const struct tune_config *cfg, const char *err)
{
    if (rc < 0 && err[0] == '\0')
        abort();
    if (rc != 0)
        return;
    if (cfg->tasks < 1 || cfg->tasks > TUNE_MAX_TASKS || cfg->reps < 1 ||
        cfg->n_memory < 1 || cfg->modes == 0 || cfg->discard < 0 ||
        cfg->discard > 0.4)
        abort();
    for (int i = 0; i < cfg->n_memory; i++) {
        if (cfg->memory_mb[i] < 128 || cfg->memory_mb[i] > 10240)
            abort();
    }
}

static void fuzz_args(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1), *argv[MAX_ARGS + 2];
    struct tune_config cfg;
    char err[512] = "";
    int argc = 0, rc;

    if (buf == NULL)
        return;
    memcpy(buf, data, size);
    buf[size] = '\0';
    argv[argc++] = "lp-tune";
    for (char *p = buf; p != NULL && argc <= MAX_ARGS;) {
        char *nl = memchr(p, '\n', strlen(p));

        argv[argc++] = p;
        if (nl != NULL)
            *nl = '\0';
        p = nl != NULL ? nl + 1 : NULL;
    }
    argv[argc] = NULL;
    /* --help/--version print to stdout: keep the replay quiet. */
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-h", 2) == 0 || strncmp(argv[i], "--h", 3) == 0 ||
            strncmp(argv[i], "--v", 3) == 0)
            goto out;
    }
    tune_config_defaults(&cfg);
    rc = tune_parse_args(argc, argv, &cfg, err, sizeof(err));
    check(rc, &cfg, err);
out:
    free(buf);
}

static void fuzz_prices(const uint8_t *data, size_t size)
{
    struct price_table p;
    char err[512] = "";
    FILE *f;

    if (size == 0)
        return;
    f = fmemopen((void *)data, size, "r");
    if (f == NULL)
        return;
    cost_default_prices(&p);
    if (cost_read_prices(f, "fuzz", &p, err, sizeof(err)) != 0 &&
        err[0] == '\0')
        abort();
    fclose(f);
    for (int a = 0; a < COST_ARCH_COUNT; a++) {
        if (!(p.gb_second[a] >= 0 && p.gb_second[a] <= 1))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_prices(data + 1, size - 1);
    else
        fuzz_args(data + 1, size - 1);
    return 0;
}

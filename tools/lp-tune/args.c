/*
 * lp-tune's command line: getopt_long into a tune_config, with every value
 * checked for range and every combination checked for sense before anything
 * runs, so a bad flag costs the user one clear line and a non-zero exit.
 * Numbers are parsed whole (strtol/strtod with an end check): "12ms" or ""
 * is an error, never a silent 12 or 0.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tune.h"

static const struct tune_mode_info modes[TUNE_MODE_COUNT] = {
    [TUNE_MODE_SEQUENTIAL] = { "sequential", NULL, "one task after another" },
    [TUNE_MODE_THREADS] = { "threads", NULL,
                            "one pthread per task, then join all" },
    [TUNE_MODE_THREAD_POOL] = { "thread-pool", NULL,
                                "lp_thread_pool_create, submit all, wait" },
    [TUNE_MODE_PROCESSES] = { "processes", NULL,
                              "fork one child per task, waitpid all" },
    [TUNE_MODE_PROCESS_POOL] = { "process-pool", NULL,
                                 "lp_process_pool_create, submit all" },
    [TUNE_MODE_EVENT_LOOP] = { "event-loop", NULL,
                               "lp_http_client: every request on one "
                               "thread (HTTP only)" },
    [TUNE_MODE_PY_SEQUENTIAL] = { "py-sequential", "seed000_sequential.py",
                                  "seed 000's sequential handler" },
    [TUNE_MODE_PY_THREADS] = { "py-threads", "seed000_threading.py",
                               "seed 000's threading.Thread handler" },
    [TUNE_MODE_PY_THREAD_POOL] = { "py-thread-pool", "seed001_thread_pool.py",
                                   "seed 001's ThreadPoolExecutor(4)" },
    [TUNE_MODE_PY_PROCESSES] = { "py-processes", "seed000_multiprocessing.py",
                                 "seed 000's multiprocessing.Process" },
};

const struct tune_mode_info *tune_mode_info(enum tune_mode m)
{
    return &modes[m];
}

bool tune_mode_is_python(enum tune_mode m)
{
    return modes[m].script != NULL;
}

int tune_mode_by_name(const char *name)
{
    for (int m = 0; m < TUNE_MODE_COUNT; m++) {
        if (strcmp(modes[m].name, name) == 0)
            return m;
    }
    return -1;
}

void tune_config_defaults(struct tune_config *cfg)
{
    static const int memory[] = { 128, 512, 1024, 1769, 2048, 3008, 10240 };

    memset(cfg, 0, sizeof(*cfg));
    cfg->workload = TUNE_WL_IO_DELAY;
    cfg->delay_ms = 200;
    cfg->tasks = 3;
    cfg->reps = 5;
    cfg->discard = 0.2;
    cfg->balanced_weight = 0.5;
    for (size_t i = 0; i < sizeof(memory) / sizeof(memory[0]); i++)
        cfg->memory_mb[cfg->n_memory++] = memory[i];
    for (int m = TUNE_MODE_SEQUENTIAL; m <= TUNE_MODE_EVENT_LOOP; m++)
        cfg->modes |= 1u << m;
    cfg->format = TUNE_FMT_TABLE;
    cfg->python_exe = "python3";
    cfg->billing_ms = 1;
    cfg->throttle = true;
    cfg->progress = true;
    cfg->run_timeout_s = 120;
}

void tune_print_help(void *out)
{
    FILE *f = out;

    fputs(
        "Usage: lp-tune [OPTION]...\n"
        "Runs one handler -- N tasks of a workload -- in several concurrency\n"
        "modes at several AWS Lambda memory settings, each run throttled to\n"
        "the CPU share Lambda gives that setting, and reports time, speedup,\n"
        "peak RSS and cost, like AWS Lambda Power Tuning with the\n"
        "concurrency mode as a second axis.\n"
        "\n"
        "Workload (one of; default --io-delay 200):\n"
        "  --io-delay MS        each task GETs /delay/MS from a built-in\n"
        "                       loopback HTTP server that answers after MS ms\n"
        "  --url URL            each task GETs URL (a real endpoint)\n"
        "  --sleep MS           each task sleeps MS ms\n"
        "  --cpu MS             each task burns about MS ms of CPU (measured\n"
        "                       on one unthrottled core)\n"
        "  -n, --tasks N        tasks per invocation, 1..10000 (default 3)\n"
        "\n"
        "Experiment:\n"
        "  -m, --memory LIST    memory settings in MB, 128..10240, comma-"
        "separated\n"
        "                       (default 128,512,1024,1769,2048,3008,10240)\n"
        "  --modes LIST         modes to run, comma-separated, or \"all\"\n"
        "                       (default: every available C mode;\n"
        "                       event-loop only for HTTP workloads)\n"
        "  --python             also run the seeds' Python programs\n"
        "                       (the py-* modes, added to --modes wherever\n"
        "                       it stands; needs --io-delay or --url)\n"
        "  -r, --reps R         repetitions per cell, 1..1000 (default 5)\n"
        "  --discard F          trimmed mean drops F of the runs at each end,\n"
        "                       0..0.4 (default 0.2, Power Tuning's\n"
        "                       discardTopBottom)\n"
        "  --workers W          pool size for the pool modes (default N)\n"
        "  --timeout S          limit for one run in seconds (default 120)\n"
        "  --cold               time the first invocation in a fresh process\n"
        "                       (default: a warm one -- each run first calls\n"
        "                       the handler once, untimed, with no delay, as\n"
        "                       an earlier invocation of a warm container\n"
        "                       would have: thread stacks, malloc arenas and\n"
        "                       libraries' first-use work are then in place)\n"
        "  --no-throttle        run without the cgroup CPU/memory limits\n"
        "\n"
        "Cost:\n"
        "  --prices FILE        price table (default: the built-in one; see\n"
        "                       prices.conf for its format, source and date)\n"
        "  --billing-granularity MS\n"
        "                       round billed duration up to MS ms, 1..1000\n"
        "                       (default 1; 100 = billing before Dec 2020)\n"
        "  --balanced-weight W  weight of cost in the balanced pick, 0..1\n"
        "                       (default 0.5; score = W*cost/maxcost +\n"
        "                       (1-W)*time/maxtime)\n"
        "\n"
        "Output:\n"
        "  --format FMT         table (default), csv or json, on stdout\n"
        "  --plot FILE          draw time and cost against memory per mode\n"
        "                       with gnuplot; FILE ends in .png or .svg\n"
        "  --no-progress        no progress bar (it shows on stderr only when\n"
        "                       stderr is a terminal and the run takes > 1 s)\n"
        "  --python-exe PATH    Python interpreter (default python3)\n"
        "  --python-dir DIR     where the seeds' programs are (default:\n"
        "                       $LP_TUNE_PYTHON_DIR, else\n"
        "                       ../share/lambdapool/lp-tune/python from\n"
        "                       lp-tune's directory, else the source tree)\n"
        "  -h, --help           this text\n"
        "  --version            version\n"
        "\n"
        "Modes:\n",
        f);
    for (int m = 0; m < TUNE_MODE_COUNT; m++)
        fprintf(f, "  %-16s %s\n", modes[m].name, modes[m].help);
    fputs(
        "\n"
        "Memory settings are emulated as Lambda allocates CPU: 1769 MB is one\n"
        "vCPU, CPU is proportional to memory, at most 6 vCPUs at 10240 MB.\n"
        "The share is enforced with the cgroup CPU controller (v1 cpu.cfs_*\n"
        "or v2 cpu.max) and capped by this machine's CPUs (flagged '*').\n"
        "The memory limit is set too where the memory controller allows.\n"
        "Where cgroups cannot be written, runs are unthrottled and the\n"
        "output says so. Cgroups are removed after each setting and on\n"
        "SIGINT/SIGTERM.\n"
        "\n"
        "Internal: --worker MODE [--cpu-iters K] [--warm [--warm-url URL]]\n"
        "[--handshake] [--settle MS] runs one measurement: with --warm it\n"
        "first runs the handler once, untimed, with no delay or CPU work\n"
        "(GETting URL, if given); with --handshake it prints \"" TUNE_READY_TAG
        "\"\n"
        "once started and waits for a line on stdin (lp-tune moves it into\n"
        "the cgroup meanwhile, so start-up is not throttled, as Lambda's\n"
        "INIT is apart from the invocation), idles MS ms so the CPU quota\n"
        "is fresh, then prints \"" TUNE_RESULT_TAG " elapsed_ms=...\".\n"
        "\n"
        "Exit status: 0 on success, 1 when a run failed, 2 on bad usage.\n",
        f);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Parses all of `s` as an integer in [lo, hi]. */
static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo ||
        v > hi)
        return false;
    *out = v;
    return true;
}

static int parse_int_opt(const char *name, const char *s, long lo, long hi,
                         int *out, char *err, size_t errlen)
{
    long v;

    if (!parse_long(s, lo, hi, &v))
        return fail(err, errlen, "%s: '%s' is not an integer in %ld..%ld", name,
                    s, lo, hi);
    *out = (int)v;
    return 0;
}

/*
 * The next comma-separated element of the list at *cursor, NUL-terminated in
 * place; *cursor moves past it (NULL after the last). NULL when the element
 * is empty ("128,,512", a leading or trailing comma, ""), which the caller
 * rejects: strtok_r would skip it silently.
 */
static char *next_element(char **cursor)
{
    char *tok = *cursor, *comma = strchr(tok, ',');

    if (comma != NULL)
        *comma++ = '\0';
    *cursor = comma;
    return tok[0] != '\0' ? tok : NULL;
}

static int parse_memory_list(const char *s, struct tune_config *cfg, char *err,
                             size_t errlen)
{
    char buf[1024];

    if (strlen(s) >= sizeof(buf))
        return fail(err, errlen, "--memory: list too long");
    if (s[0] == '\0')
        return fail(err, errlen, "--memory: empty list");
    memcpy(buf, s, strlen(s) + 1);
    cfg->n_memory = 0;
    for (char *cursor = buf, *tok; cursor != NULL;) {
        long mb;

        if ((tok = next_element(&cursor)) == NULL)
            return fail(err, errlen, "--memory: empty element in '%s'", s);
        if (!parse_long(tok, 128, 10240, &mb))
            return fail(err, errlen,
                        "--memory: '%s' is not a Lambda memory size "
                        "(128..10240 MB)",
                        tok);
        for (int i = 0; i < cfg->n_memory; i++) {
            if (cfg->memory_mb[i] == mb)
                return fail(err, errlen, "--memory: %ld listed twice", mb);
        }
        if (cfg->n_memory == TUNE_MAX_MEMORY)
            return fail(err, errlen, "--memory: at most %d settings",
                        TUNE_MAX_MEMORY);
        cfg->memory_mb[cfg->n_memory++] = (int)mb;
    }
    return 0;
}

static int parse_mode_list(const char *s, struct tune_config *cfg, char *err,
                           size_t errlen)
{
    char buf[1024];

    if (strlen(s) >= sizeof(buf))
        return fail(err, errlen, "--modes: list too long");
    if (s[0] == '\0')
        return fail(err, errlen, "--modes: empty list");
    memcpy(buf, s, strlen(s) + 1);
    cfg->modes = 0;
    cfg->modes_given = true;
    for (char *cursor = buf, *tok; cursor != NULL;) {
        int m;

        if ((tok = next_element(&cursor)) == NULL)
            return fail(err, errlen, "--modes: empty element in '%s'", s);
        m = tune_mode_by_name(tok);
        if (strcmp(tok, "all") == 0) {
            cfg->modes |= (1u << TUNE_MODE_COUNT) - 1;
            continue;
        }
        if (m < 0)
            return fail(err, errlen, "--modes: unknown mode '%s' (see --help)",
                        tok);
        cfg->modes |= 1u << m;
    }
    if (cfg->modes == 0)
        return fail(err, errlen, "--modes: empty list");
    return 0;
}

enum {
    OPT_IO_DELAY = 256,
    OPT_URL,
    OPT_SLEEP,
    OPT_CPU,
    OPT_MODES,
    OPT_PYTHON,
    OPT_DISCARD,
    OPT_WORKERS,
    OPT_TIMEOUT,
    OPT_NO_THROTTLE,
    OPT_PRICES,
    OPT_BILLING,
    OPT_WEIGHT,
    OPT_FORMAT,
    OPT_PLOT,
    OPT_NO_PROGRESS,
    OPT_PYTHON_EXE,
    OPT_PYTHON_DIR,
    OPT_VERSION,
    OPT_WORKER,
    OPT_CPU_ITERS,
    OPT_SETTLE,
    OPT_HANDSHAKE,
    OPT_COLD,
    OPT_WARM,
    OPT_WARM_URL
};

static const struct option long_options[] = {
    { "io-delay", required_argument, NULL, OPT_IO_DELAY },
    { "url", required_argument, NULL, OPT_URL },
    { "sleep", required_argument, NULL, OPT_SLEEP },
    { "cpu", required_argument, NULL, OPT_CPU },
    { "tasks", required_argument, NULL, 'n' },
    { "memory", required_argument, NULL, 'm' },
    { "modes", required_argument, NULL, OPT_MODES },
    { "python", no_argument, NULL, OPT_PYTHON },
    { "reps", required_argument, NULL, 'r' },
    { "discard", required_argument, NULL, OPT_DISCARD },
    { "workers", required_argument, NULL, OPT_WORKERS },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "no-throttle", no_argument, NULL, OPT_NO_THROTTLE },
    { "prices", required_argument, NULL, OPT_PRICES },
    { "billing-granularity", required_argument, NULL, OPT_BILLING },
    { "balanced-weight", required_argument, NULL, OPT_WEIGHT },
    { "format", required_argument, NULL, OPT_FORMAT },
    { "plot", required_argument, NULL, OPT_PLOT },
    { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
    { "python-exe", required_argument, NULL, OPT_PYTHON_EXE },
    { "python-dir", required_argument, NULL, OPT_PYTHON_DIR },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, OPT_VERSION },
    { "worker", required_argument, NULL, OPT_WORKER },
    { "cpu-iters", required_argument, NULL, OPT_CPU_ITERS },
    { "settle", required_argument, NULL, OPT_SETTLE },
    { "handshake", no_argument, NULL, OPT_HANDSHAKE },
    { "cold", no_argument, NULL, OPT_COLD },
    { "warm", no_argument, NULL, OPT_WARM },
    { "warm-url", required_argument, NULL, OPT_WARM_URL },
    { NULL, 0, NULL, 0 }
};

/* Records which workload flag was given, refusing a second one. */
static int set_workload(struct tune_config *cfg, enum tune_workload wl,
                        int *given, char *err, size_t errlen)
{
    static const char *const names[] = { "--io-delay", "--url", "--sleep",
                                         "--cpu" };

    if (*given >= 0 && *given != (int)wl)
        return fail(err, errlen, "%s and %s: give one workload", names[*given],
                    names[wl]);
    *given = (int)wl;
    cfg->workload = wl;
    return 0;
}

static int parse_format(const char *s, struct tune_config *cfg, char *err,
                        size_t errlen)
{
    if (strcmp(s, "table") == 0)
        cfg->format = TUNE_FMT_TABLE;
    else if (strcmp(s, "csv") == 0)
        cfg->format = TUNE_FMT_CSV;
    else if (strcmp(s, "json") == 0)
        cfg->format = TUNE_FMT_JSON;
    else
        return fail(err, errlen, "--format: '%s' is not table, csv or json", s);
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n > k && strcmp(s + n - k, suffix) == 0;
}

/* One option; returns 0, 1 (help/version printed) or -1. */
static int apply_option(int c, const char *arg, struct tune_config *cfg,
                        int *workload_given, char *err, size_t errlen)
{
    long v;

    switch (c) {
    case OPT_IO_DELAY:
        if (set_workload(cfg, TUNE_WL_IO_DELAY, workload_given, err, errlen))
            return -1;
        return parse_int_opt("--io-delay", arg, 0, 60000, &cfg->delay_ms, err,
                             errlen);
    case OPT_URL:
        if (set_workload(cfg, TUNE_WL_URL, workload_given, err, errlen))
            return -1;
        if (strncmp(arg, "http://", 7) != 0 && strncmp(arg, "https://", 8))
            return fail(err, errlen, "--url: '%s' is not an http(s) URL", arg);
        cfg->url = arg;
        return 0;
    case OPT_SLEEP:
        if (set_workload(cfg, TUNE_WL_SLEEP, workload_given, err, errlen))
            return -1;
        return parse_int_opt("--sleep", arg, 0, 60000, &cfg->delay_ms, err,
                             errlen);
    case OPT_CPU:
        if (set_workload(cfg, TUNE_WL_CPU, workload_given, err, errlen))
            return -1;
        if (!parse_double(arg, 0.001, 60000, &cfg->cpu_ms))
            return fail(err, errlen,
                        "--cpu: '%s' is not a duration in "
                        "0.001..60000 ms",
                        arg);
        return 0;
    case 'n':
        return parse_int_opt("--tasks", arg, 1, TUNE_MAX_TASKS, &cfg->tasks,
                             err, errlen);
    case 'm':
        return parse_memory_list(arg, cfg, err, errlen);
    case OPT_MODES:
        return parse_mode_list(arg, cfg, err, errlen);
    case OPT_PYTHON:
        cfg->python = true; /* applied once all options are read */
        return 0;
    case 'r':
        return parse_int_opt("--reps", arg, 1, TUNE_MAX_REPS, &cfg->reps, err,
                             errlen);
    case OPT_DISCARD:
        if (!parse_double(arg, 0, 0.4, &cfg->discard))
            return fail(err, errlen, "--discard: '%s' is not in 0..0.4", arg);
        return 0;
    case OPT_WORKERS:
        return parse_int_opt("--workers", arg, 1, TUNE_MAX_TASKS, &cfg->workers,
                             err, errlen);
    case OPT_TIMEOUT:
        return parse_int_opt("--timeout", arg, 1, 3600, &cfg->run_timeout_s,
                             err, errlen);
    case OPT_NO_THROTTLE:
        cfg->throttle = false;
        return 0;
    case OPT_PRICES:
        cfg->prices_path = arg;
        return 0;
    case OPT_BILLING:
        return parse_int_opt("--billing-granularity", arg, 1, 1000,
                             &cfg->billing_ms, err, errlen);
    case OPT_WEIGHT:
        if (!parse_double(arg, 0, 1, &cfg->balanced_weight))
            return fail(err, errlen, "--balanced-weight: '%s' is not in 0..1",
                        arg);
        return 0;
    case OPT_FORMAT:
        return parse_format(arg, cfg, err, errlen);
    case OPT_PLOT:
        if (!ends_with(arg, ".png") && !ends_with(arg, ".svg"))
            return fail(err, errlen, "--plot: '%s' must end in .png or .svg",
                        arg);
        cfg->plot_path = arg;
        return 0;
    case OPT_NO_PROGRESS:
        cfg->progress = false;
        return 0;
    case OPT_PYTHON_EXE:
        cfg->python_exe = arg;
        return 0;
    case OPT_PYTHON_DIR:
        cfg->python_dir = arg;
        return 0;
    case 'h':
        tune_print_help(stdout);
        return 1;
    case OPT_VERSION:
        printf("lp-tune %s\n", LP_TUNE_VERSION);
        return 1;
    case OPT_WORKER: {
        int m = tune_mode_by_name(arg);

        if (m < 0 || tune_mode_is_python(m))
            return fail(err, errlen, "--worker: '%s' is not a C mode", arg);
        cfg->worker = true;
        cfg->worker_mode = m;
        return 0;
    }
    case OPT_CPU_ITERS:
        if (!parse_long(arg, 0, LONG_MAX, &v))
            return fail(err, errlen, "--cpu-iters: '%s' is not a count", arg);
        cfg->cpu_iters = v;
        return 0;
    case OPT_HANDSHAKE:
        cfg->handshake = true;
        return 0;
    case OPT_COLD:
        cfg->cold = true;
        return 0;
    case OPT_WARM:
        cfg->warm = true;
        return 0;
    case OPT_WARM_URL:
        cfg->warm_url = arg;
        return 0;
    case OPT_SETTLE:
        return parse_int_opt("--settle", arg, 0, 10000, &cfg->settle_ms, err,
                             errlen);
    default:
        return fail(err, errlen, "unknown option (see --help)");
    }
}

/* Combinations that cannot run. */
static int check_config(struct tune_config *cfg, char *err, size_t errlen)
{
    bool http =
        cfg->workload == TUNE_WL_IO_DELAY || cfg->workload == TUNE_WL_URL;
    bool python = false;

    if (!http && (cfg->modes & (1u << TUNE_MODE_EVENT_LOOP))) {
        if (cfg->modes_given)
            return fail(err, errlen,
                        "--modes: event-loop runs HTTP requests; use "
                        "--io-delay or --url");
        cfg->modes &= ~(1u << TUNE_MODE_EVENT_LOOP);
    }

    for (int m = TUNE_MODE_PY_SEQUENTIAL; m < TUNE_MODE_COUNT; m++)
        python = python || (cfg->modes & (1u << m)) != 0;
    if (python && cfg->workload != TUNE_WL_IO_DELAY &&
        cfg->workload != TUNE_WL_URL)
        return fail(err, errlen,
                    "--python: the seeds' programs make HTTP requests; use "
                    "--io-delay or --url");
    if (cfg->worker && cfg->workload == TUNE_WL_IO_DELAY)
        return fail(err, errlen, "--worker: needs --url, --sleep or --cpu");
    if ((cfg->modes & (1u << TUNE_MODE_PROCESSES)) && cfg->tasks > 2000 &&
        !cfg->worker)
        return fail(err, errlen,
                    "--tasks %d: process-per-task mode forks one process per "
                    "task; use at most 2000, or leave 'processes' out of "
                    "--modes",
                    cfg->tasks);
    return 0;
}

int tune_parse_args(int argc, char **argv, struct tune_config *cfg, char *err,
                    size_t errlen)
{
    int workload_given = -1;
    int c;

    opterr = 0;
    optind = 0; /* glibc: a full re-initialisation, for repeated calls */
    while ((c = getopt_long(argc, argv, ":hn:m:r:", long_options, NULL)) !=
           -1) {
        int rc;

        if (c == '?')
            return fail(err, errlen, "unknown option '%s' (see --help)",
                        argv[optind - 1]);
        if (c == ':')
            return fail(err, errlen, "option '%s' needs a value",
                        argv[optind - 1]);
        rc = apply_option(c, optarg, cfg, &workload_given, err, errlen);
        if (rc != 0)
            return rc;
    }
    if (optind < argc)
        return fail(err, errlen, "unexpected argument '%s' (see --help)",
                    argv[optind]);
    /* After --modes, wherever it stood: --modes replaces the set. */
    for (int m = TUNE_MODE_PY_SEQUENTIAL; cfg->python && m < TUNE_MODE_COUNT;
         m++)
        cfg->modes |= 1u << m;
    return check_config(cfg, err, errlen);
}

/*
 * lp-tune: shared definitions. The tool measures one handler (N tasks of a
 * workload) in several concurrency modes at several Lambda memory settings,
 * each run in a fresh worker process placed in a cgroup throttled as Lambda
 * throttles that memory setting, then prices the runs.
 *
 * Data flow: args.c fills a tune_config; main.c starts the loopback delay
 * server, builds one throttle per memory setting (throttle.c) and for every
 * (memory, mode, repetition) spawns a worker (runner.c): lp-tune itself in
 * --worker mode for the C modes (modes.c, workload.c), or one of the seeds'
 * Python programs. Workers print one result line; stats.c, cost.c, report.c
 * and plot.c turn the samples into tables, costs and a chart.
 */
#ifndef LP_TUNE_H
#define LP_TUNE_H

#include <stdbool.h>
#include <stddef.h>

#define TUNE_MAX_MEMORY 64
#define TUNE_MAX_TASKS  10000
#define TUNE_MAX_REPS   1000

/* The line every worker (C or Python) prints once on stdout. */
#define TUNE_RESULT_TAG "lp-tune-result"
/*
 * Printed by a worker once started up; it then waits for a line on stdin
 * (lp-tune moves it into its cgroup in between, so start-up runs at full
 * speed and only the handler is throttled).
 */
#define TUNE_READY_TAG "lp-tune-ready"

enum tune_workload {
    TUNE_WL_IO_DELAY, /* GET /delay/<ms> on the built-in loopback server */
    TUNE_WL_URL,      /* GET a caller-given URL */
    TUNE_WL_SLEEP,    /* nanosleep */
    TUNE_WL_CPU       /* a calibrated CPU-bound loop */
};

enum tune_mode {
    TUNE_MODE_SEQUENTIAL,
    TUNE_MODE_THREADS,
    TUNE_MODE_THREAD_POOL,
    TUNE_MODE_PROCESSES,
    TUNE_MODE_PROCESS_POOL,
    TUNE_MODE_EVENT_LOOP,
    TUNE_MODE_PY_SEQUENTIAL,
    TUNE_MODE_PY_THREADS,
    TUNE_MODE_PY_THREAD_POOL,
    TUNE_MODE_PY_PROCESSES,
    TUNE_MODE_COUNT
};

struct tune_mode_info {
    const char *name;   /* as given to --modes, and column header */
    const char *script; /* Python program (NULL for C modes) */
    const char *help;   /* one line for --help */
};

/* Static description of mode `m` (0 <= m < TUNE_MODE_COUNT). */
const struct tune_mode_info *tune_mode_info(enum tune_mode m);

/* True for the seeds' Python programs. */
bool tune_mode_is_python(enum tune_mode m);

/* The mode called `name`, or -1. */
int tune_mode_by_name(const char *name);

enum tune_format { TUNE_FMT_TABLE, TUNE_FMT_CSV, TUNE_FMT_JSON };

struct tune_config {
    enum tune_workload workload;
    int delay_ms;    /* --io-delay / --sleep */
    double cpu_ms;   /* --cpu: CPU milliseconds per task at one full vCPU */
    const char *url; /* --url, or the delay URL a worker receives */
    int tasks;       /* N */
    int reps;
    int workers;    /* pool size; 0: N */
    double discard; /* trimmed mean: fraction dropped at each end */
    double balanced_weight;
    int memory_mb[TUNE_MAX_MEMORY];
    int n_memory;
    unsigned modes;   /* bit (1u << tune_mode) per selected mode */
    bool modes_given; /* --modes was given (else: the defaults) */
    bool python;      /* --python: the Python modes join `modes` */
    enum tune_format format;
    const char *plot_path;
    const char *prices_path;
    const char *python_exe;
    const char *python_dir;
    int billing_ms;    /* 1, or 100 for pre-2020 billing */
    bool throttle;     /* false: --no-throttle */
    bool progress;     /* false: --no-progress */
    bool cold;         /* --cold: no warm-up invocation before timing */
    int run_timeout_s; /* limit for one worker run */
    /* --worker: run one mode once and print the result line. */
    bool worker;
    enum tune_mode worker_mode;
    long cpu_iters; /* --cpu-iters: loop iterations per task (worker) */
    int settle_ms;  /* --settle: idle this long before timing (worker) */
    bool handshake; /* --handshake: print ready, wait for a line (worker) */
    /* --warm: run the handler once, untimed, before the measurement, with
     * no delay and GETting warm_url (--warm-url; else url) (worker). */
    bool warm;
    const char *warm_url;
};

/* The defaults: seed 000's experiment (3 requests, 1 s delay, C modes). */
void tune_config_defaults(struct tune_config *cfg);

/*
 * Parses argv into *cfg (which holds the defaults). Returns 0 to run, 1 when
 * --help or --version printed and the program should exit 0, -1 on a bad
 * argument with a message in err[0..errlen-1].
 */
int tune_parse_args(int argc, char **argv, struct tune_config *cfg, char *err,
                    size_t errlen);

/* Prints the full --help text to `f` (a FILE *). */
void tune_print_help(void *f);

#endif

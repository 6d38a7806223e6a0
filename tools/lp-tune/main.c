/*
 * lp-tune's driver. In the parent: parse the command line, load prices,
 * start the loopback delay server (in its own process, unthrottled: it is
 * "the network"), probe cgroups, then for each memory setting create its
 * throttle, run every (repetition, mode) pair as a fresh worker process
 * inside it -- repetitions outermost so that drift on this shared machine
 * spreads over the modes -- and remove the throttle. Then compute, report
 * and plot. In a worker (--worker MODE): run the mode once, print the
 * result line, exit.
 */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cost.h"
#include "modes.h"
#include "plot.h"
#include "report.h"
#include "results.h"
#include "runner.h"
#include "server.h"
#include "throttle.h"
#include "tune.h"
#include "workload.h"

#define EXIT_RUN_FAILED 1
#define EXIT_USAGE      2

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The untimed invocation before a warm measurement: the same mode and task
 * count, with no delay and no CPU work, so that what a warm container keeps
 * from earlier invocations (glibc's cached thread stacks and malloc arenas,
 * libraries' first-use work) is in place. Before the handshake, so it
 * spends none of the throttled quota.
 */
static int warm_invocation(const struct tune_config *cfg,
                           const struct workload *w)
{
    struct workload warm = *w;
    struct mode_result res;

    if (cfg->warm_url != NULL)
        warm.url = cfg->warm_url;
    warm.sleep_ms = 0;
    warm.cpu_iters = 0;
    if (modes_run(cfg->worker_mode, &warm, cfg->tasks, cfg->workers, &res) !=
            0 ||
        res.failed > 0) {
        fprintf(stderr, "lp-tune: warm-up invocation failed: %s\n",
                res.first_error);
        return -1;
    }
    return 0;
}

/* --worker: one measurement, reported on stdout. */
static int worker_main(const struct tune_config *cfg)
{
    struct workload w = { .kind = cfg->workload,
                          .url = cfg->url,
                          .sleep_ms = cfg->delay_ms,
                          .cpu_iters = cfg->cpu_iters };
    struct mode_result res;

    if (w.kind == TUNE_WL_CPU && w.cpu_iters == 0)
        w.cpu_iters = workload_cpu_calibrate(cfg->cpu_ms);
    workload_warm_up(&w);
    if (cfg->warm && warm_invocation(cfg, &w) != 0)
        return EXIT_RUN_FAILED;
    if (cfg->handshake) {
        char line[64];

        printf(TUNE_READY_TAG "\n");
        fflush(stdout);
        if (fgets(line, sizeof(line), stdin) == NULL) {
            fprintf(stderr, "lp-tune: worker: no go from the parent\n");
            return EXIT_RUN_FAILED;
        }
    }
    if (cfg->settle_ms > 0) {
        struct timespec ts = { cfg->settle_ms / 1000,
                               (long)(cfg->settle_ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    if (modes_run(cfg->worker_mode, &w, cfg->tasks, cfg->workers, &res) != 0) {
        fprintf(stderr, "lp-tune: %s\n", res.first_error);
        return EXIT_RUN_FAILED;
    }
    if (res.failed > 0)
        fprintf(stderr, "lp-tune: %d of %d tasks failed: %s\n", res.failed,
                cfg->tasks, res.first_error);
    printf(TUNE_RESULT_TAG " elapsed_ms=%.3f ok=%d failed=%d\n", res.elapsed_ms,
           res.ok, res.failed);
    return 0;
}

/*
 * Where the seeds' Python programs are: --python-dir, $LP_TUNE_PYTHON_DIR,
 * the install location relative to this executable `self`
 * (<bindir>/../share/lambdapool/lp-tune/python: an installed tree works
 * wherever its prefix is), else the source tree (a build-tree binary).
 * `buf` holds the path found next to `self`, made canonical.
 */
static const char *find_python_dir(const struct tune_config *cfg,
                                   const char *self, char buf[PATH_MAX])
{
    const char *slash = strrchr(self, '/');
    char probe[PATH_MAX + 32];

    if (cfg->python_dir != NULL)
        return cfg->python_dir;
    if (getenv("LP_TUNE_PYTHON_DIR") != NULL)
        return getenv("LP_TUNE_PYTHON_DIR");
    if (slash != NULL) {
        snprintf(probe, sizeof(probe), "%.*s/%s", (int)(slash - self), self,
                 LP_TUNE_PYTHON_FROM_BINDIR);
        if (realpath(probe, buf) != NULL) {
            snprintf(probe, sizeof(probe), "%s/lp_tune_run.py", buf);
            if (access(probe, R_OK) == 0)
                return buf;
        }
    }
    snprintf(probe, sizeof(probe), "%s/lp_tune_run.py",
             LP_TUNE_PYTHON_SOURCE_DIR);
    return access(probe, R_OK) == 0 ? LP_TUNE_PYTHON_SOURCE_DIR : NULL;
}

/* Everything a run needs besides the config. */
struct plan {
    const struct tune_config *cfg;
    char self[PATH_MAX]; /* this executable, for --worker runs */
    char url[512];       /* what a task GETs (io-delay, url) */
    char warm_url[512];  /* what the warm-up invocation GETs */
    const char *python_dir;
    char python_dir_buf[PATH_MAX]; /* python_dir when found beside self */
    char python_exe[PATH_MAX];     /* the interpreter itself, not a shim */
    long cpu_iters;
    int total_runs, done_runs;
    double started;
    bool progress_shown;
};

/* Builds a worker's argv in `argv` (strings in `buf`). */
static void build_argv(const struct plan *p, enum tune_mode mode, int settle_ms,
                       char *argv[], char buf[][PATH_MAX])
{
    const struct tune_config *cfg = p->cfg;
    int n = 0;

    snprintf(buf[4], PATH_MAX, "%d", settle_ms);
    if (tune_mode_is_python(mode)) {
        snprintf(buf[0], PATH_MAX, "%s/%s", p->python_dir,
                 tune_mode_info(mode)->script);
        snprintf(buf[1], PATH_MAX, "%d", cfg->tasks);
        snprintf(buf[2], PATH_MAX, "%s/lp_tune_run.py", p->python_dir);
        argv[n++] = (char *)p->python_exe;
        argv[n++] = buf[2];
        argv[n++] = buf[4];
        argv[n++] = cfg->cold ? "-" : (char *)p->warm_url;
        argv[n++] = buf[0];
        argv[n++] = (char *)p->url;
        argv[n++] = buf[1];
        argv[n] = NULL;
        return;
    }
    snprintf(buf[0], PATH_MAX, "%d", cfg->tasks);
    snprintf(buf[1], PATH_MAX, "%d", cfg->workers);
    argv[n++] = (char *)p->self;
    argv[n++] = "--worker";
    argv[n++] = (char *)tune_mode_info(mode)->name;
    argv[n++] = "--handshake";
    if (!cfg->cold)
        argv[n++] = "--warm";
    argv[n++] = "--settle";
    argv[n++] = buf[4];
    argv[n++] = "--tasks";
    argv[n++] = buf[0];
    if (cfg->workers > 0) {
        argv[n++] = "--workers";
        argv[n++] = buf[1];
    }
    switch (cfg->workload) {
    case TUNE_WL_IO_DELAY:
    case TUNE_WL_URL:
        argv[n++] = "--url";
        argv[n++] = (char *)p->url;
        if (!cfg->cold) {
            argv[n++] = "--warm-url";
            argv[n++] = (char *)p->warm_url;
        }
        break;
    case TUNE_WL_SLEEP:
        snprintf(buf[2], PATH_MAX, "%d", cfg->delay_ms);
        argv[n++] = "--sleep";
        argv[n++] = buf[2];
        break;
    case TUNE_WL_CPU:
        snprintf(buf[2], PATH_MAX, "%g", cfg->cpu_ms);
        snprintf(buf[3], PATH_MAX, "%ld", p->cpu_iters);
        argv[n++] = "--cpu";
        argv[n++] = buf[2];
        argv[n++] = "--cpu-iters";
        argv[n++] = buf[3];
        break;
    }
    argv[n] = NULL;
}

/* A progress bar on stderr: only on a terminal, only after one second. */
static void progress(struct plan *p, const char *what)
{
    char bar[31];
    int fill;

    if (!p->cfg->progress || !isatty(2) || now_s() - p->started < 1.0)
        return;
    fill = p->total_runs ? 30 * p->done_runs / p->total_runs : 30;
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(30 - fill));
    bar[30] = '\0';
    fprintf(stderr, "\r[%s] %d/%d %-32s", bar, p->done_runs, p->total_runs,
            what);
    p->progress_shown = true;
}

static void progress_end(struct plan *p)
{
    if (p->progress_shown)
        fprintf(stderr, "\r%*s\r", 80, "");
}

/*
 * How long a worker idles after starting and before timing: one CFS period
 * when its share is below one vCPU, so that the quota its start-up (exec,
 * dynamic linking, Python imports) used is refilled before the handler
 * runs -- on Lambda, INIT and the invocation are apart in time too.
 */
static int settle_ms(const struct throttle *t)
{
    if (t == NULL || !t->cpu_active || t->vcpus_applied >= 1.0)
        return 0;
    return (int)(THROTTLE_PERIOD_US / 1000);
}

/* One cell's repetition: a worker run, recorded in r. */
static int run_cell(struct plan *p, struct results *r, int row, int col,
                    const struct throttle *t)
{
    enum tune_mode mode = r->cols[col];
    char buf[5][PATH_MAX], what[64];
    char *argv[20];
    struct run_result rr;

    snprintf(what, sizeof(what), "%d MB %s", r->rows[row].memory_mb,
             tune_mode_info(mode)->name);
    progress(p, what);
    build_argv(p, mode, settle_ms(t), argv, buf);
    if (runner_run(argv, t, p->cfg->run_timeout_s, &rr) != 0) {
        results_add_failure(r, row, col, rr.error);
        return -1;
    }
    if (rr.failed > 0) {
        char why[300];

        snprintf(why, sizeof(why), "%d of %d tasks failed", rr.failed,
                 rr.failed + rr.ok);
        results_add_failure(r, row, col, why);
        return -1;
    }
    return results_add_sample(r, row, col, rr.elapsed_ms, rr.peak_rss_kb,
                              rr.mem_peak_kb);
}

/* All runs of one memory setting, inside its throttle. */
static int run_row(struct plan *p, struct results *r, int row,
                   const struct throttle_env *env)
{
    struct row *w = &r->rows[row];
    struct throttle t;
    char why[256] = "";
    bool have = throttle_create(env, w->memory_mb, &t, why, sizeof(why)) == 0;
    int failures = 0;

    w->vcpus_applied = have ? t.vcpus_applied : w->vcpus;
    w->capped = have && t.capped;
    w->throttled = have && t.cpu_active;
    w->mem_limited = have && t.mem_active;
    if (!have)
        snprintf(w->note, sizeof(w->note), "not throttled: %s", why);
    else if (!t.mem_active)
        snprintf(w->note, sizeof(w->note), "no memory limit: %s", t.mem_why);
    for (int rep = 0; rep < p->cfg->reps; rep++) {
        for (int col = 0; col < r->n_cols; col++) {
            if (run_cell(p, r, row, col, have ? &t : NULL) != 0)
                failures++;
            p->done_runs++;
        }
    }
    if (have && throttle_destroy(&t) != 0)
        fprintf(stderr, "lp-tune: could not remove cgroup of %d MB\n",
                w->memory_mb);
    return failures;
}

static void describe_throttle(struct results *r, const struct throttle_env *env,
                              bool ok)
{
    bool all = ok;

    for (int i = 0; i < r->n_rows; i++)
        all = all && r->rows[i].throttled;
    r->throttled = all;
    if (!ok)
        snprintf(r->throttle_note, sizeof(r->throttle_note),
                 "NONE -- runs are unthrottled (%s); times are this "
                 "machine's full speed, not Lambda's",
                 env->why);
    else
        snprintf(r->throttle_note, sizeof(r->throttle_note),
                 "cgroup v%d CPU quota (1769 MB = 1 vCPU, %d CPUs here) "
                 "under %.300s%s%.250s",
                 env->version, env->ncpu, env->cpu_root,
                 env->mem_root[0] || env->v2_memory ? ", plus memory limit"
                                                    : "; ",
                 env->mem_root[0] || env->v2_memory ? "" : env->why);
}

/* Loads prices; 0 or -1 with a message printed. */
static int load_prices(const struct tune_config *cfg, struct price_table *pt)
{
    char err[512];

    cost_default_prices(pt);
    if (cfg->prices_path != NULL &&
        cost_load_prices(cfg->prices_path, pt, err, sizeof(err)) != 0) {
        fprintf(stderr, "lp-tune: %s\n", err);
        return -1;
    }
    return 0;
}

/*
 * The interpreter's own path (sys.executable), so that every run skips
 * wrappers such as pyenv's shims. 0, or -1 when `exe` does not run.
 */
static int resolve_python(const char *exe, char *out, size_t len)
{
    char cmd[PATH_MAX + 64];
    FILE *f;
    int rc;

    if (strchr(exe, '\'') != NULL)
        return -1;
    snprintf(cmd, sizeof(cmd), "'%s' -c 'import sys; print(sys.executable)'",
             exe);
    f = popen(cmd, "r");
    if (f == NULL)
        return -1;
    if (fgets(out, (int)len, f) == NULL)
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    rc = pclose(f);
    return rc == 0 && out[0] == '/' ? 0 : -1;
}

/* Fills p's URL, Python dir and CPU calibration; 0 or EXIT_USAGE. */
static int prepare_plan(struct plan *p, int port)
{
    const struct tune_config *cfg = p->cfg;
    ssize_t n = readlink("/proc/self/exe", p->self, sizeof(p->self) - 1);

    if (n <= 0) {
        fprintf(stderr, "lp-tune: cannot find its own executable\n");
        return EXIT_USAGE;
    }
    p->self[n] = '\0';
    if (cfg->workload == TUNE_WL_IO_DELAY) {
        snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%d/delay/%d", port,
                 cfg->delay_ms);
        snprintf(p->warm_url, sizeof(p->warm_url),
                 "http://127.0.0.1:%d/delay/0", port);
    } else if (cfg->workload == TUNE_WL_URL) {
        snprintf(p->url, sizeof(p->url), "%s", cfg->url);
        snprintf(p->warm_url, sizeof(p->warm_url), "%s", cfg->url);
    }
    if (cfg->modes & ~((1u << TUNE_MODE_PY_SEQUENTIAL) - 1)) {
        p->python_dir = find_python_dir(cfg, p->self, p->python_dir_buf);
        if (p->python_dir == NULL) {
            fprintf(stderr, "lp-tune: the seeds' Python programs were not "
                            "found; give --python-dir\n");
            return EXIT_USAGE;
        }
        if (resolve_python(cfg->python_exe, p->python_exe,
                           sizeof(p->python_exe)) != 0) {
            fprintf(stderr, "lp-tune: cannot run %s; give --python-exe\n",
                    cfg->python_exe);
            return EXIT_USAGE;
        }
    }
    if (cfg->workload == TUNE_WL_CPU)
        p->cpu_iters = workload_cpu_calibrate(cfg->cpu_ms);
    return 0;
}

static int output(const struct results *r)
{
    const struct tune_config *cfg = r->cfg;
    char err[512];

    if (cfg->format == TUNE_FMT_CSV)
        report_csv(stdout, r);
    else if (cfg->format == TUNE_FMT_JSON)
        report_json(stdout, r);
    else
        report_table(stdout, r);
    fflush(stdout);
    if (cfg->plot_path != NULL) {
        if (plot_write(r, cfg->plot_path, err, sizeof(err)) != 0) {
            fprintf(stderr, "lp-tune: %s\n", err);
            return -1;
        }
        if (cfg->format == TUNE_FMT_TABLE)
            printf("\nplot: %s\n", cfg->plot_path);
    }
    return 0;
}

static int run_experiment(const struct tune_config *cfg, int port)
{
    struct plan p = { .cfg = cfg };
    struct price_table prices;
    struct throttle_env env;
    struct results r;
    int failures = 0, rc;
    bool ok;

    if (load_prices(cfg, &prices) != 0 || prepare_plan(&p, port) != 0)
        return EXIT_USAGE;
    if (results_init(&r, cfg, &prices) != 0) {
        fprintf(stderr, "lp-tune: out of memory\n");
        return EXIT_RUN_FAILED;
    }
    ok = throttle_probe(&env, "/sys/fs/cgroup", cfg->throttle);
    if (!ok)
        fprintf(stderr, "lp-tune: NOT THROTTLED: %s\n", env.why);
    p.total_runs = r.n_rows * r.n_cols * cfg->reps;
    p.started = now_s();
    for (int row = 0; row < r.n_rows; row++)
        failures += run_row(&p, &r, row, &env);
    progress_end(&p);
    describe_throttle(&r, &env, ok);
    results_finish(&r);
    rc = output(&r) != 0 || failures > 0 ? EXIT_RUN_FAILED : 0;
    results_free(&r);
    return rc;
}

/*
 * A blocking libcurl request holds 3 descriptors; the thread modes run
 * N (or --workers) of them at once in one process. Say so up front when
 * the limit cannot fit them, rather than let the run fail mysteriously.
 */
static void warn_fd_limit(const struct tune_config *cfg, long limit)
{
    int pool = cfg->workers > 0 && cfg->workers < cfg->tasks ? cfg->workers
                                                             : cfg->tasks;
    int most = 0;

    if (cfg->workload != TUNE_WL_IO_DELAY && cfg->workload != TUNE_WL_URL)
        return;
    if (cfg->modes & (1u << TUNE_MODE_THREADS))
        most = cfg->tasks;
    if ((cfg->modes & (1u << TUNE_MODE_THREAD_POOL)) && pool > most)
        most = pool;
    if (3L * most + 64 > limit)
        fprintf(stderr,
                "lp-tune: note: the descriptor limit (%ld) fits about %ld "
                "blocking requests at once in one process (3 descriptors "
                "each); threads/thread-pool with %d at once will see "
                "failures (lower --workers, or use event-loop)\n",
                limit, (limit - 64) / 3, most);
}

int main(int argc, char **argv)
{
    struct tune_config cfg;
    char err[512];
    struct tune_server server = { -1, -1, 0 };
    int rc;
    long limit;

    tune_config_defaults(&cfg);
    rc = tune_parse_args(argc, argv, &cfg, err, sizeof(err));
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "lp-tune: %s\n", err);
        return rc < 0 ? EXIT_USAGE : 0;
    }
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
        fprintf(stderr, "lp-tune: curl_global_init failed\n");
        return EXIT_RUN_FAILED;
    }
    /* Room for the workers' connections (they inherit the limit). */
    limit = workload_raise_fd_limit(cfg.tasks);
    if (!cfg.worker)
        warn_fd_limit(&cfg, limit);
    if (cfg.worker) {
        signal(SIGPIPE, SIG_IGN);
        rc = worker_main(&cfg);
    } else {
        /* A worker that dies before reading "go" must not kill us. */
        signal(SIGPIPE, SIG_IGN);
        throttle_install_cleanup();
        rc = 0;
        if (cfg.workload == TUNE_WL_IO_DELAY &&
            tune_server_start(&server, err, sizeof(err)) != 0) {
            fprintf(stderr, "lp-tune: %s\n", err);
            rc = EXIT_RUN_FAILED;
        }
        if (rc == 0)
            rc = run_experiment(&cfg, server.port);
        tune_server_stop(&server);
    }
    curl_global_cleanup();
    return rc;
}

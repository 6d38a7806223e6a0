/*
 * The lp-tune binary end to end ($LP_TUNE_BIN): every bad flag or
 * impossible setting exits 2 with one clear "lp-tune: ..." line on stderr;
 * --help documents every option and mode; small real runs produce CSV, JSON
 * and a plot; and no cgroup is left behind, neither after a run nor after
 * SIGINT or SIGTERM in the middle of one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lp-test.h"
#include "throttle.h"
#include "tune.h"

struct output {
    int status; /* exit code, or 128 + signal */
    char out[65536];
    char err[8192];
};

/* Reads all of `fd` into buf (NUL-terminated, truncated to len - 1). */
static void slurp(int fd, char *buf, size_t len)
{
    size_t n = 0;
    ssize_t r;

    while ((r = read(fd, buf + n, len - 1 - n)) > 0 ||
           (r < 0 && errno == EINTR))
        n += r > 0 ? (size_t)r : 0;
    buf[n] = '\0';
}

static pid_t spawn(const char *const *args, int *out_fd, int *err_fd)
{
    const char *argv[64];
    int o[2], e[2];
    pid_t pid;
    int n = 0;

    argv[n++] = getenv("LP_TUNE_BIN");
    ASSERT_TRUE(argv[0] != NULL);
    for (; args[n - 1] != NULL; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    ASSERT_EQ(pipe(o), 0);
    ASSERT_EQ(pipe(e), 0);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(o[0]);
        close(e[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    *out_fd = o[0];
    *err_fd = e[0];
    return pid;
}

static int wait_status(pid_t pid)
{
    int status;

    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs lp-tune with args (NULL-terminated) and collects everything. */
static void run(struct output *o, const char *const *args)
{
    int out_fd, err_fd;
    pid_t pid = spawn(args, &out_fd, &err_fd);

    slurp(out_fd, o->out, sizeof(o->out));
    slurp(err_fd, o->err, sizeof(o->err));
    close(out_fd);
    close(err_fd);
    o->status = wait_status(pid);
}

#define RUN(o, ...) run(o, (const char *const[]){ __VA_ARGS__, NULL })

/* A bad command line: exit 2, stderr names the problem, stdout empty. */
static void expect_usage_error(const char *needle, const char *const *args)
{
    static struct output o;

    run(&o, args);
    if (o.status != 2 || strstr(o.err, needle) == NULL ||
        strncmp(o.err, "lp-tune: ", 9) != 0 || o.out[0] != '\0')
        LP_TEST_FAIL("%s...: status %d, stderr \"%s\", want \"%s\"", args[0],
                     o.status, o.err, needle);
}

#define BAD(needle, ...) \
    expect_usage_error(needle, (const char *const[]){ __VA_ARGS__, NULL })

TEST(bad_flags)
{
    BAD("unknown option '--bogus'", "--bogus");
    BAD("--tasks: '0' is not an integer in 1..10000", "--tasks", "0");
    BAD("--tasks: '10001'", "-n", "10001");
    BAD("--tasks: '3x'", "--tasks", "3x");
    BAD("needs a value", "--tasks");
    BAD("--memory: '64' is not a Lambda memory size", "--memory", "64");
    BAD("--memory: '10241'", "-m", "128,10241");
    BAD("--memory: 128 listed twice", "-m", "128,512,128");
    BAD("--memory: empty element in ','", "-m", ",");
    BAD("--memory: empty list", "-m", "");
    BAD("--memory: empty element in '128,,512'", "-m", "128,,512");
    BAD("--memory: empty element in '128,'", "-m", "128,");
    BAD("--memory: empty element in ',128'", "--memory", ",128");
    BAD("--modes: empty element in 'sequential,,threads'", "--modes",
        "sequential,,threads");
    BAD("give one workload", "--io-delay", "5", "--sleep", "5");
    BAD("--format: 'xml'", "--format", "xml");
    BAD("--plot: 'out.gif' must end in .png or .svg", "--plot", "out.gif");
    BAD("--discard: '0.5' is not in 0..0.4", "--discard", "0.5");
    BAD("--balanced-weight", "--balanced-weight", "-1");
    BAD("--billing-granularity: '0'", "--billing-granularity", "0");
    BAD("--billing-granularity: '1001'", "--billing-granularity", "1001");
    BAD("--python: the seeds' programs make HTTP requests", "--python",
        "--sleep", "10");
    BAD("--modes: unknown mode 'fibers'", "--modes", "threads,fibers");
    BAD("unexpected argument 'extra'", "--sleep", "1", "extra");
    BAD("event-loop runs HTTP requests", "--modes", "event-loop", "--sleep",
        "1");
    BAD("--url: 'ftp://x' is not an http(s) URL", "--url", "ftp://x");
    BAD("--cpu: 'lots'", "--cpu", "lots");
    BAD("process-per-task mode forks one process per task", "-n", "5000");
    BAD("--prices /nonexistent/prices: No such file", "--prices",
        "/nonexistent/prices", "--sleep", "1", "-m", "128", "-r", "1");
    BAD("--worker: 'py-threads' is not a C mode", "--worker", "py-threads",
        "--sleep", "1");
}

/* The modes tune_parse_args selects for args (NULL-terminated). */
static unsigned parsed_modes(const char *const *args)
{
    char *argv[16], err[256];
    struct tune_config cfg;
    int argc = 0;

    argv[argc++] = "lp-tune";
    while (*args != NULL)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    tune_config_defaults(&cfg);
    if (tune_parse_args(argc, argv, &cfg, err, sizeof(err)) != 0)
        LP_TEST_FAIL("%s", err);
    return cfg.modes;
}

#define MODES(...) parsed_modes((const char *const[]){ __VA_ARGS__, NULL })

/* --python adds the Python modes whether it comes before or after --modes
 * (--modes replaces the set; it used to drop an earlier --python). */
TEST(python_and_modes_in_either_order)
{
    unsigned py = 0, want;

    for (int m = TUNE_MODE_PY_SEQUENTIAL; m < TUNE_MODE_COUNT; m++)
        py |= 1u << m;
    want = 1u << TUNE_MODE_SEQUENTIAL | py;
    ASSERT_EQ(MODES("--io-delay", "5", "--modes", "sequential", "--python"),
              want);
    ASSERT_EQ(MODES("--io-delay", "5", "--python", "--modes", "sequential"),
              want);
    ASSERT_EQ(MODES("--python", "--modes", "sequential", "--url", "http://x/"),
              want);
    ASSERT_EQ(MODES("--io-delay", "5", "--modes", "sequential"),
              1u << TUNE_MODE_SEQUENTIAL);
    ASSERT_EQ(MODES("--io-delay", "5", "--python") & py, py);
}

TEST(help_is_complete)
{
    static const char *const options[] = { "--io-delay",
                                           "--url",
                                           "--sleep",
                                           "--cpu",
                                           "--tasks",
                                           "--memory",
                                           "--modes",
                                           "--python",
                                           "--reps",
                                           "--discard",
                                           "--workers",
                                           "--timeout",
                                           "--no-throttle",
                                           "--prices",
                                           "--billing-granularity",
                                           "--balanced-weight",
                                           "--format",
                                           "--plot",
                                           "--no-progress",
                                           "--python-exe",
                                           "--python-dir",
                                           "--help",
                                           "--version",
                                           "--worker" };
    static struct output o;

    RUN(&o, "--help");
    ASSERT_EQ(o.status, 0);
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
        if (strstr(o.out, options[i]) == NULL)
            LP_TEST_FAIL("--help does not mention %s", options[i]);
    }
    for (int m = 0; m < TUNE_MODE_COUNT; m++)
        ASSERT_TRUE(strstr(o.out, tune_mode_info(m)->name) != NULL);
    RUN(&o, "--version");
    ASSERT_EQ(o.status, 0);
    ASSERT_TRUE(strncmp(o.out, "lp-tune ", 8) == 0);
}

/* Entries of `dir` named lp-tune.<pid>.*. */
static int leftover_cgroups(const char *dir, pid_t pid)
{
    char prefix[64];
    struct dirent *e;
    DIR *d;
    int n = 0;

    if (dir[0] == '\0' || (d = opendir(dir)) == NULL)
        return 0;
    snprintf(prefix, sizeof(prefix), "lp-tune.%d.", (int)pid);
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static int count_lines(const char *s)
{
    int n = 0;

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

TEST(csv_run_and_cleanup)
{
    static struct output o;
    struct throttle_env env;
    int out_fd, err_fd;
    pid_t pid;

    throttle_probe(&env, "/sys/fs/cgroup", true);
    pid = spawn((const char *const[]){ "--sleep", "20", "-m", "128,1769", "-r",
                                       "2", "--modes", "sequential,threads",
                                       "-n", "3", "--format", "csv", NULL },
                &out_fd, &err_fd);
    slurp(out_fd, o.out, sizeof(o.out));
    slurp(err_fd, o.err, sizeof(o.err));
    close(out_fd);
    close(err_fd);
    ASSERT_EQ(wait_status(pid), 0);
    ASSERT_EQ(count_lines(o.out), 1 + 2 * 2);
    ASSERT_TRUE(strncmp(o.out, "memory_mb,vcpus,", 16) == 0);
    ASSERT_TRUE(strstr(o.out, "\n128,0.0724,0.0724,0,") != NULL);
    ASSERT_TRUE(strstr(o.out, ",threads,c,2,0,") != NULL);
    ASSERT_EQ(leftover_cgroups(env.cpu_root, pid), 0);
    ASSERT_EQ(leftover_cgroups(env.mem_root, pid), 0);
}

TEST(json_run)
{
    static struct output o;
    json_error_t jerr;
    json_t *root, *cell;
    double billed;

    RUN(&o, "--sleep", "10", "-m", "1769", "-r", "2", "--modes", "threads",
        "--format", "json", "--billing-granularity", "100", "--discard", "0");
    ASSERT_EQ(o.status, 0);
    root = json_loads(o.out, 0, &jerr);
    ASSERT_TRUE(root != NULL);
    cell = json_array_get(
        json_object_get(json_array_get(json_object_get(root, "rows"), 0),
                        "cells"),
        0);
    ASSERT_STR_EQ(json_string_value(json_object_get(cell, "mode")), "threads");
    ASSERT_EQ(json_integer_value(json_object_get(cell, "runs")), 2);
    /* 10 ms of sleep, billed in 100 ms units: each run bills a multiple of
     * 100 ms (100 unless this shared machine stalled it), at least its
     * duration; the cell bills their mean. */
    billed = json_real_value(
        json_object_get(json_object_get(cell, "cost"), "billed_ms"));
    ASSERT_TRUE(billed >= 100);
    ASSERT_EQ((long)(billed * 2 + 0.5) % 100, 0);
    ASSERT_TRUE(billed >= json_real_value(json_object_get(
                              json_object_get(cell, "ms"), "trimmed_mean")));
    ASSERT_TRUE(json_object_get(root, "prices") != NULL);
    ASSERT_TRUE(json_is_true(json_object_get(root, "warm")));
    /* With a memory cgroup, the memory the handler added is reported. */
    if (json_is_true(
            json_object_get(json_array_get(json_object_get(root, "rows"), 0),
                            "memory_limited")))
        ASSERT_TRUE(
            json_integer_value(json_object_get(cell, "handler_mem_kb")) > 0);
    json_decref(root);
}

TEST(io_delay_every_mode)
{
    static struct output o;

    if (system("python3 -c pass 2>/dev/null") != 0) {
        printf("skipped: python3 not found\n");
        return;
    }
    RUN(&o, "--io-delay", "20", "-n", "20", "-m", "1769", "-r", "1", "--modes",
        "all", "--format", "csv", "--timeout", "60");
    if (o.status != 0)
        LP_TEST_FAIL("status %d: %s\n%s", o.status, o.err, o.out);
    ASSERT_EQ(count_lines(o.out), 1 + TUNE_MODE_COUNT);
    ASSERT_TRUE(strstr(o.out, ",py-thread-pool,python,1,0,") != NULL);
    ASSERT_TRUE(strstr(o.out, ",processes,c,1,0,") != NULL);
}

/* Requests that fail make the cell fail (never a fast-looking figure), in
 * C and in the seeds' Python programs, and lp-tune exits 1. */
TEST(failed_requests_fail_the_cell)
{
    static struct output o;
    bool python = system("python3 -c pass 2>/dev/null") == 0;

    RUN(&o, "--url", "http://127.0.0.1:1/nothing-listens", "-m", "1769", "-r",
        "1", "--modes", python ? "threads,py-threads,py-processes" : "threads",
        "--format", "csv");
    ASSERT_EQ(o.status, 1);
    ASSERT_TRUE(strstr(o.out, ",threads,c,0,1,") != NULL);
    if (python) {
        ASSERT_TRUE(strstr(o.out, ",py-threads,python,0,1,") != NULL);
        ASSERT_TRUE(strstr(o.out, ",py-processes,python,0,1,") != NULL);
    }
}

TEST(plot_svg)
{
    static struct output o;
    char path[64], head[4096];
    int fd;
    ssize_t n;

    if (system("gnuplot --version >/dev/null 2>&1") != 0) {
        printf("skipped: gnuplot not found\n");
        return;
    }
    snprintf(path, sizeof(path), "/tmp/lptune-plot.%d.svg", (int)getpid());
    RUN(&o, "--sleep", "5", "-m", "128,1769", "-r", "1", "--modes",
        "sequential,threads", "--plot", path);
    ASSERT_EQ(o.status, 0);
    ASSERT_TRUE(strstr(o.out, "Time (ms, trimmed mean)") != NULL);
    fd = open(path, O_RDONLY);
    ASSERT_TRUE(fd >= 0);
    n = read(fd, head, sizeof(head) - 1);
    close(fd);
    unlink(path);
    ASSERT_TRUE(n > 0);
    head[n] = '\0';
    ASSERT_TRUE(strstr(head, "<svg") != NULL);
}

/*
 * A loopback HTTP server in a child process that answers every request with
 * 200 and "Connection: close", and writes one byte to *count_fd per request
 * served. Returns its pid; *port is where it listens.
 */
static pid_t start_counting_server(int *port, int *count_fd)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), fds[2];
    pid_t pid;

    ASSERT_TRUE(ls >= 0);
    ASSERT_EQ(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
    ASSERT_EQ(listen(ls, 64), 0);
    ASSERT_EQ(getsockname(ls, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                    "Connection: close\r\n\r\nok";
        char buf[4096];

        for (;;) {
            int c = accept(ls, NULL, NULL);
            size_t n = 0;
            ssize_t r;

            if (c < 0)
                continue;
            while (n < sizeof(buf) - 1 &&
                   (r = read(c, buf + n, sizeof(buf) - 1 - n)) > 0) {
                n += (size_t)r;
                buf[n] = '\0';
                if (strstr(buf, "\r\n\r\n") != NULL)
                    break;
            }
            if (write(c, reply, sizeof(reply) - 1) < 0 ||
                write(fds[1], "r", 1) != 1)
                _exit(1);
            close(c);
        }
    }
    close(ls);
    close(fds[1]);
    *count_fd = fds[0];
    return pid;
}

/* Requests the server counted so far (the run that made them has ended). */
static int requests_served(int count_fd)
{
    char buf[256];
    int n = 0;
    ssize_t r;

    fcntl(count_fd, F_SETFL, O_NONBLOCK);
    while ((r = read(count_fd, buf, sizeof(buf))) > 0)
        n += (int)r;
    return n;
}

/*
 * By default each run is a warm invocation: the worker first calls the
 * handler once, untimed, so N tasks make 2N requests per run; --cold makes
 * N. The same holds for the seeds' Python programs.
 */
TEST(warm_invocation_before_each_run)
{
    static struct output o;
    bool python = system("python3 -c pass 2>/dev/null") == 0;
    const char *modes = python ? "threads,py-threads" : "threads";
    int port, count_fd, runs = python ? 2 : 1;
    char url[64];
    pid_t server = start_counting_server(&port, &count_fd);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    RUN(&o, "--url", url, "-n", "2", "-m", "1769", "-r", "1", "--modes", modes,
        "--no-throttle", "--format", "csv");
    if (o.status != 0)
        LP_TEST_FAIL("status %d: %s", o.status, o.err);
    ASSERT_EQ(requests_served(count_fd), runs * 2 * 2);
    RUN(&o, "--url", url, "-n", "2", "-m", "1769", "-r", "1", "--modes", modes,
        "--no-throttle", "--format", "csv", "--cold");
    if (o.status != 0)
        LP_TEST_FAIL("status %d: %s", o.status, o.err);
    ASSERT_EQ(requests_served(count_fd), runs * 2);
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    close(count_fd);
}

/* Runs lp-tune with args; its wall time in ms. */
static int64_t timed_run(struct output *o, const char *const *args)
{
    int64_t t0 = lp_test_now_ms();

    run(o, args);
    return lp_test_now_ms() - t0;
}

/*
 * --timeout limits each run: a 15 s task under a 1 s limit is killed at the
 * limit, and the cell fails "timed out" (lp-tune used to block in read()
 * after poll() timed out, for the whole 15 s).
 */
TEST(timeout_kills_a_slow_worker)
{
    static struct output o;
    int64_t ms = timed_run(
        &o, (const char *const[]){ "--sleep", "15000", "--timeout", "1", "-n",
                                   "1", "-m", "128", "--modes", "sequential",
                                   "-r", "1", "--no-progress", NULL });

    ASSERT_EQ(o.status, 1);
    if (strstr(o.out, "128 MB sequential: 1 of 1 runs failed: timed out") ==
        NULL)
        LP_TEST_FAIL("no timeout reported:\n%s\n%s", o.out, o.err);
    ASSERT_TRUE(ms < 8000);
}

/*
 * A worker that closes its stdout and then hangs is killed at the limit too,
 * not waited for. The "interpreter" is a script that answers lp-tune's
 * sys.executable question, then does just that.
 */
TEST(timeout_kills_a_worker_that_closed_stdout)
{
    static struct output o;
    char exe[64];
    FILE *f;
    int64_t ms;

    snprintf(exe, sizeof(exe), "/tmp/lptune-hang.%d.sh", (int)getpid());
    f = fopen(exe, "w");
    ASSERT_TRUE(f != NULL);
    fprintf(f, "#!/bin/sh\nif [ \"$1\" = -c ]; then echo \"$0\"; exit 0; fi\n"
               "exec >&- && exec sleep 15\n");
    ASSERT_EQ(fclose(f), 0);
    ASSERT_EQ(chmod(exe, 0700), 0);
    ms = timed_run(&o, (const char *const[]){
                           "--io-delay", "10", "--timeout", "1", "-n", "1",
                           "-m", "128", "--modes", "py-sequential", "-r", "1",
                           "--no-progress", "--python-exe", exe, NULL });
    unlink(exe);
    ASSERT_EQ(o.status, 1);
    if (strstr(o.out, "128 MB py-sequential: 1 of 1 runs failed: timed out") ==
        NULL)
        LP_TEST_FAIL("no timeout reported:\n%s\n%s", o.out, o.err);
    ASSERT_TRUE(ms < 8000);
}

static bool exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/*
 * Starts a long run of `workload` (5 s tasks), interrupts it with `sig` once
 * its cgroup exists: lp-tune dies of that signal within moments, and its
 * cgroups are gone.
 */
static void interrupted_run(int sig, const char *workload)
{
    struct throttle_env env;
    char dir[PATH_MAX + 64];
    int out_fd, err_fd;
    static char sink[8192];
    int64_t t0;
    pid_t pid;

    if (!throttle_probe(&env, "/sys/fs/cgroup", true)) {
        printf("skipped: cgroups not writable here (%s)\n", env.why);
        return;
    }
    pid = spawn((const char *const[]){ workload, "5000", "-m", "128", "-r", "1",
                                       "--modes", "sequential", NULL },
                &out_fd, &err_fd);
    snprintf(dir, sizeof(dir), "%s/lp-tune.%d.128", env.cpu_root, (int)pid);
    t0 = lp_test_now_ms();
    while (!exists(dir) && lp_test_now_ms() - t0 < 5000)
        lp_test_sleep_ms(10);
    ASSERT_TRUE(exists(dir));
    lp_test_sleep_ms(300); /* the worker is running inside it by now */
    /* From here: lp-tune may take seconds to start on a loaded machine. A
     * task that started once the cgroup existed would end 4.7 s from now. */
    t0 = lp_test_now_ms();
    ASSERT_EQ(kill(pid, sig), 0);
    slurp(out_fd, sink, sizeof(sink));
    slurp(err_fd, sink, sizeof(sink));
    close(out_fd);
    close(err_fd);
    ASSERT_EQ(wait_status(pid), 128 + sig);
    ASSERT_TRUE(lp_test_now_ms() - t0 < 4000); /* did not sit out 5 s */
    ASSERT_FALSE(exists(dir));
    ASSERT_EQ(leftover_cgroups(env.cpu_root, pid), 0);
    ASSERT_EQ(leftover_cgroups(env.mem_root, pid), 0);
}

TEST(sigint_removes_cgroups)
{
    interrupted_run(SIGINT, "--sleep");
}

TEST(sigterm_removes_cgroups)
{
    /* With the delay server's process running too. */
    interrupted_run(SIGTERM, "--io-delay");
}

/* The config tune_parse_args makes of args (NULL-terminated). */
static void parsed_config(struct tune_config *cfg, const char *const *args)
{
    char *argv[32], err[256];
    int argc = 0;

    argv[argc++] = "lp-tune";
    while (*args != NULL)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    tune_config_defaults(cfg);
    if (tune_parse_args(argc, argv, cfg, err, sizeof(err)) != 0)
        LP_TEST_FAIL("%s", err);
}

#define CONFIG(cfg, ...) \
    parsed_config(cfg, (const char *const[]){ __VA_ARGS__, NULL })

/* Every value option lands in the config. */
TEST(options_are_applied)
{
    struct tune_config cfg;

    CONFIG(&cfg, "--sleep", "7", "--workers", "2", "--balanced-weight", "0.25",
           "--billing-granularity", "100", "--discard", "0.1", "--timeout", "9",
           "-r", "4", "-n", "6", "-m", "512,128");
    ASSERT_EQ(cfg.workload, TUNE_WL_SLEEP);
    ASSERT_EQ(cfg.delay_ms, 7);
    ASSERT_EQ(cfg.workers, 2);
    ASSERT_TRUE(cfg.balanced_weight == 0.25);
    ASSERT_EQ(cfg.billing_ms, 100);
    ASSERT_TRUE(cfg.discard == 0.1);
    ASSERT_EQ(cfg.run_timeout_s, 9);
    ASSERT_EQ(cfg.reps, 4);
    ASSERT_EQ(cfg.tasks, 6);
    ASSERT_EQ(cfg.n_memory, 2);
    ASSERT_EQ(cfg.memory_mb[0], 512);
    ASSERT_EQ(cfg.memory_mb[1], 128);
}

/*
 * A run whose tasks fail fails the cell even when the worker itself exits
 * 0 with a result line (--cold: no warm-up call fails first), so lp-tune
 * exits 1 and never reports a fast-looking figure.
 */
TEST(failed_tasks_fail_a_cold_cell)
{
    static struct output o;

    RUN(&o, "--url", "http://127.0.0.1:1/nothing-listens", "-m", "1769", "-r",
        "1", "--modes", "sequential,threads", "--format", "csv", "--cold",
        "--no-throttle");
    ASSERT_EQ(o.status, 1);
    ASSERT_TRUE(strstr(o.out, ",sequential,c,0,1,") != NULL);
    ASSERT_TRUE(strstr(o.out, ",threads,c,0,1,") != NULL);
}

LP_TEST_MAIN()

/*
 * The worker launcher. A worker is always a fresh exec'd process so that
 * every mode and language starts alike: its peak RSS is its own, it holds
 * none of lp-tune's threads or sockets (fds above 2 are closed), and it
 * joins its cgroup before exec so that all of it is throttled. The worker
 * leads its own process group so that a timeout or Ctrl-C can kill it with
 * every child it forked (throttle.c's handler does the latter).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"
#include "tune.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int runner_parse_line(const char *line, struct run_result *out)
{
    const char *p;
    bool have_elapsed = false;

    if (strncmp(line, TUNE_RESULT_TAG " ", strlen(TUNE_RESULT_TAG) + 1) != 0)
        return -1;
    p = line + strlen(TUNE_RESULT_TAG);
    while (*p != '\0') {
        double d;
        int n, consumed = 0;

        while (*p == ' ')
            p++;
        if (sscanf(p, "elapsed_ms=%lf%n", &d, &consumed) == 1 && d >= 0) {
            out->elapsed_ms = d;
            have_elapsed = true;
        } else if (sscanf(p, "ok=%d%n", &n, &consumed) == 1) {
            out->ok = n;
        } else if (sscanf(p, "failed=%d%n", &n, &consumed) == 1) {
            out->failed = n;
        }
        p += consumed;
        while (*p != '\0' && *p != ' ' && *p != '\n')
            p++;
        if (*p == '\n')
            break;
    }
    return have_elapsed ? 0 : -1;
}

static void write_str(int fd, const char *s)
{
    ssize_t n = write(fd, s, strlen(s));

    (void)n;
}

/* The child: async-signal-safe calls only, then exec. */
static _Noreturn void child_exec(char *const argv[], int in_fd, int out_fd)
{
    setpgid(0, 0);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    signal(SIGABRT, SIG_DFL);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0)
        _exit(126);
    syscall(SYS_close_range, 3U, ~0U, 0U);
    execvp(argv[0], argv);
    write_str(2, "lp-tune: cannot run ");
    write_str(2, argv[0]);
    write_str(2, "\n");
    _exit(127);
}

/* What the parent knows while a worker runs. */
struct worker_io {
    pid_t pid;
    int out_fd; /* the worker's stdout */
    int go_fd;  /* the worker's stdin; -1 once "go" was sent */
    const struct throttle *t;
    bool got;     /* result line seen */
    bool entered; /* moved into the cgroup (or none to enter) */
};

/* Handles one line of worker output. */
static void on_line(struct worker_io *io, const char *line,
                    struct run_result *out)
{
    if (strcmp(line, TUNE_READY_TAG) == 0 && io->go_fd >= 0) {
        if (io->t != NULL && throttle_enter_pid(io->t, io->pid) != 0) {
            snprintf(out->error, sizeof(out->error),
                     "cannot move the worker into its cgroup: %s",
                     strerror(errno));
            kill(-io->pid, SIGKILL);
        } else {
            io->entered = true;
            if (io->t != NULL)
                throttle_mem_peak_reset(io->t);
            write_str(io->go_fd, "go\n");
        }
        close(io->go_fd);
        io->go_fd = -1;
    } else if (runner_parse_line(line, out) == 0) {
        io->got = true;
    }
}

/*
 * Reads the worker's stdout until EOF or the deadline. It reads only once
 * poll() reports the pipe readable (or closed): a poll that timed out or was
 * interrupted goes round again, to the deadline check, never into a read()
 * that would block past the limit.
 */
static void read_output(struct worker_io *io, double deadline,
                        struct run_result *out)
{
    char buf[8192];
    size_t len = 0;

    for (;;) {
        struct pollfd p = { io->out_fd, POLLIN, 0 };
        int left = (int)((deadline - now_s()) * 1000);
        int ready;
        ssize_t n;

        if (left <= 0) {
            out->timed_out = true;
            return;
        }
        ready = poll(&p, 1, left);
        if (ready < 0 && errno != EINTR)
            return;
        if (ready <= 0)
            continue;
        n = read(io->out_fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        len += (size_t)n;
        buf[len] = '\0';
        for (char *nl; (nl = strchr(buf, '\n')) != NULL;) {
            *nl = '\0';
            on_line(io, buf, out);
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len + 1);
        }
        if (len == sizeof(buf) - 1)
            len = 0; /* an endless line: not ours */
    }
}

static void describe_exit(int status, struct run_result *out,
                          const struct worker_io *io)
{
    if (out->error[0] != '\0')
        return;
    if (out->timed_out)
        snprintf(out->error, sizeof(out->error), "timed out");
    else if (WIFSIGNALED(status)) {
        out->killed = true;
        snprintf(out->error, sizeof(out->error),
                 WTERMSIG(status) == SIGKILL
                     ? "killed by SIGKILL (out of memory?)"
                     : "killed by signal %d",
                 WTERMSIG(status));
    } else if (WEXITSTATUS(status) != 0)
        snprintf(out->error, sizeof(out->error), "exited with status %d",
                 WEXITSTATUS(status));
    else if (!io->got)
        snprintf(out->error, sizeof(out->error), "printed no result line");
    else if (!io->entered)
        snprintf(out->error, sizeof(out->error),
                 "never printed \"" TUNE_READY_TAG "\": ran unthrottled");
}

/*
 * Waits for the worker, which closed its stdout or ran out of time, until
 * the same deadline: one that closed stdout but still runs is killed at the
 * limit too. A killed group is waited for without a limit (SIGKILL).
 */
static void reap(const struct worker_io *io, double deadline,
                 struct run_result *out, int *status, struct rusage *ru)
{
    long nap_us = 1000;

    while (!out->timed_out) {
        pid_t r = wait4(io->pid, status, WNOHANG, ru);

        if (r == io->pid || (r < 0 && errno != EINTR))
            return;
        if (now_s() >= deadline) {
            out->timed_out = true;
        } else if (r == 0) {
            struct timespec ts = { 0, nap_us * 1000 };

            nanosleep(&ts, NULL);
            nap_us = nap_us < 50000 ? nap_us * 2 : nap_us;
        }
    }
    kill(-io->pid, SIGKILL);
    while (wait4(io->pid, status, 0, ru) < 0 && errno == EINTR) {
    }
}

/* Two pipes for the worker: in[0]/out[1] are its ends. 0 or -1. */
static int make_pipes(int in[2], int out[2], struct run_result *res)
{
    if (pipe2(in, O_CLOEXEC) != 0)
        goto fail;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        goto fail;
    }
    return 0;
fail:
    snprintf(res->error, sizeof(res->error), "pipe: %s", strerror(errno));
    return -1;
}

int runner_run(char *const argv[], const struct throttle *t, int timeout_s,
               struct run_result *out)
{
    struct worker_io io = { .t = t, .entered = t == NULL };
    struct rusage ru;
    int in[2], outp[2], status = 0;
    double deadline;

    memset(out, 0, sizeof(*out));
    memset(&ru, 0, sizeof(ru));
    if (make_pipes(in, outp, out) != 0)
        return -1;
    fflush(NULL);
    io.pid = fork();
    if (io.pid == 0)
        child_exec(argv, in[0], outp[1]);
    close(in[0]);
    close(outp[1]);
    io.out_fd = outp[0];
    io.go_fd = in[1];
    if (io.pid < 0) {
        close(io.out_fd);
        close(io.go_fd);
        snprintf(out->error, sizeof(out->error), "fork: %s", strerror(errno));
        return -1;
    }
    setpgid(io.pid, io.pid);
    throttle_set_running(io.pid);
    deadline = now_s() + timeout_s;
    read_output(&io, deadline, out);
    close(io.out_fd);
    if (io.go_fd >= 0)
        close(io.go_fd);
    reap(&io, deadline, out, &status, &ru);
    throttle_set_running(0);
    out->peak_rss_kb = ru.ru_maxrss;
    out->mem_peak_kb = t != NULL ? throttle_mem_peak_kb(t) : -1;
    describe_exit(status, out, &io);
    return out->error[0] == '\0' ? 0 : -1;
}

/*
 * Lambda runtime benchmark driver: runs a bootstrap (any command) against
 * the loopback Runtime API stub (tests/lambda-stub.c) and prints
 * "<key> <value>" lines for scripts/bench-lambda.sh.
 *
 *   bench-lambda overhead N CMD...   N invocations of an empty event; the
 *       time between the POSTs of invocation N/10 and N, per invocation:
 *       "per_invocation_us", i.e. one GET next + handler + POST round, the
 *       stub's own work included (it is the same for every peer); and
 *       "cpu_us_per_invocation", the CPU time (user + system) of the
 *       bootstrap and the children it reaped, divided by N: the cost that
 *       does not depend on how busy the machine is.
 *   bench-lambda coldstart CMD...    exec of CMD to its first GET next:
 *       "cold_start_us"; "cold_cpu_us" is the CPU time CMD used up to its
 *       first answer (start and one invocation).
 *   bench-lambda coldrun K CMD...    serves CMD K events, closes the
 *       connection at the next GET next, and waits (60 s at most) for CMD
 *       to exit by itself: for running CMD under a tool that reports at exit
 *       (valgrind). Prints "exit_status".
 * CMD runs in its own process group with AWS_LAMBDA_RUNTIME_API set and is
 * killed (SIGKILL to the group) once measured.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lambda-stub.h"

extern char **environ;

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static pid_t spawn(char **argv)
{
    posix_spawnattr_t attr;
    pid_t pid;
    int err;

    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    err = posix_spawnp(&pid, argv[0], NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    if (err != 0) {
        fprintf(stderr, "bench-lambda: cannot run %s: %s\n", argv[0],
                strerror(err));
        exit(1);
    }
    return pid;
}

/* Kills the bootstrap's group; returns its CPU time in microseconds. */
static double stop(pid_t pid)
{
    struct rusage ru;
    int status;

    kill(-pid, SIGKILL);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int overhead(long n, char **cmd)
{
    struct stub_event *ev = calloc((size_t)n, sizeof(*ev));
    struct stub *s;
    size_t warm = (size_t)n / 10;
    pid_t pid;
    int64_t t0, t1;
    double cpu;

    if (ev == NULL)
        return 1;
    for (long i = 0; i < n; i++)
        ev[i].body = "{}";
    s = stub_create(ev, (size_t)n);
    setenv("AWS_LAMBDA_RUNTIME_API", stub_addr(s), 1);
    stub_start(s);
    pid = spawn(cmd);
    if (!stub_wait_posts(s, (size_t)n, 120000)) {
        fprintf(stderr, "bench-lambda: only %zu of %ld invocations answered\n",
                stub_post_count(s), n);
        stop(pid);
        return 1;
    }
    t0 = stub_post_get(s, warm)->t_ns;
    t1 = stub_post_get(s, (size_t)n - 1)->t_ns;
    cpu = stop(pid);
    printf("per_invocation_us %.2f\n",
           (double)(t1 - t0) / 1e3 / (double)((size_t)n - 1 - warm));
    printf("cpu_us_per_invocation %.2f\n", cpu / (double)n);
    printf("invocations %ld\n", n);
    stub_destroy(s);
    free(ev);
    return 0;
}

static int coldstart(char **cmd)
{
    static struct stub_event ev[1] = { { .body = "{}" } };
    struct stub *s = stub_create(ev, 1);
    int64_t t0;
    pid_t pid;

    setenv("AWS_LAMBDA_RUNTIME_API", stub_addr(s), 1);
    stub_start(s);
    t0 = mono_ns();
    pid = spawn(cmd);
    if (!stub_wait_first_next(s, 30000)) {
        fprintf(stderr, "bench-lambda: %s never asked for an event\n", cmd[0]);
        stop(pid);
        return 1;
    }
    printf("cold_start_us %.1f\n", (double)(stub_first_next_ns(s) - t0) / 1e3);
    /* Up to the first answer, or the end of a CMD that never answers. */
    for (int i = 0; i < 3000 && !stub_wait_posts(s, 1, 10); i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            pid = 0;
            break;
        }
    }
    if (pid != 0)
        printf("cold_cpu_us %.1f\n", stop(pid));
    stub_destroy(s);
    return 0;
}

static int coldrun(long k, char **cmd)
{
    struct stub_event *ev = calloc((size_t)k, sizeof(*ev));
    struct stub *s;
    int status = 0;
    pid_t pid;

    if (ev == NULL)
        return 1;
    for (long i = 0; i < k; i++)
        ev[i].body = "{}";
    s = stub_create(ev, (size_t)k);
    stub_close_when_done(s);
    setenv("AWS_LAMBDA_RUNTIME_API", stub_addr(s), 1);
    stub_start(s);
    pid = spawn(cmd);
    for (int i = 0; i < 6000; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (i == 5999) {
            fprintf(stderr, "bench-lambda: %s did not exit\n", cmd[0]);
            stop(pid);
            stub_destroy(s);
            free(ev);
            return 1;
        }
        stub_wait_posts(s, (size_t)k + 1, 10); /* a 10 ms nap */
    }
    printf("exit_status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128);
    stub_destroy(s);
    free(ev);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "overhead") == 0) {
        long n = strtol(argv[2], NULL, 10);
        if (n < 20 || n > 4000) {
            fprintf(stderr, "bench-lambda: N must be 20..4000\n");
            return 1;
        }
        return overhead(n, argv + 3);
    }
    if (argc >= 3 && strcmp(argv[1], "coldstart") == 0)
        return coldstart(argv + 2);
    if (argc >= 4 && strcmp(argv[1], "coldrun") == 0) {
        long k = strtol(argv[2], NULL, 10);
        if (k < 1 || k > 4000) {
            fprintf(stderr, "bench-lambda: K must be 1..4000\n");
            return 1;
        }
        return coldrun(k, argv + 3);
    }
    fprintf(stderr,
            "usage: bench-lambda overhead N CMD... | coldstart CMD... | "
            "coldrun K CMD...\n");
    return 1;
}

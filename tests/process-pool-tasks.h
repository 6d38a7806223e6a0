/*
 * Bytes tasks for the process pool tests. They run in worker processes, so
 * they talk to the test only through their input and their reply.
 */
#ifndef LP_PROCESS_POOL_TASKS_H
#define LP_PROCESS_POOL_TASKS_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lambdapool/lambdapool.h"

static inline void reply_str(lp_task *task, const char *s)
{
    lp_task_reply(task, s, strlen(s));
}

static __attribute__((unused)) void task_echo(lp_task *task, const void *in,
                                              size_t len)
{
    lp_task_reply(task, in, len);
}

static __attribute__((unused)) void task_silent(lp_task *task, const void *in,
                                                size_t len)
{
    (void)task;
    (void)in;
    (void)len;
}

static __attribute__((unused)) void task_pid(lp_task *task, const void *in,
                                             size_t len)
{
    char buf[32];

    (void)in;
    (void)len;
    snprintf(buf, sizeof(buf), "%ld", (long)getpid());
    reply_str(task, buf);
}

static __attribute__((unused)) void task_ppid(lp_task *task, const void *in,
                                              size_t len)
{
    char buf[32];

    (void)in;
    (void)len;
    snprintf(buf, sizeof(buf), "%ld", (long)getppid());
    reply_str(task, buf);
}

static __attribute__((unused)) void task_fail(lp_task *task, const void *in,
                                              size_t len)
{
    lp_task_fail(task, 42, EIO, "boom %.*s", (int)len, (const char *)in);
}

/* Set by the tests' initializer, in the worker's copy of memory. */
static int init_value;

/* Replies with the worker's init_value. */
static __attribute__((unused)) void task_global(lp_task *task, const void *in,
                                                size_t len)
{
    char buf[32];

    (void)in;
    (void)len;
    snprintf(buf, sizeof(buf), "%d", init_value);
    reply_str(task, buf);
}

/* Input: decimal n; replies 2n, or fails with code 13 for input "39". */
static __attribute__((unused)) void task_double(lp_task *task, const void *in,
                                                size_t len)
{
    char buf[32];
    long v;

    snprintf(buf, sizeof(buf), "%.*s", (int)len, (const char *)in);
    v = strtol(buf, NULL, 10);
    if (v == 39) {
        lp_task_fail(task, 13, 0, "unlucky");
        return;
    }
    snprintf(buf, sizeof(buf), "%ld", v * 2);
    reply_str(task, buf);
}

/* Input: an int64_t of milliseconds. */
static __attribute__((unused)) void task_sleep_ms(lp_task *task, const void *in,
                                                  size_t len)
{
    int64_t ms = 0;
    struct timespec ts;

    if (len == sizeof(ms))
        memcpy(&ms, in, sizeof(ms));
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000;
    while (nanosleep(&ts, &ts) != 0) {
    }
    reply_str(task, "slept");
}

/* Input: an int64_t of milliseconds; sleeps, then replies with its pid. */
static __attribute__((unused)) void task_sleep_pid(lp_task *task,
                                                   const void *in, size_t len)
{
    int64_t ms = 0;
    struct timespec ts;
    char buf[32];

    if (len == sizeof(ms))
        memcpy(&ms, in, sizeof(ms));
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000;
    while (nanosleep(&ts, &ts) != 0) {
    }
    snprintf(buf, sizeof(buf), "%ld", (long)getpid());
    reply_str(task, buf);
}

/* Input: decimal size; replies with the status of lp_task_reply for it. */
static __attribute__((unused)) void task_big_reply(lp_task *task,
                                                   const void *in, size_t len)
{
    char buf[32], *big;
    size_t n;
    lp_status st;

    snprintf(buf, sizeof(buf), "%.*s", (int)len, (const char *)in);
    n = (size_t)strtoul(buf, NULL, 10);
    big = calloc(1, n);
    st = lp_task_reply(task, big, n);
    free(big);
    reply_str(task, lp_status_str(st));
}

static __attribute__((unused)) void *task_pointer(void *arg, lp_task *task)
{
    (void)task;
    return arg;
}

static __attribute__((unused)) void task_crash(lp_task *task, const void *in,
                                               size_t len)
{
    (void)task;
    (void)in;
    (void)len;
    raise(SIGSEGV);
}

static __attribute__((unused)) void task_exit3(lp_task *task, const void *in,
                                               size_t len)
{
    (void)task;
    (void)in;
    (void)len;
    exit(3);
}

static __attribute__((unused)) void task_hang(lp_task *task, const void *in,
                                              size_t len)
{
    (void)task;
    (void)in;
    (void)len;
    for (;;)
        pause();
}

/* Writes the start of a valid RESULT frame header, then exits: the parent
 * sees a frame cut short by EOF. */
static __attribute__((unused)) void task_truncate(lp_task *task, const void *in,
                                                  size_t len)
{
    static const unsigned char part[20] = { 'L', 'P', 'F', '1', 2, 0 };

    (void)task;
    (void)in;
    (void)len;
    if (write(3, part, sizeof(part)) < 0)
        _exit(9);
    _exit(0);
}

/* Writes garbage where the worker's frames go (descriptor 3), then waits to
 * be killed by the pool. */
static __attribute__((unused)) void task_scribble(lp_task *task, const void *in,
                                                  size_t len)
{
    static const char junk[64] = "this is not a frame, this is junk......";

    (void)task;
    (void)in;
    (void)len;
    if (write(3, junk, sizeof(junk)) < 0)
        _exit(9);
    for (;;)
        pause();
}

#endif

/*
 * Checks shared by the process pool tests, run in the test process (the
 * tasks they submit are in process-pool-tasks.h).
 */
#ifndef LP_PROCESS_POOL_TEST_UTIL_H
#define LP_PROCESS_POOL_TEST_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "lp-test.h"
#include "process-pool-tasks.h"

/* Every child (fork server and workers) was reaped. */
static __attribute__((unused)) void assert_no_children(void)
{
    ASSERT_EQ(-1, waitpid(-1, NULL, WNOHANG));
    ASSERT_EQ(ECHILD, errno);
}

/* The pid of the worker that runs the next task. */
static __attribute__((unused)) long worker_pid(lp_executor *ex)
{
    lp_future *f;
    void *r;
    long pid;

    ASSERT_OK(lp_executor_submit_bytes(ex, task_pid, NULL, 0, &f));
    ASSERT_OK(lp_future_result(f, 10000, &r));
    pid = strtol(((lp_bytes *)r)->data, NULL, 10);
    lp_future_release(f);
    return pid;
}

/* Dead (a zombie waiting for init counts) or gone. */
static __attribute__((unused)) bool process_gone(pid_t pid)
{
    char path[64], buf[256], *paren;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return true;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    paren = strrchr(buf, ')');
    return paren == NULL || paren[1] == '\0' || paren[2] == 'Z' ||
           paren[2] == 'X';
}

#endif

/*
 * Helpers shared by lp-tune's load tests: the delay server in a child
 * process of its own (forked before any thread exists, so TSan is happy and
 * client and server each get their own descriptor limit).
 */
#ifndef LPTUNE_TEST_UTIL_H
#define LPTUNE_TEST_UTIL_H

#include <signal.h>
#include <unistd.h>

#include "delay_server.h"
#include "lp-test.h"

/* Forks a child serving on an ephemeral port until killed; returns it. */
static inline pid_t start_server_child(int *port)
{
    int fds[2];
    pid_t pid;

    ASSERT_EQ(pipe(fds), 0);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        struct delay_server *s;
        int p = -1;

        if (delay_server_start("127.0.0.1", 0, &s) == 0)
            p = delay_server_port(s);
        if (write(fds[1], &p, sizeof(p)) != sizeof(p) || p < 0)
            _exit(1);
        for (;;)
            pause();
    }
    close(fds[1]);
    ASSERT_EQ(read(fds[0], port, sizeof(*port)), (ssize_t)sizeof(*port));
    close(fds[0]);
    ASSERT_TRUE(*port > 0);
    return pid;
}

#endif

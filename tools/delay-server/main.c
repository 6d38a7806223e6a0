/*
 * lp-delay-server: the loopback delay server as a process, for benchmarks
 * and for tests that need its sockets outside their own descriptor limit.
 *
 *   lp-delay-server [--host 127.0.0.1] [--port 0] [--no-stdin]
 *
 * Prints "port <n>" on stdout once listening, then serves until SIGTERM or
 * SIGINT, or until stdin reaches EOF (unless --no-stdin), so a parent that
 * dies takes the server with it.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "delay_server.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: lp-delay-server [--host ADDR] [--port N] [--no-stdin]\n");
    return 2;
}

/* Waits for SIGTERM/SIGINT on `sig_fd`, or EOF on stdin if `watch_stdin`. */
static void wait_for_end(int sig_fd, bool watch_stdin)
{
    struct pollfd pfd[2] = { { .fd = sig_fd, .events = POLLIN },
                             { .fd = 0, .events = POLLIN } };
    char buf[256];

    for (;;) {
        int n = poll(pfd, watch_stdin ? 2 : 1, -1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || pfd[0].revents)
            return;
        if (pfd[1].revents) {
            ssize_t r = read(0, buf, sizeof(buf));

            if (r <= 0 && !(r < 0 && errno == EINTR))
                return;
        }
    }
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    long port = 0;
    bool watch_stdin = true;
    struct delay_server *s;
    sigset_t set;
    int err, sig_fd;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            host = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end;

            port = strtol(argv[++i], &end, 10);
            if (*end != '\0' || port < 0 || port > 65535)
                return usage();
        } else if (strcmp(argv[i], "--no-stdin") == 0) {
            watch_stdin = false;
        } else {
            return usage();
        }
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sig_fd < 0) {
        perror("lp-delay-server: signalfd");
        return 1;
    }
    err = delay_server_start(host, (int)port, &s);
    if (err) {
        fprintf(stderr, "lp-delay-server: %s:%ld: %s\n", host, port,
                strerror(err));
        return 1;
    }
    printf("port %d\n", delay_server_port(s));
    fflush(stdout);
    wait_for_end(sig_fd, watch_stdin);
    delay_server_stop(s);
    close(sig_fd);
    return 0;
}

/*
 * The loopback delay server behind --io-delay, run in a process of its own:
 * it is "the network", so it is never throttled, and lp-tune's own process
 * (which forks a worker per run) holds none of its sockets.
 */
#ifndef LP_TUNE_SERVER_H
#define LP_TUNE_SERVER_H

#include <stddef.h>
#include <sys/types.h>

struct tune_server {
    pid_t pid;  /* the server process */
    int ctl_fd; /* closing it stops the server */
    int port;
};

/*
 * Forks the server process and waits until it listens on 127.0.0.1. Call
 * before starting threads. Returns 0, or -1 with a message.
 */
int tune_server_start(struct tune_server *s, char *err, size_t errlen);

/* Stops the server and reaps it. */
void tune_server_stop(struct tune_server *s);

#endif

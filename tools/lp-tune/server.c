/*
 * The delay server's process. The parent keeps the write end of a pipe;
 * the server process serves until that pipe reports EOF (lp-tune stopped it
 * or died), and PR_SET_PDEATHSIG kills it if lp-tune is killed outright.
 *
 * Why a process and not a thread of lp-tune: lp-tune forks a worker for
 * every run, and a fork copies every descriptor the server holds. A
 * connection the server closes in that window stays open in the child, so
 * it stays in the server's epoll set, whose next event then points at a
 * freed connection. In a process of its own, the server's descriptors are
 * never copied.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "delay_server.h"
#include "server.h"

/* The server process: never returns. */
static _Noreturn void serve(int ctl_fd, int report_fd, pid_t parent)
{
    struct delay_server *ds = NULL;
    int port, err;
    char c;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(0);
    err = delay_server_start("127.0.0.1", 0, &ds);
    port = err == 0 ? delay_server_port(ds) : -err;
    if (write(report_fd, &port, sizeof(port)) != sizeof(port) || err != 0)
        _exit(1);
    close(report_fd);
    while (read(ctl_fd, &c, 1) < 0 && errno == EINTR) {
    }
    delay_server_stop(ds);
    _exit(0);
}

int tune_server_start(struct tune_server *s, char *err, size_t errlen)
{
    pid_t parent = getpid();
    int ctl[2], rep[2], port = 0;
    ssize_t n;

    if (pipe2(ctl, O_CLOEXEC) != 0)
        goto fail_errno;
    if (pipe2(rep, O_CLOEXEC) != 0) {
        close(ctl[0]);
        close(ctl[1]);
        goto fail_errno;
    }
    fflush(NULL);
    s->pid = fork();
    if (s->pid == 0) {
        close(ctl[1]);
        close(rep[0]);
        serve(ctl[0], rep[1], parent);
    }
    close(ctl[0]);
    close(rep[1]);
    s->ctl_fd = ctl[1];
    do
        n = read(rep[0], &port, sizeof(port));
    while (n < 0 && errno == EINTR);
    close(rep[0]);
    if (s->pid < 0 || n != sizeof(port) || port <= 0) {
        snprintf(err, errlen, "delay server: %s",
                 s->pid < 0 ? strerror(errno)
                 : port < 0 ? strerror(-port)
                            : "did not start");
        tune_server_stop(s);
        return -1;
    }
    s->port = port;
    return 0;
fail_errno:
    snprintf(err, errlen, "delay server: %s", strerror(errno));
    s->pid = -1;
    s->ctl_fd = -1;
    return -1;
}

void tune_server_stop(struct tune_server *s)
{
    if (s->ctl_fd >= 0)
        close(s->ctl_fd);
    s->ctl_fd = -1;
    if (s->pid > 0)
        while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    s->pid = -1;
}

/*
 * Between the process pool's parent side (process_pool.c) and its child
 * side (process_worker.c): the fork server's control messages and the
 * configuration both sides share.
 *
 * The parent and the fork server talk over one socketpair with fixed-size
 * 16-byte messages. Parent to server: SPAWN (start a worker for `slot`),
 * KILL (SIGKILL worker `pid`, or when `pid` is 0 the worker in `slot`),
 * KILL_ALL (signal `value`, 0: SIGKILL, to every worker), QUIT (kill and
 * reap every worker, then exit). Server to parent: SPAWNED (pid, slot, and
 * the parent's end of the worker's socketpair passed with SCM_RIGHTS; no
 * descriptor for a pre-connected slot), SPAWN_FAILED (value: errno), EXITED
 * (pid, value: the wait status).
 *
 * Pre-connected slots: the parent makes the socketpairs of the first
 * `preconnected` initial workers itself, before forking the server, which
 * gets the worker ends at descriptors LP__SERVER_CTL_FD + 1 + slot. The
 * parent can then send tasks at once; a worker finds them waiting when it
 * starts, instead of the parent waiting for SPAWNED before the first write.
 *
 * The parent also makes the server's SIGCHLD signalfd (it reads the signals
 * of whichever process reads it), which the server finds right after the
 * worker ends. Every descriptor the server needs is thus made, or fails,
 * in the parent, where create can report it; the server itself only moves
 * them into place and closes the rest, which cannot run out of descriptors.
 */
#ifndef LP_INTERNAL_PROCESS_H
#define LP_INTERNAL_PROCESS_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

/* Descriptor numbers inside the children. */
#define LP__SERVER_CTL_FD 3
#define LP__WORKER_FD     3

/* A FAIL frame's body is the task's message, shorter than this, whatever
 * max_payload is. */
#define LP__FAIL_MESSAGE_MAX 1024

/* The longest frame body a worker may send: a reply, or a failure. */
static inline uint64_t lp__worker_frame_max(uint64_t max_payload)
{
    return max_payload > LP__FAIL_MESSAGE_MAX ? max_payload
                                              : LP__FAIL_MESSAGE_MAX;
}

/* Initial workers whose socketpairs the parent makes (the rest, and every
 * replacement, get theirs from the fork server through SPAWNED). */
#define LP__PRECONNECT_MAX 16

enum lp__ctl_type {
    LP__CTL_SPAWN = 1,
    LP__CTL_KILL = 2,
    LP__CTL_KILL_ALL = 3,
    LP__CTL_QUIT = 4,
    LP__CTL_SPAWNED = 5,
    LP__CTL_SPAWN_FAILED = 6,
    LP__CTL_EXITED = 7
};

struct lp__ctl_msg {
    uint32_t type;
    int32_t pid;
    int32_t value;
    uint32_t slot;
};

struct lp__proc_config {
    int workers;      /* started at once, slots 0..workers-1 */
    int preconnected; /* slots 0..preconnected-1 come with a socket */
    unsigned max_tasks_per_child;
    int (*initializer)(void *arg);
    void *initializer_arg;
    uint64_t max_payload;
};

/*
 * Forks the fork server with every signal blocked (workers get back the
 * calling thread's mask); `ctl_fd` is the server's end of the control
 * socketpair, `worker_fds` the worker ends of the cfg->preconnected
 * pre-connected slots and `chld_fd` a non-blocking signalfd for SIGCHLD
 * (all closed in the parent by the caller). Returns the pid, or -1 with
 * errno set. In the child, never returns.
 */
pid_t lp__fork_server_start(const struct lp__proc_config *cfg, int ctl_fd,
                            const int *worker_fds, int chld_fd);

/*
 * Pool descriptors stay above 2. Every child of the pool keeps 0-2, so a
 * pool descriptor that took one of them (the application had closed its
 * standard streams) would be inherited by the fork server and each worker,
 * keeping open sockets whose close they wait for, and a task writing to
 * stdout would write into it. Moves `fd` up if it is 0-2; returns the
 * descriptor, or -1 with errno set (`fd` closed). Async-signal-safe.
 */
int lp__fd_above_stdio(int fd);
/* socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC) with both ends above 2;
 * 0, or -1 with errno set. Async-signal-safe. */
int lp__socketpair_above_stdio(int sv[2]);

/* Asks for 1 MiB socket buffers on both ends of a worker's socketpair. */
void lp__worker_socket_buffers(const int sv[2]);

/* Sends or receives exactly one control message; 0, or -1 with errno
 * (EPIPE/ECONNRESET: peer gone; 0 bytes at a message boundary: ENODATA).
 * The received descriptor is -1 when none came, or LP__CTL_FD_LOST when
 * one was sent but the kernel dropped it (the receiver was at its
 * RLIMIT_NOFILE: MSG_CTRUNC). */
#define LP__CTL_FD_LOST (-2)
int lp__ctl_send(int fd, const struct lp__ctl_msg *m, int pass_fd);
int lp__ctl_recv(int fd, struct lp__ctl_msg *m, int *passed_fd);

#endif

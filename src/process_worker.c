/*
 * The process pool's child side: the fork server and the worker loop.
 *
 * The fork server is forked from the (possibly multi-threaded) parent at
 * pool creation and from then on makes only async-signal-safe calls: it
 * keeps descriptors 0-2, its control socket, the worker ends of the
 * pre-connected slots and the SIGCHLD signalfd, all made by the parent
 * (so that create reports their failure), closes everything else, blocks
 * every signal, forks the initial workers, hears SIGCHLD through the
 * signalfd and serves the parent's SPAWN/KILL/KILL_ALL/QUIT messages
 * (process.h). Each worker is forked from this single-threaded server, so
 * no lock another parent thread held can be inherited in a state a worker
 * cannot see through; the server reaps every worker and reports its wait
 * status to the parent.
 *
 * A worker runs the initializer, says HELLO (or INIT_FAIL), then reads TASKS
 * frames from descriptor 3, runs each entry's bytes function with a
 * frame-encoding lp_task, and writes one RESULT or FAIL
 * frame per entry, flushed once per TASKS frame. It ends with _exit(): on
 * EOF from the parent, after max_tasks_per_child frames, or when the
 * initializer fails (after an INIT_FAIL frame). It never runs atexit
 * handlers of the parent and never creates threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "frame.h"
#include "process.h"
#include "task.h"

#define MAX_CHILDREN   1024
#define OUT_BUF_SIZE   (64 * 1024)
#define EXIT_BAD_FRAME 70

/* ---- control messages ---------------------------------------------------- */

int lp__ctl_send(int fd, const struct lp__ctl_msg *m, int pass_fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = { (void *)m, sizeof(*m) };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t n;

    if (pass_fd >= 0) {
        memset(&u, 0, sizeof(u));
        msg.msg_control = u.buf;
        msg.msg_controllen = sizeof(u.buf);
        CMSG_FIRSTHDR(&msg)->cmsg_level = SOL_SOCKET;
        CMSG_FIRSTHDR(&msg)->cmsg_type = SCM_RIGHTS;
        CMSG_FIRSTHDR(&msg)->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(CMSG_FIRSTHDR(&msg)), &pass_fd, sizeof(int));
    }
    do {
        n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    /* Messages are 16 bytes on a stream socket: one send takes them whole
     * unless the peer is gone. */
    if (n != (ssize_t)sizeof(*m))
        return -1;
    return 0;
}

int lp__ctl_recv(int fd, struct lp__ctl_msg *m, int *passed_fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = { m, sizeof(*m) };
    struct msghdr msg = { .msg_iov = &iov,
                          .msg_iovlen = 1,
                          .msg_control = u.buf,
                          .msg_controllen = sizeof(u.buf) };
    struct cmsghdr *c;
    ssize_t n;
    size_t got = 0;

    *passed_fd = -1;
    while (got < sizeof(*m)) {
        iov.iov_base = (char *)m + got;
        iov.iov_len = sizeof(*m) - got;
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = got == 0 ? ENODATA : EPROTO;
            return -1;
        }
        for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                memcpy(passed_fd, CMSG_DATA(c), sizeof(int));
        if ((msg.msg_flags & MSG_CTRUNC) && *passed_fd < 0)
            *passed_fd = LP__CTL_FD_LOST;
        if (*passed_fd >= 0) {
            *passed_fd = lp__fd_above_stdio(*passed_fd);
            if (*passed_fd < 0) /* no descriptor left to move it to */
                *passed_fd = LP__CTL_FD_LOST;
        }
        msg.msg_control = NULL;
        msg.msg_controllen = 0;
        got += (size_t)n;
    }
    return 0;
}

/* ---- the worker ---------------------------------------------------------- */

struct worker {
    int fd;
    const struct lp__proc_config *cfg;
    unsigned char out[OUT_BUF_SIZE];
    size_t out_len;
};

struct worker_task {
    struct lp_task base;
    struct worker *w;
    uint64_t max_payload;
    void *reply;       /* owned; NULL when the reply is inline */
    bool inline_reply; /* the reply sits in w->out after a frame header */
    size_t reply_len;
    bool failed;
    int code, sys_errno;
    char message[LP__FAIL_MESSAGE_MAX];
};

static void worker_fail(lp_task *task, int code, int sys_errno, const char *fmt,
                        va_list ap)
{
    struct worker_task *t = (struct worker_task *)task;

    if (t->failed)
        return;
    t->failed = true;
    t->code = code;
    t->sys_errno = sys_errno;
    vsnprintf(t->message, sizeof(t->message), fmt != NULL ? fmt : "task failed",
              ap);
}

/*
 * A reply that fits is copied straight into the output buffer, after room
 * for its frame header, and sent from there: one copy, no allocation. The
 * header goes in once the task returned (a later reply replaces it).
 */
static lp_status worker_reply(lp_task *task, const void *data, size_t len)
{
    struct worker_task *t = (struct worker_task *)task;
    struct worker *w = t->w;
    void *copy;

    if (len > t->max_payload)
        return LP_ETOOBIG;
    if (LP__FRAME_HEADER_SIZE + len <= sizeof(w->out) - w->out_len) {
        if (len > 0)
            memcpy(w->out + w->out_len + LP__FRAME_HEADER_SIZE, data, len);
        copy = NULL;
    } else {
        copy = lp__malloc(len > 0 ? len : 1);
        if (copy == NULL)
            return LP_ENOMEM;
        if (len > 0)
            memcpy(copy, data, len);
    }
    lp__free(t->reply);
    t->reply = copy;
    t->inline_reply = copy == NULL;
    t->reply_len = len;
    return LP_OK;
}

static const struct lp__task_ops worker_ops = { worker_fail, worker_reply };

/* Writes every byte or ends the worker: the parent is gone. */
static void send_all(int fd, struct iovec *iov, int cnt)
{
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
    ssize_t n;

    while (msg.msg_iovlen > 0) {
        n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            _exit(0);
        while (msg.msg_iovlen > 0 && (size_t)n >= msg.msg_iov->iov_len) {
            n -= (ssize_t)msg.msg_iov->iov_len;
            msg.msg_iov++;
            msg.msg_iovlen--;
        }
        if (msg.msg_iovlen > 0) {
            msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + n;
            msg.msg_iov->iov_len -= (size_t)n;
        }
    }
}

static void flush_out(struct worker *w)
{
    struct iovec iov = { w->out, w->out_len };

    if (w->out_len > 0)
        send_all(w->fd, &iov, 1);
    w->out_len = 0;
}

/* Queues one frame; a large body is sent from where it is, uncopied. */
static void put_frame(struct worker *w, const struct lp__frame_header *h,
                      const void *body)
{
    unsigned char hdr[LP__FRAME_HEADER_SIZE];
    struct iovec iov[2];

    lp__frame_encode_header(hdr, h);
    if (h->len + sizeof(hdr) > sizeof(w->out) - w->out_len)
        flush_out(w);
    if (h->len + sizeof(hdr) <= sizeof(w->out)) {
        memcpy(w->out + w->out_len, hdr, sizeof(hdr));
        if (h->len > 0)
            memcpy(w->out + w->out_len + sizeof(hdr), body, (size_t)h->len);
        w->out_len += sizeof(hdr) + (size_t)h->len;
        return;
    }
    iov[0] = (struct iovec){ hdr, sizeof(hdr) };
    iov[1] = (struct iovec){ (void *)body, (size_t)h->len };
    send_all(w->fd, iov, 2);
}

static void run_entry(struct worker *w, const struct lp__frame_header *in,
                      uint32_t index, const unsigned char *data, size_t len)
{
    lp_bytes_fn fn = (lp_bytes_fn)(uintptr_t)in->fn;
    struct worker_task t;
    struct lp__frame_header h = { .id = in->id, .index = index };

    memset(&t, 0, offsetof(struct worker_task, message));
    t.message[0] = '\0';
    t.base.magic = LP__TASK_MAGIC;
    t.base.ops = &worker_ops;
    t.w = w;
    t.max_payload = w->cfg->max_payload;
    fn(&t.base, data, len);
    if (t.failed) {
        h.type = LP__FRAME_FAIL;
        h.code = t.code;
        h.sys_errno = t.sys_errno;
        h.len = strlen(t.message);
        put_frame(w, &h, t.message);
    } else if (t.inline_reply) {
        h.type = LP__FRAME_RESULT;
        h.len = t.reply_len;
        lp__frame_encode_header(w->out + w->out_len, &h);
        w->out_len += LP__FRAME_HEADER_SIZE + t.reply_len;
    } else {
        h.type = LP__FRAME_RESULT;
        h.len = t.reply_len;
        put_frame(w, &h, t.reply);
    }
    lp__free(t.reply);
}

static void run_frame(struct worker *w, const struct lp__frame_header *h,
                      const unsigned char *body)
{
    const unsigned char *data;
    size_t off = 0, len;
    uint32_t index;
    lp_status st;

    if (h->type != LP__FRAME_TASKS || h->fn == 0)
        _exit(EXIT_BAD_FRAME);
    while ((st = lp__frame_next_entry(body, (size_t)h->len, &off, &index, &data,
                                      &len)) == LP_OK)
        run_entry(w, h, index, data, len);
    if (st != LP_EOF)
        _exit(EXIT_BAD_FRAME);
    flush_out(w);
}

/* Runs the initializer, then queues HELLO (sent by next_frame): the parent
 * sends tasks to a worker once it is running (process_manager.c, room_of). */
static void run_initializer(struct worker *w)
{
    struct lp__frame_header h = { .type = LP__FRAME_HELLO };
    int rc = 0;

    if (w->cfg->initializer != NULL)
        rc = w->cfg->initializer(w->cfg->initializer_arg);
    if (rc != 0) {
        h.type = LP__FRAME_INIT_FAIL;
        h.code = rc;
    }
    put_frame(w, &h, "");
    if (rc != 0) {
        flush_out(w);
        _exit(0);
    }
}

/*
 * Reads the next frame, blocking; ends the worker at EOF. Output still
 * buffered (the HELLO) goes out before blocking, or with the first replies
 * when a task is already waiting: one wake-up of the parent instead of two.
 */
static unsigned char *next_frame(struct worker *w, struct lp__frame_reader *r,
                                 struct lp__frame_header *h)
{
    unsigned char *body, *p;
    size_t room;
    ssize_t n;
    lp_status st;

    while ((st = lp__frame_reader_next(r, h, &body)) == LP_EOF) {
        lp__frame_reader_space(r, &p, &room);
        n = recv(w->fd, p, room, w->out_len > 0 ? MSG_DONTWAIT : 0);
        if (n < 0 && errno == EAGAIN) {
            flush_out(w);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(0);
        lp__frame_reader_commit(r, (size_t)n);
    }
    if (st != LP_OK)
        _exit(EXIT_BAD_FRAME);
    return body;
}

static _Noreturn void worker_main(const struct lp__proc_config *cfg)
{
    static struct worker w;
    struct lp__frame_reader r;
    struct lp__frame_header h;
    unsigned char *body;
    unsigned done = 0;

    w.fd = LP__WORKER_FD;
    w.cfg = cfg;
    /*
     * Each task allocates its input and its reply; keep freed memory for
     * the next one instead of returning it to the kernel every time (a
     * fresh 1 MiB costs 256 page faults). The worker then holds on to its
     * high-water mark, as any long-lived process does.
     */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    run_initializer(&w);
    if (lp__frame_reader_init(&r, cfg->max_payload + 64 * 1024, 0) != LP_OK)
        _exit(EXIT_BAD_FRAME);
    for (;;) {
        body = next_frame(&w, &r, &h);
        run_frame(&w, &h, body);
        lp__frame_body_free(&r, body);
        if (cfg->max_tasks_per_child > 0 && ++done >= cfg->max_tasks_per_child)
            _exit(0);
    }
}

/* ---- the fork server ------------------------------------------------------
 */

struct server {
    const struct lp__proc_config *cfg;
    sigset_t worker_mask;
    int sfd;
    pid_t pids[MAX_CHILDREN];
    uint32_t slots[MAX_CHILDREN]; /* slots[i]: pids[i]'s slot */
    int live;
    bool quitting;
};

/* Closes every descriptor from `first` on. */
static void close_from(int first)
{
    if (close_range((unsigned)first, ~0u, 0) != 0) {
        for (int fd = first; fd < 65536; fd++)
            close(fd);
    }
}

int lp__fd_above_stdio(int fd)
{
    int high, err;

    if (fd < 0 || fd > STDERR_FILENO)
        return fd;
    high = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    err = errno;
    close(fd);
    errno = err;
    return high;
}

int lp__socketpair_above_stdio(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return -1;
    sv[0] = lp__fd_above_stdio(sv[0]);
    sv[1] = lp__fd_above_stdio(sv[1]);
    if (sv[0] >= 0 && sv[1] >= 0)
        return 0;
    for (int i = 0; i < 2; i++) {
        int err = errno;

        if (sv[i] >= 0)
            close(sv[i]);
        errno = err;
    }
    return -1;
}

/* Larger buffers move big payloads in fewer wake-ups; the kernel caps the
 * request at net.core.[rw]mem_max, which is fine. */
void lp__worker_socket_buffers(const int sv[2])
{
    static const int sockbuf = 1 << 20;

    for (int i = 0; i < 2; i++) {
        setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sockbuf, sizeof(sockbuf));
        setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sockbuf, sizeof(sockbuf));
    }
}

static _Noreturn void worker_child(struct server *s, pid_t server, int fd)
{
    /* If the server dies (killed from outside), so do its workers: a
     * worker stuck in a task would otherwise never see EOF. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != server)
        _exit(0);
    /* Replaces the control socket. Close-on-exec: a program a task runs
     * has no business with the pool's socket. */
    if (dup2(fd, LP__WORKER_FD) < 0 ||
        fcntl(LP__WORKER_FD, F_SETFD, FD_CLOEXEC) != 0)
        _exit(EXIT_BAD_FRAME);
    close_from(LP__WORKER_FD + 1);
    sigprocmask(SIG_SETMASK, &s->worker_mask, NULL);
    worker_main(s->cfg);
}

static void spawn_failed(int err)
{
    struct lp__ctl_msg m = { .type = LP__CTL_SPAWN_FAILED, .value = err };

    lp__ctl_send(LP__SERVER_CTL_FD, &m, -1);
}

/*
 * Starts the worker for `slot`. `child_fd` is its pre-connected socket, or
 * -1: then a socketpair is made here and the parent's end goes out with
 * SPAWNED.
 */
static void spawn_worker(struct server *s, uint32_t slot, int child_fd)
{
    struct lp__ctl_msg m = { .type = LP__CTL_SPAWNED, .slot = slot };
    pid_t server = getpid();
    int sv[2] = { -1, child_fd };
    pid_t pid;

    if (s->live >= MAX_CHILDREN) {
        spawn_failed(EAGAIN);
        return;
    }
    if (child_fd < 0) {
        if (lp__socketpair_above_stdio(sv) != 0) {
            spawn_failed(errno);
            return;
        }
        lp__worker_socket_buffers(sv);
    }
    pid = fork();
    if (pid == 0)
        worker_child(s, server, sv[1]);
    close(sv[1]);
    if (pid < 0) {
        spawn_failed(errno);
        if (sv[0] >= 0)
            close(sv[0]);
        return;
    }
    s->pids[s->live] = pid;
    s->slots[s->live++] = slot;
    m.pid = pid;
    lp__ctl_send(LP__SERVER_CTL_FD, &m, sv[0]);
    if (sv[0] >= 0)
        close(sv[0]);
}

static void reap_children(struct server *s)
{
    struct signalfd_siginfo si;
    struct lp__ctl_msg m = { .type = LP__CTL_EXITED };
    int status;
    pid_t pid;

    while (read(s->sfd, &si, sizeof(si)) > 0) {
    }
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < s->live; i++) {
            if (s->pids[i] == pid) {
                s->live--;
                s->pids[i] = s->pids[s->live];
                s->slots[i] = s->slots[s->live];
                break;
            }
        }
        m.pid = pid;
        m.value = status;
        if (!s->quitting)
            lp__ctl_send(LP__SERVER_CTL_FD, &m, -1);
    }
}

static void kill_children(struct server *s, int sig)
{
    for (int i = 0; i < s->live; i++)
        kill(s->pids[i], sig);
}

/* KILL: worker `pid`, or when the parent does not know the pid yet (a
 * pre-connected slot), the worker in `slot`. */
static void kill_one(struct server *s, const struct lp__ctl_msg *m)
{
    for (int i = 0; i < s->live; i++)
        if (m->pid > 0 ? s->pids[i] == m->pid : s->slots[i] == m->slot)
            kill(s->pids[i], SIGKILL);
}

static void serve_command(struct server *s)
{
    struct lp__ctl_msg m;
    int fd;

    if (lp__ctl_recv(LP__SERVER_CTL_FD, &m, &fd) != 0) {
        /* The parent is gone or closed us: nothing may outlive it. */
        kill_children(s, SIGKILL);
        s->quitting = true;
        return;
    }
    if (fd >= 0)
        close(fd);
    if (m.type == LP__CTL_SPAWN && !s->quitting)
        spawn_worker(s, m.slot, -1);
    else if (m.type == LP__CTL_KILL)
        kill_one(s, &m);
    else if (m.type == LP__CTL_KILL_ALL)
        kill_children(s, m.value > 0 ? m.value : SIGKILL);
    else if (m.type == LP__CTL_QUIT)
        s->quitting = true;
}

static _Noreturn void server_main(const struct lp__proc_config *cfg,
                                  const sigset_t *worker_mask)
{
    static struct server s;
    struct pollfd pfd[2];
    int status;

    s.cfg = cfg;
    s.worker_mask = *worker_mask;
    s.sfd = LP__SERVER_CTL_FD + 1 + cfg->preconnected;
    /* The initial workers first: they are what the caller waits for. An
     * early SIGCHLD stays pending (blocked) for the signalfd. */
    signal(SIGCHLD, SIG_DFL);
    for (int i = 0; i < cfg->workers; i++)
        spawn_worker(&s, (uint32_t)i,
                     i < cfg->preconnected ? LP__SERVER_CTL_FD + 1 + i : -1);
    while (!s.quitting) {
        pfd[0] = (struct pollfd){ LP__SERVER_CTL_FD, POLLIN, 0 };
        pfd[1] = (struct pollfd){ s.sfd, POLLIN, 0 };
        if (poll(pfd, 2, -1) < 0)
            continue;
        if (pfd[1].revents != 0)
            reap_children(&s);
        if (pfd[0].revents != 0)
            serve_command(&s);
    }
    /*
     * QUIT: nothing is left to run and the parent closed its end of every
     * worker socket. Kill the workers anyway (they are idle): a process the
     * application forked may hold copies of those sockets, so EOF alone
     * might never come. Reap them all before exiting, so the parent's
     * waitpid on us means every worker is gone.
     */
    kill_children(&s, SIGKILL);
    while (waitpid(-1, &status, 0) > 0 || errno == EINTR) {
    }
    _exit(0);
}

/* Whether `fd` is still to be moved: one of the `n` in src[]. */
static bool still_to_move(const int *src, int n, int fd)
{
    for (int i = 0; i < n; i++)
        if (src[i] == fd)
            return true;
    return false;
}

/*
 * Moves each src[i] to LP__SERVER_CTL_FD + i once that target holds no
 * descriptor still to move (dup2 closes whatever else is there), and marks
 * it done (-1). A source below the targets is closed once moved: it is
 * there only because the application had closed one of 0-2, and no worker
 * may keep a copy of a socket of the pool. Sources are distinct, so what
 * is left are cycles within the targets; returns how many descriptors.
 */
static int move_chains(int *src, int n)
{
    int left = 0, to;
    bool moved = true;

    while (moved) {
        moved = false;
        left = 0;
        for (int i = 0; i < n; i++) {
            to = LP__SERVER_CTL_FD + i;
            if (src[i] < 0)
                continue;
            if (src[i] != to && still_to_move(src, n, to)) {
                left++;
                continue;
            }
            if (src[i] != to && dup2(src[i], to) < 0)
                _exit(EXIT_BAD_FRAME);
            if (src[i] < LP__SERVER_CTL_FD)
                close(src[i]);
            src[i] = -1;
            moved = true;
        }
    }
    return left;
}

/* Breaks a cycle: copies its first member to the lowest descriptor from
 * `top` on, after closing all there, so the move into its slot can run. */
static void park_one(int *src, int n, int top)
{
    close_from(top);
    for (int i = 0; i < n; i++) {
        if (src[i] >= 0) {
            src[i] = fcntl(src[i], F_DUPFD, top);
            if (src[i] < 0)
                _exit(EXIT_BAD_FRAME);
            return;
        }
    }
}

/*
 * In the new server: the control socket to LP__SERVER_CTL_FD, then the n
 * pre-connected worker ends, then the signalfd, and everything else above
 * 2 closed. This takes no descriptor beyond the m = n + 2 targets but one
 * parking slot right above them, in the rare case of a cycle; the parent
 * made 2m + 1 descriptors under the same RLIMIT_NOFILE just before, so
 * both fit below it and descriptor pressure cannot break the server.
 */
static void server_fds(int ctl_fd, const int *worker_fds, int n, int chld_fd)
{
    int src[2 + LP__PRECONNECT_MAX], m = n + 2, top = LP__SERVER_CTL_FD + m;

    src[0] = ctl_fd;
    for (int i = 0; i < n; i++)
        src[1 + i] = worker_fds[i];
    src[1 + n] = chld_fd;
    while (move_chains(src, m) > 0)
        park_one(src, m, top);
    close_from(top);
}

pid_t lp__fork_server_start(const struct lp__proc_config *cfg, int ctl_fd,
                            const int *worker_fds, int chld_fd)
{
    sigset_t all, old;
    pid_t pid;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0) {
        server_fds(ctl_fd, worker_fds, cfg->preconnected, chld_fd);
        server_main(cfg, &old);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pid;
}

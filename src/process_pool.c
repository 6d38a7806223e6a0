/*
 * The process pool's parent side (contract: executor.h, "Process pool").
 *
 * Data flow: submit copies the input into a ready-to-send TASKS frame (an
 * item), appends it to the queue under `mu` and pokes the manager thread
 * through the wake pipe. The manager thread alone owns the workers: it
 * polls the wake pipe, the fork server's control socket and every worker
 * socket; it moves queued items to workers with room (each gets at most
 * max_inflight items; set_running_or_notify_cancel is called as an item
 * leaves the queue, so cancelled futures are skipped), writes frames with
 * non-blocking sendmsg (MSG_NOSIGNAL: a dead worker is EPIPE, never
 * SIGPIPE), reads replies through a frame reader and completes futures.
 * A worker is finished once both its socket hit EOF and the fork server
 * reported its wait status; its unanswered futures then fail LP_EBROKEN and
 * the pool breaks or replaces it (on_worker_death).
 *
 * Locks: `mu` guards the queue and the flags marked so; the manager holds
 * it only to take items or flip flags and never while completing a future,
 * so done callbacks may submit. Shutdown waits on `cv` for `finished`, set
 * by the manager after the fork server (which reaps every worker) has been
 * reaped. Child side, fork strategy and its limits: process_worker.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "executor_impl.h"
#include "frame.h"
#include "process.h"
#include "sync.h"

#define DEFAULT_MAX_PAYLOAD ((size_t)1 << 30)
#define MAX_WORKERS         1024
#define MAX_IOV             64
#define MSG_MAX             192

/* One TASKS frame and the futures of its entries. */
struct item {
    struct item *next; /* queue or a worker's in-flight list */
    uint64_t id;
    size_t n;             /* entries */
    size_t pending;       /* entries sent and not answered */
    lp_future **futs;     /* n references; NULL once answered or skipped */
    lp_future *one;       /* futs = &one when n == 1 */
    unsigned char *frame; /* owned; NULL once written */
    size_t frame_len;
};

enum slot_state { SLOT_EMPTY, SLOT_STARTING, SLOT_READY, SLOT_DYING };

struct worker {
    enum slot_state state;
    int fd;
    pid_t pid;
    bool eof, exited, proto_error;
    int status;
    unsigned sent; /* TASKS frames sent to this process */
    unsigned inflight;
    struct item *head, *tail; /* in flight, in send order */
    struct item *out;         /* first item not fully written */
    size_t out_off;
    struct lp__frame_reader rd;
};

struct process_pool {
    lp_executor base;
    struct lp__proc_config cfg;
    int max_workers;
    unsigned max_inflight;
    lp_worker_death_policy policy;
    lp__mutex mu;
    lp__cond cv;
    struct item *qhead, *qtail; /* mu */
    size_t queued;              /* mu */
    uint64_t next_id;           /* mu */
    bool shutdown, broken;      /* mu */
    bool finished;              /* mu: every child reaped */
    bool wake_pending;          /* mu */
    int wake_r, wake_w;
    int ctl; /* manager only after creation */
    pid_t server;
    lp__thread manager;
    struct worker *w;    /* manager only */
    struct pollfd *pfds; /* manager only */
    bool quitting;       /* manager only */
    atomic_size_t alive, idle;
    atomic_uint_least64_t completed;
};

static const struct lp__executor_vtable process_pool_vt;

/* ---- items ----------------------------------------------------------- */

static void item_free(struct item *it)
{
    for (size_t i = 0; i < it->n; i++)
        lp_future_release(it->futs[i]);
    if (it->futs != &it->one)
        lp__free(it->futs);
    lp__free(it->frame);
    lp__free(it);
}

/* An item with room for `body_len` body bytes; futures not yet created. */
static struct item *item_new(lp_bytes_fn fn, size_t n, size_t body_len)
{
    struct lp__frame_header h = { .type = LP__FRAME_TASKS,
                                  .index = (uint32_t)n,
                                  .fn = (uint64_t)(uintptr_t)fn,
                                  .len = body_len };
    struct item *it = lp__calloc(1, sizeof(*it));

    if (it == NULL)
        return NULL;
    it->n = n;
    it->futs = n == 1 ? &it->one : lp__calloc(n, sizeof(*it->futs));
    it->frame_len = LP__FRAME_HEADER_SIZE + body_len;
    it->frame = lp__malloc(it->frame_len);
    if (it->futs == NULL || it->frame == NULL) {
        it->n = 0;
        item_free(it);
        return NULL;
    }
    lp__frame_encode_header(it->frame, &h);
    for (size_t i = 0; i < n; i++) {
        if (lp_future_create(&it->futs[i]) != LP_OK) {
            item_free(it);
            return NULL;
        }
    }
    return it;
}

/*
 * Settles the futures of a queued item that will never run: cancelled (and
 * notified) with `cancel`, else failed with LP_EBROKEN unless the caller
 * cancelled them first.
 */
static void item_abandon(struct item *it, bool cancel, int code,
                         const char *msg)
{
    for (size_t i = 0; i < it->n; i++) {
        lp_future *f = it->futs[i];

        if (cancel)
            lp_future_cancel(f);
        if (lp_future_set_running_or_notify_cancel(f) == LP_OK)
            lp_future_set_failure(f, LP_EBROKEN, code, 0, "%s", msg);
    }
    item_free(it);
}

/*
 * Moves an item's futures to RUNNING as it leaves the queue; entries whose
 * future was cancelled are dropped from the frame. False if none is left.
 */
static bool item_start(struct item *it)
{
    const unsigned char *data;
    unsigned char *body = it->frame + LP__FRAME_HEADER_SIZE;
    size_t off = 0, keep = 0, len, running = 0;
    uint32_t index;

    for (size_t i = 0; i < it->n; i++) {
        if (lp_future_set_running_or_notify_cancel(it->futs[i]) == LP_OK) {
            running++;
        } else {
            lp_future_release(it->futs[i]);
            it->futs[i] = NULL;
        }
    }
    it->pending = running;
    if (running == it->n || running == 0)
        return running > 0;
    /* Compact the body in place: entries only move towards the front. */
    while (lp__frame_next_entry(body, it->frame_len - LP__FRAME_HEADER_SIZE,
                                &off, &index, &data, &len) == LP_OK) {
        if (it->futs[index] == NULL)
            continue;
        memmove(body + keep + LP__FRAME_ENTRY_SIZE, data, len);
        lp__frame_encode_entry(body + keep, index, len);
        keep += LP__FRAME_ENTRY_SIZE + len;
    }
    {
        struct lp__frame_header h = { .type = LP__FRAME_TASKS,
                                      .index = (uint32_t)running,
                                      .id = it->id,
                                      .len = keep };

        memcpy(&h.fn, it->frame + 32, sizeof(h.fn));
        lp__frame_encode_header(it->frame, &h);
    }
    it->frame_len = LP__FRAME_HEADER_SIZE + keep;
    return true;
}

/* ---- queue (under mu) -------------------------------------------------- */

static void wake_manager_locked(struct process_pool *p)
{
    if (!p->wake_pending) {
        p->wake_pending = true;
        while (write(p->wake_w, "w", 1) < 0 && errno == EINTR) {
        }
    }
}

static struct item *steal_queue_locked(struct process_pool *p)
{
    struct item *all = p->qhead;

    p->qhead = p->qtail = NULL;
    p->queued = 0;
    return all;
}

static void abandon_list(struct item *it, bool cancel, int code,
                         const char *msg)
{
    while (it != NULL) {
        struct item *next = it->next;

        item_abandon(it, cancel, code, msg);
        it = next;
    }
}

/* Enqueues a chain of items whose ids are set here. */
static lp_status enqueue(struct process_pool *p, struct item *first)
{
    struct item *last = first;
    lp_status st = LP_OK;

    lp__mutex_lock(&p->mu);
    if (p->broken)
        st = LP_EBROKEN;
    else if (p->shutdown)
        st = LP_ESHUTDOWN;
    if (st == LP_OK) {
        for (struct item *it = first; it != NULL; it = it->next) {
            it->id = ++p->next_id;
            lp__frame_set_id(it->frame, it->id);
            p->queued++;
            last = it;
        }
        if (p->qtail != NULL)
            p->qtail->next = first;
        else
            p->qhead = first;
        p->qtail = last;
        wake_manager_locked(p);
    }
    lp__mutex_unlock(&p->mu);
    return st;
}

/* ---- breaking and finishing -------------------------------------------- */

static void fail_inflight(struct worker *w, int code, const char *msg)
{
    struct item *it = w->head;

    while (it != NULL) {
        struct item *next = it->next;

        for (size_t i = 0; i < it->n; i++)
            if (it->futs[i] != NULL)
                lp_future_set_failure(it->futs[i], LP_EBROKEN, code, 0, "%s",
                                      msg);
        item_free(it);
        it = next;
    }
    w->head = w->tail = w->out = NULL;
    w->inflight = 0;
}

static void ctl_send(struct process_pool *p, uint32_t type, pid_t pid,
                     uint32_t slot)
{
    struct lp__ctl_msg m = { .type = type, .pid = pid, .slot = slot };

    if (p->ctl >= 0)
        lp__ctl_send(p->ctl, &m, -1);
}

static void close_worker(struct worker *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    lp__frame_reader_destroy(&w->rd);
}

/* Python's BrokenProcessPool: every worker killed, every future failed. */
static void break_pool(struct process_pool *p, int code, const char *why)
{
    char msg[MSG_MAX];
    struct item *queued;

    snprintf(msg, sizeof(msg), "process pool broken: %s", why);
    lp__mutex_lock(&p->mu);
    p->broken = true;
    queued = steal_queue_locked(p);
    lp__mutex_unlock(&p->mu);
    ctl_send(p, LP__CTL_KILL_ALL, 0, 0);
    for (int i = 0; i < p->max_workers; i++) {
        fail_inflight(&p->w[i], code, msg);
        close_worker(&p->w[i]);
        p->w[i].state = SLOT_EMPTY;
    }
    abandon_list(queued, false, code, msg);
}

/* Asks the fork server to quit (it kills and reaps every worker), then
 * reaps the server. Runs when no future is left to complete. */
static void finish_pool(struct process_pool *p)
{
    struct lp__ctl_msg m;
    int fd, status;

    for (int i = 0; i < p->max_workers; i++)
        close_worker(&p->w[i]);
    if (p->ctl >= 0) {
        ctl_send(p, LP__CTL_QUIT, 0, 0);
        while (lp__ctl_recv(p->ctl, &m, &fd) == 0)
            if (fd >= 0)
                close(fd);
        close(p->ctl);
        p->ctl = -1;
    }
    while (waitpid(p->server, &status, 0) < 0 && errno == EINTR) {
    }
    atomic_store(&p->alive, 0);
    atomic_store(&p->idle, 0);
    lp__mutex_lock(&p->mu);
    p->finished = true;
    lp__cond_broadcast(&p->cv);
    lp__mutex_unlock(&p->mu);
}

/* ---- workers ------------------------------------------------------------ */

static void describe_exit(int status, int *code, char *msg, size_t size)
{
    if (WIFSIGNALED(status)) {
        const char *name = sigabbrev_np(WTERMSIG(status));

        *code = WTERMSIG(status);
        snprintf(msg, size, "terminated abruptly by signal %d (SIG%s)", *code,
                 name != NULL ? name : "?");
    } else {
        *code = WEXITSTATUS(status);
        snprintf(msg, size, "terminated abruptly with exit code %d", *code);
    }
}

/* Both EOF and the wait status are in: settle the dead worker's futures,
 * then replace it or break the pool. */
static void worker_gone(struct process_pool *p, struct worker *w)
{
    unsigned max = p->cfg.max_tasks_per_child;
    bool clean = WIFEXITED(w->status) && WEXITSTATUS(w->status) == 0 &&
                 w->head == NULL && !w->proto_error && max > 0 &&
                 w->sent >= max;
    char msg[MSG_MAX];
    int code;

    if (w->proto_error) {
        code = LP_EPROTO;
        snprintf(msg, sizeof(msg), "worker %d sent a malformed frame",
                 (int)w->pid);
    } else {
        describe_exit(w->status, &code, msg, sizeof(msg));
    }
    fail_inflight(w, code, msg);
    close_worker(w);
    w->state = SLOT_EMPTY;
    if (p->quitting)
        return;
    if (clean || p->policy == LP_WORKER_DEATH_REPLACE) {
        w->state = SLOT_STARTING;
        ctl_send(p, LP__CTL_SPAWN, 0, (uint32_t)(w - p->w));
    } else {
        break_pool(p, code, msg);
    }
}

static void worker_check_gone(struct process_pool *p, struct worker *w)
{
    if (w->state == SLOT_DYING && w->eof && w->exited)
        worker_gone(p, w);
}

static void worker_eof(struct process_pool *p, struct worker *w)
{
    if (w->state != SLOT_READY && w->state != SLOT_DYING)
        return;
    close_worker(w);
    w->eof = true;
    w->state = SLOT_DYING;
    worker_check_gone(p, w);
}

/* Malformed bytes: the stream cannot be resynchronised; kill the worker. */
static void worker_proto_error(struct process_pool *p, struct worker *w)
{
    w->proto_error = true;
    ctl_send(p, LP__CTL_KILL, w->pid, 0);
    worker_eof(p, w);
}

static void complete_entry(struct process_pool *p, struct worker *w,
                           const struct lp__frame_header *h,
                           unsigned char *body)
{
    struct item *it = w->head;
    lp_future *f = it->futs[h->index];
    lp_bytes *b;

    it->futs[h->index] = NULL;
    if (h->type == LP__FRAME_FAIL) {
        lp_future_set_error(f, h->code, h->sys_errno, "%s", (char *)body);
    } else {
        b = lp__bytes_new(body, (size_t)h->len);
        if (b == NULL)
            lp_future_set_failure(f, LP_EBROKEN, LP_ENOMEM, ENOMEM,
                                  "out of memory for a %llu-byte result",
                                  (unsigned long long)h->len);
        else if (lp_future_set_result(f, b, lp__bytes_free) != LP_OK)
            lp__bytes_free(b);
    }
    lp_future_release(f);
    atomic_fetch_add(&p->completed, 1);
    if (--it->pending == 0) {
        w->head = it->next;
        if (w->head == NULL)
            w->tail = NULL;
        w->inflight--;
        item_free(it);
    }
}

/* One frame from a worker; false when it was malformed. */
static bool handle_frame(struct process_pool *p, struct worker *w,
                         const struct lp__frame_header *h, unsigned char *body)
{
    char msg[MSG_MAX];
    struct item *it = w->head;

    if (h->type == LP__FRAME_INIT_FAIL) {
        snprintf(msg, sizeof(msg), "initializer failed with code %d",
                 (int)h->code);
        break_pool(p, h->code, msg);
        return true;
    }
    if ((h->type != LP__FRAME_RESULT && h->type != LP__FRAME_FAIL) ||
        it == NULL || h->id != it->id || h->index >= it->n ||
        it->futs[h->index] == NULL)
        return false;
    complete_entry(p, w, h, body);
    return true;
}

static void read_worker(struct process_pool *p, struct worker *w)
{
    struct lp__frame_header h;
    unsigned char *buf, *body;
    size_t room;
    ssize_t n;
    lp_status st;

    /* Bounded, so one chatty worker cannot starve the others. */
    for (int round = 0; round < 8 && w->state == SLOT_READY; round++) {
        lp__frame_reader_space(&w->rd, &buf, &room);
        n = read(w->fd, buf, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            worker_eof(p, w);
            return;
        }
        lp__frame_reader_commit(&w->rd, (size_t)n);
        while ((st = lp__frame_reader_next(&w->rd, &h, &body)) == LP_OK) {
            bool ok = handle_frame(p, w, &h, body);

            lp__free(body);
            if (!ok || w->state != SLOT_READY) {
                if (!ok)
                    worker_proto_error(p, w);
                return;
            }
        }
        if (st != LP_EOF) {
            worker_proto_error(p, w);
            return;
        }
    }
}

static void write_worker(struct worker *w)
{
    struct iovec iov[MAX_IOV];
    struct msghdr msg = { .msg_iov = iov };
    struct item *it;
    size_t cnt, n, rest;
    ssize_t sent;

    while (w->out != NULL && w->fd >= 0) {
        cnt = 0;
        for (it = w->out; it != NULL && cnt < MAX_IOV; it = it->next, cnt++) {
            size_t off = it == w->out ? w->out_off : 0;

            iov[cnt] = (struct iovec){ it->frame + off, it->frame_len - off };
        }
        msg.msg_iovlen = cnt;
        sent = sendmsg(w->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent < 0)
            return; /* EAGAIN: wait for POLLOUT; else EOF follows */
        for (n = (size_t)sent; n > 0 && w->out != NULL;) {
            rest = w->out->frame_len - w->out_off;
            if (n < rest) {
                w->out_off += n;
                break;
            }
            n -= rest;
            lp__free(w->out->frame);
            w->out->frame = NULL;
            w->out = w->out->next;
            w->out_off = 0;
        }
    }
}

/* ---- the manager thread -------------------------------------------------- */

static struct worker *pick_worker(struct process_pool *p)
{
    unsigned max = p->cfg.max_tasks_per_child;
    struct worker *best = NULL;

    for (int i = 0; i < p->max_workers; i++) {
        struct worker *w = &p->w[i];

        if (w->state != SLOT_READY || w->exited ||
            w->inflight >= p->max_inflight || (max > 0 && w->sent >= max))
            continue;
        if (best == NULL || w->inflight < best->inflight)
            best = w;
    }
    return best;
}

static void dispatch(struct process_pool *p)
{
    struct worker *w;
    struct item *it;

    while ((w = pick_worker(p)) != NULL) {
        lp__mutex_lock(&p->mu);
        it = p->qhead;
        if (it != NULL) {
            p->qhead = it->next;
            if (p->qhead == NULL)
                p->qtail = NULL;
            p->queued--;
        }
        lp__mutex_unlock(&p->mu);
        if (it == NULL)
            break;
        it->next = NULL;
        if (!item_start(it)) {
            item_free(it);
            continue;
        }
        if (w->tail != NULL)
            w->tail->next = it;
        else
            w->head = it;
        w->tail = it;
        if (w->out == NULL) {
            w->out = it;
            w->out_off = 0;
        }
        w->inflight++;
        w->sent++;
        write_worker(w);
    }
}

static void handle_ctl(struct process_pool *p)
{
    struct lp__ctl_msg m;
    struct worker *w;
    char msg[MSG_MAX];
    int fd;

    if (lp__ctl_recv(p->ctl, &m, &fd) != 0) {
        close(p->ctl);
        p->ctl = -1;
        if (!p->quitting)
            break_pool(p, LP_ESYS, "the fork server terminated");
        return;
    }
    if (m.type == LP__CTL_SPAWNED && m.slot < (uint32_t)p->max_workers &&
        fd >= 0) {
        w = &p->w[m.slot];
        memset(w, 0, sizeof(*w));
        w->fd = fd;
        w->pid = m.pid;
        w->state = SLOT_READY;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (lp__frame_reader_init(&w->rd, p->cfg.max_payload) != LP_OK)
            break_pool(p, LP_ENOMEM, "out of memory for a worker");
        return;
    }
    if (fd >= 0)
        close(fd);
    if (m.type == LP__CTL_SPAWN_FAILED) {
        snprintf(msg, sizeof(msg), "a worker could not be started: %s",
                 strerror(m.value));
        break_pool(p, m.value, msg);
    } else if (m.type == LP__CTL_EXITED) {
        for (int i = 0; i < p->max_workers; i++) {
            w = &p->w[i];
            if ((w->state == SLOT_READY || w->state == SLOT_DYING) &&
                w->pid == m.pid && !w->exited) {
                /* Replies may still sit in its socket: read on to EOF. */
                w->exited = true;
                w->status = m.value;
                worker_check_gone(p, w);
                break;
            }
        }
    }
}

/* Nothing left to run once shut down or broken: time to reap everything. */
static bool pool_done(struct process_pool *p)
{
    bool stop;

    lp__mutex_lock(&p->mu);
    stop = (p->shutdown || p->broken) && p->qhead == NULL;
    lp__mutex_unlock(&p->mu);
    for (int i = 0; stop && i < p->max_workers; i++)
        stop = p->w[i].head == NULL;
    return stop;
}

static void update_counts(struct process_pool *p)
{
    size_t alive = 0, idle = 0;

    for (int i = 0; i < p->max_workers; i++) {
        alive += p->w[i].state == SLOT_READY;
        idle += p->w[i].state == SLOT_READY && p->w[i].inflight == 0;
    }
    atomic_store(&p->alive, alive);
    atomic_store(&p->idle, idle);
}

static int build_pollfds(struct process_pool *p)
{
    int n = 0;

    p->pfds[n++] = (struct pollfd){ p->wake_r, POLLIN, 0 };
    p->pfds[n++] = (struct pollfd){ p->ctl, POLLIN, 0 };
    for (int i = 0; i < p->max_workers; i++) {
        struct worker *w = &p->w[i];

        if (w->state == SLOT_READY && w->fd >= 0)
            p->pfds[n++] = (struct pollfd){
                w->fd, (short)(POLLIN | (w->out != NULL ? POLLOUT : 0)), 0
            };
    }
    return n;
}

static struct worker *worker_by_fd(struct process_pool *p, int fd)
{
    for (int i = 0; i < p->max_workers; i++)
        if (p->w[i].state == SLOT_READY && p->w[i].fd == fd)
            return &p->w[i];
    return NULL;
}

static void *manager_main(void *arg)
{
    struct process_pool *p = arg;
    char drain[64];
    int n;

    while (!pool_done(p)) {
        n = build_pollfds(p);
        if (poll(p->pfds, (nfds_t)n, -1) < 0)
            continue;
        if (p->pfds[0].revents != 0) {
            while (read(p->wake_r, drain, sizeof(drain)) > 0) {
            }
            lp__mutex_lock(&p->mu);
            p->wake_pending = false;
            lp__mutex_unlock(&p->mu);
        }
        for (int i = 2; i < n; i++) {
            struct worker *w = worker_by_fd(p, p->pfds[i].fd);

            if (w != NULL && (p->pfds[i].revents & POLLOUT))
                write_worker(w);
            if (w != NULL && (p->pfds[i].revents & ~POLLOUT))
                read_worker(p, w);
        }
        if (p->ctl >= 0 && p->pfds[1].revents != 0)
            handle_ctl(p);
        dispatch(p);
        update_counts(p);
    }
    p->quitting = true;
    finish_pool(p);
    return NULL;
}

/* ---- the executor ------------------------------------------------------ */

static struct process_pool *to_pool(lp_executor *ex)
{
    return (struct process_pool *)ex;
}

static lp_status pp_submit(lp_executor *ex, const struct lp__task_spec *spec,
                           lp_future **out)
{
    struct process_pool *p = to_pool(ex);
    struct item *it;
    lp_status st;

    if (spec->kind != LP__TASK_BYTES)
        return LP_EUNSUPPORTED;
    if (spec->in_len > p->cfg.max_payload)
        return LP_ETOOBIG;
    it = item_new(spec->bytes_fn, 1, LP__FRAME_ENTRY_SIZE + spec->in_len);
    if (it == NULL)
        return LP_ENOMEM;
    lp__frame_encode_entry(it->frame + LP__FRAME_HEADER_SIZE, 0, spec->in_len);
    if (spec->in_len > 0)
        memcpy(it->frame + LP__FRAME_HEADER_SIZE + LP__FRAME_ENTRY_SIZE,
               spec->in, spec->in_len);
    *out = lp_future_retain(it->one);
    st = enqueue(p, it);
    if (st != LP_OK) {
        lp_future_release(*out);
        *out = NULL;
        item_free(it);
    }
    return st;
}

static lp_status pp_shutdown(lp_executor *ex, bool wait, bool cancel_futures)
{
    struct process_pool *p = to_pool(ex);
    struct item *cancelled = NULL;

    lp__mutex_lock(&p->mu);
    p->shutdown = true;
    if (cancel_futures)
        cancelled = steal_queue_locked(p);
    wake_manager_locked(p);
    lp__mutex_unlock(&p->mu);
    abandon_list(cancelled, true, LP_ESHUTDOWN, "cancelled at shutdown");
    if (wait) {
        lp__mutex_lock(&p->mu);
        while (!p->finished)
            lp__cond_wait(&p->cv, &p->mu);
        lp__mutex_unlock(&p->mu);
    }
    return LP_OK;
}

static void pp_destroy(lp_executor *ex, bool forked)
{
    struct process_pool *p = to_pool(ex);

    ex->magic = 0;
    if (!forked) {
        lp__thread_join(&p->manager);
        lp__cond_destroy(&p->cv);
        lp__mutex_destroy(&p->mu);
    } else {
        /* A forked child: drop our copies of the descriptors, so workers
         * still see EOF when the parent closes its own; leave the rest. */
        for (int i = 0; i < p->max_workers; i++)
            if (p->w[i].state == SLOT_READY && p->w[i].fd >= 0)
                close(p->w[i].fd);
        if (p->ctl >= 0)
            close(p->ctl);
    }
    close(p->wake_r);
    close(p->wake_w);
    lp__free(p->pfds);
    lp__free(p->w);
    lp__free(p);
}

static lp_status pp_stats(lp_executor *ex, lp_executor_stats *out)
{
    struct process_pool *p = to_pool(ex);

    out->workers = atomic_load(&p->alive);
    out->idle = atomic_load(&p->idle);
    out->max_workers = (size_t)p->max_workers;
    out->completed = atomic_load(&p->completed);
    lp__mutex_lock(&p->mu);
    out->queued = p->queued;
    lp__mutex_unlock(&p->mu);
    return LP_OK;
}

/* Done callbacks run on the manager thread, which must never wait for
 * itself. */
static bool pp_on_worker(lp_executor *ex)
{
    return lp__thread_is_self(&to_pool(ex)->manager);
}

static const struct lp__executor_vtable process_pool_vt = {
    "process pool", pp_submit, pp_shutdown, pp_destroy, pp_stats, pp_on_worker
};

/* ---- map ------------------------------------------------------------------
 */

/* One chunk of items[first..first+n-1]. */
static struct item *chunk_new(lp_bytes_fn fn, const lp_bytes *items,
                              size_t first, size_t n)
{
    size_t body = 0, off = LP__FRAME_HEADER_SIZE;
    struct item *it;

    for (size_t i = 0; i < n; i++)
        body += LP__FRAME_ENTRY_SIZE + items[first + i].len;
    it = item_new(fn, n, body);
    if (it == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const lp_bytes *b = &items[first + i];

        lp__frame_encode_entry(it->frame + off, (uint32_t)i, b->len);
        if (b->len > 0)
            memcpy(it->frame + off + LP__FRAME_ENTRY_SIZE, b->data, b->len);
        off += LP__FRAME_ENTRY_SIZE + b->len;
    }
    return it;
}

/* Items in the chunk starting at `first`: at most `chunksize`, and only as
 * many as fit in max_payload (at least one). */
static size_t chunk_count(const struct process_pool *p, const lp_bytes *items,
                          size_t first, size_t n, size_t chunksize)
{
    size_t count = 0, body = 0;

    while (first + count < n && count < chunksize && count < UINT32_MAX) {
        size_t add = LP__FRAME_ENTRY_SIZE + items[first + count].len;

        if (count > 0 && body + add > p->cfg.max_payload)
            break;
        body += add;
        count++;
    }
    return count;
}

static void free_chain(struct item *it)
{
    while (it != NULL) {
        struct item *next = it->next;

        item_free(it);
        it = next;
    }
}

lp_status lp_process_pool_map_bytes(lp_executor *ex, lp_bytes_fn fn,
                                    const lp_bytes *items, size_t n,
                                    size_t chunksize, lp_future **futures)
{
    struct item *first = NULL, **tail = &first, *it;
    struct process_pool *p;
    size_t done = 0, k;
    lp_status st;

    if (futures != NULL)
        memset(futures, 0, n * sizeof(*futures));
    if (!lp__executor_usable(ex) || ex->vt != &process_pool_vt || fn == NULL ||
        (n > 0 && (items == NULL || futures == NULL)))
        return LP_EINVAL;
    p = to_pool(ex);
    if (chunksize == 0)
        chunksize = n / (4 * (size_t)p->max_workers) + 1;
    for (size_t i = 0; i < n; i++)
        if (items[i].len > p->cfg.max_payload ||
            (items[i].len > 0 && items[i].data == NULL))
            return items[i].len > p->cfg.max_payload ? LP_ETOOBIG : LP_EINVAL;
    while (done < n) {
        k = chunk_count(p, items, done, n, chunksize);
        it = chunk_new(fn, items, done, k);
        if (it == NULL) {
            free_chain(first);
            return LP_ENOMEM;
        }
        for (size_t i = 0; i < k; i++)
            futures[done + i] = it->futs[i];
        *tail = it;
        tail = &it->next;
        done += k;
    }
    for (size_t i = 0; i < n; i++)
        lp_future_retain(futures[i]);
    st = n > 0 ? enqueue(p, first) : LP_OK;
    if (st != LP_OK) {
        for (size_t i = 0; i < n; i++) {
            lp_future_release(futures[i]);
            futures[i] = NULL;
        }
        free_chain(first);
    }
    return st;
}

/* ---- creation ------------------------------------------------------------ */

static lp_status check_options(const lp_process_pool_options *o)
{
    if ((o->max_workers <= 0 && o->max_workers != LP_WORKERS_AUTO) ||
        o->max_workers > MAX_WORKERS || o->max_inflight > 256 ||
        (o->on_worker_death != LP_WORKER_DEATH_BREAK &&
         o->on_worker_death != LP_WORKER_DEATH_REPLACE))
        return LP_EINVAL;
    return LP_OK;
}

static struct process_pool *pool_alloc(const lp_process_pool_options *o)
{
    struct process_pool *p = lp__calloc(1, sizeof(*p));
    int n;

    if (p == NULL)
        return NULL;
    n = o->max_workers == LP_WORKERS_AUTO ? lp__cpu_count() : o->max_workers;
    p->max_workers = n;
    p->max_inflight = o->max_inflight > 0 ? o->max_inflight : 2;
    p->policy = o->on_worker_death;
    p->cfg.workers = n;
    p->cfg.max_tasks_per_child = o->max_tasks_per_child;
    p->cfg.initializer = o->initializer;
    p->cfg.initializer_arg = o->initializer_arg;
    p->cfg.max_payload =
        o->max_payload > 0 ? o->max_payload : DEFAULT_MAX_PAYLOAD;
    p->w = lp__calloc((size_t)n, sizeof(*p->w));
    p->pfds = lp__calloc((size_t)n + 2, sizeof(*p->pfds));
    if (p->w == NULL || p->pfds == NULL) {
        lp__free(p->w);
        lp__free(p->pfds);
        lp__free(p);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        p->w[i].fd = -1;
        p->w[i].state = SLOT_STARTING;
    }
    p->wake_r = p->wake_w = p->ctl = -1;
    return p;
}

static void pool_free(struct process_pool *p)
{
    if (p->wake_r >= 0)
        close(p->wake_r);
    if (p->wake_w >= 0)
        close(p->wake_w);
    if (p->ctl >= 0)
        close(p->ctl);
    lp__free(p->w);
    lp__free(p->pfds);
    lp__free(p);
}

/* Descriptors and the fork server; on error errno is set. */
static lp_status start_children(struct process_pool *p)
{
    int wake[2], sv[2];

    if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0)
        return LP_ESYS;
    p->wake_r = wake[0];
    p->wake_w = wake[1];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return LP_ESYS;
    p->ctl = sv[0];
    p->server = lp__fork_server_start(&p->cfg, sv[1]);
    close(sv[1]);
    return p->server < 0 ? LP_ESYS : LP_OK;
}

lp_status lp_process_pool_create(const lp_process_pool_options *opts,
                                 lp_executor **out)
{
    lp_process_pool_options defaults = LP_PROCESS_POOL_OPTIONS_INIT;
    struct process_pool *p;
    lp_status st;
    int status, err;

    if (out == NULL)
        return LP_EINVAL;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    st = check_options(opts);
    if (st != LP_OK)
        return st;
    p = pool_alloc(opts);
    if (p == NULL)
        return LP_ENOMEM;
    st = lp__mutex_init(&p->mu);
    if (st != LP_OK)
        goto out_free;
    st = lp__cond_init(&p->cv);
    if (st != LP_OK)
        goto out_mutex;
    st = start_children(p);
    if (st != LP_OK)
        goto out_cond;
    lp__executor_init(&p->base, &process_pool_vt);
    st = lp__thread_create(&p->manager, manager_main, p, 0, "lp-procpool");
    if (st != LP_OK)
        goto out_server;
    *out = &p->base;
    return LP_OK;

out_server:
    err = errno;
    close(p->ctl); /* the server kills its workers and exits */
    p->ctl = -1;
    while (waitpid(p->server, &status, 0) < 0 && errno == EINTR) {
    }
    errno = err;
out_cond:
    lp__cond_destroy(&p->cv);
out_mutex:
    lp__mutex_destroy(&p->mu);
out_free:
    err = errno;
    pool_free(p);
    errno = err;
    return st;
}

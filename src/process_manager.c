/*
 * The process pool's manager thread (state: internal/process_pool.h; design:
 * process_pool.c). It alone touches the workers: one poll() loop over the
 * wake pipe, the fork server's control socket and every worker socket.
 * Queued items are taken under `mu` in batches and spread over the workers
 * with room (fewest in flight first), and each worker's new frames leave in
 * one non-blocking sendmsg. Replies are decoded in place and complete their
 * futures, never under `mu`. A worker's death is settled once both EOF on
 * its socket and its wait status (from the fork server) are in, so replies
 * it sent before dying are still delivered. The loop ends when the pool is
 * shut down or broken and no future is left, after reaping every child.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "process_pool.h"

#define MAX_IOV 64

/* Reads of one worker's socket per wake-up (so one chatty worker cannot
 * starve the others), and at most once it has exited. */
#define READ_ROUNDS 8
#define EXIT_READS  1024

/*
 * A task is sent ahead to a busy worker only when the work in flight there
 * is expected to end within this long: pipelining saves a round trip (tens
 * of microseconds), which matters for short tasks only, while a task sent
 * ahead cannot be taken back if the one in front turns out long. 10 ms
 * keeps big payloads pipelined on a loaded machine (a 1 MiB round trip,
 * transfer included, counts as the task's run time).
 */
#define SEND_AHEAD_HORIZON_NS (10 * LP__NS_PER_MS)

/* ---- run-time estimates ------------------------------------------------ */

/*
 * Expected run time of one entry, by task function, shared by every pool of
 * the process (a function's cost does not depend on the pool that runs it,
 * and a pool created per request then starts with what earlier ones
 * learnt). Each slot is one atomic word: a tag of the function in the high
 * half, nanoseconds (saturated at about 4.3 s) in the low half. Updates may
 * be lost to a race between two managers; an estimate is only a hint.
 */
#define EST_SLOTS 64

static _Atomic uint64_t run_estimates[EST_SLOTS];

static unsigned est_slot(uint64_t fn)
{
    return (unsigned)((fn >> 4) ^ (fn >> 13)) % EST_SLOTS;
}

static uint64_t est_tag(uint64_t fn)
{
    return (uint64_t)((uint32_t)(fn ^ (fn >> 29)) | 1u) << 32;
}

/* Expected run time of one entry of `fn`, or -1 when never seen. */
static int64_t est_get(uint64_t fn)
{
    uint64_t v = atomic_load_explicit(&run_estimates[est_slot(fn)],
                                      memory_order_relaxed);

    return (v & ~0xffffffffull) == est_tag(fn) ? (int64_t)(uint32_t)v : -1;
}

/* An exponential moving average; a function of another tag is evicted. */
static void est_put(uint64_t fn, int64_t ns)
{
    int64_t old = est_get(fn);

    if (old >= 0)
        ns = (3 * old + ns) / 4;
    if (ns < 0)
        ns = 0;
    if (ns > (int64_t)UINT32_MAX)
        ns = (int64_t)UINT32_MAX;
    atomic_store_explicit(&run_estimates[est_slot(fn)],
                          est_tag(fn) | (uint64_t)ns, memory_order_relaxed);
}

/* The item left worker `w` (answered, failed or sent back). */
static void ahead_remove(struct pp_worker *w, const struct pp_item *it)
{
    if (it->est_ns < 0)
        w->unknown--;
    else
        w->ahead_ns -= it->est_ns;
}

/*
 * Whether `w` has only short work in flight: every item there has a known
 * expected run time, they add up to at most SEND_AHEAD_HORIZON_NS, and the
 * one running has not yet overrun that. Python's ProcessPoolExecutor has
 * one shared call queue, so a long task there never holds up the next; a
 * per-worker pipeline has to be this careful to keep that property.
 */
static bool short_work_ahead(const struct pp_worker *w, int64_t now)
{
    int64_t start;

    if (w->head == NULL)
        return true;
    if (w->unknown > 0 || w->ahead_ns > SEND_AHEAD_HORIZON_NS)
        return false;
    start =
        w->head->sent_ns > w->last_done_ns ? w->head->sent_ns : w->last_done_ns;
    return now - start <= SEND_AHEAD_HORIZON_NS;
}

/*
 * Moves an item's futures to RUNNING as it leaves the queue; entries whose
 * future was cancelled are dropped from the frame. False if none is left.
 */
static bool item_start(struct pp_item *it)
{
    const unsigned char *data;
    unsigned char *body = it->frame + LP__FRAME_HEADER_SIZE;
    size_t off = 0, keep = 0, len, running = 0;
    uint32_t index;

    if (it->started) /* sent again: the frame holds its running entries */
        return it->pending > 0;
    it->started = true;
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

/* ---- breaking and finishing -------------------------------------------- */

static void fail_inflight(struct pp_worker *w, int code, const char *msg)
{
    struct pp_item *it = w->head;

    while (it != NULL) {
        struct pp_item *next = it->next;

        for (size_t i = 0; i < it->n; i++)
            if (it->futs[i] != NULL)
                lp_future_set_failure(it->futs[i], LP_EBROKEN, code, 0, "%s",
                                      msg);
        lp__pp_item_free(it);
        it = next;
    }
    w->head = w->tail = w->out = NULL;
    w->inflight = 0;
    w->ahead_ns = 0;
    w->unknown = 0;
}

static void ctl_send(struct process_pool *p, uint32_t type, pid_t pid,
                     uint32_t slot, int value)
{
    struct lp__ctl_msg m = {
        .type = type, .pid = pid, .slot = slot, .value = value
    };

    if (p->ctl >= 0)
        lp__ctl_send(p->ctl, &m, -1);
}

static void close_worker(struct pp_worker *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    lp__frame_reader_destroy(&w->rd);
}

/*
 * Makes submits fail LP_EBROKEN. Python sets the pool broken before it
 * fails any future, so a caller who saw one fail LP_EBROKEN (or a done
 * callback, as it fails) finds later submits refused.
 */
static void mark_broken(struct process_pool *p)
{
    lp__mutex_lock(&p->mu);
    p->broken = true;
    lp__mutex_unlock(&p->mu);
}

/* Python's BrokenProcessPool: every worker killed, every future failed. */
static void break_pool(struct process_pool *p, int code, const char *why)
{
    char msg[LP__PP_MSG_MAX];
    struct pp_item *queued;

    snprintf(msg, sizeof(msg), "process pool broken: %s", why);
    lp__mutex_lock(&p->mu);
    p->broken = true;
    queued = lp__pp_steal_queue_locked(p, false);
    lp__mutex_unlock(&p->mu);
    ctl_send(p, LP__CTL_KILL_ALL, 0, 0, 0);
    for (int i = 0; i < p->max_workers; i++) {
        fail_inflight(&p->w[i], code, msg);
        close_worker(&p->w[i]);
        p->w[i].state = SLOT_EMPTY;
    }
    lp__pp_abandon_list(queued, false, code, msg);
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
        ctl_send(p, LP__CTL_QUIT, 0, 0, 0);
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

/* Fails what is queued once the pool is being terminated: it will not run
 * (only started tasks outlive terminate's cancel). */
static void fail_queued_when_terminating(struct process_pool *p)
{
    struct pp_item *failed;

    lp__mutex_lock(&p->mu);
    failed = lp__pp_steal_queue_locked(p, false);
    lp__mutex_unlock(&p->mu);
    lp__pp_abandon_list(failed, false, LP_ESHUTDOWN,
                        "its pool was terminated before it ran");
}

/*
 * Puts items the manager took back at the queue's front, in order. A
 * shutdown that cancelled the queue meanwhile did not see them: they are
 * cancelled now (started ones stay, as shutdown leaves them); once the
 * pool is terminating, they fail.
 */
static void queue_front(struct process_pool *p, struct pp_item *first)
{
    struct pp_item *last = first, *cancelled = NULL;
    size_t n = 1;

    for (; last->next != NULL; last = last->next)
        n++;
    lp__mutex_lock(&p->mu);
    last->next = p->qhead;
    p->qhead = first;
    if (p->qtail == NULL)
        p->qtail = last;
    p->queued += n;
    if (p->cancel_queued)
        cancelled = lp__pp_steal_queue_locked(p, true);
    lp__mutex_unlock(&p->mu);
    lp__pp_abandon_list(cancelled, true, LP_ESHUTDOWN, "cancelled at shutdown");
    if (p->terminating)
        fail_queued_when_terminating(p);
}

/*
 * A worker runs its frames in order, so of those it was sent only the first
 * (the head) can have started. The rest go back to the front of the queue,
 * for another worker, instead of failing with the one that died.
 */
static void requeue_unstarted(struct process_pool *p, struct pp_worker *w)
{
    struct pp_item *first = w->head != NULL ? w->head->next : NULL;

    if (first == NULL)
        return;
    for (struct pp_item *it = first; it != NULL; it = it->next)
        ahead_remove(w, it);
    w->head->next = NULL;
    w->tail = w->head;
    w->inflight = 1;
    queue_front(p, first);
}

/* Both EOF and the wait status are in: settle the dead worker's futures,
 * then replace it or break the pool, marked broken first (mark_broken). */
static void worker_gone(struct process_pool *p, struct pp_worker *w)
{
    unsigned max = p->cfg.max_tasks_per_child;
    bool clean = WIFEXITED(w->status) && WEXITSTATUS(w->status) == 0 &&
                 w->head == NULL && w->stream_error == LP_OK && max > 0 &&
                 w->sent >= max;
    bool ending = p->quitting || p->terminating;
    bool breaks = !ending && !clean && p->policy != LP_WORKER_DEATH_REPLACE;
    char msg[LP__PP_MSG_MAX];
    int code;

    if (w->stream_error == LP_ENOMEM) {
        code = LP_ENOMEM;
        snprintf(msg, sizeof(msg), "out of memory for a reply from worker %d",
                 (int)w->pid);
    } else if (w->stream_error != LP_OK) {
        code = LP_EPROTO;
        snprintf(msg, sizeof(msg), "worker %d sent a malformed frame%s",
                 (int)w->pid,
                 w->stream_error == LP_ETOOBIG ? " (length beyond max_payload)"
                                               : "");
    } else {
        describe_exit(w->status, &code, msg, sizeof(msg));
    }
    if (breaks)
        mark_broken(p);
    else if (p->policy == LP_WORKER_DEATH_REPLACE && !ending)
        requeue_unstarted(p, w);
    fail_inflight(w, code, msg);
    close_worker(w);
    w->state = SLOT_EMPTY;
    if (breaks) {
        break_pool(p, code, msg);
    } else if (!ending) {
        w->state = SLOT_STARTING;
        ctl_send(p, LP__CTL_SPAWN, 0, (uint32_t)(w - p->w), 0);
    }
}

static void worker_check_gone(struct process_pool *p, struct pp_worker *w)
{
    if (w->state == SLOT_DYING && w->eof && w->exited)
        worker_gone(p, w);
}

static void worker_eof(struct process_pool *p, struct pp_worker *w)
{
    if (w->state != SLOT_READY && w->state != SLOT_DYING)
        return;
    close_worker(w);
    w->eof = true;
    w->state = SLOT_DYING;
    worker_check_gone(p, w);
}

/* Malformed bytes (or no memory for a body): the stream cannot be
 * resynchronised, so the worker is killed and counts as dead. */
static void worker_proto_error(struct process_pool *p, struct pp_worker *w,
                               lp_status why)
{
    w->stream_error = why;
    ctl_send(p, LP__CTL_KILL, w->pid, (uint32_t)(w - p->w), 0);
    worker_eof(p, w);
}

/*
 * A RESULT body becomes the future's lp_bytes without a copy: the reader
 * reserved sizeof(lp_bytes) in front of it, which is lp__bytes_new's layout
 * (one block, data right after the header, freed by lp__bytes_free).
 */
static lp_bytes *adopt_body(unsigned char *body, size_t len)
{
    lp_bytes *b = (lp_bytes *)(void *)(body - sizeof(lp_bytes));

    b->data = body;
    b->len = len;
    return b;
}

/* Settles one entry; takes `body`. */
static void complete_entry(struct process_pool *p, struct pp_worker *w,
                           const struct lp__frame_header *h,
                           unsigned char *body)
{
    struct pp_item *it = w->head;
    lp_future *f = it->futs[h->index];
    lp_bytes *b;

    it->futs[h->index] = NULL;
    /* Counted first, so whoever sees the future done sees it counted. */
    atomic_fetch_add(&p->completed, 1);
    if (h->type == LP__FRAME_FAIL) {
        lp_future_set_error(f, h->code, h->sys_errno, "%s", (char *)body);
        lp__frame_body_free(&w->rd, body);
    } else {
        b = adopt_body(body, (size_t)h->len);
        if (lp_future_set_result(f, b, lp__bytes_free) != LP_OK)
            lp__bytes_free(b);
    }
    lp_future_release(f);
    if (--it->pending == 0) {
        int64_t now = lp__monotonic_ns();
        int64_t start =
            it->sent_ns > w->last_done_ns ? it->sent_ns : w->last_done_ns;

        est_put(it->fn, (now - start) / (int64_t)(it->runs ? it->runs : 1));
        w->last_done_ns = now;
        ahead_remove(w, it);
        w->head = it->next;
        if (w->head == NULL)
            w->tail = NULL;
        w->inflight--;
        lp__pp_item_free(it);
    }
}

/* One frame from a worker; takes `body`. False when it was malformed. */
static bool handle_frame(struct process_pool *p, struct pp_worker *w,
                         const struct lp__frame_header *h, unsigned char *body)
{
    char msg[LP__PP_MSG_MAX];
    struct pp_item *it = w->head;

    if ((h->type == LP__FRAME_RESULT || h->type == LP__FRAME_FAIL) &&
        it != NULL && h->id == it->id && h->index < it->n &&
        it->futs[h->index] != NULL) {
        complete_entry(p, w, h, body);
        return true;
    }
    lp__frame_body_free(&w->rd, body);
    if (h->type == LP__FRAME_HELLO && !w->heard) {
        /* A task waiting for it started now, not when it was sent. */
        w->heard = true;
        w->last_done_ns = lp__monotonic_ns();
        return true;
    }
    if (h->type != LP__FRAME_INIT_FAIL)
        return false;
    snprintf(msg, sizeof(msg), "initializer failed with code %d", (int)h->code);
    break_pool(p, h->code, msg);
    return true;
}

/* Handles what `w` sent, in at most `rounds` reads (bounded, so one chatty
 * worker cannot starve the others). */
static void read_worker(struct process_pool *p, struct pp_worker *w, int rounds)
{
    struct lp__frame_header h;
    unsigned char *buf, *body;
    size_t room;
    ssize_t n;
    lp_status st;

    for (int round = 0; round < rounds && w->state == SLOT_READY; round++) {
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

            if (!ok || w->state != SLOT_READY) {
                if (!ok)
                    worker_proto_error(p, w, LP_EPROTO);
                return;
            }
        }
        if (st != LP_EOF) {
            worker_proto_error(p, w, st);
            return;
        }
    }
}

/*
 * The server reaped `w`. Whatever it wrote is in its socket already: read
 * that, then settle as at EOF without waiting for EOF itself, which a
 * process the task forked (holding a copy of the worker's end) would delay
 * until that process exits. Bounded: such a process may still be writing.
 */
static void worker_exited(struct process_pool *p, struct pp_worker *w,
                          int status)
{
    w->exited = true;
    w->status = status;
    read_worker(p, w, EXIT_READS);
    if (w->state == SLOT_READY)
        worker_eof(p, w);
    else
        worker_check_gone(p, w);
}

static void write_worker(struct pp_worker *w)
{
    struct iovec iov[MAX_IOV];
    struct msghdr msg = { .msg_iov = iov };
    struct pp_item *it;
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
            w->out = w->out->next;
            w->out_off = 0;
        }
    }
}

/* ---- the manager thread -------------------------------------------------- */

/*
 * Tasks worker `w` can take now: up to max_inflight, but a busy worker only
 * behind short work (short_work_ahead). A worker is sent tasks once it said
 * HELLO, except an eager one (the first initial worker, which the fork
 * server forks first, and a replacement), whose first tasks wait in its
 * socket until it starts. Sending to the others before they run would tie
 * a task to a process that may start well after a running worker is free
 * again (the fork server forks the initial workers one after the other);
 * so 3 blocking tasks on 3 new workers run side by side, each in its own.
 */
static unsigned room_of(const struct process_pool *p, const struct pp_worker *w,
                        int64_t now)
{
    unsigned max = p->cfg.max_tasks_per_child, limit = p->max_inflight, r;

    if (w->state != SLOT_READY || w->exited || (!w->heard && !w->eager) ||
        !short_work_ahead(w, now))
        return 0;
    r = w->inflight < limit ? limit - w->inflight : 0;
    if (max > 0)
        r = w->sent >= max ? 0 : r < max - w->sent ? r : max - w->sent;
    return r;
}

static struct pp_worker *pick_worker(struct process_pool *p, int64_t now)
{
    struct pp_worker *best = NULL;

    for (int i = 0; i < p->max_workers; i++) {
        struct pp_worker *w = &p->w[i];

        if (room_of(p, w, now) == 0)
            continue;
        if (best == NULL || w->inflight < best->inflight)
            best = w;
    }
    return best;
}

static unsigned free_slots(struct process_pool *p, int64_t now)
{
    unsigned room = 0;

    for (int i = 0; i < p->max_workers; i++)
        room += room_of(p, &p->w[i], now);
    return room;
}

/* Takes up to `n` items off the queue in one go. */
static struct pp_item *take_queued(struct process_pool *p, unsigned n)
{
    struct pp_item *first, *last;

    lp__mutex_lock(&p->mu);
    first = last = p->qhead;
    if (first == NULL) {
        lp__mutex_unlock(&p->mu);
        return NULL;
    }
    p->queued--;
    while (--n > 0 && last->next != NULL) {
        last = last->next;
        p->queued--;
    }
    p->qhead = last->next;
    if (p->qhead == NULL)
        p->qtail = NULL;
    last->next = NULL;
    lp__mutex_unlock(&p->mu);
    return first;
}

static void assign(struct pp_worker *w, struct pp_item *it, int64_t now)
{
    int64_t est = est_get(it->fn);

    it->sent_ns = now;
    it->runs = it->pending;
    it->est_ns = est < 0 ? -1 : est * (int64_t)it->runs;
    if (est < 0)
        w->unknown++;
    else
        w->ahead_ns += it->est_ns;
    it->next = NULL;
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
}

/*
 * Moves queued items to workers with room, then writes each worker's new
 * frames with one sendmsg. Items are taken in batches of the room counted
 * before; as they are assigned, a worker's work ahead may stop being short
 * (short_work_ahead), and what no worker can take goes back to the queue.
 */
static void dispatch(struct process_pool *p)
{
    int64_t now = lp__monotonic_ns();
    struct pp_item *it, *next;
    struct pp_worker *w;
    unsigned room;
    bool full = false;

    while (!full && (room = free_slots(p, now)) > 0 &&
           (it = take_queued(p, room)) != NULL) {
        for (; it != NULL; it = next) {
            next = it->next;
            w = pick_worker(p, now);
            if (w == NULL) {
                queue_front(p, it);
                full = true;
                break;
            }
            if (item_start(it))
                assign(w, it, now);
            else
                lp__pp_item_free(it);
        }
    }
    for (int i = 0; i < p->max_workers; i++)
        if (p->w[i].state == SLOT_READY && p->w[i].out != NULL)
            write_worker(&p->w[i]);
}

static void handle_ctl(struct process_pool *p)
{
    struct lp__ctl_msg m;
    struct pp_worker *w;
    char msg[LP__PP_MSG_MAX];
    int fd;

    if (lp__ctl_recv(p->ctl, &m, &fd) != 0) {
        close(p->ctl);
        p->ctl = -1;
        if (!p->quitting)
            break_pool(p, LP_ESYS, "the fork server terminated");
        return;
    }
    if (m.type == LP__CTL_SPAWNED && fd == LP__CTL_FD_LOST) {
        /* Past the pre-connected slots the worker's socket comes with this
         * message; without it the worker is unreachable (it exits at EOF).
         * Carrying on with fewer workers than asked would go unnoticed. */
        snprintf(msg, sizeof(msg),
                 "a worker could not be started: its socket was dropped on "
                 "receipt: %s",
                 strerror(EMFILE));
        break_pool(p, EMFILE, msg);
        return;
    }
    if (m.type == LP__CTL_SPAWNED && m.slot < (uint32_t)p->max_workers &&
        fd < 0) {
        /* A pre-connected slot learns its pid (it may have died already:
         * DYING after EOF; after a break the slot is EMPTY). */
        w = &p->w[m.slot];
        if ((w->state == SLOT_READY || w->state == SLOT_DYING) && w->pid == 0)
            w->pid = m.pid;
        return;
    }
    if (m.type == LP__CTL_SPAWNED && m.slot < (uint32_t)p->max_workers) {
        w = &p->w[m.slot];
        memset(w, 0, sizeof(*w));
        w->fd = fd;
        w->pid = m.pid;
        w->state = SLOT_READY;
        w->eager = true;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (lp__frame_reader_init(&w->rd,
                                  lp__worker_frame_max(p->cfg.max_payload),
                                  sizeof(lp_bytes)) != LP_OK)
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
                worker_exited(p, w, m.value);
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
        struct pp_worker *w = &p->w[i];

        if (w->state == SLOT_READY && w->fd >= 0)
            p->pfds[n++] = (struct pollfd){
                w->fd, (short)(POLLIN | (w->out != NULL ? POLLOUT : 0)), 0
            };
    }
    return n;
}

static struct pp_worker *worker_by_fd(struct process_pool *p, int fd)
{
    for (int i = 0; i < p->max_workers; i++)
        if (p->w[i].state == SLOT_READY && p->w[i].fd == fd)
            return &p->w[i];
    return NULL;
}

/* lp_process_pool_terminate's signal goes to every worker. */
static void start_terminating(struct process_pool *p, int sig)
{
    p->terminating = true;
    ctl_send(p, LP__CTL_KILL_ALL, 0, 0, sig);
    fail_queued_when_terminating(p);
}

void *lp__pp_manager_main(void *arg)
{
    struct process_pool *p = arg;
    char drain[64];
    int n, sig;

    while (!pool_done(p)) {
        n = build_pollfds(p);
        if (poll(p->pfds, (nfds_t)n, -1) < 0)
            continue;
        if (p->pfds[0].revents != 0) {
            while (read(p->wake_r, drain, sizeof(drain)) > 0) {
            }
            lp__mutex_lock(&p->mu);
            p->wake_pending = false;
            sig = p->terminate_sig;
            lp__mutex_unlock(&p->mu);
            if (sig > 0 && !p->terminating)
                start_terminating(p, sig);
        }
        for (int i = 2; i < n; i++) {
            struct pp_worker *w = worker_by_fd(p, p->pfds[i].fd);

            if (w != NULL && (p->pfds[i].revents & POLLOUT))
                write_worker(w);
            if (w != NULL && (p->pfds[i].revents & ~POLLOUT))
                read_worker(p, w, READ_ROUNDS);
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

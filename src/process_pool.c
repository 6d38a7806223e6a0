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
 * reaped. The manager thread is process_manager.c; the child side (fork
 * server, worker loop, fork strategy and its limits) is process_worker.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "process_pool.h"

#define DEFAULT_MAX_PAYLOAD ((size_t)1 << 30)
#define MAX_WORKERS         1024
/* map_block's bounds: below this many chunks the saving is nil; above this
 * size, the block would pin the inputs' copy until the last chunk is done. */
#define MAP_BLOCK_MIN_CHUNKS 8
#define MAP_BLOCK_MAX_BYTES  ((size_t)64 << 20)

static const struct lp__executor_vtable process_pool_vt;

/* ---- items ----------------------------------------------------------- */

unsigned char *lp__pp_frame_get(struct process_pool *p, size_t len, size_t *cap)
{
    unsigned char *buf = NULL;
    int best = -1;

    if (len >= LP__PP_CACHE_MIN) {
        lp__mutex_lock(&p->mu);
        for (int i = 0; i < LP__PP_CACHE_SLOTS; i++)
            if (p->cache[i] != NULL && p->cache_cap[i] >= len &&
                p->cache_cap[i] / 2 <= len &&
                (best < 0 || p->cache_cap[i] < p->cache_cap[best]))
                best = i;
        if (best >= 0) {
            buf = p->cache[best];
            *cap = p->cache_cap[best];
            p->cache[best] = NULL;
            p->cache_bytes -= *cap;
        }
        lp__mutex_unlock(&p->mu);
    }
    if (buf == NULL) {
        buf = lp__malloc(len);
        *cap = len;
    }
    return buf;
}

void lp__pp_frame_put(struct process_pool *p, unsigned char *frame, size_t cap)
{
    if (frame != NULL && cap >= LP__PP_CACHE_MIN) {
        lp__mutex_lock(&p->mu);
        for (int i = 0; i < LP__PP_CACHE_SLOTS; i++) {
            if (p->cache[i] == NULL &&
                p->cache_bytes + cap <= LP__PP_CACHE_BYTES) {
                p->cache[i] = frame;
                p->cache_cap[i] = cap;
                p->cache_bytes += cap;
                frame = NULL;
                break;
            }
        }
        lp__mutex_unlock(&p->mu);
    }
    lp__free(frame);
}

static void block_release(struct pp_block *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        lp__free(b);
}

void lp__pp_item_free(struct pp_item *it)
{
    for (size_t i = 0; i < it->n; i++)
        lp_future_release(it->futs[i]);
    if (it->block != NULL) {
        block_release(it->block);
        return;
    }
    if (it->futs != &it->one)
        lp__free(it->futs);
    lp__pp_frame_put(it->pool, it->frame, it->frame_cap);
    lp__free(it);
}

#define BLOCK_ALIGN 16

static size_t block_round(size_t size)
{
    return lp__align_up(size, BLOCK_ALIGN);
}

/* Block bytes an item of n entries and `body_len` body bytes takes. */
static size_t block_share(size_t n, size_t body_len)
{
    return block_round(sizeof(struct pp_item)) +
           (n == 1 ? 0 : block_round(n * sizeof(lp_future *))) +
           block_round(LP__FRAME_HEADER_SIZE + body_len);
}

static struct pp_block *block_new(size_t bytes)
{
    size_t head = block_round(sizeof(struct pp_block));
    struct pp_block *b = lp__malloc(head + bytes);

    if (b == NULL)
        return NULL;
    atomic_init(&b->refs, 1); /* the map call's own, dropped when it ends */
    b->next = (unsigned char *)b + head;
    b->end = b->next + bytes;
    return b;
}

static void *block_carve(struct pp_block *b, size_t size)
{
    void *p = b->next;

    if ((size_t)(b->end - b->next) < block_round(size))
        lp__panic("process pool: map block sized short", EOVERFLOW);
    b->next += block_round(size);
    return p;
}

/* An item's memory: its own allocations, or a share of `b`. */
static struct pp_item *item_alloc(struct process_pool *p, struct pp_block *b,
                                  size_t n, size_t frame_len)
{
    struct pp_item *it;

    if (b == NULL) {
        it = lp__calloc(1, sizeof(*it));
        if (it == NULL)
            return NULL;
        it->futs = n == 1 ? &it->one : lp__calloc(n, sizeof(*it->futs));
        it->frame = lp__pp_frame_get(p, frame_len, &it->frame_cap);
        return it;
    }
    it = block_carve(b, sizeof(*it));
    memset(it, 0, sizeof(*it));
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    it->block = b;
    it->futs = &it->one;
    if (n != 1) {
        it->futs = block_carve(b, n * sizeof(*it->futs));
        memset(it->futs, 0, n * sizeof(*it->futs));
    }
    it->frame = block_carve(b, frame_len);
    return it;
}

/* An item with room for `body_len` body bytes and its n futures, carved
 * from `b` unless it is NULL. */
static struct pp_item *item_new(struct process_pool *p, struct pp_block *b,
                                lp_bytes_fn fn, size_t n, size_t body_len)
{
    struct lp__frame_header h = { .type = LP__FRAME_TASKS,
                                  .index = (uint32_t)n,
                                  .fn = (uint64_t)(uintptr_t)fn,
                                  .len = body_len };
    struct pp_item *it = item_alloc(p, b, n, LP__FRAME_HEADER_SIZE + body_len);

    if (it == NULL)
        return NULL;
    it->n = n;
    it->pool = p;
    it->fn = h.fn;
    it->frame_len = LP__FRAME_HEADER_SIZE + body_len;
    if (it->futs == NULL || it->frame == NULL) {
        it->n = 0;
        lp__pp_item_free(it);
        return NULL;
    }
    lp__frame_encode_header(it->frame, &h);
    for (size_t i = 0; i < n; i++) {
        if (lp_future_create(&it->futs[i]) != LP_OK) {
            lp__pp_item_free(it);
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
static void item_abandon(struct pp_item *it, bool cancel, int code,
                         const char *msg)
{
    for (size_t i = 0; i < it->n; i++) {
        lp_future *f = it->futs[i];

        if (f == NULL)
            continue;
        if (cancel && !it->started)
            lp_future_cancel(f);
        if (it->started || lp_future_set_running_or_notify_cancel(f) == LP_OK)
            lp_future_set_failure(f, LP_EBROKEN, code, 0, "%s", msg);
    }
    lp__pp_item_free(it);
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

struct pp_item *lp__pp_steal_queue_locked(struct process_pool *p,
                                          bool cancellable)
{
    struct pp_item *all = p->qhead, **take = &all, *it, *keep = NULL;
    struct pp_item **keep_tail = &keep;

    p->qhead = p->qtail = NULL;
    p->queued = 0;
    while ((it = *take) != NULL) {
        if (cancellable && it->started) {
            *take = it->next;
            it->next = NULL;
            *keep_tail = it;
            keep_tail = &it->next;
            p->qtail = it;
            p->queued++;
        } else {
            take = &it->next;
        }
    }
    p->qhead = keep;
    return all;
}

void lp__pp_abandon_list(struct pp_item *it, bool cancel, int code,
                         const char *msg)
{
    while (it != NULL) {
        struct pp_item *next = it->next;

        item_abandon(it, cancel, code, msg);
        it = next;
    }
}

/* Enqueues a chain of items whose ids are set here. */
static lp_status enqueue(struct process_pool *p, struct pp_item *first)
{
    struct pp_item *last = first;
    lp_status st = LP_OK;

    lp__mutex_lock(&p->mu);
    if (p->broken)
        st = LP_EBROKEN;
    else if (p->shutdown)
        st = LP_ESHUTDOWN;
    if (st == LP_OK) {
        for (struct pp_item *it = first; it != NULL; it = it->next) {
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

/* ---- the executor ------------------------------------------------------ */

static struct process_pool *to_pool(lp_executor *ex)
{
    return (struct process_pool *)ex;
}

static lp_status pp_submit(lp_executor *ex, const struct lp__task_spec *spec,
                           lp_future **out)
{
    struct process_pool *p = to_pool(ex);
    struct pp_item *it;
    lp_status st;

    if (spec->kind != LP__TASK_BYTES)
        return LP_EUNSUPPORTED;
    if (spec->in_len > p->cfg.max_payload)
        return LP_ETOOBIG;
    it = item_new(p, NULL, spec->bytes_fn, 1,
                  LP__FRAME_ENTRY_SIZE + spec->in_len);
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
        lp__pp_item_free(it);
    }
    return st;
}

static lp_status pp_shutdown(lp_executor *ex, bool wait, bool cancel_futures)
{
    struct process_pool *p = to_pool(ex);
    struct pp_item *cancelled = NULL;

    lp__mutex_lock(&p->mu);
    p->shutdown = true;
    if (cancel_futures) {
        p->cancel_queued = true;
        cancelled = lp__pp_steal_queue_locked(p, true);
    }
    wake_manager_locked(p);
    lp__mutex_unlock(&p->mu);
    lp__pp_abandon_list(cancelled, true, LP_ESHUTDOWN, "cancelled at shutdown");
    /* From a done callback (the manager thread), waiting would be waiting
     * for ourselves: the manager finishes once the callback returns. */
    if (wait && !lp__thread_is_self(&p->manager)) {
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
    for (int i = 0; i < LP__PP_CACHE_SLOTS; i++)
        lp__free(p->cache[i]);
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
static size_t chunk_body(const lp_bytes *items, size_t first, size_t n)
{
    size_t body = 0;

    for (size_t i = 0; i < n; i++)
        body += LP__FRAME_ENTRY_SIZE + items[first + i].len;
    return body;
}

static struct pp_item *chunk_new(struct process_pool *p, struct pp_block *block,
                                 lp_bytes_fn fn, const lp_bytes *items,
                                 size_t first, size_t n)
{
    size_t off = LP__FRAME_HEADER_SIZE;
    struct pp_item *it;

    it = item_new(p, block, fn, n, chunk_body(items, first, n));
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

static void free_chain(struct pp_item *it)
{
    while (it != NULL) {
        struct pp_item *next = it->next;

        lp__pp_item_free(it);
        it = next;
    }
}

/*
 * A block for all chunks of a map call, or NULL to allocate each on its own:
 * when the chunks are too few to matter, or would be too large to copy once
 * more (a block is only freed with its last chunk).
 */
static struct pp_block *map_block(const struct process_pool *p,
                                  const lp_bytes *items, size_t n,
                                  size_t chunksize)
{
    size_t done = 0, k, bytes = 0, chunks = 0;

    while (done < n) {
        k = chunk_count(p, items, done, n, chunksize);
        bytes += block_share(k, chunk_body(items, done, k));
        done += k;
        chunks++;
    }
    if (chunks < MAP_BLOCK_MIN_CHUNKS || bytes > MAP_BLOCK_MAX_BYTES)
        return NULL;
    return block_new(bytes);
}

/* multiprocessing.Pool.map's choice: n / (4 * workers) rounded up, at least
 * one item a chunk. */
static size_t auto_chunksize(size_t n, size_t workers)
{
    size_t per = 4 * workers;

    return n <= per ? 1 : n / per + (n % per != 0);
}

lp_status lp_process_pool_map_bytes(lp_executor *ex, lp_bytes_fn fn,
                                    const lp_bytes *items, size_t n,
                                    size_t chunksize, lp_future **futures)
{
    struct pp_item *first = NULL, **tail = &first, *it;
    struct process_pool *p;
    struct pp_block *block;
    size_t done = 0, k;
    lp_status st;

    if (futures != NULL)
        memset(futures, 0, n * sizeof(*futures));
    if (!lp__executor_usable(ex) || ex->vt != &process_pool_vt || fn == NULL ||
        (n > 0 && (items == NULL || futures == NULL)))
        return LP_EINVAL;
    p = to_pool(ex);
    if (chunksize == 0)
        chunksize = auto_chunksize(n, (size_t)p->max_workers);
    for (size_t i = 0; i < n; i++)
        if (items[i].len > p->cfg.max_payload ||
            (items[i].len > 0 && items[i].data == NULL))
            return items[i].len > p->cfg.max_payload ? LP_ETOOBIG : LP_EINVAL;
    block = map_block(p, items, n, chunksize);
    while (done < n) {
        k = chunk_count(p, items, done, n, chunksize);
        it = chunk_new(p, block, fn, items, done, k);
        if (it == NULL) {
            free_chain(first);
            if (block != NULL)
                block_release(block);
            return LP_ENOMEM;
        }
        for (size_t i = 0; i < k; i++)
            futures[done + i] = it->futs[i];
        *tail = it;
        tail = &it->next;
        done += k;
    }
    if (block != NULL)
        block_release(block); /* the chunks hold it now */
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

lp_status lp_process_pool_terminate(lp_executor *ex, int sig)
{
    struct process_pool *p;

    if (!lp__executor_usable(ex) || ex->vt != &process_pool_vt ||
        (sig != SIGTERM && sig != SIGKILL))
        return LP_EINVAL;
    p = to_pool(ex);
    pp_shutdown(ex, false, true);
    lp__mutex_lock(&p->mu);
    p->terminate_sig = sig;
    wake_manager_locked(p);
    lp__mutex_unlock(&p->mu);
    return LP_OK;
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
    for (int i = 0; i < p->max_workers; i++) {
        if (p->w[i].fd >= 0)
            close(p->w[i].fd);
        lp__frame_reader_destroy(&p->w[i].rd);
    }
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

/*
 * Connects slot `i` before the fork server exists (process.h, "Pre-connected
 * slots"): the slot is READY with no pid yet, so tasks can be written to it
 * at once. Returns the worker's end, or -1 (errno set; *st LP_ENOMEM when
 * the frame reader could not be allocated).
 */
static int preconnect(struct process_pool *p, int i, lp_status *st)
{
    struct pp_worker *w = &p->w[i];
    int sv[2];

    if (lp__socketpair_above_stdio(sv) != 0)
        return -1;
    lp__worker_socket_buffers(sv);
    w->fd = sv[0];
    fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK);
    w->state = SLOT_READY;
    w->eager = i == 0;
    if (lp__frame_reader_init(&w->rd, lp__worker_frame_max(p->cfg.max_payload),
                              sizeof(lp_bytes)) != LP_OK) {
        close(sv[1]);
        *st = LP_ENOMEM;
        errno = ENOMEM;
        return -1;
    }
    return sv[1];
}

/* A non-blocking signalfd for the fork server's SIGCHLD, or -1. */
static int chld_signalfd(void)
{
    sigset_t chld;

    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    return lp__fd_above_stdio(signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC));
}

/*
 * Descriptors and the fork server; on error errno is set. Every descriptor
 * the server needs is made here, so that running out of them is this
 * call's error (process.h), not a pool that breaks later.
 */
static lp_status start_children(struct process_pool *p)
{
    int wake[2], sv[2], child[LP__PRECONNECT_MAX], n, err, chld = -1;
    lp_status st = LP_ESYS;

    if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0)
        return LP_ESYS;
    p->wake_r = lp__fd_above_stdio(wake[0]);
    p->wake_w = lp__fd_above_stdio(wake[1]);
    if (p->wake_r < 0 || p->wake_w < 0)
        return LP_ESYS;
    if (lp__socketpair_above_stdio(sv) != 0)
        return LP_ESYS;
    p->ctl = sv[0];
    n = p->max_workers < LP__PRECONNECT_MAX ? p->max_workers
                                            : LP__PRECONNECT_MAX;
    while (p->cfg.preconnected < n) {
        child[p->cfg.preconnected] = preconnect(p, p->cfg.preconnected, &st);
        if (child[p->cfg.preconnected] < 0)
            goto out_close;
        p->cfg.preconnected++;
    }
    chld = chld_signalfd();
    if (chld < 0)
        goto out_close;
    p->server = lp__fork_server_start(&p->cfg, sv[1], child, chld);
    if (p->server >= 0)
        st = LP_OK;
out_close:
    err = errno;
    if (chld >= 0)
        close(chld);
    close(sv[1]);
    for (int i = 0; i < p->cfg.preconnected; i++)
        close(child[i]);
    errno = err;
    return st;
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
    st = lp__thread_create(&p->manager, lp__pp_manager_main, p, 0,
                           "lp-procpool");
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

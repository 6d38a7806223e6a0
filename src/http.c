/*
 * The event-loop HTTP client: one thread drives every transfer on a libcurl
 * multi handle and completes one lp_future per request.
 *
 * Data flow. lp_http_submit copies the request, creates its future, and
 * appends the request to `incoming` under the client lock, waking the loop
 * through an eventfd only when the list was empty (the loop always takes the
 * whole list). The loop thread owns everything else: it moves requests to a
 * FIFO `queued` list, starts them while fewer than max_concurrent are
 * `active` (easy handles on the multi handle), and on each finished transfer
 * either parks the request on `retrying` until its backoff passes or
 * completes its future -- on this thread, holding no lock, so done callbacks
 * may submit more work.
 *
 * libcurl's side (multi handles, epoll, timers) lives in http_shard.c.
 *
 * Cancel. A request's future stays PENDING until it completes, so
 * lp_future_cancel succeeds while it is queued or transferring. Each future
 * carries a done callback of ours; when it sees a cancelled future it hands
 * the request to the loop through `cancels` (under the lock) and wakes it.
 * The loop removes the transfer (closing its connection), then calls
 * lp_future_set_running_or_notify_cancel so waiters see the future done. If
 * the transfer finished first, completing finds the future cancelled
 * (LP_ESTATE) and notifies instead.
 *
 * Lifetime. A request has two references: the loop's, dropped when the
 * request is retired, and the done callback's, dropped when the callback
 * runs (or, for a cancel, after the loop handled the notice). Each request
 * holds a reference on the client, so a callback running late on another
 * thread never touches freed memory; lp_http_client_destroy stops and joins
 * the loop, which fails what is left with LP_ESHUTDOWN.
 *
 * Locks: the client lock guards incoming, cancels and stopping; it is never
 * held while a future completes. The share locks (one per libcurl cache)
 * serve only the blocking calls in http_blocking.c. The loop's transfers
 * keep TLS sessions per easy handle (spares keep theirs): libcurl 7.88's
 * shared cache holds one session per host, and a TLS 1.3 session resumes
 * once, so concurrent connections sharing it mostly make full handshakes
 * (12 at once to one host, 5 rounds: 19 of 60 resumed with the share, 48
 * without).
 */
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>

#include "alloc.h"
#include "clock.h"
#include "http_client.h"

#define DEFAULT_MAX_CONCURRENT 1024u
/* Far above what descriptors allow; keeps the shard table small. */
#define MAX_CONCURRENT_LIMIT (1u << 20)
#define IDLE_POLL_MS         1000
#define EVENTS_PER_WAIT      256
#define QUEUE_SWEEP_MS       10
#define START_BURST          256u

enum phase { PHASE_QUEUED, PHASE_ACTIVE, PHASE_RETRYING, PHASE_DONE };

/* Client ids: what a thread's kept easy handle (http_blocking.c) is keyed
 * by, since a new client may get a destroyed one's address. */
static atomic_uint_fast64_t next_client_id = 1;

struct request {
    struct lp__http_xfer x;
    lp_future *f;
    struct lp_http_client *client;
    struct lp__http_shard *shard; /* while active; loop thread only */
    atomic_uint refs;
    enum phase phase;            /* loop thread only */
    int64_t retry_at;            /* loop thread only */
    struct request *prev, *next; /* loop lists; loop thread only */
    struct request *in_next;     /* incoming; guarded by client lock */
    struct request *cancel_next; /* cancels; guarded by client lock */
};

/* ---- references --------------------------------------------------------- */

static void client_unref(struct lp_http_client *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    lp__http_client_release_share(c);
    lp__mutex_destroy(&c->lock);
    lp__http_defaults_release(&c->defaults);
    lp__free(c);
}

static void request_unref(struct request *r)
{
    struct lp_http_client *c = r->client;

    if (atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    lp__http_xfer_release(&r->x);
    lp_future_release(r->f);
    lp__free(r);
    client_unref(c);
}

/* ---- loop lists --------------------------------------------------------- */

static void list_push(struct req_list *l, struct request *r)
{
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
}

static void list_remove(struct req_list *l, struct request *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    r->prev = r->next = NULL;
}

static struct req_list *list_of(struct lp_http_client *c, struct request *r)
{
    switch (r->phase) {
    case PHASE_QUEUED:
        return &c->queued;
    case PHASE_ACTIVE:
        return &c->active;
    case PHASE_RETRYING:
        return &c->retrying;
    default:
        return NULL;
    }
}

/* Takes `r` off whichever list (and the multi handle) holds it. */
static void detach(struct lp_http_client *c, struct request *r)
{
    struct req_list *l = list_of(c, r);

    if (l == NULL)
        return;
    if (r->phase == PHASE_ACTIVE) {
        lp__http_shard_remove(r->shard, r->x.easy);
        r->shard = NULL;
        c->n_active--;
    }
    list_remove(l, r);
}

/* ---- completing --------------------------------------------------------- */

static void free_response(void *p)
{
    lp_http_response_free(p);
}

/* Drops the loop's hold on a request whose future is settled. */
static void retire(struct request *r)
{
    struct lp_http_client *c = r->client;

    r->phase = PHASE_DONE;
    if (r->x.easy != NULL && c->n_spare < LP__HTTP_SPARE_EASY) {
        /* Reset and keep it: the next request skips curl_easy_init. */
        curl_easy_reset(r->x.easy);
        c->spare[c->n_spare++] = r->x.easy;
        r->x.easy = NULL;
    }
    lp__http_xfer_release(&r->x);
    request_unref(r);
}

/*
 * Completes r's future with `resp` (st LP_OK) or a failure; a future
 * cancelled meanwhile is notified instead. Runs user callbacks: the caller
 * holds no lock.
 */
static void complete(struct request *r, lp_status st, lp_http_response *resp,
                     const char *msg)
{
    lp_status done;

    if (st == LP_OK) {
        done = lp_future_set_result(r->f, resp, free_response);
        if (done != LP_OK)
            lp_http_response_free(resp);
    } else {
        done = lp_future_set_error(r->f, (int)st, 0, "%s", msg);
    }
    if (done == LP_ESTATE)
        lp_future_set_running_or_notify_cancel(r->f);
    retire(r);
}

static void fail(struct request *r, lp_status st, const char *msg)
{
    complete(r, st, NULL, msg);
}

static void finish_transfer(struct lp_http_client *c, struct request *r,
                            CURLcode rc)
{
    lp_http_response *resp;
    char msg[512];
    int64_t delay = lp__http_xfer_retry_delay(&r->x, rc);
    lp_status st;

    if (delay >= 0) {
        r->phase = PHASE_RETRYING;
        r->retry_at = lp__deadline_add(lp__monotonic_ns(), delay);
        list_push(&c->retrying, r);
        return;
    }
    st = lp__http_xfer_finish(&r->x, rc, &resp, msg, sizeof(msg));
    complete(r, st, resp, msg);
}

/* ---- the loop ----------------------------------------------------------- */

static const char *start_failure(lp_status st)
{
    switch (st) {
    case LP_ETIMEDOUT:
        return "timed out before the transfer started";
    case LP_EINVAL:
        return "not an http:// or https:// URL libcurl accepts";
    default:
        return "could not start the transfer";
    }
}

/*
 * Starts queued requests while there are free slots, at most START_BURST per
 * loop iteration: between bursts the loop serves the sockets of transfers
 * already started, so a burst of 10,000 submissions sends its first requests
 * (and gets its first responses) early instead of connecting all 10,000
 * first.
 */
static void start_queued(struct lp_http_client *c)
{
    unsigned started = 0;

    while (c->n_active < c->max_concurrent && c->queued.head != NULL &&
           started++ < START_BURST) {
        struct request *r = c->queued.head;
        lp_status st;

        list_remove(&c->queued, r);
        if (r->x.easy == NULL && c->n_spare > 0)
            r->x.easy = c->spare[--c->n_spare];
        r->x.recv_buffer = c->n_active >= LP__HTTP_SMALL_RECV_ABOVE
                               ? LP__HTTP_SMALL_RECV_BUFFER
                               : 0;
        st = lp__http_xfer_prepare(&r->x, &c->defaults, NULL);
        if (st == LP_OK) {
            curl_easy_setopt(r->x.easy, CURLOPT_PRIVATE, r);
            st = lp__http_shard_add(c, r->x.easy, &r->shard);
        }
        if (st != LP_OK) {
            r->phase = PHASE_DONE;
            fail(r, st, start_failure(st));
            continue;
        }
        r->phase = PHASE_ACTIVE;
        list_push(&c->active, r);
        c->n_active++;
    }
}

static void collect_finished(struct lp_http_client *c)
{
    struct lp__http_shard *from;
    CURLMsg *m;

    while ((m = lp__http_shards_next_done(c, &from)) != NULL) {
        CURLcode rc = m->data.result;
        struct request *r = NULL;

        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        detach(c, r);
        finish_transfer(c, r, lp__http_xfer_outcome(&r->x, rc));
    }
}

/* Queues `r` last; the deadline scan must not sleep past its own. */
static void enqueue(struct lp_http_client *c, struct request *r)
{
    r->phase = PHASE_QUEUED;
    list_push(&c->queued, r);
    if (r->x.deadline < c->next_expiry_check)
        c->next_expiry_check = r->x.deadline;
}

/* Requeues retries whose backoff passed. */
static void release_retries(struct lp_http_client *c)
{
    int64_t now = lp__monotonic_ns();
    struct request *r = c->retrying.head;

    while (r != NULL) {
        struct request *following = r->next;

        if (r->retry_at <= now) {
            list_remove(&c->retrying, r);
            enqueue(c, r);
        }
        r = following;
    }
}

/*
 * Fails the requests of `l` whose time limit passed; returns the nearest
 * deadline of those left.
 */
static int64_t expire_list(struct lp_http_client *c, struct req_list *l,
                           int64_t now, const char *why)
{
    int64_t nearest = LP_DEADLINE_NEVER;
    struct request *r = l->head;

    while (r != NULL) {
        struct request *following = r->next;

        if (r->x.deadline <= now) {
            detach(c, r);
            r->phase = PHASE_DONE;
            fail(r, LP_ETIMEDOUT, why);
        } else if (r->x.deadline < nearest) {
            nearest = r->x.deadline;
        }
        r = following;
    }
    return nearest;
}

/*
 * Fails requests whose time limit passed while they waited for a slot, or
 * inside libcurl: libcurl 7.88 applies CURLOPT_TIMEOUT_MS only once a
 * transfer has a connection, so one waiting for a connection (behind
 * max_per_host, or to share an HTTP/2 connection) would wait past its
 * limit. The scan is O(queued + active), so it runs at most every
 * QUEUE_SWEEP_MS, and not before the nearest deadline.
 */
static void expire_overdue(struct lp_http_client *c)
{
    int64_t now = lp__monotonic_ns(), nearest, active_nearest;

    if (now < c->next_expiry_check)
        return;
    nearest = expire_list(c, &c->queued, now, "timed out while queued");
    active_nearest = expire_list(c, &c->active, now,
                                 "timed out before the response completed");
    if (active_nearest < nearest)
        nearest = active_nearest;
    c->next_expiry_check =
        lp__deadline_add(now, QUEUE_SWEEP_MS * LP__NS_PER_MS);
    if (nearest > c->next_expiry_check)
        c->next_expiry_check = nearest;
}

/*
 * How long the loop may sleep: not at all while queued requests could start,
 * else until the next retry is due or the next deadline scan, at most 1 s.
 */
static int poll_timeout_ms(struct lp_http_client *c)
{
    int64_t now = lp__monotonic_ns(), next = IDLE_POLL_MS;

    if (c->queued.head != NULL && c->n_active < c->max_concurrent)
        return 0; /* start_queued stopped at its burst limit */
    if ((c->queued.head != NULL || c->active.head != NULL) &&
        c->next_expiry_check != LP_DEADLINE_NEVER) {
        int64_t ms =
            (c->next_expiry_check - now + LP__NS_PER_MS - 1) / LP__NS_PER_MS;

        if (ms < next)
            next = ms > 0 ? ms : 0;
    }

    for (struct request *r = c->retrying.head; r != NULL; r = r->next) {
        int64_t ms = (r->retry_at - now + LP__NS_PER_MS - 1) / LP__NS_PER_MS;

        if (ms < next)
            next = ms > 0 ? ms : 0;
    }
    return (int)next;
}

static void accept_incoming(struct lp_http_client *c, struct request *in)
{
    while (in != NULL) {
        struct request *following = in->in_next;

        enqueue(c, in);
        in = following;
    }
}

static void handle_cancels(struct lp_http_client *c, struct request *cx)
{
    while (cx != NULL) {
        struct request *following = cx->cancel_next;

        if (cx->phase != PHASE_DONE) {
            detach(c, cx);
            lp_future_set_running_or_notify_cancel(cx->f);
            retire(cx);
        }
        request_unref(cx); /* the cancel notice's reference */
        cx = following;
    }
}

/* Fails everything still held once the client is being destroyed. */
static void fail_all(struct lp_http_client *c)
{
    struct req_list *lists[] = { &c->queued, &c->active, &c->retrying };

    for (size_t i = 0; i < sizeof(lists) / sizeof(*lists); i++) {
        while (lists[i]->head != NULL) {
            struct request *r = lists[i]->head;

            detach(c, r);
            fail(r, LP_ESHUTDOWN, "the HTTP client was destroyed");
        }
    }
}

static void *loop_main(void *arg)
{
    struct lp_http_client *c = arg;
    struct epoll_event ev[EVENTS_PER_WAIT];

    for (;;) {
        struct request *in, *cx;
        bool stop;
        int n;

        lp__mutex_lock(&c->lock);
        in = c->incoming;
        c->incoming = NULL;
        c->incoming_tail = &c->incoming;
        cx = c->cancels;
        c->cancels = NULL;
        stop = c->stopping;
        lp__mutex_unlock(&c->lock);

        accept_incoming(c, in);
        handle_cancels(c, cx);
        if (stop)
            break;
        release_retries(c);
        start_queued(c);
        expire_overdue(c);
        n = epoll_wait(c->epoll_fd, ev, EVENTS_PER_WAIT,
                       lp__http_shards_timeout_ms(c, poll_timeout_ms(c)));
        lp__http_shards_dispatch(c, ev, n > 0 ? n : 0);
        collect_finished(c);
    }
    fail_all(c);
    return NULL;
}

/* ---- cancel notices ----------------------------------------------------- */

/* Our done callback on every request's future; see the top of the file. */
static void on_future_done(lp_future *f, void *arg)
{
    struct request *r = arg;
    struct lp_http_client *c = r->client;

    if (lp_future_cancelled(f)) {
        lp__mutex_lock(&c->lock);
        if (!c->stopping) {
            r->cancel_next = c->cancels;
            c->cancels = r;
            lp__http_wake(c);
            lp__mutex_unlock(&c->lock);
            return; /* the loop drops this reference */
        }
        lp__mutex_unlock(&c->lock);
    }
    request_unref(r);
}

/* ---- public ------------------------------------------------------------- */

lp_status lp_http_client_create(const lp_http_client_options *opts,
                                lp_http_client **out)
{
    lp_http_client_options none = LP_HTTP_CLIENT_OPTIONS_INIT;
    struct lp_http_client *c;
    lp_status st;

    if (out == NULL)
        return LP_EINVAL;
    *out = NULL;
    if (opts == NULL)
        opts = &none;
    st = lp__http_global_init();
    if (st != LP_OK)
        return st;
    c = lp__calloc(1, sizeof(*c));
    if (c == NULL)
        return LP_ENOMEM;
    atomic_init(&c->refs, 1);
    c->incoming_tail = &c->incoming;
    c->max_concurrent =
        opts->max_concurrent ? opts->max_concurrent : DEFAULT_MAX_CONCURRENT;
    if (c->max_concurrent > MAX_CONCURRENT_LIMIT)
        c->max_concurrent = MAX_CONCURRENT_LIMIT;
    st = lp__http_defaults_init(&c->defaults, opts);
    if (st != LP_OK)
        goto out_free;
    st = lp__mutex_init(&c->lock);
    if (st != LP_OK)
        goto out_defaults;
    st = lp__http_client_init_share(c);
    if (st != LP_OK)
        goto out_lock;
    c->multi_opts.max_per_host = opts->max_per_host;
    c->multi_opts.max_idle = opts->max_idle_connections;
    c->multi_opts.max_streams = opts->max_streams_per_connection;
    st = lp__http_loop_open(c, c->max_concurrent);
    if (st != LP_OK)
        goto out_share;
    st = lp__thread_create(&c->thread, loop_main, c, 0, "lp-http");
    if (st != LP_OK)
        goto out_loop;
    c->fork_generation = lp__fork_generation();
    c->id = atomic_fetch_add(&next_client_id, 1);
    atomic_store(&c->magic, LP__HTTP_CLIENT_MAGIC);
    *out = c;
    return LP_OK;

out_loop:
    lp__http_loop_close(c);
out_share:
    lp__http_client_release_share(c);
out_lock:
    lp__mutex_destroy(&c->lock);
out_defaults:
    lp__http_defaults_release(&c->defaults);
out_free:
    lp__free(c);
    return st;
}

static lp_status new_request(struct lp_http_client *c,
                             const lp_http_request *req, struct request **out)
{
    struct request *r = lp__calloc(1, sizeof(*r));
    lp_status st;

    *out = NULL;
    if (r == NULL)
        return LP_ENOMEM;
    st = lp__http_xfer_init(&r->x, req, &c->defaults, lp__monotonic_ns());
    if (st != LP_OK)
        goto out_free;
    st = lp_future_create(&r->f);
    if (st != LP_OK)
        goto out_xfer;
    st = lp_future_add_done_callback(r->f, on_future_done, r);
    if (st != LP_OK)
        goto out_future;
    r->client = c;
    atomic_init(&r->refs, 2);
    *out = r;
    return LP_OK;

out_future:
    lp_future_release(r->f);
out_xfer:
    lp__http_xfer_release(&r->x);
out_free:
    lp__free(r);
    return st;
}

lp_status lp_http_submit(lp_http_client *c, const lp_http_request *req,
                         lp_future **out)
{
    struct request *r;
    lp_status st;
    bool was_empty;

    if (out != NULL)
        *out = NULL;
    if (!lp__http_client_valid(c) || req == NULL || out == NULL)
        return LP_EINVAL;
    if (lp__http_client_forked(c))
        return LP_ESHUTDOWN;
    st = new_request(c, req, &r);
    if (st != LP_OK)
        return st;
    lp__mutex_lock(&c->lock);
    if (c->stopping) {
        lp__mutex_unlock(&c->lock);
        /* Never done, so our callback never runs: free directly. */
        lp_future_release(r->f);
        lp__http_xfer_release(&r->x);
        lp__free(r);
        return LP_ESHUTDOWN;
    }
    atomic_fetch_add(&c->refs, 1);
    *out = lp_future_retain(r->f);
    was_empty = c->incoming == NULL;
    *c->incoming_tail = r;
    c->incoming_tail = &r->in_next;
    if (was_empty)
        lp__http_wake(c);
    lp__mutex_unlock(&c->lock);
    return LP_OK;
}

lp_status lp_http_submit_get(lp_http_client *c, const char *url,
                             lp_future **out)
{
    lp_http_request req = LP_HTTP_REQUEST_INIT;

    req.url = url;
    return lp_http_submit(c, &req, out);
}

void lp_http_client_destroy(lp_http_client *c)
{
    if (!lp__http_client_valid(c))
        return;
    atomic_store(&c->magic, 0);
    if (lp__http_client_forked(c))
        return; /* the loop thread and its locks stayed in the parent */
    lp__mutex_lock(&c->lock);
    c->stopping = true;
    lp__http_wake(c);
    lp__mutex_unlock(&c->lock);
    lp__thread_join(&c->thread);
    lp__http_loop_close(c);
    client_unref(c);
}

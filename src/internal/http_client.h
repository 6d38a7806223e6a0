/*
 * The event-loop client's state, shared by http.c (the loop) and
 * http_blocking.c (blocking calls and the share handle they use).
 */
#ifndef LP_INTERNAL_HTTP_CLIENT_H
#define LP_INTERNAL_HTTP_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "http_impl.h"
#include "sync.h"

#define LP__HTTP_CLIENT_MAGIC 0x6c706874u /* "lpht" */
/* Transfers per multi handle; see http_shard.c. */
#define LP__HTTP_SHARD_TRANSFERS 256u
/*
 * Receive buffer of a transfer started while LP__HTTP_SMALL_RECV_ABOVE or
 * more are in flight: libcurl allocates CURLOPT_BUFFERSIZE (16 KiB by
 * default) per transfer, and with thousands in flight that is the largest
 * part of their memory. Small responses lose nothing; a large body takes
 * more reads.
 */
#define LP__HTTP_SMALL_RECV_ABOVE  256u
#define LP__HTTP_SMALL_RECV_BUFFER 1024L
/* Finished easy handles kept for reuse (curl_easy_reset). */
#define LP__HTTP_SPARE_EASY 64
/* Threads that may keep a blocking call's connection open at once (each at
 * most one): a 1,000-worker pool must not hold 1,000 descriptors of its
 * 1,024 (Lambda's limit) after its fan-out. */
#define LP__HTTP_KEPT_MAX 64

struct request;
struct epoll_event;

/* One libcurl multi handle and its timer. Loop thread only. */
struct lp__http_shard {
    CURLM *multi;
    struct lp_http_client *client;
    int64_t timer_at; /* libcurl's timer (monotonic ns), or -1: none */
    unsigned n_active;
    unsigned index;
};

/* What every shard's multi handle is configured with. */
struct lp__http_multi_options {
    unsigned max_per_host;
    unsigned max_idle;
    unsigned max_streams;
};

struct req_list {
    struct request *head, *tail;
};

struct lp_http_client {
    _Atomic uint32_t magic;
    atomic_uint refs; /* the owner's, plus one per live request */
    struct lp__http_defaults defaults; /* immutable after create */
    unsigned max_concurrent;
    struct lp__http_multi_options multi_opts; /* immutable after create */
    unsigned fork_generation; /* lp__fork_generation() at create */
    uint64_t id;              /* unique in the process, never 0 */
    int epoll_fd;             /* the loop's sockets, plus wake_fd */
    int wake_fd; /* eventfd: any thread wakes the loop by writing to it */
    lp__thread thread;

    /* For blocking calls: DNS and TLS session caches, one lock each. */
    CURLSH *share;
    lp__mutex share_locks[CURL_LOCK_DATA_LAST];
    bool share_ready;

    lp__mutex lock;
    struct request *incoming;       /* guarded by lock; FIFO */
    struct request **incoming_tail; /* guarded by lock */
    struct request *cancels;        /* guarded by lock */
    bool stopping;                  /* guarded by lock */

    /* Loop thread only. */
    struct req_list queued, active, retrying;
    unsigned n_active;
    int64_t next_expiry_check;        /* when expire_overdue next scans */
    CURL *spare[LP__HTTP_SPARE_EASY]; /* reset easy handles to reuse */
    unsigned n_spare;
    struct lp__http_shard **shards; /* created on demand */
    unsigned n_shards, max_shards, shard_cap;
};

static inline bool lp__http_client_valid(const struct lp_http_client *c)
{
    return c != NULL && atomic_load_explicit(&c->magic, memory_order_relaxed) ==
                            LP__HTTP_CLIENT_MAGIC;
}

/* True in a child forked after `c` was created: no loop thread there. */
static inline bool lp__http_client_forked(const struct lp_http_client *c)
{
    return c->fork_generation != lp__fork_generation();
}

/* Creates c->share with its locks; LP_ENOMEM or LP_EHTTP on failure. */
lp_status lp__http_client_init_share(struct lp_http_client *c);
/* Frees what init_share created; safe on a client where it failed. */
void lp__http_client_release_share(struct lp_http_client *c);

/* The epoll set, the wake eventfd and room for the shards (http_shard.c). */
lp_status lp__http_loop_open(struct lp_http_client *c, unsigned max_transfers);
/* Frees the shards (no transfer may be left on them) and closes the fds. */
void lp__http_loop_close(struct lp_http_client *c);
/* Any thread: makes the loop run an iteration soon. */
void lp__http_wake(struct lp_http_client *c);
/* Puts `easy` on a shard with room. LP_ENOMEM, LP_EHTTP. */
lp_status lp__http_shard_add(struct lp_http_client *c, CURL *easy,
                             struct lp__http_shard **out);
void lp__http_shard_remove(struct lp__http_shard *s, CURL *easy);
/* How long epoll may sleep before some shard's timer is due. */
int lp__http_shards_timeout_ms(struct lp_http_client *c, int cap_ms);
/* Feeds epoll events and due timers to libcurl. */
void lp__http_shards_dispatch(struct lp_http_client *c,
                              const struct epoll_event *ev, int n);
/* The next finished transfer of any shard, or NULL. */
CURLMsg *lp__http_shards_next_done(struct lp_http_client *c,
                                   struct lp__http_shard **from);

#endif

/*
 * The process pool's parent-side state, shared by process_pool.c (the
 * executor: submit, map, shutdown, creation) and process_manager.c (the
 * manager thread that owns the workers). Design: process_pool.c's top
 * comment.
 */
#ifndef LP_INTERNAL_PROCESS_POOL_H
#define LP_INTERNAL_PROCESS_POOL_H

#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "executor_impl.h"
#include "frame.h"
#include "process.h"
#include "sync.h"

#define LP__PP_MSG_MAX 192 /* failure messages built by the pool */

/*
 * Frames of 64 KiB or more are recycled through a small per-pool cache (at
 * most 4 buffers, 8 MiB in all): a fresh 1 MiB buffer costs 256 page
 * faults, which for big payloads is more than the copy itself.
 */
#define LP__PP_CACHE_SLOTS 4
#define LP__PP_CACHE_MIN   (64 * 1024)
#define LP__PP_CACHE_BYTES (8u << 20)

/*
 * One allocation holding every item, futures array and frame of a map call
 * (see lp_process_pool_map_bytes): a million small items make megabytes of
 * frames, which one block takes in a few (huge) page faults rather than one
 * per 4 KiB. Each item holds a reference; the last one freed frees it.
 */
struct pp_block {
    atomic_size_t refs;
    unsigned char *next; /* carving position; the map call alone carves */
    unsigned char *end;
};

/*
 * One TASKS frame and the futures of its entries. Kept within 120 bytes (a
 * 128-byte malloc chunk): one is allocated per submit, written by the
 * submitting thread and then by the manager, and at 128 bytes (a 144-byte
 * chunk, so neighbours share cache lines) pipelined round trips took ~1 us
 * more (4.4 -> 5.3 us, means of 8 interleaved runs).
 */
struct pp_item {
    struct pp_item *next;   /* queue or a worker's in-flight list */
    struct pp_block *block; /* holds item, futs and frame; NULL: each its own */
    uint64_t id;
    uint32_t n;           /* entries (chunk_count caps them) */
    uint32_t pending;     /* entries sent and not answered */
    lp_future **futs;     /* n references; NULL once answered or skipped */
    lp_future *one;       /* futs = &one when n == 1 */
    unsigned char *frame; /* owned until the item is freed */
    size_t frame_len;
    size_t frame_cap; /* allocated size, for the frame cache */
    /* Its futures are RUNNING: it was sent to a worker that died before
     * starting it, and waits in the queue to be sent again. */
    bool started;
    uint64_t fn;     /* the task function, as in the frame */
    int64_t sent_ns; /* manager: when it was given to a worker */
    int64_t est_ns;  /* manager: expected run time then; -1: unknown */
    size_t runs;     /* manager: entries it runs (pending when sent) */
    struct process_pool *pool;
};
_Static_assert(sizeof(struct pp_item) <= 120, "pp_item outgrew its chunk");

enum pp_slot_state { SLOT_EMPTY, SLOT_STARTING, SLOT_READY, SLOT_DYING };

struct pp_worker {
    enum pp_slot_state state;
    int fd;
    pid_t pid; /* 0 until SPAWNED for a pre-connected slot */
    bool eof, exited;
    bool heard; /* it said HELLO: running and reading tasks */
    bool eager; /* may be sent one task before HELLO (see sendable()) */
    lp_status stream_error; /* LP_EPROTO, LP_ETOOBIG, LP_ENOMEM, or LP_OK */
    int status;
    unsigned sent; /* TASKS frames sent to this process */
    unsigned inflight;
    int64_t ahead_ns;            /* expected run time of the items in flight */
    unsigned unknown;            /* items in flight with no expected run time */
    int64_t last_done_ns;        /* when its last item was answered */
    struct pp_item *head, *tail; /* in flight, in send order */
    struct pp_item *out;         /* first item not fully written */
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
    struct pp_item *qhead, *qtail; /* mu */
    size_t queued;                 /* mu */
    uint64_t next_id;              /* mu */
    bool shutdown, broken;         /* mu */
    bool cancel_queued;            /* mu: shutdown cancelled queued tasks */
    bool finished;                 /* mu: every child reaped */
    bool wake_pending;             /* mu */
    int terminate_sig; /* mu: lp_process_pool_terminate's signal, or 0 */
    unsigned char *cache[LP__PP_CACHE_SLOTS]; /* mu: spare frame buffers */
    size_t cache_cap[LP__PP_CACHE_SLOTS];     /* mu */
    size_t cache_bytes;                       /* mu */
    int wake_r, wake_w;
    int ctl; /* manager only after creation */
    pid_t server;
    lp__thread manager;
    struct pp_worker *w; /* manager only */
    struct pollfd *pfds; /* manager only */
    bool quitting;       /* manager only */
    bool terminating;    /* manager only: workers are being signalled */
    atomic_size_t alive, idle;
    atomic_uint_least64_t completed;
};

/* A frame buffer of at least `len` bytes (its size in *cap), or NULL. */
unsigned char *lp__pp_frame_get(struct process_pool *p, size_t len,
                                size_t *cap);
/* Returns a frame buffer to the cache or frees it. NULL is a no-op. Never
 * called with `mu` held. */
void lp__pp_frame_put(struct process_pool *p, unsigned char *frame, size_t cap);

/* Releases the item's futures and frees it. */
void lp__pp_item_free(struct pp_item *it);

/*
 * Settles the futures of queued items that will never run, then frees the
 * items: cancelled (and notified) with `cancel`, else failed LP_EBROKEN
 * with `code` and `msg`, unless the caller cancelled them first.
 */
void lp__pp_abandon_list(struct pp_item *it, bool cancel, int code,
                         const char *msg);

/* Empties the queue, returning its items; caller holds `mu`. With
 * `cancellable`, items already started stay queued. */
struct pp_item *lp__pp_steal_queue_locked(struct process_pool *p,
                                          bool cancellable);

/* The manager thread; returns after every child was reaped. */
void *lp__pp_manager_main(void *arg);

#endif

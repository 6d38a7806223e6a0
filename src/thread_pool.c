/*
 * Thread pool executor: Python's ThreadPoolExecutor, in C.
 *
 * Data flow: submit allocates one block holding the future and its task
 * (the future's "extra" area) and pushes it on `inbox`, a lock-free stack,
 * with one CAS. Workers move the inbox into the FIFO `head..tail` under
 * `lock` (reversing it, so submission order is kept) and pop from there. A
 * submitter therefore never takes the pool lock in steady state; it only
 * does so to start a new worker.
 *
 * Workers (thread_pool_worker.c) start lazily, in a tree, spin for a bounded
 * adaptive time when out of work and then park on `work_event`; a submit
 * wakes one only when nobody spins and no wake-up is already on its way.
 *
 * Lost wake-ups are excluded Dekker-style: a submitter pushes (seq_cst) and
 * then, if the inbox was empty, reads the event's waiters and `spinning`
 * (onto a non-empty inbox, the task rides with the one before it, whose
 * submit did that); a worker announces itself
 * (lp__event_prepare, seq_cst) and then re-reads the inbox before sleeping,
 * and stops spinning before it looks at the inbox. Shutdown and breakage set
 * their flag and then wait for `submitting` to drain, while submit counts
 * itself in before reading the flags, so no task is ever pushed after the pool
 * stopped taking them.
 *
 * Locks: `lock` guards the FIFO, the worker table and the counters marked
 * below; it is never held while a task, a done callback or pthread_create
 * runs. Futures' locks are only taken after it. The shared state is in
 * internal/thread_pool.h.
 */
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "thread_pool.h"

#define MAX_WORKERS_AUTO_CAP 32

static atomic_uint pool_counter;

/* ---- submit ---------------------------------------------------------- */

/*
 * Pushes `f`; true when the inbox was empty. Whoever drains the inbox takes
 * every task in it, so a task pushed onto a non-empty inbox is picked up
 * with the one before it, which its own submit already woke a worker for:
 * only a push onto an empty inbox needs to look at the sleepers.
 */
static bool push_inbox(struct thread_pool *pool, lp_future *f)
{
    lp_future *head = atomic_load_explicit(&pool->inbox, memory_order_relaxed);

    do {
        item_of(f)->next = head;
    } while (!atomic_compare_exchange_weak(&pool->inbox, &head, f));
    return head == NULL;
}

static lp_status new_item(const struct lp__task_spec *spec, lp_future **out)
{
    struct work_item *item;
    lp_future *f;

    if (lp__future_new(sizeof(*item), &f) != LP_OK)
        return LP_ENOMEM;
    item = item_of(f);
    if (spec->kind == LP__TASK_BYTES) {
        item->fn.bytes = spec->bytes_fn;
        item->arg = lp__bytes_new(spec->in, spec->in_len);
        if (item->arg == NULL) {
            lp_future_release(f);
            return LP_ENOMEM;
        }
        item->arg_free = lp__bytes_free;
    } else {
        item->fn.task = spec->fn;
        item->arg = spec->arg;
        item->arg_free = spec->arg_free;
        f->result_free = spec->result_free;
    }
    /* The caller's reference and the pool's. Nobody else sees `f` yet, so
     * a plain store: a locked add would wait for the stores to the fresh
     * (cache-missing) object to drain first. */
    atomic_store_explicit(&f->refs, 2, memory_order_relaxed);
    *out = f;
    return LP_OK;
}

/* Counts a submit in; from then on shutdown waits for it to leave. */
static lp_status enter_submit(struct thread_pool *pool)
{
    lp_status st;

    atomic_fetch_add(&pool->submitting, 1);
    st = lp__tp_stopped_status(pool);
    if (st != LP_OK)
        atomic_fetch_sub(&pool->submitting, 1);
    return st;
}

static void leave_submit(struct thread_pool *pool)
{
    atomic_fetch_sub(&pool->submitting, 1);
}

/* Blocks until the bounded queue has room (or says why it cannot). */
static lp_status wait_for_room(struct thread_pool *pool, size_t cap)
{
    lp_status st = LP_OK;

    if (!pool->opts.block_when_full || lp__tp_current_pool == pool)
        return LP_EFULL;
    lp__mutex_lock(&pool->lock);
    pool->room_waiters++;
    while (pending_tasks(pool) >= cap &&
           (st = lp__tp_stopped_status(pool)) == LP_OK)
        lp__cond_wait(&pool->room_cv, &pool->lock);
    pool->room_waiters--;
    lp__mutex_unlock(&pool->lock);
    return st;
}

/* Counts one more waiting task, within queue_capacity if there is one. */
static lp_status claim_room(struct thread_pool *pool)
{
    size_t cap = pool->opts.queue_capacity, n;
    lp_status st;

    if (cap == 0) {
        atomic_fetch_add(&pool->submitted, 1);
        return LP_OK;
    }
    for (;;) {
        n = atomic_load(&pool->submitted);
        if (n - atomic_load(&pool->taken) < cap) {
            if (atomic_compare_exchange_weak(&pool->submitted, &n, n + 1))
                return LP_OK;
            continue;
        }
        st = wait_for_room(pool, cap);
        if (st != LP_OK)
            return st;
    }
}

/* Reserves a worker for the new task if Python's rule asks for one. */
static size_t spawn_wanted(struct thread_pool *pool)
{
    size_t n = 0;

    /*
     * A worker taking a task counts it taken, then itself busy, both under
     * the lock; only a locked look sees the two agree. Outside it, a taken
     * task's worker may still look idle, and "an idle worker will run the
     * new task" would leave it waiting behind busy workers. So lock-free,
     * rule out only what is certain: every worker exists, or nothing waits.
     */
    if (atomic_load(&pool->nworkers_seen) >= (size_t)pool->opts.max_workers ||
        pending_tasks(pool) == 0)
        return 0;
    /* A thread still starting will start more itself (the spawn tree);
     * the submitter only seeds the tree, so a burst of submits does not
     * pay for thread creation one after another. */
    lp__mutex_lock(&pool->lock);
    if (pool->starting == 0)
        n = lp__tp_reserve_workers(pool, 1);
    lp__mutex_unlock(&pool->lock);
    return n;
}

/*
 * When starting a worker failed and no worker exists at all, nobody would
 * ever run `f`: take it back. True if it was removed.
 */
static bool unqueue_if_orphaned(struct thread_pool *pool, lp_future *f)
{
    lp_future *prev = NULL, *cur;
    bool removed = false;

    lp__mutex_lock(&pool->lock);
    if (pool->nworkers == 0)
        lp__tp_drain_inbox(pool);
    for (cur = pool->head; pool->nworkers == 0 && cur != NULL;
         prev = cur, cur = item_of(cur)->next) {
        if (cur != f)
            continue;
        if (prev != NULL)
            item_of(prev)->next = item_of(f)->next;
        else
            pool->head = item_of(f)->next;
        if (pool->tail == f)
            pool->tail = prev;
        atomic_fetch_add(&pool->taken, 1);
        removed = true;
        break;
    }
    lp__mutex_unlock(&pool->lock);
    return removed;
}

/* Drops a future that was never queued, or was taken back: a pointer
 * task's arg stays the caller's, and both references (caller's and pool's)
 * go. */
static void discard_unrun(lp_future *f)
{
    if (!is_bytes_item(item_of(f)))
        item_of(f)->arg_free = NULL;
    lp__tp_release_item(f);
    lp_future_release(f);
}

static lp_status pool_submit(lp_executor *ex, const struct lp__task_spec *spec,
                             lp_future **out)
{
    struct thread_pool *pool = pool_of(ex);
    lp_future *f;
    lp_status st;

    st = new_item(spec, &f);
    if (st != LP_OK)
        return st;
    st = enter_submit(pool);
    if (st != LP_OK) {
        discard_unrun(f);
        return st;
    }
    st = claim_room(pool);
    if (st == LP_OK) {
        if (push_inbox(pool, f))
            wake_one_if_needed(pool);
        if (spawn_wanted(pool) > 0) {
            st = lp__tp_create_worker(pool);
            if (st != LP_OK && !unqueue_if_orphaned(pool, f))
                st = LP_OK; /* an existing worker will run it */
        }
    }
    leave_submit(pool);
    if (st != LP_OK) {
        discard_unrun(f);
        return st;
    }
    *out = f;
    return LP_OK;
}

/* ---- shutdown, destroy, stats --------------------------------------- */

/*
 * Joins every worker thread once. Threads still being created (workers
 * spawn in a tree) are waited for; a worker only reserves another while
 * tasks wait, so once the pool is closed and drained the set is final.
 */
static void join_workers(struct thread_pool *pool)
{
    size_t starting, nslots;

    lp__mutex_lock(&pool->join_lock);
    for (;;) {
        lp__mutex_lock(&pool->lock);
        starting = pool->starting;
        nslots = pool->nslots;
        lp__mutex_unlock(&pool->lock);
        if (starting > 0) {
            sched_yield();
            continue;
        }
        if (pool->njoined == nslots)
            break;
        for (; pool->njoined < nslots; pool->njoined++) {
            if (!pool->workers[pool->njoined]->failed)
                lp__thread_join(&pool->workers[pool->njoined]->thread);
        }
    }
    lp__mutex_unlock(&pool->join_lock);
}

static lp_status pool_shutdown(lp_executor *ex, bool wait, bool cancel)
{
    struct thread_pool *pool = pool_of(ex);
    lp_future *cancelled = NULL;

    atomic_store(&pool->shutdown, true);
    lp__tp_quiesce_submitters(pool);
    lp__mutex_lock(&pool->lock);
    pool->closed = true;
    if (cancel)
        cancelled = lp__tp_take_all_tasks(pool);
    lp__mutex_unlock(&pool->lock);
    lp__event_notify(&pool->work_event, UINT_MAX);
    lp__tp_dispose_list(cancelled, lp__tp_cancel_item);
    if (wait)
        join_workers(pool);
    return LP_OK;
}

static void pool_free(struct thread_pool *pool, bool forked)
{
    size_t i;

    for (i = 0; i < pool->nslots; i++)
        lp__free(pool->workers[i]);
    lp__free(pool->workers);
    lp__free(pool->prefix);
    if (!forked) {
        lp__cond_destroy(&pool->room_cv);
        lp__mutex_destroy(&pool->join_lock);
        lp__mutex_destroy(&pool->lock);
    }
    lp__free(pool);
}

static void pool_destroy(lp_executor *ex, bool forked)
{
    pool_free(pool_of(ex), forked);
}

static lp_status pool_stats(lp_executor *ex, lp_executor_stats *out)
{
    struct thread_pool *pool = pool_of(ex);
    size_t i;

    memset(out, 0, sizeof(*out));
    lp__mutex_lock(&pool->join_lock);
    lp__mutex_lock(&pool->lock);
    out->workers = pool->nworkers - pool->njoined;
    out->queued = pending_tasks(pool);
    out->max_workers = (size_t)pool->opts.max_workers;
    for (i = 0; i < pool->nslots; i++) {
        struct worker *w = pool->workers[i];

        out->completed += atomic_load(&w->completed);
        if (out->workers > 0 && !w->failed && !atomic_load(&w->busy))
            out->idle++;
    }
    lp__mutex_unlock(&pool->lock);
    lp__mutex_unlock(&pool->join_lock);
    return LP_OK;
}

static bool pool_on_worker(lp_executor *ex)
{
    return lp__tp_current_pool == pool_of(ex);
}

static const struct lp__executor_vtable thread_pool_vtable = {
    "thread pool", pool_submit, pool_shutdown,
    pool_destroy,  pool_stats,  pool_on_worker,
};

lp_status lp_thread_pool_prestart(lp_executor *ex, size_t n)
{
    lp_status st;

    if (ex == NULL || !lp__executor_usable(ex)) {
        /* A pool from before a fork has no threads here: like submit. */
        return ex != NULL && ex->magic == LP__EXECUTOR_MAGIC ? LP_ESHUTDOWN
                                                             : LP_EINVAL;
    }
    if (ex->vt != &thread_pool_vtable)
        return LP_EINVAL;
    st = lp__tp_stopped_status(pool_of(ex));
    if (st != LP_OK || n == 0)
        return st;
    return lp__tp_prestart(pool_of(ex), n);
}

/* ---- create ---------------------------------------------------------- */

static lp_status check_options(const lp_thread_pool_options *o)
{
    if (o->max_workers <= 0 && o->max_workers != LP_WORKERS_AUTO)
        return LP_EINVAL;
    /* Else every worker start would fail, at submit. */
    if (o->stack_size > 0 && o->stack_size < (size_t)PTHREAD_STACK_MIN)
        return LP_EINVAL;
    return LP_OK;
}

static lp_status init_sync(struct thread_pool *pool)
{
    if (lp__mutex_init(&pool->lock) != LP_OK)
        return LP_ENOMEM;
    if (lp__mutex_init(&pool->join_lock) != LP_OK)
        goto out_lock;
    if (lp__cond_init(&pool->room_cv) != LP_OK)
        goto out_join_lock;
    lp__event_init(&pool->work_event);
    return LP_OK;

out_join_lock:
    lp__mutex_destroy(&pool->join_lock);
out_lock:
    lp__mutex_destroy(&pool->lock);
    return LP_ENOMEM;
}

static char *make_prefix(const char *given)
{
    char buf[32];

    if (given != NULL)
        return lp__strdup(given);
    snprintf(buf, sizeof(buf), "lp-pool-%u",
             atomic_fetch_add(&pool_counter, 1));
    return lp__strdup(buf);
}

lp_status lp_thread_pool_create(const lp_thread_pool_options *opts,
                                lp_executor **out)
{
    static const lp_thread_pool_options defaults = LP_THREAD_POOL_OPTIONS_INIT;
    struct thread_pool *pool;
    lp_status st;

    if (out == NULL)
        return LP_EINVAL;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (check_options(opts) != LP_OK)
        return LP_EINVAL;

    pool = lp__calloc(1, sizeof(*pool));
    if (pool == NULL)
        return LP_ENOMEM;
    pool->opts = *opts;
    if (pool->opts.max_workers == LP_WORKERS_AUTO) {
        int n = lp__cpu_count() + 4;

        pool->opts.max_workers =
            n < MAX_WORKERS_AUTO_CAP ? n : MAX_WORKERS_AUTO_CAP;
    }
    st = LP_ENOMEM;
    pool->prefix = make_prefix(opts->thread_name_prefix);
    pool->workers =
        lp__calloc((size_t)pool->opts.max_workers, sizeof(*pool->workers));
    if (pool->prefix == NULL || pool->workers == NULL)
        goto out_free;
    pool->opts.thread_name_prefix = pool->prefix;
    pool->max_spinners = lp__cpu_count() > 1 ? (size_t)lp__cpu_count() - 1 : 1;
    st = init_sync(pool);
    if (st != LP_OK)
        goto out_free;
    lp__executor_init(&pool->base, &thread_pool_vtable);
    *out = &pool->base;
    return LP_OK;

out_free:
    lp__free(pool->workers);
    lp__free(pool->prefix);
    lp__free(pool);
    return st;
}

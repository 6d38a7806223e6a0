/*
 * Thread pool executor: Python's ThreadPoolExecutor, in C.
 *
 * Data flow: submit allocates one block holding the future and the task
 * (future "extra" area), appends it to a FIFO under `lock`, and makes sure
 * somebody will run it: a spinning worker will see it, a parked worker is
 * signalled, and if there are more queued tasks than idle workers (Python's
 * idle-semaphore rule) a new worker is started, up to max_workers.
 *
 * Workers are started lazily and never exit before shutdown. Starting a
 * thread costs tens of microseconds, so a burst of submits must not pay it
 * serially on the submitting thread: the submitter starts at most two at a
 * time, and each new worker starts up to two more while the backlog lasts,
 * so creation spreads over every core (a tree, not a chain).
 *
 * A worker that runs out of work spins for a bounded time before parking on
 * `work_cv`, because waking a parked thread costs 30-100 us and a worker that
 * spins catches the next submit in well under one. The spin budget is per
 * worker and adaptive: it doubles when spinning found work and halves when it
 * did not, so an idle pool quickly stops burning CPU.
 *
 * Locks: `lock` guards the queue, the counters marked below and the worker
 * table. It is never held while a task, a done callback or pthread_create
 * runs. Futures' own locks are taken after it, never before.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "executor_impl.h"
#include "future_impl.h"
#include "sync.h"

#define SPIN_MAX_NS          (50 * LP__NS_PER_USEC)
#define SPIN_MIN_NS          (1 * LP__NS_PER_USEC)
#define MAX_WORKERS_AUTO_CAP 32
#define SPAWN_FANOUT         2

struct work_item {
    struct lp__task_spec spec; /* for bytes tasks, `in` points into in_copy */
    lp_bytes *in_copy;
    lp_future *next; /* queue link, guarded by the pool lock */
};

struct worker {
    struct thread_pool *pool;
    lp__thread thread;
    size_t index;
    int64_t spin_ns; /* owned by the worker thread */
    atomic_uint_fast64_t completed;
    bool failed; /* guarded by pool lock: thread creation failed; reusable */
};

struct thread_pool {
    lp_executor base;
    lp_thread_pool_options opts; /* thread_name_prefix points at `prefix` */
    char *prefix;

    lp__mutex lock;
    lp__cond work_cv; /* workers park here */
    lp__cond room_cv; /* submitters wait here for queue room */

    lp_future *head, *tail;    /* guarded by lock */
    size_t queued;             /* guarded by lock */
    atomic_size_t queued_hint; /* copy of queued for lock-free spinning */
    size_t parked;             /* guarded by lock */
    size_t room_waiters;       /* guarded by lock */
    size_t starting;           /* guarded by lock: threads being created */
    atomic_size_t idle;        /* workers not running a task */
    atomic_size_t spinning;    /* workers spinning for work */

    struct worker **workers; /* guarded by lock; max_workers slots */
    size_t nworkers;         /* guarded by lock: started or starting */
    size_t nslots;           /* guarded by lock: workers[] entries used */

    atomic_bool shutdown;
    bool broken;         /* guarded by lock */
    bool joined;         /* guarded by lock: every thread has been joined */
    lp__mutex join_lock; /* serialises shutdown(wait=true) callers */
};

static _Thread_local struct thread_pool *current_pool;
static atomic_uint pool_counter;

static struct thread_pool *pool_of(lp_executor *ex)
{
    return (struct thread_pool *)ex;
}

static struct work_item *item_of(lp_future *f)
{
    return lp__future_extra(f);
}

/* ---- queue (pool lock held) ------------------------------------------ */

static void queue_push(struct thread_pool *pool, lp_future *f)
{
    item_of(f)->next = NULL;
    if (pool->tail != NULL)
        item_of(pool->tail)->next = f;
    else
        pool->head = f;
    pool->tail = f;
    pool->queued++;
    atomic_store_explicit(&pool->queued_hint, pool->queued,
                          memory_order_release);
}

static lp_future *queue_pop(struct thread_pool *pool)
{
    lp_future *f = pool->head;

    if (f == NULL)
        return NULL;
    pool->head = item_of(f)->next;
    if (pool->head == NULL)
        pool->tail = NULL;
    pool->queued--;
    atomic_store_explicit(&pool->queued_hint, pool->queued,
                          memory_order_relaxed);
    if (pool->room_waiters > 0)
        lp__cond_signal(&pool->room_cv);
    return f;
}

/* ---- finishing items that never run --------------------------------- */

static void release_item(lp_future *f)
{
    struct work_item *item = item_of(f);

    if (item->spec.arg_free != NULL)
        item->spec.arg_free(item->spec.arg);
    lp__bytes_free(item->in_copy);
    item->in_copy = NULL;
    lp_future_release(f); /* the pool's reference */
}

static void fail_broken(lp_future *f)
{
    if (lp_future_set_running_or_notify_cancel(f) == LP_OK)
        lp_future_set_failure(f, LP_EBROKEN, 0, 0,
                              "A thread initializer failed, the thread pool "
                              "is not usable anymore");
    release_item(f);
}

static void cancel_item(lp_future *f)
{
    lp_future_cancel(f);
    lp_future_set_running_or_notify_cancel(f);
    release_item(f);
}

/* Detaches the whole queue (pool lock held); the caller disposes of it. */
static lp_future *queue_take_all(struct thread_pool *pool)
{
    lp_future *list = pool->head;

    pool->head = pool->tail = NULL;
    pool->queued = 0;
    atomic_store(&pool->queued_hint, 0);
    if (pool->room_waiters > 0)
        lp__cond_broadcast(&pool->room_cv);
    return list;
}

static void dispose_list(lp_future *list, void (*dispose)(lp_future *f))
{
    while (list != NULL) {
        lp_future *next = item_of(list)->next;

        dispose(list);
        list = next;
    }
}

/* ---- workers --------------------------------------------------------- */

static void *worker_main(void *arg);

/*
 * Reserves up to `limit` new workers while queued tasks outnumber idle and
 * starting ones (pool lock held); returns how many the caller must create.
 */
static size_t reserve_workers(struct thread_pool *pool, size_t limit)
{
    size_t n = 0;

    while (n < limit && pool->nworkers < (size_t)pool->opts.max_workers &&
           !atomic_load(&pool->shutdown) && !pool->broken &&
           pool->queued > atomic_load(&pool->idle) + pool->starting) {
        pool->nworkers++;
        pool->starting++;
        n++;
    }
    return n;
}

/*
 * A slot in the worker table for a reserved worker (pool lock held): a new
 * one, or one whose thread could not be created. One always exists, since
 * reserved workers never outnumber max_workers.
 */
static struct worker *claim_slot(struct thread_pool *pool)
{
    struct worker *w;
    size_t i;

    if (pool->nslots < (size_t)pool->opts.max_workers) {
        w = lp__calloc(1, sizeof(*w));
        if (w == NULL)
            return NULL;
        w->pool = pool;
        w->index = pool->nslots;
        pool->workers[pool->nslots++] = w;
        return w;
    }
    for (i = 0; i < pool->nslots; i++) {
        if (pool->workers[i]->failed) {
            pool->workers[i]->failed = false;
            return pool->workers[i];
        }
    }
    return NULL;
}

/*
 * Creates one reserved worker. A new thread counts as idle from the moment
 * it exists: it is about to look for work. On failure the reservation is
 * returned and queued work waits for existing workers.
 */
static lp_status create_worker(struct thread_pool *pool)
{
    char name[64];
    struct worker *w;
    lp_status st = LP_ENOMEM;

    lp__mutex_lock(&pool->lock);
    w = claim_slot(pool);
    lp__mutex_unlock(&pool->lock);
    if (w != NULL) {
        w->spin_ns = SPIN_MAX_NS;
        snprintf(name, sizeof(name), "%s_%zu", pool->prefix, w->index);
        st = lp__thread_create(&w->thread, worker_main, w,
                               pool->opts.stack_size, name);
    }
    lp__mutex_lock(&pool->lock);
    pool->starting--;
    if (st == LP_OK) {
        atomic_fetch_add(&pool->idle, 1);
    } else {
        pool->nworkers--;
        if (w != NULL)
            w->failed = true;
    }
    lp__mutex_unlock(&pool->lock);
    return st;
}

static void create_workers(struct thread_pool *pool, size_t n)
{
    while (n-- > 0)
        create_worker(pool);
}

/* Spins up to the worker's budget waiting for queued work or shutdown. */
static bool spin_for_work(struct thread_pool *pool, struct worker *w)
{
    int64_t stop = lp__monotonic_ns() + w->spin_ns;
    bool found = false;
    int i;

    atomic_fetch_add(&pool->spinning, 1);
    while (!found) {
        for (i = 0; i < 128 && !found; i++) {
            found = atomic_load_explicit(&pool->queued_hint,
                                         memory_order_acquire) > 0 ||
                    atomic_load_explicit(&pool->shutdown, memory_order_relaxed);
            lp__cpu_relax();
        }
        if (lp__monotonic_ns() >= stop)
            break;
    }
    atomic_fetch_sub(&pool->spinning, 1);
    w->spin_ns = found ? w->spin_ns * 2 : w->spin_ns / 2;
    if (w->spin_ns > SPIN_MAX_NS)
        w->spin_ns = SPIN_MAX_NS;
    if (w->spin_ns < SPIN_MIN_NS)
        w->spin_ns = SPIN_MIN_NS;
    return found;
}

/*
 * Takes the next task, parking when there is none. The worker is counted
 * idle on entry; a task taken makes it busy. NULL means: exit.
 */
static lp_future *take_task(struct thread_pool *pool, struct worker *w)
{
    lp_future *f;

    spin_for_work(pool, w);
    lp__mutex_lock(&pool->lock);
    while ((f = queue_pop(pool)) == NULL) {
        if (atomic_load(&pool->shutdown) || pool->broken) {
            lp__mutex_unlock(&pool->lock);
            return NULL;
        }
        pool->parked++;
        lp__cond_wait(&pool->work_cv, &pool->lock);
        pool->parked--;
    }
    atomic_fetch_sub(&pool->idle, 1);
    /* More work than one: pass the wake-up on if nobody spins for it. */
    if (pool->queued > 0 && pool->parked > 0 &&
        atomic_load(&pool->spinning) == 0)
        lp__cond_signal(&pool->work_cv);
    lp__mutex_unlock(&pool->lock);
    return f;
}

static void mark_idle(void *ctx)
{
    atomic_fetch_add(&((struct thread_pool *)ctx)->idle, 1);
}

static void run_item(struct thread_pool *pool, struct worker *w, lp_future *f)
{
    struct work_item *item = item_of(f);

    if (lp_future_set_running_or_notify_cancel(f) == LP_OK) {
        lp__run_spec(&item->spec, f, mark_idle, pool);
        item->spec.arg_free = NULL; /* lp__run_spec freed the argument */
        atomic_fetch_add_explicit(&w->completed, 1, memory_order_relaxed);
    } else {
        mark_idle(pool);
    }
    release_item(f);
}

/* Breaks the pool: everything queued fails with LP_EBROKEN. */
static void break_pool(struct thread_pool *pool)
{
    lp_future *list;

    lp__mutex_lock(&pool->lock);
    pool->broken = true;
    list = queue_take_all(pool);
    lp__cond_broadcast(&pool->work_cv);
    lp__mutex_unlock(&pool->lock);
    dispose_list(list, fail_broken);
}

static void worker_started(struct thread_pool *pool)
{
    size_t more;

    lp__mutex_lock(&pool->lock);
    more = reserve_workers(pool, SPAWN_FANOUT);
    lp__mutex_unlock(&pool->lock);
    create_workers(pool, more);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct thread_pool *pool = w->pool;
    lp_future *f;

    current_pool = pool;
    worker_started(pool);
    if (pool->opts.initializer != NULL &&
        pool->opts.initializer(pool->opts.initializer_arg) != 0) {
        break_pool(pool);
        return NULL;
    }
    while ((f = take_task(pool, w)) != NULL)
        run_item(pool, w, f);
    return NULL;
}

/* ---- submit ---------------------------------------------------------- */

static lp_status new_item(const struct lp__task_spec *spec, lp_future **out)
{
    struct work_item *item;
    lp_future *f;

    if (lp__future_new(sizeof(*item), &f) != LP_OK)
        return LP_ENOMEM;
    item = item_of(f);
    item->spec = *spec;
    if (spec->kind == LP__TASK_BYTES) {
        item->in_copy = lp__bytes_new(spec->in, spec->in_len);
        if (item->in_copy == NULL) {
            lp_future_release(f);
            return LP_ENOMEM;
        }
        item->spec.in = item->in_copy->data;
    }
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    *out = f;
    return LP_OK;
}

/* Waits for queue room or reports why there is none (pool lock held). */
static lp_status wait_for_room(struct thread_pool *pool)
{
    size_t cap = pool->opts.queue_capacity;

    while (cap > 0 && pool->queued >= cap) {
        if (!pool->opts.block_when_full || current_pool == pool)
            return LP_EFULL;
        pool->room_waiters++;
        lp__cond_wait(&pool->room_cv, &pool->lock);
        pool->room_waiters--;
        if (atomic_load(&pool->shutdown))
            return LP_ESHUTDOWN;
        if (pool->broken)
            return LP_EBROKEN;
    }
    return LP_OK;
}

static lp_status enqueue(struct thread_pool *pool, lp_future *f, size_t *spawn)
{
    lp_status st = LP_OK;

    lp__mutex_lock(&pool->lock);
    if (atomic_load(&pool->shutdown))
        st = LP_ESHUTDOWN;
    else if (pool->broken)
        st = LP_EBROKEN;
    else
        st = wait_for_room(pool);
    if (st == LP_OK) {
        queue_push(pool, f);
        if (pool->parked > 0 && atomic_load(&pool->spinning) == 0)
            lp__cond_signal(&pool->work_cv);
        *spawn = pool->starting < SPAWN_FANOUT ? reserve_workers(pool, 1) : 0;
    }
    lp__mutex_unlock(&pool->lock);
    return st;
}

/*
 * When starting a worker failed and no worker exists at all, nobody would
 * ever run `f`: take it back out of the queue. True if it was removed.
 */
static bool unqueue_if_orphaned(struct thread_pool *pool, lp_future *f)
{
    lp_future *prev = NULL, *cur;
    bool removed = false;

    lp__mutex_lock(&pool->lock);
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
        pool->queued--;
        atomic_store(&pool->queued_hint, pool->queued);
        removed = true;
        break;
    }
    lp__mutex_unlock(&pool->lock);
    return removed;
}

/* Drops a future that was never queued, or was taken back: arg stays the
 * caller's, and both references (caller's and pool's) go. */
static void discard_unrun(lp_future *f)
{
    item_of(f)->spec.arg_free = NULL;
    lp__bytes_free(item_of(f)->in_copy);
    item_of(f)->in_copy = NULL;
    lp_future_release(f);
    lp_future_release(f);
}

static lp_status pool_submit(lp_executor *ex, const struct lp__task_spec *spec,
                             lp_future **out)
{
    struct thread_pool *pool = pool_of(ex);
    size_t spawn = 0;
    lp_future *f;
    lp_status st;

    st = new_item(spec, &f);
    if (st != LP_OK)
        return st;
    st = enqueue(pool, f, &spawn);
    if (st == LP_OK && spawn > 0) {
        st = create_worker(pool);
        if (st != LP_OK && !unqueue_if_orphaned(pool, f))
            st = LP_OK; /* an existing worker will run it */
    }
    if (st != LP_OK) {
        discard_unrun(f);
        return st;
    }
    *out = f;
    return LP_OK;
}

/* ---- shutdown, destroy, stats --------------------------------------- */

/*
 * Joins every worker thread once. Threads still being created (by other
 * workers, which spawn in a tree) are waited for first; shutdown has already
 * stopped new reservations.
 */
static void join_workers(struct thread_pool *pool)
{
    size_t i, starting;

    lp__mutex_lock(&pool->join_lock);
    do {
        lp__mutex_lock(&pool->lock);
        starting = pool->starting;
        lp__mutex_unlock(&pool->lock);
        if (starting > 0)
            sched_yield();
    } while (starting > 0);
    if (!pool->joined) {
        for (i = 0; i < pool->nslots; i++) {
            if (!pool->workers[i]->failed)
                lp__thread_join(&pool->workers[i]->thread);
        }
        lp__mutex_lock(&pool->lock);
        pool->joined = true;
        lp__mutex_unlock(&pool->lock);
    }
    lp__mutex_unlock(&pool->join_lock);
}

static lp_status pool_shutdown(lp_executor *ex, bool wait, bool cancel)
{
    struct thread_pool *pool = pool_of(ex);
    lp_future *cancelled = NULL;

    lp__mutex_lock(&pool->lock);
    atomic_store(&pool->shutdown, true);
    if (cancel)
        cancelled = queue_take_all(pool);
    lp__cond_broadcast(&pool->work_cv);
    lp__cond_broadcast(&pool->room_cv);
    lp__mutex_unlock(&pool->lock);
    dispose_list(cancelled, cancel_item);
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
        lp__cond_destroy(&pool->work_cv);
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
    lp__mutex_lock(&pool->lock);
    out->workers = pool->joined ? 0 : pool->nworkers;
    out->idle = pool->joined ? 0 : atomic_load(&pool->idle);
    out->queued = pool->queued;
    out->max_workers = (size_t)pool->opts.max_workers;
    for (i = 0; i < pool->nslots; i++)
        out->completed += atomic_load(&pool->workers[i]->completed);
    lp__mutex_unlock(&pool->lock);
    return LP_OK;
}

static bool pool_on_worker(lp_executor *ex)
{
    return current_pool == pool_of(ex);
}

static const struct lp__executor_vtable thread_pool_vtable = {
    "thread pool", pool_submit, pool_shutdown,
    pool_destroy,  pool_stats,  pool_on_worker,
};

/* ---- create ---------------------------------------------------------- */

static lp_status check_options(const lp_thread_pool_options *o)
{
    if (o->max_workers <= 0 && o->max_workers != LP_WORKERS_AUTO)
        return LP_EINVAL;
    return LP_OK;
}

static lp_status init_sync(struct thread_pool *pool)
{
    if (lp__mutex_init(&pool->lock) != LP_OK)
        return LP_ENOMEM;
    if (lp__mutex_init(&pool->join_lock) != LP_OK)
        goto out_lock;
    if (lp__cond_init(&pool->work_cv) != LP_OK)
        goto out_join_lock;
    if (lp__cond_init(&pool->room_cv) != LP_OK)
        goto out_work_cv;
    return LP_OK;

out_work_cv:
    lp__cond_destroy(&pool->work_cv);
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

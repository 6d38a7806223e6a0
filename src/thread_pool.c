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
 * Workers start lazily: when tasks waiting outnumber idle and starting
 * workers (Python's idle-semaphore rule), up to max_workers. Starting a
 * thread costs tens of microseconds, so a burst of submits must not pay it
 * serially: the submitter only starts one when none is starting, and each new
 * worker starts up to SPAWN_FANOUT more while the backlog lasts (a tree).
 *
 * A worker out of work spins for a bounded, adaptive time before parking on
 * `work_event` (an eventcount: waking one costs the waker a futex call and
 * no lock). Waking a parked thread costs 30-100 us, a spinning one catches
 * the next submit in well under one. The budget doubles when spinning found
 * work and halves when it did not, so an idle pool soon burns no CPU. At
 * most CPUs - 1 workers spin, so spinners never crowd out the submitting
 * thread, and only one wake-up is in flight at a time (`waking`): a woken
 * thread takes tens of microseconds to run, and every submit meanwhile
 * would otherwise pay a futex call for the same sleeper.
 *
 * Lost wake-ups are excluded Dekker-style: a submitter pushes (seq_cst) and
 * then reads the event's waiters and `spinning`; a worker announces itself
 * (lp__event_prepare, seq_cst) and then re-reads the inbox before sleeping,
 * and stops spinning before it looks at the inbox. Shutdown and breakage set
 * their flag and then wait for `submitting` to drain, while submit counts
 * itself in before reading the flags, so no task is ever pushed after the pool
 * stopped taking them.
 *
 * Locks: `lock` guards the FIFO, the worker table and the counters marked
 * below; it is never held while a task, a done callback or pthread_create
 * runs. Futures' locks are only taken after it.
 */
#include <limits.h>
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

/* What to run, kept small: a million of these may wait at once. The result
 * free function lives in the future itself. A bytes task is marked by
 * `arg_free == lp__bytes_free` (its argument is the lp_bytes copy, which that
 * function frees), which no pointer task can have: the function is not
 * exported. */
struct work_item {
    lp_future *next; /* inbox/FIFO link */
    union {
        lp_task_fn task;
        lp_bytes_fn bytes;
    } fn;
    void *arg; /* pointer task: its argument; bytes task: its lp_bytes copy */
    lp_free_fn arg_free;
};

struct worker {
    struct thread_pool *pool;
    lp__thread thread;
    size_t index;
    int64_t spin_ns; /* owned by the worker thread */
    atomic_uint_fast64_t completed;
    atomic_bool busy; /* running a task; written by the worker only */
    bool failed; /* guarded by pool lock: thread creation failed; reusable */
};

struct thread_pool {
    lp_executor base;
    lp_thread_pool_options opts; /* thread_name_prefix points at `prefix` */
    char *prefix;

    _Alignas(64) lp__mutex lock;
    atomic_size_t taken;  /* changed under lock: tasks ever taken or dropped */
    lp__event work_event; /* workers park here */
    lp__cond room_cv;     /* submitters wait here for queue room */

    /*
     * Lock-free fields, grouped by who writes them so that a submitter and
     * the workers do not keep stealing each other's cache lines: the
     * submitter writes the first group, workers the second, and the third
     * changes rarely (read on every submit, it stays cached).
     */
    _Alignas(64) _Atomic(lp_future *) inbox; /* newest first */
    atomic_size_t submitted;  /* tasks ever counted in by submit */
    atomic_size_t submitting; /* submits between enter and leave */

    /*
     * Workers not running a task. Only spawn decisions read it, and those
     * stop once every worker exists, so from then on (`saturated`) workers
     * stop paying for this shared counter.
     */
    _Alignas(64) atomic_size_t idle;
    atomic_size_t spinning; /* workers spinning for work */
    atomic_bool saturated;  /* nworkers reached max_workers */
    atomic_bool waking;     /* a wake is on its way to a parked worker */

    _Alignas(64) atomic_bool shutdown; /* no new submits */
    atomic_bool broken;                /* initializer failed */
    atomic_size_t nworkers_seen;       /* nworkers, for lock-free checks */
    size_t max_spinners;               /* CPUs - 1, at least 1 */

    _Alignas(64) lp_future *head, *tail; /* guarded by lock: FIFO */
    bool closed;             /* guarded by lock: no submit in flight and
                                none to come; idle workers may exit */
    size_t room_waiters;     /* guarded by lock */
    size_t starting;         /* guarded by lock: threads being created */
    struct worker **workers; /* guarded by lock; max_workers slots */
    size_t nworkers;         /* guarded by lock: started or starting */
    size_t nslots;           /* guarded by lock: workers[] entries used */
    size_t njoined;          /* guarded by join_lock */
    lp__mutex join_lock;     /* serialises shutdown(wait=true) callers */
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

static bool is_bytes_item(const struct work_item *item)
{
    return item->arg_free == lp__bytes_free;
}

/* ---- inbox and FIFO -------------------------------------------------- */

/* Tasks submitted and not yet taken by a worker (or dropped). */
static size_t pending_tasks(struct thread_pool *pool)
{
    size_t taken = atomic_load(&pool->taken);

    return atomic_load(&pool->submitted) - taken;
}

static void push_inbox(struct thread_pool *pool, lp_future *f)
{
    lp_future *head = atomic_load_explicit(&pool->inbox, memory_order_relaxed);

    do {
        item_of(f)->next = head;
    } while (!atomic_compare_exchange_weak(&pool->inbox, &head, f));
}

/* Moves the inbox to the FIFO's tail, oldest first (pool lock held). */
static void drain_inbox(struct thread_pool *pool)
{
    lp_future *list = atomic_exchange(&pool->inbox, NULL), *reversed = NULL;
    lp_future *first = list;

    if (list == NULL)
        return;
    while (list != NULL) {
        lp_future *next = item_of(list)->next;

        item_of(list)->next = reversed;
        reversed = list;
        list = next;
    }
    if (pool->tail != NULL)
        item_of(pool->tail)->next = reversed;
    else
        pool->head = reversed;
    pool->tail = first;
}

/* Takes the oldest task, if any (pool lock held). */
static lp_future *pop_task(struct thread_pool *pool)
{
    lp_future *f;

    if (pool->head == NULL)
        drain_inbox(pool);
    f = pool->head;
    if (f == NULL)
        return NULL;
    pool->head = item_of(f)->next;
    if (pool->head == NULL)
        pool->tail = NULL;
    atomic_fetch_add(&pool->taken, 1);
    if (pool->room_waiters > 0)
        lp__cond_signal(&pool->room_cv);
    return f;
}

/* Detaches every waiting task (pool lock held); the caller disposes. */
static lp_future *take_all_tasks(struct thread_pool *pool)
{
    lp_future *list, *f;
    size_t n = 0;

    drain_inbox(pool);
    list = pool->head;
    pool->head = pool->tail = NULL;
    for (f = list; f != NULL; f = item_of(f)->next)
        n++;
    atomic_fetch_add(&pool->taken, n);
    if (pool->room_waiters > 0)
        lp__cond_broadcast(&pool->room_cv);
    return list;
}

/* ---- finishing items that never run --------------------------------- */

/* Frees the task's input and drops the pool's reference. */
static void release_item(lp_future *f)
{
    struct work_item *item = item_of(f);

    if (item->arg_free != NULL)
        item->arg_free(item->arg);
    item->arg = NULL;
    lp_future_release(f);
}

static void fail_broken(lp_future *f)
{
    if (lp_future_set_running_or_notify_cancel(f) == LP_OK)
        lp_future_set_failure(f, LP_EBROKEN, 0, 0,
                              "A thread initializer failed, the thread pool "
                              "is not usable anymore");
    release_item(f);
}

/* Python only cancels; we also notify, so lp_wait never waits on a task
 * that left the queue for good. */
static void cancel_item(lp_future *f)
{
    lp_future_cancel(f);
    lp_future_set_running_or_notify_cancel(f);
    release_item(f);
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
 * Reserves up to `limit` new workers while waiting tasks outnumber idle and
 * starting ones (pool lock held); returns how many the caller must create.
 */
static size_t reserve_workers(struct thread_pool *pool, size_t limit)
{
    size_t n = 0;

    while (n < limit && pool->nworkers < (size_t)pool->opts.max_workers &&
           !atomic_load(&pool->broken) &&
           pending_tasks(pool) > atomic_load(&pool->idle) + pool->starting) {
        pool->nworkers++;
        pool->starting++;
        n++;
    }
    atomic_store(&pool->nworkers_seen, pool->nworkers);
    if (pool->nworkers == (size_t)pool->opts.max_workers)
        atomic_store(&pool->saturated, true);
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
 * returned and waiting work stays with the existing workers.
 *
 * The new thread may run (reserve its own successors in worker_started,
 * take a task, even submit more) while still counted as starting here, and
 * submits seeing a starting thread leave spawning to it. So once it no
 * longer counts as starting, look again: *more gets the workers the caller
 * must now create (create_workers), else tasks could wait forever behind
 * busy workers with max_workers not reached.
 */
static lp_status start_worker(struct thread_pool *pool, size_t *more)
{
    char name[64];
    struct worker *w;
    lp_status st = LP_ENOMEM;

    *more = 0;
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
        *more = reserve_workers(pool, 1);
    } else {
        pool->nworkers--;
        atomic_store(&pool->nworkers_seen, pool->nworkers);
        atomic_store(&pool->saturated, false);
        if (w != NULL)
            w->failed = true;
    }
    lp__mutex_unlock(&pool->lock);
    return st;
}

/* Creates `n` reserved workers and the ones their creation calls for. */
static void create_workers(struct thread_pool *pool, size_t n)
{
    size_t more;

    while (n > 0) {
        n--;
        start_worker(pool, &more);
        n += more;
    }
}

static lp_status create_worker(struct thread_pool *pool)
{
    size_t more;
    lp_status st = start_worker(pool, &more);

    create_workers(pool, more);
    return st;
}

static bool work_or_exit_visible(struct thread_pool *pool)
{
    return atomic_load_explicit(&pool->inbox, memory_order_relaxed) != NULL ||
           pending_tasks(pool) > 0 ||
           atomic_load_explicit(&pool->shutdown, memory_order_relaxed) ||
           atomic_load_explicit(&pool->broken, memory_order_relaxed);
}

/*
 * Admits the caller as a spinner unless enough already spin: spinners beyond
 * the CPUs left over by the submitting thread would only steal its time.
 */
static bool start_spinning(struct thread_pool *pool)
{
    size_t n = atomic_load(&pool->spinning);

    while (n < pool->max_spinners) {
        if (atomic_compare_exchange_weak(&pool->spinning, &n, n + 1))
            return true;
    }
    return false;
}

/* Spins up to the worker's budget waiting for work or shutdown. */
static void spin_for_work(struct thread_pool *pool, struct worker *w)
{
    int64_t stop;
    bool found = false;
    int i;

    if (work_or_exit_visible(pool) || !start_spinning(pool))
        return;
    stop = lp__monotonic_ns() + w->spin_ns;
    while (!found) {
        /* Poll sparsely: each look pulls the submitter's cache line. */
        for (i = 0; i < 16 && !found; i++) {
            found = work_or_exit_visible(pool);
            for (int k = 0; k < 8; k++)
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
}

/*
 * Wakes one parked worker if nobody spins to see new work and no wake is
 * already on its way. A woken thread takes 30-100 us to run; without
 * `waking`, every submit in that window would pay another futex call for
 * the same sleeper. Any worker that returns from parking, or is about to
 * park, clears the flag (absorbs the wake): it looks at the queue next.
 */
static void wake_one_if_needed(struct thread_pool *pool)
{
    bool idle = false;

    if (lp__event_has_waiters(&pool->work_event) &&
        atomic_load(&pool->spinning) == 0 &&
        !atomic_load_explicit(&pool->waking, memory_order_relaxed) &&
        atomic_compare_exchange_strong(&pool->waking, &idle, true))
        lp__event_notify(&pool->work_event, 1);
}

/* Called by a worker that will look at the queue next (see above). */
static void absorb_wake(struct thread_pool *pool)
{
    if (atomic_load_explicit(&pool->waking, memory_order_relaxed))
        atomic_store(&pool->waking, false);
}

static void set_busy(struct thread_pool *pool, struct worker *w, bool busy)
{
    atomic_store_explicit(&w->busy, busy, memory_order_relaxed);
    if (!atomic_load_explicit(&pool->saturated, memory_order_relaxed)) {
        if (busy)
            atomic_fetch_sub(&pool->idle, 1);
        else
            atomic_fetch_add(&pool->idle, 1);
    }
}

static void mark_idle(void *ctx)
{
    struct worker *w = ctx;

    set_busy(w->pool, w, false);
}

/*
 * Takes the next task, parking when there is none. The worker is counted
 * idle on entry; taking a task makes it busy. NULL means: exit.
 */
static lp_future *take_task(struct thread_pool *pool, struct worker *w)
{
    unsigned token;
    lp_future *f;
    bool more;

    spin_for_work(pool, w);
    lp__mutex_lock(&pool->lock);
    while ((f = pop_task(pool)) == NULL) {
        if (pool->closed || atomic_load(&pool->broken)) {
            lp__mutex_unlock(&pool->lock);
            return NULL;
        }
        /* Absorbing after prepare: a submit that misses the inbox check
         * below sees this worker waiting and the flag clear. */
        token = lp__event_prepare(&pool->work_event);
        absorb_wake(pool);
        if (atomic_load(&pool->inbox) != NULL) {
            lp__event_cancel(&pool->work_event);
            continue;
        }
        lp__mutex_unlock(&pool->lock);
        lp__event_wait(&pool->work_event, token);
        absorb_wake(pool);
        lp__mutex_lock(&pool->lock);
    }
    set_busy(pool, w, true);
    more = pool->head != NULL || atomic_load(&pool->inbox) != NULL;
    lp__mutex_unlock(&pool->lock);
    if (more)
        wake_one_if_needed(pool); /* more work than one: pass it on */
    return f;
}

/* Runs a taken task (or skips a cancelled one) on worker `w`. */
static void run_item(struct worker *w, lp_future *f)
{
    struct work_item *item = item_of(f);
    struct lp__task_spec spec = { .result_free = f->result_free };

    if (lp_future_set_running_or_notify_cancel(f) == LP_OK) {
        if (is_bytes_item(item)) {
            lp_bytes *in = item->arg;

            spec.kind = LP__TASK_BYTES;
            spec.bytes_fn = item->fn.bytes;
            spec.in = in->data;
            spec.in_len = in->len;
        } else {
            spec.kind = LP__TASK_POINTER;
            spec.fn = item->fn.task;
            spec.arg = item->arg;
            spec.arg_free = item->arg_free;
            item->arg_free = NULL; /* lp__run_spec frees the argument */
        }
        lp__run_spec(&spec, f, mark_idle, w);
        atomic_fetch_add_explicit(&w->completed, 1, memory_order_relaxed);
    } else {
        mark_idle(w);
    }
    release_item(f);
}

/* Waits until no submit is between enter_submit and leave_submit. */
static void quiesce_submitters(struct thread_pool *pool)
{
    lp__mutex_lock(&pool->lock);
    lp__cond_broadcast(&pool->room_cv);
    lp__mutex_unlock(&pool->lock);
    while (atomic_load(&pool->submitting) > 0)
        sched_yield();
}

/* Breaks the pool: everything waiting fails with LP_EBROKEN. */
static void break_pool(struct thread_pool *pool)
{
    lp_future *list;

    atomic_store(&pool->broken, true);
    quiesce_submitters(pool);
    lp__mutex_lock(&pool->lock);
    list = take_all_tasks(pool);
    lp__mutex_unlock(&pool->lock);
    lp__event_notify(&pool->work_event, UINT_MAX);
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
    char name[64];

    /* The thread names itself before its first task: naming it from the
     * creating thread races with a task that reads the name. */
    snprintf(name, sizeof(name), "%s_%zu", pool->prefix, w->index);
    lp__thread_set_name(name);
    current_pool = pool;
    worker_started(pool);
    if (pool->opts.initializer != NULL &&
        pool->opts.initializer(pool->opts.initializer_arg) != 0) {
        break_pool(pool);
        return NULL;
    }
    while ((f = take_task(pool, w)) != NULL)
        run_item(w, f);
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

static lp_status stopped_status(struct thread_pool *pool)
{
    if (atomic_load(&pool->shutdown))
        return LP_ESHUTDOWN;
    if (atomic_load(&pool->broken))
        return LP_EBROKEN;
    return LP_OK;
}

/* Counts a submit in; from then on shutdown waits for it to leave. */
static lp_status enter_submit(struct thread_pool *pool)
{
    lp_status st;

    atomic_fetch_add(&pool->submitting, 1);
    st = stopped_status(pool);
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

    if (!pool->opts.block_when_full || current_pool == pool)
        return LP_EFULL;
    lp__mutex_lock(&pool->lock);
    pool->room_waiters++;
    while (pending_tasks(pool) >= cap && (st = stopped_status(pool)) == LP_OK)
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
        n = reserve_workers(pool, 1);
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
        drain_inbox(pool);
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
    release_item(f);
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
        push_inbox(pool, f);
        wake_one_if_needed(pool);
        if (spawn_wanted(pool) > 0) {
            st = create_worker(pool);
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
    quiesce_submitters(pool);
    lp__mutex_lock(&pool->lock);
    pool->closed = true;
    if (cancel)
        cancelled = take_all_tasks(pool);
    lp__mutex_unlock(&pool->lock);
    lp__event_notify(&pool->work_event, UINT_MAX);
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

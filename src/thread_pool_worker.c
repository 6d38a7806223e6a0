/*
 * Thread pool workers: how they start, look for work, park and run tasks.
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
 * thread, and only one wake-up is in flight at a time (`waking`, see
 * wake_one_if_needed in thread_pool.h).
 *
 * A worker that takes a task and leaves more waiting wakes the next one, a
 * chain: right for bursts of short tasks, which the awake workers drain
 * themselves. When tasks have been left waiting for BACKLOG_TREE_NS, the
 * awake workers evidently cannot keep up (their tasks block, as I/O does),
 * and a chain of wake-ups, each 10-30 us on a VM, would start the 1,000th
 * task of a fan-out 15 ms late: each take then wakes two, a tree, until
 * the queue empties.
 *
 * Workers move the submitters' inbox into the FIFO under the pool lock and
 * pop from there; a worker announces itself on the event (seq_cst) and then
 * re-reads the inbox before sleeping, and stops spinning before it looks at
 * the inbox (the worker's half of thread_pool.c's Dekker argument).
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>

#include "alloc.h"
#include "clock.h"
#include "thread_pool.h"

#define SPIN_MAX_NS  (50 * LP__NS_PER_USEC)
#define SPIN_MIN_NS  (1 * LP__NS_PER_USEC)
#define SPAWN_FANOUT 2
/* Backlog age after which takes wake in a tree (see above); far above how
 * long the awake workers take to drain a burst of short tasks. The clock is
 * read on one take in BACKLOG_CLOCK_EVERY. */
#define BACKLOG_TREE_NS     (1000 * LP__NS_PER_USEC)
#define BACKLOG_CLOCK_EVERY 16
#define BACKLOG_TREE_WAKES  2

_Thread_local struct thread_pool *lp__tp_current_pool;

/* ---- inbox and FIFO -------------------------------------------------- */

/* Moves the inbox to the FIFO's tail, oldest first (pool lock held). */
void lp__tp_drain_inbox(struct thread_pool *pool)
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
        lp__tp_drain_inbox(pool);
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
lp_future *lp__tp_take_all_tasks(struct thread_pool *pool)
{
    lp_future *list, *f;
    size_t n = 0;

    lp__tp_drain_inbox(pool);
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
void lp__tp_release_item(lp_future *f)
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
    lp__tp_release_item(f);
}

/* Python only cancels; we also notify, so lp_wait never waits on a task
 * that left the queue for good. */
void lp__tp_cancel_item(lp_future *f)
{
    lp_future_cancel(f);
    lp_future_set_running_or_notify_cancel(f);
    lp__tp_release_item(f);
}

void lp__tp_dispose_list(lp_future *list, void (*dispose)(lp_future *f))
{
    while (list != NULL) {
        lp_future *next = item_of(list)->next;

        dispose(list);
        list = next;
    }
}

/* ---- starting workers ------------------------------------------------ */

static void *worker_main(void *arg);

/*
 * True when one more worker is called for (pool lock held): tasks waiting
 * outnumber idle and starting workers, or prestart still asks for some. A
 * shut-down pool starts none for prestart, so that once it is closed and
 * drained the set of workers to join is final.
 */
static bool worker_wanted(struct thread_pool *pool)
{
    if (pool->prestart_left > 0 && !atomic_load(&pool->shutdown))
        return true;
    return pending_tasks(pool) > atomic_load(&pool->idle) + pool->starting;
}

/*
 * Reserves up to `limit` new workers while worker_wanted (pool lock held);
 * returns how many the caller must create.
 */
size_t lp__tp_reserve_workers(struct thread_pool *pool, size_t limit)
{
    size_t n = 0;

    while (n < limit && pool->nworkers < (size_t)pool->opts.max_workers &&
           !atomic_load(&pool->broken) && worker_wanted(pool)) {
        if (pool->prestart_left > 0)
            pool->prestart_left--;
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
    struct worker *w;
    lp_status st = LP_ENOMEM;

    *more = 0;
    lp__mutex_lock(&pool->lock);
    w = claim_slot(pool);
    lp__mutex_unlock(&pool->lock);
    if (w != NULL) {
        w->spin_ns = SPIN_MAX_NS;
        /* No name here: worker_main sets its own, which costs a prctl where
         * naming another thread opens, writes and closes a /proc file. */
        st = lp__thread_create(&w->thread, worker_main, w,
                               pool->opts.stack_size, NULL);
    }
    lp__mutex_lock(&pool->lock);
    pool->starting--;
    if (st == LP_OK) {
        atomic_fetch_add(&pool->idle, 1);
        *more = lp__tp_reserve_workers(pool, 1);
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

lp_status lp__tp_create_worker(struct thread_pool *pool)
{
    size_t more;
    lp_status st = start_worker(pool, &more);

    create_workers(pool, more);
    return st;
}

/* True once prestart's workers were all started or given up (lock held). */
static bool prestart_settled(struct thread_pool *pool)
{
    return pool->starting == 0 &&
           (pool->prestart_left == 0 || atomic_load(&pool->shutdown) ||
            atomic_load(&pool->broken));
}

lp_status lp__tp_prestart(struct thread_pool *pool, size_t n)
{
    size_t max = (size_t)pool->opts.max_workers, more, have;
    bool settled = false;
    lp_status st;

    if (n > max)
        n = max;
    lp__mutex_lock(&pool->lock);
    if (n > pool->nworkers && n - pool->nworkers > pool->prestart_left)
        pool->prestart_left = n - pool->nworkers;
    more = lp__tp_reserve_workers(pool, SPAWN_FANOUT);
    lp__mutex_unlock(&pool->lock);
    create_workers(pool, more);
    /* Each new worker starts up to SPAWN_FANOUT more (worker_started);
     * thread creation takes tens of microseconds, so polling is cheap. */
    while (!settled) {
        lp__mutex_lock(&pool->lock);
        settled = prestart_settled(pool);
        have = pool->nworkers;
        lp__mutex_unlock(&pool->lock);
        if (!settled)
            sched_yield();
    }
    st = lp__tp_stopped_status(pool);
    if (st != LP_OK)
        return st;
    if (have < n) {
        errno = EAGAIN;
        return LP_ESYS;
    }
    return LP_OK;
}

/* ---- looking for work ------------------------------------------------ */

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

/* Whether the backlog has lasted BACKLOG_TREE_NS (pool lock held). */
static bool backlog_is_old(struct thread_pool *pool)
{
    size_t taken = atomic_load_explicit(&pool->taken, memory_order_relaxed);

    return taken % BACKLOG_CLOCK_EVERY == 0 &&
           lp__monotonic_ns() - pool->backlog_since >= BACKLOG_TREE_NS;
}

/*
 * How many workers a take that leaves `more` tasks waiting should wake
 * (pool lock held): none when the queue emptied, one while the backlog is
 * young, BACKLOG_TREE_WAKES once it is old (see the opening comment).
 */
static unsigned wakes_after_take(struct thread_pool *pool, bool more)
{
    if (!more) {
        pool->backlog_since = 0;
        pool->backlog_tree = false;
        return 0;
    }
    if (pool->backlog_tree)
        return BACKLOG_TREE_WAKES;
    if (pool->backlog_since == 0) {
        pool->backlog_since = lp__monotonic_ns();
    } else if (backlog_is_old(pool)) {
        pool->backlog_tree = true;
        return BACKLOG_TREE_WAKES;
    }
    return 1;
}

/*
 * Wakes n parked workers, whatever wake is already on its way, while at
 * least n are parked; with fewer, as a chain would (wake_one_if_needed), so
 * that a small pool does not pay a futex call per take for a worker whose
 * wake-up is already on its way.
 */
static void wake_several(struct thread_pool *pool, unsigned n)
{
    if (lp__event_waiters(&pool->work_event) < n) {
        wake_one_if_needed(pool);
        return;
    }
    atomic_store(&pool->waking, true);
    lp__event_notify(&pool->work_event, n);
}

/*
 * Takes the next task, parking when there is none. The worker is counted
 * idle on entry; taking a task makes it busy. NULL means: exit.
 */
static lp_future *take_task(struct thread_pool *pool, struct worker *w)
{
    unsigned token, wakes;
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
    wakes = wakes_after_take(pool, more);
    lp__mutex_unlock(&pool->lock);
    if (wakes == 1)
        wake_one_if_needed(pool); /* more work than one: pass it on */
    else if (wakes > 1)
        wake_several(pool, wakes);
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
    lp__tp_release_item(f);
}

/* ---- breaking the pool, a worker's life ----------------------------- */

/* Waits until no submit is between enter_submit and leave_submit. */
void lp__tp_quiesce_submitters(struct thread_pool *pool)
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
    lp__tp_quiesce_submitters(pool);
    lp__mutex_lock(&pool->lock);
    list = lp__tp_take_all_tasks(pool);
    lp__mutex_unlock(&pool->lock);
    lp__event_notify(&pool->work_event, UINT_MAX);
    lp__tp_dispose_list(list, fail_broken);
}

static void worker_started(struct thread_pool *pool)
{
    size_t more;

    lp__mutex_lock(&pool->lock);
    more = lp__tp_reserve_workers(pool, SPAWN_FANOUT);
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
    lp__tp_current_pool = pool;
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

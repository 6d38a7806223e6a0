/*
 * The thread pool's shared state, between the pool (thread_pool.c: submit,
 * shutdown, create) and its workers (thread_pool_worker.c: spawning,
 * spinning, parking, running tasks). The design and the lock rules are in
 * thread_pool.c's opening comment.
 */
#ifndef LP_INTERNAL_THREAD_POOL_H
#define LP_INTERNAL_THREAD_POOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "executor_impl.h"
#include "future_impl.h"
#include "sync.h"

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
    size_t prestart_left;    /* guarded by lock: workers prestart still
                                asks for (lp_thread_pool_prestart) */
    int64_t backlog_since;   /* guarded by lock: when a worker first left
                                tasks waiting after a take; 0 once the
                                queue emptied (see take_task) */
    bool backlog_tree;       /* guarded by lock: that backlog is old, so
                                each take wakes two workers, not one */
    struct worker **workers; /* guarded by lock; max_workers slots */
    size_t nworkers;         /* guarded by lock: started or starting */
    size_t nslots;           /* guarded by lock: workers[] entries used */
    size_t njoined;          /* guarded by join_lock */
    lp__mutex join_lock;     /* serialises shutdown(wait=true) callers */
};

/* The pool whose worker the calling thread is, if any. */
extern _Thread_local struct thread_pool *lp__tp_current_pool;

static inline struct thread_pool *pool_of(lp_executor *ex)
{
    return (struct thread_pool *)ex;
}

/* Why the pool takes no more work, or LP_OK. Broken wins over shut down,
 * as in Python's submit: a pool whose initializer failed keeps saying so. */
static inline lp_status lp__tp_stopped_status(struct thread_pool *pool)
{
    if (atomic_load(&pool->broken))
        return LP_EBROKEN;
    if (atomic_load(&pool->shutdown))
        return LP_ESHUTDOWN;
    return LP_OK;
}

static inline struct work_item *item_of(lp_future *f)
{
    return lp__future_extra(f);
}

static inline bool is_bytes_item(const struct work_item *item)
{
    return item->arg_free == lp__bytes_free;
}

/* Tasks submitted and not yet taken by a worker (or dropped). */
static inline size_t pending_tasks(struct thread_pool *pool)
{
    size_t taken = atomic_load(&pool->taken);

    return atomic_load(&pool->submitted) - taken;
}

/*
 * Wakes one parked worker if nobody spins to see new work and no wake is
 * already on its way. A woken thread takes 30-100 us to run; without
 * `waking`, every submit in that window would pay another futex call for
 * the same sleeper. Any worker that returns from parking, or is about to
 * park, clears the flag (absorbs the wake): it looks at the queue next.
 */
static inline void wake_one_if_needed(struct thread_pool *pool)
{
    bool idle = false;

    if (lp__event_waiters(&pool->work_event) > 0 &&
        atomic_load(&pool->spinning) == 0 &&
        !atomic_load_explicit(&pool->waking, memory_order_relaxed) &&
        atomic_compare_exchange_strong(&pool->waking, &idle, true))
        lp__event_notify(&pool->work_event, 1);
}

/* ---- thread_pool_worker.c -------------------------------------------- */

/* Moves the inbox to the FIFO's tail, oldest first (pool lock held). */
void lp__tp_drain_inbox(struct thread_pool *pool);

/* Detaches every waiting task (pool lock held); the caller disposes. */
lp_future *lp__tp_take_all_tasks(struct thread_pool *pool);

/* Frees the task's input and drops the pool's reference. */
void lp__tp_release_item(lp_future *f);

/* Python only cancels; we also notify, so lp_wait never waits on a task
 * that left the queue for good. */
void lp__tp_cancel_item(lp_future *f);

/* Calls `dispose` on every future of a detached list. */
void lp__tp_dispose_list(lp_future *list, void (*dispose)(lp_future *f));

/*
 * Reserves up to `limit` new workers while waiting tasks outnumber idle and
 * starting ones (pool lock held); returns how many the caller must create.
 */
size_t lp__tp_reserve_workers(struct thread_pool *pool, size_t limit);

/*
 * Starts one worker for a task just queued, and the ones its start calls
 * for; LP_OK, or why the thread could not be created.
 */
lp_status lp__tp_create_worker(struct thread_pool *pool);

/*
 * Starts workers until `n` exist (at most max_workers), in the spawn tree;
 * returns once their threads exist. LP_OK, LP_ESHUTDOWN, LP_EBROKEN, or
 * LP_ESYS (errno EAGAIN) when the system refused some threads.
 */
lp_status lp__tp_prestart(struct thread_pool *pool, size_t n);

/* Waits until no submit is between enter_submit and leave_submit. */
void lp__tp_quiesce_submitters(struct thread_pool *pool);

#endif

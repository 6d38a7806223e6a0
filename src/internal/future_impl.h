/*
 * Future internals shared by future.c, wait.c and the executors.
 *
 * The state is one atomic word. Transitions are CASes, so cancel, start and
 * finish race safely without a lock. Finishing goes through a private
 * COMPLETING state: whoever moves the future there owns the result fields
 * until it publishes FINISHED, which readers see as "not done yet".
 *
 * Anything that must hear about a transition -- a blocked result(), an
 * lp_wait, an as_completed iterator, a done callback -- registers under
 * the future's lock and then sets `has_listeners`. A transition stores the new
 * state and then reads `has_listeners` (both seq_cst), and takes the lock only
 * if it is set. Registration re-reads the state after setting the flag, so one
 * side always sees the other: the common case of nobody waiting costs no lock.
 * Lock order: a future's lock before any waiter's lock.
 *
 * A future's lock is one of a fixed set of striped mutexes picked by its
 * address (lp__future_lock), not a mutex of its own: futures are created at
 * millions per second and mostly never locked, and a pthread mutex would
 * double their size. No code path holds two futures' locks at once.
 */
#ifndef LP_INTERNAL_FUTURE_IMPL_H
#define LP_INTERNAL_FUTURE_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "lambdapool/future.h"
#include "sync.h"

#define LP__FUTURE_MAGIC 0x6c706675u /* "lpfu" */
/* Private state between PENDING/RUNNING and FINISHED. */
#define LP__FUTURE_COMPLETING 5

struct lp__listener;
/* Called under the future's lock after each transition; `state` is new. */
typedef void (*lp__listener_fn)(struct lp__listener *l, lp_future *f,
                                int state);

struct lp__listener {
    lp__listener_fn notify;
    struct lp__listener *prev, *next;
};

struct lp__callback;

struct lp_future {
    _Atomic uint32_t magic;
    atomic_uint refs;
    atomic_int state;
    atomic_bool has_listeners;
    /* Written by the COMPLETING owner, read once FINISHED: */
    bool failed;                    /* `error` is set, not `result` */
    bool error_is_static;           /* `error` is not to be freed */
    struct lp__listener *listeners; /* guarded by the future's lock */
    struct lp__callback *callbacks; /* guarded by the future's lock */
    /* One or the other (`failed` says which): a million futures may be
     * alive at once, so every word counts. */
    union {
        void *result;
        lp_error *error;
    };
    lp_free_fn result_free; /* set at creation or completion */
    /* Executor-private data follows (lp__future_new's `extra`). */
    _Alignas(8) unsigned char extra[];
};

/* The mutex guarding `f`'s listeners and callbacks. */
lp__mutex *lp__future_lock(const lp_future *f);

/* A future with `extra` bytes of executor data (zeroed) after it. */
lp_status lp__future_new(size_t extra, lp_future **out);

static inline void *lp__future_extra(lp_future *f)
{
    return f->extra;
}

static inline bool lp__future_valid(const lp_future *f)
{
    return f != NULL && atomic_load_explicit(&f->magic, memory_order_relaxed) ==
                            LP__FUTURE_MAGIC;
}

/* Done as lp_wait and as_completed count it: FINISHED or notified cancel. */
static inline bool lp__state_waited_done(int state)
{
    return state == LP_FUTURE_FINISHED || state == LP_FUTURE_CANCELLED_NOTIFIED;
}

/*
 * Registers `l` unless the future is already in a state for which
 * `already(state)` is true; returns false (not registered) in that case.
 */
bool lp__future_listen(lp_future *f, struct lp__listener *l,
                       bool (*already)(int state));
void lp__future_unlisten(lp_future *f, struct lp__listener *l);

/* Finishes `f` as failed (status LP_ETASK or LP_EBROKEN); see
 * lp_future_set_failure. */
#include <stdarg.h>
lp_status lp__future_fail_v(lp_future *f, lp_status status, int code,
                            int sys_errno, const char *fmt, va_list ap);

/* True when a finished future failed (its error record is set). */
bool lp__future_failed(const lp_future *f);

#endif

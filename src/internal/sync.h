/*
 * The only place that touches pthreads. Lock and unlock return void and
 * panic on error: an error there is a bug of ours, never the caller's.
 * Condition variables run on CLOCK_MONOTONIC and take absolute deadlines in
 * lp_deadline nanoseconds. Debug builds use error-checking mutexes.
 */
#ifndef LP_INTERNAL_SYNC_H
#define LP_INTERNAL_SYNC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lambdapool/status.h"

typedef struct lp__mutex {
    pthread_mutex_t mu;
} lp__mutex;

typedef struct lp__cond {
    pthread_cond_t cv;
} lp__cond;

typedef struct lp__thread {
    pthread_t id;
} lp__thread;

_Noreturn void lp__panic(const char *what, int err);

lp_status lp__mutex_init(lp__mutex *m);
/* The same mutex from a static initializer: cannot fail, costs a copy. For
 * objects created at high rates (futures). */
void lp__mutex_init_default(lp__mutex *m);
void lp__mutex_destroy(lp__mutex *m);
void lp__mutex_lock(lp__mutex *m);
void lp__mutex_unlock(lp__mutex *m);

lp_status lp__cond_init(lp__cond *cv);
void lp__cond_destroy(lp__cond *cv);
void lp__cond_signal(lp__cond *cv);
void lp__cond_broadcast(lp__cond *cv);
void lp__cond_wait(lp__cond *cv, lp__mutex *m);
/* LP_OK when woken (maybe spuriously), LP_ETIMEDOUT once `deadline` passed.
 * LP_DEADLINE_NEVER waits without limit. */
lp_status lp__cond_wait_until(lp__cond *cv, lp__mutex *m, int64_t deadline);

/*
 * Starts fn(arg) on a new thread with all signals blocked (signals belong to
 * the application's threads), the given stack size (0: default) and name
 * (NULL: none; truncated to 15 bytes). LP_ESYS with errno set on failure.
 */
lp_status lp__thread_create(lp__thread *t, void *(*fn)(void *), void *arg,
                            size_t stack_size, const char *name);
void lp__thread_join(lp__thread *t);
bool lp__thread_is_self(const lp__thread *t);
/* Names the calling thread (truncated to 15 bytes). A thread that names
 * itself before running anything is never seen unnamed. */
void lp__thread_set_name(const char *name);

/* Runs an initializer exactly once per process (pthread_once). */
typedef struct lp__once {
    pthread_once_t once;
} lp__once;

#define LP__ONCE_INIT     \
    {                     \
        PTHREAD_ONCE_INIT \
    }

/* Runs fn() if no call on `o` ran it yet; every caller returns after it. */
void lp__once_run(lp__once *o, void (*fn)(void));

/*
 * An eventcount: lets a thread sleep until "something changed" without a
 * mutex on the notifying side. A waiter calls lp__event_prepare, re-checks
 * its condition, then either lp__event_cancel (condition already true) or
 * lp__event_wait with the token; a notifier changes the condition, then
 * calls lp__event_notify. Since prepare is visible before the waiter's
 * re-check and the change before the notifier's look at the waiters, no
 * wake-up is lost. Waits may end spuriously; callers loop.
 */
typedef struct lp__event {
    _Atomic unsigned seq;
    _Atomic unsigned waiters;
} lp__event;

void lp__event_init(lp__event *e);
unsigned lp__event_prepare(lp__event *e);
void lp__event_cancel(lp__event *e);
void lp__event_wait(lp__event *e, unsigned token);
/* Wakes up to `n` waiters (all: UINT32_MAX). Cheap when nobody waits. */
void lp__event_notify(lp__event *e, unsigned n);
/* How many prepared to wait and have not left yet (a snapshot). */
unsigned lp__event_waiters(lp__event *e);

/* CPUs this process may run on (sched_getaffinity), at least 1. */
int lp__cpu_count(void);

/* Incremented in every child after fork(); lets handles spot that they
 * were created in the parent. */
unsigned lp__fork_generation(void);

/* One CPU hint for busy-wait loops. */
static inline void lp__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif

/*
 * pthread wrappers. Lock, unlock, signal and wait cannot fail unless we
 * misuse them, so they panic instead of returning errors (libuv does the
 * same). Debug builds (LP_DEBUG) use error-checking mutexes so that a double
 * unlock or a lock held across a recursive call shows up at once.
 */
#include "sync.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "lambdapool/future.h"

_Noreturn void lp__panic(const char *what, int err)
{
    fprintf(stderr, "lambdapool: internal error: %s: %s\n", what,
            strerror(err));
    abort();
}

lp_status lp__mutex_init(lp__mutex *m)
{
    pthread_mutexattr_t attr;
    int err;

    if (pthread_mutexattr_init(&attr) != 0)
        return LP_ENOMEM;
#ifdef LP_DEBUG
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
#else
    /* Our critical sections are a few pointer moves: spinning briefly on
     * contention is cheaper than a futex sleep and wake-up. */
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    err = pthread_mutex_init(&m->mu, &attr);
    pthread_mutexattr_destroy(&attr);
    return err == 0 ? LP_OK : LP_ENOMEM;
}

void lp__mutex_init_default(lp__mutex *m)
{
#ifdef LP_DEBUG
    static const pthread_mutex_t initial =
        PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
#else
    static const pthread_mutex_t initial =
        PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
#endif
    m->mu = initial;
}

void lp__mutex_destroy(lp__mutex *m)
{
    int err = pthread_mutex_destroy(&m->mu);

    if (err != 0)
        lp__panic("pthread_mutex_destroy", err);
}

void lp__mutex_lock(lp__mutex *m)
{
    int err = pthread_mutex_lock(&m->mu);

    if (err != 0)
        lp__panic("pthread_mutex_lock", err);
}

void lp__mutex_unlock(lp__mutex *m)
{
    int err = pthread_mutex_unlock(&m->mu);

    if (err != 0)
        lp__panic("pthread_mutex_unlock", err);
}

lp_status lp__cond_init(lp__cond *cv)
{
    pthread_condattr_t attr;
    int err;

    if (pthread_condattr_init(&attr) != 0)
        return LP_ENOMEM;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    err = pthread_cond_init(&cv->cv, &attr);
    pthread_condattr_destroy(&attr);
    return err == 0 ? LP_OK : LP_ENOMEM;
}

void lp__cond_destroy(lp__cond *cv)
{
    int err = pthread_cond_destroy(&cv->cv);

    if (err != 0)
        lp__panic("pthread_cond_destroy", err);
}

void lp__cond_signal(lp__cond *cv)
{
    int err = pthread_cond_signal(&cv->cv);

    if (err != 0)
        lp__panic("pthread_cond_signal", err);
}

void lp__cond_broadcast(lp__cond *cv)
{
    int err = pthread_cond_broadcast(&cv->cv);

    if (err != 0)
        lp__panic("pthread_cond_broadcast", err);
}

void lp__cond_wait(lp__cond *cv, lp__mutex *m)
{
    int err = pthread_cond_wait(&cv->cv, &m->mu);

    if (err != 0)
        lp__panic("pthread_cond_wait", err);
}

lp_status lp__cond_wait_until(lp__cond *cv, lp__mutex *m, int64_t deadline)
{
    struct timespec ts;
    int err;

    if (deadline == LP_DEADLINE_NEVER) {
        lp__cond_wait(cv, m);
        return LP_OK;
    }
    if (deadline < 0)
        deadline = 0;
    ts.tv_sec = deadline / LP__NS_PER_SEC;
    ts.tv_nsec = deadline % LP__NS_PER_SEC;
    err = pthread_cond_timedwait(&cv->cv, &m->mu, &ts);
    if (err == ETIMEDOUT)
        return LP_ETIMEDOUT;
    if (err != 0)
        lp__panic("pthread_cond_timedwait", err);
    return LP_OK;
}

lp_status lp__thread_create(lp__thread *t, void *(*fn)(void *), void *arg,
                            size_t stack_size, const char *name)
{
    pthread_attr_t attr;
    sigset_t all, old;
    int err;

    if (pthread_attr_init(&attr) != 0)
        return LP_ENOMEM;
    if (stack_size > 0 && pthread_attr_setstacksize(&attr, stack_size) != 0) {
        pthread_attr_destroy(&attr);
        errno = EINVAL;
        return LP_EINVAL;
    }
    /* The new thread inherits this mask: signals stay with the app. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&t->id, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        errno = err;
        return LP_ESYS;
    }
    if (name != NULL) {
        char short_name[16];

        snprintf(short_name, sizeof(short_name), "%s", name);
        pthread_setname_np(t->id, short_name);
    }
    return LP_OK;
}

void lp__thread_join(lp__thread *t)
{
    int err = pthread_join(t->id, NULL);

    if (err != 0)
        lp__panic("pthread_join", err);
}

bool lp__thread_is_self(const lp__thread *t)
{
    return pthread_equal(t->id, pthread_self()) != 0;
}

void lp__event_init(lp__event *e)
{
    atomic_init(&e->seq, 0);
    atomic_init(&e->waiters, 0);
}

unsigned lp__event_prepare(lp__event *e)
{
    atomic_fetch_add(&e->waiters, 1);
    return atomic_load(&e->seq);
}

void lp__event_cancel(lp__event *e)
{
    atomic_fetch_sub(&e->waiters, 1);
}

void lp__event_wait(lp__event *e, unsigned token)
{
    /* Returns at once if seq moved on since prepare; EINTR and EAGAIN are
     * spurious wake-ups the caller's loop absorbs. */
    syscall(SYS_futex, &e->seq, FUTEX_WAIT_PRIVATE, token, NULL, NULL, 0);
    atomic_fetch_sub(&e->waiters, 1);
}

unsigned lp__event_waiters(lp__event *e)
{
    return atomic_load(&e->waiters);
}

void lp__event_notify(lp__event *e, unsigned n)
{
    if (atomic_load(&e->waiters) == 0)
        return;
    atomic_fetch_add(&e->seq, 1);
    syscall(SYS_futex, &e->seq, FUTEX_WAKE_PRIVATE, n > INT_MAX ? INT_MAX : n,
            NULL, NULL, 0);
}

int lp__cpu_count(void)
{
    cpu_set_t set;
    int n;

    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return 1;
    n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

static atomic_uint fork_generation;
static pthread_once_t fork_hook_once = PTHREAD_ONCE_INIT;

static void count_fork_in_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
}

static void install_fork_hook(void)
{
    pthread_atfork(NULL, NULL, count_fork_in_child);
}

unsigned lp__fork_generation(void)
{
    pthread_once(&fork_hook_once, install_fork_hook);
    return atomic_load_explicit(&fork_generation, memory_order_relaxed);
}

void lp__once_run(lp__once *o, void (*fn)(void))
{
    int err = pthread_once(&o->once, fn);

    if (err != 0)
        lp__panic("pthread_once", err);
}

void lp__thread_set_name(const char *name)
{
    char short_name[16];

    snprintf(short_name, sizeof(short_name), "%s", name);
    pthread_setname_np(pthread_self(), short_name);
}

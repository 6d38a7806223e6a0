/*
 * Shared helpers for the conformance tests: a gate tasks can block on, a
 * watchdog that opens a gate if a test would otherwise hang, counting free
 * functions, a few stock tasks and bounded polling. Header-only; every test
 * executable includes it once.
 */
#ifndef LP_TEST_UTIL_H
#define LP_TEST_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "lp-test.h"

/* Sanitized trees run slower: scale loop counts down there. */
#if defined(LP_SANITIZED)
#    define LP_TEST_SANITIZED 1
#else
#    define LP_TEST_SANITIZED 0
#endif

/* ---- Gate: tasks block until the test opens it ----------------------- */

struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    atomic_int waiting; /* tasks currently blocked in gate_wait */
    atomic_int passed;  /* tasks that went through */
};

static inline void gate_init(struct gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->open = false;
    atomic_init(&g->waiting, 0);
    atomic_init(&g->passed, 0);
}

static inline void gate_destroy(struct gate *g)
{
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

static inline void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static inline bool gate_is_open(struct gate *g)
{
    bool open;

    pthread_mutex_lock(&g->mu);
    open = g->open;
    pthread_mutex_unlock(&g->mu);
    return open;
}

static inline void gate_wait(struct gate *g)
{
    atomic_fetch_add(&g->waiting, 1);
    pthread_mutex_lock(&g->mu);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    atomic_fetch_sub(&g->waiting, 1);
    atomic_fetch_add(&g->passed, 1);
}

/* A task that blocks on the gate given as its argument; returns the gate. */
static inline void *task_gate(void *arg, lp_task *task)
{
    (void)task;
    gate_wait(arg);
    return arg;
}

/*
 * Watchdog: opens `g` after `ms` unless stopped first, so that a test whose
 * behaviour broke fails on an assertion instead of hanging. `fired` tells
 * whether it had to.
 */
struct watchdog {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct gate *gate;
    int64_t ms;
    bool stop;
    bool fired;
};

static inline void *watchdog_main(void *arg)
{
    struct watchdog *w = arg;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += w->ms / 1000;
    ts.tv_nsec += (w->ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT)
            break;
    }
    if (!w->stop) {
        w->fired = true;
        pthread_mutex_unlock(&w->mu);
        gate_open(w->gate);
        return NULL;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static inline void watchdog_start(struct watchdog *w, struct gate *g,
                                  int64_t ms)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->gate = g;
    w->ms = ms;
    w->stop = false;
    w->fired = false;
    ASSERT_EQ(0, pthread_create(&w->thread, NULL, watchdog_main, w));
}

/* Stops the watchdog; returns true if it had fired. */
static inline bool watchdog_stop(struct watchdog *w)
{
    bool fired;

    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    fired = w->fired;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    return fired;
}

/* ---- Counting frees --------------------------------------------------- */

static atomic_int lp_test_frees;

/* A free function that only counts (for arguments that are not heap). */
static inline void count_free(void *p)
{
    (void)p;
    atomic_fetch_add(&lp_test_frees, 1);
}

/* A free function that counts and frees heap memory. */
static inline void count_free_heap(void *p)
{
    atomic_fetch_add(&lp_test_frees, 1);
    free(p);
}

static inline int frees(void)
{
    return atomic_load(&lp_test_frees);
}

static inline void frees_reset(void)
{
    atomic_store(&lp_test_frees, 0);
}

/* ---- Stock tasks ------------------------------------------------------ */

/* Returns its argument. */
static inline void *task_echo(void *arg, lp_task *task)
{
    (void)task;
    return arg;
}

/* Returns NULL. */
static inline void *task_noop(void *arg, lp_task *task)
{
    (void)arg;
    (void)task;
    return NULL;
}

/* Increments the atomic_int `arg`; returns it. */
static inline void *task_count(void *arg, lp_task *task)
{
    (void)task;
    atomic_fetch_add((atomic_int *)arg, 1);
    return arg;
}

/* Sleeps (intptr_t)arg milliseconds; returns arg. */
static inline void *task_sleep(void *arg, lp_task *task)
{
    (void)task;
    lp_test_sleep_ms((intptr_t)arg);
    return arg;
}

/* Fails with code 42, errno EIO and message "boom <arg as int>". */
static inline void *task_fail(void *arg, lp_task *task)
{
    lp_task_fail(task, 42, EIO, "boom %d", (int)(intptr_t)arg);
    return NULL;
}

/* ---- Bounded polling ------------------------------------------------- */

/*
 * Polls `cond` every millisecond for at most `ms`; evaluates to whether it
 * became true. Timing never decides a test on its own: the bound only turns
 * a hang into a failure.
 */
#define POLL_UNTIL(cond, ms)                               \
    ({                                                     \
        int64_t end_ = lp_test_now_ms() + (ms);            \
        bool ok_;                                          \
        while (!(ok_ = (cond)) && lp_test_now_ms() < end_) \
            lp_test_sleep_ms(1);                           \
        ok_;                                               \
    })

static inline lp_executor_stats stats_of(lp_executor *ex)
{
    lp_executor_stats s;

    memset(&s, 0, sizeof(s));
    ASSERT_OK(lp_executor_stats_get(ex, &s));
    return s;
}

/* Creates a thread pool with `max_workers` and otherwise default options. */
static inline lp_executor *pool_new(int max_workers)
{
    lp_thread_pool_options o = LP_THREAD_POOL_OPTIONS_INIT;
    lp_executor *ex = NULL;

    o.max_workers = max_workers;
    ASSERT_OK(lp_thread_pool_create(&o, &ex));
    ASSERT_TRUE(ex != NULL);
    return ex;
}

/* Submits fn(arg) and returns the future, asserting LP_OK. */
static inline lp_future *submit_ok(lp_executor *ex, lp_task_fn fn, void *arg)
{
    lp_future *f = NULL;

    ASSERT_OK(lp_executor_submit(ex, fn, arg, &f));
    ASSERT_TRUE(f != NULL);
    return f;
}

/* A future completed with `value` (not owned). */
static inline lp_future *future_done(void *value)
{
    lp_future *f = NULL;

    ASSERT_OK(lp_future_create(&f));
    ASSERT_OK(lp_future_set_result(f, value, NULL));
    return f;
}

/* A PENDING future. */
static inline lp_future *future_pending(void)
{
    lp_future *f = NULL;

    ASSERT_OK(lp_future_create(&f));
    return f;
}

/* A future that failed with code 7 and message "failed". */
static inline lp_future *future_failed(void)
{
    lp_future *f = future_pending();

    ASSERT_OK(lp_future_set_error(f, 7, 0, "failed"));
    return f;
}

/* A CANCELLED future (not yet notified). */
static inline lp_future *future_cancelled(void)
{
    lp_future *f = future_pending();

    ASSERT_TRUE(lp_future_cancel(f));
    return f;
}

/* A CANCELLED_NOTIFIED future. */
static inline lp_future *future_cancelled_notified(void)
{
    lp_future *f = future_cancelled();

    ASSERT_STATUS(LP_ECANCELLED, lp_future_set_running_or_notify_cancel(f));
    return f;
}

/* Runs `fn(arg)` on a new thread after `delay_ms`. */
struct later {
    pthread_t thread;
    int64_t delay_ms;
    void (*fn)(void *arg);
    void *arg;
};

static inline void *later_main(void *arg)
{
    struct later *l = arg;

    lp_test_sleep_ms(l->delay_ms);
    l->fn(l->arg);
    return NULL;
}

static inline void later_start(struct later *l, int64_t delay_ms,
                               void (*fn)(void *), void *arg)
{
    l->delay_ms = delay_ms;
    l->fn = fn;
    l->arg = arg;
    ASSERT_EQ(0, pthread_create(&l->thread, NULL, later_main, l));
}

static inline void later_join(struct later *l)
{
    pthread_join(l->thread, NULL);
}

/* `later` actions on a future. */
static inline void later_set_result(void *f)
{
    ASSERT_OK(lp_future_set_result(f, f, NULL));
}

static inline void later_set_error(void *f)
{
    ASSERT_OK(lp_future_set_error(f, 9, 0, "later failure"));
}

static inline void later_cancel(void *f)
{
    ASSERT_TRUE(lp_future_cancel(f));
}

static inline void later_notify_cancel(void *f)
{
    ASSERT_STATUS(LP_ECANCELLED, lp_future_set_running_or_notify_cancel(f));
}

#endif

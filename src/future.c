/*
 * lp_future: state machine, results, failures, done callbacks, result().
 *
 * Data flow: an executor creates the future (one reference for the caller,
 * one for itself), moves it to RUNNING with set_running_or_notify_cancel,
 * and finishes it with set_result / set_failure, after which it drops its
 * reference. The caller waits with lp_future_result, which spins briefly
 * (a worker finishing a short task is usually microseconds away) and then
 * blocks on a condition variable registered as a listener.
 *
 * Locking is described in internal/future_impl.h: transitions are lock-free
 * CASes; the future's (striped) lock is taken only when listeners exist. Done
 * callbacks are detached under the lock and run after it is released, on
 * the thread that made the transition, with an extra reference held so a
 * callback may drop the caller's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "future_impl.h"
#include "slab.h"

#define MESSAGE_MAX 1024
/* How long lp_future_result spins before blocking. */
#define RESULT_SPIN_NS (20 * LP__NS_PER_USEC)

struct lp__callback {
    lp_done_fn fn;
    void *arg;
    struct lp__callback *next;
};

struct error_record {
    lp_error pub;
    char message[];
};

static const lp_error oom_error = { LP_ETASK, -1, 0,
                                    "out of memory while recording a failure" };

#define LOCK_STRIPES 64

static lp__mutex future_locks[LOCK_STRIPES];
static pthread_once_t future_locks_once = PTHREAD_ONCE_INIT;

static void init_future_locks(void)
{
    for (size_t i = 0; i < LOCK_STRIPES; i++)
        lp__mutex_init_default(&future_locks[i]);
}

/*
 * A child forked while another thread held a stripe would find it held
 * forever (executor.h lets a child create executors of its own), so the
 * child starts with fresh ones, as Python re-initialises its locks at fork.
 * (Holding every stripe across fork instead would also exceed
 * ThreadSanitizer's 64 locks held at once.) A future whose lists another
 * thread was changing at that moment is, in the child, like any data that
 * thread was changing: not to be used.
 */
static void install_future_locks(void)
{
    init_future_locks();
    pthread_atfork(NULL, NULL, init_future_locks);
}

lp__mutex *lp__future_lock(const lp_future *f)
{
    uintptr_t p = (uintptr_t)f;

    return &future_locks[((p >> 6) ^ (p >> 12)) % LOCK_STRIPES];
}

lp_status lp__future_new(size_t extra, lp_future **out)
{
    lp_future *f = lp__slab_alloc(sizeof(*f) + extra);

    if (f == NULL)
        return LP_ENOMEM;
    pthread_once(&future_locks_once, install_future_locks);
    atomic_init(&f->refs, 1);
    atomic_init(&f->state, LP_FUTURE_PENDING);
    atomic_init(&f->has_listeners, false);
    atomic_store_explicit(&f->magic, LP__FUTURE_MAGIC, memory_order_relaxed);
    *out = f;
    return LP_OK;
}

lp_status lp_future_create(lp_future **out)
{
    if (out == NULL)
        return LP_EINVAL;
    *out = NULL;
    return lp__future_new(0, out);
}

lp_future *lp_future_retain(lp_future *f)
{
    if (!lp__future_valid(f))
        return NULL;
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

static void free_future(lp_future *f)
{
    struct lp__callback *cb = f->callbacks, *next;

    atomic_store_explicit(&f->magic, 0, memory_order_relaxed);
    for (; cb != NULL; cb = next) {
        next = cb->next;
        lp__free(cb);
    }
    if (f->failed) {
        if (!f->error_is_static)
            lp__free(f->error);
    } else if (f->result != NULL && f->result_free != NULL) {
        f->result_free(f->result);
    }
    lp__slab_free(f);
}

void lp_future_release(lp_future *f)
{
    if (!lp__future_valid(f))
        return;
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free_future(f);
}

/* ---- queries --------------------------------------------------------- */

static int load_state(const lp_future *f)
{
    return atomic_load_explicit(&((lp_future *)f)->state, memory_order_acquire);
}

lp_future_state lp_future_state_get(const lp_future *f)
{
    int s;

    if (!lp__future_valid(f))
        return LP_FUTURE_CANCELLED_NOTIFIED;
    s = load_state(f);
    return s == LP__FUTURE_COMPLETING ? LP_FUTURE_RUNNING : (lp_future_state)s;
}

static bool state_done(int s)
{
    return s == LP_FUTURE_FINISHED || s == LP_FUTURE_CANCELLED ||
           s == LP_FUTURE_CANCELLED_NOTIFIED;
}

static bool state_cancelled(int s)
{
    return s == LP_FUTURE_CANCELLED || s == LP_FUTURE_CANCELLED_NOTIFIED;
}

bool lp_future_done(const lp_future *f)
{
    return lp__future_valid(f) && state_done(load_state(f));
}

bool lp_future_running(const lp_future *f)
{
    int s;

    if (!lp__future_valid(f))
        return false;
    s = load_state(f);
    return s == LP_FUTURE_RUNNING || s == LP__FUTURE_COMPLETING;
}

bool lp_future_cancelled(const lp_future *f)
{
    return lp__future_valid(f) && state_cancelled(load_state(f));
}

bool lp__future_failed(const lp_future *f)
{
    return load_state(f) == LP_FUTURE_FINISHED && f->failed;
}

const lp_error *lp_future_error(const lp_future *f)
{
    if (!lp__future_valid(f) || !lp__future_failed(f))
        return NULL;
    return f->error;
}

/* ---- listeners and callbacks ----------------------------------------- */

bool lp__future_listen(lp_future *f, struct lp__listener *l,
                       bool (*already)(int state))
{
    bool registered = false;

    lp__mutex_lock(lp__future_lock(f));
    atomic_store(&f->has_listeners, true);
    if (!already(atomic_load(&f->state))) {
        l->prev = NULL;
        l->next = f->listeners;
        if (f->listeners != NULL)
            f->listeners->prev = l;
        f->listeners = l;
        registered = true;
    }
    lp__mutex_unlock(lp__future_lock(f));
    return registered;
}

void lp__future_unlisten(lp_future *f, struct lp__listener *l)
{
    lp__mutex_lock(lp__future_lock(f));
    if (l->prev != NULL)
        l->prev->next = l->next;
    else if (f->listeners == l)
        f->listeners = l->next;
    if (l->next != NULL)
        l->next->prev = l->prev;
    l->prev = l->next = NULL;
    lp__mutex_unlock(lp__future_lock(f));
}

static void run_callbacks(lp_future *f, struct lp__callback *cb)
{
    struct lp__callback *next;

    if (cb == NULL)
        return;
    lp_future_retain(f);
    for (; cb != NULL; cb = next) {
        next = cb->next;
        cb->fn(f, cb->arg);
        lp__free(cb);
    }
    lp_future_release(f);
}

/*
 * Tells listeners about the state just published and, when the future became
 * done, runs its callbacks. Costs one atomic load when nobody listens.
 */
static void announce(lp_future *f, int state, bool done_now)
{
    struct lp__callback *cb = NULL;
    struct lp__listener *l, *next;

    if (!atomic_load(&f->has_listeners))
        return;
    lp__mutex_lock(lp__future_lock(f));
    for (l = f->listeners; l != NULL; l = next) {
        next = l->next;
        l->notify(l, f, state);
    }
    if (done_now) {
        cb = f->callbacks;
        f->callbacks = NULL;
    }
    lp__mutex_unlock(lp__future_lock(f));
    run_callbacks(f, cb);
}

lp_status lp_future_add_done_callback(lp_future *f, lp_done_fn fn, void *arg)
{
    struct lp__callback *cb;
    bool run_now;

    if (!lp__future_valid(f) || fn == NULL)
        return LP_EINVAL;
    cb = lp__malloc(sizeof(*cb));
    if (cb == NULL)
        return LP_ENOMEM;
    cb->fn = fn;
    cb->arg = arg;
    cb->next = NULL;

    lp__mutex_lock(lp__future_lock(f));
    atomic_store(&f->has_listeners, true);
    run_now = state_done(atomic_load(&f->state));
    if (!run_now) {
        /* Callbacks are few: walking the list beats a tail pointer in
         * every future. */
        struct lp__callback **tail = &f->callbacks;

        while (*tail != NULL)
            tail = &(*tail)->next;
        *tail = cb;
    }
    lp__mutex_unlock(lp__future_lock(f));
    if (run_now)
        run_callbacks(f, cb);
    return LP_OK;
}

/* ---- transitions ----------------------------------------------------- */

bool lp_future_cancel(lp_future *f)
{
    int s;

    if (!lp__future_valid(f))
        return false;
    s = atomic_load(&f->state);
    while (s == LP_FUTURE_PENDING) {
        if (atomic_compare_exchange_weak(&f->state, &s, LP_FUTURE_CANCELLED)) {
            announce(f, LP_FUTURE_CANCELLED, true);
            return true;
        }
    }
    return state_cancelled(s);
}

lp_status lp_future_set_running_or_notify_cancel(lp_future *f)
{
    int s = LP_FUTURE_PENDING;

    if (!lp__future_valid(f))
        return LP_EINVAL;
    if (atomic_compare_exchange_strong(&f->state, &s, LP_FUTURE_RUNNING))
        return LP_OK;
    if (s == LP_FUTURE_CANCELLED &&
        atomic_compare_exchange_strong(&f->state, &s,
                                       LP_FUTURE_CANCELLED_NOTIFIED)) {
        announce(f, LP_FUTURE_CANCELLED_NOTIFIED, false);
        return LP_ECANCELLED;
    }
    return LP_ESTATE;
}

/* Claims the right to finish `f`: PENDING or RUNNING -> COMPLETING. */
static bool begin_completion(lp_future *f)
{
    int s = atomic_load(&f->state);

    while (s == LP_FUTURE_PENDING || s == LP_FUTURE_RUNNING) {
        if (atomic_compare_exchange_weak(&f->state, &s, LP__FUTURE_COMPLETING))
            return true;
    }
    return false;
}

static void publish_finished(lp_future *f)
{
    atomic_store(&f->state, LP_FUTURE_FINISHED);
    announce(f, LP_FUTURE_FINISHED, true);
}

lp_status lp_future_set_result(lp_future *f, void *value, lp_free_fn value_free)
{
    if (!lp__future_valid(f))
        return LP_EINVAL;
    if (!begin_completion(f))
        return LP_ESTATE;
    f->result = value;
    f->result_free = value_free;
    publish_finished(f);
    return LP_OK;
}

static lp_error *new_error(lp_status status, int code, int sys_errno,
                           const char *fmt, va_list ap)
{
    char buf[MESSAGE_MAX];
    struct error_record *rec;
    size_t len;

    vsnprintf(buf, sizeof(buf), fmt != NULL ? fmt : "task failed", ap);
    len = strlen(buf);
    rec = lp__malloc(sizeof(*rec) + len + 1);
    if (rec == NULL)
        return NULL;
    memcpy(rec->message, buf, len + 1);
    rec->pub.status = status;
    rec->pub.code = code;
    rec->pub.sys_errno = sys_errno;
    rec->pub.message = rec->message;
    return &rec->pub;
}

/* Shared by the public setters and lp__run_spec (task.c). */
lp_status lp__future_fail_v(lp_future *f, lp_status status, int code,
                            int sys_errno, const char *fmt, va_list ap)
{
    lp_error *err;

    if (!lp__future_valid(f) || (status != LP_ETASK && status != LP_EBROKEN))
        return LP_EINVAL;
    if (!begin_completion(f))
        return LP_ESTATE;
    err = new_error(status, code, sys_errno, fmt, ap);
    f->error = err != NULL ? err : (lp_error *)&oom_error;
    f->error_is_static = err == NULL;
    f->failed = true;
    publish_finished(f);
    return err != NULL ? LP_OK : LP_ENOMEM;
}

lp_status lp_future_set_error(lp_future *f, int code, int sys_errno,
                              const char *fmt, ...)
{
    va_list ap;
    lp_status st;

    va_start(ap, fmt);
    st = lp__future_fail_v(f, LP_ETASK, code, sys_errno, fmt, ap);
    va_end(ap);
    return st;
}

lp_status lp_future_set_failure(lp_future *f, lp_status status, int code,
                                int sys_errno, const char *fmt, ...)
{
    va_list ap;
    lp_status st;

    va_start(ap, fmt);
    st = lp__future_fail_v(f, status, code, sys_errno, fmt, ap);
    va_end(ap);
    return st;
}

/* ---- result() -------------------------------------------------------- */

struct result_waiter {
    struct lp__listener base;
    lp__cond cv;
};

static void wake_result_waiter(struct lp__listener *l, lp_future *f, int state)
{
    (void)f;
    if (state_done(state))
        lp__cond_signal(&((struct result_waiter *)l)->cv);
}

static bool spin_until_done(lp_future *f, int64_t deadline)
{
    int64_t stop = lp__monotonic_ns() + RESULT_SPIN_NS;
    int i;

    if (stop > deadline)
        stop = deadline;
    for (;;) {
        for (i = 0; i < 64; i++) {
            if (state_done(load_state(f)))
                return true;
            lp__cpu_relax();
        }
        if (lp__monotonic_ns() >= stop)
            return state_done(load_state(f));
    }
}

/* Waits until `f` is done or `deadline`; LP_OK or LP_ETIMEDOUT. */
static lp_status wait_until_done(lp_future *f, int64_t deadline)
{
    struct result_waiter w;
    lp_status st = LP_OK;

    if (state_done(load_state(f)))
        return LP_OK;
    if (deadline <= lp__monotonic_ns())
        return LP_ETIMEDOUT;
    if (spin_until_done(f, deadline))
        return LP_OK;
    if (lp__cond_init(&w.cv) != LP_OK)
        return LP_ENOMEM;
    w.base.notify = wake_result_waiter;
    if (lp__future_listen(f, &w.base, state_done)) {
        lp__mutex_lock(lp__future_lock(f));
        while (!state_done(atomic_load(&f->state)) && st == LP_OK)
            st = lp__cond_wait_until(&w.cv, lp__future_lock(f), deadline);
        lp__mutex_unlock(lp__future_lock(f));
        lp__future_unlisten(f, &w.base);
        if (st == LP_ETIMEDOUT && state_done(load_state(f)))
            st = LP_OK;
    }
    lp__cond_destroy(&w.cv);
    return st;
}

static lp_status outcome(lp_future *f, void **result)
{
    int s = load_state(f);

    if (state_cancelled(s))
        return LP_ECANCELLED;
    if (f->failed) {
        *result = NULL;
        return f->error->status;
    }
    *result = f->result;
    return LP_OK;
}

lp_status lp_future_result_until(lp_future *f, lp_deadline deadline,
                                 void **result)
{
    lp_status st;

    if (!lp__future_valid(f) || result == NULL)
        return LP_EINVAL;
    st = wait_until_done(f, deadline);
    if (st != LP_OK)
        return st;
    return outcome(f, result);
}

lp_status lp_future_result(lp_future *f, int64_t timeout_ms, void **result)
{
    int64_t deadline;

    if (lp__timeout_to_deadline(timeout_ms, &deadline) != LP_OK)
        return LP_EINVAL;
    return lp_future_result_until(f, deadline, result);
}

lp_status lp_future_exception(lp_future *f, int64_t timeout_ms,
                              const lp_error **error)
{
    int64_t deadline;
    lp_status st;

    if (!lp__future_valid(f) || error == NULL ||
        lp__timeout_to_deadline(timeout_ms, &deadline) != LP_OK)
        return LP_EINVAL;
    st = wait_until_done(f, deadline);
    if (st != LP_OK)
        return st;
    if (state_cancelled(load_state(f)))
        return LP_ECANCELLED;
    *error = f->failed ? f->error : NULL;
    return LP_OK;
}

/*
 * lambdapool futures: the result of work that finishes later.
 *
 * One future type serves every executor (thread pool, process pool, HTTP
 * event loop). A future moves PENDING -> RUNNING -> FINISHED, or PENDING ->
 * CANCELLED -> CANCELLED_NOTIFIED, exactly as Python's concurrent.futures:
 * CANCELLED becomes CANCELLED_NOTIFIED when the executor that owns the future
 * drops it (lp_future_set_running_or_notify_cancel), and only then does
 * lp_wait / lp_as_completed count it as done.
 *
 * Futures are reference counted and safe to share between threads. Every call
 * that hands out a future (submit, map, lp_future_create) gives the caller one
 * reference, which the caller drops with lp_future_release(). A future
 * outlives its executor: results stay readable after the executor is
 * destroyed.
 *
 * Time limits come in two forms everywhere: a relative `timeout_ms`
 * (LP_WAIT_FOREVER = no limit, 0 = do not block) and an absolute lp_deadline
 * on CLOCK_MONOTONIC, which is how a Lambda invocation's deadline (minus a
 * margin) is passed down (lp_deadline_from_epoch_ms).
 */
#ifndef LAMBDAPOOL_FUTURE_H
#define LAMBDAPOOL_FUTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lp_future lp_future;

/* Releases a value the library owns on the caller's behalf. */
typedef void (*lp_free_fn)(void *p);

/* ---- Deadlines --------------------------------------------------------- */

/* Nanoseconds on CLOCK_MONOTONIC. LP_DEADLINE_NEVER means no limit. */
typedef int64_t lp_deadline;

#define LP_DEADLINE_NEVER INT64_MAX
/* A relative timeout meaning "wait as long as it takes". */
#define LP_WAIT_FOREVER (-1)

/* Now, on the deadline clock. */
LP_EXTERN lp_deadline lp_deadline_now(void);

/*
 * The deadline `timeout_ms` from now: LP_WAIT_FOREVER gives
 * LP_DEADLINE_NEVER; other negative values give "already expired"
 * (callers that want an error for them check first, as the waiting calls
 * below do).
 */
LP_EXTERN lp_deadline lp_deadline_after_ms(int64_t timeout_ms);

/*
 * Converts a wall-clock time in Unix epoch milliseconds (Lambda's
 * Lambda-Runtime-Deadline-Ms) to a deadline, measured against both clocks
 * now. 0 or negative gives LP_DEADLINE_NEVER.
 */
LP_EXTERN lp_deadline lp_deadline_from_epoch_ms(int64_t epoch_ms);

/*
 * Milliseconds left before `deadline` (0 once passed, INT64_MAX for
 * LP_DEADLINE_NEVER).
 */
LP_EXTERN int64_t lp_deadline_remaining_ms(lp_deadline deadline);

/* ---- States, errors --------------------------------------------------- */

typedef enum lp_future_state {
    LP_FUTURE_PENDING = 0,
    LP_FUTURE_RUNNING = 1,
    LP_FUTURE_FINISHED = 2,
    LP_FUTURE_CANCELLED = 3,
    LP_FUTURE_CANCELLED_NOTIFIED = 4
} lp_future_state;

/*
 * Why a future failed: the C counterpart of a Python exception.
 * `status` is LP_ETASK for a task's own failure (lp_task_fail,
 * lp_future_set_error) and LP_EBROKEN when the executor failed the task
 * (initializer failure, dead worker). `code` is the task's own code,
 * `sys_errno` the errno it reported (0 if none), `message` is never NULL.
 * The record is owned by the future and lives as long as it does.
 */
typedef struct lp_error {
    lp_status status;
    int code;
    int sys_errno;
    const char *message;
} lp_error;

/* ---- Lifetime ---------------------------------------------------------- */

/*
 * Creates a PENDING future that no executor owns, for executor
 * implementations and tests (Python's bare Future()). *out gets one
 * reference. Returns LP_OK, LP_EINVAL (out NULL) or LP_ENOMEM (*out NULL).
 */
LP_EXTERN lp_status lp_future_create(lp_future **out);

/* Adds a reference. Returns `f`; NULL or a destroyed future gives NULL. */
LP_EXTERN lp_future *lp_future_retain(lp_future *f);

/*
 * Drops a reference; the last one frees the future, its result (with its
 * result_free) and its error. NULL is a no-op. A done callback may release
 * the future it was called for.
 */
LP_EXTERN void lp_future_release(lp_future *f);

/* ---- Queries (any thread, never block) -------------------------------- */

/* The current state; LP_FUTURE_CANCELLED_NOTIFIED for a bad handle too. */
LP_EXTERN lp_future_state lp_future_state_get(const lp_future *f);
/* FINISHED or either cancelled state. False for NULL. */
LP_EXTERN bool lp_future_done(const lp_future *f);
/* RUNNING only. */
LP_EXTERN bool lp_future_running(const lp_future *f);
/* Either cancelled state. */
LP_EXTERN bool lp_future_cancelled(const lp_future *f);

/*
 * The failure record of a FINISHED future that failed, else NULL (still
 * running, succeeded, cancelled, bad handle). Borrowed: valid while the
 * caller holds a reference to `f`.
 */
LP_EXTERN const lp_error *lp_future_error(const lp_future *f);

/* ---- Cancel ------------------------------------------------------------ */

/*
 * Cancels `f` if it has not started. Returns true if `f` is now cancelled:
 * it was PENDING (it becomes CANCELLED, blocked lp_future_result callers
 * return LP_ECANCELLED, done callbacks run on this thread) or it was already
 * cancelled (nothing changes). Returns false for RUNNING or FINISHED futures
 * (nothing changes) and for NULL.
 */
LP_EXTERN bool lp_future_cancel(lp_future *f);

/* ---- Results ----------------------------------------------------------- */

/*
 * Waits for `f` to finish, at most `timeout_ms` milliseconds (LP_WAIT_FOREVER:
 * no limit; 0: do not block).
 *
 * Returns LP_OK with *result set to the task's value; LP_ETASK or LP_EBROKEN
 * if it failed (details: lp_future_error(); *result set to NULL);
 * LP_ECANCELLED; LP_ETIMEDOUT with *result untouched; LP_EINVAL for a NULL
 * or destroyed future, a NULL `result`, or a timeout below -1. *result is
 * borrowed from `f`: valid while the caller holds a reference; the future
 * frees it with the result_free given at submit. Any thread may call this.
 */
LP_EXTERN lp_status lp_future_result(lp_future *f, int64_t timeout_ms,
                                     void **result);

/* lp_future_result with an absolute deadline. */
LP_EXTERN lp_status lp_future_result_until(lp_future *f, lp_deadline deadline,
                                           void **result);

/*
 * Python's Future.exception(timeout): waits like lp_future_result, then
 * returns LP_OK with *error NULL if the task succeeded or the failure record
 * (borrowed from `f`) if it failed; LP_ECANCELLED, LP_ETIMEDOUT and LP_EINVAL
 * as lp_future_result, with *error untouched.
 */
LP_EXTERN lp_status lp_future_exception(lp_future *f, int64_t timeout_ms,
                                        const lp_error **error);

/* ---- Done callbacks ------------------------------------------------------ */

/*
 * Called once when `f` finishes or is cancelled. It runs on the thread that
 * completed or cancelled the future (an executor worker, or the caller of
 * lp_future_cancel), after the state change, holding no library lock; or at
 * once on the registering thread if `f` is already done. It borrows `f` for
 * the duration of the call and may release the caller's own reference.
 */
typedef void (*lp_done_fn)(lp_future *f, void *arg);

/*
 * Registers `fn(f, arg)` to run when `f` is done; callbacks run in
 * registration order. Returns LP_OK, LP_EINVAL (NULL f or fn) or LP_ENOMEM;
 * on error the callback is never called.
 */
LP_EXTERN lp_status lp_future_add_done_callback(lp_future *f, lp_done_fn fn,
                                                void *arg);

/* ---- Completing a future (executor side, and tests) -------------------- */

/*
 * Python's set_running_or_notify_cancel(). PENDING -> RUNNING returns LP_OK
 * (run the task); CANCELLED -> CANCELLED_NOTIFIED returns LP_ECANCELLED (skip
 * the task; lp_wait/lp_as_completed now see it as done); any other state
 * returns LP_ESTATE and changes nothing. LP_EINVAL for a bad handle.
 */
LP_EXTERN lp_status lp_future_set_running_or_notify_cancel(lp_future *f);

/*
 * Finishes `f` with `value`, which the future then owns and frees with
 * `value_free` (NULL: the future never frees it). Wakes every waiter and runs
 * the done callbacks on this thread. Returns LP_OK; LP_ESTATE if `f` was
 * already finished or cancelled (the first outcome is kept, and `value` is
 * NOT taken: the caller still owns it); LP_EINVAL for a bad handle.
 */
LP_EXTERN lp_status lp_future_set_result(lp_future *f, void *value,
                                         lp_free_fn value_free);

/*
 * Finishes `f` as failed with status LP_ETASK (or `status`, see
 * lp_future_set_failure), the task's `code`, `sys_errno` and a printf-style
 * message (copied; truncated at 1 KiB). Returns as lp_future_set_result;
 * LP_ENOMEM leaves `f` failed with a fixed "out of memory" message instead.
 */
LP_EXTERN lp_status lp_future_set_error(lp_future *f, int code, int sys_errno,
                                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * As lp_future_set_error with an explicit failure status (LP_ETASK or
 * LP_EBROKEN; anything else is LP_EINVAL).
 */
LP_EXTERN lp_status lp_future_set_failure(lp_future *f, lp_status status,
                                          int code, int sys_errno,
                                          const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---- Waiting on many --------------------------------------------------- */

typedef enum lp_return_when {
    LP_FIRST_COMPLETED = 1,
    LP_FIRST_EXCEPTION = 2,
    LP_ALL_COMPLETED = 3
} lp_return_when;

/*
 * Python's concurrent.futures.wait(). Waits until `when` holds for
 * fs[0..n-1] or the time limit passes. A future counts as done when FINISHED
 * or CANCELLED_NOTIFIED. Duplicates in `fs` are allowed and count once.
 *
 * done[i] (caller-owned array of n bools, may be NULL) is set for every
 * position whose future is done; *n_done (may be NULL) counts those
 * positions. Returns LP_OK when `when` holds, LP_ETIMEDOUT when the limit
 * passed first (done[] still filled: Python returns the partial split),
 * LP_EINVAL for NULL `fs` with n > 0, a NULL or destroyed future, a timeout
 * below -1, or an invalid `when` -- the last only when the call would have
 * to block, as in Python. LP_ENOMEM if waiting needed memory it could not get.
 */
LP_EXTERN lp_status lp_wait(lp_future *const *fs, size_t n, lp_return_when when,
                            int64_t timeout_ms, bool *done, size_t *n_done);

/* lp_wait with an absolute deadline. */
LP_EXTERN lp_status lp_wait_until(lp_future *const *fs, size_t n,
                                  lp_return_when when, lp_deadline deadline,
                                  bool *done, size_t *n_done);

/* ---- as_completed ------------------------------------------------------ */

typedef struct lp_as_completed lp_as_completed;

/*
 * Python's as_completed(): an iterator that yields each distinct future of
 * fs[0..n-1] once, the already-done ones first, then the rest in the order
 * they complete. The time limit runs from this call. The iterator takes its
 * own reference to every future and drops each as it is yielded, so after
 * the caller has seen a future the iterator no longer pins it.
 *
 * Returns LP_OK, LP_EINVAL (NULL out, NULL fs with n > 0, bad future,
 * timeout below -1) or LP_ENOMEM (*out NULL). Free with
 * lp_as_completed_destroy().
 */
LP_EXTERN lp_status lp_as_completed_create(lp_future *const *fs, size_t n,
                                           int64_t timeout_ms,
                                           lp_as_completed **out);

/* lp_as_completed_create with an absolute deadline. */
LP_EXTERN lp_status lp_as_completed_create_until(lp_future *const *fs, size_t n,
                                                 lp_deadline deadline,
                                                 lp_as_completed **out);

/*
 * Yields the next completed future: LP_OK with *f set (borrowed: valid while
 * the caller holds its own reference, as the array passed to create does);
 * LP_EOF when all were yielded; LP_ETIMEDOUT when the limit passed with
 * futures unfinished (see lp_as_completed_unfinished; already-done ones are
 * always yielded first, so timeout 0 yields what is done, then times out);
 * LP_EINVAL for bad arguments. *f is NULL unless LP_OK.
 */
LP_EXTERN lp_status lp_as_completed_next(lp_as_completed *it, lp_future **f);

/*
 * How many distinct futures have not been yielded, and how many there are
 * in all: Python's "%d (of %d) futures unfinished".
 */
LP_EXTERN size_t lp_as_completed_unfinished(const lp_as_completed *it,
                                            size_t *total);

/* Stops iterating and drops every reference still held. NULL is a no-op. */
LP_EXTERN void lp_as_completed_destroy(lp_as_completed *it);

#ifdef __cplusplus
}
#endif

#endif

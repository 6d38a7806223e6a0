/*
 * lambdapool executors: run tasks elsewhere, hand back futures.
 *
 * An lp_executor is an opaque handle behind which a thread pool, a process
 * pool or an event loop runs submitted tasks; every kind completes the same
 * lp_future (future.h). Handles are safe to share between threads: any
 * thread may submit, and shutdown may race with submit (a submit that loses
 * the race gets LP_ESHUTDOWN).
 *
 * Two task forms:
 *  - pointer tasks, `void *fn(void *arg, lp_task *task)`: run in this
 *    process (thread pool). The return value becomes the future's result.
 *  - bytes tasks, `void fn(lp_task *task, const void *in, size_t len)`: the
 *    input is copied at submit and the task answers with lp_task_reply().
 *    Every executor runs them, including a process pool, whose workers are
 *    other processes. The future's result is an `lp_bytes *` it owns.
 * Either form fails by calling lp_task_fail(), the C counterpart of raising
 * an exception: the future then reports LP_ETASK with the code, errno and
 * message given.
 *
 * Fork: a child forked while a pool runs has none of the pool's threads.
 * In the child, submit/map/shutdown on an executor created before the fork
 * return LP_ESHUTDOWN, its queued futures never complete there, and
 * lp_executor_destroy frees only what it can without the parent's locks.
 * The child may create executors of its own. Nothing is registered with
 * atexit(): an executor that is not destroyed before exit() is abandoned with
 * the process (destroy it, or use the scoped forms, to finish queued work).
 */
#ifndef LAMBDAPOOL_EXECUTOR_H
#define LAMBDAPOOL_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "future.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lp_executor lp_executor;

/* The task being run; valid only during the task function's call. */
typedef struct lp_task lp_task;

/* A pointer task. Its return value becomes the future's result. */
typedef void *(*lp_task_fn)(void *arg, lp_task *task);

/* A bytes task: answers with lp_task_reply() or fails with lp_task_fail(). */
typedef void (*lp_bytes_fn)(lp_task *task, const void *in, size_t len);

/* A byte string owned by a future (result of a bytes task). */
typedef struct lp_bytes {
    void *data; /* NUL-terminated for convenience; never NULL */
    size_t len; /* not counting the terminating NUL */
} lp_bytes;

/*
 * Marks the running task as failed: its future reports LP_ETASK with this
 * code (nonzero; 0 is stored as -1), errno and printf-style message (copied,
 * truncated at 1 KiB). The task should return afterwards; a pointer task's
 * return value is then freed with result_free if one was given. Calling it
 * twice keeps the first failure.
 */
LP_EXTERN void lp_task_fail(lp_task *task, int code, int sys_errno,
                            const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Sets a bytes task's result to a copy of data[0..len-1]. A later reply
 * replaces an earlier one. Returns LP_OK, LP_EINVAL (NULL task, NULL data
 * with len > 0, not a bytes task), LP_ENOMEM or LP_ETOOBIG (beyond the
 * executor's payload cap).
 */
LP_EXTERN lp_status lp_task_reply(lp_task *task, const void *data, size_t len);

/* ---- Submitting ---------------------------------------------------------- */

typedef struct lp_submit_options {
    /* Frees the task's result when the future is freed (NULL: never). */
    lp_free_fn result_free;
    /*
     * Frees `arg` once the task no longer needs it: after it ran, or when it
     * was cancelled or failed by a broken executor (NULL: never).
     */
    lp_free_fn arg_free;
} lp_submit_options;

#define LP_SUBMIT_OPTIONS_INIT \
    {                          \
        NULL, NULL             \
    }

/*
 * Schedules fn(arg, task) and gives the caller a future (one reference) in
 * *out. Returns LP_OK; LP_EINVAL (NULL or destroyed executor, NULL fn or
 * out); LP_ESHUTDOWN after shutdown; LP_EBROKEN once the executor broke
 * (even after shutdown, as Python's submit says broken first);
 * LP_EFULL when a bounded queue is full and the executor was created not to
 * block; LP_ENOMEM; LP_ESYS when no worker exists and none could be started
 * (errno says why, e.g. EAGAIN); LP_EUNSUPPORTED if the executor cannot run
 * pointer tasks (a process pool). On error *out is NULL, the task never runs
 * and `arg` is still the caller's (arg_free is not called).
 */
LP_EXTERN lp_status lp_executor_submit(lp_executor *ex, lp_task_fn fn,
                                       void *arg, lp_future **out);

/* lp_executor_submit with options (NULL: defaults). */
LP_EXTERN lp_status lp_executor_submit_with(lp_executor *ex, lp_task_fn fn,
                                            void *arg,
                                            const lp_submit_options *opts,
                                            lp_future **out);

/*
 * Schedules the bytes task fn(task, copy of in[0..len-1]). The future's
 * result is an `lp_bytes *` owned by the future (empty if the task never
 * replied). Returns as lp_executor_submit; LP_ETOOBIG beyond the executor's
 * payload cap.
 */
LP_EXTERN lp_status lp_executor_submit_bytes(lp_executor *ex, lp_bytes_fn fn,
                                             const void *in, size_t len,
                                             lp_future **out);

/* ---- Shutdown and destroy ----------------------------------------------- */

/*
 * Stops accepting work (later submits: LP_ESHUTDOWN, or LP_EBROKEN on a
 * broken executor). With cancel_futures,
 * queued tasks that have not started are cancelled. With wait, returns only
 * after every queued and running task finished and every worker exited (for
 * a process pool: was reaped); without, returns at once while queued work
 * still runs. Idempotent: later calls may still wait or cancel.
 * Returns LP_OK or LP_EINVAL. Must not be called with wait=true from one of
 * the executor's own tasks (LP_EINVAL: it would wait for itself).
 */
LP_EXTERN lp_status lp_executor_shutdown(lp_executor *ex, bool wait,
                                         bool cancel_futures);

/*
 * lp_executor_shutdown(ex, true, false), then frees the executor. Futures
 * already handed out stay valid. NULL is a no-op. The handle is invalid
 * afterwards (the magic number is cleared first, so a stale handle is
 * usually caught with LP_EINVAL, but that is a debugging aid, not a promise).
 * Called from one of the executor's own tasks, it does nothing: a task cannot
 * wait for itself.
 */
LP_EXTERN void lp_executor_destroy(lp_executor *ex);

/* What an executor is doing, for tests and tuning. */
typedef struct lp_executor_stats {
    size_t workers; /* threads or processes alive */
    size_t idle;    /* workers waiting for work */
    size_t queued;  /* tasks submitted and not yet started */
    size_t max_workers;
    uint64_t completed; /* tasks run to completion, failures included */
} lp_executor_stats;

/* Fills *out. Returns LP_OK or LP_EINVAL. */
LP_EXTERN lp_status lp_executor_stats_get(lp_executor *ex,
                                          lp_executor_stats *out);

/* ---- map ------------------------------------------------------------------
 */

typedef struct lp_map lp_map;

typedef struct lp_map_options {
    /* Limit measured from the lp_executor_map call (LP_WAIT_FOREVER: none). */
    int64_t timeout_ms;
    /* Absolute limit; the earlier of the two applies. */
    lp_deadline deadline;
    /* Items per submitted task (>= 1): amortises overhead for small items. */
    size_t chunksize;
    /*
     * 0: submit everything at once (Python's default). n >= 1: at most n
     * chunks submitted and not yet yielded (Python 3.14's buffersize).
     */
    size_t buffersize;
    /* Frees each result (NULL: never), as lp_submit_options.result_free. */
    lp_free_fn result_free;
} lp_map_options;

#define LP_MAP_OPTIONS_INIT                            \
    {                                                  \
        LP_WAIT_FOREVER, LP_DEADLINE_NEVER, 1, 0, NULL \
    }

/*
 * Supplies map's inputs one at a time: returns true with *arg set, or false
 * when there are no more. Called on the thread that calls lp_executor_map and
 * lp_map_next, never concurrently.
 */
typedef bool (*lp_map_source_fn)(void *ctx, void **arg);

/*
 * Python's Executor.map over args[0..n-1]: submits the tasks at once
 * (respecting buffersize) and returns an iterator that yields results in
 * input order. Returns LP_OK, LP_EINVAL (bad handle, NULL fn/out, NULL args
 * with n > 0, chunksize 0, timeout below -1), LP_ESHUTDOWN, LP_EBROKEN or
 * LP_ENOMEM; on error nothing was submitted... except when submitting failed
 * part-way, in which case what was submitted is cancelled.
 */
LP_EXTERN lp_status lp_executor_map(lp_executor *ex, lp_task_fn fn,
                                    void *const *args, size_t n,
                                    const lp_map_options *opts, lp_map **out);

/* lp_executor_map over inputs pulled from `source` (may be endless with a
 * buffersize). */
LP_EXTERN lp_status lp_executor_map_source(lp_executor *ex, lp_task_fn fn,
                                           lp_map_source_fn source, void *ctx,
                                           const lp_map_options *opts,
                                           lp_map **out);

/*
 * The next result in input order: LP_OK with *result set (borrowed: valid
 * until the next lp_map_next or lp_map_destroy); LP_ETASK/LP_EBROKEN when
 * that item failed (lp_map_error tells why); LP_ETIMEDOUT when the limit
 * passed; LP_EOF at the end. After an error or timeout, every item not yet
 * yielded is cancelled and the iterator ends (later calls: LP_EOF), as a
 * Python generator that raised. *result is NULL unless LP_OK.
 */
LP_EXTERN lp_status lp_map_next(lp_map *m, void **result);

/* The failure behind the last LP_ETASK/LP_EBROKEN from lp_map_next, or NULL.
 * Borrowed until the next lp_map_next or lp_map_destroy. */
LP_EXTERN const lp_error *lp_map_error(const lp_map *m);

/* Cancels every item not yet yielded, then frees the iterator. NULL: no-op. */
LP_EXTERN void lp_map_destroy(lp_map *m);

/* ---- Thread pool --------------------------------------------------------- */

/* Picks Python's default: min(32, CPUs this process may run on + 4). */
#define LP_WORKERS_AUTO (-1)

typedef struct lp_thread_pool_options {
    /* > 0, or LP_WORKERS_AUTO. 0 and other negatives: LP_EINVAL. */
    int max_workers;
    /* Threads are named "<prefix>_<i>" (truncated to 15 bytes). NULL:
     * "lp-pool-<n>", n counting pools in this process. Copied. */
    const char *thread_name_prefix;
    /* Worker stack size in bytes (0: the system default; below
     * PTHREAD_STACK_MIN, create fails with LP_EINVAL). */
    size_t stack_size;
    /* Most tasks queued and not started (0: unbounded). */
    size_t queue_capacity;
    /* When the queue is full: true, submit waits for room; false, it
     * returns LP_EFULL at once. */
    bool block_when_full;
    /*
     * Runs once in each worker before its first task. A nonzero return
     * breaks the pool: queued futures fail with LP_EBROKEN, later submits
     * return LP_EBROKEN (Python's BrokenThreadPool).
     */
    int (*initializer)(void *arg);
    void *initializer_arg;
} lp_thread_pool_options;

#define LP_THREAD_POOL_OPTIONS_INIT                   \
    {                                                 \
        LP_WORKERS_AUTO, NULL, 0, 0, true, NULL, NULL \
    }

/*
 * Creates a thread pool (Python's ThreadPoolExecutor). Workers start lazily:
 * a submit starts one only when no worker is idle, up to max_workers; idle
 * workers are reused; workers exit only at shutdown. `opts` NULL means the
 * defaults; it is copied. Returns LP_OK, LP_EINVAL (NULL out, bad option) or
 * LP_ENOMEM; *out is NULL on error.
 */
LP_EXTERN lp_status lp_thread_pool_create(const lp_thread_pool_options *opts,
                                          lp_executor **out);

/*
 * Starts workers now, until `n` exist (at most max_workers), instead of
 * lazily at submit. Creating a thread costs tens of microseconds; a Lambda
 * function that fans out to many workers pays that once, in its init phase,
 * rather than in its first invocation. New threads start more threads (a
 * tree), and the call returns once all exist; their initializers may still
 * be running. Workers already there count; n = 0 does nothing. Returns
 * LP_OK, LP_EINVAL (NULL, destroyed, or not a thread pool), LP_ESHUTDOWN
 * (shut down, or created before a fork), LP_EBROKEN, or LP_ESYS with errno
 * EAGAIN when the system refused some threads (those created stay).
 */
LP_EXTERN lp_status lp_thread_pool_prestart(lp_executor *ex, size_t n);

/* ---- Scoped use: the counterpart of Python's `with Executor() as ex:` ---- */

/*
 * Runs body(ex, arg) with a fresh thread pool, then shuts it down waiting
 * for every task and frees it. Returns body's status, or the creation error
 * (body not called).
 */
LP_EXTERN lp_status lp_thread_pool_run(const lp_thread_pool_options *opts,
                                       lp_status (*body)(lp_executor *ex,
                                                         void *arg),
                                       void *arg);

/*
 * For compilers with __attribute__((cleanup)) (GCC, Clang): a variable
 * declared `LP_SCOPED_EXECUTOR lp_executor *ex = NULL;` is shut down
 * (waiting) and destroyed when it goes out of scope, however the block is
 * left.
 */
LP_EXTERN void lp_executor_destroy_scoped(lp_executor **ex);
#define LP_SCOPED_EXECUTOR __attribute__((cleanup(lp_executor_destroy_scoped)))

/* ---- Process pool -------------------------------------------------------- */

/*
 * A process pool (Python's ProcessPoolExecutor) for Linux, built to work
 * where Python's does not: inside AWS Lambda, which has no /dev/shm. The
 * only transport is AF_UNIX socketpairs; there is no shared memory, no
 * POSIX or SysV semaphore and no named file.
 *
 * It runs bytes tasks only (lp_executor_submit_bytes, and
 * lp_process_pool_map_bytes below); lp_executor_submit and lp_executor_map
 * return LP_EUNSUPPORTED. The input is copied at submit and sent to a worker
 * process, which calls fn(task, in, len); lp_task_reply() and lp_task_fail()
 * there are sent back, and the future gets an `lp_bytes *` it owns, or fails
 * with LP_ETASK and the task's code, errno and message. A task that returns
 * without replying gives an empty result.
 *
 * How workers start: lp_process_pool_create() forks one small fork server
 * from the calling thread. The server is single-threaded and makes only
 * async-signal-safe calls (socketpair, fork, sendmsg, waitpid, poll), so it
 * works even though the caller's other threads may hold locks at that
 * moment. The server forks every worker (and every replacement), and workers
 * are never forked from the multi-threaded parent. Limits that follow:
 *  - Workers see the parent's memory as it was at lp_process_pool_create, not
 *    at submit. `fn` and the initializer must exist in the program or in a
 *    library loaded before the pool was created (a function pointer is valid
 *    in the worker because it is forked from this image, without exec).
 *  - glibc resets its malloc and stdio locks in a forked child, but a lock
 *    that another thread of the parent held at creation (an application
 *    mutex, a library's internal lock) stays held in every worker. Tasks
 *    must not wait on such locks; create the pool before starting threads
 *    that hold locks across calls, or re-create the state in the initializer.
 *  - Workers keep only stdin, stdout and stderr of the parent's descriptors
 *    (the rest are closed, so no socket or pipe of the parent leaks into
 *    them). The pool's own descriptors stay above 2 even in a process that
 *    closed its standard streams. Signal handlers are inherited; the
 *    signal mask is the creating thread's. stdio buffers are inherited as
 *    they were at creation: call fflush(NULL) before creating the pool if
 *    that matters.
 *  - A worker ends with _exit() (atexit handlers do not run) unless a task
 *    calls exit() itself, which is reported as the worker dying.
 *
 * Failures: a worker that dies (killed by a signal, crashed, called exit()
 * or _exit()) fails the task it was running with LP_EBROKEN and the message
 * "terminated abruptly with exit code N" or "... by signal N" (code set to
 * N, or to the signal number). Death is seen through EOF on the worker's
 * socket plus the fork server's waitpid(), typically within a few
 * milliseconds. Then, with LP_WORKER_DEATH_BREAK (Python's
 * BrokenProcessPool), the pool breaks: every other worker is killed, every
 * running and queued future (including those sent ahead to the dead worker)
 * fails with LP_EBROKEN, and submits return LP_EBROKEN from before the
 * first of those futures fails (also from its done callbacks); with
 * LP_WORKER_DEATH_REPLACE a new worker takes the dead one's place, the tasks
 * the dead worker had been sent but not started are sent again (they stay
 * RUNNING), and the pool carries on. A task's input copy is kept until its
 * answer arrives, for that. Malformed bytes from a worker (a task
 * scribbled on its socket) count as that worker dying, with code LP_EPROTO.
 * If the fork server itself is killed, its workers die with it
 * (PR_SET_PDEATHSIG) and the pool breaks ("the fork server terminated").
 * Every child, workers and fork server, is reaped before shutdown(wait=true)
 * returns, so nothing runs on after a Lambda invocation's response.
 *
 * Tasks sent to a worker are RUNNING and cannot be cancelled; each worker is
 * sent at most `max_inflight` tasks ahead (Python keeps max_workers + 1 in
 * its call queue), and a busy worker only behind work expected to end
 * within about 10 ms (by the recent run times of those task functions), so
 * a task is not held up behind a long one while another worker is free;
 * the rest stay PENDING and cancellable.
 *
 * Done callbacks of the pool's futures run on its manager thread, holding
 * no lock. They may submit; as from a thread pool's own task, shutdown with
 * wait=true returns LP_EINVAL there and lp_executor_destroy does nothing.
 */

typedef enum lp_worker_death_policy {
    LP_WORKER_DEATH_BREAK = 0,  /* break the pool (Python's behaviour) */
    LP_WORKER_DEATH_REPLACE = 1 /* fail only its tasks; start a new worker */
} lp_worker_death_policy;

typedef struct lp_process_pool_options {
    /* > 0, or LP_WORKERS_AUTO, which for a process pool means the CPUs this
     * process may run on (Python's os.process_cpu_count()). 0 and other
     * negatives: LP_EINVAL. At most 1024. */
    int max_workers;
    /* A worker exits after this many tasks (a map chunk counts as one) and
     * a fresh one replaces it (0: never). */
    unsigned max_tasks_per_child;
    /*
     * Runs in each worker process before its first task. A nonzero return
     * breaks the pool (LP_EBROKEN for queued futures and later submits), as
     * Python's initializer failure does. arg is the parent's pointer, valid
     * in the worker because its memory is a copy.
     */
    int (*initializer)(void *arg);
    void *initializer_arg;
    lp_worker_death_policy on_worker_death;
    /* Largest input or reply in bytes (0: 1 GiB). Bigger inputs give
     * LP_ETOOBIG at submit, bigger replies LP_ETOOBIG from lp_task_reply.
     * The pool keeps up to 8 MiB of spare buffers for inputs of 64 KiB and
     * more, until it is destroyed. */
    size_t max_payload;
    /* Tasks sent ahead to each worker, 1..256 (0: 2). More pipelines small
     * tasks better; fewer keeps more of the queue cancellable. Tasks are
     * sent ahead only behind short work (see above). */
    unsigned max_inflight;
} lp_process_pool_options;

#define LP_PROCESS_POOL_OPTIONS_INIT                                \
    {                                                               \
        LP_WORKERS_AUTO, 0, NULL, NULL, LP_WORKER_DEATH_BREAK, 0, 0 \
    }

/*
 * Creates a process pool: forks the fork server, which starts every worker
 * at once (Python pre-forks too), and a manager thread in this process that
 * moves tasks and results. Returns without waiting for the workers to be
 * ready. `opts` NULL means the defaults; it is copied. Returns LP_OK,
 * LP_EINVAL (NULL out, bad option), LP_ENOMEM or LP_ESYS (a pipe,
 * socketpair, signalfd, fork or thread creation failed; errno set: EMFILE
 * when short of descriptors, as creation takes 2 per worker for up to 16
 * workers, plus 5, and the pool keeps 1 per worker, plus 3); *out is NULL
 * on error. Every descriptor the fork server needs is made here, so a
 * shortage is this error rather than a pool that breaks later. Past 16
 * workers the parent's end of each further worker's socket arrives from
 * the fork server after this returns: if this process is out of
 * descriptors then, the pool breaks (LP_EBROKEN, the error's code EMFILE)
 * rather than running on with fewer workers than asked.
 * Destroy with lp_executor_destroy(), which waits for queued work and reaps
 * every child.
 */
LP_EXTERN lp_status lp_process_pool_create(const lp_process_pool_options *opts,
                                           lp_executor **out);

/*
 * Python's ProcessPoolExecutor.map(fn, items, chunksize=k) for bytes tasks:
 * runs fn on each items[i], sending `chunksize` items per message so that
 * small items cost little. futures[i] (caller-owned array of n) receives
 * one reference to item i's own future, which completes as if submitted
 * alone; wait on them in order for Python's ordered results, or with
 * lp_wait/lp_as_completed. The items are copied; `items` is borrowed for
 * the call. A chunk is dispatched to one worker; its items that were
 * cancelled before then are not run. chunksize 0 picks
 * n / (4 * workers) rounded up, at least 1, as Python's
 * multiprocessing.Pool.map does.
 * Returns LP_OK; LP_EINVAL (bad handle, NULL fn, NULL items or futures with
 * n > 0, not a process pool); LP_ESHUTDOWN; LP_EBROKEN; LP_ETOOBIG (an item
 * or a chunk beyond max_payload); LP_ENOMEM. On error nothing was submitted
 * and every futures[i] is NULL.
 */
LP_EXTERN lp_status lp_process_pool_map_bytes(lp_executor *ex, lp_bytes_fn fn,
                                              const lp_bytes *items, size_t n,
                                              size_t chunksize,
                                              lp_future **futures);

/*
 * Python 3.14's terminate_workers() (sig = SIGTERM) and kill_workers()
 * (sig = SIGKILL): shuts the pool down cancelling every queued future, then
 * sends `sig` to every worker. Tasks that were running fail with LP_EBROKEN
 * ("terminated abruptly by signal N"); no worker is replaced; later submits
 * return LP_ESHUTDOWN. Returns at once; lp_executor_shutdown(ex, true, ...)
 * or lp_executor_destroy then wait until every child was reaped. Returns
 * LP_OK, or LP_EINVAL (not a live process pool, sig not SIGTERM or
 * SIGKILL). A worker whose task blocks SIGTERM keeps running until it ends.
 */
LP_EXTERN lp_status lp_process_pool_terminate(lp_executor *ex, int sig);

#ifdef __cplusplus
}
#endif

#endif

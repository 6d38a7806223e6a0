/*
 * The C concurrency modes. Each one runs the same workload_run_task() N
 * times and is timed from just before the first task starts to just after
 * the last one is joined or reaped, so creation and teardown of threads,
 * pools and processes count, as they would inside a Lambda handler.
 *
 *  sequential    a plain loop
 *  threads       pthread_create per task (small stacks so 10,000 fit), join
 *  thread-pool   lp_thread_pool_create, submit all, wait for each future
 *  processes     fork per task; the child runs the task and _exit()s with
 *                its outcome; the parent waitpid()s every child
 *  event-loop    lp_http_client (when this build has it): every request
 *                submitted as a future to one event-loop thread
 *  process-pool  lp_process_pool_create (when this build has it), one
 *                bytes task per request, one task in flight per worker
 *
 * Task failures are counted, never fatal; the first message is kept.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lambdapool/http.h"
#include "lambdapool/lambdapool.h"
#include "modes.h"

#define TASK_STACK_SIZE (256 * 1024)

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Shared by the tasks of one run. */
struct run_state {
    const struct workload *w;
    atomic_int failed;
    atomic_flag error_taken;
    char first_error[256];
};

static void record_failure(struct run_state *rs, const char *msg)
{
    atomic_fetch_add(&rs->failed, 1);
    if (!atomic_flag_test_and_set(&rs->error_taken))
        snprintf(rs->first_error, sizeof(rs->first_error), "%s", msg);
}

static void run_one(struct run_state *rs)
{
    char err[256];

    if (workload_run_task(rs->w, err, sizeof(err)) != 0)
        record_failure(rs, err);
}

static int run_sequential(struct run_state *rs, int tasks)
{
    for (int i = 0; i < tasks; i++)
        run_one(rs);
    return 0;
}

static void *thread_main(void *arg)
{
    run_one(arg);
    return NULL;
}

static int run_threads(struct run_state *rs, int tasks)
{
    pthread_t *tids = calloc((size_t)tasks, sizeof(*tids));
    bool *started = calloc((size_t)tasks, sizeof(*started));
    pthread_attr_t attr;

    if (tids == NULL || started == NULL) {
        free(tids);
        free(started);
        record_failure(rs, "out of memory");
        return -1;
    }
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, TASK_STACK_SIZE);
    for (int i = 0; i < tasks; i++) {
        int err = pthread_create(&tids[i], &attr, thread_main, rs);

        started[i] = err == 0;
        if (err != 0) {
            char msg[128];

            snprintf(msg, sizeof(msg), "pthread_create: %s", strerror(err));
            record_failure(rs, msg);
        }
    }
    for (int i = 0; i < tasks; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
    }
    pthread_attr_destroy(&attr);
    free(tids);
    free(started);
    return 0;
}

/* Waits for every future of `fs`, counting failures; releases them. */
static void collect_futures(struct run_state *rs, lp_future **fs, int n)
{
    for (int i = 0; i < n; i++) {
        void *res;
        lp_status st = lp_future_result(fs[i], LP_WAIT_FOREVER, &res);

        if (st != LP_OK) {
            const lp_error *e = lp_future_error(fs[i]);

            record_failure(rs, e != NULL ? e->message : lp_status_str(st));
        }
        lp_future_release(fs[i]);
    }
}

/* Submits one of a run's tasks: all the pool modes differ in. */
typedef lp_status (*submit_fn)(lp_executor *ex, struct run_state *rs,
                               lp_future **out);

/*
 * Runs `tasks` tasks on `ex`: submits them all, then waits for each,
 * counting failures (one that could not be submitted, and every one after
 * it, counts as failed). Destroys `ex` and frees `fs`.
 */
/* Runs `tasks` tasks on `ex`, which lp_*_pool_create made with status
 * `created`; frees the pool. -1 when there was none to run them on. */
static int run_on_pool(struct run_state *rs, lp_status created, lp_executor *ex,
                       int tasks, submit_fn submit)
{
    lp_future **fs = NULL;
    lp_status st = created;
    int n = 0;

    if (st == LP_OK && (fs = calloc((size_t)tasks, sizeof(*fs))) == NULL)
        st = LP_ENOMEM;
    if (st != LP_OK) {
        record_failure(rs, lp_status_str(st));
        if (ex != NULL)
            lp_executor_destroy(ex);
        return -1;
    }
    for (; n < tasks; n++) {
        st = submit(ex, rs, &fs[n]);
        if (st != LP_OK) {
            record_failure(rs, lp_status_str(st));
            break;
        }
    }
    collect_futures(rs, fs, n);
    atomic_fetch_add(&rs->failed, tasks - n - (st != LP_OK ? 1 : 0));
    lp_executor_destroy(ex);
    free(fs);
    return 0;
}

/* As collect_futures, and a response must be a 200. */
static void collect_responses(struct run_state *rs, lp_future **fs, int n)
{
    for (int i = 0; i < n; i++) {
        void *res;
        lp_status st = lp_future_result(fs[i], LP_WAIT_FOREVER, &res);

        if (st != LP_OK) {
            const lp_error *e = lp_future_error(fs[i]);

            record_failure(rs, e != NULL ? e->message : lp_status_str(st));
        } else if (((lp_http_response *)res)->status != 200) {
            char msg[64];

            snprintf(msg, sizeof(msg), "HTTP %d",
                     ((lp_http_response *)res)->status);
            record_failure(rs, msg);
        }
        lp_future_release(fs[i]);
    }
}

static void *pool_task(void *arg, lp_task *task)
{
    struct run_state *rs = arg;
    char err[256];

    if (workload_run_task(rs->w, err, sizeof(err)) != 0)
        lp_task_fail(task, 1, 0, "%s", err);
    return NULL;
}

static lp_status submit_thread_task(lp_executor *ex, struct run_state *rs,
                                    lp_future **out)
{
    return lp_executor_submit(ex, pool_task, rs, out);
}

static int run_thread_pool(struct run_state *rs, int tasks, int workers)
{
    lp_thread_pool_options opts = LP_THREAD_POOL_OPTIONS_INIT;
    lp_executor *ex = NULL;
    lp_status st;

    opts.max_workers = workers > 0 ? workers : tasks;
    opts.stack_size = TASK_STACK_SIZE;
    st = lp_thread_pool_create(&opts, &ex);
    return run_on_pool(rs, st, ex, tasks, submit_thread_task);
}

/* Read by pool workers: they are forked from this image after it is set. */
static const struct workload *pool_workload;

static void process_pool_task(lp_task *task, const void *in, size_t len)
{
    char err[256];

    (void)in;
    (void)len;
    if (workload_run_task(pool_workload, err, sizeof(err)) != 0)
        lp_task_fail(task, 1, 0, "%s", err);
}

static lp_status submit_process_task(lp_executor *ex, struct run_state *rs,
                                     lp_future **out)
{
    (void)rs; /* workers read pool_workload */
    return lp_executor_submit_bytes(ex, process_pool_task, NULL, 0, out);
}

static int run_process_pool(struct run_state *rs, int tasks, int workers)
{
    lp_process_pool_options opts = LP_PROCESS_POOL_OPTIONS_INIT;
    lp_executor *ex = NULL;
    lp_status st;

    pool_workload = rs->w;
    opts.max_workers = workers > 0 ? workers : tasks;
    if (opts.max_workers > 1024)
        opts.max_workers = 1024;
    /* Blocking tasks: one in flight per worker, or a worker that got two
     * runs them one after the other while others idle. */
    opts.max_inflight = 1;
    fflush(NULL);
    st = lp_process_pool_create(&opts, &ex);
    return run_on_pool(rs, st, ex, tasks, submit_process_task);
}

/*
 * The event loop runs the requests itself: tasks here are HTTP GETs only,
 * each on a fresh connection the server closes, as the other modes' are.
 */
static int run_event_loop(struct run_state *rs, int tasks)
{
    static const lp_http_header close_hdr = { "Connection", "close" };
    lp_http_client_options opts = LP_HTTP_CLIENT_OPTIONS_INIT;
    lp_http_request req = LP_HTTP_REQUEST_INIT;
    lp_future **fs = calloc((size_t)tasks, sizeof(*fs));
    lp_http_client *c = NULL;
    lp_status st;
    int n = 0;

    opts.max_concurrent = (unsigned)tasks;
    st = fs == NULL ? LP_ENOMEM : lp_http_client_create(&opts, &c);
    if (st != LP_OK) {
        record_failure(rs, lp_status_str(st));
        free(fs);
        return -1;
    }
    req.url = rs->w->url;
    req.headers = &close_hdr;
    req.n_headers = 1;
    req.flags = LP_HTTP_FRESH_CONNECT;
    for (; n < tasks && st == LP_OK; n++)
        st = lp_http_submit(c, &req, &fs[n]);
    if (st != LP_OK) {
        record_failure(rs, lp_status_str(st));
        n--;
    }
    collect_responses(rs, fs, n);
    atomic_fetch_add(&rs->failed, tasks - n - (st != LP_OK ? 1 : 0));
    lp_http_client_destroy(c);
    free(fs);
    return 0;
}

/* The child side of process-per-task: run, report through the exit code. */
static _Noreturn void process_child(struct run_state *rs)
{
    char err[256];

    if (workload_run_task(rs->w, err, sizeof(err)) != 0) {
        fprintf(stderr, "lp-tune: task failed: %s\n", err);
        _exit(1);
    }
    _exit(0);
}

static void reap_children(struct run_state *rs, const pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        int status;

        if (pids[i] <= 0)
            continue;
        while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            record_failure(rs, WIFSIGNALED(status)
                                   ? "child process killed by a signal"
                                   : "child process failed");
    }
}

static int run_processes(struct run_state *rs, int tasks)
{
    pid_t *pids = calloc((size_t)tasks, sizeof(*pids));

    if (pids == NULL) {
        record_failure(rs, "out of memory");
        return -1;
    }
    fflush(NULL);
    for (int i = 0; i < tasks; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            process_child(rs);
        if (pids[i] < 0) {
            char msg[128];

            snprintf(msg, sizeof(msg), "fork: %s", strerror(errno));
            record_failure(rs, msg);
        }
    }
    reap_children(rs, pids, tasks);
    free(pids);
    return 0;
}

int modes_run(enum tune_mode m, const struct workload *w, int tasks,
              int workers, struct mode_result *out)
{
    struct run_state rs = { .w = w, .error_taken = ATOMIC_FLAG_INIT };
    double t0;
    int rc = -1;

    atomic_init(&rs.failed, 0);
    memset(out, 0, sizeof(*out));
    t0 = now_ms();
    switch (m) {
    case TUNE_MODE_SEQUENTIAL:
        rc = run_sequential(&rs, tasks);
        break;
    case TUNE_MODE_THREADS:
        rc = run_threads(&rs, tasks);
        break;
    case TUNE_MODE_THREAD_POOL:
        rc = run_thread_pool(&rs, tasks, workers);
        break;
    case TUNE_MODE_PROCESSES:
        rc = run_processes(&rs, tasks);
        break;
    case TUNE_MODE_PROCESS_POOL:
        rc = run_process_pool(&rs, tasks, workers);
        break;
    case TUNE_MODE_EVENT_LOOP:
        if (w->kind == TUNE_WL_URL || w->kind == TUNE_WL_IO_DELAY)
            rc = run_event_loop(&rs, tasks);
        else
            record_failure(&rs, "event-loop runs HTTP requests only");
        break;
    default:
        record_failure(&rs, "not a C mode");
        break;
    }
    out->elapsed_ms = now_ms() - t0;
    out->failed = atomic_load(&rs.failed);
    if (out->failed > tasks)
        out->failed = tasks;
    out->ok = tasks - out->failed;
    snprintf(out->first_error, sizeof(out->first_error), "%s", rs.first_error);
    (void)workers;
    return rc;
}

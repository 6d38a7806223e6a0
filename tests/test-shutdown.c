/*
 * Conformance items 22-27 (conformance.md, "Executor common"): shutdown's
 * idempotence and its wait / cancel_futures modes, the scoped forms that
 * stand for Python's context manager, process exit, and the
 * submit-cancel-shutdown hang of gh-94440.
 *
 * Item 25's "an executor dropped without shutdown still lets its workers
 * finish": C has no garbage collector to drop an executor; the counterpart is
 * lp_executor_destroy without a prior shutdown, tested below. Item 26's
 * interpreter-exit hook has no C analogue by design: executor.h documents
 * that nothing is registered with atexit(); test-fork.c checks both sides of
 * that policy in a child process.
 */
#include "lp-test-util.h"

static void release_all(lp_future **fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lp_future_release(fs[i]);
}

static void bytes_noop(lp_task *task, const void *in, size_t len)
{
    (void)task;
    (void)in;
    (void)len;
}

/* Item 22: idempotent shutdown; submit afterwards fails cleanly. */
TEST(item22_shutdown_idempotent_then_submit_fails)
{
    lp_executor *ex = pool_new(2);
    lp_future *f = submit_ok(ex, task_noop, NULL), *g;
    lp_submit_options o = LP_SUBMIT_OPTIONS_INIT;
    int arg;
    void *args[1] = { NULL };
    lp_map *m;

    frees_reset();
    ASSERT_OK(lp_executor_shutdown(ex, true, false));
    ASSERT_OK(lp_executor_shutdown(ex, true, false));
    ASSERT_OK(lp_executor_shutdown(ex, false, true));
    ASSERT_OK(lp_executor_shutdown(ex, true, true));

    g = f;
    ASSERT_STATUS(LP_ESHUTDOWN, lp_executor_submit(ex, task_noop, NULL, &g));
    ASSERT_NULL(g);
    o.arg_free = count_free;
    g = f;
    ASSERT_STATUS(LP_ESHUTDOWN,
                  lp_executor_submit_with(ex, task_noop, &arg, &o, &g));
    ASSERT_NULL(g);
    ASSERT_EQ(0, frees()); /* arg is still the caller's */
    g = f;
    ASSERT_STATUS(LP_ESHUTDOWN,
                  lp_executor_submit_bytes(ex, bytes_noop, "x", 1, &g));
    ASSERT_NULL(g);
    m = (lp_map *)args;
    ASSERT_STATUS(LP_ESHUTDOWN,
                  lp_executor_map(ex, task_noop, args, 1, NULL, &m));
    ASSERT_NULL(m);

    ASSERT_EQ(LP_FUTURE_FINISHED, lp_future_state_get(f));
    lp_executor_destroy(ex);
    lp_future_release(f);
}

/* Item 23: shutdown(wait) returns after all queued and running work
 * finished and every worker exited (test_hang_issue12364, scaled down). */
TEST(item23_shutdown_wait_completes_everything)
{
    enum { N = 50 };
    lp_executor *ex = pool_new(5);
    lp_future *fs[N];
    lp_executor_stats s;

    for (int i = 0; i < N; i++)
        fs[i] = submit_ok(ex, task_sleep, (void *)(intptr_t)10);
    ASSERT_OK(lp_executor_shutdown(ex, true, false));
    for (int i = 0; i < N; i++)
        ASSERT_EQ(LP_FUTURE_FINISHED, lp_future_state_get(fs[i]));
    s = stats_of(ex);
    ASSERT_EQ(0, s.workers);
    ASSERT_EQ(0, s.queued);
    ASSERT_EQ(N, s.completed);
    lp_executor_destroy(ex);
    release_all(fs, N);
}

/* Item 23: shutdown(wait=false) returns at once; queued work still runs. */
TEST(item23_shutdown_no_wait)
{
    enum { N = 6 };
    lp_executor *ex = pool_new(2);
    struct gate g;
    struct watchdog w;
    lp_future *fs[N];
    void *out;

    gate_init(&g);
    watchdog_start(&w, &g, 10000);
    for (int i = 0; i < N; i++)
        fs[i] = submit_ok(ex, task_gate, &g);
    ASSERT_OK(lp_executor_shutdown(ex, false, false));
    /* Returned while every task is still blocked. */
    ASSERT_FALSE(gate_is_open(&g));
    for (int i = 0; i < N; i++)
        ASSERT_FALSE(lp_future_done(fs[i]));
    gate_open(&g);
    for (int i = 0; i < N; i++) {
        ASSERT_OK(lp_future_result(fs[i], LP_WAIT_FOREVER, &out));
        ASSERT_PTR_EQ(&g, out);
    }
    ASSERT_FALSE(watchdog_stop(&w));
    lp_executor_destroy(ex);
    release_all(fs, N);
    gate_destroy(&g);
}

/* Item 24: cancel_futures cancels the queued, not the running. */
TEST(item24_cancel_futures)
{
    enum { N = 50 };
    lp_executor *ex = pool_new(2);
    struct gate g;
    struct watchdog w;
    lp_future *fs[N];
    lp_submit_options o = LP_SUBMIT_OPTIONS_INIT;
    int cancelled = 0, finished = 0;
    void *out;

    frees_reset();
    gate_init(&g);
    watchdog_start(&w, &g, 10000);
    o.arg_free = count_free;
    for (int i = 0; i < N; i++)
        ASSERT_OK(lp_executor_submit_with(ex, task_gate, &g, &o, &fs[i]));
    ASSERT_TRUE(POLL_UNTIL(atomic_load(&g.waiting) == 2, 10000));
    ASSERT_OK(lp_executor_shutdown(ex, false, true));
    /* Item 7: cancelled and notified at once, so waiting on them ends. */
    for (int i = 0; i < N; i++) {
        if (lp_future_cancelled(fs[i]))
            ASSERT_EQ(LP_FUTURE_CANCELLED_NOTIFIED, lp_future_state_get(fs[i]));
    }
    {
        size_t n_done = 0;

        ASSERT_STATUS(LP_ETIMEDOUT,
                      lp_wait(fs, N, LP_ALL_COMPLETED, 0, NULL, &n_done));
        ASSERT_EQ(N - 2, n_done);
    }
    gate_open(&g);
    ASSERT_OK(lp_executor_shutdown(ex, true, false));
    ASSERT_FALSE(watchdog_stop(&w));
    for (int i = 0; i < N; i++) {
        lp_status st = lp_future_result(fs[i], 0, &out);

        if (st == LP_ECANCELLED) {
            cancelled++;
        } else {
            ASSERT_OK(st);
            finished++;
        }
    }
    ASSERT_EQ(2, finished);
    ASSERT_EQ(N - 2, cancelled);
    ASSERT_EQ(2, atomic_load(&g.passed));
    /* Every argument released exactly once, run or cancelled. */
    ASSERT_EQ(N, frees());
    lp_executor_destroy(ex);
    release_all(fs, N);
    gate_destroy(&g);
}

/* Item 25: the scoped form waits for every task, then frees the pool. */
struct scoped_ctx {
    atomic_int count;
    int submitted;
};

static lp_status scoped_body(lp_executor *ex, void *arg)
{
    struct scoped_ctx *c = arg;

    for (int i = 0; i < 10; i++) {
        lp_future *f = NULL;
        lp_status st = lp_executor_submit(ex, task_count, &c->count, &f);

        if (st != LP_OK)
            return st;
        c->submitted++;
        lp_future_release(f);
    }
    lp_test_sleep_ms(1);
    return LP_ETASK; /* any status is passed through */
}

TEST(item25_scoped_run_waits)
{
    struct scoped_ctx c;
    lp_thread_pool_options o = LP_THREAD_POOL_OPTIONS_INIT;

    atomic_init(&c.count, 0);
    c.submitted = 0;
    o.max_workers = 3;
    ASSERT_STATUS(LP_ETASK, lp_thread_pool_run(&o, scoped_body, &c));
    ASSERT_EQ(10, c.submitted);
    ASSERT_EQ(10, atomic_load(&c.count));

    /* A creation error is returned and the body never runs. */
    o.max_workers = 0;
    c.submitted = 0;
    ASSERT_STATUS(LP_EINVAL, lp_thread_pool_run(&o, scoped_body, &c));
    ASSERT_EQ(0, c.submitted);
    ASSERT_STATUS(LP_EINVAL, lp_thread_pool_run(NULL, NULL, &c));
}

static void *task_sleep_count(void *arg, lp_task *task)
{
    (void)task;
    lp_test_sleep_ms(5);
    atomic_fetch_add((atomic_int *)arg, 1);
    return NULL;
}

static int scoped_block(atomic_int *count, bool leave_early)
{
    LP_SCOPED_EXECUTOR lp_executor *ex = NULL;
    lp_thread_pool_options o = LP_THREAD_POOL_OPTIONS_INIT;

    o.max_workers = 2;
    ASSERT_OK(lp_thread_pool_create(&o, &ex));
    for (int i = 0; i < 8; i++) {
        lp_future *f = submit_ok(ex, task_sleep_count, count);

        lp_future_release(f);
        if (leave_early && i == 3)
            return 4;
    }
    return 8;
}

TEST(item25_scoped_executor_variable)
{
    atomic_int count;
    int n;

    atomic_init(&count, 0);
    n = scoped_block(&count, false);
    ASSERT_EQ(n, atomic_load(&count));
    atomic_store(&count, 0);
    n = scoped_block(&count, true);
    ASSERT_EQ(n, atomic_load(&count));
    {
        /* A NULL scoped variable is fine. */
        LP_SCOPED_EXECUTOR lp_executor *none = NULL;

        (void)none;
    }
}

/* Item 25: destroy without shutdown still finishes the queued work. */
TEST(item25_destroy_without_shutdown_finishes_work)
{
    atomic_int count;
    lp_executor *ex = pool_new(2);

    atomic_init(&count, 0);
    for (int i = 0; i < 12; i++)
        lp_future_release(submit_ok(ex, task_sleep_count, &count));
    lp_executor_destroy(ex);
    ASSERT_EQ(12, atomic_load(&count));
}

/* Item 27: submit, cancel at once, shutdown(wait) must not hang. */
TEST(item27_submit_cancel_shutdown_no_hang)
{
    int cancelled = 0;

    for (int round = 0; round < 50; round++) {
        lp_executor *ex = pool_new(1 + round % 3);
        lp_future *f = submit_ok(ex, task_noop, NULL);
        void *out;

        if (lp_future_cancel(f))
            cancelled++;
        ASSERT_OK(lp_executor_shutdown(ex, true, false));
        ASSERT_TRUE(lp_future_done(f));
        if (lp_future_cancelled(f))
            ASSERT_STATUS(LP_ECANCELLED, lp_future_result(f, 0, &out));
        else
            ASSERT_OK(lp_future_result(f, 0, &out));
        lp_executor_destroy(ex);
        lp_future_release(f);
    }
    (void)cancelled;
}

/* Shutdown from inside a task: wait=true would wait for itself. */
static void *task_shutdown_self(void *arg, lp_task *task)
{
    lp_executor *ex = arg;

    (void)task;
    if (lp_executor_shutdown(ex, true, false) != LP_EINVAL)
        return NULL;
    if (lp_executor_shutdown(ex, false, false) != LP_OK)
        return NULL;
    return arg;
}

TEST(shutdown_wait_from_own_task_is_einval)
{
    lp_executor *ex = pool_new(1);
    lp_future *f = submit_ok(ex, task_shutdown_self, ex);
    void *out = NULL;

    ASSERT_OK(lp_future_result(f, LP_WAIT_FOREVER, &out));
    ASSERT_PTR_EQ(ex, out);
    {
        lp_future *g = f;

        ASSERT_STATUS(LP_ESHUTDOWN,
                      lp_executor_submit(ex, task_noop, NULL, &g));
        ASSERT_NULL(g);
    }
    lp_executor_destroy(ex);
    lp_future_release(f);
}

/* Shutdown racing with submit: every submit either succeeds (and its task
 * completes) or gets LP_ESHUTDOWN. */
struct submitter {
    lp_executor *ex;
    atomic_int *ok, *refused, *ran;
};

static void *submit_until_refused(void *arg)
{
    struct submitter *s = arg;

    int64_t end = lp_test_now_ms() + 10000;

    while (lp_test_now_ms() < end) {
        lp_future *f = NULL;
        lp_status st = lp_executor_submit(s->ex, task_count, s->ran, &f);

        if (st == LP_ESHUTDOWN) {
            ASSERT_NULL(f);
            atomic_fetch_add(s->refused, 1);
            break;
        }
        ASSERT_OK(st);
        atomic_fetch_add(s->ok, 1);
        lp_future_release(f);
    }
    return NULL;
}

TEST(shutdown_races_with_submit)
{
    lp_executor *ex = pool_new(2);
    atomic_int ok, refused, ran;
    struct submitter s = { ex, &ok, &refused, &ran };
    pthread_t t[2];

    atomic_init(&ok, 0);
    atomic_init(&refused, 0);
    atomic_init(&ran, 0);
    for (int i = 0; i < 2; i++)
        ASSERT_EQ(0, pthread_create(&t[i], NULL, submit_until_refused, &s));
    lp_test_sleep_ms(20);
    ASSERT_OK(lp_executor_shutdown(ex, true, false));
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ASSERT_EQ(2, atomic_load(&refused));
    ASSERT_EQ(atomic_load(&ok), atomic_load(&ran));
    lp_executor_destroy(ex);
}

LP_TEST_MAIN()

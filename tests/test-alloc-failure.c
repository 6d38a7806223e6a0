/*
 * Allocation-failure sweep: for each public operation, make the (n+1)th
 * allocation from now fail (lp__alloc_fail_after) for n = 0, 1, 2, ... until
 * the operation succeeds. Every failing step must return LP_ENOMEM with its
 * out-parameters NULL and no state changed, and nothing may leak (ASan's
 * leak checker runs at exit in the address tree). The hook is process-wide,
 * so it is armed only around the call under test.
 */
#include "lp-test-util.h"

#include "alloc.h"

#define SWEEP_MAX 1000

/* Runs `step` with the hook armed at n = 0, 1, ... until it returns LP_OK;
 * every other status must be LP_ENOMEM caused by the hook. */
#define SWEEP(n, st, step, on_enomem)           \
    do {                                        \
        for ((n) = 0; (n) < SWEEP_MAX; (n)++) { \
            long failures_;                     \
            lp__alloc_fail_after(n);            \
            (st) = (step);                      \
            failures_ = lp__alloc_failures();   \
            lp__alloc_fail_after(-1);           \
            if ((st) == LP_OK)                  \
                break;                          \
            ASSERT_STATUS(LP_ENOMEM, st);       \
            ASSERT_GE(failures_, 1);            \
            on_enomem;                          \
        }                                       \
        ASSERT_TRUE((n) < SWEEP_MAX);           \
    } while (0)

TEST(alloc_future_create)
{
    lp_future *f = NULL;
    lp_status st;
    long n;

    SWEEP(n, st, lp_future_create(&f), ASSERT_NULL(f));
    ASSERT_EQ(LP_FUTURE_PENDING, lp_future_state_get(f));
    lp_future_release(f);
}

TEST(alloc_pool_create)
{
    lp_thread_pool_options o = LP_THREAD_POOL_OPTIONS_INIT;
    lp_executor *ex = NULL;
    lp_status st;
    long n;

    o.max_workers = 3;
    o.thread_name_prefix = "alloc";
    o.queue_capacity = 8;
    SWEEP(n, st, lp_thread_pool_create(&o, &ex), ASSERT_NULL(ex));
    printf("# pool create succeeded after %ld failures\n", n);
    ASSERT_EQ(3, stats_of(ex).max_workers);
    lp_executor_destroy(ex);
}

TEST(alloc_submit_on_fresh_pool)
{
    lp_submit_options o = LP_SUBMIT_OPTIONS_INIT;
    int value = 5;
    lp_status st;
    long n;

    o.arg_free = count_free;
    for (n = 0; n < SWEEP_MAX; n++) {
        lp_executor *ex = pool_new(2);
        lp_future *f = (lp_future *)&value;
        void *out = NULL;

        frees_reset();
        lp__alloc_fail_after(n);
        st = lp_executor_submit_with(ex, task_echo, &value, &o, &f);
        lp__alloc_fail_after(-1);
        if (st == LP_OK) {
            ASSERT_OK(lp_future_result(f, 10000, &out));
            ASSERT_PTR_EQ(&value, out);
            lp_executor_destroy(ex);
            ASSERT_EQ(1, frees());
            lp_future_release(f);
            break;
        }
        ASSERT_STATUS(LP_ENOMEM, st);
        ASSERT_NULL(f);
        /* The task never runs and arg is still the caller's. */
        lp_executor_destroy(ex);
        ASSERT_EQ(0, frees());
    }
    ASSERT_TRUE(n < SWEEP_MAX);
}

static void bytes_echo(lp_task *task, const void *in, size_t len)
{
    lp_status st = lp_task_reply(task, in, len);

    if (st != LP_OK)
        lp_task_fail(task, 1, 0, "reply: %s", lp_status_str(st));
}

TEST(alloc_submit_bytes)
{
    lp_executor *ex = pool_new(1);
    struct gate g;
    lp_future *blocker, *f = NULL;
    lp_status st;
    long n;
    void *out;

    /* Start the worker first, so the sweep covers submit itself, and keep
     * it blocked so that its reply cannot take the failing allocation. */
    gate_init(&g);
    blocker = submit_ok(ex, task_gate, &g);
    ASSERT_TRUE(POLL_UNTIL(lp_future_running(blocker), 10000));
    SWEEP(n, st, lp_executor_submit_bytes(ex, bytes_echo, "payload", 7, &f),
          ASSERT_NULL(f));
    gate_open(&g);
    ASSERT_OK(lp_future_result(f, 10000, &out));
    ASSERT_STR_EQ("payload", ((lp_bytes *)out)->data);
    lp_executor_destroy(ex);
    lp_future_release(f);
    lp_future_release(blocker);
    gate_destroy(&g);
}

static void count_calls(lp_future *f, void *arg)
{
    (void)f;
    atomic_fetch_add((atomic_int *)arg, 1);
}

TEST(alloc_add_done_callback)
{
    atomic_int calls;
    lp_future *f = future_pending();
    lp_status st;
    long n;

    atomic_init(&calls, 0);
    SWEEP(n, st, lp_future_add_done_callback(f, count_calls, &calls), );
    ASSERT_OK(lp_future_set_result(f, NULL, NULL));
    /* Only the registration that succeeded ran. */
    ASSERT_EQ(1, atomic_load(&calls));
    lp_future_release(f);
}

TEST(alloc_set_error)
{
    long n;

    for (n = 0; n < SWEEP_MAX; n++) {
        lp_future *f = future_pending();
        const lp_error *err;
        lp_status st;

        lp__alloc_fail_after(n);
        st = lp_future_set_error(f, 4, 0, "message %d", 4);
        lp__alloc_fail_after(-1);
        /* Failed either way; on LP_ENOMEM with a fixed message. */
        ASSERT_EQ(LP_FUTURE_FINISHED, lp_future_state_get(f));
        err = lp_future_error(f);
        ASSERT_TRUE(err != NULL);
        ASSERT_TRUE(err->message != NULL);
        ASSERT_STATUS(LP_ETASK, err->status);
        lp_future_release(f);
        if (st == LP_OK) {
            break;
        }
        ASSERT_STATUS(LP_ENOMEM, st);
    }
    ASSERT_TRUE(n < SWEEP_MAX);
}

TEST(alloc_wait_blocking)
{
    lp_future *fs[3] = { future_pending(), future_pending(), future_pending() };
    bool done[3];
    size_t n_done;
    long n;

    for (n = 0; n < SWEEP_MAX; n++) {
        lp_status st;
        long failures;

        lp__alloc_fail_after(n);
        st = lp_wait(fs, 3, LP_FIRST_COMPLETED, 2, done, &n_done);
        failures = lp__alloc_failures();
        lp__alloc_fail_after(-1);
        if (st == LP_ETIMEDOUT) {
            ASSERT_EQ(0, n_done);
            break;
        }
        ASSERT_STATUS(LP_ENOMEM, st);
        ASSERT_GE(failures, 1);
    }
    ASSERT_TRUE(n < SWEEP_MAX);
    /* Nothing left registered on the futures: completing them is safe. */
    for (int i = 0; i < 3; i++) {
        ASSERT_OK(lp_future_set_result(fs[i], NULL, NULL));
        lp_future_release(fs[i]);
    }
}

TEST(alloc_as_completed)
{
    lp_future *fs[3] = { future_pending(), future_done(NULL),
                         future_pending() };
    lp_as_completed *it = NULL;
    lp_future *f;
    lp_status st;
    long n;

    SWEEP(n, st, lp_as_completed_create(fs, 3, 5, &it), ASSERT_NULL(it));
    ASSERT_OK(lp_as_completed_next(it, &f));
    ASSERT_PTR_EQ(fs[1], f);
    /* A blocking next under allocation failure: a clean status. */
    lp__alloc_fail_after(0);
    st = lp_as_completed_next(it, &f);
    lp__alloc_fail_after(-1);
    ASSERT_TRUE(st == LP_ETIMEDOUT || st == LP_ENOMEM);
    lp_as_completed_destroy(it);
    for (int i = 0; i < 3; i++) {
        lp_future_set_result(fs[i], NULL, NULL);
        lp_future_release(fs[i]);
    }
}

TEST(alloc_map)
{
    lp_executor *ex = pool_new(1);
    struct gate g;
    lp_future *blocker;
    void *args[10];
    lp_map_options o = LP_MAP_OPTIONS_INIT;
    lp_map *m = NULL;
    lp_status st;
    long n;
    void *r;

    /* The hook is process-wide: keep the only worker blocked during the
     * sweep, so that chunks running concurrently cannot take the failing
     * allocation that the sweep meant for lp_executor_map. */
    gate_init(&g);
    blocker = submit_ok(ex, task_gate, &g);
    ASSERT_TRUE(POLL_UNTIL(lp_future_running(blocker), 10000));
    for (int i = 0; i < 10; i++)
        args[i] = (void *)(intptr_t)(i + 1);
    o.chunksize = 3;
    SWEEP(n, st, lp_executor_map(ex, task_echo, args, 10, &o, &m),
          ASSERT_NULL(m));
    printf("# map succeeded after %ld failures\n", n);
    gate_open(&g);
    for (intptr_t i = 0; i < 10; i++) {
        ASSERT_OK(lp_map_next(m, &r));
        ASSERT_EQ(i + 1, (intptr_t)r);
    }
    ASSERT_STATUS(LP_EOF, lp_map_next(m, &r));
    lp_map_destroy(m);
    lp_executor_destroy(ex);
    lp_future_release(blocker);
    gate_destroy(&g);
}

static lp_status body_count(lp_executor *ex, void *arg)
{
    lp_future *f = NULL;
    lp_status st = lp_executor_submit(ex, task_count, arg, &f);

    lp_future_release(f);
    return st;
}

/* A worker prestart could not create is reported, not waited for; the
 * pool stays usable and a later prestart creates it. */
TEST(alloc_thread_pool_prestart)
{
    lp_executor *ex = pool_new(2);
    lp_status st;

    lp__alloc_fail_after(0); /* the worker's slot */
    errno = 0;
    st = lp_thread_pool_prestart(ex, 1);
    lp__alloc_fail_after(-1);
    ASSERT_STATUS(LP_ESYS, st);
    ASSERT_EQ(EAGAIN, errno);
    ASSERT_EQ(0, stats_of(ex).workers);
    ASSERT_OK(lp_thread_pool_prestart(ex, 2));
    ASSERT_EQ(2, stats_of(ex).workers);
    lp_executor_destroy(ex);
}

TEST(alloc_thread_pool_run)
{
    atomic_int count;
    lp_thread_pool_options o = LP_THREAD_POOL_OPTIONS_INIT;
    lp_status st;
    long n;

    atomic_init(&count, 0);
    o.max_workers = 1;
    SWEEP(n, st, lp_thread_pool_run(&o, body_count, &count), );
    ASSERT_EQ(1, atomic_load(&count));
}

/* A task failing while every allocation fails still leaves a failure with a
 * message (never NULL) on its future. */
static void *task_fail_under_pressure(void *arg, lp_task *task)
{
    gate_wait(arg);
    lp__alloc_fail_after(0);
    lp_task_fail(task, 8, ENOMEM, "this message cannot be copied %d", 8);
    lp__alloc_fail_after(-1);
    return NULL;
}

TEST(alloc_task_fail_message)
{
    lp_executor *ex = pool_new(1);
    struct gate g;
    lp_future *f;
    void *out;
    const lp_error *err;

    gate_init(&g);
    f = submit_ok(ex, task_fail_under_pressure, &g);
    gate_open(&g);
    ASSERT_STATUS(LP_ETASK, lp_future_result(f, 10000, &out));
    err = lp_future_error(f);
    ASSERT_TRUE(err != NULL);
    ASSERT_TRUE(err->message != NULL);
    ASSERT_EQ(8, err->code);
    lp_executor_destroy(ex);
    lp_future_release(f);
    gate_destroy(&g);
}

/*
 * Blocks of 1 MiB or more sit on 2 MiB boundaries (so the kernel can back
 * them with huge pages), are usable to their full size, resizable and freed
 * like any other block, and fail under the hook like any other.
 */
TEST(big_blocks_on_huge_page_boundaries)
{
    size_t sizes[] = { (size_t)1 << 20, ((size_t)3 << 20) + 17 };

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *p = lp__malloc(sizes[i]), *q;

        ASSERT_TRUE(p != NULL);
        ASSERT_EQ(0, (uintptr_t)p % ((uintptr_t)2 << 20));
        memset(p, 0xa5, sizes[i]);
        q = lp__realloc(p, sizes[i] * 2);
        ASSERT_TRUE(q != NULL);
        ASSERT_EQ(0xa5, q[sizes[i] - 1]);
        lp__free(q);
    }
    lp__alloc_fail_after(0);
    ASSERT_NULL(lp__malloc((size_t)1 << 20));
    lp__alloc_fail_after(-1);
}

LP_TEST_MAIN()

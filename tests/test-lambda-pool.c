/*
 * The runtime with the executor core: a pool created before the loop serves
 * many invocations, also across SIGSTOP/SIGCONT of the whole process (how
 * emulators freeze a function between invocations); the deadline helpers
 * cancel what has not started and let the handler reply with partial
 * results; several loops run at once (AWS_LAMBDA_MAX_CONCURRENCY).
 */
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lambda-stub.h"
#include "lp-test.h"

static void *square(void *arg, lp_task *task)
{
    intptr_t v = (intptr_t)arg;

    (void)task;
    return (void *)(v * v);
}

/* Sums i*i for i in 1..n, each square a task on the pool. */
static void sum_squares(lp_lambda_invocation *inv, const lp_lambda_context *ctx,
                        const char *event, size_t len, void *arg)
{
    lp_executor *pool = arg;
    lp_future *fs[8];
    long n = strtol(event, NULL, 10), sum = 0;
    char out[32];

    (void)ctx, (void)len;
    if (n < 1 || n > 8) {
        lp_lambda_fail(inv, "Test.BadEvent", "n=%ld", n);
        return;
    }
    for (long i = 0; i < n; i++)
        ASSERT_OK(lp_executor_submit(pool, square, (void *)(i + 1), &fs[i]));
    for (long i = 0; i < n; i++) {
        void *r;
        ASSERT_OK(lp_future_result(fs[i], LP_WAIT_FOREVER, &r));
        sum += (long)(intptr_t)r;
        lp_future_release(fs[i]);
    }
    snprintf(out, sizeof(out), "%ld", sum);
    lp_lambda_reply_str(inv, out);
}

/* Child: pool first, then the loop; exit status tells the parent. */
static void child_main(const char *addr, int invocations)
{
    lp_thread_pool_options po = LP_THREAD_POOL_OPTIONS_INIT;
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    lp_executor *pool;
    lp_status st;

    po.max_workers = 3;
    if (lp_thread_pool_create(&po, &pool) != LP_OK)
        _exit(10);
    o.runtime_api = addr;
    o.max_invocations = (uint64_t)invocations;
    st = lp_lambda_run_with(sum_squares, pool, &o);
    lp_executor_destroy(pool);
    _exit(st == LP_OK ? 0 : 20 + (int)st);
}

TEST(pool_survives_sigstop_sigcont)
{
    enum { N = 12 };
    static struct stub_event ev[N];
    static const char *bodies[] = { "1", "2", "3", "4", "5", "6", "7", "8" };
    struct stub *s;
    pid_t pid;
    int status;

    for (int i = 0; i < N; i++)
        ev[i].body = bodies[i % 8];
    s = stub_create(ev, N);
    fflush(stdout);
    pid = fork(); /* before any thread exists in this process */
    ASSERT_TRUE(pid >= 0);
    if (pid == 0)
        child_main(stub_addr(s), N);
    stub_start(s);
    for (size_t i = 0; i < N; i++) {
        /* Freeze as the emulator does once a response is in. */
        ASSERT_TRUE(stub_wait_posts(s, i + 1, 20000));
        ASSERT_EQ(0, kill(pid, SIGSTOP));
        lp_test_sleep_ms(30);
        ASSERT_EQ(0, kill(pid, SIGCONT));
    }
    ASSERT_EQ(pid, waitpid(pid, &status, 0));
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(0, WEXITSTATUS(status));
    ASSERT_EQ(N, stub_post_count(s));
    for (size_t i = 0; i < N; i++) {
        long n = (long)(i % 8) + 1, want = n * (n + 1) * (2 * n + 1) / 6;
        const struct stub_post *p = stub_post_get(s, i);
        ASSERT_EQ('r', p->kind);
        ASSERT_EQ(want, strtol(p->body, NULL, 10));
    }
    stub_destroy(s);
}

/* Blocks until `gate` opens: a task that outlives the deadline. */
static void *blocker(void *arg, lp_task *task)
{
    atomic_int *gate = arg;

    (void)task;
    while (!atomic_load(gate))
        lp_test_sleep_ms(5);
    return (void *)1;
}

static void *quick(void *arg, lp_task *task)
{
    (void)task;
    return arg;
}

struct gather_case {
    lp_executor *pool;
    atomic_int gate;
    lp_status st;
    size_t n_done;
    size_t cancelled;
};

/*
 * One worker, busy with `blocker`; three quick tasks queue behind it. The
 * deadline (1.2 s away, 1 s margin) passes: gather cancels the queued ones,
 * the handler replies with what it has.
 */
static void partial(lp_lambda_invocation *inv, const lp_lambda_context *ctx,
                    const char *event, size_t len, void *arg)
{
    struct gather_case *gc = arg;
    lp_future *fs[4];
    bool done[4];
    char out[64];

    (void)event, (void)len;
    ASSERT_OK(lp_executor_submit(gc->pool, blocker, &gc->gate, &fs[0]));
    for (int i = 1; i < 4; i++)
        ASSERT_OK(lp_executor_submit(gc->pool, quick, (void *)1, &fs[i]));
    gc->st = lp_lambda_gather(ctx, fs, 4, done, &gc->n_done);
    for (int i = 1; i < 4; i++)
        gc->cancelled += lp_future_cancelled(fs[i]);
    snprintf(out, sizeof(out), "{\"done\":%zu}", gc->n_done);
    lp_lambda_reply_str(inv, out);
    atomic_store(&gc->gate, 1);
    for (int i = 0; i < 4; i++)
        lp_future_release(fs[i]);
}

TEST(gather_cancels_at_deadline)
{
    lp_thread_pool_options po = LP_THREAD_POOL_OPTIONS_INIT;
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct gather_case gc = { 0 };
    struct stub_event ev[1] = { { .body = "{}" } };
    char deadline[32];
    struct timespec ts;
    struct stub *s;
    int64_t t0;

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(deadline, sizeof(deadline), "%lld",
             (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1200);
    ev[0].deadline = deadline;
    po.max_workers = 1;
    ASSERT_OK(lp_thread_pool_create(&po, &gc.pool));
    s = stub_create(ev, 1);
    stub_start(s);
    o.runtime_api = stub_addr(s);
    o.max_invocations = 1;
    o.deadline_margin_ms = 1000;
    t0 = lp_test_now_ms();
    ASSERT_OK(lp_lambda_run_with(partial, &gc, &o));
    ASSERT_LE(lp_test_now_ms() - t0, 1150); /* before the real deadline */
    ASSERT_STATUS(LP_ETIMEDOUT, gc.st);
    ASSERT_EQ(3, gc.cancelled);
    ASSERT_EQ(3, gc.n_done); /* the cancelled ones; the blocker still runs */
    ASSERT_STR_EQ("{\"done\":3}", stub_post_get(s, 0)->body);
    lp_executor_destroy(gc.pool);
    stub_destroy(s);
}

struct conc {
    atomic_uint loops_seen;
    atomic_int calls;
    atomic_int trace_env_set;
};

static void conc_handler(lp_lambda_invocation *inv,
                         const lp_lambda_context *ctx, const char *event,
                         size_t len, void *arg)
{
    struct conc *c = arg;

    (void)event, (void)len;
    atomic_fetch_or(&c->loops_seen, 1u << ctx->loop_index);
    atomic_fetch_add(&c->calls, 1);
    lp_test_sleep_ms(60);
    /* Read after other loops' invocations started: still this one's. */
    lp_lambda_reply(inv, ctx->trace_id, strlen(ctx->trace_id));
}

TEST(concurrent_loops)
{
    enum { N = 12 };
    static struct stub_event ev[N];
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct conc c = { 0 };
    unsigned seen;
    int loops = 0;
    struct stub *s;

    static char traces[N][64];

    for (int i = 0; i < N; i++) {
        snprintf(traces[i], sizeof(traces[i]),
                 "Root=1-5759e988-bd862e3fe1be46a9942727%02d;Sampled=1", i);
        ev[i].body = "{\"c\":1}";
        ev[i].trace_id = traces[i];
    }
    s = stub_create(ev, N);
    stub_start(s);
    unsetenv("_X_AMZN_TRACE_ID");
    o.runtime_api = stub_addr(s);
    o.max_invocations = N;
    o.max_concurrency = 3;
    ASSERT_OK(lp_lambda_run_with(conc_handler, &c, &o));
    ASSERT_EQ(N, atomic_load(&c.calls));
    ASSERT_EQ(N, stub_post_count(s));
    /* Each invocation saw its own trace id, though they overlapped. */
    for (int k = 0; k < N; k++) {
        const struct stub_post *p = stub_post_get(s, k);
        int i = -1;

        ASSERT_EQ(1, sscanf(p->request_id, "req-%d", &i));
        ASSERT_TRUE(i >= 0 && i < N);
        ASSERT_STR_EQ(traces[i], p->body);
    }
    seen = atomic_load(&c.loops_seen);
    for (int i = 0; i < 3; i++)
        loops += (seen >> i) & 1;
    ASSERT_GE(loops, 2);
    ASSERT_EQ(0, seen >> 3);
    /* With several loops the trace id stays out of the environment. */
    ASSERT_TRUE(getenv("_X_AMZN_TRACE_ID") == NULL);
    stub_destroy(s);
}

TEST(concurrent_loops_stop_on_fatal)
{
    static struct stub_event ev[3] = { { .body = "a" },
                                       { .fault = STUB_NEXT_500 },
                                       { .body = "b" } };
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct conc c = { 0 };
    struct stub *s = stub_create(ev, 3);
    int64_t t0 = lp_test_now_ms();

    stub_start(s);
    o.runtime_api = stub_addr(s);
    o.max_concurrency = 4;
    /* The loops still waiting in GET next end within about a second. */
    ASSERT_STATUS(LP_EHTTP, lp_lambda_run_with(conc_handler, &c, &o));
    ASSERT_LE(lp_test_now_ms() - t0, 8000);
    stub_destroy(s);
}

/* ---- Added by the mutation audit (paste before LP_TEST_MAIN() in
 * tests/test-lambda-pool.c). ---- */

/* Notes whether _X_AMZN_TRACE_ID is visible while several invocations
 * overlap, then answers with the context's trace id. */
static void conc_env_handler(lp_lambda_invocation *inv,
                             const lp_lambda_context *ctx, const char *event,
                             size_t len, void *arg)
{
    struct conc *c = arg;

    (void)event, (void)len;
    atomic_fetch_add(&c->calls, 1);
    for (int i = 0; i < 6; i++) {
        if (getenv("_X_AMZN_TRACE_ID") != NULL)
            atomic_fetch_add(&c->trace_env_set, 1);
        lp_test_sleep_ms(10);
    }
    lp_lambda_reply(inv, ctx->trace_id, strlen(ctx->trace_id));
}

/* With several loops the trace id is never in the environment, not even
 * during an invocation. [mutant: setenv per invocation, unsetenv after] */
TEST(concurrent_loops_trace_id_never_in_environment)
{
    enum { N = 9 };
    static struct stub_event ev[N];
    static char traces[N][64];
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct conc c = { 0 };
    struct stub *s;

    for (int i = 0; i < N; i++) {
        snprintf(traces[i], sizeof(traces[i]),
                 "Root=1-5759e988-bd862e3fe1be46a9942727%02d;Sampled=1", i);
        ev[i].trace_id = traces[i];
    }
    s = stub_create(ev, N);
    stub_start(s);
    unsetenv("_X_AMZN_TRACE_ID");
    o.runtime_api = stub_addr(s);
    o.max_invocations = N;
    o.max_concurrency = 3;
    ASSERT_OK(lp_lambda_run_with(conc_env_handler, &c, &o));
    ASSERT_EQ(N, atomic_load(&c.calls));
    ASSERT_EQ(0, atomic_load(&c.trace_env_set));
    ASSERT_TRUE(getenv("_X_AMZN_TRACE_ID") == NULL);
    stub_destroy(s);
}

struct overlap {
    atomic_uint loops_seen;
    atomic_int in_flight;
    atomic_int max_in_flight;
    atomic_int calls;
};

/* Waits (up to 2 s) until another invocation runs at the same time. */
static void overlap_handler(lp_lambda_invocation *inv,
                            const lp_lambda_context *ctx, const char *event,
                            size_t len, void *arg)
{
    struct overlap *ov = arg;
    int now = atomic_fetch_add(&ov->in_flight, 1) + 1, max;

    (void)event, (void)len;
    atomic_fetch_or(&ov->loops_seen, 1u << ctx->loop_index);
    atomic_fetch_add(&ov->calls, 1);
    for (int i = 0; i < 200 && atomic_load(&ov->in_flight) < 2; i++)
        lp_test_sleep_ms(10);
    now = atomic_load(&ov->in_flight);
    max = atomic_load(&ov->max_in_flight);
    while (now > max &&
           !atomic_compare_exchange_weak(&ov->max_in_flight, &max, now)) {
    }
    lp_test_sleep_ms(20); /* let the other one see us too */
    atomic_fetch_sub(&ov->in_flight, 1);
    lp_lambda_reply_str(inv, "{}");
}

/* AWS_LAMBDA_MAX_CONCURRENCY=2 runs two loops, 0 and 1, whose invocations
 * overlap. [mutants: the variable ignored; handlers serialised by a lock] */
TEST(concurrency_from_environment_overlaps)
{
    enum { N = 4 };
    static struct stub_event ev[N];
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct overlap ov = { 0 };
    struct stub *s;

    for (int i = 0; i < N; i++)
        ev[i].body = "{}";
    s = stub_create(ev, N);
    stub_start(s);
    setenv("AWS_LAMBDA_MAX_CONCURRENCY", "2", 1);
    o.runtime_api = stub_addr(s);
    o.max_invocations = N;
    ASSERT_OK(lp_lambda_run_with(overlap_handler, &ov, &o));
    unsetenv("AWS_LAMBDA_MAX_CONCURRENCY");
    ASSERT_EQ(N, atomic_load(&ov.calls));
    ASSERT_EQ(2, atomic_load(&ov.max_in_flight));
    ASSERT_EQ(3, atomic_load(&ov.loops_seen));
    stub_destroy(s);
}

/* lp_lambda_cancel_pending returns how many it cancelled: queued ones,
 * not the running one nor a finished one; NULL entries are skipped.
 * [mutant: counts every non-NULL future] */
TEST(cancel_pending_counts_only_cancelled)
{
    lp_thread_pool_options po = LP_THREAD_POOL_OPTIONS_INIT;
    lp_executor *pool;
    atomic_int gate = 0;
    lp_future *fs[6] = { NULL };
    void *r;

    po.max_workers = 1;
    ASSERT_OK(lp_thread_pool_create(&po, &pool));
    ASSERT_OK(lp_executor_submit(pool, quick, (void *)1, &fs[0]));
    ASSERT_OK(lp_future_result(fs[0], LP_WAIT_FOREVER, &r)); /* finished */
    ASSERT_OK(lp_executor_submit(pool, blocker, &gate, &fs[1]));
    while (!lp_future_running(fs[1]))
        lp_test_sleep_ms(1);
    for (int i = 2; i < 5; i++)
        ASSERT_OK(lp_executor_submit(pool, quick, (void *)1, &fs[i]));
    /* fs[5] stays NULL */
    ASSERT_EQ(3, lp_lambda_cancel_pending(fs, 6));
    ASSERT_FALSE(lp_future_cancelled(fs[0]));
    ASSERT_FALSE(lp_future_cancelled(fs[1]));
    for (int i = 2; i < 5; i++)
        ASSERT_TRUE(lp_future_cancelled(fs[i]));
    atomic_store(&gate, 1);
    ASSERT_OK(lp_future_result(fs[1], LP_WAIT_FOREVER, &r));
    for (int i = 0; i < 5; i++)
        lp_future_release(fs[i]);
    lp_executor_destroy(pool);
}

LP_TEST_MAIN()

/*
 * Stress: many tasks with random cancels, random short timeouts on result,
 * wait and as_completed, and shutdowns with cancel_futures racing the
 * workers. Checks that every future ends in a valid terminal state that
 * agrees with what cancel reported, that every argument and every result is
 * released exactly once (per-slot flags catch double frees, counters catch
 * leaks), and that nothing deadlocks (bounded by count and by time).
 *
 * Size: 2,000,000 tasks in the plain build, fewer in sanitizer trees
 * (LP_SANITIZED); LP_STRESS_SCALE (a positive float) scales the count. The
 * run also stops after a time budget, so a slow machine only does less.
 */
#include "lp-test-util.h"

#if defined(LP_TSAN)
#    define STRESS_TASKS     150000L
#    define STRESS_BUDGET_MS 12000
#elif LP_TEST_SANITIZED
#    define STRESS_TASKS     300000L
#    define STRESS_BUDGET_MS 12000
#else
#    define STRESS_TASKS     2000000L
#    define STRESS_BUDGET_MS 5000
#endif
#define BATCH 10000

struct slot {
    atomic_int arg_frees;
    atomic_int result_frees;
    atomic_int runs;
    int index;
};

static struct slot slots[BATCH];
static lp_future *futures[BATCH];
static bool cancel_ok[BATCH];

static void slot_arg_free(void *p)
{
    atomic_fetch_add(&((struct slot *)p)->arg_frees, 1);
}

static void slot_result_free(void *p)
{
    atomic_fetch_add(&((struct slot *)p)->result_frees, 1);
}

static void *task_slot(void *arg, lp_task *task)
{
    struct slot *s = arg;

    atomic_fetch_add(&s->runs, 1);
    if (s->index % 97 == 0)
        lp_task_fail(task, s->index + 1, 0, "slot %d", s->index);
    return s;
}

/* xorshift: deterministic per seed, no shared state. */
static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static long stress_total(void)
{
    const char *scale = getenv("LP_STRESS_SCALE");
    double k = scale != NULL ? strtod(scale, NULL) : 1.0;

    if (!(k > 0))
        k = 1.0;
    return (long)(STRESS_TASKS * k) < 1 ? 1 : (long)(STRESS_TASKS * k);
}

/* Random waits over a window of the batch; statuses must be sane. */
static void random_waits(uint64_t *rng, int n)
{
    int start = (int)(rng_next(rng) % (uint64_t)n);
    int len = 1 + (int)(rng_next(rng) % 64);
    int64_t timeout = (int64_t)(rng_next(rng) % 3);
    bool done[64];
    size_t n_done;
    lp_status st;

    if (start + len > n)
        len = n - start;
    switch (rng_next(rng) % 5) {
    case 0: {
        void *out;

        st = lp_future_result(futures[start], timeout, &out);
        ASSERT_TRUE(st == LP_OK || st == LP_ETASK || st == LP_ECANCELLED ||
                    st == LP_ETIMEDOUT);
        break;
    }
    case 1:
        st = lp_wait(&futures[start], (size_t)len,
                     (lp_return_when)(1 + rng_next(rng) % 3), timeout, done,
                     &n_done);
        ASSERT_TRUE(st == LP_OK || st == LP_ETIMEDOUT);
        ASSERT_LE(n_done, (size_t)len);
        break;
    case 2: {
        lp_as_completed *it = NULL;
        lp_future *f;
        int yielded = 0;

        ASSERT_OK(
            lp_as_completed_create(&futures[start], (size_t)len, timeout, &it));
        while ((st = lp_as_completed_next(it, &f)) == LP_OK)
            yielded++;
        ASSERT_TRUE(st == LP_EOF || st == LP_ETIMEDOUT);
        ASSERT_LE(yielded, len);
        lp_as_completed_destroy(it);
        break;
    }
    case 3: {
        /* Duplicates, in both lp_wait and as_completed. */
        lp_future *dup[64];
        lp_as_completed *it = NULL;
        lp_future *f;
        size_t distinct = 0, total = 0;

        for (int i = 0; i < len; i++)
            dup[i] = futures[start + (int)(rng_next(rng) % (uint64_t)len)];
        st =
            lp_wait(dup, (size_t)len, LP_ALL_COMPLETED, timeout, done, &n_done);
        ASSERT_TRUE(st == LP_OK || st == LP_ETIMEDOUT);
        ASSERT_OK(lp_as_completed_create(dup, (size_t)len, timeout, &it));
        distinct = lp_as_completed_unfinished(it, &total);
        ASSERT_EQ(distinct, total);
        ASSERT_LE(total, (size_t)len);
        while ((st = lp_as_completed_next(it, &f)) == LP_OK)
            distinct--;
        ASSERT_TRUE(st == LP_EOF || st == LP_ETIMEDOUT);
        ASSERT_EQ(distinct, lp_as_completed_unfinished(it, NULL));
        lp_as_completed_destroy(it);
        break;
    }
    default:
        st = lp_wait(&futures[start], (size_t)len, LP_FIRST_EXCEPTION, 0, NULL,
                     NULL);
        ASSERT_TRUE(st == LP_OK || st == LP_ETIMEDOUT);
        break;
    }
}

/* One batch on a fresh pool; returns the number of tasks submitted. */
static int run_batch(uint64_t *rng, int n, int round)
{
    lp_thread_pool_options po = LP_THREAD_POOL_OPTIONS_INIT;
    lp_submit_options so = LP_SUBMIT_OPTIONS_INIT;
    lp_executor *ex = NULL;
    bool cancel_all = round % 5 == 4;
    int submitted = 0;

    po.max_workers = 1 + round % 4;
    if (round % 7 == 3) {
        po.queue_capacity = 64;
        po.block_when_full = true;
    }
    ASSERT_OK(lp_thread_pool_create(&po, &ex));
    so.arg_free = slot_arg_free;
    so.result_free = slot_result_free;
    for (int i = 0; i < n; i++) {
        struct slot *s = &slots[i];

        atomic_store(&s->arg_frees, 0);
        atomic_store(&s->result_frees, 0);
        atomic_store(&s->runs, 0);
        s->index = i;
        cancel_ok[i] = false;
        ASSERT_OK(lp_executor_submit_with(ex, task_slot, s, &so, &futures[i]));
        submitted++;
        if (rng_next(rng) % 8 == 0) {
            int victim = (int)(rng_next(rng) % (uint64_t)(i + 1));

            if (lp_future_cancel(futures[victim]))
                cancel_ok[victim] = true;
        }
        if (rng_next(rng) % 1024 == 0)
            random_waits(rng, i + 1);
    }
    if (cancel_all)
        ASSERT_OK(lp_executor_shutdown(ex, false, true));
    for (int k = 0; k < 8; k++)
        random_waits(rng, n);
    lp_executor_destroy(ex);

    /* Every future is terminal and consistent with what we saw. */
    for (int i = 0; i < n; i++) {
        struct slot *s = &slots[i];
        lp_future *f = futures[i];
        lp_future_state state = lp_future_state_get(f);
        void *out = NULL;
        lp_status st = lp_future_result(f, 0, &out);

        ASSERT_EQ(1, atomic_load(&s->arg_frees));
        if (cancel_ok[i])
            ASSERT_TRUE(lp_future_cancelled(f));
        if (state == LP_FUTURE_FINISHED) {
            ASSERT_EQ(1, atomic_load(&s->runs));
            if (i % 97 == 0) {
                ASSERT_STATUS(LP_ETASK, st);
                ASSERT_EQ(i + 1, lp_future_error(f)->code);
            } else {
                ASSERT_OK(st);
                ASSERT_PTR_EQ(s, out);
            }
        } else {
            /* The pool saw every cancelled item and dropped it. */
            ASSERT_EQ(LP_FUTURE_CANCELLED_NOTIFIED, state);
            ASSERT_STATUS(LP_ECANCELLED, st);
            ASSERT_EQ(0, atomic_load(&s->runs));
        }
        lp_future_release(f);
        /* A result was freed once if the task returned one. */
        ASSERT_EQ(state == LP_FUTURE_FINISHED ? 1 : 0,
                  atomic_load(&s->result_frees));
    }
    return submitted;
}

TEST(stress_random_cancels_and_timeouts)
{
    long total = stress_total(), done = 0;
    int64_t t0 = lp_test_now_ms();
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int round = 0;

    while (done < total &&
           (round < 4 || lp_test_now_ms() - t0 < STRESS_BUDGET_MS)) {
        long left = total - done;
        int n = left < BATCH ? (int)left : BATCH;

        done += run_batch(&rng, n, round++);
    }
    printf("# stress: %ld tasks in %d batches, %" PRId64 " ms\n", done, round,
           lp_test_now_ms() - t0);
    ASSERT_GE(done, total < 4 * BATCH ? total : 4 * BATCH);
}

/* Many threads submitting, cancelling and waiting on one shared pool. */
struct hammer {
    lp_executor *ex;
    uint64_t seed;
    atomic_long *ran, *submitted, *cancelled;
};

static void *task_tick(void *arg, lp_task *task)
{
    (void)task;
    atomic_fetch_add((atomic_long *)arg, 1);
    return NULL;
}

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    uint64_t rng = h->seed;
    lp_future *mine[64];
    int rounds = LP_TEST_SANITIZED ? 100 : 1000;

    for (int r = 0; r < rounds; r++) {
        int n = 1 + (int)(rng_next(&rng) % 64);
        bool done[64];

        for (int i = 0; i < n; i++) {
            ASSERT_OK(lp_executor_submit(h->ex, task_tick, h->ran, &mine[i]));
            atomic_fetch_add(h->submitted, 1);
        }
        for (int i = 0; i < n; i += 3)
            if (lp_future_cancel(mine[i]))
                atomic_fetch_add(h->cancelled, 1);
        ASSERT_OK(lp_wait(mine, (size_t)n, LP_ALL_COMPLETED, LP_WAIT_FOREVER,
                          done, NULL));
        for (int i = 0; i < n; i++) {
            ASSERT_TRUE(done[i]);
            lp_future_release(mine[i]);
        }
    }
    return NULL;
}

TEST(stress_shared_pool_many_submitters)
{
    lp_executor *ex = pool_new(3);
    atomic_long ran, submitted, cancelled;
    struct hammer h[4];
    pthread_t t[4];

    atomic_init(&ran, 0);
    atomic_init(&submitted, 0);
    atomic_init(&cancelled, 0);
    for (int i = 0; i < 4; i++) {
        h[i] = (struct hammer){ ex, 0x1234567ull * (uint64_t)(i + 1), &ran,
                                &submitted, &cancelled };
        ASSERT_EQ(0, pthread_create(&t[i], NULL, hammer_main, &h[i]));
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    lp_executor_destroy(ex);
    ASSERT_EQ(atomic_load(&submitted),
              atomic_load(&ran) + atomic_load(&cancelled));
}

/*
 * Tasks that wait for tasks: each parent submits a child to its own pool and
 * waits for it. With max_workers >= 2 * parents every child must get a
 * worker; a spawn decision lost to a race shows up as a child that never
 * runs (the parent then reports a timeout). Fresh pools each round, so
 * worker start-up races are exercised again and again.
 */
struct parent_ctx {
    lp_executor *ex;
    int depth;
};

static void *task_parent(void *arg, lp_task *task)
{
    struct parent_ctx *c = arg;
    struct parent_ctx child = { c->ex, c->depth - 1 };
    lp_future *f = NULL;
    void *out = NULL;
    lp_status st;

    if (c->depth == 0)
        return (void *)(intptr_t)1;
    st = lp_executor_submit(c->ex, task_parent, &child, &f);
    if (st == LP_OK)
        st = lp_future_result(f, 10000, &out);
    lp_future_release(f);
    if (st != LP_OK) {
        lp_task_fail(task, 1, 0, "child: %s", lp_status_str(st));
        return NULL;
    }
    return (void *)((intptr_t)out + 1);
}

TEST(stress_tasks_waiting_for_tasks)
{
    int rounds = LP_TEST_SANITIZED ? 150 : 500;
    int64_t t0 = lp_test_now_ms();
    int r;

    for (r = 0; r < rounds && lp_test_now_ms() - t0 < 5000; r++) {
        /* One lone parent is the sharpest case: its child is the only
         * submit that can start the second worker. */
        int parents = 1 + r % 3, depth = 1 + r % 2;
        lp_executor *ex = pool_new(parents * (depth + 1));
        struct parent_ctx c = { ex, depth };
        lp_future *fs[3];
        void *out;

        for (int i = 0; i < parents; i++)
            fs[i] = submit_ok(ex, task_parent, &c);
        for (int i = 0; i < parents; i++) {
            ASSERT_OK(lp_future_result(fs[i], LP_WAIT_FOREVER, &out));
            ASSERT_EQ(depth + 1, (intptr_t)out);
            lp_future_release(fs[i]);
        }
        lp_executor_destroy(ex);
    }
    printf("# %d rounds of nested tasks\n", r);
    ASSERT_GE(r, 10);
}

/*
 * Sporadic submits to a pool whose workers have parked: every task must be
 * picked up (a lost wake-up shows as a result that never comes). Pools of
 * 1 to 3 workers, made saturated first, then fed one or two tasks at a time
 * with pauses that let the workers stop spinning.
 */
TEST(stress_sporadic_submits_wake_parked_workers)
{
    int rounds = LP_TEST_SANITIZED ? 100 : 300;

    for (int size = 1; size <= 3; size++) {
        lp_executor *ex = pool_new(size);
        struct gate g;
        lp_future *fs[3];
        uint64_t rng = 0xabcdef12345ull + (uint64_t)size;
        void *out;

        gate_init(&g);
        for (int i = 0; i < size; i++)
            fs[i] = submit_ok(ex, task_gate, &g);
        ASSERT_TRUE(POLL_UNTIL(atomic_load(&g.waiting) == size, 10000));
        gate_open(&g);
        for (int i = 0; i < size; i++) {
            ASSERT_OK(lp_future_result(fs[i], 10000, &out));
            lp_future_release(fs[i]);
        }
        for (int r = 0; r < rounds / size; r++) {
            int n = 1 + (int)(rng_next(&rng) % 2);
            uint64_t pause_us = rng_next(&rng) % 400;
            struct timespec ts = { 0, (long)pause_us * 1000 };

            nanosleep(&ts, NULL);
            for (int i = 0; i < n; i++)
                fs[i] = submit_ok(ex, task_noop, NULL);
            for (int i = 0; i < n; i++) {
                ASSERT_OK(lp_future_result(fs[i], 10000, &out));
                lp_future_release(fs[i]);
            }
        }
        lp_executor_destroy(ex);
        gate_destroy(&g);
    }
}

LP_TEST_MAIN()

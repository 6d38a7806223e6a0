/*
 * Conformance items 10-14 (conformance.md, "wait()"). Python's pair of sets
 * is the caller's done[] array plus *n_done; "any iterable" is an array of
 * futures here (C has no iterables), so that part of item 10 cannot apply.
 */
#include "lp-test-util.h"

static void release_all(lp_future **fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lp_future_release(fs[i]);
}

/* Item 10: on timeout, the partial split, no error beyond LP_ETIMEDOUT. */
TEST(item10_timeout_returns_partial_split)
{
    lp_future *fs[3] = { future_done(NULL), future_pending(), future_failed() };
    bool done[3] = { false, true, false };
    size_t n_done = 99;
    int64_t t0 = lp_test_now_ms();

    ASSERT_STATUS(LP_ETIMEDOUT,
                  lp_wait(fs, 3, LP_ALL_COMPLETED, 50, done, &n_done));
    ASSERT_GE(lp_test_now_ms() - t0, 49);
    ASSERT_TRUE(done[0]);
    ASSERT_FALSE(done[1]);
    ASSERT_TRUE(done[2]);
    ASSERT_EQ(2, n_done);

    /* Deadline form, and NULL outputs. */
    ASSERT_STATUS(LP_ETIMEDOUT,
                  lp_wait_until(fs, 3, LP_ALL_COMPLETED,
                                lp_deadline_after_ms(20), NULL, NULL));
    ASSERT_STATUS(LP_ETIMEDOUT,
                  lp_wait(fs, 3, LP_ALL_COMPLETED, 0, NULL, NULL));
    release_all(fs, 3);
}

/* Item 10: duplicates collapse (count once for the condition). */
TEST(item10_duplicates)
{
    lp_future *a = future_done(NULL), *b = future_pending();
    lp_future *fs[4] = { a, b, a, b };
    bool done[4];
    size_t n_done = 0;
    struct later l;

    ASSERT_STATUS(LP_ETIMEDOUT,
                  lp_wait(fs, 4, LP_ALL_COMPLETED, 20, done, &n_done));
    ASSERT_TRUE(done[0] && done[2]);
    ASSERT_FALSE(done[1] || done[3]);
    ASSERT_EQ(2, n_done); /* positions */

    /* ALL_COMPLETED over duplicates of one pending future completes when
     * it does. */
    later_start(&l, 30, later_set_result, b);
    ASSERT_OK(lp_wait(fs, 4, LP_ALL_COMPLETED, 10000, done, &n_done));
    later_join(&l);
    for (int i = 0; i < 4; i++)
        ASSERT_TRUE(done[i]);
    ASSERT_EQ(4, n_done);
    lp_future_release(a);
    lp_future_release(b);
}

TEST(item10_empty_input)
{
    size_t n_done = 7;

    ASSERT_OK(
        lp_wait(NULL, 0, LP_ALL_COMPLETED, LP_WAIT_FOREVER, NULL, &n_done));
    ASSERT_EQ(0, n_done);
    ASSERT_OK(lp_wait(NULL, 0, LP_FIRST_COMPLETED, 0, NULL, NULL));
}

/* Item 11: FIRST_COMPLETED. */
TEST(item11_first_completed)
{
    lp_future *fs[3] = { future_pending(), future_done(NULL),
                         future_pending() };
    bool done[3];
    size_t n_done;
    struct later l;

    /* Something already done: returns at once, even with no limit. */
    ASSERT_OK(
        lp_wait(fs, 3, LP_FIRST_COMPLETED, LP_WAIT_FOREVER, done, &n_done));
    ASSERT_FALSE(done[0]);
    ASSERT_TRUE(done[1]);
    ASSERT_FALSE(done[2]);
    ASSERT_EQ(1, n_done);
    lp_future_release(fs[1]);

    /* Else, at the first completion. */
    fs[1] = future_pending();
    later_start(&l, 50, later_set_result, fs[2]);
    ASSERT_OK(
        lp_wait(fs, 3, LP_FIRST_COMPLETED, LP_WAIT_FOREVER, done, &n_done));
    later_join(&l);
    ASSERT_FALSE(done[0]);
    ASSERT_FALSE(done[1]);
    ASSERT_TRUE(done[2]);
    ASSERT_EQ(1, n_done);

    /* A failure is a completion too. */
    later_start(&l, 20, later_set_error, fs[0]);
    ASSERT_OK(lp_wait(fs, 2, LP_FIRST_COMPLETED, 10000, done, &n_done));
    later_join(&l);
    ASSERT_TRUE(done[0]);
    release_all(fs, 3);
}

/* Item 11: plain CANCELLED counts as not done until the executor notices. */
TEST(item11_cancelled_not_notified_is_not_done)
{
    lp_future *c = future_cancelled();
    lp_future *p = future_pending();
    lp_future *fs[2] = { c, p };
    bool done[2] = { true, true };
    size_t n_done = 9;
    struct later l;

    ASSERT_TRUE(lp_future_done(c));
    ASSERT_STATUS(LP_ETIMEDOUT,
                  lp_wait(fs, 2, LP_FIRST_COMPLETED, 30, done, &n_done));
    ASSERT_FALSE(done[0]);
    ASSERT_FALSE(done[1]);
    ASSERT_EQ(0, n_done);

    /* The notification wakes a blocked wait and counts as done. */
    later_start(&l, 30, later_notify_cancel, c);
    ASSERT_OK(lp_wait(fs, 2, LP_FIRST_COMPLETED, 10000, done, &n_done));
    later_join(&l);
    ASSERT_TRUE(done[0]);
    ASSERT_FALSE(done[1]);
    ASSERT_EQ(1, n_done);

    /* A cancel while blocked: not done until notified, either. */
    {
        lp_future *q = future_pending();
        lp_future *gs[1] = { q };

        later_start(&l, 10, later_cancel, q);
        ASSERT_STATUS(LP_ETIMEDOUT,
                      lp_wait(gs, 1, LP_ALL_COMPLETED, 60, done, NULL));
        later_join(&l);
        ASSERT_FALSE(done[0]);
        ASSERT_EQ(LP_FUTURE_CANCELLED, lp_future_state_get(q));
        lp_future_release(q);
    }
    lp_future_release(c);
    lp_future_release(p);
}

/* Item 12: FIRST_EXCEPTION. */
TEST(item12_first_exception)
{
    lp_future *fs[3];
    bool done[3];
    size_t n_done;
    struct later l;

    /* An already-failed future returns at once. */
    fs[0] = future_pending();
    fs[1] = future_failed();
    fs[2] = future_done(NULL);
    ASSERT_OK(
        lp_wait(fs, 3, LP_FIRST_EXCEPTION, LP_WAIT_FOREVER, done, &n_done));
    ASSERT_FALSE(done[0]);
    ASSERT_TRUE(done[1]);
    ASSERT_TRUE(done[2]);
    ASSERT_EQ(2, n_done);
    release_all(fs, 3);

    /* A success does not end the wait; a later failure does. */
    fs[0] = future_pending();
    fs[1] = future_pending();
    fs[2] = future_done(NULL);
    later_start(&l, 40, later_set_error, fs[1]);
    ASSERT_OK(lp_wait(fs, 3, LP_FIRST_EXCEPTION, 10000, done, &n_done));
    later_join(&l);
    ASSERT_FALSE(done[0]);
    ASSERT_TRUE(done[1]);
    ASSERT_TRUE(done[2]);

    /* Cancellation is not an exception. */
    ASSERT_TRUE(lp_future_cancel(fs[0]));
    ASSERT_STATUS(LP_ECANCELLED, lp_future_set_running_or_notify_cancel(fs[0]));
    lp_future_release(fs[1]);
    fs[1] = future_pending();
    ASSERT_STATUS(LP_ETIMEDOUT,
                  lp_wait(fs, 3, LP_FIRST_EXCEPTION, 30, done, &n_done));
    ASSERT_TRUE(done[0]);
    ASSERT_FALSE(done[1]);
    ASSERT_EQ(2, n_done);

    /* Without an exception it behaves as ALL_COMPLETED. */
    later_start(&l, 30, later_set_result, fs[1]);
    ASSERT_OK(lp_wait(fs, 3, LP_FIRST_EXCEPTION, 10000, done, &n_done));
    later_join(&l);
    ASSERT_EQ(3, n_done);
    release_all(fs, 3);

    /* A broken-executor failure counts as an exception. */
    fs[0] = future_pending();
    fs[1] = future_pending();
    ASSERT_OK(lp_future_set_failure(fs[1], LP_EBROKEN, 1, 0, "broken"));
    ASSERT_OK(lp_wait(fs, 2, LP_FIRST_EXCEPTION, 0, done, &n_done));
    ASSERT_EQ(1, n_done);
    release_all(fs, 2);
}

/* Completes fs[0] and fs[1], then fails fs[2], then completes fs[3], a
 * few milliseconds apart. */
static void *complete_in_turn(void *arg)
{
    lp_future **fs = arg;

    for (int i = 0; i < 4; i++) {
        lp_test_sleep_ms(5);
        if (i == 2)
            ASSERT_OK(lp_future_set_error(fs[i], 9, 0, "third fails"));
        else
            ASSERT_OK(lp_future_set_result(fs[i], NULL, NULL));
    }
    return NULL;
}

/*
 * The waiting thread sleeps through completions that leave its condition
 * unmet (wait.c) and must still be woken by the one that meets it: each wait
 * returns long before its 20 s limit, with the right futures done.
 */
TEST(wait_wakes_when_its_condition_holds)
{
    const lp_return_when whens[] = { LP_FIRST_COMPLETED, LP_FIRST_EXCEPTION,
                                     LP_ALL_COMPLETED };

    for (int k = 0; k < 3; k++) {
        lp_future *fs[4];
        bool done[4];
        size_t n_done;
        pthread_t t;
        int64_t t0;

        for (int i = 0; i < 4; i++)
            fs[i] = future_pending();
        ASSERT_EQ(0, pthread_create(&t, NULL, complete_in_turn, fs));
        t0 = lp_test_now_ms();
        ASSERT_OK(lp_wait(fs, 4, whens[k], 20000, done, &n_done));
        ASSERT_LE(lp_test_now_ms() - t0, 10000);
        ASSERT_TRUE(done[0]);
        if (whens[k] != LP_FIRST_COMPLETED)
            ASSERT_TRUE(done[2]);
        if (whens[k] == LP_ALL_COMPLETED)
            ASSERT_EQ(4, n_done);
        pthread_join(t, NULL);
        release_all(fs, 4);
    }
}

/* Item 13: ALL_COMPLETED includes successes, failures and notified
 * cancellations. */
TEST(item13_all_completed)
{
    lp_future *fs[4] = { future_done(NULL), future_failed(),
                         future_cancelled_notified(), future_pending() };
    bool done[4];
    size_t n_done;
    struct later l;

    later_start(&l, 40, later_set_result, fs[3]);
    ASSERT_OK(lp_wait_until(fs, 4, LP_ALL_COMPLETED, LP_DEADLINE_NEVER, done,
                            &n_done));
    later_join(&l);
    for (int i = 0; i < 4; i++)
        ASSERT_TRUE(done[i]);
    ASSERT_EQ(4, n_done);
    release_all(fs, 4);
}

/* Item 13 with executor futures. */
TEST(item13_all_completed_executor)
{
    lp_executor *ex = pool_new(4);
    lp_future *fs[20];
    bool done[20];
    size_t n_done;

    for (int i = 0; i < 20; i++)
        fs[i] = submit_ok(ex, i % 3 ? task_sleep : task_fail,
                          (void *)(intptr_t)(i % 5));
    ASSERT_OK(
        lp_wait(fs, 20, LP_ALL_COMPLETED, LP_WAIT_FOREVER, done, &n_done));
    ASSERT_EQ(20, n_done);
    for (int i = 0; i < 20; i++)
        ASSERT_EQ(LP_FUTURE_FINISHED, lp_future_state_get(fs[i]));
    lp_executor_destroy(ex);
    release_all(fs, 20);
}

/* Item 14: an invalid `when` is an error only when wait would block. */
TEST(item14_invalid_when_only_when_blocking)
{
    lp_future *fs[2] = { future_done(NULL), future_failed() };
    lp_return_when bogus = (lp_return_when)99;
    bool done[2];
    size_t n_done = 0;

    ASSERT_OK(lp_wait(fs, 2, bogus, LP_WAIT_FOREVER, done, &n_done));
    ASSERT_EQ(2, n_done);
    ASSERT_OK(lp_wait(fs, 2, (lp_return_when)0, 10, done, &n_done));
    lp_future_release(fs[1]);
    fs[1] = future_pending();
    /* Bounded, so that a wait that wrongly blocks fails instead of hanging
     * (the error must come before any blocking, whatever the limit). */
    ASSERT_STATUS(LP_EINVAL, lp_wait(fs, 2, bogus, 50, done, &n_done));
    ASSERT_STATUS(
        LP_EINVAL,
        lp_wait_until(fs, 2, bogus, lp_deadline_after_ms(50), done, &n_done));
    release_all(fs, 2);
}

/* A waiter blocked in lp_wait on executor futures sees each completion. */
TEST(wait_first_completed_executor)
{
    lp_executor *ex = pool_new(2);
    struct gate g;
    struct watchdog w;
    lp_future *fs[2];
    bool done[2];
    size_t n_done;

    gate_init(&g);
    watchdog_start(&w, &g, 10000);
    fs[0] = submit_ok(ex, task_gate, &g);
    fs[1] = submit_ok(ex, task_sleep, (void *)(intptr_t)20);
    ASSERT_OK(
        lp_wait(fs, 2, LP_FIRST_COMPLETED, LP_WAIT_FOREVER, done, &n_done));
    ASSERT_FALSE(done[0]);
    ASSERT_TRUE(done[1]);
    ASSERT_FALSE(watchdog_stop(&w));
    gate_open(&g);
    lp_executor_destroy(ex);
    release_all(fs, 2);
    gate_destroy(&g);
}

/* Item 12 with an executor: a failing task ends a FIRST_EXCEPTION wait
 * while another is still blocked. */
TEST(item12_first_exception_executor)
{
    lp_executor *ex = pool_new(2);
    struct gate g;
    struct watchdog w;
    lp_future *fs[3];
    bool done[3];
    size_t n_done;

    gate_init(&g);
    watchdog_start(&w, &g, 10000);
    fs[0] = submit_ok(ex, task_gate, &g);
    fs[1] = submit_ok(ex, task_sleep, (void *)(intptr_t)5);
    fs[2] = submit_ok(ex, task_fail, (void *)(intptr_t)1);
    ASSERT_OK(
        lp_wait(fs, 3, LP_FIRST_EXCEPTION, LP_WAIT_FOREVER, done, &n_done));
    ASSERT_FALSE(done[0]);
    ASSERT_TRUE(done[2]);
    ASSERT_FALSE(watchdog_stop(&w));
    gate_open(&g);
    lp_executor_destroy(ex);
    release_all(fs, 3);
    gate_destroy(&g);
}

/* A wait that timed out leaves nothing behind on its futures: completing
 * them afterwards must not touch the finished wait (ASan checks). */
TEST(wait_timeout_then_completion_is_safe)
{
    for (int round = 0; round < 50; round++) {
        lp_future *fs[3] = { future_pending(), future_pending(),
                             future_pending() };
        lp_return_when when = (lp_return_when)(1 + round % 3);

        ASSERT_STATUS(LP_ETIMEDOUT, lp_wait(fs, 3, when, 1, NULL, NULL));
        ASSERT_OK(lp_future_set_result(fs[round % 3], NULL, NULL));
        ASSERT_TRUE(lp_future_cancel(fs[(round + 1) % 3]));
        ASSERT_STATUS(LP_ECANCELLED, lp_future_set_running_or_notify_cancel(
                                         fs[(round + 1) % 3]));
        ASSERT_OK(lp_future_set_error(fs[(round + 2) % 3], 1, 0, "late"));
        release_all(fs, 3);
    }
}

/* Many threads waiting on the same futures at once, in all three ways. */
struct multi_wait {
    lp_future **fs;
    int kind;
    lp_status st;
};

static void *wait_in_thread(void *arg)
{
    struct multi_wait *m = arg;
    void *out;

    switch (m->kind % 3) {
    case 0:
        m->st = lp_wait(m->fs, 2, LP_ALL_COMPLETED, 20000, NULL, NULL);
        break;
    case 1:
        m->st = lp_future_result(m->fs[1], 20000, &out);
        break;
    default: {
        lp_as_completed *it = NULL;
        lp_future *f;
        int n = 0;

        m->st = lp_as_completed_create(m->fs, 2, 20000, &it);
        if (m->st != LP_OK)
            break;
        while ((m->st = lp_as_completed_next(it, &f)) == LP_OK)
            n++;
        if (m->st == LP_EOF && n == 2)
            m->st = LP_OK;
        lp_as_completed_destroy(it);
        break;
    }
    }
    return NULL;
}

TEST(many_waiters_on_the_same_futures)
{
    enum { T = 9 };
    lp_future *fs[2] = { future_pending(), future_pending() };
    struct multi_wait m[T];
    pthread_t t[T];

    for (int i = 0; i < T; i++) {
        m[i] = (struct multi_wait){ fs, i, LP_EINVAL };
        ASSERT_EQ(0, pthread_create(&t[i], NULL, wait_in_thread, &m[i]));
    }
    lp_test_sleep_ms(20);
    ASSERT_OK(lp_future_set_result(fs[0], NULL, NULL));
    lp_test_sleep_ms(5);
    ASSERT_OK(lp_future_set_error(fs[1], 2, 0, "second"));
    for (int i = 0; i < T; i++) {
        pthread_join(t[i], NULL);
        ASSERT_STATUS(i % 3 == 1 ? LP_ETASK : LP_OK, m[i].st);
    }
    release_all(fs, 2);
}

LP_TEST_MAIN()

/*
 * Conformance items 8 and 9 (conformance.md): done callbacks run in
 * registration order, exactly once, after the state change, outside every
 * library lock, on the completing (or cancelling) thread, or at once on the
 * registering thread when the future is already done.
 *
 * Item 9's "a callback raises, the error is logged and later callbacks still
 * run" cannot apply in C: lp_done_fn returns void and C has no exceptions to
 * swallow. What a C callback can do to disturb its neighbours is release the
 * future it was called for, or register further callbacks on it while the
 * list runs; the tests below check that the remaining callbacks still run,
 * once each, in order.
 */
#include "lp-test-util.h"

#define MAX_CALLS 16

struct record {
    pthread_mutex_t mu;
    int n;
    int ids[MAX_CALLS];
    pthread_t threads[MAX_CALLS];
    lp_future *futures[MAX_CALLS];
    bool saw_done[MAX_CALLS];
};

struct cb {
    struct record *rec;
    int id;
};

static void record_init(struct record *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
}

static int record_count(struct record *r)
{
    int n;

    pthread_mutex_lock(&r->mu);
    n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void on_done(lp_future *f, void *arg)
{
    struct cb *c = arg;
    struct record *r = c->rec;
    bool done = lp_future_done(f);

    pthread_mutex_lock(&r->mu);
    if (r->n < MAX_CALLS) {
        r->ids[r->n] = c->id;
        r->threads[r->n] = pthread_self();
        r->futures[r->n] = f;
        r->saw_done[r->n] = done;
        r->n++;
    }
    pthread_mutex_unlock(&r->mu);
}

/* Item 8: three callbacks run in registration order, once, with `f`. */
TEST(item08_callbacks_run_in_order_once)
{
    struct record r;
    struct cb c[3];
    lp_future *f = future_pending();
    struct later l;

    record_init(&r);
    for (int i = 0; i < 3; i++) {
        c[i] = (struct cb){ &r, i + 1 };
        ASSERT_OK(lp_future_add_done_callback(f, on_done, &c[i]));
    }
    ASSERT_EQ(0, record_count(&r));
    later_start(&l, 20, later_set_result, f);
    later_join(&l);
    ASSERT_EQ(3, record_count(&r));
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(i + 1, r.ids[i]);
        ASSERT_PTR_EQ(f, r.futures[i]);
        /* After the state change, on the completing thread. */
        ASSERT_TRUE(r.saw_done[i]);
        ASSERT_TRUE(pthread_equal(r.threads[i], l.thread));
    }
    /* Never again: a late cancel or a second result runs nothing. */
    ASSERT_FALSE(lp_future_cancel(f));
    ASSERT_STATUS(LP_ESTATE, lp_future_set_result(f, NULL, NULL));
    ASSERT_EQ(3, record_count(&r));
    lp_future_release(f);
    ASSERT_EQ(3, record_count(&r));
}

/* Item 8: already done -> runs at once on the caller's thread. */
TEST(item08_callback_already_done)
{
    struct record r;
    struct cb c = { NULL, 1 };
    lp_future *fs[4];

    fs[0] = future_done(NULL);
    fs[1] = future_failed();
    fs[2] = future_cancelled();
    fs[3] = future_cancelled_notified();
    for (int i = 0; i < 4; i++) {
        record_init(&r);
        c.rec = &r;
        ASSERT_OK(lp_future_add_done_callback(fs[i], on_done, &c));
        ASSERT_EQ(1, record_count(&r));
        ASSERT_TRUE(pthread_equal(r.threads[0], pthread_self()));
        ASSERT_PTR_EQ(fs[i], r.futures[0]);
        lp_future_release(fs[i]);
        ASSERT_EQ(1, record_count(&r));
    }
}

/*
 * Outside every library lock: a callback that queries, reads the result of,
 * adds a callback to and cancels its own future would deadlock otherwise.
 */
static struct record reentrant_rec;

static void reentrant(lp_future *f, void *arg)
{
    static struct cb inner = { &reentrant_rec, 99 };
    void *out = NULL;

    (void)arg;
    ASSERT_TRUE(lp_future_done(f));
    ASSERT_OK(lp_future_result(f, 0, &out));
    ASSERT_PTR_EQ(f, out);
    ASSERT_FALSE(lp_future_cancel(f));
    /* Registering on a done future runs the new callback at once, here. */
    ASSERT_OK(lp_future_add_done_callback(f, on_done, &inner));
    ASSERT_EQ(1, record_count(&reentrant_rec));
}

TEST(item08_callback_runs_outside_locks)
{
    lp_future *f = future_pending();

    record_init(&reentrant_rec);
    ASSERT_OK(lp_future_add_done_callback(f, reentrant, NULL));
    ASSERT_OK(lp_future_set_result(f, f, NULL));
    ASSERT_EQ(1, record_count(&reentrant_rec));
    ASSERT_EQ(99, reentrant_rec.ids[0]);
    lp_future_release(f);
}

/* Item 8 with an executor: callbacks run on the worker that completed. */
TEST(item08_callback_on_worker_thread)
{
    lp_executor *ex = pool_new(1);
    struct gate g;
    struct record r;
    struct cb c = { NULL, 5 };
    lp_future *f;

    gate_init(&g);
    record_init(&r);
    c.rec = &r;
    f = submit_ok(ex, task_gate, &g);
    ASSERT_OK(lp_future_add_done_callback(f, on_done, &c));
    ASSERT_EQ(0, record_count(&r));
    gate_open(&g);
    lp_executor_destroy(ex);
    ASSERT_EQ(1, record_count(&r));
    ASSERT_FALSE(pthread_equal(r.threads[0], pthread_self()));
    ASSERT_TRUE(r.saw_done[0]);
    lp_future_release(f);
    gate_destroy(&g);
}

/* Item 9: callbacks fire on cancel, on the cancelling thread. */
TEST(item09_callbacks_fire_on_cancel)
{
    struct record r;
    struct cb c[2];
    lp_future *f = future_pending();
    struct later l;

    record_init(&r);
    for (int i = 0; i < 2; i++) {
        c[i] = (struct cb){ &r, i + 1 };
        ASSERT_OK(lp_future_add_done_callback(f, on_done, &c[i]));
    }
    later_start(&l, 10, later_cancel, f);
    later_join(&l);
    ASSERT_EQ(2, record_count(&r));
    ASSERT_EQ(1, r.ids[0]);
    ASSERT_EQ(2, r.ids[1]);
    ASSERT_TRUE(pthread_equal(r.threads[0], l.thread));
    ASSERT_TRUE(r.saw_done[0]);
    /* Cancelling again, or the executor's notification, runs nothing. */
    ASSERT_TRUE(lp_future_cancel(f));
    ASSERT_STATUS(LP_ECANCELLED, lp_future_set_running_or_notify_cancel(f));
    ASSERT_EQ(2, record_count(&r));
    lp_future_release(f);
}

/* Item 9 (C form): a callback releasing the last reference to its future
 * does not stop the later callbacks, and the result is freed once, after. */
static void release_future(lp_future *f, void *arg)
{
    (void)arg;
    lp_future_release(f);
}

TEST(item09_callback_releasing_future_keeps_others_running)
{
    struct record r;
    struct cb c[2];
    int value;
    lp_future *f = future_pending();

    frees_reset();
    record_init(&r);
    c[0] = (struct cb){ &r, 1 };
    c[1] = (struct cb){ &r, 2 };
    ASSERT_OK(lp_future_add_done_callback(f, on_done, &c[0]));
    ASSERT_OK(lp_future_add_done_callback(f, release_future, NULL));
    ASSERT_OK(lp_future_add_done_callback(f, on_done, &c[1]));
    /* Our only reference is released by the second callback. */
    ASSERT_OK(lp_future_set_result(f, &value, count_free));
    ASSERT_EQ(2, record_count(&r));
    ASSERT_EQ(1, r.ids[0]);
    ASSERT_EQ(2, r.ids[1]);
    ASSERT_TRUE(r.saw_done[1]);
    ASSERT_EQ(1, frees());
}

/* Same on cancel, from a worker-completed future too. */
TEST(item09_callback_releasing_future_on_cancel)
{
    struct record r;
    struct cb c = { NULL, 1 };
    lp_future *f = future_pending();

    record_init(&r);
    c.rec = &r;
    ASSERT_OK(lp_future_add_done_callback(f, release_future, NULL));
    ASSERT_OK(lp_future_add_done_callback(f, on_done, &c));
    ASSERT_TRUE(lp_future_cancel(f));
    ASSERT_EQ(1, record_count(&r));
    ASSERT_TRUE(r.saw_done[0]);
}

/* Item 9 (C form): a callback registering more callbacks while the list
 * runs; each runs exactly once and the originals keep their order. */
static struct record chain_rec;
static struct cb chain_cbs[3] = { { &chain_rec, 1 },
                                  { &chain_rec, 2 },
                                  { &chain_rec, 3 } };

static void add_more(lp_future *f, void *arg)
{
    (void)arg;
    ASSERT_OK(lp_future_add_done_callback(f, on_done, &chain_cbs[1]));
}

TEST(item09_callback_adding_callbacks)
{
    lp_future *f = future_pending();
    struct later l;

    record_init(&chain_rec);
    ASSERT_OK(lp_future_add_done_callback(f, on_done, &chain_cbs[0]));
    ASSERT_OK(lp_future_add_done_callback(f, add_more, NULL));
    ASSERT_OK(lp_future_add_done_callback(f, on_done, &chain_cbs[2]));
    later_start(&l, 10, later_set_result, f);
    later_join(&l);
    ASSERT_EQ(3, record_count(&chain_rec));
    ASSERT_EQ(1, chain_rec.ids[0]);
    /* The added one ran exactly once, on the completing thread, either at
     * once (2 before 3) or appended to the list (after 3). */
    ASSERT_TRUE((chain_rec.ids[1] == 2 && chain_rec.ids[2] == 3) ||
                (chain_rec.ids[1] == 3 && chain_rec.ids[2] == 2));
    for (int i = 0; i < 3; i++)
        ASSERT_TRUE(pthread_equal(chain_rec.threads[i], l.thread));
    lp_future_release(f);
    ASSERT_EQ(3, record_count(&chain_rec));
}

/* Many threads racing to register while another completes: each callback
 * runs exactly once. */
struct racer {
    lp_future *f;
    atomic_int *count;
};

static void count_cb(lp_future *f, void *arg)
{
    (void)f;
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void *register_many(void *arg)
{
    struct racer *r = arg;

    for (int i = 0; i < 200; i++)
        ASSERT_OK(lp_future_add_done_callback(r->f, count_cb, r->count));
    return NULL;
}

TEST(callbacks_race_with_completion_exactly_once)
{
    for (int round = 0; round < 20; round++) {
        atomic_int count;
        struct racer r;
        pthread_t t[3];

        atomic_init(&count, 0);
        r.f = future_pending();
        r.count = &count;
        for (int i = 0; i < 3; i++)
            ASSERT_EQ(0, pthread_create(&t[i], NULL, register_many, &r));
        if (round % 2)
            ASSERT_OK(lp_future_set_result(r.f, NULL, NULL));
        else
            ASSERT_TRUE(lp_future_cancel(r.f));
        for (int i = 0; i < 3; i++)
            pthread_join(t[i], NULL);
        ASSERT_EQ(600, atomic_load(&count));
        lp_future_release(r.f);
    }
}

LP_TEST_MAIN()

/*
 * Conformance item 18 (conformance.md): submit returns a future; a task's
 * return value becomes its result and its failure (lp_task_fail, the C
 * counterpart of raising) becomes the future's failure record. Also the
 * bytes-task form (lp_executor_submit_bytes, lp_task_reply) and argument
 * ownership (arg_free exactly once). Item 18's "sys.exit(1) in a process
 * worker" belongs to the process pool; a thread-pool task that calls exit()
 * ends the whole process, as in C it must.
 */
#include "lp-test-util.h"

/* Item 18: result and failure propagate. */
TEST(item18_submit_result_and_failure)
{
    lp_executor *ex = pool_new(2);
    int token;
    lp_future *ok = submit_ok(ex, task_echo, &token);
    lp_future *bad = submit_ok(ex, task_fail, (void *)(intptr_t)3);
    void *out = NULL;
    const lp_error *err;

    ASSERT_OK(lp_future_result(ok, LP_WAIT_FOREVER, &out));
    ASSERT_PTR_EQ(&token, out);
    ASSERT_NULL(lp_future_error(ok));

    ASSERT_STATUS(LP_ETASK, lp_future_result(bad, LP_WAIT_FOREVER, &out));
    ASSERT_NULL(out);
    err = lp_future_error(bad);
    ASSERT_TRUE(err != NULL);
    ASSERT_STATUS(LP_ETASK, err->status);
    ASSERT_EQ(42, err->code);
    ASSERT_EQ(EIO, err->sys_errno);
    ASSERT_STR_EQ("boom 3", err->message);
    ASSERT_OK(lp_future_exception(bad, 0, &err));
    ASSERT_EQ(42, err->code);

    /* The counter is bumped just after the future completes. */
    ASSERT_TRUE(POLL_UNTIL(stats_of(ex).completed == 2, 10000));
    lp_executor_destroy(ex);
    lp_future_release(ok);
    lp_future_release(bad);
}

/* lp_task_fail details: code 0 is stored as -1, the first failure wins,
 * long messages are truncated, never overflow. */
static void *task_fail_details(void *arg, lp_task *task)
{
    int which = (int)(intptr_t)arg;
    char big[3000];

    switch (which) {
    case 0:
        lp_task_fail(task, 0, 0, "zero code");
        break;
    case 1:
        lp_task_fail(task, 5, 0, "first");
        lp_task_fail(task, 6, 0, "second");
        break;
    default:
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        lp_task_fail(task, 1, 0, "%s", big);
        break;
    }
    return NULL;
}

TEST(task_fail_details)
{
    lp_executor *ex = pool_new(1);
    lp_future *f[3];
    void *out;
    const lp_error *err;

    for (int i = 0; i < 3; i++)
        f[i] = submit_ok(ex, task_fail_details, (void *)(intptr_t)i);
    for (int i = 0; i < 3; i++)
        ASSERT_STATUS(LP_ETASK, lp_future_result(f[i], LP_WAIT_FOREVER, &out));
    err = lp_future_error(f[0]);
    ASSERT_EQ(-1, err->code);
    ASSERT_STR_EQ("zero code", err->message);
    err = lp_future_error(f[1]);
    ASSERT_EQ(5, err->code);
    ASSERT_STR_EQ("first", err->message);
    err = lp_future_error(f[2]);
    ASSERT_TRUE(strlen(err->message) >= 1000);
    ASSERT_TRUE(strlen(err->message) <= 1024);
    ASSERT_EQ('a', err->message[0]);
    lp_executor_destroy(ex);
    for (int i = 0; i < 3; i++)
        lp_future_release(f[i]);
}

/* arg_free: exactly once after the task ran, even if it failed. */
TEST(submit_arg_free_once)
{
    lp_executor *ex = pool_new(2);
    lp_submit_options o = LP_SUBMIT_OPTIONS_INIT;
    lp_future *fs[10];

    frees_reset();
    o.arg_free = count_free_heap;
    for (int i = 0; i < 10; i++) {
        int *arg = malloc(sizeof(*arg));

        ASSERT_TRUE(arg != NULL);
        *arg = i;
        ASSERT_OK(lp_executor_submit_with(ex, i % 2 ? task_fail : task_noop,
                                          arg, &o, &fs[i]));
    }
    lp_executor_destroy(ex);
    ASSERT_EQ(10, frees());
    for (int i = 0; i < 10; i++)
        lp_future_release(fs[i]);
    ASSERT_EQ(10, frees());
    /* NULL options are the defaults. */
    ex = pool_new(1);
    fs[0] = NULL;
    ASSERT_OK(lp_executor_submit_with(ex, task_noop, NULL, NULL, &fs[0]));
    lp_executor_destroy(ex);
    ASSERT_TRUE(lp_future_done(fs[0]));
    lp_future_release(fs[0]);
}

/* ---- Bytes tasks ------------------------------------------------------ */

static void bytes_upper(lp_task *task, const void *in, size_t len)
{
    char buf[64];
    const char *s = in;

    if (len >= sizeof(buf)) {
        lp_task_fail(task, 2, E2BIG, "too long: %zu", len);
        return;
    }
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
    if (lp_task_reply(task, buf, len) != LP_OK)
        lp_task_fail(task, 3, 0, "reply failed");
}

static void bytes_silent(lp_task *task, const void *in, size_t len)
{
    (void)task;
    (void)in;
    (void)len;
}

static void bytes_twice(lp_task *task, const void *in, size_t len)
{
    (void)in;
    (void)len;
    lp_task_reply(task, "first reply", 11);
    lp_task_reply(task, "2nd", 3);
}

static void bytes_bad_reply(lp_task *task, const void *in, size_t len)
{
    (void)in;
    (void)len;
    if (lp_task_reply(task, NULL, 4) != LP_EINVAL)
        lp_task_fail(task, 1, 0, "NULL data accepted");
    else if (lp_task_reply(NULL, "x", 1) != LP_EINVAL)
        lp_task_fail(task, 1, 0, "NULL task accepted");
    else
        lp_task_reply(task, NULL, 0);
}

static lp_bytes *bytes_result(lp_future *f)
{
    void *out = NULL;

    ASSERT_OK(lp_future_result(f, LP_WAIT_FOREVER, &out));
    ASSERT_TRUE(out != NULL);
    return out;
}

TEST(bytes_task_reply)
{
    lp_executor *ex = pool_new(2);
    lp_future *f[4];
    lp_bytes *b;
    void *out;

    ASSERT_OK(lp_executor_submit_bytes(ex, bytes_upper, "hello", 5, &f[0]));
    ASSERT_OK(lp_executor_submit_bytes(ex, bytes_silent, "x", 1, &f[1]));
    ASSERT_OK(lp_executor_submit_bytes(ex, bytes_twice, NULL, 0, &f[2]));
    ASSERT_OK(lp_executor_submit_bytes(ex, bytes_bad_reply, "", 0, &f[3]));

    b = bytes_result(f[0]);
    ASSERT_EQ(5, b->len);
    ASSERT_STR_EQ("HELLO", b->data); /* NUL-terminated */
    b = bytes_result(f[1]);
    ASSERT_EQ(0, b->len);
    ASSERT_TRUE(b->data != NULL);
    ASSERT_EQ('\0', ((char *)b->data)[0]);
    b = bytes_result(f[2]);
    ASSERT_EQ(3, b->len);
    ASSERT_STR_EQ("2nd", b->data);
    ASSERT_OK(lp_future_result(f[3], LP_WAIT_FOREVER, &out));
    ASSERT_EQ(0, ((lp_bytes *)out)->len);
    lp_executor_destroy(ex);
    for (int i = 0; i < 4; i++)
        lp_future_release(f[i]);
}

TEST(bytes_task_fail)
{
    lp_executor *ex = pool_new(1);
    char big[100];
    lp_future *f;
    void *out = &out;
    const lp_error *err;

    memset(big, 'x', sizeof(big));
    ASSERT_OK(lp_executor_submit_bytes(ex, bytes_upper, big, sizeof(big), &f));
    ASSERT_STATUS(LP_ETASK, lp_future_result(f, LP_WAIT_FOREVER, &out));
    ASSERT_NULL(out);
    err = lp_future_error(f);
    ASSERT_EQ(2, err->code);
    ASSERT_EQ(E2BIG, err->sys_errno);
    ASSERT_STR_EQ("too long: 100", err->message);
    lp_executor_destroy(ex);
    lp_future_release(f);
}

/* The input is copied at submit: changing the caller's buffer afterwards
 * does not reach the task. */
struct copy_check {
    struct gate gate;
};

static struct copy_check copy_check;

static void bytes_wait_then_echo(lp_task *task, const void *in, size_t len)
{
    gate_wait(&copy_check.gate);
    lp_task_reply(task, in, len);
}

TEST(bytes_input_copied_at_submit)
{
    lp_executor *ex = pool_new(1);
    char buf[8] = "abcdefg";
    lp_future *f;
    lp_bytes *b;

    gate_init(&copy_check.gate);
    ASSERT_OK(lp_executor_submit_bytes(ex, bytes_wait_then_echo, buf, 7, &f));
    memset(buf, 'z', 7);
    gate_open(&copy_check.gate);
    b = bytes_result(f);
    ASSERT_STR_EQ("abcdefg", b->data);
    lp_executor_destroy(ex);
    lp_future_release(f);
    gate_destroy(&copy_check.gate);
}

/* lp_task_reply from a pointer task is LP_EINVAL. */
static void *task_reply_from_pointer(void *arg, lp_task *task)
{
    (void)arg;
    return (void *)(intptr_t)lp_task_reply(task, "x", 1);
}

TEST(bytes_reply_from_pointer_task_is_einval)
{
    lp_executor *ex = pool_new(1);
    lp_future *f = submit_ok(ex, task_reply_from_pointer, NULL);
    void *out;

    ASSERT_OK(lp_future_result(f, LP_WAIT_FOREVER, &out));
    ASSERT_STATUS(LP_EINVAL, (lp_status)(intptr_t)out);
    lp_executor_destroy(ex);
    lp_future_release(f);
}

/* Bytes tasks can be cancelled while queued, too. */
TEST(bytes_task_cancelled_while_queued)
{
    lp_executor *ex = pool_new(1);
    struct gate g;
    lp_future *blocker, *f;
    void *out;

    gate_init(&g);
    blocker = submit_ok(ex, task_gate, &g);
    ASSERT_TRUE(POLL_UNTIL(lp_future_running(blocker), 10000));
    ASSERT_OK(lp_executor_submit_bytes(ex, bytes_upper, "abc", 3, &f));
    ASSERT_TRUE(lp_future_cancel(f));
    gate_open(&g);
    lp_executor_destroy(ex);
    ASSERT_STATUS(LP_ECANCELLED, lp_future_result(f, 0, &out));
    lp_future_release(f);
    lp_future_release(blocker);
    gate_destroy(&g);
}

/*
 * A caller completing an executor's future itself (set_result is public):
 * the executor must cope. A queued task whose future was finished from
 * outside is skipped and its argument released; a running task's own
 * result is refused and freed with result_free. No leak, no crash.
 */
static void *task_gate_alloc(void *arg, lp_task *task)
{
    int *v = malloc(sizeof(*v));

    (void)task;
    gate_wait(arg);
    return v;
}

TEST(future_finished_from_outside)
{
    lp_executor *ex = pool_new(1);
    lp_submit_options o = LP_SUBMIT_OPTIONS_INIT;
    struct gate g;
    struct watchdog w;
    atomic_int ran;
    lp_future *running = NULL, *queued = NULL;
    int mine;
    void *out;

    frees_reset();
    atomic_init(&ran, 0);
    gate_init(&g);
    watchdog_start(&w, &g, 10000);
    o.result_free = count_free_heap;
    ASSERT_OK(lp_executor_submit_with(ex, task_gate_alloc, &g, &o, &running));
    ASSERT_TRUE(POLL_UNTIL(lp_future_running(running), 10000));
    o.result_free = NULL;
    o.arg_free = count_free;
    ASSERT_OK(lp_executor_submit_with(ex, task_count, &ran, &o, &queued));

    ASSERT_OK(lp_future_set_result(running, &mine, NULL));
    ASSERT_OK(lp_future_set_result(queued, &mine, NULL));
    gate_open(&g);
    lp_executor_destroy(ex);
    ASSERT_FALSE(watchdog_stop(&w));

    ASSERT_OK(lp_future_result(running, 0, &out));
    ASSERT_PTR_EQ(&mine, out);
    ASSERT_OK(lp_future_result(queued, 0, &out));
    ASSERT_PTR_EQ(&mine, out);
    ASSERT_EQ(0, atomic_load(&ran));
    /* The running task's refused result and the queued task's argument. */
    ASSERT_EQ(2, frees());
    lp_future_release(running);
    lp_future_release(queued);
    ASSERT_EQ(2, frees());
    gate_destroy(&g);
}

/* A task that submits to its own pool and waits for the result. */
static void *task_nested(void *arg, lp_task *task)
{
    lp_executor *ex = arg;
    lp_future *f = NULL;
    void *out = NULL;

    (void)task;
    if (lp_executor_submit(ex, task_echo, (void *)(intptr_t)7, &f) != LP_OK)
        return NULL;
    if (lp_future_result(f, 10000, &out) != LP_OK)
        out = NULL;
    lp_future_release(f);
    return out;
}

TEST(task_submits_to_its_own_pool)
{
    lp_executor *ex = pool_new(2);
    lp_future *f = submit_ok(ex, task_nested, ex);
    void *out = NULL;

    ASSERT_OK(lp_future_result(f, LP_WAIT_FOREVER, &out));
    ASSERT_EQ(7, (intptr_t)out);
    lp_executor_destroy(ex);
    lp_future_release(f);
}

/* A done callback running on a worker may not shut the pool down waiting
 * (it would wait for itself); it gets LP_EINVAL, and may shut down
 * without waiting. */
struct cb_shutdown {
    lp_executor *ex;
    lp_status wait_st, nowait_st;
};

static void shutdown_from_callback(lp_future *f, void *arg)
{
    struct cb_shutdown *c = arg;

    (void)f;
    c->wait_st = lp_executor_shutdown(c->ex, true, false);
    c->nowait_st = lp_executor_shutdown(c->ex, false, false);
}

TEST(shutdown_from_done_callback_on_worker)
{
    struct gate g;
    struct cb_shutdown c = { NULL, LP_OK, LP_EINVAL };
    lp_future *f;

    gate_init(&g);
    c.ex = pool_new(1);
    f = submit_ok(c.ex, task_gate, &g);
    ASSERT_OK(lp_future_add_done_callback(f, shutdown_from_callback, &c));
    gate_open(&g);
    lp_executor_destroy(c.ex);
    ASSERT_STATUS(LP_EINVAL, c.wait_st);
    ASSERT_OK(c.nowait_st);
    lp_future_release(f);
    gate_destroy(&g);
}

LP_TEST_MAIN()

/*
 * Process pool: what happens at the edges -- signals in the workers, deaths
 * the pool must see at once, replacements that cannot start, what exactly a
 * map chunk and a sent-ahead task are, and the IPC the pool must not use.
 * Each test here fails on a specific way of getting it wrong (named in its
 * comment).
 */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"
#include "lp-test.h"
#include "process-pool-tasks.h"
#include "process-pool-test-util.h"
#include "process.h"

/*
 * The library is linked statically into this test, so its calls to these
 * bind here. The pool must never make them: Lambda has no /dev/shm.
 */
static atomic_int shm_calls;

int shm_open(const char *name, int oflag, mode_t mode)
{
    (void)name;
    (void)oflag;
    (void)mode;
    atomic_fetch_add(&shm_calls, 1);
    errno = ENOSYS;
    return -1;
}

int shm_unlink(const char *name)
{
    (void)name;
    atomic_fetch_add(&shm_calls, 1);
    errno = ENOSYS;
    return -1;
}

sem_t *sem_open(const char *name, int oflag, ...)
{
    (void)name;
    (void)oflag;
    atomic_fetch_add(&shm_calls, 1);
    errno = ENOSYS;
    return SEM_FAILED;
}

static lp_executor *make_pool(int workers, lp_worker_death_policy policy,
                              unsigned max_tasks, unsigned max_inflight)
{
    lp_process_pool_options o = LP_PROCESS_POOL_OPTIONS_INIT;
    lp_executor *ex;

    o.max_workers = workers;
    o.on_worker_death = policy;
    o.max_tasks_per_child = max_tasks;
    o.max_inflight = max_inflight;
    ASSERT_OK(lp_process_pool_create(&o, &ex));
    return ex;
}

/* Input "c": crashes; anything else: replies "ok". */
static void task_maybe_crash(lp_task *task, const void *in, size_t len)
{
    if (len == 1 && ((const char *)in)[0] == 'c')
        raise(SIGSEGV);
    lp_task_reply(task, "ok", 2);
}

/* Teaches the pool that task_maybe_crash is short, so later ones are sent
 * ahead to a busy worker (up to max_inflight). */
static void learn_short(lp_executor *ex)
{
    for (int i = 0; i < 20; i++) {
        lp_future *f;
        void *r;

        ASSERT_OK(lp_executor_submit_bytes(ex, task_maybe_crash, "n", 1, &f));
        ASSERT_OK(lp_future_result(f, 10000, &r));
        lp_future_release(f);
    }
}

/* The fork server's descriptor limit, lowered below what a socketpair for
 * a new worker needs. */
static void starve_fork_server(lp_executor *ex)
{
    struct rlimit low = { 6, 6 };
    lp_future *f;
    void *r;
    pid_t server;

    ASSERT_OK(lp_executor_submit_bytes(ex, task_ppid, NULL, 0, &f));
    ASSERT_OK(lp_future_result(f, 10000, &r));
    server = (pid_t)strtol(((lp_bytes *)r)->data, NULL, 10);
    lp_future_release(f);
    ASSERT_EQ(0, prlimit(server, RLIMIT_NOFILE, &low, NULL));
}

/* Starts a process that outlives the worker by 2 s (as `system("cmd &")`
 * would, but without exec: it keeps the worker's socket), then dies. */
static void task_fork_then_die(lp_task *task, const void *in, size_t len)
{
    (void)task;
    (void)in;
    (void)len;
    if (fork() == 0) {
        sleep(2);
        _exit(0);
    }
    raise(SIGKILL);
}

/* The death is seen when the worker is reaped, not when its socket's last
 * holder exits. Catches settling a death only at EOF. */
TEST(death_seen_while_a_forked_process_holds_the_socket)
{
    lp_executor *ex = make_pool(1, LP_WORKER_DEATH_BREAK, 0, 0);
    lp_future *f;
    int64_t t0 = lp_test_now_ms(), took;
    void *r;

    ASSERT_OK(lp_executor_submit_bytes(ex, task_fork_then_die, NULL, 0, &f));
    ASSERT_STATUS(LP_EBROKEN, lp_future_result(f, 20000, &r));
    took = lp_test_now_ms() - t0;
    printf("# broken after %lld ms\n", (long long)took);
    ASSERT_LE(took, 1000);
    lp_future_release(f);
    lp_executor_destroy(ex);
}

/* Replies whether descriptor 3 (the worker's socket) is close-on-exec. */
static void task_socket_cloexec(lp_task *task, const void *in, size_t len)
{
    int flags = fcntl(LP__WORKER_FD, F_GETFD);

    (void)in;
    (void)len;
    reply_str(task, flags >= 0 && (flags & FD_CLOEXEC) ? "yes" : "no");
}

/* A program a task runs does not inherit the pool's socket. */
TEST(worker_socket_closed_on_exec)
{
    lp_executor *ex = make_pool(1, LP_WORKER_DEATH_BREAK, 0, 0);
    lp_future *f;
    void *r;

    ASSERT_OK(lp_executor_submit_bytes(ex, task_socket_cloexec, NULL, 0, &f));
    ASSERT_OK(lp_future_result(f, 10000, &r));
    ASSERT_STR_EQ("yes", ((lp_bytes *)r)->data);
    lp_future_release(f);
    lp_executor_destroy(ex);
}

/* Fails with a 49-byte message, longer than the pool's max_payload. */
static void task_fail_long(lp_task *task, const void *in, size_t len)
{
    (void)in;
    (void)len;
    lp_task_fail(task, 7, 0, "%s",
                 "this failure message is longer than sixteen bytes");
}

/* A task's failure is LP_ETASK with its message whatever max_payload is,
 * and the worker lives on. Catches reading a FAIL frame under the reply
 * size cap (the pool broke with "malformed frame"). */
TEST(failure_message_longer_than_max_payload)
{
    lp_process_pool_options o = LP_PROCESS_POOL_OPTIONS_INIT;
    const lp_error *e;
    lp_executor *ex;
    lp_future *f;
    long pid;
    void *r;

    o.max_workers = 1;
    o.max_payload = 16;
    ASSERT_OK(lp_process_pool_create(&o, &ex));
    pid = worker_pid(ex);
    ASSERT_OK(lp_executor_submit_bytes(ex, task_fail_long, NULL, 0, &f));
    ASSERT_STATUS(LP_ETASK, lp_future_result(f, 10000, &r));
    e = lp_future_error(f);
    ASSERT_EQ(7, e->code);
    ASSERT_STR_EQ("this failure message is longer than sixteen bytes",
                  e->message);
    lp_future_release(f);
    ASSERT_EQ(pid, worker_pid(ex));
    lp_executor_destroy(ex);
}

/* The fork server reaps its workers before shutdown returns. As a child
 * subreaper this process would inherit any worker the server left. */
TEST(no_worker_orphaned_at_shutdown)
{
    ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
    for (int round = 0; round < 3; round++) {
        lp_executor *ex = make_pool(3, LP_WORKER_DEATH_BREAK, 0, 0);

        for (int i = 0; i < 3; i++)
            worker_pid(ex);
        ASSERT_OK(lp_executor_shutdown(ex, true, false));
        assert_no_children();
        lp_executor_destroy(ex);
    }
    ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 0));
}

static void on_signal(int sig)
{
    (void)sig;
}

/* Signals with a handler installed without SA_RESTART (workers inherit it)
 * interrupt an idle worker's read: it must read on (EINTR). */
TEST(idle_worker_survives_signals)
{
    struct sigaction sa = { 0 }, old;
    lp_executor *ex;
    long pid;

    sa.sa_handler = on_signal;
    ASSERT_EQ(0, sigaction(SIGUSR1, &sa, &old));
    ex = make_pool(1, LP_WORKER_DEATH_BREAK, 0, 0);
    pid = worker_pid(ex);
    for (int i = 0; i < 5; i++) {
        lp_test_sleep_ms(20);
        ASSERT_EQ(0, kill((pid_t)pid, SIGUSR1));
    }
    lp_test_sleep_ms(20);
    ASSERT_EQ(pid, worker_pid(ex));
    lp_executor_destroy(ex);
    sigaction(SIGUSR1, &old, NULL);
}

#define BIG_REPLY (16u << 20)

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)(i * 7 + (i >> 11));
}

/* Replies BIG_REPLY bytes while SIGALRM (no SA_RESTART) fires every
 * 100 us: the worker's sends see EINTR and short writes. */
static void task_big_reply_under_signals(lp_task *task, const void *in,
                                         size_t len)
{
    struct sigaction sa = { 0 };
    struct itimerval it = { { 0, 100 }, { 0, 100 } };
    unsigned char *b = malloc(BIG_REPLY);

    (void)in;
    (void)len;
    if (b == NULL)
        _exit(12);
    for (size_t i = 0; i < BIG_REPLY; i++)
        b[i] = pattern_byte(i);
    sa.sa_handler = on_signal;
    sigaction(SIGALRM, &sa, NULL);
    setitimer(ITIMER_REAL, &it, NULL); /* still firing after the task */
    lp_task_reply(task, b, BIG_REPLY);
    free(b);
}

/* Catches a worker that gives up on EINTR or loses the rest of a short
 * write. */
TEST(big_reply_intact_under_signals)
{
    lp_executor *ex = make_pool(1, LP_WORKER_DEATH_BREAK, 0, 0);
    unsigned char *want = malloc(BIG_REPLY);

    ASSERT_TRUE(want != NULL);
    for (size_t i = 0; i < BIG_REPLY; i++)
        want[i] = pattern_byte(i);
    for (int round = 0; round < 3; round++) {
        lp_future *f;
        lp_bytes *b;
        void *r;

        ASSERT_OK(lp_executor_submit_bytes(ex, task_big_reply_under_signals,
                                           NULL, 0, &f));
        ASSERT_OK(lp_future_result(f, 60000, &r));
        b = r;
        ASSERT_EQ(BIG_REPLY, b->len);
        ASSERT_EQ(0, memcmp(b->data, want, BIG_REPLY));
        lp_future_release(f);
    }
    free(want);
    lp_executor_destroy(ex);
}

/* Item 41: a chunk of k items is one message to one worker. With
 * max_tasks_per_child 1 (a chunk is one task for it), the items of a chunk
 * share a pid and consecutive chunks do not. */
TEST(map_chunk_is_one_message)
{
    enum { N = 9, K = 3 };
    lp_executor *ex = make_pool(1, LP_WORKER_DEATH_BREAK, 1, 0);
    lp_bytes items[N];
    lp_future *f[N];
    char pids[N][32];
    void *r;

    for (int i = 0; i < N; i++)
        items[i] = (lp_bytes){ "x", 1 };
    ASSERT_OK(lp_process_pool_map_bytes(ex, task_pid, items, N, K, f));
    for (int i = 0; i < N; i++) {
        ASSERT_OK(lp_future_result(f[i], 20000, &r));
        snprintf(pids[i], sizeof(pids[i]), "%s",
                 (const char *)((lp_bytes *)r)->data);
        lp_future_release(f[i]);
    }
    for (int i = 1; i < N; i++) {
        if (i % K != 0)
            ASSERT_STR_EQ(pids[i - 1], pids[i]);
        else
            ASSERT_TRUE(strcmp(pids[i - 1], pids[i]) != 0);
    }
    lp_executor_destroy(ex);
}

/* Item 37: every item of a chunk sent to a worker is RUNNING and cannot
 * be cancelled any more. */
TEST(sent_chunk_items_not_cancellable)
{
    enum { N = 4 };
    lp_executor *ex = make_pool(1, LP_WORKER_DEATH_BREAK, 0, 0);
    int64_t ms = 200;
    lp_bytes items[N];
    lp_future *f[N];
    void *r;

    for (int i = 0; i < N; i++)
        items[i] = (lp_bytes){ &ms, sizeof(ms) };
    ASSERT_OK(lp_process_pool_map_bytes(ex, task_sleep_ms, items, N, N, f));
    while (!lp_future_running(f[0]))
        lp_test_sleep_ms(1);
    for (int i = 0; i < N; i++) {
        ASSERT_TRUE(lp_future_running(f[i]));
        ASSERT_FALSE(lp_future_cancel(f[i]));
    }
    for (int i = 0; i < N; i++) {
        ASSERT_OK(lp_future_result(f[i], 20000, &r));
        lp_future_release(f[i]);
    }
    lp_executor_destroy(ex);
}

/* Item 37: at most max_inflight tasks are sent to a worker, even behind
 * work known to be short; the rest stay cancellable. */
TEST(max_inflight_caps_sent_ahead)
{
    enum { N = 8 };
    lp_executor *ex = make_pool(1, LP_WORKER_DEATH_BREAK, 0, 2);
    int64_t one = 1, slow = 300;
    lp_future *f[N];
    int sent = 0;
    void *r;

    for (int i = 0; i < 30; i++) { /* task_sleep_ms's estimate: ~1 ms */
        ASSERT_OK(lp_executor_submit_bytes(ex, task_sleep_ms, &one, sizeof(one),
                                           &f[0]));
        ASSERT_OK(lp_future_result(f[0], 10000, &r));
        lp_future_release(f[0]);
    }
    for (int i = 0; i < N; i++)
        ASSERT_OK(lp_executor_submit_bytes(ex, task_sleep_ms, &slow,
                                           sizeof(slow), &f[i]));
    lp_test_sleep_ms(100);
    for (int i = 0; i < N; i++)
        sent += !lp_future_cancel(f[i]);
    printf("# %d of %d sent\n", sent, N);
    ASSERT_LE(sent, 2);
    ASSERT_OK(lp_process_pool_terminate(ex, SIGKILL));
    for (int i = 0; i < N; i++)
        lp_future_release(f[i]);
    lp_executor_destroy(ex);
}

/* A well-formed frame that answers no task (an unknown id) is a protocol
 * error on the running future, not dropped (which left it hanging). */
static void task_stray_result(lp_task *task, const void *in, size_t len)
{
    struct lp__frame_header h = { .type = LP__FRAME_RESULT, .id = 0x7777777 };
    unsigned char hdr[LP__FRAME_HEADER_SIZE];

    (void)task;
    (void)in;
    (void)len;
    lp__frame_encode_header(hdr, &h);
    if (write(LP__WORKER_FD, hdr, sizeof(hdr)) < 0)
        _exit(9);
    for (;;)
        pause();
}

TEST(stray_frame_fails_future)
{
    lp_executor *ex = make_pool(1, LP_WORKER_DEATH_REPLACE, 0, 0);
    lp_future *f;
    void *r;

    ASSERT_OK(lp_executor_submit_bytes(ex, task_stray_result, NULL, 0, &f));
    ASSERT_STATUS(LP_EBROKEN, lp_future_result(f, 5000, &r));
    ASSERT_EQ(LP_EPROTO, lp_future_error(f)->code);
    lp_future_release(f);
    lp_executor_destroy(ex);
}

static void shutdown_cancelling(lp_future *f, void *arg)
{
    (void)f;
    lp_executor_shutdown((lp_executor *)arg, false, true);
}

/* Items 24, 37: shutdown(cancel_futures) cancels PENDING work only. Tasks
 * sent ahead to a worker that died before starting them are RUNNING and
 * back in the queue (REPLACE); a cancelling shutdown made right then (from
 * the crashed future's done callback, on the manager thread) leaves them
 * to run, or cancels those never sent; none fails. */
TEST(cancel_futures_spares_resent_tasks)
{
    lp_executor *ex = make_pool(1, LP_WORKER_DEATH_REPLACE, 0, 8);
    lp_future *c, *g[3];
    void *r;

    learn_short(ex);
    ASSERT_OK(lp_executor_submit_bytes(ex, task_maybe_crash, "c", 1, &c));
    ASSERT_OK(lp_future_add_done_callback(c, shutdown_cancelling, ex));
    for (int i = 0; i < 3; i++)
        ASSERT_OK(
            lp_executor_submit_bytes(ex, task_maybe_crash, "n", 1, &g[i]));
    ASSERT_STATUS(LP_EBROKEN, lp_future_result(c, 20000, &r));
    for (int i = 0; i < 3; i++) {
        lp_status st = lp_future_result(g[i], 20000, &r);

        if (st != LP_OK && st != LP_ECANCELLED)
            LP_TEST_FAIL("task %d: %s (%s)", i, lp_status_str(st),
                         lp_future_error(g[i]) ? lp_future_error(g[i])->message
                                               : "");
        lp_future_release(g[i]);
    }
    lp_future_release(c);
    lp_executor_destroy(ex);
}

/* Item 42: a replacement that cannot be started breaks the pool, saying
 * so, instead of leaving later tasks queued for ever. */
TEST(replacement_failure_breaks_pool)
{
    lp_executor *ex = make_pool(1, LP_WORKER_DEATH_BREAK, 1, 0);
    lp_status st = LP_OK;

    /* That task used up the worker: its replacement fails. */
    starve_fork_server(ex);
    for (int i = 0; i < 500 && st != LP_EBROKEN; i++) {
        lp_future *f;
        void *r;

        st = lp_executor_submit_bytes(ex, task_echo, "a", 1, &f);
        if (st == LP_OK) {
            st = lp_future_result(f, 20000, &r);
            if (st == LP_EBROKEN && strstr(lp_future_error(f)->message,
                                           "could not be started") == NULL)
                LP_TEST_FAIL("message: %s", lp_future_error(f)->message);
            lp_future_release(f);
        }
        if (st == LP_OK)
            lp_test_sleep_ms(5);
    }
    ASSERT_STATUS(LP_EBROKEN, st);
    lp_executor_destroy(ex);
    assert_no_children();
}

/* The same under REPLACE, with tasks the dead worker had been sent ahead
 * (back in the queue, RUNNING): they settle, later submits fail, shutdown
 * returns. */
TEST(replace_spawn_failure_settles_resent_tasks)
{
    lp_executor *ex = make_pool(1, LP_WORKER_DEATH_REPLACE, 0, 8);
    lp_future *f, *c, *g[3];
    void *r;

    learn_short(ex);
    starve_fork_server(ex);
    ASSERT_OK(lp_executor_submit_bytes(ex, task_maybe_crash, "c", 1, &c));
    for (int i = 0; i < 3; i++)
        ASSERT_OK(
            lp_executor_submit_bytes(ex, task_maybe_crash, "n", 1, &g[i]));
    ASSERT_STATUS(LP_EBROKEN, lp_future_result(c, 20000, &r));
    for (int i = 0; i < 3; i++) {
        lp_status st = lp_future_result(g[i], 5000, &r);

        if (st != LP_EBROKEN && st != LP_OK)
            LP_TEST_FAIL("task %d: %s", i, lp_status_str(st));
        lp_future_release(g[i]);
    }
    ASSERT_STATUS(LP_EBROKEN,
                  lp_executor_submit_bytes(ex, task_echo, "a", 1, &f));
    lp_future_release(c);
    lp_executor_destroy(ex);
    assert_no_children();
}

/* No shm_open, shm_unlink or sem_open, even where /dev/shm would work
 * (works_without_dev_shm in test-process-pool-fail needs a mount
 * namespace, which some hosts refuse). */
TEST(no_shared_memory_calls)
{
    lp_executor *ex = make_pool(2, LP_WORKER_DEATH_BREAK, 0, 0);
    lp_bytes items[4];
    lp_future *f[4];
    void *r;

    for (int i = 0; i < 4; i++)
        items[i] = (lp_bytes){ "x", 1 };
    ASSERT_OK(lp_process_pool_map_bytes(ex, task_echo, items, 4, 2, f));
    for (int i = 0; i < 4; i++) {
        ASSERT_OK(lp_future_result(f[i], 10000, &r));
        lp_future_release(f[i]);
    }
    lp_executor_destroy(ex);
    ASSERT_EQ(0, atomic_load(&shm_calls));
}

LP_TEST_MAIN()

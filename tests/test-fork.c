/*
 * Conformance items 35 and 26 (conformance.md): fork while a pool runs, and
 * what happens at process exit.
 *
 * Item 35: in a child forked while a pool runs, the old pool has no threads;
 * executor.h documents that submit/map/shutdown on it return LP_ESHUTDOWN
 * and that the child may create pools of its own. The child reports each
 * failed step through its exit code; the parent asserts it exited 0.
 *
 * Item 26: Python joins workers at interpreter exit. lambdapool registers
 * nothing with atexit() (executor.h): work is finished by destroy or by the
 * scoped forms, and a process that exits with an idle pool undestroyed must
 * not hang. Both sides are checked in child processes.
 *
 * ThreadSanitizer does not support starting threads in a child forked from
 * a multi-threaded parent (it aborts the child), so in the TSan tree the
 * child skips the "new pool works" step of item 35.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/future_impl.h"
#include "lp-test-util.h"

static int child_status(pid_t pid)
{
    int status = 0;

    ASSERT_EQ(pid, waitpid(pid, &status, 0));
    if (!WIFEXITED(status)) {
        fprintf(stderr, "child died: status 0x%x\n", status);
        return -1;
    }
    return WEXITSTATUS(status);
}

static void *task_plus_one(void *arg, lp_task *task)
{
    (void)task;
    return (void *)((intptr_t)arg + 1);
}

/* Runs in the child; returns the exit code (0: all good). */
static int child_after_fork(lp_executor *old, lp_future *running)
{
    lp_future *f = (lp_future *)old;
    void *args[1] = { NULL };
    lp_map *m = (lp_map *)args;
    lp_executor *fresh = NULL;
    void *out = NULL;

    if (lp_executor_submit(old, task_noop, NULL, &f) != LP_ESHUTDOWN ||
        f != NULL)
        return 10;
    if (lp_executor_map(old, task_noop, args, 1, NULL, &m) != LP_ESHUTDOWN ||
        m != NULL)
        return 11;
    if (lp_executor_shutdown(old, true, false) != LP_ESHUTDOWN)
        return 12;
    /* The running task's future is not touched by anyone here: it stays
     * unfinished, and a bounded wait on it times out instead of hanging. */
    if (lp_future_result(running, 10, &out) != LP_ETIMEDOUT)
        return 13;
    /* Frees what it can without the parent's locks; must not hang. */
    lp_executor_destroy(old);
#if !defined(LP_TSAN)
    if (lp_thread_pool_create(NULL, &fresh) != LP_OK)
        return 20;
    if (lp_executor_submit(fresh, task_plus_one, (void *)41, &f) != LP_OK)
        return 21;
    if (lp_future_result(f, 10000, &out) != LP_OK || out != (void *)42)
        return 22;
    lp_future_release(f);
    lp_executor_destroy(fresh);
#else
    (void)fresh;
    (void)task_plus_one;
#endif
    return 0;
}

TEST(item35_fork_from_a_running_pool)
{
    lp_executor *ex = pool_new(2);
    struct gate g;
    struct watchdog w;
    lp_future *running, *queued;
    pid_t pid;
    void *out;

    gate_init(&g);
    watchdog_start(&w, &g, 20000);
    running = submit_ok(ex, task_gate, &g);
    ASSERT_TRUE(POLL_UNTIL(lp_future_running(running), 10000));
    queued = submit_ok(ex, task_noop, NULL);
#if LP_TEST_SANITIZED
    /*
     * The sanitizers' allocators are not fork-safe: a lock that another
     * thread holds at fork() (a worker still starting up) stays locked in
     * the child, and the child's first allocation on that size class hangs.
     * glibc's malloc takes its locks around fork(). So here the pool is
     * forked once the second worker has settled: the blocked task still
     * runs, the other worker waits for work.
     */
    ASSERT_OK(lp_future_result(queued, 10000, &out));
    ASSERT_TRUE(POLL_UNTIL(stats_of(ex).idle == 1, 10000));
#endif
    fflush(NULL);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0)
        _exit(child_after_fork(ex, running));
    ASSERT_EQ(0, child_status(pid));
    /* The parent's pool is unaffected. */
    gate_open(&g);
    ASSERT_OK(lp_future_result(running, 10000, &out));
    ASSERT_OK(lp_future_result(queued, 10000, &out));
    lp_future_release(submit_ok(ex, task_noop, NULL));
    lp_executor_destroy(ex);
    ASSERT_FALSE(watchdog_stop(&w));
    lp_future_release(running);
    lp_future_release(queued);
    gate_destroy(&g);
}

/* Item 26: destroy before exit finishes queued work ("apple" printed). */
static void *task_write(void *arg, lp_task *task)
{
    int fd = (int)(intptr_t)arg;

    (void)task;
    lp_test_sleep_ms(20);
    if (write(fd, "apple", 5) != 5)
        return NULL;
    return arg;
}

TEST(item26_destroy_before_exit_finishes_work)
{
    int fds[2];
    pid_t pid;
    char buf[16] = "";
    ssize_t got;

    ASSERT_EQ(0, pipe(fds));
    fflush(NULL);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        lp_executor *ex = NULL;
        lp_future *f = NULL;

        close(fds[0]);
#if defined(LP_TSAN)
        /* See the file comment: no new threads in a TSan child. */
        if (write(fds[1], "apple", 5) != 5)
            _exit(3);
        _exit(0);
#endif
        if (lp_thread_pool_create(NULL, &ex) != LP_OK)
            _exit(1);
        if (lp_executor_submit(ex, task_write, (void *)(intptr_t)fds[1], &f) !=
            LP_OK)
            _exit(2);
        lp_future_release(f);
        lp_executor_destroy(ex);
        exit(0);
    }
    close(fds[1]);
    got = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    ASSERT_EQ(0, child_status(pid));
    ASSERT_EQ(5, got);
    ASSERT_STR_EQ("apple", buf);
}

/* Item 26: exit() with an idle pool that was never destroyed neither hangs
 * nor crashes (nothing is registered with atexit). */
TEST(item26_exit_with_live_idle_pool)
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
#if !defined(LP_TSAN)
        lp_executor *ex = NULL;
        lp_future *f = NULL;
        void *out;

        if (lp_thread_pool_create(NULL, &ex) != LP_OK)
            _exit(1);
        if (lp_executor_submit(ex, task_noop, NULL, &f) != LP_OK)
            _exit(2);
        if (lp_future_result(f, 10000, &out) != LP_OK)
            _exit(3);
        lp_future_release(f);
        /* ex deliberately not destroyed; under ASan this is a leak the
         * leak checker must not report at exit: skip it there. */
#    if defined(LP_SANITIZED)
        lp_executor_destroy(ex);
#    endif
#endif
        exit(0);
    }
    ASSERT_EQ(0, child_status(pid));
}

/* ---- item 35: a future lock held by another thread at the fork ------- */

struct stripe_holder {
    lp_future *f;
    atomic_bool holding;
};

/* Holds f's lock (a stripe shared with other futures) for 100 ms, as a
 * thread registering a waiter or finishing a future briefly does. */
static void *hold_future_lock(void *arg)
{
    struct stripe_holder *h = arg;
    lp__mutex *lock = lp__future_lock(h->f);

    lp__mutex_lock(lock);
    atomic_store(&h->holding, true);
    lp_test_sleep_ms(100);
    lp__mutex_unlock(lock);
    return NULL;
}

static void ignore_done(lp_future *f, void *arg)
{
    (void)f, (void)arg;
}

/* Runs in the child: f's lock is usable, so it was not left held. */
static int child_uses_future(lp_future *f)
{
    alarm(10); /* a lock left held would hang here: SIGALRM ends it */
    if (lp_future_add_done_callback(f, ignore_done, NULL) != LP_OK ||
        lp_future_set_result(f, NULL, NULL) != LP_OK)
        return 1;
    return 0;
}

/*
 * Item 35, the child's own futures: fork while another thread holds a
 * future's lock. The child must not inherit it held (it would hang on the
 * first callback or waiter of any future on that stripe): fork waits for
 * the lock, and the child starts with fresh ones.
 */
TEST(item35_fork_while_a_future_lock_is_held)
{
    struct stripe_holder h;
    pthread_t t;
    pid_t pid;

    ASSERT_OK(lp_future_create(&h.f));
    atomic_init(&h.holding, false);
    ASSERT_EQ(0, pthread_create(&t, NULL, hold_future_lock, &h));
    while (!atomic_load(&h.holding))
        lp_test_sleep_ms(1);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0)
        _exit(child_uses_future(h.f));
    ASSERT_EQ(0, child_status(pid));
    ASSERT_EQ(0, pthread_join(t, NULL));
    lp_future_release(h.f);
}

LP_TEST_MAIN()

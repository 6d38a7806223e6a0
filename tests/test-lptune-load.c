/*
 * The loopback workload under load: the delay server holding 10,000
 * concurrent GET /delay/1000, sent by lp-tune's thread-per-task mode from
 * two client processes of 5,000 threads each (2 x 1,000 under TSan, whose
 * thread limit is 8,128 and which made 2 x 2,000 take 30-51 s of the 60 s
 * bound on an idle machine), all succeeding in bounded time. Two clients
 * because a libcurl easy request holds 3 descriptors and this machine caps
 * a process at 20,000; the server runs in a process of its own, as in
 * lp-tune (server in the parent, requests in a worker).
 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "lp-test.h"
#include "lptune-test-util.h"
#include "modes.h"
#include "workload.h"

#ifdef LP_TSAN
#    define LOAD_TASKS 1000 /* per client */
#else
#    define LOAD_TASKS 5000
#endif
#define LOAD_CLIENTS 2

/* A client process: LOAD_TASKS threads, one request each; the result goes
 * back through `fd`. */
static pid_t start_client(const char *url, int fd)
{
    pid_t pid = fork();

    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        struct workload w = { .kind = TUNE_WL_URL, .url = url };
        struct mode_result res;

        if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
            _exit(1);
        if (modes_run(TUNE_MODE_THREADS, &w, LOAD_TASKS, 0, &res) != 0)
            res.failed = LOAD_TASKS;
        if (write(fd, &res, sizeof(res)) != sizeof(res))
            _exit(1);
        _exit(0);
    }
    return pid;
}

TEST(ten_thousand_concurrent_requests)
{
    pid_t server, clients[LOAD_CLIENTS];
    struct mode_result res;
    int fds[2], port, ok = 0;
    int64_t t0;
    char url[64];

    /* 3 descriptors per request, plus the server's 1 per connection. */
    ASSERT_TRUE(workload_raise_fd_limit(LOAD_TASKS) >= 3L * LOAD_TASKS);
    server = start_server_child(&port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/delay/1000", port);
    ASSERT_EQ(pipe(fds), 0);
    t0 = lp_test_now_ms();
    for (int i = 0; i < LOAD_CLIENTS; i++)
        clients[i] = start_client(url, fds[1]);
    close(fds[1]);
    for (int i = 0; i < LOAD_CLIENTS; i++) {
        int status;

        ASSERT_EQ(read(fds[0], &res, sizeof(res)), (ssize_t)sizeof(res));
        fprintf(stderr,
                "client: %d requests of 1000 ms in %.0f ms, %d "
                "failed%s%s\n",
                LOAD_TASKS, res.elapsed_ms, res.failed, res.failed ? ": " : "",
                res.first_error);
        ok += res.ok;
        ASSERT_EQ(res.failed, 0);
        /* Concurrent: never faster than the delay, far below one by one. */
        ASSERT_TRUE(res.elapsed_ms >= 1000);
        ASSERT_EQ(waitpid(clients[i], &status, 0), clients[i]);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    close(fds[0]);
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    ASSERT_EQ(ok, LOAD_CLIENTS * LOAD_TASKS);
    ASSERT_TRUE(lp_test_now_ms() - t0 < 60000);
}

TEST(sequential_counts_failures)
{
    struct mode_result res;
    struct workload w = { .kind = TUNE_WL_URL,
                          .url = "http://127.0.0.1:1/delay/1" };

    ASSERT_EQ(curl_global_init(CURL_GLOBAL_ALL), CURLE_OK);
    ASSERT_EQ(modes_run(TUNE_MODE_SEQUENTIAL, &w, 2, 0, &res), 0);
    ASSERT_EQ(res.failed, 2);
    ASSERT_EQ(res.ok, 0);
    ASSERT_TRUE(strstr(res.first_error, "127.0.0.1:1") != NULL);
    curl_global_cleanup();
}

TEST(sleep_modes_overlap)
{
    static const enum tune_mode modes[] = { TUNE_MODE_THREADS,
                                            TUNE_MODE_THREAD_POOL,
                                            TUNE_MODE_PROCESSES,
                                            TUNE_MODE_PROCESS_POOL };
    struct workload w = { .kind = TUNE_WL_SLEEP, .sleep_ms = 100 };
    struct mode_result res;

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        /* Starting 8 threads or processes can stall for hundreds of ms on
         * a loaded machine: a slow run is made again (three times at
         * most); every run must be complete. */
        for (int attempt = 1;; attempt++) {
            ASSERT_EQ(modes_run(modes[i], &w, 8, 0, &res), 0);
            ASSERT_EQ(res.ok, 8);
            ASSERT_TRUE(res.elapsed_ms >= 100);
            if (res.elapsed_ms < 700 || attempt == 3)
                break;
            printf("# mode %d, attempt %d: %.0f ms\n", (int)modes[i], attempt,
                   res.elapsed_ms);
        }
        /* 8 x 100 ms side by side: well under the 800 ms of one by one. */
        ASSERT_TRUE(res.elapsed_ms < 700);
    }
}

/* A child whose task fails is a failed task, in every mode. */
TEST(every_mode_counts_failures)
{
    static const enum tune_mode modes[] = {
        TUNE_MODE_SEQUENTIAL, TUNE_MODE_THREADS, TUNE_MODE_THREAD_POOL,
        TUNE_MODE_PROCESSES, TUNE_MODE_PROCESS_POOL
    };
    struct workload w = { .kind = TUNE_WL_URL,
                          .url = "http://127.0.0.1:1/delay/1" };
    struct mode_result res;

    ASSERT_EQ(curl_global_init(CURL_GLOBAL_ALL), CURLE_OK);
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        ASSERT_EQ(modes_run(modes[i], &w, 3, 0, &res), 0);
        if (res.failed != 3 || res.ok != 0)
            LP_TEST_FAIL("mode %d: %d failed, %d ok", (int)modes[i], res.failed,
                         res.ok);
    }
    curl_global_cleanup();
}

/*
 * The pool modes run N tasks on N workers by default (--workers N): 4
 * tasks of 300 ms take one round of 300 ms, not two (600 ms on 2 workers).
 */
TEST(pools_default_to_one_worker_per_task)
{
    static const enum tune_mode modes[] = { TUNE_MODE_THREAD_POOL,
                                            TUNE_MODE_PROCESS_POOL };
    struct workload w = { .kind = TUNE_WL_SLEEP, .sleep_ms = 300 };
    struct mode_result res;

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        for (int attempt = 1;; attempt++) {
            ASSERT_EQ(modes_run(modes[i], &w, 4, 0, &res), 0);
            ASSERT_EQ(res.ok, 4);
            if (res.elapsed_ms < 550 || attempt == 3)
                break;
            printf("# mode %d, attempt %d: %.0f ms\n", (int)modes[i], attempt,
                   res.elapsed_ms);
        }
        ASSERT_TRUE(res.elapsed_ms >= 300);
        ASSERT_TRUE(res.elapsed_ms < 550);
        /* --workers 2: two rounds. */
        ASSERT_EQ(modes_run(modes[i], &w, 4, 2, &res), 0);
        ASSERT_TRUE(res.elapsed_ms >= 600);
    }
}

LP_TEST_MAIN()

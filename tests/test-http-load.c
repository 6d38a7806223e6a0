/*
 * 10,000 concurrent requests from one event-loop thread to the loopback
 * delay server (each held 2 s, so all are in flight at once, on a
 * connection each), which runs in a child process so that each side has its own
 * descriptor limit (10,000 sockets apiece). Asserts that every request
 * succeeds within a generous bound, never how fast: speed is measured by the
 * benchmark (bench/http).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "delay_server.h"
#include "lp-test.h"

#define N 10000

static pid_t child;
static int to_child = -1;

/* Serves in a child until the parent closes its end of the pipe. */
static int fork_server(void)
{
    int port_pipe[2], stop_pipe[2], port = -1;
    char c;

    ASSERT_EQ(0, pipe(port_pipe));
    ASSERT_EQ(0, pipe(stop_pipe));
    child = fork();
    ASSERT_TRUE(child >= 0);
    if (child == 0) {
        struct delay_server *s;

        close(port_pipe[0]);
        close(stop_pipe[1]);
        if (delay_server_start("127.0.0.1", 0, &s) != 0)
            _exit(1);
        port = delay_server_port(s);
        if (write(port_pipe[1], &port, sizeof(port)) != sizeof(port))
            _exit(1);
        while (read(stop_pipe[0], &c, 1) > 0)
            ;
        delay_server_stop(s);
        _exit(0);
    }
    close(port_pipe[1]);
    close(stop_pipe[0]);
    to_child = stop_pipe[1];
    ASSERT_EQ(sizeof(port), read(port_pipe[0], &port, sizeof(port)));
    close(port_pipe[0]);
    return port;
}

static void stop_server(void)
{
    int status;

    close(to_child);
    ASSERT_EQ(child, waitpid(child, &status, 0));
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static long peak_rss_kib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void raise_nofile(void)
{
    struct rlimit rl;

    ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
    rl.rlim_cur = rl.rlim_max;
    ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
    if (rl.rlim_cur < N + 100)
        fprintf(stderr, "note: RLIMIT_NOFILE %llu < %d: some requests queue\n",
                (unsigned long long)rl.rlim_cur, N);
}

TEST(ten_thousand_concurrent)
{
    static lp_future *fs[N];
    lp_http_client_options o = LP_HTTP_CLIENT_OPTIONS_INIT;
    lp_http_client *c;
    char url[64];
    int port, ok = 0;
    long opened = 0;
    int64_t t0, elapsed;
    struct rlimit rl;

    raise_nofile();
    port = fork_server();
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/delay/2000", port);
    o.max_concurrent = N;
    o.timeout_ms = 60000;
    ASSERT_OK(lp_http_client_create(&o, &c));
    printf("before: peak RSS %ld KiB\n", peak_rss_kib());
    t0 = lp_test_now_ms();
    for (int i = 0; i < N; i++)
        ASSERT_OK(lp_http_submit_get(c, url, &fs[i]));
    printf("submitted: peak RSS %ld KiB\n", peak_rss_kib());
    ASSERT_OK(lp_wait(fs, N, LP_ALL_COMPLETED, 90000, NULL, NULL));
    elapsed = lp_test_now_ms() - t0;
    for (int i = 0; i < N; i++) {
        void *v;

        if (lp_future_result(fs[i], 0, &v) == LP_OK &&
            ((lp_http_response *)v)->status == 200) {
            ok++;
            opened += ((lp_http_response *)v)->new_connections;
        } else if (lp_future_error(fs[i]) != NULL)
            fprintf(stderr, "request %d: %s\n", i,
                    lp_future_error(fs[i])->message);
        lp_future_release(fs[i]);
    }
    printf("%d requests in %lld ms on %ld new connections, peak RSS %ld KiB\n",
           N, (long long)elapsed, opened, peak_rss_kib());
    ASSERT_EQ(N, ok);
    /* Not in rounds behind a lower cap: rounds of 1,024 would reuse about
     * 1,024 connections. All 10,000 start within the 2 s of a plain build;
     * under ThreadSanitizer starting them takes longer and early ones are
     * reused (6,225 here), hence N / 4. Where the descriptors allow it. */
    ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
    if (rl.rlim_cur >= N + 100)
        ASSERT_GE(opened, N / 4);
    lp_http_client_destroy(c);
    stop_server();
}

LP_TEST_MAIN()

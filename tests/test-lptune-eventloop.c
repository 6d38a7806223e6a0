/*
 * lp-tune's event-loop mode under load: 10,000 concurrent GET /delay/1000
 * from one lp_http_client (one thread, one descriptor per connection)
 * against the delay server, all succeeding in bounded time.
 */
#include <stdio.h>
#include <sys/wait.h>

#include "lptune-test-util.h"
#include "modes.h"
#include "workload.h"

/* The event-loop mode: 10,000 requests from one thread of one process. */
TEST(event_loop_ten_thousand)
{
    struct workload w = { .kind = TUNE_WL_URL };
    struct mode_result res;
    char url[64];
    pid_t server;
    int port;

    ASSERT_TRUE(workload_raise_fd_limit(10000 / 3 + 1) >= 10000 + 64);
    server = start_server_child(&port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/delay/1000", port);
    w.url = url;
    ASSERT_EQ(modes_run(TUNE_MODE_EVENT_LOOP, &w, 10000, 0, &res), 0);
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    fprintf(stderr,
            "event loop: 10000 requests of 1000 ms in %.0f ms, %d "
            "failed%s%s\n",
            res.elapsed_ms, res.failed, res.failed ? ": " : "",
            res.first_error);
    ASSERT_EQ(res.failed, 0);
    ASSERT_EQ(res.ok, 10000);
    ASSERT_TRUE(res.elapsed_ms >= 1000);
    ASSERT_TRUE(res.elapsed_ms < 60000);
}

LP_TEST_MAIN()

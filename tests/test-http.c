/*
 * The event-loop HTTP client and the blocking calls against the loopback
 * delay server (tools/delay-server): success, POST echo, headers, status
 * codes, the body cap, a peer closing mid-response, bad URLs, timeouts,
 * deadlines, cancel mid-transfer, retries, caps on concurrency, destroy with
 * transfers in flight, blocking calls from pool threads, large bodies while
 * hundreds of transfers are in flight (small receive buffers), and proxy
 * variables read when the client is created.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "delay_server.h"
#include "lp-test.h"

static struct delay_server *server;
static char base[64];

static void stop_server(void)
{
    delay_server_stop(server);
    server = NULL;
}

static void start_server(void)
{
    if (server != NULL)
        return;
    ASSERT_EQ(0, delay_server_start("127.0.0.1", 0, &server));
    atexit(stop_server);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d",
             delay_server_port(server));
}

static const char *url(const char *path)
{
    static char buf[4][256];
    static int next;
    char *u = buf[next++ % 4];

    start_server();
    snprintf(u, sizeof(buf[0]), "%s%s", base, path);
    return u;
}

static lp_http_client *new_client(const lp_http_client_options *o)
{
    lp_http_client *c;

    ASSERT_OK(lp_http_client_create(o, &c));
    return c;
}

/* Waits for a request's response; fails the test unless it succeeded. */
static const lp_http_response *response_of(lp_future *f)
{
    void *v = NULL;
    lp_status st = lp_future_result(f, 20000, &v);

    if (st == LP_ETASK)
        fprintf(stderr, "request failed: %s\n", lp_future_error(f)->message);
    ASSERT_OK(st);
    ASSERT_TRUE(v != NULL);
    return v;
}

/* The failure code of a request that must fail. */
static int failure_of(lp_future *f)
{
    void *v = (void *)1;
    const lp_error *e;

    ASSERT_STATUS(LP_ETASK, lp_future_result(f, 20000, &v));
    ASSERT_NULL(v);
    e = lp_future_error(f);
    ASSERT_TRUE(e != NULL && e->message != NULL);
    return e->code;
}

static lp_future *submit(lp_http_client *c, const lp_http_request *req)
{
    lp_future *f;

    ASSERT_OK(lp_http_submit(c, req, &f));
    return f;
}

TEST(get_ok)
{
    lp_http_client *c = new_client(NULL);
    lp_future *f;
    const lp_http_response *r;
    const char *v;
    size_t len;

    ASSERT_OK(lp_http_submit_get(c, url("/delay/0"), &f));
    r = response_of(f);
    ASSERT_EQ(200, r->status);
    ASSERT_EQ(1, r->http_version);
    ASSERT_EQ(1, r->attempts);
    ASSERT_STR_EQ("delayed 0 ms\n", r->body);
    ASSERT_EQ(strlen("delayed 0 ms\n"), r->body_len);
    ASSERT_TRUE(strncmp(r->headers, "HTTP/1.1 200", 12) == 0);
    v = lp_http_response_header(r, "content-length", &len);
    ASSERT_TRUE(v != NULL);
    ASSERT_EQ(2, len);
    ASSERT_TRUE(memcmp(v, "13", 2) == 0);
    ASSERT_NULL(lp_http_response_header(r, "X-Missing", NULL));
    ASSERT_TRUE(lp_future_done(f));
    lp_future_release(f);
    lp_http_client_destroy(c);
}

TEST(post_echo_and_headers)
{
    lp_http_client *c = new_client(NULL);
    static const char body[] = "payload\0with a NUL";
    static char long_value[3000];
    lp_http_header h[] = { { "X-Test", "forty-two" },
                           { "X-Long", long_value },
                           { "X-Empty", "" } };
    lp_http_request req = LP_HTTP_REQUEST_INIT;
    lp_future *post, *hdr;
    const lp_http_response *r;

    req.method = LP_HTTP_POST;
    req.url = url("/echo");
    req.body = body;
    req.body_len = sizeof(body);
    post = submit(c, &req);
    req.method = LP_HTTP_GET;
    req.url = url("/headers");
    req.body = NULL;
    req.body_len = 0;
    memset(long_value, 'v', sizeof(long_value) - 1);
    req.headers = h;
    req.n_headers = 3;
    hdr = submit(c, &req);
    r = response_of(post);
    ASSERT_EQ(200, r->status);
    ASSERT_EQ(sizeof(body), r->body_len);
    ASSERT_TRUE(memcmp(r->body, body, sizeof(body)) == 0);
    r = response_of(hdr);
    ASSERT_TRUE(strstr(r->body, "X-Test: forty-two\r\n") != NULL);
    ASSERT_TRUE(strstr(r->body, long_value) != NULL);
    ASSERT_TRUE(strstr(r->body, "\r\nX-Empty:") != NULL);
    ASSERT_TRUE(strstr(r->body, "GET /headers HTTP/1.1") != NULL);
    lp_future_release(post);
    lp_future_release(hdr);
    lp_http_client_destroy(c);
}

TEST(keep_alive_reuses_the_connection)
{
    lp_http_client *c = new_client(NULL);
    lp_future *first, *second;

    ASSERT_OK(lp_http_submit_get(c, url("/delay/0"), &first));
    ASSERT_EQ(1, response_of(first)->new_connections);
    ASSERT_OK(lp_http_submit_get(c, url("/delay/0"), &second));
    ASSERT_EQ(0, response_of(second)->new_connections);
    lp_future_release(first);
    lp_future_release(second);
    lp_http_client_destroy(c);
}

TEST(status_codes_are_responses)
{
    lp_http_client *c = new_client(NULL);
    lp_future *f;

    ASSERT_OK(lp_http_submit_get(c, url("/status/503"), &f));
    ASSERT_EQ(503, response_of(f)->status);
    lp_future_release(f);
    ASSERT_OK(lp_http_submit_get(c, url("/nowhere"), &f));
    ASSERT_EQ(404, response_of(f)->status);
    lp_future_release(f);
    lp_http_client_destroy(c);
}

TEST(body_cap)
{
    lp_http_client_options o = LP_HTTP_CLIENT_OPTIONS_INIT;
    lp_http_request req = LP_HTTP_REQUEST_INIT;
    lp_http_client *c;
    lp_future *big, *fits, *own_cap;

    o.max_body = 10000;
    c = new_client(&o);
    ASSERT_OK(lp_http_submit_get(c, url("/bytes/10001"), &big));
    ASSERT_OK(lp_http_submit_get(c, url("/bytes/10000"), &fits));
    req.url = url("/bytes/300000");
    req.max_body = 1u << 20;
    own_cap = submit(c, &req);
    ASSERT_EQ(LP_ETOOBIG, failure_of(big));
    ASSERT_TRUE(strstr(lp_future_error(big)->message, "10000") != NULL);
    {
        /* HEAD reads no body: a large announced length is no reason to
         * fail. */
        lp_http_request head = LP_HTTP_REQUEST_INIT;
        lp_future *f;

        head.method = LP_HTTP_HEAD;
        head.url = url("/bytes/200000");
        f = submit(c, &head);
        ASSERT_EQ(200, response_of(f)->status);
        ASSERT_EQ(0, response_of(f)->body_len);
        {
            size_t n = 0;
            const char *v =
                lp_http_response_header(response_of(f), "Content-Length", &n);

            ASSERT_TRUE(v != NULL && n == 6 && memcmp(v, "200000", 6) == 0);
        }
        lp_future_release(f);
    }
    ASSERT_EQ(10000, response_of(fits)->body_len);
    ASSERT_EQ(300000, response_of(own_cap)->body_len);
    ASSERT_EQ('\0', response_of(own_cap)->body[300000]);
    lp_future_release(big);
    lp_future_release(fits);
    lp_future_release(own_cap);
    lp_http_client_destroy(c);
}

TEST(close_mid_response)
{
    lp_http_client *c = new_client(NULL);
    lp_future *f, *after;

    ASSERT_OK(lp_http_submit_get(c, url("/close"), &f));
    ASSERT_EQ(LP_EHTTP, failure_of(f));
    /* The client recovers: the next request on a new connection works. */
    ASSERT_OK(lp_http_submit_get(c, url("/delay/1"), &after));
    ASSERT_EQ(200, response_of(after)->status);
    lp_future_release(f);
    lp_future_release(after);
    lp_http_client_destroy(c);
}

/* libcurl 7.88 ends a transfer whose connection closed inside the header
 * block with success; it is a failure (retried when asked), never a 200. */
TEST(close_mid_headers)
{
    lp_http_client *c = new_client(NULL);
    lp_http_request req = LP_HTTP_REQUEST_INIT;
    lp_http_response *resp = NULL;
    lp_future *f, *retried;

    ASSERT_OK(lp_http_submit_get(c, url("/close-headers"), &f));
    ASSERT_EQ(LP_EHTTP, failure_of(f));
    ASSERT_TRUE(strstr(lp_future_error(f)->message, "headers ended") != NULL);
    req.url = url("/close-headers");
    req.retries = 2;
    req.retry_backoff_ms = 1;
    retried = submit(c, &req);
    ASSERT_EQ(LP_EHTTP, failure_of(retried));
    ASSERT_STATUS(LP_EHTTP, lp_http_get(c, url("/close-headers"), 5000, &resp));
    ASSERT_TRUE(resp == NULL);
    lp_future_release(f);
    lp_future_release(retried);
    lp_http_client_destroy(c);
}

TEST(invalid_urls)
{
    static const char *const bad[] = { "not a url", "ftp://127.0.0.1/x",
                                       "http://",   "gopher://h/",
                                       "",          "127.0.0.1:1/x" };
    lp_http_client *c = new_client(NULL);
    lp_http_request req = LP_HTTP_REQUEST_INIT;
    lp_http_response *r = (lp_http_response *)1;
    lp_future *f = (lp_future *)1;

    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        ASSERT_OK(lp_http_submit_get(c, bad[i], &f));
        ASSERT_EQ(LP_EINVAL, failure_of(f));
        lp_future_release(f);
        ASSERT_STATUS(LP_EINVAL, lp_http_get(c, bad[i], 1000, &r));
        ASSERT_NULL(r);
    }
    /* Refused before queueing: bad arguments. */
    ASSERT_STATUS(LP_EINVAL, lp_http_submit(c, &req, &f));
    ASSERT_NULL(f);
    req.url = url("/delay/0");
    req.body_len = 3;
    ASSERT_STATUS(LP_EINVAL, lp_http_submit(c, &req, &f));
    req.body_len = 0;
    req.timeout_ms = -2;
    ASSERT_STATUS(LP_EINVAL, lp_http_submit(c, &req, &f));
    ASSERT_STATUS(LP_EINVAL, lp_http_submit(NULL, &req, &f));
    {
        lp_http_header bad_headers[] = { { "X-A", "1\r\nX-B: 2" },
                                         { "X:A", "1" },
                                         { "", "1" },
                                         { "X-A", NULL } };

        req.timeout_ms = 0;
        req.n_headers = 1;
        for (size_t i = 0; i < 4; i++) {
            req.headers = &bad_headers[i];
            ASSERT_STATUS(LP_EINVAL, lp_http_submit(c, &req, &f));
        }
        req.headers = NULL;
        req.n_headers = 0;
    }
    {
        /* Over libcurl's 8 MB input limit: a bad URL, not a lack of
         * memory. */
        size_t len = 9u << 20;
        char *huge = malloc(len + 1);

        ASSERT_TRUE(huge != NULL);
        memset(huge, 'a', len);
        memcpy(huge, "http://127.0.0.1/", 17);
        huge[len] = '\0';
        ASSERT_OK(lp_http_submit_get(c, huge, &f));
        ASSERT_EQ(LP_EINVAL, failure_of(f));
        lp_future_release(f);
        ASSERT_STATUS(LP_EINVAL, lp_http_get(c, huge, 1000, &r));
        free(huge);
    }
    {
        lp_http_header bad_headers[] = { { "X A", "1" },
                                         { "X-A", "1\x01" },
                                         { "X\x7f", "1" } };

        req.url = url("/delay/0");
        req.timeout_ms = 0;
        req.n_headers = 1;
        for (size_t i = 0; i < 3; i++) {
            req.headers = &bad_headers[i];
            ASSERT_STATUS(LP_EINVAL, lp_http_submit(c, &req, &f));
        }
        req.headers = NULL;
        req.n_headers = 0;
    }
    ASSERT_STATUS(LP_EINVAL, lp_http_submit_get(c, url("/"), NULL));
    ASSERT_STATUS(LP_EINVAL, lp_http_client_create(NULL, NULL));
    lp_http_client_destroy(NULL);
    lp_http_response_free(NULL);
    lp_http_client_destroy(c);
}

TEST(timeouts)
{
    lp_http_client_options o = LP_HTTP_CLIENT_OPTIONS_INIT;
    lp_http_request req = LP_HTTP_REQUEST_INIT;
    lp_http_client *c;
    lp_future *per_request, *by_default, *by_deadline, *slow_ok;
    int64_t t0 = lp_test_now_ms(), t_slow;

    o.timeout_ms = 150;
    c = new_client(&o);
    req.url = url("/delay/10000");
    req.timeout_ms = 100;
    per_request = submit(c, &req);
    req.timeout_ms = 0;
    by_default = submit(c, &req);
    req.timeout_ms = LP_WAIT_FOREVER;
    req.deadline = lp_deadline_after_ms(120);
    by_deadline = submit(c, &req);
    /* A slow server within the limit is fine. */
    req.url = url("/delay/300");
    req.timeout_ms = 10000;
    req.deadline = LP_DEADLINE_NEVER;
    t_slow = lp_test_now_ms();
    slow_ok = submit(c, &req);
    /* Still in flight, unless this thread just stalled for 300 ms. */
    if (lp_test_now_ms() - t_slow < 250)
        ASSERT_FALSE(lp_future_done(slow_ok));
    ASSERT_EQ(LP_ETIMEDOUT, failure_of(per_request));
    ASSERT_EQ(LP_ETIMEDOUT, failure_of(by_default));
    ASSERT_EQ(LP_ETIMEDOUT, failure_of(by_deadline));
    ASSERT_LE(lp_test_now_ms() - t0, 5000);
    ASSERT_EQ(200, response_of(slow_ok)->status);
    ASSERT_GE(lp_test_now_ms() - t0, 300);
    lp_future_release(per_request);
    lp_future_release(by_default);
    lp_future_release(by_deadline);
    lp_future_release(slow_ok);
    lp_http_client_destroy(c);
}

TEST(timeout_while_queued)
{
    lp_http_client_options o = LP_HTTP_CLIENT_OPTIONS_INIT;
    lp_http_request req = LP_HTTP_REQUEST_INIT;
    lp_http_client *c;
    lp_future *slow, *queued;
    int64_t t0 = lp_test_now_ms();

    o.max_concurrent = 1;
    c = new_client(&o);
    ASSERT_OK(lp_http_submit_get(c, url("/delay/3000"), &slow));
    req.url = url("/delay/0");
    req.timeout_ms = 100;
    queued = submit(c, &req);
    /* It fails while the slow request still holds the only slot. */
    ASSERT_EQ(LP_ETIMEDOUT, failure_of(queued));
    ASSERT_TRUE(strstr(lp_future_error(queued)->message, "queued") != NULL);
    ASSERT_FALSE(lp_future_done(slow));
    ASSERT_LE(lp_test_now_ms() - t0, 2500);
    ASSERT_TRUE(lp_future_cancel(slow));
    lp_future_release(slow);
    lp_future_release(queued);
    lp_http_client_destroy(c);
}

/* A request waiting inside libcurl for a connection (behind max_per_host)
 * still fails at its time limit, not when the connection frees up. */
TEST(timeout_while_waiting_for_a_connection)
{
    lp_http_client_options o = LP_HTTP_CLIENT_OPTIONS_INIT;
    lp_http_request req = LP_HTTP_REQUEST_INIT;
    lp_http_client *c;
    lp_future *slow, *waiting;
    int64_t t0 = lp_test_now_ms();

    o.max_per_host = 1;
    c = new_client(&o);
    ASSERT_OK(lp_http_submit_get(c, url("/delay/4000"), &slow));
    req.url = url("/delay/0");
    req.timeout_ms = 200;
    waiting = submit(c, &req);
    ASSERT_EQ(LP_ETIMEDOUT, failure_of(waiting));
    ASSERT_FALSE(lp_future_done(slow));
    ASSERT_LE(lp_test_now_ms() - t0, 3000);
    ASSERT_TRUE(lp_future_cancel(slow));
    lp_future_release(slow);
    lp_future_release(waiting);
    lp_http_client_destroy(c);
}

/* max_per_host bounds the connections to one host: 40 requests at once
 * share 4 (each response counts the connections its transfer opened). */
TEST(per_host_cap_bounds_connections)
{
    enum { N = 40 };
    lp_http_client_options o = LP_HTTP_CLIENT_OPTIONS_INIT;
    lp_http_client *c;
    lp_future *fs[N];
    unsigned opened = 0;

    o.max_per_host = 4;
    c = new_client(&o);
    for (int i = 0; i < N; i++)
        ASSERT_OK(lp_http_submit_get(c, url("/delay/30"), &fs[i]));
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(200, response_of(fs[i])->status);
        opened += response_of(fs[i])->new_connections;
        lp_future_release(fs[i]);
    }
    ASSERT_TRUE(opened >= 1 && opened <= 4);
    lp_http_client_destroy(c);
}

/* The largest time limits and caps mean "practically none", not an
 * overflow into the past or a client that refuses everything. */
TEST(extreme_limits)
{
    lp_http_client_options o = LP_HTTP_CLIENT_OPTIONS_INIT;
    lp_http_request req = LP_HTTP_REQUEST_INIT;
    lp_http_response *resp = NULL;
    lp_http_client *c;
    lp_future *f;

    o.max_concurrent = UINT_MAX;
    o.timeout_ms = INT64_MAX;
    c = new_client(&o);
    req.url = url("/delay/10");
    req.timeout_ms = INT64_MAX;
    req.retry_backoff_ms = INT64_MAX;
    f = submit(c, &req);
    ASSERT_EQ(200, response_of(f)->status);
    ASSERT_OK(lp_http_get(c, url("/delay/10"), INT64_MAX, &resp));
    ASSERT_EQ(200, resp->status);
    lp_http_response_free(resp);
    lp_future_release(f);
    lp_http_client_destroy(c);
}

TEST(cancel_mid_transfer)
{
    lp_http_client *c = new_client(NULL);
    lp_future *slow, *other;
    void *v;
    int64_t t0;

    ASSERT_OK(lp_http_submit_get(c, url("/delay/20000"), &slow));
    ASSERT_OK(lp_http_submit_get(c, url("/delay/50"), &other));
    lp_test_sleep_ms(100); /* connected and waiting, most likely */
    ASSERT_EQ(LP_FUTURE_PENDING, lp_future_state_get(slow));
    t0 = lp_test_now_ms();
    ASSERT_TRUE(lp_future_cancel(slow));
    ASSERT_STATUS(LP_ECANCELLED, lp_future_result(slow, 0, &v));
    /* lp_wait sees it done once the loop has aborted the transfer. */
    ASSERT_OK(lp_wait(&slow, 1, LP_ALL_COMPLETED, 10000, NULL, NULL));
    ASSERT_EQ(LP_FUTURE_CANCELLED_NOTIFIED, lp_future_state_get(slow));
    ASSERT_LE(lp_test_now_ms() - t0, 5000);
    ASSERT_EQ(200, response_of(other)->status);
    /* A finished request can no longer be cancelled. */
    ASSERT_FALSE(lp_future_cancel(other));
    lp_future_release(slow);
    lp_future_release(other);
    lp_http_client_destroy(c);
}

TEST(cancel_while_queued)
{
    lp_http_client_options o = LP_HTTP_CLIENT_OPTIONS_INIT;
    lp_http_client *c;
    lp_future *first, *queued;

    o.max_concurrent = 1;
    c = new_client(&o);
    ASSERT_OK(lp_http_submit_get(c, url("/delay/300"), &first));
    ASSERT_OK(lp_http_submit_get(c, url("/delay/0"), &queued));
    ASSERT_TRUE(lp_future_cancel(queued));
    ASSERT_OK(lp_wait(&queued, 1, LP_ALL_COMPLETED, 10000, NULL, NULL));
    ASSERT_EQ(200, response_of(first)->status);
    ASSERT_EQ(LP_FUTURE_CANCELLED_NOTIFIED, lp_future_state_get(queued));
    lp_future_release(first);
    lp_future_release(queued);
    lp_http_client_destroy(c);
}

TEST(retries_idempotent_only)
{
    lp_http_client *c = new_client(NULL);
    lp_http_request req = LP_HTTP_REQUEST_INIT;
    lp_future *get, *post, *refused;
    const lp_http_response *r;
    int64_t t0 = lp_test_now_ms();

    req.url = url("/status/503");
    req.retries = 2;
    req.retry_backoff_ms = 20;
    get = submit(c, &req);
    req.method = LP_HTTP_POST;
    post = submit(c, &req);
    /* Nothing listens on port 1: connection refused, retried, then failed. */
    req.method = LP_HTTP_GET;
    req.url = "http://127.0.0.1:1/";
    refused = submit(c, &req);
    r = response_of(get);
    ASSERT_EQ(503, r->status);
    ASSERT_EQ(3, r->attempts);
    ASSERT_GE(lp_test_now_ms() - t0, 20 + 40);
    ASSERT_EQ(1, response_of(post)->attempts);
    ASSERT_EQ(LP_EHTTP, failure_of(refused));
    lp_future_release(get);
    lp_future_release(post);
    lp_future_release(refused);
    lp_http_client_destroy(c);
}

TEST(many_with_caps_and_as_completed)
{
    enum { N = 300 };
    lp_http_client_options o = LP_HTTP_CLIENT_OPTIONS_INIT;
    lp_http_client *c;
    lp_future *fs[N], *f;
    lp_as_completed *it;
    size_t seen = 0;

    o.max_concurrent = 64;
    o.max_per_host = 16;
    c = new_client(&o);
    for (int i = 0; i < N; i++)
        ASSERT_OK(lp_http_submit_get(c, url("/delay/20"), &fs[i]));
    ASSERT_OK(lp_as_completed_create(fs, N, 30000, &it));
    while (lp_as_completed_next(it, &f) == LP_OK) {
        ASSERT_EQ(200, response_of(f)->status);
        seen++;
    }
    ASSERT_EQ(N, seen);
    lp_as_completed_destroy(it);
    ASSERT_OK(lp_wait(fs, N, LP_ALL_COMPLETED, 0, NULL, NULL));
    for (int i = 0; i < N; i++)
        lp_future_release(fs[i]);
    lp_http_client_destroy(c);
}

static void count_done(lp_future *f, void *arg)
{
    (void)f;
    (*(int *)arg)++; /* runs on the loop thread, one at a time */
}

TEST(destroy_with_transfers_in_flight)
{
    lp_http_client *c = new_client(NULL);
    lp_future *fs[8];
    int called = 0;

    for (int i = 0; i < 8; i++) {
        ASSERT_OK(lp_http_submit_get(c, url("/delay/20000"), &fs[i]));
        ASSERT_OK(lp_future_add_done_callback(fs[i], count_done, &called));
    }
    lp_test_sleep_ms(50);
    lp_http_client_destroy(c);
    ASSERT_EQ(8, called);
    for (int i = 0; i < 8; i++) {
        ASSERT_EQ(LP_ESHUTDOWN, failure_of(fs[i]));
        lp_future_release(fs[i]);
    }
}

struct blocking_arg {
    lp_http_client *client;
    char url[256];
};

static void *blocking_get(void *arg, lp_task *task)
{
    struct blocking_arg *a = arg;
    lp_http_response *r;
    lp_status st = lp_http_get(a->client, a->url, 10000, &r);
    int status;

    if (st != LP_OK) {
        lp_task_fail(task, (int)st, 0, "%s", lp_status_str(st));
        return NULL;
    }
    status = r->status;
    lp_http_response_free(r);
    return (void *)(intptr_t)status;
}

TEST(blocking_calls_on_pool_threads)
{
    enum { N = 32 };
    lp_http_client *c = new_client(NULL);
    lp_thread_pool_options po = LP_THREAD_POOL_OPTIONS_INIT;
    lp_executor *ex;
    lp_future *fs[N];
    struct blocking_arg with = { c, "" }, without = { NULL, "" };
    lp_http_response *r;
    void *v;

    snprintf(with.url, sizeof(with.url), "%s", url("/delay/10"));
    snprintf(without.url, sizeof(without.url), "%s", with.url);
    po.max_workers = 8;
    ASSERT_OK(lp_thread_pool_create(&po, &ex));
    for (int i = 0; i < N; i++)
        ASSERT_OK(lp_executor_submit(ex, blocking_get, i % 2 ? &with : &without,
                                     &fs[i]));
    for (int i = 0; i < N; i++) {
        ASSERT_OK(lp_future_result(fs[i], 20000, &v));
        ASSERT_EQ(200, (intptr_t)v);
        lp_future_release(fs[i]);
    }
    lp_executor_destroy(ex);
    ASSERT_OK(lp_http_post(c, url("/x"), "abc", 3, "text/plain", 5000, &r));
    ASSERT_STR_EQ("abc", r->body);
    lp_http_response_free(r);
    ASSERT_STATUS(LP_ETIMEDOUT, lp_http_get(NULL, url("/delay/5000"), 100, &r));
    ASSERT_NULL(r);
    ASSERT_STATUS(LP_EHTTP, lp_http_get(c, url("/close"), 5000, &r));
    ASSERT_STATUS(LP_EHTTP, lp_http_get(c, "http://127.0.0.1:1/", 5000, &r));
    lp_http_client_destroy(c);
}

/*
 * Fails the Nth allocation of client creation and of a submit, for every N
 * until both succeed: each call reports LP_ENOMEM with nothing left behind
 * (ASan checks for leaks), and every future handed out still completes.
 */
TEST(allocation_failures)
{
    const char *u = url("/delay/0");
    lp_http_client *c = NULL;
    lp_future *f = NULL;
    lp_status st = LP_ENOMEM;
    long n;

    for (n = 0; n < 200 && st != LP_OK; n++) {
        c = (lp_http_client *)1;
        lp__alloc_fail_after(n);
        st = lp_http_client_create(NULL, &c);
        lp__alloc_fail_after(-1);
        if (st != LP_OK) {
            ASSERT_STATUS(LP_ENOMEM, st);
            ASSERT_NULL(c);
        }
    }
    ASSERT_OK(st);
    ASSERT_GE(n, 2); /* at least one failure was injected */
    /* A first request creates the loop's shard: later ones allocate nothing
     * on the loop thread until their response arrives. */
    ASSERT_OK(lp_http_submit_get(c, u, &f));
    ASSERT_EQ(200, response_of(f)->status);
    lp_future_release(f);
    st = LP_ENOMEM;
    for (n = 0; n < 200 && st != LP_OK; n++) {
        f = (lp_future *)1;
        lp__alloc_fail_after(n);
        st = lp_http_submit_get(c, u, &f);
        lp__alloc_fail_after(-1);
        if (st != LP_OK) {
            ASSERT_STATUS(LP_ENOMEM, st);
            ASSERT_NULL(f);
        }
    }
    ASSERT_OK(st);
    ASSERT_GE(n, 2);
    {
        /* The hook is process-wide: if the loop thread allocated before it
         * was disarmed, the request fails cleanly with LP_ENOMEM. Every
         * allocation fails until then, so recording that failure may fail
         * too: the future then holds the static out-of-memory record. */
        void *v;
        int code;

        st = lp_future_result(f, 20000, &v);
        if (st == LP_OK) {
            ASSERT_EQ(200, ((lp_http_response *)v)->status);
        } else if ((code = failure_of(f)) != LP_ENOMEM) {
            ASSERT_EQ(-1, code);
            ASSERT_STR_EQ("out of memory while recording a failure",
                          lp_future_error(f)->message);
        }
    }
    lp_future_release(f);
    lp_http_client_destroy(c);
}

TEST(forked_child)
{
    lp_http_client *c = new_client(NULL);
    char u[256];
    pid_t pid;
    int status;

    snprintf(u, sizeof(u), "%s", url("/delay/0"));
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        lp_future *f = (lp_future *)1;
        lp_http_response *r;
        int code = 0;

        /* No assertions here: report through the exit status. */
        if (lp_http_submit_get(c, u, &f) != LP_ESHUTDOWN || f != NULL)
            code |= 1;
        if (lp_http_get(c, u, 5000, &r) != LP_OK || r->status != 200)
            code |= 2;
        else
            lp_http_response_free(r);
        lp_http_client_destroy(c);
        _exit(code);
    }
    ASSERT_EQ(pid, waitpid(pid, &status, 0));
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(0, WEXITSTATUS(status));
    /* The parent's client is untouched. */
    {
        lp_future *f;

        ASSERT_OK(lp_http_submit_get(c, u, &f));
        ASSERT_EQ(200, response_of(f)->status);
        lp_future_release(f);
    }
    lp_http_client_destroy(c);
}

/*
 * Transfers started while 256 or more are in flight get 1 KiB receive
 * buffers: large bodies must still arrive whole.
 */
TEST(large_bodies_while_many_in_flight)
{
    enum { FILL = 300, BIG = 6, BODY = 300000 };
    lp_http_client_options o = LP_HTTP_CLIENT_OPTIONS_INIT;
    lp_http_client *c;
    lp_future *fill[FILL], *big[BIG];

    o.max_concurrent = FILL + BIG;
    c = new_client(&o);
    /* Queued first, so they are in flight when the big ones start. */
    for (int i = 0; i < FILL; i++)
        ASSERT_OK(lp_http_submit_get(c, url("/delay/300"), &fill[i]));
    for (int i = 0; i < BIG; i++)
        ASSERT_OK(lp_http_submit_get(c, url("/bytes/300000"), &big[i]));
    for (int i = 0; i < BIG; i++) {
        const lp_http_response *r = response_of(big[i]);
        size_t zeros = 0;

        ASSERT_EQ(200, r->status);
        ASSERT_EQ(BODY, r->body_len);
        for (size_t k = 0; k < r->body_len; k++)
            zeros += r->body[k] == '\0';
        ASSERT_EQ(BODY, zeros); /* the server sends zero bytes */
        lp_future_release(big[i]);
    }
    for (int i = 0; i < FILL; i++) {
        ASSERT_EQ(200, response_of(fill[i])->status);
        lp_future_release(fill[i]);
    }
    lp_http_client_destroy(c);
}

/* Saves a variable's value (or its absence) and sets or removes it. */
static char *swap_env(const char *name, const char *value)
{
    const char *old = getenv(name);
    char *saved = old ? lp__strdup(old) : NULL;

    if (value)
        ASSERT_EQ(0, setenv(name, value, 1));
    else
        ASSERT_EQ(0, unsetenv(name));
    return saved;
}

static void restore_env(const char *name, char *saved)
{
    lp__free(swap_env(name, saved));
    lp__free(saved);
}

/*
 * A client created while http_proxy is set sends through that proxy (here a
 * port nobody listens on, so requests fail); one created without proxy
 * variables connects directly, even once http_proxy is set afterwards. The
 * loop threads are idle (or gone) while the environment changes.
 */
TEST(proxy_variables_read_at_create)
{
    static const char *const names[] = { "http_proxy", "all_proxy", "ALL_PROXY",
                                         "no_proxy", "NO_PROXY" };
    char *saved[sizeof(names) / sizeof(*names)];
    const char *u = url("/delay/1");
    lp_http_client *c;
    lp_future *f;

    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
        saved[i] = swap_env(names[i], i == 0 ? "http://127.0.0.1:1" : NULL);
    c = new_client(NULL);
    ASSERT_OK(lp_http_submit_get(c, u, &f));
    ASSERT_EQ(LP_EHTTP, failure_of(f));
    lp_future_release(f);
    lp_http_client_destroy(c);

    lp__free(swap_env("http_proxy", NULL));
    c = new_client(NULL);
    ASSERT_OK(lp_http_submit_get(c, u, &f));
    ASSERT_EQ(200, response_of(f)->status);
    lp_future_release(f);
    /* Set later: this client goes on connecting directly. */
    lp__free(swap_env("http_proxy", "http://127.0.0.1:1"));
    ASSERT_OK(lp_http_submit_get(c, u, &f));
    ASSERT_EQ(200, response_of(f)->status);
    lp_future_release(f);
    lp_http_client_destroy(c);
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
        restore_env(names[i], saved[i]);
}

LP_TEST_MAIN()

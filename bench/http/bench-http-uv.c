/*
 * The libuv peer of bench-http.c: N GET requests to the loopback delay
 * server, all at once, on libcurl's multi_socket interface driven by a libuv
 * loop on the calling thread -- the usual way to put libcurl on an event
 * loop: one uv_poll_t per socket libcurl names (CURLMOPT_SOCKETFUNCTION),
 * one uv_timer_t for libcurl's timeout (CURLMOPT_TIMERFUNCTION), one multi
 * handle, one easy handle per request, each response's body collected in a
 * buffer and freed when the transfer is done.
 *
 *   bench-http-uv N DELAY_MS PORT|BASE_URL [WORKERS]
 *
 * WORKERS is accepted and ignored (the scripts pass it to every peer).
 * LP_BENCH_HTTP_CA names a CA bundle for https:// base URLs. Prints the same
 * "<key> <value>" lines as bench-http: wall_x, cpu_ms, rss_kib, ok;
 * LP_BENCH_HTTP_ROUNDS as there.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

#include "../bench-common.h"

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
};

struct xfer {
    char *body;
    size_t len, cap;
};

static uv_loop_t *loop;
static uv_timer_t timer;
static CURLM *multi;
static int done, ok;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;

    n *= size;
    if (x->len + n + 1 > x->cap) {
        size_t want = x->cap ? x->cap * 2 : 256;
        char *grown;

        while (want < x->len + n + 1)
            want *= 2;
        grown = realloc(x->body, want);
        if (grown == NULL)
            return 0;
        x->body = grown;
        x->cap = want;
    }
    memcpy(x->body + x->len, p, n);
    x->len += n;
    x->body[x->len] = '\0';
    return n;
}

/* Retires every finished transfer. */
static void collect(void)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(multi, &left)) != NULL) {
        struct xfer *x = NULL;
        long status = 0;
        CURL *e = m->easy_handle;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (m->data.result == CURLE_OK && status == 200)
            ok++;
        done++;
        curl_multi_remove_handle(multi, e);
        curl_easy_cleanup(e);
        free(x->body);
        free(x);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct sock_ctx *s = p->data;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(multi, s->fd, flags, &running);
    collect();
}

static void on_timeout(uv_timer_t *t)
{
    int running;

    (void)t;
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect();
}

static void free_ctx(uv_handle_t *h)
{
    free(h->data);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *arg,
                     void *socketp)
{
    struct sock_ctx *s = socketp;
    int events = 0;

    (void)e;
    (void)arg;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, free_ctx);
            curl_multi_assign(multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = malloc(sizeof(*s));
        if (s == NULL || uv_poll_init_socket(loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->poll.data = s;
        curl_multi_assign(multi, fd, s);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *arg)
{
    (void)m;
    (void)arg;
    if (timeout_ms < 0)
        uv_timer_stop(&timer);
    else
        uv_timer_start(&timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static int add_request(const char *url, const char *ca)
{
    struct xfer *x = calloc(1, sizeof(*x));
    CURL *e = curl_easy_init();

    if (x == NULL || e == NULL) {
        free(x);
        curl_easy_cleanup(e);
        return -1;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    if (ca != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    return curl_multi_add_handle(multi, e) == CURLM_OK ? 0 : -1;
}

/* One fan-out of n requests; 0, or -1 when one could not be started. */
static int fan_out(int n, const char *url, const char *ca)
{
    done = ok = 0;
    for (int i = 0; i < n; i++) {
        if (add_request(url, ca) != 0)
            return -1;
    }
    while (done < n && uv_run(loop, UV_RUN_ONCE) >= 0) {
        /* until every transfer is retired */
    }
    return 0;
}

int main(int argc, char **argv)
{
    static char url[256];
    struct rlimit rl;
    struct rusage ru;
    const char *ca = getenv("LP_BENCH_HTTP_CA");
    const char *env_rounds = getenv("LP_BENCH_HTTP_ROUNDS");
    int n, delay, rounds;
    double t0 = 0, c0 = 0, wall, cpu;

    if (argc < 4) {
        fprintf(stderr, "usage: bench-http-uv N DELAY_MS PORT|BASE_URL\n");
        return 2;
    }
    n = (int)strtol(argv[1], NULL, 10);
    delay = (int)strtol(argv[2], NULL, 10);
    rounds = env_rounds != NULL ? (int)strtol(env_rounds, NULL, 10) : 1;
    if (n <= 0 || delay <= 0 || rounds <= 0)
        return 2;
    if (strstr(argv[3], "://") != NULL)
        snprintf(url, sizeof(url), "%s/delay/%d", argv[3], delay);
    else
        snprintf(url, sizeof(url), "http://127.0.0.1:%s/delay/%d", argv[3],
                 delay);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Set up before the clock starts, like the other peers' clients. */
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        return 1;
    loop = uv_default_loop();
    multi = curl_multi_init();
    if (loop == NULL || multi == NULL || uv_timer_init(loop, &timer) != 0)
        return 1;
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    /* As in bench-http: earlier rounds warm the process, the last counts. */
    for (int r = 0; r < rounds; r++) {
        t0 = bench_now_ms();
        c0 = bench_cpu_ms();
        if (fan_out(n, url, ca) != 0)
            return 1;
    }
    wall = bench_now_ms() - t0;
    cpu = bench_cpu_ms() - c0;
    getrusage(RUSAGE_SELF, &ru);
    printf("wall_x %.3f\ncpu_ms %.1f\nrss_kib %ld\nok %d\n", wall / delay, cpu,
           ru.ru_maxrss, ok);
    curl_multi_cleanup(multi);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    curl_global_cleanup();
    return ok == n ? 0 : 1;
}

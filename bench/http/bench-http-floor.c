/*
 * The floor under every HTTP/1.1 peer of bench-http.c: N GET requests to the
 * loopback delay server, all at once, on raw non-blocking sockets and one
 * epoll loop -- no HTTP library, no futures, one fixed request, a response
 * read until its Content-Length is in. What is left is the kernel's work for
 * one TCP connection per request (socket, connect, send, recv, close, and on
 * loopback part of the server side's packet processing), which any client
 * that opens a connection per request pays. Its CPU time is the floor; its
 * wall time is not (it connects all N at once and reuses nothing).
 *
 *   bench-http-floor N DELAY_MS PORT [WORKERS]
 *
 * WORKERS is accepted and ignored. Prints the same "<key> <value>" lines as
 * bench-http: wall_x, cpu_ms, rss_kib, ok; LP_BENCH_HTTP_ROUNDS as there.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../bench-common.h"

#define EVENTS 256

struct conn {
    int fd;
    int sent;
    size_t got;    /* bytes received */
    size_t want;   /* header block plus Content-Length, once known */
    char buf[512]; /* the start of the response, to find its length */
};

/* Sets c->want once the header block is in; 0 while it is not. */
static void find_length(struct conn *c)
{
    size_t kept = c->got < sizeof(c->buf) - 1 ? c->got : sizeof(c->buf) - 1;
    const char *end, *cl;

    c->buf[kept] = '\0';
    end = strstr(c->buf, "\r\n\r\n");
    if (end == NULL)
        return;
    cl = strstr(c->buf, "Content-Length:");
    c->want = (size_t)(end + 4 - c->buf) +
              (cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0);
}

/* Reads what is there; returns 1 when the response is complete, -1 on error
 * or EOF before that, 0 to wait for more. */
static int receive(struct conn *c)
{
    char sink[4096];

    for (;;) {
        char *to = sink;
        size_t room = sizeof(sink);
        ssize_t n;

        if (c->got < sizeof(c->buf) - 1) {
            to = c->buf + c->got;
            room = sizeof(c->buf) - 1 - c->got;
        }
        n = recv(c->fd, to, room, 0);
        if (n == 0)
            return -1;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        c->got += (size_t)n;
        if (c->want == 0)
            find_length(c);
        if (c->want != 0 && c->got >= c->want)
            return 1;
    }
}

/* Opens every connection at once; 1 when all were started. */
static int connect_all(int ep, struct conn *conns, int n,
                       const struct sockaddr_in *addr)
{
    for (int i = 0; i < n; i++) {
        struct conn *c = &conns[i];
        struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
        int one = 1;

        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
            return 0;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(c->fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 &&
            errno != EINPROGRESS)
            return 0;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e) != 0)
            return 0;
    }
    return 1;
}

/* One fan-out of n requests; the count answered 200, or -1. */
static int fan_out(int ep, struct conn *conns, int n, const char *req,
                   int req_len, const struct sockaddr_in *addr)
{
    struct epoll_event ev[EVENTS];
    int done = 0, ok = 0;

    memset(conns, 0, (size_t)n * sizeof(*conns));
    if (!connect_all(ep, conns, n, addr))
        return -1;
    while (done < n) {
        int k = epoll_wait(ep, ev, EVENTS, 60000);

        if (k <= 0)
            break;
        for (int i = 0; i < k; i++) {
            struct conn *c = ev[i].data.ptr;
            int r;

            if (!c->sent) {
                struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };

                c->sent = 1;
                if (send(c->fd, req, (size_t)req_len, MSG_NOSIGNAL) ==
                        req_len &&
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) == 0)
                    continue;
                r = -1;
            } else {
                r = receive(c);
                if (r == 0)
                    continue;
            }
            ok += r == 1 && strncmp(c->buf, "HTTP/1.1 200", 12) == 0;
            done++;
            close(c->fd);
        }
    }
    return done == n ? ok : -1;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr = { .sin_family = AF_INET };
    struct rlimit rl;
    struct rusage ru;
    struct conn *conns;
    char req[128];
    const char *env_rounds = getenv("LP_BENCH_HTTP_ROUNDS");
    int n, delay, port, ep, req_len, ok = -1, rounds;
    double t0 = 0, c0 = 0, wall, cpu;

    if (argc < 4) {
        fprintf(stderr, "usage: bench-http-floor N DELAY_MS PORT\n");
        return 2;
    }
    n = (int)strtol(argv[1], NULL, 10);
    delay = (int)strtol(argv[2], NULL, 10);
    port = (int)strtol(argv[3], NULL, 10);
    rounds = env_rounds != NULL ? (int)strtol(env_rounds, NULL, 10) : 1;
    if (n <= 0 || delay <= 0 || port <= 0 || port > 65535 || rounds <= 0)
        return 2;
    req_len = snprintf(req, sizeof(req),
                       "GET /delay/%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                       "Accept: */*\r\n\r\n",
                       delay, port);
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    conns = calloc((size_t)n, sizeof(*conns));
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (conns == NULL || ep < 0)
        return 1;
    /* As in bench-http: earlier rounds warm the process, the last counts. */
    for (int r = 0; r < rounds; r++) {
        t0 = bench_now_ms();
        c0 = bench_cpu_ms();
        ok = fan_out(ep, conns, n, req, req_len, &addr);
    }
    wall = bench_now_ms() - t0;
    cpu = bench_cpu_ms() - c0;
    getrusage(RUSAGE_SELF, &ru);
    printf("wall_x %.3f\ncpu_ms %.1f\nrss_kib %ld\nok %d\n", wall / delay, cpu,
           ru.ru_maxrss, ok);
    close(ep);
    free(conns);
    return ok == n ? 0 : 1;
}

/*
 * The loopback delay server (see delay_server.h for the requests it answers).
 *
 * Design: one thread owns everything. An epoll set watches the listening
 * socket, an eventfd used to stop the thread, and every connection. A
 * request is parsed as soon as its header block (and body, for POST) is in;
 * its response is built at once into the connection's output buffer and,
 * for /delay/<ms>, held back: the connection enters a binary min-heap keyed
 * by the time it is due, and the loop's epoll timeout is the heap's minimum.
 * A connection holds at most one request in flight; pipelined requests wait
 * in its input buffer. /bytes/<n> bodies are streamed from a constant chunk,
 * so a large body costs no memory. A client that hangs up while waiting is
 * dropped from the heap at once (EPOLLIN reads EOF).
 *
 * Nothing is shared with other threads except the stop eventfd and the
 * atomic count of open connections, so there are no locks.
 */
#include "delay_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST     (64u << 20) /* header block plus body */
#define CLOSE_ANNOUNCED (1u << 20)
#define CLOSE_SENT      1000u
#define EVENTS_PER_WAIT 256

struct conn {
    int fd;
    char *in; /* received bytes not yet consumed */
    size_t in_len, in_cap;
    char *out; /* response bytes not yet written */
    size_t out_len, out_off;
    uint64_t stream_left;     /* /bytes body still to generate */
    int64_t due_ns;           /* when a held response may go out */
    size_t heap_idx;          /* position in the heap, or SIZE_MAX */
    bool held;                /* a response waits for its time */
    bool busy;                /* a request is in flight (held or writing) */
    bool close_after;         /* close once the output is written */
    bool want_out;            /* EPOLLOUT is registered */
    bool sent_continue;       /* answered Expect: 100-continue */
    struct conn *prev, *next; /* every open connection, for stop */
};

struct delay_server {
    int listen_fd;
    int epoll_fd;
    int stop_fd;
    int port;
    pthread_t thread;
    struct conn **heap; /* min-heap on due_ns */
    size_t heap_len, heap_cap;
    struct conn *conns; /* list of every open connection */
    atomic_int n_conns; /* its length, for delay_server_connections */
};

static char stream_chunk[64 * 1024];

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- timer heap ------------------------------------------------------- */

static void heap_swap(struct delay_server *s, size_t a, size_t b)
{
    struct conn *t = s->heap[a];

    s->heap[a] = s->heap[b];
    s->heap[b] = t;
    s->heap[a]->heap_idx = a;
    s->heap[b]->heap_idx = b;
}

static void heap_up(struct delay_server *s, size_t i)
{
    while (i > 0 && s->heap[(i - 1) / 2]->due_ns > s->heap[i]->due_ns) {
        heap_swap(s, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(struct delay_server *s, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;

        if (l < s->heap_len && s->heap[l]->due_ns < s->heap[m]->due_ns)
            m = l;
        if (r < s->heap_len && s->heap[r]->due_ns < s->heap[m]->due_ns)
            m = r;
        if (m == i)
            return;
        heap_swap(s, i, m);
        i = m;
    }
}

static int heap_push(struct delay_server *s, struct conn *c)
{
    if (s->heap_len == s->heap_cap) {
        size_t cap = s->heap_cap ? 2 * s->heap_cap : 1024;
        struct conn **h = realloc(s->heap, cap * sizeof(*h));

        if (h == NULL)
            return ENOMEM;
        s->heap = h;
        s->heap_cap = cap;
    }
    c->heap_idx = s->heap_len;
    s->heap[s->heap_len++] = c;
    heap_up(s, c->heap_idx);
    return 0;
}

static void heap_remove(struct delay_server *s, struct conn *c)
{
    size_t i = c->heap_idx;

    if (i == SIZE_MAX)
        return;
    c->heap_idx = SIZE_MAX;
    s->heap_len--;
    if (i == s->heap_len)
        return;
    s->heap[i] = s->heap[s->heap_len];
    s->heap[i]->heap_idx = i;
    heap_down(s, i);
    heap_up(s, i);
}

/* ---- connections -------------------------------------------------------- */

static void conn_close(struct delay_server *s, struct conn *c)
{
    heap_remove(s, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    atomic_fetch_sub(&s->n_conns, 1);
    /*
     * Leave the epoll set explicitly: close() alone does not when a forked
     * child still holds the socket, and a later event would then carry a
     * freed pointer.
     */
    epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static void conn_watch_out(struct delay_server *s, struct conn *c, bool on)
{
    struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0),
                              .data.ptr = c };

    if (c->want_out == on)
        return;
    c->want_out = on;
    epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

static int out_append(struct conn *c, const void *p, size_t n)
{
    char *buf = realloc(c->out, c->out_len + n);

    if (buf == NULL)
        return ENOMEM;
    memcpy(buf + c->out_len, p, n);
    c->out = buf;
    c->out_len += n;
    return 0;
}

/* A status line and headers; `extra` holds more header lines (or ""). */
static int out_head_with(struct conn *c, int code, uint64_t length,
                         const char *extra)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %llu\r\n%s%s\r\n",
                     code, code == 200 ? "OK" : "Status",
                     (unsigned long long)length, extra,
                     c->close_after ? "Connection: close\r\n" : "");

    if (n < 0 || (size_t)n >= sizeof(head))
        return EOVERFLOW;
    return out_append(c, head, (size_t)n);
}

static int out_head(struct conn *c, int code, uint64_t length)
{
    return out_head_with(c, code, length, "");
}

static int out_simple(struct conn *c, int code, const char *body)
{
    int err = out_head(c, code, strlen(body));

    return err ? err : out_append(c, body, strlen(body));
}

/* The echo of a POST, PUT or DELETE body, naming the method. */
static int out_echo(struct conn *c, const char *method, const char *body,
                    size_t body_len)
{
    char extra[32];
    int err;

    snprintf(extra, sizeof(extra), "X-Method: %s\r\n", method);
    err = out_head_with(c, 200, body_len, extra);
    return err ? err : out_append(c, body, body_len);
}

/* /redirect/<n>: 302 to /redirect/<n-1>, down to a 200 at /redirect/0. */
static int out_redirect(struct conn *c, uint64_t n)
{
    char extra[64];
    int err;

    if (n == 0)
        return out_simple(c, 200, "redirected\n");
    snprintf(extra, sizeof(extra), "Location: /redirect/%llu\r\n",
             (unsigned long long)(n - 1));
    err = out_head_with(c, 302, 6, extra);
    return err ? err : out_append(c, "moved\n", 6);
}

/*
 * HEAD: drops the body the GET response would have, keeping its status and
 * headers (Content-Length included), from a fully built header block.
 */
static void strip_body(struct conn *c)
{
    char *end = c->out ? memmem(c->out, c->out_len, "\r\n\r\n", 4) : NULL;

    if (end == NULL)
        return; /* no complete header block: /close-headers */
    c->out_len = (size_t)(end + 4 - c->out);
    c->stream_left = 0;
}

/* Parses a decimal number that ends the path; false if absent or junk. */
static bool path_number(const char *path, size_t path_len, const char *prefix,
                        uint64_t *value)
{
    size_t plen = strlen(prefix), i;

    if (path_len <= plen || memcmp(path, prefix, plen) != 0)
        return false;
    *value = 0;
    for (i = plen; i < path_len; i++) {
        if (path[i] < '0' || path[i] > '9' || *value > UINT64_MAX / 20)
            return false;
        *value = *value * 10 + (uint64_t)(path[i] - '0');
    }
    return true;
}

/* Finds header `name` in the block [p, end); returns its value or NULL. */
static const char *find_header(const char *p, const char *end, const char *name,
                               size_t *len)
{
    size_t nlen = strlen(name);

    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);

        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > nlen && p[nlen] == ':' &&
            strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1;

            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            *len = (size_t)(eol - v);
            return v;
        }
        p = eol + 2;
    }
    return NULL;
}

/*
 * Builds the response to the request whose header block is
 * [c->in, head_end) and whose body follows it, and schedules it.
 */
static int respond(struct delay_server *s, struct conn *c, const char *method,
                   const char *path, size_t path_len, const char *body,
                   size_t body_len, const char *head_end)
{
    uint64_t n = 0;
    bool delayed = path_number(path, path_len, "/delay/", &n);
    int err = 0;

    if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
        strcmp(method, "DELETE") == 0) {
        err = out_echo(c, method, body, body_len);
    } else if (delayed) {
        char text[64];

        snprintf(text, sizeof(text), "delayed %llu ms\n",
                 (unsigned long long)n);
        err = out_simple(c, 200, text);
    } else if (path_number(path, path_len, "/bytes/", &n)) {
        err = out_head(c, 200, n);
        c->stream_left = n;
    } else if (path_number(path, path_len, "/status/", &n) && n >= 100 &&
               n <= 999) {
        err = out_simple(c, (int)n, "status\n");
    } else if (path_len == 6 && memcmp(path, "/close", 6) == 0) {
        c->close_after = true;
        err = out_head(c, 200, CLOSE_ANNOUNCED);
        c->stream_left = CLOSE_SENT;
    } else if (path_len == 14 && memcmp(path, "/close-headers", 14) == 0) {
        static const char cut[] = "HTTP/1.1 200 OK\r\nContent-Le";

        c->close_after = true;
        err = out_append(c, cut, sizeof(cut) - 1);
    } else if (path_len == 8 && memcmp(path, "/headers", 8) == 0) {
        err = out_head(c, 200, (uint64_t)(head_end - c->in));
        if (!err)
            err = out_append(c, c->in, (size_t)(head_end - c->in));
    } else if (path_number(path, path_len, "/redirect/", &n)) {
        err = out_redirect(c, n);
    } else {
        err = out_simple(c, 404, "not found\n");
    }
    if (err)
        return err;
    if (strcmp(method, "HEAD") == 0)
        strip_body(c);
    c->busy = true;
    if (delayed && n > 0) {
        c->held = true;
        c->due_ns = now_ns() + (int64_t)(n > 86400000 ? 86400000 : n) * 1000000;
        return heap_push(s, c);
    }
    return 0;
}

/*
 * Parses one complete request from the input buffer if there is one and no
 * request is in flight. Returns 0 (parsed or incomplete) or an errno value
 * meaning "close this connection".
 */
static int parse_request(struct delay_server *s, struct conn *c, bool *parsed)
{
    char *head_end, *sp1, *sp2, method[8];
    const char *v;
    size_t vlen, head_len, body_len = 0;
    int err;

    *parsed = false;
    head_end = c->in_len ? memmem(c->in, c->in_len, "\r\n\r\n", 4) : NULL;
    if (head_end == NULL)
        return c->in_len > 65536 ? EPROTO : 0;
    head_end += 4;
    head_len = (size_t)(head_end - c->in);
    sp1 = memchr(c->in, ' ', head_len);
    sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(head_end - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL || (size_t)(sp1 - c->in) >= sizeof(method))
        return EPROTO;
    memcpy(method, c->in, (size_t)(sp1 - c->in));
    method[sp1 - c->in] = '\0';
    v = find_header(c->in, head_end, "Content-Length", &vlen);
    if (v != NULL) {
        char num[24];

        if (vlen == 0 || vlen >= sizeof(num))
            return EPROTO;
        memcpy(num, v, vlen);
        num[vlen] = '\0';
        body_len = strtoull(num, NULL, 10);
        if (body_len > MAX_REQUEST)
            return EPROTO;
    }
    if (c->in_len < head_len + body_len) {
        if (!c->sent_continue &&
            find_header(c->in, head_end, "Expect", &vlen) != NULL) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

            c->sent_continue = true;
            if (write(c->fd, cont, sizeof(cont) - 1) < 0)
                return errno;
        }
        return 0;
    }
    v = find_header(c->in, head_end, "Connection", &vlen);
    c->close_after =
        (v != NULL && vlen == 5 && strncasecmp(v, "close", 5) == 0) ||
        memmem(c->in, (size_t)(sp2 - c->in) + 10, "HTTP/1.0", 8) != NULL;
    err = respond(s, c, method, sp1 + 1, (size_t)(sp2 - sp1 - 1), head_end,
                  body_len, head_end);
    if (err)
        return err;
    memmove(c->in, c->in + head_len + body_len,
            c->in_len - head_len - body_len);
    c->in_len -= head_len + body_len;
    c->sent_continue = false;
    *parsed = true;
    return 0;
}

/*
 * Writes what is pending. Returns 0 while the connection lives, or an errno
 * value meaning "close it" (including the planned close of /close).
 */
static int flush_out(struct delay_server *s, struct conn *c)
{
    while (c->out_off < c->out_len || c->stream_left > 0) {
        const char *p = c->out + c->out_off;
        size_t n = c->out_len - c->out_off;
        ssize_t w;

        if (n == 0) {
            p = stream_chunk;
            n = c->stream_left < sizeof(stream_chunk) ? c->stream_left
                                                      : sizeof(stream_chunk);
        }
        w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_watch_out(s, c, true);
            return 0;
        }
        if (w < 0)
            return errno;
        if (c->out_off < c->out_len)
            c->out_off += (size_t)w;
        else
            c->stream_left -= (uint64_t)w;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    c->busy = false;
    conn_watch_out(s, c, false);
    return c->close_after ? ECONNRESET : 0;
}

/* Serves what the input buffer holds until a request is in flight. */
static int serve(struct delay_server *s, struct conn *c)
{
    bool parsed = true;
    int err = 0;

    while (!err && !c->busy && parsed) {
        err = parse_request(s, c, &parsed);
        if (!err && parsed && !c->held)
            err = flush_out(s, c);
    }
    return err;
}

static int read_in(struct conn *c)
{
    for (;;) {
        ssize_t r;

        /* Small to start: 10,000 idle connections hold 20 MiB. */
        if (c->in_cap - c->in_len < 512) {
            size_t cap = c->in_cap ? 2 * c->in_cap : 2048;
            char *buf;

            if (cap > MAX_REQUEST + 65536)
                return EPROTO;
            buf = realloc(c->in, cap);
            if (buf == NULL)
                return ENOMEM;
            c->in = buf;
            c->in_cap = cap;
        }
        r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (r > 0) {
            c->in_len += (size_t)r;
            continue;
        }
        if (r == 0)
            return ECONNRESET;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno;
    }
}

static void on_conn_event(struct delay_server *s, struct conn *c,
                          uint32_t events)
{
    int err = 0;

    if (events & EPOLLOUT)
        err = flush_out(s, c);
    if (!err && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        err = read_in(c);
    if (!err)
        err = serve(s, c);
    if (err)
        conn_close(s, c);
}

static void accept_all(struct delay_server *s)
{
    for (;;) {
        int fd =
            accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int one = 1;
        struct epoll_event ev = { .events = EPOLLIN };
        struct conn *c;

        if (fd < 0)
            return; /* EAGAIN, or out of descriptors: retry next round */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->heap_idx = SIZE_MAX;
        ev.data.ptr = c;
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        atomic_fetch_add(&s->n_conns, 1);
    }
}

/* Releases every response whose time has come; returns the epoll timeout. */
static int fire_timers(struct delay_server *s)
{
    int64_t now = now_ns();

    while (s->heap_len > 0 && s->heap[0]->due_ns <= now) {
        struct conn *c = s->heap[0];
        int err;

        heap_remove(s, c);
        c->held = false;
        err = flush_out(s, c);
        if (!err)
            err = serve(s, c);
        if (err)
            conn_close(s, c);
    }
    if (s->heap_len == 0)
        return -1;
    return (int)((s->heap[0]->due_ns - now + 999999) / 1000000);
}

static void *server_main(void *arg)
{
    struct delay_server *s = arg;
    struct epoll_event events[EVENTS_PER_WAIT];

    for (;;) {
        int timeout = fire_timers(s);
        int n = epoll_wait(s->epoll_fd, events, EVENTS_PER_WAIT, timeout);

        for (int i = 0; i < n; i++) {
            void *p = events[i].data.ptr;

            if (p == &s->stop_fd)
                return NULL;
            if (p == &s->listen_fd)
                accept_all(s);
            else
                on_conn_event(s, p, events[i].events);
        }
    }
}

static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int open_listener(const char *host, int port, int *fd_out, int *port_out)
{
    struct sockaddr_storage ss = { 0 };
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    int one = 1, fd, err;

    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        len = sizeof(*in6);
    } else {
        return EINVAL;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 65535) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        err = errno;
        close(fd);
        return err;
    }
    *fd_out = fd;
    *port_out = ntohs(ss.ss_family == AF_INET ? in4->sin_port : in6->sin6_port);
    return 0;
}

static int add_watch(int epoll_fd, int fd, void *tag)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
}

/* Starts the thread with every signal blocked: they belong to the caller. */
static int start_thread(struct delay_server *s)
{
    sigset_t all, old;
    int err;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&s->thread, NULL, server_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}

int delay_server_start(const char *host, int port, struct delay_server **out)
{
    struct delay_server *s;
    int err;

    if (out == NULL || port < 0 || port > 65535)
        return EINVAL;
    *out = NULL;
    raise_nofile();
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return ENOMEM;
    s->listen_fd = s->epoll_fd = s->stop_fd = -1;
    err =
        open_listener(host ? host : "127.0.0.1", port, &s->listen_fd, &s->port);
    if (err)
        goto out_free;
    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->epoll_fd < 0 || s->stop_fd < 0) {
        err = errno;
        goto out_free;
    }
    err = add_watch(s->epoll_fd, s->listen_fd, &s->listen_fd);
    if (!err)
        err = add_watch(s->epoll_fd, s->stop_fd, &s->stop_fd);
    if (!err)
        err = start_thread(s);
    if (err)
        goto out_free;
    *out = s;
    return 0;

out_free:
    if (s->stop_fd >= 0)
        close(s->stop_fd);
    if (s->epoll_fd >= 0)
        close(s->epoll_fd);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    free(s);
    return err;
}

int delay_server_port(const struct delay_server *s)
{
    return s ? s->port : -1;
}

int delay_server_connections(const struct delay_server *s)
{
    return s ? atomic_load(&s->n_conns) : -1;
}

void delay_server_stop(struct delay_server *s)
{
    uint64_t one = 1;

    if (s == NULL)
        return;
    if (write(s->stop_fd, &one, sizeof(one)) < 0)
        perror("delay_server_stop: write");
    pthread_join(s->thread, NULL);
    while (s->conns != NULL)
        conn_close(s, s->conns);
    close(s->stop_fd);
    close(s->epoll_fd);
    close(s->listen_fd);
    free(s->heap);
    free(s);
}

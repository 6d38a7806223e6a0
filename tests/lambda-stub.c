/*
 * The fault-injecting Runtime API stub (see lambda-stub.h). Plain sockets
 * and pthreads: a test fixture, not library code. One mutex guards the
 * script position and the recorded POSTs; a condition variable wakes
 * waiters on each POST and at shutdown.
 */
#include "lambda-stub.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define MAX_POSTS 4096

struct conn {
    struct stub *s;
    int fd;
    pthread_t thread;
    bool done; /* s->mu: the thread is about to exit */
};

struct stub {
    int listen_fd;
    int port;
    char addr[32];
    const struct stub_event *events;
    size_t n_events;
    pthread_t acceptor;
    bool started;
    bool close_when_done;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;                     /* mu */
    size_t next_event;                 /* mu */
    size_t nexts;                      /* mu: GET next requests seen */
    int64_t first_next_ns;             /* mu: when the first GET next came */
    struct conn *conns[MAX_CONNS];     /* mu */
    size_t n_conns;                    /* mu */
    struct stub_post posts[MAX_POSTS]; /* mu */
    size_t n_posts;                    /* mu */
    size_t post_want; /* mu: wake waiters once n_posts reaches it */
};

static void deadline_ts(struct timespec *ts, int64_t timeout_ms);

static void die(const char *what)
{
    perror(what);
    abort();
}

struct stub *stub_create(const struct stub_event *events, size_t n)
{
    struct stub *s = calloc(1, sizeof(*s));
    struct sockaddr_in sa = { 0 };
    socklen_t sl = sizeof(sa);

    if (s == NULL)
        die("calloc");
    s->events = events;
    s->n_events = n;
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0)
        die("socket");
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(s->listen_fd, 64) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&sa, &sl) != 0)
        die("bind/listen");
    s->port = ntohs(sa.sin_port);
    snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", s->port);
    s->post_want = SIZE_MAX;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    return s;
}

void stub_close_when_done(struct stub *s)
{
    s->close_when_done = true;
}

int stub_port(const struct stub *s)
{
    return s->port;
}

const char *stub_addr(const struct stub *s)
{
    return s->addr;
}

static bool write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

/* A received request. */
struct request {
    char method[8];
    char path[1024];
    char error_type[160];
    char response_mode[32];
    char trailer_type[160];  /* Lambda-Runtime-Function-Error-Type trailer */
    char trailer_body[2048]; /* Lambda-Runtime-Function-Error-Body trailer */
    char xray_cause[1024];   /* Lambda-Runtime-Function-XRay-Error-Cause */
    char content_type[160];
    char trailer_decl[160];
    char *body;
    size_t len;
};

/* Buffered reading from one connection, for one request at a time. */
struct reader {
    int fd;
    char buf[16384];
    size_t pos, len;
};

static bool fill(struct reader *r)
{
    ssize_t n;

    if (r->pos < r->len)
        return true;
    n = recv(r->fd, r->buf, sizeof(r->buf), 0);
    if (n <= 0)
        return false;
    r->pos = 0;
    r->len = (size_t)n;
    return true;
}

/* Reads a CRLF-terminated line into out (NUL-terminated, CRLF dropped). */
static bool read_line(struct reader *r, char *out, size_t cap)
{
    size_t n = 0;

    for (;;) {
        char c;
        if (!fill(r))
            return false;
        c = r->buf[r->pos++];
        if (c == '\n')
            break;
        if (n + 1 < cap)
            out[n++] = c;
    }
    if (n > 0 && out[n - 1] == '\r')
        n--;
    out[n] = '\0';
    return true;
}

static bool read_exact(struct reader *r, char *out, size_t want)
{
    while (want > 0) {
        size_t k;
        if (!fill(r))
            return false;
        k = r->len - r->pos < want ? r->len - r->pos : want;
        memcpy(out, r->buf + r->pos, k);
        r->pos += k;
        out += k;
        want -= k;
    }
    return true;
}

/* Appends a chunked body to rq->body; stores the trailers we know. */
static bool read_chunked(struct reader *r, struct request *rq)
{
    char line[4096];

    for (;;) {
        unsigned long size;
        char *grown;
        if (!read_line(r, line, sizeof(line)))
            return false;
        size = strtoul(line, NULL, 16);
        if (size == 0)
            break;
        grown = realloc(rq->body, rq->len + size + 1);
        if (grown == NULL)
            return false;
        rq->body = grown;
        if (!read_exact(r, rq->body + rq->len, size) ||
            !read_line(r, line, sizeof(line)))
            return false;
        rq->len += size;
    }
    for (;;) { /* trailers, then the empty line */
        if (!read_line(r, line, sizeof(line)))
            return false;
        if (line[0] == '\0')
            return true;
        if (strncasecmp(line, "Lambda-Runtime-Function-Error-Type:", 35) == 0)
            snprintf(rq->trailer_type, sizeof(rq->trailer_type), "%s",
                     line + 35 + strspn(line + 35, " "));
        if (strncasecmp(line, "Lambda-Runtime-Function-Error-Body:", 35) == 0)
            snprintf(rq->trailer_body, sizeof(rq->trailer_body), "%s",
                     line + 35 + strspn(line + 35, " "));
    }
}

/* Copies the value of header line `line` into out when its name is `name`. */
static bool take_header(const char *line, const char *name, char *out,
                        size_t cap)
{
    size_t nl = strlen(name), n;
    const char *v;

    if (strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return false;
    v = line + nl + 1;
    v += strspn(v, " ");
    n = strlen(v);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, v, n);
    out[n] = '\0';
    return true;
}

/* Reads one request; false when the peer closed or on error. Kept cheap
 * (no scanf, one pass over the headers): the benchmark's figures include
 * the stub's work. */
static bool read_request(struct reader *r, struct request *rq)
{
    char line[4096], cl[32] = "", te[32] = "";
    size_t want = 0;
    char *sp;

    rq->error_type[0] = rq->response_mode[0] = '\0';
    rq->trailer_type[0] = rq->trailer_body[0] = rq->xray_cause[0] = '\0';
    rq->content_type[0] = rq->trailer_decl[0] = '\0';
    rq->body = NULL;
    rq->len = 0;
    if (!read_line(r, line, sizeof(line)))
        return false;
    sp = strchr(line, ' ');
    if (sp == NULL || sp - line >= (long)sizeof(rq->method))
        return false;
    memcpy(rq->method, line, (size_t)(sp - line));
    rq->method[sp - line] = '\0';
    snprintf(rq->path, sizeof(rq->path), "%.*s", (int)strcspn(sp + 1, " "),
             sp + 1);
    for (;;) {
        if (!read_line(r, line, sizeof(line)))
            return false;
        if (line[0] == '\0')
            break;
        if (take_header(line, "Content-Length", cl, sizeof(cl)) ||
            take_header(line, "Transfer-Encoding", te, sizeof(te)) ||
            take_header(line, "Lambda-Runtime-Function-Error-Type",
                        rq->error_type, sizeof(rq->error_type)))
            continue;
        if (take_header(line, "Content-Type", rq->content_type,
                        sizeof(rq->content_type)) ||
            take_header(line, "Trailer", rq->trailer_decl,
                        sizeof(rq->trailer_decl)))
            continue;
        if (take_header(line, "Lambda-Runtime-Function-Response-Mode",
                        rq->response_mode, sizeof(rq->response_mode)))
            continue;
        take_header(line, "Lambda-Runtime-Function-XRay-Error-Cause",
                    rq->xray_cause, sizeof(rq->xray_cause));
    }
    if (cl[0] != '\0')
        want = strtoul(cl, NULL, 10);
    rq->body = malloc(want + 1);
    if (rq->body == NULL)
        return false;
    if (strcasecmp(te, "chunked") == 0) {
        if (!read_chunked(r, rq))
            goto fail;
    } else {
        if (!read_exact(r, rq->body, want))
            goto fail;
        rq->len = want;
    }
    rq->body[rq->len] = '\0';
    return true;
fail:
    free(rq->body);
    rq->body = NULL;
    return false;
}

static int64_t epoch_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Answers GET next with event i (fault applied); false: close. */
/* Writes head's status line and a header line of 70,000 bytes; *n becomes
 * the length of head's rest, still to write. */
static bool write_huge_header(int fd, const char *head, int *n)
{
    static const char name[] = "Lambda-Runtime-Cognito-Identity: ";
    size_t status_len = (size_t)(strchr(head, '\n') + 1 - head);
    size_t len = 70000;
    char *line = malloc(len);
    bool ok;

    if (line == NULL)
        return false;
    memcpy(line, name, sizeof(name) - 1);
    memset(line + sizeof(name) - 1, 'c', len - (sizeof(name) - 1) - 2);
    memcpy(line + len - 2, "\r\n", 2);
    ok = write_all(fd, head, status_len) && write_all(fd, line, len);
    free(line);
    *n -= (int)status_len;
    return ok;
}

static bool serve_event(int fd, const struct stub_event *ev, size_t i)
{
    const char *body = ev->body ? ev->body : "{}";
    size_t len;
    char head[2048], id[400], deadline[96];
    int n;

    if (ev->fault == STUB_RAW) {
        write_all(fd, ev->body, ev->len);
        return false;
    }
    len = ev->len ? ev->len : strlen(body);
    if (ev->fault == STUB_NEXT_500) {
        const char *r = "HTTP/1.1 500 Internal Server Error\r\n"
                        "Content-Length: 0\r\n\r\n";
        return write_all(fd, r, strlen(r));
    }
    if (ev->fault == STUB_NEXT_403) {
        const char *r = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        return write_all(fd, r, strlen(r));
    }
    if (ev->fault == STUB_NO_REQUEST_ID)
        id[0] = '\0';
    else if (ev->fault == STUB_LONG_REQUEST_ID) {
        memset(id, 'a', 300);
        snprintf(id + 300, sizeof(id) - 300, "-%zu", i);
    } else if (ev->fault == STUB_BAD_REQUEST_ID)
        snprintf(id, sizeof(id), "../req %zu/x", i);
    else
        snprintf(id, sizeof(id), "req-%zu", i);
    if (ev->fault == STUB_NO_DEADLINE)
        deadline[0] = '\0';
    else if (ev->deadline)
        snprintf(deadline, sizeof(deadline),
                 "Lambda-Runtime-Deadline-Ms: %s\r\n", ev->deadline);
    else
        snprintf(deadline, sizeof(deadline),
                 "Lambda-Runtime-Deadline-Ms: %lld\r\n",
                 (long long)(epoch_ms() + 60000));
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\n"
                 "Content-Type: application/json\r\n"
                 "%s%s%s"
                 "%s"
                 "Lambda-Runtime-Invoked-Function-Arn: "
                 "arn:aws:lambda:us-east-1:123456789012:function:stub\r\n"
                 "Lambda-Runtime-Trace-Id: %s\r\n"
                 "Lambda-Runtime-Aws-Tenant-Id: tenant-7\r\n"
                 "Lambda-Runtime-Client-Context: {\"client\":1}\r\n"
                 "Lambda-Runtime-Cognito-Identity: {\"cognitoIdentityId\":"
                 "\"id-7\"}\r\n"
                 "%s"
                 "Content-Length: %zu\r\n\r\n",
                 id[0] ? "Lambda-Runtime-Aws-Request-Id: " : "", id,
                 id[0] ? "\r\n" : "", deadline,
                 ev->trace_id ? ev->trace_id
                              : "Root=1-5759e988-bd862e3fe1be46a994272793;"
                                "Sampled=1",
                 ev->fault == STUB_GARBAGE_HEADERS
                     ? ": empty name\r\nX-Empty:\r\n"
                       "Lambda-Runtime-Cognito-Identity:   \r\n"
                       "lambda-runtime-tenant-id-x: y\r\n"
                 : ev->fault == STUB_NO_COLON_HEADER ? "NoColonHere\r\n"
                                                     : "",
                 len);
    if (ev->fault == STUB_HUGE_HEADER && !write_huge_header(fd, head, &n))
        return false;
    if (!write_all(fd, head + (int)strlen(head) - n, (size_t)n))
        return false;
    if (ev->fault == STUB_NEXT_DROP_BODY) {
        write_all(fd, body, len / 2);
        return false;
    }
    return write_all(fd, body, len);
}

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* snprintf(out, cap, "%s", in), cheaper: the stub's work is part of the
 * benchmark's figures. */
static void copy_str(char *out, size_t cap, const char *in)
{
    size_t n = strnlen(in, cap - 1);

    memcpy(out, in, n);
    out[n] = '\0';
}

static void record_post(struct stub *s, const struct request *rq, char kind,
                        const char *id, int status)
{
    struct stub_post *p;
    int64_t now = mono_ns();
    char *body = malloc(rq->len + 1);

    if (body == NULL)
        die("malloc");
    memcpy(body, rq->body, rq->len + 1);
    pthread_mutex_lock(&s->mu);
    if (s->n_posts < MAX_POSTS) {
        p = &s->posts[s->n_posts++];
        p->kind = kind;
        copy_str(p->request_id, sizeof(p->request_id), id);
        copy_str(p->error_type, sizeof(p->error_type), rq->error_type);
        copy_str(p->response_mode, sizeof(p->response_mode), rq->response_mode);
        copy_str(p->trailer_type, sizeof(p->trailer_type), rq->trailer_type);
        copy_str(p->trailer_body, sizeof(p->trailer_body), rq->trailer_body);
        copy_str(p->xray_cause, sizeof(p->xray_cause), rq->xray_cause);
        copy_str(p->content_type, sizeof(p->content_type), rq->content_type);
        copy_str(p->trailer_decl, sizeof(p->trailer_decl), rq->trailer_decl);
        p->body = body;
        body = NULL;
        p->len = rq->len;
        p->status = status;
        p->t_ns = now;
    }
    /* Only a waiter whose count is reached is woken (stub_wait_posts), not
     * every waiter on every POST. */
    if (s->n_posts >= s->post_want) {
        s->post_want = SIZE_MAX;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    free(body);
}

static enum stub_fault fault_of(struct stub *s, const char *id)
{
    unsigned long i;
    char *end;

    if (strncmp(id, "req-", 4) != 0)
        return STUB_OK;
    i = strtoul(id + 4, &end, 10);
    if (end != id + 4 && *end == '\0' && i < s->n_events)
        return s->events[i].fault;
    return STUB_OK;
}

static bool handle_post(struct stub *s, int fd, const struct request *rq)
{
    const char *p = rq->path + strlen("/2018-06-01/runtime/");
    char id[200] = "";
    char kind = '?';
    int status = 202;
    char resp[256];
    const char *extra = "";

    if (strcmp(p, "init/error") == 0) {
        kind = 'i';
    } else if (strncmp(p, "invocation/", 11) == 0) {
        const char *slash = strrchr(p, '/');
        enum stub_fault f;
        if (slash > p + 11 && slash - p - 11 < (long)sizeof(id)) {
            memcpy(id, p + 11, (size_t)(slash - p - 11));
            id[slash - p - 11] = '\0';
        } else if (slash > p + 11) {
            snprintf(id, sizeof(id), "%.*s", (int)(slash - p - 11), p + 11);
        }
        kind = strcmp(slash, "/response") == 0 ? 'r' : 'e';
        f = fault_of(s, id);
        if (kind == 'r' && f == STUB_RESPONSE_413) {
            status = 413;
            extra = "{\"errorMessage\":\"Exceeded maximum allowed payload "
                    "size (6291556 bytes).\",\"errorType\":"
                    "\"RequestEntityTooLarge\"}";
        } else if (kind == 'r' && f == STUB_RESPONSE_500) {
            status = 500;
        } else if (kind == 'e' && f == STUB_ERROR_500) {
            status = 500;
        }
    }
    record_post(s, rq, kind, id, status);
    if (status == 202) {
        static const char ok[] =
            "HTTP/1.1 202 X\r\nContent-Type: "
            "application/json\r\nContent-Length: 0\r\n\r\n";
        return write_all(fd, ok, sizeof(ok) - 1);
    }
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             status, strlen(extra), extra);
    return write_all(fd, resp, strlen(resp));
}

/* GET next: waits for an event (or shutdown) and serves it. */
static bool handle_next(struct stub *s, int fd)
{
    size_t i;

    int64_t now = mono_ns();

    pthread_mutex_lock(&s->mu);
    if (s->nexts++ == 0) {
        s->first_next_ns = now;
        pthread_cond_broadcast(&s->cv);
    }
    while (!s->stopping && !s->close_when_done && s->next_event >= s->n_events)
        pthread_cond_wait(&s->cv, &s->mu);
    if (s->stopping || s->next_event >= s->n_events) {
        pthread_mutex_unlock(&s->mu);
        return false;
    }
    i = s->next_event++;
    pthread_mutex_unlock(&s->mu);
    return serve_event(fd, &s->events[i], i);
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    struct reader *rd = calloc(1, sizeof(*rd));
    struct request rq;

    if (rd == NULL)
        die("calloc");
    rd->fd = c->fd;
    while (read_request(rd, &rq)) {
        bool keep;
        if (strcmp(rq.method, "GET") == 0 &&
            strcmp(rq.path, "/2018-06-01/runtime/invocation/next") == 0)
            keep = handle_next(c->s, c->fd);
        else if (strcmp(rq.method, "POST") == 0)
            keep = handle_post(c->s, c->fd, &rq);
        else
            keep = write_all(c->fd,
                             "HTTP/1.1 404 X\r\nContent-Length: 0\r\n\r\n", 38);
        free(rq.body);
        if (!keep)
            break;
    }
    free(rd);
    shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_lock(&c->s->mu);
    c->done = true;
    pthread_mutex_unlock(&c->s->mu);
    return NULL;
}

/* Joins and frees the connections whose thread ended (one process per
 * request, as curl(1) in a shell bootstrap, makes many). */
static void reap_conns(struct stub *s)
{
    size_t kept = 0;

    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_conns; i++) {
        struct conn *c = s->conns[i];
        if (!c->done) {
            s->conns[kept++] = c;
            continue;
        }
        pthread_join(c->thread, NULL); /* it only has to return */
        close(c->fd);
        free(c);
    }
    s->n_conns = kept;
    pthread_mutex_unlock(&s->mu);
}

static void *accept_main(void *arg)
{
    struct stub *s = arg;

    for (;;) {
        struct pollfd pfd = { s->listen_fd, POLLIN, 0 };
        struct conn *c;
        int fd, one = 1;

        pthread_mutex_lock(&s->mu);
        bool stop = s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            return NULL;
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        reap_conns(s);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c = calloc(1, sizeof(*c));
        if (c == NULL)
            die("calloc");
        c->s = s;
        c->fd = fd;
        pthread_mutex_lock(&s->mu);
        if (s->n_conns == MAX_CONNS) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            free(c);
            continue;
        }
        s->conns[s->n_conns++] = c;
        pthread_mutex_unlock(&s->mu);
        if (pthread_create(&c->thread, NULL, conn_main, c) != 0)
            die("pthread_create");
    }
}

void stub_start(struct stub *s)
{
    if (pthread_create(&s->acceptor, NULL, accept_main, s) != 0)
        die("pthread_create");
    s->started = true;
}

bool stub_wait_posts(struct stub *s, size_t n, int64_t timeout_ms)
{
    struct timespec ts;
    bool ok;

    deadline_ts(&ts, timeout_ms);
    pthread_mutex_lock(&s->mu);
    while (s->n_posts < n) {
        if (n < s->post_want)
            s->post_want = n;
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT)
            break;
    }
    ok = s->n_posts >= n;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

size_t stub_post_count(struct stub *s)
{
    size_t n;

    pthread_mutex_lock(&s->mu);
    n = s->n_posts;
    pthread_mutex_unlock(&s->mu);
    return n;
}

const struct stub_post *stub_post_get(struct stub *s, size_t i)
{
    const struct stub_post *p = NULL;

    pthread_mutex_lock(&s->mu);
    if (i < s->n_posts)
        p = &s->posts[i];
    pthread_mutex_unlock(&s->mu);
    return p;
}

int64_t stub_first_next_ns(struct stub *s)
{
    int64_t t;

    pthread_mutex_lock(&s->mu);
    t = s->first_next_ns;
    pthread_mutex_unlock(&s->mu);
    return t;
}

static void deadline_ts(struct timespec *ts, int64_t timeout_ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (timeout_ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

bool stub_wait_first_next(struct stub *s, int64_t timeout_ms)
{
    struct timespec ts;
    bool ok;

    deadline_ts(&ts, timeout_ms);
    pthread_mutex_lock(&s->mu);
    while (s->nexts == 0) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT)
            break;
    }
    ok = s->nexts > 0;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

size_t stub_next_count(struct stub *s)
{
    size_t n;

    pthread_mutex_lock(&s->mu);
    n = s->nexts;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void stub_destroy(struct stub *s)
{
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        for (size_t i = 0; i < s->n_conns; i++)
            shutdown(s->conns[i]->fd, SHUT_RDWR);
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->acceptor, NULL);
        /* No new connections now; n_conns is stable. */
        for (size_t i = 0; i < s->n_conns; i++) {
            pthread_join(s->conns[i]->thread, NULL);
            close(s->conns[i]->fd);
            free(s->conns[i]);
        }
    }
    for (size_t i = 0; i < s->n_posts; i++)
        free(s->posts[i].body);
    close(s->listen_fd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

int stub_dead_port(void)
{
    struct sockaddr_in sa = { 0 };
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        die("bind");
    port = ntohs(sa.sin_port);
    /* Bound, never listened: connects are refused. The socket stays open
     * (for the life of the test) so that nobody else can bind the port and
     * listen on it meanwhile. */
    return port;
}

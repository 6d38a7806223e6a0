/*
 * The event loop's libcurl side: multi handles ("shards"), one epoll set,
 * and the socket and timer callbacks that keep them in step. Loop thread
 * only, except lp__http_wake.
 *
 * Why curl_multi_socket_action and epoll rather than curl_multi_poll: in
 * libcurl 7.88, curl_multi_perform visits every transfer and polls each
 * one's socket, and curl_multi_poll rebuilds a pollfd array of all of them,
 * so each wakeup costs O(transfers) system calls. With the socket interface
 * libcurl names the sockets to watch (on_socket) and its next timeout
 * (on_timer), and a readiness event touches only its own transfer. An
 * eventfd in the same epoll set plays the part of curl_multi_wakeup.
 *
 * Why shards: in 7.88, curl_multi_remove_handle walks the multi handle's
 * whole connection cache, and starting a transfer walks every connection to
 * the same host, so one multi handle with N transfers costs O(N^2). Transfers
 * therefore go to the first multi handle with fewer than `shard_cap` of them,
 * created on demand; each has its own connection cache, so connections are
 * reused (and HTTP/2 streams multiplexed) within a shard. With a per-host cap
 * there is a single shard, as libcurl enforces that cap per multi handle.
 * An epoll event carries (shard index << 32 | socket).
 */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "http_client.h"

#define WAKE_TAG        UINT64_MAX
#define DEFAULT_STREAMS 100L

static uint64_t tag_of(const struct lp__http_shard *s, curl_socket_t fd)
{
    return ((uint64_t)s->index << 32) | (uint32_t)fd;
}

/* CURLMOPT_SOCKETFUNCTION: keeps the epoll set in step with libcurl. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *arg,
                     void *socketp)
{
    struct lp__http_shard *s = arg;
    int epoll_fd = s->client->epoll_fd;
    struct epoll_event ev = { .data.u64 = tag_of(s, fd) };

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        /* Fails harmlessly when libcurl already closed the socket. */
        epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) |
                ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    if (socketp == NULL) {
        curl_multi_assign(s->multi, fd, s);
        if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0 || errno != EEXIST)
            return 0;
    }
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &ev);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: remembers when libcurl wants to be called. */
static int on_timer(CURLM *multi, long timeout_ms, void *arg)
{
    struct lp__http_shard *s = arg;

    (void)multi;
    s->timer_at = timeout_ms < 0 ? -1
                                 : lp__monotonic_ns() +
                                       (int64_t)timeout_ms * LP__NS_PER_MS;
    return 0;
}

static lp_status new_shard(struct lp_http_client *c, unsigned index,
                           struct lp__http_shard **out)
{
    const struct lp__http_multi_options *o = &c->multi_opts;
    struct lp__http_shard *s = lp__calloc(1, sizeof(*s));
    CURLM *m;

    if (s == NULL)
        return LP_ENOMEM;
    m = curl_multi_init();
    if (m == NULL) {
        lp__free(s);
        return LP_ENOMEM;
    }
    s->multi = m;
    s->client = c;
    s->index = index;
    s->timer_at = -1;
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, s);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(m, CURLMOPT_TIMERDATA, s);
    curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(m, CURLMOPT_MAX_CONCURRENT_STREAMS,
                      o->max_streams ? (long)o->max_streams : DEFAULT_STREAMS);
    if (o->max_per_host)
        curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS,
                          (long)o->max_per_host);
    if (o->max_idle)
        curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)o->max_idle);
    *out = s;
    return LP_OK;
}

lp_status lp__http_shard_add(struct lp_http_client *c, CURL *easy,
                             struct lp__http_shard **out)
{
    struct lp__http_shard *s = NULL;
    lp_status st;

    *out = NULL;
    for (unsigned i = 0; i < c->n_shards && s == NULL; i++) {
        if (c->shards[i]->n_active < c->shard_cap)
            s = c->shards[i];
    }
    if (s == NULL) {
        if (c->n_shards == c->max_shards)
            return LP_EFULL; /* cannot happen: max_concurrent bounds it */
        st = new_shard(c, c->n_shards, &s);
        if (st != LP_OK)
            return st;
        c->shards[c->n_shards++] = s;
    }
    if (curl_multi_add_handle(s->multi, easy) != CURLM_OK)
        return LP_EHTTP;
    s->n_active++;
    *out = s;
    return LP_OK;
}

void lp__http_shard_remove(struct lp__http_shard *s, CURL *easy)
{
    curl_multi_remove_handle(s->multi, easy);
    s->n_active--;
}

int lp__http_shards_timeout_ms(struct lp_http_client *c, int cap_ms)
{
    int64_t now = lp__monotonic_ns();
    int ms = cap_ms;

    for (unsigned i = 0; i < c->n_shards; i++) {
        int64_t at = c->shards[i]->timer_at, t;

        if (at < 0)
            continue;
        t = (at - now + LP__NS_PER_MS - 1) / LP__NS_PER_MS;
        if (t < ms)
            ms = t > 0 ? (int)t : 0;
    }
    return ms;
}

static void drain_wake(struct lp_http_client *c)
{
    uint64_t count;

    if (read(c->wake_fd, &count, sizeof(count)) < 0) {
        /* EAGAIN: another event already drained it. */
    }
}

void lp__http_shards_dispatch(struct lp_http_client *c,
                              const struct epoll_event *ev, int n)
{
    int64_t now;
    int running;

    for (int i = 0; i < n; i++) {
        uint64_t tag = ev[i].data.u64;
        uint32_t e = ev[i].events;
        unsigned index = (unsigned)(tag >> 32);
        int flags = 0;

        if (tag == WAKE_TAG) {
            drain_wake(c);
            continue;
        }
        if (index >= c->n_shards)
            continue;
        if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
            flags |= CURL_CSELECT_IN;
        if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            flags |= CURL_CSELECT_OUT;
        curl_multi_socket_action(c->shards[index]->multi,
                                 (curl_socket_t)(uint32_t)tag, flags, &running);
    }
    now = lp__monotonic_ns();
    for (unsigned i = 0; i < c->n_shards; i++) {
        struct lp__http_shard *s = c->shards[i];

        if (s->timer_at >= 0 && now >= s->timer_at) {
            s->timer_at = -1;
            curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0,
                                     &running);
        }
    }
}

CURLMsg *lp__http_shards_next_done(struct lp_http_client *c,
                                   struct lp__http_shard **from)
{
    for (unsigned i = 0; i < c->n_shards; i++) {
        CURLMsg *m;
        int left;

        while ((m = curl_multi_info_read(c->shards[i]->multi, &left)) != NULL) {
            if (m->msg == CURLMSG_DONE) {
                *from = c->shards[i];
                return m;
            }
        }
    }
    return NULL;
}

lp_status lp__http_loop_open(struct lp_http_client *c, unsigned max_transfers)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_TAG };

    c->shard_cap =
        c->multi_opts.max_per_host ? max_transfers : LP__HTTP_SHARD_TRANSFERS;
    c->max_shards = (max_transfers + c->shard_cap - 1) / c->shard_cap;
    c->shards = lp__calloc(c->max_shards, sizeof(*c->shards));
    if (c->shards == NULL)
        return LP_ENOMEM;
    c->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->epoll_fd >= 0 && c->wake_fd >= 0 &&
        epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, c->wake_fd, &ev) == 0)
        return LP_OK;
    lp__http_loop_close(c);
    return LP_ESYS;
}

void lp__http_loop_close(struct lp_http_client *c)
{
    while (c->n_spare > 0)
        curl_easy_cleanup(c->spare[--c->n_spare]);
    for (unsigned i = 0; i < c->n_shards; i++) {
        curl_multi_cleanup(c->shards[i]->multi);
        lp__free(c->shards[i]);
    }
    lp__free(c->shards);
    c->shards = NULL;
    c->n_shards = 0;
    if (c->epoll_fd >= 0)
        close(c->epoll_fd);
    if (c->wake_fd >= 0)
        close(c->wake_fd);
    c->epoll_fd = c->wake_fd = -1;
}

void lp__http_wake(struct lp_http_client *c)
{
    uint64_t one = 1;

    if (write(c->wake_fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is saturated, so a wakeup is pending. */
    }
}

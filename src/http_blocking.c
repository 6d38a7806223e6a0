/*
 * Blocking HTTP calls for code already running on a pool thread: the
 * transfer runs on the calling thread with curl_easy_perform.
 *
 * Calls that name a client use its share handle, so every thread resolves a
 * host once and resumes TLS sessions negotiated by others. libcurl calls the
 * lock callbacks below around every access to a shared cache; there is one
 * lp__mutex per cache (curl_lock_data), and libcurl never holds two at once.
 * Connections are not shared: libcurl does not support sharing them between
 * concurrent threads. Instead each thread keeps the easy handle of its last
 * call (reset, its own connection cache intact, detached from the share) for
 * its next call with the same client: a worker that calls the same host
 * again reuses its connection rather than paying a new TCP (and TLS)
 * handshake. The handle is freed when the thread exits, or replaced when
 * the thread calls with another client; a forked child never touches its
 * parent's (its connections are the parent's sockets).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "clock.h"
#include "http_client.h"

static void share_lock(CURL *easy, curl_lock_data data, curl_lock_access access,
                       void *arg)
{
    struct lp_http_client *c = arg;

    (void)easy;
    (void)access;
    if ((unsigned)data < CURL_LOCK_DATA_LAST)
        lp__mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *easy, curl_lock_data data, void *arg)
{
    struct lp_http_client *c = arg;

    (void)easy;
    if ((unsigned)data < CURL_LOCK_DATA_LAST)
        lp__mutex_unlock(&c->share_locks[data]);
}

lp_status lp__http_client_init_share(struct lp_http_client *c)
{
    size_t i;
    lp_status st = LP_OK;

    for (i = 0; i < CURL_LOCK_DATA_LAST && st == LP_OK; i++)
        st = lp__mutex_init(&c->share_locks[i]);
    if (st != LP_OK) {
        while (--i > 0)
            lp__mutex_destroy(&c->share_locks[i - 1]);
        return st;
    }
    c->share_ready = true;
    c->share = curl_share_init();
    if (c->share == NULL) {
        lp__http_client_release_share(c);
        return LP_ENOMEM;
    }
    if (curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock) ||
        curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
        curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE,
                          CURL_LOCK_DATA_SSL_SESSION)) {
        lp__http_client_release_share(c);
        return LP_EHTTP;
    }
    return LP_OK;
}

void lp__http_client_release_share(struct lp_http_client *c)
{
    if (c->share != NULL)
        curl_share_cleanup(c->share);
    c->share = NULL;
    if (!c->share_ready)
        return;
    for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
        lp__mutex_destroy(&c->share_locks[i]);
    c->share_ready = false;
}

/* A thread's kept easy handle (pthread key: freed at thread exit). */
struct kept_easy {
    CURL *easy;
    uint64_t client_id; /* 0: calls that named no client */
    unsigned fork_generation;
};

static pthread_key_t kept_key;
static bool kept_key_ok;
static lp__once kept_once = LP__ONCE_INIT;
/* Kept handles in the process, at most LP__HTTP_KEPT_MAX. A forked child
 * starts with its parent's count, so it may keep fewer. */
static atomic_int kept_count;

/* Frees a kept handle (one of the parent's is abandoned: its connections
 * are the parent's sockets). */
static void kept_free(void *p)
{
    struct kept_easy *k = p;

    if (k->fork_generation == lp__fork_generation())
        curl_easy_cleanup(k->easy); /* NULL: nothing */
    lp__free(k);
    atomic_fetch_sub(&kept_count, 1);
}

static void kept_key_create(void)
{
    kept_key_ok = pthread_key_create(&kept_key, kept_free) == 0;
}

/* This thread's kept handle for `client_id`, taken out of the slot, or
 * NULL. One kept for another client is freed. */
static CURL *take_kept_easy(uint64_t client_id)
{
    struct kept_easy *k;
    CURL *easy = NULL;

    lp__once_run(&kept_once, kept_key_create);
    if (!kept_key_ok || (k = pthread_getspecific(kept_key)) == NULL)
        return NULL;
    pthread_setspecific(kept_key, NULL);
    if (k->fork_generation == lp__fork_generation() &&
        k->client_id == client_id) {
        easy = k->easy;
        k->easy = NULL;
    }
    kept_free(k);
    return easy;
}

/* Counts one more kept handle, if under the cap. */
static bool kept_count_reserve(void)
{
    if (atomic_fetch_add(&kept_count, 1) < LP__HTTP_KEPT_MAX)
        return true;
    atomic_fetch_sub(&kept_count, 1);
    return false;
}

/* Keeps `easy` for this thread's next call with `client_id`, or frees it. */
static void keep_easy(CURL *easy, uint64_t client_id)
{
    struct kept_easy *k = NULL;

    if (kept_key_ok && pthread_getspecific(kept_key) == NULL &&
        kept_count_reserve()) {
        k = lp__malloc(sizeof(*k));
        if (k == NULL)
            atomic_fetch_sub(&kept_count, 1);
    }
    if (k == NULL) {
        curl_easy_cleanup(easy);
        return;
    }
    /* No option may point into the finished call's memory, nor the handle
     * hold the client's share, which may be gone by its next use; and it
     * holds one connection at most. */
    curl_easy_reset(easy);
    curl_easy_setopt(easy, CURLOPT_SHARE, NULL);
    curl_easy_setopt(easy, CURLOPT_MAXCONNECTS, 1L);
    *k = (struct kept_easy){ easy, client_id, lp__fork_generation() };
    if (pthread_setspecific(kept_key, k) != 0)
        kept_free(k);
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = { .tv_sec = ns / LP__NS_PER_SEC,
                           .tv_nsec = ns % LP__NS_PER_SEC };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Attempts until one is final; see lp_http_perform. */
static lp_status run_attempts(struct lp__http_xfer *x,
                              const struct lp__http_defaults *d, CURLSH *share,
                              lp_http_response **out)
{
    char msg[512];

    for (;;) {
        lp_status st = lp__http_xfer_prepare(x, d, share);
        CURLcode rc;
        int64_t delay;

        if (st != LP_OK)
            return st;
        rc = lp__http_xfer_outcome(x, curl_easy_perform(x->easy));
        delay = lp__http_xfer_retry_delay(x, rc);
        if (delay < 0)
            return lp__http_xfer_finish(x, rc, out, msg, sizeof(msg));
        sleep_ns(delay);
    }
}

lp_status lp_http_perform(lp_http_client *c, const lp_http_request *req,
                          lp_http_response **out)
{
    struct lp__http_defaults local;
    const struct lp__http_defaults *d = &local;
    struct lp__http_xfer x;
    CURLSH *share = NULL;
    uint64_t id = 0;
    lp_status st;

    if (out != NULL)
        *out = NULL;
    if (out == NULL || req == NULL || (c != NULL && !lp__http_client_valid(c)))
        return LP_EINVAL;
    st = lp__http_global_init();
    if (st != LP_OK)
        return st;
    if (c != NULL) {
        id = c->id;
        d = &c->defaults;
        /* A forked child must not take locks the parent's threads held. */
        share = lp__http_client_forked(c) ? NULL : c->share;
    } else if ((st = lp__http_defaults_init(&local, NULL)) != LP_OK) {
        return st;
    }
    st = lp__http_xfer_init(&x, req, d, lp__monotonic_ns());
    if (st == LP_OK) {
        x.easy = take_kept_easy(id);
        st = run_attempts(&x, d, share, out);
        if (x.easy != NULL)
            keep_easy(x.easy, id);
        x.easy = NULL;
        lp__http_xfer_release(&x);
    }
    if (c == NULL)
        lp__http_defaults_release(&local);
    return st;
}

lp_status lp_http_get(lp_http_client *c, const char *url, int64_t timeout_ms,
                      lp_http_response **out)
{
    lp_http_request req = LP_HTTP_REQUEST_INIT;

    req.url = url;
    req.timeout_ms = timeout_ms;
    return lp_http_perform(c, &req, out);
}

lp_status lp_http_post(lp_http_client *c, const char *url, const void *body,
                       size_t len, const char *content_type, int64_t timeout_ms,
                       lp_http_response **out)
{
    lp_http_request req = LP_HTTP_REQUEST_INIT;
    lp_http_header h = { "Content-Type", content_type
                                             ? content_type
                                             : "application/octet-stream" };

    req.method = LP_HTTP_POST;
    req.url = url;
    req.body = body;
    req.body_len = len;
    req.headers = &h;
    req.n_headers = 1;
    req.timeout_ms = timeout_ms;
    return lp_http_perform(c, &req, out);
}

/*
 * lambdapool HTTP: thousands of concurrent requests from one thread, as
 * futures.
 *
 * An lp_http_client owns one event-loop thread that runs every transfer
 * submitted to it on a libcurl multi handle. lp_http_submit() returns an
 * lp_future per request, the same future every executor returns, so
 * lp_wait, lp_as_completed, map-style loops and deadlines work unchanged.
 * The future stays PENDING while its request is queued or transferring, so
 * lp_future_cancel() succeeds until the response is complete; cancelling
 * aborts the transfer: over HTTP/1.x it closes its connection, over HTTP/2
 * it resets its stream and the connection serves on.
 *
 * A finished future's result is an `lp_http_response *` the future owns. Any
 * HTTP status counts as success (check `status`); a request fails, with
 * lp_future_result() returning LP_ETASK, only when no complete response
 * arrived. Its lp_error's `code` is then an lp_status: LP_EHTTP (connect,
 * send or receive failed, or the peer closed mid-response), LP_ETIMEDOUT (the
 * request's timeout or deadline passed), LP_ETOOBIG (the body exceeded the
 * cap), LP_EINVAL (a malformed or unsupported URL) or LP_ESHUTDOWN (the
 * client was destroyed first); `message` says what libcurl reported.
 *
 * For code already running on a pool thread, lp_http_perform / lp_http_get /
 * lp_http_post transfer on the calling thread and block. Blocking calls that
 * name a client share its DNS cache and TLS session cache (libcurl's share
 * interface, locked per cache), so many threads resolve a host once. Each
 * thread keeps its last call's connection open for its next call with the
 * same client (or with none), so a pool worker calling one host again skips
 * the TCP and TLS handshakes. A thread keeps one connection, until it exits
 * or calls with another client, and at most 64 threads keep one at a time
 * (a 1,000-worker pool does not hold a descriptor per worker afterwards).
 *
 * libcurl needs curl_global_init() once per process before any other thread
 * uses it: the first lp_http_client_create() or blocking call makes that
 * call (exactly once, thread-safe). A program that also uses libcurl itself
 * should call curl_global_init() in main() before starting threads; libcurl
 * counts the calls, and the library never calls curl_global_cleanup().
 *
 * Fork: in a child forked after the client was created, lp_http_submit
 * returns LP_ESHUTDOWN (the loop thread stayed in the parent), blocking calls
 * naming the client work without its shared caches and open their own
 * connections (never the parent's kept ones), and
 * lp_http_client_destroy only invalidates the handle. The child may create
 * clients of its own.
 *
 * Proxies: the client reads libcurl's proxy variables (http_proxy,
 * https_proxy, all_proxy, ...) once, when it is created; if none is set, its
 * transfers use no proxy even if one is set later.
 *
 * Known limits of libcurl 7.88.1 (Debian 12): every transfer in flight
 * costs about 13 KiB, mostly libcurl's own per-transfer state, so 10,000 at
 * once need about 140 MiB (max_concurrent bounds it; transfers started while
 * 256 or more are in flight get 1 KiB receive buffers); cleartext HTTP/2
 * (LP_HTTP_H2_PRIOR_KNOWLEDGE) fails once a connection is reused (curl
 * issue #10634, fixed in 8.0.0), so HTTP/2 is best used over HTTPS; and
 * concurrent HTTP/2 streams with bodies over 64 KiB on one connection have
 * been seen to stall now and then until their timeout, so give such requests
 * a timeout (and retries), or use LP_HTTP_HTTP1_ONLY.
 *
 * HTTPS verifies peers against `ca_file` if given, else libcurl's built-in
 * bundle if it exists, else the first of /etc/pki/tls/certs/ca-bundle.crt
 * (Amazon Linux, the Lambda execution environment) and
 * /etc/ssl/certs/ca-certificates.crt (Debian) that exists.
 */
#ifndef LAMBDAPOOL_HTTP_H
#define LAMBDAPOOL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "future.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lp_http_client lp_http_client;

/* ---- Responses --------------------------------------------------------- */

typedef struct lp_http_response {
    int status;       /* HTTP status code of the final response */
    int http_version; /* 1 for HTTP/1.x, 2 for HTTP/2 */
    char *headers;    /* the final response's header block, as received
                         ("HTTP/1.1 200 OK\r\nName: value\r\n...\r\n");
                         NUL-terminated, never NULL */
    size_t headers_len;
    char *body;        /* NUL-terminated for convenience; never NULL */
    size_t body_len;   /* not counting the terminating NUL */
    unsigned attempts; /* 1 plus the retries it took */
    /* Connections the final attempt opened: 0 when it reused one (keep-alive
       or an HTTP/2 connection shared with other requests). */
    unsigned new_connections;
} lp_http_response;

/*
 * The value of the first header called `name` (case-insensitive) in `r`, or
 * NULL. *len (may be NULL) gets the value's length; the value is not
 * NUL-terminated and is borrowed from `r`.
 */
LP_EXTERN const char *lp_http_response_header(const lp_http_response *r,
                                              const char *name, size_t *len);

/* Frees a response from lp_http_perform/get/post. NULL is a no-op. Never
 * call it on a future's result: the future frees that. */
LP_EXTERN void lp_http_response_free(lp_http_response *r);

/* ---- Requests ---------------------------------------------------------- */

typedef enum lp_http_method {
    LP_HTTP_GET = 0,
    LP_HTTP_POST = 1,
    LP_HTTP_PUT = 2,
    LP_HTTP_DELETE = 3,
    LP_HTTP_HEAD = 4
} lp_http_method;

/* A request header, sent as given (an empty value as an empty value). A
 * name that is not an RFC 9110 token (empty, or holding ':', a space or a
 * control character), or a value holding a control character other than a
 * tab (CR and LF included), makes the request LP_EINVAL. */
typedef struct lp_http_header {
    const char *name;
    const char *value;
} lp_http_header;

enum lp_http_flags {
    /* Follow 3xx redirects (at most 10). */
    LP_HTTP_FOLLOW_REDIRECTS = 1u << 0,
    /* Speak HTTP/2 without negotiating (h2c "prior knowledge"). */
    LP_HTTP_H2_PRIOR_KNOWLEDGE = 1u << 1,
    /* Use HTTP/1.1 even where the server offers HTTP/2. */
    LP_HTTP_HTTP1_ONLY = 1u << 2,
    /* Open a new connection and close it afterwards. */
    LP_HTTP_FRESH_CONNECT = 1u << 3
};

/*
 * One request. Everything it points to is copied by lp_http_submit and
 * lp_http_perform, so it may live on the caller's stack.
 */
typedef struct lp_http_request {
    lp_http_method method;
    const char *url;               /* http:// or https:// */
    const lp_http_header *headers; /* n_headers extra request headers */
    size_t n_headers;
    const void *body; /* POST/PUT body (NULL with body_len 0: empty) */
    size_t body_len;
    /*
     * Time limit for the whole request, from submission, including time
     * spent queued, connecting and retrying: 0 takes the client's default,
     * LP_WAIT_FOREVER means none. `deadline` (absolute; 0 means none)
     * applies as well.
     */
    int64_t timeout_ms;
    lp_deadline deadline;
    /*
     * Extra attempts for idempotent methods (GET, HEAD, PUT, DELETE) after a
     * connection failure or a 429/502/503/504 status; POST is never retried.
     * The wait before retry k is retry_backoff_ms * 2^(k-1) (0: 100 ms),
     * and no retry starts past the time limit. 0 disables retries.
     */
    unsigned retries;
    int64_t retry_backoff_ms;
    /* Body cap in bytes: 0 takes the client's default. */
    size_t max_body;
    unsigned flags; /* enum lp_http_flags */
} lp_http_request;

#define LP_HTTP_REQUEST_INIT                                                 \
    {                                                                        \
        .method = LP_HTTP_GET, .url = NULL, .headers = NULL, .n_headers = 0, \
        .body = NULL, .body_len = 0, .timeout_ms = 0,                        \
        .deadline = LP_DEADLINE_NEVER, .retries = 0, .retry_backoff_ms = 0,  \
        .max_body = 0, .flags = 0                                            \
    }

/* ---- The event-loop client --------------------------------------------- */

typedef struct lp_http_client_options {
    /*
     * Transfers in flight at once; more wait in a FIFO queue (0: 1024;
     * values over 1,048,576 count as 1,048,576).
     * Each costs about 13 KiB (libcurl 7.88 state, mostly), so 1024 stay
     * within a few percent of a 128 MB function.
     */
    unsigned max_concurrent;
    /*
     * Connections per host:port (0: no cap). Set it (4 is plenty) for
     * HTTP/2 fan-out: without a cap, libcurl 7.88 opens a new connection for
     * each transfer that finds the existing ones at their stream limit; with
     * one, such transfers wait for a free stream. Transfers to hosts over
     * the cap queue inside libcurl (their time limit still runs).
     */
    unsigned max_per_host;
    /* Idle connections kept for reuse (0: libcurl's default). */
    unsigned max_idle_connections;
    /* Default body cap in bytes (0: 64 MiB). */
    size_t max_body;
    /* Default request timeout (0 or LP_WAIT_FOREVER: none). */
    int64_t timeout_ms;
    /* Connect timeout (0: 10 s). */
    int64_t connect_timeout_ms;
    /* Concurrent streams per HTTP/2 connection (0: 100). */
    unsigned max_streams_per_connection;
    /* CA bundle for HTTPS (NULL: see the top of this file). Copied. */
    const char *ca_file;
    /* User-Agent header (NULL: "lambdapool/<version>"). Copied. */
    const char *user_agent;
} lp_http_client_options;

#define LP_HTTP_CLIENT_OPTIONS_INIT                                          \
    {                                                                        \
        .max_concurrent = 0, .max_per_host = 0, .max_idle_connections = 0,   \
        .max_body = 0, .timeout_ms = 0, .connect_timeout_ms = 0,             \
        .max_streams_per_connection = 0, .ca_file = NULL, .user_agent = NULL \
    }

/*
 * Creates a client and starts its event-loop thread. `opts` may be NULL for
 * the defaults. Returns LP_OK with *out set; LP_EINVAL (out NULL),
 * LP_ENOMEM, LP_ESYS (no thread) or LP_EHTTP (libcurl failed to
 * initialise), with *out NULL.
 */
LP_EXTERN lp_status lp_http_client_create(const lp_http_client_options *opts,
                                          lp_http_client **out);

/*
 * Queues `req` on the event loop. *out gets one reference to a PENDING
 * future whose result is an `lp_http_response *` (owned by the future) or a
 * failure as described at the top of this file. Any thread may call this.
 *
 * Returns LP_OK; LP_EINVAL (NULL argument, NULL url, body_len > 0 with a
 * NULL body, timeout below -1, bad client handle); LP_ENOMEM; LP_ESHUTDOWN
 * (the client is being destroyed, or this is a child forked after it was
 * created). On error *out is NULL and nothing was
 * queued. A URL libcurl rejects is not an error here: the future fails with
 * code LP_EINVAL.
 */
LP_EXTERN lp_status lp_http_submit(lp_http_client *c,
                                   const lp_http_request *req, lp_future **out);

/* lp_http_submit of a GET of `url` with the client's defaults. */
LP_EXTERN lp_status lp_http_submit_get(lp_http_client *c, const char *url,
                                       lp_future **out);

/*
 * Stops the event loop: transfers in flight are aborted and every future not
 * yet done fails with code LP_ESHUTDOWN (a cancelled one is notified), then
 * the thread is joined and the client freed. Futures stay valid for their
 * holders. No other thread may use `c` during or after this call, and it
 * must not be called from a done callback of one of the client's futures
 * (that runs on the loop thread). NULL is a no-op.
 */
LP_EXTERN void lp_http_client_destroy(lp_http_client *c);

/* ---- Blocking calls (for pool threads) ---------------------------------- */

/*
 * Performs `req` on the calling thread and waits for it, honouring its time
 * limit, retries and body cap. `c` may be NULL; with a client, the client's
 * defaults apply and its DNS and TLS session caches are shared (any number
 * of threads may do this at once). The connection stays open for the
 * calling thread's next call with the same `c` (see the top of this file).
 * Returns LP_OK with *out set to a response
 * the caller frees with lp_http_response_free (any HTTP status); else *out
 * is NULL and the status is one of the failure codes listed at the top of
 * this file, or LP_ENOMEM.
 */
LP_EXTERN lp_status lp_http_perform(lp_http_client *c,
                                    const lp_http_request *req,
                                    lp_http_response **out);

/* lp_http_perform of a GET of `url`; timeout_ms as lp_http_request's. */
LP_EXTERN lp_status lp_http_get(lp_http_client *c, const char *url,
                                int64_t timeout_ms, lp_http_response **out);

/*
 * lp_http_perform of a POST of body[0..len-1] to `url` with `content_type`
 * (NULL: application/octet-stream).
 */
LP_EXTERN lp_status lp_http_post(lp_http_client *c, const char *url,
                                 const void *body, size_t len,
                                 const char *content_type, int64_t timeout_ms,
                                 lp_http_response **out);

#ifdef __cplusplus
}
#endif

#endif

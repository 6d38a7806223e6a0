/*
 * One HTTP request's transfer state, shared by the event loop (http.c) and
 * the blocking calls (http_transfer.c). An lp__http_xfer holds a private copy
 * of the request, the libcurl easy handle of the current attempt and the
 * response being received. Whoever owns the xfer uses it from one thread at
 * a time.
 */
#ifndef LP_INTERNAL_HTTP_IMPL_H
#define LP_INTERNAL_HTTP_IMPL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lambdapool/http.h"

/* Client-wide defaults a request falls back on. Strings owned by the client. */
struct lp__http_defaults {
    size_t max_body;
    int64_t timeout_ms;
    int64_t connect_timeout_ms;
    char *ca_file; /* NULL: libcurl's default is usable */
    char *user_agent;
    /*
     * No proxy variable (http_proxy, https_proxy, all_proxy, ...) was set
     * when the client was created: transfers then tell libcurl to use no
     * proxy, which spares each one libcurl's environment lookups.
     */
    bool no_proxy_env;
};

struct lp__http_xfer {
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *body;
    size_t body_len;
    lp_http_method method;
    unsigned flags;
    int64_t deadline;      /* lp_deadline of the whole request */
    unsigned retries_left; /* further attempts allowed */
    unsigned attempts;     /* attempts started */
    int64_t backoff_ns;    /* wait before the next retry */
    size_t max_body;
    /* CURLOPT_BUFFERSIZE for the next attempt (0: libcurl's 16 KiB). */
    long recv_buffer;
    /* The attempt in progress. */
    char *head;
    size_t head_len, head_cap;
    bool head_done; /* the last response's header block ended */
    char *data;
    size_t data_len, data_cap;
    bool too_big;
    char errbuf[CURL_ERROR_SIZE];
};

/* curl_global_init once per process; LP_EHTTP if it failed. */
lp_status lp__http_global_init(void);

/* CA bundles named, first readable first, when libcurl's own is missing. */
#define LP__HTTP_CA_CANDIDATES 3
extern const char *const lp__http_ca_candidates[LP__HTTP_CA_CANDIDATES];

/*
 * The CA bundle to name explicitly: NULL when `builtin` (libcurl's built-in
 * path, CURLINFO_CAINFO; may be NULL) is readable, as libcurl then finds it
 * itself; else the first readable of candidates[0..n-1] (borrowed from
 * `candidates`); else NULL. It reads only its arguments and the file
 * system, so tests can give paths of their own; lp__http_global_init makes
 * the choice once, with lp__http_ca_candidates.
 */
const char *lp__http_pick_ca_file(const char *builtin,
                                  const char *const *candidates, size_t n);

/* Fills `d` from `opts` (NULL: defaults). LP_ENOMEM leaves `d` empty. */
lp_status lp__http_defaults_init(struct lp__http_defaults *d,
                                 const lp_http_client_options *opts);
void lp__http_defaults_release(struct lp__http_defaults *d);

/*
 * Copies `req` into `x`, computing its deadline from `now`. LP_EINVAL for a
 * bad request, LP_ENOMEM; on error `x` holds nothing to release.
 */
lp_status lp__http_xfer_init(struct lp__http_xfer *x,
                             const lp_http_request *req,
                             const struct lp__http_defaults *d, int64_t now);
void lp__http_xfer_release(struct lp__http_xfer *x);

/*
 * Prepares the easy handle for the next attempt (creating it on the first).
 * `share` may be NULL. LP_ETIMEDOUT if the time limit has passed, LP_ENOMEM,
 * LP_EHTTP if libcurl refused an option.
 */
lp_status lp__http_xfer_prepare(struct lp__http_xfer *x,
                                const struct lp__http_defaults *d,
                                CURLSH *share);

/*
 * An attempt's real outcome: libcurl 7.88 ends a transfer whose connection
 * closed inside the response's header block with CURLE_OK; that becomes
 * CURLE_PARTIAL_FILE (retryable) with a message. Other codes pass through.
 */
CURLcode lp__http_xfer_outcome(struct lp__http_xfer *x, CURLcode rc);

/*
 * After an attempt ended with `rc` (from lp__http_xfer_outcome): the delay
 * before retrying (>= 0) or -1 if the outcome is final.
 */
int64_t lp__http_xfer_retry_delay(struct lp__http_xfer *x, CURLcode rc);

/*
 * Turns a final attempt into a response (LP_OK, *out owned by the caller)
 * or a failure status with a message in `msg`.
 */
lp_status lp__http_xfer_finish(struct lp__http_xfer *x, CURLcode rc,
                               lp_http_response **out, char *msg,
                               size_t msg_size);

#endif

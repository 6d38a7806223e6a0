/*
 * One HTTP transfer on a libcurl easy handle: request copy, options,
 * response accumulation, retry policy and the failure mapping. Used by the
 * event loop (http.c), which drives the easy handles on its multi handle, and
 * by the blocking calls at the end of this file, which drive one with
 * curl_easy_perform on the caller's thread.
 *
 * Response bytes go into buffers grown by doubling through lp__realloc; the
 * body callback refuses bytes past the cap, which makes libcurl abort the
 * transfer (CURLE_WRITE_ERROR) before memory runs out, and
 * CURLOPT_MAXFILESIZE_LARGE refuses an announced oversized body before any of
 * it is read. An xfer is touched by one thread at a time; nothing here takes
 * a lock except libcurl's share callbacks (http.c).
 *
 * libcurl's process-wide initialisation runs once (lp__once_run), together
 * with the choice of a CA bundle that exists on this machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "http_impl.h"
#include "lambdapool/lambdapool.h"
#include "sync.h"

#define DEFAULT_MAX_BODY        (64u << 20)
#define DEFAULT_CONNECT_TIMEOUT 10000
#define DEFAULT_BACKOFF_MS      100
#define MAX_REDIRECTS           10L
#define LP__STR_(x)             #x
#define LP__STR(x)              LP__STR_(x)
#define USER_AGENT_DEFAULT \
    "lambdapool/" LP__STR(LP_VERSION_MAJOR) "." LP__STR(LP_VERSION_MINOR)

static lp__once global_once = LP__ONCE_INIT;
static CURLcode global_rc;
/* A CA bundle to name explicitly, or NULL when libcurl's default exists. */
static const char *fallback_ca_file;

const char *const lp__http_ca_candidates[LP__HTTP_CA_CANDIDATES] = {
    "/etc/pki/tls/certs/ca-bundle.crt",   /* Amazon Linux, Lambda */
    "/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu */
    "/etc/ssl/cert.pem",                  /* Alpine, macOS */
};

const char *lp__http_pick_ca_file(const char *builtin,
                                  const char *const *candidates, size_t n)
{
    if (builtin != NULL && access(builtin, R_OK) == 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (access(candidates[i], R_OK) == 0)
            return candidates[i];
    }
    return NULL;
}

static void choose_ca_file(void)
{
    CURL *easy = curl_easy_init();
    char *builtin = NULL;

    if (easy != NULL)
        curl_easy_getinfo(easy, CURLINFO_CAINFO, &builtin);
    fallback_ca_file = lp__http_pick_ca_file(builtin, lp__http_ca_candidates,
                                             LP__HTTP_CA_CANDIDATES);
    curl_easy_cleanup(easy);
}

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_ALL);
    if (global_rc == CURLE_OK)
        choose_ca_file();
}

lp_status lp__http_global_init(void)
{
    lp__once_run(&global_once, global_init);
    return global_rc == CURLE_OK ? LP_OK : LP_EHTTP;
}

/* ---- defaults ----------------------------------------------------------- */

static lp_status dup_or_null(const char *s, char **out)
{
    *out = NULL;
    if (s == NULL)
        return LP_OK;
    *out = lp__strdup(s);
    return *out ? LP_OK : LP_ENOMEM;
}

/*
 * The variables libcurl 7.88 reads to pick a proxy ("<scheme>_proxy" in
 * lower case, then upper case except for http, then all_proxy).
 */
static bool proxy_env_set(void)
{
    static const char *const names[] = {
        "http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        const char *v = getenv(names[i]);

        if (v != NULL && *v != '\0')
            return true;
    }
    return false;
}

lp_status lp__http_defaults_init(struct lp__http_defaults *d,
                                 const lp_http_client_options *opts)
{
    lp_http_client_options none = LP_HTTP_CLIENT_OPTIONS_INIT;
    const char *ca;

    if (opts == NULL)
        opts = &none;
    memset(d, 0, sizeof(*d));
    d->max_body = opts->max_body ? opts->max_body : DEFAULT_MAX_BODY;
    d->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 0;
    d->connect_timeout_ms = opts->connect_timeout_ms > 0
                                ? opts->connect_timeout_ms
                                : DEFAULT_CONNECT_TIMEOUT;
    d->no_proxy_env = !proxy_env_set();
    ca = opts->ca_file ? opts->ca_file : fallback_ca_file;
    if (dup_or_null(ca, &d->ca_file) != LP_OK ||
        dup_or_null(opts->user_agent ? opts->user_agent : USER_AGENT_DEFAULT,
                    &d->user_agent) != LP_OK) {
        lp__http_defaults_release(d);
        return LP_ENOMEM;
    }
    return LP_OK;
}

void lp__http_defaults_release(struct lp__http_defaults *d)
{
    lp__free(d->ca_file);
    lp__free(d->user_agent);
    d->ca_file = d->user_agent = NULL;
}

/* ---- request copy ------------------------------------------------------- */

/* RFC 9110's tchar: what a header name is made of. */
static bool token_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool header_name_ok(const char *name)
{
    if (*name == '\0')
        return false;
    for (; *name != '\0'; name++) {
        if (!token_char((unsigned char)*name))
            return false;
    }
    return true;
}

/* No control characters but tab: a CR or LF would start another line. */
static bool header_value_ok(const char *value)
{
    for (; *value != '\0'; value++) {
        unsigned char c = (unsigned char)*value;

        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/*
 * Appends the header to the list; LP_EINVAL for a bad name or value. An
 * empty value goes as "name;", libcurl's spelling of it ("name:" would
 * remove the header instead).
 */
static lp_status add_header(struct lp__http_xfer *x, const char *name,
                            const char *value)
{
    size_t len = strlen(name) + strlen(value) + 3;
    struct curl_slist *l;
    char *line;

    if (!header_name_ok(name) || !header_value_ok(value))
        return LP_EINVAL;
    line = lp__malloc(len);
    if (line == NULL)
        return LP_ENOMEM;
    if (*value == '\0')
        snprintf(line, len, "%s;", name);
    else
        snprintf(line, len, "%s: %s", name, value);
    l = curl_slist_append(x->headers, line); /* copies */
    lp__free(line);
    if (l == NULL)
        return LP_ENOMEM;
    x->headers = l;
    return LP_OK;
}

static lp_status build_headers(struct lp__http_xfer *x,
                               const lp_http_request *req)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        const lp_http_header *h = &req->headers[i];
        lp_status st;

        if (h->name == NULL || h->value == NULL)
            return LP_EINVAL;
        st = add_header(x, h->name, h->value);
        if (st != LP_OK)
            return st;
    }
    if (x->method == LP_HTTP_POST || x->method == LP_HTTP_PUT) {
        /* No "Expect: 100-continue" round trip before large bodies. */
        struct curl_slist *l = curl_slist_append(x->headers, "Expect:");

        if (l == NULL)
            return LP_ENOMEM;
        x->headers = l;
    }
    return LP_OK;
}

/* Milliseconds to nanoseconds, saturating (a huge limit means "none"). */
static int64_t ms_to_ns(int64_t ms)
{
    return ms > INT64_MAX / LP__NS_PER_MS ? INT64_MAX : ms * LP__NS_PER_MS;
}

static bool request_valid(const lp_http_request *req)
{
    return req->url != NULL && (req->body != NULL || req->body_len == 0) &&
           req->timeout_ms >= -1 && (unsigned)req->method <= LP_HTTP_HEAD &&
           (req->headers != NULL || req->n_headers == 0);
}

lp_status lp__http_xfer_init(struct lp__http_xfer *x,
                             const lp_http_request *req,
                             const struct lp__http_defaults *d, int64_t now)
{
    int64_t timeout_ms = req->timeout_ms ? req->timeout_ms : d->timeout_ms;
    int64_t backoff_ms =
        req->retry_backoff_ms > 0 ? req->retry_backoff_ms : DEFAULT_BACKOFF_MS;
    lp_status st;

    memset(x, 0, sizeof(*x));
    if (!request_valid(req))
        return LP_EINVAL;
    x->method = req->method;
    x->flags = req->flags;
    /* A zeroed request (deadline 0) means no deadline, not "expired". */
    x->deadline = req->deadline > 0 ? req->deadline : LP_DEADLINE_NEVER;
    if (timeout_ms > 0) {
        int64_t limit = lp__deadline_add(now, ms_to_ns(timeout_ms));

        if (limit < x->deadline)
            x->deadline = limit;
    }
    x->retries_left = req->retries;
    x->backoff_ns = ms_to_ns(backoff_ms);
    x->max_body = req->max_body ? req->max_body : d->max_body;
    x->body_len = req->body_len;
    x->url = lp__strdup(req->url);
    x->body = lp__malloc(req->body_len + 1);
    st = x->url && x->body ? LP_OK : LP_ENOMEM;
    if (st == LP_OK) {
        if (req->body_len > 0)
            memcpy(x->body, req->body, req->body_len);
        x->body[req->body_len] = '\0';
        st = build_headers(x, req);
    }
    if (st != LP_OK)
        lp__http_xfer_release(x);
    return st;
}

void lp__http_xfer_release(struct lp__http_xfer *x)
{
    if (x->easy != NULL)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    lp__free(x->url);
    lp__free(x->body);
    lp__free(x->head);
    lp__free(x->data);
    memset(x, 0, sizeof(*x));
}

/* ---- receiving ---------------------------------------------------------- */

/* Appends p[0..n-1] to a buffer that always keeps room for a final NUL. */
static bool buf_append(char **buf, size_t *len, size_t *cap, const char *p,
                       size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t want = *cap ? *cap : 256;
        char *grown;

        while (want < *len + n + 1)
            want *= 2;
        grown = lp__realloc(*buf, want);
        if (grown == NULL)
            return false;
        *buf = grown;
        *cap = want;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct lp__http_xfer *x = arg;

    n *= size;
    if (n > x->max_body - x->data_len) {
        x->too_big = true;
        return 0;
    }
    return buf_append(&x->data, &x->data_len, &x->data_cap, p, n) ? n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct lp__http_xfer *x = arg;

    n *= size;
    /* A status line starts a new response (after 100, or a redirect); an
     * empty line ends its header block. */
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        x->head_len = 0;
        x->head_done = false;
    } else if ((n == 2 && p[0] == '\r' && p[1] == '\n') ||
               (n == 1 && p[0] == '\n')) {
        x->head_done = true;
    }
    return buf_append(&x->head, &x->head_len, &x->head_cap, p, n) ? n : 0;
}

/* ---- one attempt -------------------------------------------------------- */

static void set_method(struct lp__http_xfer *x)
{
    CURL *e = x->easy;

    switch (x->method) {
    case LP_HTTP_GET:
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        break;
    case LP_HTTP_HEAD:
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        break;
    case LP_HTTP_DELETE:
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
        break;
    case LP_HTTP_POST:
    case LP_HTTP_PUT:
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)x->body_len);
        if (x->method == LP_HTTP_PUT)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
        break;
    }
}

static long http_version_for(const struct lp__http_xfer *x)
{
    if (x->flags & LP_HTTP_H2_PRIOR_KNOWLEDGE)
        return CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    if (x->flags & LP_HTTP_HTTP1_ONLY)
        return CURL_HTTP_VERSION_1_1;
    return CURL_HTTP_VERSION_2TLS;
}

static bool has_http_scheme(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 ||
           strncasecmp(url, "https://", 8) == 0;
}

/* HTTP/2 is possible at all: then new transfers wait to share a connection. */
static bool may_multiplex(const struct lp__http_xfer *x)
{
    if (x->flags & LP_HTTP_HTTP1_ONLY)
        return false;
    return (x->flags & LP_HTTP_H2_PRIOR_KNOWLEDGE) ||
           strncasecmp(x->url, "https:", 6) == 0;
}

static void set_limits(struct lp__http_xfer *x,
                       const struct lp__http_defaults *d, int64_t left_ms)
{
    CURL *e = x->easy;

    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(left_ms > 0 ? left_ms : 0));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)d->connect_timeout_ms);
    /* Refuses an announced oversized body before reading it; not for HEAD
     * (no body follows) nor when following redirects (a redirect's own
     * length would count): the write callback enforces the cap anyway. */
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                     x->method == LP_HTTP_HEAD ||
                             (x->flags & LP_HTTP_FOLLOW_REDIRECTS)
                         ? (curl_off_t)0
                         : (curl_off_t)x->max_body);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION,
                     (x->flags & LP_HTTP_FOLLOW_REDIRECTS) ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT,
                     (x->flags & LP_HTTP_FRESH_CONNECT) ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE,
                     (x->flags & LP_HTTP_FRESH_CONNECT) ? 1L : 0L);
}

lp_status lp__http_xfer_prepare(struct lp__http_xfer *x,
                                const struct lp__http_defaults *d,
                                CURLSH *share)
{
    int64_t left_ms = 0;
    CURLcode rc;
    CURL *e;

    if (x->deadline != LP_DEADLINE_NEVER) {
        left_ms = lp_deadline_remaining_ms(x->deadline);
        if (left_ms <= 0)
            return LP_ETIMEDOUT;
    }
    if (x->easy == NULL && (x->easy = curl_easy_init()) == NULL)
        return LP_ENOMEM;
    e = x->easy;
    x->head_len = x->data_len = 0;
    x->head_done = x->too_big = false;
    x->errbuf[0] = '\0';
    x->attempts++;
    if (!has_http_scheme(x->url))
        return LP_EINVAL; /* else libcurl would guess one */
    rc = curl_easy_setopt(e, CURLOPT_URL, x->url);
    if (rc != CURLE_OK) /* over libcurl's 8 MB input limit, or no memory */
        return rc == CURLE_OUT_OF_MEMORY ? LP_ENOMEM : LP_EINVAL;
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (x->recv_buffer > 0)
        curl_easy_setopt(e, CURLOPT_BUFFERSIZE, x->recv_buffer);
    if (d->no_proxy_env)
        curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, d->user_agent);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, http_version_for(x));
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, may_multiplex(x) ? 1L : 0L);
    if (d->ca_file != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, d->ca_file);
    if (share != NULL)
        curl_easy_setopt(e, CURLOPT_SHARE, share);
    set_method(x);
    set_limits(x, d, left_ms);
    return LP_OK;
}

static bool idempotent(lp_http_method m)
{
    return m != LP_HTTP_POST;
}

static bool retryable(struct lp__http_xfer *x, CURLcode rc)
{
    long status = 0;

    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    case CURLE_OK:
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        return status == 429 || status == 502 || status == 503 || status == 504;
    default:
        return false;
    }
}

CURLcode lp__http_xfer_outcome(struct lp__http_xfer *x, CURLcode rc)
{
    if (rc != CURLE_OK || x->head_done)
        return rc;
    snprintf(x->errbuf, sizeof(x->errbuf),
             "connection closed before the response headers ended");
    return CURLE_PARTIAL_FILE;
}

int64_t lp__http_xfer_retry_delay(struct lp__http_xfer *x, CURLcode rc)
{
    int64_t delay = x->backoff_ns;

    if (x->retries_left == 0 || !idempotent(x->method) || !retryable(x, rc))
        return -1;
    if (x->deadline != LP_DEADLINE_NEVER &&
        lp__deadline_add(lp__monotonic_ns(), delay) >= x->deadline)
        return -1;
    x->retries_left--;
    x->backoff_ns = delay > INT64_MAX / 2 ? delay : delay * 2;
    return delay;
}

/* ---- the outcome -------------------------------------------------------- */

static lp_status failure_status(const struct lp__http_xfer *x, CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return LP_ETIMEDOUT;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return LP_EINVAL;
    case CURLE_FILESIZE_EXCEEDED:
        return LP_ETOOBIG;
    case CURLE_OUT_OF_MEMORY:
        return LP_ENOMEM;
    case CURLE_WRITE_ERROR:
        return x->too_big ? LP_ETOOBIG : LP_ENOMEM;
    default:
        return LP_EHTTP;
    }
}

/* Moves a buffer out of the xfer, or allocates an empty string. */
static char *take_buffer(char **buf, size_t *len, size_t *cap)
{
    char *p = *buf;

    if (p == NULL) {
        p = lp__malloc(1);
        if (p != NULL)
            p[0] = '\0';
        *len = 0;
    }
    *buf = NULL;
    *cap = 0;
    return p;
}

static lp_status build_response(struct lp__http_xfer *x, lp_http_response **out)
{
    lp_http_response *r = lp__calloc(1, sizeof(*r));
    long status = 0, version = 0, connects = 0;

    if (r == NULL)
        return LP_ENOMEM;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &version);
    curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &connects);
    r->status = (int)status;
    r->http_version = version == CURL_HTTP_VERSION_2_0 ? 2
                      : version == CURL_HTTP_VERSION_3 ? 3
                                                       : 1;
    r->attempts = x->attempts;
    r->new_connections = (unsigned)connects;
    r->headers = take_buffer(&x->head, &x->head_len, &x->head_cap);
    r->headers_len = x->head_len;
    r->body = take_buffer(&x->data, &x->data_len, &x->data_cap);
    r->body_len = x->data_len;
    if (r->headers == NULL || r->body == NULL) {
        lp_http_response_free(r);
        return LP_ENOMEM;
    }
    *out = r;
    return LP_OK;
}

lp_status lp__http_xfer_finish(struct lp__http_xfer *x, CURLcode rc,
                               lp_http_response **out, char *msg,
                               size_t msg_size)
{
    lp_status st;

    *out = NULL;
    if (rc == CURLE_OK) {
        st = build_response(x, out);
        if (st != LP_OK)
            snprintf(msg, msg_size, "out of memory building the response");
        return st;
    }
    st = failure_status(x, rc);
    if (st == LP_ETOOBIG)
        snprintf(msg, msg_size, "%s: response body over %zu bytes", x->url,
                 x->max_body);
    else
        snprintf(msg, msg_size, "%s: %s", x->url,
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    return st;
}

/* ---- responses ---------------------------------------------------------- */

const char *lp_http_response_header(const lp_http_response *r, const char *name,
                                    size_t *len)
{
    size_t nlen;
    const char *p, *end;

    if (r == NULL || name == NULL || r->headers == NULL)
        return NULL;
    nlen = strlen(name);
    p = r->headers;
    end = r->headers + r->headers_len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *v, *vend;

        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > nlen && p[nlen] == ':' &&
            strncasecmp(p, name, nlen) == 0) {
            v = p + nlen + 1;
            vend = eol;
            while (v < vend && (*v == ' ' || *v == '\t'))
                v++;
            while (vend > v && (vend[-1] == '\r' || vend[-1] == ' '))
                vend--;
            if (len != NULL)
                *len = (size_t)(vend - v);
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

void lp_http_response_free(lp_http_response *r)
{
    if (r == NULL)
        return;
    lp__free(r->headers);
    lp__free(r->body);
    lp__free(r);
}

/*
 * The Runtime API over libcurl: one easy handle per loop, reused for every
 * request so that the connection stays open (HTTP/1.1 keep-alive), with the
 * options aws-lambda-cpp settled on: no timeout on transfers (GET next
 * blocks until Lambda has an event, and the process may be frozen meanwhile;
 * a timeout would fire on thaw), CURLOPT_NOSIGNAL (we run on many threads),
 * TCP_NODELAY, and no proxy whatever the environment says. POSTs send no
 * "Expect: 100-continue", which would cost a round trip on large answers.
 *
 * What can be prepared once is (libcurl 7.88 costs ~60k instructions per
 * request as it is): the URLs are parsed once into CURLU handles
 * (CURLOPT_CURLU; a POST only sets the path, where CURLOPT_URL would have
 * libcurl parse and re-print the whole URL on every request, a fifth of the
 * runtime's cost per invocation), and the POST header list is built once.
 * The host is a literal address or a name resolved once per connection.
 *
 * Header lines go straight to lp__lambda_header_line (lambda_parse.c); the
 * body grows in one buffer capped at the configured event size. When a stop
 * flag is given, libcurl's progress callback polls it (about once a second
 * while a transfer waits), which is how one loop ends the others.
 */
#include "internal/lambda_impl.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/sync.h"

#define API_VERSION "/2018-06-01"
#define HOST_MAX    256

struct lp__lambda_api {
    CURL *curl;
    CURLU *next_url; /* http://host:port/2018-06-01/runtime/invocation/next */
    CURLU *post_url; /* the same base; each POST sets its path */
    struct curl_slist *post_hdrs; /* Content-Type, no Expect */
    const _Atomic bool *stop;
    size_t max_event;
    char errbuf[CURL_ERROR_SIZE];
};

static lp__once curl_once = LP__ONCE_INIT;
static CURLcode curl_init_code = CURLE_FAILED_INIT;

/* The one process-wide initialisation the library does (DESIGN.md: "no
 * hidden global state except what libcurl demands"). */
static void curl_init_once(void)
{
    curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT);
}

lp_status lp__lambda_curl_init(void)
{
    lp__once_run(&curl_once, curl_init_once);
    return curl_init_code == CURLE_OK ? LP_OK : LP_EHTTP;
}

enum log_level { LEVEL_WARN = 4, LEVEL_ERROR = 5 };

/* Lambda's level names, lowest first; index + 1 is the level. */
static const char *const level_names[] = { "TRACE", "DEBUG", "INFO",
                                           "WARN",  "ERROR", "FATAL" };

/* AWS_LAMBDA_LOG_LEVEL as a level; 0 (everything) when unset or unknown. */
static int min_level(void)
{
    const char *v = getenv("AWS_LAMBDA_LOG_LEVEL");

    for (int i = 0; v != NULL && i < 6; i++) {
        if (strcasecmp(v, level_names[i]) == 0)
            return i + 1;
    }
    return 0;
}

/* The invocation this thread's loop is handling, for JSON log lines (each
 * loop runs on its own thread, so concurrent invocations keep theirs). */
static _Thread_local const char *log_request_id;

void lp__lambda_log_request(const char *request_id)
{
    log_request_id = request_id;
}

/* The line's JSON object; requestId only while an invocation is handled
 * (and left out if the id is not valid UTF-8). */
static json_t *json_record(const char *stamp, int level, const char *msg)
{
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s}", "timestamp", stamp, "level",
                            level_names[level - 1], "message", msg, "logger",
                            "lambdapool");
    json_t *id = log_request_id != NULL && log_request_id[0] != '\0'
                     ? json_string(log_request_id)
                     : NULL;

    if (doc != NULL && id != NULL)
        json_object_set_new(doc, "requestId", id);
    else
        json_decref(id);
    return doc;
}

/* One JSON line into buf; its length, or 0 when it could not be built. */
static size_t json_line(int level, const char *msg, char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    char stamp[40];
    char *clean = lp__lambda_utf8_sanitize(msg, strlen(msg)), *dump = NULL;
    json_t *doc = NULL;
    size_t n = 0;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + strlen(stamp), sizeof(stamp) - strlen(stamp), ".%03ldZ",
             ts.tv_nsec / 1000000);
    if (clean != NULL)
        doc = json_record(stamp, level, clean);
    if (doc != NULL)
        dump = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (dump != NULL && strlen(dump) + 1 < cap) {
        n = strlen(dump);
        memcpy(buf, dump, n);
        buf[n++] = '\n';
    }
    free(dump);
    json_decref(doc);
    lp__free(clean);
    return n;
}

static void vlog(int level, const char *fmt, va_list ap)
{
    const char *format = getenv("AWS_LAMBDA_LOG_FORMAT");
    bool json = format != NULL && strcasecmp(format, "JSON") == 0;
    static const char prefix[] = "lambdapool: ";
    char buf[1024], line[2048];
    int n = snprintf(buf, sizeof(buf), "%s", prefix);
    size_t len;

    if (json && level < min_level())
        return;
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n] = '\0';
    len = json ? json_line(level, buf + sizeof(prefix) - 1, line, sizeof(line))
               : 0;
    if (len == 0) { /* text, or JSON that could not be built */
        buf[n++] = '\n';
        memcpy(line, buf, (size_t)n);
        len = (size_t)n;
    }
    /* One write, so lines from several loops do not interleave. */
    if (write(STDERR_FILENO, line, len) < 0) {
        /* Nowhere left to report it. */
    }
}

void lp__lambda_log(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LEVEL_WARN, fmt, ap);
    va_end(ap);
}

void lp__lambda_log_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LEVEL_ERROR, fmt, ap);
    va_end(ap);
}

static int progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    const _Atomic bool *stop = arg;

    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return atomic_load(stop) ? 1 : 0;
}

/* Builds api's URL handles and header list; false when out of memory or
 * when libcurl rejects the address. */
static bool api_prepare(struct lp__lambda_api *api, const char *host_port,
                        lp_status *st)
{
    char url[HOST_MAX + 64];
    struct curl_slist *tmp;

    snprintf(url, sizeof(url),
             "http://%s" API_VERSION "/runtime/invocation/next", host_port);
    *st = LP_ENOMEM;
    api->next_url = curl_url();
    if (api->next_url == NULL)
        return false;
    switch (curl_url_set(api->next_url, CURLUPART_URL, url, 0)) {
    case CURLUE_OK:
        break;
    case CURLUE_OUT_OF_MEMORY:
        return false;
    default:
        lp__lambda_log_error("AWS_LAMBDA_RUNTIME_API=%.100s is not a host:port "
                             "libcurl accepts",
                             host_port);
        *st = LP_EINVAL;
        return false;
    }
    api->post_url = curl_url_dup(api->next_url);
    api->post_hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    tmp = api->post_hdrs ? curl_slist_append(api->post_hdrs, "Expect:") : NULL;
    if (api->post_url == NULL || tmp == NULL)
        return false;
    api->post_hdrs = tmp;
    *st = LP_OK;
    return true;
}

lp_status lp__lambda_api_create(const char *host_port, size_t max_event,
                                const _Atomic bool *stop,
                                struct lp__lambda_api **out)
{
    struct lp__lambda_api *api;
    lp_status st;

    *out = NULL;
    if (host_port == NULL || host_port[0] == '\0' ||
        strlen(host_port) > HOST_MAX)
        return LP_EINVAL;
    if (lp__lambda_curl_init() != LP_OK)
        return LP_EHTTP;
    api = lp__calloc(1, sizeof(*api));
    if (api == NULL)
        return LP_ENOMEM;
    api->curl = curl_easy_init();
    if (api->curl == NULL || !api_prepare(api, host_port, &st)) {
        if (api->curl == NULL)
            st = LP_ENOMEM;
        lp__lambda_api_destroy(api);
        return st;
    }
    api->stop = stop;
    api->max_event = max_event;

    curl_easy_setopt(api->curl, CURLOPT_HTTP_VERSION,
                     (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(api->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(api->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(api->curl, CURLOPT_PROXY, "");
    curl_easy_setopt(api->curl, CURLOPT_TIMEOUT, 0L);
    curl_easy_setopt(api->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(api->curl, CURLOPT_ERRORBUFFER, api->errbuf);
    if (stop != NULL) {
        curl_easy_setopt(api->curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(api->curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
        curl_easy_setopt(api->curl, CURLOPT_XFERINFODATA, (void *)stop);
    }
    *out = api;
    return LP_OK;
}

void lp__lambda_api_destroy(struct lp__lambda_api *api)
{
    if (api == NULL)
        return;
    curl_easy_cleanup(api->curl);
    curl_url_cleanup(api->next_url);
    curl_url_cleanup(api->post_url);
    curl_slist_free_all(api->post_hdrs);
    lp__free(api);
}

void lp__lambda_next_clear(struct lp__lambda_next *next)
{
    lp__lambda_headers_clear(&next->headers);
    lp__free(next->body);
    next->body = NULL;
    next->len = 0;
    next->too_big = false;
}

/* A growing buffer for a response body, capped at `max`. */
struct sink {
    char *data;
    size_t len, cap, max;
    bool truncate; /* past max: keep what fits (true) or fail (false) */
    bool too_big, oom;
};

static size_t sink_write(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t add = size * n;

    if (add > s->max - s->len) {
        s->too_big = true;
        if (!s->truncate)
            return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
        if (s->len == s->max)
            return size * n;
        add = s->max - s->len;
    }
    if (s->len + add + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        char *grown;
        while (cap < s->len + add + 1)
            cap *= 2;
        grown = lp__realloc(s->data, cap);
        if (grown == NULL) {
            s->oom = true;
            return 0;
        }
        s->data = grown;
        s->cap = cap;
    }
    memcpy(s->data + s->len, p, add);
    s->len += add;
    s->data[s->len] = '\0';
    return size * n;
}

static size_t header_cb(char *p, size_t size, size_t n, void *arg)
{
    lp__lambda_header_line(arg, p, size * n);
    return size * n;
}

static size_t discard_header_cb(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

/* Runs the prepared transfer and fills *res. */
static void perform(struct lp__lambda_api *api, struct lp__lambda_result *res)
{
    CURLcode rc;

    api->errbuf[0] = '\0';
    rc = curl_easy_perform(api->curl);
    res->curl_code = (int)rc;
    res->http_status = 0;
    if (rc != CURLE_OK) {
        res->st = LP_EHTTP;
        snprintf(res->detail, sizeof(res->detail), "%s (curl %d%s%.160s)",
                 curl_easy_strerror(rc), (int)rc, api->errbuf[0] ? ": " : "",
                 api->errbuf);
        return;
    }
    curl_easy_getinfo(api->curl, CURLINFO_RESPONSE_CODE, &res->http_status);
    res->st = LP_OK;
    snprintf(res->detail, sizeof(res->detail), "HTTP %ld", res->http_status);
}

void lp__lambda_api_next(struct lp__lambda_api *api,
                         struct lp__lambda_next *next,
                         struct lp__lambda_result *res)
{
    struct sink body = { NULL, 0, 0, api->max_event, false, false, false };

    lp__lambda_next_clear(next);
    curl_easy_setopt(api->curl, CURLOPT_CURLU, api->next_url);
    curl_easy_setopt(api->curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(api->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(api->curl, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(api->curl, CURLOPT_HEADERDATA, &next->headers);
    curl_easy_setopt(api->curl, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(api->curl, CURLOPT_WRITEDATA, &body);
    perform(api, res);

    next->too_big = body.too_big;
    if (body.oom || next->headers.oom) {
        res->st = LP_ENOMEM;
        snprintf(res->detail, sizeof(res->detail), "out of memory");
    }
    if (body.data == NULL && res->st == LP_OK) {
        body.data = lp__malloc(1);
        if (body.data == NULL) {
            res->st = LP_ENOMEM;
            snprintf(res->detail, sizeof(res->detail), "out of memory");
        } else {
            body.data[0] = '\0';
        }
    }
    next->body = body.data;
    next->len = body.len;
}

/* Points the POST URL handle at API_VERSION + path; false on failure. */
static bool set_post_path(struct lp__lambda_api *api, const char *path,
                          struct lp__lambda_result *res)
{
    char full[LP__LAMBDA_ID_MAX + 96];
    CURLUcode uc;

    snprintf(full, sizeof(full), API_VERSION "%s", path);
    uc = curl_url_set(api->post_url, CURLUPART_PATH, full, 0);
    if (uc == CURLUE_OK)
        return true;
    res->st = uc == CURLUE_OUT_OF_MEMORY ? LP_ENOMEM : LP_EHTTP;
    res->http_status = 0;
    res->curl_code = 0;
    snprintf(res->detail, sizeof(res->detail), "URL path rejected: %s",
             curl_url_strerror(uc));
    return false;
}

static void fail_oom(struct lp__lambda_result *res)
{
    res->st = LP_ENOMEM;
    res->http_status = 0;
    res->curl_code = 0;
    snprintf(res->detail, sizeof(res->detail), "out of memory");
}

/* Sends the POST set up on api->curl with `hdrs`. A refused POST's body
 * says why (e.g. a 413's errorMessage): it becomes res->detail. */
static void perform_post(struct lp__lambda_api *api, struct curl_slist *hdrs,
                         struct lp__lambda_result *res)
{
    struct sink answer = { NULL, 0, 0, 1024, true, false, false };

    curl_easy_setopt(api->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(api->curl, CURLOPT_HEADERFUNCTION, discard_header_cb);
    curl_easy_setopt(api->curl, CURLOPT_HEADERDATA, NULL);
    curl_easy_setopt(api->curl, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(api->curl, CURLOPT_WRITEDATA, &answer);
    perform(api, res);
    if (res->st == LP_OK && res->http_status != 202 && answer.len > 0)
        snprintf(res->detail, sizeof(res->detail), "HTTP %ld: %.200s",
                 res->http_status, answer.data);
    lp__free(answer.data);
}

void lp__lambda_api_post(struct lp__lambda_api *api, const char *path,
                         const void *data, size_t len, const char *error_type,
                         const char *xray_cause, struct lp__lambda_result *res)
{
    struct curl_slist *err_hdrs = NULL, *hdrs = api->post_hdrs, *tmp = NULL;
    char line[256];

    if (!set_post_path(api, path, res))
        return;
    if (error_type != NULL || xray_cause != NULL) {
        /* Rare: a list of its own, the prepared one plus these. */
        for (struct curl_slist *h = api->post_hdrs; h != NULL; h = h->next) {
            tmp = curl_slist_append(err_hdrs, h->data);
            if (tmp == NULL)
                break;
            err_hdrs = tmp;
        }
        if (tmp != NULL && error_type != NULL) {
            snprintf(line, sizeof(line),
                     "Lambda-Runtime-Function-Error-Type: %s", error_type);
            tmp = curl_slist_append(err_hdrs, line);
            err_hdrs = tmp ? tmp : err_hdrs;
        }
        if (tmp == NULL) {
            curl_slist_free_all(err_hdrs);
            fail_oom(res);
            return;
        }
        if (xray_cause != NULL) {
            /* Optional: without memory for it, the error goes without. */
            static const char name[] =
                "Lambda-Runtime-Function-XRay-Error-Cause: ";
            size_t n = sizeof(name) + strlen(xray_cause);
            char *cause = lp__malloc(n);
            if (cause != NULL) {
                snprintf(cause, n, "%s%s", name, xray_cause);
                tmp = curl_slist_append(err_hdrs, cause);
                err_hdrs = tmp ? tmp : err_hdrs;
                lp__free(cause);
            }
        }
        hdrs = err_hdrs;
    }
    curl_easy_setopt(api->curl, CURLOPT_CURLU, api->post_url);
    curl_easy_setopt(api->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(api->curl, CURLOPT_POSTFIELDS, data ? data : "");
    curl_easy_setopt(api->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    perform_post(api, hdrs, res);
    curl_easy_setopt(api->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(err_hdrs);
}

/* Adapts libcurl's callbacks to the stream's. */
struct stream_cb {
    size_t (*read)(void *arg, char *buf, size_t cap);
    const char *(*trailer)(void *arg, int i);
    void *arg;
};

static size_t stream_read_cb(char *buf, size_t size, size_t n, void *arg)
{
    struct stream_cb *cb = arg;

    return cb->read(cb->arg, buf, size * n);
}

static int stream_trailer_cb(struct curl_slist **list, void *arg)
{
    struct stream_cb *cb = arg;
    const char *line;

    for (int i = 0; (line = cb->trailer(cb->arg, i)) != NULL; i++) {
        struct curl_slist *tmp = curl_slist_append(*list, line);
        if (tmp == NULL)
            return CURL_TRAILERFUNC_ABORT;
        *list = tmp;
    }
    return CURL_TRAILERFUNC_OK;
}

/* The streaming request's headers then the caller's; NULL when out of
 * memory. */
static struct curl_slist *stream_headers(const char *const *headers)
{
    static const char *const fixed[] = {
        "Transfer-Encoding: chunked",
        "Lambda-Runtime-Function-Response-Mode: streaming",
        ("Trailer: Lambda-Runtime-Function-Error-Type, "
         "Lambda-Runtime-Function-Error-Body"),
        "Expect:",
    };
    struct curl_slist *hdrs = NULL, *tmp;
    size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);

    for (size_t i = 0; i < nfixed || (headers != NULL && headers[i - nfixed]);
         i++) {
        tmp = curl_slist_append(hdrs,
                                i < nfixed ? fixed[i] : headers[i - nfixed]);
        if (tmp == NULL) {
            curl_slist_free_all(hdrs);
            return NULL;
        }
        hdrs = tmp;
    }
    return hdrs;
}

void lp__lambda_api_post_stream(struct lp__lambda_api *api, const char *path,
                                const char *const *headers,
                                size_t (*read)(void *arg, char *buf,
                                               size_t cap),
                                const char *(*trailer)(void *arg, int i),
                                void *arg, struct lp__lambda_result *res)
{
    struct stream_cb cb = { read, trailer, arg };
    struct curl_slist *hdrs = stream_headers(headers);
    CURL *loop_handle;

    if (hdrs == NULL) {
        fail_oom(res);
        return;
    }
    if (!set_post_path(api, path, res)) {
        curl_slist_free_all(hdrs);
        return;
    }
    /* libcurl 7.88 keeps a chunked upload's trailer state on the easy
     * handle (later versions reset it), and the next chunked upload on that
     * handle then writes before its buffer: each stream runs on a duplicate
     * of the loop's handle, dropped afterwards (one connect a stream). */
    loop_handle = api->curl;
    api->curl = curl_easy_duphandle(loop_handle);
    if (api->curl == NULL) {
        api->curl = loop_handle;
        curl_slist_free_all(hdrs);
        fail_oom(res);
        return;
    }
    curl_easy_setopt(api->curl, CURLOPT_CURLU, api->post_url);
    curl_easy_setopt(api->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(api->curl, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(api->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
    curl_easy_setopt(api->curl, CURLOPT_READFUNCTION, stream_read_cb);
    curl_easy_setopt(api->curl, CURLOPT_READDATA, &cb);
    curl_easy_setopt(api->curl, CURLOPT_TRAILERFUNCTION, stream_trailer_cb);
    curl_easy_setopt(api->curl, CURLOPT_TRAILERDATA, &cb);
    perform_post(api, hdrs, res);
    curl_easy_cleanup(api->curl);
    api->curl = loop_handle;
    curl_slist_free_all(hdrs);
}

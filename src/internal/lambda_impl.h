/*
 * Lambda runtime internals shared by lambda_runtime.c (the loop),
 * lambda_api.c (HTTP over libcurl), lambda_parse.c (everything the Runtime
 * API sends: header lines, deadline, request id; the error JSON we send) and
 * lambda_context.c (the handler-facing calls). The parser entry points are
 * also what tests/fuzz/fuzz-runtime-*.c feed.
 */
#ifndef LP_INTERNAL_LAMBDA_IMPL_H
#define LP_INTERNAL_LAMBDA_IMPL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lambdapool/lambda.h"

/* A request id is at most this long and made of [A-Za-z0-9._:-]. */
#define LP__LAMBDA_ID_MAX 128
/* Header values beyond this size are dropped with a warning. */
#define LP__LAMBDA_HEADER_VALUE_MAX (64 * 1024)
/* Error messages beyond this are truncated. */
#define LP__LAMBDA_MESSAGE_MAX 4096
/* Default cap on an event. */
#define LP__LAMBDA_EVENT_MAX_DEFAULT ((size_t)32 * 1024 * 1024)

/* ---- Parsing what the API sends (lambda_parse.c) ------------------------ */

/* The headers of one GET next answer. Strings are owned (lp__malloc). */
struct lp__lambda_headers {
    long status;         /* from the status line; 0 before one was seen */
    bool complete;       /* the blank line that ends the headers came */
    char *request_id;    /* NULL if missing */
    bool request_id_bad; /* present but over-long or bad characters */
    char *arn, *trace_id, *tenant_id, *client_context, *cognito_identity;
    char *deadline_raw; /* Lambda-Runtime-Deadline-Ms as sent */
    bool oom;           /* an allocation failed while parsing */
    unsigned dropped;   /* header values dropped as too long */
};

void lp__lambda_headers_init(struct lp__lambda_headers *h);
void lp__lambda_headers_clear(struct lp__lambda_headers *h);

/*
 * Feeds one raw header line as libcurl gives it ("Name: value\r\n", a status
 * line "HTTP/1.1 200 OK\r\n", or the blank line). A status line resets what
 * was gathered (a new response starts). Never fails: what cannot be
 * understood is ignored or marked (request_id_bad, oom, dropped).
 */
void lp__lambda_header_line(struct lp__lambda_headers *h, const char *line,
                            size_t len);

/* True if `id` is a request id we can put in a URL path (see ID_MAX). */
bool lp__lambda_request_id_ok(const char *id, size_t len);

/*
 * Parses Lambda-Runtime-Deadline-Ms: true with *epoch_ms set when `raw` is
 * a decimal integer from a minute before `now_epoch_ms` to a day after it
 * (Lambda's longest limits are far shorter); false otherwise (missing,
 * garbage, an emulator's relative number such as "5000", or a replayed
 * event's deadline long past).
 */
bool lp__lambda_parse_deadline(const char *raw, int64_t now_epoch_ms,
                               int64_t *epoch_ms);

/*
 * An error type as it may go into a header or trailer: printable ASCII only
 * (no CR/LF to inject header lines with; anything else becomes '?'), at most
 * LP__LAMBDA_ERROR_TYPE_MAX - 1 bytes; NULL or "" becomes "Unhandled".
 * Returns `buf` (LP__LAMBDA_ERROR_TYPE_MAX bytes) or a static string.
 */
#define LP__LAMBDA_ERROR_TYPE_MAX 128
const char *lp__lambda_error_type_safe(const char *type, char *buf);

/*
 * Builds the error document {"errorMessage","errorType","stackTrace":[]}.
 * Invalid UTF-8 becomes '?'. On LP_OK *out is owned (lp__free); LP_ENOMEM.
 */
lp_status lp__lambda_error_json(const char *error_type, const char *message,
                                char **out, size_t *out_len);

/*
 * Builds the X-Ray error cause that goes with an invocation error in the
 * Lambda-Runtime-Function-XRay-Error-Cause header, as the Go runtime sends
 * it: {"working_directory":cwd,"exceptions":[{"type","message","stack":[]}],
 * "paths":[]}, compact and ASCII-only (non-ASCII is \u-escaped, invalid
 * UTF-8 becomes '?'), so it is one valid header line. On LP_OK *out is owned
 * (lp__free), or NULL when the cause would exceed LP__LAMBDA_XRAY_CAUSE_MAX
 * (the header is then left out); LP_ENOMEM.
 */
#define LP__LAMBDA_XRAY_CAUSE_MAX (64 * 1024)
lp_status lp__lambda_xray_cause_json(const char *error_type,
                                     const char *message, const char *cwd,
                                     char **out, size_t *out_len);

/* Copies s[0..len-1] replacing bytes that are not valid UTF-8 (and NULs)
 * with '?'. NULL on allocation failure. */
char *lp__lambda_utf8_sanitize(const char *s, size_t len);

/* ---- HTTP (lambda_api.c) ---------------------------------------------- */

struct lp__lambda_api;

/* Outcome of one request to the Runtime API. */
struct lp__lambda_result {
    lp_status st;     /* LP_OK: got an HTTP answer (see http_status) */
    long http_status; /* 0 if no answer */
    int curl_code;    /* CURLcode when st is LP_EHTTP */
    char detail[256]; /* a readable reason for logs */
};

/* The event of one GET next. */
struct lp__lambda_next {
    struct lp__lambda_headers headers;
    char *body; /* owned; NUL-terminated */
    size_t len;
    bool too_big;
};

/*
 * One connection to the API (one libcurl easy handle), for one loop; not
 * thread safe. `stop` (may be NULL) is polled while a transfer waits so that
 * another loop can end this one.
 */
lp_status lp__lambda_api_create(const char *host_port, size_t max_event,
                                const _Atomic bool *stop,
                                struct lp__lambda_api **out);
void lp__lambda_api_destroy(struct lp__lambda_api *api);

/* GET /runtime/invocation/next (no timeout). Clears and fills *next. */
void lp__lambda_api_next(struct lp__lambda_api *api,
                         struct lp__lambda_next *next,
                         struct lp__lambda_result *res);
void lp__lambda_next_clear(struct lp__lambda_next *next);

/*
 * POST `path` (after /2018-06-01) with the body; error_type non-NULL adds
 * Lambda-Runtime-Function-Error-Type, xray_cause non-NULL
 * Lambda-Runtime-Function-XRay-Error-Cause (both must be one header line).
 */
void lp__lambda_api_post(struct lp__lambda_api *api, const char *path,
                         const void *body, size_t len, const char *error_type,
                         const char *xray_cause, struct lp__lambda_result *res);

/*
 * A streamed POST (chunked body, then trailers): read(arg, buf, cap) supplies
 * the body and returns 0 at its end (it may block); trailer(arg, i) returns
 * the i-th trailer line ("Name: value") or NULL after the last. Both run on
 * the calling thread, inside libcurl. `headers` are extra "Name: value"
 * lines, NULL-terminated.
 */
void lp__lambda_api_post_stream(struct lp__lambda_api *api, const char *path,
                                const char *const *headers,
                                size_t (*read)(void *arg, char *buf,
                                               size_t cap),
                                const char *(*trailer)(void *arg, int i),
                                void *arg, struct lp__lambda_result *res);

/* Test hook: the base delay between GET next retries (default 20 ms). */
void lp__lambda_set_retry_delay_ms(long ms);

/* curl_global_init once per process. LP_EHTTP if libcurl refused. */
lp_status lp__lambda_curl_init(void);

/*
 * The runtime's own log lines, on stderr (CloudWatch on Lambda), one write
 * each: "lambdapool: <message>", or with AWS_LAMBDA_LOG_FORMAT=JSON one JSON
 * object a line, {"timestamp","level","message","logger":"lambdapool"}, as
 * Lambda's JSON log format asks, filtered by AWS_LAMBDA_LOG_LEVEL (lines
 * below it are dropped; as on Lambda, the level applies to JSON only).
 * lp__lambda_log writes at WARN, lp__lambda_log_error at ERROR. While a
 * loop handles an invocation, its JSON lines carry "requestId" too.
 */
void lp__lambda_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void lp__lambda_log_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Names the invocation the calling thread handles from now on in its log
 * lines (NULL: none). The string must outlive that use. */
void lp__lambda_log_request(const char *request_id);

/* ---- The invocation (lambda_context.c) ---------------------------------- */

struct lp__lambda_stream;

struct lp_lambda_invocation {
    uint32_t magic;
    const char *event;
    size_t event_len;
    /* For streaming: the loop's connection and the invocation's id (NULL
     * during init), and the stream once the first write started it. */
    struct lp__lambda_api *api;
    const char *request_id;
    struct lp__lambda_stream *stream;
    char *content_type; /* owned; for a stream, NULL: octet-stream */
    bool failed;
    char *error_type; /* owned when failed */
    char *message;    /* owned when failed */
    bool replied;
    char *reply; /* owned */
    size_t reply_len;
};

#define LP__LAMBDA_INV_MAGIC 0x6c706c69u /* "lpli" */

void lp__lambda_invocation_init(struct lp_lambda_invocation *inv,
                                const char *event, size_t len);
void lp__lambda_invocation_clear(struct lp_lambda_invocation *inv);
void lp__lambda_invocation_failv(struct lp_lambda_invocation *inv,
                                 const char *error_type, const char *fmt,
                                 va_list ap);

/*
 * Ends a started stream: sends the rest, then the error trailers if the
 * handler failed, waits for the API's answer and frees the stream. Returns
 * LP_OK or a fatal status (as post_outcome).
 */
lp_status lp__lambda_stream_finish(struct lp_lambda_invocation *inv);

/* Base64 (RFC 4648, padded) of in[0..len-1]; owned, NULL on ENOMEM. */
char *lp__lambda_base64(const char *in, size_t len);

struct lp_lambda_init {
    struct lp_lambda_invocation inv; /* reuses the failure record */
};

#endif

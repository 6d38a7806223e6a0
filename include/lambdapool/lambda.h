/*
 * lambdapool Lambda runtime: run a C handler as an AWS Lambda function
 * (custom runtime, `provided.al2023`), or locally against an emulator.
 *
 * lp_lambda_run() is the whole `bootstrap`: it talks to the Lambda Runtime
 * API (version 2018-06-01) at $AWS_LAMBDA_RUNTIME_API over libcurl, one
 * connection per loop, HTTP/1.1, and for each invocation:
 *   GET  /runtime/invocation/next          (no timeout: the process may be
 *                                           frozen between invocations)
 *   handler(inv, ctx, event, len, user_data)
 *   POST /runtime/invocation/<id>/response (lp_lambda_reply*)
 *     or /runtime/invocation/<id>/error    (lp_lambda_fail: JSON
 *        {"errorMessage","errorType","stackTrace":[]} and the headers
 *        Lambda-Runtime-Function-Error-Type and
 *        Lambda-Runtime-Function-XRay-Error-Cause)
 * An init function that fails is reported to POST /runtime/init/error, after
 * which lp_lambda_run returns and the process should exit.
 *
 * A handler error never stops the loop. What the API does wrong is handled
 * as Lambda's own runtimes do (every case is written to stderr, which Lambda
 * sends to CloudWatch): a 500 from the API means "exit promptly" and
 * lp_lambda_run returns; a GET next that fails in transit is retried a few
 * times, then lp_lambda_run returns; a buffered response the API refuses as
 * too large (413) is replaced by an error of type
 * Function.ResponseSizeTooLarge for the same invocation (a streamed one is
 * logged: its bytes have gone out, the stream cannot be taken back); an event
 * whose body was cut off is answered with an error of type
 * Runtime.EventIncomplete, one libcurl could not read (a malformed header line)
 * with Runtime.EventUnreadable, one over the size limit with
 * Runtime.EventTooLarge; a missing, over-long or malformed request
 * id cannot be answered and makes lp_lambda_run return LP_EPROTO; a 4xx
 * other than 413 on a POST is logged and the loop goes on (the next GET
 * tells whether the API still wants us); a POST that fails in transit twice
 * (the answer cannot be delivered) makes lp_lambda_run return LP_EHTTP.
 *
 * Threads: with one loop (the default) everything runs on the caller's
 * thread; with several, each loop has a thread of its own. A streamed
 * answer (lp_lambda_stream_write) is sent by one more thread for the
 * duration of the handler call.
 *
 * Executors created before lp_lambda_run (or in the init function) survive
 * from one invocation to the next: a warm start reuses them. Lambda freezes
 * the whole process between invocations; work still running when the
 * handler returns resumes only at the next invocation, so a handler should
 * wait for (or cancel) everything it submitted before it replies.
 *
 * Deadlines: ctx->deadline is the invocation's deadline on the lp_deadline
 * clock minus a safety margin, ready for lp_future_result_until,
 * lp_wait_until and lp_as_completed_create_until. lp_lambda_gather() waits
 * for an array of futures until then and cancels what has not started, so
 * the handler can reply with partial results before Lambda kills it.
 *
 * libcurl: lp_lambda_run and lp_lambda_report_init_error call
 * curl_global_init(CURL_GLOBAL_DEFAULT) once per process (lp__once, i.e.
 * pthread_once) and
 * never curl_global_cleanup. A program that uses libcurl itself may call
 * curl_global_init first; it is reference counted.
 */
#ifndef LAMBDAPOOL_LAMBDA_H
#define LAMBDAPOOL_LAMBDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "future.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* jansson's value type, for the JSON helpers (include <jansson.h> to use). */
struct json_t;

/*
 * What Lambda says about one invocation. The runtime fills it before calling
 * the handler; every pointer is borrowed until the handler returns and is
 * never NULL ("" when Lambda did not send the value). Fields may be appended
 * in later versions; the runtime allocates the struct.
 */
typedef struct lp_lambda_context {
    const char *request_id;           /* Lambda-Runtime-Aws-Request-Id */
    const char *invoked_function_arn; /* Lambda-Runtime-Invoked-Function-Arn */
    const char *trace_id;             /* Lambda-Runtime-Trace-Id (X-Ray) */
    const char *tenant_id;            /* Lambda-Runtime-Aws-Tenant-Id */
    const char *client_context;   /* raw JSON, Lambda-Runtime-Client-Context */
    const char *cognito_identity; /* raw JSON, ...-Cognito-Identity */
    /* Lambda-Runtime-Deadline-Ms as sent (Unix epoch ms); 0 if missing or
     * not a plausible time (then there is no deadline). */
    int64_t deadline_epoch_ms;
    /* The deadline minus the margin, on the lp_deadline clock;
     * LP_DEADLINE_NEVER when there is no deadline. */
    lp_deadline deadline;
    /* From the environment, read once at start. */
    const char *function_name;    /* AWS_LAMBDA_FUNCTION_NAME */
    const char *function_version; /* AWS_LAMBDA_FUNCTION_VERSION */
    const char *log_group_name;   /* AWS_LAMBDA_LOG_GROUP_NAME */
    const char *log_stream_name;  /* AWS_LAMBDA_LOG_STREAM_NAME */
    int memory_size_mb; /* AWS_LAMBDA_FUNCTION_MEMORY_SIZE, 0 if unset */
    /* Which loop runs this invocation: 0 .. concurrency-1. */
    unsigned loop_index;
} lp_lambda_context;

/* The invocation being handled; valid only during the handler's call. */
typedef struct lp_lambda_invocation lp_lambda_invocation;

/*
 * A handler. `event` is the invocation's payload, NUL-terminated (the NUL
 * is not counted in `len`), borrowed until the handler returns. The handler
 * answers with lp_lambda_reply*() or lp_lambda_fail(); one that does neither
 * answers JSON `null`. It runs on the loop's thread: the thread that called
 * lp_lambda_run when concurrency is 1, else one of the runtime's threads, so
 * with concurrency > 1 the handler must be thread safe.
 */
typedef void (*lp_lambda_handler_fn)(lp_lambda_invocation *inv,
                                     const lp_lambda_context *ctx,
                                     const char *event, size_t len,
                                     void *user_data);

/* The init phase, valid only during the init function's call. */
typedef struct lp_lambda_init lp_lambda_init;

/*
 * Runs once before the first GET next, on the thread that called
 * lp_lambda_run. Fails the init phase by calling lp_lambda_init_fail().
 */
typedef void (*lp_lambda_init_fn)(lp_lambda_init *init, void *user_data);

/* The default safety margin subtracted from each invocation's deadline. */
#define LP_LAMBDA_DEADLINE_MARGIN_DEFAULT_MS 250

typedef struct lp_lambda_options {
    /* Runs once before the loop (NULL: none). */
    lp_lambda_init_fn init;
    /* host:port of the Runtime API (NULL: $AWS_LAMBDA_RUNTIME_API). Copied. */
    const char *runtime_api;
    /*
     * Loops run at once, each on its own thread and connection (Lambda
     * Managed Instances). 0: $AWS_LAMBDA_MAX_CONCURRENCY, or 1 if unset.
     * With 1, _X_AMZN_TRACE_ID is set in the environment for each
     * invocation; with more it is not (the trace id is in the context).
     */
    int max_concurrency;
    /* Subtracted from each deadline to give ctx->deadline (>= 0). */
    int64_t deadline_margin_ms;
    /* Return LP_OK after this many invocations in all (0: never). For tests
     * and benchmarks; a real bootstrap loops until Lambda stops it. */
    uint64_t max_invocations;
    /* Largest event accepted (0: 32 MiB); a larger one is answered with an
     * error of type Runtime.EventTooLarge and the loop goes on. */
    size_t max_event_bytes;
} lp_lambda_options;

#define LP_LAMBDA_OPTIONS_INIT                                    \
    {                                                             \
        NULL, NULL, 0, LP_LAMBDA_DEADLINE_MARGIN_DEFAULT_MS, 0, 0 \
    }

/*
 * Runs the Runtime API loop with default options: returns only when the
 * loop must end, and the caller should then exit with a nonzero status.
 * See lp_lambda_run_with for the statuses.
 */
LP_EXTERN lp_status lp_lambda_run(lp_lambda_handler_fn handler,
                                  void *user_data);

/*
 * Runs the init function, then the Runtime API loop(s), calling handler(...,
 * user_data) for every invocation. `opts` NULL means the defaults; it is
 * copied. Returns:
 *  - LP_OK after opts->max_invocations invocations were answered;
 *  - LP_EINVAL: NULL handler, bad option, no Runtime API address (nothing
 *    was sent);
 *  - LP_ETASK: the init function failed; the failure was posted to
 *    /runtime/init/error (or could not be: see stderr);
 *  - LP_EHTTP: the API answered 500 ("exit promptly"), another status the
 *    loop cannot go on after, or could not be reached after retries;
 *  - LP_EPROTO: the API sent an invocation without a usable request id;
 *  - LP_ENOMEM, LP_ESYS (a loop thread could not be started).
 * With several loops, the first fatal status stops the others (within about
 * a second) and is returned. Must not be called while another
 * lp_lambda_run_with runs in the same process.
 */
LP_EXTERN lp_status lp_lambda_run_with(lp_lambda_handler_fn handler,
                                       void *user_data,
                                       const lp_lambda_options *opts);

/*
 * Answers the invocation with a copy of data[0..len-1] (Content-Type
 * application/json; len 0 sends an empty body, not JSON `null` as a
 * handler that never replies does). A later reply replaces an earlier one and
 * clears a failure. Returns LP_OK, LP_EINVAL (NULL inv, NULL data with len >
 * 0), LP_ESTATE once the answer is being streamed, or LP_ENOMEM (the invocation
 * is then answered with an error).
 */
LP_EXTERN lp_status lp_lambda_reply(lp_lambda_invocation *inv, const void *data,
                                    size_t len);

/* lp_lambda_reply of a NUL-terminated string. */
LP_EXTERN lp_status lp_lambda_reply_str(lp_lambda_invocation *inv,
                                        const char *s);

/*
 * Answers with `value` encoded as compact JSON (any JSON value; borrowed,
 * the caller keeps its reference). Returns as lp_lambda_reply; LP_EINVAL
 * for a NULL value or one jansson cannot encode.
 */
LP_EXTERN lp_status lp_lambda_reply_json(lp_lambda_invocation *inv,
                                         const struct json_t *value);

/*
 * Fails the invocation: the runtime posts {"errorMessage": <printf-style
 * message>, "errorType": error_type, "stackTrace": []} to .../error with the
 * header Lambda-Runtime-Function-Error-Type: error_type (NULL or "":
 * "Unhandled"; AWS recommends "Category.Reason"), and the X-Ray error cause
 * {"working_directory","exceptions":[{"type","message","stack":[]}],
 * "paths":[]} in Lambda-Runtime-Function-XRay-Error-Cause, as the Go runtime
 * does, so that X-Ray shows the failure. Both strings are copied;
 * the message is truncated at 4 KiB and bytes that are not UTF-8 become '?'.
 * A later call replaces an earlier one and discards any reply.
 */
LP_EXTERN void lp_lambda_fail(lp_lambda_invocation *inv, const char *error_type,
                              const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Streams the answer (Lambda response streaming): the first call starts a
 * chunked POST with Lambda-Runtime-Function-Response-Mode: streaming, and
 * each call sends a copy of data[0..len-1] (it blocks while 64 KiB are
 * still unsent). The stream ends when the handler returns; an
 * lp_lambda_fail after the first write is sent as the trailers
 * Lambda-Runtime-Function-Error-Type and -Error-Body (the error document in
 * base64). Once streaming, lp_lambda_reply* return LP_ESTATE. Lambda
 * delivers streamed answers only to callers that asked for them
 * (InvokeWithResponseStream, function URLs with RESPONSE_STREAM).
 * Returns LP_OK, LP_EINVAL (NULL inv or data with len > 0), LP_ENOMEM,
 * LP_ESYS (no thread for the transfer) or LP_EHTTP (the API ended the
 * stream; later writes fail too, and the loop logs why).
 */
LP_EXTERN lp_status lp_lambda_stream_write(lp_lambda_invocation *inv,
                                           const void *data, size_t len);

/*
 * Sets the Content-Type of a streamed answer (copied; default
 * application/octet-stream). Only before the first lp_lambda_stream_write:
 * LP_ESTATE after it. LP_EINVAL for NULL or a value with CR/LF; LP_ENOMEM.
 */
LP_EXTERN lp_status lp_lambda_stream_content_type(lp_lambda_invocation *inv,
                                                  const char *content_type);

/*
 * Parses the event as JSON (any value). On LP_OK *out is a new reference the
 * caller owns (json_decref). LP_EPROTO if the event is not JSON (the
 * invocation is NOT failed: the caller decides), LP_EINVAL for NULL
 * arguments. *out is NULL on error.
 */
LP_EXTERN lp_status lp_lambda_event_json(lp_lambda_invocation *inv,
                                         struct json_t **out);

/*
 * Fails the init phase with the same error format as lp_lambda_fail. After
 * the init function returns, the runtime posts it to /runtime/init/error
 * and lp_lambda_run_with returns LP_ETASK.
 */
LP_EXTERN void lp_lambda_init_fail(lp_lambda_init *init, const char *error_type,
                                   const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Posts an init error directly, for a main() that fails before it can call
 * lp_lambda_run (runtime_api NULL: $AWS_LAMBDA_RUNTIME_API). Returns LP_OK
 * when the API accepted it (202), LP_EINVAL (no address), LP_EHTTP, or
 * LP_ENOMEM. The caller should exit afterwards.
 */
LP_EXTERN lp_status lp_lambda_report_init_error(const char *runtime_api,
                                                const char *error_type,
                                                const char *message);

/* ---- Deadlines --------------------------------------------------------- */

/*
 * Milliseconds left before the invocation's real deadline (without the
 * margin): 0 once passed, INT64_MAX when there is no deadline.
 */
LP_EXTERN int64_t lp_lambda_remaining_ms(const lp_lambda_context *ctx);

/*
 * Cancels every future of fs[0..n-1] that has not started (lp_future_cancel;
 * NULL entries are skipped). Running and finished ones are left alone.
 * Returns how many are now cancelled.
 */
LP_EXTERN size_t lp_lambda_cancel_pending(lp_future *const *fs, size_t n);

/*
 * Waits until every future of fs[0..n-1] is done or ctx->deadline passes.
 * On time: LP_OK. Past the deadline: cancels what has not started
 * (lp_lambda_cancel_pending) and returns LP_ETIMEDOUT; futures still
 * running keep running (a task that watches ctx->deadline itself stops in
 * time). Either way done[i] (may be NULL) tells which futures are done and
 * *n_done (may be NULL) how many, so the handler can reply with what it
 * has. LP_EINVAL as lp_wait_until (NULL ctx too).
 */
LP_EXTERN lp_status lp_lambda_gather(const lp_lambda_context *ctx,
                                     lp_future *const *fs, size_t n, bool *done,
                                     size_t *n_done);

#ifdef __cplusplus
}
#endif

#endif

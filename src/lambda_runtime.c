/*
 * The Lambda Runtime API loop: lp_lambda_run_with.
 *
 * Flow: read the options and the environment once (struct runtime), run the
 * init function and post its failure to /runtime/init/error if it fails,
 * then run `concurrency` loops. Each loop owns one API connection
 * (lambda_api.c) and repeats: claim an invocation slot (max_invocations),
 * GET next, build the context, call the handler, POST its outcome.
 *
 * With one loop it runs on the caller's thread and sets _X_AMZN_TRACE_ID
 * for each invocation, as AWS documents. With several (Lambda Managed
 * Instances, AWS_LAMBDA_MAX_CONCURRENCY) each runs on its own thread and the
 * trace id stays in the context only, as the Go and Rust runtimes do, since
 * one environment cannot hold several. The first loop that hits a fatal
 * condition records its status in `fatal` and raises `stop`; the others see
 * `stop` from libcurl's progress callback and end.
 *
 * Shared state: `claimed`, `fatal` and `stop` are atomics; everything else in
 * struct runtime is written before the loops start and only read after.
 * What the API does wrong and how each case is answered is listed in
 * lambda.h; every case is logged to stderr (CloudWatch on Lambda).
 */
#include "internal/lambda_impl.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/clock.h"
#include "internal/sync.h"

#define NEXT_RETRIES    3
#define CONCURRENCY_MAX 1024

struct runtime {
    lp_lambda_handler_fn handler;
    void *user_data;
    char *api_addr;
    int concurrency;
    int64_t margin_ns;
    uint64_t max_invocations;
    size_t max_event;
    /* Copied from the environment at start; never NULL. */
    char *function_name, *function_version, *log_group, *log_stream;
    int memory_size_mb;

    _Atomic uint64_t claimed; /* invocation slots taken by the loops */
    _Atomic bool stop;        /* set with the first fatal status */
    _Atomic int fatal;        /* that status (LP_OK: none yet) */
};

struct loop {
    struct runtime *rt;
    unsigned index;
    lp__thread thread;
    lp_status st;
};

/* One warning per process for deadline headers that mean nothing. */
static _Atomic bool deadline_warned;

static char *env_copy(const char *name)
{
    const char *v = getenv(name);

    return lp__strdup(v != NULL ? v : "");
}

/* Parses a positive decimal int; `fallback` when unset or invalid. */
static long env_long(const char *name, long fallback, long max)
{
    const char *v = getenv(name);
    char *end;
    long n;

    if (v == NULL || v[0] == '\0')
        return fallback;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < 1 || n > max) {
        lp__lambda_log("ignoring %s=%.40s (not an integer in 1..%ld)", name, v,
                       max);
        return fallback;
    }
    return n;
}

static void set_fatal(struct runtime *rt, lp_status st)
{
    int none = LP_OK;

    atomic_compare_exchange_strong(&rt->fatal, &none, (int)st);
    atomic_store(&rt->stop, true);
}

static int64_t now_epoch_ms(void)
{
    return lp__realtime_ns() / LP__NS_PER_MS;
}

static void fill_context(struct runtime *rt, const struct lp__lambda_headers *h,
                         unsigned index, lp_lambda_context *ctx)
{
    int64_t epoch_ms = 0;

    memset(ctx, 0, sizeof(*ctx));
    ctx->request_id = h->request_id;
    ctx->invoked_function_arn = h->arn ? h->arn : "";
    ctx->trace_id = h->trace_id ? h->trace_id : "";
    ctx->tenant_id = h->tenant_id ? h->tenant_id : "";
    ctx->client_context = h->client_context ? h->client_context : "";
    ctx->cognito_identity = h->cognito_identity ? h->cognito_identity : "";
    ctx->deadline = LP_DEADLINE_NEVER;
    if (lp__lambda_parse_deadline(h->deadline_raw, now_epoch_ms(), &epoch_ms)) {
        ctx->deadline_epoch_ms = epoch_ms;
        ctx->deadline = lp__deadline_add(lp_deadline_from_epoch_ms(epoch_ms),
                                         -rt->margin_ns);
    } else if (!atomic_exchange(&deadline_warned, true)) {
        lp__lambda_log("warning: Lambda-Runtime-Deadline-Ms %s%.40s%s is not "
                       "a plausible Unix time in ms; invocations run without "
                       "a deadline (said once)",
                       h->deadline_raw ? "\"" : "",
                       h->deadline_raw ? h->deadline_raw : "missing",
                       h->deadline_raw ? "\"" : "");
    }
    ctx->function_name = rt->function_name;
    ctx->function_version = rt->function_version;
    ctx->log_group_name = rt->log_group;
    ctx->log_stream_name = rt->log_stream;
    ctx->memory_size_mb = rt->memory_size_mb;
    ctx->loop_index = index;
}

/*
 * POSTs to `path`, once more if the transfer itself failed (a kept-alive
 * connection the server closed), and returns the result.
 */
static void post(struct lp__lambda_api *api, const char *path, const void *body,
                 size_t len, const char *error_type, const char *xray_cause,
                 struct lp__lambda_result *res)
{
    lp__lambda_api_post(api, path, body, len, error_type, xray_cause, res);
    if (res->st == LP_EHTTP)
        lp__lambda_api_post(api, path, body, len, error_type, xray_cause, res);
}

/*
 * The X-Ray error cause for an invocation error (NULL when it cannot be
 * built: the error document alone is then posted, as before).
 */
static char *xray_cause(const char *type, const char *message)
{
    char cwd[4096];
    char *cause = NULL;
    size_t len;

    if (getcwd(cwd, sizeof(cwd)) == NULL)
        cwd[0] = '\0';
    if (lp__lambda_xray_cause_json(type, message, cwd, &cause, &len) != LP_OK)
        return NULL;
    return cause;
}

/*
 * Posts an error document for `id` (or for init when id is NULL); an
 * invocation's error also carries its X-Ray error cause. Returns
 * LP_OK when accepted or refused with a status the loop can go on after;
 * a fatal status otherwise.
 */
static lp_status post_error(struct lp__lambda_api *api, const char *id,
                            const char *type, const char *message,
                            bool *accepted)
{
    struct lp__lambda_result res;
    char path[LP__LAMBDA_ID_MAX + 64];
    char type_buf[LP__LAMBDA_ERROR_TYPE_MAX];
    char *doc, *cause = NULL;
    size_t len;

    type = lp__lambda_error_type_safe(type, type_buf);
    if (id != NULL)
        snprintf(path, sizeof(path), "/runtime/invocation/%s/error", id);
    else
        snprintf(path, sizeof(path), "/runtime/init/error");
    if (lp__lambda_error_json(type, message, &doc, &len) != LP_OK) {
        /* A fixed document needs no allocation. */
        static const char fixed[] =
            "{\"errorMessage\":\"out of memory\",\"errorType\":"
            "\"Runtime.OutOfMemory\",\"stackTrace\":[]}";
        type = "Runtime.OutOfMemory";
        post(api, path, fixed, sizeof(fixed) - 1, type, NULL, &res);
    } else {
        if (id != NULL)
            cause = xray_cause(type, message);
        post(api, path, doc, len, type, cause, &res);
        lp__free(cause);
        lp__free(doc);
    }
    if (accepted != NULL)
        *accepted = res.st == LP_OK && res.http_status == 202;
    if (res.st == LP_OK && res.http_status == 202)
        return LP_OK;
    lp__lambda_log_error("POST %s (%s) failed: %s", path, type, res.detail);
    if (res.st != LP_OK || res.http_status >= 500)
        return LP_EHTTP;
    return LP_OK;
}

/* Posts the handler's outcome and reacts to the API's answer. */
static lp_status post_outcome(struct lp__lambda_api *api, const char *id,
                              const struct lp_lambda_invocation *inv)
{
    struct lp__lambda_result res;
    char path[LP__LAMBDA_ID_MAX + 64];

    if (inv->failed)
        return post_error(
            api, id, inv->error_type ? inv->error_type : "Runtime.OutOfMemory",
            inv->message ? inv->message : "out of memory", NULL);
    snprintf(path, sizeof(path), "/runtime/invocation/%s/response", id);
    if (inv->replied)
        post(api, path, inv->reply, inv->reply_len, NULL, NULL, &res);
    else
        post(api, path, "null", 4, NULL, NULL, &res);
    if (res.st == LP_OK && res.http_status == 202)
        return LP_OK;
    if (res.st != LP_OK) {
        lp__lambda_log_error("could not deliver the response of %s: %s", id,
                             res.detail);
        return LP_EHTTP;
    }
    if (res.http_status == 413) {
        char msg[300];
        lp__lambda_log("response of %s (%zu bytes) refused as too large: %s",
                       id, inv->reply_len, res.detail);
        snprintf(msg, sizeof(msg),
                 "Response payload size (%zu bytes) exceeded the maximum "
                 "allowed payload size",
                 inv->reply_len);
        return post_error(api, id, "Function.ResponseSizeTooLarge", msg, NULL);
    }
    lp__lambda_log("POST %s refused: %s%s", path, res.detail,
                   res.http_status >= 500 ? "; exiting as the API asks" : "");
    return res.http_status >= 500 ? LP_EHTTP : LP_OK;
}

/* Base delay between GET next retries; tests and fuzzers lower it. */
static _Atomic long retry_delay_ns = 20 * LP__NS_PER_MS;

void lp__lambda_set_retry_delay_ms(long ms)
{
    atomic_store(&retry_delay_ns, ms * LP__NS_PER_MS);
}

static void short_sleep(int attempt)
{
    long ns = atomic_load(&retry_delay_ns) * attempt;
    struct timespec ts = { ns / LP__NS_PER_SEC, ns % LP__NS_PER_SEC };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

enum next_outcome { NEXT_EVENT, NEXT_ANSWERED, NEXT_FATAL };

/*
 * A GET next that failed in transit after the headers arrived still names
 * the invocation: answer it with an error so that nothing is lost silently.
 */
static enum next_outcome
answer_broken_event(struct runtime *rt, struct lp__lambda_api *api,
                    struct lp__lambda_next *next,
                    const struct lp__lambda_result *res, lp_status *st)
{
    const char *id = next->headers.request_id;
    char msg[400];

    lp__lambda_log_request(id);

    if (next->too_big) {
        snprintf(msg, sizeof(msg),
                 "event larger than the runtime's limit of %zu bytes",
                 rt->max_event);
        lp__lambda_log("event of %s refused: %s", id, msg);
        *st = post_error(api, id, "Runtime.EventTooLarge", msg, NULL);
    } else {
        /* 18: CURLE_PARTIAL_FILE, 56: CURLE_RECV_ERROR */
        bool cut = res->curl_code == 18 || res->curl_code == 56;
        snprintf(msg, sizeof(msg), "event %s after %zu bytes: %s",
                 cut ? "cut off" : "unreadable", next->len, res->detail);
        lp__lambda_log("event of %s: %s", id, msg);
        *st = post_error(api, id,
                         cut ? "Runtime.EventIncomplete"
                             : "Runtime.EventUnreadable",
                         msg, NULL);
    }
    lp__lambda_log_request(NULL);
    return *st == LP_OK ? NEXT_ANSWERED : NEXT_FATAL;
}

/* A 200 whose headers came whole without a usable request id: the event
 * cannot be answered, whatever became of its body. */
static enum next_outcome unanswerable_event(const struct lp__lambda_next *next,
                                            lp_status *st)
{
    lp__lambda_log_error(
        "GET next sent %s Lambda-Runtime-Aws-Request-Id; "
        "the invocation cannot be answered; exiting",
        next->headers.request_id_bad ? "an over-long or malformed" : "no");
    *st = LP_EPROTO;
    return NEXT_FATAL;
}

static enum next_outcome get_next(struct runtime *rt,
                                  struct lp__lambda_api *api,
                                  struct lp__lambda_next *next, lp_status *st)
{
    struct lp__lambda_result res;

    for (int attempt = 0; attempt <= NEXT_RETRIES; attempt++) {
        lp__lambda_api_next(api, next, &res);
        if (atomic_load(&rt->stop)) {
            *st = LP_OK;
            return NEXT_FATAL;
        }
        if (res.st == LP_ENOMEM) {
            lp__lambda_log_error("GET next: out of memory");
            *st = LP_ENOMEM;
            return NEXT_FATAL;
        }
        if (next->headers.status == 200 && next->headers.complete &&
            next->headers.request_id == NULL)
            return unanswerable_event(next, st);
        if (res.st == LP_EHTTP && next->headers.status == 200 &&
            next->headers.request_id != NULL)
            return answer_broken_event(rt, api, next, &res, st);
        if (res.st == LP_EHTTP) {
            lp__lambda_log("GET next failed: %s%s", res.detail,
                           attempt < NEXT_RETRIES ? "; retrying" : "");
            if (attempt < NEXT_RETRIES)
                short_sleep(attempt + 1);
            continue;
        }
        if (res.http_status != 200) {
            lp__lambda_log_error(
                "GET next answered HTTP %ld; exiting%s", res.http_status,
                res.http_status >= 500 ? " as the API asks" : "");
            *st = LP_EHTTP;
            return NEXT_FATAL;
        }
        if (next->headers.request_id == NULL)
            return unanswerable_event(next, st);
        if (next->headers.dropped > 0)
            lp__lambda_log("event of %s: %u header value(s) over %d bytes "
                           "ignored",
                           next->headers.request_id, next->headers.dropped,
                           LP__LAMBDA_HEADER_VALUE_MAX);
        return NEXT_EVENT;
    }
    lp__lambda_log_error("Runtime API unreachable after %d attempts; exiting",
                         NEXT_RETRIES + 1);
    *st = LP_EHTTP;
    return NEXT_FATAL;
}

/*
 * Sets _X_AMZN_TRACE_ID for the invocation (one loop only). setenv() would
 * keep every distinct value it was ever given (glibc cannot free them), and
 * trace ids differ on every invocation: a warm process serving millions of
 * invocations would grow without bound. So the variable points at one
 * buffer of ours (putenv), rewritten in place; only an over-long value
 * falls back to setenv.
 */
static void set_trace_env(const char *trace_id)
{
    static const char name[] = "_X_AMZN_TRACE_ID=";
    static char buf[sizeof(name) + 512];
    static bool installed;
    size_t len = strlen(trace_id);

    if (trace_id[0] == '\0' || len >= sizeof(buf) - sizeof(name)) {
        unsetenv("_X_AMZN_TRACE_ID");
        installed = false;
        if (trace_id[0] != '\0')
            setenv("_X_AMZN_TRACE_ID", trace_id, 1);
        return;
    }
    memcpy(buf, name, sizeof(name) - 1);
    memcpy(buf + sizeof(name) - 1, trace_id, len + 1);
    if (!installed || getenv("_X_AMZN_TRACE_ID") != buf + sizeof(name) - 1)
        installed = putenv(buf) == 0;
}

/* Runs the handler on one event and posts its outcome. */
static lp_status handle(struct runtime *rt, struct loop *lp,
                        struct lp__lambda_api *api,
                        struct lp__lambda_next *next)
{
    struct lp_lambda_invocation inv;
    lp_lambda_context ctx;
    lp_status st;

    fill_context(rt, &next->headers, lp->index, &ctx);
    lp__lambda_log_request(ctx.request_id);
    if (rt->concurrency == 1)
        set_trace_env(ctx.trace_id);
    lp__lambda_invocation_init(&inv, next->body, next->len);
    inv.api = api;
    inv.request_id = ctx.request_id;
    rt->handler(&inv, &ctx, next->body, next->len, rt->user_data);
    if (inv.stream != NULL)
        st = lp__lambda_stream_finish(&inv);
    else
        st = post_outcome(api, ctx.request_id, &inv);
    lp__lambda_invocation_clear(&inv);
    lp__lambda_log_request(NULL);
    return st;
}

static bool claim_slot(struct runtime *rt)
{
    if (rt->max_invocations == 0)
        return true;
    return atomic_fetch_add(&rt->claimed, 1) < rt->max_invocations;
}

static void *run_loop(void *arg)
{
    struct loop *lp = arg;
    struct runtime *rt = lp->rt;
    struct lp__lambda_api *api;
    struct lp__lambda_next next;
    lp_status st;

    memset(&next, 0, sizeof(next));
    st = lp__lambda_api_create(rt->api_addr, rt->max_event,
                               rt->concurrency > 1 ? &rt->stop : NULL, &api);
    while (st == LP_OK && !atomic_load(&rt->stop) && claim_slot(rt)) {
        switch (get_next(rt, api, &next, &st)) {
        case NEXT_EVENT:
            st = handle(rt, lp, api, &next);
            break;
        case NEXT_ANSWERED:
            break;
        case NEXT_FATAL:
            break;
        }
    }
    if (st != LP_OK)
        set_fatal(rt, st);
    lp__lambda_next_clear(&next);
    lp__lambda_api_destroy(api);
    lp->st = st;
    return NULL;
}

static void runtime_free(struct runtime *rt)
{
    lp__free(rt->api_addr);
    lp__free(rt->function_name);
    lp__free(rt->function_version);
    lp__free(rt->log_group);
    lp__free(rt->log_stream);
}

static lp_status runtime_init(struct runtime *rt, lp_lambda_handler_fn handler,
                              void *user_data, const lp_lambda_options *o)
{
    const char *addr =
        o->runtime_api ? o->runtime_api : getenv("AWS_LAMBDA_RUNTIME_API");

    memset(rt, 0, sizeof(*rt));
    if (addr == NULL || addr[0] == '\0') {
        lp__lambda_log_error("AWS_LAMBDA_RUNTIME_API is not set: not running "
                             "under Lambda or an emulator");
        return LP_EINVAL;
    }
    rt->handler = handler;
    rt->user_data = user_data;
    rt->concurrency =
        o->max_concurrency > 0
            ? o->max_concurrency
            : (int)env_long("AWS_LAMBDA_MAX_CONCURRENCY", 1, CONCURRENCY_MAX);
    rt->margin_ns = o->deadline_margin_ms * LP__NS_PER_MS;
    rt->max_invocations = o->max_invocations;
    rt->max_event =
        o->max_event_bytes ? o->max_event_bytes : LP__LAMBDA_EVENT_MAX_DEFAULT;
    rt->memory_size_mb =
        (int)env_long("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0, 1 << 20);
    rt->api_addr = lp__strdup(addr);
    rt->function_name = env_copy("AWS_LAMBDA_FUNCTION_NAME");
    rt->function_version = env_copy("AWS_LAMBDA_FUNCTION_VERSION");
    rt->log_group = env_copy("AWS_LAMBDA_LOG_GROUP_NAME");
    rt->log_stream = env_copy("AWS_LAMBDA_LOG_STREAM_NAME");
    if (rt->api_addr == NULL || rt->function_name == NULL ||
        rt->function_version == NULL || rt->log_group == NULL ||
        rt->log_stream == NULL) {
        runtime_free(rt);
        return LP_ENOMEM;
    }
    return LP_OK;
}

/* Runs the init function; posts its failure. LP_ETASK when it failed. */
static lp_status run_init(struct runtime *rt, lp_lambda_init_fn init)
{
    struct lp_lambda_init in;
    struct lp__lambda_api *api;
    lp_status st;

    if (init == NULL)
        return LP_OK;
    lp__lambda_invocation_init(&in.inv, NULL, 0);
    init(&in, rt->user_data);
    if (!in.inv.failed) {
        lp__lambda_invocation_clear(&in.inv);
        return LP_OK;
    }
    lp__lambda_log_error("init failed: %s: %s",
                         in.inv.error_type ? in.inv.error_type : "?",
                         in.inv.message ? in.inv.message : "?");
    st = lp__lambda_api_create(rt->api_addr, 0, NULL, &api);
    if (st == LP_OK) {
        post_error(api, NULL,
                   in.inv.error_type ? in.inv.error_type
                                     : "Runtime.OutOfMemory",
                   in.inv.message ? in.inv.message : "out of memory", NULL);
        lp__lambda_api_destroy(api);
    }
    lp__lambda_invocation_clear(&in.inv);
    return LP_ETASK;
}

/* Runs loops 1..n-1 on threads and loop 0 here; joins them all. */
static lp_status run_loops(struct runtime *rt)
{
    struct loop *loops;
    int started = 1;
    lp_status st = LP_OK;

    loops = lp__calloc((size_t)rt->concurrency, sizeof(*loops));
    if (loops == NULL)
        return LP_ENOMEM;
    for (int i = 0; i < rt->concurrency; i++) {
        loops[i].rt = rt;
        loops[i].index = (unsigned)i;
    }
    for (; started < rt->concurrency; started++) {
        st = lp__thread_create(&loops[started].thread, run_loop,
                               &loops[started], 0, "lp-lambda");
        if (st != LP_OK) {
            lp__lambda_log_error("could not start loop thread %d", started);
            set_fatal(rt, st);
            break;
        }
    }
    if (st == LP_OK)
        run_loop(&loops[0]);
    for (int i = 1; i < started; i++)
        lp__thread_join(&loops[i].thread);
    lp__free(loops);
    return (lp_status)atomic_load(&rt->fatal);
}

lp_status lp_lambda_run_with(lp_lambda_handler_fn handler, void *user_data,
                             const lp_lambda_options *opts)
{
    lp_lambda_options defaults = LP_LAMBDA_OPTIONS_INIT;
    struct runtime rt;
    lp_status st;

    if (opts == NULL)
        opts = &defaults;
    if (handler == NULL || opts->max_concurrency < 0 ||
        opts->max_concurrency > CONCURRENCY_MAX ||
        opts->deadline_margin_ms < 0 || opts->deadline_margin_ms > 3600 * 1000)
        return LP_EINVAL;
    st = runtime_init(&rt, handler, user_data, opts);
    if (st != LP_OK)
        return st;
    st = lp__lambda_curl_init();
    if (st != LP_OK)
        lp__lambda_log_error("curl_global_init failed");
    if (st == LP_OK)
        st = run_init(&rt, opts->init);
    if (st == LP_OK)
        st = run_loops(&rt);
    runtime_free(&rt);
    return st;
}

lp_status lp_lambda_run(lp_lambda_handler_fn handler, void *user_data)
{
    return lp_lambda_run_with(handler, user_data, NULL);
}

lp_status lp_lambda_report_init_error(const char *runtime_api,
                                      const char *error_type,
                                      const char *message)
{
    struct lp__lambda_api *api;
    bool accepted = false;
    lp_status st;

    if (runtime_api == NULL)
        runtime_api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (runtime_api == NULL || runtime_api[0] == '\0')
        return LP_EINVAL;
    st = lp__lambda_api_create(runtime_api, 0, NULL, &api);
    if (st != LP_OK)
        return st;
    post_error(api, NULL, error_type, message, &accepted);
    lp__lambda_api_destroy(api);
    return accepted ? LP_OK : LP_EHTTP;
}

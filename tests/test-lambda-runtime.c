/*
 * The Runtime API loop against the fault-injecting stub (lambda-stub.c):
 * normal invocations and the context, handler errors, init errors, and every
 * fault Lambda's emulators cannot produce. Each case checks what reached the
 * API (nothing lost silently) and what lp_lambda_run_with returned.
 */
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal/alloc.h"
#include "internal/lambda_impl.h"
#include "lambda-stub.h"
#include "lp-test.h"

/* What the handler saw, for the assertions. */
struct seen {
    int calls;
    char request_id[160];
    char arn[128];
    char trace_id[128];
    char trace_env[128];
    char tenant[32];
    char client_context[64];
    char cognito[64];
    char function[64];
    int memory;
    int64_t deadline_epoch_ms;
    lp_deadline deadline;
    int64_t remaining_ms;
    unsigned loops_seen; /* bit mask of loop_index */
};

static void record(struct seen *s, const lp_lambda_context *ctx)
{
    const char *env = getenv("_X_AMZN_TRACE_ID");

    s->calls++;
    snprintf(s->request_id, sizeof(s->request_id), "%s", ctx->request_id);
    snprintf(s->arn, sizeof(s->arn), "%s", ctx->invoked_function_arn);
    snprintf(s->trace_id, sizeof(s->trace_id), "%s", ctx->trace_id);
    snprintf(s->trace_env, sizeof(s->trace_env), "%s", env ? env : "");
    snprintf(s->tenant, sizeof(s->tenant), "%s", ctx->tenant_id);
    snprintf(s->client_context, sizeof(s->client_context), "%s",
             ctx->client_context);
    snprintf(s->cognito, sizeof(s->cognito), "%s", ctx->cognito_identity);
    snprintf(s->function, sizeof(s->function), "%s/%s/%s/%s",
             ctx->function_name, ctx->function_version, ctx->log_group_name,
             ctx->log_stream_name);
    s->memory = ctx->memory_size_mb;
    s->deadline_epoch_ms = ctx->deadline_epoch_ms;
    s->deadline = ctx->deadline;
    s->remaining_ms = lp_lambda_remaining_ms(ctx);
}

/* Echoes the event; fails when the event is "fail"; no reply for "none". */
static void echo(lp_lambda_invocation *inv, const lp_lambda_context *ctx,
                 const char *event, size_t len, void *arg)
{
    record(arg, ctx);
    if (strcmp(event, "fail") == 0) {
        lp_lambda_fail(inv, "Test.Failure", "asked to fail (%s)",
                       ctx->request_id);
        return;
    }
    if (strcmp(event, "none") == 0)
        return;
    ASSERT_OK(lp_lambda_reply(inv, event, len));
}

static lp_status run(struct stub *s, uint64_t n, struct seen *seen)
{
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;

    o.runtime_api = stub_addr(s);
    o.max_invocations = n;
    return lp_lambda_run_with(echo, seen, &o);
}

/* Checks an error document: JSON with the three fields. */
static void assert_error_doc(const struct stub_post *p, const char *type)
{
    json_error_t err;
    json_t *doc = json_loadb(p->body, p->len, 0, &err);

    ASSERT_TRUE(doc != NULL);
    ASSERT_STR_EQ(type, p->error_type);
    ASSERT_STR_EQ(type, json_string_value(json_object_get(doc, "errorType")));
    ASSERT_TRUE(json_is_string(json_object_get(doc, "errorMessage")));
    ASSERT_TRUE(json_is_array(json_object_get(doc, "stackTrace")));
    json_decref(doc);
}

TEST(normal_invocations_and_context)
{
    struct stub_event ev[5] = { { .body = "{\"n\":0}" },
                                { .body = "{\"n\":1}" },
                                { .body = "[1,2]" },
                                { .body = "\"s\"" },
                                { .body = "{}" } };
    struct seen seen = { 0 };
    struct stub *s = stub_create(ev, 5);

    setenv("AWS_LAMBDA_FUNCTION_NAME", "fn", 1);
    setenv("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST", 1);
    setenv("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/fn", 1);
    setenv("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/22/x", 1);
    setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769", 1);
    stub_start(s);
    ASSERT_OK(run(s, 5, &seen));
    ASSERT_STR_EQ("fn/$LATEST//aws/lambda/fn/2026/11/22/x", seen.function);
    ASSERT_EQ(1769, seen.memory);
    ASSERT_EQ(5, seen.calls);
    ASSERT_EQ(5, stub_post_count(s));
    for (size_t i = 0; i < 5; i++) {
        const struct stub_post *p = stub_post_get(s, i);
        char want[32];
        snprintf(want, sizeof(want), "req-%zu", i);
        ASSERT_EQ('r', p->kind);
        ASSERT_STR_EQ(want, p->request_id);
        ASSERT_STR_EQ(ev[i].body, p->body);
        ASSERT_STR_EQ("", p->error_type);
        ASSERT_STR_EQ("", p->xray_cause);
    }
    ASSERT_STR_EQ("req-4", seen.request_id);
    ASSERT_STR_EQ("arn:aws:lambda:us-east-1:123456789012:function:stub",
                  seen.arn);
    ASSERT_TRUE(strncmp(seen.trace_id, "Root=1-", 7) == 0);
    ASSERT_STR_EQ(seen.trace_id, seen.trace_env); /* one loop: env set */
    ASSERT_STR_EQ("tenant-7", seen.tenant);
    ASSERT_STR_EQ("{\"client\":1}", seen.client_context);
    ASSERT_STR_EQ("{\"cognitoIdentityId\":\"id-7\"}", seen.cognito);
    /* now + 60 s, minus the 250 ms margin */
    ASSERT_TRUE(seen.deadline_epoch_ms > 0);
    ASSERT_TRUE(seen.deadline != LP_DEADLINE_NEVER);
    ASSERT_LE(lp_deadline_remaining_ms(seen.deadline), 59750);
    ASSERT_GE(lp_deadline_remaining_ms(seen.deadline), 50000);
    ASSERT_LE(seen.remaining_ms, 60000);
    ASSERT_GE(seen.remaining_ms, 50000);
    stub_destroy(s);
}

TEST(handler_error_keeps_loop_going)
{
    struct stub_event ev[3] = { { .body = "fail" },
                                { .body = "ok" },
                                { .body = "none" } };
    struct seen seen = { 0 };
    struct stub *s = stub_create(ev, 3);
    const struct stub_post *p;

    stub_start(s);
    ASSERT_OK(run(s, 3, &seen));
    ASSERT_EQ(3, stub_post_count(s));
    p = stub_post_get(s, 0);
    ASSERT_EQ('e', p->kind);
    ASSERT_STR_EQ("req-0", p->request_id);
    assert_error_doc(p, "Test.Failure");
    ASSERT_TRUE(strstr(p->body, "asked to fail (req-0)") != NULL);
    p = stub_post_get(s, 1);
    ASSERT_EQ('r', p->kind);
    ASSERT_STR_EQ("ok", p->body);
    p = stub_post_get(s, 2); /* no reply: JSON null */
    ASSERT_EQ('r', p->kind);
    ASSERT_STR_EQ("null", p->body);
    stub_destroy(s);
}

/* Fails with a message that needs escaping and is not ASCII. */
static void failing_unicode(lp_lambda_invocation *inv,
                            const lp_lambda_context *ctx, const char *event,
                            size_t len, void *arg)
{
    (void)ctx, (void)event, (void)len, (void)arg;
    lp_lambda_fail(inv, "Test.Xray", "line 1\nline \"2\" caf\xc3\xa9 \xff");
}

/* An invocation error carries the X-Ray error cause, as the Go runtime
 * sends it; an init error does not (there is no trace to attach it to). */
TEST(invocation_error_has_xray_cause)
{
    struct stub_event ev[1] = { { .body = "{}" } };
    struct stub *s = stub_create(ev, 1);
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    const struct stub_post *p;
    json_error_t err;
    json_t *cause, *ex;

    stub_start(s);
    o.runtime_api = stub_addr(s);
    o.max_invocations = 1;
    ASSERT_OK(lp_lambda_run_with(failing_unicode, NULL, &o));
    ASSERT_EQ(1, stub_post_count(s));
    p = stub_post_get(s, 0);
    ASSERT_EQ('e', p->kind);
    assert_error_doc(p, "Test.Xray");
    /* One header line, ASCII only. */
    for (const char *c = p->xray_cause; *c; c++)
        ASSERT_TRUE(*c >= 0x20 && *c < 0x7f);
    cause = json_loads(p->xray_cause, 0, &err);
    ASSERT_TRUE(cause != NULL);
    ASSERT_TRUE(json_is_string(json_object_get(cause, "working_directory")));
    ASSERT_TRUE(
        json_string_length(json_object_get(cause, "working_directory")) > 0);
    ASSERT_TRUE(json_is_array(json_object_get(cause, "paths")));
    ASSERT_EQ(1, json_array_size(json_object_get(cause, "exceptions")));
    ex = json_array_get(json_object_get(cause, "exceptions"), 0);
    ASSERT_STR_EQ("Test.Xray", json_string_value(json_object_get(ex, "type")));
    ASSERT_STR_EQ("line 1\nline \"2\" caf\xc3\xa9 ?",
                  json_string_value(json_object_get(ex, "message")));
    ASSERT_TRUE(json_is_array(json_object_get(ex, "stack")));
    json_decref(cause);
    stub_destroy(s);
}

TEST(xray_cause_json)
{
    char *out;
    size_t len;
    char *big = malloc(LP__LAMBDA_XRAY_CAUSE_MAX + 1);

    ASSERT_OK(lp__lambda_xray_cause_json(NULL, NULL, NULL, &out, &len));
    ASSERT_STR_EQ("{\"working_directory\":\"\",\"exceptions\":[{\"type\":"
                  "\"Unhandled\",\"message\":\"\",\"stack\":[]}],"
                  "\"paths\":[]}",
                  out);
    ASSERT_EQ(strlen(out), len);
    lp__free(out);
    /* Too large for a header: left out, not an error. */
    ASSERT_TRUE(big != NULL);
    memset(big, 'x', LP__LAMBDA_XRAY_CAUSE_MAX);
    big[LP__LAMBDA_XRAY_CAUSE_MAX] = '\0';
    ASSERT_OK(lp__lambda_xray_cause_json("T", big, "/", &out, &len));
    ASSERT_TRUE(out == NULL);
    ASSERT_EQ(0, len);
    free(big);
}

static void failing_init(lp_lambda_init *init, void *arg)
{
    (void)arg;
    lp_lambda_init_fail(init, "Runtime.ConfigInvalid", "missing %s",
                        "TABLE_NAME");
}

TEST(init_error_is_posted)
{
    struct stub_event ev[1] = { { .body = "{}" } };
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct seen seen = { 0 };
    struct stub *s = stub_create(ev, 1);
    const struct stub_post *p;

    stub_start(s);
    o.runtime_api = stub_addr(s);
    o.init = failing_init;
    ASSERT_STATUS(LP_ETASK, lp_lambda_run_with(echo, &seen, &o));
    ASSERT_EQ(0, seen.calls);
    ASSERT_EQ(0, stub_next_count(s));
    ASSERT_EQ(1, stub_post_count(s));
    p = stub_post_get(s, 0);
    ASSERT_EQ('i', p->kind);
    assert_error_doc(p, "Runtime.ConfigInvalid");
    ASSERT_TRUE(strstr(p->body, "missing TABLE_NAME") != NULL);
    ASSERT_STR_EQ("", p->xray_cause);
    /* The direct form, for a main() that fails before the loop. */
    ASSERT_OK(lp_lambda_report_init_error(stub_addr(s), NULL, "boom\xff"));
    p = stub_post_get(s, 1);
    assert_error_doc(p, "Unhandled");
    ASSERT_TRUE(strstr(p->body, "boom?") != NULL);
    stub_destroy(s);
}

TEST(response_413_becomes_error)
{
    struct stub_event ev[2] = { { .fault = STUB_RESPONSE_413, .body = "big" },
                                { .body = "after" } };
    struct seen seen = { 0 };
    struct stub *s = stub_create(ev, 2);
    const struct stub_post *p;

    stub_start(s);
    ASSERT_OK(run(s, 2, &seen));
    ASSERT_EQ(3, stub_post_count(s));
    p = stub_post_get(s, 0);
    ASSERT_EQ('r', p->kind);
    ASSERT_EQ(413, p->status);
    p = stub_post_get(s, 1);
    ASSERT_EQ('e', p->kind);
    ASSERT_STR_EQ("req-0", p->request_id);
    assert_error_doc(p, "Function.ResponseSizeTooLarge");
    p = stub_post_get(s, 2);
    ASSERT_STR_EQ("req-1", p->request_id);
    ASSERT_STR_EQ("after", p->body);
    stub_destroy(s);
}

TEST(next_500_exits_promptly)
{
    struct stub_event ev[2] = { { .fault = STUB_NEXT_500 }, { .body = "x" } };
    struct seen seen = { 0 };
    struct stub *s = stub_create(ev, 2);
    int64_t t0 = lp_test_now_ms();

    stub_start(s);
    ASSERT_STATUS(LP_EHTTP, run(s, 0, &seen));
    ASSERT_LE(lp_test_now_ms() - t0, 5000);
    ASSERT_EQ(0, seen.calls);
    ASSERT_EQ(1, stub_next_count(s)); /* no retry after a 500 */
    ASSERT_EQ(0, stub_post_count(s));
    stub_destroy(s);
}

/* Runs the loop over `ev` until it exits with `want`, stderr captured;
 * returns what was written (malloc'd). */
static char *capture_stderr(struct stub_event *ev, size_t n, lp_status want)
{
    struct seen seen = { 0 };
    struct stub *s = stub_create(ev, n);
    char path[] = "/tmp/lp-test-lambda-log.XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);
    char *out = calloc(1, 65536);
    ssize_t len;

    ASSERT_TRUE(fd >= 0 && saved >= 0 && out != NULL);
    unlink(path);
    stub_start(s);
    fflush(stderr);
    ASSERT_TRUE(dup2(fd, STDERR_FILENO) >= 0);
    ASSERT_STATUS(want, run(s, 0, &seen));
    ASSERT_TRUE(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    len = pread(fd, out, 65535, 0);
    ASSERT_TRUE(len > 0);
    close(fd);
    stub_destroy(s);
    return out;
}

/* A 413 on the first response (a WARN line) then a 500 on GET next (an
 * ERROR line). */
static char *run_capturing_stderr(void)
{
    struct stub_event ev[2] = { { .fault = STUB_RESPONSE_413, .body = "big" },
                                { .fault = STUB_NEXT_500 } };

    return capture_stderr(ev, 2, LP_EHTTP);
}

/* A header value over the runtime's cap is left out of the context, and
 * said so; the invocation is served. */
TEST(overlong_header_value_warned)
{
    struct stub_event ev[2] = { { .fault = STUB_HUGE_HEADER, .body = "h" },
                                { .fault = STUB_NEXT_500 } };
    char *out = capture_stderr(ev, 2, LP_EHTTP);

    ASSERT_TRUE(strstr(out, "event of req-0: 1 header value(s) over") != NULL);
    free(out);
}

/* AWS_LAMBDA_LOG_FORMAT=JSON: one JSON object a line, with Lambda's fields;
 * AWS_LAMBDA_LOG_LEVEL filters them; text lines otherwise. */
TEST(json_log_format_and_level)
{
    char *out, *line, *save = NULL;
    int warn = 0, error = 0, with_id = 0;

    setenv("AWS_LAMBDA_LOG_FORMAT", "JSON", 1);
    unsetenv("AWS_LAMBDA_LOG_LEVEL");
    out = run_capturing_stderr();
    for (line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        json_error_t err;
        json_t *doc = json_loads(line, 0, &err);
        const char *level, *stamp;
        ASSERT_TRUE(doc != NULL);
        level = json_string_value(json_object_get(doc, "level"));
        stamp = json_string_value(json_object_get(doc, "timestamp"));
        ASSERT_TRUE(level != NULL && stamp != NULL);
        ASSERT_EQ(24, strlen(stamp)); /* 2026-11-22T08:35:25.345Z */
        ASSERT_EQ('Z', stamp[23]);
        ASSERT_STR_EQ("lambdapool",
                      json_string_value(json_object_get(doc, "logger")));
        ASSERT_TRUE(json_is_string(json_object_get(doc, "message")));
        /* The 413 is logged while req-0 is handled; the 500 on GET next
         * after it, outside any invocation. */
        if (json_object_get(doc, "requestId") != NULL) {
            ASSERT_STR_EQ("req-0",
                          json_string_value(json_object_get(doc, "requestId")));
            ASSERT_STR_EQ("WARN", level);
            with_id++;
        }
        warn += strcmp(level, "WARN") == 0;
        error += strcmp(level, "ERROR") == 0;
        json_decref(doc);
    }
    ASSERT_TRUE(warn >= 1);    /* the 413 */
    ASSERT_TRUE(with_id >= 1); /* its line names the invocation */
    ASSERT_EQ(1, error);       /* the 500: exiting */
    free(out);

    setenv("AWS_LAMBDA_LOG_LEVEL", "error", 1);
    out = run_capturing_stderr();
    ASSERT_TRUE(strstr(out, "\"level\":\"ERROR\"") != NULL);
    ASSERT_TRUE(strstr(out, "\"level\":\"WARN\"") == NULL);
    free(out);

    unsetenv("AWS_LAMBDA_LOG_FORMAT");
    out = run_capturing_stderr(); /* the level applies to JSON only */
    ASSERT_TRUE(strncmp(out, "lambdapool: ", 12) == 0);
    ASSERT_TRUE(strstr(out, "refused as too large") != NULL);
    ASSERT_TRUE(strstr(out, "\"level\"") == NULL);
    free(out);
    unsetenv("AWS_LAMBDA_LOG_LEVEL");
}

TEST(next_403_exits)
{
    struct stub_event ev[1] = { { .fault = STUB_NEXT_403 } };
    struct seen seen = { 0 };
    struct stub *s = stub_create(ev, 1);

    stub_start(s);
    ASSERT_STATUS(LP_EHTTP, run(s, 0, &seen));
    ASSERT_EQ(0, seen.calls);
    stub_destroy(s);
}

TEST(response_500_exits)
{
    struct stub_event ev[2] = { { .fault = STUB_RESPONSE_500, .body = "a" },
                                { .body = "b" } };
    struct seen seen = { 0 };
    struct stub *s = stub_create(ev, 2);

    stub_start(s);
    ASSERT_STATUS(LP_EHTTP, run(s, 0, &seen));
    ASSERT_EQ(1, seen.calls);
    ASSERT_EQ(1, stub_post_count(s));
    stub_destroy(s);
}

TEST(connection_refused_exits)
{
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct seen seen = { 0 };
    char addr[32];
    int64_t t0 = lp_test_now_ms();

    snprintf(addr, sizeof(addr), "127.0.0.1:%d", stub_dead_port());
    o.runtime_api = addr;
    ASSERT_STATUS(LP_EHTTP, lp_lambda_run_with(echo, &seen, &o));
    ASSERT_LE(lp_test_now_ms() - t0, 5000);
    ASSERT_EQ(0, seen.calls);
    ASSERT_STATUS(LP_EHTTP,
                  lp_lambda_report_init_error(addr, "X.Y", "unreachable"));
}

TEST(dropped_body_is_answered_and_loop_goes_on)
{
    struct stub_event ev[2] = { { .fault = STUB_NEXT_DROP_BODY,
                                  .body = "{\"long\":\"0123456789\"}" },
                                { .body = "next" } };
    struct seen seen = { 0 };
    struct stub *s = stub_create(ev, 2);
    const struct stub_post *p;

    stub_start(s);
    ASSERT_OK(run(s, 2, &seen));
    ASSERT_EQ(1, seen.calls); /* the handler never saw half an event */
    ASSERT_EQ(2, stub_post_count(s));
    p = stub_post_get(s, 0);
    ASSERT_EQ('e', p->kind);
    ASSERT_STR_EQ("req-0", p->request_id);
    assert_error_doc(p, "Runtime.EventIncomplete");
    p = stub_post_get(s, 1);
    ASSERT_STR_EQ("req-1", p->request_id);
    ASSERT_STR_EQ("next", p->body);
    stub_destroy(s);
}

static void bad_id_case(enum stub_fault fault)
{
    struct stub_event ev[2] = { { .fault = fault }, { .body = "x" } };
    struct seen seen = { 0 };
    struct stub *s = stub_create(ev, 2);

    stub_start(s);
    ASSERT_STATUS(LP_EPROTO, run(s, 0, &seen));
    ASSERT_EQ(0, seen.calls);
    ASSERT_EQ(0, stub_post_count(s));
    stub_destroy(s);
}

TEST(missing_request_id_exits)
{
    bad_id_case(STUB_NO_REQUEST_ID);
}

TEST(overlong_request_id_exits)
{
    bad_id_case(STUB_LONG_REQUEST_ID);
}

TEST(malformed_request_id_exits)
{
    bad_id_case(STUB_BAD_REQUEST_ID);
}

/* The same when the event's body is cut off as well: the headers came
 * whole, so this is not a GET to retry (which served the next event and
 * lost this one without a word) but LP_EPROTO, nothing run, nothing posted.
 * A request id missing from whole headers likewise. */
TEST(unusable_request_id_with_a_cut_body_exits)
{
    static const char *const ids[] = { NULL, "bad id" };
    static char long_id[301];

    memset(long_id, 'a', sizeof(long_id) - 1);
    for (int i = 0; i < 3; i++) {
        const char *id = i < 2 ? ids[i] : long_id;
        static char raw[1024];
        struct stub_event ev[2] = { { .fault = STUB_RAW, .body = raw },
                                    { .body = "next" } };
        struct seen seen = { 0 };
        struct stub *s;

        if (id != NULL)
            snprintf(raw, sizeof(raw),
                     "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: "
                     "%s\r\nContent-Length: 100\r\n\r\n{\"cut\":",
                     id);
        else
            snprintf(raw, sizeof(raw),
                     "HTTP/1.1 200 OK\r\n"
                     "Content-Length: 100\r\n\r\n{\"cut\":");
        ev[0].len = strlen(raw);
        s = stub_create(ev, 2);
        stub_start(s);
        ASSERT_STATUS(LP_EPROTO, run(s, 1, &seen));
        ASSERT_EQ(0, seen.calls);
        ASSERT_EQ(0, stub_post_count(s));
        stub_destroy(s);
    }
}

TEST(garbage_headers_and_implausible_deadline)
{
    struct stub_event ev[4] = {
        { .fault = STUB_NO_COLON_HEADER, .body = "z" },
        { .fault = STUB_GARBAGE_HEADERS, .deadline = "5000", .body = "a" },
        { .deadline = "", .body = "b" },
        { .deadline = "12abc", .trace_id = "", .body = "c" }
    };
    struct seen seen = { 0 };
    struct stub *s = stub_create(ev, 4);
    const struct stub_post *p;

    stub_start(s);
    ASSERT_OK(run(s, 4, &seen));
    ASSERT_EQ(3, seen.calls);
    ASSERT_EQ(4, stub_post_count(s));
    /* libcurl refuses a header line without a colon: answered, not lost. */
    p = stub_post_get(s, 0);
    ASSERT_EQ('e', p->kind);
    ASSERT_STR_EQ("req-0", p->request_id);
    assert_error_doc(p, "Runtime.EventUnreadable");
    ASSERT_STR_EQ("a", stub_post_get(s, 1)->body);
    ASSERT_STR_EQ("c", stub_post_get(s, 3)->body);
    /* No deadline: never an instant timeout. */
    ASSERT_EQ(0, seen.deadline_epoch_ms);
    ASSERT_TRUE(seen.deadline == LP_DEADLINE_NEVER);
    ASSERT_TRUE(seen.remaining_ms == INT64_MAX);
    ASSERT_STR_EQ("", seen.trace_id);
    ASSERT_STR_EQ("", seen.trace_env); /* unset when absent */
    stub_destroy(s);
}

/* Runs one event whose deadline header is `deadline` (NULL: none) and
 * returns what the handler saw. */
static struct seen one_deadline(const char *deadline)
{
    struct stub_event ev = { .deadline = deadline, .body = "d" };
    struct seen seen = { 0 };
    struct stub *s;

    if (deadline == NULL)
        ev.fault = STUB_NO_DEADLINE;
    s = stub_create(&ev, 1);
    stub_start(s);
    ASSERT_OK(run(s, 1, &seen));
    ASSERT_EQ(1, seen.calls);
    ASSERT_STR_EQ("d", stub_post_get(s, 0)->body);
    stub_destroy(s);
    return seen;
}

static int64_t now_epoch_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Missing, or an hour past (a replayed event): no deadline, never an
 * instant timeout. Seconds past: a real deadline, already reached. */
TEST(missing_or_long_past_deadline_means_none)
{
    char raw[32];
    struct seen seen = one_deadline(NULL);

    ASSERT_TRUE(seen.deadline == LP_DEADLINE_NEVER);
    ASSERT_TRUE(seen.remaining_ms == INT64_MAX);
    snprintf(raw, sizeof(raw), "%lld", (long long)(now_epoch_ms() - 3600000));
    seen = one_deadline(raw);
    ASSERT_TRUE(seen.deadline == LP_DEADLINE_NEVER);
    ASSERT_EQ(0, seen.deadline_epoch_ms);
    snprintf(raw, sizeof(raw), "%lld", (long long)(now_epoch_ms() - 2000));
    seen = one_deadline(raw);
    ASSERT_TRUE(seen.deadline != LP_DEADLINE_NEVER);
    ASSERT_EQ(0, seen.remaining_ms);
}

/* Occurrences of `needle` in `text` (one per warning line). */
static int occurrences(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/*
 * The warning about meaningless deadline headers is said once per process:
 * the case above, run alone in a fresh process (the flag is process-wide,
 * and earlier cases here may have set it), meets two such headers.
 */
TEST(deadline_warning_said_once_per_process)
{
    char path[] = "/tmp/lp-test-lambda-warn.XXXXXX";
    int fd = mkstemp(path), status;
    char *out = calloc(1, 65536);
    pid_t pid;

    ASSERT_TRUE(fd >= 0 && out != NULL);
    unlink(path);
    fflush(NULL);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(fd, STDERR_FILENO);
        dup2(null, STDOUT_FILENO); /* its "ok" lines are not ours */
        execl("/proc/self/exe", "test-lambda-runtime",
              "missing_or_long_past_deadline_means_none", (char *)NULL);
        _exit(127);
    }
    ASSERT_EQ(pid, waitpid(pid, &status, 0));
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_TRUE(pread(fd, out, 65535, 0) > 0);
    close(fd);
    ASSERT_EQ(1, occurrences(out, "is not a plausible Unix time in ms"));
    free(out);
}

TEST(deadline_plausible_window)
{
    const int64_t now = 1790000000000LL;
    int64_t v = 0;

    ASSERT_TRUE(lp__lambda_parse_deadline("1790000900000", now, &v));
    ASSERT_EQ(1790000900000LL, v);
    ASSERT_TRUE(lp__lambda_parse_deadline("1789999950000", now, &v));
    ASSERT_FALSE(lp__lambda_parse_deadline("1789999900000", now, &v));
    ASSERT_FALSE(lp__lambda_parse_deadline("1790086400001", now, &v));
    ASSERT_FALSE(lp__lambda_parse_deadline("5000", now, &v));
    ASSERT_FALSE(lp__lambda_parse_deadline("-5", now, &v));
    ASSERT_FALSE(lp__lambda_parse_deadline("", now, &v));
}

TEST(request_id_dot_segments_refused)
{
    ASSERT_FALSE(lp__lambda_request_id_ok(".", 1));
    ASSERT_FALSE(lp__lambda_request_id_ok("..", 2));
    ASSERT_FALSE(lp__lambda_request_id_ok("..x", 2)); /* the first 2 bytes */
    ASSERT_TRUE(lp__lambda_request_id_ok("..x", 3));
    ASSERT_TRUE(lp__lambda_request_id_ok("a.b", 3));
    ASSERT_TRUE(
        lp__lambda_request_id_ok("8476a536-e9f4-11e8-9739-2dfe598c3fcd", 36));
}

TEST(event_too_large_is_answered)
{
    static char big[5000];
    struct stub_event ev[2] = { { .body = big }, { .body = "small" } };
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct seen seen = { 0 };
    struct stub *s;

    memset(big, 'x', sizeof(big) - 1);
    s = stub_create(ev, 2);
    stub_start(s);
    o.runtime_api = stub_addr(s);
    o.max_invocations = 2;
    o.max_event_bytes = 1000;
    ASSERT_OK(lp_lambda_run_with(echo, &seen, &o));
    ASSERT_EQ(1, seen.calls);
    ASSERT_EQ(2, stub_post_count(s));
    assert_error_doc(stub_post_get(s, 0), "Runtime.EventTooLarge");
    ASSERT_STR_EQ("small", stub_post_get(s, 1)->body);
    stub_destroy(s);
}

TEST(bad_arguments)
{
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct seen seen = { 0 };

    ASSERT_STATUS(LP_EINVAL, lp_lambda_run_with(NULL, NULL, NULL));
    o.runtime_api = "";
    ASSERT_STATUS(LP_EINVAL, lp_lambda_run_with(echo, &seen, &o));
    o.runtime_api = "127.0.0.1:1";
    o.max_concurrency = -1;
    ASSERT_STATUS(LP_EINVAL, lp_lambda_run_with(echo, &seen, &o));
    o.max_concurrency = 0;
    o.deadline_margin_ms = -5;
    ASSERT_STATUS(LP_EINVAL, lp_lambda_run_with(echo, &seen, &o));
    ASSERT_STATUS(LP_EINVAL, lp_lambda_reply(NULL, "x", 1));
    ASSERT_STATUS(LP_EINVAL, lp_lambda_event_json(NULL, NULL));
    lp_lambda_fail(NULL, "X", "no crash");
    lp_lambda_init_fail(NULL, "X", "no crash");
    ASSERT_EQ(0, lp_lambda_cancel_pending(NULL, 3));
    ASSERT_TRUE(lp_lambda_remaining_ms(NULL) == INT64_MAX);
    ASSERT_STATUS(LP_EINVAL, lp_lambda_gather(NULL, NULL, 0, NULL, NULL));
}

/* JSON in, JSON out, through the helpers. */
static void json_handler(lp_lambda_invocation *inv,
                         const lp_lambda_context *ctx, const char *event,
                         size_t len, void *arg)
{
    json_t *in, *out;

    (void)ctx, (void)event, (void)len, (void)arg;
    if (lp_lambda_event_json(inv, &in) != LP_OK) {
        lp_lambda_fail(inv, "Runtime.InvalidEvent", "event is not JSON");
        return;
    }
    out = json_pack("{s:I}", "n",
                    json_integer_value(json_object_get(in, "n")) + 1);
    ASSERT_OK(lp_lambda_reply_json(inv, out));
    json_decref(out);
    json_decref(in);
}

TEST(json_helpers)
{
    struct stub_event ev[2] = { { .body = "{\"n\": 41}" },
                                { .body = "{not json" } };
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct stub *s = stub_create(ev, 2);

    stub_start(s);
    o.runtime_api = stub_addr(s);
    o.max_invocations = 2;
    ASSERT_OK(lp_lambda_run_with(json_handler, NULL, &o));
    ASSERT_STR_EQ("{\"n\":42}", stub_post_get(s, 0)->body);
    assert_error_doc(stub_post_get(s, 1), "Runtime.InvalidEvent");
    stub_destroy(s);
}

/* Checks nothing about statuses: under allocation failures any may come. */
static void tolerant(lp_lambda_invocation *inv, const lp_lambda_context *ctx,
                     const char *event, size_t len, void *arg)
{
    (void)arg;
    if (strcmp(event, "fail") == 0)
        lp_lambda_fail(inv, "Test.Failure", "failed in %s", ctx->request_id);
    else
        lp_lambda_reply(inv, event, len);
}

/*
 * Makes the Nth allocation of the runtime fail, for every N until a run
 * needs no failing allocation: never a crash or a leak (ASan), and either
 * every invocation is answered or the loop reports LP_ENOMEM.
 */
TEST(allocation_failures_never_crash)
{
    long n;

    for (n = 0; n < 200; n++) {
        struct stub_event ev[3] = { { .body = "a" },
                                    { .body = "fail" },
                                    { .body = "c" } };
        lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
        struct stub *s = stub_create(ev, 3);
        long failures;
        lp_status st;

        stub_start(s);
        o.runtime_api = stub_addr(s);
        o.max_invocations = 3;
        lp__alloc_fail_after(n);
        st = lp_lambda_run_with(tolerant, NULL, &o);
        failures = lp__alloc_failures();
        lp__alloc_fail_after(-1);
        ASSERT_TRUE(st == LP_OK || st == LP_ENOMEM);
        if (st == LP_OK)
            ASSERT_EQ(3, stub_post_count(s));
        stub_destroy(s);
        if (failures == 0) {
            ASSERT_OK(st);
            break;
        }
    }
    ASSERT_TRUE(n > 5 && n < 200); /* the sweep reached a clean run */
}

/* Distinct trace ids, one after another: the environment follows. */
static void trace_check(lp_lambda_invocation *inv, const lp_lambda_context *ctx,
                        const char *event, size_t len, void *arg)
{
    const char *env = getenv("_X_AMZN_TRACE_ID");

    (void)event, (void)len;
    ASSERT_STR_EQ(ctx->trace_id, env ? env : "");
    (*(int *)arg)++;
    lp_lambda_reply_str(inv, "{}");
}

TEST(trace_env_follows_each_invocation)
{
    enum { N = 50 };
    static struct stub_event ev[N];
    static char ids[N][80];
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct stub *s;
    int calls = 0;

    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "Root=1-%08x-%024d;Sampled=1", i, i);
        ev[i].trace_id = i % 7 == 3 ? "" : ids[i];
    }
    s = stub_create(ev, N);
    stub_start(s);
    o.runtime_api = stub_addr(s);
    o.max_invocations = N;
    ASSERT_OK(lp_lambda_run_with(trace_check, &calls, &o));
    ASSERT_EQ(N, calls);
    stub_destroy(s);
}

/* ---- Added by the mutation audit (paste before LP_TEST_MAIN() in
 * tests/test-lambda-runtime.c; needs #include <pthread.h> at the top). ---- */

struct bg_run {
    struct stub *s;
    uint64_t n;
    struct seen seen;
    lp_status st;
    atomic_int returned;
};

static void *bg_run_main(void *arg)
{
    struct bg_run *b = arg;

    b->st = run(b->s, b->n, &b->seen);
    atomic_store(&b->returned, 1);
    return NULL;
}

/* GET next has no timeout: a long poll (here 2.5 s with nothing to hand
 * out) is neither given up nor retried. [mutant: CURLOPT_TIMEOUT 1 s] */
TEST(next_long_poll_has_no_timeout)
{
    struct stub_event ev[1] = { { .body = "first" } };
    struct bg_run b = { 0 };
    pthread_t th;

    b.s = stub_create(ev, 1);
    b.n = 2;
    stub_start(b.s);
    ASSERT_EQ(0, pthread_create(&th, NULL, bg_run_main, &b));
    ASSERT_TRUE(stub_wait_posts(b.s, 1, 5000));
    lp_test_sleep_ms(2500);
    ASSERT_EQ(0, atomic_load(&b.returned)); /* still waiting */
    ASSERT_EQ(2, stub_next_count(b.s));     /* one GET, still open */
    stub_destroy(b.s); /* ends the poll: the loop then gives up */
    ASSERT_EQ(0, pthread_join(th, NULL));
    ASSERT_STATUS(LP_EHTTP, b.st);
    ASSERT_EQ(1, b.seen.calls);
}

/* lp_lambda_reply with len 0 sends an empty body, not JSON null.
 * [mutant: an empty reply posted as "null"] */
TEST(empty_reply_is_empty_body)
{
    struct stub_event ev[1] = { { .body = "" } }; /* echo replies "" */
    struct seen seen = { 0 };
    struct stub *s = stub_create(ev, 1);
    const struct stub_post *p;

    stub_start(s);
    ASSERT_OK(run(s, 1, &seen));
    p = stub_post_get(s, 0);
    ASSERT_EQ('r', p->kind);
    ASSERT_EQ(0, p->len);
    ASSERT_STR_EQ("", p->body);
    stub_destroy(s);
}

/* A trace id too long for the runtime's buffer still reaches
 * _X_AMZN_TRACE_ID (setenv fallback), and a short one after it too.
 * [mutant: the over-long value only unsets the variable] */
TEST(long_trace_id_reaches_environment)
{
    static char long_id[700];
    struct stub_event ev[3] = { { .trace_id = long_id },
                                { .trace_id = "Root=1-short;Sampled=1" },
                                { .trace_id = long_id } };
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct stub *s;
    int calls = 0;

    memcpy(long_id, "Root=1-", 7);
    memset(long_id + 7, 'a', sizeof(long_id) - 8);
    s = stub_create(ev, 3);
    stub_start(s);
    o.runtime_api = stub_addr(s);
    o.max_invocations = 3;
    ASSERT_OK(lp_lambda_run_with(trace_check, &calls, &o));
    ASSERT_EQ(3, calls);
    stub_destroy(s);
}

/* The request-id length limit is exactly LP__LAMBDA_ID_MAX: longer ids
 * would not fit the POST path buffers. [mutant: limit + 64] */
TEST(request_id_length_limit)
{
    char id[LP__LAMBDA_ID_MAX + 2];

    memset(id, 'a', sizeof(id));
    ASSERT_TRUE(lp__lambda_request_id_ok(id, LP__LAMBDA_ID_MAX));
    ASSERT_FALSE(lp__lambda_request_id_ok(id, LP__LAMBDA_ID_MAX + 1));
    ASSERT_FALSE(lp__lambda_request_id_ok(id, LP__LAMBDA_ID_MAX + 2));
}

/* deadline_epoch_ms is the header as sent and lp_lambda_remaining_ms
 * counts to it (without the margin, on the real-time clock), while
 * ctx->deadline is the margin earlier. [mutants: remaining from
 * ctx->deadline; deadline_epoch_ms minus the margin; remaining computed
 * against CLOCK_MONOTONIC] */
TEST(remaining_time_is_to_the_real_deadline)
{
    char raw[32];
    int64_t sent = now_epoch_ms() + 60000;
    struct stub_event ev = { .deadline = raw, .body = "d" };
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct seen seen = { 0 };
    struct stub *s;

    snprintf(raw, sizeof(raw), "%lld", (long long)sent);
    s = stub_create(&ev, 1);
    stub_start(s);
    o.runtime_api = stub_addr(s);
    o.max_invocations = 1;
    o.deadline_margin_ms = 10000;
    ASSERT_OK(lp_lambda_run_with(echo, &seen, &o));
    ASSERT_EQ(sent, seen.deadline_epoch_ms);
    ASSERT_GE(seen.remaining_ms, 55000); /* ~60 s: no margin */
    ASSERT_LE(seen.remaining_ms, 60000);
    ASSERT_LE(lp_deadline_remaining_ms(seen.deadline), 50000); /* margin */
    ASSERT_GE(lp_deadline_remaining_ms(seen.deadline), 45000);
    stub_destroy(s);
}

/* Echoes the event through the JSON helpers: any JSON value in and out. */
static void json_any_handler(lp_lambda_invocation *inv,
                             const lp_lambda_context *ctx, const char *event,
                             size_t len, void *arg)
{
    json_t *v;

    (void)ctx, (void)event, (void)len, (void)arg;
    if (lp_lambda_event_json(inv, &v) != LP_OK) {
        lp_lambda_fail(inv, "Test.NotJson", "not JSON");
        return;
    }
    if (lp_lambda_reply_json(inv, v) != LP_OK)
        lp_lambda_fail(inv, "Test.NoEncode", "could not encode");
    json_decref(v);
}

/* lp_lambda_event_json and lp_lambda_reply_json take any JSON value, not
 * only objects and arrays. [mutants: no JSON_DECODE_ANY / JSON_ENCODE_ANY] */
TEST(json_helpers_any_value)
{
    struct stub_event ev[5] = { { .body = "5" },
                                { .body = "\"s\"" },
                                { .body = "true" },
                                { .body = "null" },
                                { .body = "[1, {\"a\": 2}]" } };
    const char *want[5] = { "5", "\"s\"", "true", "null", "[1,{\"a\":2}]" };
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct stub *s = stub_create(ev, 5);

    stub_start(s);
    o.runtime_api = stub_addr(s);
    o.max_invocations = 5;
    ASSERT_OK(lp_lambda_run_with(json_any_handler, NULL, &o));
    ASSERT_EQ(5, stub_post_count(s));
    for (size_t i = 0; i < 5; i++) {
        ASSERT_EQ('r', stub_post_get(s, i)->kind);
        ASSERT_STR_EQ(want[i], stub_post_get(s, i)->body);
    }
    stub_destroy(s);
}

/* Header names are case-insensitive (HTTP/1.1; HTTP/2 and some proxies
 * send them lower-case). [mutant: strncmp in name_is] */
TEST(header_names_any_case)
{
    static char raw[512];
    struct stub_event ev[1] = { { .fault = STUB_RAW, .body = raw } };
    struct seen seen = { 0 };
    struct stub *s;
    const struct stub_post *p;

    snprintf(raw, sizeof(raw),
             "HTTP/1.1 200 OK\r\n"
             "lambda-runtime-aws-request-id: req-low\r\n"
             "LAMBDA-RUNTIME-DEADLINE-MS: %lld\r\n"
             "lambda-runtime-invoked-function-arn: arn:low\r\n"
             "lambda-runtime-trace-id: Root=1-low\r\n"
             "lambda-runtime-aws-tenant-id: t-low\r\n"
             "content-length: 2\r\n\r\n{}",
             (long long)now_epoch_ms() + 60000);
    ev[0].len = strlen(raw);
    s = stub_create(ev, 1);
    stub_start(s);
    ASSERT_OK(run(s, 1, &seen));
    ASSERT_EQ(1, seen.calls);
    ASSERT_STR_EQ("req-low", seen.request_id);
    ASSERT_STR_EQ("arn:low", seen.arn);
    ASSERT_STR_EQ("Root=1-low", seen.trace_id);
    ASSERT_STR_EQ("t-low", seen.tenant);
    ASSERT_TRUE(seen.deadline_epoch_ms > 0);
    p = stub_post_get(s, 0);
    ASSERT_EQ('r', p->kind);
    ASSERT_STR_EQ("req-low", p->request_id);
    stub_destroy(s);
}

/* A GET next that fails in transit before any header (the connection
 * closed with no answer) is retried, and the next event is served.
 * [mutant: NEXT_RETRIES 0] */
TEST(next_failed_in_transit_is_retried)
{
    struct stub_event ev[2] = { { .fault = STUB_RAW, .body = "", .len = 0 },
                                { .body = "after" } };
    struct seen seen = { 0 };
    struct stub *s = stub_create(ev, 2);

    stub_start(s);
    ASSERT_OK(run(s, 1, &seen));
    ASSERT_EQ(1, seen.calls);
    ASSERT_EQ(2, stub_next_count(s));
    ASSERT_STR_EQ("req-1", stub_post_get(s, 0)->request_id);
    ASSERT_STR_EQ("after", stub_post_get(s, 0)->body);
    stub_destroy(s);
}

/* An over-long request id ends the loop with an error that says why.
 * [mutant: the log line says "no ... Request-Id" whatever the cause] */
TEST(overlong_request_id_error_says_why)
{
    struct stub_event ev[2] = { { .fault = STUB_LONG_REQUEST_ID },
                                { .body = "x" } };
    char *out = capture_stderr(ev, 2, LP_EPROTO);

    ASSERT_TRUE(strstr(out, "over-long or malformed "
                            "Lambda-Runtime-Aws-Request-Id") != NULL);
    free(out);
}

/* Fails with an error type unfit for a header line. */
static void failing_odd_type(lp_lambda_invocation *inv,
                             const lp_lambda_context *ctx, const char *event,
                             size_t len, void *arg)
{
    (void)ctx, (void)event, (void)len, (void)arg;
    lp_lambda_fail(inv, "Odd\r\nInjected: 1\xff", "odd type");
}

/* On /error, as in a stream's trailer, the error type is printable ASCII:
 * no header can be injected, and the document says the same type.
 * [mutant: post_error skips lp__lambda_error_type_safe] */
TEST(error_type_header_is_safe)
{
    struct stub_event ev[1] = { { .body = "{}" } };
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct stub *s = stub_create(ev, 1);
    const struct stub_post *p;

    stub_start(s);
    o.runtime_api = stub_addr(s);
    o.max_invocations = 1;
    ASSERT_OK(lp_lambda_run_with(failing_odd_type, NULL, &o));
    ASSERT_EQ(1, stub_post_count(s));
    p = stub_post_get(s, 0);
    ASSERT_EQ('e', p->kind);
    assert_error_doc(p, "Odd??Injected: 1?");
    stub_destroy(s);
}

/* ---- These need newtests/lambda-stub.patch (STUB_ERROR_500, and the stub
 * records Content-Type). ---- */

/* A 500 on POST .../error means "exit promptly", as on a response.
 * [mutant: post_error returns LP_OK on >= 500] */
TEST(error_500_exits)
{
    struct stub_event ev[2] = { { .fault = STUB_ERROR_500, .body = "fail" },
                                { .body = "never" } };
    struct seen seen = { 0 };
    struct stub *s = stub_create(ev, 2);

    stub_start(s);
    ASSERT_STATUS(LP_EHTTP, run(s, 2, &seen));
    ASSERT_EQ(1, seen.calls);
    ASSERT_EQ(1, stub_post_count(s));
    ASSERT_EQ('e', stub_post_get(s, 0)->kind);
    ASSERT_EQ(500, stub_post_get(s, 0)->status);
    stub_destroy(s);
}

/* Responses and errors go as application/json. */
TEST(posts_are_json)
{
    struct stub_event ev[2] = { { .body = "{}" }, { .body = "fail" } };
    struct seen seen = { 0 };
    struct stub *s = stub_create(ev, 2);

    stub_start(s);
    ASSERT_OK(run(s, 2, &seen));
    ASSERT_STR_EQ("application/json", stub_post_get(s, 0)->content_type);
    ASSERT_STR_EQ("application/json", stub_post_get(s, 1)->content_type);
    stub_destroy(s);
}

/* The last call wins: a reply after a failure is what is posted, and a
 * failure after a reply too. */
static void changes_mind(lp_lambda_invocation *inv,
                         const lp_lambda_context *ctx, const char *event,
                         size_t len, void *arg)
{
    (void)ctx, (void)len, (void)arg;
    if (strcmp(event, "fail-then-reply") == 0) {
        lp_lambda_fail(inv, "Test.First", "first");
        ASSERT_OK(lp_lambda_reply_str(inv, "\"second\""));
    } else {
        ASSERT_OK(lp_lambda_reply_str(inv, "\"first\""));
        lp_lambda_fail(inv, "Test.Second", "second");
    }
}

/* [mutant: lp_lambda_reply does not clear an earlier failure] */
TEST(later_reply_clears_failure)
{
    struct stub_event ev[2] = { { .body = "fail-then-reply" },
                                { .body = "reply-then-fail" } };
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct stub *s = stub_create(ev, 2);

    stub_start(s);
    o.runtime_api = stub_addr(s);
    o.max_invocations = 2;
    ASSERT_OK(lp_lambda_run_with(changes_mind, NULL, &o));
    ASSERT_EQ(2, stub_post_count(s));
    ASSERT_EQ('r', stub_post_get(s, 0)->kind);
    ASSERT_STR_EQ("\"second\"", stub_post_get(s, 0)->body);
    ASSERT_EQ('e', stub_post_get(s, 1)->kind);
    assert_error_doc(stub_post_get(s, 1), "Test.Second");
    stub_destroy(s);
}

LP_TEST_MAIN()

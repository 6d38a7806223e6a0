/*
 * Response streaming against the Runtime API stub: the chunked POST with
 * Lambda-Runtime-Function-Response-Mode: streaming, back-pressure past the
 * stream buffer, error trailers after a failure mid-stream, and what the
 * API's refusals do to the loop.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "lambda-stub.h"
#include "lp-test.h"

#define BIG (200 * 1024)

static char big[BIG + 1];

/* "stream": three writes and a big one; "fail": a write then a failure;
 * "fail-odd-type": the same with an error type unfit for a trailer;
 * anything else: a plain reply. */
static void streamer(lp_lambda_invocation *inv, const lp_lambda_context *ctx,
                     const char *event, size_t len, void *arg)
{
    (void)ctx, (void)arg;
    if (strcmp(event, "stream") == 0) {
        ASSERT_OK(lp_lambda_stream_content_type(inv, "text/plain"));
        ASSERT_OK(lp_lambda_stream_write(inv, "hello ", 6));
        ASSERT_OK(lp_lambda_stream_write(inv, "streamed ", 9));
        ASSERT_OK(lp_lambda_stream_write(inv, big, BIG));
        ASSERT_OK(lp_lambda_stream_write(inv, "end", 3));
        ASSERT_STATUS(LP_ESTATE, lp_lambda_reply(inv, "x", 1));
        ASSERT_STATUS(LP_ESTATE, lp_lambda_stream_content_type(inv, "a/b"));
    } else if (strcmp(event, "fail") == 0) {
        ASSERT_OK(lp_lambda_stream_write(inv, "partial", 7));
        lp_lambda_fail(inv, "Test.StreamFail", "broke after %d bytes", 7);
    } else if (strcmp(event, "fail-odd-type") == 0) {
        ASSERT_OK(lp_lambda_stream_write(inv, "partial", 7));
        lp_lambda_fail(inv, "Odd\r\nInjected: 1\xff", "odd type");
    } else {
        ASSERT_OK(lp_lambda_reply(inv, event, len));
    }
}

static lp_status run(struct stub *s, uint64_t n)
{
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;

    o.runtime_api = stub_addr(s);
    o.max_invocations = n;
    return lp_lambda_run_with(streamer, NULL, &o);
}

static int b64_value(char c)
{
    const char *a =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = strchr(a, c);

    return c != '\0' && p != NULL ? (int)(p - a) : -1;
}

/* Decodes padded base64 into out (NUL-terminated); returns its length. */
static size_t b64_decode(const char *in, char *out)
{
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;

    for (; *in && *in != '='; in++) {
        int v = b64_value(*in);
        ASSERT_TRUE(v >= 0);
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    return n;
}

TEST(stream_then_plain_reply)
{
    struct stub_event ev[2] = { { .body = "stream" }, { .body = "plain" } };
    struct stub *s = stub_create(ev, 2);
    const struct stub_post *p;

    memset(big, 'x', BIG);
    stub_start(s);
    ASSERT_OK(run(s, 2));
    ASSERT_EQ(2, stub_post_count(s));
    p = stub_post_get(s, 0);
    ASSERT_EQ('r', p->kind);
    ASSERT_STR_EQ("req-0", p->request_id);
    ASSERT_STR_EQ("streaming", p->response_mode);
    ASSERT_EQ(6 + 9 + BIG + 3, p->len);
    ASSERT_TRUE(memcmp(p->body, "hello streamed xxx", 18) == 0);
    ASSERT_STR_EQ("xend", p->body + p->len - 4);
    ASSERT_STR_EQ("", p->trailer_type);
    /* The loop goes on with the next, ordinary, answer. */
    p = stub_post_get(s, 1);
    ASSERT_STR_EQ("", p->response_mode);
    ASSERT_STR_EQ("plain", p->body);
    stub_destroy(s);
}

TEST(failure_mid_stream_goes_in_trailers)
{
    struct stub_event ev[2] = { { .body = "fail" }, { .body = "after" } };
    struct stub *s = stub_create(ev, 2);
    const struct stub_post *p;
    char doc[2048];
    json_t *j;

    stub_start(s);
    ASSERT_OK(run(s, 2));
    p = stub_post_get(s, 0);
    ASSERT_EQ('r', p->kind);
    ASSERT_STR_EQ("partial", p->body);
    ASSERT_STR_EQ("Test.StreamFail", p->trailer_type);
    b64_decode(p->trailer_body, doc);
    j = json_loads(doc, 0, NULL);
    ASSERT_TRUE(j != NULL);
    ASSERT_STR_EQ("Test.StreamFail",
                  json_string_value(json_object_get(j, "errorType")));
    ASSERT_STR_EQ("broke after 7 bytes",
                  json_string_value(json_object_get(j, "errorMessage")));
    json_decref(j);
    ASSERT_STR_EQ("after", stub_post_get(s, 1)->body);
    stub_destroy(s);
}

static void assert_full_stream(const struct stub_post *p, const char *id)
{
    ASSERT_STR_EQ(id, p->request_id);
    ASSERT_STR_EQ("streaming", p->response_mode);
    ASSERT_EQ(6 + 9 + BIG + 3, p->len);
    ASSERT_TRUE(memcmp(p->body, "hello streamed xxx", 18) == 0);
    ASSERT_STR_EQ("xend", p->body + p->len - 4);
    ASSERT_STR_EQ("", p->trailer_type);
}

/* A warm function streams every invocation: each stream, after another
 * stream, after one that ended in trailers, after a plain reply, goes out
 * whole (libcurl 7.88 corrupted its heap on a handle's second chunked
 * upload with a trailer callback). */
TEST(streams_in_a_row)
{
    struct stub_event ev[5] = { { .body = "stream" },
                                { .body = "stream" },
                                { .body = "fail" },
                                { .body = "stream" },
                                { .body = "plain" } };
    struct stub *s = stub_create(ev, 5);

    memset(big, 'x', BIG);
    stub_start(s);
    ASSERT_OK(run(s, 5));
    ASSERT_EQ(5, stub_post_count(s));
    assert_full_stream(stub_post_get(s, 0), "req-0");
    assert_full_stream(stub_post_get(s, 1), "req-1");
    ASSERT_STR_EQ("Test.StreamFail", stub_post_get(s, 2)->trailer_type);
    assert_full_stream(stub_post_get(s, 3), "req-3");
    ASSERT_STR_EQ("plain", stub_post_get(s, 4)->body);
    stub_destroy(s);
}

/* The error type goes into a trailer as into /error's header: printable
 * ASCII only, the same value in the trailer and in the error document. */
TEST(stream_error_type_is_header_safe)
{
    struct stub_event ev[1] = { { .body = "fail-odd-type" } };
    struct stub *s = stub_create(ev, 1);
    const struct stub_post *p;
    char doc[2048];
    json_t *j;

    stub_start(s);
    ASSERT_OK(run(s, 1));
    p = stub_post_get(s, 0);
    ASSERT_STR_EQ("Odd??Injected: 1?", p->trailer_type);
    b64_decode(p->trailer_body, doc);
    j = json_loads(doc, 0, NULL);
    ASSERT_TRUE(j != NULL);
    ASSERT_STR_EQ("Odd??Injected: 1?",
                  json_string_value(json_object_get(j, "errorType")));
    json_decref(j);
    stub_destroy(s);
}

TEST(stream_refused_413_loop_goes_on)
{
    struct stub_event ev[2] = {
        { .fault = STUB_RESPONSE_413, .body = "stream" }, { .body = "next" }
    };
    struct stub *s = stub_create(ev, 2);

    stub_start(s);
    ASSERT_OK(run(s, 2));
    ASSERT_EQ(413, stub_post_get(s, 0)->status);
    ASSERT_STR_EQ("next", stub_post_get(s, 1)->body);
    stub_destroy(s);
}

TEST(stream_answered_500_exits)
{
    struct stub_event ev[2] = {
        { .fault = STUB_RESPONSE_500, .body = "stream" }, { .body = "never" }
    };
    struct stub *s = stub_create(ev, 2);

    stub_start(s);
    ASSERT_STATUS(LP_EHTTP, run(s, 0));
    ASSERT_EQ(1, stub_post_count(s));
    stub_destroy(s);
}

TEST(stream_bad_arguments)
{
    ASSERT_STATUS(LP_EINVAL, lp_lambda_stream_write(NULL, "x", 1));
    ASSERT_STATUS(LP_EINVAL, lp_lambda_stream_content_type(NULL, "a/b"));
}

/* ---- Added by the mutation audit (paste before LP_TEST_MAIN() in
 * tests/test-lambda-stream.c; needs newtests/lambda-stub.patch, which makes
 * the stub record Content-Type and the Trailer header of each POST). ---- */

/* A stream declares both error trailers (RIE reads them from the request's
 * declared trailers) and carries the handler's Content-Type, or
 * application/octet-stream by default. [mutants: no Trailer header;
 * lp_lambda_stream_content_type ignored] */
TEST(stream_declares_trailers_and_content_type)
{
    struct stub_event ev[2] = { { .body = "stream" }, { .body = "fail" } };
    struct stub *s = stub_create(ev, 2);
    const struct stub_post *p;

    memset(big, 'x', BIG);
    stub_start(s);
    ASSERT_OK(run(s, 2));
    for (size_t i = 0; i < 2; i++) {
        p = stub_post_get(s, i);
        ASSERT_STR_EQ("streaming", p->response_mode);
        ASSERT_TRUE(strstr(p->trailer_decl,
                           "Lambda-Runtime-Function-Error-Type") != NULL);
        ASSERT_TRUE(strstr(p->trailer_decl,
                           "Lambda-Runtime-Function-Error-Body") != NULL);
    }
    ASSERT_STR_EQ("text/plain", stub_post_get(s, 0)->content_type);
    ASSERT_STR_EQ("application/octet-stream",
                  stub_post_get(s, 1)->content_type);
    stub_destroy(s);
}

/* The error document in the Error-Body trailer is the full one, with
 * stackTrace, as on /error. */
TEST(stream_error_body_is_full_error_document)
{
    struct stub_event ev[1] = { { .body = "fail" } };
    struct stub *s = stub_create(ev, 1);
    char doc[2048];
    json_t *j;

    stub_start(s);
    ASSERT_OK(run(s, 1));
    b64_decode(stub_post_get(s, 0)->trailer_body, doc);
    j = json_loads(doc, 0, NULL);
    ASSERT_TRUE(j != NULL);
    ASSERT_TRUE(json_is_array(json_object_get(j, "stackTrace")));
    json_decref(j);
    stub_destroy(s);
}

LP_TEST_MAIN()

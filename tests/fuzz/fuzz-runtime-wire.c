/*
 * Fuzz target: the whole runtime against arbitrary bytes on the wire. The
 * input is sent verbatim as the Runtime API's answer to GET next (then the
 * connection closes; later requests find the API gone), and lp_lambda_run_with
 * runs one invocation slot over it through libcurl, the header parser, the
 * handler and the POST of its answer. Whatever arrives, the runtime must end
 * with one of its documented statuses, without crashing or leaking.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal/lambda_impl.h"
#include "lambda-stub.h"

static void echo(lp_lambda_invocation *inv, const lp_lambda_context *ctx,
                 const char *event, size_t len, void *arg)
{
    json_t *j;

    (void)ctx, (void)arg;
    if (lp_lambda_event_json(inv, &j) == LP_OK) {
        lp_lambda_reply_json(inv, j);
        json_decref(j);
    } else {
        lp_lambda_reply(inv, event, len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stub_event ev[1] = {
        { .fault = STUB_RAW, .body = (const char *)data, .len = size }
    };
    lp_lambda_options o = LP_LAMBDA_OPTIONS_INIT;
    struct stub *s;
    lp_status st;

    lp__lambda_set_retry_delay_ms(0);
    s = stub_create(ev, 1);
    stub_close_when_done(s);
    stub_start(s);
    o.runtime_api = stub_addr(s);
    o.max_invocations = 1;
    o.max_event_bytes = 64 * 1024;
    st = lp_lambda_run_with(echo, NULL, &o);
    if (st != LP_OK && st != LP_EHTTP && st != LP_EPROTO && st != LP_ENOMEM)
        abort();
    stub_destroy(s);
    return 0;
}

/*
 * Fuzz target: everything a GET /runtime/invocation/next answer carries.
 * The input is a raw HTTP response (status line, header lines, blank line,
 * body); it goes through the same header parser the runtime feeds from
 * libcurl, the request id and deadline checks, the event JSON helper's
 * parser, and the error document built from it. Invariants checked: an
 * accepted request id is URL-safe and short; an accepted deadline is within
 * a day of "now"; every error document we would send is valid JSON that
 * round-trips the (sanitised) message.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/lambda_impl.h"

#define FIXED_NOW_MS 1700000000000LL

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_error_doc(const char *type, const char *msg, size_t len)
{
    char *clean = lp__lambda_utf8_sanitize(msg, len);
    char *doc = NULL;
    size_t doc_len = 0;
    json_t *j;

    if (clean == NULL)
        return;
    if (lp__lambda_error_json(type, clean, &doc, &doc_len) == LP_OK) {
        j = json_loadb(doc, doc_len, 0, NULL);
        check(j != NULL);
        /* NULs and bad bytes were replaced: the message round-trips. */
        check(strcmp(json_string_value(json_object_get(j, "errorMessage")),
                     clean) == 0);
        check(json_is_array(json_object_get(j, "stackTrace")));
        json_decref(j);
        lp__free(doc);
    }
    lp__free(clean);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    const char *body = end;
    struct lp__lambda_headers h;
    int64_t epoch = 0;
    json_t *event;

    lp__lambda_headers_init(&h);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        lp__lambda_header_line(&h, p, n);
        p += n;
        if (n <= 2 && (n == 1 || p[-2] == '\r')) {
            body = p; /* the blank line ends the headers */
            break;
        }
    }
    if (h.request_id != NULL)
        check(lp__lambda_request_id_ok(h.request_id, strlen(h.request_id)));
    if (lp__lambda_parse_deadline(h.deadline_raw, FIXED_NOW_MS, &epoch))
        check(epoch >= FIXED_NOW_MS - 86400000LL &&
              epoch <= FIXED_NOW_MS + 86400000LL);
    event = json_loadb(body, (size_t)(end - body), JSON_DECODE_ANY, NULL);
    json_decref(event);
    check_error_doc(h.trace_id, body, (size_t)(end - body));
    lp__lambda_headers_clear(&h);
    return 0;
}

/*
 * Everything the Runtime API sends us, parsed defensively, and the error
 * document we send back.
 *
 * Header lines arrive one at a time from libcurl's header callback, exactly
 * as on the wire. Nothing here trusts them: names are matched without case,
 * values are trimmed and capped (LP__LAMBDA_HEADER_VALUE_MAX), the request
 * id must be short and URL-safe because it goes into the path of our answer,
 * and the deadline must be a plausible Unix time in milliseconds. A value
 * that fails these checks is marked or dropped, never trusted; the loop in
 * lambda_runtime.c decides what to do (exit, warn, go on). These functions
 * keep no state beyond the struct they fill and are what the fuzz target
 * tests/fuzz/fuzz-runtime-next.c drives.
 */
#include "internal/lambda_impl.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal/alloc.h"

void lp__lambda_headers_init(struct lp__lambda_headers *h)
{
    memset(h, 0, sizeof(*h));
}

void lp__lambda_headers_clear(struct lp__lambda_headers *h)
{
    lp__free(h->request_id);
    lp__free(h->arn);
    lp__free(h->trace_id);
    lp__free(h->tenant_id);
    lp__free(h->client_context);
    lp__free(h->cognito_identity);
    lp__free(h->deadline_raw);
    lp__lambda_headers_init(h);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Parses "HTTP/x.y NNN ..." and returns NNN, or 0. */
static long parse_status_line(const char *line, size_t len)
{
    size_t i = 5;
    long code = 0;
    int digits = 0;

    while (i < len && line[i] != ' ')
        i++;
    while (i < len && line[i] == ' ')
        i++;
    for (; i < len && digits < 3; i++, digits++) {
        if (line[i] < '0' || line[i] > '9')
            return 0;
        code = code * 10 + (line[i] - '0');
    }
    return digits == 3 ? code : 0;
}

/* "." and ".." are dot-segments: a server normalising the path would read
 * /invocation/../response as another resource. */
static bool only_dots(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '.')
            return false;
    }
    return true;
}

bool lp__lambda_request_id_ok(const char *id, size_t len)
{
    if (id == NULL || len == 0 || len > LP__LAMBDA_ID_MAX || only_dots(id, len))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
                  c == ':';
        if (!ok)
            return false;
    }
    return true;
}

/* Replaces *slot with a copy of v[0..n-1]; a second header of the same name
 * wins, as the last one would in most HTTP stacks. */
static void store_value(struct lp__lambda_headers *h, char **slot,
                        const char *v, size_t n)
{
    char *copy;

    if (n > LP__LAMBDA_HEADER_VALUE_MAX) {
        h->dropped++;
        return;
    }
    copy = lp__malloc(n + 1);
    if (copy == NULL) {
        h->oom = true;
        return;
    }
    memcpy(copy, v, n);
    copy[n] = '\0';
    lp__free(*slot);
    *slot = copy;
}

static bool name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

static void store_request_id(struct lp__lambda_headers *h, const char *v,
                             size_t n)
{
    if (!lp__lambda_request_id_ok(v, n)) {
        h->request_id_bad = true;
        lp__free(h->request_id);
        h->request_id = NULL;
        return;
    }
    h->request_id_bad = false;
    store_value(h, &h->request_id, v, n);
}

void lp__lambda_header_line(struct lp__lambda_headers *h, const char *line,
                            size_t len)
{
    const char *colon, *v, *end;
    size_t name_len;

    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        lp__lambda_headers_clear(h);
        h->status = parse_status_line(line, len);
        return;
    }
    if (len == 0 || line[0] == '\r' || line[0] == '\n') {
        h->complete = true;
        return;
    }
    colon = memchr(line, ':', len);
    if (colon == NULL || colon == line)
        return; /* garbage */
    name_len = (size_t)(colon - line);
    v = colon + 1;
    end = line + len;
    while (v < end && is_space(*v))
        v++;
    while (end > v && is_space(end[-1]))
        end--;

    if (name_is(line, name_len, "Lambda-Runtime-Aws-Request-Id"))
        store_request_id(h, v, (size_t)(end - v));
    else if (name_is(line, name_len, "Lambda-Runtime-Deadline-Ms"))
        store_value(h, &h->deadline_raw, v, (size_t)(end - v));
    else if (name_is(line, name_len, "Lambda-Runtime-Invoked-Function-Arn"))
        store_value(h, &h->arn, v, (size_t)(end - v));
    else if (name_is(line, name_len, "Lambda-Runtime-Trace-Id"))
        store_value(h, &h->trace_id, v, (size_t)(end - v));
    else if (name_is(line, name_len, "Lambda-Runtime-Aws-Tenant-Id"))
        store_value(h, &h->tenant_id, v, (size_t)(end - v));
    else if (name_is(line, name_len, "Lambda-Runtime-Client-Context"))
        store_value(h, &h->client_context, v, (size_t)(end - v));
    else if (name_is(line, name_len, "Lambda-Runtime-Cognito-Identity"))
        store_value(h, &h->cognito_identity, v, (size_t)(end - v));
}

#define MS_PER_DAY (24LL * 3600 * 1000)
/* The header is read as the event arrives, so a real deadline is ahead of
 * now; one more than a minute behind comes from a replayed or made-up
 * event, and honouring it would time the invocation out at once. */
#define DEADLINE_PAST_MS (60LL * 1000)

bool lp__lambda_parse_deadline(const char *raw, int64_t now_epoch_ms,
                               int64_t *epoch_ms)
{
    int64_t v = 0;
    size_t i;

    if (raw == NULL || raw[0] == '\0')
        return false;
    for (i = 0; raw[i] != '\0'; i++) {
        if (raw[i] < '0' || raw[i] > '9' || i >= 15)
            return false; /* 15 digits is year 33658: not plausible */
        v = v * 10 + (raw[i] - '0');
    }
    if (v < now_epoch_ms - DEADLINE_PAST_MS || v > now_epoch_ms + MS_PER_DAY)
        return false;
    *epoch_ms = v;
    return true;
}

lp_status lp__lambda_xray_cause_json(const char *error_type,
                                     const char *message, const char *cwd,
                                     char **out, size_t *out_len)
{
    char *type = NULL, *msg = NULL, *dir = NULL, *dump = NULL;
    json_t *doc = NULL;
    lp_status st = LP_ENOMEM;

    *out = NULL;
    *out_len = 0;
    if (error_type == NULL || error_type[0] == '\0')
        error_type = "Unhandled";
    message = message ? message : "";
    cwd = cwd ? cwd : "";
    type = lp__lambda_utf8_sanitize(error_type, strlen(error_type));
    msg = lp__lambda_utf8_sanitize(message, strlen(message));
    dir = lp__lambda_utf8_sanitize(cwd, strlen(cwd));
    if (type == NULL || msg == NULL || dir == NULL)
        goto out_free;
    doc =
        json_pack("{s:s, s:[{s:s, s:s, s:[]}], s:[]}", "working_directory", dir,
                  "exceptions", "type", type, "message", msg, "stack", "paths");
    if (doc == NULL)
        goto out_free;
    dump = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (dump == NULL)
        goto out_free;
    st = LP_OK;
    if (strlen(dump) > LP__LAMBDA_XRAY_CAUSE_MAX)
        goto out_free; /* too large for a header: left out */
    *out_len = strlen(dump);
    *out = lp__malloc(*out_len + 1);
    if (*out == NULL) {
        st = LP_ENOMEM;
        *out_len = 0;
        goto out_free;
    }
    memcpy(*out, dump, *out_len + 1);
out_free:
    free(dump);
    json_decref(doc);
    lp__free(type);
    lp__free(msg);
    lp__free(dir);
    return st;
}

/* Length of the valid UTF-8 sequence at s[0..n-1], or 0 (RFC 3629). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t want, i;
    uint32_t cp;

    if (s[0] < 0x80)
        return s[0] == 0 ? 0 : 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        want = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        want = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        want = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n < want)
        return 0;
    for (i = 1; i < want; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((want == 3 && cp < 0x800) || (want == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return want;
}

char *lp__lambda_utf8_sanitize(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    char *out = lp__malloc(len + 1);
    size_t i = 0;

    if (out == NULL)
        return NULL;
    while (i < len) {
        size_t k = utf8_seq_len(u + i, len - i);
        if (k == 0) {
            out[i++] = '?';
            continue;
        }
        memcpy(out + i, s + i, k);
        i += k;
    }
    out[len] = '\0';
    return out;
}

const char *lp__lambda_error_type_safe(const char *type, char *buf)
{
    size_t i;

    if (type == NULL || type[0] == '\0')
        return "Unhandled";
    for (i = 0; type[i] != '\0' && i + 1 < LP__LAMBDA_ERROR_TYPE_MAX; i++)
        buf[i] = (type[i] >= 0x20 && type[i] < 0x7f) ? type[i] : '?';
    buf[i] = '\0';
    return buf;
}

lp_status lp__lambda_error_json(const char *error_type, const char *message,
                                char **out, size_t *out_len)
{
    char *type = NULL, *msg = NULL, *dump = NULL;
    json_t *doc = NULL;
    lp_status st = LP_ENOMEM;

    *out = NULL;
    if (error_type == NULL || error_type[0] == '\0')
        error_type = "Unhandled";
    if (message == NULL)
        message = "";
    type = lp__lambda_utf8_sanitize(error_type, strlen(error_type));
    msg = lp__lambda_utf8_sanitize(message, strlen(message));
    if (type == NULL || msg == NULL)
        goto out_free;
    doc = json_pack("{s:s, s:s, s:[]}", "errorMessage", msg, "errorType", type,
                    "stackTrace");
    if (doc == NULL)
        goto out_free;
    dump = json_dumps(doc, JSON_COMPACT);
    if (dump == NULL)
        goto out_free;
    *out_len = strlen(dump);
    *out = lp__malloc(*out_len + 1);
    if (*out == NULL)
        goto out_free;
    memcpy(*out, dump, *out_len + 1);
    st = LP_OK;
out_free:
    free(dump);
    json_decref(doc);
    lp__free(type);
    lp__free(msg);
    return st;
}

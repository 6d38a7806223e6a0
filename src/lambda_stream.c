/*
 * Response streaming: lp_lambda_stream_write.
 *
 * Lambda accepts a response as a chunked POST with the header
 * Lambda-Runtime-Function-Response-Mode: streaming, and takes a failure that
 * happens after bytes were sent from two trailers, ...-Error-Type and
 * ...-Error-Body (the error document in base64, as the Go runtime sends it).
 *
 * The handler writes from the loop's thread while libcurl, which pulls the
 * body through a read callback, runs curl_easy_perform on a helper thread
 * with the loop's own connection (the loop does not touch it until the
 * stream is finished). Between them is one bounded buffer under `mu`:
 * writers wait while it is full (back-pressure), the read callback waits
 * while it is empty; `eof` ends the body, `closed` says the transfer ended
 * (later writes fail at once). `cv` is broadcast on every change.
 */
#include "internal/lambda_impl.h"

#include <stdio.h>
#include <string.h>

#include "internal/alloc.h"
#include "internal/sync.h"

#define STREAM_BUFFER (64 * 1024)

struct lp__lambda_stream {
    lp__mutex mu;
    lp__cond cv;
    char *buf;          /* mu: pending bytes, buf[0..len-1] */
    size_t len;         /* mu */
    bool eof;           /* mu: the handler returned */
    bool closed;        /* mu: the transfer ended */
    char *trailer_type; /* set before eof, read after it */
    char *trailer_body;
    uint64_t sent; /* mu: bytes handed to libcurl */

    lp__thread thread;
    struct lp__lambda_api *api;
    char path[LP__LAMBDA_ID_MAX + 64];
    char content_type[160];
    struct lp__lambda_result res; /* written by the helper before closed */
};

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *lp__lambda_base64(const char *in, size_t len)
{
    const unsigned char *u = (const unsigned char *)in;
    char *out = lp__malloc((len + 2) / 3 * 4 + 1), *o = out;
    size_t i;

    if (out == NULL)
        return NULL;
    for (i = 0; i + 2 < len; i += 3) {
        *o++ = b64[u[i] >> 2];
        *o++ = b64[((u[i] & 3) << 4) | (u[i + 1] >> 4)];
        *o++ = b64[((u[i + 1] & 15) << 2) | (u[i + 2] >> 6)];
        *o++ = b64[u[i + 2] & 63];
    }
    if (i < len) {
        *o++ = b64[u[i] >> 2];
        if (i + 1 < len) {
            *o++ = b64[((u[i] & 3) << 4) | (u[i + 1] >> 4)];
            *o++ = b64[(u[i + 1] & 15) << 2];
        } else {
            *o++ = b64[(u[i] & 3) << 4];
            *o++ = '=';
        }
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

/* libcurl's read callback (helper thread): blocks until bytes or eof. */
static size_t stream_read(void *arg, char *out, size_t cap)
{
    struct lp__lambda_stream *s = arg;
    size_t n;

    lp__mutex_lock(&s->mu);
    while (s->len == 0 && !s->eof)
        lp__cond_wait(&s->cv, &s->mu);
    n = s->len < cap ? s->len : cap;
    memcpy(out, s->buf, n);
    memmove(s->buf, s->buf + n, s->len - n);
    s->len -= n;
    s->sent += n;
    lp__cond_broadcast(&s->cv);
    lp__mutex_unlock(&s->mu);
    return n;
}

/* Trailers, read by libcurl after the last chunk (so after eof). */
static const char *stream_trailer(void *arg, int i)
{
    struct lp__lambda_stream *s = arg;

    if (s->trailer_type == NULL)
        return NULL;
    return i == 0 ? s->trailer_type : i == 1 ? s->trailer_body : NULL;
}

static void *stream_main(void *arg)
{
    struct lp__lambda_stream *s = arg;
    const char *headers[] = { s->content_type, NULL };

    lp__lambda_api_post_stream(s->api, s->path, headers, stream_read,
                               stream_trailer, s, &s->res);
    lp__mutex_lock(&s->mu);
    s->closed = true;
    lp__cond_broadcast(&s->cv);
    lp__mutex_unlock(&s->mu);
    return NULL;
}

static void stream_free(struct lp__lambda_stream *s)
{
    lp__mutex_destroy(&s->mu);
    lp__cond_destroy(&s->cv);
    lp__free(s->buf);
    lp__free(s->trailer_type);
    lp__free(s->trailer_body);
    lp__free(s);
}

static lp_status stream_start(struct lp_lambda_invocation *inv)
{
    struct lp__lambda_stream *s = lp__calloc(1, sizeof(*s));
    lp_status st = LP_ENOMEM;

    if (s == NULL)
        return LP_ENOMEM;
    s->buf = lp__malloc(STREAM_BUFFER);
    if (s->buf == NULL)
        goto out_free;
    st = lp__mutex_init(&s->mu);
    if (st != LP_OK)
        goto out_free;
    st = lp__cond_init(&s->cv);
    if (st != LP_OK) {
        lp__mutex_destroy(&s->mu);
        goto out_free;
    }
    s->api = inv->api;
    snprintf(s->path, sizeof(s->path), "/runtime/invocation/%s/response",
             inv->request_id);
    snprintf(s->content_type, sizeof(s->content_type), "Content-Type: %.128s",
             inv->content_type ? inv->content_type
                               : "application/octet-stream");
    st = lp__thread_create(&s->thread, stream_main, s, 0, "lp-lambda-stream");
    if (st != LP_OK) {
        stream_free(s);
        return st;
    }
    inv->stream = s;
    return LP_OK;
out_free:
    lp__free(s->buf);
    lp__free(s);
    return st;
}

lp_status lp_lambda_stream_write(lp_lambda_invocation *inv, const void *data,
                                 size_t len)
{
    const char *p = data;
    struct lp__lambda_stream *s;
    lp_status st = LP_OK;

    if (inv == NULL || inv->magic != LP__LAMBDA_INV_MAGIC || inv->api == NULL ||
        (data == NULL && len > 0))
        return LP_EINVAL;
    if (inv->stream == NULL) {
        st = stream_start(inv);
        if (st != LP_OK)
            return st;
    }
    s = inv->stream;
    lp__mutex_lock(&s->mu);
    while (len > 0) {
        size_t n;
        while (!s->closed && s->len == STREAM_BUFFER)
            lp__cond_wait(&s->cv, &s->mu);
        if (s->closed) {
            st = LP_EHTTP;
            break;
        }
        n = STREAM_BUFFER - s->len < len ? STREAM_BUFFER - s->len : len;
        memcpy(s->buf + s->len, p, n);
        s->len += n;
        p += n;
        len -= n;
        lp__cond_broadcast(&s->cv);
    }
    lp__mutex_unlock(&s->mu);
    return st;
}

lp_status lp_lambda_stream_content_type(lp_lambda_invocation *inv,
                                        const char *content_type)
{
    char *copy;

    if (inv == NULL || inv->magic != LP__LAMBDA_INV_MAGIC ||
        content_type == NULL || strpbrk(content_type, "\r\n") != NULL)
        return LP_EINVAL;
    if (inv->stream != NULL)
        return LP_ESTATE;
    copy = lp__strdup(content_type);
    if (copy == NULL)
        return LP_ENOMEM;
    lp__free(inv->content_type);
    inv->content_type = copy;
    return LP_OK;
}

/* Builds the error trailers from the invocation's failure. */
static void set_trailers(struct lp__lambda_stream *s,
                         const struct lp_lambda_invocation *inv)
{
    char type_buf[LP__LAMBDA_ERROR_TYPE_MAX];
    const char *type = lp__lambda_error_type_safe(
        inv->error_type ? inv->error_type : "Runtime.OutOfMemory", type_buf);
    char *doc = NULL, *enc = NULL;
    size_t len, n;

    if (lp__lambda_error_json(type, inv->message ? inv->message : "", &doc,
                              &len) == LP_OK)
        enc = lp__lambda_base64(doc, len);
    n = strlen(type) + 64;
    s->trailer_type = lp__malloc(n);
    if (s->trailer_type != NULL)
        snprintf(s->trailer_type, n, "Lambda-Runtime-Function-Error-Type: %s",
                 type);
    n = (enc ? strlen(enc) : 0) + 64;
    s->trailer_body = lp__malloc(n);
    if (s->trailer_body != NULL)
        snprintf(s->trailer_body, n, "Lambda-Runtime-Function-Error-Body: %s",
                 enc ? enc : "");
    if (s->trailer_type == NULL || s->trailer_body == NULL) {
        lp__free(s->trailer_type);
        lp__free(s->trailer_body);
        s->trailer_type = s->trailer_body = NULL;
    }
    lp__free(enc);
    lp__free(doc);
}

lp_status lp__lambda_stream_finish(struct lp_lambda_invocation *inv)
{
    struct lp__lambda_stream *s = inv->stream;
    lp_status st = LP_OK;

    lp__mutex_lock(&s->mu);
    if (inv->failed)
        set_trailers(s, inv);
    s->eof = true;
    lp__cond_broadcast(&s->cv);
    lp__mutex_unlock(&s->mu);
    lp__thread_join(&s->thread);

    if (s->res.st != LP_OK || s->res.http_status != 202) {
        lp__lambda_log("streamed response of %s (%llu bytes sent) %s: %s",
                       inv->request_id, (unsigned long long)s->sent,
                       s->res.st != LP_OK ? "failed" : "refused",
                       s->res.detail);
        if (s->res.st != LP_OK || s->res.http_status >= 500)
            st = LP_EHTTP;
    } else if (inv->failed) {
        char type_buf[LP__LAMBDA_ERROR_TYPE_MAX];

        lp__lambda_log("streamed response of %s ended with error %s",
                       inv->request_id,
                       lp__lambda_error_type_safe(inv->error_type, type_buf));
    }
    stream_free(s);
    inv->stream = NULL;
    return st;
}

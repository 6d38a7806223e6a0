/*
 * What a handler calls during an invocation: reply, fail, parse the event as
 * JSON, and the deadline helpers that tie the invocation's deadline to the
 * executor core (lp_wait_until, lp_future_cancel).
 *
 * An lp_lambda_invocation lives on the loop's stack for one handler call and
 * belongs to that loop's thread; its calls are not meant to be made from
 * other threads. The outcome is one of: a reply (owned bytes), a failure
 * (owned type and message), or neither (JSON null). The last call wins.
 */
#include "internal/lambda_impl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/alloc.h"

void lp__lambda_invocation_init(struct lp_lambda_invocation *inv,
                                const char *event, size_t len)
{
    memset(inv, 0, sizeof(*inv));
    inv->magic = LP__LAMBDA_INV_MAGIC;
    inv->event = event;
    inv->event_len = len;
}

static void drop_outcome(struct lp_lambda_invocation *inv)
{
    lp__free(inv->error_type);
    lp__free(inv->message);
    lp__free(inv->reply);
    inv->error_type = inv->message = inv->reply = NULL;
    inv->reply_len = 0;
    inv->failed = inv->replied = false;
}

void lp__lambda_invocation_clear(struct lp_lambda_invocation *inv)
{
    drop_outcome(inv);
    lp__free(inv->content_type);
    inv->content_type = NULL;
    inv->magic = 0;
}

static bool inv_ok(const struct lp_lambda_invocation *inv)
{
    return inv != NULL && inv->magic == LP__LAMBDA_INV_MAGIC;
}

void lp__lambda_invocation_failv(struct lp_lambda_invocation *inv,
                                 const char *error_type, const char *fmt,
                                 va_list ap)
{
    char msg[LP__LAMBDA_MESSAGE_MAX];

    if (!inv_ok(inv))
        return;
    drop_outcome(inv);
    inv->failed = true;
    if (fmt == NULL || vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        msg[0] = '\0';
    if (error_type == NULL || error_type[0] == '\0')
        error_type = "Unhandled";
    /* On allocation failure the loop still reports a fixed error. */
    inv->error_type = lp__strdup(error_type);
    inv->message = lp__strdup(msg);
}

void lp_lambda_fail(lp_lambda_invocation *inv, const char *error_type,
                    const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    lp__lambda_invocation_failv(inv, error_type, fmt, ap);
    va_end(ap);
}

void lp_lambda_init_fail(lp_lambda_init *init, const char *error_type,
                         const char *fmt, ...)
{
    va_list ap;

    if (init == NULL)
        return;
    va_start(ap, fmt);
    lp__lambda_invocation_failv(&init->inv, error_type, fmt, ap);
    va_end(ap);
}

lp_status lp_lambda_reply(lp_lambda_invocation *inv, const void *data,
                          size_t len)
{
    char *copy;

    if (!inv_ok(inv) || (data == NULL && len > 0))
        return LP_EINVAL;
    if (inv->stream != NULL)
        return LP_ESTATE; /* the answer is already being streamed */
    copy = lp__malloc(len + 1);
    if (copy == NULL) {
        lp_lambda_fail(inv, "Runtime.OutOfMemory",
                       "no memory to copy a %zu-byte response", len);
        return LP_ENOMEM;
    }
    if (len > 0)
        memcpy(copy, data, len);
    copy[len] = '\0';
    drop_outcome(inv);
    inv->replied = true;
    inv->reply = copy;
    inv->reply_len = len;
    return LP_OK;
}

lp_status lp_lambda_reply_str(lp_lambda_invocation *inv, const char *s)
{
    if (s == NULL)
        return LP_EINVAL;
    return lp_lambda_reply(inv, s, strlen(s));
}

lp_status lp_lambda_reply_json(lp_lambda_invocation *inv,
                               const struct json_t *value)
{
    char *dump;
    lp_status st;

    if (!inv_ok(inv) || value == NULL)
        return LP_EINVAL;
    if (inv->stream != NULL)
        return LP_ESTATE;
    dump = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (dump == NULL)
        return LP_EINVAL;
    st = lp_lambda_reply(inv, dump, strlen(dump));
    free(dump);
    return st;
}

lp_status lp_lambda_event_json(lp_lambda_invocation *inv, struct json_t **out)
{
    json_error_t err;

    if (out != NULL)
        *out = NULL;
    if (!inv_ok(inv) || out == NULL)
        return LP_EINVAL;
    *out = json_loadb(inv->event, inv->event_len, JSON_DECODE_ANY, &err);
    return *out != NULL ? LP_OK : LP_EPROTO;
}

int64_t lp_lambda_remaining_ms(const lp_lambda_context *ctx)
{
    int64_t left;

    if (ctx == NULL || ctx->deadline_epoch_ms <= 0)
        return INT64_MAX;
    left = lp_deadline_remaining_ms(
        lp_deadline_from_epoch_ms(ctx->deadline_epoch_ms));
    return left;
}

size_t lp_lambda_cancel_pending(lp_future *const *fs, size_t n)
{
    size_t cancelled = 0;

    if (fs == NULL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (fs[i] != NULL && lp_future_cancel(fs[i]))
            cancelled++;
    }
    return cancelled;
}

lp_status lp_lambda_gather(const lp_lambda_context *ctx, lp_future *const *fs,
                           size_t n, bool *done, size_t *n_done)
{
    lp_status st;
    size_t count = 0;

    if (ctx == NULL)
        return LP_EINVAL;
    st = lp_wait_until(fs, n, LP_ALL_COMPLETED, ctx->deadline, NULL, NULL);
    if (st != LP_OK && st != LP_ETIMEDOUT)
        return st;
    if (st == LP_ETIMEDOUT)
        lp_lambda_cancel_pending(fs, n);
    for (size_t i = 0; i < n; i++) {
        bool d = lp_future_done(fs[i]);
        if (done != NULL)
            done[i] = d;
        count += d;
    }
    if (n_done != NULL)
        *n_done = count;
    return st;
}

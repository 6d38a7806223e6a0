/*
 * Executor.map: submit every input (or `buffersize` chunks ahead), yield the
 * results in input order.
 *
 * With chunksize 1 each input is its own task and the future holds the
 * result. With chunksize k > 1 one task runs k inputs in a row and its
 * result is a `struct chunk_result` holding k results; an input that fails
 * stops its chunk, and the iterator reports the failure at that input's
 * position after yielding the ones before it (Python loses those).
 *
 * Like a Python generator that raised, the iterator ends at the first
 * failure or timeout, and every item not yet yielded is cancelled then, as it
 * is when the iterator is destroyed early. The iterator runs on the calling
 * thread only; chunk tasks touch nothing but their own chunk.
 */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "executor_impl.h"
#include "future_impl.h"
#include "task.h"

#define MAP_MAGIC 0x6c706d61u /* "lpma" */

struct chunk_input {
    lp_task_fn fn;
    lp_free_fn result_free;
    size_t count;
    void *args[];
};

struct chunk_result {
    lp_free_fn result_free;
    size_t count; /* results computed */
    bool failed;  /* input `count` failed; details below */
    int code, sys_errno;
    char *message;
    void *results[];
};

struct pending_chunk {
    lp_future *f;
    size_t count; /* inputs in the chunk */
};

struct lp_map {
    uint32_t magic;
    lp_executor *ex;
    lp_task_fn fn;
    lp_map_source_fn source;
    void *source_ctx;
    bool source_done;
    size_t chunksize;
    size_t buffersize;
    lp_free_fn result_free;
    int64_t deadline;

    struct pending_chunk *chunks; /* ring, in input order */
    size_t head, count, cap;
    size_t pos; /* next input to yield within the head chunk */
    bool ended;

    lp_error error; /* last failure reported by lp_map_next */
    char *error_message;
};

/* ---- chunk tasks ----------------------------------------------------- */

static void chunk_result_free(void *p)
{
    struct chunk_result *r = p;
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->count && r->result_free != NULL; i++) {
        if (r->results[i] != NULL)
            r->result_free(r->results[i]);
    }
    lp__free(r->message);
    lp__free(r);
}

/* Runs each input with its own lp_task, so a failure names its input. */
static void *run_chunk(void *arg, lp_task *task)
{
    struct chunk_input *in = arg;
    struct chunk_result *r;
    struct lp__local_task t;

    r = lp__calloc(1, sizeof(*r) + in->count * sizeof(void *));
    if (r == NULL) {
        lp_task_fail(task, LP_ENOMEM, 0, "out of memory");
        return NULL;
    }
    r->result_free = in->result_free;
    for (r->count = 0; r->count < in->count; r->count++) {
        lp__local_task_init(&t, false);
        r->results[r->count] = in->fn(in->args[r->count], &t.base);
        if (t.failed) {
            if (r->results[r->count] != NULL && in->result_free != NULL)
                in->result_free(r->results[r->count]);
            r->results[r->count] = NULL;
            r->failed = true;
            r->code = t.code;
            r->sys_errno = t.sys_errno;
            r->message = t.message;
            break;
        }
    }
    return r;
}

/* ---- submitting ------------------------------------------------------ */

static lp_status ring_push(lp_map *m, lp_future *f, size_t count)
{
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16, i;
        struct pending_chunk *grown = lp__malloc(cap * sizeof(*grown));

        if (grown == NULL)
            return LP_ENOMEM;
        for (i = 0; i < m->count; i++)
            grown[i] = m->chunks[(m->head + i) % m->cap];
        lp__free(m->chunks);
        m->chunks = grown;
        m->cap = cap;
        m->head = 0;
    }
    m->chunks[(m->head + m->count) % m->cap] =
        (struct pending_chunk){ f, count };
    m->count++;
    return LP_OK;
}

static lp_status submit_single(lp_map *m, void *arg)
{
    lp_submit_options o = { m->result_free, NULL };
    lp_future *f;
    lp_status st = lp_executor_submit_with(m->ex, m->fn, arg, &o, &f);

    if (st == LP_OK && (st = ring_push(m, f, 1)) != LP_OK) {
        lp_future_cancel(f);
        lp_future_release(f);
    }
    return st;
}

#define CHUNK_FIRST_CAP 64

/* Room for `cap` inputs in `*in` (reallocated); false when out of memory or
 * the size would not fit a size_t. */
static bool chunk_reserve(struct chunk_input **in, size_t cap)
{
    struct chunk_input *grown;

    if (cap > (SIZE_MAX - sizeof(**in)) / sizeof(void *))
        return false;
    grown = lp__realloc(*in, sizeof(**in) + cap * sizeof(void *));
    if (grown == NULL)
        return false;
    *in = grown;
    return true;
}

/*
 * Pulls up to chunksize inputs into a new chunk; NULL when out of memory.
 * The chunk grows as inputs arrive: chunksize is a bound, and may be far
 * larger than the input (Python takes any size).
 */
static struct chunk_input *pull_chunk(lp_map *m)
{
    size_t cap =
        m->chunksize < CHUNK_FIRST_CAP ? m->chunksize : CHUNK_FIRST_CAP;
    struct chunk_input *in = NULL;

    if (!chunk_reserve(&in, cap))
        return NULL;
    in->fn = m->fn;
    in->result_free = m->result_free;
    for (in->count = 0; in->count < m->chunksize; in->count++) {
        if (in->count == cap) {
            cap = cap > m->chunksize / 2 ? m->chunksize : cap * 2;
            if (!chunk_reserve(&in, cap)) {
                lp__free(in);
                return NULL;
            }
        }
        if (!m->source(m->source_ctx, &in->args[in->count])) {
            m->source_done = true;
            break;
        }
    }
    return in;
}

/* Pulls up to chunksize inputs and submits them as one task. */
static lp_status submit_chunk(lp_map *m)
{
    lp_submit_options o = { chunk_result_free, lp__free };
    struct chunk_input *in = pull_chunk(m);
    lp_future *f;
    lp_status st;
    size_t count;

    if (in == NULL)
        return LP_ENOMEM;
    if (in->count == 0) {
        lp__free(in);
        return LP_OK;
    }
    /* Once submitted, `in` belongs to the task and may be freed at once. */
    count = in->count;
    st = lp_executor_submit_with(m->ex, run_chunk, in, &o, &f);
    if (st != LP_OK) {
        lp__free(in);
        return st;
    }
    st = ring_push(m, f, count);
    if (st != LP_OK) {
        lp_future_cancel(f);
        lp_future_release(f);
    }
    return st;
}

static lp_status submit_next(lp_map *m)
{
    void *arg;

    if (m->chunksize > 1)
        return submit_chunk(m);
    if (!m->source(m->source_ctx, &arg)) {
        m->source_done = true;
        return LP_OK;
    }
    return submit_single(m, arg);
}

/* Submits until the source ends or `buffersize` chunks are outstanding. */
static lp_status fill(lp_map *m)
{
    lp_status st = LP_OK;

    while (st == LP_OK && !m->source_done &&
           (m->buffersize == 0 || m->count < m->buffersize))
        st = submit_next(m);
    return st;
}

/* ---- iterator lifetime ----------------------------------------------- */

static void cancel_outstanding(lp_map *m)
{
    while (m->count > 0) {
        lp_future *f = m->chunks[m->head].f;

        lp_future_cancel(f);
        lp_future_release(f);
        m->head = (m->head + 1) % m->cap;
        m->count--;
    }
    m->pos = 0;
}

static void end_iteration(lp_map *m)
{
    cancel_outstanding(m);
    m->ended = true;
}

struct array_source {
    void *const *args;
    size_t n, next;
};

static bool next_from_array(void *ctx, void **arg)
{
    struct array_source *a = ctx;

    if (a->next == a->n)
        return false;
    *arg = a->args[a->next++];
    return true;
}

static lp_status map_start(lp_executor *ex, lp_task_fn fn,
                           lp_map_source_fn source, void *ctx, size_t ctx_size,
                           const lp_map_options *opts, lp_map **out)
{
    static const lp_map_options defaults = LP_MAP_OPTIONS_INIT;
    lp_map *m;
    int64_t deadline;
    lp_status st;

    if (out != NULL)
        *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (!lp__executor_usable(ex) || fn == NULL || out == NULL ||
        opts->chunksize == 0 ||
        lp__timeout_to_deadline(opts->timeout_ms, &deadline) != LP_OK)
        return ex != NULL && ex->magic == LP__EXECUTOR_MAGIC &&
                       !lp__executor_usable(ex)
                   ? LP_ESHUTDOWN
                   : LP_EINVAL;
    m = lp__calloc(1, sizeof(*m) + ctx_size);
    if (m == NULL)
        return LP_ENOMEM;
    m->ex = ex;
    m->fn = fn;
    m->source = source;
    m->source_ctx = ctx;
    if (ctx_size > 0) {
        memcpy(m + 1, ctx, ctx_size);
        m->source_ctx = m + 1;
    }
    m->chunksize = opts->chunksize;
    m->buffersize = opts->buffersize;
    m->result_free = opts->result_free;
    m->deadline = deadline < opts->deadline ? deadline : opts->deadline;
    m->magic = MAP_MAGIC;
    st = fill(m);
    if (st != LP_OK) {
        lp_map_destroy(m);
        return st;
    }
    *out = m;
    return LP_OK;
}

lp_status lp_executor_map(lp_executor *ex, lp_task_fn fn, void *const *args,
                          size_t n, const lp_map_options *opts, lp_map **out)
{
    struct array_source a = { args, n, 0 };

    if (args == NULL && n > 0) {
        if (out != NULL)
            *out = NULL;
        return LP_EINVAL;
    }
    return map_start(ex, fn, next_from_array, &a, sizeof(a), opts, out);
}

lp_status lp_executor_map_source(lp_executor *ex, lp_task_fn fn,
                                 lp_map_source_fn source, void *ctx,
                                 const lp_map_options *opts, lp_map **out)
{
    if (source == NULL) {
        if (out != NULL)
            *out = NULL;
        return LP_EINVAL;
    }
    return map_start(ex, fn, source, ctx, 0, opts, out);
}

/* ---- yielding -------------------------------------------------------- */

static lp_status record_error(lp_map *m, lp_status status, int code,
                              int sys_errno, const char *message)
{
    lp__free(m->error_message);
    m->error_message = lp__strdup(message);
    m->error.status = status;
    m->error.code = code;
    m->error.sys_errno = sys_errno;
    m->error.message =
        m->error_message != NULL ? m->error_message : "task failed";
    end_iteration(m);
    return status;
}

/* Drops the head chunk once all its inputs were yielded, then refills. */
static lp_status advance(lp_map *m)
{
    if (m->count > 0 && m->pos == m->chunks[m->head].count) {
        lp_future_release(m->chunks[m->head].f);
        m->head = (m->head + 1) % m->cap;
        m->count--;
        m->pos = 0;
    }
    return fill(m);
}

static lp_status yield_from(lp_map *m, lp_future *f, void *value, void **result)
{
    struct chunk_result *r = value;

    (void)f;
    if (m->chunksize == 1) {
        *result = value;
        m->pos++;
        return LP_OK;
    }
    if (r == NULL || (r->failed && m->pos == r->count))
        return record_error(m, LP_ETASK, r ? r->code : LP_ENOMEM,
                            r ? r->sys_errno : 0,
                            r && r->message ? r->message : "task failed");
    *result = r->results[m->pos++];
    return LP_OK;
}

lp_status lp_map_next(lp_map *m, void **result)
{
    const lp_error *err;
    lp_future *f;
    void *value = NULL;
    lp_status st;

    if (result != NULL)
        *result = NULL;
    if (m == NULL || m->magic != MAP_MAGIC || result == NULL)
        return LP_EINVAL;
    if (m->ended)
        return LP_EOF;
    st = advance(m);
    if (st != LP_OK)
        return record_error(m, st, 0, 0, lp_status_str(st));
    if (m->count == 0) {
        m->ended = true;
        return LP_EOF;
    }
    f = m->chunks[m->head].f;
    st = lp_future_result_until(f, m->deadline, &value);
    if (st == LP_OK)
        return yield_from(m, f, value, result);
    if (st == LP_ETASK || st == LP_EBROKEN) {
        err = lp_future_error(f);
        return record_error(m, st, err->code, err->sys_errno, err->message);
    }
    end_iteration(m);
    return st;
}

const lp_error *lp_map_error(const lp_map *m)
{
    if (m == NULL || m->magic != MAP_MAGIC || m->error.message == NULL)
        return NULL;
    return &m->error;
}

void lp_map_destroy(lp_map *m)
{
    if (m == NULL || m->magic != MAP_MAGIC)
        return;
    cancel_outstanding(m);
    m->magic = 0;
    lp__free(m->chunks);
    lp__free(m->error_message);
    lp__free(m);
}

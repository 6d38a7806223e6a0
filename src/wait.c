/*
 * Waiting on many futures: lp_wait and the as_completed iterator.
 *
 * Both follow Python's _base.py: first look at what is already done (no
 * allocation, no lock on the fast path), then install one listener node per
 * future that reports into a shared waiter. A node fires once, when its
 * future becomes FINISHED or CANCELLED_NOTIFIED (plain CANCELLED is not done
 * for waiting, as in Python). Nodes are notified under their future's lock,
 * and take the waiter's lock inside it; the waiting thread therefore never
 * holds the waiter's lock while it installs or removes nodes.
 *
 * lp_wait counts positions, so duplicates in the input need no special
 * care: ALL_COMPLETED waits for every position, which is every distinct
 * future. as_completed must yield each distinct future once, so it sorts
 * and de-duplicates its input first.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "future_impl.h"

struct multi_waiter {
    lp__mutex lock;
    lp__cond cv;
    size_t done;   /* guarded by lock: nodes fired or found done */
    size_t failed; /* guarded by lock: of those, finished with an error */
    size_t *ready; /* guarded by lock: as_completed's completion queue */
    size_t ready_head, ready_tail;
    /* Set before any node is installed. lp_wait's thread only needs waking
     * once its condition holds: waking it for each of 1,000 completions
     * costs it 1,000 futex round trips. as_completed wakes on each. */
    bool wake_each;
    lp_return_when when;
    size_t n;
};

struct wait_node {
    struct lp__listener base;
    struct multi_waiter *w;
    size_t index;
    bool fired;      /* guarded by the future's lock */
    bool registered; /* owned by the waiting thread */
};

static lp_status waiter_init(struct multi_waiter *w)
{
    memset(w, 0, sizeof(*w));
    if (lp__mutex_init(&w->lock) != LP_OK)
        return LP_ENOMEM;
    if (lp__cond_init(&w->cv) != LP_OK) {
        lp__mutex_destroy(&w->lock);
        return LP_ENOMEM;
    }
    return LP_OK;
}

static void waiter_destroy(struct multi_waiter *w)
{
    lp__cond_destroy(&w->cv);
    lp__mutex_destroy(&w->lock);
}

static bool condition_met(lp_return_when when, size_t done, size_t failed,
                          size_t n)
{
    switch (when) {
    case LP_FIRST_COMPLETED:
        return done > 0 || n == 0;
    case LP_FIRST_EXCEPTION:
        return failed > 0 || done == n;
    default:
        return done == n;
    }
}

/* Records one completion; w->lock must be held. */
static void waiter_count(struct multi_waiter *w, size_t index, bool failed)
{
    w->done++;
    if (failed)
        w->failed++;
    if (w->ready != NULL)
        w->ready[w->ready_tail++] = index;
    if (w->wake_each || condition_met(w->when, w->done, w->failed, w->n))
        lp__cond_broadcast(&w->cv);
}

static void node_fired(struct lp__listener *l, lp_future *f, int state)
{
    struct wait_node *node = (struct wait_node *)l;

    if (node->fired || !lp__state_waited_done(state))
        return;
    node->fired = true;
    lp__mutex_lock(&node->w->lock);
    waiter_count(node->w, node->index, f->failed);
    lp__mutex_unlock(&node->w->lock);
}

/*
 * Installs a node on `f`; if `f` is already done, counts it at once instead.
 */
static void node_install(struct wait_node *node, struct multi_waiter *w,
                         lp_future *f, size_t index)
{
    node->base.notify = node_fired;
    node->w = w;
    node->index = index;
    node->fired = false;
    node->registered = lp__future_listen(f, &node->base, lp__state_waited_done);
    if (!node->registered) {
        lp__mutex_lock(&w->lock);
        waiter_count(w, index, lp__future_failed(f));
        lp__mutex_unlock(&w->lock);
    }
}

static void node_remove(struct wait_node *node, lp_future *f)
{
    if (node->registered) {
        lp__future_unlisten(f, &node->base);
        node->registered = false;
    }
}

/* ---- lp_wait --------------------------------------------------------- */

static bool valid_future_array(lp_future *const *fs, size_t n)
{
    size_t i;

    if (fs == NULL && n > 0)
        return false;
    for (i = 0; i < n; i++) {
        if (!lp__future_valid(fs[i]))
            return false;
    }
    return true;
}

static bool valid_when(lp_return_when when)
{
    return when == LP_FIRST_COMPLETED || when == LP_FIRST_EXCEPTION ||
           when == LP_ALL_COMPLETED;
}

/* Fills done[] / *n_done from the current states; returns the counts. */
static void report_positions(lp_future *const *fs, size_t n, bool *done,
                             size_t *n_done, size_t *failed)
{
    size_t i, count = 0, bad = 0;

    for (i = 0; i < n; i++) {
        bool d = lp__state_waited_done(atomic_load(&fs[i]->state));

        if (done != NULL)
            done[i] = d;
        if (d) {
            count++;
            if (fs[i]->failed)
                bad++;
        }
    }
    if (n_done != NULL)
        *n_done = count;
    *failed = bad;
}

static lp_status block_until(lp_future *const *fs, size_t n,
                             lp_return_when when, int64_t deadline)
{
    struct multi_waiter w;
    struct wait_node *nodes;
    lp_status st = LP_OK;
    size_t i;

    nodes = lp__calloc(n, sizeof(*nodes));
    if (nodes == NULL)
        return LP_ENOMEM;
    if (waiter_init(&w) != LP_OK) {
        lp__free(nodes);
        return LP_ENOMEM;
    }
    w.when = when;
    w.n = n;
    for (i = 0; i < n; i++)
        node_install(&nodes[i], &w, fs[i], i);

    lp__mutex_lock(&w.lock);
    while (!condition_met(when, w.done, w.failed, n) && st == LP_OK)
        st = lp__cond_wait_until(&w.cv, &w.lock, deadline);
    lp__mutex_unlock(&w.lock);

    for (i = 0; i < n; i++)
        node_remove(&nodes[i], fs[i]);
    waiter_destroy(&w);
    lp__free(nodes);
    return st == LP_ETIMEDOUT ? LP_ETIMEDOUT : LP_OK;
}

lp_status lp_wait_until(lp_future *const *fs, size_t n, lp_return_when when,
                        lp_deadline deadline, bool *done, size_t *n_done)
{
    size_t count, failed;
    lp_status st;

    if (!valid_future_array(fs, n))
        return LP_EINVAL;
    report_positions(fs, n, NULL, &count, &failed);
    if (condition_met(when, count, failed, n)) {
        report_positions(fs, n, done, n_done, &failed);
        return LP_OK;
    }
    /* As in Python, a bad `when` is only noticed when we would block. */
    if (!valid_when(when))
        return LP_EINVAL;
    st = LP_ETIMEDOUT;
    if (deadline > lp__monotonic_ns())
        st = block_until(fs, n, when, deadline);
    if (st == LP_ENOMEM)
        return st;
    report_positions(fs, n, done, n_done, &failed);
    if (n_done != NULL)
        count = *n_done;
    else
        report_positions(fs, n, NULL, &count, &failed);
    return condition_met(when, count, failed, n) ? LP_OK : LP_ETIMEDOUT;
}

lp_status lp_wait(lp_future *const *fs, size_t n, lp_return_when when,
                  int64_t timeout_ms, bool *done, size_t *n_done)
{
    int64_t deadline;

    if (lp__timeout_to_deadline(timeout_ms, &deadline) != LP_OK)
        return LP_EINVAL;
    return lp_wait_until(fs, n, when, deadline, done, n_done);
}

/* ---- as_completed ---------------------------------------------------- */

#define AS_COMPLETED_MAGIC 0x6c706163u /* "lpac" */

struct lp_as_completed {
    uint32_t magic;
    lp_future **fs; /* distinct futures, one reference each until yielded */
    size_t n;
    size_t yielded;
    bool timed_out;
    int64_t deadline;
    struct wait_node *nodes;
    struct multi_waiter w;
};

struct position {
    uintptr_t future;
    size_t pos;
};

static int compare_positions(const void *a, const void *b)
{
    const struct position *x = a, *y = b;

    if (x->future != y->future)
        return x->future < y->future ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * Copies fs without duplicates, keeping first-seen order (already-done
 * futures are then yielded in input order). `scratch` holds n positions.
 */
static size_t distinct_futures(lp_future *const *fs, size_t n, lp_future **out,
                               struct position *scratch)
{
    size_t i, count = 0;

    for (i = 0; i < n; i++)
        scratch[i] = (struct position){ (uintptr_t)fs[i], i };
    qsort(scratch, n, sizeof(*scratch), compare_positions);
    /* Mark each first occurrence by nulling out later duplicates. */
    for (i = 0; i < n; i++)
        out[i] = fs[i];
    for (i = 1; i < n; i++) {
        if (scratch[i].future == scratch[i - 1].future)
            out[scratch[i].pos] = NULL;
    }
    for (i = 0; i < n; i++) {
        if (out[i] != NULL)
            out[count++] = out[i];
    }
    return count;
}

static lp_status as_completed_alloc(size_t n, lp_as_completed **out)
{
    lp_as_completed *it = lp__calloc(1, sizeof(*it));

    if (it == NULL)
        return LP_ENOMEM;
    it->fs = lp__calloc(n ? n : 1, sizeof(*it->fs));
    it->nodes = lp__calloc(n ? n : 1, sizeof(*it->nodes));
    if (it->fs == NULL || it->nodes == NULL || waiter_init(&it->w) != LP_OK)
        goto out_free;
    it->w.ready = lp__calloc(n ? n : 1, sizeof(*it->w.ready));
    if (it->w.ready == NULL)
        goto out_waiter;
    it->w.wake_each = true;
    *out = it;
    return LP_OK;

out_waiter:
    waiter_destroy(&it->w);
out_free:
    lp__free(it->nodes);
    lp__free(it->fs);
    lp__free(it);
    return LP_ENOMEM;
}

lp_status lp_as_completed_create_until(lp_future *const *fs, size_t n,
                                       lp_deadline deadline,
                                       lp_as_completed **out)
{
    struct position *scratch;
    lp_as_completed *it;
    size_t i;

    if (out == NULL)
        return LP_EINVAL;
    *out = NULL;
    if (!valid_future_array(fs, n))
        return LP_EINVAL;
    if (as_completed_alloc(n, &it) != LP_OK)
        return LP_ENOMEM;
    scratch = lp__malloc((n ? n : 1) * sizeof(*scratch));
    if (scratch == NULL) {
        it->magic = AS_COMPLETED_MAGIC;
        lp_as_completed_destroy(it);
        return LP_ENOMEM;
    }
    it->n = distinct_futures(fs, n, it->fs, scratch);
    lp__free(scratch);
    it->deadline = deadline;
    it->magic = AS_COMPLETED_MAGIC;
    for (i = 0; i < it->n; i++) {
        lp_future_retain(it->fs[i]);
        node_install(&it->nodes[i], &it->w, it->fs[i], i);
    }
    *out = it;
    return LP_OK;
}

lp_status lp_as_completed_create(lp_future *const *fs, size_t n,
                                 int64_t timeout_ms, lp_as_completed **out)
{
    int64_t deadline;

    if (out != NULL)
        *out = NULL;
    if (lp__timeout_to_deadline(timeout_ms, &deadline) != LP_OK)
        return LP_EINVAL;
    return lp_as_completed_create_until(fs, n, deadline, out);
}

static bool as_completed_valid(const lp_as_completed *it)
{
    return it != NULL && it->magic == AS_COMPLETED_MAGIC;
}

/* Pops the next completed index, waiting until the deadline. */
static lp_status next_ready(lp_as_completed *it, size_t *index)
{
    lp_status st = LP_OK;

    lp__mutex_lock(&it->w.lock);
    while (it->w.ready_head == it->w.ready_tail && st == LP_OK)
        st = lp__cond_wait_until(&it->w.cv, &it->w.lock, it->deadline);
    if (it->w.ready_head != it->w.ready_tail) {
        *index = it->w.ready[it->w.ready_head++];
        st = LP_OK;
    }
    lp__mutex_unlock(&it->w.lock);
    return st;
}

lp_status lp_as_completed_next(lp_as_completed *it, lp_future **f)
{
    size_t index = 0;
    lp_future *fut;

    if (f != NULL)
        *f = NULL;
    if (!as_completed_valid(it) || f == NULL)
        return LP_EINVAL;
    if (it->yielded == it->n)
        return LP_EOF;
    if (it->timed_out || next_ready(it, &index) != LP_OK) {
        it->timed_out = true;
        return LP_ETIMEDOUT;
    }
    fut = it->fs[index];
    node_remove(&it->nodes[index], fut);
    it->fs[index] = NULL;
    it->yielded++;
    *f = fut;
    /* The caller's own reference keeps `fut` alive; ours is not needed. */
    lp_future_release(fut);
    return LP_OK;
}

size_t lp_as_completed_unfinished(const lp_as_completed *it, size_t *total)
{
    if (!as_completed_valid(it)) {
        if (total != NULL)
            *total = 0;
        return 0;
    }
    if (total != NULL)
        *total = it->n;
    return it->n - it->yielded;
}

void lp_as_completed_destroy(lp_as_completed *it)
{
    size_t i;

    if (!as_completed_valid(it))
        return;
    it->magic = 0;
    for (i = 0; i < it->n; i++) {
        if (it->fs[i] == NULL)
            continue;
        node_remove(&it->nodes[i], it->fs[i]);
        lp_future_release(it->fs[i]);
    }
    waiter_destroy(&it->w);
    lp__free(it->w.ready);
    lp__free(it->nodes);
    lp__free(it->fs);
    lp__free(it);
}

/*
 * countHighFrequencyItem, from Python's ThreadPoolExecutor tutorial, in C.
 *
 * The Python original:
 *
 *     def task(item, index):
 *         if item.frequency > 10:
 *             return True, index
 *         else:
 *             return False, index
 *
 *     def countHighFrequencyItem(list_of_items):
 *         if len(list_of_items) == 0:
 *             return 0
 *         all_tasks = []
 *         with ThreadPoolExecutor(max_workers=4) as executor:
 *             for item_index in range(len(list_of_items)):
 *                 all_tasks.append(executor.submit(task,
 *                     list_of_items[item_index], item_index))
 *             temp_res = list(range(len(list_of_items)))
 *             for future in as_completed(all_tasks):
 *                 tooFrequent, index = future.result()
 *                 temp_res[index] = tooFrequent
 *         count = 0
 *         for is_frequent in temp_res:
 *             if is_frequent:
 *                 count += 1
 *         return count
 *
 * The C version keeps that shape: each task returns a (bool, index) pair, the
 * results arrive through lp_as_completed in completion order and are placed
 * by index, then counted. The `with` block is LP_SCOPED_EXECUTOR: the pool is
 * shut down, waiting for its tasks, and freed however the block is left.
 *
 * Usage: count-high-frequency [-n N] [FREQUENCY...]
 *   FREQUENCY...  the items' frequencies (default: a small built-in list)
 *   -n N          N generated items, item i having frequency i % 20
 * Prints "count: C of N items" and exits 0, or prints an error and exits 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lambdapool/executor.h"

struct item {
    const char *name;
    long frequency;
};

/* What submit hands a task: the item and its index (the tuple's members). */
struct task_arg {
    const struct item *item;
    size_t index;
};

/* What a task returns: Python's `(tooFrequent, index)`. */
struct task_result {
    bool too_frequent;
    size_t index;
};

static void *task(void *arg, lp_task *t)
{
    const struct task_arg *a = arg;
    struct task_result *r = malloc(sizeof(*r));

    if (r == NULL) {
        lp_task_fail(t, ENOMEM, ENOMEM, "no memory for item %zu", a->index);
        return NULL;
    }
    r->too_frequent = a->item->frequency > 10;
    r->index = a->index;
    return r;
}

/*
 * Submits one task per item, then places each result at its index as the
 * futures complete. On success fills temp_res[0..n-1] and returns LP_OK.
 * The futures are released here; the executor is the caller's.
 */
static lp_status run_tasks(lp_executor *ex, const struct task_arg *args,
                           size_t n, bool *temp_res)
{
    lp_submit_options so = LP_SUBMIT_OPTIONS_INIT;
    lp_future **all_tasks;
    lp_as_completed *it = NULL;
    lp_future *future;
    size_t submitted = 0;
    lp_status st = LP_ENOMEM;

    all_tasks = calloc(n, sizeof(*all_tasks));
    if (all_tasks == NULL)
        return LP_ENOMEM;

    so.result_free = free;
    for (; submitted < n; submitted++) {
        st = lp_executor_submit_with(ex, task, (void *)&args[submitted], &so,
                                     &all_tasks[submitted]);
        if (st != LP_OK)
            goto out_release;
    }

    st = lp_as_completed_create(all_tasks, n, LP_WAIT_FOREVER, &it);
    if (st != LP_OK)
        goto out_release;
    while ((st = lp_as_completed_next(it, &future)) == LP_OK) {
        struct task_result *r;

        st = lp_future_result(future, LP_WAIT_FOREVER, (void **)&r);
        if (st != LP_OK)
            break;
        temp_res[r->index] = r->too_frequent;
    }
    if (st == LP_EOF)
        st = LP_OK;
    lp_as_completed_destroy(it);

out_release:
    for (size_t i = 0; i < submitted; i++)
        lp_future_release(all_tasks[i]);
    free(all_tasks);
    return st;
}

/*
 * Returns the number of items whose frequency exceeds 10 in *count. LP_OK,
 * or the first error (creating the pool, submitting, a failed task).
 */
static lp_status count_high_frequency_item(const struct item *items, size_t n,
                                           size_t *count)
{
    lp_thread_pool_options opts = LP_THREAD_POOL_OPTIONS_INIT;
    struct task_arg *args;
    bool *temp_res;
    lp_status st = LP_ENOMEM;

    *count = 0;
    if (n == 0)
        return LP_OK;

    args = calloc(n, sizeof(*args));
    temp_res = calloc(n, sizeof(*temp_res));
    if (args == NULL || temp_res == NULL)
        goto out_free;
    for (size_t i = 0; i < n; i++)
        args[i] = (struct task_arg){ &items[i], i };

    opts.max_workers = 4;
    {
        /* `with ThreadPoolExecutor(max_workers=4) as executor:` */
        LP_SCOPED_EXECUTOR lp_executor *executor = NULL;

        st = lp_thread_pool_create(&opts, &executor);
        if (st == LP_OK)
            st = run_tasks(executor, args, n, temp_res);
    }
    if (st != LP_OK)
        goto out_free;

    for (size_t i = 0; i < n; i++) {
        if (temp_res[i])
            (*count)++;
    }

out_free:
    free(temp_res);
    free(args);
    return st;
}

static const struct item builtin_items[] = {
    { "apple", 3 },  { "banana", 12 }, { "cherry", 10 }, { "date", 11 },
    { "elder", 0 },  { "fig", 42 },    { "grape", 7 },   { "kiwi", 25 },
    { "lemon", 10 }, { "mango", 11 },  { "nut", 1 },     { "olive", 99 },
};

static bool parse_long(const char *s, long *out)
{
    char *end;

    errno = 0;
    *out = strtol(s, &end, 10);
    return errno == 0 && end != s && *end == '\0';
}

/*
 * Fills the items and their count from the command line; false (message
 * printed) if an argument is bad.
 */
static bool parse_items(int argc, char **argv, struct item **items, size_t *n)
{
    long v;

    *items = NULL;
    *n = 0;
    if (argc == 3 && strcmp(argv[1], "-n") == 0) {
        if (!parse_long(argv[2], &v) || v < 0 || v > 10000000) {
            fprintf(stderr, "count-high-frequency: bad -n %s\n", argv[2]);
            return false;
        }
        *n = (size_t)v;
    } else {
        *n = (size_t)(argc - 1);
    }
    *items = calloc(*n + 1, sizeof(**items));
    if (*items == NULL) {
        fprintf(stderr, "count-high-frequency: out of memory\n");
        return false;
    }
    for (size_t i = 0; i < *n; i++) {
        if (argc == 3 && strcmp(argv[1], "-n") == 0) {
            (*items)[i] = (struct item){ "generated", (long)(i % 20) };
        } else if (parse_long(argv[i + 1], &v)) {
            (*items)[i] = (struct item){ argv[i + 1], v };
        } else {
            fprintf(stderr, "count-high-frequency: bad frequency %s\n",
                    argv[i + 1]);
            free(*items);
            return false;
        }
    }
    return true;
}

#define USAGE                                                            \
    "usage: count-high-frequency [FREQUENCY...]  items with these "      \
    "frequencies (none: a built-in list of 12)\n"                        \
    "       count-high-frequency -n COUNT        COUNT generated items " \
    "(item i has frequency i % 20)"

int main(int argc, char **argv)
{
    struct item *parsed = NULL;
    const struct item *items = builtin_items;
    size_t n = sizeof(builtin_items) / sizeof(builtin_items[0]);
    size_t count;
    int64_t t0, t1;
    lp_status st;

    if (argc == 2 &&
        (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("%s\n", USAGE);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "-n") == 0) {
        fprintf(stderr, "count-high-frequency: -n needs a count\n%s\n", USAGE);
        return 1;
    }
    if (argc > 1) {
        if (!parse_items(argc, argv, &parsed, &n))
            return 1;
        items = parsed;
    }

    t0 = lp_deadline_now();
    st = count_high_frequency_item(items, n, &count);
    t1 = lp_deadline_now();
    free(parsed);
    if (st != LP_OK) {
        fprintf(stderr, "count-high-frequency: %s\n", lp_status_str(st));
        return 1;
    }
    printf("count: %zu of %zu items (frequency > 10)\n", count, n);
    printf("time: %.3f ms with 4 workers\n", (double)(t1 - t0) / 1e6);
    return 0;
}

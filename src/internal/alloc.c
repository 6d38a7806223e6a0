/*
 * Allocation wrappers with a failure hook for tests. The hook is one atomic
 * counter: when armed (>= 0) each allocation decrements it and fails once it
 * would go below zero, so a sweep over n = 0, 1, 2, ... fails every
 * allocation site in turn. Disarmed, the cost is one relaxed load.
 */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown = -1;
static atomic_long failures;

static int should_fail(void)
{
    long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);

    while (n >= 0) {
        if (n == 0) {
            atomic_fetch_add(&failures, 1);
            return 1;
        }
        if (atomic_compare_exchange_weak(&fail_countdown, &n, n - 1))
            return 0;
    }
    return 0;
}

void *lp__malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size);
}

void *lp__calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n, size);
}

void *lp__realloc(void *p, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(p, size);
}

char *lp__strdup(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = lp__malloc(len);

    if (copy != NULL)
        memcpy(copy, s, len);
    return copy;
}

void lp__free(void *p)
{
    free(p);
}

void lp__alloc_fail_after(long n)
{
    atomic_store(&failures, 0);
    atomic_store(&fail_countdown, n < 0 ? -1 : n);
}

long lp__alloc_failures(void)
{
    return atomic_load(&failures);
}

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
#include <sys/mman.h>

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

/*
 * Blocks of BIG_MIN bytes or more (payloads, bodies) are placed on whole
 * 2 MiB units and marked for transparent huge pages. First touch of fresh
 * memory is what such a block costs: in a Firecracker microVM like Lambda's
 * each 4 KiB page fault was measured at ~14 us (0.29 GB/s to fill fresh
 * memory) against 8 GB/s with huge pages. The price is up to 2x the size in
 * memory for blocks just over a multiple of 2 MiB; where the kernel offers
 * no huge pages, the untouched rest is never committed. The block is an
 * ordinary malloc block (free() takes it).
 */
#define HUGE_UNIT ((size_t)2 << 20)
#define BIG_MIN   ((size_t)1 << 20)

static void *big_malloc(size_t size)
{
    size_t rounded = lp__align_up(size, HUGE_UNIT);
    void *p = NULL;

    if (rounded < size || posix_memalign(&p, HUGE_UNIT, rounded) != 0)
        return malloc(size);
#ifdef MADV_HUGEPAGE
    (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only */
#endif
    return p;
}

void *lp__malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return size >= BIG_MIN ? big_malloc(size) : malloc(size);
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

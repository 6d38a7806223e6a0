/*
 * Every allocation in the library goes through these wrappers so that tests
 * can make the Nth allocation fail (lp__alloc_fail_after) and check that each
 * caller reports LP_ENOMEM and leaks nothing.
 */
#ifndef LP_INTERNAL_ALLOC_H
#define LP_INTERNAL_ALLOC_H

#include <stddef.h>

void *lp__malloc(size_t size) __attribute__((warn_unused_result));
void *lp__calloc(size_t n, size_t size) __attribute__((warn_unused_result));
void *lp__realloc(void *p, size_t size) __attribute__((warn_unused_result));
char *lp__strdup(const char *s) __attribute__((warn_unused_result));
void lp__free(void *p);

/* `size` rounded up to a multiple of `align`, a power of two. */
static inline size_t lp__align_up(size_t size, size_t align)
{
    return (size + align - 1) & ~(align - 1);
}

/*
 * Test hook: the (n+1)th allocation from now fails, and every one after it
 * until the hook is reset with n < 0. Process-wide; not for production use.
 */
void lp__alloc_fail_after(long n);
/* Allocations that failed because of the hook since it was last set. */
long lp__alloc_failures(void);

#endif

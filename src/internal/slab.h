/*
 * Bump-allocated slabs for objects created at high rates (futures, and the
 * lp_bytes results and frame bodies of the process pool).
 *
 * Each thread carves objects out of its current slab of LP__SLAB_OBJECTS,
 * one slab per size class (sizes rounded up to 8 bytes): a slot is as large
 * as the object plus one word, since a million live futures cost their size
 * in page faults and cache misses. Freeing decrements the slab's live count
 * and the last free releases the slab. Slots are never reused, so allocation
 * is a bump and free is one atomic decrement, whichever thread frees. The
 * cost is memory pinned by long-lived objects: one live object keeps its
 * whole slab (its 2 MiB chunk, once the thread allocates heavily: see
 * slab.c). Objects are 8-byte aligned (no member needs more).
 */
#ifndef LP_INTERNAL_SLAB_H
#define LP_INTERNAL_SLAB_H

#include <stddef.h>

#define LP__SLAB_OBJECTS 64
/* Largest object the slab serves; larger requests fall back to malloc. */
#define LP__SLAB_OBJECT_MAX 128

/* An object of `size` bytes (zeroed), or NULL when out of memory. */
void *lp__slab_alloc(size_t size) __attribute__((warn_unused_result));
/* The same, not zeroed: for buffers about to be filled. Any size (larger
 * ones come from lp__malloc behind the same one-word header). */
void *lp__slab_alloc_raw(size_t size) __attribute__((warn_unused_result));
void lp__slab_free(void *p);

#endif

/*
 * The slab allocator behind futures, small results and frame bodies
 * (src/internal/slab.c): objects come back zeroed (or, raw, of any size)
 * and distinct, may be freed by any thread in any order, and a thread
 * that has made many slabs carves further slabs out of 2 MiB chunks without
 * an allocation each. Use-after-free and leaks of slabs or chunks are the
 * sanitizer trees' part (ASan poisons freed slots; LeakSanitizer runs at
 * exit).
 */
#include "lp-test-util.h"

#include <string.h>

#include "alloc.h"
#include "slab.h"

#define OBJ_SIZE 80
/* Enough objects that the allocating thread turns "heavy" (64 slabs of 64
 * objects) and fills several slabs from a chunk. */
#define HEAVY_OBJECTS (64 * 64 + 64 * 40)

struct batch {
    unsigned char **objs;
    size_t n;
    size_t carved_while_failing; /* allocated with every malloc failing */
};

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

/* Runs on its own thread, so that its exit retires its slabs and chunk. */
static void *allocate_batch(void *arg)
{
    struct batch *b = arg;
    size_t heavy_at = 64 * 64 + 1; /* the first object of a carved slab */

    for (size_t i = 0; i < b->n; i++) {
        if (i == heavy_at)
            lp__alloc_fail_after(0); /* a chunk has room: no malloc needed */
        b->objs[i] = lp__slab_alloc(OBJ_SIZE);
        if (i >= heavy_at && b->objs[i] != NULL)
            b->carved_while_failing++;
        if (b->objs[i] == NULL)
            break;
        if (!all_zero(b->objs[i], OBJ_SIZE))
            break;
        memset(b->objs[i], (int)(i & 0xff) | 1, OBJ_SIZE);
    }
    lp__alloc_fail_after(-1);
    return NULL;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (unsigned char *const *)a;
    uintptr_t y = (uintptr_t) * (unsigned char *const *)b;

    return x < y ? -1 : x > y;
}

TEST(heavy_thread_carves_slabs_from_chunks)
{
    struct batch b = { .n = HEAVY_OBJECTS };
    unsigned char **sorted;
    pthread_t t;

    b.objs = calloc(b.n, sizeof(*b.objs));
    sorted = calloc(b.n, sizeof(*sorted));
    ASSERT_TRUE(b.objs != NULL && sorted != NULL);
    ASSERT_EQ(0, pthread_create(&t, NULL, allocate_batch, &b));
    ASSERT_EQ(0, pthread_join(t, NULL));
    /* The first chunk (2 MiB) holds these slabs; none needed a malloc. */
    ASSERT_EQ(b.n - (64 * 64 + 1), b.carved_while_failing);
    for (size_t i = 0; i < b.n; i++) {
        ASSERT_TRUE(b.objs[i] != NULL);
        ASSERT_EQ((i & 0xff) | 1, b.objs[i][0]);
        ASSERT_EQ((i & 0xff) | 1, b.objs[i][OBJ_SIZE - 1]);
    }
    /* Distinct and not overlapping. */
    memcpy(sorted, b.objs, b.n * sizeof(*sorted));
    qsort(sorted, b.n, sizeof(*sorted), cmp_ptr);
    for (size_t i = 1; i < b.n; i++)
        ASSERT_TRUE(sorted[i] - sorted[i - 1] >= OBJ_SIZE);
    /* Freed from another thread, every other one first: slabs and the
     * chunk are released with their last object (LeakSanitizer checks). */
    for (size_t i = 0; i < b.n; i += 2)
        lp__slab_free(b.objs[i]);
    for (size_t i = 1; i < b.n; i += 2)
        lp__slab_free(b.objs[i]);
    free(sorted);
    free(b.objs);
}

/* A thread that stays light never allocates a chunk: with every malloc
 * failing, its next slab cannot be made. */
static void *light_thread(void *arg)
{
    void **objs = arg;
    void *extra;

    for (int i = 0; i < 64; i++)
        objs[i] = lp__slab_alloc(OBJ_SIZE);
    lp__alloc_fail_after(0);
    extra = lp__slab_alloc(OBJ_SIZE); /* a 2nd slab: malloc, which fails */
    lp__alloc_fail_after(-1);
    return extra;
}

TEST(light_thread_uses_malloc)
{
    void *objs[64], *extra = (void *)1;
    pthread_t t;

    ASSERT_EQ(0, pthread_create(&t, NULL, light_thread, objs));
    ASSERT_EQ(0, pthread_join(t, &extra));
    ASSERT_NULL(extra);
    for (int i = 0; i < 64; i++) {
        ASSERT_TRUE(objs[i] != NULL);
        lp__slab_free(objs[i]);
    }
}

/* Unzeroed objects of any size (buffers a reader fills): small ones from
 * the slab, large ones from malloc behind the same header; lp__slab_free
 * takes both (ASan checks the bounds and that nothing leaks). */
TEST(raw_objects_of_any_size)
{
    size_t sizes[] = { 0, 1, 120, 128, 129, 4096, (size_t)1 << 20 };
    unsigned char *p[sizeof(sizes) / sizeof(sizes[0])];

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        p[i] = lp__slab_alloc_raw(sizes[i]);
        ASSERT_TRUE(p[i] != NULL);
        memset(p[i], (int)i + 1, sizes[i]);
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        if (sizes[i] > 0) {
            ASSERT_EQ(i + 1, p[i][0]);
            ASSERT_EQ(i + 1, p[i][sizes[i] - 1]);
        }
        lp__slab_free(p[i]);
    }
}

LP_TEST_MAIN()

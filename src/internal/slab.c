/*
 * See slab.h. Every object carries a one-word header naming its slab (NULL
 * for objects too large for the slab, which come from lp__malloc). A
 * thread's current slab of a size class starts with a live count of
 * LP__SLAB_OBJECTS; slots never handed out are subtracted when the thread
 * moves on to a new slab or exits (a pthread key destructor), so the count
 * reaches zero exactly when every handed-out object was freed. Under
 * AddressSanitizer freed slots are poisoned, so use-after-free is still
 * reported.
 *
 * A thread that has made HEAVY_SLABS slabs (a submitting thread in a burst)
 * carves its further slabs out of 2 MiB chunks, which lp__malloc places on
 * huge pages where the kernel offers them: a benchmark holding a million
 * live futures took 2,700 page faults instead of 24,100, and a 4 KiB fault
 * was measured at ~14 us in a Firecracker microVM. A chunk counts its slabs
 * the way a slab counts its objects (plus one while it is its thread's
 * current chunk), so it is freed with the last of them; one live object can
 * thus pin 2 MiB.
 */
#include "slab.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"

#if defined(__has_feature)
#    if __has_feature(address_sanitizer)
#        define LP__ASAN 1
#    endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#    define LP__ASAN 1
#endif
#ifdef LP__ASAN
#    include <sanitizer/asan_interface.h>
#    define POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#    define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#    define POISON(p, n)   ((void)(p), (void)(n))
#    define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct slab;

struct header {
    struct slab *slab; /* NULL: allocated with lp__malloc */
};

#define GRAIN    sizeof(struct header)
#define NCLASSES (LP__SLAB_OBJECT_MAX / GRAIN)

#define HEAVY_SLABS 64
#define CHUNK_SIZE  ((size_t)2 << 20)

struct chunk {
    atomic_uint live; /* slabs not yet released, +1 while current */
    size_t used;      /* bytes carved, this header included */
};

struct slab {
    atomic_uint live;
    size_t slot_size;    /* header included */
    struct chunk *chunk; /* NULL: allocated on its own */
    alignas(16) unsigned char slots[];
};

struct thread_cache {
    struct slab *current;
    unsigned used;
};

/* One current slab per size class; class i serves sizes up to (i+1)*8. */
static _Thread_local struct thread_cache caches[NCLASSES];
/* The thread's chunk to carve slabs from, and how many slabs it made. */
static _Thread_local struct chunk *current_chunk;
static _Thread_local unsigned slabs_made;

static void release_chunk(struct chunk *c)
{
    if (atomic_fetch_sub(&c->live, 1) == 1)
        lp__free(c);
}

static void retire_chunk(void)
{
    if (current_chunk != NULL) {
        release_chunk(current_chunk);
        current_chunk = NULL;
    }
}

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void release_slots(struct slab *s, unsigned n)
{
    if (n > 0 && atomic_fetch_sub(&s->live, n) == n) {
        if (s->chunk != NULL)
            release_chunk(s->chunk);
        else
            lp__free(s);
    }
}

/* Gives back the slots the thread will never hand out. */
static void retire_current(struct thread_cache *c)
{
    if (c->current != NULL) {
        release_slots(c->current, LP__SLAB_OBJECTS - c->used);
        c->current = NULL;
    }
}

static void thread_exit(void *unused)
{
    size_t i;

    (void)unused;
    for (i = 0; i < NCLASSES; i++)
        retire_current(&caches[i]);
    retire_chunk();
}

static void make_exit_key(void)
{
    pthread_key_create(&exit_key, thread_exit);
}

/* `size` bytes (a multiple of 16) from the thread's chunk, a new one if it
 * is full; NULL when out of memory. */
static void *carve(size_t size)
{
    struct chunk *c = current_chunk;
    void *p;

    if (c == NULL || CHUNK_SIZE - c->used < size) {
        c = lp__malloc(CHUNK_SIZE);
        if (c == NULL)
            return NULL;
        atomic_init(&c->live, 1);
        c->used = lp__align_up(sizeof(*c), 16);
        retire_chunk();
        current_chunk = c;
    }
    p = (unsigned char *)c + c->used;
    c->used += size;
    atomic_fetch_add_explicit(&c->live, 1, memory_order_relaxed);
    return p;
}

static struct slab *new_slab(size_t slot_size)
{
    size_t size =
        lp__align_up(sizeof(struct slab) + LP__SLAB_OBJECTS * slot_size, 16);
    bool heavy = slabs_made >= HEAVY_SLABS;
    struct slab *s = heavy ? carve(size) : lp__malloc(size);

    if (s == NULL)
        return NULL;
    if (!heavy)
        slabs_made++;
    atomic_init(&s->live, LP__SLAB_OBJECTS);
    s->slot_size = slot_size;
    s->chunk = heavy ? current_chunk : NULL;
    POISON(s->slots, LP__SLAB_OBJECTS * slot_size);
    return s;
}

static void *from_malloc(size_t size, bool zero)
{
    struct header *h;

    if (size > SIZE_MAX - sizeof(*h))
        return NULL;
    h = lp__malloc(sizeof(*h) + size);
    if (h == NULL)
        return NULL;
    h->slab = NULL;
    if (zero)
        memset(h + 1, 0, size);
    return h + 1;
}

/* Moves `c` on to a fresh slab of `slot_size` slots; false when out of
 * memory. */
static bool refill(struct thread_cache *c, size_t slot_size)
{
    struct slab *s = new_slab(slot_size);

    if (s == NULL)
        return false;
    pthread_once(&exit_key_once, make_exit_key);
    pthread_setspecific(exit_key, caches);
    retire_current(c);
    c->current = s;
    c->used = 0;
    return true;
}

static void *slab_alloc(size_t size, bool zero)
{
    struct thread_cache *c;
    struct header *h;
    size_t class, slot_size;

    if (size > LP__SLAB_OBJECT_MAX)
        return from_malloc(size, zero);
    class = size == 0 ? 0 : (size - 1) / GRAIN;
    slot_size = (class + 1) * GRAIN + sizeof(*h);
    c = &caches[class];
    if ((c->current == NULL || c->used == LP__SLAB_OBJECTS) &&
        !refill(c, slot_size))
        return NULL;
    h = (struct header *)(c->current->slots + c->used++ * slot_size);
    /* Objects come from memory nobody touched yet: ask for the slot after
     * next now, so its cache miss overlaps the work on this one. */
    if (c->used + 1 < LP__SLAB_OBJECTS)
        __builtin_prefetch((char *)h + 2 * slot_size, 1);
    UNPOISON(h, slot_size);
    h->slab = c->current;
    if (zero)
        memset(h + 1, 0, size);
    return h + 1;
}

void *lp__slab_alloc(size_t size)
{
    return slab_alloc(size, true);
}

void *lp__slab_alloc_raw(size_t size)
{
    return slab_alloc(size, false);
}

void lp__slab_free(void *p)
{
    struct header *h;
    struct slab *s;

    if (p == NULL)
        return;
    h = (struct header *)p - 1;
    s = h->slab;
    if (s == NULL) {
        lp__free(h);
        return;
    }
    POISON(h, s->slot_size);
    release_slots(s, 1);
}

/*
 * Blocking calls that name a client share its DNS cache between threads: a
 * name one thread resolved is not looked up again by another.
 *
 * The observable is getaddrinfo itself. This executable defines it, and
 * libcurl's resolver calls that definition (the dynamic linker looks in the
 * executable first; tests/http.cmake exports the symbol), which counts the
 * lookups of one made-up name and answers them as if it were 127.0.0.1,
 * without asking any name server; other names go on to the C library. The
 * name is under .invalid (RFC 6761), and the test first checks that the
 * interposition is in effect, so a build where it is not fails instead of
 * sending the name to a real resolver.
 */
#include <dlfcn.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "delay_server.h"
#include "lp-test.h"

#define TEST_HOST "lp-dns-cache.invalid"

typedef int (*getaddrinfo_fn)(const char *, const char *,
                              const struct addrinfo *, struct addrinfo **);

static atomic_int lookups;

/*
 * Counts lookups of TEST_HOST, answered as 127.0.0.1; passes on the rest.
 * Default visibility: the build hides symbols unless told otherwise.
 */
__attribute__((visibility("default"))) int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
            struct addrinfo **res)
{
    getaddrinfo_fn next = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");

    if (next == NULL)
        return EAI_SYSTEM;
    if (node != NULL && strcmp(node, TEST_HOST) == 0) {
        atomic_fetch_add(&lookups, 1);
        node = "127.0.0.1";
    }
    return next(node, service, hints, res);
}

struct get_arg {
    lp_http_client *client;
    const char *url;
};

/* A pool task: a blocking GET; returns the HTTP status. */
static void *get_task(void *arg, lp_task *task)
{
    struct get_arg *a = arg;
    lp_http_response *r;
    lp_status st = lp_http_get(a->client, a->url, 10000, &r);
    int status;

    if (st != LP_OK) {
        lp_task_fail(task, (int)st, 0, "%s", lp_status_str(st));
        return NULL;
    }
    status = r->status;
    lp_http_response_free(r);
    return (void *)(intptr_t)status;
}

static void get_ok(lp_http_client *c, const char *url)
{
    lp_http_response *r;

    ASSERT_OK(lp_http_get(c, url, 10000, &r));
    ASSERT_EQ(200, r->status);
    lp_http_response_free(r);
}

static void *get_without_client(void *url)
{
    get_ok(NULL, url);
    return NULL;
}

TEST(blocking_calls_share_the_dns_cache)
{
    pthread_t t;
    enum { N = 4 };
    lp_thread_pool_options po = LP_THREAD_POOL_OPTIONS_INIT;
    struct delay_server *server;
    struct get_arg arg;
    lp_http_client *c;
    lp_executor *ex;
    lp_future *fs[N];
    char url[96];
    int before;

    /* The premise: libcurl's lookups come here, never to a name server. */
    ASSERT_TRUE(dlsym(RTLD_DEFAULT, "getaddrinfo") == (void *)getaddrinfo);
    ASSERT_EQ(0, delay_server_start("127.0.0.1", 0, &server));
    snprintf(url, sizeof(url), "http://" TEST_HOST ":%d/delay/0",
             delay_server_port(server));

    /* Without a client nothing is shared between threads: this thread's
     * second call reuses its kept connection (no lookup), another thread
     * looks the name up again. */
    before = atomic_load(&lookups);
    get_ok(NULL, url);
    get_ok(NULL, url);
    ASSERT_EQ(before + 1, atomic_load(&lookups));
    ASSERT_EQ(0, pthread_create(&t, NULL, get_without_client, url));
    ASSERT_EQ(0, pthread_join(t, NULL));
    ASSERT_EQ(before + 2, atomic_load(&lookups));

    /* With one, this thread looks the name up once, and calls on the pool's
     * threads find it in the client's cache. */
    ASSERT_OK(lp_http_client_create(NULL, &c));
    before = atomic_load(&lookups);
    get_ok(c, url);
    ASSERT_EQ(before + 1, atomic_load(&lookups));
    po.max_workers = 2;
    ASSERT_OK(lp_thread_pool_create(&po, &ex));
    arg.client = c;
    arg.url = url;
    for (int i = 0; i < N; i++)
        ASSERT_OK(lp_executor_submit(ex, get_task, &arg, &fs[i]));
    for (int i = 0; i < N; i++) {
        void *v;

        ASSERT_OK(lp_future_result(fs[i], 20000, &v));
        ASSERT_EQ(200, (intptr_t)v);
        lp_future_release(fs[i]);
    }
    ASSERT_EQ(before + 1, atomic_load(&lookups));
    lp_executor_destroy(ex);
    lp_http_client_destroy(c);
    delay_server_stop(server);
}

LP_TEST_MAIN()

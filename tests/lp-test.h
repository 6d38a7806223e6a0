/*
 * A small test harness: TEST(name) defines a case, ASSERT_* print both sides
 * and abort the process (CTest counts it failed); they ignore NDEBUG.
 * main() comes from LP_TEST_MAIN(), which runs the cases given on the command
 * line, or all of them.
 */
#ifndef LP_TEST_H
#define LP_TEST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lambdapool/lambdapool.h"

typedef void (*lp_test_fn)(void);
struct lp_test_case {
    const char *name;
    lp_test_fn fn;
};

#define LP_TEST_MAX 256
extern struct lp_test_case lp_test_cases[LP_TEST_MAX];
extern int lp_test_count;

#define TEST(name)                                                 \
    static void test_##name(void);                                 \
    __attribute__((constructor)) static void register_##name(void) \
    {                                                              \
        if (lp_test_count < LP_TEST_MAX)                           \
            lp_test_cases[lp_test_count++] =                       \
                (struct lp_test_case){ #name, test_##name };       \
    }                                                              \
    static void test_##name(void)

#define LP_TEST_FAIL(...)                               \
    do {                                                \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
        fprintf(stderr, __VA_ARGS__);                   \
        fputc('\n', stderr);                            \
        abort();                                        \
    } while (0)

#define ASSERT_TRUE(c)                                  \
    do {                                                \
        if (!(c))                                       \
            LP_TEST_FAIL("ASSERT_TRUE(%s) failed", #c); \
    } while (0)
#define ASSERT_FALSE(c) ASSERT_TRUE(!(c))

#define ASSERT_EQ(a, b)                                                    \
    do {                                                                   \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                   \
        if (a_ != b_)                                                      \
            LP_TEST_FAIL("ASSERT_EQ(%s, %s): %jd != %jd", #a, #b, a_, b_); \
    } while (0)
#define ASSERT_NE(a, b)                                              \
    do {                                                             \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);             \
        if (a_ == b_)                                                \
            LP_TEST_FAIL("ASSERT_NE(%s, %s): both %jd", #a, #b, a_); \
    } while (0)
#define ASSERT_LE(a, b)                                                   \
    do {                                                                  \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                  \
        if (!(a_ <= b_))                                                  \
            LP_TEST_FAIL("ASSERT_LE(%s, %s): %jd > %jd", #a, #b, a_, b_); \
    } while (0)
#define ASSERT_GE(a, b) ASSERT_LE(b, a)

/* Status checks print the status names. */
#define ASSERT_STATUS(want, got)                                         \
    do {                                                                 \
        lp_status w_ = (want), g_ = (got);                               \
        if (w_ != g_)                                                    \
            LP_TEST_FAIL("%s: want %s, got %s", #got, lp_status_str(w_), \
                         lp_status_str(g_));                             \
    } while (0)
#define ASSERT_OK(x) ASSERT_STATUS(LP_OK, x)

#define ASSERT_PTR_EQ(a, b)                                                  \
    do {                                                                     \
        const void *a_ = (a), *b_ = (b);                                     \
        if (a_ != b_)                                                        \
            LP_TEST_FAIL("ASSERT_PTR_EQ(%s, %s): %p != %p", #a, #b, a_, b_); \
    } while (0)
#define ASSERT_NULL(a) ASSERT_PTR_EQ(a, NULL)
#define ASSERT_STR_EQ(a, b)                                                 \
    do {                                                                    \
        const char *a_ = (a), *b_ = (b);                                    \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                \
            LP_TEST_FAIL("ASSERT_STR_EQ(%s, %s): \"%s\" != \"%s\"", #a, #b, \
                         a_ ? a_ : "(null)", b_ ? b_ : "(null)");           \
    } while (0)

static inline int64_t lp_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void lp_test_sleep_ms(int64_t ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Runs the named cases (argv[1..]) or all; prints one line per case. */
#define LP_TEST_MAIN()                                                      \
    struct lp_test_case lp_test_cases[LP_TEST_MAX];                         \
    int lp_test_count;                                                      \
    int main(int argc, char **argv)                                         \
    {                                                                       \
        int ran = 0;                                                        \
        for (int i = 0; i < lp_test_count; i++) {                           \
            bool want = argc < 2;                                           \
            for (int j = 1; j < argc; j++)                                  \
                want = want || strcmp(argv[j], lp_test_cases[i].name) == 0; \
            if (!want)                                                      \
                continue;                                                   \
            int64_t t0 = lp_test_now_ms();                                  \
            lp_test_cases[i].fn();                                          \
            printf("ok %s (%" PRId64 " ms)\n", lp_test_cases[i].name,       \
                   lp_test_now_ms() - t0);                                  \
            fflush(stdout);                                                 \
            ran++;                                                          \
        }                                                                   \
        printf("%d passed, 0 failed\n", ran);                               \
        return ran > 0 ? 0 : 1;                                             \
    }

#endif

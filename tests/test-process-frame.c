/*
 * The process pool's frame codec (src/internal/frame.c): round trips through
 * the streaming reader fed in pieces of every size, bodies large enough to
 * take the in-place path, the reserved prefix, and every malformed-header
 * and malformed-entry case.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "frame.h"
#include "lp-test.h"

static size_t encode(unsigned char *out, const struct lp__frame_header *h,
                     const unsigned char *body)
{
    lp__frame_encode_header(out, h);
    if (h->len > 0)
        memcpy(out + LP__FRAME_HEADER_SIZE, body, (size_t)h->len);
    return LP__FRAME_HEADER_SIZE + (size_t)h->len;
}

/* Feeds `len` bytes in pieces of `step` and checks the frames that come
 * out against `want`; returns how many came out. */
static int feed(const unsigned char *stream, size_t len, size_t step,
                const struct lp__frame_header *want,
                const unsigned char *const *bodies, size_t prefix)
{
    struct lp__frame_reader r;
    struct lp__frame_header h;
    unsigned char *p, *body;
    size_t room, off = 0;
    int got = 0;
    lp_status st;

    ASSERT_OK(lp__frame_reader_init(&r, 1 << 24, prefix));
    while (off < len) {
        lp__frame_reader_space(&r, &p, &room);
        ASSERT_TRUE(room > 0);
        if (room > step)
            room = step;
        if (room > len - off)
            room = len - off;
        memcpy(p, stream + off, room);
        lp__frame_reader_commit(&r, room);
        off += room;
        while ((st = lp__frame_reader_next(&r, &h, &body)) == LP_OK) {
            ASSERT_EQ(want[got].type, h.type);
            ASSERT_EQ(want[got].code, h.code);
            ASSERT_EQ(want[got].sys_errno, h.sys_errno);
            ASSERT_EQ(want[got].index, h.index);
            ASSERT_TRUE(want[got].id == h.id);
            ASSERT_TRUE(want[got].fn == h.fn);
            ASSERT_TRUE(want[got].len == h.len);
            ASSERT_EQ(0, memcmp(body, bodies[got], (size_t)h.len));
            ASSERT_EQ(0, body[h.len]);
            lp__frame_body_free(&r, body);
            got++;
        }
        ASSERT_STATUS(LP_EOF, st);
    }
    ASSERT_FALSE(lp__frame_reader_partial(&r));
    lp__frame_reader_destroy(&r);
    return got;
}

TEST(frames_survive_any_split)
{
    size_t big_len = 200 * 1024, total = 0;
    unsigned char *big = malloc(big_len);
    unsigned char *stream = malloc(big_len + 4096);
    struct lp__frame_header h[4] = {
        { .type = LP__FRAME_RESULT, .id = 7, .len = 5 },
        { .type = LP__FRAME_FAIL,
          .code = -3,
          .sys_errno = 5,
          .index = 9,
          .id = 8,
          .len = 4 },
        { .type = LP__FRAME_RESULT, .id = UINT64_MAX, .len = big_len },
        { .type = LP__FRAME_INIT_FAIL, .code = 12 },
    };
    const unsigned char *bodies[4] = { (const unsigned char *)"hello",
                                       (const unsigned char *)"boom", big,
                                       (const unsigned char *)"" };
    static const size_t steps[] = { 1, 2, 7, 47, 48, 49, 4096, 65536, 1 << 20 };

    ASSERT_TRUE(big != NULL && stream != NULL);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (unsigned char)(i * 7 + 3);
    for (int i = 0; i < 4; i++)
        total += encode(stream + total, &h[i], bodies[i]);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        ASSERT_EQ(4, feed(stream, total, steps[i], h, bodies, 0));
        ASSERT_EQ(4, feed(stream, total, steps[i], h, bodies, 16));
    }
    free(big);
    free(stream);
}

static lp_status decode(void (*spoil)(unsigned char *hdr), uint64_t max)
{
    struct lp__frame_header h = { .type = LP__FRAME_RESULT, .len = 10 };
    unsigned char buf[LP__FRAME_HEADER_SIZE];

    lp__frame_encode_header(buf, &h);
    if (spoil != NULL)
        spoil(buf);
    return lp__frame_decode_header(buf, max, &h);
}

static void bad_magic(unsigned char *b)
{
    b[0] ^= 1;
}

static void bad_type(unsigned char *b)
{
    b[4] = 9;
}

static void zero_type(unsigned char *b)
{
    b[4] = 0;
}

static void reserved_a(unsigned char *b)
{
    b[6] = 1;
}

static void reserved_b(unsigned char *b)
{
    b[23] = 1;
}

TEST(malformed_headers)
{
    ASSERT_OK(decode(NULL, 10));
    ASSERT_STATUS(LP_ETOOBIG, decode(NULL, 9));
    ASSERT_STATUS(LP_EPROTO, decode(bad_magic, 10));
    ASSERT_STATUS(LP_EPROTO, decode(bad_type, 10));
    ASSERT_STATUS(LP_EPROTO, decode(zero_type, 10));
    ASSERT_STATUS(LP_EPROTO, decode(reserved_a, 10));
    ASSERT_STATUS(LP_EPROTO, decode(reserved_b, 10));
}

TEST(reader_reports_corruption_and_truncation)
{
    struct lp__frame_reader r;
    struct lp__frame_header h = { .type = LP__FRAME_RESULT, .len = 100 };
    unsigned char *p, *body;
    size_t room;

    ASSERT_OK(lp__frame_reader_init(&r, 50, 0));
    lp__frame_reader_space(&r, &p, &room);
    lp__frame_encode_header(p, &h);
    lp__frame_reader_commit(&r, LP__FRAME_HEADER_SIZE);
    ASSERT_STATUS(LP_ETOOBIG, lp__frame_reader_next(&r, &h, &body));
    lp__frame_reader_destroy(&r);

    h.len = 10;
    ASSERT_OK(lp__frame_reader_init(&r, 50, 0));
    lp__frame_reader_space(&r, &p, &room);
    lp__frame_encode_header(p, &h);
    memcpy(p + LP__FRAME_HEADER_SIZE, "abc", 3);
    lp__frame_reader_commit(&r, LP__FRAME_HEADER_SIZE + 3);
    ASSERT_STATUS(LP_EOF, lp__frame_reader_next(&r, &h, &body));
    ASSERT_TRUE(lp__frame_reader_partial(&r)); /* EOF now = truncated */
    lp__frame_reader_destroy(&r);
}

TEST(entries_walk_and_overrun)
{
    unsigned char body[3 * LP__FRAME_ENTRY_SIZE + 8];
    const unsigned char *data;
    size_t off = 0, len, n = 0;
    uint32_t index;

    lp__frame_encode_entry(body, 4, 3);
    memcpy(body + LP__FRAME_ENTRY_SIZE, "abc", 3);
    n = LP__FRAME_ENTRY_SIZE + 3;
    lp__frame_encode_entry(body + n, 5, 0);
    n += LP__FRAME_ENTRY_SIZE;
    ASSERT_OK(lp__frame_next_entry(body, n, &off, &index, &data, &len));
    ASSERT_EQ(4, index);
    ASSERT_EQ(3, len);
    ASSERT_EQ(0, memcmp(data, "abc", 3));
    ASSERT_OK(lp__frame_next_entry(body, n, &off, &index, &data, &len));
    ASSERT_EQ(5, index);
    ASSERT_EQ(0, len);
    ASSERT_STATUS(LP_EOF,
                  lp__frame_next_entry(body, n, &off, &index, &data, &len));

    /* An entry claiming more than the body holds. */
    lp__frame_encode_entry(body, 1, 1000);
    off = 0;
    ASSERT_STATUS(LP_EPROTO, lp__frame_next_entry(body, LP__FRAME_ENTRY_SIZE,
                                                  &off, &index, &data, &len));
    /* A body cut inside an entry header. */
    off = 0;
    ASSERT_STATUS(LP_EPROTO,
                  lp__frame_next_entry(body, 5, &off, &index, &data, &len));
    /* Reserved bits set. */
    lp__frame_encode_entry(body, 1, 0);
    body[5] = 1;
    off = 0;
    ASSERT_STATUS(LP_EPROTO, lp__frame_next_entry(body, LP__FRAME_ENTRY_SIZE,
                                                  &off, &index, &data, &len));
}

TEST(reader_allocation_failure)
{
    struct lp__frame_reader r;

    lp__alloc_fail_after(0);
    ASSERT_STATUS(LP_ENOMEM, lp__frame_reader_init(&r, 10, 0));
    lp__alloc_fail_after(-1);
}

LP_TEST_MAIN()

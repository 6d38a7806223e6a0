/*
 * Fuzz target for the process pool's wire format (src/internal/frame.c):
 * the bytes a worker sends its parent, which a crashing or scribbling task
 * can corrupt. The first input byte picks how the stream is cut into reads;
 * the rest is fed to a frame reader, and every TASKS body it yields is
 * walked entry by entry. Every header decoded is re-encoded and must decode
 * to the same fields. Never crashes, leaks or reads out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "frame.h"

#define FUZZ_MAX_LEN (1u << 20)

static void walk_entries(const unsigned char *body, size_t len)
{
    const unsigned char *data;
    size_t off = 0, n;
    uint32_t index;

    while (lp__frame_next_entry(body, len, &off, &index, &data, &n) == LP_OK) {
        if (data < body || data + n > body + len)
            abort();
    }
}

static void check_round_trip(const struct lp__frame_header *h)
{
    unsigned char buf[LP__FRAME_HEADER_SIZE];
    struct lp__frame_header back;

    lp__frame_encode_header(buf, h);
    if (lp__frame_decode_header(buf, FUZZ_MAX_LEN, &back) != LP_OK ||
        back.type != h->type || back.code != h->code ||
        back.sys_errno != h->sys_errno || back.index != h->index ||
        back.id != h->id || back.fn != h->fn || back.len != h->len)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lp__frame_reader r;
    struct lp__frame_header h;
    unsigned char *p, *body;
    size_t room, step, off = 1;
    lp_status st = LP_EOF;

    if (size < 1 ||
        lp__frame_reader_init(&r, FUZZ_MAX_LEN, data[0] & 1 ? 16 : 0) != LP_OK)
        return 0;
    step = (size_t)data[0] % 61 + 1;
    while (off < size && (st == LP_EOF || st == LP_OK)) {
        lp__frame_reader_space(&r, &p, &room);
        if (room > step)
            room = step;
        if (room > size - off)
            room = size - off;
        memcpy(p, data + off, room);
        lp__frame_reader_commit(&r, room);
        off += room;
        while ((st = lp__frame_reader_next(&r, &h, &body)) == LP_OK) {
            if (body[h.len] != '\0')
                abort();
            check_round_trip(&h);
            if (h.type == LP__FRAME_TASKS)
                walk_entries(body, (size_t)h.len);
            lp__frame_body_free(&r, body);
        }
    }
    (void)lp__frame_reader_partial(&r);
    lp__frame_reader_destroy(&r);
    return 0;
}

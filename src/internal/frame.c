/*
 * The process pool's frame codec (format: frame.h). Encoding writes fixed
 * headers; decoding is a small state machine over a 64 KiB buffer: a header
 * is parsed once 48 bytes are buffered, its body is allocated whole, filled
 * from the buffer and, for large bodies, then read straight into place. The
 * reader never trusts a length before checking it against the cap, and
 * reports every inconsistency as LP_EPROTO.
 */
#include "frame.h"

#include <string.h>

#include "alloc.h"
#include "slab.h"

#define READER_BUF_SIZE (64 * 1024)

static void put16(unsigned char *p, uint16_t v)
{
    memcpy(p, &v, sizeof(v));
}

static void put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}

static void put64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, sizeof(v));
}

static uint16_t get16(const unsigned char *p)
{
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

void lp__frame_encode_header(unsigned char out[LP__FRAME_HEADER_SIZE],
                             const struct lp__frame_header *h)
{
    put32(out, LP__FRAME_MAGIC);
    put16(out + 4, h->type);
    put16(out + 6, 0);
    put32(out + 8, (uint32_t)h->code);
    put32(out + 12, (uint32_t)h->sys_errno);
    put32(out + 16, h->index);
    put32(out + 20, 0);
    put64(out + 24, h->id);
    put64(out + 32, h->fn);
    put64(out + 40, h->len);
}

void lp__frame_set_id(unsigned char hdr[LP__FRAME_HEADER_SIZE], uint64_t id)
{
    put64(hdr + 24, id);
}

lp_status lp__frame_decode_header(const unsigned char in[LP__FRAME_HEADER_SIZE],
                                  uint64_t max_len, struct lp__frame_header *h)
{
    if (get32(in) != LP__FRAME_MAGIC || get16(in + 6) != 0 ||
        get32(in + 20) != 0)
        return LP_EPROTO;
    h->type = get16(in + 4);
    if (h->type < LP__FRAME_TASKS || h->type > LP__FRAME_HELLO)
        return LP_EPROTO;
    h->code = (int32_t)get32(in + 8);
    h->sys_errno = (int32_t)get32(in + 12);
    h->index = get32(in + 16);
    h->id = get64(in + 24);
    h->fn = get64(in + 32);
    h->len = get64(in + 40);
    if (h->len > max_len)
        return LP_ETOOBIG;
    return LP_OK;
}

void lp__frame_encode_entry(unsigned char out[LP__FRAME_ENTRY_SIZE],
                            uint32_t index, uint64_t len)
{
    put32(out, index);
    put32(out + 4, 0);
    put64(out + 8, len);
}

lp_status lp__frame_next_entry(const unsigned char *body, size_t body_len,
                               size_t *off, uint32_t *index,
                               const unsigned char **data, size_t *len)
{
    size_t left;
    uint64_t n;

    if (*off == body_len)
        return LP_EOF;
    if (*off > body_len || body_len - *off < LP__FRAME_ENTRY_SIZE)
        return LP_EPROTO;
    if (get32(body + *off + 4) != 0)
        return LP_EPROTO;
    n = get64(body + *off + 8);
    left = body_len - *off - LP__FRAME_ENTRY_SIZE;
    if (n > left)
        return LP_EPROTO;
    *index = get32(body + *off);
    *data = body + *off + LP__FRAME_ENTRY_SIZE;
    *len = (size_t)n;
    *off += LP__FRAME_ENTRY_SIZE + (size_t)n;
    return LP_OK;
}

lp_status lp__frame_reader_init(struct lp__frame_reader *r, uint64_t max_len,
                                size_t prefix)
{
    memset(r, 0, sizeof(*r));
    r->buf = lp__malloc(READER_BUF_SIZE);
    if (r->buf == NULL)
        return LP_ENOMEM;
    r->cap = READER_BUF_SIZE;
    r->max_len = max_len;
    r->prefix = prefix;
    return LP_OK;
}

void lp__frame_body_free(const struct lp__frame_reader *r, unsigned char *body)
{
    if (body != NULL)
        lp__slab_free(body - r->prefix);
}

void lp__frame_reader_destroy(struct lp__frame_reader *r)
{
    lp__free(r->buf);
    lp__frame_body_free(r, r->body);
    memset(r, 0, sizeof(*r));
}

bool lp__frame_reader_partial(const struct lp__frame_reader *r)
{
    return r->have_header || r->end > r->start;
}

void lp__frame_reader_space(struct lp__frame_reader *r, unsigned char **p,
                            size_t *room)
{
    if (r->direct) {
        *p = r->body + r->body_got;
        *room = (size_t)r->hdr.len - r->body_got;
        return;
    }
    if (r->start > 0 && (r->end == r->cap || r->start == r->end)) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    *p = r->buf + r->end;
    *room = r->cap - r->end;
}

void lp__frame_reader_commit(struct lp__frame_reader *r, size_t n)
{
    if (r->direct)
        r->body_got += n;
    else
        r->end += n;
}

/* Parses a header out of the buffer and allocates its body. */
static lp_status start_frame(struct lp__frame_reader *r)
{
    lp_status st;

    st = lp__frame_decode_header(r->buf + r->start, r->max_len, &r->hdr);
    if (st != LP_OK)
        return st;
    r->start += LP__FRAME_HEADER_SIZE;
    r->body = lp__slab_alloc_raw(r->prefix + (size_t)r->hdr.len + 1);
    if (r->body == NULL)
        return LP_ENOMEM;
    r->body += r->prefix;
    r->body_got = 0;
    r->have_header = true;
    return LP_OK;
}

lp_status lp__frame_reader_next(struct lp__frame_reader *r,
                                struct lp__frame_header *h,
                                unsigned char **body)
{
    size_t want, avail;
    lp_status st;

    if (!r->have_header) {
        if (r->end - r->start < LP__FRAME_HEADER_SIZE)
            return LP_EOF;
        st = start_frame(r);
        if (st != LP_OK)
            return st;
    }
    if (!r->direct) {
        want = (size_t)r->hdr.len - r->body_got;
        avail = r->end - r->start;
        if (avail > want)
            avail = want;
        memcpy(r->body + r->body_got, r->buf + r->start, avail);
        r->body_got += avail;
        r->start += avail;
        /* A large remainder is read in place, skipping the buffer. */
        if (r->body_got < r->hdr.len && want - avail >= r->cap / 2)
            r->direct = true;
    }
    if (r->body_got < r->hdr.len)
        return LP_EOF;
    r->body[r->hdr.len] = '\0';
    *h = r->hdr;
    *body = r->body;
    r->body = NULL;
    r->have_header = false;
    r->direct = false;
    return LP_OK;
}

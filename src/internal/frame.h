/*
 * The process pool's wire format: length-prefixed frames over a stream
 * socket between the pool's manager thread and a worker process.
 *
 * A frame is a 48-byte header followed by `len` body bytes. Header fields
 * are in host byte order (both ends are the same binary on the same host):
 *
 *   u32 magic  "LPF1"           u16 type   u16 reserved (0)
 *   i32 code   (FAIL, INIT_FAIL) i32 sys_errno
 *   u32 index  (RESULT, FAIL: entry index; TASKS: entry count)
 *   u32 reserved (0)             u64 id     u64 fn      u64 len
 *
 * TASKS (parent to worker) carries `index` entries in its body, each a
 * 16-byte entry header (u32 index, u32 reserved, u64 len) and `len` bytes.
 * The worker answers every entry with one RESULT (body: the reply) or FAIL
 * (body: the message) frame carrying the TASKS frame's id and the entry's
 * index. INIT_FAIL reports a failed initializer; HELLO (no body) says the
 * worker ran its initializer and is reading tasks.
 *
 * The reader below decodes a byte stream fed in arbitrary pieces; anything
 * malformed (bad magic, unknown type, nonzero reserved bits, a length past
 * the cap) is LP_EPROTO, never undefined behaviour: it parses bytes from a
 * peer that may have been corrupted by a crashing task.
 */
#ifndef LP_INTERNAL_FRAME_H
#define LP_INTERNAL_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lambdapool/status.h"

#define LP__FRAME_MAGIC       0x3146504cu /* "LPF1" */
#define LP__FRAME_HEADER_SIZE 48
#define LP__FRAME_ENTRY_SIZE  16

enum lp__frame_type {
    LP__FRAME_TASKS = 1,
    LP__FRAME_RESULT = 2,
    LP__FRAME_FAIL = 3,
    LP__FRAME_INIT_FAIL = 4,
    LP__FRAME_HELLO = 5
};

struct lp__frame_header {
    uint16_t type;
    int32_t code;
    int32_t sys_errno;
    uint32_t index;
    uint64_t id;
    uint64_t fn;
    uint64_t len;
};

void lp__frame_encode_header(unsigned char out[LP__FRAME_HEADER_SIZE],
                             const struct lp__frame_header *h);

/* Rewrites the id of an encoded header in place. */
void lp__frame_set_id(unsigned char hdr[LP__FRAME_HEADER_SIZE], uint64_t id);

/* LP_OK, or LP_EPROTO for a malformed header, or LP_ETOOBIG when `len`
 * exceeds `max_len`. */
lp_status lp__frame_decode_header(const unsigned char in[LP__FRAME_HEADER_SIZE],
                                  uint64_t max_len, struct lp__frame_header *h);

void lp__frame_encode_entry(unsigned char out[LP__FRAME_ENTRY_SIZE],
                            uint32_t index, uint64_t len);

/*
 * Walks the entries of a TASKS body: on LP_OK sets *index, *data (borrowed
 * from body) and *len and advances *off; LP_EOF at the end; LP_EPROTO when
 * an entry overruns the body or has nonzero reserved bits.
 */
lp_status lp__frame_next_entry(const unsigned char *body, size_t body_len,
                               size_t *off, uint32_t *index,
                               const unsigned char **data, size_t *len);

/*
 * A streaming decoder. Feed it with lp__frame_reader_space() (where to put
 * the next bytes, at most *room of them) and lp__frame_reader_commit();
 * collect frames with lp__frame_reader_next(). Large bodies are read in
 * place, so a 64 MiB frame costs one allocation and no extra copy.
 */
struct lp__frame_reader {
    unsigned char *buf; /* owned; buffered bytes are buf[start..end) */
    size_t cap, start, end;
    uint64_t max_len;
    size_t prefix; /* bytes reserved before each body */
    bool have_header;
    struct lp__frame_header hdr;
    unsigned char *body; /* owned until handed out; len + 1 bytes */
    size_t body_got;
    bool direct; /* the next bytes go straight into body */
};

/*
 * `prefix` bytes are reserved in front of every body, so that the caller
 * can build a header there (an lp_bytes) and adopt the body without a copy.
 */
lp_status lp__frame_reader_init(struct lp__frame_reader *r, uint64_t max_len,
                                size_t prefix);
void lp__frame_reader_destroy(struct lp__frame_reader *r);
/* True when a frame has started but is not complete (EOF now = truncated). */
bool lp__frame_reader_partial(const struct lp__frame_reader *r);
void lp__frame_reader_space(struct lp__frame_reader *r, unsigned char **p,
                            size_t *room);
void lp__frame_reader_commit(struct lp__frame_reader *r, size_t n);

/*
 * The next complete frame: LP_OK with *h and *body (owned by the caller,
 * freed with lp__frame_body_free, or as one block starting `prefix` bytes
 * before it; NUL-terminated, never NULL); LP_EOF when more bytes
 * are needed; LP_EPROTO/LP_ETOOBIG for a malformed stream (the reader is
 * then unusable); LP_ENOMEM.
 */
lp_status lp__frame_reader_next(struct lp__frame_reader *r,
                                struct lp__frame_header *h,
                                unsigned char **body);

void lp__frame_body_free(const struct lp__frame_reader *r, unsigned char *body);

#endif

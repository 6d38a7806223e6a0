/*
 * A fault-injecting Lambda Runtime API for tests and benchmarks: a loopback
 * HTTP/1.1 server on an ephemeral port that hands out scripted events on
 * GET /2018-06-01/runtime/invocation/next and records every POST. Each
 * event may carry a fault (a 500, a dropped body, a 413 on its response, a
 * missing or over-long request id, garbage headers...). Event i has the
 * request id "req-<i>" unless its fault says otherwise.
 *
 * Threads: one accepting, one per connection. stub_create binds the socket
 * only, so a test can fork before any thread exists; stub_start starts the
 * threads. When the script is exhausted, GET next blocks until stub_destroy
 * (a long poll, like Lambda's).
 */
#ifndef LP_LAMBDA_STUB_H
#define LP_LAMBDA_STUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum stub_fault {
    STUB_OK = 0,
    STUB_NEXT_500,        /* GET next answers 500 */
    STUB_NEXT_403,        /* GET next answers 403 */
    STUB_NEXT_DROP_BODY,  /* headers and half the body, then close */
    STUB_RESPONSE_413,    /* the POST response is refused with 413 */
    STUB_RESPONSE_500,    /* the POST response is answered 500 */
    STUB_NO_REQUEST_ID,   /* no Lambda-Runtime-Aws-Request-Id */
    STUB_LONG_REQUEST_ID, /* a 300-byte request id */
    STUB_BAD_REQUEST_ID,  /* a request id with a '/' and spaces */
    STUB_GARBAGE_HEADERS, /* odd lines: empty name, empty values */
    STUB_NO_COLON_HEADER, /* a header line without a colon */
    STUB_NO_DEADLINE,     /* no Lambda-Runtime-Deadline-Ms */
    STUB_HUGE_HEADER,     /* a 70,000-byte Cognito identity header */
    STUB_RAW,             /* body[0..len-1] is the whole answer, then close */
    STUB_ERROR_500,       /* the POST error is answered 500 */
};

struct stub_event {
    enum stub_fault fault;
    const char *body;     /* NULL: "{}" */
    size_t len;           /* 0: strlen(body) */
    const char *deadline; /* Deadline-Ms value; NULL: now + 60 s */
    const char *trace_id; /* NULL: a fixed X-Ray header */
};

struct stub_post {
    char kind; /* 'r' response, 'e' invocation error, 'i' init error */
    char request_id[160];
    char error_type[160];    /* Lambda-Runtime-Function-Error-Type, or "" */
    char response_mode[32];  /* Lambda-Runtime-Function-Response-Mode */
    char trailer_type[160];  /* the Error-Type trailer of a stream, or "" */
    char trailer_body[2048]; /* the Error-Body trailer (base64), or "" */
    char xray_cause[1024];   /* Lambda-Runtime-Function-XRay-Error-Cause */
    char content_type[160];  /* Content-Type */
    char trailer_decl[160];  /* the Trailer header (declared trailers) */
    char *body;
    size_t len;
    int status;   /* what the stub answered */
    int64_t t_ns; /* CLOCK_MONOTONIC when the POST was read */
};

struct stub;

/* Binds 127.0.0.1:0. Returns NULL on failure (test aborts). */
struct stub *stub_create(const struct stub_event *events, size_t n);
/* Once the script is exhausted, answer GET next by closing the connection
 * instead of blocking (call before stub_start). */
void stub_close_when_done(struct stub *s);
void stub_start(struct stub *s);
int stub_port(const struct stub *s);
/* "127.0.0.1:<port>" (static per stub). */
const char *stub_addr(const struct stub *s);
/* Waits until at least n POSTs were recorded or timeout_ms passed. */
bool stub_wait_posts(struct stub *s, size_t n, int64_t timeout_ms);
size_t stub_post_count(struct stub *s);
/* Borrowed until stub_destroy. */
const struct stub_post *stub_post_get(struct stub *s, size_t i);
/* GET next requests seen so far. */
size_t stub_next_count(struct stub *s);
/* CLOCK_MONOTONIC ns of the first GET next (0: none yet). */
int64_t stub_first_next_ns(struct stub *s);
/* Waits until the first GET next arrived or timeout_ms passed. */
bool stub_wait_first_next(struct stub *s, int64_t timeout_ms);
void stub_destroy(struct stub *s);

/* A loopback port with nothing listening (connection refused). */
int stub_dead_port(void);

#endif

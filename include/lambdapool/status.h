/*
 * lambdapool status codes.
 *
 * Every fallible call returns an lp_status. LP_OK is zero; every error has a
 * distinct positive value. The values are ABI: new codes are appended, none is
 * ever renumbered or removed.
 */
#ifndef LAMBDAPOOL_STATUS_H
#define LAMBDAPOOL_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LP_BUILDING_LIBRARY)
#    define LP_EXTERN __attribute__((visibility("default")))
#else
#    define LP_EXTERN
#endif

typedef enum lp_status {
    LP_OK = 0,
    LP_EINVAL = 1,       /* bad argument, or a handle used after destroy */
    LP_ENOMEM = 2,       /* allocation failed; no state was changed */
    LP_ETIMEDOUT = 3,    /* the timeout or deadline passed first */
    LP_ECANCELLED = 4,   /* the future was cancelled before it ran */
    LP_ESHUTDOWN = 5,    /* the executor no longer accepts work */
    LP_ETASK = 6,        /* the task failed; see lp_future_error() */
    LP_EBROKEN = 7,      /* the executor broke (initializer failed, worker
                            died); the task did not complete */
    LP_ESTATE = 8,       /* the future is already done (Python's
                            InvalidStateError) */
    LP_EFULL = 9,        /* a bounded queue is full and the caller asked not
                            to block */
    LP_ESYS = 10,        /* a system call failed; errno tells which */
    LP_EOF = 11,         /* an iterator has nothing more to yield */
    LP_EPROTO = 12,      /* malformed bytes from a peer (frame, header, JSON) */
    LP_EHTTP = 13,       /* an HTTP transfer failed */
    LP_ETOOBIG = 14,     /* a payload exceeded a configured or protocol cap */
    LP_EUNSUPPORTED = 15 /* not available on this platform or build */
} lp_status;

/* Static text for `status`, never NULL; unknown codes give "unknown status". */
LP_EXTERN const char *lp_status_str(lp_status status);

#ifdef __cplusplus
}
#endif

#endif

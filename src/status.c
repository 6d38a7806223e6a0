/*
 * Status texts. Static storage; the table is indexed by lp_status value, so a
 * new code is appended here in the same commit that appends it to status.h.
 */
#include "lambdapool/status.h"

#include <stddef.h>

static const char *const status_text[] = {
    [LP_OK] = "ok",
    [LP_EINVAL] = "invalid argument",
    [LP_ENOMEM] = "out of memory",
    [LP_ETIMEDOUT] = "timed out",
    [LP_ECANCELLED] = "cancelled",
    [LP_ESHUTDOWN] = "cannot schedule new futures after shutdown",
    [LP_ETASK] = "task failed",
    [LP_EBROKEN] = "executor is broken",
    [LP_ESTATE] = "invalid state",
    [LP_EFULL] = "queue is full",
    [LP_ESYS] = "system call failed",
    [LP_EOF] = "end of iteration",
    [LP_EPROTO] = "protocol error",
    [LP_EHTTP] = "HTTP transfer failed",
    [LP_ETOOBIG] = "payload too large",
    [LP_EUNSUPPORTED] = "not supported",
};

const char *lp_status_str(lp_status status)
{
    size_t i = (size_t)status;

    if (i >= sizeof(status_text) / sizeof(status_text[0]) ||
        status_text[i] == NULL)
        return "unknown status";
    return status_text[i];
}

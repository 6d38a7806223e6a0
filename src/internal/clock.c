/*
 * Clocks and deadline arithmetic. Deadlines are CLOCK_MONOTONIC nanoseconds;
 * LP_DEADLINE_NEVER (INT64_MAX) survives every addition by saturating.
 */
#include "clock.h"

#include <time.h>

#include "lambdapool/future.h"

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * LP__NS_PER_SEC + ts.tv_nsec;
}

int64_t lp__monotonic_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int64_t lp__realtime_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

int64_t lp__deadline_add(int64_t deadline, int64_t delta_ns)
{
    if (deadline == LP_DEADLINE_NEVER)
        return deadline;
    if (delta_ns > 0 && deadline > LP_DEADLINE_NEVER - delta_ns)
        return LP_DEADLINE_NEVER;
    return deadline + delta_ns;
}

lp_status lp__timeout_to_deadline(int64_t timeout_ms, int64_t *deadline)
{
    if (timeout_ms < LP_WAIT_FOREVER)
        return LP_EINVAL;
    *deadline = lp_deadline_after_ms(timeout_ms);
    return LP_OK;
}

lp_deadline lp_deadline_now(void)
{
    return lp__monotonic_ns();
}

lp_deadline lp_deadline_after_ms(int64_t timeout_ms)
{
    if (timeout_ms == LP_WAIT_FOREVER)
        return LP_DEADLINE_NEVER;
    if (timeout_ms < 0)
        return lp__monotonic_ns();
    if (timeout_ms > INT64_MAX / LP__NS_PER_MS)
        return LP_DEADLINE_NEVER;
    return lp__deadline_add(lp__monotonic_ns(), timeout_ms * LP__NS_PER_MS);
}

lp_deadline lp_deadline_from_epoch_ms(int64_t epoch_ms)
{
    int64_t now_wall, now_mono;

    if (epoch_ms <= 0 || epoch_ms > INT64_MAX / LP__NS_PER_MS)
        return LP_DEADLINE_NEVER;
    now_wall = lp__realtime_ns();
    now_mono = lp__monotonic_ns();
    return lp__deadline_add(now_mono, epoch_ms * LP__NS_PER_MS - now_wall);
}

int64_t lp_deadline_remaining_ms(lp_deadline deadline)
{
    int64_t left;

    if (deadline == LP_DEADLINE_NEVER)
        return INT64_MAX;
    left = deadline - lp__monotonic_ns();
    return left <= 0 ? 0 : left / LP__NS_PER_MS;
}

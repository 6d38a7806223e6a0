/*
 * Monotonic and wall clocks, in the lp_deadline unit (nanoseconds).
 */
#ifndef LP_INTERNAL_CLOCK_H
#define LP_INTERNAL_CLOCK_H

#include <stdint.h>

#define LP__NS_PER_SEC  1000000000LL
#define LP__NS_PER_MS   1000000LL
#define LP__NS_PER_USEC 1000LL

int64_t lp__monotonic_ns(void);
int64_t lp__realtime_ns(void);

/* Saturating a + b for deadlines, so LP_DEADLINE_NEVER stays itself. */
int64_t lp__deadline_add(int64_t deadline, int64_t delta_ns);

/*
 * Validates a relative timeout and turns it into a deadline: LP_OK for -1
 * (never) and >= 0; LP_EINVAL below -1.
 */
#include "lambdapool/status.h"
lp_status lp__timeout_to_deadline(int64_t timeout_ms, int64_t *deadline);

#endif

/* lp-tune's output: the seed-shaped table, CSV or JSON, on a FILE. */
#ifndef LP_TUNE_REPORT_H
#define LP_TUNE_REPORT_H

#include <stdio.h>

#include "results.h"

/* A one-line description of the workload ("3 tasks, each GET ..."). */
void report_workload(const struct tune_config *cfg, char *out, size_t len);

void report_table(FILE *f, const struct results *r);
void report_csv(FILE *f, const struct results *r);
/* Returns 0, or -1 if JSON could not be built. */
int report_json(FILE *f, const struct results *r);

#endif

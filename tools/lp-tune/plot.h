/* Draws time and cost against memory, one line per mode, with gnuplot. */
#ifndef LP_TUNE_PLOT_H
#define LP_TUNE_PLOT_H

#include <stddef.h>

#include "results.h"

/*
 * Writes `path` (.png or .svg) by running `gnuplot` (found in PATH) on a
 * generated script. Returns 0, or -1 with a message.
 */
int plot_write(const struct results *r, const char *path, char *err,
               size_t errlen);

/* Writes the gnuplot script for `path`, reading data from `data_path`. */
void plot_script(FILE *f, const struct results *r, const char *path,
                 const char *data_path);

#endif

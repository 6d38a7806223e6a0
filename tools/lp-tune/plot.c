/*
 * The chart: two panels side by side, time (trimmed mean, ms) and cost per
 * million invocations (x86_64 USD) against memory, all axes logarithmic (the
 * seeds' py-processes takes ~30 times as long at 128 MB as threads), one
 * line per mode. A mode and its Python counterpart (py-threads for threads)
 * share a colour, the Python line dashed with hollow points, so the two
 * languages compare at a glance. Data and script go to temporary files that
 * are removed after gnuplot ran; gnuplot's own messages go to stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plot.h"

/* One data block per mode: "memory_mb ms usd_per_million". */
static void write_data(FILE *f, const struct results *r)
{
    for (int col = 0; col < r->n_cols; col++) {
        fprintf(f, "# %s\n", tune_mode_info(r->cols[col])->name);
        for (int row = 0; row < r->n_rows; row++) {
            const struct cell *c = &r->cells[row * r->n_cols + col];

            if (c->n > 0)
                fprintf(f, "%d %.3f %.6f\n", r->rows[row].memory_mb,
                        c->st.trimmed_mean, c->usd[COST_X86_64] * 1e6);
        }
        fputs("\n\n", f);
    }
}

/* Escapes a string for a gnuplot double-quoted literal. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Okabe-Ito colours, distinct for colour-blind readers too; one per C mode. */
static const char *const palette[] = { "#0072B2", "#E69F00", "#009E73",
                                       "#D55E00", "#CC79A7", "#56B4E9" };
#define PALETTE_SIZE (sizeof(palette) / sizeof(palette[0]))

/* The C mode a Python mode mirrors ("py-threads": threads), else `m`. */
static enum tune_mode c_counterpart(enum tune_mode m)
{
    const char *name = tune_mode_info(m)->name;
    int c;

    if (!tune_mode_is_python(m) || strncmp(name, "py-", 3) != 0)
        return m;
    c = tune_mode_by_name(name + 3);
    return c >= 0 ? (enum tune_mode)c : m;
}

/* Colour, dash and point style of mode `m`'s line. */
static void put_style(FILE *f, enum tune_mode m)
{
    bool python = tune_mode_is_python(m);

    fprintf(f, " lc rgb \"%s\" dt %d pt %d",
            palette[(size_t)c_counterpart(m) % PALETTE_SIZE], python ? 2 : 1,
            python ? 6 : 7); /* hollow or filled circle */
}

static void plot_panel(FILE *f, const struct results *r, const char *data_path,
                       int column)
{
    fputs("plot ", f);
    for (int col = 0; col < r->n_cols; col++) {
        fprintf(f, "%s", col ? ", \\\n     " : "");
        put_quoted(f, data_path);
        fprintf(f, " index %d using 1:%d with linespoints", col, column);
        put_style(f, r->cols[col]);
        fputs(" title ", f);
        put_quoted(f, tune_mode_info(r->cols[col])->name);
    }
    fputc('\n', f);
}

void plot_script(FILE *f, const struct results *r, const char *path,
                 const char *data_path)
{
    size_t n = strlen(path);
    bool svg = n > 4 && strcmp(path + n - 4, ".svg") == 0;

    fprintf(f, "set terminal %s size 1400,500 noenhanced\n",
            svg ? "svg dynamic" : "pngcairo");
    fputs("set output ", f);
    put_quoted(f, path);
    fputs("\nset multiplot layout 1,2\n"
          "set logscale x 2\nset logscale y\nset grid\n"
          "set key outside right top\nset xlabel \"memory (MB)\"\n",
          f);
    fputs("set title \"time per invocation\"\nset ylabel \"ms (trimmed "
          "mean)\"\n",
          f);
    plot_panel(f, r, data_path, 2);
    fputs("set title \"cost per 1M invocations (x86_64)\"\n"
          "set ylabel \"USD\"\n",
          f);
    plot_panel(f, r, data_path, 3);
    fputs("unset multiplot\n", f);
}

/* Runs gnuplot on `script`; 0 when it exits 0. */
static int run_gnuplot(const char *script, char *err, size_t errlen)
{
    pid_t pid;
    int status;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) < 0) {
        snprintf(err, errlen, "gnuplot: %s", strerror(errno));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, errlen,
                 WIFEXITED(status) && WEXITSTATUS(status) == 127
                     ? "gnuplot not found (install gnuplot-nox)"
                     : "gnuplot failed");
        return -1;
    }
    return 0;
}

/* A temporary file from `templ` (ending XXXXXX), opened for writing. */
static FILE *temp_file(char *templ)
{
    int fd = mkstemp(templ);
    FILE *f;

    if (fd < 0)
        return NULL;
    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        unlink(templ);
    }
    return f;
}

int plot_write(const struct results *r, const char *path, char *err,
               size_t errlen)
{
    const char *tmp = getenv("TMPDIR");
    char data[512], script[512];
    FILE *df, *sf = NULL;
    int rc = -1;

    snprintf(data, sizeof(data), "%s/lp-tune-data.XXXXXX", tmp ? tmp : "/tmp");
    snprintf(script, sizeof(script), "%s/lp-tune-plot.XXXXXX",
             tmp ? tmp : "/tmp");
    df = temp_file(data);
    if (df != NULL)
        sf = temp_file(script);
    if (df == NULL || sf == NULL) {
        snprintf(err, errlen, "plot: temporary file: %s", strerror(errno));
        goto out;
    }
    write_data(df, r);
    plot_script(sf, r, path, data);
    if (fclose(df) != 0 || fclose(sf) != 0) {
        df = sf = NULL;
        snprintf(err, errlen, "plot: writing temporary files failed");
        goto out_unlink;
    }
    df = sf = NULL;
    rc = run_gnuplot(script, err, errlen);
out_unlink:
    unlink(data);
    unlink(script);
    return rc;
out:
    if (df != NULL) {
        fclose(df);
        unlink(data);
    }
    return rc;
}

/*
 * The one replay driver for every fuzz target (tests/fuzz/fuzz-*.c): replays
 * a corpus without libFuzzer, so `make test` covers every stored input in all
 * three trees: each file of the directories given and every prefix of it
 * (cut-off input is what a dropped connection or a dying worker leaves), or
 * with -whole first, each file only (for slow targets).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int whole_only;

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        perror(path);
        return 1;
    }
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        return 1;
    }
    fclose(f);
    for (long cut = whole_only ? n : 0; cut <= n; cut++) {
        /* A fresh copy per run so ASan sees reads past the end. */
        uint8_t *copy = malloc((size_t)cut + 1);
        if (copy == NULL)
            return 1;
        memcpy(copy, buf, (size_t)cut);
        LLVMFuzzerTestOneInput(copy, (size_t)cut);
        free(copy);
    }
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0;

    for (int i = 1; i < argc; i++) {
        DIR *d;
        if (strcmp(argv[i], "-whole") == 0) {
            whole_only = 1;
            continue;
        }
        d = opendir(argv[i]);
        struct dirent *e;
        if (d == NULL) {
            perror(argv[i]);
            return 1;
        }
        while ((e = readdir(d)) != NULL) {
            char path[4096];
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            if (replay_file(path) != 0)
                return 1;
            files++;
        }
        closedir(d);
    }
    printf("replayed %d corpus files (%s)\n", files,
           whole_only ? "whole files" : "every prefix of each");
    return files > 0 ? 0 : 1;
}

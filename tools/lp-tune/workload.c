/*
 * The task bodies. The HTTP task uses a fresh libcurl easy handle per
 * request, as the seeds' urlopen() does a fresh connection per call; the
 * CPU task is a xorshift loop whose iteration count is calibrated once,
 * unthrottled, by the parent, so that "--cpu 50" means 50 ms of one vCPU.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "workload.h"

static size_t discard_body(char *data, size_t size, size_t n, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * n;
}

int tune_http_get(const char *url, char *err, size_t errlen)
{
    CURL *h = curl_easy_init();
    char detail[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers;
    long code = 0;
    CURLcode rc;

    if (h == NULL) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -1;
    }
    /*
     * One connection per request, closed by the server first (as urllib's
     * urlopen asks too): the server, not this side, then holds TIME_WAIT,
     * so 10,000 requests do not use up the loopback's ephemeral ports.
     */
    headers = curl_slist_append(NULL, "Connection: close");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "127.0.0.1,localhost,::1");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "GET %s: %s", url,
                 detail[0] ? detail : curl_easy_strerror(rc));
        return -1;
    }
    if (code != 200) {
        snprintf(err, errlen, "GET %s: HTTP %ld", url, code);
        return -1;
    }
    return 0;
}

long workload_raise_fd_limit(int tasks)
{
    rlim_t want = (rlim_t)tasks * 3 + 1024;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur >= want)
        return (long)rl.rlim_cur;
    if (rl.rlim_max < want) {
        struct rlimit up = { want, want };

        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            return (long)want;
    }
    rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

void workload_warm_up(const struct workload *w)
{
    if (w->kind == TUNE_WL_URL || w->kind == TUNE_WL_IO_DELAY) {
        CURL *h = curl_easy_init();

        curl_easy_cleanup(h);
    }
}

unsigned long workload_cpu_burn(long iters)
{
    unsigned long x = 88172645463325252UL;

    for (long i = 0; i < iters; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

static int sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

/* Keeps the compiler from dropping the loop. */
static volatile unsigned long cpu_sink;

int workload_run_task(const struct workload *w, char *err, size_t errlen)
{
    switch (w->kind) {
    case TUNE_WL_URL:
    case TUNE_WL_IO_DELAY:
        return tune_http_get(w->url, err, errlen);
    case TUNE_WL_SLEEP:
        if (sleep_ms(w->sleep_ms) != 0) {
            snprintf(err, errlen, "nanosleep: %s", strerror(errno));
            return -1;
        }
        return 0;
    case TUNE_WL_CPU:
        cpu_sink = workload_cpu_burn(w->cpu_iters);
        return 0;
    }
    snprintf(err, errlen, "unknown workload");
    return -1;
}

static double thread_cpu_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

long workload_cpu_calibrate(double cpu_ms)
{
    long iters = 1 << 16;
    double best = 0;

    /* Grow until one round costs >= 10 ms of CPU, then keep the fastest of
     * a few rounds: CPU time, not wall time, so other load does not count. */
    for (;;) {
        double t0 = thread_cpu_ms();
        cpu_sink = workload_cpu_burn(iters);
        if (thread_cpu_ms() - t0 >= 10.0)
            break;
        iters *= 2;
    }
    for (int round = 0; round < 5; round++) {
        double t0 = thread_cpu_ms();
        double rate;

        cpu_sink = workload_cpu_burn(iters);
        rate = (double)iters / (thread_cpu_ms() - t0);
        if (rate > best)
            best = rate;
    }
    return (long)(best * cpu_ms + 0.5);
}

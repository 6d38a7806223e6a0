/*
 * cgroup throttle. Probing finds the cgroup this process is in (from
 * /proc/self/cgroup) for the CPU controller and, on v1, the memory
 * controller, and proves they are writable by creating and removing a probe
 * directory. Each memory setting then gets child cgroups named
 * lp-tune.<pid>.<MB>; a worker joins them between fork() and exec() by
 * writing "0" to cgroup.procs with paths prepared in advance, so joining is
 * async-signal-safe.
 *
 * Every directory created is registered until removed. The signal handler
 * and the atexit hook kill the running worker's process group (workers call
 * setpgid(0, 0), so grandchildren go too), reap it, and rmdir whatever is
 * still registered, retrying while dying tasks leave: no cgroup outlives
 * lp-tune, including after Ctrl-C.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "throttle.h"

#define REGISTRY_MAX 256

/* Directories to remove on exit or signal; pointers into live throttles. */
static const char *volatile registry[REGISTRY_MAX];
static volatile pid_t running_pgid;
static pid_t owner_pid;

double throttle_vcpus_for(int memory_mb)
{
    double v = (double)memory_mb / THROTTLE_MB_PER_VCPU;

    return v > THROTTLE_MAX_VCPUS ? THROTTLE_MAX_VCPUS : v;
}

static void registry_add(const char *dir)
{
    for (int i = 0; i < REGISTRY_MAX; i++) {
        if (registry[i] == NULL) {
            registry[i] = dir;
            return;
        }
    }
}

static void registry_remove(const char *dir)
{
    for (int i = 0; i < REGISTRY_MAX; i++) {
        if (registry[i] == dir)
            registry[i] = NULL;
    }
}

/* rmdir, retrying for up to ~2 s while exiting tasks still populate it.
 * Async-signal-safe. */
static int remove_dir(const char *dir)
{
    struct timespec pause = { 0, 10 * 1000 * 1000 };

    for (int i = 0; i < 200; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            return -1;
        nanosleep(&pause, NULL);
    }
    return -1;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;
    int saved;

    if (fd < 0)
        return -1;
    n = write(fd, text, strlen(text));
    saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int cpu_count(void)
{
    cpu_set_t set;

    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return 1;
}

/*
 * This process's cgroup path for v1 controller `name` ("cpu", "memory"), or
 * for v2 when name is "" (the "0::" line). Returns 0 or -1.
 */
static int own_cgroup_path(const char *name, char *out, size_t outlen)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[1024];
    int rc = -1;

    if (f == NULL)
        return -1;
    while (rc != 0 && fgets(line, sizeof(line), f) != NULL) {
        char *c1 = strchr(line, ':'), *c2, *save = NULL;

        if (c1 == NULL || (c2 = strchr(c1 + 1, ':')) == NULL)
            continue;
        *c2 = '\0';
        c2[strcspn(c2 + 1, "\n") + 1] = '\0';
        if (*name == '\0' && c1[1] == '\0') {
            rc = snprintf(out, outlen, "%s", c2 + 1) < (int)outlen ? 0 : -1;
            continue;
        }
        for (char *tok = strtok_r(c1 + 1, ",", &save); tok != NULL;
             tok = strtok_r(NULL, ",", &save)) {
            if (*name != '\0' && strcmp(tok, name) == 0)
                rc = snprintf(out, outlen, "%s", c2 + 1) < (int)outlen ? 0 : -1;
        }
    }
    fclose(f);
    return rc;
}

/* Creates and removes a probe directory under `dir`: 0 when writable. */
static int probe_dir(const char *dir, char *why, size_t whylen)
{
    char probe[PATH_MAX + 64];

    snprintf(probe, sizeof(probe), "%s/lp-tune.%d.probe", dir, (int)getpid());
    if (mkdir(probe, 0755) != 0) {
        snprintf(why, whylen, "cannot create a cgroup in %s: %s", dir,
                 strerror(errno));
        return -1;
    }
    rmdir(probe);
    return 0;
}

/* Joins mount point `mnt` and cgroup path `path` into `out`. */
static int join_path(char *out, size_t outlen, const char *mnt,
                     const char *path)
{
    int n = snprintf(out, outlen, "%s%s", mnt, strcmp(path, "/") ? path : "");

    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

static bool probe_v1(struct throttle_env *env, const char *root)
{
    char mnt[PATH_MAX], path[PATH_MAX], file[PATH_MAX + 32];
    char why[200];

    snprintf(mnt, sizeof(mnt), "%s/cpu", root);
    snprintf(file, sizeof(file), "%s/cpu.cfs_quota_us", mnt);
    if (access(file, F_OK) != 0)
        return false;
    env->version = 1;
    if (own_cgroup_path("cpu", path, sizeof(path)) != 0 ||
        join_path(env->cpu_root, sizeof(env->cpu_root), mnt, path) != 0 ||
        probe_dir(env->cpu_root, env->why, sizeof(env->why)) != 0) {
        env->cpu_root[0] = '\0';
        if (env->why[0] == '\0')
            snprintf(env->why, sizeof(env->why),
                     "cgroup v1: cannot find this process's cpu cgroup");
        return false;
    }
    snprintf(mnt, sizeof(mnt), "%s/memory", root);
    if (own_cgroup_path("memory", path, sizeof(path)) != 0 ||
        join_path(env->mem_root, sizeof(env->mem_root), mnt, path) != 0 ||
        probe_dir(env->mem_root, why, sizeof(why)) != 0) {
        env->mem_root[0] = '\0';
        snprintf(env->why, sizeof(env->why), "no memory limit: %s",
                 why[0] ? why : "no v1 memory controller");
    }
    return true;
}

static bool probe_v2(struct throttle_env *env, const char *root)
{
    char path[PATH_MAX], file[PATH_MAX + 32];

    snprintf(file, sizeof(file), "%s/cgroup.controllers", root);
    if (access(file, F_OK) != 0 ||
        own_cgroup_path("", path, sizeof(path)) != 0 ||
        join_path(env->cpu_root, sizeof(env->cpu_root), root, path) != 0) {
        snprintf(env->why, sizeof(env->why),
                 "no cgroup CPU controller found under %s", root);
        env->cpu_root[0] = '\0';
        return false;
    }
    env->version = 2;
    snprintf(file, sizeof(file), "%s/cgroup.subtree_control", env->cpu_root);
    if (write_file(file, "+cpu") != 0) {
        snprintf(env->why, sizeof(env->why),
                 "cgroup v2: cannot enable cpu for children of %.120s: %s",
                 env->cpu_root, strerror(errno));
        env->cpu_root[0] = '\0';
        return false;
    }
    env->v2_memory = write_file(file, "+memory") == 0;
    if (!env->v2_memory)
        snprintf(env->why, sizeof(env->why),
                 "no memory limit: cgroup v2 memory controller unavailable");
    return probe_dir(env->cpu_root, env->why, sizeof(env->why)) == 0 ||
           (env->cpu_root[0] = '\0', false);
}

/*
 * Removes lp-tune.<pid>.* cgroups under `dir` whose lp-tune is gone (a
 * crash or SIGKILL leaves them); rmdir refuses any that still holds tasks.
 */
static void remove_stale(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX + 300], rest[32];
        int pid;

        if (sscanf(e->d_name, "lp-tune.%d.%31s", &pid, rest) != 2 || pid <= 0 ||
            kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        rmdir(path);
    }
    closedir(d);
}

static void remove_all_stale(const struct throttle_env *env)
{
    if (env->cpu_root[0] != '\0')
        remove_stale(env->cpu_root);
    if (env->mem_root[0] != '\0')
        remove_stale(env->mem_root);
}

bool throttle_probe(struct throttle_env *env, const char *root, bool enabled)
{
    memset(env, 0, sizeof(*env));
    env->ncpu = cpu_count();
    if (!enabled) {
        snprintf(env->why, sizeof(env->why), "--no-throttle");
        return false;
    }
    if (probe_v1(env, root)) {
        remove_all_stale(env);
        return true;
    }
    if (env->version == 1)
        return false;
    if (!probe_v2(env, root))
        return false;
    remove_all_stale(env);
    return true;
}

static void fill_shares(struct throttle *t, int memory_mb, int ncpu)
{
    memset(t, 0, sizeof(*t));
    t->memory_mb = memory_mb;
    t->vcpus = throttle_vcpus_for(memory_mb);
    t->capped = t->vcpus > ncpu;
    t->vcpus_applied = t->capped ? ncpu : t->vcpus;
}

/* Creates `dir` and registers it. */
static int make_cgroup(char *dir, size_t dirlen, const char *parent,
                       int memory_mb)
{
    if (snprintf(dir, dirlen, "%s/lp-tune.%d.%d", parent, (int)getpid(),
                 memory_mb) >= (int)dirlen) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -1;
    registry_add(dir);
    return 0;
}

static int write_cpu_limit(const struct throttle_env *env,
                           const struct throttle *t)
{
    long quota = lround(t->vcpus_applied * THROTTLE_PERIOD_US);
    char file[PATH_MAX + 32], text[64];

    if (quota < 1000)
        quota = 1000; /* the kernel's minimum */
    if (env->version == 2) {
        snprintf(file, sizeof(file), "%s/cpu.max", t->cpu_dir);
        snprintf(text, sizeof(text), "%ld %ld", quota, THROTTLE_PERIOD_US);
        return write_file(file, text);
    }
    snprintf(file, sizeof(file), "%s/cpu.cfs_period_us", t->cpu_dir);
    snprintf(text, sizeof(text), "%ld", THROTTLE_PERIOD_US);
    if (write_file(file, text) != 0)
        return -1;
    snprintf(file, sizeof(file), "%s/cpu.cfs_quota_us", t->cpu_dir);
    snprintf(text, sizeof(text), "%ld", quota);
    return write_file(file, text);
}

/* The memory limit; failure leaves the CPU quota alone, with mem_why set. */
static void apply_memory_limit(const struct throttle_env *env,
                               struct throttle *t)
{
    char file[PATH_MAX + 32], text[64];
    const char *dir = t->cpu_dir;

    snprintf(text, sizeof(text), "%lld", (long long)t->memory_mb << 20);
    if (env->version == 2) {
        snprintf(file, sizeof(file), "%s/memory.max", dir);
    } else {
        if (make_cgroup(t->mem_dir, sizeof(t->mem_dir), env->mem_root,
                        t->memory_mb) != 0) {
            snprintf(t->mem_why, sizeof(t->mem_why), "mkdir: %s",
                     strerror(errno));
            t->mem_dir[0] = '\0';
            return;
        }
        dir = t->mem_dir;
        snprintf(file, sizeof(file), "%s/memory.limit_in_bytes", dir);
        snprintf(t->mem_procs, sizeof(t->mem_procs), "%s/cgroup.procs", dir);
        snprintf(t->mem_peak, sizeof(t->mem_peak),
                 "%s/memory.max_usage_in_bytes", dir);
    }
    if (write_file(file, text) != 0) {
        snprintf(t->mem_why, sizeof(t->mem_why), "%.160s: %s", file,
                 strerror(errno));
        return;
    }
    t->mem_active = true;
}

int throttle_create(const struct throttle_env *env, int memory_mb,
                    struct throttle *t, char *why, size_t whylen)
{
    fill_shares(t, memory_mb, env->ncpu > 0 ? env->ncpu : 1);
    if (env->cpu_root[0] == '\0') {
        snprintf(why, whylen, "%s", env->why);
        return -1;
    }
    if (make_cgroup(t->cpu_dir, sizeof(t->cpu_dir), env->cpu_root, memory_mb) !=
            0 ||
        write_cpu_limit(env, t) != 0) {
        snprintf(why, whylen, "cgroup %s: %s", t->cpu_dir, strerror(errno));
        throttle_destroy(t);
        return -1;
    }
    snprintf(t->cpu_procs, sizeof(t->cpu_procs), "%s/cgroup.procs", t->cpu_dir);
    t->cpu_active = true;
    if (env->mem_root[0] != '\0' || env->v2_memory)
        apply_memory_limit(env, t);
    else
        snprintf(t->mem_why, sizeof(t->mem_why), "%.200s", env->why);
    return 0;
}

int throttle_enter(const struct throttle *t)
{
    if (t->cpu_active && write_file(t->cpu_procs, "0") != 0)
        return -1;
    if (t->mem_active && t->mem_procs[0] != '\0' &&
        write_file(t->mem_procs, "0") != 0)
        return -1;
    return 0;
}

int throttle_enter_pid(const struct throttle *t, pid_t pid)
{
    char text[32];

    snprintf(text, sizeof(text), "%d", (int)pid);
    if (t->cpu_active && write_file(t->cpu_procs, text) != 0)
        return -1;
    if (t->mem_active && t->mem_procs[0] != '\0' &&
        write_file(t->mem_procs, text) != 0)
        return -1;
    return 0;
}

int throttle_destroy(struct throttle *t)
{
    int rc = 0;

    if (t->mem_dir[0] != '\0') {
        rc |= remove_dir(t->mem_dir);
        registry_remove(t->mem_dir);
        t->mem_dir[0] = '\0';
    }
    if (t->cpu_dir[0] != '\0') {
        rc |= remove_dir(t->cpu_dir);
        registry_remove(t->cpu_dir);
        t->cpu_dir[0] = '\0';
    }
    t->cpu_active = false;
    t->mem_active = false;
    return rc;
}

/* Kills and reaps the running worker, removes what is registered.
 * Async-signal-safe. */
static void cleanup_now(void)
{
    pid_t pg = running_pgid;

    if (getpid() != owner_pid)
        return;
    if (pg > 0) {
        kill(-pg, SIGKILL);
        waitpid(pg, NULL, 0);
        running_pgid = 0;
    }
    for (int i = 0; i < REGISTRY_MAX; i++) {
        const char *dir = registry[i];

        if (dir != NULL) {
            remove_dir(dir);
            registry[i] = NULL;
        }
    }
}

static void on_signal(int sig)
{
    if (getpid() != owner_pid)
        _exit(128 + sig);
    cleanup_now();
    signal(sig, SIG_DFL);
    raise(sig);
}

void throttle_install_cleanup(void)
{
    struct sigaction sa;

    owner_pid = getpid();
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGHUP);
    sigaddset(&sa.sa_mask, SIGQUIT);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    /* abort() (a failed check, a sanitizer report) cleans up too. */
    sigaction(SIGABRT, &sa, NULL);
    atexit(cleanup_now);
}

void throttle_set_running(pid_t pgid)
{
    running_pgid = pgid;
}

int throttle_mem_peak_reset(const struct throttle *t)
{
    if (!t->mem_active || t->mem_peak[0] == '\0')
        return -1;
    return write_file(t->mem_peak, "0");
}

long throttle_mem_peak_kb(const struct throttle *t)
{
    long long bytes = -1;
    FILE *f;

    if (!t->mem_active || t->mem_peak[0] == '\0')
        return -1;
    f = fopen(t->mem_peak, "re");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%lld", &bytes) != 1)
        bytes = -1;
    fclose(f);
    return bytes < 0 ? -1 : (long)(bytes / 1024);
}

long throttle_nr_throttled(const struct throttle *t)
{
    char file[PATH_MAX + 32], line[128];
    long v = -1;
    FILE *f;

    snprintf(file, sizeof(file), "%s/cpu.stat", t->cpu_dir);
    f = fopen(file, "re");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "nr_throttled %ld", &v) == 1)
            break;
    }
    fclose(f);
    return v;
}

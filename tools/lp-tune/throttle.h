/*
 * Lambda's CPU allocation, emulated with cgroups: a memory setting of M MB
 * gets M/1769 of a vCPU (at most 6), capped by this machine's CPUs, as a CFS
 * quota (v1 cpu.cfs_quota_us or v2 cpu.max), plus an M MB memory limit where
 * the memory controller can be written. One cgroup per memory setting, a
 * child of the cgroup lp-tune runs in, named lp-tune.<pid>.<MB>.
 */
#ifndef LP_TUNE_THROTTLE_H
#define LP_TUNE_THROTTLE_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#define THROTTLE_MB_PER_VCPU 1769.0
#define THROTTLE_MAX_VCPUS   6.0
#define THROTTLE_PERIOD_US   100000L

/* What this machine allows; filled once by throttle_probe(). */
struct throttle_env {
    int version;             /* 1 or 2; 0: no usable CPU controller */
    char cpu_root[PATH_MAX]; /* parent dir for CPU cgroups ("" if none) */
    char mem_root[PATH_MAX]; /* parent dir for v1 memory cgroups, or "" */
    bool v2_memory;          /* v2: memory.max can be set too */
    int ncpu;                /* CPUs this process may use */
    char why[256];           /* why not throttled / no memory limit */
};

/* One memory setting's cgroup(s). */
struct throttle {
    int memory_mb;
    double vcpus;         /* what Lambda gives: min(MB/1769, 6) */
    double vcpus_applied; /* after the machine cap */
    bool capped;          /* vcpus > machine CPUs */
    bool cpu_active;      /* CPU quota in force */
    bool mem_active;      /* memory limit in force */
    char mem_why[256];    /* why not, when the CPU quota is */
    /* Paths written between fork and exec: prepared in advance. */
    char cpu_dir[PATH_MAX];
    char cpu_procs[PATH_MAX + 16];
    char mem_dir[PATH_MAX];
    char mem_procs[PATH_MAX + 16];
    char mem_peak[PATH_MAX + 32]; /* v1 memory.max_usage_in_bytes, or "" */
};

/* Lambda's vCPU share for `memory_mb`: min(MB/1769, 6). */
double throttle_vcpus_for(int memory_mb);

/*
 * Finds a writable CPU controller (v1 at /sys/fs/cgroup/cpu, else v2) under
 * `root` ("/sys/fs/cgroup" normally). With `enabled` false, reports "not
 * throttled: --no-throttle". Returns true when CPU throttling is possible;
 * otherwise env->why says why. Also removes empty lp-tune.<pid>.* cgroups
 * whose lp-tune no longer runs (left behind by SIGKILL or a crash).
 */
bool throttle_probe(struct throttle_env *env, const char *root, bool enabled);

/*
 * Creates the cgroup(s) for `memory_mb` and writes their limits. Always
 * fills the vCPU figures; cpu_active/mem_active tell what applied. Returns
 * 0, or -1 with a reason in why[0..whylen-1] (then nothing is in force and
 * nothing is left behind).
 */
int throttle_create(const struct throttle_env *env, int memory_mb,
                    struct throttle *t, char *why, size_t whylen);

/*
 * Moves the calling process into t's cgroups. Async-signal-safe: meant for a
 * child between fork() and exec(). Returns 0 or -1 (errno set).
 */
int throttle_enter(const struct throttle *t);

/* Moves process `pid` (all its threads) into t's cgroups. 0 or -1. */
int throttle_enter_pid(const struct throttle *t, pid_t pid);

/*
 * Removes t's cgroups (retrying while dying processes leave them) and
 * unregisters them. Returns 0 when every directory is gone.
 */
int throttle_destroy(struct throttle *t);

/*
 * Installs SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGABRT handlers that kill the
 * running worker's process group, remove every cgroup still registered,
 * then die of the same signal; also registers the same cleanup with
 * atexit().
 */
void throttle_install_cleanup(void);

/* The process group of the worker now running (0: none), for the handler. */
void throttle_set_running(pid_t pgid);

/*
 * The memory cgroup's peak usage (v1 max_usage_in_bytes), reset once the
 * worker is inside and read after it exited, in KiB. A worker's pages from
 * before it joined stay charged where they were, so this is the memory its
 * handler added, children included. -1 when unknown (no memory cgroup, v2).
 */
int throttle_mem_peak_reset(const struct throttle *t);
long throttle_mem_peak_kb(const struct throttle *t);

/* Reads v1 cpu.stat nr_throttled of t's CPU cgroup (-1 if unknown). */
long throttle_nr_throttled(const struct throttle *t);

#endif

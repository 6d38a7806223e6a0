#!/usr/bin/env python3
"""Python's concurrent.futures.ThreadPoolExecutor as a `make bench` peer.

Same measurements and output as the C programs (see bench-common.h):
one `<key> <value>` line per figure, one measurement per run.

  bench_python.py pertask N | latency N GAP_US | fanout N MS | rss N | idle MS
"""
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait


def noop():
    return None


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def submit_and_collect(ex, n, fn, *args):
    fs = [ex.submit(fn, *args) for _ in range(n)]
    for f in fs:
        f.result()


def bench_pertask(n):
    with ThreadPoolExecutor(max_workers=2) as ex:
        t0 = time.perf_counter_ns()
        submit_and_collect(ex, n, noop)
        print("per_task_us %.4f" % ((time.perf_counter_ns() - t0) / 1e3 / n))


def bench_latency(n, gap_us):
    ns = []
    with ThreadPoolExecutor(max_workers=2) as ex:
        for _ in range(100):
            ex.submit(noop).result()
        for _ in range(n):
            if gap_us > 0:
                time.sleep(gap_us / 1e6)
            t0 = time.perf_counter_ns()
            ex.submit(noop).result()
            ns.append(time.perf_counter_ns() - t0)
    ns.sort()
    print("latency_median_us %.3f" % (ns[len(ns) // 2] / 1e3))
    print("latency_mean_us %.3f" % (sum(ns) / len(ns) / 1e3))


def bench_fanout(n, ms):
    t0 = time.perf_counter_ns()
    ex = ThreadPoolExecutor(max_workers=n)
    fs = [ex.submit(time.sleep, ms / 1e3) for _ in range(n)]
    wait(fs)
    print("fanout_cold_x %.4f" % ((time.perf_counter_ns() - t0) / 1e6 / ms))
    t0 = time.perf_counter_ns()
    fs = [ex.submit(time.sleep, ms / 1e3) for _ in range(n)]
    wait(fs)
    print("fanout_warm_x %.4f" % ((time.perf_counter_ns() - t0) / 1e6 / ms))
    ex.shutdown(wait=True)


def bench_rss(n):
    rss_before = status_kib("VmRSS")
    gate = threading.Barrier(n)
    with ThreadPoolExecutor(max_workers=n) as ex:
        submit_and_collect(ex, n, gate.wait)
        time.sleep(0.05)  # let the workers go idle
        workers = max(1, len(ex._threads))
        rss_after = status_kib("VmRSS")
        hwm_after = status_kib("VmHWM")
        print("workers %d" % workers)
        print("rss_idle_kib_per_worker %.2f" % ((rss_after - rss_before) / workers))
        print("rss_peak_kib_per_worker %.2f" % ((hwm_after - rss_before) / workers))


def bench_idle(ms):
    with ThreadPoolExecutor(max_workers=2) as ex:
        for _ in range(1000):
            ex.submit(noop).result()
        cpu0 = time.process_time_ns()
        time.sleep(ms / 1e3)
        print("idle_cpu_pct %.3f" % ((time.process_time_ns() - cpu0) / 1e4 / ms))


def arg(i, lo, hi):
    try:
        v = int(sys.argv[i])
    except (IndexError, ValueError):
        usage()
    if not lo <= v <= hi:
        usage()
    return v


def usage():
    sys.stderr.write("usage: bench_python.py pertask N | latency N GAP_US | "
                     "fanout N MS | rss N | idle MS\n")
    sys.exit(2)


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "pertask":
        bench_pertask(arg(2, 1, 100000000))
    elif what == "latency":
        bench_latency(arg(2, 1, 10000000), arg(3, 0, 1000000))
    elif what == "fanout":
        bench_fanout(arg(2, 1, 10000), arg(3, 1, 10000))
    elif what == "rss":
        bench_rss(arg(2, 1, 10000))
    elif what == "idle":
        bench_idle(arg(2, 1, 10000))
    else:
        usage()


if __name__ == "__main__":
    main()

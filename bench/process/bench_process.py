#!/usr/bin/env python3
"""Python's concurrent.futures.ProcessPoolExecutor as the process pool peer.

Same measurements and output as bench-process.c (see its top comment): one
`<key> <value>` line per figure, one measurement per run.

  bench_process.py pertask N | map N CHUNK | startup R | mib K | three R
"""
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def echo(b):
    return b


def noop():
    return None


def submit_and_collect(ex, n, payload):
    fs = [ex.submit(echo, payload) for _ in range(n)]
    for f in fs:
        if len(f.result()) != len(payload):
            raise SystemExit("short result")


def bench_pertask(n):
    with ProcessPoolExecutor(max_workers=2) as ex:
        submit_and_collect(ex, 100, b"0123456789abcdef")
        t0 = time.perf_counter_ns()
        submit_and_collect(ex, n, b"0123456789abcdef")
        print("per_task_us %.4f" % ((time.perf_counter_ns() - t0) / 1e3 / n))


def bench_map(n, chunk):
    items = [b"01234567"] * n
    with ProcessPoolExecutor(max_workers=2) as ex:
        submit_and_collect(ex, 100, b"x")
        t0 = time.perf_counter_ns()
        for _ in ex.map(echo, items, chunksize=chunk):
            pass
        print("per_item_us %.4f" % ((time.perf_counter_ns() - t0) / 1e3 / n))


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def bench_startup(reps):
    """Create, 2 trivial tasks, both results; then shutdown (as in C)."""
    up, down = [], []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        ex = ProcessPoolExecutor(max_workers=2)
        submit_and_collect(ex, 2, b"x")
        t1 = time.perf_counter_ns()
        ex.shutdown(wait=True)
        up.append(t1 - t0)
        down.append(time.perf_counter_ns() - t1)
    print("startup_ms %.3f" % (median(up) / 1e6))
    print("shutdown_ms %.3f" % (median(down) / 1e6))


def bench_mib(k):
    window = 4
    payload = b"m" * (1 << 20)
    with ProcessPoolExecutor(max_workers=2) as ex:
        submit_and_collect(ex, 4, payload)
        t0 = time.perf_counter_ns()
        fs = [ex.submit(echo, payload) for _ in range(min(window, k))]
        sent = len(fs)
        for i in range(k):
            if len(fs[i % window].result()) != len(payload):
                raise SystemExit("short result")
            if sent < k:
                fs[sent % window] = ex.submit(echo, payload)
                sent += 1
        print("mib_gb_per_s %.3f" % (k * len(payload) / (time.perf_counter_ns() - t0)))


def bench_three(reps):
    """The seed's experiment: one multiprocessing.Process per task."""
    ns = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        ps = [multiprocessing.Process(target=noop) for _ in range(3)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        ns.append(time.perf_counter_ns() - t0)
    print("process3_us %.2f" % (median(ns) / 1e3))


def main():
    mode, a = sys.argv[1], int(sys.argv[2])
    if mode == "pertask":
        bench_pertask(a)
    elif mode == "map":
        bench_map(a, int(sys.argv[3]))
    elif mode == "startup":
        bench_startup(a)
    elif mode == "mib":
        bench_mib(a)
    elif mode == "three":
        bench_three(a)
    else:
        raise SystemExit(2)


if __name__ == "__main__":
    main()

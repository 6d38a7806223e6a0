#!/usr/bin/env python3
"""The Python peer of bench-http.c: N threads, each one urllib.request.urlopen
of GET /delay/<ms> on the loopback delay server, all at once (seed 000's way).

    bench_http.py N DELAY_MS PORT|BASE_URL [WORKERS]
                                         ($LP_BENCH_HTTP_CA: CA bundle)

With $LP_BENCH_HTTP_PY_POOL set, the N GETs run on a ThreadPoolExecutor of
WORKERS threads instead (a new connection per request, as urllib makes).

$LP_BENCH_HTTP_ROUNDS (default 1): fan-outs in this process; only the last is
measured, as in bench-http.

Prints the same "<key> <value>" lines as bench-http: wall_x, cpu_ms, rss_kib
(ru_maxrss of this process), ok.
"""
import os
import resource
import ssl
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def main():
    n, delay = int(sys.argv[1]), int(sys.argv[2])
    base = sys.argv[3]
    if "://" not in base:
        base = "http://127.0.0.1:%d" % int(base)
    ctx = None
    if os.environ.get("LP_BENCH_HTTP_CA"):
        ctx = ssl.create_default_context(cafile=os.environ["LP_BENCH_HTTP_CA"])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    threading.stack_size(256 * 1024)
    url = "%s/delay/%d" % (base, delay)
    rounds = int(os.environ.get("LP_BENCH_HTTP_ROUNDS", "1"))
    pool = os.environ.get("LP_BENCH_HTTP_PY_POOL") and len(sys.argv) > 4
    for _ in range(rounds):
        if pool:
            ok, wall, cpu = on_pool(n, int(sys.argv[4]), url, ctx)
        else:
            ok, wall, cpu = fan_out(n, url, ctx)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("wall_x %.3f\ncpu_ms %.1f\nrss_kib %d\nok %d"
          % (wall / delay, cpu, rss, ok))
    return 0 if ok == n else 1


def get_ok(url, ctx):
    """One GET; whether it was answered 200."""
    try:
        with urllib.request.urlopen(url, timeout=60, context=ctx) as r:
            r.read()
            return r.status == 200
    except OSError:
        return False


def on_pool(n, workers, url, ctx):
    """n GETs on a pool of `workers` threads; as fan_out's result."""
    t0 = time.monotonic()
    c0 = time.process_time()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        ok = sum(ex.map(lambda _: get_ok(url, ctx), range(n)))
    wall = (time.monotonic() - t0) * 1000
    cpu = (time.process_time() - c0) * 1000
    return ok, wall, cpu


def fan_out(n, url, ctx):
    """n threads, one GET each; (answered 200, wall ms, CPU ms)."""
    ok = [0] * n

    def get(i):
        ok[i] = get_ok(url, ctx)

    threads = [threading.Thread(target=get, args=(i,)) for i in range(n)]
    t0 = time.monotonic()
    c0 = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = (time.monotonic() - t0) * 1000
    cpu = (time.process_time() - c0) * 1000
    return sum(ok), wall, cpu


if __name__ == "__main__":
    sys.exit(main())

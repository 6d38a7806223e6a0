#!/usr/bin/env bash
# Runs every measurement of each benchmark program given, at tiny sizes, and
# checks that it exits 0 and prints each figure as a number (tests/bench.cmake).
# Never checks speed.
#
# With --script SOURCE_DIR BUILD_DIR instead, runs scripts/bench.sh at tiny
# sizes and checks that it prints every ratio line in the documented form.
set -uo pipefail
fail=0

if [ "${1:-}" = --script ]; then
    out=$(LP_BENCH_TASKS=2000 LP_BENCH_PY_TASKS=200 LP_BENCH_REPEAT=1 \
        LP_BENCH_RT_ITERS=50 LP_BENCH_WAKE_ITERS=5 LP_BENCH_WAKE_GAP_US=500 \
        LP_BENCH_FANOUT="2 8" LP_BENCH_SLEEP_MS=5 LP_BENCH_RSS_WORKERS=8 \
        LP_BENCH_IDLE_MS=20 \
        timeout 240 "$2/scripts/bench.sh" "$3" 2>&1)
    rc=$?
    [ $rc -eq 0 ] || { echo "bench-smoke: bench.sh exited $rc" >&2; fail=1; }
    peers=python
    [ -x "$3/bench/bench-glib" ] && peers="$peers glib"
    [ -x "$3/bench/bench-libuv" ] && peers="$peers libuv"
    for what in per-task round-trip wake-up "fan-out 2 cold" "fan-out 8 warm" \
        "rss per idle worker"; do
        for p in $peers; do
            if ! grep -qE "^ratio $what vs $p: [0-9]+\.[0-9]+x\$" <<<"$out"; then
                echo "bench-smoke: no line 'ratio $what vs $p: <N>x'" >&2
                fail=1
            fi
        done
    done
    # The HTTP fan-out, cold and in a warm process (bench-http.sh).
    for what in "cpu event loop vs thread per request" \
        "cpu warm event loop vs thread per request"; do
        if ! grep -qE "^ratio $what \(N=[0-9]+\): [0-9]+\.[0-9]+x\$" <<<"$out"; then
            echo "bench-smoke: no line 'ratio $what (N=...): <N>x'" >&2
            fail=1
        fi
    done
    grep -q "^== targets" <<<"$out" || { echo "bench-smoke: no targets" >&2; fail=1; }
    [ $fail -eq 0 ] || echo "$out" >&2
    exit $fail
fi

expect() { # PROGRAM "ARGS" KEY...
    local prog=$1 args=$2 out k
    shift 2
    # shellcheck disable=SC2086
    if ! out=$(timeout 30 $prog $args 2>&1); then
        echo "bench-smoke: $prog $args failed:" >&2
        echo "$out" >&2
        fail=1
        return
    fi
    for k in "$@"; do
        if ! grep -qE "^$k -?[0-9]+(\.[0-9]+)?\$" <<<"$out"; then
            echo "bench-smoke: $prog $args: no figure $k in:" >&2
            echo "$out" >&2
            fail=1
        fi
    done
}
for prog in "$@"; do
    expect "$prog" "pertask 1000" per_task_us
    expect "$prog" "latency 50 0" latency_median_us latency_mean_us
    expect "$prog" "latency 5 500" latency_median_us latency_mean_us
    expect "$prog" "fanout 8 5" fanout_cold_x fanout_warm_x
    expect "$prog" "rss 16" workers rss_idle_kib_per_worker \
        rss_peak_kib_per_worker
    expect "$prog" "idle 20" idle_cpu_pct
    if $prog nonsense >/dev/null 2>&1; then
        echo "bench-smoke: $prog accepted a bad measurement name" >&2
        fail=1
    fi
done
exit $fail

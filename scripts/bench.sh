#!/usr/bin/env bash
# `make bench`: lambdapool's thread pool against Python's ThreadPoolExecutor,
# GLib's GThreadPool and libuv's uv_queue_work, all measured in this run.
# Prints every figure with its unit and, per comparison, a line
#   ratio <what> vs <peer>: <N>x
# where N > 1 means lambdapool is better (N = peer's figure / lambdapool's).
# See bench/README.md. Usage: scripts/bench.sh [BUILD_DIR]
#
# Sizes can be lowered for a quick run (the smoke test does):
#   LP_BENCH_TASKS      no-op tasks per per-task run, C peers (1000000)
#   LP_BENCH_PY_TASKS   the same for Python (100000: its futures are heavy)
#   LP_BENCH_REPEAT     runs of each timing per peer, lowest kept (3)
#   LP_BENCH_RT_ITERS   back-to-back round trips (10000; Python 2000)
#   LP_BENCH_WAKE_ITERS round trips after an idle gap (200)
#   LP_BENCH_WAKE_GAP_US the idle gap in microseconds (2000)
#   LP_BENCH_FANOUT     fan-out sizes ("3 100 1000")
#   LP_BENCH_SLEEP_MS   each fan-out task's sleep (100)
#   LP_BENCH_RSS_WORKERS idle workers for the RSS figure (1000)
#   LP_BENCH_IDLE_MS    idle window for the idle-CPU figure (500)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
build=${1:-build}

TASKS=${LP_BENCH_TASKS:-1000000}
PY_TASKS=${LP_BENCH_PY_TASKS:-100000}
REPEAT=${LP_BENCH_REPEAT:-3}
RT_ITERS=${LP_BENCH_RT_ITERS:-10000}
PY_RT_ITERS=$((RT_ITERS < 2000 ? RT_ITERS : 2000))
WAKE_ITERS=${LP_BENCH_WAKE_ITERS:-200}
WAKE_GAP_US=${LP_BENCH_WAKE_GAP_US:-2000}
FANOUT=${LP_BENCH_FANOUT:-3 100 1000}
SLEEP_MS=${LP_BENCH_SLEEP_MS:-100}
RSS_WORKERS=${LP_BENCH_RSS_WORKERS:-1000}
IDLE_MS=${LP_BENCH_IDLE_MS:-500}
RUN_TIMEOUT=120

peers=(lambdapool python glib libuv)
declare -A cmd=(
    [lambdapool]="$build/bench/bench-lambdapool"
    [python]="python3 bench/bench_python.py"
    [glib]="$build/bench/bench-glib"
    [libuv]="$build/bench/bench-libuv"
    [pthread]="$build/bench/bench-pthread"
)
declare -A label=(
    [lambdapool]="lambdapool thread pool"
    [python]="Python ThreadPoolExecutor"
    [glib]="GLib GThreadPool"
    [libuv]="libuv uv_queue_work"
    [pthread]="one pthread per task"
)
declare -A fig=()  # "<peer> <key>" -> value
failed=0

if [ ! -x "$build/bench/bench-lambdapool" ]; then
    echo "bench: $build/bench/bench-lambdapool not built (cmake --build $build)" >&2
    exit 1
fi
for p in glib libuv pthread; do
    [ -x "$build/bench/bench-$p" ] || unset "cmd[$p]"
done
command -v python3 >/dev/null || unset "cmd[python]"

have() { [ -n "${cmd[$1]:-}" ]; }

# measure PEER TAG ARGS...: runs one measurement in a fresh process and
# stores each "<key> <value>" it prints as fig["PEER TAG<key>"], keeping the
# lowest value when run repeatedly.
measure() {
    local peer=$1 tag=$2 out
    shift 2
    # shellcheck disable=SC2086
    if ! out=$(timeout "$RUN_TIMEOUT" ${cmd[$peer]} "$@" 2>&1); then
        echo "bench: ${cmd[$peer]} $* failed:" >&2
        echo "$out" >&2
        failed=1
        return 0
    fi
    keep_lowest fig "$peer $tag" <<<"$out"
}

# show PEER KEY UNIT [NOTE]: one figure, or "skipped"/"failed".
show() {
    local peer=$1 key=$2 unit=$3 note=${4:-}
    if ! have "$peer"; then
        printf '  %-26s skipped (not installed)\n' "${label[$peer]}"
    elif [ -z "${fig[$peer $key]:-}" ]; then
        printf '  %-26s failed\n' "${label[$peer]}"
    else
        printf '  %-26s %10s %s%s\n' "${label[$peer]}" "${fig[$peer $key]}" \
            "$unit" "$note"
    fi
}

# ratios WHAT KEY: "ratio WHAT vs PEER: Nx" for each peer measured, N =
# peer / lambdapool (every figure here is lower-is-better).
ratios() {
    local what=$1 key=$2 p mine=${fig[lambdapool $2]:-}
    [ -n "$mine" ] || return 0
    for p in python glib libuv; do
        [ -n "${fig[$p $key]:-}" ] || continue
        awk -v w="$what" -v p="$p" -v a="${fig[$p $key]}" -v b="$mine" '
            BEGIN {
                r = (b > 0) ? a / b : 0
                printf "ratio %s vs %s: ", w, p
                printf (r >= 10 ? "%.1fx\n" : "%.2fx\n"), r
            }'
    done
}


echo "lambdapool benchmark: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "every timing is the lowest of $REPEAT runs, each in a fresh process"
echo "peers: $(python3 --version 2>&1)," \
    "GLib $(pkg-config --modversion glib-2.0 2>/dev/null || echo -)," \
    "libuv $(pkg-config --modversion libuv 2>/dev/null || echo -)"
start=$(date +%s)

echo
echo "== per-task overhead: no-op submit -> result, 2 workers, submit all then"
echo "   collect all (futures for lambdapool and Python; GLib and libuv count"
echo "   completions). Python runs $PY_TASKS tasks, C peers $TASKS."
for p in "${peers[@]}"; do
    have "$p" || continue
    n=$TASKS
    [ "$p" = python ] && n=$PY_TASKS
    for _ in $(seq "$REPEAT"); do
        measure "$p" "" pertask "$n"
    done
done
for p in "${peers[@]}"; do show "$p" per_task_us "us/task"; done
if [ -n "${fig[lambdapool submit_phase_us]:-}" ]; then
    echo "  (lambdapool's phases, lowest of each over the runs: submitting" \
        "${fig[lambdapool submit_phase_us]} us/task, collecting" \
        "${fig[lambdapool collect_phase_us]} us/task)"
fi
ratios per-task per_task_us

echo
echo "== round trip: one submit -> result on an idle 2-worker pool, back to back"
echo "   ($RT_ITERS round trips; Python $PY_RT_ITERS)"
for p in "${peers[@]}"; do
    have "$p" || continue
    n=$RT_ITERS
    [ "$p" = python ] && n=$PY_RT_ITERS
    for _ in $(seq "$REPEAT"); do measure "$p" rt. latency "$n" 0; done
done
for p in "${peers[@]}"; do
    show "$p" rt.latency_median_us "us median" \
        "   (mean ${fig[$p rt.latency_mean_us]:-?} us)"
done
ratios round-trip rt.latency_median_us

echo
echo "== wake-up: the same round trip after the pool sat idle ${WAKE_GAP_US} us"
echo "   (workers parked; $WAKE_ITERS round trips)"
for p in "${peers[@]}"; do
    have "$p" || continue
    for _ in $(seq "$REPEAT"); do
        measure "$p" wake. latency "$WAKE_ITERS" "$WAKE_GAP_US"
    done
done
for p in "${peers[@]}"; do
    show "$p" wake.latency_median_us "us median" \
        "   (mean ${fig[$p wake.latency_mean_us]:-?} us)"
done
ratios wake-up wake.latency_median_us

echo
echo "== fan-out: N tasks sleeping $SLEEP_MS ms on max_workers = N, wall time in"
echo "   units of $SLEEP_MS ms (1.00 is ideal). cold: a fresh pool, thread start"
echo "   included; warm: a second batch on the same pool; prestarted (lambdapool):"
echo "   a fresh pool after lp_thread_pool_prestart(N), as a Lambda init phase would."
for n in $FANOUT; do
    for p in "${peers[@]}"; do
        have "$p" || continue
        for _ in $(seq "$REPEAT"); do
            measure "$p" "fan$n." fanout "$n" "$SLEEP_MS"
        done
    done
    for p in "${peers[@]}"; do
        show "$p" "fan$n.fanout_cold_x" "x cold" \
            "   ${fig[$p fan$n.fanout_warm_x]:-?} x warm   (N = $n)"
    done
    show lambdapool "fan$n.fanout_prestarted_x" "x prestarted" \
        "   (prestart of $n workers took ${fig[lambdapool fan$n.prestart_ms]:-?} ms)"
    if have pthread; then
        for _ in $(seq "$REPEAT"); do
            measure pthread "fan$n." fanout "$n" "$SLEEP_MS"
        done
        show pthread "fan$n.fanout_cold_x" "x" \
            "        (reference, not a peer: no pool)"
    fi
    ratios "fan-out $n cold" "fan$n.fanout_cold_x"
    ratios "fan-out $n warm" "fan$n.fanout_warm_x"
done

echo
echo "== memory: RSS growth per idle worker, $RSS_WORKERS workers started at once"
echo "   then idle (peak: high-water mark while they all ran)"
for p in "${peers[@]}"; do
    have "$p" && measure "$p" rss. rss "$RSS_WORKERS"
done
for p in "${peers[@]}"; do
    show "$p" rss.rss_peak_kib_per_worker "KiB/worker peak" \
        "   (${fig[$p rss.rss_idle_kib_per_worker]:-?} KiB idle, ${fig[$p rss.workers]:-?} workers)"
done
ratios "rss per idle worker" rss.rss_peak_kib_per_worker

echo
echo "== idle: CPU used by a 2-worker pool during ${IDLE_MS} ms with no work, right"
echo "   after 1000 round trips (% of one core; no ratio: every peer is near 0)"
for p in "${peers[@]}"; do
    have "$p" && measure "$p" idle. idle "$IDLE_MS"
done
for p in "${peers[@]}"; do show "$p" idle.idle_cpu_pct "% of a core"; done

echo
echo "== targets (issue 2)"
lp() { echo "${fig[lambdapool $1]:-}"; }
ratio_of() {
    [ -n "${fig[$1 $2]:-}" ] && [ -n "$(lp "$2")" ] &&
        awk -v a="${fig[$1 $2]}" -v b="$(lp "$2")" \
            'BEGIN { if (b > 0) printf "%.2f", a / b }'
}
target "per-task <= 0.15 us, 2 workers, futures included" \
    "$(lp per_task_us)" "<=" 0.15
target "per-task >= 100x Python's ThreadPoolExecutor" \
    "$(ratio_of python per_task_us)" ">=" 100
target "per-task >= 2x GLib's GThreadPool" \
    "$(ratio_of glib per_task_us)" ">=" 2
target "per-task better than libuv's uv_queue_work (the bar)" \
    "$(ratio_of libuv per_task_us)" ">=" 1
target "round trip on an idle pool <= 2 us (median)" \
    "$(lp rt.latency_median_us)" "<=" 2
target "round trip >= 20x better than Python's" \
    "$(ratio_of python rt.latency_median_us)" ">=" 20
last_n=${FANOUT##* }
target "fan-out $last_n x ${SLEEP_MS} ms on $last_n workers <= 1.10x (cold)" \
    "$(lp "fan$last_n.fanout_cold_x")" "<=" 1.10
target "fan-out $last_n x ${SLEEP_MS} ms on $last_n workers <= 1.10x (warm)" \
    "$(lp "fan$last_n.fanout_warm_x")" "<=" 1.10
target "fan-out $last_n x ${SLEEP_MS} ms on $last_n workers <= 1.10x (prestarted)" \
    "$(lp "fan$last_n.fanout_prestarted_x")" "<=" 1.10
target "peak RSS growth per idle worker <= 16 KiB" \
    "$(lp rss.rss_peak_kib_per_worker)" "<=" 16
target "an idle pool burns no CPU (<= 1% of a core, in %)" \
    "$(lp idle.idle_cpu_pct)" "<=" 1

# The process pool against Python's ProcessPoolExecutor (issue 3), same
# ratio format, sized from the variables above.
scripts/bench-process.sh "$build" || failed=1

# HTTP fan-out: event loop vs thread pool vs thread per request vs Python
# threads (issue 6), same ratio format.
scripts/bench-http.sh "$build" || failed=1

# The Lambda runtime against the bash + curl bootstrap of AWS's tutorial
# (issue 4): per-invocation overhead and cold start, same ratio format.
scripts/bench-lambda.sh "$build" || failed=1

echo
echo "bench: done in $(($(date +%s) - start)) s"
exit $failed

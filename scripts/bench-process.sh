#!/usr/bin/env bash
# The process pool against Python's ProcessPoolExecutor, both measured in
# this run (bench/process/). `make bench` runs it at the end of
# scripts/bench.sh. Prints every figure with its unit and, per comparison,
#   ratio <what>: <N>x
# where N > 1 means lambdapool is better (N = peer's figure / lambdapool's,
# or lambdapool's / peer's for throughput). Usage:
#   scripts/bench-process.sh [BUILD_DIR]
#
# Sizes (defaults scale with bench.sh's LP_BENCH_TASKS / LP_BENCH_PY_TASKS /
# LP_BENCH_REPEAT, so its smoke run stays tiny):
#   LP_BENCH_PROC_TASKS     small tasks per per-task run (TASKS / 50)
#   LP_BENCH_PROC_PY_TASKS  the same for Python (PY_TASKS / 20)
#   LP_BENCH_PROC_MAP       items per map run (TASKS / 5)
#   LP_BENCH_PROC_MIB       1 MiB round trips (TASKS / 5000, at least 4)
#   LP_BENCH_PROC_REPS      start-ups and 3-task runs, medians (TASKS / 50000)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
build=${1:-build}

TASKS=${LP_BENCH_TASKS:-1000000}
PY_TASKS=${LP_BENCH_PY_TASKS:-100000}
REPEAT=${LP_BENCH_REPEAT:-3}
N=${LP_BENCH_PROC_TASKS:-$((TASKS / 50))}
PY_N=${LP_BENCH_PROC_PY_TASKS:-$((PY_TASKS / 20))}
MAP_N=${LP_BENCH_PROC_MAP:-$((TASKS / 5))}
MIB=${LP_BENCH_PROC_MIB:-$((TASKS / 5000 > 4 ? TASKS / 5000 : 4))}
REPS=${LP_BENCH_PROC_REPS:-$((TASKS / 50000 > 3 ? TASKS / 50000 : 3))}
C="$build/bench/process/bench-process"
PY="python3 bench/process/bench_process.py"
failed=0
declare -A fig=()

if [ ! -x "$C" ]; then
    echo "bench-process: $C not built (cmake --build $build)" >&2
    exit 1
fi
command -v python3 >/dev/null || PY=""

# measure NAME CMD...: lowest value of each "<key> <value>" over REPEAT runs
# (highest for *_per_s keys), stored as fig["NAME key"].
measure() {
    local name=$1 out k v r
    shift
    for ((r = 0; r < REPEAT; r++)); do
        # shellcheck disable=SC2068
        if ! out=$(timeout 300 $@ 2>&1); then
            echo "bench-process: $* failed:" >&2
            echo "$out" >&2
            failed=1
            return 0
        fi
        while read -r k v; do
            [ -n "$k" ] || continue
            local old=${fig[$name $k]:-}
            if [ -z "$old" ] ||
                awk -v a="$v" -v b="$old" -v k="$k" 'BEGIN {
                    exit !(k ~ /_per_s$/ ? a > b : a < b) }'; then
                fig[$name $k]=$v
            fi
        done <<<"$out"
    done
}

show() { echo "  $1: ${fig[$2]:-n/a} $3"; }

# ratio WHAT PEER_KEY LP_KEY [higher]: peer/lp (lp/peer when higher-is-better);
# also kept as fig["ratio WHAT"] for the targets.
ratio() {
    local a=${fig[$2]:-} b=${fig[$3]:-} line
    [ -n "$a" ] && [ -n "$b" ] || return 0
    if [ "${4:-}" = higher ]; then
        line=$(awk -v a="$b" -v b="$a" -v w="$1" 'BEGIN { if (b > 0) printf "ratio %s: %.2fx\n", w, a / b }')
    else
        line=$(awk -v a="$a" -v b="$b" -v w="$1" 'BEGIN { if (b > 0) printf "ratio %s: %.2fx\n", w, a / b }')
    fi
    [ -n "$line" ] || return 0
    echo "$line"
    line=${line##*: }
    fig["ratio $1"]=${line%x}
}


echo
echo "== process pool vs Python's ProcessPoolExecutor (2 workers; best of $REPEAT; load average $(cut -d' ' -f1-3 /proc/loadavg))"
measure lp.rt "$C" pertask "$N" 0
measure lp.rt64 "$C" pertask "$N" 64
measure lp.map "$C" map "$MAP_N" 100
measure lp.up "$C" startup "$REPS"
measure lp.mib "$C" mib "$MIB"
measure lp.three "$C" three "$REPS"
if [ -n "$PY" ]; then
    measure py.rt $PY pertask "$PY_N"
    measure py.map $PY map "$MAP_N" 100
    measure py.up $PY startup "$REPS"
    measure py.mib $PY mib "$MIB"
    measure py.three $PY three "$REPS"
fi

echo "-- per-task round trip, 16-byte payload, submit all then collect all"
show "lambdapool (2 in flight per worker, the default)" "lp.rt per_task_us" us
show "lambdapool (64 in flight per worker)" "lp.rt64 per_task_us" us
show "Python ProcessPoolExecutor" "py.rt per_task_us" us
ratio "per-task round trip vs Python ProcessPoolExecutor" "py.rt per_task_us" "lp.rt per_task_us"
ratio "per-task round trip pipelined (64) vs Python ProcessPoolExecutor" "py.rt per_task_us" "lp.rt64 per_task_us"
echo "-- map, 8-byte items, chunksize 100"
show "lambdapool lp_process_pool_map_bytes" "lp.map per_item_us" "us per item"
show "Python map(chunksize=100)" "py.map per_item_us" "us per item"
ratio "map chunksize 100 per item vs Python" "py.map per_item_us" "lp.map per_item_us"
echo "-- start-up: create a 2-worker pool, run 2 trivial tasks, take both results (median)"
show "lambdapool" "lp.up startup_ms" ms
show "Python" "py.up startup_ms" ms
ratio "pool start-up (2 workers) vs Python" "py.up startup_ms" "lp.up startup_ms"
show "lambdapool shutdown + reap" "lp.up shutdown_ms" ms
show "Python shutdown" "py.up shutdown_ms" ms
ratio "pool shutdown vs Python" "py.up shutdown_ms" "lp.up shutdown_ms"
echo "-- 1 MiB payload round trips, 4 in flight (payload bytes / wall time)"
show "lambdapool" "lp.mib mib_gb_per_s" GB/s
show "Python" "py.mib mib_gb_per_s" GB/s
ratio "1 MiB round-trip throughput vs Python" "py.mib mib_gb_per_s" "lp.mib mib_gb_per_s" higher
echo "-- the seeds' 3-task experiment: 3 trivial tasks, per batch"
show "fork()+waitpid() per task (C)" "lp.three fork3_us" us
show "pthread_create()+join per task (C)" "lp.three thread3_us" us
show "lambdapool warm process pool" "lp.three pool3_us" us
show "Python multiprocessing.Process per task" "py.three process3_us" us
ratio "3 tasks: warm process pool vs fork+wait per task" "lp.three fork3_us" "lp.three pool3_us"
ratio "3 tasks: warm process pool vs thread per task" "lp.three thread3_us" "lp.three pool3_us"
ratio "3 tasks: warm process pool vs Python Process per task" "py.three process3_us" "lp.three pool3_us"
echo "== targets (issue 3)"
target "per-task round trip, pipelined (64), <= 5 us" "${fig[lp.rt64 per_task_us]:-}" "<=" 5
target "per-task round trip pipelined >= 25x Python's" \
    "${fig[ratio per-task round trip pipelined (64) vs Python ProcessPoolExecutor]:-}" ">=" 25
target "map with chunking <= 0.5 us per item" "${fig[lp.map per_item_us]:-}" "<=" 0.5
target "pool start-up, 2 workers, <= 2 ms" "${fig[lp.up startup_ms]:-}" "<=" 2
target "pool start-up >= 8x Python's" \
    "${fig[ratio pool start-up (2 workers) vs Python]:-}" ">=" 8
target "1 MiB payload round trips >= 1 GB/s" "${fig[lp.mib mib_gb_per_s]:-}" ">=" 1
exit $failed

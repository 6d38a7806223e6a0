#!/usr/bin/env bash
# The Lambda runtime benchmark (`make bench` runs it after the pools): an
# empty handler on lp_lambda_run against the bash + curl bootstrap of AWS's
# custom-runtime tutorial (bench/lambda/bash-bootstrap), both served by the
# same loopback Runtime API stub, in the same run. Prints each figure, then
#   ratio <what> vs bash+curl: <N>x      (N = bash's figure / ours)
# Every figure is the lowest of LP_BENCH_REPEAT runs (3), each in a fresh
# process. Reference lines (bench/lambda/bench-lambda-floor.c and
# bench-lambda-curl-floor.c) show how much of each figure is the runtime's
# own: a libc-only client on the same stub (the stub and loopback TCP alone),
# an empty main linked with -lcurl (loading Debian's libcurl and the ~37
# libraries it needs) and the least a libcurl client does before its first
# GET next (that, plus curl_global_init and one GET). Sizes:
#   LP_BENCH_LAMBDA_N       invocations per overhead run, ours (4000)
#   LP_BENCH_LAMBDA_BASH_N  the same for bash + curl (100: ~10 ms each)
#   LP_BENCH_LAMBDA_COLD    cold starts per peer (10)
# Usage: scripts/bench-lambda.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
REPEAT=${LP_BENCH_REPEAT:-3}
N=${LP_BENCH_LAMBDA_N:-4000}
BASH_N=${LP_BENCH_LAMBDA_BASH_N:-100}
COLD=${LP_BENCH_LAMBDA_COLD:-10}

drv=$build/bench/lambda/bench-lambda
ours=$build/bench/lambda/bench-lambda-empty
if [ ! -x "$drv" ] || [ ! -x "$ours" ]; then
    echo "bench-lambda: $drv or $ours not built" >&2
    exit 1
fi
command -v curl >/dev/null || { echo "bench-lambda: curl(1) missing (the peer needs it)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lp-bench-lambda.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# The tutorial's bootstrap leaves one mktemp file per invocation.
export TMPDIR=$tmp
export LAMBDA_TASK_ROOT=$PWD/bench/lambda/bash-bootstrap
export _HANDLER=function.handler
bash_cmd=$LAMBDA_TASK_ROOT/bootstrap

# measure RUNS CMD...: runs CMD RUNS times and sets low[KEY] to the lowest
# value each "KEY VALUE" line had over the runs.
declare -A low
measure() {
    local runs=$1 out k v
    shift
    low=()
    for _ in $(seq "$runs"); do
        out=$("$@") || { echo "bench-lambda: $* failed" >&2; return 1; }
        while read -r k v; do
            [ -n "$k" ] || continue
            if [ -z "${low[$k]:-}" ] || awk -v a="$v" -v b="${low[$k]}" 'BEGIN { exit !(a < b) }'; then
                low[$k]=$v
            fi
        done <<<"$out"
    done
}

ratio() {
    awk -v w="$1" -v a="$2" -v b="$3" 'BEGIN {
        r = (b > 0) ? a / b : 0
        printf "ratio %s vs bash+curl: ", w
        printf (r >= 10 ? "%.1fx\n" : "%.2fx\n"), r }'
}

target() {
    awk -v t="$1" -v v="$2" -v l="$3" 'BEGIN {
        printf "  %-52s %s (%s)\n", t, (v <= l) ? "met" : "MISSED", v }'
}

echo
echo "== Lambda runtime: per-invocation overhead, empty handler, GET next ->"
echo "   handler -> POST response on a loopback Runtime API stub (lowest of $REPEAT)"
measure "$REPEAT" "$drv" overhead "$N" "$ours"
inv_ours=${low[per_invocation_us]} cpu_ours=${low[cpu_us_per_invocation]}
measure "$REPEAT" "$drv" overhead "$BASH_N" "$bash_cmd"
inv_bash=${low[per_invocation_us]} cpu_bash=${low[cpu_us_per_invocation]}
floor=$build/bench/lambda/bench-lambda-floor
inv_floor=
if [ -x "$floor" ]; then
    measure "$REPEAT" "$drv" overhead "$N" "$floor" loop
    inv_floor=${low[per_invocation_us]} cpu_floor=${low[cpu_us_per_invocation]}
fi
printf '  %-34s %10s us/invocation (%s invocations)\n' "lambdapool lp_lambda_run" "$inv_ours" "$N"
printf '  %-34s %10s us/invocation (%s invocations)\n' "bash + curl (AWS tutorial)" "$inv_bash" "$BASH_N"
if [ -n "$inv_floor" ]; then
    printf '  %-34s %10s us/invocation (reference: the stub and loopback TCP alone)\n' \
        "libc-only client, same stub" "$inv_floor"
    awk -v a="$inv_ours" -v b="$inv_floor" 'BEGIN {
        printf "  %-34s %10.2f us/invocation (lp_lambda_run minus that)\n",
            "the runtime'"'"'s own share", a - b }'
fi
ratio "lambda per-invocation overhead" "$inv_bash" "$inv_ours"
echo "   CPU time of the bootstrap (and the processes it ran) per invocation,"
echo "   which depends less on how busy the machine is than wall time:"
printf '  %-34s %10s us CPU/invocation\n' "lambdapool lp_lambda_run" "$cpu_ours"
printf '  %-34s %10s us CPU/invocation\n' "bash + curl (AWS tutorial)" "$cpu_bash"
if [ -n "$inv_floor" ]; then
    printf '  %-34s %10s us CPU/invocation (reference)\n' "libc-only client, same stub" "$cpu_floor"
fi
ratio "lambda CPU per invocation" "$cpu_bash" "$cpu_ours"

echo
echo "== Lambda runtime: cold start, exec of the bootstrap -> its first GET next"
echo "   (lowest of $COLD)"
measure "$COLD" "$drv" coldstart "$ours"
cold_ours=${low[cold_start_us]} ccpu_ours=${low[cold_cpu_us]}
measure "$COLD" "$drv" coldstart "$bash_cmd"
cold_bash=${low[cold_start_us]} ccpu_bash=${low[cold_cpu_us]}
printf '  %-34s %10s us   (CPU to the first answer: %s us)\n' \
    "lambdapool lp_lambda_run" "$cold_ours" "$ccpu_ours"
printf '  %-34s %10s us   (CPU to the first answer: %s us)\n' \
    "bash + curl (AWS tutorial)" "$cold_bash" "$ccpu_bash"
if [ -x "$floor" ]; then
    measure "$COLD" "$drv" coldstart "$floor"
    printf '  %-34s %10s us   (reference: exec + connect, no libcurl)\n' \
        "libc-only client" "${low[cold_start_us]}"
fi
cfloor=$build/bench/lambda/bench-lambda-curl-floor
if [ -x "$cfloor" ]; then
    measure "$COLD" "$drv" coldstart "$cfloor"
    printf '  %-34s %10s us   (reference: loading libcurl alone, then as above)\n' \
        "empty main linked with -lcurl" "${low[cold_start_us]}"
    measure "$COLD" "$drv" coldstart "$cfloor" get
    cold_cmin=${low[cold_start_us]}
    printf '  %-34s %10s us   (reference: + curl_global_init, one easy GET)\n' \
        "least libcurl client" "$cold_cmin"
    awk -v a="$cold_ours" -v b="$cold_cmin" 'BEGIN {
        printf "  %-34s %10.1f us   (lp_lambda_run minus that)\n",
            "the runtime'"'"'s own share", a - b }'
fi
ratio "lambda cold start" "$cold_bash" "$cold_ours"

echo
echo "== Lambda runtime targets (load average $(cut -d' ' -f1-3 /proc/loadavg))"
target "per-invocation overhead <= 50 us" "$inv_ours" 50
target "cold start <= 2000 us" "$cold_ours" 2000
awk -v a="$inv_bash" -v b="$inv_ours" -v c="$cold_bash" -v d="$cold_ours" 'BEGIN {
    r1 = a / b; r2 = c / d
    printf "  %-52s %s (%.1fx, %.1fx)\n", "both >= 20x better than bash + curl",
        (r1 >= 20 && r2 >= 20) ? "met" : "MISSED", r1, r2 }'

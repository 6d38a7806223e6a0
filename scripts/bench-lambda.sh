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
. scripts/bench-lib.sh
TARGET_WIDTH=52
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

# measure RUNS NAME=CMD...: runs each named command once per round, RUNS
# rounds, interleaved so that every peer meets the same load, and sets
# low[NAME:KEY] to the lowest value each "KEY VALUE" line had. A CMD is one
# word list given as a string (no quoting inside).
declare -A low
measure() {
    local runs=$1 out spec name
    shift
    low=()
    for _ in $(seq "$runs"); do
        for spec in "$@"; do
            name=${spec%%=*}
            # shellcheck disable=SC2086
            out=$(${spec#*=}) || { echo "bench-lambda: ${spec#*=} failed" >&2; return 1; }
            keep_lowest low "$name:" <<<"$out"
        done
    done
}

ratio() {
    awk -v w="$1" -v a="$2" -v b="$3" 'BEGIN {
        r = (b > 0) ? a / b : 0
        printf "ratio %s vs bash+curl: ", w
        printf (r >= 10 ? "%.1fx\n" : "%.2fx\n"), r }'
}


floor=$build/bench/lambda/bench-lambda-floor
cfloor=$build/bench/lambda/bench-lambda-curl-floor
for f in "$floor" "$cfloor"; do
    [ -x "$f" ] || { echo "bench-lambda: $f not built" >&2; exit 1; }
done

echo
echo "== Lambda runtime: per-invocation overhead, empty handler, GET next ->"
echo "   handler -> POST response on a loopback Runtime API stub (lowest of $REPEAT,"
echo "   peers interleaved)"
measure "$REPEAT" "ours=$drv overhead $N $ours" "bash=$drv overhead $BASH_N $bash_cmd" \
    "floor=$drv overhead $N $floor loop"
inv_ours=${low[ours:per_invocation_us]} cpu_ours=${low[ours:cpu_us_per_invocation]}
inv_bash=${low[bash:per_invocation_us]} cpu_bash=${low[bash:cpu_us_per_invocation]}
inv_floor=${low[floor:per_invocation_us]} cpu_floor=${low[floor:cpu_us_per_invocation]}
printf '  %-34s %10s us/invocation (%s invocations)\n' "lambdapool lp_lambda_run" "$inv_ours" "$N"
printf '  %-34s %10s us/invocation (%s invocations)\n' "bash + curl (AWS tutorial)" "$inv_bash" "$BASH_N"
printf '  %-34s %10s us/invocation (reference: the stub and loopback TCP alone)\n' \
    "libc-only client, same stub" "$inv_floor"
awk -v a="$inv_ours" -v b="$inv_floor" 'BEGIN {
    printf "  %-34s %10.2f us/invocation (lp_lambda_run minus that)\n",
        "the runtime'"'"'s own share", a - b }'
ratio "lambda per-invocation overhead" "$inv_bash" "$inv_ours"
echo "   CPU time of the bootstrap (and the processes it ran) per invocation,"
echo "   which depends less on how busy the machine is than wall time:"
printf '  %-34s %10s us CPU/invocation\n' "lambdapool lp_lambda_run" "$cpu_ours"
printf '  %-34s %10s us CPU/invocation\n' "bash + curl (AWS tutorial)" "$cpu_bash"
printf '  %-34s %10s us CPU/invocation (reference)\n' "libc-only client, same stub" "$cpu_floor"
ratio "lambda CPU per invocation" "$cpu_bash" "$cpu_ours"

echo
echo "== Lambda runtime: cold start, exec of the bootstrap -> its first GET next"
echo "   (lowest of $COLD, peers interleaved)"
measure "$COLD" "ours=$drv coldstart $ours" "bash=$drv coldstart $bash_cmd" \
    "floor=$drv coldstart $floor" "curl=$drv coldstart $cfloor" \
    "cmin=$drv coldstart $cfloor get"
cold_ours=${low[ours:cold_start_us]} cold_bash=${low[bash:cold_start_us]}
cold_cmin=${low[cmin:cold_start_us]}
printf '  %-34s %10s us   (CPU to the first answer: %s us)\n' \
    "lambdapool lp_lambda_run" "$cold_ours" "${low[ours:cold_cpu_us]}"
printf '  %-34s %10s us   (CPU to the first answer: %s us)\n' \
    "bash + curl (AWS tutorial)" "$cold_bash" "${low[bash:cold_cpu_us]}"
printf '  %-34s %10s us   (reference: exec + connect, no libcurl)\n' \
    "libc-only client" "${low[floor:cold_start_us]}"
printf '  %-34s %10s us   (reference: loading libcurl alone, then as above)\n' \
    "empty main linked with -lcurl" "${low[curl:cold_start_us]}"
printf '  %-34s %10s us   (reference: + curl_global_init, one easy GET)\n' \
    "least libcurl client" "$cold_cmin"
awk -v a="$cold_ours" -v b="$cold_cmin" 'BEGIN {
    printf "  %-34s %10.1f us   (lp_lambda_run minus that)\n",
        "the runtime'"'"'s own share", a - b }'
ratio "lambda cold start" "$cold_bash" "$cold_ours"

# Instructions (valgrind's callgrind): the same figures whatever the load,
# so that the runtime's own share can be told apart from the machine's
# noise. Cold start: exec -> exit after one event. Per invocation: the
# difference between 1 and 201 events, divided by 200 (the bootstrap's
# instructions only; the stub runs outside valgrind).
if command -v valgrind >/dev/null; then
    declare -A instr
    # vg NAME K CMD...: instr[NAME] = instructions CMD ran serving K events.
    vg() {
        local name=$1 k=$2
        shift 2
        "$drv" coldrun "$k" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
            --log-file="$tmp/vg.log" "$@" >/dev/null ||
            { echo "bench-lambda: valgrind $* failed" >&2; exit 1; }
        instr[$name]=$(awk '/Collected :/ { print $NF }' "$tmp/vg.log")
    }
    vg ours 1 "$ours" 1
    vg ours201 201 "$ours" 201
    vg cmin 1 "$cfloor" get
    vg curl 1 "$cfloor"
    vg floor 1 "$floor"
    vg floor201 201 "$floor" loop
    vg floor1 1 "$floor" loop
    echo
    echo "== Lambda runtime in instructions (callgrind; independent of the load)"
    awk -v o="${instr[ours]}" -v o2="${instr[ours201]}" -v m="${instr[cmin]}" \
        -v c="${instr[curl]}" -v f="${instr[floor]}" -v f1="${instr[floor1]}" \
        -v f2="${instr[floor201]}" 'BEGIN {
        printf "  per invocation:\n"
        printf "  %-34s %8.1fk instructions\n", "lambdapool lp_lambda_run", (o2 - o) / 200e3
        printf "  %-34s %8.1fk instructions (reference)\n", "libc-only client", (f2 - f1) / 200e3
        printf "  cold start, exec -> exit after one event:\n"
        printf "  %-34s %8.2fM instructions\n", "lambdapool lp_lambda_run", o / 1e6
        printf "  %-34s %8.2fM instructions\n", "least libcurl client", m / 1e6
        printf "  %-34s %8.2fM instructions\n", "empty main linked with -lcurl", c / 1e6
        printf "  %-34s %8.2fM instructions\n", "libc-only client", f / 1e6
        printf "  %-34s %8.2fM instructions (%.1f%% of the cold start)\n",
            "the runtime'"'"'s own share", (o - m) / 1e6, 100 * (o - m) / o }'
fi

echo
echo "== Lambda runtime targets (load average $(cut -d' ' -f1-3 /proc/loadavg))"
target "per-invocation overhead <= 50 us" "$inv_ours" "<=" 50
target "cold start <= 2000 us" "$cold_ours" "<=" 2000
awk -v a="$inv_bash" -v b="$inv_ours" -v c="$cold_bash" -v d="$cold_ours" 'BEGIN {
    r1 = a / b; r2 = c / d
    printf "  %-52s %s (%.1fx, %.1fx)\n", "both >= 20x better than bash + curl",
        (r1 >= 20 && r2 >= 20) ? "met" : "MISSED", r1, r2 }'

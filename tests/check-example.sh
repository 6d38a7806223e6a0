#!/usr/bin/env bash
# Runs an example and checks what it printed (tests/examples.cmake).
#   check-example.sh output  'EXPECTED LINE' PROGRAM [ARGS...]
#       exit status 0 and a line exactly EXPECTED LINE
#   check-example.sh fails   PROGRAM [ARGS...]
#       exit status 1 and a message on stderr, nothing counted on stdout
#   check-example.sh speedup DELAY_MS PROGRAM
#       seed000-handler: sequential >= 3 x delay, threaded >= delay and
#       threaded < 0.7 x sequential; every request done once per mode
#       (timings: best of up to 3 runs, see run_speedup)
#   check-example.sh speedup-http DELAY_MS PROGRAM
#       seed000-handler --http: as speedup, with the event loop as a third
#       mode held to the same limits as threaded, and every request answered
#       with status 200 once per mode
set -uo pipefail
mode=$1
shift
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
fail() {
    echo "check-example: $*" >&2
    echo "--- stdout"; cat "$out"; echo "--- stderr"; cat "$err"
    exit 1
}

TIMING_ATTEMPTS=3
timing=

# One run of seed000-handler in speedup or speedup-http mode. Fails the test
# at once on a wrong exit status or output; returns 1, with $timing set, when
# only the timings are out of their limits:
#   sequential >= 3 x delay, each concurrent mode >= delay and < 0.7 x seq.
run_speedup() {
    local mode=$1 delay=$2 seq thr evl=
    shift 2
    if [ "$mode" = speedup-http ]; then
        "$@" --http "$delay" >"$out" 2>"$err"
    else
        "$@" "$delay" >"$out" 2>"$err"
    fi
    rc=$?
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
    seq=$(awk '$1 == "sequential:" { print $2 }' "$out")
    thr=$(awk '$1 == "threaded:" { print $2 }' "$out")
    [ -n "$seq" ] && [ -n "$thr" ] || fail "timings missing"
    if [ "$mode" = speedup-http ]; then
        evl=$(awk '$1 == "event-loop:" { print $2 }' "$out")
        [ -n "$evl" ] || fail "event-loop timing missing"
        check_done_lines "  request %d done: status 200" 3
    else
        check_done_lines "  request %d done" 2
    fi
    timing="sequential $seq ms, threaded $thr ms${evl:+, event loop $evl ms} (delay $delay ms)"
    awk -v s="$seq" -v t="$thr" -v e="${evl:-$thr}" -v d="$delay" 'BEGIN {
        exit !(s >= 3 * d && t >= d && t < 0.7 * s && e >= d && e < 0.7 * s)
    }'
}

# Each of requests 0..2 printed FORMAT's line exactly TIMES times.
check_done_lines() {
    local format=$1 times=$2 i n line
    for i in 0 1 2; do
        # shellcheck disable=SC2059
        line=$(printf "$format" "$i")
        n=$(grep -cxF "$line" "$out")
        [ "$n" -eq "$times" ] || fail "'$line' $n times, expected $times"
    done
}

case $mode in
output)
    expected=$1
    shift
    "$@" >"$out" 2>"$err"
    rc=$?
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
    grep -qxF -- "$expected" "$out" || fail "no line '$expected'"
    ;;
fails)
    "$@" >"$out" 2>"$err"
    rc=$?
    [ $rc -eq 1 ] || fail "exit status $rc, expected 1"
    [ -s "$err" ] || fail "no error message on stderr"
    if grep -q '^count:' "$out"; then fail "printed a count"; fi
    ;;
speedup | speedup-http)
    delay=$1
    shift
    # Timing is the only flaky part (this VM's vCPUs stall now and then for
    # tens, rarely hundreds, of milliseconds), so up to TIMING_ATTEMPTS runs
    # may be made; every run must be correct, and one must meet the limits.
    # A pool that does not overlap the requests misses them every time.
    for attempt in $(seq 1 "$TIMING_ATTEMPTS"); do
        run_speedup "$mode" "$delay" "$@" && exit 0
        echo "check-example: attempt $attempt: $timing" >&2
    done
    fail "timing missed in $TIMING_ATTEMPTS runs, last: $timing"
    ;;
*)
    fail "unknown mode $mode"
    ;;
esac
exit 0

#!/usr/bin/env bash
# Runs an example and checks what it printed (tests/examples.cmake).
#   check-example.sh output  'EXPECTED LINE' PROGRAM [ARGS...]
#       exit status 0 and a line exactly EXPECTED LINE
#   check-example.sh fails   PROGRAM [ARGS...]
#       exit status 1 and a message on stderr, nothing counted on stdout
#   check-example.sh speedup DELAY_MS PROGRAM
#       seed000-handler: sequential >= 3 x delay, threaded >= delay and
#       threaded < 0.7 x sequential; every request done once per mode
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
speedup)
    delay=$1
    shift
    "$@" "$delay" >"$out" 2>"$err"
    rc=$?
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
    seq=$(awk '$1 == "sequential:" { print $2 }' "$out")
    thr=$(awk '$1 == "threaded:" { print $2 }' "$out")
    [ -n "$seq" ] && [ -n "$thr" ] || fail "timings missing"
    for i in 0 1 2; do
        n=$(grep -cxF "  request $i done" "$out")
        [ "$n" -eq 2 ] || fail "request $i done $n times, expected 2"
    done
    awk -v s="$seq" -v t="$thr" -v d="$delay" 'BEGIN {
        exit !(s >= 3 * d && t >= d && t < 0.7 * s) }' ||
        fail "sequential $seq ms, threaded $thr ms (delay $delay ms)"
    ;;
speedup-http)
    delay=$1
    shift
    "$@" --http "$delay" >"$out" 2>"$err"
    rc=$?
    [ $rc -eq 0 ] || fail "exit status $rc, expected 0"
    seq=$(awk '$1 == "sequential:" { print $2 }' "$out")
    thr=$(awk '$1 == "threaded:" { print $2 }' "$out")
    evl=$(awk '$1 == "event-loop:" { print $2 }' "$out")
    [ -n "$seq" ] && [ -n "$thr" ] && [ -n "$evl" ] || fail "timings missing"
    for i in 0 1 2; do
        n=$(grep -cxF "  request $i done: status 200" "$out")
        [ "$n" -eq 3 ] || fail "request $i answered 200 $n times, expected 3"
    done
    awk -v s="$seq" -v t="$thr" -v e="$evl" -v d="$delay" 'BEGIN {
        exit !(s >= 3 * d && t >= d && t < 0.7 * s && e >= d && e < 0.7 * s)
    }' || fail "sequential $seq ms, threaded $thr ms, event loop $evl ms" \
        "(delay $delay ms)"
    ;;
*)
    fail "unknown mode $mode"
    ;;
esac
exit 0

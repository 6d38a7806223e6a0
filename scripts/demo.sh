#!/usr/bin/env bash
# `make demo`: runs two examples (seeds 000 and 001) and prints their
# timings, then runs lp-tune on seed 000's experiment (C and Python, 128-2048
# MB; see demo_lptune), its table on stdout and its chart in the build dir.
# Usage: scripts/demo.sh [BUILD_DIR]. Each demo is one function listed in
# `demos` below; add a function and its name to show something more.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

require() {
    if [ ! -x "$build/$1" ]; then
        echo "demo: $build/$1 not built (run: cmake --build $build)" >&2
        exit 1
    fi
}

# Seed 000: three blocking 400 ms requests, one after another, then on a
# pool; then real GETs of a loopback delay server, adding the event loop.
demo_seed000() {
    require examples/seed000-handler
    echo "== seed 000: a Lambda handler making 3 blocking requests"
    echo "-- sleep 400 ms stands in for each request:"
    "$build/examples/seed000-handler" 400
    echo "-- each request a GET of a loopback server answering after 400 ms:"
    "$build/examples/seed000-handler" --http 400
}

# Seed 001: countHighFrequencyItem with a 4-worker pool and as_completed.
demo_seed001() {
    require examples/count-high-frequency
    echo "== seed 001: countHighFrequencyItem, 4 workers, as_completed"
    echo "-- the built-in list of 12 items:"
    "$build/examples/count-high-frequency"
    echo "-- 100000 generated items (item i has frequency i % 20):"
    "$build/examples/count-high-frequency" -n 100000
}

# lp-tune: seed 000's experiment (3 requests: sequential, threads,
# processes) at seed 000's memory settings, C and the seeds' own Python
# programs side by side, each run throttled to Lambda's CPU share; the table
# goes to stdout and the chart to $build/lp-tune-demo.png.
demo_lptune() {
    require tools/lp-tune/lp-tune
    echo "== lp-tune: seed 000's experiment, C and Python, 128-2048 MB"
    "$build/tools/lp-tune/lp-tune" --io-delay 100 --memory 128,512,1024,2048 \
        --reps 3 --python --plot "$build/lp-tune-demo.png"
}

demos=(demo_seed000 demo_seed001 demo_lptune)
for d in "${demos[@]}"; do
    "$d"
    echo
done
echo "demo: done"

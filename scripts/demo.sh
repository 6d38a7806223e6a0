#!/usr/bin/env bash
# `make demo`: runs the examples on their defaults and prints their timings.
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

# Seed 000: three blocking 1 s requests, one after another, then on a pool.
demo_seed000() {
    require examples/seed000-handler
    echo "== seed 000: a Lambda handler making 3 blocking requests"
    echo "   (sleep 1 s stands in for each request)"
    "$build/examples/seed000-handler"
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

demos=(demo_seed000 demo_seed001)
for d in "${demos[@]}"; do
    "$d"
    echo
done
echo "demo: done"

#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds and runs a consumer
# twice: through find_package(lambdapool) and through pkg-config.
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(ls -d "$work"/prefix/lib* | head -1)
test -f "$work/prefix/include/lambdapool/lambdapool.h"
test -f "$libdir/cmake/lambdapool/lambdapoolConfig.cmake"
test -f "$libdir/cmake/lambdapool/lambdapoolConfigVersion.cmake"
test -f "$libdir/pkgconfig/lambdapool.pc"
if ls "$work"/prefix/include/lambdapool | grep -v '\.h$'; then
    echo "check-install: unexpected files under include/" >&2
    exit 1
fi

cmake -S "$src/tests/install" -B "$work/cmake-consumer" \
    -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake-consumer" >/dev/null
LD_LIBRARY_PATH="$libdir" "$work/cmake-consumer/consumer"
test -x "$libdir/cmake/lambdapool/lambdapool-package.sh"
LD_LIBRARY_PATH="$libdir" cmake --build "$work/cmake-consumer" \
    --target consumer-zip >/dev/null
zip=$work/cmake-consumer/lambda/consumer/function.zip
# (grep reads the whole listing: with -q it could quit first, and unzip's
# SIGPIPE would fail the pipeline under pipefail)
unzip -l "$zip" | grep ' bootstrap$' >/dev/null

export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046
cc -o "$work/pc-consumer" "$src/tests/install/consumer.c" \
    $(pkg-config --cflags --libs lambdapool)
LD_LIBRARY_PATH="$libdir" "$work/pc-consumer"
echo "check-install: find_package (with lp_add_lambda_zip) and pkg-config consumers ok"

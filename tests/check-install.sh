#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds and runs a consumer
# twice: through find_package(lambdapool) and through pkg-config. Also checks
# that everything installs under the prefix (nothing to an absolute path such
# as /usr/local) and that the installed lp-tune finds its Python programs
# there.
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Staged through DESTDIR, so that a file with an absolute destination lands
# in $work/stage too (and is caught here) instead of in the real filesystem;
# every file must be under the prefix, to which the stage then moves.
DESTDIR="$work/stage" cmake --install "$build" --prefix "$work/prefix" \
    >/dev/null
find "$work/stage" ! -type d >"$work/staged"
if grep -v "^$work/stage$work/prefix/" "$work/staged" >"$work/outside"; then
    echo "check-install: installed outside the prefix:" >&2
    sed "s|^$work/stage||" "$work/outside" >&2
    exit 1
fi
mv "$work/stage$work/prefix" "$work/prefix"
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

# lp-tune and the seeds' Python programs; the installed lp-tune runs them
# from beside itself (not from the source tree it was built from). A stand-in
# interpreter records the program it is given.
pydir=$work/prefix/share/lambdapool/lp-tune/python
for f in lp_tune_run.py seed000_sequential.py seed000_threading.py \
    seed000_multiprocessing.py seed001_thread_pool.py; do
    test -f "$pydir/$f"
done
test -x "$work/prefix/bin/lp-tune"
cat >"$work/fake-python" <<EOF
#!/bin/sh
if [ "\$1" = -c ]; then echo "\$0"; exit 0; fi
echo "\$@" >>"$work/fake-python.log"
EOF
chmod +x "$work/fake-python"
"$work/prefix/bin/lp-tune" --url http://127.0.0.1:1/ -n 1 -m 1769 -r 1 \
    --modes py-sequential --cold --no-throttle --no-progress --timeout 30 \
    --python-exe "$work/fake-python" >/dev/null 2>&1 || true
if ! grep "^$pydir/" "$work/fake-python.log" >/dev/null; then
    echo "check-install: the installed lp-tune did not run $pydir:" >&2
    cat "$work/fake-python.log" >&2 || true
    exit 1
fi

export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046
cc -o "$work/pc-consumer" "$src/tests/install/consumer.c" \
    $(pkg-config --cflags --libs lambdapool)
LD_LIBRARY_PATH="$libdir" "$work/pc-consumer"
echo "check-install: all under the prefix; find_package (with lp_add_lambda_zip) and pkg-config consumers ok; lp-tune finds its Python programs"

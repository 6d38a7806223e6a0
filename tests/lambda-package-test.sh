#!/usr/bin/env bash
# Packaging test: package an example as function.zip, unzip it into an empty
# directory, check that nothing outside the directory is needed (the bundled
# loader's --list, readelf NEEDED), then run it through the emulator.
#
#   lambda-package-test.sh PACKAGE_SH EXECUTABLE LP_INVOKE_JS
set -euo pipefail
package_sh=$1 exe=$2 invoke=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/lp-pkg-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$package_sh" "$exe" "$work/function.zip"
mkdir "$work/fn"
(cd "$work/fn" && unzip -q ../function.zip)
fn=$work/fn
name=$(basename "$exe")
[ -x "$fn/bootstrap" ] || fail "bootstrap missing or not executable"
[ -x "$fn/bin/$name" ] || fail "bin/$name missing"
loader=$(cd "$fn/lib" && ls ld-linux-*.so.* 2>/dev/null | head -1)
[ -n "$loader" ] || fail "no dynamic loader in lib/"
grep -q "lib/$loader\" --library-path" "$fn/bootstrap" || fail "bootstrap does not start through the bundled loader"

# 1. The bundled loader resolves every library inside the directory.
listing=$("$fn/lib/$loader" --list --library-path "$fn/lib" "$fn/bin/$name")
echo "$listing" | sed 's/^/  /'
outside=$(echo "$listing" | grep '=>' | grep -v "=> $fn/lib/" || true)
[ -z "$outside" ] || fail "libraries resolved outside the zip: $outside"
# (Here-strings, not `echo | grep -q`: grep -q exits at its first match, and
# under pipefail the echo's SIGPIPE would fail the check at random.)
grep -q 'not found' <<<"$listing" && fail "unresolved libraries"
# ldd itself, with only the zip's lib/ on the path, agrees (the interpreter
# line names the system loader: the bootstrap does not use it).
outside=$(LD_LIBRARY_PATH="$fn/lib" ldd "$fn/bin/$name" | grep '=>' | grep -v "=> $fn/lib/" || true)
[ -z "$outside" ] || fail "ldd resolves libraries outside the zip: $outside"
# 2. Every NEEDED entry of every file is bundled (readelf).
for f in "$fn/bin/$name" "$fn"/lib/*; do
    for needed in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        [ -e "$fn/lib/$needed" ] || fail "$(basename "$f") needs $needed, not in the zip"
    done
done
# 3. glibc comes from the zip: libc.so.6 and the loader are there.
[ -e "$fn/lib/libc.so.6" ] || fail "libc.so.6 not bundled"
echo "ldd/readelf: everything needed is inside the zip ($(ls "$fn/lib" | wc -l) libraries)"

# 4. It runs: the unpacked directory through the emulator.
out=$(node "$invoke" -e '{"mode":"threads","delay_ms":50}' -n 3 "$fn")
echo "$out"
grep -q '^invocations: 3 ok: 3 errors: 0$' <<<"$out" || fail "emulator run"
grep -q '\\"completed\\":3' <<<"$out" || fail "unexpected reply"
echo "package test: ok"

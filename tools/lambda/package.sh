#!/usr/bin/env bash
# Packages a handler executable as a Lambda function.zip for provided.al2023
# (or provided.al2): the target has its own, older glibc (2.34 on AL2023), so
# the zip carries every shared library the executable needs -- glibc and the
# dynamic loader included -- and `bootstrap` starts the executable through
# the bundled loader with only the bundled libraries on its path.
#
#   package.sh EXECUTABLE OUT.zip
#
# Layout of the zip:
#   bootstrap        sh script: exec lib/<loader> --library-path lib bin/<exe>
#   bin/<exe>        the executable, unchanged
#   lib/*            every library `ldd` resolves, by soname, and the loader
# Checks before zipping that every NEEDED entry of every file is in lib/.
set -euo pipefail

usage() { echo "usage: $0 EXECUTABLE OUT.zip" >&2; exit 1; }
[ $# -eq 2 ] || usage
exe=$1
out=$2
[ -x "$exe" ] || { echo "package.sh: $exe is not an executable" >&2; exit 1; }
command -v zip >/dev/null || { echo "package.sh: zip is not installed (scripts/install-deps.sh)" >&2; exit 1; }

name=$(basename "$exe")
stage=$(mktemp -d "${TMPDIR:-/tmp}/lp-zip.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
cp "$exe" "$stage/bin/$name"

loader=""
# ldd prints "soname => /path (addr)", "/path/ld-linux*.so.N (addr)" and the
# vdso (no file). Copy each resolved file under its soname, following links.
while read -r line; do
    case "$line" in
    *"=> not found"*)
        echo "package.sh: $exe needs a library that is not installed: $line" >&2
        exit 1 ;;
    *" => /"*)
        soname=${line%% =>*}
        path=${line#*=> }
        path=${path%% (*}
        cp -L "$path" "$stage/lib/$soname" ;;
    /*)
        path=${line%% (*}
        loader=$(basename "$path")
        cp -L "$path" "$stage/lib/$loader" ;;
    esac
done < <(ldd "$exe")
[ -n "$loader" ] || { echo "package.sh: no dynamic loader found for $exe (static executable? then zip it as bootstrap directly)" >&2; exit 1; }

# Every NEEDED entry of the executable and of each library must be bundled.
missing=0
for f in "$stage/bin/$name" "$stage"/lib/*; do
    for needed in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        if [ ! -e "$stage/lib/$needed" ]; then
            echo "package.sh: $(basename "$f") needs $needed, which is not bundled" >&2
            missing=1
        fi
    done
done
[ $missing -eq 0 ] || exit 1

cat >"$stage/bootstrap" <<SCRIPT
#!/bin/sh
# Starts $name through the bundled dynamic loader and libraries, so the
# function does not depend on the glibc of the Lambda image.
root=\${LAMBDA_TASK_ROOT:-\$(dirname "\$0")}
exec "\$root/lib/$loader" --library-path "\$root/lib" "\$root/bin/$name" "\$@"
SCRIPT
chmod 755 "$stage/bootstrap" "$stage/bin/$name" "$stage/lib/$loader"

mkdir -p "$(dirname "$out")"
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
rm -f "$out_abs"
(cd "$stage" && zip -q -r -X "$out_abs" bootstrap bin lib)
echo "package.sh: $out ($(du -k "$out_abs" | cut -f1) KiB): bootstrap, bin/$name, $(ls "$stage/lib" | wc -l) libraries incl. $loader"

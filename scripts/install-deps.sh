#!/usr/bin/env bash
# Installs what lambdapool needs on Debian 12 when it is missing: Debian
# packages via apt-get (as root), npm packages via npm. Quiet when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(
    build-essential cmake pkg-config clang-format
    libcurl4-openssl-dev libjansson-dev     # the library: HTTP, JSON
    libglib2.0-dev libuv1-dev               # benchmark peers
    python3                                 # benchmark peer, seeds' programs
    gnuplot-nox zip unzip                   # lp-tune plots, packaging
    clang libclang-rt-14-dev                # fuzz targets
)
# Areas may list more packages, one per line, in scripts/deps/*.apt.
for f in scripts/deps/*.apt; do
    [ -e "$f" ] || continue
    while read -r p _; do
        [ -n "$p" ] && [ "${p#\#}" = "$p" ] && debian_packages+=("$p")
    done <"$f"
done

missing=()
for p in "${debian_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: need root to apt-get install: ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages live in tools/node (package.json + lock), installed on demand.
if [ -f tools/node/package.json ] && [ ! -d tools/node/node_modules ]; then
    echo "install-deps: npm install in tools/node"
    (cd tools/node && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

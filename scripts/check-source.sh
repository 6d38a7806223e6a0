#!/usr/bin/env bash
# Source gates run by `make test`: formatting, banned calls, exported symbols.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
fail=0

files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src include tests examples bench tools -name '*.[ch]')
if command -v clang-format >/dev/null; then
    if ! echo "$files" | xargs -r clang-format --dry-run -Werror 2>/tmp/lp-format.$$; then
        echo "check-source: clang-format differences:" >&2
        head -40 /tmp/lp-format.$$ >&2
        fail=1
    fi
    rm -f /tmp/lp-format.$$
fi

# Unsafe or abort-happy calls (curl checksrc's list, plus raw assert).
banned='\b(sprintf|vsprintf|strcpy|strcat|atoi|atol|strtok|gets)[[:space:]]*\(|^[^/]*\bassert[[:space:]]*\('
if grep -nE "$banned" $(echo "$files" | grep -E '^(src|include)/') ; then
    echo "check-source: banned call in library code (see STYLE.md)" >&2
    fail=1
fi

# The shared library exports lp_ symbols only.
so=$(ls "$build"/liblambdapool.so.* 2>/dev/null | head -1)
if [ -n "$so" ]; then
    bad=$(nm -D --defined-only "$so" | awk '$2 ~ /[TDBRVW]/ {print $3}' |
          grep -vE '^(lp_|_init$|_fini$|_edata$|_end$|__bss_start$)' || true)
    if [ -n "$bad" ]; then
        echo "check-source: exported symbols without the lp_ prefix:" >&2
        echo "$bad" >&2
        fail=1
    fi
else
    echo "check-source: $build/liblambdapool.so.* not found" >&2
    fail=1
fi

[ $fail -eq 0 ] && echo "check-source: format, banned calls, exported symbols: ok"
exit $fail

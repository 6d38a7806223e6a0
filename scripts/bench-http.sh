#!/usr/bin/env bash
# HTTP fan-out: N requests to the loopback delay server (tools/delay-server,
# a separate process) that each answer after DELAY ms, all at once, five
# ways measured in this run (bench/http/):
#   event loop          one lp_http_client thread (curl multi), futures,
#                       all N in flight (and again with the default cap of
#                       1024 in flight, shown without ratios)
#   libcurl + libuv     libcurl's multi_socket interface on a libuv loop
#                       (uv_poll + uv_timer, one multi handle), the usual
#                       way to run libcurl on an event loop (bench-http-uv;
#                       left out when libuv was not found at build time)
#   raw-socket floor    no HTTP library: raw sockets on one epoll loop, the
#                       kernel's cost of a TCP connection per request, which
#                       bounds the CPU of every peer that opens one per
#                       request (bench-http-floor; the targets section prints
#                       the bound it sets)
#   thread pool         lambdapool thread pool, blocking lp_http_get per task
#   thread per request  one pthread per request, blocking lp_http_get
#   Python threads      one threading.Thread per request, urllib.request
# For each: wall time / DELAY, CPU time of the client process, its peak RSS.
# Then blocking GETs one after another: 2,000 of /delay/1 on 8 workers,
# lp_http_get on a thread pool vs Python's ThreadPoolExecutor with urllib.
# Each figure is the lowest of REPEAT runs, each in a fresh process. The
# smallest N is measured again warm: the second of two fan-outs in one
# process (LP_BENCH_HTTP_ROUNDS=2), every peer alike. Prints
#   ratio <what>: <N>x
# with N = the peer's figure / the event loop's (N > 1: the event loop is
# better). `make bench` runs it at the end of scripts/bench.sh. Usage:
#   scripts/bench-http.sh [BUILD_DIR]
# Sizes:
#   LP_BENCH_HTTP_SIZES    request counts ("1000 10000"; with a reduced
#                          LP_BENCH_TASKS, TASKS/200 and TASKS/100)
#   LP_BENCH_HTTP_DELAY_MS the server's delay (100, or LP_BENCH_SLEEP_MS)
#   LP_BENCH_HTTP_WORKERS  thread pool size cap (1000)
#   LP_BENCH_HTTP_REPEAT   runs per figure (LP_BENCH_REPEAT, else 3)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
TARGET_WIDTH=70
build=${1:-build}

# bench.sh's quick runs (LP_BENCH_TASKS below its default) shrink this too.
TASKS=${LP_BENCH_TASKS:-1000000}
if [ "$TASKS" -lt 1000000 ]; then
    quick_sizes="$((TASKS / 200 > 2 ? TASKS / 200 : 2)) $((TASKS / 100 > 4 ? TASKS / 100 : 4))"
    SIZES=${LP_BENCH_HTTP_SIZES:-$quick_sizes}
    DELAY=${LP_BENCH_HTTP_DELAY_MS:-${LP_BENCH_SLEEP_MS:-100}}
else
    SIZES=${LP_BENCH_HTTP_SIZES:-1000 10000}
    DELAY=${LP_BENCH_HTTP_DELAY_MS:-100}
fi
WORKERS=${LP_BENCH_HTTP_WORKERS:-1000}
REPEAT=${LP_BENCH_HTTP_REPEAT:-${LP_BENCH_REPEAT:-3}}
RUN_TIMEOUT=180
C="$build/bench/http/bench-http"
UV="$build/bench/http/bench-http-uv"
FLOOR="$build/bench/http/bench-http-floor"
SERVER="$build/tools/delay-server/lp-delay-server"

for f in "$C" "$SERVER" "$FLOOR"; do
    if [ ! -x "$f" ]; then
        echo "bench-http: $f not built (cmake --build $build)" >&2
        exit 1
    fi
done

peers=(loop loopcap uv floor pool thread python)
declare -A label=(
    [loop]="event loop (lp_http_client)"
    [loopcap]="event loop, 1024 in flight"
    [uv]="libcurl multi + libuv"
    [floor]="raw-socket floor, no HTTP lib"
    [pool]="thread pool, lp_http_get"
    [thread]="thread per request"
    [python]="Python threads, urllib"
)
declare -A fig=() # "<peer> <n> <key>" -> lowest value
failed=0

# The server: reads its stdin from a fifo we hold open; closing it stops it.
tmp=$(mktemp -d)
mkfifo "$tmp/in"
"$SERVER" <"$tmp/in" >"$tmp/port" &
server_pid=$!
exec 3>"$tmp/in"
cleanup() {
    exec 3>&- || true
    wait "$server_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 100); do
    [ -s "$tmp/port" ] && break
    sleep 0.05
done
port=$(awk '$1 == "port" { print $2 }' "$tmp/port")
if [ -z "$port" ]; then
    echo "bench-http: the delay server did not start" >&2
    exit 1
fi

declare -A cmd=(
    [loop]="$C event-loop"
    [loopcap]="env LP_BENCH_HTTP_MAX_CONCURRENT=1024 $C event-loop"
    [uv]="$UV"
    [floor]="$FLOOR"
    [pool]="$C thread-pool"
    [thread]="$C thread-per-request"
    [python]="python3 bench/http/bench_http.py"
)

measure() { # PEER N [TAG]: keeps the lowest of each figure over REPEAT runs
    local peer=$1 n=$2 tag=${3:-$2} out runs=$REPEAT
    # One multi handle with N transfers costs O(N^2) in libcurl 7.88 (see
    # src/http_shard.c): one run of the libuv peer for large N (~18 s).
    if [ "$peer" = uv ] && [ "$n" -gt 2000 ]; then
        runs=1
    fi
    for _ in $(seq "$runs"); do
        # shellcheck disable=SC2086
        if ! out=$(timeout "$RUN_TIMEOUT" ${cmd[$peer]} "$n" "$DELAY" \
            "$port" "$WORKERS" 2>&1); then
            echo "bench-http: $peer N=$n failed:" >&2
            echo "$out" | tail -5 >&2
            failed=1
            return 0
        fi
        keep_lowest fig "$peer $tag " <<<"$out"
    done
}

ratio() { # WHAT PEER N KEY
    local what=$1 peer=$2 n=$3 key=$4
    local a=${fig[$peer $n $key]:-} b=${fig[loop $n $key]:-}
    [ -n "$a" ] && [ -n "$b" ] || return 0
    awk -v w="$what" -v a="$a" -v b="$b" 'BEGIN {
        r = (b > 0) ? a / b : 0
        printf "ratio %s: ", w
        printf (r >= 10 ? "%.1fx\n" : "%.2fx\n"), r }'
}


table() { # TAG PEER...: the figures of each peer under TAG
    local tag=$1 p
    shift
    printf '  %-30s %12s %12s %14s\n' "" "wall/${DELAY}ms" "CPU ms" "peak RSS KiB"
    for p in "$@"; do
        printf '  %-30s %11sx %12s %14s\n' "${label[$p]}" \
            "${fig[$p $tag wall_x]:-failed}" "${fig[$p $tag cpu_ms]:-failed}" \
            "${fig[$p $tag rss_kib]:-failed}"
    done
}

ratio_value() { # PEER N KEY -> peer / loop
    local a=${fig[$1 $2 $3]:-} b=${fig[loop $2 $3]:-}
    [ -n "$a" ] && [ -n "$b" ] || return 0
    awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b }'
}

echo
echo "== HTTP fan-out: N GETs at once to the loopback delay server (port $port),"
echo "   each answered after $DELAY ms; thread pool of min(N, $WORKERS) workers;"
echo "   lowest of $REPEAT runs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
have=()
for p in "${peers[@]}"; do
    if [ "$p" = python ] && ! command -v python3 >/dev/null; then
        continue
    fi
    if [ "$p" = uv ] && [ ! -x "$UV" ]; then
        echo "   (libcurl + libuv peer not built: no libuv at build time)"
        continue
    fi
    have+=("$p")
done
peers=("${have[@]}")
# Listen queue overflows on the server (each costs the client a SYN resent a
# second later) would show here; the server's backlog is min(65535,
# net.core.somaxconn).
listen_drops() {
    awk '$1 == "TcpExt:" { if (!h) { split($0, k); h = 1; next }
        for (i = 2; i <= NF; i++)
            if (k[i] == "ListenOverflows" || k[i] == "ListenDrops") s += $i
        print s + 0; exit }' /proc/net/netstat 2>/dev/null || echo 0
}
drops0=$(listen_drops)
for n in $SIZES; do
    for p in "${peers[@]}"; do
        measure "$p" "$n"
    done
    echo "N = $n:"
    table "$n" "${peers[@]}"
    for p in uv pool thread python; do
        ratio "cpu event loop vs ${label[$p]} (N=$n)" "$p" "$n" cpu_ms
        ratio "wall event loop vs ${label[$p]} (N=$n)" "$p" "$n" wall_x
        ratio "peak RSS event loop vs ${label[$p]} (N=$n)" "$p" "$n" rss_kib
    done
done

# The same fan-out in a warm process: each run does it twice and reports the
# second (LP_BENCH_HTTP_ROUNDS=2), as a Lambda function's later invocations
# find the client, pool and heap of the first in place. A cold process pays
# first-touch page faults on every byte the first fan-out allocates (~14 MiB
# for 1,000 libcurl transfers; 15-20 us a fault on this kind of VM).
small=${SIZES%% *}
warm_peers=()
for p in "${peers[@]}"; do
    [ "$p" = loopcap ] || warm_peers+=("$p")
done
export LP_BENCH_HTTP_ROUNDS=2
for p in "${warm_peers[@]}"; do
    measure "$p" "$small" "warm$small"
done
unset LP_BENCH_HTTP_ROUNDS
echo "N = $small, warm process (the second of two fan-outs in one process):"
table "warm$small" "${warm_peers[@]}"
for p in uv pool thread python; do
    ratio "cpu warm event loop vs ${label[$p]} (N=$small)" "$p" "warm$small" cpu_ms
    ratio "wall warm event loop vs ${label[$p]} (N=$small)" "$p" "warm$small" wall_x
done

# Blocking calls on a small pool, as a handler's tasks make requests one
# after another: SEQ_N GETs of /delay/1 on 8 workers, lambdapool's
# lp_http_get (each worker keeps its connection) against Python's
# ThreadPoolExecutor with urllib (a connection per request).
seq_n=$((TASKS >= 1000000 ? 2000 : 40))
if command -v python3 >/dev/null; then
    cmd[pypool]="env LP_BENCH_HTTP_PY_POOL=1 python3 bench/http/bench_http.py"
    label[pypool]="Python pool, urllib"
    DELAY=1 WORKERS=8 measure pool "$seq_n" "seq"
    DELAY=1 WORKERS=8 measure pypool "$seq_n" "seq"
    echo "$seq_n GETs of /delay/1 on 8 workers (wall in ms):"
    DELAY=1 table seq pool pypool
    for k in cpu_ms wall_x; do
        awk -v k="$k" -v n="$seq_n" -v a="${fig[pypool seq $k]:-}" \
            -v b="${fig[pool seq $k]:-}" 'BEGIN { if (a != "" && b > 0) {
            r = a / b
            printf "ratio %s blocking GETs on 8 workers, lp_http_get vs Python pool, urllib (N=%s): ", (k == "cpu_ms" ? "cpu" : "wall"), n
            printf (r >= 10 ? "%.1fx\n" : "%.2fx\n"), r } }'
    done
fi

drops=$(($(listen_drops) - drops0))
echo "listen queue overflows and drops during these runs (whole host): $drops"

big=${SIZES##* }
echo
echo "targets (issue 6):"
rss_mib=$(awk -v k="${fig[loop $big rss_kib]:-}" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }')
target "$big requests at $DELAY ms in <= 1.5 x $DELAY ms (event loop)" \
    "${fig[loop $big wall_x]:-}" "<=" 1.5
target "$big requests: event loop peak RSS <= 64 MiB" "$rss_mib" "<=" 64
rss_cap_mib=$(awk -v k="${fig[loopcap $big rss_kib]:-}" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }')
echo "  (with the default cap of 1024 in flight: wall ${fig[loopcap $big wall_x]:-?}x," \
    "peak RSS ${rss_cap_mib:-?} MiB)"
target "$small requests: CPU >= 5x less than thread per request" \
    "$(ratio_value thread "$small" cpu_ms)" ">=" 5
target "$small requests: CPU >= 20x less than Python threads" \
    "$(ratio_value python "$small" cpu_ms)" ">=" 20
target "$small requests, warm: CPU >= 5x less than thread per request" \
    "$(ratio_value thread "warm$small" cpu_ms)" ">=" 5
target "$small requests, warm: CPU >= 20x less than Python threads" \
    "$(ratio_value python "warm$small" cpu_ms)" ">=" 20
# What no client opening a connection per request could beat: the
# raw-socket floor's CPU (its wall time is no floor: it connects all N at
# once and never reuses a connection).
awk -v t="${fig[thread $small cpu_ms]:-}" -v p="${fig[python $small cpu_ms]:-}" \
    -v f="${fig[floor $small cpu_ms]:-}" -v small="$small" 'BEGIN {
    if (f > 0 && t != "" && p != "") {
        printf "  (raw-socket floor, no HTTP library: %s ms CPU for %s requests, a\n", f, small
        printf "   connection each: no such client uses less than thread per\n"
        printf "   request / %.2f or Python / %.1f)\n", t / f, p / f } }'

# The same fan-out over HTTPS, where the event loop multiplexes HTTP/2
# streams over a few connections (max_per_host 4, 1000 streams each) and the
# blocking peers pay one TLS handshake per request. The server is
# bench/http/h2_delay_server.py (Debian's python3-h2), single-threaded, so
# wall times are the server's; CPU is the client's. One run per figure: each
# thread-per-request run leaves the server busy with handshakes for a while.
https_n=$small
if ! /usr/bin/python3 -c "import h2" 2>/dev/null || ! command -v openssl >/dev/null; then
    echo
    echo "== HTTPS/HTTP2 fan-out: skipped (needs python3-h2 and openssl)"
    exit $failed
fi
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" \
    -out "$tmp/cert.pem" -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
mkfifo "$tmp/in2"
/usr/bin/python3 bench/http/h2_delay_server.py "$tmp/cert.pem" "$tmp/key.pem" \
    <"$tmp/in2" >"$tmp/port2" &
h2_pid=$!
exec 4>"$tmp/in2"
cleanup() {
    exec 3>&- 4>&- || true
    wait "$server_pid" "$h2_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
for _ in $(seq 100); do
    [ -s "$tmp/port2" ] && break
    sleep 0.05
done
port=https://127.0.0.1:$(awk '$1 == "port" { print $2 }' "$tmp/port2")
export LP_BENCH_HTTP_CA="$tmp/cert.pem"
REPEAT=1
cmd[loop]="env LP_BENCH_HTTP_MAX_PER_HOST=4 LP_BENCH_HTTP_MAX_STREAMS=1000 $C event-loop"
https_peers=()
for p in loop uv thread python; do
    [[ " ${peers[*]} " == *" $p "* ]] && https_peers+=("$p")
done
for p in "${https_peers[@]}"; do
    measure "$p" "$https_n" "https$https_n"
done
export LP_BENCH_HTTP_ROUNDS=2
for p in "${https_peers[@]}"; do
    measure "$p" "$https_n" "httpswarm$https_n"
done
unset LP_BENCH_HTTP_ROUNDS
echo
echo "== HTTPS fan-out: $https_n GETs at once over TLS to a loopback HTTP/2"
echo "   delay server ($DELAY ms); event loop: HTTP/2, 4 connections at most"
table "https$https_n" "${https_peers[@]}"
echo "warm process (the second of two fan-outs in one process):"
table "httpswarm$https_n" "${https_peers[@]}"
for p in uv thread python; do
    ratio "cpu https event loop vs ${label[$p]} (N=$https_n)" "$p" \
        "https$https_n" cpu_ms
    ratio "cpu https warm event loop vs ${label[$p]} (N=$https_n)" "$p" \
        "httpswarm$https_n" cpu_ms
done
target "HTTPS $https_n requests: CPU >= 5x less than thread per request" \
    "$(ratio_value thread "https$https_n" cpu_ms)" ">=" 5
target "HTTPS $https_n requests: CPU >= 20x less than Python threads" \
    "$(ratio_value python "https$https_n" cpu_ms)" ">=" 20
target "HTTPS $https_n requests, warm: CPU >= 5x less than thread per request" \
    "$(ratio_value thread "httpswarm$https_n" cpu_ms)" ">=" 5
target "HTTPS $https_n requests, warm: CPU >= 20x less than Python threads" \
    "$(ratio_value python "httpswarm$https_n" cpu_ms)" ">=" 20
exit $failed

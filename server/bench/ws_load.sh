#!/usr/bin/env bash
# Live-feed load benchmark: Finstage's /ws against a minimal axum broadcast
# server, side by side, at several client counts, on loopback.
#
#   server/bench/ws_load.sh                       # 1,000 and 10,000 clients, 30 s each
#   CLIENTS="1000" DURATION=10 server/bench/ws_load.sh
#
# Runs `examples/ws_load` (release; see its header for what is measured) once
# per client count and server, ours first, and prints a markdown table with the
# 1-minute load average read before each run.
#
# Environment: CLIENTS ("1000 10000"), DURATION (30 measured seconds), WARMUP
# (5 s), SERVERS ("ours reference"), NODELAY=1 to set TCP_NODELAY on the
# servers' sockets (`finstage serve` does not), SKIP_BUILD=1 to reuse
# target/release/examples/ws_load, PAUSE (10 s between runs, so sockets in
# TIME_WAIT and the previous server's memory are gone).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLIENTS=${CLIENTS:-"1000 10000"}
DURATION=${DURATION:-30}
WARMUP=${WARMUP:-5}
SERVERS=${SERVERS:-"ours reference"}
PAUSE=${PAUSE:-10}
extra=()
[[ ${NODELAY:-0} == 1 ]] && extra+=(--nodelay)

max_clients=0
for n in $CLIENTS; do ((n > max_clients)) && max_clients=$n; done
# shellcheck source=server/bench/ws_prepare.sh
source "$ROOT/server/bench/ws_prepare.sh"
ws_prepare ws_load.sh "$max_clients"

rows=()
for n in $CLIENTS; do
    for server in $SERVERS; do
        load=$(cut -d' ' -f1 /proc/loadavg)
        echo "== $server, $n clients (load $load)" >&2
        out=$("$work/ws_load" --server "$server" --clients "$n" --warmup "$WARMUP" --seconds "$DURATION" "${extra[@]}")
        echo "$out" >&2
        result=$(grep '^RESULT ' <<<"$out")
        rows+=("$load $result")
        sleep "$PAUSE"
    done
done

echo
echo "| Server | Clients | Deliveries/s (expected) | Lost | Resyncs (missed) | p50 | p99 | max | KiB per idle conn | Server CPU | Client CPU | Load |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
    # load RESULT server clients per_s expected lost resyncs missed p50 p99 max idle peak disconnected server_cores client_cores
    read -r load _ server clients per_s expected lost resyncs missed p50 p99 max idle _ _ scores ccores <<<"$row"
    printf '| %s | %s | %s (%s) | %s | %s (%s) | %s ms | %s ms | %s ms | %s | %s cores | %s cores | %s |\n' \
        "$server" "$clients" "$per_s" "$expected" "$lost" "$resyncs" "$missed" "$p50" "$p99" "$max" "$idle" \
        "$scores" "$ccores" "$load"
done

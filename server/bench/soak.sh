#!/usr/bin/env bash
# Live-feed soak: Finstage's /ws with CLIENTS WebSocket clients and the feed
# at 1 s bars (100 symbols, one bar each per second, 10 per client) for
# DURATION measured seconds, on loopback. Passes when the server's resident
# memory at the end is within 10% of its value right after the warm-up, and
# no event was lost.
#
#   server/bench/soak.sh                          # 1,000 clients, 60 s warm-up, 30 min measured
#   DURATION=120 WARMUP=10 server/bench/soak.sh   # a quick check
#
# Runs `examples/ws_load` (release; see its header for what is measured) once
# against our server and prints its RSS samples, then a summary: RSS after the
# warm-up and at the end, their ratio, lost events, resyncs, latency.
#
# Environment: CLIENTS (1000), DURATION (1800 measured seconds), WARMUP (60
# s), RSS_EVERY (60: an RSS sample every N seconds), TOLERANCE (10, percent),
# SKIP_BUILD=1 to reuse target/release/examples/ws_load. Exits 1 when the
# RSS or loss check fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLIENTS=${CLIENTS:-1000}
DURATION=${DURATION:-1800}
WARMUP=${WARMUP:-60}
RSS_EVERY=${RSS_EVERY:-60}
TOLERANCE=${TOLERANCE:-10}

# shellcheck source=server/bench/ws_prepare.sh
source "$ROOT/server/bench/ws_prepare.sh"
ws_prepare soak.sh "$CLIENTS"

echo "== soak: $CLIENTS clients, ${WARMUP} s warm-up, ${DURATION} s measured; commit $(cd "$ROOT" && git rev-parse --short HEAD)," \
    "$(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$work/ws_load" --server ours --clients "$CLIENTS" --warmup "$WARMUP" --seconds "$DURATION" \
    --rss-every "$RSS_EVERY" | tee "$work/out"
echo "== ended $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# RESULT server clients per_s expected lost resyncs missed p50 p99 max idle peak disconnected server_cores client_cores
read -r _ _ _ per_s expected lost resyncs missed p50 p99 max _ _ disconnected scores ccores < <(grep '^RESULT ' "$work/out")
# SOAK warm_kib end_kib ratio peak_kib
read -r _ warm end ratio peak < <(grep '^SOAK ' "$work/out")
echo
echo "| Clients | Measured | RSS after warm-up | RSS at end | Change | Peak RSS | Lost | Resyncs (missed) | Deliveries/s (expected) | p50 | p99 | max | Server CPU | Client CPU |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
change=$(awk -v r="$ratio" 'BEGIN { printf "%+.1f%%", (r - 1) * 100 }')
printf '| %s | %s s | %.1f MiB | %.1f MiB | %s | %.1f MiB | %s | %s (%s) | %s (%s) | %s ms | %s ms | %s ms | %s cores | %s cores |\n' \
    "$CLIENTS" "$DURATION" "$(awk -v k="$warm" 'BEGIN { print k / 1024 }')" "$(awk -v k="$end" 'BEGIN { print k / 1024 }')" \
    "$change" "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')" "$lost" "$resyncs" "$missed" "$per_s" "$expected" \
    "$p50" "$p99" "$max" "$scores" "$ccores"

ok=1
if ! awk -v r="$ratio" -v t="$TOLERANCE" 'BEGIN { exit !(r <= 1 + t / 100 && r >= 1 - t / 100) }'; then
    echo "FAIL: RSS at the end is not within ${TOLERANCE}% of the RSS after warm-up" >&2
    ok=0
fi
if [[ $lost != 0 || $disconnected != 0 ]]; then
    echo "FAIL: $lost events lost, $disconnected clients disconnected" >&2
    ok=0
fi
((ok)) && echo "PASS: RSS within ${TOLERANCE}% ($change), 0 lost" >&2
((ok))

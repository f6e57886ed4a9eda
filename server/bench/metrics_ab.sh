#!/usr/bin/env bash
# What the request metrics cost: the release server twice, with and without
# them (`http.request_metrics`), both on fresh simulated databases, and
# `wrk -t2 -c64` on the 7-symbol quotes request (the cheapest route, so the
# metrics' share is largest there) against each in turn, ROUNDS times,
# alternating (and swapping which goes first) so that drift on the machine
# hits both alike. Prints every
# round and the median of each side.
#
# Usage: server/bench/metrics_ab.sh   (env: ROUNDS=5, DURATION=10)
# Needs: target/release/finstage and target/site (cargo leptos build --release --precompress --split), wrk.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
[[ -x target/release/finstage ]] || { echo "build first: cargo leptos build --release --precompress --split" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# shellcheck source=server/bench/accounts.sh
source "$(dirname "${BASH_SOURCE[0]}")/accounts.sh"
start() { # name metrics-on?
    local port
    port=$(free_port)
    mkdir -p "$work/$1"
    FINSTAGE_DATABASE_URL="sqlite://$work/$1/db.sqlite" bench_accounts target/release/finstage
    FINSTAGE_DATABASE_URL="sqlite://$work/$1/db.sqlite" FINSTAGE_LISTEN="127.0.0.1:$port" FINSTAGE_LOG=warn \
        FINSTAGE_HTTP__REQUEST_METRICS="$2" target/release/finstage serve >"$work/$1/log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 120); do
        curl -sf "http://127.0.0.1:$port/api/v1/quotes?symbols=AAPL" | grep -q '"price"' && break
        sleep 0.5
    done
    echo "$port"
}

on=$(start on true)
off=$(start off false)
path="/api/v1/quotes?symbols=AAPL,MSFT,GOOGL,TSLA,NVDA,SPY,BTC-USD"
curl -sf "http://127.0.0.1:$on/metrics" | grep -q "finstage_http_requests_total{" || { echo "metrics missing on the 'on' server" >&2; exit 1; }
curl -sf "http://127.0.0.1:$off/metrics" | grep -q "finstage_http_requests_total{" && { echo "metrics present on the 'off' server" >&2; exit 1; }

rps() { wrk -t2 -c64 -d"${DURATION}s" "http://127.0.0.1:$1$path" | awk '/^Requests\/sec/ { print $2 }'; }
declare -a with without
for round in $(seq 1 "$ROUNDS"); do
    # Each side goes first in every other round: whichever runs first in a
    # pair was seen to be slower, whatever it was.
    if ((round % 2)); then a=$(rps "$on"); b=$(rps "$off"); else b=$(rps "$off"); a=$(rps "$on"); fi
    with+=("$a"); without+=("$b")
    printf 'round %d: with metrics %s req/s, without %s req/s\n' "$round" "$a" "$b"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m_with=$(median "${with[@]}")
m_without=$(median "${without[@]}")
awk -v a="$m_with" -v b="$m_without" 'BEGIN { printf "median: with %.0f req/s, without %.0f req/s, cost %.1f%%\n", a, b, (b - a) * 100 / b }'

#!/usr/bin/env bash
# Where the server's CPU time goes under load: starts the release binary on a
# fresh simulated SQLite database, loads one URL with wrk, samples the server
# with `perf record` (timer-based, so it works without hardware counters), and
# prints the share of samples by part: the kernel (sockets, TCP, scheduling),
# the request metrics layer, JSON encoding, the allocator, hyper/tokio, and
# the rest. docs/BENCHMARKS.md quotes its output.
#
#   server/bench/profile_http.sh [URL_PATH] [SECONDS]
#
# Needs: target/release/finstage and target/site (scripts/run builds both),
# wrk and perf (linux-perf), both installed with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
path=${1:-/api/v1/quotes?symbols=AAPL,MSFT,GOOGL,TSLA,NVDA,SPY,BTC-USD}
secs=${2:-12}
[[ -x target/release/finstage ]] || { echo "build first: scripts/run (or cargo leptos build --release --precompress --split)" >&2; exit 1; }
for tool in wrk perf; do
  command -v "$tool" >/dev/null || apt-get install -y "$([ "$tool" = perf ] && echo linux-perf || echo wrk)" >/dev/null
done

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# shellcheck source=server/bench/accounts.sh
source "$(dirname "${BASH_SOURCE[0]}")/accounts.sh"
FINSTAGE_DATABASE_URL="sqlite://$work/f.db" bench_accounts target/release/finstage
FINSTAGE_DATABASE_URL="sqlite://$work/f.db" FINSTAGE_LISTEN="127.0.0.1:$port" FINSTAGE_LOG=warn \
  FINSTAGE_SITE_ROOT=target/site target/release/finstage serve &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done

url="http://127.0.0.1:$port$path"
wrk -t2 -c64 -d2s "$url" >/dev/null # warm-up
wrk -t2 -c64 -d"$((secs + 3))s" --latency "$url" >"$work/wrk.txt" &
load=$!
sleep 1
perf record -q -F 999 -p "$server" -o "$work/perf.data" -- sleep "$secs" 2>/dev/null
wait $load
echo "load: $(grep -E 'Requests/sec' "$work/wrk.txt")  ($path, wrk -t2 -c64)"

# Self time per symbol, then grouped. `[k]` marks kernel symbols.
perf report -q -i "$work/perf.data" --no-children --sort sym --stdio 2>/dev/null |
  awk '
    /%/ {
      pct = $1; sub(/%/, "", pct); line = $0
      if (line ~ /\[k\]/) group = "kernel (sockets, TCP, scheduling)"
      else if (line ~ /metrics::requests|metrics::process/) group = "request metrics (server/src/metrics)"
      else if (line ~ /serde_json|itoa|ryu|zmij/) group = "JSON encoding"
      else if (line ~ /mi_|mimalloc|_mi_/) group = "allocator (mimalloc)"
      else if (line ~ /hyper|http::|httparse|h1::/) group = "HTTP (hyper, httparse)"
      else if (line ~ /tokio|mio::|parking/) group = "runtime (tokio)"
      else if (line ~ /tower|axum|matchit/) group = "routing and layers (axum, tower)"
      else if (line ~ /moka|quick_cache|cache::/) group = "caches (moka)"
      else group = "other (our handlers, std, libc)"
      share[group] += pct; total += pct
    }
    END {
      for (g in share) printf "%6.2f%%  %s\n", share[g], g
      printf "%6.2f%%  sampled in all\n", total
    }' | sort -rn
echo
echo "top symbols:"
perf report -q -i "$work/perf.data" --no-children --sort sym --stdio 2>/dev/null | grep '%' | head -25

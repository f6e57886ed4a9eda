#!/usr/bin/env bash
# The chart in Chromium, measured with the Performance API through Playwright
# (server/bench/chart_bench.cjs says what each figure is):
#   - first render of 10,000 daily candles with volume, EMA(50) and SMA(200)
#     over the price and an RSI(14) pane, from the data's arrival to the
#     painted frame;
#   - pan and zoom over 50,000 one-minute bars: main-thread work per frame;
#   - one live bar update: main-thread time of the WebSocket message that
#     carries it, and of the frame that draws it;
#   - the first load of `/` and of `/symbol/AAPL`: bytes as sent and time to
#     hydrated (the page's live feed opened).
#
#   server/bench/chart.sh                 # build (release) if needed, then measure
#   SKIP_BUILD=1 server/bench/chart.sh    # reuse target/release and target/site
#   RUNS=9 server/bench/chart.sh          # repetitions of each page load (default 7)
#
# The data: a new SQLite database with the simulator's watchlist (400 days of
# daily history, live at 1 s bars) plus BENCH, imported from generated CSV
# files: 10,000 daily bars and 50,000 one-minute bars (a seeded random walk).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$HOME/.cargo/bin:$ROOT/.tools/binaryen/node_modules/.bin:$PATH"
cd "$ROOT"
if [ "${SKIP_BUILD:-}" != 1 ]; then
  cargo leptos build --release --precompress --split >&2
fi

work=$(mktemp -d)
port=${PORT:-3191}
ref_port=$((port + 1))
server_pid=
ref_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "$ref_pid" ] && kill "$ref_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

export FINSTAGE_DATABASE_URL="sqlite://$work/bench.db"
export FINSTAGE_LISTEN="127.0.0.1:$port"
export FINSTAGE_SITE_ROOT="$ROOT/target/site"
export FINSTAGE_SIM__INTERVAL=1s
export FINSTAGE_SIM__HISTORY_DAYS=400
export FINSTAGE_LOG=warn

# A seeded random walk: N bars of STEP seconds ending at END.
python3 - "$work" <<'EOF'
import math, random, sys
work = sys.argv[1]
def walk(path, n, step, end, seed):
    rng = random.Random(seed)
    price, start = 100.0, end - (n - 1) * step
    with open(path, "w") as f:
        f.write("Timestamp,Open,High,Low,Close,Volume\n")
        for i in range(n):
            o = price
            c = max(1.0, o * math.exp(rng.gauss(0.0003, 0.015)))
            h = max(o, c) * (1 + abs(rng.gauss(0, 0.006)))
            l = min(o, c) * (1 - abs(rng.gauss(0, 0.006)))
            v = round(1_000_000 * math.exp(rng.gauss(0, 0.5)))
            f.write(f"{start + i * step},{o:.4f},{h:.4f},{l:.4f},{c:.4f},{v}\n")
            price = c
day = 86_400
walk(f"{work}/daily.csv", 10_000, day, (1_765_000_000 // day) * day, 7)
walk(f"{work}/minutes.csv", 50_000, 60, (1_765_000_000 // 60) * 60, 11)
EOF
target/release/finstage migrate >&2
target/release/finstage import --csv "$work/daily.csv" --symbol BENCH --timeframe 1d >&2
target/release/finstage import --csv "$work/minutes.csv" --symbol BENCH --timeframe 1m >&2

# shellcheck source=server/bench/accounts.sh
source "$(dirname "${BASH_SOURCE[0]}")/accounts.sh"
bench_accounts target/release/finstage
target/release/finstage serve >"$work/serve.log" 2>&1 &
server_pid=$!
# The reference: the library alone in a bare page (server/bench/chart_ref/),
# served from another port by Python's static file server.
mkdir -p "$work/ref"
cp server/bench/chart_ref/* public/vendor/lightweight-charts.mjs "$work/ref/"
python3 -m http.server "$ref_port" --bind 127.0.0.1 --directory "$work/ref" >/dev/null 2>&1 &
ref_pid=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done

echo "== chart bench: commit $(git rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)," \
  "$(/usr/bin/chromium --version 2>/dev/null | head -1)" >&2
NODE_PATH="$ROOT/end2end/node_modules" BASE="http://127.0.0.1:$port" REF="http://127.0.0.1:$ref_port" RUNS="${RUNS:-7}" \
  node "$ROOT/server/bench/chart_bench.cjs"

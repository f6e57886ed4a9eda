#!/usr/bin/env bash
# The backtest lab (issue 15) in Chromium, measured through Playwright with
# the page's own clock (server/bench/lab_bench.cjs says what each figure is),
# each beside its reference in the same run:
#   - engine: SMA-cross (10, 20) on 10 years of daily bars (2,520) in a Web
#     Worker running the lab's wasm, against the same backtest natively
#     (lab/examples/native_timing.rs, same profile, same bars, same settings);
#   - click: a click on Run (and a parameter change) to metrics, equity and
#     markers painted, 20 runs;
#   - sweep: 10,000 combinations over the same bars on the worker pool: wall
#     time, gaps between progress callbacks, cancel latency, long tasks;
#   - million: 1,000,000 one-minute bars fetched (compressed), loaded and
#     backtested, split into fetch, decode, engine and drawing;
#   - bundle: the lab's files raw and compressed, what /lab loads, and the
#     first load of `/`.
#
#   server/bench/lab.sh                      # build (scripts/build-lab, cargo leptos build --release), then measure
#   SKIP_BUILD=1 server/bench/lab.sh         # reuse target/site and target/release as they are
#   RUNS=5 server/bench/lab.sh               # repetitions of each measurement (default 3)
#   ONLY=engine server/bench/lab.sh          # one part: engine|click|sweep|million|bundle
#   PORT=3291 server/bench/lab.sh            # the server's port
#   VARIANTS=1 ONLY=engine server/bench/lab.sh  # also the worker's wasm stripped and through wasm-opt -O3
#   CLICKS=20 LOADS=7                        # clicks per run (click), loads of `/` (bundle)
#
# The data: a new SQLite database with the simulator's watchlist (400 days of
# daily history, live at 1 s bars, as server/bench/chart.sh has it, so the
# first load of `/` compares with that figure) plus LABD, 2,520 daily bars
# (weekdays), and LABM, 1,000,000 one-minute bars, imported with
# `finstage import` from generated CSV files (a seeded random walk).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$HOME/.cargo/bin:$ROOT/.tools/binaryen/node_modules/.bin:$PATH"
cd "$ROOT"
native=target/lab-release/examples/native_timing
if [ "${SKIP_BUILD:-}" != 1 ]; then
  scripts/build-lab >&2
  cargo leptos build --release --precompress --split >&2
fi
# The reference: the same engine natively, with the worker's profile (a
# no-op when current; always run, so the native side is the engine's source).
cargo build -p lab --example native_timing --profile lab-release >&2

# The server finds its site files by the hashes in hash.txt, written by the
# same build before it links the server: both must come from one build.
for kind in js wasm css; do
  hash=$(sed -n "s/^$kind: //p" target/release/hash.txt)
  if [ ! -f "target/site/pkg/finstage.$hash.$kind" ] || [ ! target/release/finstage -nt target/release/hash.txt ]; then
    echo "target/site and target/release/finstage are not from one build (is a build running?)" >&2
    exit 1
  fi
done

work=$(mktemp -d)
port=${PORT:-3291}
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# What is measured is a copy of the build (the binary, its hash.txt and the
# site, and the native reference), so a build running meanwhile changes nothing.
mkdir -p "$work/bin"
cp target/release/finstage target/release/hash.txt "$native" "$work/bin/"
cp -r target/site "$work/site"
export FINSTAGE_DATABASE_URL="sqlite://$work/bench.db"
export FINSTAGE_LISTEN="127.0.0.1:$port"
export FINSTAGE_SITE_ROOT="$work/site"
export FINSTAGE_SIM__INTERVAL=1s
export FINSTAGE_SIM__HISTORY_DAYS=400
export FINSTAGE_LOG=warn

# Seeded random walks: 2,520 weekdays ending on 2025-12-05, and 1,000,000
# consecutive minutes ending at 2025-12-06 05:46 UTC.
python3 server/bench/random_walk.py "$work/daily.csv" daily 2520 15 0.015
python3 server/bench/random_walk.py "$work/minutes.csv" minutes 1000000 16 0.0008
"$work/bin/finstage" migrate >&2
"$work/bin/finstage" import --csv "$work/daily.csv" --symbol LABD --timeframe 1d >&2
started=$(date +%s%N)
"$work/bin/finstage" import --csv "$work/minutes.csv" --symbol LABM --timeframe 1m >&2
echo "imported 1,000,000 one-minute bars in $((($(date +%s%N) - started) / 1000000)) ms" >&2
rm -f "$work/minutes.csv"

# shellcheck source=server/bench/accounts.sh
source "$(dirname "${BASH_SOURCE[0]}")/accounts.sh"
bench_accounts "$work/bin/finstage"
"$work/bin/finstage" serve >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done

# VARIANTS=1: the served engine beside two rewrites of it, measured in turn by
# the engine part: without its name section, and through `wasm-opt -O3`.
if [ "${VARIANTS:-}" = 1 ]; then
  for v in strip opt; do
    mkdir -p "$work/site/lab/pkg-$v"
    cp "$work/site/lab/pkg/lab.js" "$work/site/lab/pkg-$v/"
  done
  features="--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types"
  # shellcheck disable=SC2086
  wasm-opt $features --strip-debug "$work/site/lab/pkg/lab_bg.wasm" -o "$work/site/lab/pkg-strip/lab_bg.wasm"
  # shellcheck disable=SC2086
  wasm-opt $features -O3 "$work/site/lab/pkg/lab_bg.wasm" -o "$work/site/lab/pkg-opt/lab_bg.wasm"
  export LAB_PKGS=pkg-strip,pkg-opt
fi

# The packed bars as the lab fetches them, saved for the native side.
curl -fs "http://127.0.0.1:$port/api/v1/symbols/LABD/bars.fsb?timeframe=1d" -o "$work/labd.fsb"
curl -fs "http://127.0.0.1:$port/api/v1/symbols/LABM/bars.fsb?timeframe=1m" -o "$work/labm.fsb"

echo "== lab bench: commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- app lab quant public server/src style || echo ' (tree changed)'), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)," \
  "$(nproc) cores, $(/usr/bin/chromium --version 2>/dev/null | head -1);" \
  "build: finstage $(date -u -r target/release/finstage '+%H:%M'), site $(date -u -r target/site/pkg '+%H:%M'), lab wasm $(date -u -r target/site/lab/pkg/lab_bg.wasm '+%H:%M') UTC" >&2
NODE_PATH="$ROOT/end2end/node_modules" BASE="http://127.0.0.1:$port" RUNS="${RUNS:-3}" WORK="$work" \
  NATIVE="$work/bin/native_timing" SITE="$work/site" \
  node "$ROOT/server/bench/lab_bench.cjs"

# The server's side of the 1,000,000-bar fetch: its query's time, from the
# slow-statement warnings (over 1 s), and SQLite's own time for the same query.
echo
grep -a 'rows_returned=1000000' <(sed 's/\x1b\[[0-9;]*m//g' "$work/serve.log") | grep -o 'elapsed=[0-9.]*s' |
  tr '\n' ' ' | sed 's/^/the server'"'"'s query for 1,000,000 bars (sqlx, slow-statement log): /' || true
echo
if command -v sqlite3 >/dev/null; then
  started=$(date +%s%N)
  sqlite3 "$work/bench.db" "SELECT count(*), sum(open + high + low + close + volume) FROM (SELECT ts, open, high, low, close, volume FROM bars WHERE symbol = 'LABM' AND timeframe = '1m' AND ts >= 0 AND ts <= 9999999999 ORDER BY ts)" >/dev/null
  echo "the same query in the sqlite3 shell (every value read): $((($(date +%s%N) - started) / 1000000)) ms"
fi
kill -0 "$server_pid" 2>/dev/null || echo "the server exited during the run: $(tail -3 "$work/serve.log")" >&2

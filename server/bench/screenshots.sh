#!/usr/bin/env bash
# Writes the screenshots in docs/screenshots/ from the release build
# (`cargo leptos build --release --precompress --split` first): a new SQLite
# database with the simulator's watchlist (1,500 days of daily history, live at
# 1 s bars), screenshotted by server/bench/screenshots.cjs in Chromium.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
work=$(mktemp -d)
port=${PORT:-3192}
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# LABM: a million one-minute bars (a seeded random walk) for the lab's
# long-series shots, imported before the server starts.
python3 server/bench/random_walk.py "$work/minutes.csv" minutes 1000000 16 0.0008
FINSTAGE_DATABASE_URL="sqlite://$work/shots.db" target/release/finstage migrate >/dev/null
FINSTAGE_DATABASE_URL="sqlite://$work/shots.db" target/release/finstage import --csv "$work/minutes.csv" --symbol LABM --timeframe 1m >/dev/null
rm -f "$work/minutes.csv"
# shellcheck source=server/bench/accounts.sh
source "$(dirname "${BASH_SOURCE[0]}")/accounts.sh"
FINSTAGE_DATABASE_URL="sqlite://$work/shots.db" bench_accounts target/release/finstage
FINSTAGE_DATABASE_URL="sqlite://$work/shots.db" FINSTAGE_LISTEN="127.0.0.1:$port" \
  FINSTAGE_SITE_ROOT="$ROOT/target/site" FINSTAGE_SIM__INTERVAL=1s FINSTAGE_SIM__HISTORY_DAYS=${HISTORY_DAYS:-1500} \
  FINSTAGE_LOG=warn target/release/finstage serve >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done
# A few seconds of live bars, so that signals exist on the short timeframes.
sleep 5
mkdir -p docs/screenshots
NODE_PATH="$ROOT/end2end/node_modules" BASE="http://127.0.0.1:$port" OUT=docs/screenshots \
  node server/bench/screenshots.cjs
NODE_PATH="$ROOT/end2end/node_modules" BASE="http://127.0.0.1:$port" OUT=docs/screenshots \
  node server/bench/lab_screenshots.cjs
ls -l docs/screenshots

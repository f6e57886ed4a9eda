#!/usr/bin/env bash
# Recovery after kill -9: the release `finstage` binary killed with SIGKILL
# while it has work under way, restarted on the same database, and timed until
# /healthz answers and until /readyz has nothing left under `recovering`.
#
#   server/bench/recovery.sh                          # both scenarios, 5 trials each
#   TRIALS=1 server/bench/recovery.sh --scenario telegram
#
# Runs `examples/recovery` (release; see its header for the scenarios and what
# is checked) against a private copy of `target/release/finstage`, and prints
# its per-trial lines and a min / median / max summary. Arguments are passed
# on to the example (`--chats`, `--load-secs`, `--after-secs`, `--keep`, ...).
#
# Environment: TRIALS (5), SKIP_BUILD=1 to reuse the built binaries.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TRIALS=${TRIALS:-5}

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    (cd "$ROOT" && cargo build --release -p server --bin finstage --example recovery)
fi
# Private copies: another build replacing the binaries mid-run cannot affect them.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$ROOT/target/release/finstage" "$work/finstage"
cp "$ROOT/target/release/examples/recovery" "$work/recovery"

dirty=$(cd "$ROOT" && git status --porcelain -- server/src quant/src app/src migrations | wc -l)
echo "== recovery: commit $(cd "$ROOT" && git rev-parse --short HEAD) ($dirty uncommitted files under server/src," \
    "quant/src, app/src, migrations), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$work/recovery" --bin "$work/finstage" --trials "$TRIALS" "$@"
echo "== ended $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

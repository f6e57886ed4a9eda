#!/usr/bin/env bash
# Runs quant's benchmarks and their references in one go and prints the table
# of docs/BENCHMARKS.md:
#   1. writes the benchmark bars (examples/bench_data.rs) for Python;
#   2. ROUNDS times (default 4), alternating: TA-Lib on the 10,000,000-bar
#      series (bench/talib_ref.py), then our batch benchmarks
#      (`cargo bench -p quant --bench indicators -- batch_10m`), each in a
#      process of its own (see "Rounds" in docs/BENCHMARKS.md for why);
#   3. backtesting.py on the 2,520 daily bars (bench/backtesting_ref.py);
#   4. the streaming and backtest benchmarks (criterion);
#   5. the SMA-cross timing test natively and in wasm32 under Node
#      (benches/wasm/timing.rs via wasm-bindgen-test-runner);
#   6. the table (bench/report.py).
#
# Usage: quant/bench/compare.sh [--no-wasm] [--markdown] [--rounds N]
# Env: PYTHON (default: <repo>/.tools/py/bin/python, which bench/python-env.sh
#      creates from bench/requirements.txt on first use and rebuilds when the
#      pins change; a PYTHON you set is used as it is), CARGO_TARGET_DIR.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
data="$target/bench-data"
wasm=1
format=text
rounds=4
while [ $# -gt 0 ]; do
    case "$1" in
        --no-wasm) wasm=0 ;;
        --markdown) format=markdown ;;
        --rounds) rounds="${2:?--rounds needs a number}"; shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

# The Python references' environment, checked before anything long runs.
if [ -n "${PYTHON:-}" ]; then
    python="$PYTHON"
else
    "$here/python-env.sh"
    python="$root/.tools/py/bin/python"
fi

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%FT%TZ)"
echo "== load before: $(uptime | sed 's/.*load average/load average/')"

# NumPy backs large arrays with transparent huge pages (madvise), so TA-Lib's
# outputs cost ~40 page faults per 80 MB; glibc's malloc does the same for Rust
# (and for TA-Lib's own temporary buffers) only with this tunable. Both sides
# run with it, so neither pays 20,000 4 KiB page faults per output column.
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
echo "== GLIBC_TUNABLES=$GLIBC_TUNABLES"
# glibc 2.36 (Debian 12) decides whether to honour that tunable by comparing
# the first 23 bytes it read from this file with strcmp, without terminating
# them, so the answer depends on a stale stack byte: some processes silently
# run on 4 KiB pages (docs/BENCHMARKS.md, "Huge pages"). With "always" the
# kernel gives every large allocation huge pages whoever asks.
thp_mode=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo unknown)
echo "== transparent huge pages: $thp_mode"
case "$thp_mode" in
    *"[always]"*) ;;
    *) echo "!! huge pages are not 'always': rounds may run on 4 KiB pages (see the 2 MiB fault counts);" \
            "as root: echo always > /sys/kernel/mm/transparent_hugepage/enabled" >&2 ;;
esac

echo "== bench data"
cargo run --quiet --release -p quant --example bench_data -- "$data"

# Huge-page faults so far (0 if the kernel does not report them). A round
# whose process took none ran on 4 KiB pages: glibc here sometimes leaves the
# tunable unapplied (see "Rounds" in docs/BENCHMARKS.md).
thp_faults() {
    cat /sys/kernel/mm/transparent_hugepage/hugepages-2048kB/stats/anon_fault_alloc 2>/dev/null || echo 0
}

rm -rf "$data/rounds" "$target/criterion/batch_10m" "$target/criterion/stream_next" "$target/criterion/backtest"
for round in $(seq 1 "$rounds"); do
    echo "== round $round of $rounds: TA-Lib (10,000,000 bars)"
    mkdir -p "$data/rounds/$round"
    thp_before=$(thp_faults)
    "$python" "$here/talib_ref.py" "$data" "$data/rounds/$round/talib.json"
    echo "   2 MiB page faults in this round's TA-Lib process: $(($(thp_faults) - thp_before))"
    echo "== round $round of $rounds: cargo bench -p quant --bench indicators -- batch_10m"
    cargo build --quiet --release -p quant --benches
    thp_before=$(thp_faults)
    cargo bench -p quant --bench indicators -- batch_10m 2>&1 | grep -E '^[a-z_0-9]+/|time:' || true
    echo "   2 MiB page faults in this round's benchmark process: $(($(thp_faults) - thp_before))"
    cp -r "$target/criterion/batch_10m" "$data/rounds/$round/"
done

echo "== backtesting.py (2,520 daily bars)"
"$python" "$here/backtesting_ref.py" "$data" "$data/backtesting.json"

echo "== cargo bench -p quant: streaming and backtest"
cargo bench -p quant --bench indicators --bench backtest -- 'stream_next|backtest' 2>&1 | grep -E '^[a-z_0-9]+/|time:' || true

timing="$data/timing.log"
: > "$timing"
if [ "$wasm" = 1 ]; then
    echo "== SMA-cross timing, native (same harness as wasm32)"
    cargo test --quiet --release -p quant --test wasm_timing -- --nocapture 2>&1 | tee -a "$timing" | grep TIMING || true
    echo "== SMA-cross timing, wasm32 under Node ($(node --version))"
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
        cargo test --release -p quant --target wasm32-unknown-unknown --test wasm_timing -- --nocapture 2>&1 \
        | tee -a "$timing" | grep TIMING || true
fi

echo "== load after: $(uptime | sed 's/.*load average/load average/')"
echo
"$python" "$here/report.py" "$target/criterion" "$data/rounds" "$data/backtesting.json" "$timing" "$format"

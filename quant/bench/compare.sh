#!/usr/bin/env bash
# Runs quant's benchmarks and their references in one go and prints the table
# of docs/BENCHMARKS.md:
#   1. writes the benchmark bars (examples/bench_data.rs) for Python;
#   2. TA-Lib on the 10,000,000-bar series (bench/talib_ref.py);
#   3. backtesting.py on the 2,520 daily bars (bench/backtesting_ref.py);
#   4. `cargo bench -p quant` (indicators + backtest, criterion);
#   5. the SMA-cross timing test natively and in wasm32 under Node
#      (benches/wasm/timing.rs via wasm-bindgen-test-runner);
#   6. the table (bench/report.py).
#
# Usage: quant/bench/compare.sh [--no-wasm] [--markdown]
# Env: PYTHON (default: <repo>/.tools/py/bin/python), CARGO_TARGET_DIR.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
python="${PYTHON:-$root/.tools/py/bin/python}"
target="${CARGO_TARGET_DIR:-$root/target}"
data="$target/bench-data"
wasm=1
format=text
for arg in "$@"; do
    case "$arg" in
        --no-wasm) wasm=0 ;;
        --markdown) format=markdown ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%FT%TZ)"
echo "== load before: $(uptime | sed 's/.*load average/load average/')"

# NumPy backs large arrays with transparent huge pages (madvise), so TA-Lib's
# outputs cost ~40 page faults per 80 MB; glibc's malloc does the same for Rust
# (and for TA-Lib's own temporary buffers) only with this tunable. Both sides
# run with it, so neither pays 20,000 4 KiB page faults per output column.
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
echo "== GLIBC_TUNABLES=$GLIBC_TUNABLES"

echo "== bench data"
cargo run --quiet --release -p quant --example bench_data -- "$data"

echo "== TA-Lib (10,000,000 bars)"
"$python" "$here/talib_ref.py" "$data" "$data/talib.json"

echo "== backtesting.py (2,520 daily bars)"
"$python" "$here/backtesting_ref.py" "$data" "$data/backtesting.json"

echo "== cargo bench -p quant"
rm -rf "$target/criterion/batch_10m" "$target/criterion/stream_next" "$target/criterion/backtest"
cargo bench -p quant --bench indicators --bench backtest 2>&1 | grep -E '^[a-z_0-9]+/|time:' || true

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
"$python" "$here/report.py" "$target/criterion" "$data/talib.json" "$data/backtesting.json" "$timing" "$format"

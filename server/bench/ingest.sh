#!/usr/bin/env bash
# Bulk-ingest benchmark: Finstage's `bars::upsert` against raw-SQL baselines,
# on the same 1,000,000 rows, in one run.
#
#   server/bench/ingest.sh            # 3 runs each, medians
#   RUNS=5 BATCH=50000 server/bench/ingest.sh
#
# 1. Builds and runs `examples/ingest_bench` (release): each run writes the rows
#    through `bars::upsert` into a fresh migrated SQLite file and a fresh
#    PostgreSQL database ("first write"), then writes them again ("replay":
#    every row exists unchanged). The example also dumps the rows as CSV.
# 2. Baselines on that CSV, each on a fresh database created from the same
#    migration file (same table, primary key and foreign key), pragmas as the
#    server sets them (WAL, synchronous=NORMAL, foreign_keys=ON):
#    - load:   SQLite `.import` inside BEGIN/COMMIT; PostgreSQL `\copy`;
#    - upsert: the CSV loaded into a temporary table, then one
#              INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE changed,
#              on the empty table (first) and again on the full one (replay).
#    Timings are the wall time of the `sqlite3` / `psql` process doing the
#    work (schema creation and the symbols are not timed).
#
# PostgreSQL is also measured with WRITERS concurrent writers (ours: that many
# `upsert` calls in flight, as job workers run them; baseline: the CSV split
# into that many parts of whole lines, loaded by as many concurrent `\copy`).
#
# Environment: RUNS (3), BATCH (10000 rows per upsert call), SYMBOLS (100),
# BARS_PER_SYMBOL (10000), WRITERS (2; 1 skips the concurrent runs), PG_ADMIN
# (postgres://postgres@127.0.0.1:5432/postgres), SKIP_BUILD=1 to reuse
# target/release/examples/ingest_bench, PG_SETUP=FILE to run FILE on every
# PostgreSQL database (ours and the baseline's) after the schema, to measure a
# schema variant.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${RUNS:-3}
BATCH=${BATCH:-10000}
SYMBOLS=${SYMBOLS:-100}
BARS_PER_SYMBOL=${BARS_PER_SYMBOL:-10000}
PG_ADMIN=${PG_ADMIN:-${FINSTAGE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}}
PG_BASE=${PG_ADMIN%/*}
PG_DB=finstage_ingest_baseline_$$
SQLITE_SCHEMA=$ROOT/migrations/sqlite/20261122000001_symbols_and_bars.sql
# The bars table as the migrations leave it: created by the first, its symbol
# check made per-statement by the second.
PG_SCHEMA=("$ROOT/migrations/postgres/20261122000001_symbols_and_bars.sql"
    "$ROOT/migrations/postgres/20261122000030_bars_symbol_check_per_statement.sql")
WRITERS=${WRITERS:-2}
ROWS=$((SYMBOLS * BARS_PER_SYMBOL))
export PGOPTIONS="-c client_min_messages=warning"

for tool in sqlite3 psql; do
    command -v "$tool" >/dev/null || { echo "ingest.sh: $tool is required" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/finstage-ingest.XXXXXX")
cleanup() {
    rm -rf "$WORK"
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# --- 1. ours -------------------------------------------------------------
if [[ -z ${SKIP_BUILD:-} ]]; then
    (cd "$ROOT" && cargo build --release -q -p server --example ingest_bench)
fi
BIN=$ROOT/target/release/examples/ingest_bench
SETUP_ARGS=()
if [[ -n ${PG_SETUP:-} ]]; then
    PG_SETUP=$(realpath "$PG_SETUP")
    SETUP_ARGS=(--postgres-setup "$PG_SETUP")
fi
"$BIN" --symbols "$SYMBOLS" --bars-per-symbol "$BARS_PER_SYMBOL" --batch "$BATCH" --runs "$RUNS" \
    --csv "$WORK/csv" --sqlite-dir "$WORK" --postgres "$PG_ADMIN" "${SETUP_ARGS[@]}" | tee "$WORK/ours.txt"
if ((WRITERS > 1)); then
    "$BIN" --symbols "$SYMBOLS" --bars-per-symbol "$BARS_PER_SYMBOL" --batch "$BATCH" --runs "$RUNS" \
        --no-sqlite --writers "$WRITERS" --postgres "$PG_ADMIN" "${SETUP_ARGS[@]}" |
        sed 's/^RESULT postgres/RESULT postgres-parallel/' | tee -a "$WORK/ours.txt"
fi
CSV=$WORK/csv/bars.csv
[[ $(wc -l <"$CSV") -eq $ROWS ]] || { echo "ingest.sh: $CSV does not hold $ROWS rows" >&2; exit 1; }

ours() { awk -v b="$1" -v p="$2" '$1 == "RESULT" && $2 == b && $3 == p { print $4 }' "$WORK/ours.txt"; }

# --- 2. baselines --------------------------------------------------------
now_ns() { date +%s%N; }
# Runs "$@" and prints its wall time in seconds.
timed() {
    local t0 t1
    t0=$(now_ns)
    "$@" >/dev/null
    t1=$(now_ns)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rate() { awk -v n="$ROWS" -v s="$1" 'BEGIN { printf "%.0f\n", n / s }'; }

SYMBOL_SQL=$WORK/symbols.sql
awk '{ printf "INSERT INTO symbols (symbol) VALUES (\x27%s\x27);\n", $1 }' "$WORK/csv/symbols.csv" >"$SYMBOL_SQL"

CHANGED="bars.open <> excluded.open OR bars.high <> excluded.high OR bars.low <> excluded.low \
OR bars.close <> excluded.close OR bars.volume <> excluded.volume"
SET="open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close, volume = excluded.volume"

sqlite_pragmas="PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;"

sqlite_fresh() {
    rm -f "$WORK"/base.db*
    { echo "$sqlite_pragmas"; cat "$SQLITE_SCHEMA" "$SYMBOL_SQL"; } | sqlite3 "$WORK/base.db" >/dev/null
}
sqlite_load() {
    sqlite3 "$WORK/base.db" <<SQL
$sqlite_pragmas
BEGIN;
.import --csv $CSV bars
COMMIT;
SQL
}
sqlite_upsert() {
    sqlite3 "$WORK/base.db" <<SQL
$sqlite_pragmas
BEGIN;
CREATE TEMP TABLE incoming (symbol TEXT, timeframe TEXT, ts INTEGER, open REAL, high REAL, low REAL,
                            close REAL, volume REAL);
.import --csv --schema temp $CSV incoming
INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume)
    SELECT * FROM temp.incoming WHERE true
    ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET $SET WHERE $CHANGED;
COMMIT;
SQL
}

pg() { psql -q -X -v ON_ERROR_STOP=1 "$PG_BASE/$PG_DB" "$@"; }
pg_fresh() {
    psql -q -X "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
    psql -q -X "$PG_ADMIN" -c "CREATE DATABASE $PG_DB" >/dev/null
    for f in "${PG_SCHEMA[@]}"; do pg -f "$f" >/dev/null; done
    if [[ -n ${PG_SETUP:-} ]]; then pg -f "$PG_SETUP" >/dev/null; fi
    pg -f "$SYMBOL_SQL" >/dev/null
}
pg_load() { pg -c "\\copy bars FROM '$CSV' WITH (FORMAT csv)"; }
# WRITERS concurrent \copy, one per part of the CSV.
split -n "l/$WRITERS" -d "$CSV" "$WORK/part."
pg_load_parallel() {
    local part pids=() pid
    for part in "$WORK"/part.*; do
        pg -c "\\copy bars FROM '$part' WITH (FORMAT csv)" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
}
pg_upsert() {
    pg <<SQL
BEGIN;
CREATE TEMP TABLE incoming (LIKE bars) ON COMMIT DROP;
\\copy incoming FROM '$CSV' WITH (FORMAT csv)
INSERT INTO bars SELECT * FROM incoming
    ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET $SET WHERE $CHANGED;
COMMIT;
SQL
}

check_count() { # backend expected
    local n
    if [[ $1 == sqlite ]]; then
        n=$(sqlite3 "$WORK/base.db" "SELECT COUNT(*) FROM bars")
    else
        n=$(pg -At -c "SELECT COUNT(*) FROM bars")
    fi
    [[ $n -eq $2 ]] || { echo "ingest.sh: $1 baseline holds $n rows, expected $2" >&2; exit 1; }
}

declare -A T
for backend in sqlite postgres; do
    for ((run = 1; run <= RUNS; run++)); do
        "${backend/postgres/pg}_fresh"
        load=$(timed "${backend/postgres/pg}_load")
        check_count "$backend" "$ROWS"
        replay=$(timed "${backend/postgres/pg}_upsert")
        check_count "$backend" "$ROWS"
        "${backend/postgres/pg}_fresh"
        first=$(timed "${backend/postgres/pg}_upsert")
        check_count "$backend" "$ROWS"
        echo "$backend baseline run $run: load $load s, upsert first $first s, upsert replay $replay s"
        T[$backend.load]+="$load "
        T[$backend.first]+="$first "
        T[$backend.replay]+="$replay "
        if [[ $backend == postgres ]] && ((WRITERS > 1)); then
            pg_fresh
            parallel=$(timed pg_load_parallel)
            check_count postgres "$ROWS"
            echo "postgres baseline run $run: $WRITERS concurrent loads $parallel s"
            T[postgres-parallel.load]+="$parallel "
        fi
    done
done
base() { rate "$(tr ' ' '\n' <<<"${T[$1.$2]}" | grep . | median)"; }

# --- 3. table ------------------------------------------------------------
echo
echo "$ROWS bars ($SYMBOLS symbols x $BARS_PER_SYMBOL), median of $RUNS runs, bars/s (higher is better)"
[[ -n ${PG_SETUP:-} ]] && echo "PostgreSQL schema variant: $PG_SETUP"
printf '%-9s %-7s %14s %18s %18s\n' backend phase "bars::upsert" "baseline upsert" "baseline load"
for backend in sqlite postgres; do
    printf '%-9s %-7s %14s %18s %18s\n' "$backend" first "$(ours $backend first)" "$(base $backend first)" \
        "$(base $backend load)"
    printf '%-9s %-7s %14s %18s %18s\n' "$backend" replay "$(ours $backend replay)" "$(base $backend replay)" "-"
done
if ((WRITERS > 1)); then
    printf '%-9s %-7s %14s %18s %18s\n' "postgres" "first" "$(ours postgres-parallel first)" "-" \
        "$(base postgres-parallel load)"
    printf '%-9s %-7s %14s %18s %18s\n' "postgres" "replay" "$(ours postgres-parallel replay)" "-" "-"
    echo "(the last two rows: $WRITERS concurrent writers)"
fi
echo "bars::upsert: batches of $BATCH rows, one transaction each; baselines: one transaction;"
echo "load = sqlite3 .import / psql \\copy into the empty table."

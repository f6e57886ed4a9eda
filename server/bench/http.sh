#!/usr/bin/env bash
# HTTP edge benchmark: the release `finstage serve` on a freshly seeded
# database against the stack it replaces (FastAPI + uvicorn, one worker,
# answers from memory), on loopback, in one run.
#
#   server/bench/http.sh               # prints the tables, rewrites the "HTTP edge" section of docs/BENCHMARKS.md
#   server/bench/http.sh --no-write    # prints only
#
# 1. Needs wrk (installed with apt-get when missing), curl, a CPython 3.11+ as
#    python3 and the release build: target/release/finstage with its
#    target/site, made here by `cargo leptos build --release --precompress --split`
#    when the binary is missing (never rebuilt otherwise: build it yourself
#    after changing the code). The FastAPI side runs in .tools/fastapi, built
#    from server/bench/fastapi_ref/requirements.txt when missing or when that
#    file changed.
# 2. Copies the binary, hash.txt and the site into a temporary directory (a
#    build finishing mid-run cannot swap them underneath), starts it there on a
#    new SQLite database with the built-in simulator (which backfills about 5
#    years of daily bars for the 7 watchlist symbols, then ticks every 5 s),
#    and waits for /readyz, a quote and 500 daily bars of AAPL.
# 3. Fetches our quotes and bars answers once and starts the FastAPI app
#    (server/bench/fastapi_ref/app.py) on them, with uvicorn, one worker.
# 4. Runs wrk on each request (ours, then FastAPI's where it has the route),
#    after a short warm-up of the same shape, then measures the bytes of a
#    first visit.
# 5. Prints the tables and writes them between the http-bench markers of
#    docs/BENCHMARKS.md (the section is appended the first time).
#
# The load generator shares the machine's cores with the server it measures;
# on a 2-core machine that is part of the figures, for both servers alike.
#
# Environment: DURATION (10 s per run), SEQ_DURATION (5 s for the one-connection
# run), WARMUP (2 s before each run, not measured), PAUSE (1 s between runs),
# EXTRA_ROWS (1; 0 skips the three informational runs: `/` and bars asked
# for with compression as a browser asks, and `/` rendered on every request),
# IDLE_WAIT (300 s: how long to wait for the
# machine to be idle before measuring; it then measures anyway, and says so).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
COMMAND="server/bench/http.sh${*:+ $*}"

write_doc=1
for arg in "$@"; do
    case $arg in
        --no-write) write_doc=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "http.sh: unknown argument $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

DURATION=${DURATION:-10}
SEQ_DURATION=${SEQ_DURATION:-5}
WARMUP=${WARMUP:-2}
PAUSE=${PAUSE:-1}
EXTRA_ROWS=${EXTRA_ROWS:-1}
IDLE_WAIT=${IDLE_WAIT:-300}
DOC=$ROOT/docs/BENCHMARKS.md
MARK_START='<!-- http-bench:start -->'
MARK_END='<!-- http-bench:end -->'
VENV=$ROOT/.tools/fastapi
REF_DIR=$ROOT/server/bench/fastapi_ref

log() { echo "http.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

# The server reads FINSTAGE_* and DATABASE_URL from the environment: whatever
# the caller has set must not change what is measured.
while read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(FINSTAGE_|DATABASE_URL$)' || true)

# --- Tools -------------------------------------------------------------------

command -v curl >/dev/null || die "curl is required"
if ! command -v wrk >/dev/null; then
    log "installing wrk (apt-get)"
    # The package lists of a fresh machine may not know wrk yet.
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; } ||
        die "could not install wrk; install it and run again"
fi

# Same scheme as quant/bench/python-env.sh: rebuilt from scratch whenever the
# requirements differ from the copy kept inside, so it holds exactly the pins.
requirements=$REF_DIR/requirements.txt
if ! cmp -s "$requirements" "$VENV/requirements.installed.txt" || ! "$VENV/bin/python" -c '' 2>/dev/null; then
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
        die "python3 is missing or older than 3.11"
    log "building $VENV from server/bench/fastapi_ref/requirements.txt"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv --clear "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --only-binary=:all: --requirement "$requirements" >&2
    cp "$requirements" "$VENV/requirements.installed.txt"
fi
PY=$VENV/bin/python

# --- The release build ---------------------------------------------------------

if [[ ! -x target/release/finstage || ! -d target/site/pkg ]]; then
    log "no release build: cargo leptos build --release --precompress --split"
    export PATH="$HOME/.cargo/bin:$PWD/.tools/binaryen/node_modules/.bin:$PATH"
    cargo leptos build --release --precompress --split >&2
fi
# Without --precompress the static files go out uncompressed and the
# first-load figures mean something else: say so rather than measure it.
compgen -G 'target/site/pkg/*.br' >/dev/null ||
    log "warning: target/site/pkg has no .br files; was it built with --precompress?"

# --- Processes -----------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/finstage-http.XXXXXX")
server_pid=
ref_pid=

stop() {
    local pid=$1 _
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    # Graceful shutdown is quick; a process that ignores SIGTERM for 10 s is killed.
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop "$server_pid"
    stop "$ref_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Polls `probe` (a command) every 0.2 s for up to $2 seconds while process $3 lives.
wait_for() {
    local what=$1 seconds=$2 pid=$3 logfile=$4 i
    shift 4
    for ((i = 0; i < seconds * 5; i++)); do
        "$@" && return 0
        kill -0 "$pid" 2>/dev/null || { tail -n 40 "$logfile" >&2; die "$what: the process exited"; }
        sleep 0.2
    done
    tail -n 40 "$logfile" >&2
    die "$what: not ready after $seconds s"
}

mkdir -p "$work/bin" "$work/ref"
cp -p target/release/finstage "$work/bin/"
# Leptos reads the hashed file names from hash.txt beside the binary.
[[ -f target/release/hash.txt ]] && cp -p target/release/hash.txt "$work/bin/"
# -a keeps the modification times: the server skips a .br or .gz variant
# older than its file as stale, and a plain copy would make most of them so.
cp -a target/site "$work/site"
binary_date=$(date -u -r "$work/bin/finstage" '+%Y-%m-%d %H:%M UTC')
: >"$work/finstage.toml" # an empty file, so no ./finstage.toml is read

port=$(free_port)
OURS=http://127.0.0.1:$port
log "starting finstage on $OURS"
# shellcheck source=server/bench/accounts.sh
source "$(dirname "${BASH_SOURCE[0]}")/accounts.sh"
FINSTAGE_CONFIG=$work/finstage.toml FINSTAGE_DATABASE_URL=sqlite://$work/bench.db bench_accounts "$work/bin/finstage"
(
    cd "$work"
    FINSTAGE_CONFIG=$work/finstage.toml \
        FINSTAGE_DATABASE_URL=sqlite://$work/bench.db \
        FINSTAGE_LISTEN=127.0.0.1:$port \
        FINSTAGE_SITE_ROOT=$work/site \
        FINSTAGE_LOG=warn \
        exec "$work/bin/finstage" serve
) >"$work/server.log" 2>&1 &
server_pid=$!

QUOTES_PATH='/api/v1/quotes?symbols=AAPL,MSFT,GOOGL,TSLA,NVDA,SPY,BTC-USD'
BARS_PATH='/api/v1/symbols/AAPL/bars?timeframe=1d&limit=500'

# A JSON field of an answer, read with the venv's Python (jq may be missing).
json() {
    curl -fsS --max-time 5 "$1" 2>/dev/null | "$PY" -c "import json, sys; d = json.load(sys.stdin); print($2)" 2>/dev/null
}
ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$OURS/readyz") == 200 ]]; }
has_quote() { [[ $(json "$OURS/api/v1/quotes?symbols=AAPL" 'len(d["quotes"])') -ge 1 ]]; }
has_bars() { [[ $(json "$OURS$BARS_PATH" 'len(d["bars"])') == 500 ]]; }
wait_for "finstage /readyz" 60 "$server_pid" "$work/server.log" ready
wait_for "finstage quote of AAPL" 120 "$server_pid" "$work/server.log" has_quote
wait_for "finstage 500 daily bars of AAPL" 120 "$server_pid" "$work/server.log" has_bars

curl -fsS --max-time 5 "$OURS$QUOTES_PATH" >"$work/ref/quotes.json"
curl -fsS --max-time 5 "$OURS$BARS_PATH" >"$work/ref/bars.json"

ref_port=$(free_port)
REF=http://127.0.0.1:$ref_port
log "starting the FastAPI reference on $REF"
FASTAPI_REF_DATA=$work/ref "$PY" -m uvicorn app:app --app-dir "$REF_DIR" \
    --host 127.0.0.1 --port "$ref_port" --workers 1 --loop uvloop --http httptools \
    --no-access-log --log-level warning >"$work/ref.log" 2>&1 &
ref_pid=$!
ref_ready() { curl -fsS --max-time 5 "$REF$QUOTES_PATH" 2>/dev/null | cmp -s - "$work/ref/quotes.json"; }
wait_for "FastAPI reference" 30 "$ref_pid" "$work/ref.log" ref_ready

# The stylesheet's name carries its content hash: read it from the page.
page=$(curl -fsS --max-time 5 "$OURS/")
# href of the first <link> whose attributes contain $1.
link_href() {
    grep -oE '<link[^>]*>' <<<"$page" | grep -F "$1" | grep -oE 'href="[^"]*"' | head -n 1 | cut -d'"' -f2 || true
}
CSS_PATH=$(link_href 'rel="stylesheet"')
JS_PATH=$(link_href 'rel="modulepreload"')
WASM_PATH=$(grep -oE '<link[^>]*>' <<<"$page" | grep -F 'rel="preload"' | grep -F '.wasm' |
    grep -oE 'href="[^"]*"' | head -n 1 | cut -d'"' -f2 || true)
[[ -n $CSS_PATH ]] || die "no <link rel=\"stylesheet\"> in the page of /"
[[ -n $JS_PATH ]] || log "warning: no <link rel=\"modulepreload\"> in the page of /"
[[ -n $WASM_PATH ]] || log "warning: no <link rel=\"preload\" ...wasm> in the page of /"

# --- Measurements --------------------------------------------------------------

# user + system CPU seconds of a process so far.
cpu_seconds() {
    local ticks
    ticks=$(sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }')
    awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }'
}

# CPU seconds the whole machine has spent busy (all but idle and iowait).
machine_busy_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.3f", ($2 + $3 + $4 + $7 + $8 + $9) / hz; exit }' /proc/stat
}

# user + system CPU seconds of this shell's waited-for children so far.
# `times` must run in this very shell (a pipe or $(...) would run it in a
# fork, which has no children yet), hence the file.
children_cpu_seconds() {
    times >"$work/times"
    awk 'NR == 2 {
        t = 0
        for (i = 1; i <= 2; i++) { split($i, p, "m"); sub(/s$/, "", p[2]); t += p[1] * 60 + p[2] }
        printf "%.3f", t
    }' "$work/times"
}

# wrk's summary as "req/s p50_ms p99_ms requests non2xx socket_errors".
parse_wrk() {
    awk '
        function ms(v,  n) {
            n = v
            if (sub(/us$/, "", n)) return n / 1000
            if (sub(/ms$/, "", n)) return n + 0
            if (sub(/m$/, "", n)) return n * 60000
            if (sub(/h$/, "", n)) return n * 3600000
            if (sub(/s$/, "", n)) return n * 1000
            return -1
        }
        /^ +50% / { p50 = ms($2) }
        /^ +99% / { p99 = ms($2) }
        / requests in / { total = $1 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ { gsub(/,/, ""); errors = $4 + $6 + $8 + $10 }
        /^Requests\/sec:/ { rps = $2 }
        END {
            if (rps == "" || p99 == "") exit 1
            printf "%s %.3f %.3f %d %d %d\n", rps, p50, p99, total, non2xx, errors
        }'
}

# Runs wrk on one URL: warm-up, then the measured run. Prints the parsed
# summary followed by the CPU used during the run, in cores: by the server
# process ($1), by wrk, and by everything else on the machine (which should be
# near 0: more means something else competed for the cores).
# Args: server_pid threads connections seconds url [header] [wrk Lua script]
measure() {
    local pid=$1 threads=$2 conns=$3 seconds=$4 url=$5 header=${6:-} lua=${7:-} extra=() shown='' out summary
    local server0 server1 wrk0 wrk1 busy0 busy1
    [[ -z $header ]] || { extra=(-H "$header"); shown=" -H \"$header\""; }
    [[ -z $lua ]] || { extra+=(-s "$lua"); shown+=" -s $(basename "$lua")"; }
    wrk -t"$threads" -c"$conns" -d"${WARMUP}s" "${extra[@]}" "$url" >/dev/null
    sleep "$PAUSE"
    log "wrk -t$threads -c$conns -d${seconds}s --latency$shown $url (load $(cut -d' ' -f1 /proc/loadavg))"
    children_cpu_seconds >"$work/wrk0"
    server0=$(cpu_seconds "$pid") busy0=$(machine_busy_seconds)
    out=$(wrk -t"$threads" -c"$conns" -d"${seconds}s" --latency "${extra[@]}" "$url")
    server1=$(cpu_seconds "$pid") busy1=$(machine_busy_seconds)
    children_cpu_seconds >"$work/wrk1"
    wrk0=$(<"$work/wrk0") wrk1=$(<"$work/wrk1")
    echo "$out" >&2
    summary=$(parse_wrk <<<"$out") || die "could not read wrk's output"
    sleep "$PAUSE"
    awk -v s="$summary" -v d="$seconds" \
        -v s0="$server0" -v s1="$server1" -v w0="$wrk0" -v w1="$wrk1" -v b0="$busy0" -v b1="$busy1" 'BEGIN {
            server = (s1 - s0) / d; wrk = (w1 - w0) / d; rest = (b1 - b0) / d - server - wrk
            if (rest < 0) rest = 0
            printf "%s %.2f %.2f %.2f\n", s, server, wrk, rest
        }'
}

# Pages are cached for a second per URL (server/src/http/page_cache.rs), so
# the page rows above measure mostly that cache. A query string new on every
# request (per wrk thread: an id, then a counter) misses it each time, which
# measures the render itself.
cat >"$work/unique.lua" <<'LUA'
local threads = 0
function setup(thread)
    thread:set("id", threads)
    threads = threads + 1
end
local n = 0
function request()
    n = n + 1
    return wrk.format("GET", "/?bench=" .. id .. "-" .. n)
end
LUA

# Rows: label|path|threads|connections|seconds|header|min req/s|max p99 ms|min ratio|FastAPI has it|wrk Lua script|FastAPI path prefix
# (an empty target is none). FastAPI's routes under /typical build the answer
# per request from in-memory objects with pydantic models, as the replaced
# system did; its routes without a prefix return pre-encoded bytes (the floor).
rows=(
    "GET quotes (7 symbols), vs FastAPI as the replaced system built it|$QUOTES_PATH|2|64|$DURATION||30000|10|9|1||/typical"
    "GET quotes (7 symbols), vs FastAPI's floor (pre-encoded bytes)|$QUOTES_PATH|2|64|$DURATION|||||1|"
    "GET / (watchlist page)|/|2|64|$DURATION||10000|20||0"
    "GET /symbol/AAPL|/symbol/AAPL|2|64|$DURATION||10000|20||0"
    "GET CSS (${CSS_PATH##*/})|$CSS_PATH|2|64|$DURATION||20000|||0"
    "GET bars (AAPL 1d, 500), vs FastAPI as the replaced system built it|$BARS_PATH|2|64|$DURATION||5000|||1||/typical"
    "GET bars (AAPL 1d, 500), vs FastAPI's floor (pre-encoded bytes)|$BARS_PATH|2|64|$DURATION|||||1|"
    "GET /, one kept-alive connection|/|1|1|$SEQ_DURATION||1000|||0"
)
if [[ $EXTRA_ROWS == 1 ]]; then
    rows+=(
        "GET / with Accept-Encoding: br, gzip|/|2|64|$DURATION|Accept-Encoding: br, gzip||||0"
        "GET bars with Accept-Encoding: br, gzip|$BARS_PATH|2|64|$DURATION|Accept-Encoding: br, gzip||||0"
        "GET /?bench=N, a new URL each time (rendered, past the page cache)|/?bench=0-0|2|64|$DURATION|||||0|$work/unique.lua"
    )
fi

# Sanity: every URL answers 200 on each server before it is measured.
for row in "${rows[@]}"; do
    IFS='|' read -r label path _ _ _ _ _ _ _ has_ref _ ref_prefix <<<"$row"
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$OURS$path")
    [[ $code == 200 ]] || die "$label: ours answered $code"
    if [[ $has_ref == 1 ]]; then
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$REF$ref_prefix$path")
        [[ $code == 200 ]] || die "$label: FastAPI answered $code"
    fi
done

# 1234567.8 -> 1,234,568; anything not a number is printed as it is.
fmt_int() {
    awk -v n="$1" 'BEGIN {
        if (n !~ /^-?[0-9.]+$/) { print n; exit }
        s = sprintf("%.0f", n); sign = ""
        if (s ~ /^-/) { sign = "-"; s = substr(s, 2) }
        out = ""
        while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
        print sign s out
    }'
}

join_list() {
    local IFS='|' joined
    joined="$*"
    echo "${joined//|/, }"
}

# Anything else running takes cores from both sides and spreads their tails:
# wait until the machine is idle (under 0.2 busy cores over 3 s, our idle
# servers included), or give up after IDLE_WAIT seconds and record it.
busy_cores() {
    local b0 b1
    b0=$(machine_busy_seconds)
    sleep 3
    b1=$(machine_busy_seconds)
    awk -v a="$b0" -v b="$b1" 'BEGIN { printf "%.2f", (b - a) / 3 }'
}
idle_since=$SECONDS
while busy=$(busy_cores) && awk -v b="$busy" 'BEGIN { exit !(b >= 0.2) }'; do
    if ((SECONDS - idle_since >= IDLE_WAIT)); then
        log "warning: the machine is still busy ($busy cores); measuring anyway"
        break
    fi
    (((SECONDS - idle_since) % 30 < 4)) && log "waiting for the machine to be idle ($busy cores busy)"
done
busy_before=$busy

# Notes a run during which something besides the server and wrk used the
# machine (loopback's kernel work alone stays well under 0.3 cores).
busy_note() {
    if awk -v r="$3" 'BEGIN { exit !(r >= 0.3) }'; then
        notes+=("- $1, $2: $3 cores busy besides the server and wrk; something else was running.")
    fi
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
table=()
details=()
notes=()
for row in "${rows[@]}"; do
    IFS='|' read -r label path threads conns seconds header min_rps max_p99 min_ratio has_ref lua ref_prefix <<<"$row"
    # Assigned first: a failure inside measure's subshell then stops the script.
    result=$(measure "$server_pid" "$threads" "$conns" "$seconds" "$OURS$path" "$header" "$lua")
    read -r rps p50 p99 total non2xx errors cpu_server cpu_wrk cpu_rest <<<"$result"
    cores="$cpu_server / $cpu_wrk / $cpu_rest"
    busy_note "$label" ours "$cpu_rest"
    r_rps=- r_p99=- ratio=- r_total=- r_non2xx=- r_errors=- r_cores=-
    if [[ $has_ref == 1 ]]; then
        result=$(measure "$ref_pid" "$threads" "$conns" "$seconds" "$REF$ref_prefix$path" "$header" "$lua")
        read -r r_rps _ r_p99 r_total r_non2xx r_errors cpu_server cpu_wrk cpu_rest <<<"$result"
        r_cores="$cpu_server / $cpu_wrk / $cpu_rest"
        busy_note "$label" FastAPI "$cpu_rest"
        ratio=$(awk -v a="$rps" -v b="$r_rps" 'BEGIN { printf "%.1fx", a / b }')
    fi

    target=() missed=()
    if [[ -n $min_rps ]]; then
        target+=(">= $(fmt_int "$min_rps") req/s")
        awk -v a="$rps" -v b="$min_rps" 'BEGIN { exit !(a >= b) }' || missed+=("req/s")
    fi
    if [[ -n $min_ratio ]]; then
        target+=(">= ${min_ratio}x FastAPI")
        awk -v a="$rps" -v b="$r_rps" -v m="$min_ratio" 'BEGIN { exit !(a >= m * b) }' || missed+=("ratio")
    fi
    if [[ -n $max_p99 ]]; then
        target+=("p99 < $max_p99 ms")
        awk -v a="$p99" -v b="$max_p99" 'BEGIN { exit !(a < b) }' || missed+=("p99")
    fi
    ((non2xx + errors == 0)) || missed+=("errors")
    if ((${#target[@]} == 0)); then
        target_text="- (informational)"
        met=-
        ((non2xx + errors == 0)) || met="no (errors)"
    else
        target_text=$(join_list "${target[@]}")
        if ((${#missed[@]} == 0)); then met=yes; else met="**no** ($(join_list "${missed[@]}"))"; fi
    fi
    if [[ $r_rps == - ]]; then r_rps_text=-; r_p99_text=-; else
        r_rps_text=$(fmt_int "$r_rps")
        r_p99_text=$(printf '%.2f ms' "$r_p99")
    fi
    table+=("| $label | $(fmt_int "$rps") | $(printf '%.2f ms' "$p50") | $(printf '%.2f ms' "$p99") | $r_rps_text | $r_p99_text | $ratio | $target_text | $met |")

    extra=()
    [[ -z $header ]] || extra=(-H "$header")
    bytes=$(curl -s -o /dev/null -w '%{size_download}' --max-time 5 "${extra[@]}" "$OURS$path")
    details+=("| $label | \`${path}\` | -t$threads -c$conns -d${seconds}s | $(fmt_int "$bytes") | $(fmt_int "$total") / $non2xx / $errors | $cores | $(fmt_int "$r_total") / $r_non2xx / $r_errors | $r_cores |")
    ((non2xx == 0)) || notes+=("- $label: ours answered $non2xx of $total requests with a status other than 2xx or 3xx.")
    ((errors == 0)) || notes+=("- $label: wrk counted $errors socket errors (connect, read, write, timeout) against ours.")
    if [[ $has_ref == 1 ]]; then
        ((r_non2xx == 0)) || notes+=("- $label: FastAPI answered $r_non2xx of $r_total requests with a status other than 2xx or 3xx.")
        ((r_errors == 0)) || notes+=("- $label: wrk counted $r_errors socket errors against FastAPI.")
    fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# First visit: each file as a browser asks for it, bytes as they cross the wire.
first=()
body_total=0
header_total=0
all_immutable=1
for item in "HTML|/" "JS|$JS_PATH" "wasm|$WASM_PATH" "CSS|$CSS_PATH"; do
    IFS='|' read -r kind path <<<"$item"
    [[ -n $path ]] || continue
    IFS='|' read -r code body head encoding cache <<<"$(curl -sS -o /dev/null --max-time 10 -H 'Accept-Encoding: br, gzip' \
        -w '%{http_code}|%{size_download}|%{size_header}|%header{content-encoding}|%header{cache-control}' "$OURS$path")"
    [[ $code == 200 ]] || die "first load: $path answered $code"
    body_total=$((body_total + body))
    header_total=$((header_total + head))
    [[ $kind == HTML || $cache == *immutable* ]] || all_immutable=0
    first+=("| $kind | \`$path\` | ${encoding:-identity} | $(fmt_int "$body") | $(fmt_int "$head") | ${cache:--} |")
done
first_target=250000
if ((body_total <= first_target)); then first_met=yes; else first_met="**no**"; fi
if ((all_immutable == 1)); then repeat="yes: JS, wasm and CSS are \`immutable\`, a repeat visit fetches only the HTML"; else
    repeat="**no**: an asset is not \`immutable\`, a repeat visit revalidates or refetches it"
fi

# --- Report ----------------------------------------------------------------------

commit=$(git rev-parse --short HEAD)
code_paths=(server/src app frontend quant Cargo.toml Cargo.lock server/Cargo.toml style public)
dirty=
[[ -z $(git status --porcelain -- "${code_paths[@]}" 2>/dev/null) ]] ||
    dirty=" (the work tree had uncommitted changes to the code)"
# The script never rebuilds an existing binary: say when it is older than the
# code it is reported against.
if (($(git log -1 --format=%ct -- "${code_paths[@]}") > $(date -r "$work/bin/finstage" +%s))); then
    dirty+=" (the binary is older than the last commit to the code: rebuild it to measure this commit)"
fi
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
versions=$("$PY" -c 'import fastapi, uvicorn, sys; print(f"FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__} (uvloop, httptools), CPython {sys.version.split()[0]}")')
wrk_version=$(wrk -v 2>&1 | head -n 1 | awk '{ print $2 }' || true)

{
    echo "## HTTP edge"
    echo
    echo "Written by \`server/bench/http.sh\`; everything between the http-bench markers"
    echo "is replaced by its next run (\`--no-write\` only prints)."
    echo
    echo "What is measured: the release \`finstage serve\` (\`cargo leptos build --release --precompress --split\`)"
    echo "on a new SQLite database seeded by the built-in simulator (about 5 years of daily"
    echo "bars for the 7 watchlist symbols; it keeps ticking every 5 s during the runs), and"
    echo "beside it the stack it replaces: FastAPI on uvicorn, one worker, answering from memory"
    echo "(\`server/bench/fastapi_ref/app.py\`) in two ways. \"As the replaced system built it\":"
    echo "the data held as Python objects, the query parsed, the answer built per request from"
    echo "pydantic models that FastAPI validates and encodes; the ratio target is against this."
    echo "\"Floor\": our own answers, fetched once at start, returned as pre-encoded bytes (no"
    echo "validation, encoding or query parsing): what FastAPI costs doing nothing at all."
    echo "Both listen on loopback; wrk (${wrk_version:-wrk}) runs on the same machine and takes"
    echo "its share of the cores. Each run follows a ${WARMUP} s warm-up of the same shape."
    echo "Latencies are wrk's \`--latency\` percentiles; \"ratio\" is our req/s over FastAPI's."
    echo "Pages are cached for a second per URL (path and query; \`server/src/http/page_cache.rs\`),"
    echo "so the \`/\` and \`/symbol/AAPL\` rows measure mostly that cache; the \`?bench=N\` row"
    echo "asks for a URL never asked before on every request (a wrk Lua script), so each is rendered."
    echo
    echo "- Run of $started, commit $commit$dirty; binary built $binary_date."
    echo "- Machine: $(nproc) cores (\`nproc\`), ${cpu_model:-unknown CPU}. Load average before $load_before, after $load_after; $busy_before cores busy just before the first run."
    echo "- Reference: $versions."
    echo "- Command: \`$COMMAND\`"
    echo
    echo "| request | ours req/s | ours p50 | ours p99 | FastAPI req/s | FastAPI p99 | ratio | target | met? |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
    printf '%s\n' "${table[@]}"
    echo
    echo "Details: the answer's size (body bytes, as wrk asked for it), requests / non-2xx-or-3xx"
    echo "answers / socket errors as wrk counted them, and the CPU used during the run in"
    echo "cores (CPU seconds per second, from \`/proc\`): the server process / wrk / the rest"
    echo "of the machine (kernel work not charged to either, and anything else running)."
    echo
    echo "| request | path | wrk | body bytes | ours: requests / non-2xx / errors | ours CPU: server / wrk / rest | FastAPI: requests / non-2xx / errors | FastAPI CPU: server / wrk / rest |"
    echo "|---|---|---|---:|---:|---:|---:|---:|"
    printf '%s\n' "${details[@]}"
    echo
    echo "First load: \`/\` and the files its \`<link>\`s name (\`modulepreload\` JS, \`preload\` wasm,"
    echo "stylesheet), each fetched with \`Accept-Encoding: br, gzip\`; bytes as sent (curl's"
    echo "\`size_download\` without \`--compressed\`, so compressed bytes), headers counted apart."
    echo
    echo "| file | path | encoding | body bytes | header bytes | Cache-Control |"
    echo "|---|---|---|---:|---:|---|"
    printf '%s\n' "${first[@]}"
    echo
    echo "- First load: $(fmt_int "$body_total") bytes of bodies ($(fmt_int $((body_total + header_total))) with headers) against a target of <= 250 KB (250,000 bytes of bodies): $first_met."
    echo "- Repeat visit: $repeat."
    if ((${#notes[@]} > 0)); then
        echo
        echo "Anomalies in this run:"
        echo
        printf '%s\n' "${notes[@]}"
    fi
} >"$work/section.md"

echo
cat "$work/section.md"

if ((write_doc == 1)); then
    if grep -qxF "$MARK_START" "$DOC" && grep -qxF "$MARK_END" "$DOC"; then
        awk -v start="$MARK_START" -v end="$MARK_END" -v section="$work/section.md" '
            $0 == start { print; while ((getline line < section) > 0) print line; skip = 1; next }
            $0 == end { skip = 0 }
            !skip { print }
        ' "$DOC" >"$work/doc.md"
    else
        { cat "$DOC"; echo; echo "$MARK_START"; cat "$work/section.md"; echo "$MARK_END"; } >"$work/doc.md"
    fi
    cp "$work/doc.md" "$DOC"
    log "wrote the HTTP edge section of docs/BENCHMARKS.md"
fi

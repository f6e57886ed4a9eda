# Sourced by ws_load.sh and soak.sh: `ws_prepare NAME MAX_CLIENTS` raises the
# open-file limit for MAX_CLIENTS connections (one descriptor per connection
# in each process, plus a few), builds the release `ws_load` example unless
# SKIP_BUILD=1, and copies it to "$work/ws_load" (a private copy: another
# build replacing the binary mid-run cannot affect it; removed on exit).
# Needs ROOT set to the repository.
ws_prepare() {
    local name=$1 need=$(($2 + 100))
    if (($(ulimit -n) < need)); then
        ulimit -n "$need" 2>/dev/null || {
            echo "$name: need $need open files, hard limit is $(ulimit -Hn)" >&2
            exit 1
        }
    fi
    if [[ ${SKIP_BUILD:-0} != 1 ]]; then
        (cd "$ROOT" && cargo build --release -p server --example ws_load)
    fi
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cp "$ROOT/target/release/examples/ws_load" "$work/ws_load"
}

# Sourced by the benchmarks that start their own `finstage serve` on
# loopback. Since accounts (issue 16) a server answers nothing before its
# first admin exists; the benchmarks make one from the command line and let
# anonymous clients read (`auth.anonymous = viewer`, the trusted-LAN mode),
# so the load generators and the measured pages need no login. A write needs
# `$BENCH_TOKEN` (an admin's write token). Token requests are not throttled.
#
#   bench_accounts BINARY   # with FINSTAGE_DATABASE_URL set or exported
bench_accounts() {
    local bin=$1
    "$bin" migrate >/dev/null
    printf '%s\n' 'bench passphrase 2026' | "$bin" users add bench --role admin >/dev/null
    BENCH_TOKEN=$("$bin" tokens create --user bench --scope write | grep '^fst_')
    export BENCH_TOKEN FINSTAGE_AUTH__ANONYMOUS=viewer FINSTAGE_AUTH__TOKEN_REQUESTS_PER_MINUTE=100000000
}

#!/usr/bin/env bash
# A CPU profile of the server under the durable-command load of bench/http.sh, as a flamegraph:
# perf (Debian's linux-perf, installed if missing) samples the server while wrk drives
# bench/lifecycle.lua; inferno (from crates.io, installed if missing) folds the stacks and draws
# the SVG. Usage: bench/profile.sh [out.svg, default target/flamegraph-commands.svg] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/flamegraph-commands.svg}
SECONDS_TO_SAMPLE=${2:-8}
PORT=${BENCH_PORT:-18090}
command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
command -v perf >/dev/null || (apt-get update -qq && apt-get install -y -qq linux-perf) >/dev/null
command -v inferno-flamegraph >/dev/null || cargo install --locked inferno >/dev/null
cargo build --release -q --locked -p repairledger
DATA=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
REPAIRLEDGER_RATE_PER_SECOND=0 RUST_LOG=warn "${CARGO_TARGET_DIR:-target}"/release/repairledger serve \
  --bind "127.0.0.1:$PORT" --data "$DATA/data" >"$DATA/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
wrk -t2 -c64 -d"$((SECONDS_TO_SAMPLE + 4))s" -s bench/lifecycle.lua "http://127.0.0.1:$PORT" -- P >"$DATA/wrk.out" &
WRK=$!
sleep 2
perf record -F 299 --call-graph dwarf,16384 -p "$SERVER" -o "$DATA/perf.data" -- sleep "$SECONDS_TO_SAMPLE" >/dev/null 2>&1
wait $WRK
grep -E "Requests/sec|Latency" "$DATA/wrk.out"
perf script -i "$DATA/perf.data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph --title "repairledger: durable commands, 64 clients" > "$OUT"
echo "flamegraph: $OUT"

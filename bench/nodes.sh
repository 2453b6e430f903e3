#!/usr/bin/env bash
# Durable commands through the HTTP API on each backend, side by side in one run: one node on
# sled, one node on PostgreSQL, two nodes on one PostgreSQL (the load split between them, as a
# balancer would). Same lifecycle commands as bench/http.sh (bench/lifecycle.lua), 64 clients in
# all; requests/s summed over the nodes, p50/p99 from wrk, ratios against the sled node.
# Installs wrk and PostgreSQL (Debian) if missing. Usage: bench/nodes.sh [seconds, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_CASE=${1:-10}
command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
cargo build --release -q --locked -p repairledger
WORK=$(mktemp -d)
PGDIR=$(mktemp -d)  # its own: the cluster's owner must reach it
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  bash .ci/postgres.sh stop "$PGDIR"
  rm -rf "$WORK"
}
trap cleanup EXIT
URL=$(bash .ci/postgres.sh start "$PGDIR" "${PG_PORT:-55434}")
BIN=${CARGO_TARGET_DIR:-target}/release/repairledger
bash -c "$BIN keys new" > "$WORK/keys.toml"

start() { # name port [postgres schema]
  local name=$1 port=$2 schema=${3:-}
  if [ -n "$schema" ]; then
    REPAIRLEDGER_STORE=postgres REPAIRLEDGER_POSTGRES_URL="$URL" REPAIRLEDGER_POSTGRES_SCHEMA="$schema" \
    REPAIRLEDGER_PII_KEYS_FILE="$WORK/keys.toml" REPAIRLEDGER_RATE_PER_SECOND=0 RUST_LOG=warn \
      "$BIN" serve --bind "127.0.0.1:$port" --data "$WORK/$name" 2>"$WORK/$name.log" &
  else
    REPAIRLEDGER_PII_KEYS_FILE="$WORK/keys.toml" REPAIRLEDGER_RATE_PER_SECOND=0 RUST_LOG=warn \
      "$BIN" serve --bind "127.0.0.1:$port" --data "$WORK/$name" 2>"$WORK/$name.log" &
  fi
  PIDS+=($!)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
  echo "$name did not start"; cat "$WORK/$name.log"; exit 1
}

# wrk on each port at once, connections split; prints requests/s (sum), worst p50, worst p99.
load() { # prefix connections port...
  local prefix=$1 conns=$2; shift 2
  local per=$((conns / $#)) i=0
  for port in "$@"; do
    wrk -t1 -c"$per" -d"${SECONDS_PER_CASE}s" --latency -s bench/lifecycle.lua \
      "http://127.0.0.1:$port" -- "$prefix$i-" > "$WORK/wrk.$i" 2>"$WORK/wrk.$i.err" &
    i=$((i + 1))
  done
  wait  # load runs in a subshell: this waits for its wrk processes only
  python3 - "$WORK" "$i" <<'PY'
import re, sys
work, n = sys.argv[1], int(sys.argv[2])
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v); x = float(m.group(1))
    return x / 1000 if m.group(2) == "us" else x * 1000 if m.group(2) == "s" else x
rps = p50 = p99 = 0.0; non2xx = 0
for i in range(n):
    t = open(f"{work}/wrk.{i}").read()
    rps += float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    p50 = max(p50, ms(re.search(r"\n\s+50%\s+(\S+)", t).group(1)))
    p99 = max(p99, ms(re.search(r"\n\s+99%\s+(\S+)", t).group(1)))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", t); non2xx += int(m.group(1)) if m else 0
print(f"{rps:.0f} {p50:.2f} {p99:.2f} {non2xx}")
PY
}

start sled 18101
start pg1 18102 bench_one
start pg2a 18103 bench_two
start pg2b 18104 bench_two
printf '%-26s %12s %9s %9s %8s\n' case "requests/s" "p50 ms" "p99 ms" non-2xx
read -r s_rps s50 s99 sbad < <(load S 64 18101)
printf '%-26s %12s %9s %9s %8s\n' "sled, 1 node" "$s_rps" "$s50" "$s99" "$sbad"
read -r p_rps p50 p99 pbad < <(load P 64 18102)
printf '%-26s %12s %9s %9s %8s\n' "postgres, 1 node" "$p_rps" "$p50" "$p99" "$pbad"
read -r t_rps t50 t99 tbad < <(load T 64 18103 18104)
printf '%-26s %12s %9s %9s %8s\n' "postgres, 2 nodes" "$t_rps" "$t50" "$t99" "$tbad"
python3 -c "import sys; s,p,t=map(float,sys.argv[1:]); print(f'ratios to the sled node: postgres 1 node {p/s:.2f}x, 2 nodes {t/s:.2f}x; 2 nodes / 1 node {t/p:.2f}x')" "$s_rps" "$p_rps" "$t_rps"
for port in 18103 18104; do
  curl -sf -H 'Authorization: Bearer dev-token-auditor-readonly' "http://127.0.0.1:$port/v1/audit/verify" \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print("node", sys.argv[1], "sees", d["events_checked"], "events, head", d["head_hash"][:12], "intact" if d["intact"] else "BROKEN")' "$port"
done

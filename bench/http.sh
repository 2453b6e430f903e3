#!/usr/bin/env bash
# HTTP benchmarks, side by side in one run: durable commands and reads through the API against
# a hello-world JSON endpoint of the same binary (`/_bench/hello`), each reported with p50/p99
# and as a ratio to hello world. Needs wrk (installed from Debian if missing).
#
# Cases: hello world; a unit read (`GET /v1/units/{serial}`); the return lifecycle
# (bench/lifecycle.lua: open a return, hand over, sign, register: four durable commands on real
# units, round-robin); hello world again (the better of the two is the baseline).
# Usage: bench/http.sh [seconds per case, default 10] [connections, default 64]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_CASE=${1:-10}
CONNECTIONS=${2:-64}
PORT=${BENCH_PORT:-18080}

if ! command -v wrk >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
cargo build --release -q --locked -p repairledger
DATA=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
# No rate limit: the run measures the engine, not the throttle.
REPAIRLEDGER_RATE_PER_SECOND=0 RUST_LOG=warn "${CARGO_TARGET_DIR:-target}"/release/repairledger serve \
  --bind "127.0.0.1:$PORT" --data "$DATA/data" &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

# The unit the read case reads.
curl -sf -X POST "http://127.0.0.1:$PORT/v1/units/READ-1/returns" \
  -H 'Authorization: Bearer dev-token-field-receiver' -H 'Content-Type: application/json' \
  -d '{"return_id":"R-1","mode":"carried","customer":{"customer_id":"C-1","name":"Plant"},"product":{"model":"RD-40","production_date":"2025-09-01","warranty_end":"2027-09-01"},"form":{"fault_symptoms":"no output","site":"line 3","circumstances":"after a power cut","filled_by":"li.fr","unverifiable_reason":null},"customer_signature":{"name":"Plant","signed_at":"2026-03-02T08:00:00Z","evidence":{"kind":"typed","reason":"signed the paper handover form"}},"receiver_returned_at":"2026-03-02T07:30:00Z","customer_due_date":null}' >/dev/null

run() { # name, extra wrk args...
  local name=$1; shift
  local out
  out=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_CASE}s" --latency "$@" 2>"$DATA/wrk.err")
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%-22s %12s %10s %10s %8s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}"
  echo "$rps" > "$DATA/$name.rps"
  if [ "${non2xx:-0}" != 0 ]; then head -3 "$DATA/wrk.err"; fi
}

echo "HTTP, $CONNECTIONS connections, ${SECONDS_PER_CASE}s per case (wrk -t2, on the same cores as the server)"
printf '%-22s %12s %10s %10s %8s\n' case "requests/s" p50 p99 non-2xx
run hello "http://127.0.0.1:$PORT/_bench/hello"
run unit-read -H 'Authorization: Bearer dev-token-auditor-readonly' "http://127.0.0.1:$PORT/v1/units/READ-1"
run lifecycle -s bench/lifecycle.lua "http://127.0.0.1:$PORT" -- L
run hello-again "http://127.0.0.1:$PORT/_bench/hello"
# Latency against load: the same commands with fewer clients (BENCH_SWEEP="" skips it).
for c in ${BENCH_SWEEP-8 16 32}; do
  CONNECTIONS=$c run "lifecycle-c$c" -s bench/lifecycle.lua "http://127.0.0.1:$PORT" -- "C$c-"
done
echo "log: $(curl -sf -H 'Authorization: Bearer dev-token-auditor-readonly' "http://127.0.0.1:$PORT/v1/audit/verify" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["events_checked"], "events, chain", "intact" if d["first_broken"] is None else "BROKEN")')"
python3 - "$DATA" <<'PY'
import sys, pathlib
d = pathlib.Path(sys.argv[1])
r = {p.stem: float(p.read_text()) for p in d.glob("*.rps")}
hello = max(r["hello"], r["hello-again"])
print(f"ratios against hello world (the better hello run, {hello:.0f}/s):")
print(f"  unit reads: {r['unit-read'] / hello:.3f}x   durable lifecycle commands: {r['lifecycle'] / hello:.3f}x")
PY

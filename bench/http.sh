#!/usr/bin/env bash
# HTTP benchmarks, side by side in one run: commands and reads through the API against a
# hello-world JSON endpoint of the same binary. Needs wrk (installed from Debian if missing).
# Usage: bench/http.sh [seconds per case, default 10] [connections, default 64]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_CASE=${1:-10}
CONNECTIONS=${2:-64}
PORT=${BENCH_PORT:-18080}

if ! command -v wrk >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
cargo build --release -q
DATA=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
RUST_LOG=warn ./target/release/repairledger serve --bind "127.0.0.1:$PORT" --data "$DATA/data" &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

LUA=$(mktemp --suffix=.lua)
cat > "$LUA" <<'LUA'
-- Each request opens a return on a fresh unit: a durable command through the whole stack.
-- `thread_id` is a global that setup() gives each thread, so serials never collide.
local counter = 0
local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
end
local body = [[{"return_id":"R-1","mode":"carried","customer":{"customer_id":"C-1","name":"Plant"},
"product":{"model":"RD-40","production_date":"2025-09-01","warranty_end":"2027-09-01"},
"form":{"fault_symptoms":"no output","site":"line 3","circumstances":"after a power cut","filled_by":"li.fr","unverifiable_reason":null},
"customer_signature":null,"receiver_returned_at":null,"customer_due_date":null}]]
request = function()
  counter = counter + 1
  return wrk.format("POST", "/v1/units/B" .. thread_id .. "-" .. counter .. "/returns",
    {["Authorization"] = "Bearer dev-token-field-receiver", ["Content-Type"] = "application/json"}, body)
end
LUA

run() { # name, extra wrk args...
  local name=$1; shift
  local out
  out=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_CASE}s" --latency "$@")
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%-28s %12s %10s %10s %8s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}"
  echo "$rps" > "$DATA/$name.rps"
}

# The unit the read case reads.
curl -sf -X POST "http://127.0.0.1:$PORT/v1/units/READ-1/returns" \
  -H 'Authorization: Bearer dev-token-field-receiver' -H 'Content-Type: application/json' \
  -d "$(sed -n '/^local body = \[\[/,/\]\]$/p' "$LUA" | sed 's/^local body = \[\[//; s/\]\]$//')" >/dev/null

echo "HTTP, $CONNECTIONS connections, ${SECONDS_PER_CASE}s per case (wrk -t2)"
printf '%-28s %12s %10s %10s %8s\n' case "requests/s" p50 p99 non-2xx
run hello "http://127.0.0.1:$PORT/_bench/hello"
# Reads first: the commands case leaves tens of thousands of units whose background checkpoint
# would otherwise compete with the reads for the two cores.
run unit-read -H 'Authorization: Bearer dev-token-auditor-readonly' "http://127.0.0.1:$PORT/v1/units/READ-1"
run commands -s "$LUA" "http://127.0.0.1:$PORT"
run hello-again "http://127.0.0.1:$PORT/_bench/hello"
python3 - "$DATA" <<'PY'
import sys, pathlib
d = pathlib.Path(sys.argv[1])
r = {p.stem: float(p.read_text()) for p in d.glob("*.rps")}
hello = max(r["hello"], r["hello-again"])
print(f"ratios against hello world (best of the two hello runs, {hello:.0f}/s):")
print(f"  durable commands: {r['commands'] / hello:.3f}x   unit reads: {r['unit-read'] / hello:.3f}x")
PY

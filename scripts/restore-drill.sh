#!/usr/bin/env bash
# Restore drill: back up a running server while clients write, restore the backup into a new
# directory and prove the restored log is the original's prefix, hash for hash.
#
#   1. start the server on a fresh log; WRITERS clients open returns (each with an
#      Idempotency-Key) as fast as they can;
#   2. while they write: an online full export (GET /v1/export), then the clients stop and an
#      incremental export (?after=<last position of the full one>) takes the rest;
#   3. stop the server; `import` both files into a new directory, in order; `verify` it;
#   4. check: the full export's last position has the original log's hash at that position, the
#      restored head equals the original head (position and hash), every acknowledged command's
#      event is in the restored log, and a server started on the restored log is ready and
#      answers the same head.
#
# Usage: scripts/restore-drill.sh [path/to/repairledger]   (default: target/release/repairledger)
# Env: WRITERS (16), SECONDS_OF_LOAD (4), PORT (free port).
set -euo pipefail

BIN="${1:-target/release/repairledger}"
WRITERS="${WRITERS:-16}"
LOAD_SECONDS="${SECONDS_OF_LOAD:-4}"
PEOPLE="$(cd "$(dirname "$0")/.." && pwd)/fixtures/dev-people.toml"
WORK="$(mktemp -d)"
PORT="${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
BASE="http://127.0.0.1:$PORT"
TOKEN="dev-token-field-receiver"
AUDIT_TOKEN="dev-token-auditor-readonly"
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

start() { # data dir
  REPAIRLEDGER_BIND="127.0.0.1:$PORT" REPAIRLEDGER_DATA="$1" REPAIRLEDGER_PEOPLE="$PEOPLE" \
    REPAIRLEDGER_RATE_PER_SECOND=0 REPAIRLEDGER_LOG_FORMAT=json \
    "$BIN" serve >>"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 300); do
    if curl -sf "$BASE/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "the server did not become ready; its log:" >&2
  tail -20 "$WORK/server.log" >&2
  exit 1
}

stop() {
  kill -TERM "$SERVER"
  wait "$SERVER" || true
  SERVER=""
}

head_of() { # -> "position hash" of the running server's log
  curl -sf -H "Authorization: Bearer $AUDIT_TOKEN" "$BASE/v1/audit/verify" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["head_position"], r["head_hash"])'
}

writer() { # id: opens returns until $WORK/stop exists; one line per acknowledged command
  local id=$1 i=0
  while [ ! -f "$WORK/stop" ]; do
    i=$((i + 1))
    local now
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    local body
    body=$(printf '{"return_id":"R-%s-%s","mode":"carried","customer":{"customer_id":"C-1","name":"Plant"},"product":{"model":"RD-40","production_date":"2025-09-01","warranty_end":"2027-09-01"},"form":{"fault_symptoms":"no output","site":"line 3","circumstances":"after a power cut","filled_by":"li.fr","unverifiable_reason":null},"customer_signature":{"name":"Zhang San (customer)","signed_at":"%s","evidence":{"kind":"typed","reason":"the customer signed the paper handover form"}},"receiver_returned_at":"%s","customer_due_date":null}' "$id" "$i" "$now" "$now")
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/v1/units/DRILL-$id-$i/returns" \
      -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
      -H "Idempotency-Key: drill-$id-$i" -d "$body")
    if [ "$code" = 200 ] || [ "$code" = 201 ]; then echo "DRILL-$id-$i" >>"$WORK/acked-$id"; fi
  done
}

echo "== restore drill: $WRITERS writers, $LOAD_SECONDS s of load, binary $BIN"
start "$WORK/data"
for w in $(seq 1 "$WRITERS"); do writer "$w" & done
sleep 1
curl -sf -H "Authorization: Bearer $AUDIT_TOKEN" "$BASE/v1/export" >"$WORK/full.jsonl"
sleep "$LOAD_SECONDS"
touch "$WORK/stop"
wait $(jobs -p | grep -v "^$SERVER$") 2>/dev/null || true
LAST=$(tail -1 "$WORK/full.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["position"])')
HASH_AT_LAST=$(curl -sf -H "Authorization: Bearer $AUDIT_TOKEN" "$BASE/v1/events?after=$((LAST - 1))&limit=1" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["events"][0]["hash"])')
EXPORTED_HASH=$(tail -1 "$WORK/full.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash"])')
curl -sf -H "Authorization: Bearer $AUDIT_TOKEN" "$BASE/v1/export?after=$LAST" >"$WORK/incremental.jsonl"
read -r ORIG_POS ORIG_HASH < <(head_of)
ACKED=$(cat "$WORK"/acked-* 2>/dev/null | wc -l)
stop

"$BIN" import --data "$WORK/restored" --input "$WORK/full.jsonl" >/dev/null
"$BIN" import --data "$WORK/restored" --input "$WORK/incremental.jsonl" >/dev/null
"$BIN" verify --data "$WORK/restored" >"$WORK/verify.json"

start "$WORK/restored"
read -r REST_POS REST_HASH < <(head_of)
MISSING=0
for serial in $(cat "$WORK"/acked-* 2>/dev/null); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $AUDIT_TOKEN" "$BASE/v1/units/$serial")
  [ "$code" = 200 ] || MISSING=$((MISSING + 1))
done
stop

echo "full export ended at position $LAST while clients wrote; incremental export: $(wc -l <"$WORK/incremental.jsonl") events"
echo "commands acknowledged: $ACKED; missing from the restored log: $MISSING"
echo "original head:  $ORIG_POS $ORIG_HASH"
echo "restored head:  $REST_POS $REST_HASH"
fail=0
[ "$EXPORTED_HASH" = "$HASH_AT_LAST" ] || { echo "FAIL: the full export's last hash differs from the log's at $LAST"; fail=1; }
[ "$ORIG_POS $ORIG_HASH" = "$REST_POS $REST_HASH" ] || { echo "FAIL: the restored head differs"; fail=1; }
[ "$MISSING" = 0 ] || { echo "FAIL: $MISSING acknowledged commands are missing"; fail=1; }
[ "$ACKED" -gt 0 ] || { echo "FAIL: no command was acknowledged (is the load running?)"; fail=1; }
[ "$LAST" -lt "$ORIG_POS" ] || { echo "FAIL: the export did not overlap the load"; fail=1; }
if [ "$fail" = 0 ]; then echo "restore drill passed"; fi
exit "$fail"

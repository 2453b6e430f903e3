#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on loopback (installed from Debian if missing) and runs the append
# benchmark with the PostgreSQL peer beside the store. Usage: bench/pg.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq postgresql) >/dev/null
fi
BIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
PGDIR=$(mktemp -d)
chown postgres "$PGDIR"
PORT=${PG_PORT:-55432}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg "$BIN/initdb" -D "$PGDIR/data" -A trust -U postgres >/dev/null
as_pg "$BIN/pg_ctl" -D "$PGDIR/data" -o "-p $PORT -k $PGDIR -c listen_addresses=127.0.0.1" -l "$PGDIR/log" -w start >/dev/null
trap 'as_pg "$BIN/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null; rm -rf "$PGDIR"' EXIT
PG_URL="host=127.0.0.1 port=$PORT user=postgres dbname=postgres" cargo bench -p repairledger-store --bench append

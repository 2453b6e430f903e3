#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on loopback (.ci/postgres.sh; installed from Debian if missing)
# and runs the append benchmark with the PostgreSQL cases beside the sled ones: the plain
# PostgreSQL peer, and this engine's PostgreSQL backend on one and on two nodes.
# Usage: bench/pg.sh [criterion filter]
set -euo pipefail
cd "$(dirname "$0")/.."
PGDIR=$(mktemp -d)
trap 'bash .ci/postgres.sh stop "$PGDIR"' EXIT
PG_URL=$(bash .ci/postgres.sh start "$PGDIR" "${PG_PORT:-55432}")
PG_URL="$PG_URL" cargo bench -p repairledger-store --bench append -- "$@"

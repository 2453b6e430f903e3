#!/usr/bin/env bash
# A throwaway PostgreSQL on loopback for tests and benchmarks; Debian's package is installed if
# no server binaries are found.
#   .ci/postgres.sh start DIR [PORT]   initdb in DIR, start, print the connection string
#   .ci/postgres.sh stop DIR           stop it and remove DIR
set -euo pipefail
action=${1:?start or stop}
dir=${2:?a directory for the cluster}
port=${3:-55432}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
find_bin() { ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1; }
case "$action" in
  start)
    if [ -z "$(find_bin)" ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null
    fi
    bin=$(dirname "$(find_bin)")
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
    as_pg "$bin/pg_ctl" -D "$dir/data" -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" \
      -l "$dir/log" -w start >/dev/null
    echo "host=127.0.0.1 port=$port user=postgres dbname=postgres"
    ;;
  stop)
    bin=$(dirname "$(find_bin)")
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2 ;;
esac

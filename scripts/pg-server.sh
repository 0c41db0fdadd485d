#!/usr/bin/env bash
# A throwaway Postgres 15 server for tests, on 127.0.0.1 only.
#
#   scripts/pg-server.sh start   STATE_DIR   init (first time) and start; prints the url
#   scripts/pg-server.sh stop    STATE_DIR   stop the server, keep its data (start resumes it)
#   scripts/pg-server.sh destroy STATE_DIR   stop it and remove its data and STATE_DIR
#   scripts/pg-server.sh url     STATE_DIR   print the url of a started server
#
# STATE_DIR (created if needed) holds what the tests read:
#   url    postgresql://postgres@127.0.0.1:<port>   (no database: append /<name>)
#   port   the port, chosen at the first start and kept across stop/start
#   data   the path of the server's own directory (data dir, socket dir, log)
# The server's directory lives under /tmp and belongs to the `postgres` user
# (initdb and the server refuse to run as root). Authentication is `trust`,
# which is fine for a loopback-only server holding test data. fsync is off:
# these are test databases, thrown away with the directory (PG_FSYNC=on below
# turns it on).
#
# Env: PG_BIN (default /usr/lib/postgresql/15/bin); PG_FSYNC=on for a server
# that flushes like a real one (fsync and full_page_writes; the benchmarks).
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_FSYNC=${PG_FSYNC:-off}
cmd=${1:-}
state=${2:-}
if [[ -z "$cmd" || -z "$state" ]]; then
  echo "usage: $0 start|stop|destroy|url STATE_DIR" >&2
  exit 2
fi
if [[ ! -x "$PG_BIN/initdb" ]]; then
  echo "pg-server: no Postgres 15 at $PG_BIN (scripts/setup.sh installs postgresql-15)" >&2
  exit 1
fi

# Runs a command as the postgres user when we are root; as ourselves otherwise.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

server_dir() { [[ -f "$state/data" ]] && cat "$state/data"; }

running() {
  local dir
  dir=$(server_dir) || return 1
  [[ -d "$dir/pgdata" ]] && as_pg "$PG_BIN/pg_ctl" status -D "$dir/pgdata" >/dev/null 2>&1
}

start() {
  mkdir -p "$state"
  local dir
  if ! dir=$(server_dir) || [[ ! -d "$dir/pgdata" ]]; then
    dir=$(mktemp -d /tmp/omni-pg-XXXXXX)
    mkdir -p "$dir/socket"
    if [[ $(id -u) -eq 0 ]]; then chown -R postgres:postgres "$dir"; fi
    as_pg "$PG_BIN/initdb" -D "$dir/pgdata" -U postgres --auth=trust --encoding=UTF8 \
      --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      exit 1
    }
    echo "$dir" >"$state/data"
    rm -f "$state/port"
  fi
  if running; then
    cat "$state/url"
    return
  fi
  # The port of an earlier start is kept (a restarted server is found at the
  # same url); a first start tries random free ports until one binds.
  local ports=()
  if [[ -f "$state/port" ]]; then
    ports=("$(cat "$state/port")")
  else
    for _ in 1 2 3 4 5 6 7 8; do ports+=($((20000 + RANDOM % 20000))); done
  fi
  local port
  for port in "${ports[@]}"; do
    if as_pg "$PG_BIN/pg_ctl" start -w -t 30 -D "$dir/pgdata" -l "$dir/server.log" \
      -o "-p $port -k $dir/socket -c listen_addresses=127.0.0.1 -c fsync=$PG_FSYNC \
-c full_page_writes=$PG_FSYNC -c max_connections=200" >/dev/null 2>&1; then
      echo "$port" >"$state/port"
      echo "postgresql://postgres@127.0.0.1:$port" >"$state/url"
      cat "$state/url"
      return
    fi
  done
  echo "pg-server: could not start Postgres (tried ports ${ports[*]}); log:" >&2
  tail -n 20 "$dir/server.log" >&2 || true
  exit 1
}

stop() {
  local dir
  dir=$(server_dir) || return 0
  if running; then
    as_pg "$PG_BIN/pg_ctl" stop -w -t 30 -m fast -D "$dir/pgdata" >/dev/null
  fi
}

destroy() {
  local dir
  stop
  if dir=$(server_dir); then
    case "$dir" in /tmp/omni-pg-*) rm -rf "$dir" ;; esac
  fi
  rm -rf "$state"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  destroy) destroy ;;
  url) cat "$state/url" ;;
  *)
    echo "usage: $0 start|stop|destroy|url STATE_DIR" >&2
    exit 2
    ;;
esac

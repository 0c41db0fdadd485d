#!/usr/bin/env bash
# A local cell of three control-plane replicas for trying failover by hand
# (docs/knowledge-base/deployment.md): one throwaway Postgres 15, one bus
# (Redis Streams or Kafka), three `controlplane` processes sharing the
# cell's signing key, all on 127.0.0.1.
#
#   scripts/local-cell.sh start   DIR [redis|kafka]   (default redis); again: starts
#                                                     whatever is not running
#   scripts/local-cell.sh stop    DIR                 stop everything, keep the data
#   scripts/local-cell.sh destroy DIR                 stop and remove DIR
#
# Replica a, b, c: gRPC 127.0.0.1:17441..17443, REST 127.0.0.1:17481..17483
# (CELL_PORT_BASE=17440 moves them). Their data dirs, logs and pids are in
# DIR/a, DIR/b, DIR/c; the admin token is DIR/a/admin.token. Needs a release
# build (./scripts/build.sh release) and scripts/setup.sh's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cmd=${1:-}
dir=${2:-}
bus_kind=${3:-redis}
base=${CELL_PORT_BASE:-17440}
cp_bin=${CONTROLPLANE_BIN:-$root/build/release/src/controlplane/controlplane}
usage() {
  echo "usage: $0 start DIR [redis|kafka] | stop DIR | destroy DIR" >&2
  exit 2
}
[[ -n "$cmd" && -n "$dir" ]] || usage

replica_ports() { # index -> "grpc http"
  echo "$((base + 1 + $1)) $((base + 41 + $1))"
}

stop_replicas() {
  for name in a b c; do
    local pidfile="$dir/$name/controlplane.pid"
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      kill -TERM "$(cat "$pidfile")"
      while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$pidfile"
  done
}

stop_all() {
  stop_replicas
  if [[ -f "$dir/redis.pid" ]] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
    kill -TERM "$(cat "$dir/redis.pid")"
  fi
  [[ -d "$dir/kafka" ]] && scripts/kafka-server.sh stop "$dir/kafka"
  [[ -d "$dir/pg" ]] && scripts/pg-server.sh stop "$dir/pg"
  return 0
}

start() {
  [[ -x "$cp_bin" ]] || {
    echo "local-cell: no $cp_bin; build it: ./scripts/build.sh release" >&2
    exit 1
  }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local pg_url
  pg_url=$(scripts/pg-server.sh start "$dir/pg")
  psql -q "$pg_url/postgres" -tc "SELECT 1 FROM pg_database WHERE datname = 'omni'" | grep -q 1 ||
    psql -q "$pg_url/postgres" -c "CREATE DATABASE omni" >/dev/null
  local bus=() port
  case "$bus_kind" in
    redis)
      port=$((base + 79))
      mkdir -p "$dir/redis"
      [[ -f "$dir/redis.pid" ]] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null ||
        redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/redis" --appendonly yes \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis/redis.log"
      bus=(--bus "redis://127.0.0.1:$port/omni-events")
      ;;
    kafka)
      bus=(--bus "kafka://$(scripts/kafka-server.sh start "$dir/kafka")/omni-events"
        --bus-opt api.version.request=false --bus-opt broker.version.fallback=0.9.0.1)
      ;;
    *) usage ;;
  esac
  local i=0 name
  for name in a b c; do
    read -r grpc http < <(replica_ports "$i")
    mkdir -p "$dir/$name"
    chmod 700 "$dir/$name"
    # The cell's one signing key: made by the first replica's first start,
    # provisioned to the others before theirs.
    if [[ "$name" != a && ! -f "$dir/$name/signing-key.pem" ]]; then
      install -m 600 "$dir/a/signing-key.pem" "$dir/a/trusted-keys.json" "$dir/$name/"
    fi
    if curl -sf "http://127.0.0.1:$http/readyz" >/dev/null 2>&1; then
      echo "replica $name: running (gRPC 127.0.0.1:$grpc  REST 127.0.0.1:$http)"
      i=$((i + 1))
      continue
    fi
    "$cp_bin" --data-dir "$dir/$name" --store "$pg_url/omni" "${bus[@]}" \
      --grpc-listen "127.0.0.1:$grpc" --http-listen "127.0.0.1:$http" \
      >>"$dir/$name/controlplane.log" 2>&1 &
    echo $! >"$dir/$name/controlplane.pid"
    local deadline=$((SECONDS + 30))
    until curl -sf "http://127.0.0.1:$http/readyz" >/dev/null; do
      if ! kill -0 "$(cat "$dir/$name/controlplane.pid")" 2>/dev/null || ((SECONDS > deadline)); then
        echo "local-cell: replica $name did not start; its log:" >&2
        tail -n 20 "$dir/$name/controlplane.log" >&2
        exit 1
      fi
      sleep 0.2
    done
    echo "replica $name: gRPC 127.0.0.1:$grpc  REST 127.0.0.1:$http  (log $dir/$name/controlplane.log)"
    i=$((i + 1))
  done
  echo "store: $pg_url/omni   bus: ${bus[1]}"
  echo "admin token: $dir/a/admin.token   trusted keys for nodes: $dir/a/trusted-keys.json"
}

case "$cmd" in
  start) start ;;
  stop) stop_all ;;
  destroy)
    stop_all
    [[ -d "$dir/kafka" ]] && scripts/kafka-server.sh destroy "$dir/kafka"
    [[ -d "$dir/pg" ]] && scripts/pg-server.sh destroy "$dir/pg"
    rm -rf "$dir"
    ;;
  *) usage ;;
esac

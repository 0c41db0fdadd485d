#!/usr/bin/env bash
# Fan-out over a cell of replicas (docs/benchmarks.md): a throwaway Postgres
# 15 (fsync on) and a bus — redis (a redis-server on a free loopback port) or
# kafka (scripts/kafka-server.sh) — then bench_fanout with one replica and
# with two on that store and bus, the same nodes and rounds. Prints both runs'
# output (each ends with a JSON line); removes the servers.
#   bench/fanout_replicas.sh redis|kafka [NODES=5000] [ROUNDS=10]
set -euo pipefail
cd "$(dirname "$0")/.."
bus_kind=${1:?usage: bench/fanout_replicas.sh redis|kafka [NODES] [ROUNDS]}
nodes=${2:-5000}
rounds=${3:-10}
bin=${BENCH_BIN:-build/release/bench/bench_fanout}
[[ -x "$bin" ]] || {
  echo "build it first: ./scripts/build.sh release bench_fanout" >&2
  exit 1
}
state=$(mktemp -d /tmp/omni-fanout-XXXXXX)
cleanup() {
  [[ -f "$state/redis.pid" ]] && kill "$(cat "$state/redis.pid")" 2>/dev/null
  [[ -d "$state/kafka" ]] && scripts/kafka-server.sh destroy "$state/kafka" >/dev/null 2>&1
  scripts/pg-server.sh destroy "$state/pg" >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT
url=$(PG_FSYNC=on scripts/pg-server.sh start "$state/pg")
bus_args=()
case "$bus_kind" in
  redis)
    port=$((20000 + RANDOM % 10000))
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
      --pidfile "$state/redis.pid" --logfile "$state/redis.log"
    sleep 0.3
    bus_args=(--replica-arg "--bus=redis://127.0.0.1:$port/events")
    ;;
  kafka)
    brokers=$(scripts/kafka-server.sh start "$state/kafka")
    bus_args=(--replica-arg "--bus=kafka://$brokers/events"
      --replica-arg "--bus-opt=api.version.request=false"
      --replica-arg "--bus-opt=broker.version.fallback=0.9.0.1")
    ;;
  *)
    echo "bus: redis or kafka" >&2
    exit 2
    ;;
esac
for replicas in 1 2; do
  db=fanout_$replicas
  psql -q "$url/postgres" -c "CREATE DATABASE $db" >/dev/null
  echo "== $replicas replica(s), Postgres + $bus_kind"
  "$bin" --nodes "$nodes" --rounds "$rounds" --verify distinct --replicas "$replicas" \
    --replica-arg "--store=$url/$db" "${bus_args[@]}"
done

#!/usr/bin/env bash
# CAS writes/s through the API on Postgres next to pgbench's simple-update on
# the same server in the same run (docs/benchmarks.md). Starts a throwaway
# Postgres 15 with fsync on (scripts/pg-server.sh, PG_FSYNC=on) on loopback,
# runs for each client count N:
#   pgbench -b simple-update -c N -j min(N,2) -T SECONDS   (scale 1)
#   bench_cas_writes --store postgres://.../omni_bench_N --writers N --seconds SECONDS
#                    --client ${BENCH_CLIENT:-raw}   (raw, or httplib: bench_cas_writes.cc)
# (a fresh database per run; its transaction count from pg_stat_database is
# added to the result as store_commits and store_commits_per_write)
# and prints one JSON object per run, then the ratio per N; removes the server.
#   bench/pg_cas_vs_pgbench.sh [SECONDS=10] [CLIENTS=1,8]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
clients=${2:-1,8}
bin=${BENCH_BIN:-build/release/bench/bench_cas_writes}
client=${BENCH_CLIENT:-raw}
[[ -x "$bin" ]] || {
  echo "build it first: ./scripts/build.sh release bench_cas_writes" >&2
  exit 1
}
state=$(mktemp -d /tmp/omni-pgbench-XXXXXX)
trap 'scripts/pg-server.sh destroy "$state" >/dev/null 2>&1 || true' EXIT
url=$(PG_FSYNC=on scripts/pg-server.sh start "$state")
psql -q "$url/postgres" -c "CREATE DATABASE pgbench" >/dev/null
pgbench -q -i -s 1 "$url/pgbench" >/dev/null 2>&1

declare -A ours theirs
IFS=, read -r -a counts <<<"$clients"
for n in "${counts[@]}"; do
  threads=$((n < 2 ? n : 2))
  tps=$(pgbench -b simple-update -c "$n" -j "$threads" -T "$seconds" "$url/pgbench" 2>/dev/null |
    sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
  theirs[$n]=$tps
  echo "{\"benchmark\":\"pgbench_simple_update\",\"clients\":$n,\"seconds\":$seconds,\"tps\":$tps}"
  psql -q "$url/postgres" -c "CREATE DATABASE omni_bench_$n" >/dev/null  # a fresh store per run
  line=$("$bin" --store "$url/omni_bench_$n" --writers "$n" --seconds "$seconds" --client "$client")
  commits=$(psql -Atq "$url/postgres" -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'omni_bench_$n'")
  line=$(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); j["store_commits"]=int(sys.argv[2]); j["store_commits_per_write"]=round(int(sys.argv[2])/max(j["writes"],1),2); print(json.dumps(j,separators=(",",":")))' "$line" "$commits")
  echo "$line"
  ours[$n]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["writes_per_second"])' "$line")
done
for n in "${counts[@]}"; do
  python3 -c 'import sys; n,o,t=sys.argv[1:]; print("{\"benchmark\":\"cas_vs_pgbench\",\"clients\":%s,\"ratio\":%.2f}" % (n, float(o)/float(t)))' \
    "$n" "${ours[$n]}" "${theirs[$n]}"
done

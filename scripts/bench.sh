#!/usr/bin/env bash
# Builds the release preset and runs every Google Benchmark program, writing
# one JSON file per program to out/bench/ and a short table to stdout.
# Benchmarks touch only this process's memory (and, for later network
# benchmarks, loopback), and stop by themselves.
#   scripts/bench.sh [name-filter]     e.g. scripts/bench.sh envelope
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
./scripts/build.sh release >/dev/null
mkdir -p out/bench
filter=${1:-}
# Load generators (own flags, JSON lines on stdout) and the runs that
# reproduce docs/benchmarks.md; every other bench_* is a Google Benchmark.
declare -A LOADGEN_RUNS=(
  [bench_cas_writes]="--seconds 5 --writers 1,4,8"
  [bench_chain_validation]="--iterations 20"
  [bench_fanout]="--nodes 1000 --rounds 20 --verify every|--nodes 1000 --rounds 20 --verify distinct|--nodes 5000 --rounds 20 --verify every|--nodes 5000 --rounds 20 --verify distinct"
  [bench_rollout_waves]="--nodes 5000 --rounds 10"
)
for bin in build/release/bench/bench_*; do
  name=$(basename "$bin")
  [[ -n $filter && $name != *"$filter"* ]] && continue
  if [[ -n ${LOADGEN_RUNS[$name]:-} ]]; then
    IFS='|' read -ra runs <<<"${LOADGEN_RUNS[$name]}"
    : >"out/bench/$name.json"
    for args in "${runs[@]}"; do
      echo "== $name $args"
      # shellcheck disable=SC2086 # args are words on purpose
      "$bin" $args | tee /dev/stderr | grep '^{' >>"out/bench/$name.json"
    done
    continue
  fi
  echo "== $name"
  "$bin" --benchmark_out="out/bench/$name.json" \
    --benchmark_out_format=json --benchmark_repetitions="${OMNI_BENCH_REPETITIONS:-5}" \
    --benchmark_report_aggregates_only=true --benchmark_format=console
done
echo "JSON results: out/bench/"

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
for bin in build/release/bench/bench_*; do
  name=$(basename "$bin")
  [[ -n $filter && $name != *"$filter"* ]] && continue
  echo "== $name"
  "$bin" --benchmark_out="out/bench/$name.json" \
    --benchmark_out_format=json --benchmark_repetitions="${OMNI_BENCH_REPETITIONS:-5}" \
    --benchmark_report_aggregates_only=true --benchmark_format=console
done
echo "JSON results: out/bench/"

// Decode (strict parse + schema) and graph validation of a 1 MiB Snapshot:
// the work a node does on every candidate snapshot. Target: <= 10 ms.
#include <benchmark/benchmark.h>

#include "bench_fixtures.h"
#include "omnirelay/config/validate.h"

namespace omnirelay::bench {
namespace {

void BM_DecodeAndValidateSnapshot(benchmark::State& state) {
  const std::string doc = MakeSnapshotJson(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto snap = DecodeAndValidateSnapshot(doc);
    if (!snap.ok()) {
      state.SkipWithError(snap.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(snap);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * doc.size()));
  state.counters["doc_bytes"] = static_cast<double>(doc.size());
}
BENCHMARK(BM_DecodeAndValidateSnapshot)->Arg(1 << 20)->Arg(64 << 10)->Unit(benchmark::kMillisecond);

// Decode alone, to split the figure.
void BM_DecodeSnapshot(benchmark::State& state) {
  const std::string doc = MakeSnapshotJson(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto snap = DecodeSnapshot(doc);
    benchmark::DoNotOptimize(snap);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * doc.size()));
}
BENCHMARK(BM_DecodeSnapshot)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace omnirelay::bench

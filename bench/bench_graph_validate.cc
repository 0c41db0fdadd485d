// Graph validation of a generated spec of 10,000 clusters and 100,000 routes.
// Target: <= 100 ms.
#include <benchmark/benchmark.h>

#include "bench_fixtures.h"
#include "omnirelay/config/validate.h"

namespace omnirelay::bench {
namespace {

void BM_ValidateGraph(benchmark::State& state) {
  const Spec spec =
      MakeSpec(static_cast<std::size_t>(state.range(0)), static_cast<std::size_t>(state.range(1)));
  for (auto _ : state) {
    auto diags = ValidateSpec(spec);
    if (!diags.empty()) {
      state.SkipWithError(diags[0].message.c_str());
      break;
    }
    benchmark::DoNotOptimize(diags);
  }
  state.counters["clusters"] = static_cast<double>(state.range(0));
  state.counters["routes"] = static_cast<double>(state.range(1));
}
BENCHMARK(BM_ValidateGraph)
    ->Args({10'000, 100'000})
    ->Args({1'000, 10'000})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace omnirelay::bench

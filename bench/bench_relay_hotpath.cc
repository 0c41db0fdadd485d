// The request hot path of a relay node: reading the current snapshot
// (ConfigHost::Current(): per-thread cache checked against an atomic
// generation) against the std::atomic<std::shared_ptr> baseline, at 1 and 2
// threads; plus one routing decision on the snapshot read.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/validate.h"
#include "omnirelay/relay/config_host.h"
#include "omnirelay/relay/router.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay {
namespace {

struct HotPathFixture {
  HotPathFixture() : host(ConfigHostOptions{}, clock, metrics) {
    auto attached = Router::Attach(host);
    if (!attached.ok()) std::abort();
    router = std::make_unique<Router>(*attached);
    auto snapshot = DecodeAndValidateSnapshot(testing::SnapshotDoc(1).dump());
    if (!snapshot.ok() || !host.ApplyDecodedForTest(std::move(snapshot).value()).ok()) {
      std::abort();
    }
    baseline.store(host.Current());
  }

  FakeClock clock;
  MetricsRegistry metrics;
  ConfigHost host;
  std::unique_ptr<Router> router;
  std::atomic<std::shared_ptr<const AppliedSnapshot>> baseline;
};

HotPathFixture& Fixture() {
  static HotPathFixture* fixture = new HotPathFixture();  // shared by all threads, never freed
  return *fixture;
}

// ConfigHost::Current() and a field read: no lock, nothing shared written.
void BM_ConfigHostCurrent(benchmark::State& state) {
  const ConfigHost& host = Fixture().host;
  for (auto _ : state) {
    const auto& snapshot = host.Current();
    benchmark::DoNotOptimize(snapshot->version());
  }
}
BENCHMARK(BM_ConfigHostCurrent)->Threads(1)->Threads(2);

// Baseline: std::atomic<std::shared_ptr>::load() (libstdc++ 12: a lock bit on
// the atomic plus a reference count increment and decrement per read).
void BM_AtomicSharedPtrLoad(benchmark::State& state) {
  const auto& baseline = Fixture().baseline;
  for (auto _ : state) {
    std::shared_ptr<const AppliedSnapshot> snapshot = baseline.load();
    benchmark::DoNotOptimize(snapshot->version());
  }
}
BENCHMARK(BM_AtomicSharedPtrLoad)->Threads(1)->Threads(2);

// Current() copied into an owning shared_ptr (what `auto s = host.Current()`
// costs): the reference count is a shared cache line again.
void BM_ConfigHostCurrentCopy(benchmark::State& state) {
  const ConfigHost& host = Fixture().host;
  for (auto _ : state) {
    std::shared_ptr<const AppliedSnapshot> snapshot = host.Current();
    benchmark::DoNotOptimize(snapshot->version());
  }
}
BENCHMARK(BM_ConfigHostCurrentCopy)->Threads(1)->Threads(2);

// A whole routing decision: Current(), route lookup, weighted choice, shadow.
void BM_RouteRequest(benchmark::State& state) {
  HotPathFixture& f = Fixture();
  const std::string key = "request-" + std::to_string(state.thread_index());
  for (auto _ : state) {
    const auto& snapshot = f.host.Current();
    auto decision = f.router->Route(*snapshot, "billing", key);
    benchmark::DoNotOptimize(decision->cluster.data());
  }
}
BENCHMARK(BM_RouteRequest)->Threads(1)->Threads(2);

}  // namespace
}  // namespace omnirelay::relay

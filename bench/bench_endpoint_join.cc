// MeshKit endpoints on the relay's request path (issue "MeshKit discovery",
// item 7): one routing decision joined with 10,000 endpoints (target
// <= 100 ns/op, no allocation; with and without bridge rules), and applying a delta of 1,000
// endpoints to a 10,000-endpoint table (target <= 1 ms).
//   build/release/bench/bench_endpoint_join --benchmark_format=json
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "omnirelay/config/metrics.h"
#include "omnirelay/config/validate.h"
#include "omnirelay/meshkit/endpoints.h"
#include "omnirelay/relay/endpoint_join.h"
#include "omnirelay/relay/router.h"
#include "snapshot_fixtures.h"

// Counts allocations, to show the join allocates nothing per request (the
// replacement pairs malloc with free: -Wno-mismatched-new-delete in CMake).
static std::atomic<std::uint64_t> g_allocations{0};
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

using namespace omnirelay;

meshkit::Endpoint Member(int i, const std::string& cluster, meshkit::Health health) {
  meshkit::Endpoint e;
  e.member_id = "m-" + std::to_string(i);
  e.address = "10." + std::to_string(i / 65536 % 256) + "." + std::to_string(i / 256 % 256) + "." +
              std::to_string(i % 256);
  e.port = 8443;
  e.service = "billing";
  e.cluster = cluster;
  e.weight = 1 + static_cast<std::uint32_t>(i % 3);
  e.health = health;
  return e;
}

// 10,000 endpoints over the fixture's four billing clusters (40/30/20/10 %).
// Arg 0: no cell, bridge rules not applied. Arg 1: the relay in the
// fixture's cell use1-a, its bridge exporting billing, counted in a
// registry: the same local decisions, and the 5 % shadow to billing-dr
// crosses the bridge (one relaxed atomic add each).
void BM_RouteJoinedWith10kEndpoints(benchmark::State& state) {
  relay::testing::Json doc = relay::testing::SnapshotDoc(1);
  doc["spec"]["topology"]["bridges"]["use1-euw1"]["exportServices"] = {"auth", "billing"};
  auto snapshot = DecodeAndValidateSnapshot(doc.dump());
  MetricsRegistry metrics;
  relay::RoutingOptions options;
  if (state.range(0) == 1) options = {"use1-a", &metrics, "bench"};
  auto table = relay::RoutingTable::Build(snapshot->spec, options);
  const char* clusters[] = {"billing-v1", "billing-v2", "billing-dr", "billing-eu"};
  std::vector<meshkit::Endpoint> endpoints;
  for (int i = 0; i < 10'000; ++i) {
    const int c = i < 4000 ? 0 : i < 7000 ? 1 : i < 9000 ? 2 : 3;
    endpoints.push_back(Member(i, clusters[c], meshkit::Health::kHealthy));
  }
  meshkit::EndpointTable feed;
  (void)feed.ApplySnapshot("bench", 1, std::move(endpoints));
  const auto set = feed.current();
  std::vector<std::string> keys;
  for (int i = 0; i < 4096; ++i) keys.push_back("user-" + std::to_string(i));
  std::size_t k = 0;
  const std::uint64_t allocations_before = g_allocations.load();
  for (auto _ : state) {
    const std::string& key = keys[k++ & 4095];
    auto decision = table->Route("billing", key);
    auto choice = relay::JoinEndpoints(*decision, *set);
    benchmark::DoNotOptimize(choice->endpoint);
  }
  state.counters["allocations_per_op"] =
      benchmark::Counter(static_cast<double>(g_allocations.load() - allocations_before) /
                         static_cast<double>(state.iterations()));
}
BENCHMARK(BM_RouteJoinedWith10kEndpoints)->Arg(0)->Arg(1);

// The decision alone (weights, failover order, shadow), for comparison.
void BM_RouteDecisionOnly(benchmark::State& state) {
  auto snapshot = DecodeAndValidateSnapshot(relay::testing::SnapshotDoc(1).dump());
  auto table = relay::RoutingTable::Build(snapshot->spec);
  std::vector<std::string> keys;
  for (int i = 0; i < 4096; ++i) keys.push_back("user-" + std::to_string(i));
  std::size_t k = 0;
  for (auto _ : state) {
    auto decision = table->Route("billing", keys[k++ & 4095]);
    benchmark::DoNotOptimize(decision->cluster);
  }
}
BENCHMARK(BM_RouteDecisionOnly);

// A table of 10,000 endpoints in 100 clusters; each delta upserts 1,000
// members spread over all 100 clusters (every cluster rebuilt: the worst
// case), alternating their health so each one changes something.
void BM_ApplyDelta1kOf10k(benchmark::State& state) {
  std::vector<meshkit::Endpoint> endpoints;
  for (int i = 0; i < 10'000; ++i) {
    endpoints.push_back(Member(i, "c-" + std::to_string(i % 100), meshkit::Health::kHealthy));
  }
  meshkit::EndpointTable feed;
  (void)feed.ApplySnapshot("bench", 1, endpoints);
  std::vector<meshkit::EndpointsDelta> deltas(2);
  for (int d = 0; d < 2; ++d) {
    for (int i = 0; i < 1000; ++i) {
      deltas[d].upserted.push_back(
          Member(i * 10, "c-" + std::to_string(i * 10 % 100),
                 d == 0 ? meshkit::Health::kUnhealthy : meshkit::Health::kHealthy));
    }
  }
  std::uint64_t generation = 1;
  for (auto _ : state) {
    meshkit::EndpointsDelta& delta = deltas[generation % 2 == 1 ? 0 : 1];
    delta.base_generation = generation;
    delta.generation = ++generation;
    const Status applied = feed.ApplyDelta(delta);
    if (!applied.ok()) state.SkipWithError(applied.ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_ApplyDelta1kOf10k)->Unit(benchmark::kMicrosecond);

}  // namespace

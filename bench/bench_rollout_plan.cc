// Rollout engine core per tick for 10,000 nodes (src/controlplane/rollout_*.h):
// planning the waves, and one gate tick of a wave holding every node (the
// last wave: the biggest evaluation a tick makes). Target: <= 5 ms together.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "rollout_plan.h"
#include "rollout_state.h"

namespace omnirelay::cp {
namespace {

constexpr std::int64_t kNow = 1'800'000'000'000;

std::vector<RolloutMember> Fleet(int n) {
  std::vector<RolloutMember> members;
  members.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const std::string id = "node-" + std::to_string(i) + ".example";
    const std::string region = "r" + std::to_string(i % 4);
    const std::string cell = region + "-c" + std::to_string(i % 16);
    members.push_back(
        {{id, ParseScopeChain("global,region:" + region + ",cell:" + cell + ",node:" + id).value()},
         41});
  }
  return members;
}

RolloutPolicy Policy() {
  RolloutPolicy p;
  p.scope_waves = {{ParseScope("cell:r0-c0").value()}, {ParseScope("region:r1").value()}};
  return p;
}

NodeReports Reports(const std::vector<RolloutMember>& members, std::int64_t version) {
  NodeReports reports;
  reports.reserve(members.size());
  for (const auto& m : members) {
    NodeReport r;
    r.connected = true;
    r.applied_version = r.acked_version = version;
    r.has_discovery_generation = true;
    r.discovery_generation = 7;
    r.slo.requests = 1000;
    r.slo.errors = 2;
    r.slo.latency.Record(12, 900);
    r.slo.latency.Record(80, 100);
    reports.emplace(m.node.id, r);
  }
  return reports;
}

void BM_PlanWaves(benchmark::State& state) {
  const auto members = Fleet(static_cast<int>(state.range(0)));
  std::vector<RolloutNode> nodes;
  for (const auto& m : members) nodes.push_back(m.node);
  const RolloutPolicy policy = Policy();
  for (auto _ : state) {
    WavePlan plan = PlanWaves(nodes, policy, "rollout-1");
    benchmark::DoNotOptimize(plan);
  }
  state.counters["nodes"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_PlanWaves)->Arg(10'000)->Unit(benchmark::kMillisecond);

// One tick of the last wave: every node's report read, the wave's windows
// merged, the baseline computed; a held verdict (bake), so the state stays.
void BM_GateTick(benchmark::State& state) {
  const auto members = Fleet(static_cast<int>(state.range(0)));
  RolloutPolicy policy = Policy();
  policy.canary_percent = 0;
  policy.scope_waves.clear();
  policy.bake_ms = std::int64_t{1} << 40;
  auto created = CreateRollout("rollout-1", policy, members, 42, Reports(members, 41), kNow);
  RolloutState s = *std::move(created);
  (void)StartRollout(s, kNow);
  const NodeReports reports = Reports(members, 42);
  for (auto _ : state) {
    TickResult t = TickRollout(s, kNow + 1000, reports);
    if (t.verdict.gate != "bake") {
      state.SkipWithError(t.verdict.message.c_str());
      break;
    }
    benchmark::DoNotOptimize(t);
  }
  state.counters["nodes"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_GateTick)->Arg(10'000)->Unit(benchmark::kMillisecond);

// Both, as a driver doing a full re-plan and a tick would.
void BM_PlanAndTick(benchmark::State& state) {
  const auto members = Fleet(static_cast<int>(state.range(0)));
  RolloutPolicy policy = Policy();
  policy.bake_ms = std::int64_t{1} << 40;
  const NodeReports before = Reports(members, 41);
  const NodeReports after = Reports(members, 42);
  for (auto _ : state) {
    auto created = CreateRollout("rollout-1", policy, members, 42, before, kNow);
    RolloutState s = *std::move(created);
    (void)StartRollout(s, kNow);
    TickResult t = TickRollout(s, kNow + 1000, after);
    benchmark::DoNotOptimize(t);
  }
  state.counters["nodes"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_PlanAndTick)->Arg(10'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace omnirelay::cp

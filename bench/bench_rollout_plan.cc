// Rollout engine core for 10,000 nodes (src/controlplane/rollout_*.h):
// planning a rollout (waves, assignments, per-wave baselines: CreateRollout
// and StartRollout), and one gate tick of a wave holding every node (the
// biggest evaluation a tick makes). Target: <= 5 ms for the two together
// (BM_PlanAndTick); the others break it down.
//
// The daemon plans once, when a rollout starts; its driver then ticks every
// second (rollout_engine.h contract 4), so BM_GateTick is what each tick
// costs in the state machine. Not measured here: the driver's translation
// of the feed's reports (RolloutEngine::ReportsFor) and the store write of a
// changed state.
#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "rollout_plan.h"
#include "rollout_state.h"

namespace omnirelay::cp {
namespace {

constexpr std::int64_t kNow = 1'800'000'000'000;
constexpr int kNodes = 10'000;

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

// The default policy (5% canary) with two scope waves, then everything left.
RolloutPolicy ThreeWaves() {
  RolloutPolicy p;
  p.scope_waves = {{ParseScope("cell:r0-c0").value()}, {ParseScope("region:r1").value()}};
  return p;
}

// One wave of every node: the tick evaluates all 10,000; a bake that never
// ends, so the verdict is a hold after every gate ran and the state stays.
RolloutPolicy OneWave() {
  RolloutPolicy p;
  p.canary_percent = 0;
  p.bake_ms = std::int64_t{1} << 40;
  return p;
}

std::string HashOf(std::int64_t version) {
  return "sha256:" + std::string(56, 'a') + std::to_string(version);
}

// Every node connected, on `version` (ACKed and applied, with its hash), with
// an SLO window and a discovery generation: every gate has figures to read.
NodeReports Reports(const std::vector<RolloutMember>& members, std::int64_t version) {
  std::vector<NodeReports::value_type> reports;
  reports.reserve(members.size());
  for (const auto& m : members) {
    NodeReport r;
    r.connected = true;
    r.applied_version = r.acked_version = version;
    r.applied_hash = HashOf(version);
    r.has_discovery_generation = true;
    r.discovery_generation = 7;
    r.slo.requests = 1000;
    r.slo.errors = 2;
    r.slo.latency.Record(12, 900);
    r.slo.latency.Record(80, 100);
    reports.emplace_back(m.node.id, r);
  }
  return NodeReports::FromEntries(std::move(reports));  // sorted by id, as the driver's are
}

// node id -> hash of its assigned version, as the driver passes them.
AssignedHashes Hashes(const std::vector<RolloutMember>& members, std::int64_t version) {
  std::vector<AssignedHashes::value_type> hashes;
  hashes.reserve(members.size());
  for (const auto& m : members) hashes.emplace_back(m.node.id, HashOf(version));
  return AssignedHashes::FromEntries(std::move(hashes));
}

void BM_PlanWaves(benchmark::State& state) {
  const auto members = Fleet(static_cast<int>(state.range(0)));
  std::vector<RolloutNode> nodes;
  for (const auto& m : members) nodes.push_back(m.node);
  const RolloutPolicy policy = ThreeWaves();
  for (auto _ : state) {
    WavePlan plan = PlanWaves(nodes, policy, "rollout-1");
    benchmark::DoNotOptimize(plan);
  }
  state.counters["nodes"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_PlanWaves)->Arg(kNodes)->Unit(benchmark::kMillisecond);

// The whole planning of a rollout start: waves, every member's assignment,
// each wave's baseline window, then the first wave assigned.
void BM_CreateRollout(benchmark::State& state) {
  const auto members = Fleet(static_cast<int>(state.range(0)));
  const RolloutPolicy policy = ThreeWaves();
  const NodeReports before = Reports(members, 41);
  for (auto _ : state) {
    RolloutState s = CreateRollout("rollout-1", policy, members, 42, before, kNow).value();
    auto first = StartRollout(s, kNow);
    benchmark::DoNotOptimize(first);
    benchmark::DoNotOptimize(s);
  }
  state.counters["nodes"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_CreateRollout)->Arg(kNodes)->Unit(benchmark::kMillisecond);

// One tick of a wave of every node: each node's report read, hashes
// compared, the windows merged, the baseline computed; a bake hold.
void BM_GateTick(benchmark::State& state) {
  const auto members = Fleet(static_cast<int>(state.range(0)));
  auto created = CreateRollout("rollout-1", OneWave(), members, 42, Reports(members, 41), kNow);
  RolloutState s = *std::move(created);
  (void)StartRollout(s, kNow);
  const NodeReports reports = Reports(members, 42);
  const auto hashes = Hashes(members, 42);
  for (auto _ : state) {
    TickResult t = TickRollout(s, kNow + 1000, reports, &hashes);
    if (t.verdict.gate != "bake" || t.verdict.figures.acked != state.range(0)) {
      state.SkipWithError(("not a bake hold over every node: " + t.verdict.message).c_str());
      break;
    }
    benchmark::DoNotOptimize(t);
  }
  state.counters["nodes"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_GateTick)->Arg(kNodes)->Unit(benchmark::kMillisecond);

// The target: planning a rollout of 10,000 nodes and one gate tick over all of them.
void BM_PlanAndTick(benchmark::State& state) {
  const auto members = Fleet(static_cast<int>(state.range(0)));
  const RolloutPolicy policy = OneWave();
  const NodeReports before = Reports(members, 41);
  const NodeReports after = Reports(members, 42);
  const auto hashes = Hashes(members, 42);
  for (auto _ : state) {
    RolloutState s = CreateRollout("rollout-1", policy, members, 42, before, kNow).value();
    (void)StartRollout(s, kNow);
    TickResult t = TickRollout(s, kNow + 1000, after, &hashes);
    if (t.verdict.figures.acked != state.range(0)) {
      state.SkipWithError(("the tick did not count every node: " + t.verdict.message).c_str());
      break;
    }
    benchmark::DoNotOptimize(t);
  }
  state.counters["nodes"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_PlanAndTick)->Arg(kNodes)->Unit(benchmark::kMillisecond);

// A started three-wave rollout over `members`.
RolloutState Started(const std::vector<RolloutMember>& members) {
  RolloutState s =
      CreateRollout("rollout-1", ThreeWaves(), members, 42, Reports(members, 41), kNow).value();
  (void)StartRollout(s, kNow);
  return s;
}

// The stored record of a started rollout of 10,000 nodes in its two parts
// (rollout_state.h contract 7, format 2): what a start and a join build
// inside their store write, and the head alone, what a promotion builds.
void BM_RecordParts(benchmark::State& state) {
  const auto members = Fleet(static_cast<int>(state.range(0)));
  const RolloutState s = Started(members);
  std::map<std::string, std::string> chains;
  for (const auto& m : members) {
    chains.emplace(m.node.id, m.node.chain[0].ToString() + "," + m.node.chain[1].ToString() + "," +
                                  m.node.chain[2].ToString());
  }
  std::size_t bytes = 0;
  for (auto _ : state) {
    RolloutStateParts parts = RolloutStateToParts(s, chains);
    bytes = parts.members.size();
    benchmark::DoNotOptimize(parts);
  }
  state.counters["nodes"] = static_cast<double>(state.range(0));
  state.counters["members_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_RecordParts)->Arg(kNodes)->Unit(benchmark::kMillisecond);

void BM_RecordHead(benchmark::State& state) {
  const RolloutState s = Started(Fleet(static_cast<int>(state.range(0))));
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string head = RolloutStateHead(s);
    bytes = head.size();
    benchmark::DoNotOptimize(head);
  }
  state.counters["nodes"] = static_cast<double>(state.range(0));
  state.counters["head_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_RecordHead)->Arg(kNodes)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace omnirelay::cp

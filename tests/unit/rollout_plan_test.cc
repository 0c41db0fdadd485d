// Rollout policy parsing (rollout_policy.h) and wave planning (rollout_plan.h).
#include "rollout_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "rollout_policy.h"

namespace omnirelay::cp {
namespace {

RolloutNode Node(const std::string& id, const std::string& chain) {
  return RolloutNode{id, ParseScopeChain(chain + ",node:" + id).value()};
}

// 1,000 nodes over two regions, each with two cells.
std::vector<RolloutNode> Fleet(int n = 1000) {
  std::vector<RolloutNode> nodes;
  for (int i = 0; i < n; ++i) {
    const std::string region = i % 2 == 0 ? "us-east" : "eu-west";
    const std::string cell = region + "-" + std::to_string(i % 4 / 2);
    nodes.push_back(Node("n-" + std::to_string(i), "global,region:" + region + ",cell:" + cell));
  }
  return nodes;
}

// Defaults hold for an empty block, and every field written reads back equal.
TEST(RolloutPolicyTest, EmptyBlockIsTheDefaultsAndToJsonRoundTrips) {
  auto p = ParseRolloutPolicy("{}");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, RolloutPolicy{});
  EXPECT_EQ(p->canary_percent, 5.0);
  EXPECT_EQ(p->min_ack_ratio, 0.95);

  auto custom = ParseRolloutPolicy(R"({"targetScopes": ["region:us-east"], "canaryPercent": 2.5,
      "waves": [{"scopes": ["cell:a"]}, {"scopes": ["region:eu-west", "cell:b"]}],
      "promotion": "manual", "bakeMs": 1000, "minAckRatio": 0.9, "ackDeadlineMs": 5000,
      "offlineGraceMs": 100, "maxNackRatio": 0.1,
      "slo": {"maxErrorRateDelta": 0.02, "maxP99Ratio": 2, "minRequests": 10},
      "maxDiscoveryGenerationSkew": 3})");
  ASSERT_TRUE(custom.ok()) << custom.status().ToString();
  EXPECT_EQ(custom->promotion, Promotion::kManual);
  ASSERT_EQ(custom->scope_waves.size(), 2u);
  EXPECT_EQ(custom->scope_waves[1][1].ToString(), "cell:b");
  auto again = ParseRolloutPolicy(RolloutPolicyToJson(*custom));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *custom);
}

// Every bad value is reported, at its pointer under the base, with a stable code.
TEST(RolloutPolicyTest, BadValuesAreDiagnosedAtTheirPointers) {
  auto p = ParseRolloutPolicy(R"({"canaryPercent": 120, "bakeMs": "5m", "promotion": "later",
      "waves": [{"scopes": ["zone:x"]}, {}], "slo": {"maxP99Ratio": 0.5, "p50": 1},
      "colour": "red"})",
                              "/rollout");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalid);
  std::set<std::pair<std::string, DiagCode>> got;
  for (const auto& d : p.status().diagnostics()) got.insert({d.path, d.code});
  const std::set<std::pair<std::string, DiagCode>> want = {
      {"/rollout/canaryPercent", DiagCode::kOutOfRange},
      {"/rollout/bakeMs", DiagCode::kTypeMismatch},
      {"/rollout/promotion", DiagCode::kOutOfRange},
      {"/rollout/waves/0/scopes/0", DiagCode::kInvalidScope},
      {"/rollout/waves/1", DiagCode::kMissingField},
      {"/rollout/slo/maxP99Ratio", DiagCode::kOutOfRange},
      {"/rollout/slo/p50", DiagCode::kUnknownField},
      {"/rollout/colour", DiagCode::kUnknownField},
  };
  EXPECT_EQ(got, want);
  EXPECT_EQ(ParseRolloutPolicy("[1]").status().diagnostics()[0].code, DiagCode::kTypeMismatch);
  EXPECT_EQ(ParseRolloutPolicy("{").status().diagnostics()[0].code, DiagCode::kParseError);
}

// Canary, then the scope waves in order, then the rest; each node in exactly one wave.
TEST(RolloutPlanTest, WavesAreCanaryThenScopesThenRest) {
  RolloutPolicy policy;
  policy.scope_waves = {{ParseScope("cell:us-east-0").value()},
                        {ParseScope("region:us-east").value()}};
  const auto nodes = Fleet();
  const WavePlan plan = PlanWaves(nodes, policy, "r-1");
  ASSERT_EQ(plan.waves.size(), 4u);
  EXPECT_EQ(plan.waves[0].kind, WaveKind::kCanary);
  EXPECT_EQ(plan.waves[1].kind, WaveKind::kScopes);
  EXPECT_EQ(plan.waves[3].kind, WaveKind::kRest);
  std::set<std::string> seen;
  std::size_t total = 0;
  for (const auto& w : plan.waves) {
    total += w.node_ids.size();
    seen.insert(w.node_ids.begin(), w.node_ids.end());
    EXPECT_TRUE(std::is_sorted(w.node_ids.begin(), w.node_ids.end()));
  }
  EXPECT_EQ(total, nodes.size());
  EXPECT_EQ(seen.size(), nodes.size());
  for (const auto& id : plan.waves[1].node_ids) {
    const int i = std::stoi(id.substr(2));
    EXPECT_EQ(i % 4, 0) << id;  // cell us-east-0
  }
  for (const auto& id : plan.waves[2].node_ids) EXPECT_EQ(std::stoi(id.substr(2)) % 4, 2) << id;
  for (const auto& id : plan.waves[3].node_ids) EXPECT_EQ(std::stoi(id.substr(2)) % 2, 1) << id;
}

// The same inputs in any order plan the same; another rollout id picks another canary.
TEST(RolloutPlanTest, PlanningIsDeterministic) {
  RolloutPolicy policy;
  auto nodes = Fleet();
  const WavePlan a = PlanWaves(nodes, policy, "r-1");
  std::reverse(nodes.begin(), nodes.end());
  EXPECT_EQ(PlanWaves(nodes, policy, "r-1"), a);
  EXPECT_NE(PlanWaves(nodes, policy, "r-2").waves[0], a.waves[0]);
  EXPECT_EQ(CanaryBucket("r-1", "n-1"), CanaryBucket("r-1", "n-1"));
  // The hash is fixed (rule 3): a changed value means canaries move between builds.
  EXPECT_LT(CanaryBucket("r-1", "n-1"), 10000u);
}

// Over 10,000 nodes the canary is within 4 standard deviations of the percent.
TEST(RolloutPlanTest, CanaryPercentWithinTolerance) {
  const auto nodes = Fleet(10'000);
  for (double percent : {1.0, 5.0, 25.0}) {
    RolloutPolicy policy;
    policy.canary_percent = percent;
    const double n = static_cast<double>(PlanWaves(nodes, policy, "r-x").waves[0].node_ids.size());
    const double p = percent / 100.0;
    const double sigma = std::sqrt(10'000 * p * (1 - p));
    EXPECT_NEAR(n, 10'000 * p, 4 * sigma) << percent;
  }
}

// A small fleet still gets one canary node (rule 4); 0% means no canary wave.
TEST(RolloutPlanTest, SmallFleetGetsOneCanaryAndZeroPercentNone) {
  RolloutPolicy policy;
  policy.canary_percent = 0.01;
  const auto nodes = Fleet(3);
  const WavePlan plan = PlanWaves(nodes, policy, "r-1");
  EXPECT_EQ(plan.waves[0].node_ids.size(), 1u);
  EXPECT_EQ(plan.waves[0].node_ids.size() + plan.waves.back().node_ids.size(), 3u);
  policy.canary_percent = 0;
  const WavePlan none = PlanWaves(nodes, policy, "r-1");
  ASSERT_EQ(none.waves.size(), 1u);
  EXPECT_EQ(none.waves[0].kind, WaveKind::kRest);
}

// A canary percentage under 100 never puts every targeted node in the canary
// (rule 4b): three nodes at 34% would, for about one rollout id in 25.
TEST(RolloutPlanTest, CanaryNeverTakesEveryNodeUnderAHundredPercent) {
  RolloutPolicy policy;
  policy.canary_percent = 34;
  const auto nodes = Fleet(3);
  int would_take_all = 0;
  for (int r = 0; r < 2000; ++r) {
    const std::string id = "r-" + std::to_string(r);
    int hashed_in = 0;
    for (const auto& n : nodes) hashed_in += CanaryBucket(id, n.id) < 3400 ? 1 : 0;
    would_take_all += hashed_in == 3 ? 1 : 0;
    const WavePlan plan = PlanWaves(nodes, policy, id);
    ASSERT_EQ(plan.waves.size(), 2u);
    EXPECT_GE(plan.waves[0].node_ids.size(), 1u) << id;
    EXPECT_LE(plan.waves[0].node_ids.size(), 2u) << id;
    EXPECT_EQ(plan.waves[0].node_ids.size() + plan.waves[1].node_ids.size(), 3u) << id;
  }
  EXPECT_GT(would_take_all, 20);  // the case is exercised, not assumed
  // Given back to its rule-5 wave: a scope wave when its chain is in one.
  policy.scope_waves = {{ParseScope("region:us-east").value()}};
  const std::vector<RolloutNode> two = {Node("a", "global,region:us-east"),
                                        Node("b", "global,region:us-east")};
  policy.canary_percent = 99.99;
  for (int r = 0; r < 50; ++r) {
    const WavePlan plan = PlanWaves(two, policy, "r-" + std::to_string(r));
    EXPECT_EQ(plan.waves[0].node_ids.size(), 1u);
    EXPECT_EQ(plan.waves[1].node_ids.size(), 1u);
    EXPECT_TRUE(plan.waves[2].node_ids.empty());
  }
  policy.canary_percent = 100;  // the operator asked for everyone
  EXPECT_EQ(PlanWaves(two, policy, "r-1").waves[0].node_ids.size(), 2u);
}

// Untargeted nodes are in no wave; empty waves are kept; a joiner lands where the rules say.
TEST(RolloutPlanTest, TargetingEmptyWavesAndJoiners) {
  RolloutPolicy policy;
  policy.canary_percent = 0;
  policy.target_scopes = {ParseScope("region:us-east").value()};
  policy.scope_waves = {{ParseScope("cell:nowhere").value()},
                        {ParseScope("cell:us-east-1").value()}};
  const WavePlan plan = PlanWaves(Fleet(8), policy, "r-1");
  EXPECT_EQ(plan.untargeted.size(), 4u);
  ASSERT_EQ(plan.waves.size(), 3u);
  EXPECT_TRUE(plan.waves[0].node_ids.empty());  // kept, passed through when reached
  EXPECT_EQ(plan.waves[1].node_ids, (std::vector<std::string>{"n-2", "n-6"}));
  EXPECT_EQ(WaveOfNode(Node("late", "global,region:us-east,cell:us-east-1"), policy, "r-1"), 1u);
  EXPECT_EQ(WaveOfNode(Node("late", "global,region:eu-west"), policy, "r-1"), std::nullopt);
}

// Rule 8 holds for ids that share a prefix, differ in length or in bytes
// past the first eight after it: each wave's ids are in byte order.
TEST(RolloutPlanTest, WaveIdsAreInByteOrderWhateverTheirPrefix) {
  RolloutPolicy policy;
  policy.canary_percent = 0;
  std::vector<RolloutNode> nodes;
  for (const std::string id :
       {"node-10", "node-1", "node-2", "node-12345678b", "node-12345678a", "node-", "nodf", "n\xff",
        "node-1234567", "node-1.example", "node-10.example"}) {
    nodes.push_back(RolloutNode{id, {ParseScope("global").value()}});
  }
  std::vector<std::string> want;
  for (const auto& n : nodes) want.push_back(n.id);
  std::sort(want.begin(), want.end());
  const WavePlan plan = PlanWaves(nodes, policy, "r-1");
  ASSERT_EQ(plan.waves.size(), 1u);
  EXPECT_EQ(plan.waves[0].node_ids, want);
}

// By position, the plan is PlanWaves's: each node in its wave, ids in order.
TEST(RolloutPlanTest, PlanByIndexesMatchesPlanWaves) {
  RolloutPolicy policy;
  policy.target_scopes = {ParseScope("region:us-east").value(),
                          ParseScope("cell:eu-west-1").value()};
  policy.scope_waves = {{ParseScope("cell:us-east-1").value()}};
  const auto nodes = Fleet(500);
  std::vector<const RolloutNode*> positions;
  for (const auto& n : nodes) positions.push_back(&n);
  const WaveIndexPlan by_index = PlanWaveIndexes(positions, policy, "r-7");
  WavePlan rebuilt;
  rebuilt.waves = WaveShapes(policy);
  for (std::size_t i : by_index.order) {
    const std::size_t w = by_index.wave_of[i];
    (w == kUntargeted ? rebuilt.untargeted : rebuilt.waves[w].node_ids).push_back(nodes[i].id);
  }
  EXPECT_EQ(rebuilt, PlanWaves(nodes, policy, "r-7"));
  EXPECT_FALSE(rebuilt.untargeted.empty());
  EXPECT_FALSE(rebuilt.waves[0].node_ids.empty());
}

}  // namespace
}  // namespace omnirelay::cp

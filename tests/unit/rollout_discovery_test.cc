// The MeshKit gates (rollout_gates.h, rollout_discovery.h): target clusters
// resolved from live membership, bridges down between a wave's cells, the
// cluster-health, bridge and feed-generation gates, and a promotion into a
// cross-cell wave waiting for its bridge (TickRollout).
#include "rollout_discovery.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "omnirelay/config/clock.h"

namespace omnirelay::cp {
namespace {

using meshkit::BridgeState;
using meshkit::BridgeStatus;
using meshkit::Endpoint;
using meshkit::Health;

Endpoint E(const std::string& id, const std::string& cluster, const std::string& cell,
           const std::string& region, Health health = Health::kHealthy) {
  Endpoint e;
  e.member_id = id;
  e.address = "10.0.0.1";
  e.port = 80;
  e.service = "billing";
  e.cluster = cluster;
  e.cell = cell;
  e.region = region;
  e.health = health;
  return e;
}

BridgeStatus B(const std::string& name, BridgeState state) {
  return BridgeStatus{name, {"use1-a", "euw1-a"}, state, ""};
}

std::shared_ptr<const meshkit::EndpointSet> Set(std::vector<Endpoint> endpoints,
                                                std::vector<BridgeStatus> bridges = {},
                                                std::uint64_t generation = 20) {
  meshkit::EndpointTable table;
  EXPECT_TRUE(
      table.ApplySnapshot("feed-a", generation, std::move(endpoints), std::move(bridges)).ok());
  return table.current();
}

std::vector<Endpoint> Fleet() {
  return {E("v1-a", "billing-v1", "use1-a", "us-east"),
          E("v1-b", "billing-v1", "use1-a", "us-east", Health::kUnhealthy),
          E("v1-c", "billing-v1", "use1-b", "us-east"),
          E("dr-a", "billing-dr", "euw1-a", "eu-west")};
}

TEST(RolloutDiscoveryTest, PlaceOfChainNamesCellElseRegion) {
  const NodePlace cell = PlaceOfChain("global,region:us-east,cell:use1-a,node:n1");
  EXPECT_EQ(cell.region, "us-east");
  EXPECT_EQ(cell.cell, "use1-a");
  const NodePlace region = PlaceOfChain("global,region:eu-west,node:n2");
  EXPECT_EQ(region.region, "eu-west");
  EXPECT_EQ(region.cell, "");
  EXPECT_EQ(PlaceOfChain("global,node:n3").region, "");
}

// Contract 2: endpoints where the wave's nodes are, counted per cluster.
TEST(RolloutDiscoveryTest, TargetClustersFollowWhereTheNodesAre) {
  const auto set = Set(Fleet());
  const auto in_cell = TargetClusters(*set, {{"us-east", "use1-a"}});
  ASSERT_EQ(in_cell.size(), 1u);
  EXPECT_EQ(in_cell[0], (ClusterHealthFigure{"billing", "billing-v1", 1, 2}));
  // A node with a region and no cell: every endpoint of the region.
  const auto in_region = TargetClusters(*set, {{"us-east", ""}});
  ASSERT_EQ(in_region.size(), 1u);
  EXPECT_EQ(in_region[0], (ClusterHealthFigure{"billing", "billing-v1", 2, 3}));
  // A node placed nowhere: every cluster.
  const auto everywhere = TargetClusters(*set, {{"", ""}});
  ASSERT_EQ(everywhere.size(), 2u);
  EXPECT_EQ(everywhere[0].cluster, "billing-dr");
  EXPECT_EQ(everywhere[1], (ClusterHealthFigure{"billing", "billing-v1", 2, 3}));
  // A place no endpoint is in: uncovered (a cell with its own MeshKit), not judged.
  std::vector<std::string> uncovered;
  const auto partly = TargetClusters(*set, {{"ap-south", "aps1-a"}, {"eu-west", ""}}, &uncovered);
  ASSERT_EQ(partly.size(), 1u);
  EXPECT_EQ(partly[0].cluster, "billing-dr");
  EXPECT_EQ(uncovered, (std::vector<std::string>{"cell:aps1-a"}));
  EXPECT_TRUE(TargetClusters(*set, {{"ap-south", "aps1-a"}}, &uncovered).empty());
  EXPECT_EQ(uncovered, (std::vector<std::string>{"cell:aps1-a"}));
}

// Contract 3: only bridges not up joining two of the cells.
TEST(RolloutDiscoveryTest, BridgesDownBetweenTheCells) {
  const auto set = Set(
      {},
      {B("use1-euw1", BridgeState::kDown),
       BridgeStatus{"use1-aps1", {"use1-a", "aps1-a"}, BridgeState::kFlapping, "4 flaps in 60s"},
       BridgeStatus{"euw1-aps1", {"euw1-a", "aps1-a"}, BridgeState::kUp, ""}});
  EXPECT_EQ(BridgesDown(set.get(), true, {"euw1-a", "use1-a"}),
            (std::vector<std::string>{"use1-euw1 (down)"}));
  EXPECT_EQ(BridgesDown(set.get(), true, {"aps1-a", "euw1-a", "use1-a"}),
            (std::vector<std::string>{"use1-aps1 (flapping: 4 flaps in 60s)", "use1-euw1 (down)"}));
  EXPECT_TRUE(BridgesDown(set.get(), true, {"use1-a"}).empty());
  EXPECT_TRUE(BridgesDown(set.get(), true, {"euw1-a", "aps1-a"}).empty());  // that bridge is up
  // Nothing known is nothing up: no set yet, or a feed that is disconnected.
  EXPECT_EQ(
      BridgesDown(nullptr, false, {"euw1-a", "aps1-a"}),
      (std::vector<std::string>{"every bridge unknown: MeshKit has sent no endpoint set yet"}));
  EXPECT_EQ(BridgesDown(set.get(), false, {"euw1-a", "aps1-a"}),
            (std::vector<std::string>{"every bridge unknown: the MeshKit feed is disconnected"}));
  EXPECT_TRUE(BridgesDown(nullptr, false, {"aps1-a"}).empty());
}

class MeshKitGatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_.min_requests = 0;
    policy_.bake_ms = 0;
    for (int i = 0; i < 4; ++i) {
      const std::string id = "n-" + std::to_string(i);
      ids_.push_back(id);
      NodeReport r;
      r.connected = true;
      r.applied_version = r.acked_version = 7;
      r.cell = i < 2 ? "use1-a" : "euw1-a";
      r.has_discovery_generation = true;
      r.discovery_generation = 20;
      r.discovery_feed_id = "feed-a";
      reports_[id] = r;
    }
    discovery_.received = true;
    discovery_.feed_id = "feed-a";
    discovery_.generation = 20;
    discovery_.clusters = {{"billing", "billing-v1", 9, 10}};
  }

  GateVerdict Evaluate(const WaveDiscovery* discovery) {
    WaveGateInput in;
    in.policy = &policy_;
    in.node_ids = &ids_;
    in.reports = &reports_;
    in.assigned_version = 7;
    in.wave_started_ms = 1000;
    in.now_ms = 2000;
    in.discovery = discovery;
    return EvaluateWave(in);
  }

  RolloutPolicy policy_;
  std::vector<std::string> ids_;
  NodeReports reports_;
  WaveDiscovery discovery_;
};

TEST_F(MeshKitGatesTest, WithoutAConnectionTheGatesAreSkippedAndSaidSo) {
  policy_.min_cluster_healthy_ratio = 1.0;
  discovery_.bridges_down = {"use1-euw1 (down)"};
  discovery_.cross_cell = true;
  const GateVerdict v = Evaluate(nullptr);
  EXPECT_EQ(v.verdict, Verdict::kPromote) << v.message;
  EXPECT_EQ(v.figures.discovery, "none");
  EXPECT_EQ(v.figures.cells, (std::vector<std::string>{"euw1-a", "use1-a"}));
  EXPECT_EQ(Evaluate(&discovery_).gate, "bridge");
}

TEST_F(MeshKitGatesTest, ClusterHealthHoldsUnderTheRatio) {
  policy_.min_cluster_healthy_ratio = 0.95;
  GateVerdict v = Evaluate(&discovery_);
  EXPECT_EQ(v.verdict, Verdict::kHold);
  EXPECT_EQ(v.gate, "cluster_health");
  EXPECT_NE(v.message.find("billing-v1 (billing) has 9/10 endpoints healthy (0.90 < 0.95)"),
            std::string::npos)
      << v.message;
  EXPECT_EQ(v.figures.clusters, discovery_.clusters);
  policy_.min_cluster_healthy_ratio = 0.9;
  EXPECT_EQ(Evaluate(&discovery_).verdict, Verdict::kPromote);
  // Off by default.
  policy_.min_cluster_healthy_ratio = 0;
  discovery_.clusters = {{"billing", "billing-v1", 0, 10}};
  EXPECT_EQ(Evaluate(&discovery_).verdict, Verdict::kPromote);
  // Nothing where the wave is (the feed does not cover its places): not judged.
  policy_.min_cluster_healthy_ratio = 0.5;
  discovery_.clusters.clear();
  discovery_.uncovered = {"cell:euw1-a", "cell:use1-a"};
  v = Evaluate(&discovery_);
  EXPECT_EQ(v.verdict, Verdict::kPromote) << v.message;
  EXPECT_EQ(v.figures.uncovered, discovery_.uncovered);
  // No set yet: held.
  WaveDiscovery waiting;
  v = Evaluate(&waiting);
  EXPECT_EQ(v.gate, "cluster_health");
  EXPECT_EQ(v.figures.discovery, "waiting");
}

TEST_F(MeshKitGatesTest, CrossCellWaveHoldsWhileABridgeIsDown) {
  discovery_.bridges_down = {"use1-euw1 (down)"};
  discovery_.cross_cell = true;
  GateVerdict v = Evaluate(&discovery_);
  EXPECT_EQ(v.verdict, Verdict::kHold);
  EXPECT_EQ(v.gate, "bridge");
  EXPECT_NE(v.message.find("cells euw1-a, use1-a"), std::string::npos) << v.message;
  // A wave in one cell is not paused (the engine says so from the chains).
  discovery_.cross_cell = false;
  EXPECT_EQ(Evaluate(&discovery_).verdict, Verdict::kPromote);
  discovery_.cross_cell = true;
  // Rollback verdicts still apply while paused.
  for (auto& [id, r] : reports_) r.cell = id < "n-2" ? "use1-a" : "euw1-a";
  for (auto& [id, r] : reports_) r.acked_version = 6, r.nacked_version = 7;
  v = Evaluate(&discovery_);
  EXPECT_EQ(v.verdict, Verdict::kRollback);
  EXPECT_EQ(v.reason, RollbackReason::kNackRatio);
}

TEST_F(MeshKitGatesTest, CoherenceAcrossCellsNamesTheLaggingCell) {
  reports_["n-3"].applied_version = 6;  // ACKed, still applying
  const GateVerdict v = Evaluate(&discovery_);
  EXPECT_EQ(v.gate, "coherence");
  EXPECT_NE(v.message.find("(euw1-a 1/2)"), std::string::npos) << v.message;
}

TEST_F(MeshKitGatesTest, GenerationsComparedPerFeedAndWithTheFeed) {
  policy_.max_discovery_generation_skew = 5;
  discovery_.history = {{0, 20}};
  // Another feed numbers its generations on its own: not a skew.
  reports_["n-2"].discovery_feed_id = reports_["n-3"].discovery_feed_id = "feed-b";
  reports_["n-2"].discovery_generation = reports_["n-3"].discovery_generation = 900;
  GateVerdict v = Evaluate(&discovery_);
  EXPECT_EQ(v.verdict, Verdict::kPromote) << v.message;
  EXPECT_EQ(v.figures.discovery_skew, 0);
  // The same feed: skew, naming both ends and their cells.
  reports_["n-3"].discovery_generation = 907;
  v = Evaluate(&discovery_);
  EXPECT_EQ(v.gate, "coherence");
  EXPECT_EQ(v.figures.discovery_skew, 7);
  EXPECT_NE(v.message.find("n-2 (cell euw1-a) at 900, n-3 (cell euw1-a) at 907"), std::string::npos)
      << v.message;
  // On the control plane's feed: nodes that agree with each other but have
  // been behind the feed longer than maxDiscoveryLagMs hold the wave.
  reports_["n-3"].discovery_generation = 900;
  for (const char* id : {"n-0", "n-1"}) reports_[id].discovery_generation = 12;
  discovery_.history = {{0, 12}, {500, 20}};  // 20 first seen at 500; now is 2000
  policy_.max_discovery_lag_ms = 1'500;
  v = Evaluate(&discovery_);
  EXPECT_EQ(v.verdict, Verdict::kPromote) << v.message;  // behind for exactly 1.5 s
  EXPECT_EQ(v.figures.feed_lag_ms, 1'500);
  policy_.max_discovery_lag_ms = 1'000;
  v = Evaluate(&discovery_);
  EXPECT_EQ(v.gate, "coherence");
  EXPECT_NE(v.message.find("behind MeshKit feed feed-a (at 20) for 1.5s (more than 1.0s)"),
            std::string::npos)
      << v.message;
  // A node ahead of the control plane is never held.
  for (const char* id : {"n-0", "n-1"}) reports_[id].discovery_generation = 25;
  v = Evaluate(&discovery_);
  EXPECT_EQ(v.figures.feed_lag_ms, 0);
  EXPECT_EQ(v.verdict, Verdict::kPromote) << v.message;
  for (const char* id : {"n-0", "n-1"}) reports_[id].discovery_generation = 12;
  // Without a connection that comparison is skipped.
  EXPECT_EQ(Evaluate(nullptr).verdict, Verdict::kPromote);
}

// TickRollout: a canary in one cell passes, the promotion into the
// cross-cell wave after it waits while the bridge is down, then goes on.
TEST(RolloutDiscoveryTickTest, PromotionIntoACrossCellWaveWaitsForTheBridge) {
  RolloutPolicy policy;
  policy.canary_percent = 1;
  policy.bake_ms = 0;
  policy.min_requests = 0;
  std::vector<RolloutMember> members;
  NodeReports reports;
  std::map<std::string, std::string> chains;
  for (int i = 0; i < 6; ++i) {
    const std::string id = "n-" + std::to_string(i);
    const std::string chain = std::string(i % 2 == 0 ? "global,region:us-east,cell:use1-a"
                                                     : "global,region:eu-west,cell:euw1-a") +
                              ",node:" + id;
    members.push_back({{id, ParseScopeChain(chain).value()}, 40});
    chains[id] = chain;
    NodeReport r;
    r.connected = true;
    r.applied_version = r.acked_version = 40;
    r.cell = PlaceOfChain(chain).cell;
    reports[id] = r;
  }
  auto created = CreateRollout("r-1", policy, members, 41, reports, 1000);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  RolloutState s = *std::move(created);
  ASSERT_TRUE(StartRollout(s, 1000).ok());
  ASSERT_EQ(s.waves.size(), 2u);
  ASSERT_EQ(s.waves[0].node_ids.size(), 1u);
  for (const auto& id : s.waves[0].node_ids)
    reports[id].applied_version = reports[id].acked_version = 41;

  FeedView down{Set(Fleet(), {B("use1-euw1", BridgeState::kDown)}), true, {{0, 20}}};
  WaveDiscovery d = DiscoveryForWave(down, s, chains);
  EXPECT_TRUE(d.bridges_down.empty());  // the canary is in one cell
  EXPECT_FALSE(d.cross_cell);
  EXPECT_EQ(d.next_wave, 1u);
  EXPECT_EQ(d.next_wave_bridges_down, (std::vector<std::string>{"use1-euw1 (down)"}));
  // A feed that has sent nothing keeps the promotion waiting too.
  EXPECT_EQ(
      DiscoveryForWave(FeedView{}, s, chains).next_wave_bridges_down,
      (std::vector<std::string>{"every bridge unknown: MeshKit has sent no endpoint set yet"}));
  TickResult t = TickRollout(s, 2000, reports, nullptr, &d);
  EXPECT_EQ(t.verdict.gate, "bridge");
  EXPECT_NE(t.verdict.message.find("wave 2 is cross-cell"), std::string::npos) << t.verdict.message;
  EXPECT_EQ(t.verdict.figures.bridges_down, d.next_wave_bridges_down);
  EXPECT_EQ(s.current_wave, 0u);
  EXPECT_TRUE(t.changes.empty());
  // The verdict's MeshKit figures survive the stored form.
  EXPECT_EQ(s.last_verdict.figures.discovery, "connected");
  EXPECT_EQ(s.last_verdict.figures.feed_generation, 20);
  const auto stored = RolloutStateFromJson(RolloutStateToJson(s));
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(*stored, s);

  FeedView up{Set(Fleet(), {B("use1-euw1", BridgeState::kUp)}), true, {{0, 20}}};
  d = DiscoveryForWave(up, s, chains);
  t = TickRollout(s, 3000, reports, nullptr, &d);
  EXPECT_EQ(s.current_wave, 1u);
  EXPECT_EQ(t.changes.size(), 5u);
}

// The promotion checks the wave it would enter: an empty wave in between is
// passed through (and not what the message names).
TEST(RolloutDiscoveryTickTest, EmptyWaveBetweenIsLookedPast) {
  RolloutState s;
  s.current_wave = 0;
  s.waves.resize(3);
  s.waves[0].node_ids = {"n-0"};
  s.waves[2].node_ids = {"n-1", "n-2"};
  const std::map<std::string, std::string> chains = {
      {"n-0", "global,region:us-east,cell:use1-a,node:n-0"},
      {"n-1", "global,region:us-east,cell:use1-a,node:n-1"},
      {"n-2", "global,region:eu-west,cell:euw1-a,node:n-2"}};
  FeedView feed{Set(Fleet(), {B("use1-euw1", BridgeState::kDown)}), true, {{0, 20}}};
  const WaveDiscovery d = DiscoveryForWave(feed, s, chains);
  EXPECT_EQ(d.next_wave, 2u);
  EXPECT_EQ(d.next_wave_bridges_down, (std::vector<std::string>{"use1-euw1 (down)"}));
}

// The policy writes the MeshKit fields only when set (an older daemon reads
// the rest), and a stored verdict from before them reads as "none".
TEST(RolloutDiscoveryTest, OlderStoredShapesStillRead) {
  RolloutPolicy policy;
  EXPECT_EQ(RolloutPolicyToJson(policy).find("minClusterHealthyRatio"), std::string::npos);
  EXPECT_EQ(RolloutPolicyToJson(policy).find("maxDiscoveryLagMs"), std::string::npos);
  policy.min_cluster_healthy_ratio = 0.8;
  policy.max_discovery_lag_ms = 5'000;
  const auto back = ParseRolloutPolicy(RolloutPolicyToJson(policy));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, policy);

  NodeReports reports;
  auto created = CreateRollout(
      "r-1", RolloutPolicy{},
      {{{"n-0", ParseScopeChain("global,region:us-east,cell:use1-a,node:n-0").value()}, 40}}, 41,
      reports, 1000);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  RolloutState s = *std::move(created);
  s.last_verdict.gate = "bake";
  s.last_verdict.figures.discovery = "connected";
  s.last_verdict.figures.cells = {"use1-a"};
  auto j = nlohmann::json::parse(RolloutStateToJson(s));
  auto& figures = j["verdict"]["figures"];
  ASSERT_TRUE(figures.contains("discovery")) << j.dump();
  figures.erase("discovery");
  figures.erase("cells");
  const auto old = RolloutStateFromJson(j.dump());
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->last_verdict.figures.discovery, "none");
  EXPECT_TRUE(old->last_verdict.figures.cells.empty());
}

}  // namespace
}  // namespace omnirelay::cp

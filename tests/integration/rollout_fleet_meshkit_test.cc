// Rollouts with the control plane's MeshKit connection (controlplane
// --meshkit, an endpoints file here): six real relays in two cells
// (use1-a, euw1-a) joined by the bridge use1-euw1. A promotion into a
// cross-cell wave waits while MeshKit reports the bridge down and goes on
// when it is up; a wave holds while a target cluster is under the policy's
// healthy share and goes on when it recovers; without a connection the
// rollout says its MeshKit gates are skipped.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "rollout_fleet.h"

namespace omnirelay::relay::testing {
namespace {

inline constexpr char kUse1[] = "global,region:us-east,cell:use1-a";
inline constexpr char kEuw1[] = "global,region:eu-west,cell:euw1-a";

class RolloutMeshKitTest : public RolloutFleetTest {
 protected:
  int FleetSize() const override { return 6; }
  std::string ChainOf(int i) const override { return i % 2 == 0 ? kUse1 : kEuw1; }
  void ConfigureDaemon(cp::DaemonOptions& o) const override {
    WriteFeed(/*bridge=*/"down", /*billing_v1_healthy=*/2);
    o.meshkit = FeedPath();
  }

  std::string FeedPath() const { return (lkg_dir_.path() / "meshkit.json").string(); }
  // The MeshKit file: billing-v1's two members in use1-a (the first
  // `billing_v1_healthy` healthy), billing-dr's one in euw1-a, and the
  // bridge between the cells in state `bridge`. Written whole, then renamed
  // (the source never reads half a file).
  void WriteFeed(const std::string& bridge, int billing_v1_healthy) const {
    Json endpoints = Json::array();
    for (int i = 0; i < 2; ++i) {
      endpoints.push_back({{"memberId", "billing-v1-" + std::to_string(i)},
                           {"address", "10.0.0." + std::to_string(i + 1)},
                           {"port", 8080},
                           {"service", "billing"},
                           {"cluster", "billing-v1"},
                           {"cell", "use1-a"},
                           {"region", "us-east"},
                           {"health", i < billing_v1_healthy ? "healthy" : "unhealthy"}});
    }
    endpoints.push_back({{"memberId", "billing-dr-0"},
                         {"address", "10.1.0.1"},
                         {"port", 8080},
                         {"service", "billing"},
                         {"cluster", "billing-dr"},
                         {"cell", "euw1-a"},
                         {"region", "eu-west"},
                         {"health", "healthy"}});
    const Json feed = {
        {"endpoints", endpoints},
        {"bridges",
         Json::array(
             {{{"name", "use1-euw1"}, {"cells", {"use1-a", "euw1-a"}}, {"state", bridge}}})}};
    const std::string tmp = FeedPath() + ".tmp";
    std::ofstream(tmp) << feed.dump();
    std::filesystem::rename(tmp, FeedPath());
  }
  // Writes the file again and waits until the daemon has read it (its
  // generation gauge moved), so a rollout started next sees it.
  void RewriteFeed(const std::string& bridge, int billing_v1_healthy) {
    const double before = cp_.Metric("omnirelay_cp_meshkit_generation");
    WriteFeed(bridge, billing_v1_healthy);
    ASSERT_TRUE(Eventually([&] { return cp_.Metric("omnirelay_cp_meshkit_generation") > before; }));
  }
  // Whether the rollout's last verdict is held at `gate`; `last` gets the rollout.
  bool HeldAt(const std::string& id, const std::string& gate, Json& last) {
    return Eventually(
        [&] {
          last = Rollout(id);
          return last.contains("gate") && last["gate"].value("gate", "") == gate;
        },
        std::chrono::seconds(60), std::chrono::milliseconds(100));
  }
};

// A one-node canary (in one cell) passes its gates, but wave 2 holds nodes of
// both cells: while MeshKit reports use1-euw1 down, the promotion waits at
// "bridge" and no wave-2 relay is sent the new version; once the bridge is
// up the rollout goes on and succeeds.
TEST_F(RolloutMeshKitTest, CrossCellWaveWaitsForTheBridge) {
  Json policy = QuickPolicy(300);
  policy["canaryPercent"] = 1;  // one node (rollout_plan.h rule 4)
  const Json started = StartRollout(2'000, policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  ASSERT_EQ(started["waves"].size(), 2u) << started.dump();
  const std::int64_t v2 = started["version"];

  Json held;
  ASSERT_TRUE(HeldAt(id, "bridge", held)) << held.dump();
  EXPECT_EQ(held["state"], "running") << held.dump();
  EXPECT_EQ(held["currentWave"], 0) << held.dump();
  EXPECT_NE(held["gate"]["message"].get<std::string>().find("use1-euw1 (down)"), std::string::npos)
      << held.dump();
  EXPECT_EQ(held["gate"]["figures"]["discovery"]["state"], "connected") << held.dump();
  // Still held a few ticks later, and wave 2 never saw v2.
  std::this_thread::sleep_for(std::chrono::milliseconds(2'500));
  held = Rollout(id);
  EXPECT_EQ(held["currentWave"], 0) << held.dump();
  EXPECT_EQ(held["gate"].value("gate", ""), "bridge") << held.dump();
  for (Relay* relay : Relays(started["waves"][1]["nodeIds"])) {
    EXPECT_NE(relay->version(), v2) << relay->id() << " got v2 across a down bridge";
  }

  WriteFeed("up", 2);
  const Json last = AwaitState(id, "succeeded");
  EXPECT_TRUE(AllOn(v2, 2'000));
  const Json promotions = Audit("rollout.promote");
  EXPECT_EQ(promotions.size(), 1u) << promotions.dump();
}

// A flapping bridge is as good as down for a wave that already spans both
// cells: the single wave (no canary) holds at "bridge" once every node has
// ACKed, and succeeds when the bridge is up.
TEST_F(RolloutMeshKitTest, CrossCellWaveHoldsWhileTheBridgeFlaps) {
  RewriteFeed("flapping", 2);
  Json policy = QuickPolicy(300);
  policy["canaryPercent"] = 0;
  const Json started = StartRollout(2'000, policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  Json held;
  ASSERT_TRUE(HeldAt(id, "bridge", held)) << held.dump();
  EXPECT_NE(held["gate"]["message"].get<std::string>().find("flapping"), std::string::npos)
      << held.dump();
  EXPECT_EQ(held["gate"]["figures"]["cells"], Json::array({"euw1-a", "use1-a"})) << held.dump();
  WriteFeed("up", 2);
  AwaitState(id, "succeeded");
}

// minClusterHealthyRatio 0.75: the use1-a wave holds while billing-v1 (its
// cell's only cluster) has 1 of 2 members healthy, and goes on when both
// are; the euw1-a wave's target is billing-dr (1/1), which passes.
TEST_F(RolloutMeshKitTest, WaveHoldsUntilItsClustersAreHealthy) {
  RewriteFeed("up", 1);
  Json policy = QuickPolicy(300);
  policy["canaryPercent"] = 0;
  policy["waves"] = Json::array({{{"scopes", {"cell:use1-a"}}}});
  policy["minClusterHealthyRatio"] = 0.75;
  const Json started = StartRollout(2'000, policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  Json held;
  ASSERT_TRUE(HeldAt(id, "cluster_health", held)) << held.dump();
  EXPECT_EQ(held["currentWave"], 0) << held.dump();
  EXPECT_NE(held["gate"]["message"].get<std::string>().find("billing-v1 (billing) has 1/2"),
            std::string::npos)
      << held.dump();
  const Json clusters = held["gate"]["figures"]["discovery"]["clusters"];
  ASSERT_EQ(clusters.size(), 1u) << held.dump();  // billing-dr is in the other cell
  EXPECT_EQ(clusters[0]["cluster"], "billing-v1");

  WriteFeed("up", 2);
  const Json last = AwaitState(id, "succeeded");
  EXPECT_TRUE(AllOn(started["version"], 2'000));
}

// Relays that report the control plane's own feed instance but stay behind
// it longer than maxDiscoveryLagMs hold the wave at "coherence"; once they
// report the feed's generation the wave goes on. (The daemon runs in this
// process, so its file feed's id — file:<path>@<host>/<pid> — is known here;
// the relays report it as librelay's hosts do, through their status.)
TEST_F(RolloutMeshKitTest, NodesBehindTheFeedHoldTheWave) {
  RewriteFeed("up", 2);  // generation 2
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  const std::string feed_id = "file:" + FeedPath() + "@" + host + "/" + std::to_string(::getpid());
  for (auto& relay : fleet_) relay->host().SetDiscoveryGeneration(1, feed_id);
  Json policy = QuickPolicy(4'000);
  policy["canaryPercent"] = 0;
  policy["maxDiscoveryLagMs"] = 1'000;
  const Json started = StartRollout(2'000, policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  Json held;
  ASSERT_TRUE(HeldAt(id, "coherence", held)) << held.dump();
  EXPECT_NE(held["gate"]["message"].get<std::string>().find(
                "reports discoveryGeneration 1, behind MeshKit feed " + feed_id + " (at 2)"),
            std::string::npos)
      << held.dump();
  EXPECT_EQ(held["gate"]["figures"]["discovery"]["feedId"], feed_id) << held.dump();
  for (auto& relay : fleet_) relay->host().SetDiscoveryGeneration(2, feed_id);
  AwaitState(id, "succeeded");
}

// Without --meshkit the rollout runs on its other gates and says the
// MeshKit ones are skipped.
class RolloutWithoutMeshKitTest : public RolloutMeshKitTest {
 protected:
  void ConfigureDaemon(cp::DaemonOptions&) const override {}
};

TEST_F(RolloutWithoutMeshKitTest, GatesSkippedAndSaidSo) {
  Json policy = QuickPolicy(60'000);
  policy["canaryPercent"] = 0;
  policy["minClusterHealthyRatio"] = 0.75;
  const Json started = StartRollout(2'000, policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  Json held;
  ASSERT_TRUE(HeldAt(id, "bake", held)) << held.dump();  // past ack, coherence: no MeshKit gate
  EXPECT_EQ(held["gate"]["figures"]["discovery"]["state"], "none") << held.dump();
  EXPECT_EQ(held["gate"]["figures"]["cells"], Json::array({"euw1-a", "use1-a"})) << held.dump();
  EXPECT_EQ(Act(id, "abort").status, 200);
}

}  // namespace
}  // namespace omnirelay::relay::testing

// Rollouts through their gates with 50 real relays over two regions: waves
// promote on their own when every gate passes, and a wave whose relays
// breach the SLO, NACK, or stop ACKing rolls the rollout back — every relay
// then runs the old content at a version above the bad one.
#include "rollout_fleet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace omnirelay::relay::testing {
namespace {

class RolloutFleetGatesTest : public RolloutFleetTest {
 protected:
  // The rollout rolled back for `reason`: the rollback version is above the
  // bad one; every relay ends on the old content there (ACKed).
  void ExpectRolledBackEverywhere(const Json& done, const std::string& reason) {
    EXPECT_EQ(done.value("rollbackReason", ""), reason) << done.dump();
    const std::int64_t bad = done.value("version", std::int64_t{0});
    const std::int64_t v3 = done.value("rollbackVersion", std::int64_t{0});
    EXPECT_GT(v3, bad) << done.dump();
    EXPECT_TRUE(AllOn(v3, v1_max_requests_));
    const Reply layer = Call("GET", "/v1/layers/global");
    ASSERT_EQ(layer.status, 200);
    EXPECT_EQ(layer.body["revision"], v3);
    EXPECT_EQ(layer.body["document"]["spec"]["dispatcher"]["maxConcurrentRequests"],
              v1_max_requests_);
    // The driver's verdict is in the audit log (beside the rollback's layer writes).
    const Json audit = Audit("rollout.rollback");
    EXPECT_TRUE(std::any_of(audit.begin(), audit.end(), [](const Json& e) {
      return e.value("principal", "") == "rollout-driver";
    })) << audit.dump();
  }
};

// Canary, then the eu-west wave, then everyone: the driver promotes each wave
// once its relays ACKed and it baked, never handing the new version to a
// relay before its wave; every relay ends on it, ACKed.
TEST_F(RolloutFleetGatesTest, ThreeWavesPromoteAutomatically) {
  Json policy = QuickPolicy(1'500);
  policy["waves"] = Json::array({{{"scopes", {"region:eu-west"}}}});
  const Json started = StartRollout(2'000, policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  const std::int64_t v2 = started["version"];
  EXPECT_GT(v2, v1_);
  ASSERT_EQ(started["waves"].size(), 3u) << started.dump();
  EXPECT_EQ(started["waves"][0]["kind"], "canary");
  EXPECT_EQ(started["waves"][1]["kind"], "scopes");
  EXPECT_EQ(started["waves"][2]["kind"], "global");
  int planned = 0;
  for (const auto& wave : started["waves"]) {
    EXPECT_GE(wave["nodes"].get<int>(), 1) << wave.dump();
    planned += wave["nodes"].get<int>();
  }
  EXPECT_EQ(planned, kRolloutFleet);
  for (const Relay* r : Relays(started["waves"][1]["nodeIds"])) {
    EXPECT_EQ((r->id().back() - '0') % 2, 1) << r->id() << " (us-east) in the eu-west wave";
  }
  for (const Relay* r : Relays(started["waves"][2]["nodeIds"])) {
    EXPECT_EQ((r->id().back() - '0') % 2, 0) << r->id() << " (eu-west) in the last wave";
  }

  const Json last = AwaitSucceededWaveByWave(started);
  ASSERT_EQ(last.value("state", ""), "succeeded");
  EXPECT_TRUE(AllOn(v2, 2'000));
  for (const auto& wave : last["waves"]) EXPECT_EQ(wave["state"], "passed") << last.dump();
  EXPECT_EQ(last["currentWave"], 2);
  // Each wave promoted once, in order, by the driver.
  ExpectEachWavePromotedOnce();
}

// The canaries' requests on the new version fail while the others' succeed:
// the SLO gate rolls the rollout back before the bake ends.
TEST_F(RolloutFleetGatesTest, SloBreachOnCanariesRollsBack) {
  // The bad version is the next revision: the traffic fails on it from the start.
  const std::int64_t bad = v1_ + 1;
  Traffic traffic(fleet_, bad);
  Json policy = QuickPolicy(120'000);
  policy["slo"] = {{"minRequests", 20}, {"maxErrorRateDelta", 0.05}};
  const Json started = StartRollout(3'000, policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  ASSERT_EQ(started["version"], bad) << started.dump();
  const Json done = AwaitState(id, "rolled_back", std::chrono::seconds(90));
  ExpectRolledBackEverywhere(done, "slo_breach");
  EXPECT_EQ(done["currentWave"], 0) << done.dump();
  EXPECT_EQ(done["gate"]["gate"], "slo") << done.dump();
  // The others were never offered the bad version.
  std::set<std::string> canary;
  for (const auto& node : done["waves"][0]["nodeIds"]) canary.insert(node);
  for (std::size_t i = 0; i < fleet_.size(); ++i) {
    if (canary.count(fleet_[i]->id()) != 0) continue;
    EXPECT_FALSE(checks_[i]->Saw(3'000)) << fleet_[i]->id();
  }
}

// A canary that refuses the new snapshot (a relay-side check: more
// concurrent requests than it can serve) NACKs it; the NACK gate rolls back.
TEST_F(RolloutFleetGatesTest, NackingCanaryRollsBack) {
  Json policy = QuickPolicy(120'000);
  policy["maxNackRatio"] = 0.0;
  const Json started = StartRollout(kRelayMaxRequests + 1, policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  const Json done = AwaitState(id, "rolled_back", std::chrono::seconds(60));
  ExpectRolledBackEverywhere(done, "nack_ratio");
  for (Relay* r : Relays(done["waves"][0]["nodeIds"])) {
    EXPECT_GE(r->watcher()->stats().nacks, 1u) << r->id();
    EXPECT_EQ(r->host().health().last_error.code(), StatusCode::kInvalidArgument) << r->id();
  }
}

// Canaries that stop applying (their streams stay open) never ACK: once the
// ACK deadline passes the rollout rolls back; they catch up when they resume.
TEST_F(RolloutFleetGatesTest, MissedAckDeadlineRollsBack) {
  Json policy = QuickPolicy(120'000);
  policy["ackDeadlineMs"] = 8'000;  // room for every canary to be offered the snapshot
  const Json started = StartRollout(kStallRequests, policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  std::vector<RelayCheck*> canary_checks;
  for (const auto& node : started["waves"][0]["nodeIds"]) {
    for (std::size_t i = 0; i < fleet_.size(); ++i) {
      if (fleet_[i]->id() == node.get<std::string>()) canary_checks.push_back(checks_[i].get());
    }
  }
  ASSERT_FALSE(canary_checks.empty());
  EXPECT_TRUE(Eventually([&] {
    return std::all_of(canary_checks.begin(), canary_checks.end(),
                       [](const RelayCheck* c) { return c->stalled() == 1; });
  }));
  const Json done = AwaitState(id, "rolled_back", std::chrono::seconds(60));
  EXPECT_EQ(done["gate"]["gate"], "ack") << done.dump();
  for (auto& check : checks_) check->Release();
  ExpectRolledBackEverywhere(done, "ack_deadline");
}

}  // namespace
}  // namespace omnirelay::relay::testing

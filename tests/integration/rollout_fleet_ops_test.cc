// Rollouts and the operator's other tools with 50 real relays over two
// regions: a daemon restarted mid-wave picks the rollout up where it stood;
// a rollout holds its chains against other writes; a freeze stops writes and
// new rollouts but not a rollback.
#include <gtest/gtest.h>

#include "rollout_fleet.h"

namespace omnirelay::relay::testing {
namespace {

using RolloutFleetOpsTest = RolloutFleetTest;

// The daemon stopped and started again on the same data dir (and ports)
// while the canary bakes: the rollout resumes from the stored state, the
// relays keep what they run, and each wave is promoted once, in order.
TEST_F(RolloutFleetOpsTest, DaemonRestartedMidWaveResumes) {
  Json policy = QuickPolicy(4'000);
  policy["waves"] = Json::array({{{"scopes", {"region:eu-west"}}}});
  const Json started = StartRollout(2'000, policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  const std::int64_t v2 = started["version"];
  ASSERT_TRUE(Acked(Relays(started["waves"][0]["nodeIds"]), v2));
  const Json before = Rollout(id);
  ASSERT_EQ(before["state"], "running") << before.dump();
  ASSERT_EQ(before["currentWave"], 0) << "the canary baked before the restart: " << before.dump();

  const int grpc_port = cp_.grpc_port();
  const int http_port = cp_.http_port();
  cp_.Stop();
  cp_.Start(grpc_port, http_port);
  const Json resumed = Rollout(id);
  EXPECT_EQ(resumed["state"], "running") << resumed.dump();
  // The first driver tick may already have promoted the baked canary.
  EXPECT_LE(resumed.value("currentWave", 99), 1) << resumed.dump();
  EXPECT_EQ(resumed["version"], v2);

  const Json last = AwaitSucceededWaveByWave(started);
  ASSERT_EQ(last.value("state", ""), "succeeded");
  EXPECT_TRUE(AllOn(v2, 2'000));
  for (const auto& wave : last["waves"]) EXPECT_EQ(wave["state"], "passed") << last.dump();
  // Wave 0's promotion and wave 1's, once each: no wave was promoted twice
  // or skipped across the restart.
  ExpectEachWavePromotedOnce();
}

// While a rollout holds global (and so every chain), a second rollout — on
// global or on a region — and a plain write to a held chain are refused
// rollout_in_progress; nothing moves. Once it has rolled back, writes pass.
TEST_F(RolloutFleetOpsTest, OverlappingRolloutAndPlainWriteAreRefused) {
  Json policy = QuickPolicy(0);
  policy["promotion"] = "manual";
  const Json started = StartRollout(2'000, policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  const std::int64_t v2 = started["version"];
  ASSERT_TRUE(Acked(Relays(started["waves"][0]["nodeIds"]), v2));

  auto expect_in_progress = [&](const Reply& r, const std::string& what) {
    EXPECT_EQ(r.status, 409) << what << ": " << r.body.dump();
    EXPECT_EQ(r.body.value("code", ""), "rollout_in_progress") << what << ": " << r.body.dump();
    EXPECT_NE(r.body.value("message", "").find(id), std::string::npos)
        << what << ": " << r.body.dump();
  };
  expect_in_progress(PostRollout(2'500, policy), "a second rollout of global");
  const Json region_body = {{"layers", Json::array({LayerFor("region:eu-west", 2'500)})},
                            {"policy", policy}};
  expect_in_progress(Call("POST", "/v1/rollouts", region_body.dump()),
                     "a rollout of region:eu-west");
  expect_in_progress(PutGlobal(2'500), "a plain write of global");
  expect_in_progress(
      Call("PUT", "/v1/layers/region:us-east", LayerFor("region:us-east", 2'500).dump()),
      "a plain write of region:us-east");

  // Nothing was written: global is still the rollout's revision, and the
  // relays outside the canary still run v1.
  const Reply layer = Call("GET", "/v1/layers/global");
  ASSERT_EQ(layer.status, 200);
  EXPECT_EQ(layer.body["revision"], v2);
  EXPECT_EQ(Call("GET", "/v1/layers/region:us-east").status, 404);
  for (Relay* r : Relays(started["waves"][1]["nodeIds"])) EXPECT_EQ(r->version(), v1_) << r->id();

  const Reply rollback = Act(id, "rollback");
  EXPECT_EQ(rollback.status, 200) << rollback.body.dump();
  const Json done = AwaitState(id, "rolled_back");
  EXPECT_EQ(done.value("rollbackReason", ""), "operator") << done.dump();
  const std::int64_t v3 = done.value("rollbackVersion", std::int64_t{0});
  EXPECT_GT(v3, v2);
  ASSERT_TRUE(AllOn(v3, v1_max_requests_));
  const Reply plain = PutGlobal(2'500);
  ASSERT_EQ(plain.status, 200) << plain.body.dump();
  EXPECT_TRUE(AllOn(plain.body.value("revision", std::int64_t{0}), 2'500));
}

// A freeze refuses plain writes and new rollouts (409 frozen) but lets an
// operator's rollback of a running rollout through; every relay ends on the
// old content. Lifting the freeze lets writes through again.
TEST_F(RolloutFleetOpsTest, FreezeRefusesWritesButNotARollback) {
  Json policy = QuickPolicy(0);
  policy["promotion"] = "manual";
  const Json started = StartRollout(2'000, policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  const std::int64_t v2 = started["version"];
  ASSERT_TRUE(Acked(Relays(started["waves"][0]["nodeIds"]), v2));
  AwaitState(id, "awaiting_promote");

  const Reply frozen = SetFreeze(true, "incident 42");
  ASSERT_EQ(frozen.status, 200) << frozen.body.dump();
  auto expect_frozen = [](const Reply& r, const std::string& what) {
    EXPECT_EQ(r.status, 409) << what << ": " << r.body.dump();
    EXPECT_EQ(r.body.value("code", ""), "frozen") << what << ": " << r.body.dump();
    EXPECT_NE(r.body.value("message", "").find("incident 42"), std::string::npos)
        << what << ": " << r.body.dump();
  };
  expect_frozen(PutGlobal(2'500), "a plain write");
  expect_frozen(PostRollout(2'500, policy), "a new rollout");
  EXPECT_EQ(Rollout(id)["state"], "awaiting_promote");

  const Reply rollback = Act(id, "rollback");
  EXPECT_EQ(rollback.status, 200) << rollback.body.dump();
  const Json done = AwaitState(id, "rolled_back");
  EXPECT_EQ(done.value("rollbackReason", ""), "operator") << done.dump();
  const std::int64_t v3 = done.value("rollbackVersion", std::int64_t{0});
  EXPECT_GT(v3, v2);
  EXPECT_TRUE(AllOn(v3, v1_max_requests_));
  EXPECT_EQ(Call("GET", "/v1/freeze").body.value("frozen", false), true);

  ASSERT_EQ(SetFreeze(false).status, 200);
  const Reply plain = PutGlobal(2'500);
  ASSERT_EQ(plain.status, 200) << plain.body.dump();
  EXPECT_TRUE(AllOn(plain.body.value("revision", std::int64_t{0}), 2'500));
}

}  // namespace
}  // namespace omnirelay::relay::testing

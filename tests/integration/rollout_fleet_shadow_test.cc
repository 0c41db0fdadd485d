// Guardrails with 50 real relays: a destructive change is refused without
// confirm, and with confirm may go shadow-first — a generated first wave
// gives every relay the old routing with a share of the changed route
// mirrored to the replacement, before any relay is cut over; a rollback from
// there moves every relay back to the old content.
#include <gtest/gtest.h>

#include "rollout_fleet.h"

namespace omnirelay::relay::testing {
namespace {

// The sample global layer with billing moved from v1/v2 (90/10) to a new
// cluster billing-v3, and billing-v1/v2 removed: destructive.
Json BillingV3Layer() {
  Json doc = SampleGlobalLayer();
  Json& clusters = doc["spec"]["clusters"];
  clusters["billing-v3"] = clusters["billing-v1"];
  clusters.erase("billing-v1");
  clusters.erase("billing-v2");
  doc["spec"]["routes"]["billing"]["weights"] = {{"billing-v3", 100}};
  return doc;
}

Json ShadowPolicy() {
  Json policy = QuickPolicy(0);
  policy["promotion"] = "manual";
  policy["shadowFirstPercent"] = 25;
  return policy;
}

const Route* BillingRoute(Relay& relay) {
  const auto snap = relay.host().Current();
  if (snap == nullptr) return nullptr;
  for (const auto& r : snap->spec().routes) {
    if (r.name == "billing") return &r.value;
  }
  return nullptr;
}

// The relay runs `version` and routes billing by the old weights, mirroring
// 25% to billing-v3.
bool Shadowing(Relay& relay, std::int64_t version) {
  if (relay.version() != version) return false;
  const Route* billing = BillingRoute(relay);
  if (billing == nullptr || !billing->shadow) return false;
  const std::vector<RouteWeight> old_weights = {{"billing-v1", 90}, {"billing-v2", 10}};
  return billing->weights == old_weights && billing->shadow->cluster == "billing-v3" &&
         billing->shadow->basis_points == 2'500;
}

class RolloutFleetShadowTest : public RolloutFleetTest {
 protected:
  // POST /v1/rollouts of BillingV3Layer, shadow-first.
  Reply PostBillingV3(bool confirm) {
    Json body = {{"layers", Json::array({BillingV3Layer()})},
                 {"policy", ShadowPolicy()},
                 {"reason", "billing to v3"}};
    return Call("POST", confirm ? "/v1/rollouts?confirm=true" : "/v1/rollouts", body.dump());
  }
};

TEST_F(RolloutFleetShadowTest, DestructiveNeedsConfirmThenShadowFirstMirrorsBeforeCutOver) {
  const Reply refused = PostBillingV3(false);
  EXPECT_EQ(refused.status, 400) << refused.body.dump();
  EXPECT_EQ(refused.body.value("code", ""), "destructive_change") << refused.body.dump();
  EXPECT_EQ(refused.body["details"]["errors"][0].value("code", ""), "destructive_change")
      << refused.body.dump();
  EXPECT_EQ(Call("GET", "/v1/layers/global").body.value("revision", std::int64_t{0}), v1_);

  const Reply accepted = PostBillingV3(true);
  ASSERT_EQ(accepted.status, 201) << accepted.body.dump();
  const Json& started = accepted.body;
  const std::string id = started.value("id", "");
  const std::int64_t shadow = started.value("shadowVersion", std::int64_t{0});
  const std::int64_t v_new = started["version"];
  ASSERT_GT(shadow, v1_) << started.dump();
  ASSERT_GT(v_new, shadow) << started.dump();
  ASSERT_EQ(started["waves"].size(), 3u) << started.dump();  // shadow, canary, the rest
  EXPECT_EQ(started["waves"][0]["kind"], "shadow");
  EXPECT_EQ(started["waves"][0]["nodes"], kRolloutFleet);
  EXPECT_EQ(started["waves"][1]["kind"], "canary");

  // Every relay mirrors before any is cut over.
  for (auto& relay : fleet_) {
    ASSERT_TRUE(Eventually([&] { return Shadowing(*relay, shadow); }, std::chrono::seconds(60)))
        << relay->id() << " on v" << relay->version();
  }
  const Json waiting = AwaitState(id, "awaiting_promote");
  EXPECT_EQ(waiting.value("currentWave", 99), 0) << waiting.dump();
  EXPECT_EQ(waiting["waves"][0].value("acked", -1), kRolloutFleet) << waiting.dump();
  for (auto& relay : fleet_) EXPECT_EQ(relay->version(), shadow) << relay->id();

  // The shadow layer is a revision of its own in the history, audited as the shadow wave's.
  const Reply history = Call("GET", "/v1/layers/global/history");
  ASSERT_EQ(history.status, 200) << history.body.dump();
  EXPECT_EQ(history.body["revisions"][1].value("revision", std::int64_t{0}), shadow);
  bool audited = false;
  for (const Json& e : Audit("layer.put")) {
    audited = audited || (e.value("revision", std::int64_t{0}) == shadow &&
                          e.value("summary", "")
                                  .find("shadow-first wave: mirrors billing -> "
                                        "billing-v3") != std::string::npos);
  }
  EXPECT_TRUE(audited) << Audit("layer.put").dump();

  // The canary, then everything: each relay routes billing to billing-v3 only.
  ASSERT_EQ(Act(id, "promote").status, 200);
  ASSERT_TRUE(Acked(Relays(Rollout(id)["waves"][1]["nodeIds"]), v_new));
  for (Relay* r : Relays(Rollout(id)["waves"][2]["nodeIds"])) {
    EXPECT_EQ(r->version(), shadow) << r->id() << ": cut over before its wave";
  }
  AwaitState(id, "awaiting_promote");
  ASSERT_EQ(Act(id, "promote").status, 200);
  const Json done = AwaitState(id, "awaiting_promote");
  ASSERT_EQ(Act(id, "promote").status, 200) << done.dump();
  EXPECT_EQ(AwaitState(id, "succeeded").value("state", ""), "succeeded");
  for (auto& relay : fleet_) {
    ASSERT_TRUE(Eventually([&] { return relay->version() == v_new; }, std::chrono::seconds(60)))
        << relay->id();
    const Route* billing = BillingRoute(*relay);
    ASSERT_NE(billing, nullptr);
    EXPECT_EQ(billing->weights, (std::vector<RouteWeight>{{"billing-v3", 100}})) << relay->id();
    ASSERT_TRUE(billing->shadow.has_value());
    EXPECT_EQ(billing->shadow->cluster, "billing-dr");  // the new layer's own mirror
  }
}

// Rolled back during the shadow wave: every relay leaves the shadow content
// for the old one at a higher revision.
TEST_F(RolloutFleetShadowTest, RollbackFromTheShadowWaveRestoresTheOldContent) {
  const Reply accepted = PostBillingV3(true);
  ASSERT_EQ(accepted.status, 201) << accepted.body.dump();
  const std::string id = accepted.body.value("id", "");
  const std::int64_t shadow = accepted.body.value("shadowVersion", std::int64_t{0});
  ASSERT_TRUE(AllOn(shadow, v1_max_requests_));

  ASSERT_EQ(Act(id, "rollback").status, 200);
  const Json done = AwaitState(id, "rolled_back");
  const std::int64_t back = done.value("rollbackVersion", std::int64_t{0});
  EXPECT_GT(back, accepted.body.value("version", std::int64_t{0})) << done.dump();
  ASSERT_TRUE(AllOn(back, v1_max_requests_));
  for (auto& relay : fleet_) {
    const Route* billing = BillingRoute(*relay);
    ASSERT_NE(billing, nullptr);
    EXPECT_EQ(billing->weights, (std::vector<RouteWeight>{{"billing-v1", 90}, {"billing-v2", 10}}));
    ASSERT_TRUE(billing->shadow.has_value());
    EXPECT_EQ(billing->shadow->cluster, "billing-dr") << relay->id();
  }
}

}  // namespace
}  // namespace omnirelay::relay::testing

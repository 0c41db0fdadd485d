// A rollout through a mixed fleet (DESIGN.md §3.3, Compatibility): every
// third relay is a build older than the node feature "rolloutInfo" (its hello
// does not advertise it, its verifier refuses metadata.rollout as an unknown
// field). The relays that advertise it run snapshots naming the rollout and
// their wave; the old ones receive and apply every version without the
// field, never NACK, and the rollout promotes to success all the same.
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <string>
#include <vector>

#include "rollout_fleet.h"

namespace omnirelay::relay::testing {
namespace {

class RolloutFleetLabelsTest : public RolloutFleetTest {
 protected:
  std::vector<std::string> FeaturesOf(int i) const override {
    if (i % 3 == 0) return {"shadowing"};  // an older build
    return {};                             // this build: shadowing, rolloutInfo
  }
  bool Old(const Relay& r) const {
    return FeaturesOf(std::stoi(r.id().substr(r.id().rfind('-') + 1))) ==
           std::vector<std::string>{"shadowing"};
  }
  static std::string ChainOf(const Relay& r) {
    return (r.id().back() - '0') % 2 == 0 ? kUsEast : kEuWest;
  }

  // GET /v1/nodes/{id}/snapshot (the pull fallback) as admin, optionally
  // with If-None-Match: the status and ETag.
  std::pair<int, std::string> Pull(const Relay& r, const std::string& if_none_match = "") {
    httplib::Client client("127.0.0.1", cp_.http_port());
    httplib::Headers headers = {{"Authorization", "Bearer " + cp_.admin_token()}};
    if (!if_none_match.empty()) headers.emplace("If-None-Match", "\"" + if_none_match + "\"");
    auto res = client.Get("/v1/nodes/" + r.id() + "/snapshot?chain=" + ChainOf(r), headers);
    if (!res) return {0, ""};
    return {res->status, res->get_header_value("ETag")};
  }

  // Every relay runs a snapshot without metadata.rollout.
  void ExpectNoLabels() {
    for (const auto& r : fleet_) {
      const auto& current = r->host().Current();
      ASSERT_NE(current, nullptr) << r->id();
      EXPECT_FALSE(current->snapshot().metadata.rollout.has_value()) << r->id();
    }
  }
};

// The mixed fleet through a three-wave rollout, then a plain write.
TEST_F(RolloutFleetLabelsTest, OldAndNewBuildsFollowARollout) {
  ExpectNoLabels();  // v1, written before any rollout
  Json policy = QuickPolicy(1'500);
  policy["waves"] = Json::array({{{"scopes", {"region:eu-west"}}}});
  const Json started = StartRollout(2'000, policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  const std::int64_t v2 = started["version"];
  std::map<std::string, std::int64_t> wave_of;  // 1-based, as `rollout status` prints
  for (std::size_t w = 0; w < started["waves"].size(); ++w) {
    for (const auto& node : started["waves"][w]["nodeIds"]) {
      wave_of[node] = static_cast<std::int64_t>(w) + 1;
    }
  }
  ASSERT_EQ(wave_of.size(), static_cast<std::size_t>(kRolloutFleet));

  const Json last = AwaitSucceededWaveByWave(started);
  ASSERT_EQ(last.value("state", ""), "succeeded") << last.dump();
  ExpectEachWavePromotedOnce();
  ASSERT_TRUE(AllOn(v2, 2'000));

  int old = 0;
  for (const auto& r : fleet_) {
    const auto& current = r->host().Current();
    ASSERT_NE(current, nullptr) << r->id();
    const auto& label = current->snapshot().metadata.rollout;
    if (Old(*r)) {
      ++old;
      EXPECT_FALSE(label.has_value()) << r->id();
    } else {
      ASSERT_TRUE(label.has_value()) << r->id();
      EXPECT_EQ(label->id, id) << r->id();
      EXPECT_EQ(label->wave, wave_of[r->id()]) << r->id();
    }
    // Nothing refused anywhere: no NACK, no refusal on the relay.
    EXPECT_EQ(r->watcher()->stats().nacks, 0u) << r->id();
    EXPECT_TRUE(r->host().health().last_error.ok())
        << r->id() << ": " << r->host().health().last_error.ToString();
    // The daemon shows what the relay runs as applied, hash included.
    const Json node = cp_.Node(r->id());
    EXPECT_EQ(node.value("appliedHash", ""), current->hash()) << node.dump();
    // The pull fallback answers each node what its stream sent it.
    const auto [status, etag] = Pull(*r);
    EXPECT_EQ(status, 200) << r->id();
    EXPECT_EQ(etag, "\"" + current->hash() + "\"") << r->id();
    EXPECT_EQ(Pull(*r, current->hash()).first, 304) << r->id();
  }
  EXPECT_EQ(old, 17);  // relay-0, -3, ..., -48

  // A plain write outside any rollout: no label for anyone.
  const Reply put = PutGlobal(3'000);
  ASSERT_EQ(put.status, 200) << put.body.dump();
  const std::int64_t v3 = put.body["revision"];
  ASSERT_TRUE(AllOn(v3, 3'000));
  ExpectNoLabels();
  for (const auto& r : fleet_) EXPECT_EQ(r->watcher()->stats().nacks, 0u) << r->id();
}

// A second rollout over a region: its nodes carry its label once their wave
// has its content; until then (held at its base, the first rollout's
// content) and on the other region's chain, the first rollout's label stays.
TEST_F(RolloutFleetLabelsTest, LaterRolloutRelabelsOnlyWhatItDelivers) {
  Json first_policy = QuickPolicy(500);
  first_policy["canaryPercent"] = 100;  // one wave: every node
  const Json first = StartRollout(2'000, first_policy);
  const std::string first_id = first.value("id", "");
  ASSERT_FALSE(first_id.empty()) << first.dump();
  ASSERT_EQ(AwaitState(first_id, "succeeded").value("state", ""), "succeeded");
  ASSERT_TRUE(AllOn(first["version"], 2'000));

  const Json region = {{"apiVersion", "omnirelay.config/v1"},
                       {"kind", "ConfigLayer"},
                       {"metadata", {{"scope", "region:eu-west"}, {"author", "test"}}},
                       {"spec", {{"dispatcher", {{"maxConcurrentRequests", 2'500}}}}}};
  const Reply posted =
      Call("POST", "/v1/rollouts",
           Json{{"layers", Json::array({region})}, {"policy", QuickPolicy(1'500)}}.dump());
  ASSERT_EQ(posted.status, 201) << posted.body.dump();
  const std::string second_id = posted.body.value("id", "");
  std::map<std::string, std::int64_t> wave_of;
  for (std::size_t w = 0; w < posted.body["waves"].size(); ++w) {
    for (const auto& node : posted.body["waves"][w]["nodeIds"]) {
      wave_of[node] = static_cast<std::int64_t>(w) + 1;
    }
  }
  EXPECT_EQ(wave_of.size(), static_cast<std::size_t>(kRolloutFleet / 2));  // eu-west
  ASSERT_EQ(AwaitState(second_id, "succeeded").value("state", ""), "succeeded");
  const std::int64_t v3 = posted.body["version"];
  ASSERT_TRUE(Eventually(
      [&] {
        for (const auto& r : fleet_) {
          if (ChainOf(*r) == kEuWest && r->version() != v3) return false;
        }
        return true;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(50)));
  for (const auto& r : fleet_) {
    const auto& label = r->host().Current()->snapshot().metadata.rollout;
    EXPECT_EQ(r->watcher()->stats().nacks, 0u) << r->id();
    if (Old(*r)) {
      EXPECT_FALSE(label.has_value()) << r->id();
    } else if (ChainOf(*r) == kEuWest) {
      ASSERT_TRUE(label.has_value()) << r->id();
      EXPECT_EQ(label->id, second_id) << r->id();
      EXPECT_EQ(label->wave, wave_of[r->id()]) << r->id();
    } else {
      ASSERT_TRUE(label.has_value()) << r->id();
      EXPECT_EQ(label->id, first_id) << r->id();
      EXPECT_EQ(label->wave, 1) << r->id();
    }
  }
}

// Why the gating is needed: the labelled snapshot a new build is sent, given
// to an old build, is refused (invalid: unknown_field /metadata/rollout).
TEST_F(RolloutFleetLabelsTest, LabelledSnapshotIsRefusedByAnOldBuild) {
  Json policy = QuickPolicy(60'000);
  policy["canaryPercent"] = 100;  // one wave: every node at once
  const Json started = StartRollout(2'000, policy);
  const std::int64_t v2 = started.value("version", std::int64_t{0});
  ASSERT_GT(v2, v1_) << started.dump();
  ASSERT_TRUE(AllOn(v2, 2'000));
  Relay* old_relay = fleet_[0].get();  // relay-0: old, us-east
  Relay* new_relay = fleet_[2].get();  // relay-2: new, us-east
  ASSERT_TRUE(Old(*old_relay));
  ASSERT_FALSE(Old(*new_relay));
  const std::string labelled = cp_.SnapshotEnvelope(new_relay->id(), kUsEast);
  ASSERT_FALSE(labelled.empty());
  ASSERT_TRUE(new_relay->host().Current()->snapshot().metadata.rollout.has_value());

  auto refused = old_relay->host().Apply(labelled);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalid) << refused.status().ToString();
  ASSERT_FALSE(refused.status().diagnostics().empty());
  EXPECT_EQ(refused.status().diagnostics()[0].path, "/metadata/rollout");
  EXPECT_EQ(refused.status().diagnostics()[0].code, DiagCode::kUnknownField);
  EXPECT_EQ(old_relay->version(), v2);  // it keeps what it runs
  EXPECT_FALSE(old_relay->host().Current()->snapshot().metadata.rollout.has_value());
}

}  // namespace
}  // namespace omnirelay::relay::testing

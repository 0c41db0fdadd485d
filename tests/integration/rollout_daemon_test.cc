// Rollouts against the real controlplane binary: a change set staged as a
// rollout reaches the canary first, the rest only after the canary's gates
// pass; a NACKing canary rolls the rollout back, and every node that got the
// bad version ends on the old content at a higher version. Nodes are
// FakeNodes speaking the node feed over gRPC; the rollout is driven over REST.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon_process.h"
#include "fake_node.h"

namespace omnirelay::cp::testing {
namespace {

using Json = nlohmann::json;
using test_support::FakeNode;

constexpr int kNodes = 20;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class RolloutDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("omni-rollout-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    daemon_ = std::make_unique<DaemonProcess>(dir_.string());
    ASSERT_TRUE(daemon_->StartWithArgs(DaemonArgs(), false));
    http_ = std::make_unique<httplib::Client>("127.0.0.1", daemon_->http_port());
    http_->set_read_timeout(20, 0);
    auth_ = {{"Authorization", "Bearer " + daemon_->admin_token()}};
    global_ = Json::parse(ReadFile(std::string(OMNI_SAMPLES_DIR) + "/layers/00-global.json"));
    auto put = http_->Put("/v1/layers/global", auth_, global_.dump(), "application/json");
    ASSERT_TRUE(put && put->status == 200) << (put ? put->body : "no answer");
    for (int i = 0; i < kNodes; ++i) {
      nodes_.push_back(std::make_unique<FakeNode>(daemon_->grpc_address(), daemon_->admin_token(),
                                                  "n-" + std::to_string(i), "global"));
      nodes_.back()->Hello();
      auto first = nodes_.back()->Next();
      if (first && first->has_welcome()) first = nodes_.back()->Next();
      ASSERT_TRUE(first && first->has_notify())
          << "node " << i << " got no snapshot: "
          << (first ? first->DebugString() : nodes_.back()->WaitEnded().error_message());
      ASSERT_TRUE(nodes_.back()->Ack(first->notify()));
      hashes_[nodes_.back()->id()] = first->notify().hash();
      v1_ = first->notify().version();
    }
    // Concurrent first hellos may each render v1 (a re-signed copy is sent
    // again): take what is still coming before the rollout begins.
    for (auto& node : nodes_) {
      while (auto again = node->NextNotify(std::chrono::milliseconds(100))) {
        node->Ack(*again);
        hashes_[node->id()] = again->hash();
      }
    }
  }

  // Extra controlplane flags of a derived fixture.
  virtual std::vector<std::string> DaemonArgs() const { return {}; }

  void TearDown() override {
    nodes_.clear();
    daemon_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The global layer with billing's weights moved: a harmless change.
  std::string ChangedGlobal() const {
    Json changed = global_;
    changed["spec"]["routes"]["billing"]["weights"] = {{"billing-v1", 50}, {"billing-v2", 50}};
    return changed.dump();
  }

  Json StartRollout(const Json& policy) {
    Json body = {{"layers", Json::array({Json::parse(ChangedGlobal())})},
                 {"policy", policy},
                 {"reason", "billing 50/50"}};
    auto res = http_->Post("/v1/rollouts", auth_, body.dump(), "application/json");
    EXPECT_TRUE(res && res->status == 201) << (res ? res->body : "no answer");
    return res ? Json::parse(res->body, nullptr, false) : Json();
  }

  Json Rollout(const std::string& id) {
    auto res = http_->Get("/v1/rollouts/" + id, auth_);
    EXPECT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
    return res ? Json::parse(res->body, nullptr, false) : Json();
  }

  // Polls the rollout until `state` (the driver ticks every second).
  Json AwaitState(const std::string& id, const std::string& state) {
    Json r;
    for (int i = 0; i < 200; ++i) {
      r = Rollout(id);
      if (r.value("state", "") == state) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "rollout " << id << " never reached " << state << ": " << r.dump();
    return r;
  }

  std::filesystem::path dir_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<httplib::Client> http_;
  httplib::Headers auth_;
  Json global_;
  std::vector<std::unique_ptr<FakeNode>> nodes_;
  std::int64_t v1_ = 0;
  std::map<std::string, std::string> hashes_;  // node id -> the hash it acked
};

// Canary first, then everyone once the canary ACKed; a plain write to the
// held chain is refused meanwhile (and passes with force).
TEST_F(RolloutDaemonTest, CanaryThenEveryoneAfterTheGatesPass) {
  const Json policy = {{"canaryPercent", 10},
                       {"bakeMs", 8000},
                       {"minAckRatio", 1.0},
                       {"ackDeadlineMs", 60000},
                       {"slo", {{"minRequests", 0}}}};
  const Json started = StartRollout(policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  EXPECT_EQ(started["state"], "running");
  ASSERT_EQ(started["waves"].size(), 2u) << started.dump();
  EXPECT_EQ(started["waves"][0]["kind"], "canary");
  const std::vector<std::string> canary = started["waves"][0]["nodeIds"];
  ASSERT_GE(canary.size(), 1u);
  ASSERT_LT(canary.size(), static_cast<std::size_t>(kNodes));
  const std::int64_t v2 = started["version"];
  EXPECT_GT(v2, v1_);

  // Only the canary is told the new version; it ACKs. The others keep v1 (a
  // re-signed copy of v1 may reach them: same version, same content).
  for (auto& node : nodes_) {
    const bool in_canary = std::find(canary.begin(), canary.end(), node->id()) != canary.end();
    if (in_canary) {
      auto n = node->NextNotify(std::chrono::seconds(10));
      ASSERT_TRUE(n) << node->id() << " (canary) got nothing";
      EXPECT_EQ(n->version(), v2);
      ASSERT_TRUE(node->Ack(*n));
      continue;
    }
    while (auto n = node->NextNotify(std::chrono::milliseconds(100))) {
      EXPECT_EQ(n->version(), v1_)
          << node->id() << " got version " << n->version() << " outside its wave";
      node->Ack(*n);
    }
  }

  // A plain write to the held chain: refused, unless forced.
  auto plain =
      http_->Put("/v1/layers/global?dryRun=true", auth_, ChangedGlobal(), "application/json");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 409) << plain->body;
  EXPECT_EQ(Json::parse(plain->body)["code"], "rollout_in_progress") << plain->body;
  auto forced = http_->Put("/v1/layers/global?dryRun=true&force=true", auth_, ChangedGlobal(),
                           "application/json");
  ASSERT_TRUE(forced);
  EXPECT_EQ(forced->status, 200) << forced->body;

  // After the bake the driver promotes: everyone else gets v2 and ACKs.
  for (auto& node : nodes_) {
    if (std::find(canary.begin(), canary.end(), node->id()) != canary.end()) continue;
    auto n = node->NextNotify(std::chrono::seconds(20));
    while (n && n->version() == v1_) n = node->NextNotify(std::chrono::seconds(20));
    ASSERT_TRUE(n) << node->id() << " never got the last wave";
    EXPECT_EQ(n->version(), v2);
    ASSERT_TRUE(node->Ack(*n));
  }
  const Json done = AwaitState(id, "succeeded");
  EXPECT_EQ(done["waves"][1]["state"], "passed");
  // The promotion stored the record's small part alone: the members part
  // (every node's wave and chain) was written when they were known, not again.
  auto metrics = http_->Get("/metrics");
  ASSERT_TRUE(metrics && metrics->status == 200);
  std::smatch kept;
  ASSERT_TRUE(std::regex_search(
      metrics->body, kept,
      std::regex(R"(omnirelay_cp_rollout_record_writes_total\{members="kept"\} (\d+))")))
      << metrics->body;
  EXPECT_GE(std::stoll(kept[1]), 1) << metrics->body;
}

// A canary that NACKs rolls the rollout back at once: the canary is moved to
// a new, higher version with the old content; the others never see v2.
TEST_F(RolloutDaemonTest, NackingCanaryRollsBack) {
  const Json policy = {{"canaryPercent", 10},
                       {"bakeMs", 60000},
                       {"maxNackRatio", 0.0},
                       {"slo", {{"minRequests", 0}}}};
  const Json started = StartRollout(policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  const std::vector<std::string> canary = started["waves"][0]["nodeIds"];
  const std::int64_t v2 = started["version"];
  for (auto& node : nodes_) {
    if (std::find(canary.begin(), canary.end(), node->id()) == canary.end()) continue;
    auto n = node->NextNotify(std::chrono::seconds(10));
    ASSERT_TRUE(n);
    controlplane::v1::NodeMessage nack;
    nack.mutable_nack()->set_version(n->version());
    nack.mutable_nack()->set_hash(n->hash());
    nack.mutable_nack()->set_reason("invalid");
    nack.mutable_nack()->set_message("refused by the test");
    ASSERT_TRUE(node->Send(nack));
  }
  const Json done = AwaitState(id, "rolled_back");
  EXPECT_EQ(done["rollbackReason"], "nack_ratio") << done.dump();
  const std::int64_t v3 = done.value("rollbackVersion", 0);
  EXPECT_GT(v3, v2);
  // The canary moves on to v3 (old content, higher version).
  for (auto& node : nodes_) {
    if (std::find(canary.begin(), canary.end(), node->id()) == canary.end()) continue;
    auto n = node->NextNotify(std::chrono::seconds(10));
    ASSERT_TRUE(n) << node->id() << " was not moved off the bad version";
    EXPECT_EQ(n->version(), v3);
  }
  // The stored global layer is the old content again, at v3.
  auto layer = http_->Get("/v1/layers/global", auth_);
  ASSERT_TRUE(layer && layer->status == 200);
  const Json stored = Json::parse(layer->body);
  EXPECT_EQ(stored["revision"], v3) << layer->body;
  EXPECT_EQ(stored["document"]["spec"]["routes"]["billing"]["weights"],
            global_["spec"]["routes"]["billing"]["weights"]);
  // Counted by reason, and the driver's step is in the audit log.
  auto metrics = http_->Get("/metrics");
  ASSERT_TRUE(metrics && metrics->status == 200);
  EXPECT_NE(metrics->body.find("omnirelay_cp_rollout_rollbacks_total{reason=\"nack_ratio\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("omnirelay_cp_rollouts{state=\"rolled_back\"} 1"),
            std::string::npos);
  auto audit = http_->Get("/v1/audit?action=rollout.rollback", auth_);
  ASSERT_TRUE(audit && audit->status == 200);
  const Json entries = Json::parse(audit->body)["entries"];
  ASSERT_FALSE(entries.empty()) << audit->body;
  EXPECT_EQ(entries[0]["principal"], "rollout-driver");
}

// Operators: pause holds, resume and promote move on; abort ends it with
// nodes where they are; a second rollout on the same chain is refused.
TEST_F(RolloutDaemonTest, OperatorActionsAndOverlap) {
  const Json policy = {
      {"canaryPercent", 10}, {"promotion", "manual"}, {"bakeMs", 0}, {"slo", {{"minRequests", 0}}}};
  const Json started = StartRollout(policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();

  Json body = {{"layers", Json::array({Json::parse(ChangedGlobal())})}};
  auto second = http_->Post("/v1/rollouts", auth_, body.dump(), "application/json");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 409) << second->body;
  EXPECT_EQ(Json::parse(second->body)["code"], "rollout_in_progress");

  auto act = [&](const std::string& action) {
    auto res = http_->Post("/v1/rollouts/" + id + ":" + action, auth_, "{}", "application/json");
    EXPECT_TRUE(res) << action;
    return res ? std::make_pair(res->status, Json::parse(res->body, nullptr, false))
               : std::make_pair(0, Json());
  };
  auto [paused_status, paused] = act("pause");
  EXPECT_EQ(paused_status, 200);
  EXPECT_EQ(paused["state"], "paused");
  auto [again_status, again] = act("pause");
  EXPECT_EQ(again_status, 409) << again.dump();  // already paused: a conflict, nothing changes
  EXPECT_EQ(act("resume").second["state"], "running");
  EXPECT_EQ(act("frobnicate").first, 404);
  EXPECT_EQ(act("abort").second["state"], "aborted");
  EXPECT_EQ(act("resume").first, 409);  // terminal

  // A read token reads, but cannot act.
  auto list = http_->Get("/v1/rollouts", auth_);
  ASSERT_TRUE(list && list->status == 200);
  EXPECT_EQ(Json::parse(list->body)["rollouts"][0]["id"], id);
}

// A daemon killed (SIGKILL) mid-wave resumes from the stored state: the
// rollout is still running at its wave, nodes that reconnect are held where
// they were (the canary on v2, the others on v1), and it promotes afterwards.
TEST_F(RolloutDaemonTest, KilledMidWaveResumes) {
  const Json policy = {{"canaryPercent", 10},      {"bakeMs", 3000},
                       {"minAckRatio", 1.0},       {"ackDeadlineMs", 120000},
                       {"offlineGraceMs", 120000}, {"slo", {{"minRequests", 0}}}};
  const Json started = StartRollout(policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  const std::vector<std::string> canary = started["waves"][0]["nodeIds"];
  const std::int64_t v2 = started["version"];
  std::map<std::string, std::pair<std::int64_t, std::string>> running;  // id -> (version, hash)
  for (auto& node : nodes_) {
    running[node->id()] = {v1_, hashes_[node->id()]};
    if (std::find(canary.begin(), canary.end(), node->id()) == canary.end()) continue;
    auto n = node->NextNotify(std::chrono::seconds(10));
    ASSERT_TRUE(n);
    ASSERT_EQ(n->version(), v2);
    ASSERT_TRUE(node->Ack(*n));
    running[node->id()] = {n->version(), n->hash()};
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the ACKs reach the daemon

  daemon_->Kill9();
  nodes_.clear();
  ASSERT_TRUE(daemon_->Start());  // the same data dir, new ports
  http_ = std::make_unique<httplib::Client>("127.0.0.1", daemon_->http_port());
  http_->set_read_timeout(20, 0);
  const Json resumed = Rollout(id);
  EXPECT_EQ(resumed["state"], "running") << resumed.dump();
  EXPECT_EQ(resumed["currentWave"], 0);

  // Every node comes back saying what it runs; the non-canary ones must not
  // be sent v2 before the promotion, and the promotion still happens.
  for (const auto& [node_id, have] : running) {
    nodes_.push_back(std::make_unique<FakeNode>(daemon_->grpc_address(), daemon_->admin_token(),
                                                node_id, "global"));
    nodes_.back()->Hello(have.first, have.second);
  }
  for (auto& node : nodes_) {
    if (std::find(canary.begin(), canary.end(), node->id()) != canary.end()) continue;
    auto n = node->NextNotify(std::chrono::seconds(20));
    while (n && n->version() == v1_) n = node->NextNotify(std::chrono::seconds(20));
    ASSERT_TRUE(n) << node->id() << " never got the last wave after the restart";
    EXPECT_EQ(n->version(), v2);
    ASSERT_TRUE(node->Ack(*n));
  }
  const Json done = AwaitState(id, "succeeded");
  EXPECT_EQ(done["version"], v2);
}

// A layer's own `rollout` block is the rollout's default policy; the
// request's keys go over it (a dry run shows the policy it would run).
TEST_F(RolloutDaemonTest, TheLayersRolloutBlockIsTheDefaultPolicy) {
  Json layer = Json::parse(ChangedGlobal());
  layer["rollout"] = {
      {"canaryPercent", 10}, {"promotion", "manual"}, {"slo", {{"minRequests", 7}}}};
  const Json body = {{"layers", Json::array({layer})},
                     {"policy", {{"bakeMs", 0}, {"slo", {{"maxP99Ratio", 2.0}}}}}};
  auto res = http_->Post("/v1/rollouts?dryRun=true", auth_, body.dump(), "application/json");
  ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
  const Json planned = Json::parse(res->body);
  EXPECT_EQ(planned["dryRun"], true);
  EXPECT_EQ(planned["state"], "pending");
  EXPECT_EQ(planned["policy"]["canaryPercent"], 10.0);
  EXPECT_EQ(planned["policy"]["promotion"], "manual");
  EXPECT_EQ(planned["policy"]["bakeMs"], 0);
  EXPECT_EQ(planned["policy"]["slo"]["minRequests"], 7);
  EXPECT_EQ(planned["policy"]["slo"]["maxP99Ratio"], 2.0);
  EXPECT_EQ(planned["waves"][0]["nodes"].get<int>() + planned["waves"][1]["nodes"].get<int>(),
            kNodes);
  // Nothing was written.
  auto list = http_->Get("/v1/rollouts", auth_);
  ASSERT_TRUE(list && list->status == 200);
  EXPECT_TRUE(Json::parse(list->body)["rollouts"].empty());
  // A bad block is refused with a pointer into it.
  layer["rollout"] = {{"canaryPercent", 150}};
  res = http_->Post("/v1/rollouts", auth_, Json{{"layers", Json::array({layer})}}.dump(),
                    "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
  EXPECT_NE(res->body.find("/rollout/canaryPercent"), std::string::npos) << res->body;
}

// Drift repair, with a short updating grace (re-notify after 1 s, drifted
// after 2 s): a canary that stops applying is sent its assignment again, is
// flagged drifted, and holds the wave at the "drift" gate even though the
// ACK ratio (0 here) is met; once it applies, the rollout goes on to everyone.
class RolloutDriftTest : public RolloutDaemonTest {
 protected:
  std::vector<std::string> DaemonArgs() const override { return {"--node-updating-grace", "2s"}; }
};

TEST_F(RolloutDriftTest, StuckCanaryIsRenotifiedFlaggedAndHoldsTheWave) {
  const Json policy = {{"canaryPercent", 10},
                       {"bakeMs", 1000},
                       {"minAckRatio", 0.0},  // the ACK ratio never holds: "drift" must
                       {"ackDeadlineMs", 600000},
                       {"slo", {{"minRequests", 0}}}};
  const Json started = StartRollout(policy);
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();
  const std::vector<std::string> canary = started["waves"][0]["nodeIds"];
  ASSERT_GE(canary.size(), 1u) << started.dump();  // the hash decides how many
  const std::int64_t v2 = started["version"];
  FakeNode* stuck = nullptr;
  for (auto& node : nodes_) {
    if (std::find(canary.begin(), canary.end(), node->id()) == canary.end()) continue;
    auto n = node->NextNotify(std::chrono::seconds(10));
    ASSERT_TRUE(n) << node->id() << " (canary) got nothing";
    ASSERT_EQ(n->version(), v2);
    if (stuck == nullptr) {
      stuck = node.get();  // receives v2 and never applies it
    } else {
      ASSERT_TRUE(node->Ack(*n));
    }
  }
  ASSERT_NE(stuck, nullptr);

  // Re-notified: the same assignment once more.
  auto again = stuck->NextNotify(std::chrono::seconds(20));
  ASSERT_TRUE(again) << stuck->id() << " was not sent its assignment again";
  EXPECT_EQ(again->version(), v2);

  // Flagged: nodes?drift=true lists it as drifted.
  Json drifted;
  for (int i = 0; i < 100; ++i) {
    auto res = http_->Get("/v1/nodes?drift=true", auth_);
    ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
    drifted = Json::parse(res->body);
    if (drifted.dump().find("\"drifted\"") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(drifted.dump().find(stuck->id()), std::string::npos) << drifted.dump();
  EXPECT_NE(drifted.dump().find("\"drifted\""), std::string::npos) << drifted.dump();

  // The wave holds at "drift", naming it, well past the bake; nobody else moves.
  Json held;
  for (int i = 0; i < 100; ++i) {
    held = Rollout(id);
    if (held.contains("gate") && held["gate"].value("gate", "") == "drift") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(held["state"], "running") << held.dump();
  EXPECT_EQ(held["currentWave"], 0) << held.dump();
  ASSERT_TRUE(held.contains("gate")) << held.dump();
  EXPECT_EQ(held["gate"]["gate"], "drift") << held.dump();
  EXPECT_NE(held["gate"].value("message", "").find(stuck->id()), std::string::npos) << held.dump();
  EXPECT_EQ(held["waves"][0]["drifting"], 1) << held.dump();
  EXPECT_EQ(held["waves"][0]["acked"], static_cast<int>(canary.size()) - 1) << held.dump();
  for (auto& node : nodes_) {
    if (std::find(canary.begin(), canary.end(), node->id()) != canary.end()) continue;
    while (auto n = node->NextNotify(std::chrono::milliseconds(50))) {
      EXPECT_NE(n->version(), v2) << node->id() << " got v2 while the canary wave was held";
      node->Ack(*n);
    }
  }

  // It applies: the wave promotes and the rollout completes.
  ASSERT_TRUE(stuck->Ack(*again));
  for (auto& node : nodes_) {
    if (std::find(canary.begin(), canary.end(), node->id()) != canary.end()) continue;
    auto n = node->NextNotify(std::chrono::seconds(20));
    while (n && n->version() != v2) n = node->NextNotify(std::chrono::seconds(20));
    ASSERT_TRUE(n) << node->id() << " never got the last wave";
    ASSERT_TRUE(node->Ack(*n));
  }
  AwaitState(id, "succeeded");
}

}  // namespace
}  // namespace omnirelay::cp::testing

// A rollout start that tells its canary before it plans the other waves
// (rollout_engine.h contract 7), in-process (api_harness.h Stack: the real
// service, engine and SQLite store, the driver ticked by hand): the members
// it joins afterwards, and a stored start left half-planned (a restart
// between the two steps) completed by the driver before any gate reads it.
// Either way the rollout ends exactly as the one-step plan (PlanWaves) of
// every known node would have made it.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "api_harness.h"
#include "eventually.h"
#include "omnirelay/config/signing.h"
#include "rollout_engine.h"

namespace omnirelay::cp::testing {
namespace {

constexpr char kUsEast[] = "global,region:us-east";
constexpr char kEuWest[] = "global,region:eu-west";
const Principal kAdmin{"bootstrap", "admin", {"admin"}};

class RolloutCanaryFirstTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_.EnableRollouts();
    auto put =
        stack_.service().PutLayer(kAdmin, "global", LayerDoc("global"), std::nullopt, false, false);
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    base_ = put->revision;
  }

  // `n` nodes only in the store (their records, not connected here).
  void StoreNodes(const std::string& prefix, int n, const std::string& chain) {
    std::vector<NodeRecord> records;
    for (int i = 0; i < n; ++i) {
      NodeRecord r;
      r.node_id = prefix + std::to_string(i);
      r.scope_chain = chain;
      r.applied_version = base_;
      r.api_version = "omnirelay.config/v1";
      r.features = {"shadowing", "rolloutInfo"};
      records.push_back(r);
      known_[r.node_id] = chain;
    }
    ASSERT_TRUE(stack_.store().UpsertNodes(records).ok());
  }

  // `n` nodes that said hello to this process (no record written yet).
  void SeeNodes(const std::string& prefix, int n, const std::string& chain) {
    for (int i = 0; i < n; ++i) {
      const std::string id = prefix + std::to_string(i);
      stack_.rollouts()->OnNodeHello(id, chain, base_, "", false);
      known_[id] = chain;
    }
  }

  std::string ChangedGlobal() const {
    return LayerDoc(
        "global", [](nlohmann::json& spec) { spec["dispatcher"]["maxConcurrentRequests"] = 777; });
  }

  // The waves PlanWaves makes of every known node for rollout `id`.
  WavePlan OneStepPlan(const std::string& id, const RolloutPolicy& policy) const {
    std::vector<RolloutNode> nodes;
    for (const auto& [node, chain] : known_) {
      nodes.push_back({node, ParseScopeChain(chain).value()});
    }
    return PlanWaves(nodes, policy, id);
  }

  RolloutRun Stored(const std::string& id) {
    auto record = stack_.store().GetRollout(id);
    EXPECT_TRUE(record.ok()) << record.status().ToString();
    auto run = RolloutRunFromRecord(record.ok() ? *record : RolloutRecord{});
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    return run.ok() ? *std::move(run) : RolloutRun{};
  }

  std::uint64_t Completed() {
    return stack_.metrics()
        .counter("omnirelay_cp_rollout_members_completed_total",
                 "Rollout starts that told their canary first, whose other members then joined "
                 "(rollout_engine.h contract 7)")
        .value();
  }

  // Asks the engine about every known node at once, as a fan-out's slice
  // does (AssignedMany; every other node reading labels), and checks each
  // answer: what the node gets asked alone (Assigned), at version(node),
  // and for a node reading labels the rendering that names rollout `id`
  // and wave label_wave(node) (1-based; 0: none). Any other answer at the
  // newest's version is the chain's newest itself. All nodes on `chain`.
  void ExpectBatch(const std::string& chain, const std::string& id,
                   const std::function<std::int64_t(const std::string&)>& version,
                   const std::function<std::int64_t(const std::string&)>& label_wave) {
    const auto scope_chain = ParseScopeChain(chain).value();
    auto newest = stack_.renderer().Current(scope_chain);
    ASSERT_TRUE(newest.ok()) << newest.status().ToString();
    std::vector<std::string> ids;
    for (const auto& [node, node_chain] : known_) ids.push_back(node);
    std::vector<AssignmentSource::Ask> asks;
    for (std::size_t k = 0; k < ids.size(); ++k) asks.push_back({&ids[k], k % 2 == 0});
    std::vector<std::string> scopes;
    for (const Scope& s : scope_chain) scopes.push_back(s.ToString());
    std::vector<std::shared_ptr<const SnapshotRecord>> many;
    stack_.rollouts()->AssignedMany(scope_chain, scopes, *newest, asks, &many);
    ASSERT_EQ(many.size(), ids.size());
    std::set<std::int64_t> waves_labelled;
    for (std::size_t k = 0; k < ids.size(); ++k) {
      const std::string& node = ids[k];
      auto one = stack_.rollouts()->Assigned(node, scope_chain, *newest, asks[k].reads_rollout);
      ASSERT_TRUE(one && many[k]) << node;
      EXPECT_EQ(many[k]->hash, one->hash) << node;
      EXPECT_EQ(many[k]->version, version(node)) << node;
      const std::int64_t wave = asks[k].reads_rollout ? label_wave(node) : 0;
      if (wave > 0) {
        const std::string label =
            R"("rollout":{"id":")" + id + R"(","wave":)" + std::to_string(wave) + "}";
        EXPECT_NE(many[k]->snapshot.find(label), std::string::npos) << node << " wave " << wave;
        waves_labelled.insert(wave);
      } else {
        EXPECT_EQ(many[k]->snapshot.find(R"("rollout":)"), std::string::npos) << node;
        if (many[k]->version == (*newest)->version) {
          EXPECT_EQ(many[k], *newest) << node;
        }
      }
    }
    EXPECT_FALSE(waves_labelled.empty());  // the batch did label some node
  }

  Stack stack_;
  std::int64_t base_ = 0;
  std::map<std::string, std::string> known_;  // node id -> chain
};

// The canary among the nodes seen here is told first; the start's answer and
// its stored record then hold every known node — the stored ones included —
// in the waves the one-step plan gives them.
TEST_F(RolloutCanaryFirstTest, StartJoinsEveryMemberAfterTheCanary) {
  SeeNodes("seen-", 40, kEuWest);
  StoreNodes("stored-", 40, kUsEast);
  RolloutStartRequest request;
  request.changes.push_back({"global", ChangedGlobal()});
  request.policy_json =
      R"({"canaryPercent": 25, "waves": [{"scopes": ["region:eu-west"]}], "promotion": "manual"})";
  const std::uint64_t completed_before = Completed();
  auto started = stack_.service().StartRollout(kAdmin, request);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  const RolloutState& s = started->state;
  ASSERT_EQ(s.waves.size(), 3u);

  // With 40 seen nodes at 25%, the hash picks some of them and not all
  // (each of the two odds 0.75^40 or 0.25^40): the canary-first path.
  std::size_t seen_in_canary = 0;
  for (const std::string& node : s.waves[0].node_ids) seen_in_canary += node.rfind("seen-", 0) == 0;
  EXPECT_GT(seen_in_canary, 0u);
  EXPECT_LT(seen_in_canary, 40u);
  EXPECT_EQ(Completed(), completed_before + 1);

  EXPECT_FALSE(started->members_pending);
  EXPECT_EQ(s.nodes.size(), 80u);
  EXPECT_EQ(started->chains.size(), 80u);
  const WavePlan plan = OneStepPlan(s.id, s.policy);
  for (std::size_t w = 0; w < s.waves.size(); ++w) {
    EXPECT_EQ(s.waves[w].node_ids, plan.waves[w].node_ids) << "wave " << w;
  }
  // Only the canary is assigned the new version; the stored nodes of the
  // canary too (they are told when they connect).
  for (const auto& [node, a] : s.nodes) {
    EXPECT_EQ(a.assigned_version, a.wave == 0 ? s.new_version : base_) << node;
    EXPECT_EQ(a.previous_version, base_) << node;
  }
  const RolloutRun stored = Stored(s.id);
  EXPECT_FALSE(stored.members_pending);
  EXPECT_EQ(stored.state.nodes, s.nodes);
  EXPECT_EQ(stored.state.waves, s.waves);
}

// The seen nodes are read chain by chain (RolloutEngine::VisitSeenByChain):
// a node planned once, on the chain its last hello said — one that moved
// chains, one that said the same hello twice, one whose report came before
// its hello — exactly as the one-step plan places them.
TEST_F(RolloutCanaryFirstTest, ASeenNodeIsPlannedOnceOnTheChainItSaidLast) {
  SeeNodes("seen-", 40, kEuWest);
  for (int i = 0; i < 20; ++i) {  // half of them move to us-east
    const std::string id = "seen-" + std::to_string(i);
    stack_.rollouts()->OnNodeHello(id, kUsEast, base_, "", false);
    known_[id] = kUsEast;
  }
  stack_.rollouts()->OnNodeHello("seen-30", kEuWest, base_, "", false);  // the same hello again
  stack_.rollouts()->OnNodeAck("early-0", base_, "");                    // a report, then its hello
  stack_.rollouts()->OnNodeHello("early-0", kEuWest, base_, "", false);
  known_["early-0"] = kEuWest;
  stack_.rollouts()->OnNodeHello("seen-0", kEuWest, base_, "", false);  // and back again
  known_["seen-0"] = kEuWest;

  RolloutStartRequest request;
  request.changes.push_back({"global", ChangedGlobal()});
  request.policy_json =
      R"({"canaryPercent": 25, "waves": [{"scopes": ["region:eu-west"]}], "promotion": "manual"})";
  auto started = stack_.service().StartRollout(kAdmin, request);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  const RolloutState& s = started->state;
  ASSERT_EQ(s.waves.size(), 3u);
  EXPECT_EQ(s.nodes.size(), 41u);
  const WavePlan plan = OneStepPlan(s.id, s.policy);
  for (std::size_t w = 0; w < s.waves.size(); ++w) {
    EXPECT_EQ(s.waves[w].node_ids, plan.waves[w].node_ids) << "wave " << w;
  }
  for (const auto& [node, chain] : known_) EXPECT_EQ(started->chains.at(node), chain) << node;
}

// A start whose second step never ran (the record as the first one stores
// it: the canary's seen nodes only, members pending): the driver joins the
// rest before it gates, so a promotion moves into a wave that has its nodes
// rather than passing over an empty one to `succeeded`.
TEST_F(RolloutCanaryFirstTest, DriverCompletesAPendingStartBeforeItsGates) {
  StoreNodes("node-", 60, kUsEast);
  const std::int64_t base = base_;
  // The staged revision (written plainly here, as the first step commits it).
  auto staged =
      stack_.service().PutLayer(kAdmin, "global", ChangedGlobal(), std::nullopt, false, false);
  ASSERT_TRUE(staged.ok()) << staged.status().ToString();
  const std::int64_t v = staged->revision;

  // As the service's first step writes it.
  auto policy = ParseRolloutPolicy(
      R"({"canaryPercent": 50, "promotion": "manual", "bakeMs": 600000,
          "ackDeadlineMs": 600000, "slo": {"minRequests": 0}})");
  ASSERT_TRUE(policy.ok()) << policy.status().ToString();
  const std::string id = "ro-pending0001";
  const std::int64_t now = stack_.clock().NowUnixMs();
  RolloutRun run;
  run.state = CreateRollout(id, *policy, {}, v, {}, now).value();
  std::vector<RolloutMember> canary;
  for (const auto& [node, chain] : known_) {
    if (CanaryBucket(id, node) < 5000 && canary.size() < 3) {
      canary.push_back({RolloutNode{node, ParseScopeChain(chain).value()}, base});
      run.chains[node] = chain;
    }
  }
  ASSERT_FALSE(canary.empty());
  ASSERT_TRUE(AddRolloutNodes(run.state, canary, now).ok());
  ASSERT_TRUE(StartRollout(run.state, now).ok());
  run.scopes = {"global"};
  run.base = base;
  run.members_pending = true;
  ASSERT_TRUE(stack_.store()
                  .PutRollout({id, RolloutRunToJson(run), now, run.state.generation}, std::nullopt)
                  .ok());
  ASSERT_TRUE(RolloutRunFromJson(RolloutRunToJson(run))->members_pending);

  // Started by another process a moment ago: that process knows nodes not
  // stored yet, so this one leaves the joining to it — no gate, no action.
  stack_.TickRollouts();
  EXPECT_TRUE(Stored(id).members_pending);
  // Meanwhile every node the canary hash picks is assigned the new version
  // (a canary member, or one it will join as), every other node its base.
  const auto chain = ParseScopeChain(kUsEast).value();
  auto newest = stack_.renderer().Current(chain);
  ASSERT_TRUE(newest.ok()) << newest.status().ToString();
  ASSERT_EQ((*newest)->version, v);
  for (const auto& [node, node_chain] : known_) {
    auto assigned = stack_.rollouts()->Assigned(node, chain, *newest, false);
    ASSERT_TRUE(assigned) << node;
    EXPECT_EQ(assigned->version, CanaryBucket(id, node) < 5000 ? v : base) << node;
  }
  // Asked together: the canary labelled as wave 1, the rest held at base.
  ExpectBatch(
      kUsEast, id, [&](const std::string& n) { return CanaryBucket(id, n) < 5000 ? v : base; },
      [&](const std::string& n) { return CanaryBucket(id, n) < 5000 ? 1 : 0; });
  auto early = stack_.service().ActOnRollout(kAdmin, id, RolloutAction::kPromote, "early");
  EXPECT_EQ(early.status().code(), StatusCode::kUnavailable) << early.status().ToString();
  EXPECT_TRUE(Stored(id).members_pending);

  // The same record RolloutEngine::kForeignPendingMs old (its starter died
  // before it joined them; or a daemon restarted on this store): the
  // driver's pass joins the other nodes, then gates.
  const std::int64_t expected = run.state.generation;
  run.state.created_at_ms -= RolloutEngine::kForeignPendingMs;
  ++run.state.generation;
  ASSERT_TRUE(stack_.store()
                  .PutRollout({id, RolloutRunToJson(run), now, run.state.generation}, expected)
                  .ok());
  stack_.TickRollouts();
  const RolloutRun done = Stored(id);
  EXPECT_FALSE(done.members_pending);
  EXPECT_EQ(done.state.nodes.size(), 60u);
  const WavePlan plan = OneStepPlan(id, *policy);
  // The canary told before is in the canary; every other node where the
  // one-step plan puts it (PlanWaves' rules 4 and 4b do not fire at 50% of 60).
  for (const RolloutMember& m : canary) {
    EXPECT_EQ(done.state.nodes.at(m.node.id).wave, 0u) << m.node.id;
  }
  ASSERT_EQ(done.state.waves.size(), plan.waves.size());
  for (std::size_t w = 0; w < plan.waves.size(); ++w) {
    EXPECT_EQ(done.state.waves[w].node_ids, plan.waves[w].node_ids) << "wave " << w;
  }
  EXPECT_EQ(done.state.phase, RolloutPhase::kRunning);

  // The operator's promotion: into the last wave and its nodes, not past it.
  auto promoted = stack_.service().ActOnRollout(kAdmin, id, RolloutAction::kPromote, "go");
  ASSERT_TRUE(promoted.ok()) << promoted.status().ToString();
  EXPECT_EQ(promoted->state.phase, RolloutPhase::kRunning);
  EXPECT_EQ(promoted->state.current_wave, 1u);
  ASSERT_FALSE(promoted->state.waves[1].node_ids.empty());
  for (const std::string& node : promoted->state.waves[1].node_ids) {
    EXPECT_EQ(promoted->state.nodes.at(node).assigned_version, v) << node;
  }
  // Every node on the new version now, each labelled with its own wave:
  // one snapshot, two labels.
  auto wave_of = [&](const std::string& n) {
    return static_cast<std::int64_t>(promoted->state.nodes.at(n).wave) + 1;
  };
  ExpectBatch(
      kUsEast, id, [&](const std::string&) { return v; }, wave_of);
  // Succeeded: nothing holds the chain, and each node keeps its wave's label.
  auto finished = stack_.service().ActOnRollout(kAdmin, id, RolloutAction::kPromote, "done");
  ASSERT_TRUE(finished.ok()) << finished.status().ToString();
  ASSERT_EQ(finished->state.phase, RolloutPhase::kSucceeded);
  ExpectBatch(
      kUsEast, id, [&](const std::string&) { return v; }, wave_of);
}

// The canary's chains are rendered before the start's commit and stored in
// it (RolloutRecord::snapshots): when the commit's change event is
// published their snapshots are in the store already — each at its chain's
// version, the highest revision of the set's changes on it (eu-west's deeper
// change comes first in the set; the last change is not on that chain) —
// and they are the renderer's current ones, the same spec a render after
// the commit gives. (This stack has no node feed, so nothing else renders
// them before the start's answer.)
TEST_F(RolloutCanaryFirstTest, TheCanarysChainsAreStoredWithTheStartsCommit) {
  SeeNodes("us-", 60, kUsEast);
  SeeNodes("eu-", 60, kEuWest);
  RolloutStartRequest request;
  request.changes.push_back({"region:eu-west", LayerDoc("region:eu-west")});  // base + 1
  request.changes.push_back({"global", ChangedGlobal()});                     // base + 2
  request.changes.push_back({"region:us-east", LayerDoc("region:us-east")});  // base + 3
  request.policy_json = R"({"canaryPercent": 25, "promotion": "manual"})";
  const std::map<std::string, std::int64_t> versions = {{kUsEast, base_ + 3}, {kEuWest, base_ + 2}};

  std::mutex mu;
  std::map<std::string, std::string> at_publish;  // chain -> hash stored then ("" if none)
  const int subscription = stack_.bus().Subscribe([&](const ChangeEvent& event) {
    if (event.revision != base_ + 3) return;
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [chain, version] : versions) {
      auto stored = stack_.store().SnapshotOfVersion(chain, version);
      at_publish[chain] = stored.ok() ? stored->hash : "";
    }
  });
  auto started = stack_.service().StartRollout(kAdmin, request);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  ASSERT_TRUE(test_support::Eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return at_publish.size() == versions.size();
  }));
  stack_.bus().Unsubscribe(subscription);
  EXPECT_EQ(started->state.new_version, base_ + 3);

  std::lock_guard<std::mutex> lock(mu);
  for (const auto& [chain_text, version] : versions) {
    SCOPED_TRACE(chain_text);
    // Both chains hold canary nodes (60 each at 25%: none at all, 0.75^60).
    std::size_t in_canary = 0;
    for (const std::string& node : started->state.waves[0].node_ids) {
      in_canary += started->chains.at(node) == chain_text;
    }
    ASSERT_GT(in_canary, 0u);
    ASSERT_FALSE(at_publish[chain_text].empty()) << "not stored by the commit";
    auto stored = stack_.store().GetSnapshot(at_publish[chain_text]);
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
    EXPECT_EQ(stored->version, version);
    auto verified = VerifyEnvelope(stored->envelope, stack_.trusted_keys(), kSnapshotPayloadType);
    ASSERT_TRUE(verified.ok()) << verified.status().ToString();
    EXPECT_EQ(verified->payload, stored->snapshot);

    const auto chain = ParseScopeChain(chain_text).value();
    auto current = stack_.renderer().Current(chain);
    ASSERT_TRUE(current.ok()) << current.status().ToString();
    EXPECT_EQ((*current)->hash, stored->hash);
    auto effective = stack_.renderer().Effective(chain);
    ASSERT_TRUE(effective.ok()) << effective.status().ToString();
    const nlohmann::json snapshot = nlohmann::json::parse(stored->snapshot);
    EXPECT_EQ(snapshot["spec"], nlohmann::json::parse(effective->spec_json));
    EXPECT_EQ(snapshot["metadata"]["version"], version);
    EXPECT_EQ(snapshot["metadata"]["scopeChain"],
              nlohmann::json::array({"global", chain_text.substr(7)}));
  }
}

}  // namespace
}  // namespace omnirelay::cp::testing

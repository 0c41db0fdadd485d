// The rollout state machine (rollout_state.h) driven with fake time and
// scripted node reports: promotion, automatic and operator rollback, manual
// promotion, pause/resume/abort, refusals and the stored form.
#include "rollout_state.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "omnirelay/config/clock.h"
#include "rollout_engine.h"

namespace omnirelay::cp {
namespace {

constexpr std::int64_t kOld = 40;
constexpr std::int64_t kNew = 41;

// 40 nodes: half in region r1, half in r2; waves canary 10% -> region r1 -> rest.
class RolloutStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_.canary_percent = 10;
    policy_.scope_waves = {{ParseScope("region:r1").value()}};
    policy_.min_requests = 10;
    for (int i = 0; i < 40; ++i) {
      const std::string id = "n-" + std::to_string(i);
      const std::string region = i % 2 == 0 ? "r1" : "r2";
      members_.push_back(
          {{id, ParseScopeChain("global,region:" + region + ",node:" + id).value()}, kOld});
      reports_[id] = Healthy(kOld);
    }
  }

  static NodeReport Healthy(std::int64_t version) {
    NodeReport r;
    r.connected = true;
    r.applied_version = r.acked_version = version;
    r.slo.requests = 100;
    r.slo.errors = 1;
    r.slo.latency.Record(30, 100);
    return r;
  }

  RolloutState Create() {
    auto s = CreateRollout("r-1", policy_, members_, kNew, reports_, clock_.NowUnixMs());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return *std::move(s);
  }

  // Nodes do what they are told: every assigned version is applied and ACKed.
  void Obey(const RolloutState& s) {
    for (const auto& [id, a] : s.nodes) {
      reports_[id].applied_version = reports_[id].acked_version = a.assigned_version;
    }
  }

  TickResult TickAfter(RolloutState& s, std::int64_t ms) {
    clock_.AdvanceMs(ms);
    return TickRollout(s, clock_.NowUnixMs(), reports_);
  }

  FakeClock clock_;
  RolloutPolicy policy_;
  std::vector<RolloutMember> members_;
  NodeReports reports_;
};

// Contract 3: each wave's baseline at creation is the merged window of the
// reports of exactly its own nodes — read by one walk over the sorted
// reports, whose id order ("n-10" before "n-2") is not the members' order,
// and which hold reports of nodes that are not members at all.
TEST_F(RolloutStateTest, EachWavesBaselineMergesTheReportsOfItsOwnNodes) {
  NodeReports reports;
  std::map<std::string, std::uint64_t> requests;  // by id, for the expected sums
  for (int i = 0; i < 40; i += 3) {               // a subset of the members...
    const std::string id = "n-" + std::to_string(i);
    NodeReport r = Healthy(kOld);
    r.slo.requests = static_cast<std::uint64_t>(100 + i);
    reports[id] = r;
    requests[id] = r.slo.requests;
  }
  for (const char* stranger : {"m-1", "n-", "n-100", "o-0"}) {  // ...and non-members
    reports[stranger] = Healthy(kOld);
  }
  auto created = CreateRollout("r-1", policy_, members_, kNew, reports, clock_.NowUnixMs());
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const RolloutState& s = *created;
  std::uint64_t total = 0;
  for (std::size_t w = 0; w < s.waves.size(); ++w) {
    std::uint64_t want = 0;
    for (const std::string& id : s.waves[w].node_ids) {
      const auto it = requests.find(id);
      if (it != requests.end()) want += it->second;
    }
    EXPECT_EQ(s.wave_baselines[w].requests, want) << "wave " << w;
    total += want;
  }
  std::uint64_t all = 0;
  for (const auto& [id, n] : requests) all += n;
  EXPECT_EQ(total, all);  // every member's report counted once, no stranger's
}

// A healthy rollout passes all three waves and ends with every node on the new version.
TEST_F(RolloutStateTest, ThreeWavesPromoteToCompletion) {
  RolloutState s = Create();
  ASSERT_EQ(s.waves.size(), 3u);
  auto started = StartRollout(s, clock_.NowUnixMs());
  ASSERT_TRUE(started.ok());
  EXPECT_EQ(started->size(), s.waves[0].node_ids.size());  // only the canary is notified
  for (int wave = 0; wave < 3; ++wave) {
    EXPECT_EQ(s.current_wave, static_cast<std::size_t>(wave));
    Obey(s);
    EXPECT_EQ(TickAfter(s, 1000).verdict.gate, "bake");
    const TickResult t = TickAfter(s, policy_.bake_ms);
    EXPECT_TRUE(t.changed);
    if (wave < 2) {
      EXPECT_EQ(t.changes.size(), s.waves[wave + 1].node_ids.size());
    }
  }
  EXPECT_EQ(s.phase, RolloutPhase::kSucceeded);
  for (const auto& [id, a] : s.nodes) EXPECT_EQ(a.assigned_version, kNew) << id;
}

// An SLO breach in the canary rolls back: the canary moves to a higher
// revision carrying the old content, the rest never leave the old version.
TEST_F(RolloutStateTest, SloBreachInCanaryRollsBackToHigherVersion) {
  RolloutState s = Create();
  ASSERT_TRUE(StartRollout(s, clock_.NowUnixMs()).ok());
  Obey(s);
  for (const auto& id : s.waves[0].node_ids) reports_[id].slo.errors = 50;
  const TickResult t = TickAfter(s, 1000);
  EXPECT_EQ(t.verdict.reason, "slo_breach");
  EXPECT_EQ(s.phase, RolloutPhase::kRollingBack);
  EXPECT_FALSE(CommitRollback(s, kNew, clock_.NowUnixMs()).ok());  // not above the new one
  auto changes = CommitRollback(s, kNew + 5, clock_.NowUnixMs());
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(changes->size(), s.waves[0].node_ids.size());
  EXPECT_EQ(s.phase, RolloutPhase::kRolledBack);
  for (const auto& [id, a] : s.nodes) {
    EXPECT_EQ(ContentOf(s, id), Content::kOld) << id;
    EXPECT_GE(a.assigned_version, a.previous_version);
  }
  for (const auto& id : s.waves[0].node_ids) EXPECT_EQ(s.nodes[id].assigned_version, kNew + 5);
}

// NACKs over the ratio, and a missed ACK deadline, each roll back automatically.
TEST_F(RolloutStateTest, NackRatioAndAckDeadlineRollBack) {
  RolloutState s = Create();
  ASSERT_TRUE(StartRollout(s, clock_.NowUnixMs()).ok());
  reports_[s.waves[0].node_ids[0]].nacked_version = kNew;
  EXPECT_EQ(TickAfter(s, 10).verdict.reason, "nack_ratio");
  EXPECT_EQ(s.rollback_reason, "nack_ratio");

  reports_[s.waves[0].node_ids[0]].nacked_version = 0;
  RolloutState late = Create();
  ASSERT_TRUE(StartRollout(late, clock_.NowUnixMs()).ok());
  EXPECT_EQ(TickAfter(late, 1000).verdict.gate, "ack");  // nobody ACKed yet
  EXPECT_EQ(late.phase, RolloutPhase::kRunning);
  EXPECT_EQ(TickAfter(late, policy_.ack_deadline_ms).verdict.reason, "ack_deadline");
  EXPECT_EQ(late.phase, RolloutPhase::kRollingBack);
}

// Manual promotion: passing gates wait in awaiting_promote until an operator promotes.
TEST_F(RolloutStateTest, ManualModeWaitsForPromote) {
  policy_.promotion = Promotion::kManual;
  RolloutState s = Create();
  ASSERT_TRUE(StartRollout(s, clock_.NowUnixMs()).ok());
  Obey(s);
  TickAfter(s, policy_.bake_ms);
  EXPECT_EQ(s.phase, RolloutPhase::kAwaitingPromote);
  EXPECT_EQ(s.current_wave, 0u);
  TickAfter(s, policy_.bake_ms);
  EXPECT_EQ(s.current_wave, 0u);  // still waiting
  auto promoted = ActOnRollout(s, RolloutAction::kPromote, clock_.NowUnixMs());
  ASSERT_TRUE(promoted.ok());
  EXPECT_EQ(s.current_wave, 1u);
  EXPECT_EQ(promoted->size(), s.waves[1].node_ids.size());
}

// Pause holds the wave, resume continues, abort ends with assignments kept.
TEST_F(RolloutStateTest, PauseResumeAbort) {
  RolloutState s = Create();
  ASSERT_TRUE(StartRollout(s, clock_.NowUnixMs()).ok());
  Obey(s);
  ASSERT_TRUE(ActOnRollout(s, RolloutAction::kPause, clock_.NowUnixMs()).ok());
  TickAfter(s, policy_.bake_ms);
  EXPECT_EQ(s.phase, RolloutPhase::kPaused);
  EXPECT_EQ(s.current_wave, 0u);
  ASSERT_TRUE(ActOnRollout(s, RolloutAction::kResume, clock_.NowUnixMs()).ok());
  TickAfter(s, 1);
  EXPECT_EQ(s.current_wave, 1u);
  const auto before = s.nodes;
  ASSERT_TRUE(ActOnRollout(s, RolloutAction::kAbort, clock_.NowUnixMs()).ok());
  EXPECT_EQ(s.phase, RolloutPhase::kAborted);
  EXPECT_EQ(s.nodes, before);
}

// Actions that make no sense in a phase are refused with conflict, changing nothing.
TEST_F(RolloutStateTest, InvalidTransitionsAreRefused) {
  RolloutState s = Create();
  const auto expect_refused = [&](RolloutAction action) {
    const RolloutState before = s;
    auto r = ActOnRollout(s, action, clock_.NowUnixMs());
    EXPECT_EQ(r.status().code(), StatusCode::kConflict) << RolloutActionName(action);
    EXPECT_EQ(s, before);
  };
  expect_refused(RolloutAction::kPromote);  // pending
  expect_refused(RolloutAction::kResume);
  expect_refused(RolloutAction::kRollback);
  ASSERT_TRUE(StartRollout(s, clock_.NowUnixMs()).ok());
  EXPECT_EQ(StartRollout(s, clock_.NowUnixMs()).status().code(), StatusCode::kConflict);
  expect_refused(RolloutAction::kResume);  // running
  ASSERT_TRUE(ActOnRollout(s, RolloutAction::kRollback, clock_.NowUnixMs()).ok());
  expect_refused(RolloutAction::kAbort);  // rolling back
  expect_refused(RolloutAction::kPause);
  ASSERT_TRUE(CommitRollback(s, kNew + 1, clock_.NowUnixMs()).ok());
  for (auto a : {RolloutAction::kPromote, RolloutAction::kPause, RolloutAction::kResume,
                 RolloutAction::kRollback, RolloutAction::kAbort}) {
    expect_refused(a);  // terminal
  }
  EXPECT_EQ(s.rollback_reason, "operator");
}

// Every change moves the generation (the CAS token); a quiet tick does not.
TEST_F(RolloutStateTest, GenerationMovesWithChanges) {
  RolloutState s = Create();
  const std::int64_t g0 = s.generation;
  ASSERT_TRUE(StartRollout(s, clock_.NowUnixMs()).ok());
  EXPECT_EQ(s.generation, g0 + 1);
  Obey(s);
  EXPECT_FALSE(TickAfter(s, 1000).changed);
  EXPECT_EQ(s.generation, g0 + 1);
  TickAfter(s, policy_.bake_ms);
  EXPECT_EQ(s.generation, g0 + 2);
}

// A node joining mid-rollout: into a reached wave it gets the new version at once.
TEST_F(RolloutStateTest, JoinerIsPlacedAndAssigned) {
  RolloutState s = Create();
  ASSERT_TRUE(StartRollout(s, clock_.NowUnixMs()).ok());
  Obey(s);
  TickAfter(s, policy_.bake_ms);  // into region r1
  ASSERT_EQ(s.current_wave, 1u);
  RolloutMember late{{"late-r1", ParseScopeChain("global,region:r1,node:late-r1").value()}, kOld};
  const std::size_t wave = *WaveOfNode(late.node, policy_, "r-1");
  auto changes = AddRolloutNode(s, late, clock_.NowUnixMs());
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(changes->size(), wave <= 1 ? 1u : 0u);
  EXPECT_EQ(AddRolloutNode(s, late, clock_.NowUnixMs()).status().code(), StatusCode::kConflict);
  RolloutMember ahead{{"ahead", ParseScopeChain("global,node:ahead").value()}, kNew};
  EXPECT_EQ(AddRolloutNode(s, ahead, clock_.NowUnixMs()).status().code(),
            StatusCode::kInvalidArgument);
}

// AddRolloutNodes is AddRolloutNode for many at once: the same waves,
// assignments and changes as joining them one by one (in a started rollout
// and in a pending one), members already in it skipped, an untargeted one
// listed; a rolled-back rollout refuses them.
TEST_F(RolloutStateTest, BulkJoinMatchesJoiningOneByOne) {
  policy_.target_scopes = {ParseScope("region:r1").value(), ParseScope("region:r2").value()};
  std::vector<RolloutMember> joiners;
  for (int i = 0; i < 30; ++i) {
    const std::string id = "j-" + std::to_string((i * 7) % 30);  // not in id order
    const std::string region = i % 3 == 0 ? "r1" : i % 3 == 1 ? "r2" : "r3";
    joiners.push_back(
        {{id, ParseScopeChain("global,region:" + region + ",node:" + id).value()}, kOld});
  }
  joiners.push_back(members_[3]);  // already in: skipped
  for (const bool started : {false, true}) {
    RolloutState one = Create();
    if (started) {
      ASSERT_TRUE(StartRollout(one, clock_.NowUnixMs()).ok());
      Obey(one);
      TickAfter(one, policy_.bake_ms);  // into region r1: the canary and r1 reached
      ASSERT_EQ(one.current_wave, 1u);
    }
    RolloutState bulk = one;
    AssignmentChanges by_one;
    std::vector<std::string> untargeted = one.untargeted;
    for (const RolloutMember& m : joiners) {
      if (one.nodes.contains(m.node.id)) continue;
      auto changes = AddRolloutNode(one, m, clock_.NowUnixMs());
      if (!changes.ok()) {
        ASSERT_EQ(changes.status().code(), StatusCode::kInvalidArgument) << m.node.id;
        untargeted.push_back(m.node.id);  // region r3: not a target
        continue;
      }
      by_one.insert(by_one.end(), changes->begin(), changes->end());
    }
    std::sort(untargeted.begin(), untargeted.end());
    std::vector<std::size_t> joined;
    const std::int64_t generation = bulk.generation;
    auto changes = AddRolloutNodes(bulk, joiners, clock_.NowUnixMs(), &joined);
    ASSERT_TRUE(changes.ok()) << changes.status().ToString();
    EXPECT_EQ(joined.size(), 20u);  // the r1 and r2 joiners
    EXPECT_EQ(bulk.nodes, one.nodes);
    EXPECT_EQ(bulk.waves, one.waves);
    EXPECT_EQ(bulk.untargeted, untargeted);
    auto by_id = [](const AssignmentChange& a, const AssignmentChange& b) {
      return a.node_id < b.node_id;
    };
    std::sort(by_one.begin(), by_one.end(), by_id);
    std::sort(changes->begin(), changes->end(), by_id);
    EXPECT_EQ(*changes, by_one);
    EXPECT_EQ(by_one.empty(), !started);         // a pending rollout assigns nobody yet
    EXPECT_EQ(bulk.generation, generation + 1);  // once for the lot
    // Again: nothing new, nothing changes (the generation included).
    const RolloutState before = bulk;
    auto again = AddRolloutNodes(bulk, joiners, clock_.NowUnixMs());
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->empty());
    EXPECT_EQ(bulk, before);
  }
  RolloutState s = Create();
  ASSERT_TRUE(StartRollout(s, clock_.NowUnixMs()).ok());
  ASSERT_TRUE(ActOnRollout(s, RolloutAction::kRollback, clock_.NowUnixMs()).ok());
  EXPECT_EQ(AddRolloutNodes(s, joiners, clock_.NowUnixMs()).status().code(), StatusCode::kConflict);
}

// The stored form reads back equal, in every phase reached here.
TEST_F(RolloutStateTest, StateJsonRoundTrips) {
  policy_.promotion = Promotion::kManual;
  RolloutState s = Create();
  const auto round_trip = [](const RolloutState& st) {
    const std::string json = RolloutStateToJson(st);
    auto back = RolloutStateFromJson(json);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, st);
    EXPECT_EQ(RolloutStateToJson(*back), json);
  };
  round_trip(s);
  ASSERT_TRUE(StartRollout(s, clock_.NowUnixMs()).ok());
  Obey(s);
  TickAfter(s, 1234);
  round_trip(s);
  ASSERT_TRUE(ActOnRollout(s, RolloutAction::kRollback, clock_.NowUnixMs()).ok());
  ASSERT_TRUE(CommitRollback(s, kNew + 2, clock_.NowUnixMs()).ok());
  round_trip(s);
  EXPECT_EQ(RolloutStateFromJson("{\"format\": 1}").status().code(), StatusCode::kInternal);
  EXPECT_FALSE(RolloutStateFromJson("nope").ok());
}

// Format 2: the two parts read back to the same state and chains in every
// phase; a promotion and a rollback leave the members part byte for byte
// as it was, and the head then lists no member's assignment (each is the
// one its wave implies); a late joiner changes the members; an assignment
// no rule implies is kept in the head and read back.
TEST_F(RolloutStateTest, MembersPartChangesOnlyWithTheMembers) {
  policy_.promotion = Promotion::kManual;
  std::map<std::string, std::string> chains;
  for (const RolloutMember& m : members_) {
    chains[m.node.id] = "global," + m.node.chain.at(1).ToString();
  }
  chains["z-untargeted"] = "global,region:r9";  // a chain remembered for a non-member
  auto round_trip = [&](const RolloutState& st) -> RolloutStateParts {
    RolloutStateParts parts = RolloutStateToParts(st, chains);
    std::map<std::string, std::string> chains_back;
    auto back = RolloutStateFromParts(parts.head, parts.members, &chains_back);
    EXPECT_TRUE(back.ok()) << back.status().ToString();
    if (back.ok()) {
      EXPECT_EQ(*back, st);
    }
    EXPECT_EQ(chains_back, chains);
    EXPECT_EQ(RolloutStateOfRecord("{\"state\":" + parts.head + "}", parts.members).value(), st);
    return parts;
  };
  auto apart = [](const RolloutStateParts& p) {
    return nlohmann::json::parse(p.head).at("assignedApart").size();
  };
  RolloutState s = Create();
  s.untargeted.push_back("z-untargeted");
  // An id in a list only (no assignment, no chain): indexed all the same.
  RolloutState listed_only = s;
  listed_only.untargeted.push_back("zz-listed-only");
  listed_only.waves.back().node_ids.push_back("zz-listed-only");
  round_trip(listed_only);
  const RolloutStateParts created = round_trip(s);
  ASSERT_TRUE(StartRollout(s, clock_.NowUnixMs()).ok());
  const RolloutStateParts started = round_trip(s);
  EXPECT_EQ(started.members, created.members);
  EXPECT_EQ(apart(started), 0u);
  Obey(s);
  ASSERT_TRUE(ActOnRollout(s, RolloutAction::kPromote, clock_.NowUnixMs()).ok());
  const RolloutStateParts promoted = round_trip(s);
  EXPECT_EQ(promoted.members, created.members);
  EXPECT_EQ(apart(promoted), 0u);
  ASSERT_TRUE(ActOnRollout(s, RolloutAction::kRollback, clock_.NowUnixMs()).ok());
  ASSERT_TRUE(CommitRollback(s, kNew + 2, clock_.NowUnixMs()).ok());
  const RolloutStateParts rolled_back = round_trip(s);
  EXPECT_EQ(rolled_back.members, created.members);
  EXPECT_EQ(apart(rolled_back), 0u);

  RolloutState joined = Create();
  ASSERT_TRUE(StartRollout(joined, clock_.NowUnixMs()).ok());
  const RolloutMember late{{"n-late", ParseScopeChain("global,region:r2").value()}, kOld - 3};
  ASSERT_TRUE(AddRolloutNode(joined, late, clock_.NowUnixMs()).ok());
  chains["n-late"] = "global,region:r2";
  EXPECT_NE(round_trip(joined).members, created.members);
  joined.nodes.at("n-3").assigned_version = kOld + 7;  // no rule gives this
  const RolloutStateParts odd = round_trip(joined);
  EXPECT_EQ(apart(odd), 1u);
  EXPECT_NE(odd.head.find("\"n-3\":47"), std::string::npos) << odd.head;

  // Damaged parts are refused, not half read.
  EXPECT_FALSE(RolloutStateFromParts(odd.head, "{}", nullptr).ok());
  EXPECT_FALSE(RolloutStateFromParts(odd.head, created.members.substr(1), nullptr).ok());
  EXPECT_FALSE(RolloutStateFromParts(RolloutStateToJson(joined), odd.members, nullptr).ok());
}

// A rollout's stored record (RolloutRunToJson splices the state's JSON in as
// text) is exactly what dumping it as one JSON object gives, and reads back.
TEST_F(RolloutStateTest, StoredRecordIsCanonicalJsonAndReadsBack) {
  RolloutRun run;
  run.state = Create();
  run.scopes = {"global"};
  run.base = 41;
  run.author = "admin";
  run.reason = "billing \"50/50\"";
  run.chains = {{"n-1", "global,region:r0"}};
  for (const bool pending : {false, true}) {
    run.members_pending = pending;  // a canary-first start's first record
    const std::string text = RolloutRunToJson(run);
    EXPECT_EQ(text, nlohmann::json::parse(text).dump());
    EXPECT_EQ(text.find("membersPending") != std::string::npos, pending);  // old bytes kept
    auto back = RolloutRunFromJson(text);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, run);
    // As the daemon stores it now (format 2), and as a daemon before stored
    // it (format 1, no members_json): both read back the same run.
    const RolloutRecord record = RolloutRecordOf(run, 99);
    EXPECT_EQ(record.id, run.state.id);
    EXPECT_EQ(record.generation, run.state.generation);
    EXPECT_EQ(record.state_json, nlohmann::json::parse(record.state_json).dump());
    EXPECT_EQ(record.state_json.find("n-1"), std::string::npos);  // members apart
    EXPECT_EQ(RolloutRunFromRecord(record).value(), run);
    EXPECT_EQ(RolloutRunFromRecord({run.state.id, text, 99, run.state.generation}).value(), run);
    // A format 1 record beside a members part from before (an older build
    // rewrote it whole): the head's format decides, the stale part is ignored.
    bool apart = true;
    EXPECT_EQ(
        RolloutRunFromRecord(
            {run.state.id, text, 99, run.state.generation, record.members_json + "stale"}, &apart)
            .value(),
        run);
    EXPECT_FALSE(apart);
    EXPECT_EQ(RolloutStateOfRecord(text, "stale").value(), run.state);
    ASSERT_TRUE(RolloutRunFromRecord(record, &apart).ok());
    EXPECT_TRUE(apart);
  }
}

}  // namespace
}  // namespace omnirelay::cp

// The rollout invariant (rollout_state.h, contract 1): for random wave plans,
// node sets, gate outcomes, operator actions and joiners, every node is always
// on exactly one of {old, new} content — its previous version, the rolled-out
// version or the rollback revision carrying the old content, never a third —
// and the version assigned to it never decreases. Shadow-first plans add the
// shadow revision while the rollout runs; one that succeeds or rolls back
// leaves no node on it.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "rollout_state.h"

namespace omnirelay::cp {
namespace {

constexpr std::int64_t kNew = 1000;
constexpr std::int64_t kShadow = 999;  // shadow-first plans only

RolloutNode RandomNode(int i) {
  const int region = *rc::gen::inRange(0, 3);
  const int cell = *rc::gen::inRange(0, 2);
  const std::string id = "n-" + std::to_string(i);
  return {id, ParseScopeChain("global,region:r" + std::to_string(region) + ",cell:c" +
                              std::to_string(region) + std::to_string(cell) + ",node:" + id)
                  .value()};
}

// What the generated fleet does in one step: a random subset obeys (applies
// and ACKs), some NACK, some go offline, and traffic is healthy or not.
void RandomReports(const RolloutState& s, NodeReports& reports, std::int64_t now) {
  for (const auto& [id, a] : s.nodes) {
    NodeReport& r = reports[id];
    const int roll = *rc::gen::inRange(0, 100);
    r.connected = roll != 0;
    if (!r.connected && r.offline_since_ms == 0) r.offline_since_ms = now;
    if (r.connected) r.offline_since_ms = 0;
    if (roll == 1) {
      r.nacked_version = a.assigned_version;
    } else if (roll > 2) {
      r.applied_version = r.acked_version = a.assigned_version;
    }
    r.slo = SloWindow{};
    r.slo.requests = 100;
    r.slo.errors = *rc::gen::inRange(0, 50) == 0 ? 30 : 1;
    r.slo.latency.Record(*rc::gen::inRange(0, 50) == 0 ? 900.0 : 40.0, 100);
  }
}

void CheckInvariant(const RolloutState& s, std::map<std::string, std::int64_t>& last) {
  const bool ended = s.phase == RolloutPhase::kSucceeded || s.phase == RolloutPhase::kRolledBack;
  for (const auto& [id, a] : s.nodes) {
    const std::int64_t v = a.assigned_version;
    const bool old_content =
        v == a.previous_version || (s.rollback_version != 0 && v == s.rollback_version);
    const bool shadow = s.shadow_version != 0 && v == kShadow;
    RC_ASSERT(old_content || v == kNew || (shadow && !ended));
    RC_ASSERT(!(old_content && v == kNew));
    if (const auto it = last.find(id); it != last.end()) RC_ASSERT(v >= it->second);
    last[id] = v;
  }
}

RC_GTEST_PROP(RolloutProperty, NodesEndOnOldOrNewAndVersionsNeverDecrease, ()) {
  RolloutPolicy policy;
  policy.canary_percent = *rc::gen::element(0.0, 1.0, 10.0, 50.0);
  const int scope_waves = *rc::gen::inRange(0, 3);
  for (int w = 0; w < scope_waves; ++w) {
    policy.scope_waves.push_back({ParseScope("region:r" + std::to_string(w)).value()});
  }
  policy.promotion = *rc::gen::element(Promotion::kAuto, Promotion::kManual);
  policy.bake_ms = *rc::gen::inRange(0, 5000);
  policy.ack_deadline_ms = *rc::gen::inRange(1000, 20000);
  policy.offline_grace_ms = *rc::gen::inRange(0, 5000);
  policy.min_requests = 50;
  policy.shadow_first_percent = *rc::gen::element(0.0, 0.0, 25.0);
  const std::int64_t first = policy.shadow_first_percent > 0 ? kShadow : kNew;

  const int n = *rc::gen::inRange(0, 40);
  std::vector<RolloutMember> members;
  NodeReports reports;
  for (int i = 0; i < n; ++i) {
    members.push_back({RandomNode(i), *rc::gen::inRange<std::int64_t>(1, first)});
  }
  std::int64_t now = 1'000'000;
  auto created =
      CreateRollout("r-prop", policy, members, kNew, reports, now, first == kShadow ? kShadow : 0);
  RC_ASSERT(created.ok());
  RolloutState s = *std::move(created);
  std::map<std::string, std::int64_t> last;
  CheckInvariant(s, last);
  RC_ASSERT(StartRollout(s, now).ok());
  CheckInvariant(s, last);

  int joined = 0;
  std::int64_t next_revision = kNew + 1;
  for (int step = 0; step < 60 && !IsTerminal(s.phase); ++step) {
    now += *rc::gen::inRange(1, 3000);
    switch (*rc::gen::inRange(0, 12)) {
      case 0:
        (void)ActOnRollout(s,
                           *rc::gen::element(RolloutAction::kPromote, RolloutAction::kPause,
                                             RolloutAction::kResume, RolloutAction::kRollback,
                                             RolloutAction::kAbort),
                           now);
        break;
      case 1:
        (void)AddRolloutNode(
            s, {RandomNode(100 + joined++), *rc::gen::inRange<std::int64_t>(1, first)}, now);
        break;
      default:
        RandomReports(s, reports, now);
        (void)TickRollout(s, now, reports);
    }
    if (s.phase == RolloutPhase::kRollingBack) {
      RC_ASSERT(CommitRollback(s, next_revision++, now).ok());
    }
    CheckInvariant(s, last);
  }
  RC_TAG(std::string(RolloutPhaseName(s.phase)));
}

}  // namespace
}  // namespace omnirelay::cp

#include "rollout_state.h"

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <stdexcept>
#include <utility>

namespace omnirelay::cp {
namespace {

constexpr RolloutPhase kPhases[] = {
    RolloutPhase::kPending,    RolloutPhase::kRunning,     RolloutPhase::kAwaitingPromote,
    RolloutPhase::kPaused,     RolloutPhase::kRollingBack, RolloutPhase::kSucceeded,
    RolloutPhase::kRolledBack, RolloutPhase::kAborted,
};

void Touch(RolloutState& s, std::int64_t now_ms) {
  ++s.generation;
  s.updated_at_ms = now_ms;
}

Status Refuse(const RolloutState& s, std::string_view what) {
  return Status(StatusCode::kConflict, "rollout " + s.id + " is " +
                                           std::string(RolloutPhaseName(s.phase)) + ": cannot " +
                                           std::string(what));
}

void Assign(const std::string& id, NodeAssignment& a, std::int64_t version,
            AssignmentChanges& changes) {
  if (a.assigned_version >= version) return;  // never lower (contract 1)
  changes.push_back({id, a.assigned_version, version});
  a.assigned_version = version;
}

// Assigns `version` to every node of `ids` (sorted, as a wave's are): one
// walk along the sorted assignments rather than a search from the top each.
void AssignAll(RolloutState& s, const std::vector<std::string>& ids, std::int64_t version,
               AssignmentChanges& changes) {
  changes.reserve(changes.size() + ids.size());
  auto at = s.nodes.begin();
  for (const auto& id : ids) {
    at = s.nodes.LowerBound(at, id);
    if (at == s.nodes.end() || at->first != id) {
      throw std::out_of_range("rollout " + s.id + ": wave node " + id + " has no assignment");
    }
    Assign(id, at->second, version, changes);
  }
}

// Enters wave `index` (passing through empty ones) or ends the rollout.
void EnterWave(RolloutState& s, std::size_t index, std::int64_t now_ms,
               AssignmentChanges& changes) {
  while (index < s.waves.size() && s.waves[index].node_ids.empty()) ++index;
  if (index >= s.waves.size()) {
    s.current_wave = s.waves.empty() ? 0 : s.waves.size() - 1;
    s.phase = RolloutPhase::kSucceeded;
    return;
  }
  s.current_wave = index;
  s.wave_started_ms = now_ms;
  s.phase = RolloutPhase::kRunning;
  s.last_verdict = VerdictRecord{};  // the last wave's verdict is not this one's
  AssignAll(s, s.waves[index].node_ids, WaveVersion(s, index), changes);
}

// Contract 3.
SloWindow BaselineOf(const RolloutState& s, const NodeReports& reports) {
  SloWindow live;
  const std::int64_t wave_version = WaveVersion(s, s.current_wave);
  NodeReports::Walk walk(reports);
  for (const auto& [id, a] : s.nodes) {
    if (a.assigned_version >= wave_version) continue;  // not on the routing it had
    const NodeReport* r = walk.Find(id);
    if (r != nullptr && r->connected) live.Merge(r->slo);
  }
  if (live.requests >= static_cast<std::uint64_t>(s.policy.min_requests)) return live;
  return s.wave_baselines.at(s.current_wave);
}

}  // namespace

std::string_view RolloutPhaseName(RolloutPhase phase) {
  switch (phase) {
    case RolloutPhase::kPending:
      return "pending";
    case RolloutPhase::kRunning:
      return "running";
    case RolloutPhase::kAwaitingPromote:
      return "awaiting_promote";
    case RolloutPhase::kPaused:
      return "paused";
    case RolloutPhase::kRollingBack:
      return "rolling_back";
    case RolloutPhase::kSucceeded:
      return "succeeded";
    case RolloutPhase::kRolledBack:
      return "rolled_back";
    case RolloutPhase::kAborted:
      return "aborted";
  }
  return "pending";
}

std::optional<RolloutPhase> ParseRolloutPhase(std::string_view name) {
  for (RolloutPhase p : kPhases) {
    if (RolloutPhaseName(p) == name) return p;
  }
  return std::nullopt;
}

bool IsTerminal(RolloutPhase phase) {
  return phase == RolloutPhase::kSucceeded || phase == RolloutPhase::kRolledBack ||
         phase == RolloutPhase::kAborted;
}

std::string_view RolloutActionName(RolloutAction action) {
  switch (action) {
    case RolloutAction::kPromote:
      return "promote";
    case RolloutAction::kPause:
      return "pause";
    case RolloutAction::kResume:
      return "resume";
    case RolloutAction::kRollback:
      return "rollback";
    case RolloutAction::kAbort:
      return "abort";
  }
  return "promote";
}

std::optional<RolloutAction> ParseRolloutAction(std::string_view name) {
  for (RolloutAction a : {RolloutAction::kPromote, RolloutAction::kPause, RolloutAction::kResume,
                          RolloutAction::kRollback, RolloutAction::kAbort}) {
    if (RolloutActionName(a) == name) return a;
  }
  return std::nullopt;
}

void AddToBaseline(RolloutState& s, std::size_t wave, const SloWindow& window) {
  s.wave_baselines[wave].Merge(window);
  if (s.shadow_version != 0) s.wave_baselines.front().Merge(window);
}

Result<RolloutState> CreateRollout(std::string id, const RolloutPolicy& policy,
                                   const std::vector<RolloutMember>& members,
                                   std::int64_t new_version, const NodeReports& reports,
                                   std::int64_t now_ms, std::int64_t shadow_version) {
  const bool shadow_first = policy.shadow_first_percent > 0;
  if (shadow_first != (shadow_version != 0) || shadow_version >= new_version) {
    return Status(StatusCode::kInvalidArgument,
                  shadow_first ? "a shadow-first rollout needs a shadow revision below v" +
                                     std::to_string(new_version)
                               : "a shadow revision needs a shadow-first policy");
  }
  const std::int64_t first_version = shadow_first ? shadow_version : new_version;
  std::vector<const RolloutNode*> nodes;
  nodes.reserve(members.size());
  for (const auto& m : members) {
    if (m.previous_version >= first_version) {
      return Status(StatusCode::kInvalidArgument,
                    "node " + m.node.id + " is on v" + std::to_string(m.previous_version) +
                        ", not below the rolled-out v" + std::to_string(first_version));
    }
    nodes.push_back(&m.node);
  }
  // Planned by position: each member's previous version and report are read
  // beside its wave, and the ids, walked once in order, fill the waves and
  // the sorted assignments without a search.
  const WaveIndexPlan plan = PlanWaveIndexes(nodes, policy, id);
  RolloutState s;
  s.id = std::move(id);
  s.policy = policy;
  s.new_version = new_version;
  s.shadow_version = shadow_version;
  s.waves = WaveShapes(policy);
  s.wave_baselines.resize(s.waves.size());
  std::vector<std::size_t> sizes(s.waves.size(), 0);
  std::size_t untargeted = 0;
  for (const std::size_t wave : plan.wave_of) ++(wave == kUntargeted ? untargeted : sizes[wave]);
  if (shadow_first) sizes.front() = members.size() - untargeted;  // every targeted node
  for (std::size_t w = 0; w < s.waves.size(); ++w) s.waves[w].node_ids.reserve(sizes[w]);
  s.untargeted.reserve(untargeted);
  s.nodes.reserve(members.size() - untargeted);
  NodeReports::Walk before(reports);
  for (const std::size_t i : plan.order) {
    const std::string& node_id = members[i].node.id;
    const std::size_t w = plan.wave_of[i];
    if (w == kUntargeted) {
      s.untargeted.push_back(node_id);
      continue;
    }
    s.waves[w].node_ids.push_back(node_id);
    if (shadow_first) s.waves.front().node_ids.push_back(node_id);  // contract 1
    const std::int64_t v = members[i].previous_version;
    s.nodes.Set(node_id, NodeAssignment{w, v, v});  // its cut-over wave
    if (const NodeReport* r = before.Find(node_id)) AddToBaseline(s, w, r->slo);
  }
  s.created_at_ms = s.updated_at_ms = now_ms;
  return s;
}

Result<AssignmentChanges> StartRollout(RolloutState& s, std::int64_t now_ms) {
  if (s.phase != RolloutPhase::kPending) return Refuse(s, "start");
  AssignmentChanges changes;
  EnterWave(s, 0, now_ms, changes);
  Touch(s, now_ms);
  return changes;
}

TickResult TickRollout(RolloutState& s, std::int64_t now_ms, const NodeReports& reports,
                       const AssignedHashes* assigned_hashes, const WaveDiscovery* discovery) {
  TickResult out;
  if (s.phase != RolloutPhase::kRunning && s.phase != RolloutPhase::kAwaitingPromote &&
      s.phase != RolloutPhase::kPaused) {
    out.verdict = s.last_verdict;
    return out;
  }
  // Contract 3: a wave not reached yet keeps as its own baseline its nodes'
  // windows on the version they still run, refreshed while they grow (not
  // wiped by reports that restart empty, as after a daemon restart).
  for (std::size_t w = s.current_wave + 1; w < s.waves.size(); ++w) {
    SloWindow window;
    NodeReports::Walk walk(reports);
    for (const auto& id : s.waves[w].node_ids) {
      if (const NodeReport* r = walk.Find(id)) window.Merge(r->slo);
    }
    if (window.requests > s.wave_baselines[w].requests) s.wave_baselines[w] = window;
  }
  const Wave& wave = s.waves[s.current_wave];
  WaveGateInput in;
  in.policy = &s.policy;
  in.node_ids = &wave.node_ids;
  in.reports = &reports;
  in.assigned_version = WaveVersion(s, s.current_wave);
  in.assigned_hashes = assigned_hashes;
  in.baseline = BaselineOf(s, reports);
  in.wave_started_ms = s.wave_started_ms;
  in.now_ms = now_ms;
  in.discovery = discovery;
  GateVerdict v = EvaluateWave(in);
  if (v.verdict == Verdict::kPromote && discovery != nullptr &&
      !discovery->next_wave_bridges_down.empty()) {
    std::string names;
    for (const std::string& b : discovery->next_wave_bridges_down) {
      names += (names.empty() ? "" : ", ") + b;
    }
    v.verdict = Verdict::kHold;
    v.gate = "bridge";
    v.message = "bridge: wave " + std::to_string(discovery->next_wave + 1) +
                " is cross-cell and MeshKit reports " + names +
                "; promotion waits until the bridge is up";
    v.figures.bridges_down = discovery->next_wave_bridges_down;
  }
  s.last_verdict = VerdictRecord{v.verdict, v.gate, std::string(RollbackReasonName(v.reason)),
                                 v.message, v.figures};
  out.verdict = s.last_verdict;

  const RolloutPhase before = s.phase;
  const std::size_t wave_before = s.current_wave;
  if (v.verdict == Verdict::kRollback) {
    s.phase = RolloutPhase::kRollingBack;
    s.rollback_reason = std::string(RollbackReasonName(v.reason));
  } else if (s.phase == RolloutPhase::kPaused) {
    // Held where it is: only a rollback moves a paused rollout.
  } else if (v.verdict == Verdict::kPromote) {
    if (s.policy.promotion == Promotion::kManual) {
      s.phase = RolloutPhase::kAwaitingPromote;
    } else {
      EnterWave(s, s.current_wave + 1, now_ms, out.changes);
    }
  } else {
    s.phase = RolloutPhase::kRunning;  // a gate that passed may hold again
  }
  out.changed = s.phase != before || s.current_wave != wave_before || !out.changes.empty();
  if (out.changed) Touch(s, now_ms);
  return out;
}

Result<AssignmentChanges> ActOnRollout(RolloutState& s, RolloutAction action, std::int64_t now_ms) {
  const bool live = s.phase == RolloutPhase::kRunning || s.phase == RolloutPhase::kAwaitingPromote;
  AssignmentChanges changes;
  switch (action) {
    case RolloutAction::kPromote:
      if (!live) return Refuse(s, "promote");
      EnterWave(s, s.current_wave + 1, now_ms, changes);
      break;
    case RolloutAction::kPause:
      if (!live) return Refuse(s, "pause");
      s.paused_from = s.phase;
      s.phase = RolloutPhase::kPaused;
      break;
    case RolloutAction::kResume:
      if (s.phase != RolloutPhase::kPaused) return Refuse(s, "resume");
      s.phase = s.paused_from;
      break;
    case RolloutAction::kRollback:
      if (!live && s.phase != RolloutPhase::kPaused) return Refuse(s, "roll back");
      s.phase = RolloutPhase::kRollingBack;
      s.rollback_reason = "operator";
      break;
    case RolloutAction::kAbort:
      if (!live && s.phase != RolloutPhase::kPaused && s.phase != RolloutPhase::kPending) {
        return Refuse(s, "abort");
      }
      s.phase = RolloutPhase::kAborted;
      break;
  }
  Touch(s, now_ms);
  return changes;
}

Result<AssignmentChanges> CommitRollback(RolloutState& s, std::int64_t rollback_version,
                                         std::int64_t now_ms) {
  if (s.phase != RolloutPhase::kRollingBack) return Refuse(s, "commit a rollback");
  if (rollback_version <= s.new_version) {
    return Status(StatusCode::kInvalidArgument,
                  "rollback revision v" + std::to_string(rollback_version) +
                      " is not above the rolled-out v" + std::to_string(s.new_version));
  }
  AssignmentChanges changes;
  for (auto& [id, a] : s.nodes) {
    const bool moved = a.assigned_version == s.new_version ||
                       (s.shadow_version != 0 && a.assigned_version == s.shadow_version);
    if (moved) Assign(id, a, rollback_version, changes);
  }
  s.rollback_version = rollback_version;
  s.phase = RolloutPhase::kRolledBack;
  Touch(s, now_ms);
  return changes;
}

Result<AssignmentChanges> AddRolloutNode(RolloutState& s, const RolloutMember& member,
                                         std::int64_t now_ms) {
  if (IsTerminal(s.phase) || s.phase == RolloutPhase::kRollingBack) {
    return Refuse(s, "add node " + member.node.id);
  }
  if (s.nodes.contains(member.node.id)) {
    return Status(StatusCode::kConflict,
                  "node " + member.node.id + " is already in rollout " + s.id);
  }
  if (!WaveOfNode(member.node, s.policy, s.id)) {
    return Status(StatusCode::kInvalidArgument,
                  "node " + member.node.id + " is not targeted by rollout " + s.id);
  }
  return AddRolloutNodes(s, {member}, now_ms);  // placed, checked and assigned there
}

namespace {

// Merges `more` (sorted) into the sorted `ids`.
void MergeIds(std::vector<std::string>& ids, std::vector<std::string> more) {
  if (more.empty()) return;
  std::vector<std::string> merged;
  merged.reserve(ids.size() + more.size());
  std::merge(std::make_move_iterator(ids.begin()), std::make_move_iterator(ids.end()),
             std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()),
             std::back_inserter(merged));
  ids = std::move(merged);
}

}  // namespace

Result<AssignmentChanges> AddRolloutNodes(RolloutState& s,
                                          const std::vector<RolloutMember>& members,
                                          std::int64_t now_ms, std::vector<std::size_t>* joined) {
  if (IsTerminal(s.phase) || s.phase == RolloutPhase::kRollingBack) {
    return Refuse(s, "add nodes");
  }
  const std::int64_t first_version = s.shadow_version != 0 ? s.shadow_version : s.new_version;
  std::vector<std::size_t> placed;  // indexes into members
  std::vector<std::size_t> wave_of(members.size(), kUntargeted);
  std::vector<std::string> untargeted;
  for (std::size_t i = 0; i < members.size(); ++i) {
    const RolloutMember& m = members[i];
    if (s.nodes.contains(m.node.id) ||
        std::binary_search(s.untargeted.begin(), s.untargeted.end(), m.node.id)) {
      continue;
    }
    const auto wave = WaveOfNode(m.node, s.policy, s.id);
    if (!wave) {
      untargeted.push_back(m.node.id);
      continue;
    }
    if (m.previous_version >= first_version) {
      return Status(StatusCode::kInvalidArgument,
                    "node " + m.node.id + " is on v" + std::to_string(m.previous_version) +
                        ", not below the rolled-out v" + std::to_string(first_version));
    }
    wave_of[i] = *wave;
    placed.push_back(i);
  }
  const auto by_id = [&](std::size_t a, std::size_t b) {
    return members[a].node.id < members[b].node.id;
  };
  std::sort(placed.begin(), placed.end(), by_id);
  placed.erase(std::unique(placed.begin(), placed.end(),
                           [&](std::size_t a, std::size_t b) {
                             return members[a].node.id == members[b].node.id;
                           }),
               placed.end());
  std::sort(untargeted.begin(), untargeted.end());
  untargeted.erase(std::unique(untargeted.begin(), untargeted.end()), untargeted.end());
  if (joined != nullptr) *joined = placed;
  if (placed.empty() && untargeted.empty()) return AssignmentChanges{};

  std::vector<std::vector<std::string>> added(s.waves.size());
  std::vector<NodeAssignments::value_type> entries;
  entries.reserve(placed.size());
  AssignmentChanges changes;
  const bool started = s.phase != RolloutPhase::kPending;
  for (const std::size_t i : placed) {
    const std::string& id = members[i].node.id;
    const std::size_t w = wave_of[i];
    added[w].push_back(id);
    if (s.shadow_version != 0) added.front().push_back(id);  // every targeted node
    const std::int64_t v = members[i].previous_version;
    NodeAssignment a{w, v, v};
    if (started && w <= s.current_wave) {
      Assign(id, a, s.new_version, changes);
    } else if (started && s.shadow_version != 0) {
      Assign(id, a, s.shadow_version, changes);  // the shadow wave is always reached
    }
    entries.emplace_back(id, a);
  }
  s.nodes.Merge(std::move(entries));
  for (std::size_t w = 0; w < s.waves.size(); ++w) {
    MergeIds(s.waves[w].node_ids, std::move(added[w]));
  }
  MergeIds(s.untargeted, std::move(untargeted));
  Touch(s, now_ms);
  return changes;
}

std::optional<Content> ContentOf(const RolloutState& s, std::string_view node_id) {
  const auto it = s.nodes.find(node_id);
  if (it == s.nodes.end()) return std::nullopt;
  const std::int64_t v = it->second.assigned_version;
  if (v == s.new_version) return Content::kNew;
  if (s.shadow_version != 0 && v == s.shadow_version) return Content::kShadow;
  return Content::kOld;
}

std::int64_t WaveVersion(const RolloutState& s, std::size_t index) {
  const bool shadow = index < s.waves.size() && s.waves[index].kind == WaveKind::kShadow;
  return shadow ? s.shadow_version : s.new_version;
}

}  // namespace omnirelay::cp

// The rollout state machine (DESIGN.md §4 Rollouts): one rollout's durable
// state, the operator's actions on it, the tick that advances it by the gate
// verdicts, and the version each node is assigned. Pure: the caller stages
// revisions, persists the state (by CAS on `generation`) and notifies nodes.
//
// Phases: pending -> running <-> awaiting_promote; running/awaiting_promote
// <-> paused; running/awaiting_promote/paused -> rolling_back -> rolled_back;
// pending/running/awaiting_promote/paused -> aborted; the last wave promoted
// -> succeeded. succeeded, rolled_back and aborted are terminal.
//
// Contract:
//  1. Assignment. A node is assigned its previous version until its wave is
//     reached, then new_version; on rollback every node assigned new_version
//     moves to rollback_version, a new, higher revision carrying the old
//     content. So a node is only ever on old content (previous or
//     rollback_version) or new content (new_version), and the versions
//     assigned to a node never decrease. Shadow-first adds one step: the
//     shadow wave (first, every targeted node) assigns shadow_version — the
//     old routing plus mirrors — and each node's cut-over wave then assigns
//     new_version; a rollback moves nodes on shadow_version too. A rollout
//     that succeeds or rolls back leaves no node on shadow content; one
//     aborted during the shadow wave may. Every function that changes
//     assignments returns exactly the changed ones: only those nodes are
//     notified.
//  2. Tick evaluates the current wave (rollout_gates.h) in running,
//     awaiting_promote and paused. A rollback verdict moves to rolling_back in
//     any of them; a promote verdict advances the wave in running with auto
//     promotion, moves to awaiting_promote with manual promotion, and does
//     nothing while paused (bake time keeps running). A wave without nodes is
//     passed through when reached, ungated.
//  3. The SLO baseline of a wave is the merged window of the targeted nodes
//     still assigned their previous version (connected ones); when those have
//     fewer than min_requests (always so for the last wave) it is the wave's
//     own nodes' window on their previous version: captured when the rollout
//     was created and, until the wave is reached, refreshed by each tick
//     when it has grown.
//     A wave entered starts without a verdict (the last one was the
//     previous wave's).
//  4. Actions: promote (running, awaiting_promote: advance now, whatever the
//     gates hold), pause (running, awaiting_promote), resume (paused), rollback
//     (running, awaiting_promote, paused), abort (pending, running,
//     awaiting_promote, paused; nodes keep what they are assigned). Any other
//     is refused with kConflict naming the phase; nothing changes.
//  5. CommitRollback(v) in rolling_back, with v > new_version: the rollback
//     revision the caller committed; kInvalidArgument for a lower one.
//  6. `generation` increases by one with every change of phase, wave or
//     assignment: the CAS token of the stored state. The last verdict is
//     refreshed on every tick without it (status, not progress).
//  7. RolloutStateToJson is deterministic (sorted keys, nodes by id);
//     RolloutStateFromJson(RolloutStateToJson(s)) == s. The same holds for
//     the two parts of RolloutStateToParts (format 2), which the daemon
//     stores; it still reads format 1.
//
// Thread safety: values and pure functions; the caller serialises changes to
// one rollout (one replica drives rollouts: a lease in the store).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "id_sorted.h"
#include "omnirelay/config/status.h"
#include "rollout_gates.h"
#include "rollout_plan.h"
#include "rollout_policy.h"

namespace omnirelay::cp {

enum class RolloutPhase {
  kPending,
  kRunning,
  kAwaitingPromote,
  kPaused,
  kRollingBack,
  kSucceeded,
  kRolledBack,
  kAborted,
};
// "pending", "running", "awaiting_promote", "paused", "rolling_back",
// "succeeded", "rolled_back", "aborted".
std::string_view RolloutPhaseName(RolloutPhase phase);
std::optional<RolloutPhase> ParseRolloutPhase(std::string_view name);
bool IsTerminal(RolloutPhase phase);

enum class RolloutAction { kPromote, kPause, kResume, kRollback, kAbort };
std::string_view RolloutActionName(RolloutAction action);
std::optional<RolloutAction> ParseRolloutAction(std::string_view name);

struct NodeAssignment {
  std::size_t wave = 0;
  std::int64_t previous_version = 0;  // what it had when it joined the rollout
  std::int64_t assigned_version = 0;

  friend bool operator==(const NodeAssignment&, const NodeAssignment&) = default;
};

// The members' assignments by node id, as the state holds them: sorted by
// id (id_sorted.h), with the operations of the std::map it replaced.
using NodeAssignments = IdSorted<NodeAssignment>;

struct AssignmentChange {
  std::string node_id;
  std::int64_t from = 0;
  std::int64_t to = 0;

  friend bool operator==(const AssignmentChange&, const AssignmentChange&) = default;
};
using AssignmentChanges = std::vector<AssignmentChange>;

// The last gate verdict, as status shows it.
struct VerdictRecord {
  Verdict verdict = Verdict::kHold;
  std::string gate;
  std::string reason;
  std::string message;
  GateFigures figures;

  friend bool operator==(const VerdictRecord&, const VerdictRecord&) = default;
};

struct RolloutState {
  std::string id;
  std::int64_t generation = 0;
  RolloutPolicy policy;
  std::int64_t new_version = 0;
  // Shadow-first: the revision carrying the old routing with mirrors, below
  // new_version, that the shadow wave assigns; 0 without a shadow wave.
  std::int64_t shadow_version = 0;
  std::int64_t rollback_version = 0;  // 0 until CommitRollback
  RolloutPhase phase = RolloutPhase::kPending;
  RolloutPhase paused_from = RolloutPhase::kRunning;
  std::vector<Wave> waves;
  std::vector<SloWindow> wave_baselines;  // per wave, captured at creation
  std::size_t current_wave = 0;
  std::int64_t wave_started_ms = 0;
  NodeAssignments nodes;
  std::vector<std::string> untargeted;
  std::string rollback_reason;  // RollbackReasonName, or "operator"
  VerdictRecord last_verdict;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;

  friend bool operator==(const RolloutState&, const RolloutState&) = default;
};

struct RolloutMember {
  RolloutNode node;
  std::int64_t previous_version = 0;
};

// Contract 3: a member's pre-rollout SLO window joins its wave's baseline
// (and the shadow wave's, when the rollout has one). CreateRollout adds
// those of `reports`; a caller holding the reports elsewhere adds them after.
void AddToBaseline(RolloutState& s, std::size_t wave, const SloWindow& window);

// A pending rollout of `new_version` over `members`, planned by PlanWaves.
// `reports` give each wave's pre-rollout SLO window (contract 3).
// `shadow_version` is the shadow wave's revision: required (above every
// member's previous version, below new_version) when the policy is
// shadow-first, 0 otherwise. kInvalidArgument when a member's previous
// version is not below the first version the rollout assigns, or for a
// shadow_version that does not fit the policy.
Result<RolloutState> CreateRollout(std::string id, const RolloutPolicy& policy,
                                   const std::vector<RolloutMember>& members,
                                   std::int64_t new_version, const NodeReports& reports,
                                   std::int64_t now_ms, std::int64_t shadow_version = 0);

// The version wave `index` assigns: shadow_version for the shadow wave, else new_version.
std::int64_t WaveVersion(const RolloutState& s, std::size_t index);

// pending -> running: the first non-empty wave's nodes are assigned its
// version (WaveVersion: shadow_version for a shadow wave, else new_version).
Result<AssignmentChanges> StartRollout(RolloutState& s, std::int64_t now_ms);

struct TickResult {
  VerdictRecord verdict;
  AssignmentChanges changes;
  bool changed = false;  // phase, wave or assignment (the generation moved)
};
// Contract 2. `assigned_hashes` (node id -> the hash rendered for its
// assigned version), when given, lets the divergence gate compare hashes.
// `discovery` (null: no MeshKit connection) feeds the MeshKit gates of the
// current wave; a promote verdict becomes a "bridge" hold while its
// next_wave_bridges_down is not empty (the next wave that has nodes is
// cross-cell and a bridge between its cells is not known to be up). An
// operator's promote still moves.
TickResult TickRollout(RolloutState& s, std::int64_t now_ms, const NodeReports& reports,
                       const AssignedHashes* assigned_hashes = nullptr,
                       const WaveDiscovery* discovery = nullptr);

// Contract 4.
Result<AssignmentChanges> ActOnRollout(RolloutState& s, RolloutAction action, std::int64_t now_ms);

// Contract 5.
Result<AssignmentChanges> CommitRollback(RolloutState& s, std::int64_t rollback_version,
                                         std::int64_t now_ms);

// A node that joins while the rollout runs goes to WaveOfNode's wave (and,
// shadow-first, to the shadow wave's list) and is assigned new_version at
// once when that wave has been reached, else shadow_version when there is one. kConflict in
// a terminal or rolling_back phase or for a node already in; kInvalidArgument
// for an untargeted node or a previous version not below new_version.
Result<AssignmentChanges> AddRolloutNode(RolloutState& s, const RolloutMember& member,
                                         std::int64_t now_ms);

// AddRolloutNode for many members at once (a rollout's members joined after
// its first wave), in one merge rather than an insertion each: the same
// wave, assignment and refusals per node, except that a member already in
// the rollout or listed untargeted is skipped, and an untargeted one is
// listed in `untargeted` (as CreateRollout lists them). `joined` (when
// given) receives each member that went into a wave, by its index in
// `members`. The generation moves once when anything was added.
Result<AssignmentChanges> AddRolloutNodes(RolloutState& s,
                                          const std::vector<RolloutMember>& members,
                                          std::int64_t now_ms,
                                          std::vector<std::size_t>* joined = nullptr);

enum class Content { kOld, kShadow, kNew };
// Which content the node's assigned version carries; nullopt for a node not in the rollout.
std::optional<Content> ContentOf(const RolloutState& s, std::string_view node_id);

std::string RolloutStateToJson(const RolloutState& s);
Result<RolloutState> RolloutStateFromJson(std::string_view json);
// The same, from the object already parsed (as inside a stored record).
Result<RolloutState> ReadRolloutState(const nlohmann::json& state);

// Contract 7, format 2: the state in two parts, for a store that keeps them
// apart (RolloutRecord::members_json) so that a promotion rewrites the
// small one alone. `members` changes only when the members do: the ids, with
// each one's wave, previous version and chain (from `chains`, node id ->
// chain text; each text stored once), the waves' and the untargeted lists.
// `head` holds the rest, each member's assigned version included where it
// is not the one its wave, the phase and the rollout's versions imply.
// RolloutStateFromParts(parts...) == s, with `chains` read back when given.
struct RolloutStateParts {
  std::string head;
  std::string members;
};
RolloutStateParts RolloutStateToParts(const RolloutState& s,
                                      const std::map<std::string, std::string>& chains);
// RolloutStateToParts(s, ...).head alone, for a writer whose members part is stored already.
std::string RolloutStateHead(const RolloutState& s);
Result<RolloutState> RolloutStateFromParts(std::string_view head, std::string_view members,
                                           std::map<std::string, std::string>* chains);
Result<RolloutState> ReadRolloutStateParts(const nlohmann::json& head, std::string_view members,
                                           std::map<std::string, std::string>* chains);
// Whether a stored state object (a record's "state") is a format 2 head.
bool IsMembersApartHead(const nlohmann::json& state);
// The state of a stored rollout record in either format, chosen by the
// format its state names: format 2 (members apart, the head under "state"),
// or format 1 (the whole state under "state", or the bare state object;
// members_json ignored).
Result<RolloutState> RolloutStateOfRecord(std::string_view state_json,
                                          std::string_view members_json);
// The "verdict" object of RolloutStateToJson alone (the API's "gate"), so a
// reader of the last verdict does not dump and parse the whole state.
std::string VerdictRecordToJson(const VerdictRecord& v);

}  // namespace omnirelay::cp

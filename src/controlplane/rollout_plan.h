// Wave planning (DESIGN.md §4 Rollouts): which nodes a rollout reaches in
// which order. A pure function of (nodes, policy, rollout id): no store, no
// clock.
//
// Contract:
//  1. A node is targeted when its chain contains one of the policy's target
//     scopes; the others are listed as untargeted and are in no wave.
//  2. Waves, in order: the canary (when canary_percent > 0), then one wave
//     per policy scope wave, then the rest ("everything left"). Every
//     targeted node is in exactly one of them — its cut-over wave. With
//     shadow_first_percent > 0 a shadow wave comes first and lists every
//     targeted node as well: it moves them all to the mirrored old routing
//     before any cut-over (rollout_state.h, contract 1).
//  3. Canary membership: CanaryBucket(rollout id, node id) < canary_percent
//     in basis points. The bucket is the project's fixed stable hash
//     (ShadowHash: FNV-1a 64 mixed by SplitMix64's finaliser, shadow.h) of
//     the node id salted with "rollout:" + the rollout id, modulo 10,000 —
//     the same on every build and replica, independent across rollouts.
//  4. A canary the hash leaves empty while nodes are targeted gets one node:
//     the one with the smallest (bucket, id). So a small fleet still gets a
//     canary.
//     4b. A canary the hash fills with every targeted node, when there are
//     two or more and canary_percent < 100, gives back the node with the
//     largest (bucket, id) to its rule-5 wave: a bad change never reaches
//     every node at once, and the SLO gate keeps a live baseline.
//  5. Past the canary, a node goes to the first scope wave one of whose
//     scopes its chain contains, else to the last wave.
//  6. Empty waves are kept (a node may join them later); the state machine
//     passes through an empty wave without gating it.
//  7. A node joining mid-rollout goes where WaveOfNode puts it: rules 1, 3
//     and 5 (not 4 or 4b, which only shape the canary of a first plan).
//  8. Node ids in each wave are sorted; the plan is the same for the same
//     inputs in any order.
//
// Thread safety: values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/scope.h"
#include "rollout_policy.h"

namespace omnirelay::cp {

struct RolloutNode {
  std::string id;
  std::vector<Scope> chain;  // global, ..., node:<id>
};

enum class WaveKind { kCanary, kScopes, kRest, kShadow };
// "canary", "scopes", "global", "shadow" (the proto's names).
std::string_view WaveKindName(WaveKind kind);
std::optional<WaveKind> ParseWaveKind(std::string_view name);

struct Wave {
  WaveKind kind = WaveKind::kRest;
  std::vector<Scope> scopes;          // kScopes only
  std::vector<std::string> node_ids;  // sorted

  friend bool operator==(const Wave&, const Wave&) = default;
};

struct WavePlan {
  std::vector<Wave> waves;
  std::vector<std::string> untargeted;  // sorted

  friend bool operator==(const WavePlan&, const WavePlan&) = default;
};

// The node's canary bucket in [0, 10000) (rule 3).
std::uint32_t CanaryBucket(std::string_view rollout_id, std::string_view node_id);
// Rule 3: whether the hash puts the node in the canary (a policy with a canary).
bool InCanary(const RolloutPolicy& policy, std::string_view rollout_id, std::string_view node_id);
// InCanary for many nodes of one rollout: the salt is made once.
class CanaryTest {
 public:
  CanaryTest(const RolloutPolicy& policy, std::string_view rollout_id);
  bool operator()(std::string_view node_id) const;

 private:
  std::uint32_t basis_points_;
  std::string salt_;
};

// Rule 1.
bool IsTargeted(const std::vector<Scope>& chain, const RolloutPolicy& policy);

// The waves a policy makes, with no nodes in them yet (rule 2).
std::vector<Wave> WaveShapes(const RolloutPolicy& policy);

// The index of the node's cut-over wave in WaveShapes(policy) (never the
// shadow wave); nullopt when untargeted (rule 7).
std::optional<std::size_t> WaveOfNode(const RolloutNode& node, const RolloutPolicy& policy,
                                      std::string_view rollout_id);

WavePlan PlanWaves(const std::vector<RolloutNode>& nodes, const RolloutPolicy& policy,
                   std::string_view rollout_id);

// PlanWaves by position, for a caller that keeps its own data beside each
// node (CreateRollout): the same waves, without copying an id or a chain.
inline constexpr std::size_t kUntargeted = static_cast<std::size_t>(-1);
struct WaveIndexPlan {
  std::vector<std::size_t> order;    // positions in `nodes`, by ascending id (rule 8)
  std::vector<std::size_t> wave_of;  // per position: its wave in WaveShapes, or kUntargeted
};
WaveIndexPlan PlanWaveIndexes(std::span<const RolloutNode* const> nodes,
                              const RolloutPolicy& policy, std::string_view rollout_id);

}  // namespace omnirelay::cp

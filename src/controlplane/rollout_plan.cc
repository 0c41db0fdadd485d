#include "rollout_plan.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "omnirelay/config/shadow.h"

namespace omnirelay::cp {
namespace {

bool ChainContains(const std::vector<Scope>& chain, const std::vector<Scope>& scopes) {
  for (const auto& s : scopes) {
    if (std::find(chain.begin(), chain.end(), s) != chain.end()) return true;
  }
  return false;
}

std::uint32_t CanaryBasisPoints(const RolloutPolicy& policy) {
  return static_cast<std::uint32_t>(std::lround(policy.canary_percent * 100.0));
}

std::string CanarySalt(std::string_view rollout_id) {
  return "rollout:" + std::string(rollout_id);
}

bool ShadowFirst(const RolloutPolicy& policy) {
  return policy.shadow_first_percent > 0;
}

// Where the canary is, or would be, in WaveShapes(policy): after the shadow wave.
std::size_t CanaryIndex(const RolloutPolicy& policy) {
  return ShadowFirst(policy) ? 1 : 0;
}

// Rule 5: the wave of a targeted node past the canary.
std::size_t WavePastCanary(const RolloutNode& node, const RolloutPolicy& policy) {
  std::size_t index = CanaryIndex(policy) + (CanaryBasisPoints(policy) > 0 ? 1 : 0);
  for (const auto& scopes : policy.scope_waves) {
    if (ChainContains(node.chain, scopes)) return index;
    ++index;
  }
  return index;  // the last wave
}

// WaveOfNode with the salt made once per plan rather than once per node.
std::optional<std::size_t> WaveIndex(const RolloutNode& node, const RolloutPolicy& policy,
                                     const std::string& salt) {
  if (!IsTargeted(node.chain, policy)) return std::nullopt;
  if (const std::uint32_t bp = CanaryBasisPoints(policy); bp > 0) {
    if (ShadowBucket(node.id, salt) < bp) return CanaryIndex(policy);
  }
  return WavePastCanary(node, policy);
}

constexpr std::uint32_t kAllBasisPoints = 10'000;

// Rule 8's sort made cheap for ids that share a prefix ("node-...", as
// fleets name them): an id's first 8 bytes past the prefix common to all,
// read big-endian (zeros past its end), order it as the bytes do, so most
// comparisons are of two integers; whole ids only break ties.
struct IdKey {
  std::uint64_t head = 0;
  std::string_view id;
  std::size_t position = 0;
};

// The heads decide unless equal (one integer comparison, inlined in the sort).
inline bool operator<(const IdKey& a, const IdKey& b) {
  if (a.head != b.head) [[likely]]
    return a.head < b.head;
  if (const int c = a.id.compare(b.id); c != 0) return c < 0;
  return a.position < b.position;
}

std::size_t CommonPrefix(std::span<const RolloutNode* const> nodes) {
  if (nodes.empty()) return 0;
  std::string_view prefix = nodes.front()->id;
  for (const RolloutNode* node : nodes) {
    const std::string_view id = node->id;
    std::size_t n = 0;
    while (n < prefix.size() && n < id.size() && prefix[n] == id[n]) ++n;
    prefix = prefix.substr(0, n);
  }
  return prefix.size();
}

std::uint64_t HeadOf(std::string_view id, std::size_t skip) {
  std::uint64_t head = 0;
  for (std::size_t k = skip; k < skip + 8; ++k) {
    head = (head << 8) | (k < id.size() ? static_cast<unsigned char>(id[k]) : 0U);
  }
  return head;
}

std::vector<std::size_t> OrderById(std::span<const RolloutNode* const> nodes) {
  const std::size_t skip = CommonPrefix(nodes);
  std::vector<IdKey> keys;
  keys.reserve(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    keys.push_back(IdKey{HeadOf(nodes[i]->id, skip), nodes[i]->id, i});
  }
  std::sort(keys.begin(), keys.end());
  std::vector<std::size_t> order;
  order.reserve(keys.size());
  for (const IdKey& key : keys) order.push_back(key.position);
  return order;
}

}  // namespace

std::string_view WaveKindName(WaveKind kind) {
  switch (kind) {
    case WaveKind::kCanary:
      return "canary";
    case WaveKind::kScopes:
      return "scopes";
    case WaveKind::kRest:
      return "global";
    case WaveKind::kShadow:
      return "shadow";
  }
  return "global";
}

std::optional<WaveKind> ParseWaveKind(std::string_view name) {
  for (WaveKind k : {WaveKind::kCanary, WaveKind::kScopes, WaveKind::kRest, WaveKind::kShadow}) {
    if (WaveKindName(k) == name) return k;
  }
  return std::nullopt;
}

std::uint32_t CanaryBucket(std::string_view rollout_id, std::string_view node_id) {
  return ShadowBucket(node_id, CanarySalt(rollout_id));
}

bool InCanary(const RolloutPolicy& policy, std::string_view rollout_id, std::string_view node_id) {
  return CanaryTest(policy, rollout_id)(node_id);
}

CanaryTest::CanaryTest(const RolloutPolicy& policy, std::string_view rollout_id)
    : basis_points_(CanaryBasisPoints(policy)), salt_(CanarySalt(rollout_id)) {}

bool CanaryTest::operator()(std::string_view node_id) const {
  return basis_points_ > 0 && ShadowBucket(node_id, salt_) < basis_points_;
}

bool IsTargeted(const std::vector<Scope>& chain, const RolloutPolicy& policy) {
  return ChainContains(chain, policy.target_scopes);
}

std::vector<Wave> WaveShapes(const RolloutPolicy& policy) {
  std::vector<Wave> waves;
  if (ShadowFirst(policy)) waves.push_back(Wave{WaveKind::kShadow, {}, {}});
  if (CanaryBasisPoints(policy) > 0) waves.push_back(Wave{WaveKind::kCanary, {}, {}});
  for (const auto& scopes : policy.scope_waves) {
    waves.push_back(Wave{WaveKind::kScopes, scopes, {}});
  }
  waves.push_back(Wave{WaveKind::kRest, {}, {}});
  return waves;
}

std::optional<std::size_t> WaveOfNode(const RolloutNode& node, const RolloutPolicy& policy,
                                      std::string_view rollout_id) {
  return WaveIndex(node, policy, CanarySalt(rollout_id));
}

WaveIndexPlan PlanWaveIndexes(std::span<const RolloutNode* const> nodes,
                              const RolloutPolicy& policy, std::string_view rollout_id) {
  WaveIndexPlan plan;
  plan.wave_of.assign(nodes.size(), kUntargeted);
  const std::uint32_t bp = CanaryBasisPoints(policy);
  const std::string salt = CanarySalt(rollout_id);
  const std::size_t ci = CanaryIndex(policy);  // the canary's index, past a shadow wave
  std::size_t placed = 0;
  std::size_t in_canary = 0;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (auto wave = WaveIndex(*nodes[i], policy, salt)) {
      plan.wave_of[i] = *wave;
      ++placed;
      if (bp > 0 && *wave == ci) ++in_canary;
    }
  }
  // Rule 4: a canary that the hash left empty takes the node with the
  // smallest (bucket, id) from wherever the plan put it.
  if (bp > 0 && in_canary == 0 && placed > 0) {
    std::size_t best = kUntargeted;
    std::uint32_t best_bucket = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (plan.wave_of[i] == kUntargeted) continue;
      const std::uint32_t bucket = ShadowBucket(nodes[i]->id, salt);
      if (best == kUntargeted || std::tie(bucket, nodes[i]->id, plan.wave_of[i]) <
                                     std::tie(best_bucket, nodes[best]->id, plan.wave_of[best])) {
        best = i;
        best_bucket = bucket;
      }
    }
    plan.wave_of[best] = ci;
    in_canary = 1;
  }
  // Rule 4b: a canary the hash filled with every targeted node (two or more,
  // under 100%) gives back the one with the largest (bucket, id), so a bad
  // change never reaches every node at once and the SLO gate keeps a live
  // baseline of nodes on the old version.
  if (bp > 0 && bp < kAllBasisPoints && in_canary >= 2 && placed == in_canary) {
    std::size_t last = kUntargeted;
    std::uint32_t last_bucket = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (plan.wave_of[i] != ci) continue;
      const std::uint32_t bucket = ShadowBucket(nodes[i]->id, salt);
      if (last == kUntargeted ||
          std::tie(last_bucket, nodes[last]->id) < std::tie(bucket, nodes[i]->id)) {
        last = i;
        last_bucket = bucket;
      }
    }
    plan.wave_of[last] = WavePastCanary(*nodes[last], policy);
  }
  plan.order = OrderById(nodes);  // rule 8: one sort of every id; waves fill in this order
  return plan;
}

WavePlan PlanWaves(const std::vector<RolloutNode>& nodes, const RolloutPolicy& policy,
                   std::string_view rollout_id) {
  std::vector<const RolloutNode*> positions;
  positions.reserve(nodes.size());
  for (const auto& node : nodes) positions.push_back(&node);
  const WaveIndexPlan by_index = PlanWaveIndexes(positions, policy, rollout_id);
  WavePlan plan;
  plan.waves = WaveShapes(policy);
  for (const std::size_t i : by_index.order) {
    const std::size_t wave = by_index.wave_of[i];
    auto& ids = wave == kUntargeted ? plan.untargeted : plan.waves[wave].node_ids;
    ids.push_back(nodes[i].id);
    // Rule 2: the shadow wave lists every targeted node as well.
    if (wave != kUntargeted && ShadowFirst(policy))
      plan.waves.front().node_ids.push_back(nodes[i].id);
  }
  return plan;
}

}  // namespace omnirelay::cp

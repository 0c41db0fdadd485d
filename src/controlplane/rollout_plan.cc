#include "rollout_plan.h"

#include <algorithm>
#include <cmath>
#include <tuple>

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

WavePlan PlanWaves(const std::vector<RolloutNode>& nodes, const RolloutPolicy& policy,
                   std::string_view rollout_id) {
  WavePlan plan;
  plan.waves = WaveShapes(policy);
  const std::string salt = CanarySalt(rollout_id);
  for (const auto& node : nodes) {
    if (auto wave = WaveIndex(node, policy, salt)) {
      plan.waves[*wave].node_ids.push_back(node.id);
      if (ShadowFirst(policy)) plan.waves.front().node_ids.push_back(node.id);
    } else {
      plan.untargeted.push_back(node.id);
    }
  }
  // Rule 4: a canary that the hash left empty takes the node with the
  // smallest (bucket, id) from wherever the plan put it.
  const std::size_t ci = CanaryIndex(policy);
  if (plan.waves[ci].kind == WaveKind::kCanary && plan.waves[ci].node_ids.empty()) {
    std::optional<std::tuple<std::uint32_t, std::string, std::size_t>> best;
    for (std::size_t w = ci + 1; w < plan.waves.size(); ++w) {
      for (const auto& id : plan.waves[w].node_ids) {
        auto candidate = std::make_tuple(CanaryBucket(rollout_id, id), id, w);
        if (!best || candidate < *best) best = std::move(candidate);
      }
    }
    if (best) {
      auto& from = plan.waves[std::get<2>(*best)].node_ids;
      from.erase(std::find(from.begin(), from.end(), std::get<1>(*best)));
      plan.waves[ci].node_ids.push_back(std::get<1>(*best));
    }
  }
  // Rule 4b: a canary the hash filled with every targeted node (two or more,
  // under 100%) gives back the one with the largest (bucket, id), so a bad
  // change never reaches every node at once and the SLO gate keeps a live
  // baseline of nodes on the old version.
  auto& canary = plan.waves[ci].node_ids;
  if (plan.waves[ci].kind == WaveKind::kCanary && canary.size() >= 2 &&
      CanaryBasisPoints(policy) < kAllBasisPoints) {
    std::size_t placed = 0;
    for (std::size_t w = ci; w < plan.waves.size(); ++w) placed += plan.waves[w].node_ids.size();
    if (placed == canary.size()) {
      const auto last = std::max_element(canary.begin(), canary.end(),
                                         [&](const std::string& a, const std::string& b) {
                                           const std::uint32_t ba = CanaryBucket(rollout_id, a);
                                           const std::uint32_t bb = CanaryBucket(rollout_id, b);
                                           return ba != bb ? ba < bb : a < b;
                                         });
      const auto node = std::find_if(nodes.begin(), nodes.end(),
                                     [&](const RolloutNode& n) { return n.id == *last; });
      plan.waves[WavePastCanary(*node, policy)].node_ids.push_back(*last);
      canary.erase(last);
    }
  }
  for (auto& wave : plan.waves) std::sort(wave.node_ids.begin(), wave.node_ids.end());
  std::sort(plan.untargeted.begin(), plan.untargeted.end());
  return plan;
}

}  // namespace omnirelay::cp

// Rollout policy (DESIGN.md §4 Rollouts): which nodes a rollout targets, how
// its waves are cut, and the gates each wave must pass. Every field has a
// documented default, so `{}` is a usable policy.
//
// The JSON shape is the `rollout` block of the original design page
// ("target scopes, waves"), written the way layer documents write things:
// camelCase keys, durations as integer milliseconds with an `Ms` suffix (as
// `timeoutMs`), ratios as fractions in [0, 1]:
//
//   { "targetScopes": ["region:us-east"],
//     "canaryPercent": 5,
//     "shadowFirstPercent": 0,
//     "waves": [{"scopes": ["cell:use1-a"]}, {"scopes": ["region:eu-west"]}],
//     "promotion": "auto",
//     "bakeMs": 300000,
//     "minAckRatio": 0.95, "ackDeadlineMs": 600000, "offlineGraceMs": 120000,
//     "maxNackRatio": 0.05,
//     "slo": {"maxErrorRateDelta": 0.01, "maxP99Ratio": 1.5, "minRequests": 500},
//     "maxDiscoveryGenerationSkew": 10,
//     "maxDiscoveryLagMs": 60000, "minClusterHealthyRatio": 0.9 }
//
// Contract:
//  1. Unknown keys are unknown_field; a value of the wrong JSON type is
//     type_mismatch; a number outside its range is out_of_range; a bad scope
//     string is invalid_scope. Each diagnostic's pointer is `base` plus the
//     path inside the block, so a document model embedding the block passes
//     "/rollout" and gets pointers into the whole document.
//  2. Every problem is reported (not only the first), in document order.
//  3. RolloutPolicyToJson writes every field (but the MeshKit ones,
//     maxDiscoveryLagMs and minClusterHealthyRatio, only when they differ
//     from their defaults, so a daemon older than them still reads a stored
//     policy that does not use them); parsing its output gives back an equal
//     policy (the rollout state stores its policy this way).
//
// Lives in omni_config: the document model embeds the block in a
// ConfigLayer (decode.h), offline validation included.
//
// Thread safety: values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/scope.h"
#include "omnirelay/config/status.h"

namespace omnirelay {

enum class Promotion { kAuto, kManual };

struct RolloutPolicy {
  // Nodes whose scope chain contains one of these scopes are targeted.
  std::vector<Scope> target_scopes = {Scope{}};  // global: every node
  // Percent (0..100, two decimals) of the targeted nodes in the canary wave;
  // 0 = no canary wave.
  double canary_percent = 5.0;
  // Shadow-first (docs/knowledge-base/rollouts.md): when > 0, a generated
  // first wave gives every targeted node the old routing with this percent
  // (0..100, two decimals) of each changed route's requests mirrored to the
  // cluster the change moves its weight to, before any node is cut over.
  double shadow_first_percent = 0.0;
  // The named-scope waves, in order; a node goes to the first whose scopes
  // its chain contains. A last wave of everything left always follows.
  std::vector<std::vector<Scope>> scope_waves;
  Promotion promotion = Promotion::kAuto;

  std::int64_t bake_ms = 5 * 60'000;  // minimum time a wave runs before promotion
  // ACKs of the assigned version over the wave's counted nodes.
  double min_ack_ratio = 0.95;
  std::int64_t ack_deadline_ms = 10 * 60'000;  // from the wave's start
  // A node offline this long (that has not ACKed) leaves the denominator.
  std::int64_t offline_grace_ms = 2 * 60'000;
  double max_nack_ratio = 0.05;  // NACKs over counted nodes above this: rollback

  // SLO against the baseline (rollout_gates.h).
  double max_error_rate_delta = 0.01;  // wave error rate - baseline error rate
  double max_p99_ratio = 1.5;          // wave p99 / baseline p99
  std::int64_t min_requests = 500;     // in the wave and in the baseline, before a verdict
  // Largest allowed difference of the discoveryGeneration the wave's nodes report.
  std::int64_t max_discovery_generation_skew = 10;
  // With a MeshKit connection: how long a node may stay behind the feed
  // generation the control plane saw (nodes report every status interval,
  // 15 s by default, so less than two of those would hold healthy waves).
  std::int64_t max_discovery_lag_ms = 60'000;
  // With a MeshKit connection: the share of each target cluster's endpoints
  // (where the wave's nodes are) that must be healthy before the wave is
  // promoted; 0 = the gate is off (the default).
  double min_cluster_healthy_ratio = 0.0;

  friend bool operator==(const RolloutPolicy&, const RolloutPolicy&) = default;
};

// Parses the `rollout` block. kInvalid with diagnostics (contract 1, 2).
Result<RolloutPolicy> ParseRolloutPolicy(std::string_view json, std::string_view base = "");

// The block, every field written, keys sorted (contract 3).
std::string RolloutPolicyToJson(const RolloutPolicy& policy);

}  // namespace omnirelay

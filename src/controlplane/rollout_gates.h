// Wave gates (DESIGN.md §4 Rollouts): whether a wave holds, is promoted or
// rolls the rollout back — a pure function of the policy, the wave, what its
// nodes report, the baseline and the time.
//
// Contract (EvaluateWave):
//  1. Counted nodes: the wave's nodes, except one that has not ACKed the
//     assigned version and has been offline (or never reported) for at least
//     offline_grace_ms; those are excluded, counted and shown. A node with no
//     report is offline since the wave started.
//  2. Rollback verdicts come first, in this order:
//     nack_ratio — NACKs of the assigned version / counted > max_nack_ratio;
//     divergence — a node reports the assigned version with another hash, or
//       a version above the assigned one;
//     slo_breach — with at least min_requests in the wave's merged window and
//       in the baseline: error rate - baseline error rate > max_error_rate_delta,
//       or p99 > max_p99_ratio * baseline p99;
//     ack_deadline — the ACK ratio is still under min_ack_ratio, or a
//       counted node still drifts (the "drift" hold below), once
//       ack_deadline_ms has passed since the wave started.
//  3. Then holds, in this order, each naming its gate and figures:
//     "ack" (ACKs / counted < min_ack_ratio; no counted node also holds here),
//     "drift" (a counted node that is connected and has not ACKed the
//       assigned version — it refused it, or has not applied it: the feed
//       sends it again, node_feed.h contract 8 — names the first three),
//     "coherence" (a node that ACKed but does not report the assigned version
//       as applied, or discoveryGeneration max - min > the allowed skew among the counted
//       nodes that report one),
//     "slo" (fewer than min_requests in the wave or the baseline),
//     "bake" (less than bake_ms since the wave started).
//  4. Otherwise promote. Promotion mode (manual/auto) is the state machine's.
//  5. The SLO window of a wave merges its counted nodes' windows: request and
//     error counts add, histograms add bucket by bucket.
//
// Latency histograms and quantiles: omnirelay/config/slo_window.h.
//
// Thread safety: values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "omnirelay/config/slo_window.h"
#include "rollout_policy.h"

namespace omnirelay::cp {

// The SLO figures nodes report, shared with librelay (omnirelay/config/slo_window.h).
using omnirelay::kLatencyBoundsMs;
using omnirelay::kLatencyBuckets;
using omnirelay::LatencyHistogram;
using omnirelay::SloWindow;

// What a node last said about itself (its stream's hello, ACK/NACK and status).
struct NodeReport {
  bool connected = false;
  std::int64_t offline_since_ms = 0;  // when !connected
  std::int64_t applied_version = 0;
  std::string applied_hash;
  std::int64_t acked_version = 0;   // the last version it ACKed
  std::int64_t nacked_version = 0;  // the last version it NACKed
  bool has_discovery_generation = false;
  std::int64_t discovery_generation = 0;
  SloWindow slo;  // every window it sent for the version it runs, merged
};
using NodeReports = std::unordered_map<std::string, NodeReport>;

enum class Verdict { kHold, kPromote, kRollback };
enum class RollbackReason { kNone, kSloBreach, kNackRatio, kAckDeadline, kDivergence };
// "slo_breach", "nack_ratio", "ack_deadline", "divergence" ("" for kNone);
// "operator" is the state machine's name for an operator's rollback.
std::string_view RollbackReasonName(RollbackReason reason);

struct GateFigures {
  std::int64_t nodes = 0;             // in the wave
  std::int64_t counted = 0;           // the ACK denominator
  std::int64_t offline_excluded = 0;  // offline past the grace, not ACKed
  std::int64_t acked = 0, nacked = 0, applied = 0;
  std::int64_t drifting = 0;  // counted, connected, not ACKed (NACKed ones included)
  double ack_ratio = 0, nack_ratio = 0;
  std::uint64_t requests = 0, baseline_requests = 0;
  double error_rate = 0, baseline_error_rate = 0;
  double p99_ms = 0, baseline_p99_ms = 0;
  std::int64_t discovery_skew = 0;
  std::int64_t bake_remaining_ms = 0;

  friend bool operator==(const GateFigures&, const GateFigures&) = default;
};

struct GateVerdict {
  Verdict verdict = Verdict::kHold;
  std::string gate;  // the holding or breached gate: "ack", "drift", "coherence", "slo", "bake"; ""
                     // on promote
  RollbackReason reason = RollbackReason::kNone;
  std::string message;  // e.g. "ack: 3/10 counted nodes acked (0.30 < 0.95), 1 offline excluded"
  GateFigures figures;
};

struct WaveGateInput {
  const RolloutPolicy* policy = nullptr;
  const std::vector<std::string>* node_ids = nullptr;
  const NodeReports* reports = nullptr;
  std::int64_t assigned_version = 0;
  // node id -> the hash rendered for its assigned version; nullptr (or a
  // node missing from it): hashes are not compared.
  const std::unordered_map<std::string, std::string>* assigned_hashes = nullptr;
  SloWindow baseline;
  std::int64_t wave_started_ms = 0;
  std::int64_t now_ms = 0;
};

GateVerdict EvaluateWave(const WaveGateInput& in);

}  // namespace omnirelay::cp

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
//     "bridge" (with a MeshKit connection: the wave is cross-cell — its
//       nodes' chains name two or more cells — and a bridge joining two of
//       those cells is not known to be up: the feed reports it down,
//       flapping or unknown, or the feed has sent nothing yet or is
//       disconnected; the wave waits until MeshKit reports it up),
//     "coherence" (a node that ACKed but does not report the assigned version
//       as applied — the message names the cells that lag when the wave is
//       cross-cell —, or discoveryGeneration max - min > the allowed skew
//       among the counted nodes that report one from the same feed (nodes on
//       different MeshKit feeds number their generations independently), or,
//       with a MeshKit connection, a counted node on the control plane's
//       feed that has been behind it for longer than max_discovery_lag_ms:
//       its generation is below one the control plane saw that long ago —
//       a node ahead of the control plane is never held),
//     "cluster_health" (with a MeshKit connection and min_cluster_healthy_ratio
//       > 0: no endpoint set received yet, or a target cluster whose healthy
//       share of endpoints is under the ratio — rollout_discovery.h says
//       which clusters are targets; places the feed does not cover are not
//       judged),
//     "slo" (fewer than min_requests in the wave or the baseline),
//     "bake" (less than bake_ms since the wave started).
//     Without a MeshKit connection "bridge", "cluster_health" and the feed
//     comparison are skipped, and the figures say so (discovery "none").
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
#include <utility>
#include <vector>

#include "id_sorted.h"
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
  std::string discovery_feed_id;  // the MeshKit feed instance it reports; "" unknown
  std::string cell;               // the cell its chain names; "" none
  SloWindow slo;                  // every window it sent for the version it runs, merged
};
// By node id, sorted (id_sorted.h): the engine builds and reads them in id order.
using NodeReports = IdSorted<NodeReport>;
// Node id -> the hash rendered for its assigned version.
using AssignedHashes = IdSorted<std::string>;

enum class Verdict { kHold, kPromote, kRollback };
enum class RollbackReason { kNone, kSloBreach, kNackRatio, kAckDeadline, kDivergence };
// "slo_breach", "nack_ratio", "ack_deadline", "divergence" ("" for kNone);
// "operator" is the state machine's name for an operator's rollback.
std::string_view RollbackReasonName(RollbackReason reason);

// One routing cluster's endpoints where the wave's nodes are (MeshKit).
struct ClusterHealthFigure {
  std::string service, cluster;
  std::int64_t healthy = 0, total = 0;
  friend bool operator==(const ClusterHealthFigure&, const ClusterHealthFigure&) = default;
};

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
  // MeshKit: "none" (no connection: its gates skipped), "waiting" (connected,
  // no endpoint set yet), "connected".
  std::string discovery = "none";
  std::string feed_id;
  std::int64_t feed_generation = 0;
  // The longest a counted node on the feed has been behind it (0: none is).
  std::int64_t feed_lag_ms = 0;
  // The wave's target clusters, the lowest healthy share first, at most
  // kMaxClusterFigures of them (the gate judges all).
  std::vector<ClusterHealthFigure> clusters;
  std::vector<std::string> uncovered;     // the wave's cells/regions the feed has no endpoint in
  std::vector<std::string> cells;         // the counted nodes' cells, sorted
  std::vector<std::string> bridges_down;  // what keeps a cross-cell wave, or the next, waiting

  friend bool operator==(const GateFigures&, const GateFigures&) = default;
};

struct GateVerdict {
  Verdict verdict = Verdict::kHold;
  std::string gate;  // the holding or breached gate: "ack", "drift", "bridge", "coherence",
                     // "cluster_health", "slo", "bake"; "" on promote
  RollbackReason reason = RollbackReason::kNone;
  std::string message;  // e.g. "ack: 3/10 counted nodes acked (0.30 < 0.95), 1 offline excluded"
  GateFigures figures;
};

inline constexpr std::size_t kMaxClusterFigures = 20;

// What the control plane's MeshKit connection says about one wave
// (rollout_discovery.h builds it).
struct WaveDiscovery {
  bool received = false;  // an endpoint set has arrived
  std::string feed_id;
  std::int64_t generation = 0;
  // When the control plane first saw each generation it held: (unix ms,
  // generation), both ascending; the newest is `generation`.
  std::vector<std::pair<std::int64_t, std::int64_t>> history;
  std::vector<ClusterHealthFigure> clusters;  // the target clusters, sorted by (service, cluster)
  std::vector<std::string> uncovered;         // places of the wave the feed does not cover
  bool cross_cell = false;                    // the wave's nodes' chains name 2+ cells
  // What keeps a cross-cell wave waiting: bridges not up between its cells
  // ("name (state)"), or why no bridge is known to be up.
  std::vector<std::string> bridges_down;
  // The same for the next wave that has nodes: a promotion into it waits
  // (TickRollout); next_wave is its index.
  std::vector<std::string> next_wave_bridges_down;
  std::size_t next_wave = 0;
  friend bool operator==(const WaveDiscovery&, const WaveDiscovery&) = default;
};

struct WaveGateInput {
  const RolloutPolicy* policy = nullptr;
  const std::vector<std::string>* node_ids = nullptr;
  const NodeReports* reports = nullptr;
  std::int64_t assigned_version = 0;
  // node id -> the hash rendered for its assigned version; nullptr (or a
  // node missing from it): hashes are not compared.
  const AssignedHashes* assigned_hashes = nullptr;
  SloWindow baseline;
  std::int64_t wave_started_ms = 0;
  std::int64_t now_ms = 0;
  // null: no MeshKit connection (the gates that need one are skipped).
  const WaveDiscovery* discovery = nullptr;
};

GateVerdict EvaluateWave(const WaveGateInput& in);

}  // namespace omnirelay::cp

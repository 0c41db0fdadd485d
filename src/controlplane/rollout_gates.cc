#include "rollout_gates.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <set>

namespace omnirelay::cp {
namespace {

// Figures in messages: fixed precision, no locale.
std::string Fixed(double v, int digits = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

GateVerdict Rollback(RollbackReason reason, std::string gate, std::string message,
                     const GateFigures& f) {
  return GateVerdict{Verdict::kRollback, std::move(gate), reason, std::move(message), f};
}

GateVerdict Hold(std::string gate, std::string message, const GateFigures& f) {
  return GateVerdict{Verdict::kHold, std::move(gate), RollbackReason::kNone, std::move(message), f};
}

}  // namespace

std::string_view RollbackReasonName(RollbackReason reason) {
  switch (reason) {
    case RollbackReason::kNone:
      return "";
    case RollbackReason::kSloBreach:
      return "slo_breach";
    case RollbackReason::kNackRatio:
      return "nack_ratio";
    case RollbackReason::kAckDeadline:
      return "ack_deadline";
    case RollbackReason::kDivergence:
      return "divergence";
  }
  return "";
}

namespace {

// The counted nodes' discoveryGeneration range on one feed, with who holds
// each end (for the message).
struct GenerationRange {
  std::int64_t min = std::numeric_limits<std::int64_t>::max();
  std::int64_t max = std::numeric_limits<std::int64_t>::min();
  std::string min_id, max_id;
  void Add(const std::string& id, std::int64_t g) {
    if (g < min) min = g, min_id = id;
    if (g > max) max = g, max_id = id;
  }
};

std::string CellOf(const NodeReport& r) {
  return r.cell.empty() ? "no cell" : "cell " + r.cell;
}

double Healthy(const ClusterHealthFigure& c) {
  return static_cast<double>(c.healthy) / static_cast<double>(c.total);
}

// Since when a node reporting `generation` has been behind the feed: when the
// control plane first saw a newer one; -1 when it is not behind.
std::int64_t BehindSince(const WaveDiscovery& d, std::int64_t generation) {
  const auto newer = std::upper_bound(
      d.history.begin(), d.history.end(), generation,
      [](std::int64_t g, const std::pair<std::int64_t, std::int64_t>& h) { return g < h.second; });
  return newer == d.history.end() ? -1 : newer->first;
}

}  // namespace

GateVerdict EvaluateWave(const WaveGateInput& in) {
  const RolloutPolicy& p = *in.policy;
  const WaveDiscovery* d = in.discovery;
  GateFigures f;
  f.nodes = static_cast<std::int64_t>(in.node_ids->size());
  if (d != nullptr) {
    f.discovery = d->received ? "connected" : "waiting";
    f.feed_id = d->feed_id;
    f.feed_generation = d->generation;
    f.clusters = d->clusters;  // sorted and cut below
    f.uncovered = d->uncovered;
    if (d->cross_cell) f.bridges_down = d->bridges_down;
  }
  SloWindow window;
  std::map<std::string, GenerationRange> generations;  // by feed id
  std::string feed_lagging;                            // the node furthest from the feed
  std::set<std::string> cells;
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> cell_apply;  // cell: applied, acked
  std::string diverged;
  std::string drifting;  // the first few ids
  // The wave's ids are sorted: the reports and hashes are read in one walk each.
  NodeReports::Walk reports(*in.reports);
  std::optional<AssignedHashes::Walk> hashes;
  if (in.assigned_hashes != nullptr) hashes.emplace(*in.assigned_hashes);
  for (const auto& id : *in.node_ids) {
    const NodeReport* r = reports.Find(id);
    const bool acked = r != nullptr && r->acked_version == in.assigned_version;
    if (!acked) {  // rule 1: offline past the grace leaves the denominator
      const bool connected = r != nullptr && r->connected;
      const std::int64_t since =
          r == nullptr ? in.wave_started_ms : std::max(r->offline_since_ms, std::int64_t{0});
      if (!connected && in.now_ms - since >= p.offline_grace_ms) {
        ++f.offline_excluded;
        continue;
      }
    }
    ++f.counted;
    if (r == nullptr) continue;
    cells.insert(r->cell);
    if (acked) {
      ++f.acked;
      ++cell_apply[r->cell].second;
      if (r->applied_version == in.assigned_version) ++cell_apply[r->cell].first;
    }
    if (!acked && r->nacked_version == in.assigned_version) ++f.nacked;
    if (!acked && r->connected) {  // rule 3, "drift"
      if (++f.drifting <= 3) drifting += (drifting.empty() ? "" : ", ") + id;
    }
    if (r->applied_version == in.assigned_version) {
      ++f.applied;
      const std::string* want = hashes ? hashes->Find(id) : nullptr;
      if (want != nullptr && !r->applied_hash.empty() && r->applied_hash != *want &&
          diverged.empty()) {
        diverged = id + " applies v" + std::to_string(r->applied_version) + " with hash " +
                   r->applied_hash;
      }
    } else if (r->applied_version > in.assigned_version && diverged.empty()) {
      diverged = id + " applies v" + std::to_string(r->applied_version) + " above the assigned v" +
                 std::to_string(in.assigned_version);
    }
    if (r->has_discovery_generation) {
      generations[r->discovery_feed_id].Add(id, r->discovery_generation);
      if (d != nullptr && d->received && !r->discovery_feed_id.empty() &&
          r->discovery_feed_id == d->feed_id) {
        const std::int64_t since = BehindSince(*d, r->discovery_generation);
        if (since >= 0 && in.now_ms - since > f.feed_lag_ms) {
          f.feed_lag_ms = in.now_ms - since;
          feed_lagging = id + " (" + CellOf(*r) + ") reports discoveryGeneration " +
                         std::to_string(r->discovery_generation);
        }
      }
    }
    window.Merge(r->slo);
  }
  const GenerationRange* widest = nullptr;
  for (const auto& [feed, range] : generations) {
    if (widest == nullptr || range.max - range.min > f.discovery_skew) {
      f.discovery_skew = range.max - range.min;
      widest = &range;
    }
  }
  for (const std::string& cell : cells) {
    if (!cell.empty()) f.cells.push_back(cell);
  }
  const bool cross_cell = f.cells.size() >= 2;
  // The clusters judged (all), and those shown: the lowest healthy share first.
  const std::vector<ClusterHealthFigure> targets = f.clusters;
  std::stable_sort(f.clusters.begin(), f.clusters.end(),
                   [](const ClusterHealthFigure& a, const ClusterHealthFigure& b) {
                     return Healthy(a) < Healthy(b);
                   });
  if (f.clusters.size() > kMaxClusterFigures) f.clusters.resize(kMaxClusterFigures);
  const double counted = static_cast<double>(f.counted);
  f.ack_ratio = f.counted == 0 ? 0.0 : static_cast<double>(f.acked) / counted;
  f.nack_ratio = f.counted == 0 ? 0.0 : static_cast<double>(f.nacked) / counted;
  f.requests = window.requests;
  f.baseline_requests = in.baseline.requests;
  f.error_rate = window.ErrorRate();
  f.baseline_error_rate = in.baseline.ErrorRate();
  f.p99_ms = window.latency.QuantileMs(0.99);
  f.baseline_p99_ms = in.baseline.latency.QuantileMs(0.99);
  const std::int64_t elapsed = in.now_ms - in.wave_started_ms;
  f.bake_remaining_ms = std::max<std::int64_t>(0, p.bake_ms - elapsed);

  const std::string acks = std::to_string(f.acked) + "/" + std::to_string(f.counted) +
                           " counted nodes acked (" + Fixed(f.ack_ratio) + " < " +
                           Fixed(p.min_ack_ratio) + "), " + std::to_string(f.offline_excluded) +
                           " offline excluded";

  // Rule 2: rollbacks.
  if (f.nack_ratio > p.max_nack_ratio) {
    return Rollback(RollbackReason::kNackRatio, "ack",
                    "nack_ratio: " + std::to_string(f.nacked) + "/" + std::to_string(f.counted) +
                        " counted nodes nacked (" + Fixed(f.nack_ratio) + " > " +
                        Fixed(p.max_nack_ratio) + ")",
                    f);
  }
  if (!diverged.empty()) {
    return Rollback(RollbackReason::kDivergence, "coherence", "divergence: " + diverged, f);
  }
  const auto min_requests = static_cast<std::uint64_t>(p.min_requests);
  const bool slo_judgeable = f.requests >= min_requests && f.baseline_requests >= min_requests;
  if (slo_judgeable) {
    const double delta = f.error_rate - f.baseline_error_rate;
    if (delta > p.max_error_rate_delta) {
      return Rollback(RollbackReason::kSloBreach, "slo",
                      "slo_breach: error rate " + Fixed(f.error_rate, 4) + " vs baseline " +
                          Fixed(f.baseline_error_rate, 4) + " (+" + Fixed(delta, 4) + " > " +
                          Fixed(p.max_error_rate_delta, 4) + ")",
                      f);
    }
    if (f.p99_ms > p.max_p99_ratio * f.baseline_p99_ms) {
      return Rollback(RollbackReason::kSloBreach, "slo",
                      "slo_breach: p99 " + Fixed(f.p99_ms, 1) + " ms vs baseline " +
                          Fixed(f.baseline_p99_ms, 1) + " ms (ratio over " +
                          Fixed(p.max_p99_ratio) + ")",
                      f);
    }
  }
  const bool acks_short = f.counted == 0 || f.ack_ratio < p.min_ack_ratio;
  if (acks_short && elapsed >= p.ack_deadline_ms) {
    return Rollback(RollbackReason::kAckDeadline, "ack", "ack_deadline: " + acks, f);
  }
  const std::string behind = std::to_string(f.drifting) + " connected node(s) have not applied v" +
                             std::to_string(in.assigned_version) + " (" + std::to_string(f.nacked) +
                             " refused it): " + drifting + (f.drifting > 3 ? ", ..." : "");
  if (f.drifting > 0 && elapsed >= p.ack_deadline_ms) {
    return Rollback(RollbackReason::kAckDeadline, "drift", "ack_deadline: " + behind, f);
  }

  // Rule 3: holds.
  if (acks_short) return Hold("ack", "ack: " + acks, f);
  if (f.drifting > 0) return Hold("drift", "drift: " + behind, f);
  if (!f.bridges_down.empty()) {  // set only for a cross-cell wave
    std::string names;
    for (const std::string& b : f.bridges_down) names += (names.empty() ? "" : ", ") + b;
    std::string joined;
    for (const std::string& c : f.cells) joined += (joined.empty() ? "" : ", ") + c;
    return Hold("bridge",
                "bridge: cross-cell wave (cells " + joined + ") paused while MeshKit reports " +
                    names + "; it resumes when the bridge is up",
                f);
  }
  if (f.applied < f.acked) {
    std::string lagging;  // cross-cell: which cells lag
    if (cross_cell) {
      for (const auto& [cell, counts] : cell_apply) {
        if (counts.first < counts.second) {
          lagging += std::string(lagging.empty() ? " (" : ", ") +
                     (cell.empty() ? "no cell" : cell) + " " + std::to_string(counts.first) + "/" +
                     std::to_string(counts.second);
        }
      }
      if (!lagging.empty()) lagging += ")";
    }
    return Hold("coherence",
                "coherence: " + std::to_string(f.applied) + "/" + std::to_string(f.acked) +
                    " acked nodes apply v" + std::to_string(in.assigned_version) + lagging,
                f);
  }
  if (f.discovery_skew > p.max_discovery_generation_skew) {
    std::string who;
    if (widest != nullptr) {
      const auto where = [&](const std::string& id) {
        const auto it = in.reports->find(id);
        return it == in.reports->end() ? std::string() : " (" + CellOf(it->second) + ")";
      };
      who = ": " + widest->min_id + where(widest->min_id) + " at " + std::to_string(widest->min) +
            ", " + widest->max_id + where(widest->max_id) + " at " + std::to_string(widest->max);
    }
    return Hold("coherence",
                "coherence: discoveryGeneration skew " + std::to_string(f.discovery_skew) + " > " +
                    std::to_string(p.max_discovery_generation_skew) + who,
                f);
  }
  if (f.feed_lag_ms > p.max_discovery_lag_ms) {
    return Hold("coherence",
                "coherence: " + feed_lagging + ", behind MeshKit feed " + f.feed_id + " (at " +
                    std::to_string(f.feed_generation) + ") for " +
                    Fixed(static_cast<double>(f.feed_lag_ms) / 1000, 1) + "s (more than " +
                    Fixed(static_cast<double>(p.max_discovery_lag_ms) / 1000, 1) + "s)",
                f);
  }
  if (d != nullptr && p.min_cluster_healthy_ratio > 0) {
    if (!d->received) {
      return Hold("cluster_health", "cluster_health: no endpoints from MeshKit yet", f);
    }
    for (const ClusterHealthFigure& c : targets) {
      if (Healthy(c) < p.min_cluster_healthy_ratio) {
        return Hold("cluster_health",
                    "cluster_health: " + c.cluster + " (" + c.service + ") has " +
                        std::to_string(c.healthy) + "/" + std::to_string(c.total) +
                        " endpoints healthy (" + Fixed(Healthy(c)) + " < " +
                        Fixed(p.min_cluster_healthy_ratio) + ") at MeshKit generation " +
                        std::to_string(f.feed_generation),
                    f);
      }
    }
  }
  if (!slo_judgeable) {
    return Hold("slo",
                "slo: " + std::to_string(f.requests) + " requests in the wave, " +
                    std::to_string(f.baseline_requests) + " in the baseline (need " +
                    std::to_string(p.min_requests) + " each)",
                f);
  }
  if (f.bake_remaining_ms > 0) {
    return Hold("bake", "bake: " + std::to_string(f.bake_remaining_ms / 1000) + "s left", f);
  }
  return GateVerdict{Verdict::kPromote, "", RollbackReason::kNone, "all gates pass", f};
}

}  // namespace omnirelay::cp

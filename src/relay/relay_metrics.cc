#include "relay_metrics.h"

namespace omnirelay::relay {
namespace {

constexpr std::string_view kRefusals = "omnirelay_relay_snapshot_refusals_total";
constexpr std::string_view kRefusalsHelp =
    "Snapshots this node refused (NACKed), by reason; the current snapshot stayed in force.";
constexpr std::string_view kApplies = "omnirelay_relay_snapshot_applies_total";
constexpr std::string_view kAppliesHelp = "Snapshots accepted, by outcome.";

// Prometheus label value escaping: backslash, double quote, newline.
std::string Escape(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string NodeLabel(std::string_view node_id) {
  return LabelSet(node_id, {});
}

// Registered up front so dashboards see every reason at 0.
constexpr StatusCode kRefusalReasons[] = {
    StatusCode::kBadSignature,   StatusCode::kUnknownKey, StatusCode::kRevokedKey,
    StatusCode::kHashMismatch,   StatusCode::kRollback,   StatusCode::kExpired,
    StatusCode::kMissingFeature, StatusCode::kInvalid,    StatusCode::kInvalidArgument,
    StatusCode::kScopeMismatch,
};

}  // namespace

std::string LabelSet(std::string_view node_id,
                     std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  std::string out;
  auto add = [&out](std::string_view name, std::string_view value) {
    if (!out.empty()) out += ',';
    out += name;
    out += "=\"";
    out += Escape(value);
    out += '"';
  };
  if (!node_id.empty()) add("node", node_id);
  for (const auto& [name, value] : labels) add(name, value);
  return out;
}

RelayMetrics::RelayMetrics(MetricsRegistry& registry, std::string_view node_id)
    : apply_seconds(registry.histogram("omnirelay_relay_snapshot_apply_seconds",
                                       "Time to verify, decode, validate, prepare and swap a "
                                       "snapshot (every Apply call).",
                                       DefaultLatencyBuckets(), NodeLabel(node_id))),
      lkg_write_failures(registry.counter("omnirelay_relay_lkg_write_failures_total",
                                          "Failures to write the last-known-good files.",
                                          NodeLabel(node_id))),
      slo_dropped(registry.counter("omnirelay_relay_slo_dropped_total",
                                   "Request outcomes not reported for the rollout gates: more "
                                   "config versions in one window than the recorder keeps.",
                                   NodeLabel(node_id))),
      key_set_version(registry.gauge("omnirelay_relay_key_set_version",
                                     "Version of the key set this node trusts (0: a plain "
                                     "trusted-keys.json, no rotation).",
                                     NodeLabel(node_id))),
      key_set_refusals(registry.counter("omnirelay_relay_key_set_refusals_total",
                                        "Key sets fetched from the control plane and refused "
                                        "(skipped version, too few root signatures, ...).",
                                        NodeLabel(node_id))),
      registry_(registry),
      node_id_(node_id),
      node_label_(NodeLabel(node_id)),
      applied_(registry.counter(kApplies, kAppliesHelp, Labels("outcome", "applied"))),
      already_applied_(
          registry.counter(kApplies, kAppliesHelp, Labels("outcome", "already_applied"))),
      resigned_(registry.counter(kApplies, kAppliesHelp, Labels("outcome", "resigned"))),
      version_(registry.gauge("omnirelay_relay_config_version",
                              "Version of the snapshot this node applied (0: none).", node_label_)),
      ready_(registry.gauge("omnirelay_relay_ready",
                            "1 while this node serves a valid snapshot (0 before the first, and "
                            "while an expired one is withheld: on_expiry fail_closed).",
                            node_label_)),
      expired_(registry.gauge("omnirelay_relay_snapshot_expired",
                              "1 while the snapshot in force is past its expiresAt (plus skew) "
                              "without a renewal: the node is stale.",
                              node_label_)),
      expirations_(registry.counter("omnirelay_relay_snapshot_expirations_total",
                                    "Snapshots that expired while in force (counted once each).",
                                    node_label_)) {
  for (StatusCode reason : kRefusalReasons) {
    registry_.counter(kRefusals, kRefusalsHelp, Labels("reason", status_code_name(reason)));
  }
}

std::string RelayMetrics::Labels(std::string_view name, std::string_view value) const {
  return LabelSet(node_id_, {{name, value}});
}

void RelayMetrics::CountRefusal(StatusCode reason) {
  registry_.counter(kRefusals, kRefusalsHelp, Labels("reason", status_code_name(reason))).Inc();
}

void RelayMetrics::CountApply(ApplyKind kind) {
  switch (kind) {
    case ApplyKind::kApplied:
      applied_.Inc();
      return;
    case ApplyKind::kAlreadyApplied:
      already_applied_.Inc();
      return;
    case ApplyKind::kResigned:
      resigned_.Inc();
      return;
  }
}

void RelayMetrics::Published(std::int64_t version, bool expired, bool serving) {
  version_.Set(version);
  expired_.Set(expired ? 1 : 0);
  ready_.Set(serving ? 1 : 0);
}

void RelayMetrics::CountExpiry(bool serving) {
  expirations_.Inc();
  expired_.Set(1);
  ready_.Set(serving ? 1 : 0);
}

}  // namespace omnirelay::relay

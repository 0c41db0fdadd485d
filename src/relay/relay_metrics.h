// The figures a ConfigHost exposes through the process's MetricsRegistry:
//
//   omnirelay_relay_snapshot_refusals_total{reason="<status code name>"}
//   omnirelay_relay_snapshot_applies_total{outcome="applied|already_applied|resigned"}
//   omnirelay_relay_snapshot_apply_seconds   histogram of Apply() calls (any outcome)
//   omnirelay_relay_config_version           the applied version
//   omnirelay_relay_ready                    1 while a snapshot is served (0 before the
//                                            first, and while fail-closed withholds one)
//   omnirelay_relay_snapshot_expired         1 while the snapshot in force is past its expiry
//   omnirelay_relay_snapshot_expirations_total  snapshots that expired in force (once each)
//   omnirelay_relay_lkg_write_failures_total
//   omnirelay_relay_slo_dropped_total        outcomes SloRecorder dropped (slo_recorder.h, rule 4)
//
// Each carries node="<id>" first when the host was given a node id.
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "omnirelay/config/metrics.h"
#include "omnirelay/config/status.h"
#include "omnirelay/relay/config_host.h"

namespace omnirelay::relay {

// A rendered label set: node="<id>" first when `node_id` is not empty, then
// each name="value" in order, values escaped.
std::string LabelSet(std::string_view node_id,
                     std::initializer_list<std::pair<std::string_view, std::string_view>> labels);

class RelayMetrics {
 public:
  RelayMetrics(MetricsRegistry& registry, std::string_view node_id);

  void CountRefusal(StatusCode reason);
  void CountApply(ApplyKind kind);
  // A swap to `version`; `expired` when it is past its expiry already (a
  // keep-serving restart), `serving` unless fail-closed withholds it.
  void Published(std::int64_t version, bool expired, bool serving);
  // The snapshot in force was found expired (once per snapshot).
  void CountExpiry(bool serving);

  Histogram& apply_seconds;
  Counter& lkg_write_failures;
  Counter& slo_dropped;
  Gauge& key_set_version;     // the key set trusted (0: a plain trusted-keys.json)
  Counter& key_set_refusals;  // key sets fetched and refused

 private:
  std::string Labels(std::string_view name, std::string_view value) const;

  MetricsRegistry& registry_;
  const std::string node_id_;
  const std::string node_label_;  // `node="<id>"` or ""
  Counter& applied_;
  Counter& already_applied_;
  Counter& resigned_;
  Gauge& version_;
  Gauge& ready_;
  Gauge& expired_;
  Counter& expirations_;
};

}  // namespace omnirelay::relay

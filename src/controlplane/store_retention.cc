#include "store_retention.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "rollout_state.h"

namespace omnirelay::cp {

StoreRetention::StoreRetention(Store& store, const Clock& clock, MetricsRegistry& metrics,
                               RetentionOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      audit_pruned_(metrics.counter("omnirelay_cp_audit_pruned_total",
                                    "Audit entries removed by retention (age or count limit)")),
      snapshots_pruned_(metrics.counter("omnirelay_cp_snapshots_pruned_total",
                                        "Rendered snapshots removed by retention")),
      failures_(metrics.counter("omnirelay_cp_retention_failures_total",
                                "Retention passes ended by a store error")) {
  if (!options_.manual_for_test) thread_ = std::thread([this] { Run(); });
}

StoreRetention::~StoreRetention() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

void StoreRetention::Run() {
  for (;;) {
    {
      MutexLock lock(mu_);
      const auto next = std::chrono::steady_clock::now() + options_.interval;
      while (!stopping_ && cv_.WaitUntil(mu_, next)) {
      }
      if (stopping_) return;
    }
    Result<RetentionPass> pass = RunPass();
    if (!pass.ok()) {
      failures_.Inc();
      spdlog::warn("retention: pass ended early: {}", pass.status().ToString());
    }
  }
}

bool StoreRetention::Pause() {
  MutexLock lock(mu_);
  const auto until = std::chrono::steady_clock::now() + options_.pause;
  while (!stopping_ && options_.pause.count() > 0 && cv_.WaitUntil(mu_, until)) {
  }
  return !stopping_;
}

Result<RetentionPass> StoreRetention::RunPass() {
  const std::int64_t started = clock_.MonotonicMs();
  RetentionPass pass;
  Status status = PruneAudit(pass);
  if (status.ok()) status = PruneSnapshots(pass);
  if (pass.audit_pruned + pass.snapshots_pruned > 0) {
    // Ages in whole seconds, as the flags read them (0 = off).
    const std::string summary =
        "pruned " + std::to_string(pass.audit_pruned) + " audit entries and " +
        std::to_string(pass.snapshots_pruned) + " snapshots (limits: audit " +
        std::to_string(options_.audit_max_age_ms / 1000) + "s, " +
        std::to_string(options_.audit_max_entries) + " entries; snapshots " +
        std::to_string(options_.snapshot_max_age_ms / 1000) + "s, newest " +
        std::to_string(options_.snapshot_keep_per_chain) + " per chain kept)";
    spdlog::info("retention: {} in {} ms", summary, clock_.MonotonicMs() - started);
    AuditEntry audit;
    audit.time_ms = clock_.NowUnixMs();
    audit.principal = "retention";
    audit.action = "retention.prune";
    audit.outcome = status.ok() ? "ok" : std::string(status_code_name(status.code()));
    audit.summary = summary;
    if (Status s = store_.AppendAudit({audit}); !s.ok() && status.ok()) status = s;
  }
  if (!status.ok()) return status;
  return pass;
}

Status StoreRetention::PruneAudit(RetentionPass& pass) {
  if (options_.audit_max_age_ms <= 0 && options_.audit_max_entries <= 0) return Status::Ok();
  const std::int64_t cutoff =
      options_.audit_max_age_ms > 0 ? clock_.NowUnixMs() - options_.audit_max_age_ms : 0;
  for (;;) {
    Result<AuditPruneResult> batch =
        store_.PruneAudit(cutoff, options_.audit_max_entries, options_.audit_batch);
    if (!batch.ok()) return batch.status();
    if (batch->deleted == 0) return Status::Ok();
    pass.audit_pruned += batch->deleted;
    audit_pruned_.Inc(static_cast<std::uint64_t>(batch->deleted));
    if (!Pause()) return Status::Ok();
  }
}

Status StoreRetention::PruneSnapshots(RetentionPass& pass) {
  if (options_.snapshot_max_age_ms <= 0) return Status::Ok();
  Result<std::vector<RolloutRecord>> rollouts = store_.ListRollouts();
  if (!rollouts.ok()) return rollouts.status();
  SnapshotRetention rule;
  rule.cutoff_ms = clock_.NowUnixMs() - options_.snapshot_max_age_ms;
  rule.keep_per_chain = options_.snapshot_keep_per_chain;
  rule.keep_from_version = LowestVersionInUse(*rollouts);
  Result<std::vector<std::string>> candidates =
      store_.SnapshotsToPrune(rule, options_.snapshot_candidates_per_pass);
  if (!candidates.ok()) return candidates.status();
  for (std::size_t at = 0; at < candidates->size(); at += options_.snapshot_batch) {
    const auto first = candidates->begin() + static_cast<std::ptrdiff_t>(at);
    const auto last = candidates->begin() + static_cast<std::ptrdiff_t>(std::min(
                                                candidates->size(), at + options_.snapshot_batch));
    Result<std::int64_t> deleted = store_.DeleteSnapshots(std::vector<std::string>(first, last));
    if (!deleted.ok()) return deleted.status();
    pass.snapshots_pruned += *deleted;
    snapshots_pruned_.Inc(static_cast<std::uint64_t>(*deleted));
    if (!Pause()) return Status::Ok();
  }
  return Status::Ok();
}

std::int64_t LowestVersionInUse(const std::vector<RolloutRecord>& rollouts) {
  std::int64_t lowest = 0;
  auto consider = [&](std::int64_t version) {
    if (version > 0 && (lowest == 0 || version < lowest)) lowest = version;
  };
  for (const RolloutRecord& record : rollouts) {
    Result<RolloutState> state = RolloutStateOfRecord(record.state_json, record.members_json);
    if (!state.ok()) return 1;  // unreadable: assume it needs everything
    if (IsTerminal(state->phase)) continue;
    for (std::int64_t v : {state->new_version, state->shadow_version, state->rollback_version}) {
      consider(v);
    }
    for (const auto& [id, member] : state->nodes) consider(member.previous_version);
  }
  return lowest;
}

}  // namespace omnirelay::cp

// Retention: keeps the store bounded (issue 12 item 10). A daemon that
// audits every read appends an entry per request, and every write renders
// and signs new snapshots; without pruning both tables grow for ever.
//
// A pass, every `interval` on a thread of its own:
//  1. the audit log: entries older than `audit_max_age_ms` or beyond the
//     newest `audit_max_entries` are removed, oldest first, `audit_batch`
//     per transaction (Store::PruneAudit), until a batch removes nothing.
//     The chain keeps an anchor, so `audit verify` still passes.
//  2. rendered snapshots older than `snapshot_max_age_ms`, except each
//     chain's newest `snapshot_keep_per_chain`, every snapshot a node is
//     assigned or has applied, and — while a rollout is unfinished — every
//     version it may still assign (Store::SnapshotRetention), at most
//     `snapshot_candidates_per_pass` of them, `snapshot_batch` per
//     transaction.
// Between batches the worker pauses (`pause`), so a write waits at most for
// one small batch: on SQLite each batch is one group of the group writer,
// on Postgres one short transaction. A pass that pruned something logs one
// line, appends one audit entry (principal "retention", action
// "retention.prune") and counts in omnirelay_cp_audit_pruned_total /
// omnirelay_cp_snapshots_pruned_total; a failing store call ends the pass,
// is logged and counts in omnirelay_cp_retention_failures_total. A limit of
// 0 is off. Every replica of a cell runs it; their prunes are idempotent.
//
// Thread safety: RunPass may be called from any thread (tests call it with
// manual_for_test); the destructor stops the thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

struct RetentionOptions {
  std::chrono::milliseconds interval{60'000};
  std::int64_t audit_max_age_ms = 90LL * 24 * 3600 * 1000;     // --audit-retention 90d
  std::int64_t audit_max_entries = 1'000'000;                  // --audit-max-entries
  std::int64_t snapshot_max_age_ms = 30LL * 24 * 3600 * 1000;  // --snapshot-retention 30d
  std::int64_t snapshot_keep_per_chain = 10;                   // --snapshot-keep
  std::size_t audit_batch = 1000;
  std::size_t snapshot_batch = 100;  // rows carry their documents: smaller batches
  std::size_t snapshot_candidates_per_pass = 10'000;
  std::chrono::milliseconds pause{10};
  bool manual_for_test = false;  // no thread: the test calls RunPass()
};

struct RetentionPass {
  std::int64_t audit_pruned = 0;
  std::int64_t snapshots_pruned = 0;
};

class StoreRetention {
 public:
  StoreRetention(Store& store, const Clock& clock, MetricsRegistry& metrics,
                 RetentionOptions options);
  ~StoreRetention();
  StoreRetention(const StoreRetention&) = delete;
  StoreRetention& operator=(const StoreRetention&) = delete;

  // One pass (what the thread does every interval): what it pruned, or the
  // first store error (what was pruned before it stays pruned).
  Result<RetentionPass> RunPass() EXCLUDES(mu_);

 private:
  void Run() EXCLUDES(mu_);
  Status PruneAudit(RetentionPass& pass) EXCLUDES(mu_);
  Status PruneSnapshots(RetentionPass& pass) EXCLUDES(mu_);
  // Pauses between batches; false when the worker is stopping.
  bool Pause() EXCLUDES(mu_);

  Store& store_;
  const Clock& clock_;
  const RetentionOptions options_;
  Counter& audit_pruned_;
  Counter& snapshots_pruned_;
  Counter& failures_;
  Mutex mu_;
  CondVar cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts after the members it uses
};

// The lowest version an unfinished rollout among `rollouts` may still
// assign (its members' previous versions, its shadow, new and rollback
// versions), 0 when every rollout is finished: SnapshotRetention's
// keep_from_version. A record that does not parse keeps everything (1).
std::int64_t LowestVersionInUse(const std::vector<RolloutRecord>& rollouts);

}  // namespace omnirelay::cp

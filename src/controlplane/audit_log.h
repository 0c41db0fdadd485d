// Internal: batches audit entries of reads. Mutations write their entry in
// their own transaction (Store::WriteLayer & co.); reads are far more
// frequent, so their entries are queued and appended in one transaction every
// `flush_interval` or `max_batch` entries, keeping a read from costing an fsync.
//
// Order: batches are appended in the order their entries were recorded.
// RecordNow appends what is queued and then its entry before it returns — for
// a refused or out-of-transaction mutation, so a mutation that follows it
// comes after it in the log. A read's entry may still be appended after a
// mutation that followed it (by at most `flush_interval`); each entry keeps
// its own time.
//
// Thread safety: Record, RecordNow and Flush may be called from any thread.
#pragma once

#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "omnirelay/config/metrics.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

class AuditLog {
 public:
  AuditLog(Store& store, MetricsRegistry& metrics,
           std::chrono::milliseconds flush_interval = std::chrono::milliseconds(50),
           std::size_t max_batch = 512);
  ~AuditLog();  // flushes what is queued

  void Record(AuditEntry entry);
  void RecordNow(AuditEntry entry);
  void Flush();

 private:
  void Run();
  // Appends the queue, then `extra` when given, in one transaction.
  void Drain(std::optional<AuditEntry> extra) EXCLUDES(write_mu_, mu_);

  Store& store_;
  Counter& appended_;
  Counter& failures_;
  const std::chrono::milliseconds flush_interval_;
  const std::size_t max_batch_;
  Mutex write_mu_ ACQUIRED_BEFORE(mu_);  // serialises batches so entries keep their order
  Mutex mu_;
  CondVar cv_;
  std::vector<AuditEntry> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace omnirelay::cp

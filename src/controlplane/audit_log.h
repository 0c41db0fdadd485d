// Internal: batches audit entries of reads. Mutations write their entry in
// their own transaction (Store::WriteLayer & co.); reads are far more
// frequent, so their entries are queued and appended in one transaction every
// `flush_interval` or `max_batch` entries, keeping a read from costing an fsync.
//
// Thread safety: Record and Flush may be called from any thread.
#pragma once

#include <chrono>
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
  void Flush();

 private:
  void Run();
  void WriteBatch(std::vector<AuditEntry> batch);

  Store& store_;
  Counter& appended_;
  Counter& failures_;
  const std::chrono::milliseconds flush_interval_;
  const std::size_t max_batch_;
  Mutex mu_;
  CondVar cv_;
  std::vector<AuditEntry> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  Mutex write_mu_;  // serialises batches so entries keep their order
  std::thread thread_;
};

}  // namespace omnirelay::cp

#include "audit_log.h"

namespace omnirelay::cp {

AuditLog::AuditLog(Store& store, MetricsRegistry& metrics, std::chrono::milliseconds interval,
                   std::size_t max_batch)
    : store_(store),
      appended_(metrics.counter("omnirelay_cp_audit_entries_total", "Audit entries appended")),
      failures_(metrics.counter("omnirelay_cp_audit_write_failures_total",
                                "Batches of read audit entries that could not be written")),
      flush_interval_(interval),
      max_batch_(max_batch),
      thread_([this] { Run(); }) {}

AuditLog::~AuditLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  Flush();
}

void AuditLog::Record(AuditEntry entry) {
  bool full;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(entry));
    full = queue_.size() >= max_batch_;
  }
  if (full) cv_.notify_one();
}

void AuditLog::Flush() {
  std::vector<AuditEntry> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(queue_);
  }
  WriteBatch(std::move(batch));
}

void AuditLog::WriteBatch(std::vector<AuditEntry> batch) {
  std::lock_guard lock(write_mu_);
  if (batch.empty()) return;
  if (store_.AppendAudit(batch).ok()) {
    appended_.Inc(batch.size());
  } else {
    failures_.Inc();
  }
}

void AuditLog::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, flush_interval_, [&] { return stopping_ || queue_.size() >= max_batch_; });
    std::vector<AuditEntry> batch;
    batch.swap(queue_);
    lock.unlock();
    WriteBatch(std::move(batch));
    lock.lock();
  }
}

}  // namespace omnirelay::cp

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
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.NotifyAll();
  thread_.join();
  Flush();
}

void AuditLog::Record(AuditEntry entry) {
  bool full;
  {
    MutexLock lock(mu_);
    queue_.push_back(std::move(entry));
    full = queue_.size() >= max_batch_;
  }
  if (full) cv_.NotifyOne();
}

void AuditLog::RecordNow(AuditEntry entry) {
  Drain(std::move(entry));
}

void AuditLog::Flush() {
  Drain(std::nullopt);
}

void AuditLog::Drain(std::optional<AuditEntry> extra) {
  // The queue is taken under write_mu_: a batch taken later is written later.
  MutexLock write(write_mu_);
  std::vector<AuditEntry> batch;
  {
    MutexLock lock(mu_);
    batch.swap(queue_);
  }
  if (extra) batch.push_back(std::move(*extra));
  if (batch.empty()) return;
  if (store_.AppendAudit(batch).ok()) {
    appended_.Inc(batch.size());
  } else {
    failures_.Inc();
  }
}

void AuditLog::Run() {
  MutexLock lock(mu_);
  while (!stopping_) {
    // Flush every interval, or as soon as a batch is full.
    const auto deadline = std::chrono::steady_clock::now() + flush_interval_;
    while (!stopping_ && queue_.size() < max_batch_) {
      if (!cv_.WaitUntil(mu_, deadline)) break;
    }
    lock.Unlock();
    Drain(std::nullopt);
    lock.Lock();
  }
}

}  // namespace omnirelay::cp

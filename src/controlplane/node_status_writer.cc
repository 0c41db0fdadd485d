#include "node_status_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>
#include <limits>

namespace omnirelay::cp {
namespace {

// Records per transaction: bounds how long one batch holds the writer, so a
// layer write or a rollout's promotion queued behind a notify round's
// status waits for one chunk (a few ms), not for the whole round.
constexpr std::size_t kMaxBatch = 250;

}  // namespace

NodeStatusWriter::NodeStatusWriter(Store& store, MetricsRegistry& metrics, const Clock& clock,
                                   std::chrono::milliseconds delay, bool threaded)
    : store_(store),
      writes_(metrics.counter("omnirelay_cp_node_status_writes_total",
                              "Node status records written to the store")),
      failures_(metrics.counter("omnirelay_cp_node_status_write_failures_total",
                                "Node status records that could not be written")),
      clock_(clock),
      delay_(delay) {
  if (threaded) thread_ = std::thread([this] { Run(); });
}

NodeStatusWriter::~NodeStatusWriter() {
  Stop();
}

void NodeStatusWriter::MarkDirty(const std::shared_ptr<NodeState>& state) {
  if (state->dirty_.exchange(true, std::memory_order_acq_rel)) return;  // already queued
  const std::int64_t now = clock_.MonotonicMs();
  MutexLock lock(mu_);
  pending_.emplace_back(now, state);
}

void NodeStatusWriter::WriteDue() {
  WriteMarkedBy(clock_.MonotonicMs() - delay_.count());
}

void NodeStatusWriter::Flush() {
  WriteMarkedBy(std::numeric_limits<std::int64_t>::max());
}

void NodeStatusWriter::Stop() {
  {
    MutexLock lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
  Flush();
}

void NodeStatusWriter::Run() {
  const auto tick = std::max(delay_ / 4, std::chrono::milliseconds(1));
  MutexLock lock(mu_);
  while (!stopping_) {
    cv_.WaitUntil(mu_, std::chrono::steady_clock::now() + tick);
    lock.Unlock();
    WriteDue();
    lock.Lock();
  }
}

void NodeStatusWriter::WriteMarkedBy(std::int64_t cutoff_ms) {
  MutexLock write_lock(write_mu_);
  std::vector<std::shared_ptr<NodeState>> batch;
  {
    MutexLock lock(mu_);
    // Marking times are clock readings in marking order; a clock that went
    // backwards only delays a write.
    while (!pending_.empty() && pending_.front().first <= cutoff_ms) {
      batch.push_back(std::move(pending_.front().second));
      pending_.pop_front();
    }
  }
  if (batch.empty()) return;
  std::vector<NodeRecord> records;
  records.reserve(batch.size());
  for (const auto& state : batch) {
    // Cleared before the copy: a change made after it marks the state again.
    state->dirty_.store(false, std::memory_order_release);
    records.push_back(state->Copy());
  }
  // One transaction (one fsync) for the whole batch: after a notify round to
  // 5,000 nodes that is one commit instead of 5,000.
  for (std::size_t at = 0; at < records.size(); at += kMaxBatch) {
    const std::size_t end = std::min(records.size(), at + kMaxBatch);
    std::vector<NodeRecord> chunk(std::make_move_iterator(records.begin() + at),
                                  std::make_move_iterator(records.begin() + end));
    Status s = store_.UpsertNodes(chunk);
    if (s.ok()) {
      writes_.Inc(chunk.size());
    } else {
      failures_.Inc(chunk.size());
      spdlog::warn("status of {} node(s) (first {}) not written, retrying: {}", chunk.size(),
                   chunk.front().node_id, s.ToString());
      // Queue them again (marked from now, so the retry waits one delay):
      // their dirty flags were cleared above, and a node that does not change
      // again would otherwise keep its stale record (e.g. connected=true).
      for (std::size_t i = at; i < end; ++i) MarkDirty(batch[i]);
    }
  }
}

}  // namespace omnirelay::cp

#include "node_status_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>

namespace omnirelay::cp {
namespace {

// Records per transaction: bounds how long one batch holds the writer.
constexpr std::size_t kMaxBatch = 1000;

}  // namespace

NodeStatusWriter::NodeStatusWriter(Store& store, MetricsRegistry& metrics,
                                   std::chrono::milliseconds delay)
    : store_(store),
      writes_(metrics.counter("omnirelay_cp_node_status_writes_total",
                              "Node status records written to the store")),
      failures_(metrics.counter("omnirelay_cp_node_status_write_failures_total",
                                "Node status records that could not be written")),
      delay_(delay),
      thread_([this] { Run(); }) {}

NodeStatusWriter::~NodeStatusWriter() {
  Stop();
}

void NodeStatusWriter::MarkDirty(const std::shared_ptr<NodeState>& state) {
  if (state->dirty_.exchange(true, std::memory_order_acq_rel)) return;  // already queued
  std::lock_guard lock(mu_);
  pending_.emplace_back(Steady::now(), state);
}

void NodeStatusWriter::Flush() {
  WriteDue(Steady::time_point::max());
}

void NodeStatusWriter::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  Flush();
}

void NodeStatusWriter::Run() {
  const auto tick = std::max(delay_ / 4, std::chrono::milliseconds(1));
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, tick, [&] { return stopping_; });
    lock.unlock();
    WriteDue(Steady::now() - delay_);
    lock.lock();
  }
}

void NodeStatusWriter::WriteDue(Steady::time_point cutoff) {
  std::lock_guard write_lock(write_mu_);
  std::vector<std::shared_ptr<NodeState>> batch;
  {
    std::lock_guard lock(mu_);
    while (!pending_.empty() && pending_.front().first <= cutoff) {
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

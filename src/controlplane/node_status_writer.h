// Internal: writes node status records (NodeRecord) to the store off the
// node streams' paths, coalesced. A node's state is marked dirty as often as
// it changes; the writer persists its latest record once it has been dirty
// for `delay` of the injected clock, so the changes of one notify round
// (assigned version, then the node's ACK a few ms later) cost one store write
// per node, made after the round's fan-out rather than during it. Status read
// through the API therefore lags by up to ~`delay`.
//
// Threads: with `threaded`, a writer thread checks every delay/4 (real time)
// for records due by the clock; without, WriteDue() is the only writer (tests).
//
// Thread safety: NodeState methods, MarkDirty, WriteDue and Flush from any
// thread; Stop once (writes what is pending, then joins).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

// The status of one connected node, shared by its session and the writer.
class NodeState {
 public:
  explicit NodeState(NodeRecord record) : record_(std::move(record)) {}

  // Applies `change` to the record under the state's lock.
  void Update(const std::function<void(NodeRecord&)>& change) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    change(record_);
  }
  NodeRecord Copy() const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return record_;
  }

 private:
  friend class NodeStatusWriter;
  mutable Mutex mu_;
  NodeRecord record_ GUARDED_BY(mu_);
  std::atomic<bool> dirty_{false};  // queued in a writer
};

class NodeStatusWriter {
 public:
  NodeStatusWriter(Store& store, MetricsRegistry& metrics, const Clock& clock,
                   std::chrono::milliseconds delay, bool threaded);
  ~NodeStatusWriter();  // Stop()
  NodeStatusWriter(const NodeStatusWriter&) = delete;
  NodeStatusWriter& operator=(const NodeStatusWriter&) = delete;

  // Queues `state` to be written (once, however often it is marked before).
  void MarkDirty(const std::shared_ptr<NodeState>& state) EXCLUDES(mu_);
  // Writes the records dirty for at least the delay by the clock.
  void WriteDue() EXCLUDES(mu_, write_mu_);
  // Writes every pending record now, on the calling thread.
  void Flush() EXCLUDES(mu_, write_mu_);
  void Stop() EXCLUDES(mu_, write_mu_);

 private:
  void Run() EXCLUDES(mu_, write_mu_);
  // Writes the records marked dirty at or before `cutoff_ms`, in marking order.
  void WriteMarkedBy(std::int64_t cutoff_ms) EXCLUDES(mu_, write_mu_);

  Store& store_;
  Counter& writes_;
  Counter& failures_;
  const Clock& clock_;
  const std::chrono::milliseconds delay_;
  Mutex write_mu_;  // one batch at a time, so a node's records land in order
  Mutex mu_;
  CondVar cv_;
  // In marking order, so marking times (clock ms) never decrease.
  std::deque<std::pair<std::int64_t, std::shared_ptr<NodeState>>> pending_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace omnirelay::cp

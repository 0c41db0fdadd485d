// Internal: writes node status records (NodeRecord) to the store off the
// node streams' paths, coalesced. A node's state is marked dirty as often as
// it changes; the writer thread persists its latest record once it has been
// dirty for `delay`, so the changes of one notify round (assigned version,
// then the node's ACK a few ms later) cost one store write per node, made
// after the round's fan-out rather than during it. None of it runs on a gRPC
// thread. Status read through the API therefore lags by up to ~`delay`.
//
// Thread safety: NodeState methods and MarkDirty from any thread; Flush from
// any thread; Stop once (writes what is pending, then joins).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "omnirelay/config/metrics.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

// The status of one connected node, shared by its stream and the writer.
class NodeState {
 public:
  explicit NodeState(NodeRecord record) : record_(std::move(record)) {}

  // Applies `change` to the record under the state's lock.
  void Update(const std::function<void(NodeRecord&)>& change) {
    std::lock_guard lock(mu_);
    change(record_);
  }
  NodeRecord Copy() const {
    std::lock_guard lock(mu_);
    return record_;
  }

 private:
  friend class NodeStatusWriter;
  mutable std::mutex mu_;
  NodeRecord record_;  // GUARDED_BY(mu_)
  std::atomic<bool> dirty_{false};
};

class NodeStatusWriter {
 public:
  NodeStatusWriter(Store& store, MetricsRegistry& metrics,
                   std::chrono::milliseconds delay = std::chrono::milliseconds(250));
  ~NodeStatusWriter();  // Stop()
  NodeStatusWriter(const NodeStatusWriter&) = delete;
  NodeStatusWriter& operator=(const NodeStatusWriter&) = delete;

  // Queues `state` to be written (once, however often it is marked before).
  void MarkDirty(const std::shared_ptr<NodeState>& state);
  // Writes every pending record now, on the calling thread.
  void Flush();
  void Stop();

 private:
  using Steady = std::chrono::steady_clock;
  void Run();
  // Writes the records marked dirty at or before `cutoff`, in marking order.
  void WriteDue(Steady::time_point cutoff);

  Store& store_;
  Counter& writes_;
  Counter& failures_;
  const std::chrono::milliseconds delay_;
  std::mutex mu_;
  std::condition_variable cv_;
  // GUARDED_BY(mu_): in marking order, so marking times never decrease.
  std::deque<std::pair<Steady::time_point, std::shared_ptr<NodeState>>> pending_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::mutex write_mu_;    // one batch at a time, so a node's records land in order
  std::thread thread_;
};

}  // namespace omnirelay::cp

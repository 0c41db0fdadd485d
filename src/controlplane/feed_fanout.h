// Internal: hands a chain's new assignment to every member of its group.
// The members are split into contiguous slices, one per worker, so the
// per-connection cost (the transport's write) runs in parallel. Each slice
// asks the AssignmentSource once which snapshot each of its nodes is to run
// (AssignedMany); per member it offers that to the session (deduplicated
// there) and marks the node's status dirty.
//
// Thread safety: Deliver, DeliverAll and FanOut may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "feed_groups.h"
#include "feed_session.h"
#include "node_status_writer.h"
#include "node_workers.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/controlplane/node_feed.h"

namespace omnirelay::cp {

class FeedFanOut {
 public:
  FeedFanOut(AssignmentSource& source, NodeWorkers& workers, NodeStatusWriter& writer,
             const Clock& clock, MetricsRegistry& metrics);

  // Offers `group`'s assignment `chain_assignment` to each of `members`.
  void FanOut(std::shared_ptr<const ChainGroup> group,
              std::shared_ptr<const Assignment> chain_assignment,
              std::vector<std::shared_ptr<FeedSession>> members,
              std::chrono::steady_clock::time_point started);
  // Offers to one session what its node is assigned, given the chain's
  // assignment. True when it was handed over or queued.
  bool Deliver(const std::shared_ptr<FeedSession>& session, const ChainGroup& group,
               const std::shared_ptr<const Assignment>& chain_assignment);
  // The same for several sessions of `group`, whose nodes' assignments are
  // asked for together (AssignmentSource::AssignedMany). Returns how many
  // were handed over or queued.
  std::size_t DeliverAll(std::span<const std::shared_ptr<FeedSession>> sessions,
                         const ChainGroup& group,
                         const std::shared_ptr<const Assignment>& chain_assignment);

  // A Notify handed to a connection.
  void CountNotifySent() { notifies_.Inc(); }

 private:
  // Offers `assignment` to the session, recording it in the node's status
  // (as of `now`) before the Notify can leave.
  bool Offer(FeedSession& session, const FeedSession::Identity& who,
             const std::shared_ptr<const Assignment>& assignment, std::int64_t now);

  AssignmentSource& source_;
  const Clock& clock_;
  NodeWorkers& workers_;
  NodeStatusWriter& writer_;
  Counter& notifies_;
  Histogram& fanout_seconds_;
};

}  // namespace omnirelay::cp

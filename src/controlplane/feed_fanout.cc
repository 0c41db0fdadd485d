#include "feed_fanout.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <utility>

namespace omnirelay::cp {
namespace {

// Below this many members a fan-out runs on one thread: a slice handed to a
// worker must be worth the hand-off.
constexpr std::size_t kMinSlice = 64;

double SecondsSince(std::chrono::steady_clock::time_point started) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

}  // namespace

FeedFanOut::FeedFanOut(AssignmentSource& source, NodeWorkers& workers, NodeStatusWriter& writer,
                       const Clock& clock, MetricsRegistry& metrics)
    : source_(source),
      clock_(clock),
      workers_(workers),
      writer_(writer),
      notifies_(metrics.counter("omnirelay_cp_notifies_sent_total", "Notify messages sent")),
      fanout_seconds_(metrics.histogram(
          "omnirelay_cp_fanout_seconds",
          "From a change event to the last notify of its fan-out handed to the transport")) {}

bool FeedFanOut::Deliver(const std::shared_ptr<FeedSession>& session, const ChainGroup& group,
                         const std::shared_ptr<const Assignment>& chain_assignment) {
  return DeliverAll(std::span(&session, 1), group, chain_assignment) == 1;
}

std::size_t FeedFanOut::DeliverAll(std::span<const std::shared_ptr<FeedSession>> sessions,
                                   const ChainGroup& group,
                                   const std::shared_ptr<const Assignment>& chain_assignment) {
  // The admitted ones (a session closed before its hello was admitted has no
  // state), asked about together.
  struct Admitted {
    FeedSession* session;
    FeedSession::Identity who;
  };
  std::vector<Admitted> admitted;
  admitted.reserve(sessions.size());
  for (const auto& session : sessions) {
    FeedSession::Identity who = session->identity();
    if (who.state) admitted.push_back(Admitted{session.get(), std::move(who)});
  }
  std::vector<AssignmentSource::Ask> asks;
  asks.reserve(admitted.size());
  for (const Admitted& a : admitted) asks.push_back({&a.who.node_id, a.who.reads_rollout});
  std::vector<std::shared_ptr<const SnapshotRecord>> assigned;
  source_.AssignedMany(group.chain, group.scopes, chain_assignment->snapshot, asks, &assigned);

  // Held back on another snapshot by a rollout, or its rollout-labelled
  // rendering: shared with the group's other nodes sent the same (looked up
  // once per distinct snapshot here).
  std::vector<std::shared_ptr<const Assignment>> others;
  auto assignment_of = [&](const std::shared_ptr<const SnapshotRecord>& snapshot) {
    if (snapshot == chain_assignment->snapshot) return chain_assignment;
    for (const auto& a : others) {
      if (a->snapshot == snapshot) return a;
    }
    return others.emplace_back(group.AssignmentOf(snapshot));
  };
  const std::int64_t now = clock_.NowUnixMs();
  std::size_t handed = 0;
  for (std::size_t k = 0; k < admitted.size(); ++k) {
    if (!assigned[k]) continue;
    if (Offer(*admitted[k].session, admitted[k].who, assignment_of(assigned[k]), now)) ++handed;
  }
  return handed;
}

bool FeedFanOut::Offer(FeedSession& session, const FeedSession::Identity& who,
                       const std::shared_ptr<const Assignment>& assignment, std::int64_t now) {
  // Recorded before the Notify leaves: the node's ACK or NACK of it may be
  // handled before Offer returns. (Passed by reference: no std::function
  // allocation per node of a fan-out.)
  auto record = [&] {
    who.state->Update([&](NodeRecord& r) {
      // `updating` from here (node_state.h), and drift repair counts from the
      // last offer (a reconnected node offered its assignment again included).
      r.assigned_at_ms = now;
      r.assigned_version = assignment->version;
      r.assigned_hash = assignment->hash;
      r.assigned_expires_at_ms = assignment->expires_at_ms;
      // A chain that renders again is no longer the node's problem.
      if (r.last_error_code == "render_failed") {
        r.last_error.clear();
        r.last_error_code.clear();
        r.last_error_path.clear();
      }
    });
  };
  const auto offered = session.Offer(assignment, std::ref(record));
  if (offered == FeedSession::Offered::kRefused) return false;
  if (offered == FeedSession::Offered::kSent) notifies_.Inc();
  writer_.MarkDirty(who.state);
  return true;
}

void FeedFanOut::FanOut(std::shared_ptr<const ChainGroup> group,
                        std::shared_ptr<const Assignment> chain_assignment,
                        std::vector<std::shared_ptr<FeedSession>> members,
                        std::chrono::steady_clock::time_point started) {
  const std::size_t n = members.size();
  const std::size_t slices = workers_.SliceCount(n, kMinSlice);
  if (slices <= 1) {
    DeliverAll(members, *group, chain_assignment);
    fanout_seconds_.Observe(SecondsSince(started));
    return;
  }
  struct Shared {
    std::vector<std::shared_ptr<FeedSession>> members;
    std::atomic<std::size_t> remaining;
  };
  auto shared = std::make_shared<Shared>();
  shared->members = std::move(members);
  shared->remaining = slices;
  (void)workers_.SubmitSlices(  // false: stopping
      n, slices,
      [this, shared, group, chain_assignment, started](std::size_t begin, std::size_t end) {
        DeliverAll(std::span(shared->members).subspan(begin, end - begin), *group,
                   chain_assignment);
        if (shared->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          fanout_seconds_.Observe(SecondsSince(started));
        }
      });
}

}  // namespace omnirelay::cp

// Internal: the node feed's record of one connection (FeedSession in
// node_feed.h) — who it is once admitted, what it was last assigned, and the
// one-slot Notify mailbox (node_feed.h, contract 3 and 4).
//
// Thread safety: every method may be called from any thread; the session's
// lock is never held while calling the connection.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "node_status_writer.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/controlplane/node_feed.h"

namespace omnirelay::cp {

class ChainGroup;

class FeedSession {
 public:
  FeedSession(std::shared_ptr<FeedConnection> connection, std::string bearer_token);

  // The connection, until Close(); nullptr after.
  std::shared_ptr<FeedConnection> connection() const EXCLUDES(mu_);
  // The bearer token of the stream; empty after the first call.
  std::string TakeToken() EXCLUDES(mu_);

  // Set once by the hello that admits the session, before it joins a group.
  struct Identity {
    std::string node_id;
    std::shared_ptr<NodeState> state;
    // Weak: the group owns its members; while this session is one, the
    // registry (FeedGroups) keeps the group alive.
    std::weak_ptr<ChainGroup> group;
    // The hello advertised kFeatureRolloutInfo: the node may be sent the
    // rollout-labelled rendering of its snapshot (AssignmentSource::Assigned).
    bool reads_rollout = false;
  };
  void SetIdentity(Identity identity) EXCLUDES(mu_);
  // Empty fields until admitted.
  Identity identity() const EXCLUDES(mu_);
  std::shared_ptr<NodeState> state() const EXCLUDES(mu_);
  // The group its hello joined (null before the hello, or once that group
  // is gone); after Leave it may still name a group that lives on.
  std::shared_ptr<ChainGroup> group() const EXCLUDES(mu_);

  // What the node reported having in its hello (the base for deduplication).
  void SetReported(std::int64_t version, std::string hash) EXCLUDES(mu_);

  // Offers `assignment`: false when the node has it already or something
  // newer, or the session is closed. Otherwise it is handed to the connection
  // now, or replaces the one waiting while a Notify is being written.
  // `accepted` runs once the offer is taken and before the Notify can reach
  // the node (under the session's lock, so it must not call back into the
  // session): what it records is in place when the node's ACK or NACK of
  // that Notify arrives.
  enum class Offered { kRefused, kSent, kQueued };
  Offered Offer(const std::shared_ptr<const Assignment>& assignment,
                const std::function<void()>& accepted = {}) EXCLUDES(mu_);
  // True when (version, hash) is among the last kRemembered assignments
  // this session offered (sent or queued): the only ones an ACK or NACK may
  // name.
  bool WasAssigned(std::int64_t version, std::string_view hash) const EXCLUDES(mu_);
  static constexpr std::size_t kRemembered = 16;

  // Drift repair (node_feed.h): hands the last assignment offered to the
  // connection once more. False when there is none, it was resent already
  // or refused by the node, a Notify is being written, or the session is
  // closing.
  bool Resend() EXCLUDES(mu_);
  // The node refused (NACKed) this assignment: it is not resent.
  void MarkRefused(std::int64_t version, std::string hash) EXCLUDES(mu_);

  // The transport wrote (or dropped) the outstanding Notify: hands over the
  // waiting one, if any. True when one was handed over.
  bool Written() EXCLUDES(mu_);

  // The feed asked the transport to end the stream: from now on offers fail
  // (nothing is recorded as assigned to a stream that is going away), while
  // the connection stays reachable until the transport reports OnClosed.
  void MarkClosing() EXCLUDES(mu_);
  // After Close() the session is inert: offers fail, the connection is
  // released (which breaks the session <-> connection cycle).
  void Close() EXCLUDES(mu_);
  bool closed() const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  std::shared_ptr<FeedConnection> connection_ GUARDED_BY(mu_);
  std::string token_ GUARDED_BY(mu_);
  Identity identity_ GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
  bool closing_ GUARDED_BY(mu_) = false;
  // Dedup base: the newest handed over (or reported by the node).
  std::int64_t assigned_version_ GUARDED_BY(mu_) = 0;
  std::string assigned_hash_ GUARDED_BY(mu_);
  bool assigned_ GUARDED_BY(mu_) = false;
  bool writing_ GUARDED_BY(mu_) = false;  // a Notify is in the transport's hands
  std::shared_ptr<const Assignment> waiting_ GUARDED_BY(mu_);
  std::shared_ptr<const Assignment> last_offered_ GUARDED_BY(mu_);
  bool resent_ GUARDED_BY(mu_) = false;  // last_offered_ was resent
  std::int64_t refused_version_ GUARDED_BY(mu_) = 0;
  std::string refused_hash_ GUARDED_BY(mu_);
  // The last kRemembered assignments offered, oldest first.
  std::deque<std::pair<std::int64_t, std::string>> offered_ GUARDED_BY(mu_);
};

}  // namespace omnirelay::cp

// Internal: the node feed's connected nodes, grouped by scope chain. A group
// holds its members and the assignment of its chain; the registry maps chain
// text to group and node id to the node's status record, active session and
// its instance (a node's newer stream replaces the older one; node_feed.h,
// contract 7).
//
// Lock order: FeedGroups::mu_ before ChainGroup::mu_ before FeedSession's.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "node_status_writer.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/controlplane/node_feed.h"

namespace omnirelay::cp {

class FeedSession;

// The sessions of one scope chain and the snapshot the chain is at.
class ChainGroup {
 public:
  ChainGroup(std::vector<Scope> chain, std::string key);

  const std::vector<Scope> chain;
  const std::string key;                  // canonical chain text
  const std::vector<std::string> scopes;  // chain[i].ToString()

  // A copy of the members, for a fan-out.
  std::vector<std::shared_ptr<FeedSession>> Members() const EXCLUDES(mu_);
  std::size_t size() const EXCLUDES(mu_);

  // Begins a render of the chain unless one ran or runs: true when the caller
  // must Refresh (the first hello of a new group).
  bool StartLoading() EXCLUDES(mu_);
  // Records the newest assignment of the chain (null: none, e.g. a failed
  // render). Returns true when it replaced the current one, which is then
  // what the members are to be offered.
  bool Advance(const std::shared_ptr<const Assignment>& assignment) EXCLUDES(mu_);
  // Whether `version`/`hash` (renewed at `expires_at_ms`) is newer than the
  // current assignment.
  bool IsNewer(std::int64_t version, const std::string& hash, std::int64_t expires_at_ms) const
      EXCLUDES(mu_);
  std::shared_ptr<const Assignment> current() const EXCLUDES(mu_);
  // The assignment of `snapshot` when it is not the chain's current one (a
  // node held back by a rollout, or sent a rollout-labelled rendering): one
  // shared Assignment per snapshot among the last kKeptAssignments asked
  // for, so the nodes of a wave share one encoding instead of one each.
  std::shared_ptr<const Assignment> AssignmentOf(
      const std::shared_ptr<const SnapshotRecord>& snapshot) const EXCLUDES(mu_);
  static constexpr std::size_t kKeptAssignments = 8;

  // Why the chain has no assignment now (a failed render), or null. Setting
  // one returns true when it differs from the one before (log it once).
  bool SetProblem(std::shared_ptr<const ProblemMsg> problem) EXCLUDES(mu_);
  std::shared_ptr<const ProblemMsg> problem() const EXCLUDES(mu_);

 private:
  friend class FeedGroups;
  // Adds or removes a member (FeedGroups, under its lock).
  void Add(const std::shared_ptr<FeedSession>& session) EXCLUDES(mu_);
  bool Remove(const FeedSession* session) EXCLUDES(mu_);  // true when now empty

  mutable Mutex mu_;
  std::vector<std::shared_ptr<FeedSession>> members_ GUARDED_BY(mu_);
  std::unordered_map<const FeedSession*, std::size_t> index_ GUARDED_BY(mu_);
  std::shared_ptr<const Assignment> current_ GUARDED_BY(mu_);
  bool loaded_ GUARDED_BY(mu_) = false;   // current_ is known
  bool loading_ GUARDED_BY(mu_) = false;  // a hello renders it
  std::shared_ptr<const ProblemMsg> problem_ GUARDED_BY(mu_);
  // AssignmentOf's, newest last.
  mutable std::deque<std::shared_ptr<const Assignment>> kept_ GUARDED_BY(mu_);
};

class FeedGroups {
 public:
  // The status record of a node connected here, else null.
  std::shared_ptr<NodeState> StateOf(const std::string& node_id) const EXCLUDES(mu_);

  struct Joined {
    bool ok = false;  // false: the session was already closed, or `stale`
    // Refused: `instance_id` is one the node's connected instance superseded
    // (`other_instance` names the winner).
    bool stale = false;
    std::shared_ptr<NodeState> state;  // the node's record (another hello's, when it won a race)
    std::shared_ptr<ChainGroup> group;
    std::shared_ptr<FeedSession> replaced;  // the node's previous session
    std::string other_instance;             // the instance id of `replaced` ("" when none)
    // `replaced` is another instance (both ids set and different): it is to
    // be closed kSuperseded rather than quietly.
    bool superseded = false;
    bool first = false;  // the node was not connected before
  };
  // Makes `session` (of process `instance_id`, "" when unknown) the active
  // one of `node_id` and a member of the group of `chain`; `reads_rollout`
  // goes into its identity. Refused when the session is closed (Leave ran or
  // will run) or its instance was superseded by the node's connected one.
  Joined Join(const std::shared_ptr<FeedSession>& session, const std::string& node_id,
              const std::string& instance_id, const std::vector<Scope>& chain,
              const std::string& key, std::shared_ptr<NodeState> state, bool reads_rollout)
      EXCLUDES(mu_);
  // Removes `session` from its group and the node registry; true when it was
  // the node's active session (the node is now disconnected).
  bool Leave(const std::shared_ptr<FeedSession>& session) EXCLUDES(mu_);

  std::vector<std::shared_ptr<ChainGroup>> All() const EXCLUDES(mu_);
  // The active session of each node connected here, with its group, in the
  // order given (nodes not connected here left out); one lock for them all.
  std::vector<std::pair<std::shared_ptr<FeedSession>, std::shared_ptr<ChainGroup>>> SessionsOf(
      std::span<const std::string> node_ids) const EXCLUDES(mu_);
  std::string ChainOf(const std::string& node_id) const EXCLUDES(mu_);

 private:
  struct Node {
    std::shared_ptr<NodeState> state;
    std::weak_ptr<FeedSession> session;  // the active session of the node
    std::string instance_id;             // its instance ("" when unknown)
    // Instances the active one (or one before it, while connected) superseded,
    // newest last; at most kRememberedInstances.
    std::deque<std::string> superseded;
  };
  static constexpr std::size_t kRememberedInstances = 8;
  mutable Mutex mu_;
  std::unordered_map<std::string, Node> nodes_ GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<ChainGroup>> groups_ GUARDED_BY(mu_);
};

}  // namespace omnirelay::cp

// The node feed (DESIGN.md §4): every connected node, grouped by scope chain;
// their hellos, ACKs, NACKs and status reports; and which snapshot each of
// them is sent when a change event (or the periodic refresh) arrives.
//
// Transport-free: a transport (today the gRPC face) adapts each node stream
// to a FeedConnection and reports what the node says through the On* calls
// with plain structs. Nothing here knows gRPC or protobuf.
//
// Contract:
//   1. A hello is admitted when its bearer token authenticates, speaks for
//      the node (or carries config:read), and its scope chain is valid and
//      names no other node. Otherwise the connection is closed with the reason.
//   2. A connection opened with a token that is revoked (bus event) or that
//      expires (checked every `token_sweep_interval` of the clock) is closed.
//   3. A node is sent only what AssignmentSource answers for it; never the
//      hash it already has, never a version older than the one it was sent.
//   4. At most one Notify per connection is in the transport's hands; a
//      newer assignment replaces one not yet handed over, so a slow node gets
//      only the newest.
//   5. A change event re-renders only the chains it touches; every
//      `refresh_interval` of the clock all chains in use are re-rendered
//      (re-signing before expiry, healing a missed event). A chain that does
//      not render is a `render_failed` problem of each node on it: recorded
//      as its last error (code, message, JSON Pointer) and sent to it as a
//      Problem (once per distinct problem); a later assignment clears it.
//   6. Node status is persisted coalesced: one store write per node at most
//      every `status_delay`.
//   7. One stream per node id. A newer hello replaces the node's open stream:
//      quietly (kUnavailable) when it is the same instance reconnecting or
//      either hello lacks an instance id; when the instance ids differ (two
//      processes with one node id) the newer wins and the older is closed
//      kSuperseded, logged once (warn), counted in
//      omnirelay_cp_node_superseded_total and recorded as the node's last
//      error ("superseded: ..."). While the winner is connected, a hello of
//      an instance it superseded is closed kSuperseded at once.
//   8. Drift repair: a connected node that has neither applied nor refused
//      its assignment `renotify_after` after it was last offered (an older
//      refusal does not count) is sent the same
//      assignment once more (the exception to 3), logged and counted in
//      omnirelay_cp_node_renotifies_total; if it still does not apply it,
//      its state turns `drifted` (node_state.h) and a rollout wave holding
//      it does not promote (rollout_gates.h).
//
// Threads: the bus thread queues events for the dispatcher thread (rounds,
// timers); hellos and fan-out slices run on the feed's worker pool; On* may
// be called from any transport thread. With `manual_for_test` there are no
// threads: work runs on the caller and RunDueForTest() plays the dispatcher.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/config/slo_window.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/auth.h"
#include "omnirelay/controlplane/bus.h"
#include "omnirelay/controlplane/renderer.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

// ---- what a node says (plain copies of the wire messages)
struct HelloMsg {
  std::string node_id;
  std::vector<std::string> scope_chain;  // e.g. {"global", "region:us-east"}
  std::string api_version;
  std::vector<std::string> features;
  std::int64_t current_version = 0;  // what the node has applied; 0 when none
  std::string current_hash;
  // Random per node process, the same on its reconnects; "" from older nodes.
  std::string instance_id;
};
struct AckMsg {
  std::int64_t version = 0;
  std::string hash;
};
struct NackMsg {
  std::int64_t version = 0;
  std::string hash;
  std::string reason;  // a status code name
  std::string message;
};
// One version's window of request outcomes: {config_version, window_start_ms,
// window_ms, SloWindow window} (omnirelay/config/slo_window.h, the struct
// librelay's recorder produces; one definition for both sides).
using omnirelay::SloReport;
struct StatusMsg {
  std::int64_t discovery_generation = 0;
  std::vector<std::pair<std::string, double>> health;
  // The node's windows since its previous status, one per version that served
  // requests; each window arrives once (the node resets after sending), so
  // they add up. A report whose histogram had the wrong number of buckets
  // keeps its counts with an empty histogram (window.latency all zero).
  std::vector<SloReport> slo{};  // {}: aggregate initialisers may leave it out
  // The MeshKit feed instance discovery_generation counts in ("" unknown):
  // the rollout gates compare generations of one feed only.
  std::string discovery_feed_id{};
};

// ---- what a node is told
// Why the node is sent nothing now, though its stream stays open.
struct ProblemMsg {
  std::string code;  // e.g. "render_failed"
  std::string message;
  std::string path;  // JSON Pointer, when it has one
};
struct WelcomeMsg {
  std::vector<std::string> http_endpoints;  // REST pull fallback
  std::int64_t reconcile_interval_ms = 0;
};

// A snapshot assigned to nodes, shared (immutable) by every connection that
// sends it. The transport encodes it once, whatever the number of nodes.
class Assignment {
 public:
  Assignment(std::int64_t version, std::string hash, std::int64_t expires_at_ms,
             std::shared_ptr<const SnapshotRecord> snapshot = nullptr)
      : version(version),
        hash(std::move(hash)),
        expires_at_ms(expires_at_ms),
        snapshot(std::move(snapshot)) {}

  const std::int64_t version;
  const std::string hash;
  const std::int64_t expires_at_ms;
  const std::shared_ptr<const SnapshotRecord> snapshot;  // its envelope; null for a report

  // The transport's encoding of this assignment: `make(*this)` runs once, on
  // the first caller; every later caller gets the same object. One transport
  // type T per process.
  template <typename T, typename Make>
  const T& EncodedOnce(Make&& make) const {
    std::call_once(encode_once_, [&] { encoded_ = std::make_shared<const T>(make(*this)); });
    return *static_cast<const T*>(encoded_.get());
  }

 private:
  mutable std::once_flag encode_once_;
  mutable std::shared_ptr<const void> encoded_;  // written once, under encode_once_
};

// Which snapshot a node is assigned (the rollout engine plugs in here).
class AssignmentSource {
 public:
  virtual ~AssignmentSource() = default;
  // The newest snapshot of `chain` (rendered when needed): kNotFound while no
  // layer exists for it. Asked once per chain per dispatch round.
  virtual Result<std::shared_ptr<const SnapshotRecord>> Newest(const std::vector<Scope>& chain) = 0;
  // The snapshot `node_id` on `chain` is to run, given the chain's newest;
  // nullptr: send it nothing now. `reads_rollout`: the node's hello
  // advertised kFeatureRolloutInfo, so the answer may be the rendering that
  // names the rollout wave assigning it (metadata.rollout,
  // SnapshotRenderer::WithRollout); for any other node it never is (DESIGN.md
  // §3.3, Compatibility). The feed asks through AssignedMany, a slice of a
  // chain's nodes at a time; the pull fallback asks one node.
  virtual std::shared_ptr<const SnapshotRecord> Assigned(
      const std::string& node_id, const std::vector<Scope>& chain,
      const std::shared_ptr<const SnapshotRecord>& newest, bool reads_rollout) = 0;
  // One node of an AssignedMany call.
  struct Ask {
    const std::string* node_id = nullptr;
    bool reads_rollout = false;
  };
  // Assigned for several nodes on one chain at once (a slice of a fan-out, a
  // wave's nodes on one chain): (*out)[k] is what Assigned answers for
  // asks[k]. `chain_scopes` are `chain`'s scopes as strings. A source that
  // can decide them together (one lock, one rendering per distinct answer)
  // overrides it; this one asks node by node.
  virtual void AssignedMany(const std::vector<Scope>& chain,
                            const std::vector<std::string>& /*chain_scopes*/,
                            const std::shared_ptr<const SnapshotRecord>& newest,
                            std::span<const Ask> asks,
                            std::vector<std::shared_ptr<const SnapshotRecord>>* out) {
    out->clear();
    out->reserve(asks.size());
    for (const Ask& ask : asks) {
      out->push_back(Assigned(*ask.node_id, chain, newest, ask.reads_rollout));
    }
  }
  // True when commits from revision `since` on cannot change what any node
  // on the chain (given as its scopes' strings) is assigned, because the
  // source pins every one of them and re-offers each itself when it moves
  // it (a rollout that holds the chain with a base below `since`): a change
  // event of such commits only (a rollout's own staged layers) renders the
  // chain and skips its fan-out — unless the chain's group has nothing yet
  // or its nodes were told a render problem. The periodic refresh still
  // visits every node when it re-signs the chain. Asked per chain per round.
  virtual bool PinsChainPast(const std::vector<std::string>& /*chain_scopes*/,
                             std::int64_t /*since*/) {
    return false;
  }
};

// What nodes say, as the rollout engine's gates need it. Called on feed
// threads after the feed has accepted the report (an ACK or NACK of a
// version never assigned is not passed on); must not block.
class NodeObserver {
 public:
  virtual ~NodeObserver() = default;
  // An admitted hello: the node's canonical chain, what it runs, and whether
  // it advertised kFeatureRolloutInfo.
  virtual void OnNodeHello(const std::string& node_id, const std::string& chain,
                           std::int64_t version, const std::string& hash, bool reads_rollout) = 0;
  virtual void OnNodeAck(const std::string& node_id, std::int64_t version,
                         const std::string& hash) = 0;
  virtual void OnNodeNack(const std::string& node_id, std::int64_t version,
                          const std::string& hash) = 0;
  virtual void OnNodeStatus(const std::string& node_id, const StatusMsg& status) = 0;
  // The node's stream ended (it is offline from now).
  virtual void OnNodeGone(const std::string& node_id) = 0;
};

// Today's rule: every node runs the newest snapshot of its chain.
class NewestOnChain final : public AssignmentSource {
 public:
  explicit NewestOnChain(SnapshotRenderer& renderer) : renderer_(renderer) {}
  Result<std::shared_ptr<const SnapshotRecord>> Newest(const std::vector<Scope>& chain) override {
    return renderer_.Current(chain);
  }
  std::shared_ptr<const SnapshotRecord> Assigned(
      const std::string& /*node_id*/, const std::vector<Scope>& /*chain*/,
      const std::shared_ptr<const SnapshotRecord>& newest, bool /*reads_rollout*/) override {
    return newest;
  }
  void AssignedMany(const std::vector<Scope>& /*chain*/,
                    const std::vector<std::string>& /*chain_scopes*/,
                    const std::shared_ptr<const SnapshotRecord>& newest, std::span<const Ask> asks,
                    std::vector<std::shared_ptr<const SnapshotRecord>>* out) override {
    out->assign(asks.size(), newest);
  }

 private:
  SnapshotRenderer& renderer_;
};

// One node's stream, as the transport offers it to the feed. Calls come from
// feed threads, never under a feed lock; implementations must not block.
class FeedConnection {
 public:
  virtual ~FeedConnection() = default;
  // First message after an admitted hello.
  virtual void Welcome(const WelcomeMsg& welcome) = 0;
  // Writes a Notify; the transport calls NodeFeed::OnNotifyWritten once it
  // is written (or dropped). The feed has at most one outstanding.
  virtual void Notify(std::shared_ptr<const Assignment> assignment) = 0;
  // Tells the node why it is sent nothing now (its stream stays open).
  virtual void Problem(const ProblemMsg& problem) = 0;
  // Ends the stream: drops what is not yet written, sends an error for a
  // non-OK `why`, then finishes. Idempotent.
  virtual void Close(const Status& why) = 0;
  // Reading stops after the hello until the feed has processed it.
  virtual void ResumeReading() = 0;
};

// The feed's record of one connection; opaque to transports.
class FeedSession;

struct NodeFeedOptions {
  std::vector<std::string> http_endpoints;      // announced in Welcome
  std::int64_t reconcile_interval_ms = 30'000;  // announced in Welcome
  std::chrono::milliseconds refresh_interval{60'000};
  std::chrono::milliseconds token_sweep_interval{5'000};
  std::chrono::milliseconds status_delay{250};
  // Hellos, fan-out slices and transport work (fetch); 0 = one per core, at least 2.
  std::size_t worker_threads = 0;
  // No threads at all: tasks run on the caller, bus events wait for
  // RunDueForTest(), which also runs the timers due by the clock.
  bool manual_for_test = false;
  // Records a refused hello (e.g. ControlPlaneService::AuditRefusal); optional.
  std::function<void(std::string_view principal, std::string_view action, std::string_view scope,
                     const Status& why)>
      audit_refusal;
  // Checks a hello's scope chain against the topology (DESIGN.md §3.1); a
  // refusal (scope_mismatch) ends the stream with it. Optional.
  std::function<Status(const std::vector<Scope>& chain, const std::string& node_id)> check_chain;
  // Called on the dispatcher at most every `node_sweep_interval` (checked
  // with the token sweep): node expiry and the per-state node gauges
  // (ControlPlaneService::SweepNodes). Optional.
  std::function<void()> node_sweep;
  std::chrono::milliseconds node_sweep_interval{30'000};
  // Drift repair: a connected node still behind its assignment this long
  // after it — without having refused it — is sent it once more (checked
  // with the token sweep); it turns `drifted` at the daemon's updating grace
  // (node_state.h). 0: never.
  std::chrono::milliseconds renotify_after{0};
  // Told what nodes say (the rollout engine); optional, must outlive the feed.
  NodeObserver* observer = nullptr;
};

class NodeFeed {
 public:
  virtual ~NodeFeed() = default;

  // ---- from the transport
  // A new stream. Hold the session until OnClosed. nullptr once the feed is
  // shutting down: the transport ends the stream (kUnavailable).
  virtual std::shared_ptr<FeedSession> Connect(std::shared_ptr<FeedConnection> connection,
                                               std::string bearer_token) = 0;
  // The stream's first message; the feed resumes reading when done with it.
  virtual void OnHello(const std::shared_ptr<FeedSession>& session, HelloMsg hello) = 0;
  virtual void OnAck(FeedSession& session, const AckMsg& ack) = 0;
  virtual void OnNack(FeedSession& session, const NackMsg& nack) = 0;
  virtual void OnStatus(FeedSession& session, const StatusMsg& status) = 0;
  virtual void OnNotifyWritten(FeedSession& session) = 0;
  // The stream ended (for whatever reason); no more calls for `session`.
  virtual void OnClosed(const std::shared_ptr<FeedSession>& session) = 0;
  // Runs `task` on the feed's workers (transport work that must not run on
  // its callback threads). False once stopping.
  virtual bool RunOnWorker(std::function<void()> task) = 0;

  // Asks AssignmentSource again for these nodes (those connected here) and
  // offers what it answers now: a rollout moved their assignment. Runs on
  // the feed's workers; nodes already holding the answer are sent nothing.
  virtual void Reassign(const std::vector<std::string>& node_ids) = 0;

  // ---- queries
  virtual std::size_t connected() const = 0;
  // The scope chain of a node connected here ("" when none).
  virtual std::string ChainOf(const std::string& node_id) const = 0;

  // Shutdown, step 1: stop dispatching, refuse new streams, close every
  // connection (kUnavailable). Step 2, Stop(), after the transports are down:
  // drains the workers and writes the pending node status. Both idempotent.
  virtual void CloseAll() = 0;
  virtual void Stop() = 0;

  // ---- tests
  // Writes the coalescing node status records now.
  virtual void FlushStatusForTest() = 0;
  // manual_for_test: handles queued bus events and runs the refresh, the
  // token sweep and the status writes that are due by the clock.
  virtual void RunDueForTest() = 0;
};

// Subscribes to `bus`; every reference must outlive the feed.
std::unique_ptr<NodeFeed> MakeNodeFeed(NodeFeedOptions options, const Authenticator& auth,
                                       AssignmentSource& assignments, Store& store, Bus& bus,
                                       const Clock& clock, MetricsRegistry& metrics);

}  // namespace omnirelay::cp

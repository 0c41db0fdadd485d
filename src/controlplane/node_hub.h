// Internal: the node feed's core. Holds the connected nodes grouped by scope
// chain, processes their hellos and reports, and on each bus ChangeEvent
// renders every affected chain once and notifies exactly the streams of
// those chains whose assigned snapshot differs.
//
// Fan-out: a chain's Notify is encoded once (Assignment::wire) and its
// streams are split into contiguous slices, one per worker thread, so the
// per-stream cost (gRPC's StartWrite) runs in parallel; per stream the hub
// only compares hashes, queues the shared buffer and marks the node's status
// dirty for the coalescing NodeStatusWriter.
//
// Threads: bus handler → dispatcher thread (renders, starts fan-outs; also
// re-renders every chain in use each `refresh_interval` to re-sign and to
// heal a missed event) → NodeWorkers (hellos, fan-out slices).
//
// Lock order: mu_ before ChainGroup::mu before NodeStream's own lock.
//
// Thread safety: every public method may be called from any thread.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "grpc_node_stream.h"
#include "node_status_writer.h"
#include "node_workers.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/controlplane/bus.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/v1/node_feed.pb.h"

namespace omnirelay::cp {

struct NodeHubOptions {
  std::vector<std::string> http_endpoints;  // announced in Welcome
  std::size_t inline_envelope_bytes = 64 << 10;
  std::int64_t reconcile_interval_ms = 30'000;  // announced in Welcome
  std::chrono::milliseconds refresh_interval{60'000};
};

// The streams of one scope chain and the snapshot assigned to it.
struct ChainGroup {
  ChainGroup(std::vector<Scope> c, std::string k);

  const std::vector<Scope> chain;
  const std::string key;                  // canonical chain text
  const std::vector<std::string> scopes;  // chain[i].ToString()

  std::mutex mu;
  std::vector<std::shared_ptr<NodeStream>> members;  // GUARDED_BY(mu)
  std::shared_ptr<const Assignment> current;         // GUARDED_BY(mu)
  bool loaded = false;                               // GUARDED_BY(mu): current is known
  bool loading = false;                              // GUARDED_BY(mu): a hello renders it
};

class NodeHub {
 public:
  NodeHub(NodeHubOptions options, ControlPlaneService& service, Store& store,
          MetricsRegistry& metrics, const Clock& clock, NodeWorkers& workers,
          NodeStatusWriter& writer);
  ~NodeHub();  // Stop()
  NodeHub(const NodeHub&) = delete;
  NodeHub& operator=(const NodeHub&) = delete;

  // A new node stream (the gRPC method handler).
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Open(
      grpc::CallbackServerContext* context);
  // The bus handler: queues the event for the dispatcher and returns.
  void OnChange(const ChangeEvent& event);

  // Shutdown, step 1: refuse new work and close every stream (UNAVAILABLE).
  void CloseAll();
  // Shutdown, step 2: stops the dispatcher. Idempotent.
  void Stop();

  std::size_t connected() const { return connected_.load(std::memory_order_relaxed); }
  // The scope chain of a node connected here ("" when none).
  std::string ChainOf(const std::string& node_id);

  // ---- called by NodeStream
  void OnHello(std::shared_ptr<NodeStream> stream, controlplane::v1::Hello hello);
  void OnAck(NodeStream& stream, const controlplane::v1::Ack& ack);
  void OnNack(NodeStream& stream, const controlplane::v1::Nack& nack);
  void OnStatus(NodeStream& stream, const controlplane::v1::NodeStatus& status);
  void OnStreamDone(const std::shared_ptr<NodeStream>& stream);
  void CountNotifySent() { notifies_.Inc(); }
  void CountStreamError() { stream_errors_.Inc(); }
  void CountCancelled() { cancelled_.Inc(); }
  static grpc::ByteBuffer EncodeError(const Status& why);

 private:
  struct NodeEntry {
    std::shared_ptr<NodeState> state;
    std::weak_ptr<NodeStream> stream;  // the active stream of the node
  };
  struct PendingEvents {
    std::vector<std::string> scopes;
    bool any = false;
  };

  void HandleHello(const std::shared_ptr<NodeStream>& stream, const controlplane::v1::Hello& hello);
  // Authenticates and checks a hello; the parsed chain on success.
  Result<std::vector<Scope>> Admit(NodeStream& stream, const controlplane::v1::Hello& hello,
                                   Principal& who);
  // Ends the streams opened with a revoked token (`revoked`) or with one that
  // has expired by now.
  void CloseUnauthorized(const std::vector<std::string>& revoked);
  void Refresh(const std::shared_ptr<ChainGroup>& group);
  std::shared_ptr<const Assignment> Encode(const SnapshotRecord& snapshot) const;
  void FanOut(const std::shared_ptr<const Assignment>& assignment,
              std::vector<std::shared_ptr<NodeStream>> members,
              std::chrono::steady_clock::time_point started);
  void Deliver(NodeStream& stream, const std::shared_ptr<const Assignment>& assignment);
  void RunDispatcher();
  Counter& NackCounter(const std::string& reason);

  const NodeHubOptions options_;
  ControlPlaneService& service_;
  Store& store_;
  const Clock& clock_;
  NodeWorkers& workers_;
  NodeStatusWriter& writer_;
  grpc::ByteBuffer welcome_;

  Gauge& connected_gauge_;
  Counter& hellos_;
  Counter& notifies_;
  Counter& acks_;
  Counter& status_reports_;
  Counter& stream_errors_;
  Counter& cancelled_;
  Counter& render_failures_;
  Histogram& fanout_seconds_;
  std::map<std::string, Counter*, std::less<>> nacks_;  // immutable after construction
  Counter* nack_other_;
  std::atomic<std::size_t> connected_{0};

  std::mutex mu_;
  bool stopping_ = false;                                    // GUARDED_BY(mu_)
  std::unordered_set<std::shared_ptr<NodeStream>> streams_;  // GUARDED_BY(mu_)
  std::unordered_map<std::string, NodeEntry> nodes_;         // GUARDED_BY(mu_)
  // Token ids revoked while this hub runs: a hello admitted just before its
  // token's revocation arrived is refused when it joins (GUARDED_BY(mu_)).
  std::unordered_set<std::string> revoked_tokens_;
  std::map<std::string, std::shared_ptr<ChainGroup>> groups_;  // GUARDED_BY(mu_)

  std::mutex events_mu_;
  std::condition_variable events_cv_;
  PendingEvents events_;      // GUARDED_BY(events_mu_)
  bool events_stop_ = false;  // GUARDED_BY(events_mu_)
  std::thread dispatcher_;    // last: starts after the members it uses
};

}  // namespace omnirelay::cp

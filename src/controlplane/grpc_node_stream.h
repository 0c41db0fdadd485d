// Internal: one node's feed stream — a gRPC callback-API bidi reactor over
// raw ByteBuffers, so that a Notify is serialized once per chain and version
// and shared by every stream that sends it (NodeHub, node_hub.h).
//
// Writes: at most one in flight. Control messages (Welcome, Error) queue in
// order; a Notify waits in a one-slot mailbox where a newer one replaces an
// older one, so a slow node gets only the newest snapshot. Reads: one at a
// time; the first message must be Hello, handed to the hub, which resumes
// reading once it has processed it.
//
// Lifetime: owned by NodeHub (shared_ptr) from Open until OnDone.
//
// Thread safety: Offer, Send, Close and ContinueReading may be called from
// any thread; the reactions run on gRPC's threads and never block.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "omnirelay/config/status.h"

namespace omnirelay::cp {

class NodeHub;
class NodeState;
struct ChainGroup;

// A snapshot assigned to a chain, as every stream of that chain sends it.
struct Assignment {
  std::int64_t version = 0;
  std::string hash;
  std::int64_t expires_at_ms = 0;
  grpc::ByteBuffer wire;  // the encoded ServerMessage{notify}; empty for a node's report
};

class NodeStream final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                         public std::enable_shared_from_this<NodeStream> {
 public:
  NodeStream(NodeHub& hub, std::string bearer_token);
  ~NodeStream() override;

  // Starts reading (the hello). Called once, by the hub, after construction.
  void Start();
  // Sends `assignment` unless the node already has it or something newer.
  // Returns true when it was queued.
  bool Offer(const std::shared_ptr<const Assignment>& assignment);
  // What the node reported having in its hello.
  void SetReported(std::int64_t version, std::string hash);
  // Queues a control message (Welcome).
  void Send(const grpc::ByteBuffer& message);
  // Ends the stream: drops a pending Notify, sends an Error for a non-OK
  // `why` (after what is in flight), then finishes with `why` mapped to gRPC.
  void Close(const Status& why);
  // Resumes reading after the hub processed the hello.
  void ContinueReading();

  // The bearer token of the call; cleared by TakeToken().
  std::string TakeToken();

  // ---- owned by the hub, set while it processes the hello (under its lock)
  std::string node_id;
  std::string token_id;                  // GUARDED_BY(hub mu): the token that opened it
  std::int64_t token_expires_at_ms = 0;  // GUARDED_BY(hub mu): 0 = never
  std::shared_ptr<NodeState> state;
  std::shared_ptr<ChainGroup> group;
  std::size_t member_index = 0;  // GUARDED_BY(group->mu)
  bool done = false;             // GUARDED_BY(hub mu): OnDone happened

  // ---- reactions
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // Starts the next write or the finish if nothing is in flight; releases `lock`.
  void Pump(std::unique_lock<std::mutex> lock);

  NodeHub& hub_;
  grpc::ByteBuffer read_buf_;  // touched only by the read chain
  bool hello_seen_ = false;    // touched only by the read chain

  std::mutex mu_;
  std::string token_;                                // GUARDED_BY(mu_)
  bool writing_ = false;                             // GUARDED_BY(mu_)
  bool closing_ = false;                             // GUARDED_BY(mu_)
  bool finished_ = false;                            // GUARDED_BY(mu_)
  grpc::ByteBuffer in_flight_;                       // GUARDED_BY(mu_); stable while writing_
  std::vector<grpc::ByteBuffer> control_;            // GUARDED_BY(mu_)
  std::shared_ptr<const Assignment> queued_notify_;  // GUARDED_BY(mu_)
  std::shared_ptr<const Assignment> assigned_;       // GUARDED_BY(mu_)
  grpc::Status finish_status_;                       // GUARDED_BY(mu_)
};

}  // namespace omnirelay::cp

// Internal: one node's feed stream over gRPC — a callback-API bidi reactor
// over raw ByteBuffers that adapts the stream to the node feed
// (FeedConnection, node_feed.h): it decodes NodeMessages into the feed's
// plain structs and encodes what the feed sends. A Notify is serialized once
// per Assignment (Assignment::EncodedOnce) and shared by every stream that
// sends it.
//
// Writes: at most one in flight; control messages (Welcome, Error) first, in
// order, then the Notify the feed handed over (the feed keeps at most one
// outstanding and tells it apart from newer ones). Reads: one at a time; the
// first message must be Hello, handed to the feed, which resumes reading
// once it has processed it.
//
// Lifetime: keeps itself alive from Start() until OnDone.
//
// Thread safety: the FeedConnection methods may be called from any thread;
// the reactions run on gRPC's threads and never block.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "omnirelay/config/metrics.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/node_feed.h"

namespace omnirelay::controlplane::v1 {
class NodeStatus;
}

namespace omnirelay::cp {

// The wire NodeStatus as the feed's StatusMsg. Refuses nothing: an SloReport
// whose latency_buckets is not kLatencyBuckets long keeps requests and errors
// and gets an empty histogram.
StatusMsg ToStatus(const controlplane::v1::NodeStatus& status);

// What every node stream of one face shares.
struct NodeStreamContext {
  NodeFeed& feed;
  std::size_t inline_envelope_bytes;  // larger envelopes are fetched by hash
  Counter& stream_errors;
  Counter& cancelled;
};

class NodeStream final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                         public FeedConnection,
                         public std::enable_shared_from_this<NodeStream> {
 public:
  explicit NodeStream(const NodeStreamContext& context);
  ~NodeStream() override;

  // Opens the stream to the feed and starts reading (the hello). Once.
  void Start(std::string bearer_token);

  // ---- FeedConnection
  void Welcome(const WelcomeMsg& welcome) override;
  void Problem(const ProblemMsg& problem) override;
  void Notify(std::shared_ptr<const Assignment> assignment) override;
  void Close(const Status& why) override;
  void ResumeReading() override;

  // ---- reactions
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  void Send(grpc::ByteBuffer message) EXCLUDES(mu_);
  // Starts the next write, or the finish, if nothing is in flight; called
  // with mu_ held, returns with it released.
  void Pump() RELEASE(mu_);

  const NodeStreamContext& context_;
  // Set by Start, before the first read; read by the reactions.
  std::shared_ptr<FeedSession> session_;
  grpc::ByteBuffer read_buf_;  // touched only by the read chain
  bool hello_seen_ = false;    // touched only by the read chain

  Mutex mu_;
  std::shared_ptr<NodeStream> self_ GUARDED_BY(mu_);  // from Start until OnDone
  bool writing_ GUARDED_BY(mu_) = false;
  bool writing_notify_ GUARDED_BY(mu_) = false;
  bool closing_ GUARDED_BY(mu_) = false;
  bool finished_ GUARDED_BY(mu_) = false;
  int starting_reads_ GUARDED_BY(mu_) = 0;      // ResumeReading calls inside StartRead
  grpc::ByteBuffer in_flight_ GUARDED_BY(mu_);  // stable while writing_
  std::vector<grpc::ByteBuffer> control_ GUARDED_BY(mu_);
  grpc::ByteBuffer notify_ GUARDED_BY(mu_);
  bool has_notify_ GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ GUARDED_BY(mu_);
};

}  // namespace omnirelay::cp

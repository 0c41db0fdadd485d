// StartGrpcFace: one grpc::Server carrying the NodeFeed service (callback
// API; each stream a NodeStream adapting it to the NodeFeed), the
// ConfigService and the RolloutService (synchronous API, operators).
#include "omnirelay/controlplane/grpc_face.h"

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>

#include "grpc_config_service.h"
#include "grpc_errors.h"
#include "grpc_node_stream.h"
#include "grpc_rollout_service.h"
#include "grpc_tls.h"
#include "omnirelay/controlplane/v1/node_feed.grpc.pb.h"

namespace omnirelay::cp {

namespace v1 = controlplane::v1;

namespace {

constexpr auto kShutdownGrace = std::chrono::seconds(5);
// Requests up to this size reach the service, which refuses layers over its
// limit (4 MiB by default) itself, with too_large and a clear message; gRPC
// refuses anything larger (RESOURCE_EXHAUSTED) before buffering it whole.
constexpr int kMaxReceiveBytes = 16 << 20;

using NodeFeedBase = v1::NodeFeed::WithCallbackMethod_Fetch<
    v1::NodeFeed::WithRawCallbackMethod_Stream<v1::NodeFeed::Service>>;

// The NodeFeed service: streams go to the feed; fetches run on its workers.
class NodeFeedService final : public NodeFeedBase {
 public:
  NodeFeedService(NodeFeed& feed, ControlPlaneService& service, const Authenticator& auth,
                  std::size_t inline_envelope_bytes, MetricsRegistry& metrics)
      : feed_(feed),
        service_(service),
        auth_(auth),
        streams_{feed, inline_envelope_bytes,
                 metrics.counter("omnirelay_cp_node_stream_errors_total",
                                 "Node streams ended by an error or refused"),
                 metrics.counter("omnirelay_cp_node_streams_cancelled_total",
                                 "Node streams cancelled by the peer or the server")},
        fetches_(metrics.counter("omnirelay_cp_snapshot_fetches_total",
                                 "Snapshot envelopes fetched by hash over gRPC")),
        fetch_seconds_(metrics.histogram("omnirelay_cp_fetch_seconds",
                                         "Time to serve a snapshot fetch by hash")) {}

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Stream(
      grpc::CallbackServerContext* context) override {
    auto stream = std::make_shared<NodeStream>(streams_);
    stream->Start(BearerTokenOf(*context));  // keeps itself alive until OnDone
    return stream.get();
  }

  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* context,
                                  const v1::FetchRequest* request,
                                  v1::SignedSnapshot* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    std::string token = BearerTokenOf(*context);
    const bool queued =
        feed_.RunOnWorker([this, reactor, request, response, token = std::move(token)] {
          reactor->Finish(DoFetch(token, *request, response));
        });
    if (!queued) reactor->Finish(ToGrpcStatus(Status(StatusCode::kUnavailable, "shutting down")));
    return reactor;
  }

 private:
  grpc::Status DoFetch(const std::string& token, const v1::FetchRequest& request,
                       v1::SignedSnapshot* response) {
    const auto started = std::chrono::steady_clock::now();
    fetches_.Inc();
    auto who = auth_.Authenticate(token);
    if (!who.ok()) {
      service_.AuditRefusal("", "snapshot.fetch", "", who.status());
      return ToGrpcStatus(who.status());
    }
    // The feed knows a connected node's chain before its status is stored.
    const std::string chain =
        who->node_id().empty() ? "" : feed_.ChainOf(std::string(who->node_id()));
    auto snapshot = service_.SnapshotByHash(*who, request.hash(), chain);
    if (!snapshot.ok()) return ToGrpcStatus(snapshot.status());
    const SnapshotRecord& s = **snapshot;
    response->set_version(s.version);
    response->set_hash(s.hash);
    response->set_envelope(s.envelope);
    response->set_scope_chain(s.scope_chain);
    response->set_expires_at_ms(s.expires_at_ms);
    fetch_seconds_.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return grpc::Status::OK;
  }

  NodeFeed& feed_;
  ControlPlaneService& service_;
  const Authenticator& auth_;
  const NodeStreamContext streams_;
  Counter& fetches_;
  Histogram& fetch_seconds_;
};

class GrpcFaceImpl final : public GrpcFace {
 public:
  GrpcFaceImpl(const GrpcFaceOptions& options, ControlPlaneService& service,
               const Authenticator& auth, NodeFeed& feed, Store& store, MetricsRegistry& metrics)
      : options_(options),
        feed_(feed),
        feed_service_(feed, service, auth, options.inline_envelope_bytes, metrics),
        config_(service, auth, store),
        rollouts_(service, auth),
        peer_refusals_(metrics.counter(
            "omnirelay_cp_peer_refusals_total",
            "Calls (gRPC) or connections (REST) refused: the client certificate's SPIFFE ID "
            "matches no --tls-client-spiffe-id",
            "face=\"grpc\"")) {}

  ~GrpcFaceImpl() override { Shutdown(); }

  Status Start() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(options_.listen, GrpcServerCredentials(options_.tls, peer_refusals_),
                             &port_);
    builder.RegisterService(&feed_service_);
    builder.RegisterService(&config_);
    builder.RegisterService(&rollouts_);
    // A port in use must fail the bind, not be shared with another process.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.SetMaxReceiveMessageSize(kMaxReceiveBytes);
    // Find dead nodes without traffic; let nodes ping as often as every 10 s.
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    // Channelz keeps per-socket bookkeeping on every message: CPU and memory
    // per node stream that nothing here reads.
    builder.AddChannelArgument(GRPC_ARG_ENABLE_CHANNELZ, 0);
    // Node streams carry small messages: no bandwidth-delay probing (a ping
    // round trip on data received) is needed to size their windows.
    builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    server_ = builder.BuildAndStart();
    if (!server_ || port_ == 0) {
      server_.reset();
      return Status(StatusCode::kUnavailable, "gRPC: cannot listen on " + options_.listen +
                                                  " (address in use, not permitted, or malformed)");
    }
    const auto tls = options_.tls ? options_.tls->Current() : nullptr;
    spdlog::info("gRPC listening on {} (port {}, {})", options_.listen, port_,
                 !tls                   ? "plaintext"
                 : !tls->files.mutual() ? "TLS"
                 : tls->client_ids.enabled()
                     ? "mTLS, client SPIFFE IDs " + tls->client_ids.Describe()
                     : "mTLS");
    return Status::Ok();
  }

  int port() const override { return port_; }

  void Shutdown() override {
    std::call_once(shutdown_once_, [this] {
      if (!server_) return;  // never served: the feed is another face's, if anyone's
      feed_.CloseAll();      // ends the node streams, so the server need not wait for them
      config_.BeginShutdown();
      server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
    });
  }

 private:
  const GrpcFaceOptions options_;
  NodeFeed& feed_;
  NodeFeedService feed_service_;
  ConfigServiceImpl config_;
  RolloutServiceImpl rollouts_;
  Counter& peer_refusals_;
  int port_ = 0;
  std::once_flag shutdown_once_;
  std::unique_ptr<grpc::Server> server_;  // last: destroyed first
};

}  // namespace

Result<std::unique_ptr<GrpcFace>> StartGrpcFace(const GrpcFaceOptions& options,
                                                ControlPlaneService& service,
                                                const Authenticator& auth, NodeFeed& feed,
                                                Store& store, MetricsRegistry& metrics) {
  // Debian's absl is built without NDEBUG, which leaves absl::Mutex deadlock
  // detection on for gRPC's internal mutexes: a lock-order graph over every
  // mutex, measured at ~7% of the daemon's CPU with 5,000 node streams.
  static std::once_flag absl_once;
  std::call_once(absl_once,
                 [] { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); });
  auto face = std::make_unique<GrpcFaceImpl>(options, service, auth, feed, store, metrics);
  OMNI_RETURN_IF_ERROR(face->Start());
  return std::unique_ptr<GrpcFace>(std::move(face));
}

}  // namespace omnirelay::cp

// StartGrpcFace: one grpc::Server carrying the NodeFeed (callback API, node
// streams in NodeHub) and the ConfigService (synchronous API, operators).
#include "omnirelay/controlplane/grpc_face.h"

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

#include "grpc_config_service.h"
#include "grpc_errors.h"
#include "node_hub.h"
#include "node_status_writer.h"
#include "node_workers.h"
#include "omnirelay/controlplane/v1/node_feed.grpc.pb.h"

namespace omnirelay::cp {

namespace v1 = controlplane::v1;

namespace {

constexpr auto kShutdownGrace = std::chrono::seconds(5);
// Requests up to this size reach the service, which refuses layers over its
// limit (4 MiB by default) itself, with too_large and a clear message; gRPC
// refuses anything larger (RESOURCE_EXHAUSTED) before buffering it whole.
constexpr int kMaxReceiveBytes = 16 << 20;

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::size_t FeedThreads(std::size_t requested) {
  if (requested != 0) return requested;
  return std::max<std::size_t>(2, std::thread::hardware_concurrency());
}

using NodeFeedBase = v1::NodeFeed::WithCallbackMethod_Fetch<
    v1::NodeFeed::WithRawCallbackMethod_Stream<v1::NodeFeed::Service>>;

// The NodeFeed service: streams go to the hub; fetches run on the workers.
class NodeFeedService final : public NodeFeedBase {
 public:
  NodeFeedService(NodeHub& hub, ControlPlaneService& service, NodeWorkers& workers,
                  MetricsRegistry& metrics)
      : hub_(hub),
        service_(service),
        workers_(workers),
        fetches_(metrics.counter("omnirelay_cp_snapshot_fetches_total",
                                 "Snapshot envelopes fetched by hash over gRPC")),
        fetch_seconds_(metrics.histogram("omnirelay_cp_fetch_seconds",
                                         "Time to serve a snapshot fetch by hash")) {}

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Stream(
      grpc::CallbackServerContext* context) override {
    return hub_.Open(context);
  }

  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* context,
                                  const v1::FetchRequest* request,
                                  v1::SignedSnapshot* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    std::string token = BearerTokenOf(*context);
    const bool queued =
        workers_.Submit([this, reactor, request, response, token = std::move(token)] {
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
    auto who = service_.authenticator().Authenticate(token);
    if (!who.ok()) {
      service_.AuditRefusal("", "snapshot.fetch", "", who.status());
      return ToGrpcStatus(who.status());
    }
    // The hub knows a connected node's chain before its status is stored.
    const std::string chain =
        who->node_id().empty() ? "" : hub_.ChainOf(std::string(who->node_id()));
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

  NodeHub& hub_;
  ControlPlaneService& service_;
  NodeWorkers& workers_;
  Counter& fetches_;
  Histogram& fetch_seconds_;
};

NodeHubOptions HubOptions(const GrpcFaceOptions& options) {
  NodeHubOptions out;
  out.http_endpoints = SplitCommas(options.announce_http);
  out.inline_envelope_bytes = options.inline_envelope_bytes;
  return out;
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsMaterial& tls) {
  if (!tls.files.enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      tls.files.mutual() ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                         : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ssl.pem_root_certs = tls.client_ca_pem;
  ssl.pem_key_cert_pairs.push_back({tls.key_pem, tls.cert_pem});
  return grpc::SslServerCredentials(ssl);
}

class GrpcFaceImpl final : public GrpcFace {
 public:
  GrpcFaceImpl(const GrpcFaceOptions& options, ControlPlaneService& service, Store& store, Bus& bus,
               MetricsRegistry& metrics, const Clock& clock)
      : options_(options),
        bus_(bus),
        workers_(FeedThreads(options.feed_threads)),
        writer_(store, metrics),
        hub_(HubOptions(options), service, store, metrics, clock, workers_, writer_),
        feed_(hub_, service, workers_, metrics),
        config_(service, store) {}

  ~GrpcFaceImpl() override { Shutdown(); }

  Status Start() {
    subscription_ = bus_.Subscribe([this](const ChangeEvent& event) { hub_.OnChange(event); });
    subscribed_ = true;
    grpc::ServerBuilder builder;
    builder.AddListeningPort(options_.listen, ServerCredentials(options_.tls), &port_);
    builder.RegisterService(&feed_);
    builder.RegisterService(&config_);
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
    spdlog::info("gRPC listening on {} (port {}, {})", options_.listen, port_,
                 !options_.tls.files.enabled() ? "plaintext"
                 : options_.tls.files.mutual() ? "mTLS"
                                               : "TLS");
    return Status::Ok();
  }

  int port() const override { return port_; }
  std::size_t connected_nodes() const override { return hub_.connected(); }
  void FlushNodeStatusForTest() override { writer_.Flush(); }

  void Shutdown() override {
    std::call_once(shutdown_once_, [this] {
      if (subscribed_) bus_.Unsubscribe(subscription_);
      hub_.Stop();  // no more renders or fan-outs
      hub_.CloseAll();
      config_.BeginShutdown();
      if (server_) server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
      workers_.Stop();
      writer_.Stop();  // writes the disconnected nodes' records
    });
  }

 private:
  const GrpcFaceOptions options_;
  Bus& bus_;
  NodeWorkers workers_;
  NodeStatusWriter writer_;
  NodeHub hub_;
  NodeFeedService feed_;
  ConfigServiceImpl config_;
  int subscription_ = 0;
  bool subscribed_ = false;
  int port_ = 0;
  std::once_flag shutdown_once_;
  std::unique_ptr<grpc::Server> server_;  // last: destroyed first
};

}  // namespace

Result<std::unique_ptr<GrpcFace>> StartGrpcFace(const GrpcFaceOptions& options,
                                                ControlPlaneService& service, Store& store,
                                                Bus& bus, MetricsRegistry& metrics,
                                                const Clock& clock) {
  // Debian's absl is built without NDEBUG, which leaves absl::Mutex deadlock
  // detection on for gRPC's internal mutexes: a lock-order graph over every
  // mutex, measured at ~7% of the daemon's CPU with 5,000 node streams.
  static std::once_flag absl_once;
  std::call_once(absl_once,
                 [] { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); });
  auto face = std::make_unique<GrpcFaceImpl>(options, service, store, bus, metrics, clock);
  OMNI_RETURN_IF_ERROR(face->Start());
  return std::unique_ptr<GrpcFace>(std::move(face));
}

}  // namespace omnirelay::cp

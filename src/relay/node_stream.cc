#include "node_stream.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "omnirelay/config/files.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/controlplane/v1/errors.pb.h"
#include "omnirelay/controlplane/v1/node_feed.grpc.pb.h"
#include "omnirelay/grpc_peer/server_identity.h"

namespace omnirelay::relay::internal {
namespace {

namespace v1 = controlplane::v1;

// The channel credentials for `tls`: TLS with the given CA (and a client
// certificate for mTLS), or plaintext when no CA is configured; with server
// SPIFFE IDs, a call leaves only for a server carrying one (server_identity.h).
// The files are read now, on every connection attempt (client_tls.h).
// `reread` false: the material last read, without reading the files again.
Result<std::shared_ptr<grpc::ChannelCredentials>> Credentials(const std::shared_ptr<ClientTls>& tls,
                                                              bool reread = true) {
  if (!tls) return grpc::InsecureChannelCredentials();
  std::shared_ptr<const ClientTlsMaterial> material = reread ? nullptr : tls->Last();
  if (!material) {
    OMNI_ASSIGN_OR_RETURN(material, tls->Load());
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = material->ca_pem;
  ssl.pem_cert_chain = material->cert_pem;
  ssl.pem_private_key = material->key_pem;
  auto creds = grpc::SslCredentials(ssl);
  if (!tls->server_ids().enabled()) return creds;
  return grpc::CompositeChannelCredentials(creds, ServerIdentityCheck(tls->server_ids()));
}

std::shared_ptr<grpc::Channel> MakeChannel(const StreamOptions& options,
                                           std::shared_ptr<grpc::ChannelCredentials> creds) {
  grpc::ChannelArguments args;
  // One connection per stream attempt: a failed-over or restarted control
  // plane is dialled afresh rather than through a shared, backed-off subchannel.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Snapshots are large and rare; BDP probing only adds pings to idle streams.
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  // Notice a dead peer on an idle stream (no notify for hours is normal).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  // Reconnection pacing is the watcher's (backoff + jitter across endpoints);
  // the channel lives for one attempt. gRPC core reads its minimum connect
  // timeout from MIN_RECONNECT_BACKOFF: that is the time a connection may
  // take, so it is the watcher's connect timeout (a short one here made every
  // attempt fail on a loaded host or a distant control plane).
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(std::clamp<std::int64_t>(options.connect_timeout_ms, 100, 600'000)));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1'000);
  if (options.tls && !options.tls->options().server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls->options().server_name);
  }
  return grpc::CreateCustomChannel(options.endpoint, std::move(creds), args);
}

}  // namespace

bool ProbeEndpoint(const StreamOptions& options, std::int64_t timeout_ms) {
  // Off the worker thread: no file read (and no log line) from here.
  auto creds = Credentials(options.tls, /*reread=*/false);
  if (!creds.ok()) return false;
  std::shared_ptr<grpc::Channel> channel = MakeChannel(options, std::move(creds).value());
  return channel->WaitForConnected(std::chrono::system_clock::now() +
                                   std::chrono::milliseconds(timeout_ms));
}

struct NodeStream::Impl {
  using Stream = grpc::ClientReaderWriter<v1::NodeMessage, v1::ServerMessage>;

  StreamOptions options;
  StreamHello hello;
  std::function<void()> wake;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::NodeFeed::Stub> stub;
  grpc::ClientContext context;
  std::thread reader;

  // One Write at a time, and none once Finish starts; taken before `mu`.
  Mutex write_mu;
  mutable Mutex mu;
  // Set once by the reader thread, which then reads and finishes it; the
  // owner writes to it (under write_mu) only while `open`.
  std::unique_ptr<Stream> stream GUARDED_BY(mu);
  std::deque<StreamEvent> events GUARDED_BY(mu);
  bool ended GUARDED_BY(mu) = false;
  bool open GUARDED_BY(mu) = false;  // `stream` is set and writable

  void Push(StreamEvent event) {
    {
      MutexLock lock(mu);
      if (event.kind == StreamEvent::Kind::kEnded) {
        ended = true;
        open = false;
      }
      events.push_back(std::move(event));
    }
    wake();
  }

  void Read() {
    context.AddMetadata("authorization", "Bearer " + options.token);
    auto call = stub->Stream(&context);
    v1::NodeMessage first;
    v1::Hello* h = first.mutable_hello();
    h->set_node_id(hello.node_id);
    for (const auto& s : hello.scope_chain) h->add_scope_chain(s);
    h->set_api_version(hello.api_version);
    for (const auto& f : hello.features) h->add_features(f);
    h->set_current_version(hello.current_version);
    h->set_current_hash(hello.current_hash);
    h->set_instance_id(hello.instance_id);
    const bool said_hello = call->Write(first);
    Stream* const rw = call.get();
    {
      MutexLock lock(mu);
      stream = std::move(call);
      open = said_hello;
    }
    v1::ServerMessage m;
    while (said_hello && rw->Read(&m)) {
      StreamEvent event;
      if (m.has_welcome()) {
        event.kind = StreamEvent::Kind::kWelcome;
        for (const auto& e : m.welcome().http_endpoints()) event.http_endpoints.push_back(e);
        event.reconcile_interval_ms = m.welcome().reconcile_interval_ms();
      } else if (m.has_notify()) {
        event.kind = StreamEvent::Kind::kNotify;
        event.version = m.notify().version();
        event.hash = m.notify().hash();
        event.envelope = m.notify().envelope();
      } else if (m.has_problem()) {
        event.kind = StreamEvent::Kind::kProblem;
        event.code = m.problem().code();
        event.message = m.problem().message();
        event.path = m.problem().path();
      } else if (m.has_error()) {
        event.kind = StreamEvent::Kind::kError;
        event.code = m.error().code();
        event.message = m.error().message();
      } else {
        continue;  // a message kind from a newer control plane
      }
      Push(std::move(event));
    }
    // A hello that could not be written means the call already ended (a
    // server that refused it, a broken connection): Finish() has its status.
    // Cancelling here would hide that status behind CANCELLED.
    MutexLock write_lock(write_mu);
    {
      MutexLock lock(mu);
      open = false;
    }
    const grpc::Status status = rw->Finish();
    StreamEvent end;
    end.kind = StreamEvent::Kind::kEnded;
    end.code = std::to_string(static_cast<int>(status.error_code()));
    end.message = status.error_message();
    if (v1::ErrorDetail detail; !status.ok() && !status.error_details().empty() &&
                                detail.ParseFromString(status.error_details())) {
      end.status_name = detail.status();
    }
    Push(std::move(end));
  }

  bool Write(const v1::NodeMessage& m) {
    MutexLock write_lock(write_mu);
    Stream* rw = nullptr;
    {
      MutexLock lock(mu);
      if (!open) return false;  // not started, or Finish is (about to be) running
      rw = stream.get();
    }
    return rw->Write(m);
  }
};

NodeStream::NodeStream(const StreamOptions& options, StreamHello hello, std::function<void()> wake)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->hello = std::move(hello);
  impl_->wake = std::move(wake);
  auto creds = Credentials(options.tls);
  if (!creds.ok()) {
    // Nothing to dial with: the attempt ends at once, like a refused connection.
    impl_->reader = std::thread([impl = impl_.get(), why = creds.status().message()] {
      StreamEvent end;
      end.kind = StreamEvent::Kind::kEnded;
      end.code = std::to_string(static_cast<int>(grpc::StatusCode::UNAVAILABLE));
      end.message = why;
      impl->Push(std::move(end));
    });
    return;
  }
  impl_->channel = MakeChannel(options, std::move(creds).value());
  impl_->stub = v1::NodeFeed::NewStub(impl_->channel);
  impl_->reader = std::thread([impl = impl_.get()] { impl->Read(); });
}

NodeStream::~NodeStream() {
  impl_->context.TryCancel();
  if (impl_->reader.joinable()) impl_->reader.join();
}

std::deque<StreamEvent> NodeStream::TakeEvents() {
  MutexLock lock(impl_->mu);
  return std::exchange(impl_->events, {});
}

bool NodeStream::ended() const {
  MutexLock lock(impl_->mu);
  return impl_->ended;
}

bool NodeStream::SendAck(std::int64_t version, const std::string& hash) {
  v1::NodeMessage m;
  m.mutable_ack()->set_version(version);
  m.mutable_ack()->set_hash(hash);
  return impl_->Write(m);
}

bool NodeStream::SendNack(std::int64_t version, const std::string& hash, const std::string& reason,
                          const std::string& message) {
  v1::NodeMessage m;
  v1::Nack* n = m.mutable_nack();
  n->set_version(version);
  n->set_hash(hash);
  n->set_reason(reason);
  n->set_message(message.size() > 1024 ? message.substr(0, 1024) : message);
  return impl_->Write(m);
}

bool NodeStream::SendStatus(std::int64_t config_version, std::int64_t discovery_generation,
                            const std::string& discovery_feed_id,
                            const std::map<std::string, double>& health,
                            const std::vector<SloReport>& slo) {
  v1::NodeMessage m;
  v1::NodeStatus* s = m.mutable_status();
  s->set_config_version(config_version);
  s->set_discovery_generation(discovery_generation);
  s->set_discovery_feed_id(discovery_feed_id);
  for (const auto& [name, value] : health) (*s->mutable_health())[name] = value;
  for (const SloReport& r : slo) {
    v1::SloReport* out = s->add_slo();
    out->set_config_version(r.config_version);
    out->set_window_start_ms(r.window_start_ms);
    out->set_window_ms(r.window_ms);
    out->set_requests(r.window.requests);
    out->set_errors(r.window.errors);
    for (std::uint64_t count : r.window.latency.counts) out->add_latency_buckets(count);
  }
  return impl_->Write(m);
}

Result<std::string> NodeStream::Fetch(const std::string& hash, std::int64_t timeout_ms) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + impl_->options.token);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  v1::FetchRequest request;
  request.set_hash(hash);
  v1::SignedSnapshot reply;
  const grpc::Status status = impl_->stub->Fetch(&context, request, &reply);
  if (!status.ok()) {
    return Status(StatusCode::kUnavailable, "fetch " + hash + ": " + status.error_message());
  }
  return std::move(*reply.mutable_envelope());
}

void NodeStream::Cancel() {
  impl_->context.TryCancel();
}

}  // namespace omnirelay::relay::internal

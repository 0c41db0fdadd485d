// GrpcFeedClient (feed.h): one Discovery.Watch stream at a time on a thread
// of its own. The stream's messages go through the EndpointTable; a gap or a
// malformed delta ends the stream and the next one asks for a snapshot
// (resume_generation 0); any other end reconnects after a backoff and asks to
// resume from the feed instance and generation held.
#include <grpcpp/grpcpp.h>

#include <random>

#include "meshkit/v1/discovery.grpc.pb.h"
#include "omnirelay/config/files.h"
#include "omnirelay/meshkit/feed.h"

namespace omnirelay::meshkit {
namespace {

namespace v1 = ::meshkit::v1;

Health FromProto(v1::Health h) {
  switch (h) {
    case v1::HEALTH_HEALTHY:
      return Health::kHealthy;
    case v1::HEALTH_UNHEALTHY:
      return Health::kUnhealthy;
    case v1::HEALTH_DRAINING:
      return Health::kDraining;
    default:
      return Health::kUnknown;
  }
}

Endpoint FromProto(const v1::Endpoint& p) {
  Endpoint e;
  e.member_id = p.member_id();
  e.address = p.address();
  // Out of range becomes 0, which CheckEndpoint refuses.
  e.port = p.port() <= 65535 ? static_cast<std::uint16_t>(p.port()) : 0;
  e.service = p.service();
  e.cluster = p.cluster();
  e.cell = p.cell();
  e.region = p.region();
  e.zone = p.zone();
  e.health = FromProto(p.health());
  e.weight = p.weight() == 0 ? 1 : p.weight();
  return e;
}

BridgeStatus FromProto(const v1::BridgeStatus& p) {
  BridgeStatus b;
  b.name = p.name();
  b.cells.assign(p.cells().begin(), p.cells().end());
  switch (p.state()) {
    case v1::BRIDGE_UP:
      b.state = BridgeState::kUp;
      break;
    case v1::BRIDGE_DOWN:
      b.state = BridgeState::kDown;
      break;
    case v1::BRIDGE_FLAPPING:
      b.state = BridgeState::kFlapping;
      break;
    default:
      b.state = BridgeState::kUnknown;
  }
  b.detail = p.detail();
  return b;
}

}  // namespace

struct GrpcFeedClient::Impl {
  explicit Impl(GrpcFeedClient& owner, GrpcFeedOptions o)
      : self(owner), options(std::move(o)), table(options.limits), jitter(std::random_device{}()) {}

  GrpcFeedClient& self;
  const GrpcFeedOptions options;
  EndpointTable table;  // the thread's only
  std::mt19937_64 jitter;
  bool bootstrap_next = true;  // the thread's only: ask for a snapshot

  Mutex mu;
  CondVar cv;
  bool stop GUARDED_BY(mu) = false;
  grpc::ClientContext* active GUARDED_BY(mu) = nullptr;  // the open stream's, to cancel
  std::thread thread;

  Result<std::shared_ptr<grpc::ChannelCredentials>> Credentials() {
    if (options.ca_file.empty()) return grpc::InsecureChannelCredentials();
    auto pem = ReadFileLimited(options.ca_file, 1 << 20);
    if (!pem.ok()) {
      return Status(StatusCode::kIoError,
                    "MeshKit CA file " + options.ca_file + ": " + pem.status().message());
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = std::move(*pem);
    return grpc::SslCredentials(ssl);
  }

  void Run() {
    std::chrono::milliseconds backoff = options.initial_backoff;
    bool first = true;
    while (!Stopping()) {
      if (!first) self.UpdateStats([](FeedStats& s) { ++s.reconnects; });
      first = false;
      // The backoff starts over only after a stream that applied something: a
      // server that keeps sending what this client refuses (or cannot hold)
      // is retried less and less often, not every 250 ms.
      const bool applied = WatchOnce();
      if (applied) backoff = options.initial_backoff;
      // Jitter: a wait drawn from [backoff/2, backoff].
      std::uniform_int_distribution<std::int64_t> spread(backoff.count() / 2, backoff.count());
      const auto wait = std::chrono::milliseconds(spread(jitter));
      {
        MutexLock lock(mu);
        if (!stop) cv.WaitUntil(mu, std::chrono::steady_clock::now() + wait);
      }
      backoff = std::min(backoff * 2, options.max_backoff);
    }
  }

  bool Stopping() {
    MutexLock lock(mu);
    return stop;
  }

  // One stream; true when a message of it was applied.
  bool WatchOnce() {
    auto creds = Credentials();
    if (!creds.ok()) {
      Failed(creds.status());
      return false;
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
    auto channel = grpc::CreateCustomChannel(options.target, *creds, args);
    auto stub = v1::Discovery::NewStub(channel);

    v1::WatchRequest request;
    auto* selector = request.mutable_selector();
    for (const auto& s : options.selector.services) selector->add_services(s);
    for (const auto& s : options.selector.clusters) selector->add_clusters(s);
    for (const auto& s : options.selector.cells) selector->add_cells(s);
    for (const auto& s : options.selector.regions) selector->add_regions(s);
    request.set_client_id(options.client_id);
    if (!bootstrap_next && table.current()) {
      request.set_feed_id(table.feed_id());
      request.set_resume_generation(table.generation());
    }

    grpc::ClientContext context;
    {
      MutexLock lock(mu);
      if (stop) return false;
      active = &context;
    }
    auto reader = stub->Watch(&context, request);
    bool received = false;
    bool applied = false;
    v1::WatchResponse message;
    while (reader->Read(&message)) {
      if (!received) self.UpdateStats([](FeedStats& s) { s.connected = true; });
      received = true;
      const Outcome outcome = Handle(message);
      applied = applied || outcome == Outcome::kApplied;
      if (outcome == Outcome::kStartOver) {
        context.TryCancel();  // watch again from a snapshot
        break;
      }
    }
    const grpc::Status end = reader->Finish();
    {
      MutexLock lock(mu);
      active = nullptr;
    }
    self.UpdateStats([](FeedStats& s) { s.connected = false; });
    if (end.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      // A message over max_message_bytes: refused like a malformed one (the
      // next stream asks for a snapshot; the backoff keeps growing).
      Refused(Status(StatusCode::kTooLarge, "a message over " +
                                                std::to_string(options.max_message_bytes) +
                                                " bytes: " + end.error_message()));
    } else if (!end.ok() && end.error_code() != grpc::StatusCode::CANCELLED) {
      Failed(Status(StatusCode::kUnavailable, "MeshKit feed " + options.target + ": " +
                                                  end.error_message() + " (gRPC code " +
                                                  std::to_string(end.error_code()) + ")"));
    }
    return applied;
  }

  enum class Outcome { kApplied, kSkipped, kStartOver };

  // Applies one message; kStartOver when the stream must start over from a
  // snapshot (a gap, a refusal).
  Outcome Handle(const v1::WatchResponse& message) {
    if (message.has_snapshot()) {
      const auto& s = message.snapshot();
      const bool reset = table.current() &&
                         (s.feed_id() != table.feed_id() || s.generation() < table.generation());
      std::vector<Endpoint> endpoints;
      endpoints.reserve(static_cast<std::size_t>(s.endpoints_size()));
      for (const auto& e : s.endpoints()) endpoints.push_back(FromProto(e));
      std::vector<BridgeStatus> bridges;
      for (const auto& b : s.bridges()) bridges.push_back(FromProto(b));
      const Status applied = table.ApplySnapshot(s.feed_id(), s.generation(), std::move(endpoints),
                                                 std::move(bridges));
      if (!applied.ok()) {
        Refused(applied);
        return Outcome::kStartOver;
      }
      bootstrap_next = false;
      self.UpdateStats([&](FeedStats& st) {
        ++st.snapshots;
        if (reset) ++st.resets;
      });
      self.Publish(table.current());
      return Outcome::kApplied;
    }
    if (message.has_delta()) {
      const auto& d = message.delta();
      EndpointsDelta delta;
      delta.base_generation = d.base_generation();
      delta.generation = d.generation();
      delta.removed.assign(d.removed().begin(), d.removed().end());
      for (const auto& e : d.upserted()) delta.upserted.push_back(FromProto(e));
      for (const auto& h : d.health())
        delta.health.emplace_back(h.member_id(), FromProto(h.health()));
      delta.removed_bridges.assign(d.removed_bridges().begin(), d.removed_bridges().end());
      for (const auto& b : d.bridges()) delta.bridges.push_back(FromProto(b));
      const Status applied = table.ApplyDelta(delta);
      if (applied.code() == StatusCode::kConflict) {
        self.UpdateStats([&](FeedStats& st) {
          ++st.gaps;
          st.last_error = applied;
        });
        bootstrap_next = true;
        return Outcome::kStartOver;
      }
      if (!applied.ok()) {
        Refused(applied);
        return Outcome::kStartOver;
      }
      self.UpdateStats([](FeedStats& st) { ++st.deltas; });
      self.Publish(table.current());
      return Outcome::kApplied;
    }
    return Outcome::kSkipped;  // a kind this client does not know
  }

  void Refused(const Status& why) {
    bootstrap_next = true;
    self.UpdateStats([&](FeedStats& s) {
      ++s.refused;
      s.last_error = Status(why.code(), "MeshKit feed " + options.target + ": " + why.message());
    });
  }

  void Failed(const Status& why) {
    self.UpdateStats([&](FeedStats& s) { s.last_error = why; });
  }
};

GrpcFeedClient::GrpcFeedClient(GrpcFeedOptions options)
    : EndpointSource(options.on_change), impl_(std::make_unique<Impl>(*this, std::move(options))) {}

Result<std::unique_ptr<GrpcFeedClient>> GrpcFeedClient::Start(GrpcFeedOptions options) {
  if (options.target.empty()) {
    return Status(StatusCode::kInvalidArgument, "a MeshKit feed needs a target host:port");
  }
  if (options.initial_backoff.count() <= 0 || options.max_backoff < options.initial_backoff) {
    return Status(StatusCode::kInvalidArgument,
                  "MeshKit feed backoff: initial must be > 0 and <= max");
  }
  std::unique_ptr<GrpcFeedClient> client(new GrpcFeedClient(std::move(options)));
  Impl* impl = client->impl_.get();
  // A CA file that cannot be read now is a mistake of the caller's, said at
  // once; each stream reads it again (a renewed CA is used on the next one).
  if (auto creds = impl->Credentials(); !creds.ok()) return creds.status();
  impl->thread = std::thread([impl] { impl->Run(); });
  return client;
}

GrpcFeedClient::~GrpcFeedClient() {
  Stop();
}

void GrpcFeedClient::Stop() {
  {
    MutexLock lock(impl_->mu);
    impl_->stop = true;
    if (impl_->active != nullptr) impl_->active->TryCancel();
  }
  impl_->cv.NotifyAll();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace omnirelay::meshkit

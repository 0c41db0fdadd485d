#include "node_hub.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "grpc_errors.h"
#include "omnirelay/controlplane/auth.h"

namespace omnirelay::cp {

namespace v1 = controlplane::v1;

namespace {

// Below this many streams a fan-out runs on one thread: a slice handed to a
// worker must be worth the hand-off.
constexpr std::size_t kMinSlice = 64;
constexpr std::size_t kMaxErrorText = 512;

template <typename Message>
grpc::ByteBuffer Serialize(const Message& message) {
  grpc::ByteBuffer buffer;
  bool own = false;
  (void)grpc::SerializationTraits<Message>::Serialize(message, &buffer, &own);
  return buffer;
}

std::vector<std::string> ScopeNames(const std::vector<Scope>& chain) {
  std::vector<std::string> out;
  out.reserve(chain.size());
  for (const auto& s : chain) out.push_back(s.ToString());
  return out;
}

std::string Join(const google::protobuf::RepeatedPtrField<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += ',';
    out += p;
  }
  return out;
}

std::string Truncated(std::string text) {
  if (text.size() > kMaxErrorText) text.resize(kMaxErrorText);
  return text;
}

// Every status code name; NACK reasons outside this set count as "other".
std::vector<std::string> KnownNackReasons() {
  std::vector<std::string> out;
  for (int c = static_cast<int>(StatusCode::kInvalidArgument);
       c <= static_cast<int>(kLastStatusCode); ++c) {
    out.emplace_back(status_code_name(static_cast<StatusCode>(c)));
  }
  return out;
}

}  // namespace

ChainGroup::ChainGroup(std::vector<Scope> c, std::string k)
    : chain(std::move(c)), key(std::move(k)), scopes(ScopeNames(chain)) {}

NodeHub::NodeHub(NodeHubOptions options, ControlPlaneService& service, Store& store,
                 MetricsRegistry& metrics, const Clock& clock, NodeWorkers& workers,
                 NodeStatusWriter& writer)
    : options_(std::move(options)),
      service_(service),
      store_(store),
      clock_(clock),
      workers_(workers),
      writer_(writer),
      connected_gauge_(
          metrics.gauge("omnirelay_cp_connected_nodes", "Nodes with an open feed stream")),
      hellos_(metrics.counter("omnirelay_cp_node_hellos_total", "Node hellos accepted")),
      notifies_(metrics.counter("omnirelay_cp_notifies_sent_total", "Notify messages sent")),
      acks_(metrics.counter("omnirelay_cp_node_acks_total", "Snapshot ACKs received")),
      status_reports_(metrics.counter("omnirelay_cp_node_status_reports_total",
                                      "Node status reports received")),
      stream_errors_(metrics.counter("omnirelay_cp_node_stream_errors_total",
                                     "Node streams ended by an error or refused")),
      cancelled_(metrics.counter("omnirelay_cp_node_streams_cancelled_total",
                                 "Node streams cancelled by the peer or the server")),
      render_failures_(metrics.counter("omnirelay_cp_node_render_failures_total",
                                       "Chain snapshots the node feed could not render")),
      fanout_seconds_(metrics.histogram(
          "omnirelay_cp_fanout_seconds",
          "From a change event to the last notify of its fan-out handed to gRPC")),
      dispatcher_([this] { RunDispatcher(); }) {
  for (const std::string& reason : KnownNackReasons()) {
    nacks_.emplace(reason, &metrics.counter("omnirelay_cp_node_nacks_total",
                                            "Snapshot NACKs received, by reason",
                                            "reason=\"" + reason + "\""));
  }
  nack_other_ = &metrics.counter("omnirelay_cp_node_nacks_total",
                                 "Snapshot NACKs received, by reason", "reason=\"other\"");
  v1::ServerMessage welcome;
  for (const auto& endpoint : options_.http_endpoints) {
    welcome.mutable_welcome()->add_http_endpoints(endpoint);
  }
  welcome.mutable_welcome()->set_reconcile_interval_ms(options_.reconcile_interval_ms);
  welcome_ = Serialize(welcome);
}

NodeHub::~NodeHub() {
  Stop();
}

grpc::ByteBuffer NodeHub::EncodeError(const Status& why) {
  v1::ServerMessage message;
  message.mutable_error()->set_code(std::string(why.code_name()));
  message.mutable_error()->set_message(why.message());
  return Serialize(message);
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* NodeHub::Open(
    grpc::CallbackServerContext* context) {
  auto stream = std::make_shared<NodeStream>(*this, BearerTokenOf(*context));
  bool stopping;
  {
    std::lock_guard lock(mu_);
    stopping = stopping_;
    streams_.insert(stream);
  }
  if (stopping) {
    stream->Close(Status(StatusCode::kUnavailable, "shutting down"));
  } else {
    stream->Start();
  }
  return stream.get();
}

void NodeHub::OnHello(std::shared_ptr<NodeStream> stream, v1::Hello hello) {
  // Token lookup, store reads and rendering do not belong on a gRPC thread.
  const bool queued =
      workers_.Submit([this, stream, hello = std::move(hello)] { HandleHello(stream, hello); });
  if (!queued) stream->Close(Status(StatusCode::kUnavailable, "shutting down"));
}

Result<std::vector<Scope>> NodeHub::Admit(NodeStream& stream, const v1::Hello& hello,
                                          Principal& principal) {
  const std::string& id = hello.node_id();
  auto who = service_.authenticator().Authenticate(stream.TakeToken());
  if (!who.ok()) {
    service_.AuditRefusal("", "node.hello", "node:" + id, who.status());
    return who.status();
  }
  principal = *who;
  if (who->node_id() != id && !who->Has(kScopeConfigRead)) {
    Status denied(StatusCode::kPermissionDenied,
                  "token \"" + who->token_id + "\" may not speak for node \"" + id + "\"");
    service_.AuditRefusal(who->name, "node.hello", "node:" + id, denied);
    return denied;
  }
  if (!IsValidNodeId(id)) {
    return Status(StatusCode::kInvalidArgument, "invalid node id \"" + id + "\"");
  }
  auto chain = ParseScopeChain(Join(hello.scope_chain()));
  if (!chain.ok()) return chain.status();
  if (chain->empty()) return Status(StatusCode::kInvalidArgument, "the scope chain is empty");
  for (const Scope& scope : *chain) {
    if (scope.level == ScopeLevel::kNode && scope.name != id) {
      return Status(StatusCode::kInvalidArgument,
                    "node \"" + id + "\" may not use the scope " + scope.ToString());
    }
  }
  return chain;
}

void NodeHub::HandleHello(const std::shared_ptr<NodeStream>& stream, const v1::Hello& hello) {
  bool stopping;
  {
    std::lock_guard lock(mu_);
    stopping = stopping_;
  }
  if (stopping) {
    stream->Close(Status(StatusCode::kUnavailable, "shutting down"));
    return;
  }
  Principal who;
  auto chain = Admit(*stream, hello, who);
  if (!chain.ok()) {
    stream_errors_.Inc();
    stream->Close(chain.status());
    return;
  }
  const std::string& id = hello.node_id();
  const std::string key = ScopeChainToString(*chain);

  // The node's status record: the one held for a stream of this node still
  // open here, else the stored one, so fields the hello does not carry
  // (discovery generation, health) survive a reconnect.
  std::shared_ptr<NodeState> state;
  {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(id);
    if (it != nodes_.end()) state = it->second.state;
  }
  if (!state) {
    NodeRecord record;
    auto stored = store_.GetNode(id);
    if (stored.ok()) record = std::move(stored).value();
    record.node_id = id;
    state = std::make_shared<NodeState>(std::move(record));
  }

  // Welcome goes out before any Notify: the stream joins its group below.
  // (Stream calls stay outside mu_: gRPC may run reactions inline.)
  stream->SetReported(hello.current_version(), hello.current_hash());
  stream->Send(welcome_);

  std::shared_ptr<NodeStream> replaced;
  std::shared_ptr<ChainGroup> group;
  std::shared_ptr<const Assignment> current;
  bool must_load = false;
  bool refused = false;
  bool revoked = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || stream->done) {
      refused = true;
    } else if (revoked_tokens_.count(who.token_id) != 0) {
      revoked = true;  // revoked between Admit and now: CloseUnauthorized missed it
    } else {
      NodeEntry& entry = nodes_[id];
      if (entry.state) state = entry.state;  // another hello of this node won the race
      entry.state = state;
      replaced = entry.stream.lock();
      entry.stream = stream;
      if (!replaced) {
        connected_.fetch_add(1, std::memory_order_relaxed);
        connected_gauge_.Add(1);
      }
      stream->node_id = id;
      stream->token_id = who.token_id;
      stream->token_expires_at_ms = who.expires_at_ms;
      stream->state = state;
      state->Update([&](NodeRecord& r) {
        r.scope_chain = key;
        r.api_version = hello.api_version();
        r.features.assign(hello.features().begin(), hello.features().end());
        r.applied_version = hello.current_version();
        r.applied_hash = hello.current_hash();
        r.connected = true;
        r.last_seen_ms = clock_.NowUnixMs();
        if (r.health_json.empty()) r.health_json = "{}";
      });

      auto& slot = groups_[key];
      if (!slot) slot = std::make_shared<ChainGroup>(*chain, key);
      group = slot;
      std::lock_guard group_lock(group->mu);
      stream->group = group;
      stream->member_index = group->members.size();
      group->members.push_back(stream);
      if (group->loaded) {
        current = group->current;
      } else if (!group->loading) {
        group->loading = true;
        must_load = true;
      }
    }
  }
  if (revoked) {
    stream->Close(Status(StatusCode::kUnauthenticated, "token " + who.token_id + " was revoked"));
    return;
  }
  if (refused) {
    stream->Close(Status(StatusCode::kUnavailable, "shutting down"));
    return;
  }
  writer_.MarkDirty(state);
  hellos_.Inc();
  if (replaced && replaced != stream) {
    replaced->Close(
        Status(StatusCode::kUnavailable, "replaced by a newer stream of node \"" + id + "\""));
  }
  stream->ContinueReading();
  if (current) Deliver(*stream, current);
  if (must_load) Refresh(group);
}

std::shared_ptr<const Assignment> NodeHub::Encode(const SnapshotRecord& snapshot) const {
  auto assignment = std::make_shared<Assignment>();
  assignment->version = snapshot.version;
  assignment->hash = snapshot.hash;
  assignment->expires_at_ms = snapshot.expires_at_ms;
  v1::ServerMessage message;
  v1::Notify* notify = message.mutable_notify();
  notify->set_version(snapshot.version);
  notify->set_hash(snapshot.hash);
  if (snapshot.envelope.size() <= options_.inline_envelope_bytes) {
    notify->set_envelope(snapshot.envelope);
  }
  assignment->wire = Serialize(message);
  return assignment;
}

void NodeHub::Refresh(const std::shared_ptr<ChainGroup>& group) {
  const auto started = std::chrono::steady_clock::now();
  auto snapshot = service_.renderer().Current(group->chain);
  if (!snapshot.ok() && snapshot.status().code() != StatusCode::kNotFound) {
    render_failures_.Inc();
    spdlog::warn("node feed: cannot render {}: {}", group->key, snapshot.status().ToString());
  }
  std::shared_ptr<const Assignment> assignment;
  std::vector<std::shared_ptr<NodeStream>> members;
  {
    std::unique_lock lock(group->mu);
    group->loading = false;
    group->loaded = true;  // a failed render is retried by the next event or refresh
    if (!snapshot.ok()) return;
    const SnapshotRecord& s = **snapshot;
    const auto& cur = group->current;
    const bool newer =
        !cur || s.version > cur->version ||
        (s.version == cur->version && s.hash != cur->hash && s.expires_at_ms > cur->expires_at_ms);
    if (!newer) return;
    lock.unlock();
    assignment = Encode(s);  // outside the lock: serialization copies the envelope
    lock.lock();
    if (group->current && group->current->version > assignment->version) return;
    group->current = assignment;
    members = group->members;
  }
  FanOut(assignment, std::move(members), started);
}

void NodeHub::FanOut(const std::shared_ptr<const Assignment>& assignment,
                     std::vector<std::shared_ptr<NodeStream>> members,
                     std::chrono::steady_clock::time_point started) {
  const std::size_t n = members.size();
  const std::size_t slices = std::min(workers_.size(), (n + kMinSlice - 1) / kMinSlice);
  if (slices <= 1) {
    for (const auto& stream : members) Deliver(*stream, assignment);
    fanout_seconds_.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return;
  }
  struct Shared {
    std::vector<std::shared_ptr<NodeStream>> members;
    std::atomic<std::size_t> remaining;
  };
  auto shared = std::make_shared<Shared>();
  shared->members = std::move(members);
  shared->remaining = slices;
  for (std::size_t i = 0; i < slices; ++i) {
    const std::size_t begin = n * i / slices;
    const std::size_t end = n * (i + 1) / slices;
    (void)workers_.Submit([this, shared, assignment, begin, end, started] {
      for (std::size_t k = begin; k < end; ++k) Deliver(*shared->members[k], assignment);
      if (shared->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        fanout_seconds_.Observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      }
    });
  }
}

void NodeHub::Deliver(NodeStream& stream, const std::shared_ptr<const Assignment>& assignment) {
  if (!stream.Offer(assignment)) return;
  stream.state->Update([&](NodeRecord& r) {
    r.assigned_version = assignment->version;
    r.assigned_hash = assignment->hash;
  });
  writer_.MarkDirty(stream.state);
}

// The report counters move after the record did: a reader who sees the
// count has its effect in the next status write (tests rely on it).
void NodeHub::OnAck(NodeStream& stream, const v1::Ack& ack) {
  const std::int64_t now = clock_.NowUnixMs();
  stream.state->Update([&](NodeRecord& r) {
    r.applied_version = ack.version();
    r.applied_hash = ack.hash();
    r.last_error.clear();
    r.last_seen_ms = now;
  });
  writer_.MarkDirty(stream.state);
  acks_.Inc();
}

Counter& NodeHub::NackCounter(const std::string& reason) {
  auto it = nacks_.find(reason);
  return it != nacks_.end() ? *it->second : *nack_other_;
}

void NodeHub::OnNack(NodeStream& stream, const v1::Nack& nack) {
  const std::int64_t now = clock_.NowUnixMs();
  std::string error = nack.reason().empty() ? "unknown" : nack.reason();
  if (!nack.message().empty()) error += ": " + nack.message();
  error = Truncated(std::move(error));
  stream.state->Update([&](NodeRecord& r) {
    r.last_error = std::move(error);
    r.last_seen_ms = now;
  });
  writer_.MarkDirty(stream.state);
  NackCounter(nack.reason()).Inc();
}

void NodeHub::OnStatus(NodeStream& stream, const v1::NodeStatus& status) {
  nlohmann::json health = nlohmann::json::object();
  for (const auto& [name, value] : status.health()) health[name] = value;
  std::string health_json = health.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::int64_t now = clock_.NowUnixMs();
  stream.state->Update([&](NodeRecord& r) {
    r.discovery_generation = status.discovery_generation();
    r.health_json = std::move(health_json);
    r.last_seen_ms = now;
  });
  writer_.MarkDirty(stream.state);
  status_reports_.Inc();
}

void NodeHub::OnStreamDone(const std::shared_ptr<NodeStream>& stream) {
  bool disconnected = false;
  {
    std::lock_guard lock(mu_);
    stream->done = true;
    if (const auto& group = stream->group) {
      std::lock_guard group_lock(group->mu);
      auto& members = group->members;
      const std::size_t i = stream->member_index;
      if (i < members.size() && members[i] == stream) {
        if (i + 1 != members.size()) {  // swap-remove: move the last member into the hole
          members[i] = std::move(members.back());
          members[i]->member_index = i;
        }
        members.pop_back();
      }
      if (members.empty()) {
        auto it = groups_.find(group->key);
        if (it != groups_.end() && it->second == group) groups_.erase(it);
      }
    }
    if (!stream->node_id.empty()) {
      auto it = nodes_.find(stream->node_id);
      if (it != nodes_.end() && it->second.stream.lock() == stream) {
        nodes_.erase(it);
        disconnected = true;
      }
    }
    streams_.erase(stream);
  }
  if (disconnected) {
    connected_.fetch_sub(1, std::memory_order_relaxed);
    connected_gauge_.Add(-1);
    const std::int64_t now = clock_.NowUnixMs();
    stream->state->Update([&](NodeRecord& r) {
      r.connected = false;
      r.last_seen_ms = now;
    });
    writer_.MarkDirty(stream->state);
  }
}

std::string NodeHub::ChainOf(const std::string& node_id) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return {};
  return it->second.state->Copy().scope_chain;
}

void NodeHub::OnChange(const ChangeEvent& event) {
  if (!event.revoked_tokens.empty()) CloseUnauthorized(event.revoked_tokens);
  if (event.scopes.empty() && event.revision == 0) return;  // nothing to render
  {
    std::lock_guard lock(events_mu_);
    events_.any = true;
    events_.scopes.insert(events_.scopes.end(), event.scopes.begin(), event.scopes.end());
  }
  events_cv_.notify_one();
}

void NodeHub::RunDispatcher() {
  using Steady = std::chrono::steady_clock;
  // Streams whose token expired are ended within this long.
  constexpr auto kTokenSweep = std::chrono::seconds(5);
  auto next_refresh = Steady::now() + options_.refresh_interval;
  auto next_sweep = Steady::now() + kTokenSweep;
  std::unique_lock lock(events_mu_);
  while (!events_stop_) {
    events_cv_.wait_until(lock, std::min(next_refresh, next_sweep),
                          [&] { return events_stop_ || events_.any; });
    if (events_stop_) return;
    const auto now = Steady::now();
    const bool refresh = now >= next_refresh;
    if (refresh) next_refresh = now + options_.refresh_interval;
    const bool sweep = now >= next_sweep;
    if (sweep) next_sweep = now + kTokenSweep;
    if (!events_.any && !refresh) {
      lock.unlock();
      if (sweep) CloseUnauthorized({});  // tokens that expired since the last sweep
      lock.lock();
      continue;
    }
    PendingEvents events = std::move(events_);
    events_ = PendingEvents{};
    lock.unlock();
    if (sweep) CloseUnauthorized({});

    std::vector<std::shared_ptr<ChainGroup>> groups;
    {
      std::lock_guard hub_lock(mu_);
      groups.reserve(groups_.size());
      for (const auto& [key, group] : groups_) groups.push_back(group);
    }
    for (const auto& group : groups) {
      // A chain is affected when a changed scope is on it; a timed refresh
      // re-renders every chain, which re-signs before expiry and heals a
      // missed event.
      const bool affected =
          refresh || std::any_of(events.scopes.begin(), events.scopes.end(), [&](const auto& s) {
            return std::find(group->scopes.begin(), group->scopes.end(), s) != group->scopes.end();
          });
      if (affected) Refresh(group);
    }
    lock.lock();
  }
}

void NodeHub::CloseUnauthorized(const std::vector<std::string>& revoked) {
  const std::int64_t now = clock_.NowUnixMs();
  std::vector<std::pair<std::shared_ptr<NodeStream>, Status>> doomed;
  {
    std::lock_guard lock(mu_);
    revoked_tokens_.insert(revoked.begin(), revoked.end());
    for (const auto& stream : streams_) {
      if (stream->token_id.empty()) continue;  // hello not admitted yet
      if (std::find(revoked.begin(), revoked.end(), stream->token_id) != revoked.end()) {
        doomed.emplace_back(stream, Status(StatusCode::kUnauthenticated,
                                           "token " + stream->token_id + " was revoked"));
      } else if (stream->token_expires_at_ms != 0 && stream->token_expires_at_ms <= now) {
        doomed.emplace_back(stream, Status(StatusCode::kUnauthenticated,
                                           "token " + stream->token_id + " has expired"));
      }
    }
  }
  for (const auto& [stream, why] : doomed) {
    spdlog::info("closing the node stream of {}: {}", stream->node_id, why.message());
    stream->Close(why);
  }
}

void NodeHub::CloseAll() {
  std::vector<std::shared_ptr<NodeStream>> streams;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    streams.assign(streams_.begin(), streams_.end());
  }
  for (const auto& stream : streams) {
    stream->Close(Status(StatusCode::kUnavailable, "shutting down"));
  }
}

void NodeHub::Stop() {
  {
    std::lock_guard lock(events_mu_);
    if (events_stop_ && !dispatcher_.joinable()) return;
    events_stop_ = true;
  }
  events_cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
}

}  // namespace omnirelay::cp

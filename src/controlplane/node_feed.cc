// NodeFeedImpl: wires the feed's parts (node_feed.h) — admission
// (feed_admission), chain groups (feed_groups), the dispatcher
// (feed_dispatcher), the fan-out (feed_fanout), the status writer and the
// worker pool — and handles what nodes say.
#include "omnirelay/controlplane/node_feed.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <thread>
#include <utility>

#include "feed_admission.h"
#include "feed_dispatcher.h"
#include "feed_fanout.h"
#include "feed_groups.h"
#include "feed_reports.h"
#include "feed_session.h"
#include "node_status_writer.h"
#include "node_workers.h"
#include "omnirelay/config/capability.h"

namespace omnirelay::cp {
namespace {

constexpr std::size_t kMaxErrorText = 512;
// How soon a render the store could not serve is tried again.
constexpr std::chrono::milliseconds kStoreRetry{500};

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

std::size_t WorkerThreads(const NodeFeedOptions& o) {
  if (o.manual_for_test) return 0;
  if (o.worker_threads != 0) return o.worker_threads;
  return std::max<std::size_t>(2, std::thread::hardware_concurrency());
}

class NodeFeedImpl final : public NodeFeed {
 public:
  NodeFeedImpl(NodeFeedOptions options, const Authenticator& auth, AssignmentSource& assignments,
               Store& store, Bus& bus, const Clock& clock, MetricsRegistry& metrics)
      : options_(std::move(options)),
        source_(assignments),
        store_(store),
        bus_(bus),
        clock_(clock),
        connected_gauge_(
            metrics.gauge("omnirelay_cp_connected_nodes", "Nodes with an open feed stream")),
        hellos_(metrics.counter("omnirelay_cp_node_hellos_total", "Node hellos accepted")),
        renotifies_(metrics.counter("omnirelay_cp_node_renotifies_total",
                                    "Assignments sent again to a node that had not applied them")),
        acks_(metrics.counter("omnirelay_cp_node_acks_total", "Snapshot ACKs received")),
        status_reports_(metrics.counter("omnirelay_cp_node_status_reports_total",
                                        "Node status reports received")),
        refused_(metrics.counter("omnirelay_cp_node_stream_errors_total",
                                 "Node streams ended by an error or refused")),
        superseded_(metrics.counter(
            "omnirelay_cp_node_superseded_total",
            "Node streams closed because another instance of the node id said hello")),
        refused_acks_(&metrics.counter("omnirelay_cp_node_reports_refused_total",
                                       "Node reports refused (never assigned, or invalid)",
                                       "kind=\"ack\"")),
        refused_nacks_(&metrics.counter("omnirelay_cp_node_reports_refused_total",
                                        "Node reports refused (never assigned, or invalid)",
                                        "kind=\"nack\"")),
        refused_status_(&metrics.counter("omnirelay_cp_node_reports_refused_total",
                                         "Node reports refused (never assigned, or invalid)",
                                         "kind=\"status\"")),
        refused_hellos_(&metrics.counter("omnirelay_cp_node_reports_refused_total",
                                         "Node reports refused (never assigned, or invalid)",
                                         "kind=\"hello\"")),
        render_failures_(metrics.counter("omnirelay_cp_node_render_failures_total",
                                         "Chain snapshots the node feed could not render")),
        render_retries_(
            metrics.counter("omnirelay_cp_node_render_retries_total",
                            "Chain renders tried again because the store was unavailable")),
        admission_(auth, options_.audit_refusal),
        workers_(WorkerThreads(options_)),
        writer_(store, metrics, clock, options_.status_delay, !options_.manual_for_test),
        fanout_(assignments, workers_, writer_, clock, metrics),
        dispatcher_(
            clock, FeedDispatcher::Timing{options_.refresh_interval, options_.token_sweep_interval},
            FeedDispatcher::Handlers{[this](const FeedDispatcher::Round& r) { Round(r); },
                                     [this] {
                                       CloseUnauthorized({});
                                       SweepNodesWhenDue();
                                       RepairDrift();
                                     }},
            !options_.manual_for_test) {
    for (const std::string& reason : KnownNackReasons()) {
      nacks_.emplace(reason, &metrics.counter("omnirelay_cp_node_nacks_total",
                                              "Snapshot NACKs received, by reason",
                                              "reason=\"" + reason + "\""));
    }
    nack_other_ = &metrics.counter("omnirelay_cp_node_nacks_total",
                                   "Snapshot NACKs received, by reason", "reason=\"other\"");
    welcome_.http_endpoints = options_.http_endpoints;
    welcome_.reconcile_interval_ms = options_.reconcile_interval_ms;
    subscription_ = bus_.Subscribe([this](const ChangeEvent& event) { OnChange(event); });
  }

  ~NodeFeedImpl() override { Stop(); }

  std::shared_ptr<FeedSession> Connect(std::shared_ptr<FeedConnection> connection,
                                       std::string bearer_token) override {
    auto session = std::make_shared<FeedSession>(std::move(connection), std::move(bearer_token));
    if (admission_.Open(session)) return session;
    session->Close();
    return nullptr;
  }

  void OnHello(const std::shared_ptr<FeedSession>& session, HelloMsg hello) override {
    // Token lookup, store reads and rendering do not belong on a transport thread.
    const bool queued =
        workers_.Submit([this, session, hello = std::move(hello)] { HandleHello(session, hello); });
    if (!queued) CloseSession(*session, Status(StatusCode::kUnavailable, "shutting down"));
  }

  // The report counters move after the record did: a reader who sees the
  // count has its effect in the next status write (tests rely on it).
  void OnAck(FeedSession& session, const AckMsg& ack) override {
    auto state = session.state();
    if (!state) return;
    if (!session.WasAssigned(ack.version, ack.hash)) {
      return RefuseReport(state, *refused_acks_, "ack", ack.version, ack.hash);
    }
    const std::int64_t now = clock_.NowUnixMs();
    state->Update([&](NodeRecord& r) {
      r.applied_version = ack.version;
      r.applied_hash = ack.hash;
      if (r.last_error_code != "superseded") {  // that note outlives ACKs
        r.last_error.clear();
        r.last_error_code.clear();
        r.last_error_path.clear();
      }
      r.last_seen_ms = now;
    });
    writer_.MarkDirty(state);
    acks_.Inc();
    if (options_.observer) options_.observer->OnNodeAck(NodeIdOf(session), ack.version, ack.hash);
  }

  void OnNack(FeedSession& session, const NackMsg& nack) override {
    auto state = session.state();
    if (!state) return;
    if (!session.WasAssigned(nack.version, nack.hash)) {
      return RefuseReport(state, *refused_nacks_, "nack", nack.version, nack.hash);
    }
    session.MarkRefused(nack.version, nack.hash);  // drift repair does not resend it
    RecordError(state, nack.reason.empty() ? "unknown" : nack.reason, nack.message);
    if (options_.observer) {
      options_.observer->OnNodeNack(NodeIdOf(session), nack.version, nack.hash);
    }
    auto it = nacks_.find(nack.reason);
    (it != nacks_.end() ? *it->second : *nack_other_).Inc();
  }

  void OnStatus(FeedSession& session, const StatusMsg& status) override {
    auto state = session.state();
    if (!state) return;
    if (std::string why = InvalidStatus(status); !why.empty()) {
      refused_status_->Inc();
      RecordError(state, "invalid_argument", "status report refused: " + why);
      return;
    }
    nlohmann::json health = nlohmann::json::object();
    for (const auto& [name, value] : status.health) health[name] = value;
    std::string health_json = health.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const std::int64_t now = clock_.NowUnixMs();
    state->Update([&](NodeRecord& r) {
      r.discovery_generation = status.discovery_generation;
      r.health_json = std::move(health_json);
      r.last_seen_ms = now;
    });
    writer_.MarkDirty(state);
    status_reports_.Inc();
    if (options_.observer) options_.observer->OnNodeStatus(NodeIdOf(session), status);
  }

  void OnNotifyWritten(FeedSession& session) override {
    if (session.Written()) fanout_.CountNotifySent();
  }

  void OnClosed(const std::shared_ptr<FeedSession>& session) override {
    session->Close();  // before Leave: a concurrent Join then refuses it
    admission_.Remove(session);
    auto state = session->state();
    if (!groups_.Leave(session)) return;
    connected_.fetch_sub(1, std::memory_order_relaxed);
    connected_gauge_.Add(-1);
    const std::int64_t now = clock_.NowUnixMs();
    state->Update([&](NodeRecord& r) {
      r.connected = false;
      r.last_seen_ms = now;
    });
    writer_.MarkDirty(state);
    if (options_.observer) options_.observer->OnNodeGone(session->identity().node_id);
  }

  void Reassign(const std::vector<std::string>& node_ids) override {
    if (node_ids.empty()) return;
    // Sliced over the workers as a fan-out is (a promoted wave can be most
    // of the fleet): at least kReassignSlice nodes a slice. Each slice finds
    // its own nodes' sessions, so the caller (a promote's request) returns
    // once the slices are queued.
    constexpr std::size_t kReassignSlice = 64;
    auto shared = std::make_shared<const std::vector<std::string>>(node_ids);
    const std::size_t n = shared->size();
    (void)workers_.SubmitSlices(  // false: stopping
        n, workers_.SliceCount(n, kReassignSlice),
        [this, shared](std::size_t begin, std::size_t end) {
          // The slice's sessions found under one lock, then delivered a
          // chain group at a time: one question to the source per group.
          auto found = groups_.SessionsOf(std::span(*shared).subspan(begin, end - begin));
          std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
            return std::less<>()(a.second.get(), b.second.get());
          });
          std::vector<std::shared_ptr<FeedSession>> sessions;
          for (std::size_t i = 0; i < found.size();) {
            const std::shared_ptr<ChainGroup>& group = found[i].second;
            sessions.clear();
            for (; i < found.size() && found[i].second == group; ++i) {
              sessions.push_back(std::move(found[i].first));
            }
            if (auto current = group->current()) fanout_.DeliverAll(sessions, *group, current);
          }
        });
  }

  bool RunOnWorker(std::function<void()> task) override { return workers_.Submit(std::move(task)); }

  std::size_t connected() const override { return connected_.load(std::memory_order_relaxed); }
  std::string ChainOf(const std::string& node_id) const override {
    return groups_.ChainOf(node_id);
  }

  void CloseAll() override {
    std::call_once(close_once_, [this] {
      bus_.Unsubscribe(subscription_);
      dispatcher_.Stop();  // no more renders or fan-outs
      for (const auto& session : admission_.StopAll()) {
        CloseSession(*session, Status(StatusCode::kUnavailable, "shutting down"));
      }
    });
  }

  void Stop() override {
    CloseAll();
    std::call_once(stop_once_, [this] {
      workers_.Stop();
      writer_.Stop();  // writes the disconnected nodes' records
    });
  }

  void FlushStatusForTest() override { writer_.Flush(); }

  void RunDueForTest() override {
    dispatcher_.RunDue();
    writer_.WriteDue();
  }

 private:
  static std::string NodeIdOf(const FeedSession& session) { return session.identity().node_id; }

  // An ACK or NACK naming a (version, hash) never assigned to this session:
  // counted and shown as the node's last error, never recorded as applied.
  void RefuseReport(const std::shared_ptr<NodeState>& state, Counter& counter, const char* kind,
                    std::int64_t version, const std::string& hash) {
    counter.Inc();
    RecordError(state, std::string("invalid_argument: ") + kind + " refused: version " +
                           std::to_string(version) + " hash \"" + hash.substr(0, 80) +
                           "\" was never assigned to this node");
  }

  // The node's last error (truncated), seen now; written with the next batch.
  // A node's last problem: its code (a status code name), what happened and,
  // when it has one, the JSON Pointer it is about. Shown until the next ACK.
  void RecordError(const std::shared_ptr<NodeState>& state, std::string_view code,
                   std::string_view message, std::string path = "") {
    const std::int64_t now = clock_.NowUnixMs();
    std::string error = Truncated(std::string(code) + ": " + std::string(message));
    state->Update([&](NodeRecord& r) {
      r.last_error = std::move(error);
      r.last_error_code = std::string(code);
      r.last_error_path = std::move(path);
      r.last_seen_ms = now;
    });
    writer_.MarkDirty(state);
  }
  // The same from "code: message".
  void RecordError(const std::shared_ptr<NodeState>& state, std::string_view error) {
    const std::size_t colon = error.find(": ");
    if (colon == std::string_view::npos) return RecordError(state, error, "");
    RecordError(state, error.substr(0, colon), error.substr(colon + 2));
  }

  // A known node whose own token was refused (revoked or expired while it
  // was away): the reason becomes its last error, so `nodes list` shows why
  // it does not come back. Nodes never seen are not created for it.
  void NoteRefusedToken(const std::string& id, const Status& why) {
    std::shared_ptr<NodeState> state = groups_.StateOf(id);
    if (!state) {
      auto stored = store_.GetNode(id);
      if (!stored.ok()) return;
      state = std::make_shared<NodeState>(std::move(stored).value());
    }
    RecordError(state, why.code_name(), why.message());
  }

  // Why the snapshot a hello says the node runs is not believed ("" when it
  // is, or when the node says it runs nothing).
  std::string UnbelievedClaim(const HelloMsg& hello) {
    if (hello.current_version == 0 && hello.current_hash.empty()) return "";
    const std::string said = "version " + std::to_string(hello.current_version) + " hash \"" +
                             hello.current_hash.substr(0, 80) + "\"";
    auto known = store_.SnapshotVersionOf(hello.current_hash);
    if (known.ok() && *known == hello.current_version) return "";
    if (known.ok()) {
      return said + " is not what this control plane signed (that hash is version " +
             std::to_string(*known) + ")";
    }
    if (known.status().code() == StatusCode::kNotFound) {
      return said + " was never signed by this control plane";
    }
    return said + " could not be checked (" + known.status().message() + ")";
  }

  // What a superseded instance's stream is closed with.
  static Status Superseded(const std::string& node_id, const std::string& older,
                           const std::string& newer) {
    return Status(StatusCode::kSuperseded,
                  "instance " + older + " of node \"" + node_id + "\" was superseded by instance " +
                      newer + ", a newer process with the same node id; do not reconnect");
  }

  // Closes the transport's stream; the session itself is closed by OnClosed.
  static void CloseSession(FeedSession& session, const Status& why) {
    session.MarkClosing();
    if (auto connection = session.connection()) connection->Close(why);
  }

  void HandleHello(const std::shared_ptr<FeedSession>& session, const HelloMsg& hello) {
    if (admission_.stopping()) {
      CloseSession(*session, Status(StatusCode::kUnavailable, "shutting down"));
      return;
    }
    Principal who;
    const std::string token = session->TakeToken();
    auto chain = admission_.Check(token, hello, who);
    if (!chain.ok()) {
      refused_.Inc();
      if (chain.status().code() == StatusCode::kUnauthenticated &&
          admission_.IsOwnToken(token, hello.node_id)) {
        NoteRefusedToken(hello.node_id, chain.status());
      }
      CloseSession(*session, chain.status());
      return;
    }
    const std::string& id = hello.node_id;
    const std::string key = ScopeChainToString(*chain);
    if (options_.check_chain) {
      if (Status placed = options_.check_chain(*chain, id); !placed.ok()) {
        refused_.Inc();
        if (options_.audit_refusal) {
          options_.audit_refusal(who.name, "node.hello", "node:" + id, placed);
        }
        CloseSession(*session, placed);
        return;
      }
    }

    // The node's status record: the one held for a session of this node
    // still open here, else the stored one, so fields the hello does not
    // carry (discovery generation, health) survive a reconnect.
    std::shared_ptr<NodeState> state = groups_.StateOf(id);
    if (!state) {
      NodeRecord record;
      auto stored = store_.GetNode(id);
      if (stored.ok()) record = std::move(stored).value();
      record.node_id = id;
      state = std::make_shared<NodeState>(std::move(record));
    }

    // What the node says it runs counts only if this control plane signed
    // that snapshot at that version; anything else is "nothing known", so
    // the node is sent its assignment like a new one.
    const std::string claim_refused = UnbelievedClaim(hello);
    const std::int64_t applied_version = claim_refused.empty() ? hello.current_version : 0;
    const std::string applied_hash = claim_refused.empty() ? hello.current_hash : "";

    // Welcome goes out before any Notify: the session joins its group below.
    session->SetReported(applied_version, applied_hash);
    std::shared_ptr<FeedConnection> connection = session->connection();
    if (!connection) return;  // closed meanwhile
    connection->Welcome(welcome_);

    if (Status entered = admission_.Enter(session, who); !entered.ok()) {
      CloseSession(*session, entered);
      return;
    }
    const bool reads_rollout = HasFeature(hello.features, kFeatureRolloutInfo);
    FeedGroups::Joined joined =
        groups_.Join(session, id, hello.instance_id, *chain, key, state, reads_rollout);
    if (joined.stale) {
      // A superseded instance trying again: the newest instance keeps the node.
      refused_.Inc();
      spdlog::debug("node feed: node \"{}\": instance {} was superseded by {}, refused again", id,
                    hello.instance_id, joined.other_instance);
      CloseSession(*session, Superseded(id, hello.instance_id, joined.other_instance));
      return;
    }
    if (!joined.ok) return;  // the stream ended meanwhile
    if (joined.first) {
      connected_.fetch_add(1, std::memory_order_relaxed);
      connected_gauge_.Add(1);
    }
    joined.state->Update([&](NodeRecord& r) {
      r.scope_chain = key;
      r.api_version = hello.api_version;
      r.features = hello.features;
      r.applied_version = applied_version;
      r.applied_hash = applied_hash;
      r.connected = true;
      r.last_seen_ms = clock_.NowUnixMs();
      if (r.health_json.empty()) r.health_json = "{}";
      if (joined.first && r.last_error_code == "superseded") {
        r.last_error.clear();
        r.last_error_code.clear();
        r.last_error_path.clear();
      }
    });
    writer_.MarkDirty(joined.state);
    hellos_.Inc();
    if (!claim_refused.empty()) {
      refused_hellos_->Inc();
      RecordError(joined.state, "invalid_argument",
                  "what the hello says the node runs is not believed: " + claim_refused);
    }
    if (options_.observer) {
      options_.observer->OnNodeHello(id, key, applied_version, applied_hash, reads_rollout);
    }
    if (joined.replaced && joined.replaced != session) {
      if (joined.superseded) {
        // Two processes with one node id: the newer wins; the older is told
        // so and stops instead of knocking this one off in turn.
        const std::string& older = joined.other_instance;
        spdlog::warn(
            "node feed: node \"{}\": instance {} superseded by instance {} (a second process "
            "with this node id, or a restart before its old stream ended); the older one stops "
            "following the control plane",
            id, older, hello.instance_id);
        superseded_.Inc();
        RecordError(joined.state, "superseded: instance " + older + " was replaced by instance " +
                                      hello.instance_id +
                                      ", a newer process with this node id; if both run, stop one");
        CloseSession(*joined.replaced, Superseded(id, older, hello.instance_id));
      } else {
        CloseSession(*joined.replaced, Status(StatusCode::kUnavailable,
                                              "replaced by a newer stream of node \"" + id + "\""));
      }
    }
    connection->ResumeReading();
    if (auto current = joined.group->current()) {
      fanout_.Deliver(session, *joined.group, current);
    } else if (auto problem = joined.group->problem()) {
      TellProblem(*session, *problem);
    }
    if (joined.group->StartLoading()) Refresh(joined.group);
  }

  void OnChange(const ChangeEvent& event) {
    if (!event.revoked_tokens.empty()) CloseUnauthorized(event.revoked_tokens);
    if (event.scopes.empty() && event.revision == 0) return;  // nothing to render
    dispatcher_.Post(event.scopes, event.revision);
  }

  void Round(const FeedDispatcher::Round& round) {
    for (const auto& group : groups_.All()) {
      // A chain is affected when a changed scope is on it; a timed refresh
      // re-renders every chain, which re-signs before expiry and heals a
      // missed event.
      const bool affected =
          round.all || std::any_of(round.scopes.begin(), round.scopes.end(), [&](const auto& s) {
            return std::find(group->scopes.begin(), group->scopes.end(), s) != group->scopes.end();
          });
      // A rollout's own staged commits send nobody on its chains anything
      // (AssignmentSource::PinsChainPast): its start re-offers the first wave.
      if (!affected) continue;
      Refresh(group, !round.all && round.oldest_revision > 0 &&
                         source_.PinsChainPast(group->scopes, round.oldest_revision));
    }
  }

  void Refresh(const std::shared_ptr<ChainGroup>& group, bool render_only = false) {
    const auto started = std::chrono::steady_clock::now();
    // Only a group whose nodes were all offered its current snapshot may skip
    // them: not one still loading (its first nodes wait for this render) nor
    // one whose nodes were told a render problem instead.
    if (render_only && (!group->current() || group->problem())) render_only = false;
    auto snapshot = source_.Newest(group->chain);
    if (!snapshot.ok() && snapshot.status().code() == StatusCode::kUnavailable) {
      // The store could not be read (Postgres restarting, a pooled
      // connection found broken): not the chain's problem, so its nodes keep
      // what they were offered and are told nothing; the chain renders again
      // in kStoreRetry, and again until the store answers.
      render_retries_.Inc();
      if (!store_retrying_.exchange(true)) {  // once per outage, not per chain and try
        spdlog::warn(
            "node feed: the store is unavailable ({}); chains are rendered again every "
            "{} ms until it answers",
            snapshot.status().message(), kStoreRetry.count());
      }
      group->Advance(nullptr);
      dispatcher_.RetryAfter(group->scopes, kStoreRetry);
      return;
    }
    if (store_retrying_.exchange(false)) {
      spdlog::info("node feed: the store answers again; rendering resumed");
    }
    if (!snapshot.ok() && snapshot.status().code() != StatusCode::kNotFound) {
      render_failures_.Inc();
      ReportRenderFailure(group, snapshot.status());
    } else {
      group->SetProblem(nullptr);
    }
    if (!snapshot.ok()) {
      group->Advance(nullptr);
      return;
    }
    const SnapshotRecord& s = **snapshot;
    if (!group->IsNewer(s.version, s.hash, s.expires_at_ms)) {
      group->Advance(nullptr);
      return;
    }
    auto assignment =
        std::make_shared<const Assignment>(s.version, s.hash, s.expires_at_ms, *snapshot);
    if (!group->Advance(assignment) || render_only) return;
    fanout_.FanOut(group, std::move(assignment), group->Members(), started);
  }

  // Contract 8, on the dispatcher.
  void RepairDrift() {
    const std::int64_t after = options_.renotify_after.count();
    if (after <= 0) return;
    const std::int64_t now = clock_.NowUnixMs();
    for (const auto& group : groups_.All()) {
      for (const auto& session : group->Members()) {
        auto state = session->state();
        if (!state) continue;
        std::int64_t assigned = 0;
        std::int64_t applied = 0;
        bool behind = false;
        state->Update([&](NodeRecord& r) {
          assigned = r.assigned_version;
          applied = r.applied_version;
          behind = r.assigned_version > 0 &&
                   (r.applied_version != r.assigned_version || r.applied_hash != r.assigned_hash) &&
                   now - r.assigned_at_ms >= after;
        });
        if (!behind || !session->Resend()) continue;
        renotifies_.Inc();
        spdlog::info(
            "node feed: node \"{}\" has not applied v{} (it reports v{}) {} ms after it was "
            "assigned: sent again",
            NodeIdOf(*session), assigned, applied, after);
      }
    }
  }

  // On the dispatcher only (one handler at a time): node_sweep_ms_ needs no lock.
  void SweepNodesWhenDue() {
    if (!options_.node_sweep) return;
    const std::int64_t now = clock_.NowUnixMs();
    if (node_sweep_ms_ != 0 && now - node_sweep_ms_ < options_.node_sweep_interval.count()) return;
    node_sweep_ms_ = now;
    options_.node_sweep();
  }

  // A chain that does not render: each node on it is told (Problem) and its
  // record shows render_failed with the first problem's pointer; the daemon
  // log says it once per distinct problem.
  void ReportRenderFailure(const std::shared_ptr<ChainGroup>& group, const Status& why) {
    auto problem = std::make_shared<ProblemMsg>();
    problem->code = "render_failed";
    const auto& diagnostics = why.diagnostics();
    const std::string what = diagnostics.empty() ? why.message() : diagnostics.front().message;
    problem->message = "the chain " + group->key + " does not render: " + what;
    if (!diagnostics.empty()) problem->path = diagnostics.front().path;
    if (diagnostics.size() > 1) {
      problem->message += " (and " + std::to_string(diagnostics.size() - 1) + " more)";
    }
    if (group->SetProblem(problem)) {
      spdlog::warn("node feed: {}{}", problem->message,
                   problem->path.empty() ? "" : " at " + problem->path);
    }
    for (const auto& session : group->Members()) TellProblem(*session, *problem);
  }

  void TellProblem(FeedSession& session, const ProblemMsg& problem) {
    if (auto state = session.state()) {
      RecordError(state, problem.code, problem.message, problem.path);
    }
    if (auto connection = session.connection()) connection->Problem(problem);
  }

  // Ends the sessions opened with a revoked token (`revoked`) or with one
  // that has expired by now.
  void CloseUnauthorized(const std::vector<std::string>& revoked) {
    for (const auto& [session, why] : admission_.Unauthorized(revoked, clock_.NowUnixMs())) {
      spdlog::info("closing the node stream of {}: {}", session->identity().node_id, why.message());
      // `nodes list` shows why the node went away, not a network blip.
      if (auto state = session->state()) {
        RecordError(state, why.code_name(), why.message());
      }
      CloseSession(*session, why);
    }
  }

  const NodeFeedOptions options_;
  AssignmentSource& source_;
  Store& store_;
  Bus& bus_;
  const Clock& clock_;
  WelcomeMsg welcome_;

  Gauge& connected_gauge_;
  Counter& hellos_;
  Counter& renotifies_;
  Counter& acks_;
  Counter& status_reports_;
  Counter& refused_;
  Counter& superseded_;
  Counter* refused_acks_;
  Counter* refused_nacks_;
  Counter* refused_status_;
  Counter* refused_hellos_;
  Counter& render_failures_;
  Counter& render_retries_;
  std::map<std::string, Counter*, std::less<>> nacks_;  // immutable after construction
  Counter* nack_other_ = nullptr;
  std::atomic<std::size_t> connected_{0};
  std::atomic<bool> store_retrying_{false};  // a render met an unavailable store
  std::int64_t node_sweep_ms_ = 0;           // the last node sweep (dispatcher only)

  FeedAdmission admission_;
  FeedGroups groups_;
  NodeWorkers workers_;
  NodeStatusWriter writer_;
  FeedFanOut fanout_;
  std::once_flag close_once_;
  std::once_flag stop_once_;
  int subscription_ = 0;
  FeedDispatcher dispatcher_;  // last: its thread starts after the members it uses
};

}  // namespace

std::unique_ptr<NodeFeed> MakeNodeFeed(NodeFeedOptions options, const Authenticator& auth,
                                       AssignmentSource& assignments, Store& store, Bus& bus,
                                       const Clock& clock, MetricsRegistry& metrics) {
  return std::make_unique<NodeFeedImpl>(std::move(options), auth, assignments, store, bus, clock,
                                        metrics);
}

}  // namespace omnirelay::cp

#include "omnirelay/relay/watcher.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <limits>
#include <thread>
#include <utility>

#include "node_stream.h"
#include "omnirelay/config/capability.h"
#include "omnirelay/config/files.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/config/rfc3339.h"
#include "relay_metrics.h"
#include "snapshot_puller.h"

namespace omnirelay::relay {
namespace {

using internal::NodeStream;
using internal::PullReply;
using internal::SnapshotPuller;
using internal::StreamEvent;

constexpr std::size_t kKept = 64;
// The code the control plane ends a stream with when another instance
// (process) of the node id took over.
std::string_view SupersededCode() {
  return status_code_name(StatusCode::kSuperseded);
}

std::string JoinCsv(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += ',';
    out += p;
  }
  return out;
}

// 64 random bits in hex: tells this process's streams from another's.
std::string RandomInstanceId() {
  std::random_device rd;
  const std::uint64_t bits = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 0; i < 16; ++i) out[i] = kHex[(bits >> (60 - 4 * i)) & 0xf];
  return out;
}

// The TLS client material of `o`, or null for plaintext. Server SPIFFE
// patterns that do not parse are refused by Start() before any use.
std::shared_ptr<internal::ClientTls> MakeClientTls(const WatcherOptions& o, MetricsRegistry& m,
                                                   std::function<void(const std::string&)> log) {
  if (!o.tls.enabled()) return nullptr;
  auto ids = PeerIdentityPolicy::Parse(o.tls.server_spiffe_ids, "server SPIFFE ID");
  Counter& failures = m.counter(
      "omnirelay_relay_tls_reload_failures_total",
      "TLS client files (CA, certificate, key) that did not load; the last good ones stayed in use",
      LabelSet(o.node_id, {}));
  return std::make_shared<internal::ClientTls>(o.tls, ids.ok() ? *ids : PeerIdentityPolicy(),
                                               &failures, std::move(log));
}

}  // namespace

struct Watcher::Impl {
  Impl(WatcherOptions o, ConfigHost& h, const Clock& c, MetricsRegistry& m,
       std::unique_ptr<Waiter> w)
      : options(std::move(o)),
        instance_id(options.instance_id.empty() ? RandomInstanceId() : options.instance_id),
        host(h),
        clock(c),
        waiter(w ? std::move(w) : MakeSystemWaiter()),
        backoff(options.backoff_initial_ms, options.backoff_max_ms, options.jitter_seed),
        client_tls(MakeClientTls(options, m, [this](const std::string& line) { Log(line); })),
        puller(options.node_id, JoinCsv(options.scope_chain), options.token, options.rpc_timeout_ms,
               client_tls, options.max_receive_message_bytes),
        connected_gauge(m.gauge("omnirelay_relay_watcher_stream_connected",
                                "1 while the node stream to the control plane is up",
                                LabelSet(options.node_id, {}))),
        welcomed_counter(m.counter("omnirelay_relay_watcher_streams_total",
                                   "Node streams opened, by outcome",
                                   LabelSet(options.node_id, {{"outcome", "welcomed"}}))),
        failed_counter(m.counter("omnirelay_relay_watcher_streams_total",
                                 "Node streams opened, by outcome",
                                 LabelSet(options.node_id, {{"outcome", "failed"}}))),
        pull_applied(PullCounter(m, "applied")),
        pull_not_modified(PullCounter(m, "not_modified")),
        pull_refused(PullCounter(m, "refused")),
        pull_failed(PullCounter(m, "failed")),
        acks_counter(m.counter("omnirelay_relay_watcher_acks_total", "Notifies ACKed",
                               LabelSet(options.node_id, {}))),
        nacks_counter(m.counter("omnirelay_relay_watcher_nacks_total", "Notifies NACKed",
                                LabelSet(options.node_id, {}))),
        problems_counter(m.counter("omnirelay_relay_watcher_problems_total",
                                   "Problems the control plane reported (it sends nothing now)",
                                   LabelSet(options.node_id, {}))),
        superseded_counter(m.counter("omnirelay_relay_watcher_superseded_total",
                                     "Node streams ended because another instance of this node id "
                                     "took over (the watcher then stops following)",
                                     LabelSet(options.node_id, {}))),
        slo_requests_counter(m.counter("omnirelay_relay_watcher_slo_requests_total",
                                       "Requests reported to the control plane in SLO windows",
                                       LabelSet(options.node_id, {}))),
        slo_errors_counter(m.counter("omnirelay_relay_watcher_slo_errors_total",
                                     "Failed requests reported to the control plane in SLO windows",
                                     LabelSet(options.node_id, {}))) {
    puller.AddEndpoints(options.http_endpoints);
    // Key rotation: the host asks for newer key sets from the thread that
    // applies — this worker; a host fed by a Watcher must not be applied from
    // another thread while it runs — over the pull's endpoints. Cleared by ~Impl.
    host.SetKeySetSource([this](std::int64_t after) { return puller.FetchKeySets(after); });
    UpdateStats([&](WatcherStats& s) { s.instance_id = instance_id; });
    failback_rng.seed(options.jitter_seed != 0 ? options.jitter_seed + 1 : std::random_device{}());
  }

  ~Impl() { host.SetKeySetSource(nullptr); }  // the source points at `puller`

  Counter& PullCounter(MetricsRegistry& m, std::string_view result) {
    return m.counter("omnirelay_relay_watcher_pulls_total",
                     "Snapshot pulls over HTTP (fallback and reconcile), by result",
                     LabelSet(options.node_id, {{"result", result}}));
  }

  void Run();
  void OpenStream();
  void HandleEvent(StreamEvent& event);
  void Log(const std::string& line) const {
    if (options.log) options.log(line);
  }
  void LogApply(const Result<ApplyOutcome>& outcome, const std::string& how) const {
    if (!outcome.ok()) {
      Log("snapshot refused (" + how + "): " + outcome.status().ToString());
    } else if (outcome->kind == ApplyKind::kApplied) {
      Log("applied version " + std::to_string(outcome->snapshot->version()) + " (" + how + ")");
    }
  }
  void HandleNotify(StreamEvent& event);  // takes the event's envelope
  void StreamEnded();
  // Fail-back (WatcherOptions::failback_interval_ms): when the next probe of
  // the preferred endpoint is due, and what a probe's answer leads to.
  void ScheduleFailBack();
  void MaybeFailBack(std::int64_t now);
  // Superseded: the stream ended and no other follows (no pulls either).
  void StopFollowing();
  void SendStatus();
  // NACKs `version`/`hash` on the stream for `why`, counted.
  void Nack(std::int64_t version, const std::string& hash, const Status& why);
  void PullNow();
  // The snapshot in force expired without a renewal: say so, pull at once.
  void SnapshotExpired();
  std::int64_t ReconcileThresholdMs() const {
    return reconcile_ms > 0 ? std::min(reconcile_ms, options.staleness_threshold_ms)
                            : options.staleness_threshold_ms;
  }
  // When the next pull is due (the worker's monotonic ms).
  std::int64_t NextPullAt(std::int64_t now) const;
  std::int64_t ConnectTimeoutMs() const;

  template <typename F>
  void UpdateStats(F f) {
    MutexLock lock(stats_mu);
    f(stats);
  }

  const WatcherOptions options;
  const std::string instance_id;
  ConfigHost& host;
  const Clock& clock;
  std::unique_ptr<Waiter> waiter;
  Backoff backoff;
  const std::shared_ptr<internal::ClientTls> client_tls;  // null: plaintext
  SnapshotPuller puller;
  Gauge& connected_gauge;
  Counter& welcomed_counter;
  Counter& failed_counter;
  Counter& pull_applied;
  Counter& pull_not_modified;
  Counter& pull_refused;
  Counter& pull_failed;
  Counter& acks_counter;
  Counter& nacks_counter;
  Counter& problems_counter;
  Counter& superseded_counter;
  Counter& slo_requests_counter;
  Counter& slo_errors_counter;

  std::thread worker;
  std::atomic<bool> stopping{false};
  bool started = false;

  // Worker-thread state.
  std::unique_ptr<NodeStream> stream;
  std::size_t endpoint_index = 0;
  bool welcomed = false;
  std::string stream_endpoint;  // the endpoint of the current (or last) stream
  std::string last_end;         // why the last stream ended (gRPC message)
  bool down_logged = false;     // "cannot reach" was logged since the last Welcome
  std::int64_t stream_opened_at = 0;
  std::int64_t welcomed_at = 0;
  std::int64_t next_connect_at = 0;
  std::int64_t next_status_at = 0;
  std::int64_t next_key_sets_at = 0;  // RefreshKeySets (first at once)
  std::int64_t next_pull_at = 0;
  std::int64_t reconcile_ms = 0;
  std::string refused_hash;  // the last envelope refused: not applied again from a pull
  Status refused_why;        // why it was refused
  // A pull refused refused_hash and the control plane has not been told: when
  // the stream then offers the same bytes (a pull at expiry racing the push),
  // the NACK carries that refusal without verifying them again, so one
  // refusal is counted once.
  bool refusal_unsent = false;
  // The control plane said another instance took over: follow no more.
  bool superseded = false;
  // Fail-back to grpc_endpoints[0] while the stream is up to another one.
  std::int64_t next_failback_at = 0;  // 0: none due
  bool failing_back = false;          // the stream was cancelled to move back
  std::mt19937_64 failback_rng;
  std::future<bool> failback_probe;  // a probe in flight (joins on destruction)

  mutable Mutex stats_mu;
  WatcherStats stats GUARDED_BY(stats_mu);
};

void Watcher::Impl::Run() {
  next_connect_at = clock.MonotonicMs();
  // Give the stream a moment before the first pull (if there is a stream).
  next_pull_at =
      next_connect_at + (options.grpc_endpoints.empty() ? 0 : options.connect_timeout_ms);
  while (!stopping.load()) {
    std::int64_t now = clock.MonotonicMs();
    if (stream) {
      bool ended = false;
      for (StreamEvent& event : stream->TakeEvents()) {
        HandleEvent(event);
        ended = ended || event.kind == StreamEvent::Kind::kEnded;  // always the last one
      }
      if (ended) {
        StreamEnded();
      } else if (stream && !welcomed && now - stream_opened_at >= ConnectTimeoutMs()) {
        stream->Cancel();  // its end arrives as an event
      }
    }
    if (stopping.load()) break;
    now = clock.MonotonicMs();
    const bool follow = !superseded;
    if (follow && !stream && !options.grpc_endpoints.empty() && now >= next_connect_at) {
      OpenStream();
    }
    if (welcomed && now >= next_status_at) SendStatus();
    if (welcomed && next_failback_at > 0) MaybeFailBack(now);
    if (follow && puller.has_endpoints() && now >= NextPullAt(now)) PullNow();
    if (follow && puller.has_endpoints() && options.key_set_poll_interval_ms > 0 &&
        now >= next_key_sets_at) {
      next_key_sets_at = now + options.key_set_poll_interval_ms;
      if (Result<bool> moved = host.RefreshKeySets(); !moved.ok()) {
        Log("key sets: " + moved.status().message());
      } else if (*moved) {
        Log("key sets: now trusting version " + std::to_string(host.health().key_set_version));
        refused_hash.clear();  // an envelope refused before may verify now: pull it again
        refusal_unsent = false;
        next_pull_at = now;
      }
    }
    // Freeze protection: the host applies its on_expiry setting; we pull
    // (at once: SnapshotExpired makes the pull due now).
    const ExpiryCheck expiry = host.CheckExpiry();
    if (expiry.newly_expired) SnapshotExpired();

    now = clock.MonotonicMs();
    std::int64_t wake_at = std::numeric_limits<std::int64_t>::max();
    if (follow && !stream && !options.grpc_endpoints.empty()) {
      wake_at = std::min(wake_at, next_connect_at);
    }
    if (stream && !welcomed) wake_at = std::min(wake_at, stream_opened_at + ConnectTimeoutMs());
    if (welcomed) wake_at = std::min(wake_at, next_status_at);
    if (welcomed && next_failback_at > 0 && !failback_probe.valid()) {
      wake_at = std::min(wake_at, next_failback_at);  // a probe's end notifies the waiter
    }
    if (follow && puller.has_endpoints()) {
      wake_at = std::min(wake_at, NextPullAt(now));
      if (options.key_set_poll_interval_ms > 0) wake_at = std::min(wake_at, next_key_sets_at);
    }
    if (expiry.expires_in_ms >= 0) wake_at = std::min(wake_at, now + expiry.expires_in_ms);
    if (wake_at == std::numeric_limits<std::int64_t>::max()) wake_at = now + 60'000;
    if (!waiter->WaitMs(std::max<std::int64_t>(wake_at - now, 0))) break;
  }
  stream.reset();                                     // cancels the call and joins its reader
  if (failback_probe.valid()) failback_probe.wait();  // bounded by the connect timeout
  connected_gauge.Set(0);
  UpdateStats([](WatcherStats& s) { s.stream_connected = false; });
}

std::int64_t Watcher::Impl::ConnectTimeoutMs() const {
  // Doubled per failure since the last Welcome, up to 8x: an overloaded
  // control plane (a whole fleet reconnecting after a partition) gets the
  // time to answer instead of a herd of attempts cancelled just before.
  return options.connect_timeout_ms << std::min(backoff.failures(), 3);
}

std::int64_t Watcher::Impl::NextPullAt(std::int64_t now) const {
  if (!welcomed) return next_pull_at;
  // Stream up: reconcile once the host is staler than the threshold.
  const HealthReport health = host.health();
  // Expired: pulled at once (SnapshotExpired), then every poll_interval_ms.
  if (health.expired) return next_pull_at;
  if (!health.ready || health.staleness_ms < 0) {
    // Nothing applied yet: the control plane notifies once it has a snapshot.
    return std::max(next_pull_at, welcomed_at + ReconcileThresholdMs());
  }
  const std::int64_t fresh_in = ReconcileThresholdMs() - health.staleness_ms;
  return std::max(next_pull_at, now + std::max<std::int64_t>(fresh_in, 0));
}

void Watcher::Impl::OpenStream() {
  const std::string& endpoint =
      options.grpc_endpoints[endpoint_index % options.grpc_endpoints.size()];
  internal::StreamHello hello;
  hello.node_id = options.node_id;
  hello.scope_chain = options.scope_chain;
  hello.api_version = options.api_version;
  hello.features = options.features;
  // By default a node advertises what its host reads, no more: a feature
  // announced that the verifier lacks would bring snapshots it refuses.
  if (hello.features.empty()) hello.features = host.capabilities().features;
  const HealthReport health = host.health();
  hello.current_version = health.config_version;
  hello.current_hash = health.hash;
  hello.instance_id = instance_id;
  internal::StreamOptions stream_options;
  stream_options.endpoint = endpoint;
  stream_options.token = options.token;
  stream_options.tls = client_tls;
  stream_options.max_receive_message_bytes = options.max_receive_message_bytes;
  stream_options.connect_timeout_ms = ConnectTimeoutMs();
  welcomed = false;
  stream_endpoint = endpoint;
  stream_opened_at = clock.MonotonicMs();
  stream = std::make_unique<NodeStream>(stream_options, std::move(hello),
                                        [w = waiter.get()] { w->Notify(); });
  UpdateStats([&](WatcherStats& s) {
    s.grpc_endpoint = endpoint;
    s.endpoints_tried.push_back(endpoint);
    if (s.endpoints_tried.size() > kKept) s.endpoints_tried.erase(s.endpoints_tried.begin());
  });
}

void Watcher::Impl::HandleEvent(StreamEvent& event) {
  switch (event.kind) {
    case StreamEvent::Kind::kWelcome:
      welcomed = true;
      welcomed_at = clock.MonotonicMs();
      backoff.Reset();
      welcomed_counter.Inc();
      connected_gauge.Set(1);
      puller.AddEndpoints(event.http_endpoints);
      reconcile_ms = event.reconcile_interval_ms;
      // The control plane notifies at once when the node's hash is not its
      // snapshot; a Welcome alone confirms what the node has.
      if (host.ready()) host.MarkFresh();
      next_pull_at = clock.MonotonicMs() + options.poll_interval_ms;
      UpdateStats([](WatcherStats& s) {
        s.stream_connected = true;
        s.last_stream_error.clear();  // what the control plane said is settled
        ++s.streams_welcomed;
      });
      Log("node stream up to " + stream_endpoint);
      down_logged = false;
      ScheduleFailBack();
      SendStatus();
      break;
    case StreamEvent::Kind::kNotify:
      HandleNotify(event);
      break;
    case StreamEvent::Kind::kProblem: {
      problems_counter.Inc();
      bool changed = false;
      UpdateStats([&](WatcherStats& s) {
        changed = s.problem_code != event.code || s.problem_message != event.message ||
                  s.problem_path != event.path;
        s.problem_code = event.code;
        s.problem_message = event.message;
        s.problem_path = event.path;
        ++s.problems;
      });
      // Once per distinct problem: it is repeated at every refresh.
      if (changed) {
        Log("control plane sends nothing now: " + event.code + ": " + event.message +
            (event.path.empty() ? "" : " (at " + event.path + ")") +
            "; keeping the snapshot this node has");
      }
      break;
    }
    case StreamEvent::Kind::kError:
      superseded = superseded || event.code == SupersededCode();
      UpdateStats(
          [&](WatcherStats& s) { s.last_stream_error = event.code + ": " + event.message; });
      break;
    case StreamEvent::Kind::kEnded:
      last_end = event.message;
      if (event.status_name == SupersededCode() && !superseded) {
        // The Error message was lost; the status details say the same.
        superseded = true;
        UpdateStats([&](WatcherStats& s) {
          s.last_stream_error = std::string(SupersededCode()) + ": " + event.message;
        });
      }
      break;  // handled once the queue is drained (StreamEnded)
  }
}

void Watcher::Impl::HandleNotify(StreamEvent& event) {
  if (refusal_unsent && event.hash == refused_hash) {
    refusal_unsent = false;
    Nack(event.version, event.hash, refused_why);
    SendStatus();
    return;
  }
  std::string envelope = std::move(event.envelope);  // up to 64 KiB inline: no copy
  if (envelope.empty()) {
    Result<std::string> fetched = stream->Fetch(event.hash, options.rpc_timeout_ms);
    if (!fetched.ok()) {
      // Not a refusal of the snapshot: the next pull gets it.
      next_pull_at = clock.MonotonicMs();
      UpdateStats([&](WatcherStats& s) {
        ++s.fetch_failures;
        s.last_fetch_error = fetched.status().ToString();
      });
      return;
    }
    envelope = std::move(fetched).value();
  }
  Result<ApplyOutcome> outcome = host.Apply(envelope, event.hash);
  LogApply(outcome, "notify");
  if (outcome.ok()) {
    refused_hash.clear();
    refusal_unsent = false;
    stream->SendAck(event.version, event.hash);
    acks_counter.Inc();
    UpdateStats([](WatcherStats& s) {
      ++s.acks;
      s.problem_code.clear();  // a snapshot again: the problem is over
      s.problem_message.clear();
      s.problem_path.clear();
    });
  } else {
    refused_hash = event.hash;
    refused_why = outcome.status();
    refusal_unsent = false;
    Nack(event.version, event.hash, refused_why);
  }
  SendStatus();
}

void Watcher::Impl::Nack(std::int64_t version, const std::string& hash, const Status& why) {
  stream->SendNack(version, hash, std::string(why.code_name()), why.message());
  nacks_counter.Inc();
  UpdateStats([](WatcherStats& s) { ++s.nacks; });
}

void Watcher::Impl::StreamEnded() {
  const bool was_welcomed = welcomed;
  if (superseded) return StopFollowing();
  if (failing_back) {
    // Ended on purpose: straight to the preferred endpoint, no backoff.
    failing_back = false;
    stream.reset();
    welcomed = false;
    connected_gauge.Set(0);
    endpoint_index = 0;
    next_connect_at = clock.MonotonicMs();
    UpdateStats([&](WatcherStats& s) {
      s.stream_connected = false;
      s.last_stream_end = "moved back to the preferred endpoint";
      ++s.failbacks;
    });
    return;
  }
  if (was_welcomed) {
    // What the control plane said last (a revoked token, a refused chain)
    // is the reason; without one it is the transport's.
    std::string why;
    {
      MutexLock lock(stats_mu);
      why = stats.last_stream_error;
    }
    if (why.empty()) why = last_end;
    Log("node stream to " + stream_endpoint + " lost (" + why + "); serving version " +
        std::to_string(host.health().config_version) + ", retrying with backoff and pulling");
    down_logged = true;
  } else if (!down_logged) {
    down_logged = true;  // once per outage, not once per retry
    Log("cannot open the node stream to " + stream_endpoint + " (" + last_end +
        "); retrying across the endpoint list with backoff");
  }
  stream.reset();
  welcomed = false;
  connected_gauge.Set(0);
  if (!was_welcomed) failed_counter.Inc();
  // Next endpoint of the list, after a jittered, growing delay; pull now.
  endpoint_index = (endpoint_index + 1) % options.grpc_endpoints.size();
  const std::int64_t delay = backoff.NextDelayMs();
  const std::int64_t now = clock.MonotonicMs();
  next_connect_at = now + delay;
  next_pull_at = now;
  UpdateStats([&](WatcherStats& s) {
    s.stream_connected = false;
    s.last_stream_end = last_end;
    if (!was_welcomed) ++s.streams_failed;
    s.backoff_delays_ms.push_back(delay);
    if (s.backoff_delays_ms.size() > kKept) s.backoff_delays_ms.erase(s.backoff_delays_ms.begin());
  });
}

void Watcher::Impl::ScheduleFailBack() {
  const std::size_t n = options.grpc_endpoints.size();
  if (options.failback_interval_ms <= 0 || n < 2 || endpoint_index % n == 0) {
    next_failback_at = 0;
    return;
  }
  const std::int64_t interval = options.failback_interval_ms;
  std::uniform_int_distribution<std::int64_t> jitter(interval / 2, interval + interval / 2);
  next_failback_at = clock.MonotonicMs() + jitter(failback_rng);
}

void Watcher::Impl::MaybeFailBack(std::int64_t now) {
  if (!failback_probe.valid()) {
    if (now < next_failback_at) return;
    internal::StreamOptions probe;
    probe.endpoint = options.grpc_endpoints.front();
    probe.tls = client_tls;
    probe.connect_timeout_ms = options.connect_timeout_ms;
    failback_probe = std::async(std::launch::async, [probe, w = waiter.get()] {
      const bool up = internal::ProbeEndpoint(probe, probe.connect_timeout_ms);
      w->Notify();
      return up;
    });
    return;
  }
  if (failback_probe.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
  const bool up = failback_probe.get();
  if (!up || !stream) {
    ScheduleFailBack();  // still away: ask again later
    return;
  }
  Log("the preferred control-plane endpoint " + options.grpc_endpoints.front() +
      " answers again: moving the node stream back to it from " + stream_endpoint);
  next_failback_at = 0;
  failing_back = true;
  stream->Cancel();  // its end arrives as an event (StreamEnded)
}

void Watcher::Impl::StopFollowing() {
  std::string why;
  {
    MutexLock lock(stats_mu);
    why = stats.last_stream_error;
  }
  Log("node stream to " + stream_endpoint + " ended (" + why +
      "): another process with node id \"" + options.node_id +
      "\" took over; not reconnecting and not pulling, serving version " +
      std::to_string(host.health().config_version) + " until this process restarts");
  superseded_counter.Inc();
  stream.reset();
  welcomed = false;
  connected_gauge.Set(0);
  UpdateStats([&](WatcherStats& s) {
    s.stream_connected = false;
    s.superseded = true;
    s.last_stream_end = last_end;
  });
}

void Watcher::Impl::SendStatus() {
  next_status_at = clock.MonotonicMs() + options.status_interval_ms;
  if (!stream || !welcomed) return;
  const HealthReport health = host.health();
  std::map<std::string, double> figures;
  if (options.health_figures) figures = options.health_figures();
  figures["ready"] = health.ready ? 1 : 0;
  // Only what is known: the control plane refuses negative figures.
  if (health.staleness_ms >= 0) figures["staleness_ms"] = static_cast<double>(health.staleness_ms);
  if (health.expires_at_ms > 0)
    figures["expires_at_ms"] = static_cast<double>(health.expires_at_ms);
  if (health.config_version > 0) figures["snapshot_expired"] = health.expired ? 1 : 0;
  // The recorder's window goes once (taken and reset): a write that fails on
  // a broken stream loses it rather than risk counting it twice.
  const std::vector<SloReport> slo = host.slo().TakeWindow();
  if (!stream->SendStatus(health.config_version, health.discovery_generation,
                          health.discovery_feed_id, figures, slo)) {
    return;
  }
  for (const SloReport& r : slo) {
    slo_requests_counter.Inc(r.window.requests);
    slo_errors_counter.Inc(r.window.errors);
  }
  if (!slo.empty()) UpdateStats([&](WatcherStats& s) { s.slo_reports_sent += slo.size(); });
}

void Watcher::Impl::SnapshotExpired() {
  const HealthReport health = host.health();
  Log("snapshot version " + std::to_string(health.config_version) +
      " expired without a renewal (expiresAt " + FormatRfc3339(health.expires_at_ms / 1000) +
      "); " +
      (health.on_expiry == OnExpiry::kFailClosed ? "failing closed: serving nothing"
                                                 : "keeping serving it") +
      " until a fresh one applies; pulling now");
  next_pull_at = clock.MonotonicMs();
  SendStatus();  // the control plane sees it at once
}

void Watcher::Impl::PullNow() {
  next_pull_at = clock.MonotonicMs() + options.poll_interval_ms;
  const HealthReport health = host.health();
  Result<PullReply> reply = puller.Pull(health.hash);
  if (!reply.ok()) {
    pull_failed.Inc();
    UpdateStats([&](WatcherStats& s) {
      ++s.pulls_failed;
      s.last_pull_error = reply.status().ToString();
    });
    return;
  }
  if (reply->kind == PullReply::Kind::kNotModified) {
    host.MarkFresh();
    pull_not_modified.Inc();
    UpdateStats([](WatcherStats& s) { ++s.pulls_not_modified; });
    return;
  }
  if (!reply->hash.empty() && reply->hash == refused_hash) {
    pull_refused.Inc();  // refused already; the control plane has nothing newer
    return;
  }
  Result<ApplyOutcome> outcome = host.Apply(reply->envelope, reply->hash);
  LogApply(outcome, "pull from " + reply->endpoint);
  if (!outcome.ok()) {
    refused_hash = reply->hash;
    refused_why = outcome.status();
    refusal_unsent = true;
    pull_refused.Inc();
    return;
  }
  refused_hash.clear();
  refusal_unsent = false;
  pull_applied.Inc();
  UpdateStats([](WatcherStats& s) { ++s.pulls_applied; });
  if (welcomed) {
    stream->SendAck(outcome->snapshot->version(), outcome->snapshot->hash());
    SendStatus();
  }
}

Watcher::Watcher(WatcherOptions options, ConfigHost& host, const Clock& clock,
                 MetricsRegistry& metrics, std::unique_ptr<Waiter> waiter)
    : impl_(std::make_unique<Impl>(std::move(options), host, clock, metrics, std::move(waiter))) {}

Watcher::~Watcher() {
  Stop();
}

Status Watcher::Start() {
  const WatcherOptions& o = impl_->options;
  if (impl_->started) return Status(StatusCode::kInvalidArgument, "watcher already started");
  if (o.node_id.empty()) return Status(StatusCode::kInvalidArgument, "watcher needs a node id");
  if (o.scope_chain.empty()) {
    return Status(StatusCode::kInvalidArgument, "watcher needs the node's scope chain");
  }
  if (o.grpc_endpoints.empty() && o.http_endpoints.empty()) {
    return Status(StatusCode::kInvalidArgument, "watcher needs a control-plane endpoint");
  }
  OMNI_RETURN_IF_ERROR(internal::CheckClientTlsOptions(o.tls));
  impl_->started = true;
  impl_->worker = std::thread([impl = impl_.get()] { impl->Run(); });
  return Status::Ok();
}

void Watcher::Stop() {
  impl_->stopping.store(true);
  impl_->waiter->Interrupt();
  if (impl_->worker.joinable()) impl_->worker.join();
}

WatcherStats Watcher::stats() const {
  MutexLock lock(impl_->stats_mu);
  return impl_->stats;
}

}  // namespace omnirelay::relay

// Watcher: keeps a ConfigHost up to date from the control plane (DESIGN.md §5).
//
//   Watcher watcher(options, host, SystemClock::Instance(), metrics);
//   watcher.Start();       // returns at once; the host becomes ready on the first snapshot
//   ...
//   watcher.Stop();        // prompt: cancels the stream, joins its threads
//
// What it does, all from one worker thread (plus one reader thread per open
// stream that only queues what the server sends):
//   - stream: connects to grpc_endpoints[i] (NodeFeed.Stream), says Hello
//     (node id, scope chain, apiVersion, features, current version + hash);
//     on Notify applies the inline envelope, or Fetch(hash) when none rides
//     along, through ConfigHost::Apply, and answers Ack or Nack{reason = the
//     status code name, message}; sends NodeStatus (configVersion,
//     discoveryGeneration, health figures, and the host's SLO window: one
//     SloReport per version that served requests since the previous status,
//     taken from ConfigHost::slo() and reset, so each window is sent once;
//     none while no stream is up, where the window grows until the next
//     status) after Welcome, after each apply and every status_interval_ms;
//   - failover: when a stream cannot be opened or ends, the next endpoint of
//     the list is tried after a backoff delay drawn with full jitter,
//     uniform in [0, min(backoff_max_ms, backoff_initial_ms * 2^failures)];
//     a stream that got its Welcome resets the backoff; an attempt without
//     a Welcome within connect_timeout_ms fails, and that timeout doubles
//     with each failure since the last Welcome, up to 8x (an overloaded
//     control plane gets the time to answer a reconnecting fleet);
//   - pull fallback: while no stream is up, GET /v1/nodes/{id}/snapshot with
//     If-None-Match every poll_interval_ms (first at once) against the
//     configured http_endpoints, then those announced in Welcome, rotating on
//     failure; 304 confirms freshness, 200 is applied;
//   - reconcile: while a stream is up, the same pull whenever the host's
//     staleness exceeds the threshold: staleness_threshold_ms, or the
//     Welcome's reconcile_interval_ms when that is shorter (before the first
//     snapshot: that long after the Welcome, then every poll_interval_ms).
//   - expiry (freeze protection): the worker wakes when the snapshot in
//     force is due to expire and calls ConfigHost::CheckExpiry(), which
//     applies the host's on_expiry setting (config_host.h); when it finds it
//     newly expired, the watcher logs it, sends a NodeStatus at once (the
//     figure snapshot_expired = 1, with every status while it lasts) and
//     pulls now, stream up or not, then every poll_interval_ms until a
//     fresh snapshot (a re-signing, or a newer version) applies.
// A refused snapshot keeps the current one (ConfigHost) and is not applied
// again from the pull while the control plane keeps serving the same bytes.
//   - key sets (rotation, hosts given one): every key_set_poll_interval_ms
//     (first at once) GET /v1/keysets?after=<trusted version> over the pull's
//     endpoints, walked by ConfigHost::RefreshKeySets; the host also asks
//     at once when a snapshot names a key it does not know;
//   - superseded: every Hello carries the watcher's instance id (random per
//     Watcher, i.e. per process start; the same on its reconnects). When the
//     control plane ends the stream as "superseded" (another process with
//     the same node id said hello after this one) the watcher logs it once,
//     counts it, and stops following the control plane: no reconnect, no
//     pull, so the two never knock each other off in a loop. The host keeps
//     serving what it has; stats().superseded says so. A new Watcher (a
//     process restart) has a new instance id and wins again.
//
// All timing goes through the injected Clock and Waiter, so tests of backoff
// and rotation move a FakeClock instead of sleeping.
//
// Figures (the host's registry): omnirelay_relay_watcher_stream_connected,
// omnirelay_relay_watcher_streams_total{outcome="welcomed|failed"},
// omnirelay_relay_watcher_pulls_total{result="applied|not_modified|refused|failed"},
// omnirelay_relay_watcher_acks_total, omnirelay_relay_watcher_nacks_total,
// omnirelay_relay_watcher_superseded_total,
// omnirelay_relay_watcher_slo_requests_total and
// omnirelay_relay_watcher_slo_errors_total (what the SLO windows sent said).
//
// Thread safety: Start and Stop from one owning thread; the accessors from
// any thread. The host, clock, waiter and registry must outlive the watcher.
// Give the watcher the host's clock: staleness (reconcile) is the host's.
// Start once; a stopped watcher is not restarted (make a new one).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/relay/config_host.h"

namespace omnirelay::relay {

// How the watcher waits: up to `ms` of the clock's time, returning early once
// Interrupt() was called (Stop). A test waiter advances a FakeClock instead.
class Waiter {
 public:
  virtual ~Waiter() = default;
  // Returns false once interrupted (then at once, every time).
  virtual bool WaitMs(std::int64_t ms) = 0;
  // Wakes WaitMs now, for this and every later call.
  virtual void Interrupt() = 0;
  // Wakes WaitMs now, once (new work arrived); later waits wait again.
  virtual void Notify() = 0;
};

// Real waiting on a condition variable (steady time).
std::unique_ptr<Waiter> MakeSystemWaiter();

// Exponential backoff with full jitter ("Exponential Backoff And Jitter",
// AWS architecture blog): the n-th delay after a failure is uniform in
// [0, min(max_ms, initial_ms * 2^(n-1))].
class Backoff {
 public:
  Backoff(std::int64_t initial_ms, std::int64_t max_ms, std::uint64_t seed);
  std::int64_t NextDelayMs();
  // The ceiling of the next delay.
  std::int64_t CeilingMs() const;
  void Reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  std::int64_t initial_ms_;
  std::int64_t max_ms_;
  int failures_ = 0;
  std::mt19937_64 rng_;
};

// TLS to the control plane, for both the node stream and the pull fallback.
// Empty ca_file: plaintext (loopback / trusted networks only). The files are
// read on every connection attempt, so rotated certificates are used from
// the next connection on; files that do not load (unreadable, a key that is
// not the certificate's) leave the last good ones in use, logged and
// counted (omnirelay_relay_tls_reload_failures_total).
struct WatcherTls {
  std::string ca_file;      // PEM CA bundle that signed the control plane's certificate
  std::string cert_file;    // PEM client certificate, for a daemon that requires mTLS
  std::string key_file;     // its private key
  std::string server_name;  // name to verify in the gRPC server certificate ("" = the host)
  // SPIFFE IDs (exact, or a prefix ending in /*: peer_identity.h) one of
  // which the control plane's certificate must carry; empty = not checked.
  // A server without one is refused before the token is sent, on the
  // stream and on the pull, and the refusal names expected and seen IDs.
  std::vector<std::string> server_spiffe_ids;

  bool enabled() const { return !ca_file.empty(); }
};

struct WatcherOptions {
  std::string node_id;
  std::vector<std::string> scope_chain;     // e.g. {"global", "region:us-east"}
  std::vector<std::string> grpc_endpoints;  // "host:port", tried in turn
  std::vector<std::string> http_endpoints;  // "host:port" for the pull; Welcome may add more
  std::string token;                        // bearer token, a "node:<id>" token with scope node
  WatcherTls tls;                           // default: plaintext
  std::string api_version = "omnirelay.config/v1";
  // Announced in Hello; default: the host's capabilities().features (which
  // default to LocalCapabilities()). A node without "rolloutInfo" here is
  // never sent metadata.rollout.
  std::vector<std::string> features;
  // This process's id in Hello; "" (the default): a random one per Watcher.
  std::string instance_id;
  std::int64_t backoff_initial_ms = 250;
  std::int64_t backoff_max_ms = 15'000;
  std::int64_t poll_interval_ms = 5'000;         // pull period while no stream is up
  std::int64_t staleness_threshold_ms = 60'000;  // reconcile when staler (Welcome may lower)
  std::int64_t status_interval_ms = 15'000;      // NodeStatus period on the stream
  // Key rotation: how often the host's key sets are refreshed over the pull's
  // endpoints (ConfigHost::RefreshKeySets; also at once on an unknown key).
  // 0: only on an unknown key. Hosts without key sets ignore it.
  std::int64_t key_set_poll_interval_ms = 300'000;
  std::int64_t rpc_timeout_ms = 5'000;      // Fetch, and each pull request
  std::int64_t connect_timeout_ms = 3'000;  // a stream without Welcome by then fails (x2^n)
  // Fail-back: while the stream is up to another endpoint than the first
  // listed (the preferred one, e.g. the replica in the node's own cell), the
  // first is probed (a gRPC connection, nothing more) about this often,
  // jittered to 0.5-1.5x so a fleet does not move back at once; when it
  // answers, the stream moves back to it. 0: stay where the stream is.
  std::int64_t failback_interval_ms = 30'000;
  std::uint64_t jitter_seed = 0;             // 0: from std::random_device
  int max_receive_message_bytes = 64 << 20;  // the node channel's receive limit
  // Extra health/SLO figures for NodeStatus (e.g. "error_rate"); called on the worker.
  std::function<std::map<std::string, double>()> health_figures;
  // One line per state change worth an operator's attention, called on the
  // worker: stream up (endpoint), stream lost, a version applied (and how), a
  // snapshot refused (reason). Retries while down are not repeated. Null: silent.
  std::function<void(const std::string&)> log;
};

struct WatcherStats {
  bool stream_connected = false;
  std::string grpc_endpoint;                 // the one in use or last tried
  std::vector<std::string> endpoints_tried;  // the last 64 stream attempts, in order
  std::uint64_t streams_welcomed = 0;
  std::uint64_t streams_failed = 0;
  std::uint64_t pulls_applied = 0;
  std::uint64_t pulls_not_modified = 0;
  std::uint64_t pulls_failed = 0;
  std::uint64_t fetch_failures = 0;  // Fetch(hash) for a Notify without envelope
  std::string last_fetch_error;
  std::uint64_t acks = 0;
  std::uint64_t nacks = 0;
  // SloReports (one per version and window) in NodeStatus writes that succeeded.
  std::uint64_t slo_reports_sent = 0;
  std::vector<std::int64_t> backoff_delays_ms;  // the last 64 reconnect delays drawn
  std::string last_stream_error;  // the server's last Error ("code: message"); cleared by a Welcome
  // Why the control plane sends this node nothing now, though its stream is
  // up (a Problem, e.g. render_failed); cleared by the next applied Notify.
  std::string problem_code, problem_message, problem_path;
  std::uint64_t problems = 0;
  std::string last_stream_end;  // why the last stream ended (gRPC status)
  std::uint64_t failbacks = 0;  // streams moved back to the preferred (first) endpoint
  std::string last_pull_error;
  std::string instance_id;  // the one this watcher says hello with
  // Another instance of the node id took over: no more streams or pulls.
  bool superseded = false;
};

class Watcher {
 public:
  // `waiter` null: a system waiter.
  Watcher(WatcherOptions options, ConfigHost& host, const Clock& clock, MetricsRegistry& metrics,
          std::unique_ptr<Waiter> waiter = nullptr);
  ~Watcher();  // Stop()s
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // kInvalidArgument for options it cannot work with (no node id, no endpoint).
  Status Start();
  // Cancels the stream and any wait, joins the threads; idempotent. An HTTP
  // pull in flight finishes first (bounded by rpc_timeout_ms).
  void Stop();

  WatcherStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace omnirelay::relay

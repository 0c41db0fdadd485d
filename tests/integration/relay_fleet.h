// Relay integration test plumbing: the real control-plane daemon in-process
// (a temp data dir that survives restarts, optionally fixed ports), and a
// fleet of relays (ConfigHost + Watcher each, own LKG file, node token)
// sharing one metrics registry.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "eventually.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/key_set.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/daemon.h"
#include "omnirelay/relay/config_host.h"
#include "omnirelay/relay/watcher.h"

namespace omnirelay::relay::testing {

using Json = nlohmann::json;

inline constexpr char kChain[] = "global,region:us-east";

using test_support::Eventually;

// samples/layers/00-global.json.
Json SampleGlobalLayer();

// The daemon on a temp data dir (removed by the destructor).
class ControlPlane {
 public:
  ControlPlane();
  ~ControlPlane();

  // Changes the options of every later Start (e.g. a shared store, a
  // provisioned signing key: a replica of a cell).
  void Configure(std::function<void(cp::DaemonOptions&)> configure) {
    configure_ = std::move(configure);
  }
  // grpc_port / http_port 0: any free port. The admin token is read from the
  // data dir's admin.token when there is one (a cell's later replicas have
  // none: UseAdminToken gives them the first one's).
  void Start(int grpc_port = 0, int http_port = 0);
  void UseAdminToken(std::string token) { admin_token_ = std::move(token); }
  void Stop();
  bool running() const { return daemon_ != nullptr; }

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  std::string grpc_endpoint() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  std::string http_endpoint() const { return "127.0.0.1:" + std::to_string(http_port_); }
  const std::string& data_dir() const { return dir_; }
  std::string trusted_keys_path() const { return dir_ + "/trusted-keys.json"; }
  TrustedKeySet TrustedKeys() const;
  const std::string& admin_token() const { return admin_token_; }

  // PUT /v1/layers/{scope} (the global sample with `edit` applied) → revision.
  std::int64_t PutLayer(const std::string& scope, const std::function<void(Json&)>& edit = {});
  // A "node:<id>" token with scope node.
  // The node's token (node:<id>), issued on first use: a name names one live
  // token, so a node's later relays share it.
  std::string NodeToken(const std::string& node_id);
  // GET /v1/nodes/{id} (null when not 200).
  Json Node(const std::string& node_id);
  // The value of `series` (name and labels as rendered, e.g.
  // `omnirelay_cp_node_hellos_total`) in the daemon's /metrics; -1 when absent.
  double Metric(const std::string& series);
  // GET /v1/nodes/{id}/snapshot as admin: the envelope.
  std::string SnapshotEnvelope(const std::string& node_id, const std::string& chain = kChain);

 private:
  std::string dir_;
  std::function<void(cp::DaemonOptions&)> configure_;
  std::unique_ptr<cp::Daemon> daemon_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::string admin_token_;
  std::map<std::string, std::string> node_tokens_;  // node id -> secret
};

struct RelayConfig {
  std::vector<std::string> grpc_endpoints;
  std::vector<std::string> http_endpoints;
  std::int64_t poll_interval_ms = 300;
  std::int64_t staleness_threshold_ms = 60'000;
  std::int64_t failback_interval_ms = 30'000;  // WatcherOptions::failback_interval_ms
  const Clock* clock = nullptr;                // default SystemClock
  WatcherTls tls;                              // default: plaintext
  std::string scope_chain = kChain;            // the relay's scope chain, comma-separated
  // What the relay supports and advertises (verifier capabilities and the
  // hello's features); empty: this build's (LocalCapabilities()). E.g.
  // {"shadowing"} makes a relay of a build older than rolloutInfo.
  std::vector<std::string> features;
  // Key rotation: the key set the relay starts from (then `keys` is unused),
  // and WatcherOptions::key_set_poll_interval_ms.
  std::optional<SignedKeySet> key_set;
  std::int64_t key_set_poll_interval_ms = 300'000;
};

// One relay: host + watcher, LKG at <dir>/<id>.lkg.
class Relay {
 public:
  Relay(std::string id, std::string token, const std::string& lkg_dir, TrustedKeySet keys,
        MetricsRegistry& metrics, const RelayConfig& config);
  ~Relay();
  // Restarts the process' view: a new host (LoadLastKnownGood) and watcher.
  void Restart();
  void StartWatcher();
  void StopWatcher();

  const std::string& id() const { return id_; }
  ConfigHost& host() { return *host_; }
  Watcher* watcher() { return watcher_.get(); }
  std::int64_t version() const { return host_->health().config_version; }
  Status lkg_load_status() const { return lkg_status_; }

 private:
  void Build();
  std::string id_, token_, lkg_path_;
  TrustedKeySet keys_;
  MetricsRegistry& metrics_;
  RelayConfig config_;
  std::unique_ptr<ConfigHost> host_;
  std::unique_ptr<Watcher> watcher_;
  Status lkg_status_;
};

// `n` relays "relay-<i>" with tokens from `cp`, started.
std::vector<std::unique_ptr<Relay>> StartFleet(ControlPlane& cp, int n, const RelayConfig& config,
                                               MetricsRegistry& metrics,
                                               const std::string& lkg_dir);

// Every relay reached `version` (polling up to 20 s).
bool AllAt(const std::vector<std::unique_ptr<Relay>>& fleet, std::int64_t version);

// For a failure message: the relays whose watcher stats fail `ok`, each with
// what its watcher saw (endpoint, attempts, why the last stream ended).
std::string Unconnected(const std::vector<std::unique_ptr<Relay>>& fleet,
                        const std::function<bool(const WatcherStats&)>& ok);

}  // namespace omnirelay::relay::testing

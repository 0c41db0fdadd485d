// Rollouts driven through the real control plane against a fleet of real
// relays in this process (relay_fleet.h): the daemon in-process, 50 relays
// (ConfigHost + Watcher each, over the gRPC node feed) spread over two
// regions, and the REST calls a rollout operator makes. The driver ticks on
// real time, so the policies use short bake times and deadlines; every wait
// is an Eventually with room for a loaded CI machine.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "omnirelay/config/mutex.h"
#include "omnirelay/relay/config_listener.h"
#include "relay_fleet.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay::testing {

inline constexpr int kRolloutFleet = 50;
inline constexpr char kUsEast[] = "global,region:us-east";
inline constexpr char kEuWest[] = "global,region:eu-west";

// dispatcher.maxConcurrentRequests values with a meaning to the relays' check
// (RelayCheck): above kRelayMaxRequests a relay refuses the snapshot (its
// build cannot serve that many), kStallRequests makes it stop applying.
inline constexpr int kRelayMaxRequests = 100'000;
inline constexpr int kStallRequests = 4'321;

// A relay-side check, as a real component would add one: refuses a snapshot
// asking for more concurrent requests than the relay can serve (the apply is
// NACKed), and holds the apply of a kStallRequests snapshot until Release()
// — a relay that has stopped applying, its stream still open.
class RelayCheck final : public IConfigListener {
 public:
  std::string_view name() const override { return "relay-check"; }
  Result<std::shared_ptr<const void>> Prepare(const AppliedSnapshot& candidate) override;
  void Commit(const AppliedSnapshot&) override {}
  void Abort(const AppliedSnapshot&) override {}
  // Lets every held apply (and those to come) go on.
  void Release();
  int stalled() const { return stalled_.load(); }
  // Whether a snapshot with `max_requests` reached this relay.
  bool Saw(std::int64_t max_requests);

 private:
  Mutex mu_;
  CondVar cv_;
  bool released_ GUARDED_BY(mu_) = false;
  std::set<std::int64_t> seen_ GUARDED_BY(mu_);  // maxConcurrentRequests prepared
  std::atomic<int> stalled_{0};                  // applies held now
};

// Requests on every relay, recorded through ConfigHost::RecordOutcome with
// the version each relay runs: those served by `failing_version` fail, the
// rest succeed. Stops (and joins) on destruction; declare it after the fleet.
class Traffic {
 public:
  Traffic(const std::vector<std::unique_ptr<Relay>>& fleet, std::int64_t failing_version);
  ~Traffic();
  Traffic(const Traffic&) = delete;
  Traffic& operator=(const Traffic&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A policy whose gates pass as soon as the wave ACKed and baked `bake_ms`: a
// 10% canary, no SLO verdict (no request minimum), nothing excluded as
// offline, two minutes to ACK.
Json QuickPolicy(std::int64_t bake_ms);

struct Reply {
  int status = 0;  // 0: no answer
  Json body;
};

class RolloutFleetTest : public ::testing::Test {
 protected:
  // The daemon, the global layer at v1_ and the fleet on it: relay-<i> is in
  // us-east for even i, eu-west for odd i; each has a RelayCheck.
  void SetUp() override;
  void TearDown() override;
  // The features relay `i` supports and advertises (RelayConfig::features);
  // empty, the default: this build's.
  virtual std::vector<std::string> FeaturesOf(int /*i*/) const { return {}; }
  // How many relays, and relay `i`'s scope chain (default: kRolloutFleet,
  // alternating kUsEast / kEuWest).
  virtual int FleetSize() const { return kRolloutFleet; }
  virtual std::string ChainOf(int i) const { return i % 2 == 0 ? kUsEast : kEuWest; }
  // The daemon's options before it starts (default: as they are).
  virtual void ConfigureDaemon(cp::DaemonOptions& /*options*/) const {}

  // One REST call as admin; the body parsed (null when not JSON).
  Reply Call(const std::string& method, const std::string& path, const std::string& body = "");
  // The global layer with `max_requests` concurrent requests.
  Json GlobalLayer(int max_requests) const;
  // POST /v1/rollouts of GlobalLayer(max_requests) under `policy`.
  Reply PostRollout(int max_requests, const Json& policy);
  // The same, expected to start (201): the rollout.
  Json StartRollout(int max_requests, const Json& policy);
  Json Rollout(const std::string& id);
  // Polls the rollout until `state`; the last answer either way.
  Json AwaitState(const std::string& id, const std::string& state,
                  std::chrono::seconds timeout = std::chrono::seconds(60));
  // Polls `started` (the rollout as started) until it succeeded, checking at
  // each poll that no relay runs its version before its wave was reached.
  // The rollout as it ended (or last seen).
  Json AwaitSucceededWaveByWave(const Json& started,
                                std::chrono::seconds timeout = std::chrono::seconds(90));
  // POST /v1/rollouts/{id}:{action}.
  Reply Act(const std::string& id, const std::string& action);
  // PUT /v1/layers/global (a plain write).
  Reply PutGlobal(int max_requests);
  Reply SetFreeze(bool frozen, const std::string& reason = "");
  // The audit entries of `action`, oldest first.
  Json Audit(const std::string& action);
  // The driver promoted wave 0 and wave 1 once each, in order, and the
  // rollout succeeded once (a three-wave rollout that ended).
  void ExpectEachWavePromotedOnce();

  // Every relay runs `version` with `max_requests`, and the daemon shows it
  // applied (the ACK, or the hello after a restart, reached it).
  bool AllOn(std::int64_t version, int max_requests,
             std::chrono::seconds timeout = std::chrono::seconds(60));
  // The global layer's document with its scope set to `scope`.
  Json LayerFor(const std::string& scope, int max_requests) const;
  // The relays named in `ids` (a wave's nodeIds).
  std::vector<Relay*> Relays(const Json& ids);
  // Every relay in `relays` ACKed `version` to the daemon.
  bool Acked(const std::vector<Relay*>& relays, std::int64_t version);

  ControlPlane cp_;
  MetricsRegistry metrics_;
  TempDir lkg_dir_;
  std::vector<std::unique_ptr<Relay>> fleet_;
  std::vector<std::shared_ptr<RelayCheck>> checks_;  // by fleet index
  std::int64_t v1_ = 0;
  int v1_max_requests_ = 0;  // the sample's
};

}  // namespace omnirelay::relay::testing

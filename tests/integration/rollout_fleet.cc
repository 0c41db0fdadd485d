#include "rollout_fleet.h"

#include <httplib.h>

#include <map>

namespace omnirelay::relay::testing {

Result<std::shared_ptr<const void>> RelayCheck::Prepare(const AppliedSnapshot& candidate) {
  const std::int64_t wanted =
      candidate.snapshot().spec.dispatcher.max_concurrent_requests.value_or(0);
  {
    MutexLock lock(mu_);
    seen_.insert(wanted);
  }
  if (wanted > kRelayMaxRequests) {
    return Status(StatusCode::kInvalidArgument, "maxConcurrentRequests " + std::to_string(wanted) +
                                                    " is over this relay's " +
                                                    std::to_string(kRelayMaxRequests));
  }
  if (wanted == kStallRequests) {
    MutexLock lock(mu_);
    ++stalled_;
    while (!released_) cv_.Wait(mu_);
    --stalled_;
  }
  return std::shared_ptr<const void>();
}

bool RelayCheck::Saw(std::int64_t max_requests) {
  MutexLock lock(mu_);
  return seen_.count(max_requests) != 0;
}

void RelayCheck::Release() {
  {
    MutexLock lock(mu_);
    released_ = true;
  }
  cv_.NotifyAll();
}

Traffic::Traffic(const std::vector<std::unique_ptr<Relay>>& fleet, std::int64_t failing_version) {
  thread_ = std::thread([this, &fleet, failing_version] {
    while (!stop_.load()) {
      for (const auto& r : fleet) {
        const std::int64_t v = r->version();
        if (v > 0) r->host().RecordOutcome(v, v == failing_version, 4.0);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the request rate
    }
  });
}

Traffic::~Traffic() {
  stop_ = true;
  thread_.join();
}

Json QuickPolicy(std::int64_t bake_ms) {
  return {{"canaryPercent", 10},      {"bakeMs", bake_ms},         {"minAckRatio", 1.0},
          {"ackDeadlineMs", 120'000}, {"offlineGraceMs", 120'000}, {"slo", {{"minRequests", 0}}}};
}

void RolloutFleetTest::SetUp() {
  cp_.Configure([this](cp::DaemonOptions& o) { ConfigureDaemon(o); });
  cp_.Start();
  v1_ = cp_.PutLayer("global");
  v1_max_requests_ = SampleGlobalLayer()["spec"]["dispatcher"]["maxConcurrentRequests"];
  const TrustedKeySet keys = cp_.TrustedKeys();
  RelayConfig config;
  config.grpc_endpoints = {cp_.grpc_endpoint()};
  config.http_endpoints = {cp_.http_endpoint()};
  for (int i = 0; i < FleetSize(); ++i) {
    const std::string id = "relay-" + std::to_string(i);
    config.scope_chain = ChainOf(i);
    config.features = FeaturesOf(i);
    fleet_.push_back(std::make_unique<Relay>(id, cp_.NodeToken(id), lkg_dir_.path().string(), keys,
                                             metrics_, config));
    checks_.push_back(std::make_shared<RelayCheck>());
    ASSERT_TRUE(fleet_.back()->host().AddListener(checks_.back()).ok());
    fleet_.back()->StartWatcher();
  }
  ASSERT_TRUE(AllOn(v1_, v1_max_requests_))
      << Unconnected(fleet_, [](const WatcherStats& s) { return s.stream_connected; });
}

void RolloutFleetTest::TearDown() {
  for (auto& check : checks_) check->Release();  // no watcher is left inside an apply
  fleet_.clear();
  cp_.Stop();
}

Reply RolloutFleetTest::Call(const std::string& method, const std::string& path,
                             const std::string& body) {
  httplib::Client client("127.0.0.1", cp_.http_port());
  client.set_read_timeout(30, 0);
  const httplib::Headers auth = {{"Authorization", "Bearer " + cp_.admin_token()}};
  httplib::Result res = method == "GET"   ? client.Get(path, auth)
                        : method == "PUT" ? client.Put(path, auth, body, "application/json")
                                          : client.Post(path, auth, body, "application/json");
  if (!res) return {};
  return {res->status, Json::parse(res->body, nullptr, false)};
}

Json RolloutFleetTest::GlobalLayer(int max_requests) const {
  Json doc = SampleGlobalLayer();
  doc["spec"]["dispatcher"]["maxConcurrentRequests"] = max_requests;
  return doc;
}

Reply RolloutFleetTest::PostRollout(int max_requests, const Json& policy) {
  const Json body = {{"layers", Json::array({GlobalLayer(max_requests)})},
                     {"policy", policy},
                     {"reason", "dispatcher limit " + std::to_string(max_requests)}};
  return Call("POST", "/v1/rollouts", body.dump());
}

Json RolloutFleetTest::StartRollout(int max_requests, const Json& policy) {
  const Reply r = PostRollout(max_requests, policy);
  EXPECT_EQ(r.status, 201) << r.body.dump();
  return r.status == 201 ? r.body : Json();
}

Json RolloutFleetTest::Rollout(const std::string& id) {
  const Reply r = Call("GET", "/v1/rollouts/" + id);
  EXPECT_EQ(r.status, 200) << r.body.dump();
  return r.body;
}

Json RolloutFleetTest::AwaitState(const std::string& id, const std::string& state,
                                  std::chrono::seconds timeout) {
  Json last;
  const bool reached = Eventually(
      [&] {
        last = Rollout(id);
        return last.is_object() && last.value("state", "") == state;
      },
      timeout, std::chrono::milliseconds(100));
  EXPECT_TRUE(reached) << "rollout " << id << " never reached " << state << ": " << last.dump();
  return last;
}

Json RolloutFleetTest::AwaitSucceededWaveByWave(const Json& started, std::chrono::seconds timeout) {
  const std::string id = started.value("id", "");
  const std::int64_t version = started.value("version", std::int64_t{0});
  std::map<std::string, std::size_t> wave_of;
  for (std::size_t w = 0; w < started["waves"].size(); ++w) {
    for (const auto& node : started["waves"][w]["nodeIds"]) wave_of[node] = w;
  }
  Json last;
  const bool done = Eventually(
      [&] {
        // The relays first, the wave after: a relay on the new version was
        // assigned it before the read, and the wave only grows.
        std::vector<std::string> on_new;
        for (const auto& r : fleet_) {
          if (r->version() == version) on_new.push_back(r->id());
        }
        last = Rollout(id);
        const std::size_t wave = last.value("currentWave", std::size_t{0});
        for (const std::string& relay : on_new) {
          EXPECT_LE(wave_of[relay], wave) << relay << " got v" << version << " before its wave";
        }
        return last.value("state", "") == "succeeded";
      },
      timeout, std::chrono::milliseconds(100));
  EXPECT_TRUE(done) << "rollout " << id << " did not succeed: " << last.dump();
  return last;
}

Reply RolloutFleetTest::Act(const std::string& id, const std::string& action) {
  return Call("POST", "/v1/rollouts/" + id + ":" + action, "{}");
}

Json RolloutFleetTest::LayerFor(const std::string& scope, int max_requests) const {
  Json doc = GlobalLayer(max_requests);
  doc["metadata"]["scope"] = scope;
  return doc;
}

Reply RolloutFleetTest::PutGlobal(int max_requests) {
  return Call("PUT", "/v1/layers/global", GlobalLayer(max_requests).dump());
}

Reply RolloutFleetTest::SetFreeze(bool frozen, const std::string& reason) {
  Json body = {{"frozen", frozen}};
  if (!reason.empty()) body["reason"] = reason;
  return Call("PUT", "/v1/freeze", body.dump());
}

Json RolloutFleetTest::Audit(const std::string& action) {
  const Reply r = Call("GET", "/v1/audit?action=" + action);
  EXPECT_EQ(r.status, 200) << r.body.dump();
  return r.status == 200 ? r.body["entries"] : Json::array();
}

bool RolloutFleetTest::AllOn(std::int64_t version, int max_requests, std::chrono::seconds timeout) {
  std::string why;
  const bool ok = Eventually(
      [&] {
        for (const auto& r : fleet_) {
          const auto& current = r->host().Current();
          if (r->version() != version || current == nullptr ||
              current->snapshot().spec.dispatcher.max_concurrent_requests != max_requests) {
            why = r->id() + " runs v" + std::to_string(r->version()) + "; last error " +
                  r->host().health().last_error.ToString();
            return false;
          }
        }
        for (const auto& r : fleet_) {
          const Json node = cp_.Node(r->id());
          if (!node.is_object() || node.value("appliedVersion", std::int64_t{0}) != version) {
            why = "the daemon shows " + r->id() + " as " + node.dump();
            return false;
          }
        }
        return true;
      },
      timeout, std::chrono::milliseconds(50));
  if (!ok) {
    ADD_FAILURE() << "not every relay on v" << version << " with maxConcurrentRequests "
                  << max_requests << ": " << why;
  }
  return ok;
}

std::vector<Relay*> RolloutFleetTest::Relays(const Json& ids) {
  std::vector<Relay*> out;
  for (const auto& id : ids) {
    for (const auto& r : fleet_) {
      if (r->id() == id.get<std::string>()) out.push_back(r.get());
    }
  }
  EXPECT_EQ(out.size(), ids.size()) << ids.dump();
  return out;
}

bool RolloutFleetTest::Acked(const std::vector<Relay*>& relays, std::int64_t version) {
  return Eventually(
      [&] {
        for (Relay* r : relays) {
          if (r->version() != version) return false;
          const Json node = cp_.Node(r->id());
          if (!node.is_object() || node.value("appliedVersion", std::int64_t{0}) != version) {
            return false;
          }
        }
        return true;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(50));
}

void RolloutFleetTest::ExpectEachWavePromotedOnce() {
  const Json promotes = Audit("rollout.promote");
  ASSERT_EQ(promotes.size(), 2u) << promotes.dump();
  EXPECT_NE(promotes[0]["summary"].get<std::string>().find("wave 0 passed"), std::string::npos)
      << promotes.dump();
  EXPECT_NE(promotes[1]["summary"].get<std::string>().find("wave 1 passed"), std::string::npos)
      << promotes.dump();
  EXPECT_EQ(Audit("rollout.succeeded").size(), 1u);
}

}  // namespace omnirelay::relay::testing

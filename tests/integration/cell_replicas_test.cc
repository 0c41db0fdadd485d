// A cell of three control-plane replicas (real `controlplane` processes) on
// one Postgres database and one shared bus — Kafka (the `kafka` fixture's
// broker) or Redis (a redis-server of the test's own) — with in-process
// relays spread over them, each listing its own replica first. The replicas
// share the cell's signing key (provisioned: B and C get A's key files before
// their first start) and the store's tokens.
#include <gtest/gtest.h>
#include <httplib.h>
#include <stdio.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "daemon_process.h"
#include "redis_server.h"
#include "relay_fleet.h"
#include "run_script.h"
#include "snapshot_fixtures.h"
#include "unit/postgres_test_server.h"

namespace omnirelay::relay::testing {
namespace {

using cp::testing::DaemonProcess;
using cp::testing::RedisServer;
using testing_support::RunScript;

constexpr int kRelaysPerReplica = 4;

std::string Random() {
  std::random_device rd;
  return std::to_string(rd()) + std::to_string(rd());
}

std::string HttpOf(const DaemonProcess& d) {
  return "127.0.0.1:" + std::to_string(d.http_port());
}

class CellTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    pg_state_ = dir_.path().string() + "/pg";
    const std::string server =
        RunScript(std::string(OMNI_PG_SERVER_SCRIPT) + " start " + pg_state_);
    ASSERT_FALSE(server.empty());
    args_.push_back("--store=" + cp::pg_test::EnsureDatabase(server, "cell"));
    if (GetParam() == "kafka") {
      std::ifstream in(std::string(OMNI_KAFKA_TEST_STATE) + "/brokers");
      std::string brokers;
      std::getline(in, brokers);
      ASSERT_FALSE(brokers.empty()) << "is the ctest fixture `kafka` running?";
      args_.push_back("--bus=kafka://" + brokers + "/cell-" + Random());
      args_.push_back("--bus-opt=api.version.request=false");
      args_.push_back("--bus-opt=broker.version.fallback=0.9.0.1");
    } else {
      redis_ = std::make_unique<RedisServer>();
      args_.push_back("--bus=redis://127.0.0.1:" + std::to_string(redis_->port()) + "/cell-" +
                      Random());
    }
    for (const char* name : {"a", "b", "c"}) {
      replicas_.push_back(std::make_unique<DaemonProcess>(dir_.path().string() + "/" + name));
    }
    ASSERT_TRUE(A().StartWithArgs(args_, false));
    admin_ = A().admin_token();
    for (int i : {1, 2}) {
      for (const char* file : {"/signing-key.pem", "/trusted-keys.json"}) {
        std::filesystem::copy_file(A().data_dir() + file, replicas_[i]->data_dir() + file);
      }
      replicas_[i]->set_admin_token(admin_);
      ASSERT_TRUE(replicas_[i]->StartWithArgs(args_, false)) << "replica " << i;
    }
  }

  void TearDown() override {
    fleet_.clear();
    replicas_.clear();
    if (!pg_state_.empty()) RunScript(std::string(OMNI_PG_SERVER_SCRIPT) + " destroy " + pg_state_);
  }

  DaemonProcess& A() { return *replicas_[0]; }

  // PUT /v1/layers/global on `d` (the global sample, maxConcurrentRequests
  // = n); the revision, or 0 when it was not acknowledged.
  std::int64_t Put(DaemonProcess& d, int n) {
    Json doc = SampleGlobalLayer();
    doc["spec"]["dispatcher"]["maxConcurrentRequests"] = n;
    httplib::Client client("127.0.0.1", d.http_port());
    client.set_connection_timeout(1);
    client.set_read_timeout(5);
    auto res = client.Put("/v1/layers/global", {{"Authorization", "Bearer " + admin_}}, doc.dump(),
                          "application/json");
    if (!res || res->status != 200) return 0;
    return Json::parse(res->body).value("revision", std::int64_t{0});
  }

  // Relays "r<replica>-<i>", each listing its own replica first.
  void StartRelays() {
    auto keys = TrustedKeySet::Load(A().data_dir() + "/trusted-keys.json");
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    for (std::size_t k = 0; k < replicas_.size(); ++k) {
      RelayConfig config;
      config.failback_interval_ms = 500;
      for (std::size_t j = 0; j < replicas_.size(); ++j) {
        const DaemonProcess& d = *replicas_[(k + j) % replicas_.size()];
        config.grpc_endpoints.push_back(d.grpc_address());
      }
      config.http_endpoints = {HttpOf(*replicas_[k])};
      for (int i = 0; i < kRelaysPerReplica; ++i) {
        const std::string id = "r" + std::to_string(k) + "-" + std::to_string(i);
        fleet_.push_back(std::make_unique<Relay>(id, NodeToken(id), lkg_dir_.path().string(), *keys,
                                                 metrics_, config));
        fleet_.back()->StartWatcher();
      }
    }
  }

  std::string NodeToken(const std::string& id) {
    httplib::Client client("127.0.0.1", A().http_port());
    Json request = {{"name", "node:" + id}, {"scopes", {"node"}}};
    auto res = client.Post("/v1/tokens", {{"Authorization", "Bearer " + admin_}}, request.dump(),
                           "application/json");
    EXPECT_TRUE(res && res->status == 201) << (res ? res->body : "no answer");
    return res && res->status == 201 ? Json::parse(res->body).value("token", "") : "";
  }

  // Every revision of global, from replica `d`'s history (page by page).
  std::vector<std::int64_t> History(DaemonProcess& d) {
    std::vector<std::int64_t> out;
    httplib::Client client("127.0.0.1", d.http_port());
    std::string before;
    while (true) {
      auto res = client.Get("/v1/layers/global/history?limit=100" + before,
                            {{"Authorization", "Bearer " + admin_}});
      EXPECT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
      if (!res || res->status != 200) break;
      const Json page = Json::parse(res->body);
      for (const auto& r : page["revisions"]) out.push_back(r["revision"]);
      if (!page.contains("nextBefore")) break;
      before = "&before=" + std::to_string(page["nextBefore"].get<std::int64_t>());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // History(d), expecting it gap-free and holding every `acknowledged` revision.
  std::vector<std::int64_t> StoredGapFree(DaemonProcess& d,
                                          const std::vector<std::int64_t>& acknowledged) {
    const std::vector<std::int64_t> history = History(d);
    for (std::size_t i = 1; i < history.size(); ++i) {
      EXPECT_EQ(history[i], history[i - 1] + 1) << "gap after revision " << history[i - 1];
    }
    const std::set<std::int64_t> stored(history.begin(), history.end());
    for (std::int64_t v : acknowledged) EXPECT_EQ(stored.count(v), 1u) << "revision " << v;
    return history;
  }

  bool AllStreamingFromTheirOwn() {
    for (std::size_t k = 0; k < replicas_.size(); ++k) {
      for (int i = 0; i < kRelaysPerReplica; ++i) {
        const WatcherStats s = fleet_[k * kRelaysPerReplica + i]->watcher()->stats();
        if (!s.stream_connected || s.grpc_endpoint != replicas_[k]->grpc_address()) return false;
      }
    }
    return true;
  }

  TempDir dir_, lkg_dir_;
  std::string pg_state_;  // the test's own Postgres server (scripts/pg-server.sh)
  std::unique_ptr<RedisServer> redis_;
  std::vector<std::string> args_;
  std::vector<std::unique_ptr<DaemonProcess>> replicas_;
  std::string admin_;
  MetricsRegistry metrics_;
  std::vector<std::unique_ptr<Relay>> fleet_;
};

// A write on any replica reaches the relays on every replica, over the bus.
TEST_P(CellTest, AWriteOnAnyReplicaReachesRelaysOnAll) {
  StartRelays();
  for (std::size_t k = 0; k < replicas_.size(); ++k) {
    const std::int64_t v = Put(*replicas_[k], 1000 + static_cast<int>(k));
    ASSERT_GT(v, 0) << "write on replica " << k;
    ASSERT_TRUE(AllAt(fleet_, v)) << "after the write on replica " << k;
  }
  EXPECT_TRUE(AllStreamingFromTheirOwn());
}

// kill -9 of replica A while writes stream in: every acknowledged write is
// in the store (revisions gap-free), A's relays converge through B and C,
// and move back to A when it returns.
TEST_P(CellTest, KillNineOfAReplicaLosesNoAcknowledgedWrite) {
  StartRelays();
  ASSERT_TRUE(AllAt(fleet_, Put(A(), 999)));
  std::atomic<bool> stop{false};
  std::atomic<bool> a_dead{false};
  std::vector<std::int64_t> acknowledged;
  std::thread writer([&] {
    for (int n = 1; !stop.load(); ++n) {
      // To A while it lives, then to B, as a client that fails over would.
      const std::int64_t v = Put(a_dead.load() ? *replicas_[1] : A(), 2000 + n);
      if (v > 0) acknowledged.push_back(v);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  A().Kill9();
  a_dead.store(true);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stop.store(true);
  writer.join();
  ASSERT_GE(acknowledged.size(), 3u);

  // Nothing acknowledged is missing, and the revisions have no gap.
  const std::vector<std::int64_t> history = StoredGapFree(*replicas_[2], acknowledged);
  ASSERT_FALSE(history.empty());

  // A's relays fail over to B or C and converge on a write there.
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t after = Put(*replicas_[2], 3000);
  ASSERT_GT(after, 0);
  ASSERT_TRUE(AllAt(fleet_, after));
  const auto converged = std::chrono::steady_clock::now() - t0;

  // A comes back at the same address: its relays move back to it.
  ASSERT_TRUE(A().RestartOnSamePorts(args_));
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_TRUE(Eventually([&] { return AllStreamingFromTheirOwn(); }, std::chrono::seconds(30)))
      << Unconnected(fleet_, [](const WatcherStats& s) { return s.stream_connected; });
  const auto failed_back = std::chrono::steady_clock::now() - t1;
  using Ms = std::chrono::milliseconds;
  std::printf(
      "cell(%s): %zu writes acknowledged around the kill, %zu revisions stored gap-free; a write "
      "after it reached all %zu relays in %lld ms; A's relays back on A %lld ms after its "
      "restart\n",
      GetParam().c_str(), acknowledged.size(), history.size(), fleet_.size(),
      static_cast<long long>(std::chrono::duration_cast<Ms>(converged).count()),
      static_cast<long long>(std::chrono::duration_cast<Ms>(failed_back).count()));
  for (int i = 0; i < kRelaysPerReplica; ++i) {
    EXPECT_GE(fleet_[i]->watcher()->stats().failbacks, 1u) << fleet_[i]->id();
  }
  const std::int64_t last = Put(*replicas_[1], 3001);
  ASSERT_GT(last, 0);
  EXPECT_TRUE(AllAt(fleet_, last));
}

// Postgres restarted while writes stream in on two replicas: writes fail
// (unavailable) while it is down and resume by themselves once it is back;
// every acknowledged write is stored, revisions gap-free, and the relays
// converge on the next write.
TEST_P(CellTest, PostgresRestartedUnderLoadLosesNothing) {
  StartRelays();
  ASSERT_TRUE(AllAt(fleet_, Put(A(), 999)));
  std::atomic<bool> stop{false};
  std::atomic<int> refused{0};
  std::vector<std::int64_t> acknowledged;
  std::thread writer([&] {
    for (int n = 1; !stop.load(); ++n) {
      const std::int64_t v = Put(*replicas_[n % 2], 4000 + n);
      if (v > 0) {
        acknowledged.push_back(v);
      } else {
        refused.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const std::size_t before_outage = acknowledged.size();
  RunScript(std::string(OMNI_PG_SERVER_SCRIPT) + " stop " + pg_state_);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  RunScript(std::string(OMNI_PG_SERVER_SCRIPT) + " start " + pg_state_);
  const auto back = std::chrono::steady_clock::now();
  // Writes resume by themselves (the daemons reconnect within their backoff).
  EXPECT_TRUE(Eventually([&] { return Put(*replicas_[2], 5000) > 0; }, std::chrono::seconds(20)));
  const auto resumed = std::chrono::steady_clock::now() - back;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop.store(true);
  writer.join();
  EXPECT_GT(before_outage, 0u);
  EXPECT_GT(refused.load(), 0) << "the outage refused no write: was the server stopped?";

  const std::vector<std::int64_t> history = StoredGapFree(*replicas_[2], acknowledged);
  ASSERT_FALSE(history.empty());
  // A's pooled connections broke with the server: a request that finds
  // one broken is refused once (unavailable) and the next reconnects.
  std::int64_t last = 0;
  EXPECT_TRUE(Eventually([&] { return (last = Put(A(), 6000)) > 0; }, std::chrono::seconds(10)));
  EXPECT_TRUE(AllAt(fleet_, last));
  std::printf(
      "cell(%s): Postgres restart: %zu writes acknowledged, %d refused while it was down, "
      "writes again %lld ms after it was back\n",
      GetParam().c_str(), acknowledged.size(), refused.load(),
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(resumed).count()));
}

// A rollout started on A is seen by every replica (each reads the store's
// rollouts every tick); A holds the driver lease. kill -9 of A mid-rollout:
// after the lease's time-to-live another replica takes the lease and
// finishes the rollout, and every relay ends on its version.
TEST_P(CellTest, ARolloutOutlivesTheReplicaThatDroveIt) {
  StartRelays();  // reading metadata.rollout (this build's features)
  ASSERT_TRUE(AllAt(fleet_, Put(A(), 999)));
  Json changed = SampleGlobalLayer();
  changed["spec"]["dispatcher"]["maxConcurrentRequests"] = 1234;
  const Json policy = {{"canaryPercent", 25},
                       {"bakeMs", 3000},
                       {"minAckRatio", 1.0},
                       {"ackDeadlineMs", 60000},
                       {"slo", {{"minRequests", 0}}}};
  const Json body = {{"layers", Json::array({changed})}, {"policy", policy}, {"reason", "cell"}};
  httplib::Client a("127.0.0.1", A().http_port());
  const httplib::Headers auth = {{"Authorization", "Bearer " + admin_}};
  auto started = a.Post("/v1/rollouts", auth, body.dump(), "application/json");
  ASSERT_TRUE(started && started->status == 201) << (started ? started->body : "no answer");
  const Json rollout = Json::parse(started->body);
  const std::string id = rollout["id"];
  const std::int64_t version = rollout["version"];
  auto state_on = [&](DaemonProcess& d) {
    httplib::Client c("127.0.0.1", d.http_port());
    auto res = c.Get("/v1/rollouts/" + id, auth);
    return res && res->status == 200 ? Json::parse(res->body) : Json();
  };
  // B and C know the rollout (from the store) while A drives its canary.
  ASSERT_TRUE(Eventually([&] { return !state_on(*replicas_[1]).is_null(); }));
  ASSERT_TRUE(Eventually([&] { return !state_on(*replicas_[2]).is_null(); }));
  A().Kill9();
  const auto killed = std::chrono::steady_clock::now();
  Json last;
  const bool done = Eventually(
      [&] {
        last = state_on(*replicas_[1]);
        return last.value("state", "") == "succeeded";
      },
      std::chrono::seconds(90));
  ASSERT_TRUE(done) << last.dump();
  const auto finished = std::chrono::steady_clock::now() - killed;
  // C follows the store within a tick.
  EXPECT_TRUE(
      Eventually([&] { return state_on(*replicas_[2]).value("state", "") == "succeeded"; }));
  EXPECT_TRUE(AllAt(fleet_, version));
  std::printf("cell(%s): rollout %s finished by another replica %lld ms after its driver died\n",
              GetParam().c_str(), id.c_str(),
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(finished).count()));
}

INSTANTIATE_TEST_SUITE_P(Buses, CellTest, ::testing::Values("kafka", "redis"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace omnirelay::relay::testing

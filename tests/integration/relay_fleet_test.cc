// librelay against the real control plane: the daemon in-process (SQLite in a
// temp dir, real keys, gRPC node feed and REST pull) and a fleet of relays
// (ConfigHost + Watcher) in this process, each with its own node token,
// connection and last-known-good file.
#include "relay_fleet.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "daemon_process.h"
#include "omnirelay/relay/router.h"
#include "relay_tcp_proxy.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay::testing {
namespace {

constexpr int kFleet = 50;

// Wall time moved by a settable offset: a node whose clock runs ahead.
class OffsetClock final : public Clock {
 public:
  std::int64_t NowUnixMs() const override {
    return SystemClock::Instance().NowUnixMs() + offset_ms.load();
  }
  std::int64_t MonotonicMs() const override { return SystemClock::Instance().MonotonicMs(); }
  std::atomic<std::int64_t> offset_ms{0};
};

// Serves one fixed envelope as /v1/nodes/{id}/snapshot (any node): a
// control plane that lies, or a replay from the network.
class FakePullServer {
 public:
  explicit FakePullServer(std::string envelope, std::string etag)
      : envelope_(std::move(envelope)), etag_(std::move(etag)) {
    server_.Get(R"(/v1/nodes/([^/]+)/snapshot)",
                [this](const httplib::Request&, httplib::Response& res) {
                  ++hits;
                  res.set_header("ETag", "\"" + etag_ + "\"");
                  res.set_content(envelope_, "application/json");
                });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    EXPECT_TRUE(Eventually([this] { return server_.is_running(); }));
  }
  ~FakePullServer() {
    server_.stop();
    thread_.join();
  }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  std::atomic<int> hits{0};

 private:
  std::string envelope_, etag_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

void SetMaxRequests(Json& spec, int n) {
  spec["dispatcher"]["maxConcurrentRequests"] = n;
}

class RelayFleetTest : public ::testing::Test {
 protected:
  void SetUp() override { cp_.Start(); }

  RelayConfig Direct() const {
    RelayConfig c;
    c.grpc_endpoints = {cp_.grpc_endpoint()};
    c.http_endpoints = {cp_.http_endpoint()};
    return c;
  }
  std::uint64_t Counter(const std::string& name, const std::string& labels) {
    return metrics_.counter(name, "", labels).value();
  }

  ControlPlane cp_;
  MetricsRegistry metrics_;
  TempDir lkg_dir_;
};

// A layer write reaches every relay over its stream (and each ACKs it: the
// daemon's node status shows the applied version).
TEST_F(RelayFleetTest, WriteReachesAllRelays) {
  const std::int64_t v1 = cp_.PutLayer("global");
  auto fleet = StartFleet(cp_, kFleet, Direct(), metrics_, lkg_dir_.path().string());
  ASSERT_TRUE(AllAt(fleet, v1));
  const std::int64_t v2 = cp_.PutLayer("global", [](Json& s) { SetMaxRequests(s, 2000); });
  ASSERT_TRUE(AllAt(fleet, v2));
  for (const auto& r : fleet) {
    EXPECT_TRUE(r->host().ready());
    EXPECT_EQ(r->host().Current()->snapshot().spec.dispatcher.max_concurrent_requests, 2000);
  }
  EXPECT_TRUE(Eventually([&] {
    for (const auto& r : fleet) {
      const Json node = cp_.Node(r->id());
      if (!node.is_object() || node.value("appliedVersion", 0) != v2) return false;
    }
    return true;
  })) << cp_.Node(fleet[0]->id()).dump();
  // The watcher counts an ACK just after sending it: wait for the count too.
  EXPECT_TRUE(Eventually([&] { return fleet[0]->watcher()->stats().acks >= 1; }));
  // NodeStatus reached the daemon: config version and health figures.
  Json node;
  EXPECT_TRUE(Eventually([&] {
    node = cp_.Node(fleet[0]->id());
    return node.is_object() && node["health"].is_object() &&
           node["health"].value("ready", 0.0) == 1.0;
  })) << node.dump();
}

// A snapshot too large to ride inline in the Notify (over 64 KiB) is
// fetched by hash and applied.
TEST_F(RelayFleetTest, LargeSnapshotIsFetchedByHash) {
  // The topology first: the control plane admits a node's stream only on a
  // chain it places (a fleet started before would fall back to pulling).
  const std::int64_t v0 = cp_.PutLayer("global");
  auto fleet = StartFleet(cp_, 5, Direct(), metrics_, lkg_dir_.path().string());
  ASSERT_TRUE(AllAt(fleet, v0));
  ASSERT_TRUE(Eventually([&] {
    for (const auto& r : fleet) {
      if (r->watcher()->stats().acks < 1) return false;
    }
    return true;
  }));
  std::vector<std::uint64_t> pulls_before;
  for (const auto& r : fleet) pulls_before.push_back(r->watcher()->stats().pulls_applied);
  const std::int64_t v1 = cp_.PutLayer("global", [](Json& spec) {
    for (int i = 0; i < 1500; ++i) {
      spec["clusters"]["bulk-" + std::to_string(i)] = {
          {"service", "bulk"}, {"region", "us-east"}, {"cell", "use1-a"}};
    }
  });
  ASSERT_GT(cp_.SnapshotEnvelope("relay-0").size(), 64u << 10);
  ASSERT_TRUE(AllAt(fleet, v1));
  // (Counted once Apply returned: after the host published.)
  EXPECT_TRUE(Eventually([&] {
    for (const auto& r : fleet) {
      if (r->watcher()->stats().acks < 2) return false;
    }
    return true;
  }));
  for (std::size_t i = 0; i < fleet.size(); ++i) {
    const auto& r = fleet[i];
    EXPECT_EQ(r->host().Current()->snapshot().spec.clusters.size(), 1506u);
    const WatcherStats s = r->watcher()->stats();
    EXPECT_EQ(s.pulls_applied, pulls_before[i])
        << r->id() << ": acks " << s.acks << ", fetch errors " << s.fetch_failures << " "
        << s.last_fetch_error;
  }
}

// With the stream up and nothing new, a relay whose snapshot was not
// confirmed for longer than the staleness threshold reconciles by pull (304).
TEST_F(RelayFleetTest, StaleRelayReconcilesByPull) {
  const std::int64_t v1 = cp_.PutLayer("global");
  RelayConfig config = Direct();
  config.staleness_threshold_ms = 300;
  config.poll_interval_ms = 100;
  auto fleet = StartFleet(cp_, 3, config, metrics_, lkg_dir_.path().string());
  ASSERT_TRUE(AllAt(fleet, v1));
  ASSERT_TRUE(Eventually([&] {
    for (const auto& r : fleet) {
      const WatcherStats s = r->watcher()->stats();
      if (!s.stream_connected || s.pulls_not_modified < 2) return false;
    }
    return true;
  }));
  for (const auto& r : fleet) EXPECT_LT(r->host().health().staleness_ms, 1'000);
}

// Every stream is cut (and reconnection refused) while the daemon runs: the
// relays fall back to the ETag pull and converge on the next write; when the
// streams can come back, they do.
TEST_F(RelayFleetTest, StreamLossFallsBackToPull) {
  const std::int64_t v1 = cp_.PutLayer("global");
  TcpProxy proxy(cp_.grpc_port());
  RelayConfig config = Direct();
  config.grpc_endpoints = {"127.0.0.1:" + std::to_string(proxy.port())};
  auto fleet = StartFleet(cp_, kFleet, config, metrics_, lkg_dir_.path().string());
  ASSERT_TRUE(AllAt(fleet, v1));
  // Every stream is up through the proxy. (At least kFleet connections: a
  // relay whose first attempt was slow under a sanitizer may leave one more
  // that its channel has not closed yet; blocking cuts them all.)
  int connected = 0;
  ASSERT_TRUE(Eventually(
      [&] {
        connected = 0;
        for (const auto& r : fleet) connected += r->watcher()->stats().stream_connected ? 1 : 0;
        return connected == kFleet && proxy.open_connections() >= kFleet;
      },
      std::chrono::seconds(60)))
      << connected << " of " << kFleet << " streams up, " << proxy.open_connections()
      << " proxied connections";

  proxy.SetBlocked(true);
  ASSERT_TRUE(Eventually([&] {
    for (const auto& r : fleet) {
      if (r->watcher()->stats().stream_connected) return false;
    }
    return true;
  }));
  const std::int64_t v2 = cp_.PutLayer("global", [](Json& s) { SetMaxRequests(s, 3000); });
  ASSERT_TRUE(AllAt(fleet, v2));
  // (The host publishes before Apply returns and the pull is counted.)
  EXPECT_TRUE(Eventually([&] {
    for (const auto& r : fleet) {
      if (r->watcher()->stats().pulls_applied < 1) return false;
    }
    return true;
  }));

  proxy.SetBlocked(false);
  // 50 relays reconnect with capped backoff; under a sanitizer on a loaded
  // 2-core machine that takes longer than the usual 20 s wait.
  int up = 0;
  EXPECT_TRUE(Eventually(
      [&] {
        up = 0;
        for (const auto& r : fleet) up += r->watcher()->stats().stream_connected ? 1 : 0;
        return up == kFleet;
      },
      std::chrono::seconds(60)))
      << up << " of " << kFleet << " streams back\n"
      << Unconnected(fleet, [](const WatcherStats& s) { return s.stream_connected; });
  const std::int64_t v3 = cp_.PutLayer("global", [](Json& s) { SetMaxRequests(s, 3001); });
  EXPECT_TRUE(AllAt(fleet, v3));
}

// The daemon stops: relays keep their snapshot, stay ready and keep routing.
// It comes back on the second gRPC endpoint of their list (same data dir):
// they reconnect there and converge on the next write.
TEST_F(RelayFleetTest, DaemonStopAndRestartOnFailoverEndpoint) {
  const int first = cp::testing::FreeLoopbackPort();
  const int second = cp::testing::FreeLoopbackPort();
  cp_.Stop();
  cp_.Start(first, 0);
  const std::int64_t v1 = cp_.PutLayer("global");
  RelayConfig config = Direct();
  config.grpc_endpoints = {"127.0.0.1:" + std::to_string(first),
                           "127.0.0.1:" + std::to_string(second)};
  auto fleet = StartFleet(cp_, kFleet, config, metrics_, lkg_dir_.path().string());
  ASSERT_TRUE(AllAt(fleet, v1));

  cp_.Stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // several failed attempts
  for (const auto& r : fleet) {
    EXPECT_TRUE(r->host().ready()) << r->id();
    EXPECT_EQ(r->version(), v1);
    auto table = RoutingTable::Build(r->host().Current()->snapshot().spec);
    EXPECT_TRUE(table->Route("billing", "user-1").ok());
  }
  EXPECT_GE(fleet[0]->watcher()->stats().streams_failed, 1u);

  cp_.Start(second, 0);  // another REST port too: announced in Welcome
  auto on_second = [&](const WatcherStats& s) {
    return s.stream_connected && s.grpc_endpoint == cp_.grpc_endpoint();
  };
  ASSERT_TRUE(Eventually(
      [&] {
        for (const auto& r : fleet) {
          if (!on_second(r->watcher()->stats())) return false;
        }
        return true;
      },
      std::chrono::seconds(40)))
      << Unconnected(fleet, on_second);
  const std::int64_t v2 = cp_.PutLayer("global", [](Json& s) { SetMaxRequests(s, 4000); });
  EXPECT_TRUE(AllAt(fleet, v2));
}

// Fail-back: relays list a preferred endpoint first (here a proxy to the
// daemon, standing in for the replica in their own cell) and the daemon's
// own port second. When the preferred one stops answering they stream from
// the second; once it answers again they move back to it by themselves
// (probed every ~400 ms here, 30 s by default), and keep converging.
TEST_F(RelayFleetTest, RelaysFailBackToThePreferredEndpoint) {
  const std::int64_t v1 = cp_.PutLayer("global");
  TcpProxy preferred(cp_.grpc_port());
  RelayConfig config = Direct();
  const std::string preferred_endpoint = "127.0.0.1:" + std::to_string(preferred.port());
  config.grpc_endpoints = {preferred_endpoint, cp_.grpc_endpoint()};
  config.failback_interval_ms = 400;
  constexpr int kRelays = 10;
  auto fleet = StartFleet(cp_, kRelays, config, metrics_, lkg_dir_.path().string());
  ASSERT_TRUE(AllAt(fleet, v1));
  auto all_on = [&](const std::string& endpoint) {
    return [&fleet, endpoint] {
      for (const auto& r : fleet) {
        const WatcherStats s = r->watcher()->stats();
        if (!s.stream_connected || s.grpc_endpoint != endpoint) return false;
      }
      return true;
    };
  };
  auto on = [](const std::string& endpoint) {
    return [endpoint](const WatcherStats& s) {
      return s.stream_connected && s.grpc_endpoint == endpoint;
    };
  };
  ASSERT_TRUE(Eventually(all_on(preferred_endpoint), std::chrono::seconds(60)))
      << Unconnected(fleet, on(preferred_endpoint));

  preferred.SetBlocked(true);  // the preferred replica is gone
  ASSERT_TRUE(Eventually(all_on(cp_.grpc_endpoint()), std::chrono::seconds(60)))
      << Unconnected(fleet, on(cp_.grpc_endpoint()));
  // Probes of a preferred endpoint that does not answer move nobody.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_TRUE(all_on(cp_.grpc_endpoint())()) << Unconnected(fleet, on(cp_.grpc_endpoint()));
  const std::int64_t v2 = cp_.PutLayer("global", [](Json& s) { SetMaxRequests(s, 3100); });
  ASSERT_TRUE(AllAt(fleet, v2));

  preferred.SetBlocked(false);  // it is back
  ASSERT_TRUE(Eventually(all_on(preferred_endpoint), std::chrono::seconds(60)))
      << Unconnected(fleet, on(preferred_endpoint));
  for (const auto& r : fleet) EXPECT_GE(r->watcher()->stats().failbacks, 1u) << r->id();
  const std::int64_t v3 = cp_.PutLayer("global", [](Json& s) { SetMaxRequests(s, 3101); });
  EXPECT_TRUE(AllAt(fleet, v3));
}

// A relay restarted while the control plane is down is ready at once from
// its last-known-good file, at the version it had.
TEST_F(RelayFleetTest, RelayRestartedWithDaemonDownIsReadyFromLkg) {
  const std::int64_t v1 = cp_.PutLayer("global");
  auto fleet = StartFleet(cp_, kFleet, Direct(), metrics_, lkg_dir_.path().string());
  ASSERT_TRUE(AllAt(fleet, v1));
  cp_.Stop();
  for (auto& r : fleet) {
    r->Restart();
    EXPECT_TRUE(r->lkg_load_status().ok()) << r->lkg_load_status().ToString();
    EXPECT_TRUE(r->host().ready());
    EXPECT_EQ(r->version(), v1);
    r->StartWatcher();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (const auto& r : fleet) EXPECT_TRUE(r->host().ready());
}

// A snapshot the relay must refuse (here: expired by the relay's clock, which
// runs 8 days ahead of the control plane's 7-day snapshot TTL) is NACKed with
// its reason; the old version stays in force; the daemon shows the NACK.
TEST_F(RelayFleetTest, RefusedSnapshotIsNackedAndOldVersionStays) {
  const std::int64_t v1 = cp_.PutLayer("global");
  OffsetClock clock;
  RelayConfig config = Direct();
  config.clock = &clock;
  config.poll_interval_ms = 60'000;
  auto fleet = StartFleet(cp_, 5, config, metrics_, lkg_dir_.path().string());
  ASSERT_TRUE(AllAt(fleet, v1));

  clock.offset_ms = 8LL * 24 * 3600 * 1000;
  const std::int64_t v2 = cp_.PutLayer("global", [](Json& s) { SetMaxRequests(s, 5000); });
  ASSERT_TRUE(Eventually([&] {
    for (const auto& r : fleet) {
      if (r->watcher()->stats().nacks < 1) return false;
    }
    return true;
  }));
  for (const auto& r : fleet) {
    EXPECT_EQ(r->version(), v1);
    EXPECT_EQ(r->host().health().last_error.code(), StatusCode::kExpired);
    EXPECT_EQ(Counter("omnirelay_relay_snapshot_refusals_total",
                      "node=\"" + r->id() + "\",reason=\"expired\""),
              1u);
  }
  Json node;
  EXPECT_TRUE(Eventually([&] {
    node = cp_.Node(fleet[0]->id());
    return node.is_object() && node.value("lastError", "").starts_with("expired");
  })) << node.dump();
  EXPECT_EQ(node.value("appliedVersion", 0), v1);
  EXPECT_EQ(node.value("assignedVersion", 0), v2);
}

// A tampered envelope from a lying pull endpoint is refused (bad_signature),
// once per distinct envelope, and the old version stays in force.
TEST_F(RelayFleetTest, TamperedEnvelopeFromPullIsRefused) {
  const std::int64_t v1 = cp_.PutLayer("global");
  auto fleet = StartFleet(cp_, 1, Direct(), metrics_, lkg_dir_.path().string());
  ASSERT_TRUE(AllAt(fleet, v1));
  fleet[0]->StopWatcher();
  cp_.PutLayer("global", [](Json& s) { SetMaxRequests(s, 6000); });
  Json envelope = Json::parse(cp_.SnapshotEnvelope("relay-0"));
  std::string sig = envelope["signatures"][0]["sig"];
  sig[3] = sig[3] == 'A' ? 'B' : 'A';
  envelope["signatures"][0]["sig"] = sig;
  FakePullServer liar(envelope.dump(), "sha256:tampered");

  RelayConfig config;
  config.http_endpoints = {liar.endpoint()};
  config.poll_interval_ms = 100;
  Relay pulled("relay-0", "t", lkg_dir_.path().string(), cp_.TrustedKeys(), metrics_, config);
  ASSERT_EQ(pulled.version(), v1);  // from the LKG
  pulled.StartWatcher();
  ASSERT_TRUE(Eventually([&] { return liar.hits.load() >= 3; }));
  EXPECT_EQ(pulled.version(), v1);
  EXPECT_EQ(pulled.host().health().last_error.code(), StatusCode::kBadSignature);
  EXPECT_EQ(Counter("omnirelay_relay_snapshot_refusals_total",
                    "node=\"relay-0\",reason=\"bad_signature\""),
            1u);
}

// A replayed older envelope is refused (rollback): from the network, and
// copied over the last-known-good file before a restart.
TEST_F(RelayFleetTest, ReplayedOlderEnvelopeIsRefused) {
  const std::int64_t v1 = cp_.PutLayer("global");
  const std::string old_envelope = cp_.SnapshotEnvelope("relay-0");
  auto fleet = StartFleet(cp_, 1, Direct(), metrics_, lkg_dir_.path().string());
  ASSERT_TRUE(AllAt(fleet, v1));
  const std::int64_t v2 = cp_.PutLayer("global", [](Json& s) { SetMaxRequests(s, 7000); });
  ASSERT_TRUE(AllAt(fleet, v2));
  fleet[0]->StopWatcher();

  FakePullServer replay(old_envelope, "");
  RelayConfig config;
  config.http_endpoints = {replay.endpoint()};
  config.poll_interval_ms = 100;
  Relay pulled("relay-0", "t", lkg_dir_.path().string(), cp_.TrustedKeys(), metrics_, config);
  ASSERT_EQ(pulled.version(), v2);
  pulled.StartWatcher();
  ASSERT_TRUE(Eventually([&] { return replay.hits.load() >= 2; }));
  pulled.StopWatcher();
  EXPECT_EQ(pulled.version(), v2);
  EXPECT_EQ(pulled.host().health().last_error.code(), StatusCode::kRollback);

  // The same envelope put in place of the last-known-good file.
  std::ofstream(lkg_dir_.path() / "relay-0.lkg", std::ios::trunc) << old_envelope;
  pulled.Restart();
  EXPECT_EQ(pulled.lkg_load_status().code(), StatusCode::kRollback);
  EXPECT_FALSE(pulled.host().ready());
}

}  // namespace
}  // namespace omnirelay::relay::testing

// Soak: the route's shadow is enabled, disabled and its percent changed many
// times a second through the real control plane (the controlplane binary as
// a child process), while 2 threads route continuously through a relay in
// this process. After a warm-up, this process' RSS stays flat and the
// relay's apply latency does not grow; every routing answer is well formed.
//
// OMNI_SOAK_SECONDS (default 20) sets the duration; OMNI_SOAK_WRITES_PER_S
// (default 20) the write rate.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "daemon_process.h"
#include "omnirelay/relay/router.h"
#include "process_memory.h"
#include "relay_fleet.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay::testing {
namespace {

using test_support::kUnderAsan;
using test_support::RssBytes;

long EnvOr(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtol(v, nullptr, 10) : fallback;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

struct Window {
  std::int64_t rss = 0;
  std::uint64_t applies = 0;
  double apply_seconds = 0;
};

TEST(RelayShadowSoak, ShadowChurnKeepsMemoryAndApplyLatencyFlat) {
  const long seconds = std::max(EnvOr("OMNI_SOAK_SECONDS", 20), 4L);
  const long writes_per_s = std::max(EnvOr("OMNI_SOAK_WRITES_PER_S", 20), 1L);
  TempDir dir;
  cp::testing::DaemonProcess daemon((dir.path() / "cp").string());
  ASSERT_TRUE(daemon.Start());
  const std::string admin = daemon.admin_token();
  httplib::Client rest("127.0.0.1", daemon.http_port());
  const httplib::Headers auth = {{"Authorization", "Bearer " + admin}};

  Json layer = Json::parse(ReadAll(std::string(OMNI_SAMPLES_DIR) + "/layers/00-global.json"));
  auto put = [&](int i) {
    Json doc = layer;
    Json& billing = doc["spec"]["routes"]["billing"];
    if (i % 4 == 3) {
      billing.erase("shadow");  // disabled
    } else {
      billing["shadow"] = {{"cluster", "billing-dr"}, {"percent", (i * 7) % 101}};
    }
    auto res = rest.Put("/v1/layers/global", auth, doc.dump(), "application/json");
    return res && res->status == 200;
  };
  ASSERT_TRUE(put(0));

  auto token_res =
      rest.Post("/v1/tokens", auth, Json{{"name", "node:soak-1"}, {"scopes", {"node"}}}.dump(),
                "application/json");
  ASSERT_TRUE(token_res && token_res->status == 201);
  auto keys = TrustedKeySet::Load(daemon.data_dir() + "/trusted-keys.json");
  ASSERT_TRUE(keys.ok());

  MetricsRegistry metrics;
  RelayConfig config;
  config.grpc_endpoints = {"127.0.0.1:" + std::to_string(daemon.grpc_port())};
  config.http_endpoints = {"127.0.0.1:" + std::to_string(daemon.http_port())};
  Relay relay("soak-1", Json::parse(token_res->body)["token"], dir.path().string(), *keys, metrics,
              config);
  auto router = Router::Attach(relay.host());
  ASSERT_TRUE(router.ok());
  relay.StartWatcher();
  ASSERT_TRUE(Eventually([&] { return relay.host().ready(); }));

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> routed{0}, shadowed{0}, bad{0};
  std::vector<std::thread> routers;
  for (int t = 0; t < 2; ++t) {
    routers.emplace_back([&, t] {
      std::uint64_t i = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const auto& snapshot = relay.host().Current();
        const std::string key = "user-" + std::to_string(t) + "-" + std::to_string(i++ % 4096);
        auto d = router->Route(*snapshot, "billing", key);
        if (!d.ok() || (d->cluster != "billing-v1" && d->cluster != "billing-v2") ||
            (!d->shadow_cluster.empty() && d->shadow_cluster != "billing-dr")) {
          bad.fetch_add(1);
        }
        if (d.ok() && !d->shadow_cluster.empty()) shadowed.fetch_add(1, std::memory_order_relaxed);
        routed.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }

  Histogram& apply = metrics.histogram("omnirelay_relay_snapshot_apply_seconds", "",
                                       DefaultLatencyBuckets(), "node=\"soak-1\"");
  std::vector<Window> windows;
  const auto start = std::chrono::steady_clock::now();
  const auto period = std::chrono::microseconds(1'000'000 / writes_per_s);
  int writes = 0, failed_writes = 0;
  auto next_sample = start;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(seconds)) {
    const auto tick = std::chrono::steady_clock::now();
    if (!put(++writes)) ++failed_writes;
    if (tick >= next_sample) {
      windows.push_back({RssBytes(), apply.count(), apply.sum()});
      next_sample += std::chrono::seconds(1);
    }
    std::this_thread::sleep_until(tick + period);  // pacing the writer, not waiting for a result
  }
  stop = true;
  for (auto& t : routers) t.join();

  const std::int64_t last_version = relay.version();
  EXPECT_EQ(failed_writes, 0);
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(routed.load(), 1000u);
  EXPECT_GT(shadowed.load(), 0u);
  EXPECT_GT(last_version, writes / 2) << "the relay kept up with " << writes << " writes";

  // Warm-up: the first quarter. Then RSS may wiggle but not climb.
  ASSERT_GE(windows.size(), 4u);
  const std::size_t warm = windows.size() / 4;
  const Window& first = windows[warm];
  const Window& last = windows.back();
  const std::int64_t growth = last.rss - first.rss;
  std::printf("soak: %ld s, %d writes, version %lld, %llu routes, rss %lld -> %lld KiB\n", seconds,
              writes, static_cast<long long>(last_version),
              static_cast<unsigned long long>(routed.load()),
              static_cast<long long>(first.rss / 1024), static_cast<long long>(last.rss / 1024));
  if (kUnderAsan) {
    // ASan holds freed memory in its quarantine (256 MiB by default), so RSS
    // climbs by design; leaks are LeakSanitizer's to report at exit.
    std::printf("soak: RSS check skipped under AddressSanitizer\n");
  } else {
    EXPECT_LT(growth, std::max<std::int64_t>(8 << 20, first.rss / 10))
        << "RSS grew from " << first.rss << " to " << last.rss;
  }

  // Apply latency: the second quarter vs the last quarter, each as the median
  // of its one-second means (an apply writes the last-known-good file with an
  // fsync; one second stalled by the disk, e.g. writeback after a build, says
  // nothing about growth, a trend does).
  auto mean = [](const Window& a, const Window& b) {
    return b.applies > a.applies
               ? (b.apply_seconds - a.apply_seconds) / static_cast<double>(b.applies - a.applies)
               : 0.0;
  };
  auto median_of_seconds = [&](std::size_t from, std::size_t to) {
    std::vector<double> means;
    for (std::size_t i = from; i < to && i + 1 < windows.size(); ++i) {
      means.push_back(mean(windows[i], windows[i + 1]));
    }
    if (means.empty()) return 0.0;
    std::nth_element(means.begin(), means.begin() + means.size() / 2, means.end());
    return means[means.size() / 2];
  };
  const double early = median_of_seconds(warm, 2 * warm);
  const double late = median_of_seconds(windows.size() - 1 - warm, windows.size() - 1);
  std::printf("soak: apply, median of one-second means: %.3f ms early, %.3f ms late\n", early * 1e3,
              late * 1e3);
  EXPECT_LT(late, 2 * early + 0.003) << "apply latency grew";
  relay.StopWatcher();
}

}  // namespace
}  // namespace omnirelay::relay::testing

// The read/swap protocol of ConfigHost under contention (meaningful under the
// tsan preset): reader threads read Current() continuously while snapshots are
// swapped 100,000 times; every read must be self-consistent (the snapshot's
// version matches fields derived from its spec and its routing table), never
// go backwards, and produce no sanitizer report; the same while a fail-closed
// host withholds each expired snapshot in turn (reads then see null).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/validate.h"
#include "omnirelay/relay/config_host.h"
#include "omnirelay/relay/router.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay {
namespace {

constexpr int kSwaps = 100'000;
constexpr int kReaders = 2;

// Snapshot `version`: dispatcher limit = version, 1 + version % 2 routes.
Snapshot Variant(const Snapshot& base, std::int64_t version) {
  Snapshot s = base;
  s.metadata.version = version;
  s.spec.dispatcher.max_concurrent_requests = version;
  s.spec.routes.resize(1 + static_cast<std::size_t>(version % 2));
  return s;
}

Snapshot BaseSnapshot() {
  auto decoded = DecodeAndValidateSnapshot(testing::SnapshotDoc(1).dump());
  EXPECT_TRUE(decoded.ok()) << decoded.status().ToString();
  return std::move(decoded).value();
}

struct ReaderStats {
  std::atomic<std::uint64_t> reads{0};
  std::atomic<std::uint64_t> inconsistent{0};
  std::atomic<std::uint64_t> backwards{0};
  std::atomic<std::uint64_t> nulls{0};
};

// Checks one read of `host`; `last_version` / `last_generation` are the reader's previous read.
void CheckRead(const ConfigHost& host, const Router& router, std::int64_t& last_version,
               std::uint64_t& last_generation, std::uint64_t iteration, ReaderStats& stats) {
  const std::shared_ptr<const AppliedSnapshot>& snap = host.Current();
  if (snap == nullptr) {
    stats.nulls.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  stats.reads.fetch_add(1, std::memory_order_relaxed);
  const std::int64_t version = snap->version();
  const RoutingTable* table = router.Table(*snap);
  const bool consistent = snap->spec().dispatcher.max_concurrent_requests == version &&
                          snap->spec().routes.size() == 1 + static_cast<std::size_t>(version % 2) &&
                          table != nullptr && table->route_count() == snap->spec().routes.size();
  if (!consistent) stats.inconsistent.fetch_add(1, std::memory_order_relaxed);
  if (version < last_version || snap->generation() < last_generation) {
    stats.backwards.fetch_add(1, std::memory_order_relaxed);
  }
  last_version = version;
  last_generation = snap->generation();
  if (iteration % 64 == 0) {
    // Now and then keep a copy past the next read, and route on it.
    std::shared_ptr<const AppliedSnapshot> kept = host.Current();
    if (kept == nullptr) return;  // withheld meanwhile (fail_closed)
    auto decision = router.Route(*kept, "auth", "key-" + std::to_string(iteration));
    if (!decision.ok() || decision->cluster != "auth-v1") {
      stats.inconsistent.fetch_add(1, std::memory_order_relaxed);
    }
    if (kept->version() < version) stats.backwards.fetch_add(1, std::memory_order_relaxed);
  }
}

// Readers of one host while its snapshot is swapped kSwaps times.
TEST(RelaySwapConcurrencyTest, ReadersSeeConsistentSnapshotsDuringSwaps) {
  FakeClock clock;
  MetricsRegistry metrics;
  ConfigHost host(ConfigHostOptions{}, clock, metrics);
  auto router = Router::Attach(host);
  ASSERT_TRUE(router.ok());
  const Snapshot base = BaseSnapshot();
  const Snapshot variants[2] = {Variant(base, 0), Variant(base, 1)};

  std::atomic<bool> done{false};
  ReaderStats stats;
  std::vector<std::thread> readers;
  std::vector<std::int64_t> final_versions(kReaders);
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      std::int64_t last_version = 0;
      std::uint64_t last_generation = 0;
      for (std::uint64_t i = 0; !done.load(std::memory_order_acquire); ++i) {
        CheckRead(host, *router, last_version, last_generation, i, stats);
      }
      final_versions[r] = host.Current()->version();
    });
  }
  for (int v = 1; v <= kSwaps; ++v) {
    Snapshot next = variants[v % 2];
    next.metadata.version = v;
    next.spec.dispatcher.max_concurrent_requests = v;
    if (!host.ApplyDecodedForTest(std::move(next)).ok()) {
      ADD_FAILURE() << "swap " << v << " failed";
      break;
    }
  }
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();

  EXPECT_EQ(host.generation(), static_cast<std::uint64_t>(kSwaps));
  EXPECT_GT(stats.reads.load(), 0u);
  EXPECT_EQ(stats.inconsistent.load(), 0u);
  EXPECT_EQ(stats.backwards.load(), 0u);
  for (std::int64_t v : final_versions) EXPECT_EQ(v, kSwaps);
}

// Two hosts swapped by two writers, both read by every reader thread.
TEST(RelaySwapConcurrencyTest, ReadersOfSeveralHosts) {
  constexpr int kSwapsPerHost = kSwaps / 5;
  FakeClock clock;
  MetricsRegistry metrics;
  ConfigHost hosts[2] = {ConfigHost(ConfigHostOptions{}, clock, metrics),
                         ConfigHost(ConfigHostOptions{}, clock, metrics)};
  Router routers[2] = {*Router::Attach(hosts[0]), *Router::Attach(hosts[1])};
  const Snapshot base = BaseSnapshot();

  std::atomic<int> writers_left{2};
  ReaderStats stats;
  std::vector<std::thread> threads;
  for (int h = 0; h < 2; ++h) {
    threads.emplace_back([&, h] {
      for (int v = 1; v <= kSwapsPerHost; ++v) {
        if (!hosts[h].ApplyDecodedForTest(Variant(base, v)).ok()) std::abort();
      }
      writers_left.fetch_sub(1, std::memory_order_release);
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      std::int64_t last_version[2] = {0, 0};
      std::uint64_t last_generation[2] = {0, 0};
      for (std::uint64_t i = 0; writers_left.load(std::memory_order_acquire) > 0; ++i) {
        for (int h = 0; h < 2; ++h) {
          CheckRead(hosts[h], routers[h], last_version[h], last_generation[h], i, stats);
        }
      }
    });
  }
  for (auto& t : threads) t.join();

  EXPECT_EQ(stats.inconsistent.load(), 0u);
  EXPECT_EQ(stats.backwards.load(), 0u);
  for (const ConfigHost& host : hosts) EXPECT_EQ(host.Current()->version(), kSwapsPerHost);
}

// Fail-closed withholding is a swap like any other: readers see each snapshot
// whole or null, never one withheld before it, while a writer applies a
// short-lived snapshot, lets it expire and has the host withhold it, in turn.
TEST(RelaySwapConcurrencyTest, ReadersWhileExpiredSnapshotsAreWithheld) {
  constexpr int kCycles = kSwaps / 5;
  FakeClock clock;
  MetricsRegistry metrics;
  ConfigHostOptions options;
  options.on_expiry = OnExpiry::kFailClosed;
  ConfigHost host(std::move(options), clock, metrics);
  auto router = Router::Attach(host);
  ASSERT_TRUE(router.ok());
  const Snapshot base = BaseSnapshot();

  std::atomic<bool> done{false};
  ReaderStats stats;
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      std::int64_t last_version = 0;
      std::uint64_t last_generation = 0;
      for (std::uint64_t i = 0; !done.load(std::memory_order_acquire); ++i) {
        CheckRead(host, *router, last_version, last_generation, i, stats);
      }
    });
  }
  for (int v = 1; v <= kCycles; ++v) {
    Snapshot next = Variant(base, v);
    next.metadata.expires_at = clock.NowUnixMs() / 1000 + 1;
    if (!host.ApplyDecodedForTest(std::move(next)).ok()) {
      ADD_FAILURE() << "swap " << v << " failed";
      break;
    }
    clock.AdvanceMs(1'000 + kDefaultExpirySkewMs + 1'000);
    if (!host.CheckExpiry().newly_expired) {
      ADD_FAILURE() << "version " << v << " did not expire";
      break;
    }
  }
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();

  EXPECT_EQ(host.generation(), static_cast<std::uint64_t>(2 * kCycles));
  EXPECT_EQ(host.Current(), nullptr);
  EXPECT_FALSE(host.ready());
  EXPECT_GT(stats.reads.load() + stats.nulls.load(), 0u);
  EXPECT_EQ(stats.inconsistent.load(), 0u);
  EXPECT_EQ(stats.backwards.load(), 0u);
  EXPECT_EQ(metrics.counter("omnirelay_relay_snapshot_expirations_total", "").value(),
            static_cast<std::uint64_t>(kCycles));
}

}  // namespace
}  // namespace omnirelay::relay

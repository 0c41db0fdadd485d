// Watcher timing without a control plane: exponential backoff with full
// jitter, rotation through the gRPC endpoint list, and a prompt Stop(). The
// waits go through a fake Waiter that moves a FakeClock, so nothing sleeps.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "eventually.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/relay/watcher.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay {
namespace {

// Moves the clock by what the watcher asks to wait, at once.
class FakeWaiter final : public Waiter {
 public:
  explicit FakeWaiter(FakeClock& clock) : clock_(clock) {}
  bool WaitMs(std::int64_t ms) override {
    if (ms > 0) clock_.AdvanceMs(ms);
    std::this_thread::yield();
    return !interrupted_.load();
  }
  void Interrupt() override { interrupted_.store(true); }
  void Notify() override {}

 private:
  FakeClock& clock_;
  std::atomic<bool> interrupted_{false};
};

using test_support::Eventually;

// The ceiling doubles per failure from the initial delay up to the cap, and
// every delay lies in [0, ceiling].
TEST(RelayBackoff, FullJitterUnderADoublingCappedCeiling) {
  Backoff backoff(100, 1'000, 42);
  const std::int64_t ceilings[] = {100, 200, 400, 800, 1'000, 1'000, 1'000};
  for (std::int64_t ceiling : ceilings) {
    EXPECT_EQ(backoff.CeilingMs(), ceiling);
    const std::int64_t delay = backoff.NextDelayMs();
    EXPECT_GE(delay, 0);
    EXPECT_LE(delay, ceiling);
  }
  backoff.Reset();
  EXPECT_EQ(backoff.CeilingMs(), 100);
}

// Full jitter spreads delays over the whole range: mean near half the ceiling.
TEST(RelayBackoff, JitterIsSpreadOverTheRange) {
  Backoff backoff(1'000, 1'000, 7);
  double sum = 0;
  std::int64_t low = 1'000, high = 0;
  constexpr int kDraws = 10'000;
  for (int i = 0; i < kDraws; ++i) {
    const std::int64_t d = backoff.NextDelayMs();
    sum += static_cast<double>(d);
    low = std::min(low, d);
    high = std::max(high, d);
  }
  EXPECT_NEAR(sum / kDraws, 500.0, 20.0);
  EXPECT_LT(low, 50);
  EXPECT_GT(high, 950);
}

// Many failures do not overflow the ceiling.
TEST(RelayBackoff, ManyFailuresStayAtTheCap) {
  Backoff backoff(1, 30'000, 3);
  for (int i = 0; i < 200; ++i) EXPECT_LE(backoff.NextDelayMs(), 30'000);
  EXPECT_EQ(backoff.CeilingMs(), 30'000);
}

class RelayWatcherTest : public ::testing::Test {
 protected:
  RelayWatcherTest() {
    ConfigHostOptions options;
    options.trusted_keys = signer_.keys();
    host_ = std::make_unique<ConfigHost>(std::move(options), clock_, metrics_);
  }
  WatcherOptions Options() {
    WatcherOptions o;
    o.node_id = "n-1";
    o.scope_chain = {"global", "region:us-east"};
    o.token = "t";
    return o;
  }

  FakeClock clock_;
  MetricsRegistry metrics_;
  testing::TestSigner signer_;
  std::unique_ptr<ConfigHost> host_;
};

// Unreachable endpoints are tried in list order, round and round, with
// growing jittered delays between attempts, on the injected clock.
TEST_F(RelayWatcherTest, RotatesThroughEndpointsWithBackoff) {
  WatcherOptions o = Options();
  // Closed loopback ports: refused at once.
  o.grpc_endpoints = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"};
  o.backoff_initial_ms = 100;
  o.backoff_max_ms = 800;
  o.jitter_seed = 11;
  Watcher watcher(o, *host_, clock_, metrics_, std::make_unique<FakeWaiter>(clock_));
  ASSERT_TRUE(watcher.Start().ok());
  ASSERT_TRUE(Eventually([&] { return watcher.stats().backoff_delays_ms.size() >= 9; }));
  watcher.Stop();
  const WatcherStats stats = watcher.stats();
  ASSERT_GE(stats.endpoints_tried.size(), 9u);
  for (std::size_t i = 0; i < 9; ++i) {
    EXPECT_EQ(stats.endpoints_tried[i], o.grpc_endpoints[i % 3]) << i;
  }
  std::int64_t ceiling = 100;
  for (std::size_t i = 0; i < 9; ++i) {
    EXPECT_GE(stats.backoff_delays_ms[i], 0);
    EXPECT_LE(stats.backoff_delays_ms[i], ceiling) << i;
    ceiling = std::min<std::int64_t>(ceiling * 2, 800);
  }
  EXPECT_GE(stats.streams_failed, 9u);
  EXPECT_FALSE(stats.stream_connected);
  EXPECT_FALSE(host_->ready());
}

// Stop() returns promptly even while a stream is still connecting to a peer
// that never answers, and while waiting out a long backoff (real waiter).
TEST_F(RelayWatcherTest, StopIsPrompt) {
  WatcherOptions o = Options();
  o.grpc_endpoints = {"10.255.255.1:7443"};  // not routed: the connect hangs
  o.connect_timeout_ms = 60'000;
  SystemClock& clock = SystemClock::Instance();
  Watcher watcher(o, *host_, clock, metrics_);
  ASSERT_TRUE(watcher.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto start = std::chrono::steady_clock::now();
  watcher.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

// Options it cannot work with are refused by Start.
TEST_F(RelayWatcherTest, StartRefusesIncompleteOptions) {
  WatcherOptions o = Options();
  Watcher no_endpoint(o, *host_, clock_, metrics_);
  EXPECT_EQ(no_endpoint.Start().code(), StatusCode::kInvalidArgument);
  o.grpc_endpoints = {"127.0.0.1:1"};
  o.node_id.clear();
  Watcher no_id(o, *host_, clock_, metrics_);
  EXPECT_EQ(no_id.Start().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace omnirelay::relay

// Freeze protection (config_host.h, rules 1-6 at the top): what a node does
// when the snapshot in force expires without a renewal — reports it, counts
// it, keeps serving or fails closed as configured, pulls to reconcile, and
// recovers when a fresh snapshot applies; and what a restart with an expired
// last-known-good does. Time is a FakeClock: nothing waits for a real TTL.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "eventually.h"
#include "loopback_http_server.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/relay/config_host.h"
#include "omnirelay/relay/watcher.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay {
namespace {

using test_support::Eventually;
using testing::kFakeNowUnixS;
using testing::SnapshotDoc;
using testing::TempDir;
using testing::TestSigner;

constexpr std::int64_t kT0Ms = kFakeNowUnixS * 1000;  // FakeClock's start
constexpr std::int64_t kTtlS = 600;                   // the short-lived snapshot's
// Expired in force once now > expiresAt + the verifier's 60 s skew.
constexpr std::int64_t kExpiredAtMs = kT0Ms + kTtlS * 1000 + kDefaultExpirySkewMs + 1;

class RelayExpiryTest : public ::testing::Test {
 protected:
  std::unique_ptr<ConfigHost> MakeHost(OnExpiry on_expiry, bool lkg = false) {
    ConfigHostOptions options;
    options.trusted_keys = signer_.keys();
    options.on_expiry = on_expiry;
    if (lkg) options.lkg_path = (dir_.path() / "snapshot.dsse.json").string();
    return std::make_unique<ConfigHost>(std::move(options), clock_, metrics_);
  }
  // Version 1, expiring kTtlS after the clock's start.
  std::string ShortLived() const { return signer_.Sign(SnapshotDoc(1, kFakeNowUnixS + kTtlS)); }
  // Its re-signing: the same version and spec, a day more.
  std::string Resigned() const { return signer_.Sign(SnapshotDoc(1, kFakeNowUnixS + 86'400)); }
  void AdvanceToExpiry() { clock_.AdvanceMs(kExpiredAtMs - clock_.NowUnixMs()); }

  std::int64_t GaugeValue(std::string_view name) { return metrics_.gauge(name, "").value(); }
  std::uint64_t Expirations() {
    return metrics_.counter("omnirelay_relay_snapshot_expirations_total", "").value();
  }

  FakeClock clock_;
  MetricsRegistry metrics_;
  TestSigner signer_;
  TempDir dir_;
};

// CheckExpiry says how long the snapshot in force has, and turns at
// expiresAt + skew, not before.
TEST_F(RelayExpiryTest, CheckExpiryTurnsAtExpiresAtPlusSkew) {
  auto host = MakeHost(OnExpiry::kKeepServing);
  EXPECT_EQ(host->CheckExpiry().expires_in_ms, -1);  // nothing in force
  ASSERT_TRUE(host->Apply(ShortLived()).ok());
  EXPECT_EQ(host->CheckExpiry().expires_in_ms, kExpiredAtMs - kT0Ms);
  clock_.AdvanceMs(kExpiredAtMs - kT0Ms - 1);
  ExpiryCheck check = host->CheckExpiry();
  EXPECT_FALSE(check.expired);
  EXPECT_EQ(check.expires_in_ms, 1);
  EXPECT_FALSE(host->health().expired);
  clock_.AdvanceMs(1);
  check = host->CheckExpiry();
  EXPECT_TRUE(check.expired);
  EXPECT_TRUE(check.newly_expired);
  EXPECT_EQ(check.expires_in_ms, -1);
}

// keep_serving: the expired snapshot goes on routing; health says expired,
// the gauge is 1 and the expiry is counted once.
TEST_F(RelayExpiryTest, KeepServingRoutesOnWithTheExpiredSnapshot) {
  auto host = MakeHost(OnExpiry::kKeepServing);
  ASSERT_TRUE(host->Apply(ShortLived()).ok());
  const std::uint64_t generation = host->generation();
  AdvanceToExpiry();
  EXPECT_TRUE(host->health().expired);  // from the clock, before CheckExpiry acts
  EXPECT_TRUE(host->CheckExpiry().newly_expired);
  EXPECT_FALSE(host->CheckExpiry().newly_expired);  // once per snapshot
  ASSERT_NE(host->Current(), nullptr);
  EXPECT_EQ(host->Current()->version(), 1);
  EXPECT_TRUE(host->ready());
  EXPECT_EQ(host->generation(), generation);
  const HealthReport h = host->health();
  EXPECT_TRUE(h.ready);
  EXPECT_TRUE(h.expired);
  EXPECT_EQ(h.on_expiry, OnExpiry::kKeepServing);
  EXPECT_EQ(GaugeValue("omnirelay_relay_snapshot_expired"), 1);
  EXPECT_EQ(GaugeValue("omnirelay_relay_ready"), 1);
  EXPECT_EQ(Expirations(), 1u);
}

// fail_closed: once CheckExpiry acts, Current() is null on every thread and
// the host is not ready; health still names the expired version.
TEST_F(RelayExpiryTest, FailClosedWithholdsTheExpiredSnapshot) {
  auto host = MakeHost(OnExpiry::kFailClosed);
  ASSERT_TRUE(host->Apply(ShortLived()).ok());
  ASSERT_NE(host->Current(), nullptr);  // cached by this thread
  const std::uint64_t generation = host->generation();
  AdvanceToExpiry();
  EXPECT_TRUE(host->CheckExpiry().newly_expired);
  EXPECT_EQ(host->Current(), nullptr);
  bool other_thread_sees_null = false;
  std::thread([&] { other_thread_sees_null = host->Current() == nullptr; }).join();
  EXPECT_TRUE(other_thread_sees_null);
  EXPECT_FALSE(host->ready());
  EXPECT_EQ(host->generation(), generation + 1);  // a swap to nothing
  const HealthReport h = host->health();
  EXPECT_FALSE(h.ready);
  EXPECT_TRUE(h.expired);
  EXPECT_EQ(h.config_version, 1);
  EXPECT_EQ(h.on_expiry, OnExpiry::kFailClosed);
  EXPECT_EQ(GaugeValue("omnirelay_relay_snapshot_expired"), 1);
  EXPECT_EQ(GaugeValue("omnirelay_relay_ready"), 0);
  EXPECT_EQ(Expirations(), 1u);
}

// A re-signing of the expired snapshot (or a newer version) ends it in both
// modes: served again, ready, the gauge back to 0, nothing counted again.
TEST_F(RelayExpiryTest, ARenewalEndsTheExpiry) {
  for (OnExpiry mode : {OnExpiry::kKeepServing, OnExpiry::kFailClosed}) {
    SCOPED_TRACE(std::string(OnExpiryName(mode)));
    MetricsRegistry metrics;
    ConfigHostOptions options;
    options.trusted_keys = signer_.keys();
    options.on_expiry = mode;
    ConfigHost host(std::move(options), clock_, metrics);
    ASSERT_TRUE(host.Apply(signer_.Sign(SnapshotDoc(1, clock_.NowUnixMs() / 1000 + kTtlS))).ok());
    clock_.AdvanceMs((kTtlS + 61) * 1000);
    ASSERT_TRUE(host.CheckExpiry().newly_expired);
    auto renewed = host.Apply(signer_.Sign(SnapshotDoc(1, clock_.NowUnixMs() / 1000 + 86'400)));
    ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
    EXPECT_EQ(renewed->kind, ApplyKind::kResigned);
    ASSERT_NE(host.Current(), nullptr);
    EXPECT_TRUE(host.ready());
    EXPECT_FALSE(host.health().expired);
    EXPECT_FALSE(host.CheckExpiry().expired);
    EXPECT_EQ(metrics.gauge("omnirelay_relay_snapshot_expired", "").value(), 0);
    EXPECT_EQ(metrics.gauge("omnirelay_relay_ready", "").value(), 1);
    EXPECT_EQ(metrics.counter("omnirelay_relay_snapshot_expirations_total", "").value(), 1u);
  }
}

// Restart, keep_serving: the expired last-known-good that was in force is
// served again (counted as expired); fail_closed refuses it as `expired`.
TEST_F(RelayExpiryTest, AnExpiredLastKnownGoodFollowsTheSetting) {
  ASSERT_TRUE(MakeHost(OnExpiry::kKeepServing, /*lkg=*/true)->Apply(ShortLived()).ok());
  AdvanceToExpiry();

  auto closed = MakeHost(OnExpiry::kFailClosed, /*lkg=*/true);
  auto refused = closed->LoadLastKnownGood();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kExpired);
  EXPECT_FALSE(closed->ready());

  auto kept = MakeHost(OnExpiry::kKeepServing, /*lkg=*/true);
  auto loaded = kept->LoadLastKnownGood();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(kept->ready());
  ASSERT_NE(kept->Current(), nullptr);
  EXPECT_TRUE(kept->health().expired);
  EXPECT_FALSE(kept->CheckExpiry().newly_expired);  // counted by the load
  EXPECT_EQ(Expirations(), 1u);
}

// keep_serving accepts past expiry only the envelope the state file names
// (what was in force), not another expired signing of the same version.
TEST_F(RelayExpiryTest, KeepServingRestartsOnlyWithTheSnapshotThatWasInForce) {
  const std::string first = ShortLived();
  {
    auto node = MakeHost(OnExpiry::kKeepServing, /*lkg=*/true);
    ASSERT_TRUE(node->Apply(first).ok());
    ASSERT_TRUE(node->Apply(signer_.Sign(SnapshotDoc(1, kFakeNowUnixS + kTtlS + 10))).ok());
  }
  std::ofstream(dir_.path() / "snapshot.dsse.json", std::ios::trunc) << first;
  clock_.AdvanceMs((kTtlS + 10 + 61) * 1000);
  auto node = MakeHost(OnExpiry::kKeepServing, /*lkg=*/true);
  auto loaded = node->LoadLastKnownGood();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kExpired);
  EXPECT_FALSE(node->ready());
}

// Moves the FakeClock by what the watcher asks, up to a horizon; past it,
// waits a real millisecond (the watcher idles instead of racing on).
class HorizonWaiter final : public Waiter {
 public:
  HorizonWaiter(FakeClock& clock, std::int64_t horizon_unix_ms)
      : clock_(clock), horizon_(horizon_unix_ms) {}
  bool WaitMs(std::int64_t ms) override {
    const std::int64_t step = std::min(ms, horizon_ - clock_.NowUnixMs());
    if (step > 0) {
      clock_.AdvanceMs(step);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return !interrupted_.load();
  }
  void Interrupt() override { interrupted_.store(true); }
  void Notify() override {}

 private:
  FakeClock& clock_;
  const std::int64_t horizon_;
  std::atomic<bool> interrupted_{false};
};

// The pull endpoint of a control plane that stopped re-signing until the
// node's snapshot expired: before then it serves the short-lived snapshot;
// the first pull after (optionally answered 503) sees the node's state, and
// later pulls get the re-signing.
class LateControlPlane {
 public:
  LateControlPlane(const FakeClock& clock, const ConfigHost& host, std::string before,
                   std::string after, bool fail_first_after)
      : clock_(clock), host_(host), http_([=, this](httplib::Server& server) {
          server.Get(R"(/v1/nodes/.*)", [=, this](const httplib::Request&, httplib::Response& res) {
            Answer(res, before, after, fail_first_after);
          });
        }) {}
  std::string endpoint() const { return http_.endpoint(); }
  int pulls_after_expiry() const { return after_.load(); }

  std::atomic<std::int64_t> first_after_ms_{0};
  std::atomic<bool> saw_expired_{false}, saw_ready_{false}, saw_serving_{false};

 private:
  void Answer(httplib::Response& res, const std::string& before, const std::string& after,
              bool fail_first_after) {
    if (clock_.NowUnixMs() < kExpiredAtMs) {
      res.set_content(before, "application/json");
      return;
    }
    if (after_.fetch_add(1) == 0) {
      first_after_ms_ = clock_.NowUnixMs();
      saw_expired_ = host_.health().expired;
      saw_ready_ = host_.ready();
      saw_serving_ = host_.Current() != nullptr;
      if (fail_first_after) {
        res.status = 503;
        return;
      }
    }
    res.set_content(after, "application/json");
  }

  const FakeClock& clock_;
  const ConfigHost& host_;
  std::atomic<int> after_{0};
  test_support::LoopbackHttpServer http_;  // last: stopped before the rest goes
};

// A started watcher that only pulls, from `cp`, every `poll_ms`, on the
// fixture's clock up to a horizon after the expiry and the pulls that follow.
std::unique_ptr<Watcher> FollowByPull(const LateControlPlane& cp, std::int64_t poll_ms,
                                      ConfigHost& host, FakeClock& clock,
                                      MetricsRegistry& metrics) {
  WatcherOptions o;
  o.node_id = "n-1";
  o.scope_chain = {"global", "region:us-east"};
  o.token = "t";
  o.http_endpoints = {cp.endpoint()};
  o.poll_interval_ms = poll_ms;
  auto watcher = std::make_unique<Watcher>(
      o, host, clock, metrics, std::make_unique<HorizonWaiter>(clock, kT0Ms + 1'000'000));
  EXPECT_TRUE(watcher->Start().ok());
  return watcher;
}

// keep_serving under a watcher: at the expiry (not at the next poll, an
// hour away) it pulls while still serving, and the re-signing it gets ends
// the expiry.
TEST_F(RelayExpiryTest, WatcherPullsAtExpiryAndRecoversKeepingServing) {
  auto host = MakeHost(OnExpiry::kKeepServing);
  LateControlPlane cp(clock_, *host, ShortLived(), Resigned(), /*fail_first_after=*/false);
  auto watcher = FollowByPull(cp, 3'600'000, *host, clock_, metrics_);
  ASSERT_TRUE(Eventually([&] { return cp.pulls_after_expiry() >= 1 && !host->health().expired; }));
  watcher->Stop();
  EXPECT_EQ(cp.first_after_ms_.load(), kExpiredAtMs);  // woken for it
  EXPECT_TRUE(cp.saw_expired_.load());
  EXPECT_TRUE(cp.saw_ready_.load());
  EXPECT_TRUE(cp.saw_serving_.load());
  EXPECT_TRUE(host->ready());
  EXPECT_EQ(Expirations(), 1u);
  EXPECT_EQ(GaugeValue("omnirelay_relay_snapshot_expired"), 0);
  EXPECT_EQ(watcher->stats().pulls_applied, 2u);  // the snapshot, then its re-signing
}

// fail_closed under a watcher: at the expiry the node stops serving and
// pulls; a failed pull leaves it closed, the next one (poll interval) that
// brings the re-signing opens it again.
TEST_F(RelayExpiryTest, WatcherFailsClosedUntilAPullBringsAFreshSnapshot) {
  auto host = MakeHost(OnExpiry::kFailClosed);
  LateControlPlane cp(clock_, *host, ShortLived(), Resigned(), /*fail_first_after=*/true);
  auto watcher = FollowByPull(cp, 100'000, *host, clock_, metrics_);
  ASSERT_TRUE(Eventually([&] { return cp.pulls_after_expiry() >= 2 && host->ready(); }));
  watcher->Stop();
  EXPECT_EQ(cp.first_after_ms_.load(), kExpiredAtMs);
  EXPECT_TRUE(cp.saw_expired_.load());
  EXPECT_FALSE(cp.saw_ready_.load());
  EXPECT_FALSE(cp.saw_serving_.load());
  ASSERT_NE(host->Current(), nullptr);
  EXPECT_FALSE(host->health().expired);
  EXPECT_EQ(Expirations(), 1u);
  EXPECT_GE(watcher->stats().pulls_failed, 1u);
}

}  // namespace
}  // namespace omnirelay::relay

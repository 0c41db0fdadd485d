// ConfigHost: readiness and health, the read path (per-thread caches, several
// hosts, when old snapshots are freed), and the two-phase listener protocol.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/relay/config_host.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay {
namespace {

using testing::Json;
using testing::kFakeNowUnixS;
using testing::SnapshotDoc;
using testing::TestSigner;

// Records every call; refuses versions listed in `refuse`.
class RecordingListener final : public IConfigListener {
 public:
  RecordingListener(std::string name, std::vector<std::string>* log) : name_(name), log_(log) {}

  std::string_view name() const override { return name_; }
  Result<std::shared_ptr<const void>> Prepare(const AppliedSnapshot& candidate) override {
    log_->push_back(name_ + ".prepare(" + std::to_string(candidate.version()) + ")");
    if (candidate.version() == refuse_version) {
      return Status(StatusCode::kInvalid, "cannot build state",
                    {{"/spec/dispatcher", DiagCode::kOutOfRange, "too small"}});
    }
    return std::shared_ptr<const void>(std::make_shared<const std::int64_t>(candidate.version()));
  }
  void Commit(const AppliedSnapshot& applied) override {
    log_->push_back(name_ + ".commit(" + std::to_string(applied.version()) + ")");
    committed.push_back(applied.version());
  }
  void Abort(const AppliedSnapshot& candidate) override {
    log_->push_back(name_ + ".abort(" + std::to_string(candidate.version()) + ")");
  }

  std::int64_t refuse_version = -1;
  std::vector<std::int64_t> committed;

 private:
  std::string name_;
  std::vector<std::string>* log_;
};

// A typed state: the dispatcher limit of each snapshot.
class LimitListener final : public ConfigListener<std::int64_t> {
 public:
  std::string_view name() const override { return "limit"; }
  Result<std::shared_ptr<const std::int64_t>> PrepareState(
      const AppliedSnapshot& candidate) override {
    ++prepared;
    return std::make_shared<const std::int64_t>(
        candidate.spec().dispatcher.max_concurrent_requests.value_or(0));
  }
  int prepared = 0;
};

class RelayConfigHostTest : public ::testing::Test {
 protected:
  RelayConfigHostTest() : host_(Options(), clock_, metrics_) {}

  ConfigHostOptions Options() {
    ConfigHostOptions options;
    options.trusted_keys = signer_.keys();
    return options;
  }
  Result<ApplyOutcome> ApplyVersion(std::int64_t version,
                                    std::int64_t expires = kFakeNowUnixS + 3600) {
    return host_.Apply(signer_.Sign(SnapshotDoc(version, expires)));
  }

  FakeClock clock_;
  MetricsRegistry metrics_;
  TestSigner signer_;
  ConfigHost host_;
};

// Before any snapshot: not ready, nothing current, no staleness.
TEST_F(RelayConfigHostTest, NotReadyBeforeFirstSnapshot) {
  EXPECT_FALSE(host_.ready());
  EXPECT_EQ(host_.Current(), nullptr);
  EXPECT_EQ(host_.generation(), 0u);
  const HealthReport h = host_.health();
  EXPECT_FALSE(h.ready);
  EXPECT_EQ(h.config_version, 0);
  EXPECT_EQ(h.staleness_ms, -1);
  EXPECT_TRUE(h.last_error.ok());
}

// The first valid snapshot makes the node ready and fills health.
TEST_F(RelayConfigHostTest, FirstValidSnapshotMakesReady) {
  auto outcome = ApplyVersion(7);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_TRUE(host_.ready());
  ASSERT_NE(host_.Current(), nullptr);
  EXPECT_EQ(host_.Current()->version(), 7);
  const HealthReport h = host_.health();
  EXPECT_TRUE(h.ready);
  EXPECT_EQ(h.config_version, 7);
  EXPECT_EQ(h.hash, outcome->snapshot->hash());
  EXPECT_EQ(h.generation, 1u);
  EXPECT_EQ(h.staleness_ms, 0);
  EXPECT_EQ(h.expires_at_ms, (kFakeNowUnixS + 3600) * 1000);
}

// Staleness grows with time and MarkFresh / an already-applied notify reset it.
TEST_F(RelayConfigHostTest, StalenessResetsOnConfirmation) {
  ASSERT_TRUE(ApplyVersion(1).ok());
  clock_.AdvanceMs(5000);
  EXPECT_EQ(host_.health().staleness_ms, 5000);
  host_.MarkFresh();
  EXPECT_EQ(host_.health().staleness_ms, 0);
  clock_.AdvanceMs(3000);
  ASSERT_TRUE(host_.Apply(host_.Current()->envelope()).ok());
  EXPECT_EQ(host_.health().staleness_ms, 0);
}

// A refusal is kept as last error even after a later success.
TEST_F(RelayConfigHostTest, LastErrorIsKept) {
  ASSERT_TRUE(ApplyVersion(2).ok());
  ASSERT_FALSE(ApplyVersion(1).ok());
  ASSERT_TRUE(ApplyVersion(3).ok());
  const HealthReport h = host_.health();
  EXPECT_EQ(h.last_error.code(), StatusCode::kRollback);
  EXPECT_EQ(h.last_error_unix_ms, kFakeNowUnixS * 1000);
  EXPECT_EQ(h.config_version, 3);
}

// The discovery generation is reported as set.
TEST_F(RelayConfigHostTest, DiscoveryGenerationIsReported) {
  host_.SetDiscoveryGeneration(99);
  EXPECT_EQ(host_.health().discovery_generation, 99);
}

// A thread reading after a swap sees the new snapshot; generation counts swaps.
TEST_F(RelayConfigHostTest, CurrentFollowsSwaps) {
  ASSERT_TRUE(ApplyVersion(1).ok());
  const auto& current = host_.Current();
  EXPECT_EQ(current->version(), 1);
  ASSERT_TRUE(ApplyVersion(2).ok());
  EXPECT_EQ(host_.Current()->version(), 2);
  EXPECT_EQ(host_.Current()->generation(), 2u);
  EXPECT_EQ(host_.generation(), 2u);
}

// Hosts in one process keep separate snapshots, also when one is replaced.
TEST_F(RelayConfigHostTest, SeveralHostsAreIndependent) {
  auto other = std::make_unique<ConfigHost>(Options(), clock_, metrics_);
  ASSERT_TRUE(ApplyVersion(1).ok());
  ASSERT_TRUE(other->Apply(signer_.Sign(SnapshotDoc(5))).ok());
  EXPECT_EQ(host_.Current()->version(), 1);
  EXPECT_EQ(other->Current()->version(), 5);
  // A new host may reuse the destroyed one's cache index: it must not see its snapshot.
  other.reset();
  ConfigHost fresh(Options(), clock_, metrics_);
  EXPECT_EQ(fresh.Current(), nullptr);
  ASSERT_TRUE(fresh.Apply(signer_.Sign(SnapshotDoc(1))).ok());
  EXPECT_EQ(fresh.Current()->generation(), 1u);
  EXPECT_EQ(fresh.Current()->version(), 1);
  EXPECT_EQ(host_.Current()->version(), 1);
}

// An old snapshot lives while a thread still has it cached, and is freed when it reads again.
TEST_F(RelayConfigHostTest, OldSnapshotFreedAfterLastReader) {
  ASSERT_TRUE(ApplyVersion(1).ok());
  std::weak_ptr<const AppliedSnapshot> first = host_.Current();
  std::mutex mu;
  std::condition_variable cv;
  int step = 0;  // 1: reader cached v1; 2: main swapped; 3: reader read again
  std::thread reader([&] {
    EXPECT_EQ(host_.Current()->version(), 1);
    std::unique_lock lock(mu);
    step = 1;
    cv.notify_all();
    cv.wait(lock, [&] { return step == 2; });
    EXPECT_EQ(host_.Current()->version(), 2);
    step = 3;
    cv.notify_all();
    cv.wait(lock, [&] { return step == 4; });
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return step == 1; });
  }
  ASSERT_TRUE(ApplyVersion(2).ok());
  EXPECT_EQ(host_.Current()->version(), 2);  // this thread lets go of v1
  EXPECT_FALSE(first.expired());             // the reader still pins it
  {
    std::unique_lock lock(mu);
    step = 2;
    cv.notify_all();
    cv.wait(lock, [&] { return step == 3; });
  }
  EXPECT_TRUE(first.expired());
  {
    std::lock_guard lock(mu);
    step = 4;
    cv.notify_all();
  }
  reader.join();
}

// A thread's cache is released when the thread exits.
TEST_F(RelayConfigHostTest, ThreadExitReleasesItsCache) {
  ASSERT_TRUE(ApplyVersion(1).ok());
  std::weak_ptr<const AppliedSnapshot> first = host_.Current();
  std::thread([&] { EXPECT_EQ(host_.Current()->version(), 1); }).join();
  ASSERT_TRUE(ApplyVersion(2).ok());
  EXPECT_EQ(host_.Current()->version(), 2);
  EXPECT_TRUE(first.expired());
}

// All listeners prepare, then the snapshot is swapped, then all commit, in order.
TEST_F(RelayConfigHostTest, ListenersPrepareThenCommit) {
  std::vector<std::string> log;
  auto a = std::make_shared<RecordingListener>("a", &log);
  auto b = std::make_shared<RecordingListener>("b", &log);
  ASSERT_TRUE(host_.AddListener(a).ok());
  ASSERT_TRUE(host_.AddListener(b).ok());
  ASSERT_TRUE(ApplyVersion(1).ok());
  EXPECT_EQ(log, (std::vector<std::string>{"a.prepare(1)", "b.prepare(1)", "a.commit(1)",
                                           "b.commit(1)"}));
}

// One listener failing: no swap, prepared ones aborted, later ones untouched, NACK with its error.
TEST_F(RelayConfigHostTest, ListenerFailureKeepsOldSnapshot) {
  std::vector<std::string> log;
  auto a = std::make_shared<RecordingListener>("a", &log);
  auto b = std::make_shared<RecordingListener>("b", &log);
  auto c = std::make_shared<RecordingListener>("c", &log);
  for (const auto& l : {a, b, c}) ASSERT_TRUE(host_.AddListener(l).ok());
  ASSERT_TRUE(ApplyVersion(1).ok());
  log.clear();
  b->refuse_version = 2;
  auto outcome = ApplyVersion(2);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kInvalid);
  EXPECT_NE(outcome.status().message().find("listener \"b\""), std::string::npos);
  EXPECT_EQ(outcome.status().diagnostics().size(), 1u);
  EXPECT_EQ(log, (std::vector<std::string>{"a.prepare(2)", "b.prepare(2)", "a.abort(2)"}));
  EXPECT_EQ(host_.Current()->version(), 1);
  EXPECT_EQ(host_.generation(), 1u);
  EXPECT_EQ(
      metrics_.counter("omnirelay_relay_snapshot_refusals_total", "", "reason=\"invalid\"").value(),
      1u);
  // The next version goes through.
  log.clear();
  ASSERT_TRUE(ApplyVersion(3).ok());
  EXPECT_EQ(host_.Current()->version(), 3);
  EXPECT_EQ(log.back(), "c.commit(3)");
}

// A listener sees strictly increasing versions and never a refused one.
TEST_F(RelayConfigHostTest, ListenerSeesStrictlyIncreasingVersions) {
  std::vector<std::string> log;
  auto l = std::make_shared<RecordingListener>("l", &log);
  ASSERT_TRUE(host_.AddListener(l).ok());
  ASSERT_TRUE(ApplyVersion(1).ok());
  ASSERT_TRUE(ApplyVersion(3).ok());
  EXPECT_FALSE(ApplyVersion(2).ok());                         // rollback
  EXPECT_TRUE(ApplyVersion(3).ok());                          // no-op (same content)
  EXPECT_TRUE(ApplyVersion(3, kFakeNowUnixS + 7200).ok());    // re-signing
  EXPECT_FALSE(ApplyVersion(4, kFakeNowUnixS - 86400).ok());  // expired
  ASSERT_TRUE(ApplyVersion(6).ok());
  EXPECT_EQ(l->committed, (std::vector<std::int64_t>{1, 3, 6}));
  for (const std::string& entry : log) {
    EXPECT_EQ(entry.find("(2)"), std::string::npos) << entry;
    EXPECT_EQ(entry.find("(4)"), std::string::npos) << entry;
  }
}

// A typed listener's state travels with its snapshot.
TEST_F(RelayConfigHostTest, ListenerStateIsAttachedToSnapshot) {
  auto listener = std::make_shared<LimitListener>();
  auto slot = host_.AddStateListener<std::int64_t>(listener);
  ASSERT_TRUE(slot.ok());
  Json doc = SnapshotDoc(1);
  doc["spec"]["dispatcher"]["maxConcurrentRequests"] = 321;
  ASSERT_TRUE(host_.Apply(signer_.Sign(doc)).ok());
  const std::int64_t* limit = host_.Current()->state(*slot);
  ASSERT_NE(limit, nullptr);
  EXPECT_EQ(*limit, 321);
}

// A re-signed snapshot carries the listeners' states without preparing again.
TEST_F(RelayConfigHostTest, ResigningCarriesListenerState) {
  auto listener = std::make_shared<LimitListener>();
  auto slot = host_.AddStateListener<std::int64_t>(listener);
  ASSERT_TRUE(slot.ok());
  ASSERT_TRUE(ApplyVersion(1).ok());
  const std::int64_t* before = host_.Current()->state(*slot);
  auto outcome = ApplyVersion(1, kFakeNowUnixS + 7200);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->kind, ApplyKind::kResigned);
  EXPECT_EQ(host_.Current()->state(*slot), before);
  EXPECT_EQ(listener->prepared, 1);
}

// A listener added once a snapshot is current prepares it, and it is republished with the state.
TEST_F(RelayConfigHostTest, LateListenerPreparesCurrentSnapshot) {
  ASSERT_TRUE(ApplyVersion(4).ok());
  auto slot = host_.AddStateListener<std::int64_t>(std::make_shared<LimitListener>());
  ASSERT_TRUE(slot.ok());
  EXPECT_EQ(host_.Current()->version(), 4);
  EXPECT_EQ(host_.generation(), 2u);
  ASSERT_NE(host_.Current()->state(*slot), nullptr);
  EXPECT_EQ(*host_.Current()->state(*slot), 1000);
}

// A late listener that cannot prepare the current snapshot is not added.
TEST_F(RelayConfigHostTest, LateListenerRefusalLeavesItOut) {
  ASSERT_TRUE(ApplyVersion(4).ok());
  std::vector<std::string> log;
  auto l = std::make_shared<RecordingListener>("late", &log);
  l->refuse_version = 4;
  EXPECT_FALSE(host_.AddListener(l).ok());
  EXPECT_EQ(host_.generation(), 1u);
  ASSERT_TRUE(ApplyVersion(5).ok());
  EXPECT_TRUE(l->committed.empty());
}

// Commit runs after the swap: a listener reading Current() in Commit sees the new snapshot.
TEST_F(RelayConfigHostTest, CommitRunsAfterSwap) {
  class SwapObserver final : public ConfigListener<int> {
   public:
    explicit SwapObserver(const ConfigHost& host) : host_(host) {}
    std::string_view name() const override { return "observer"; }
    Result<std::shared_ptr<const int>> PrepareState(const AppliedSnapshot&) override {
      seen_in_prepare = host_.Current() ? host_.Current()->version() : 0;
      return std::shared_ptr<const int>();
    }
    void Commit(const AppliedSnapshot&) override { seen_in_commit = host_.Current()->version(); }
    std::int64_t seen_in_prepare = -1, seen_in_commit = -1;

   private:
    const ConfigHost& host_;
  };
  auto observer = std::make_shared<SwapObserver>(host_);
  ASSERT_TRUE(host_.AddListener(observer).ok());
  ASSERT_TRUE(ApplyVersion(8).ok());
  EXPECT_EQ(observer->seen_in_prepare, 0);
  EXPECT_EQ(observer->seen_in_commit, 8);
}

// Every Apply call is timed in the apply latency histogram.
TEST_F(RelayConfigHostTest, ApplyLatencyIsRecorded) {
  ASSERT_TRUE(ApplyVersion(1).ok());
  ASSERT_FALSE(ApplyVersion(0).ok());
  EXPECT_EQ(metrics_.histogram("omnirelay_relay_snapshot_apply_seconds", "").count(), 2u);
  const std::string text = metrics_.RenderPrometheus();
  EXPECT_NE(text.find("omnirelay_relay_snapshot_applies_total{outcome=\"applied\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("omnirelay_relay_config_version 1"), std::string::npos);
  EXPECT_NE(text.find("omnirelay_relay_ready 1"), std::string::npos);
}

// With a node id, a host's metrics carry node="<id>" so hosts can share a registry.
TEST_F(RelayConfigHostTest, NodeIdLabelsMetrics) {
  ConfigHostOptions options = Options();
  options.node_id = "relay-1";
  ConfigHost labelled(std::move(options), clock_, metrics_);
  ASSERT_TRUE(labelled.Apply(signer_.Sign(SnapshotDoc(3))).ok());
  const std::string text = metrics_.RenderPrometheus();
  EXPECT_NE(text.find("omnirelay_relay_config_version{node=\"relay-1\"} 3"), std::string::npos)
      << text;
}

}  // namespace
}  // namespace omnirelay::relay

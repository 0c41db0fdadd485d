// The retention worker (store_retention.h) over a real SQLite store: a pass
// prunes in batches and says so (metrics, one audit entry), what an
// unfinished rollout may assign is kept, and writes go on while it runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "rollout_state.h"
#include "store_contract.h"
#include "store_retention.h"

namespace omnirelay::cp {
namespace {

using store_contract::Audit;
using store_contract::Put;
using store_contract::TempDir;

constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;

std::unique_ptr<Store> OpenFileStore(const TempDir& dir) {
  auto store = OpenSqliteStore({.path = dir.path() + "/state.db", .synchronous_full = false});
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

void AppendOld(Store& store, int n, std::int64_t time_ms) {
  for (int done = 0; done < n; done += 1000) {
    std::vector<AuditEntry> chunk(std::min(1000, n - done), Audit("layer.get", time_ms));
    ASSERT_TRUE(store.AppendAudit(chunk).ok());
  }
}

RetentionOptions Manual() {
  RetentionOptions o;
  o.manual_for_test = true;
  o.pause = std::chrono::milliseconds(0);
  return o;
}

// A pass removes what is past the age limit in batches, counts it, audits
// itself once, and leaves a chain that verifies; the next pass does nothing.
TEST(StoreRetentionTest, PassPrunesOldAuditAndAuditsItself) {
  TempDir dir;
  auto store = OpenFileStore(dir);
  FakeClock clock;
  MetricsRegistry metrics;
  AppendOld(*store, 2500, clock.NowUnixMs() - 100 * kDayMs);
  AppendOld(*store, 10, clock.NowUnixMs());
  StoreRetention retention(*store, clock, metrics, Manual());
  Result<RetentionPass> pass = retention.RunPass();
  ASSERT_TRUE(pass.ok()) << pass.status().ToString();
  EXPECT_EQ(pass->audit_pruned, 2500);
  EXPECT_EQ(metrics.counter("omnirelay_cp_audit_pruned_total", "").value(), 2500u);
  auto left = store->QueryAudit(0, 0, 100);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 11u);
  EXPECT_EQ(left->back().action, "retention.prune");
  EXPECT_EQ(left->back().principal, "retention");
  auto report = store->VerifyAuditChain();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->break_reason;
  EXPECT_EQ(retention.RunPass()->audit_pruned, 0);
  EXPECT_EQ(store->QueryAudit(0, 0, 100)->size(), 11u);  // a pass that prunes nothing is silent
}

// The versions an unfinished rollout may still assign are kept; a finished
// one holds nothing back; an unreadable record holds everything.
TEST(StoreRetentionTest, LowestVersionInUseReadsUnfinishedRollouts) {
  RolloutState running;
  running.id = "ro-1";
  running.phase = RolloutPhase::kRunning;
  running.new_version = 9;
  running.waves.push_back(Wave{});
  running.wave_baselines.push_back(SloWindow{});
  running.nodes.Set("n1", {.wave = 0, .previous_version = 5, .assigned_version = 9});
  running.nodes.Set("n2", {.wave = 0, .previous_version = 0, .assigned_version = 9});
  RolloutState done = running;
  done.id = "ro-0";
  done.phase = RolloutPhase::kSucceeded;
  done.nodes.Set("n3", {.wave = 0, .previous_version = 2, .assigned_version = 9});
  const RolloutRecord r_running{"ro-1", RolloutStateToJson(running), 0, 0};
  const RolloutRecord r_done{"ro-0", RolloutStateToJson(done), 0, 0};
  EXPECT_EQ(LowestVersionInUse({r_done, r_running}), 5);
  EXPECT_EQ(LowestVersionInUse({r_done}), 0);
  EXPECT_EQ(LowestVersionInUse({{"ro-x", "not json", 0, 0}}), 1);
}

// Writes go on while a pass removes a large backlog: none fails and none
// waits longer than a few batches (each batch is one short group of the
// group writer), although the whole pass takes much longer.
TEST(StoreRetentionTest, WritesDoNotWaitForAPass) {
  TempDir dir;
  auto store = OpenFileStore(dir);
  FakeClock clock;
  MetricsRegistry metrics;
  constexpr int kBacklog = 60'000;
  AppendOld(*store, kBacklog, clock.NowUnixMs() - 100 * kDayMs);
  RetentionOptions options = Manual();
  options.pause = std::chrono::milliseconds(2);
  StoreRetention retention(*store, clock, metrics, options);

  std::atomic<bool> done{false};
  std::atomic<int> writes{0}, failures{0};
  std::atomic<long> worst_ms{0};
  std::thread writer([&] {
    std::int64_t revision = 0;
    while (!done.load()) {
      const auto start = std::chrono::steady_clock::now();
      LayerWrite w = Put("global", "{\"n\":" + std::to_string(revision) + "}", revision);
      w.audit.time_ms = clock.NowUnixMs();  // new entries: not the pass's to prune
      Result<std::int64_t> r = store->WriteLayer(w);
      const long ms = static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - start)
                                            .count());
      worst_ms.store(std::max(worst_ms.load(), ms));
      if (r.ok()) {
        revision = *r;
        writes.fetch_add(1);
      } else {
        failures.fetch_add(1);
      }
    }
  });
  const auto started = std::chrono::steady_clock::now();
  Result<RetentionPass> pass = retention.RunPass();
  const auto pass_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count();
  done.store(true);
  writer.join();
  ASSERT_TRUE(pass.ok()) << pass.status().ToString();
  EXPECT_EQ(pass->audit_pruned, kBacklog);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(writes.load(), 10) << "writes stalled during the pass (" << pass_ms << " ms)";
  // Were writes held for the whole pass (one long transaction), the slowest
  // would take about as long as the pass.
  EXPECT_LT(worst_ms.load(), std::min<long>(500, static_cast<long>(pass_ms) / 2))
      << "pass took " << pass_ms << " ms";
  std::printf("pass %lld ms for %d entries; %d writes meanwhile, the slowest %ld ms\n",
              static_cast<long long>(pass_ms), kBacklog, writes.load(), worst_ms.load());
  auto report = store->VerifyAuditChain();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->break_reason;
}

}  // namespace
}  // namespace omnirelay::cp

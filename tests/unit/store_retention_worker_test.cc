// The retention worker (store_retention.h) over a real SQLite store: a pass
// prunes in batches and says so (metrics, one audit entry), what an
// unfinished rollout may assign is kept, and writes go on while it runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "rollout_engine.h"
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
  store_contract::AppendAuditAt(*store, 2500, clock.NowUnixMs() - 100 * kDayMs);
  store_contract::AppendAuditAt(*store, 10, clock.NowUnixMs());
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
  // The records as daemons store them: the state inside a rollout record,
  // with the members apart (format 2) or not (format 1).
  RolloutRun run;
  run.state = running;
  run.chains = {{"n1", "global"}, {"n2", "global"}};
  EXPECT_EQ(LowestVersionInUse({RolloutRecordOf(run, 0)}), 5);
  EXPECT_EQ(LowestVersionInUse({{"ro-1", RolloutRunToJson(run), 0, 0}}), 5);
  run.state = done;
  EXPECT_EQ(LowestVersionInUse({RolloutRecordOf(run, 0)}), 0);
  EXPECT_EQ(LowestVersionInUse({{"ro-0", RolloutRunToJson(run), 0, 0}}), 0);
}

}  // namespace
}  // namespace omnirelay::cp

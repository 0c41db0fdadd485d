// Retention (store.h, "retention"): the audit log and the rendered snapshots
// are pruned in small batches by age and by count, the audit chain still
// verifies from its anchor, and what a node or a rollout may still need is
// kept. Part of the Store contract suite: runs on every adapter.
#include "store_retention.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "store_contract.h"

namespace omnirelay::cp {
namespace {

using namespace store_contract;  // NOLINT: the suite's own fixture and builders

// Appends `n` entries timed first_ms, first_ms + 1, ...
void AppendEntries(Store& store, int n, std::int64_t first_ms) {
  std::vector<AuditEntry> entries;
  for (int i = 0; i < n; ++i) entries.push_back(Audit("layer.get", first_ms + i));
  ASSERT_TRUE(store.AppendAudit(entries).ok());
}

// Prunes batch by batch until a batch removes nothing; the total removed.
std::int64_t PruneAuditFully(Store& store, std::int64_t cutoff_ms, std::int64_t keep_newest,
                             std::size_t batch) {
  std::int64_t total = 0;
  for (;;) {
    Result<AuditPruneResult> r = store.PruneAudit(cutoff_ms, keep_newest, batch);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || r->deleted == 0) return total;
    EXPECT_LE(r->deleted, static_cast<std::int64_t>(batch));
    total += r->deleted;
  }
}

void ExpectChainIntact(Store& store, std::int64_t entries) {
  Result<api::AuditChainReport> report = store.VerifyAuditChain();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok) << report->break_id << ": " << report->break_reason;
  EXPECT_EQ(report->entries, entries);
}

// By age: the entries older than the cutoff go, in batches no larger than
// asked; the chain verifies from the anchor, before and after new appends.
TEST_P(StoreContractTest, AuditPrunedByAgeStillVerifies) {
  AppendEntries(*store_, 10, 1000);  // times 1000..1009
  const std::vector<AuditEntry> before = AllAudit();
  EXPECT_EQ(PruneAuditFully(*store_, 1005, 0, 2), 5);
  const std::vector<AuditEntry> after = AllAudit();
  ASSERT_EQ(after.size(), 5u);
  EXPECT_EQ(after.front().time_ms, 1005);
  Result<api::AuditChainReport> report = store_->VerifyAuditChain();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->break_reason;
  EXPECT_EQ(report->anchor_id, before[4].id);
  EXPECT_EQ(report->anchor_hash.size(), 64u);
  AppendEntries(*store_, 3, 2000);
  ExpectChainIntact(*store_, 8);
}

// By count: the newest N stay, the rest go.
TEST_P(StoreContractTest, AuditPrunedByCountKeepsTheNewest) {
  AppendEntries(*store_, 20, 1000);
  EXPECT_EQ(PruneAuditFully(*store_, 0, 5, 1000), 15);
  const std::vector<AuditEntry> left = AllAudit();
  ASSERT_EQ(left.size(), 5u);
  EXPECT_EQ(left.front().time_ms, 1015);
  EXPECT_EQ(left.back().time_ms, 1019);
  ExpectChainIntact(*store_, 5);
  // Without limits nothing goes.
  EXPECT_EQ(PruneAuditFully(*store_, 0, 0, 1000), 0);
}

// Pruning is a prefix: an entry newer than the cutoff stops it, even when
// older ones (a batched read entry stamped earlier) come after it.
TEST_P(StoreContractTest, AuditPruneStopsAtTheFirstEntryItKeeps) {
  ASSERT_TRUE(
      store_->AppendAudit({Audit("a", 1000), Audit("b", 5000), Audit("c", 1001), Audit("d", 6000)})
          .ok());
  EXPECT_EQ(PruneAuditFully(*store_, 2000, 0, 100), 1);
  EXPECT_EQ(AllAudit().front().action, "b");
  ExpectChainIntact(*store_, 3);
}

// The newest entry is never pruned, so the next append extends the chain
// from it and verification goes on.
TEST_P(StoreContractTest, AuditPruneKeepsTheNewestEntry) {
  AppendEntries(*store_, 4, 1000);
  EXPECT_EQ(PruneAuditFully(*store_, 1'000'000, 0, 100), 3);
  ASSERT_EQ(AllAudit().size(), 1u);
  ASSERT_TRUE(store_->WriteLayer(Put("global", "{}", 0)).ok());
  ExpectChainIntact(*store_, 2);
}

// Snapshots: old ones go unless they are among their chain's newest, at or
// above the version an unfinished rollout may assign, or held by a node.
TEST_P(StoreContractTest, SnapshotRetentionKeepsWhatMayStillBeServed) {
  auto put = [&](const std::string& hash, const std::string& chain, std::int64_t version,
                 std::int64_t created, const std::string& rollout = "") {
    SnapshotRecord s;
    s.hash = hash;
    s.scope_chain = chain;
    s.version = version;
    s.created_at_ms = created;
    s.expires_at_ms = created + 100;
    s.rollout = rollout;
    ASSERT_TRUE(store_->PutSnapshot(s).ok());
  };
  for (int v = 1; v <= 6; ++v) put("sha256:g" + std::to_string(v), "global", v, 1000 + v);
  put("sha256:r1", "global,region:a", 1, 1001);
  put("sha256:r2", "global,region:a", 2, 1002);
  put("sha256:l3", "global", 3, 1003, "ro-1/0");
  NodeRecord n;
  n.node_id = "n1";
  n.scope_chain = "global";
  n.assigned_hash = "sha256:g1";
  n.applied_hash = "sha256:g2";
  n.health_json = "{}";
  ASSERT_TRUE(store_->UpsertNode(n).ok());

  auto candidates = [&](SnapshotRetention r) {
    Result<std::vector<std::string>> got = store_->SnapshotsToPrune(r, 100);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    std::vector<std::string> hashes = got.ok() ? *got : std::vector<std::string>{};
    std::sort(hashes.begin(), hashes.end());
    return hashes;
  };
  using V = std::vector<std::string>;
  // Every chain's two newest stay (the labelled one is its own group), g1
  // and g2 are the node's.
  EXPECT_EQ(candidates({.cutoff_ms = 5000, .keep_per_chain = 2}), (V{"sha256:g3", "sha256:g4"}));
  EXPECT_EQ(candidates({.cutoff_ms = 5000, .keep_per_chain = 0}),
            (V{"sha256:g3", "sha256:g4", "sha256:g5", "sha256:g6", "sha256:l3", "sha256:r1",
               "sha256:r2"}));
  EXPECT_EQ(candidates({.cutoff_ms = 1004, .keep_per_chain = 1}), (V{"sha256:g3", "sha256:r1"}));
  EXPECT_EQ(candidates({.cutoff_ms = 5000, .keep_per_chain = 2, .keep_from_version = 4}),
            (V{"sha256:g3"}));
  // The limit takes the oldest first.
  Result<std::vector<std::string>> one =
      store_->SnapshotsToPrune({.cutoff_ms = 5000, .keep_per_chain = 0}, 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, (V{"sha256:r1"}));

  // A snapshot a node is given between the choice and the delete stays.
  n.assigned_hash = "sha256:g4";
  ASSERT_TRUE(store_->UpsertNode(n).ok());
  Result<std::int64_t> deleted = store_->DeleteSnapshots({"sha256:g3", "sha256:g4", "sha256:g2"});
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(*deleted, 1);
  EXPECT_EQ(store_->GetSnapshot("sha256:g3").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetSnapshot("sha256:g4").ok());
  EXPECT_TRUE(store_->GetSnapshot("sha256:g2").ok());
  EXPECT_EQ(*store_->DeleteSnapshots({}), 0);
}

// Writes go on while a retention pass (store_retention.h) removes a large
// backlog: none fails and none waits longer than a few batches (each batch
// one short transaction; on SQLite one group of the group writer), although
// the whole pass takes much longer.
TEST_P(StoreContractTest, WritesDoNotWaitForARetentionPass) {
  Store* store = store_.get();
  FakeClock clock;
  MetricsRegistry metrics;
  constexpr int kBacklog = 60'000;
  AppendAuditAt(*store, kBacklog, clock.NowUnixMs() - 100LL * 24 * 3600 * 1000);
  RetentionOptions options;
  options.manual_for_test = true;
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

// The anchor does not hide a removal by hand: the entry after the anchor
// removed with an SQL client breaks the chain at the entry after it.
TEST(SqliteRetentionTest, EntryAfterTheAnchorRemovedByHandBreaksTheChain) {
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  auto store = OpenSqliteStore({.path = path, .synchronous_full = false});
  ASSERT_TRUE(store.ok());
  AppendEntries(**store, 10, 1000);
  EXPECT_EQ(PruneAuditFully(**store, 1004, 0, 100), 4);
  const std::vector<AuditEntry> left = *(*store)->QueryAudit(0, 0, 100);
  ASSERT_EQ(left.size(), 6u);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const std::string sql = "DELETE FROM audit WHERE id = " + std::to_string(left[0].id);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  Result<api::AuditChainReport> report = (*store)->VerifyAuditChain();
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->break_id, left[1].id);
}

}  // namespace
}  // namespace omnirelay::cp

// The audit chain (audit_chain.h): the pure check, the Store contract (every
// append extends the chain, whatever the operation), and SQLite entries
// changed, removed and added by hand with an SQL client.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "audit_chain.h"
#include "store_contract.h"

namespace omnirelay::cp {
namespace {

using namespace store_contract;  // NOLINT: the suite's own fixture and builders

api::AuditEntry Entry(std::int64_t id, const std::string& summary) {
  api::AuditEntry e = Audit("layer.put", 1000 + id);
  e.id = id;
  e.summary = summary;
  return e;
}

// Runs `sql` on the store file with an SQL client of its own, as an operator would.
void ExecSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sql;
  sqlite3_close(db);
}

// Entries with their chained hashes, as a store appends them.
std::vector<std::pair<api::AuditEntry, std::string>> Chain(int n) {
  std::vector<std::pair<api::AuditEntry, std::string>> out;
  std::string previous;
  for (int i = 1; i <= n; ++i) {
    api::AuditEntry e = Entry(i, "change " + std::to_string(i));
    previous = AuditChainHash(previous, e);
    out.emplace_back(e, previous);
  }
  return out;
}

// Contract 1: the hash depends on every field and on the previous hash.
TEST(AuditChainTest, HashCoversThePreviousHashAndEveryField) {
  const api::AuditEntry e = Entry(1, "x");
  const std::string h = AuditChainHash("", e);
  EXPECT_EQ(h.size(), 64u);
  EXPECT_EQ(AuditChainHash("", e), h);
  EXPECT_NE(AuditChainHash("a", e), h);
  api::AuditEntry other = e;
  other.id = 99;  // the id is the store's, not hashed
  EXPECT_EQ(AuditChainHash("", other), h);
  for (auto change : std::vector<void (*)(api::AuditEntry&)>{
           [](api::AuditEntry& a) { a.time_ms += 1; },
           [](api::AuditEntry& a) { a.principal += "x"; },
           [](api::AuditEntry& a) { a.token_id += "x"; },
           [](api::AuditEntry& a) { a.action += "x"; }, [](api::AuditEntry& a) { a.scope += "x"; },
           [](api::AuditEntry& a) { a.revision += 1; },
           [](api::AuditEntry& a) { a.outcome += "x"; },
           [](api::AuditEntry& a) { a.summary += "x"; }}) {
    api::AuditEntry changed = e;
    change(changed);
    EXPECT_NE(AuditChainHash("", changed), h);
  }
  // Length prefixes: moving bytes between fields changes the hash.
  api::AuditEntry a = e, b = e;
  a.principal = "ab";
  a.token_id = "c";
  b.principal = "a";
  b.token_id = "bc";
  EXPECT_NE(AuditChainHash("", a), AuditChainHash("", b));
}

// Contract 2: an intact chain, one before the chain began, and each kind of break.
TEST(AuditChainTest, CheckFindsTheFirstBreak) {
  auto feed = [](const std::vector<std::pair<api::AuditEntry, std::optional<std::string>>>& rows) {
    AuditChainCheck check;
    for (const auto& [e, h] : rows) check.Add(e, h);
    return check.report();
  };
  std::vector<std::pair<api::AuditEntry, std::optional<std::string>>> rows;
  for (auto& [e, h] : Chain(5)) rows.emplace_back(e, h);
  api::AuditChainReport ok = feed(rows);
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.entries, 5);
  EXPECT_EQ(ok.head_id, 5);
  EXPECT_EQ(ok.head_hash, *rows.back().second);
  EXPECT_EQ(ok.break_id, 0);

  auto edited = rows;
  edited[2].first.summary = "nothing happened";
  api::AuditChainReport r = feed(edited);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.break_id, 3);
  EXPECT_EQ(r.entries, 5);

  auto removed = rows;
  removed.erase(removed.begin() + 1);
  EXPECT_EQ(feed(removed).break_id, 3);  // the entry after the gap

  auto added = rows;
  added.insert(added.begin() + 2, {Entry(10, "by hand"), std::nullopt});
  EXPECT_EQ(feed(added).break_id, 10);

  // Entries from before the chain existed, then the chain: intact.
  std::vector<std::pair<api::AuditEntry, std::optional<std::string>>> migrated = {
      {Entry(1, "old"), std::nullopt}, {Entry(2, "old"), std::nullopt}};
  std::string previous;
  for (int i = 3; i <= 4; ++i) {
    api::AuditEntry e = Entry(i, "new");
    previous = AuditChainHash(previous, e);
    migrated.emplace_back(e, previous);
  }
  api::AuditChainReport m = feed(migrated);
  EXPECT_TRUE(m.ok);
  EXPECT_EQ(m.before_chain, 2);
  EXPECT_EQ(m.entries, 4);
  EXPECT_TRUE(feed({}).ok);
}

// Every operation that appends audit entries extends one intact chain.
TEST_P(StoreContractTest, EveryAppendExtendsTheAuditChain) {
  ASSERT_TRUE(store_->WriteLayer(Put("global", "{\"a\":1}", 0)).ok());
  ASSERT_TRUE(store_->AppendAudit({Audit("layer.get", 1100), Audit("status.get", 1200)}).ok());
  ASSERT_TRUE(store_->CreateToken(Token("t1", "h1", 1300), Audit("token.create", 1300)).ok());
  ASSERT_TRUE(store_->PutSetting("freeze", "{}", 1400, Audit("freeze.set", 1400)).ok());
  ASSERT_TRUE(store_->WriteLayer(Put("global", "{\"a\":2}", 1)).ok());
  auto report = store_->VerifyAuditChain();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok);
  EXPECT_EQ(report->entries, 6);
  EXPECT_EQ(report->before_chain, 0);
  EXPECT_EQ(report->head_hash.size(), 64u);
  auto entries = store_->QueryAudit(0, 0, 100);
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(report->head_id, entries->back().id);
}

// With an SQL client on the file: an edited, a deleted and an inserted entry
// are each found; the rest of the store works on.
TEST(SqliteAuditChainTest, EntriesChangedByHandBreakTheChain) {
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  auto exec_sql = [&](const std::string& sql) { ExecSql(path, sql); };
  auto verify = [&] {
    auto store = OpenSqliteStore({.path = path, .synchronous_full = false});
    EXPECT_TRUE(store.ok());
    auto report = (*store)->VerifyAuditChain();
    EXPECT_TRUE(report.ok());
    return *report;
  };
  {
    auto store = OpenSqliteStore({.path = path, .synchronous_full = false});
    ASSERT_TRUE(store.ok());
    std::vector<AuditEntry> entries;
    for (int i = 0; i < 6; ++i) entries.push_back(Audit("layer.get", 1000 + i));
    ASSERT_TRUE((*store)->AppendAudit(entries).ok());
  }
  EXPECT_TRUE(verify().ok);

  exec_sql("UPDATE audit SET outcome = 'permission_denied' WHERE id = 3");
  api::AuditChainReport edited = verify();
  EXPECT_FALSE(edited.ok);
  EXPECT_EQ(edited.break_id, 3);
  exec_sql("UPDATE audit SET outcome = 'ok' WHERE id = 3");
  EXPECT_TRUE(verify().ok);

  exec_sql("DELETE FROM audit WHERE id = 4");
  EXPECT_EQ(verify().break_id, 5);

  exec_sql(
      "INSERT INTO audit (id, time_ms, principal, token_id, action, scope, revision, outcome, "
      "summary) VALUES (4, 1003, 'admin', 'tok-admin', 'layer.get', '', 0, 'ok', '')");
  api::AuditChainReport inserted = verify();
  EXPECT_EQ(inserted.break_id, 4);
  EXPECT_NE(inserted.break_reason.find("no hash"), std::string::npos) << inserted.break_reason;

  // A store from before the chain: its entries are counted, not breaks.
  exec_sql("DELETE FROM audit WHERE id = 4");
  exec_sql("UPDATE audit SET hash = NULL");
  {
    auto store = OpenSqliteStore({.path = path, .synchronous_full = false});
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->AppendAudit({Audit("layer.get", 2000), Audit("layer.get", 2001)}).ok());
  }
  api::AuditChainReport migrated = verify();
  EXPECT_TRUE(migrated.ok) << migrated.break_reason;
  EXPECT_EQ(migrated.before_chain, 5);
  EXPECT_EQ(migrated.entries, 7);
}

// A store whose newest migration is the audit chain (10, as main had it
// before the snapshot labels came) upgrades: migration 11 adds the label
// column, and snapshots are stored and read again.
TEST(SqliteAuditChainTest, StoreAtTheAuditChainMigrationUpgrades) {
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  ASSERT_TRUE(OpenSqliteStore({.path = path, .synchronous_full = false}).ok());
  ExecSql(path,
          "ALTER TABLE snapshots DROP COLUMN rollout; "
          "ALTER TABLE rollouts DROP COLUMN members_json; "
          "DELETE FROM schema_migrations WHERE version >= 11");
  auto store = OpenSqliteStore({.path = path, .synchronous_full = false});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  SnapshotRecord snap;
  snap.hash = "sha256:" + std::string(64, 'a');
  snap.snapshot = "{}";
  snap.envelope = "{}";
  snap.version = 1;
  snap.scope_chain = "global";
  ASSERT_TRUE((*store)->PutSnapshot(snap).ok());
  auto latest = (*store)->LatestSnapshot("global");
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->hash, snap.hash);
  EXPECT_TRUE((*store)->VerifyAuditChain().ok());
}

}  // namespace
}  // namespace omnirelay::cp

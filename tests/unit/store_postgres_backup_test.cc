// A Postgres store is backed up with Postgres's own tools (deployment.md,
// "Backup and restore"): pg_dump -Fc of a store, pg_restore into an empty
// database, and a store opened there has everything back — layers and
// history, tokens, rollouts, settings, the audit chain with its retention
// anchor — and goes on from where it was (revisions, audit ids).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"
#include "postgres_test_server.h"
#include "store_contract.h"

namespace omnirelay::cp {
namespace {

using store_contract::Audit;
using store_contract::Put;
using store_contract::TempDir;

// The server's client programs (scripts/pg-server.sh's PG_BIN).
std::string PgBin(const char* program) {
  const char* bin = std::getenv("PG_BIN");
  return std::string(bin != nullptr && *bin != '\0' ? bin : "/usr/lib/postgresql/15/bin") + "/" +
         program;
}

TEST(PostgresStoreTest, PgDumpAndPgRestoreBringTheStoreBack) {
  TempDir dir;
  const std::string server = pg_test::FixtureServerUrl();
  const std::string from_db = pg_test::DatabaseFor(dir.path());
  const std::string from = pg_test::EnsureDatabase(server, from_db);
  const std::string to = pg_test::EnsureDatabase(server, from_db + "_restored");
  {
    Result<std::unique_ptr<Store>> opened = OpenPostgresStore({.url = from});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Store* store = opened->get();
    ASSERT_TRUE(store->WriteLayer(Put("global", "{\"a\":1}", 0)).ok());
    ASSERT_TRUE(store->WriteLayer(Put("global", "{\"a\":2}", 1)).ok());
    ASSERT_TRUE(store->WriteLayer(Put("region:x", "{}", 0)).ok());
    ASSERT_TRUE(store->CreateToken(store_contract::Token("t1", "h1", 1000), Audit("t", 1000)).ok());
    ASSERT_TRUE(store->PutRollout({"ro-1", "{\"s\":1}", 1000, 3}).ok());
    ASSERT_TRUE(
        store->PutSetting("cell.signing-key", "{\"keyId\":\"k\"}", 1000, Audit("s", 1000)).ok());
    ASSERT_TRUE(store->PruneAudit(0, 2, 1000).ok());  // an anchor to carry over
  }
  const std::string dump = dir.path() + "/store.pgdump";
  ASSERT_EQ(std::system((PgBin("pg_dump") + " -Fc -f " + dump + " '" + from + "'").c_str()), 0);
  ASSERT_EQ(std::system((PgBin("pg_restore") + " --no-owner -d '" + to + "' " + dump).c_str()), 0);

  Result<std::unique_ptr<Store>> reopened = OpenPostgresStore({.url = to});
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  Store* restored = reopened->get();
  EXPECT_EQ(*restored->HeadRevision(), 3);
  EXPECT_EQ(restored->GetLayer("global")->document, "{\"a\":2}");
  EXPECT_EQ(restored->History("global", 0, 10)->size(), 2u);
  EXPECT_EQ(restored->ListTokens()->size(), 1u);
  EXPECT_EQ(restored->GetRollout("ro-1")->generation, 3);
  EXPECT_EQ(restored->GetSetting("cell.signing-key")->value, "{\"keyId\":\"k\"}");
  auto report = restored->VerifyAuditChain();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok) << report->break_reason;
  EXPECT_NE(report->anchor_id, 0);
  // It goes on from where it was: the next revision and audit id follow.
  EXPECT_EQ(*restored->WriteLayer(Put("global", "{\"a\":3}", 2)), 4);
  auto again = restored->VerifyAuditChain();
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->ok) << again->break_reason;
  EXPECT_EQ(again->entries, report->entries + 1);
}

}  // namespace
}  // namespace omnirelay::cp

// The Postgres store's group commit (store_postgres_batch.h) on a real
// server: writes that queue behind a running batch share the next
// transaction, and in a batch a write that fails is rolled back alone.
#include "store_postgres_batch.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "omnirelay/controlplane/store.h"
#include "postgres_test_server.h"
#include "store_contract.h"
#include "store_postgres_pool.h"
#include "store_postgres_rows.h"

namespace omnirelay::cp {
namespace {

using store_contract::Put;
using store_contract::TempDir;

// A fresh migrated database; the store that migrated it reads it back.
struct Database {
  TempDir dir;
  std::string url =
      pg_test::EnsureDatabase(pg_test::FixtureServerUrl(), pg_test::DatabaseFor(dir.path()));
  std::unique_ptr<Store> store = std::move(OpenPostgresStore({.url = url}).value());
  pg::Pool pool{url, 4};
};

pg::WriteBatcher::Write LayerPut(std::string scope, std::string document,
                                 std::optional<std::int64_t> expected = std::nullopt) {
  return [w = Put(std::move(scope), std::move(document), expected)](pqxx::transaction_base& txn,
                                                                    pg::WriteCursor& at) -> Status {
    return pg::ApplyLayerWrite(txn, at, w).status();
  };
}

// Holds the first batch for 300 ms, then queues `writes` behind it in
// order; returns their outcomes.
std::vector<Status> QueuedBehindABatch(pg::WriteBatcher& batcher,
                                       const std::vector<pg::WriteBatcher::Write>& writes) {
  std::promise<void> running;
  const pg::WriteBatcher::Write hold = [&](pqxx::transaction_base& txn, pg::WriteCursor& at) {
    running.set_value();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the others queue meanwhile
    return LayerPut("zone:hold", "{}")(txn, at);
  };
  std::thread leader([&] { EXPECT_TRUE(batcher.Run(hold).ok()); });
  running.get_future().wait();
  std::vector<std::future<Status>> outcomes;
  for (const auto& w : writes) {
    outcomes.push_back(std::async(std::launch::async, [&batcher, w] { return batcher.Run(w); }));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // keep the queue's order
  }
  leader.join();
  std::vector<Status> got;
  for (auto& f : outcomes) got.push_back(f.get());
  return got;
}

std::vector<std::string> ScopesInOrder(Store& store) {
  auto all = store.RevisionsSince(0, 100);
  EXPECT_TRUE(all.ok());
  std::vector<std::string> scopes;
  for (std::size_t i = 0; all.ok() && i < all->size(); ++i) {
    EXPECT_EQ((*all)[i].revision, std::int64_t(i + 1)) << "gap";
    scopes.push_back((*all)[i].scope);
  }
  return scopes;
}

// While one batch holds the lock, seven writers queue: they commit together
// in the next transaction, gap-free, each write's audit entry chained.
TEST(PostgresWriteBatcherTest, WritesQueuedBehindACommitShareTheNext) {
  Database db;
  pg::WriteBatcher batcher(db.pool, 64);
  std::vector<pg::WriteBatcher::Write> writes;
  for (int i = 0; i < 7; ++i) writes.push_back(LayerPut("zone:w" + std::to_string(i), "{}"));
  for (const Status& s : QueuedBehindABatch(batcher, writes)) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(batcher.counts().writes, 8u);
  EXPECT_EQ(batcher.counts().batches, 2u);
  EXPECT_EQ(batcher.counts().rerun, 0u);
  EXPECT_EQ(*db.store->HeadRevision(), 8);
  EXPECT_EQ(ScopesInOrder(*db.store).size(), 8u);
  auto chain = db.store->VerifyAuditChain();
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  EXPECT_TRUE(chain->ok);
  EXPECT_EQ(chain->entries, 8);
}

// In one batch a CAS conflict is rolled back to its savepoint and told; the
// writes around it commit in the same transaction with the next revisions.
TEST(PostgresWriteBatcherTest, ACasConflictInABatchIsRolledBackAlone) {
  Database db;
  ASSERT_TRUE(db.store->WriteLayer(Put("zone:a", "{\"v\":1}", std::nullopt)).ok());  // rev 1
  pg::WriteBatcher batcher(db.pool, 64);
  const std::vector<Status> got = QueuedBehindABatch(
      batcher, {LayerPut("zone:b", "{}"), LayerPut("zone:a", "{\"v\":2}", /*expected=*/7),
                LayerPut("zone:c", "{}")});
  EXPECT_TRUE(got[0].ok()) << got[0].ToString();
  EXPECT_EQ(got[1].code(), StatusCode::kConflict) << got[1].ToString();
  EXPECT_TRUE(got[2].ok()) << got[2].ToString();
  EXPECT_EQ(batcher.counts().batches, 2u);
  EXPECT_EQ(batcher.counts().rerun, 0u);
  EXPECT_EQ(ScopesInOrder(*db.store),
            (std::vector<std::string>{"zone:a", "zone:hold", "zone:b", "zone:c"}));
  EXPECT_EQ(db.store->GetLayer("zone:a")->document, "{\"v\":1}");
  auto chain = db.store->VerifyAuditChain();
  ASSERT_TRUE(chain.ok());
  EXPECT_TRUE(chain->ok);
  EXPECT_EQ(chain->entries, 4);
}

// A statement the server refuses ends libpqxx's transaction: the batch is
// abandoned and its writes run again one by one, so only the refused one
// fails and nothing is committed twice or lost.
TEST(PostgresWriteBatcherTest, AWriteTheServerRefusesFailsAloneAndTheRestCommit) {
  Database db;
  pg::WriteBatcher batcher(db.pool, 64);
  // Writes a revision row, then a statement fails.
  const pg::WriteBatcher::Write refused = [](pqxx::transaction_base& txn, pg::WriteCursor& at) {
    const Status s = LayerPut("zone:refused", "{}")(txn, at);
    if (!s.ok()) return s;
    txn.exec("SELECT * FROM no_such_table");
    return Status::Ok();
  };
  const std::vector<Status> got =
      QueuedBehindABatch(batcher, {LayerPut("zone:b", "{}"), refused, LayerPut("zone:c", "{}")});
  EXPECT_TRUE(got[0].ok()) << got[0].ToString();
  EXPECT_EQ(got[1].code(), StatusCode::kInternal) << got[1].ToString();
  EXPECT_NE(got[1].message().find("no_such_table"), std::string::npos) << got[1].ToString();
  EXPECT_TRUE(got[2].ok()) << got[2].ToString();
  EXPECT_EQ(batcher.counts().rerun, 3u);
  EXPECT_EQ(ScopesInOrder(*db.store), (std::vector<std::string>{"zone:hold", "zone:b", "zone:c"}));
  EXPECT_FALSE(db.store->GetLayer("zone:refused").ok());
  auto chain = db.store->VerifyAuditChain();
  ASSERT_TRUE(chain.ok());
  EXPECT_TRUE(chain->ok);
  EXPECT_EQ(chain->entries, 3);
}

// A write alone that is one statement runs in autocommit on the cursor the
// last commit left (one round trip); on no cursor, or one another writer
// made stale, it runs in a transaction that takes the lock; a pooled
// connection the server closed meanwhile is replaced before anything is
// sent, so the write is retried, not left in doubt. Revisions stay gap-free
// and the audit chain whole.
TEST(PostgresWriteBatcherTest, AWriteAloneOnAKnownCursorRunsInAutocommit) {
  Database db;
  pg::WriteBatcher batcher(db.pool, 64);
  auto single = [&](const std::string& scope) {
    return batcher.Run(LayerPut(scope, "{}"), /*single_statement=*/true);
  };
  ASSERT_TRUE(single("zone:a").ok());
  EXPECT_EQ(batcher.counts().autocommit, 0u) << "no cursor yet: a transaction takes the lock";
  ASSERT_TRUE(single("zone:a").ok());
  EXPECT_EQ(batcher.counts().autocommit, 1u);

  // Another writer: the statement is not applied on the stale cursor and
  // runs again under the lock.
  ASSERT_TRUE(db.store->WriteLayer(Put("zone:other", "{}", std::nullopt)).ok());
  ASSERT_TRUE(single("zone:a").ok());
  EXPECT_EQ(batcher.counts().autocommit, 1u);
  ASSERT_TRUE(single("zone:a").ok());
  EXPECT_EQ(batcher.counts().autocommit, 2u);

  // The server ends every other session (as a restart would), and they are
  // gone before the next write.
  ASSERT_TRUE(pg_test::TerminateOtherSessions(db.url)) << "the sessions did not end";
  const Status after = single("zone:a");
  EXPECT_TRUE(after.ok()) << after.ToString();
  ASSERT_TRUE(single("zone:a").ok());
  EXPECT_EQ(batcher.counts().autocommit, 3u);

  EXPECT_EQ(ScopesInOrder(*db.store),
            (std::vector<std::string>{"zone:a", "zone:a", "zone:other", "zone:a", "zone:a",
                                      "zone:a", "zone:a"}));
  auto chain = db.store->VerifyAuditChain();
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  EXPECT_TRUE(chain->ok) << chain->break_id << ": " << chain->break_reason;
  EXPECT_EQ(chain->entries, 7);
}

}  // namespace
}  // namespace omnirelay::cp

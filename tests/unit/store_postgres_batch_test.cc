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

using store_contract::Delete;
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

// Holds a first batch for 300 ms (`hold_write` after the wait), then calls
// `queue(k)` for k = 0..n-1 on threads of their own, in order, each one
// queueing a write behind it; returns what they returned.
template <typename Queue>
auto BehindABatch(pg::WriteBatcher& batcher, std::size_t n, Queue queue,
                  pg::WriteBatcher::Write hold_write) {
  std::promise<void> running;
  const pg::WriteBatcher::Write hold = [&](pqxx::transaction_base& txn, pg::WriteCursor& at) {
    running.set_value();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the others queue meanwhile
    return hold_write(txn, at);
  };
  std::thread leader([&] { EXPECT_TRUE(batcher.Run(hold).ok()); });
  running.get_future().wait();
  std::vector<std::future<decltype(queue(std::size_t{0}))>> outcomes;
  for (std::size_t k = 0; k < n; ++k) {
    outcomes.push_back(std::async(std::launch::async, [&queue, k] { return queue(k); }));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // keep the queue's order
  }
  leader.join();
  std::vector<decltype(queue(std::size_t{0}))> got;
  for (auto& f : outcomes) got.push_back(f.get());
  return got;
}

// `writes` queued behind a batch that holds the lock (a layer put).
std::vector<Status> QueuedBehindABatch(pg::WriteBatcher& batcher,
                                       const std::vector<pg::WriteBatcher::Write>& writes) {
  return BehindABatch(
      batcher, writes.size(), [&](std::size_t k) { return batcher.Run(writes[k]); },
      LayerPut("zone:hold", "{}"));
}

// Layer writes queued through RunLayerWrite behind `hold_write` (by
// default a layer put); their revisions, or why not.
std::vector<Result<std::int64_t>> LayerWritesBehindABatch(
    pg::WriteBatcher& batcher, const std::vector<LayerWrite>& writes,
    pg::WriteBatcher::Write hold_write = LayerPut("zone:hold", "{}")) {
  return BehindABatch(
      batcher, writes.size(), [&](std::size_t k) { return batcher.RunLayerWrite(writes[k]); },
      std::move(hold_write));
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

LayerWrite Checked(LayerWrite w, std::vector<LayerWrite::CheckedLayer> checked) {
  w.checked_layers = std::move(checked);
  return w;
}

void ExpectChainWhole(Store& store, std::int64_t entries) {
  auto chain = store.VerifyAuditChain();
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  EXPECT_TRUE(chain->ok) << chain->break_id << ": " << chain->break_reason;
  EXPECT_EQ(chain->entries, entries);
}

// Layer puts that queue together on a known cursor are one statement: each
// gets the next revision in queue order, its layer and revision rows and
// its audit entry, chained in that order (the chain's check reads the audit
// by id, so ids follow the queue too).
TEST(PostgresWriteBatcherTest, LayerPutsQueuedTogetherAreAppliedAsOneStatement) {
  Database db;
  ASSERT_TRUE(db.store->WriteLayer(Put("global", "{}", std::nullopt)).ok());  // rev 1
  pg::WriteBatcher batcher(db.pool, 64);
  std::vector<LayerWrite> writes;
  for (int i = 0; i < 5; ++i) {
    const std::string scope = "zone:w" + std::to_string(i);
    // Each validated with the global layer (which none of them writes).
    writes.push_back(Checked(Put(scope, "{\"i\":" + std::to_string(i) + "}", /*expected=*/0),
                             {{"global", 1}, {scope, 0}}));
  }
  const auto got = LayerWritesBehindABatch(batcher, writes);
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(got[i].ok()) << got[i].status().ToString();
    EXPECT_EQ(*got[i], std::int64_t(i) + 3);  // after global (1) and the hold (2)
  }
  EXPECT_EQ(batcher.counts().fused, 1u);
  EXPECT_EQ(batcher.counts().batches, 2u);
  EXPECT_EQ(ScopesInOrder(*db.store),
            (std::vector<std::string>{"global", "zone:hold", "zone:w0", "zone:w1", "zone:w2",
                                      "zone:w3", "zone:w4"}));
  for (int i = 0; i < 5; ++i) {
    auto layer = db.store->GetLayer("zone:w" + std::to_string(i));
    ASSERT_TRUE(layer.ok()) << layer.status().ToString();
    EXPECT_EQ(layer->revision, i + 3);
    EXPECT_EQ(layer->document, "{\"i\":" + std::to_string(i) + "}");
  }
  ExpectChainWhole(*db.store, 7);

  // The cursor it left is known: the next write alone is one statement too.
  ASSERT_TRUE(batcher.RunLayerWrite(Put("zone:w0", "{}", std::nullopt)).ok());
  EXPECT_EQ(batcher.counts().autocommit, 1u);
  ExpectChainWhole(*db.store, 8);
}

// When one of them would be refused the statement applies none, and the
// batch runs write by write: the refused one is told why, the rest commit.
TEST(PostgresWriteBatcherTest, APutThatWouldBeRefusedSendsTheBatchWriteByWrite) {
  Database db;
  ASSERT_TRUE(db.store->WriteLayer(Put("zone:a", "{\"v\":1}", std::nullopt)).ok());  // rev 1
  pg::WriteBatcher batcher(db.pool, 64);
  const auto got = LayerWritesBehindABatch(
      batcher, {Put("zone:b", "{}", std::nullopt), Put("zone:a", "{\"v\":2}", /*expected=*/7),
                Put("zone:c", "{}", std::nullopt)});
  ASSERT_TRUE(got[0].ok()) << got[0].status().ToString();
  EXPECT_EQ(got[1].status().code(), StatusCode::kConflict) << got[1].status().ToString();
  ASSERT_TRUE(got[2].ok()) << got[2].status().ToString();
  EXPECT_EQ(*got[0], 3);
  EXPECT_EQ(*got[2], 4);
  EXPECT_EQ(batcher.counts().fused, 0u);
  EXPECT_EQ(ScopesInOrder(*db.store),
            (std::vector<std::string>{"zone:a", "zone:hold", "zone:b", "zone:c"}));
  EXPECT_EQ(db.store->GetLayer("zone:a")->document, "{\"v\":1}");
  ExpectChainWhole(*db.store, 4);
}

// A freeze refuses every put of the batch that names it, as one by one.
TEST(PostgresWriteBatcherTest, AFreezeRefusesEveryPutOfTheBatch) {
  Database db;
  AuditEntry audit;
  audit.principal = "alice";
  audit.action = "freeze";
  audit.outcome = "ok";
  ASSERT_TRUE(db.store->PutSetting("freeze", std::string("incident 7"), 1000, audit).ok());
  pg::WriteBatcher batcher(db.pool, 64);
  // Its commit leaves the cursor known, with the freeze already set.
  ASSERT_TRUE(batcher.RunLayerWrite(Put("zone:x", "{}", std::nullopt)).ok());
  std::vector<LayerWrite> writes;
  for (const char* scope : {"zone:a", "zone:b"}) {
    LayerWrite w = Put(scope, "{}", std::nullopt);
    w.refused_by_setting = "freeze";
    writes.push_back(w);
  }
  const auto got = LayerWritesBehindABatch(batcher, writes, [](auto&, auto&) {
    return Status::Ok();  // takes no lock: the cursor stays the one zone:x left
  });
  for (const auto& r : got) {
    EXPECT_EQ(r.status().code(), StatusCode::kFrozen) << r.status().ToString();
    EXPECT_EQ(r.status().message(), "incident 7");
  }
  EXPECT_EQ(batcher.counts().fused, 0u);
  EXPECT_FALSE(db.store->GetLayer("zone:a").ok());
  ExpectChainWhole(*db.store, 2);
}

// Puts that depend on each other are not one statement: two to one scope
// both commit, in order; a put validated with a layer another put of the
// batch writes finds it moved, as it would one after the other.
TEST(PostgresWriteBatcherTest, PutsThatDependOnEachOtherRunWriteByWrite) {
  Database db;
  pg::WriteBatcher batcher(db.pool, 64);
  auto got = LayerWritesBehindABatch(batcher, {Put("zone:a", "{\"v\":1}", std::nullopt),
                                               Put("zone:a", "{\"v\":2}", std::nullopt)});
  ASSERT_TRUE(got[0].ok() && got[1].ok());
  EXPECT_EQ(*got[1], *got[0] + 1);
  EXPECT_EQ(db.store->GetLayer("zone:a")->document, "{\"v\":2}");
  EXPECT_EQ(batcher.counts().fused, 0u);

  const std::int64_t a = *got[1];
  got = LayerWritesBehindABatch(
      batcher, {Put("zone:a", "{\"v\":3}", std::nullopt),
                Checked(Put("zone:b", "{}", std::nullopt), {{"zone:a", a}, {"zone:b", 0}})});
  ASSERT_TRUE(got[0].ok()) << got[0].status().ToString();
  EXPECT_EQ(got[1].status().code(), StatusCode::kConflict) << got[1].status().ToString();
  EXPECT_EQ(batcher.counts().fused, 0u);
  EXPECT_FALSE(db.store->GetLayer("zone:b").ok());
  ExpectChainWhole(*db.store, 5);
}

// A statement the server refuses (text that is not UTF-8) changes nothing
// in autocommit: the batch runs write by write, and only that write fails.
TEST(PostgresWriteBatcherTest, AStatementTheServerRefusesRunsTheBatchWriteByWrite) {
  Database db;
  pg::WriteBatcher batcher(db.pool, 64);
  const auto got =
      LayerWritesBehindABatch(batcher, {Put("zone:a", "{}", std::nullopt),
                                        Put("zone:bad", "{\"v\":\"\xff\"}", std::nullopt),
                                        Put("zone:c", "{}", std::nullopt)});
  ASSERT_TRUE(got[0].ok()) << got[0].status().ToString();
  EXPECT_EQ(got[1].status().code(), StatusCode::kInvalidArgument) << got[1].status().ToString();
  ASSERT_TRUE(got[2].ok()) << got[2].status().ToString();
  EXPECT_EQ(batcher.counts().fused, 0u);
  EXPECT_EQ(batcher.counts().rerun, 3u);
  EXPECT_EQ(ScopesInOrder(*db.store), (std::vector<std::string>{"zone:hold", "zone:a", "zone:c"}));
  ExpectChainWhole(*db.store, 3);
}

// Which batches may be one statement (no server needed).
TEST(PostgresWriteBatcherTest, WhichLayerWritesFuse) {
  auto fuse = [](const std::vector<LayerWrite>& writes) {
    std::vector<const LayerWrite*> ptrs;
    for (const LayerWrite& w : writes) ptrs.push_back(&w);
    return pg::LayerWritesFuse(ptrs);
  };
  const LayerWrite a = Put("zone:a", "{}", std::nullopt), b = Put("zone:b", "{}", 3);
  EXPECT_TRUE(fuse({a, b}));
  EXPECT_FALSE(fuse({a})) << "one write alone is ApplyLayerWrite's";
  EXPECT_FALSE(fuse({a, a})) << "two to one scope";
  EXPECT_FALSE(fuse({a, Delete("zone:b", std::nullopt)})) << "a delete";
  EXPECT_FALSE(fuse({a, Put("", "{}", std::nullopt)})) << "no scope";
  EXPECT_FALSE(fuse({a, Put("zone:b", "{}", -1)})) << "a CAS ApplyLayerWrite refuses";
  EXPECT_FALSE(fuse({a, Checked(b, {{"zone:a", 0}})})) << "b validated with a's layer";
  EXPECT_TRUE(fuse({a, Checked(b, {{"zone:b", 3}, {"global", 1}})})) << "its own and others'";
  std::vector<LayerWrite> many;
  for (std::size_t i = 0; i <= pg::kMostLayerWritesAsOne; ++i) {
    many.push_back(Put("zone:" + std::to_string(i), "{}", std::nullopt));
  }
  EXPECT_FALSE(fuse(many)) << "more than one statement takes";
  many.pop_back();
  EXPECT_TRUE(fuse(many));
  const std::string half(600u << 10, ' ');
  EXPECT_FALSE(fuse({Put("zone:a", half, std::nullopt), Put("zone:b", half, std::nullopt)}))
      << "over 1 MiB of documents";
}

// Another writer since this batcher's last commit: the statement is not
// applied on the stale cursor, and the batch runs under the lock instead.
TEST(PostgresWriteBatcherTest, AnotherWriterSinceTheLastCommitSendsTheBatchUnderTheLock) {
  Database db;
  pg::WriteBatcher batcher(db.pool, 64);
  ASSERT_TRUE(batcher.RunLayerWrite(Put("zone:x", "{}", std::nullopt)).ok());     // rev 1, known
  ASSERT_TRUE(db.store->WriteLayer(Put("zone:other", "{}", std::nullopt)).ok());  // rev 2
  const auto got = LayerWritesBehindABatch(
      batcher, {Put("zone:a", "{}", std::nullopt), Put("zone:b", "{}", std::nullopt)},
      [](auto&, auto&) { return Status::Ok(); });
  ASSERT_TRUE(got[0].ok() && got[1].ok());
  EXPECT_EQ(*got[0], 3);
  EXPECT_EQ(*got[1], 4);
  EXPECT_EQ(batcher.counts().fused, 0u);
  // Its commit left a known cursor: the next batch is one statement.
  const auto next = LayerWritesBehindABatch(
      batcher, {Put("zone:c", "{}", std::nullopt), Put("zone:d", "{}", std::nullopt)},
      [](auto&, auto&) { return Status::Ok(); });
  ASSERT_TRUE(next[0].ok() && next[1].ok());
  EXPECT_EQ(*next[1], 6);
  EXPECT_EQ(batcher.counts().fused, 1u);
  EXPECT_EQ(ScopesInOrder(*db.store), (std::vector<std::string>{"zone:x", "zone:other", "zone:a",
                                                                "zone:b", "zone:c", "zone:d"}));
  ExpectChainWhole(*db.store, 6);
}

}  // namespace
}  // namespace omnirelay::cp

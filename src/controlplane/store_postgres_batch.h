// Group commit for the Postgres store's layer writes (store_postgres.cc).
// Every write that assigns revisions holds the store_head row lock until
// its commit, so on one database writes run one at a time and each waits
// for its own WAL flush. A WriteBatcher lets the writes that queue up
// behind a commit in this process share the next one: one transaction,
// one lock, one flush for up to `max_batch` writes.
//
// The first caller to find no batch running leads: it takes the queue's
// first `max_batch` writes in arrival order (a caller whose write is not
// among them waits for a later batch), runs them on one pooled
// connection, and wakes the rest with their outcomes. In a batch each write
// runs inside its own savepoint, so one that fails (a CAS conflict, a
// refused value) is rolled back alone and told why, and the others commit;
// a write declared a single statement (ApplyLayerWrite, which changes
// nothing when it refuses) needs none.
//
// The batcher keeps where its last commit left the store (WriteCursor: head,
// seq, audit tip) and starts the next transaction from it without taking
// the lock first: its first layer write is then the lock, applied only if
// nobody held the lock since (else ApplyLayerWrite takes it and writes
// again). A single-statement write alone on a known cursor runs in
// autocommit, one round trip; when it is not applied there (someone else
// held the lock since) it runs again in a transaction. The cursor
// is forgotten when the pool's connections break (Pool::generation): the
// server behind them may be a standby that never saw that commit.
// A write whose statement the server refuses ends the transaction (libpqxx
// 6.4), so then the batch is abandoned and its writes run again one by one.
// A failure of the batch itself (the connection lost, the commit in doubt,
// a transaction found unsound before its commit) is every member's outcome. A write alone runs with
// no savepoint, exactly as it did before batching.
//
// Layer puts given through RunLayerWrite that queue together (two or more
// on a known cursor, LayerWritesFuse) are first tried as one statement in
// autocommit (ApplyLayerWritesAsOne): one round trip and one flush for the
// batch instead of BEGIN, a statement each and COMMIT. It applies all of
// them or none; when one would be refused (or another replica wrote since)
// it changes nothing and the batch runs as above, where each write is told
// its own outcome.
//
// Thread safety: Run and RunLayerWrite may be called from any thread
// concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <pqxx/pqxx>
#include <vector>

#include "omnirelay/config/mutex.h"
#include "omnirelay/config/status.h"
#include "store_postgres_pool.h"
#include "store_postgres_rows.h"

namespace omnirelay::cp::pg {

class WriteBatcher {
 public:
  // Statements of one write, advancing `at`; the cursor may not hold the
  // lock yet (`at.locked`): ApplyLayerWrite takes it, and any other
  // statement that needs it must LockCursor first. It may run more than
  // once (Pool::Run's retry on a fresh connection), so it sets its results
  // afresh on each run.
  using Write = std::function<Status(pqxx::transaction_base& txn, WriteCursor& at)>;

  WriteBatcher(Pool& pool, std::size_t max_batch);
  WriteBatcher(const WriteBatcher&) = delete;
  WriteBatcher& operator=(const WriteBatcher&) = delete;

  // Runs `write` in the next batch and returns its outcome once committed
  // (or refused). `single_statement`: the write is one ApplyLayerWrite,
  // which changes nothing when it fails, so it needs no savepoint.
  Status Run(const Write& write, bool single_statement = false) EXCLUDES(mu_);

  // One layer write (ApplyLayerWrite) in the next batch: its revision once
  // committed, or why not. Such writes may share one statement (above).
  Result<std::int64_t> RunLayerWrite(const LayerWrite& w) EXCLUDES(mu_);

  // Writes run so far, the batches that carried them, the writes of
  // abandoned batches run again alone, and the writes applied in
  // autocommit (one statement alone on a known cursor), and the batches
  // applied as one statement.
  struct Counts {
    std::size_t writes = 0;
    std::size_t batches = 0;
    std::size_t rerun = 0;
    std::size_t autocommit = 0;
    std::size_t fused = 0;
  };
  Counts counts() const EXCLUDES(mu_);

 private:
  struct Job {
    const Write* write = nullptr;
    bool single_statement = false;
    Status status;
    bool done = false;  // under mu_
    // A layer write (RunLayerWrite): what it writes, and where its revision
    // goes when the batch applies it as part of one statement.
    const LayerWrite* layer = nullptr;
    std::int64_t* revision = nullptr;
  };
  // Queues `job` and returns once it is done (leading batches meanwhile).
  Status Enqueue(Job& job) EXCLUDES(mu_);
  // Where a commit left the store (a cursor not locked), and the pool
  // generation it was made in.
  struct Known {
    WriteCursor cursor;
    std::uint64_t generation = 0;
    // Made in the pool's current generation: to be trusted.
    bool Current(std::uint64_t pool_generation) const;
    // `at` as a transaction or statement left it once committed.
    static Known Committed(WriteCursor at, std::uint64_t generation);
  };
  // What the batch adds to Counts beyond its writes and itself (rerun,
  // autocommit, fused). `known`: where the last commit left the store, updated by
  // this batch's commit.
  Counts RunBatch(const std::vector<Job*>& batch, std::optional<Known>& known);
  Status RunAlone(const Write& write, bool single_statement, std::optional<Known>& known,
                  Counts& added);
  // The batch as one statement, when its writes allow it: true when that
  // decided every member's outcome (applied, or the batch failed), false
  // when the batch is to run write by write.
  bool RunFused(const std::vector<Job*>& batch, std::optional<Known>& known, Counts& added);
  // A transaction's cursor: `known`'s, not locked yet, when it is of the
  // pool's current generation and not `lock_first`; else the lock taken and
  // the cursor read.
  WriteCursor Start(pqxx::transaction_base& txn, const std::optional<Known>& known, bool lock_first,
                    std::uint64_t* generation) const;

  Pool& pool_;
  const std::size_t max_batch_;
  mutable Mutex mu_;
  CondVar cv_;
  std::deque<Job*> queue_ GUARDED_BY(mu_);
  bool leading_ GUARDED_BY(mu_) = false;  // a batch is running
  // Where this batcher's last commit left the store (unlocked), if known;
  // the leader takes it for its batch and puts it back.
  std::optional<Known> known_ GUARDED_BY(mu_);
  Counts counts_ GUARDED_BY(mu_);
};

}  // namespace omnirelay::cp::pg

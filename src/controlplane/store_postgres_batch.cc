#include "store_postgres_batch.h"

#include <optional>
#include <string>
#include <utility>

namespace omnirelay::cp::pg {

WriteBatcher::WriteBatcher(Pool& pool, std::size_t max_batch)
    : pool_(pool), max_batch_(max_batch > 0 ? max_batch : 1) {}

Status WriteBatcher::Run(const Write& write, bool single_statement) {
  Job job;
  job.write = &write;
  job.single_statement = single_statement;
  return Enqueue(job);
}

Result<std::int64_t> WriteBatcher::RunLayerWrite(const LayerWrite& w) {
  std::int64_t revision = 0;
  const Write write = [&](pqxx::transaction_base& txn, WriteCursor& at) -> Status {
    OMNI_ASSIGN_OR_RETURN(revision, ApplyLayerWrite(txn, at, w));
    return Status::Ok();
  };
  Job job;
  job.write = &write;
  job.single_statement = true;
  job.layer = &w;
  job.revision = &revision;
  OMNI_RETURN_IF_ERROR(Enqueue(job));
  return revision;
}

Status WriteBatcher::Enqueue(Job& job) {
  MutexLock lock(mu_);
  queue_.push_back(&job);
  while (!job.done) {
    if (leading_) {
      cv_.Wait(mu_);
      continue;
    }
    leading_ = true;
    std::vector<Job*> batch;
    while (!queue_.empty() && batch.size() < max_batch_) {
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    std::optional<Known> known = known_;
    lock.Unlock();
    Counts added;
    try {
      added = RunBatch(batch, known);
    } catch (...) {
      // Out of memory, in practice (Pool::Run turns libpqxx's exceptions into
      // a Status): the members are told, never left waiting for a leader.
      const Failure failure = CurrentFailure();
      for (Job* member : batch) {
        member->status = Status(StatusCode::kInternal,
                                "postgres store: a batch of writes failed; each may or may not "
                                "have been applied: " +
                                    failure.status.message());
      }
    }
    lock.Lock();
    known_ = std::move(known);
    counts_.rerun += added.rerun;
    counts_.autocommit += added.autocommit;
    counts_.fused += added.fused;
    for (Job* member : batch) member->done = true;
    ++counts_.batches;
    counts_.writes += batch.size();
    leading_ = false;
    cv_.NotifyAll();  // the members, and the next leader
  }
  return job.status;
}

WriteBatcher::Counts WriteBatcher::counts() const {
  MutexLock lock(mu_);
  return counts_;
}

bool WriteBatcher::Known::Current(std::uint64_t pool_generation) const {
  return generation == pool_generation;
}

WriteBatcher::Known WriteBatcher::Known::Committed(WriteCursor at, std::uint64_t generation) {
  at.locked = at.autocommit = at.needs_lock = false;
  return Known{std::move(at), generation};
}

WriteCursor WriteBatcher::Start(pqxx::transaction_base& txn, const std::optional<Known>& known,
                                bool lock_first, std::uint64_t* generation) const {
  // Read after the connection was leased: a break since `known` was made
  // (this attempt's connection is then a new one) has moved it.
  *generation = pool_.generation();
  const bool current = known && known->Current(*generation);
  WriteCursor at = current ? known->cursor : WriteCursor{};
  if (!current || lock_first) LockCursor(txn, at);
  return at;
}

// `known` changes only after a commit, to the state committed: a cursor
// whose seq is still the stored one then proves its head and audit tip
// right. A transaction that fails or rolls back leaves the stored seq as it
// was, so the cursor from before stays true (or is found stale by its seq).
Status WriteBatcher::RunAlone(const Write& write, bool single_statement,
                              std::optional<Known>& known, Counts& added) {
  std::optional<Known> committed;
  // Where the work left the store, for the next write: known only after a
  // commit (a rolled-back one left seq as it was, so `known` stays true).
  auto adopt = [&] {
    if (committed) known = std::move(committed);
  };
  if (single_statement && known && known->Current(pool_.generation())) {
    // One statement on a known cursor needs no transaction around it: in
    // autocommit it is one round trip instead of three (BEGIN, it, COMMIT).
    // It is atomic alone, and when it is not applied it changed nothing, so
    // it runs again below in a transaction that takes the lock. The pool
    // checks a reused connection before it is sent, and a connection lost
    // after that leaves the write in doubt (Pool::Commits::kAsItGoes).
    bool needs_lock = true;
    const Status outcome = pool_.Run(
        [&](pqxx::connection& conn) -> Status {
          committed.reset();
          needs_lock = true;
          // Read after the lease: a connection replaced since moved it.
          const std::uint64_t generation = pool_.generation();
          if (!known->Current(generation)) return Status::Ok();
          pqxx::nontransaction txn(conn);
          WriteCursor at = known->cursor;
          at.autocommit = true;
          const Status written = write(txn, at);
          needs_lock = at.needs_lock;
          if (needs_lock) return Status::Ok();  // runs again below
          if (written.ok() && at.locked) committed = Known::Committed(at, generation);
          return written;
        },
        Pool::Commits::kAsItGoes);
    if (!needs_lock || !outcome.ok()) {
      if (outcome.ok()) ++added.autocommit;
      adopt();
      return outcome;
    }
  }
  const Status outcome = pool_.Run([&](pqxx::connection& conn) -> Status {
    committed.reset();
    pqxx::work txn(conn);
    std::uint64_t generation = 0;
    // After a miss in autocommit the cursor is surely stale: the lock first.
    WriteCursor at = Start(txn, known, single_statement, &generation);
    OMNI_RETURN_IF_ERROR(write(txn, at));
    txn.commit();
    if (at.locked) committed = Known::Committed(at, generation);
    return Status::Ok();
  });
  adopt();
  return outcome;
}

bool WriteBatcher::RunFused(const std::vector<Job*>& batch, std::optional<Known>& known,
                            Counts& added) {
  if (!known || !known->Current(pool_.generation())) return false;
  std::vector<const LayerWrite*> writes;
  for (const Job* member : batch) {
    if (member->layer == nullptr || member->revision == nullptr) return false;
    writes.push_back(member->layer);
  }
  if (!LayerWritesFuse(writes)) return false;
  const std::int64_t head = known->cursor.head;
  std::optional<Known> committed;
  const Status outcome = pool_.Run(
      [&](pqxx::connection& conn) -> Status {
        committed.reset();
        // Read after the lease: a connection replaced since moved it.
        const std::uint64_t generation = pool_.generation();
        if (!known->Current(generation)) return Status::Ok();
        pqxx::nontransaction txn(conn);
        WriteCursor at = known->cursor;
        try {
          // Not applied (or not for one statement): write by write.
          const Result<bool> applied = ApplyLayerWritesAsOne(txn, at, writes);
          if (applied.ok() && *applied) committed = Known::Committed(at, generation);
        } catch (...) {
          // A statement the server refused changed nothing (autocommit):
          // the writes run one by one, each told its own outcome. A lost
          // connection, or a session the error ended, leaves the batch in
          // doubt and the connection dropped (Pool::Run).
          if (CurrentFailure().connection_lost || !conn.is_open()) throw;
        }
        return Status::Ok();
      },
      Pool::Commits::kAsItGoes);
  if (outcome.ok() && !committed) return false;  // not applied: write by write
  if (outcome.ok()) {
    known = std::move(committed);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      *batch[i]->revision = head + static_cast<std::int64_t>(i) + 1;
      batch[i]->status = Status::Ok();
    }
    ++added.fused;
  } else {
    for (Job* member : batch) member->status = outcome;
  }
  return true;
}

WriteBatcher::Counts WriteBatcher::RunBatch(const std::vector<Job*>& batch,
                                            std::optional<Known>& known) {
  Counts added;
  if (batch.size() == 1) {
    batch.front()->status =
        RunAlone(*batch.front()->write, batch.front()->single_statement, known, added);
    return added;
  }
  if (RunFused(batch, known, added)) return added;
  std::vector<Status> outcomes;
  bool member_threw = false;
  std::optional<Known> committed;
  const Status outcome = pool_.Run([&](pqxx::connection& conn) -> Status {
    outcomes.assign(batch.size(), Status::Ok());
    member_threw = false;
    committed.reset();
    pqxx::work txn(conn);
    std::uint64_t generation = 0;
    WriteCursor at = Start(txn, known, /*lock_first=*/false, &generation);
    // How the previous member's savepoint ends, sent with the next statement
    // (one round trip less per member while the head lock is held).
    std::string ending;
    bool any_savepoint = false;  // a member ran in a savepoint
    for (std::size_t i = 0; i < batch.size(); ++i) {
      // A write that returns an error is rolled back to its savepoint. One
      // whose statement the server refuses cannot be: libpqxx 6.4 ends the
      // whole transaction on a failed statement, so the batch is abandoned
      // and each write runs again alone (below). (Savepoints by hand, too:
      // its subtransaction sends SAVEPOINT before exec() only, not before
      // exec_params().) A single statement that refuses changes nothing
      // but, perhaps, the lock it took: it needs no savepoint, and its
      // cursor stays as the write left it.
      const bool savepoint = !batch[i]->single_statement;
      any_savepoint |= savepoint;
      const WriteCursor before = at;
      if (savepoint) {
        txn.exec0(ending + "SAVEPOINT omni_write");
        ending.clear();
      } else if (!ending.empty()) {
        txn.exec0(ending);
        ending.clear();
      }
      Status member;
      try {
        member = (*batch[i]->write)(txn, at);
      } catch (...) {
        const Failure failure = CurrentFailure();
        if (failure.connection_lost) throw;  // the batch's failure (Pool::Run)
        member_threw = true;
        return failure.status;
      }
      if (savepoint) {
        ending = member.ok() ? "RELEASE SAVEPOINT omni_write; "
                             : "ROLLBACK TO SAVEPOINT omni_write; RELEASE SAVEPOINT omni_write; ";
        if (!member.ok()) at = before;
      }
      outcomes[i] = std::move(member);
    }
    // Proof the transaction is sound before it commits: a COMMIT in an
    // aborted transaction is answered as a rollback, not an error, which
    // would tell every member it committed when none did. (Without the lock
    // no member wrote through it; a member's other statements, if any, were
    // checked by libpqxx as they ran.) A batch of single statements needs no
    // proof: each one libpqxx ran without an error left the transaction
    // sound, and the last applied one returned the seq the cursor holds.
    if (at.locked && any_savepoint) {
      const pqxx::row head = txn.exec1(ending + "SELECT head, seq FROM store_head WHERE id = 1");
      if (head[0].as<std::int64_t>() != at.head || head[1].as<std::int64_t>() != at.seq) {
        return Status(StatusCode::kInternal,
                      "postgres store: a batch of writes ended at revision " +
                          head[0].as<std::string>() + " (lock count " + head[1].as<std::string>() +
                          "), not " + std::to_string(at.head) + " (" + std::to_string(at.seq) +
                          "); rolled back");
      }
    } else if (!ending.empty()) {
      txn.exec0(ending);
    }
    txn.commit();
    if (at.locked) committed = Known::Committed(at, generation);
    return Status::Ok();
  });
  if (member_threw) {  // nothing committed: each on its own, in order
    for (Job* member : batch) {
      member->status = RunAlone(*member->write, member->single_statement, known, added);
    }
    added.rerun = batch.size();
    return added;
  }
  if (committed) known = std::move(committed);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    batch[i]->status = outcome.ok() ? std::move(outcomes[i]) : outcome;
  }
  return added;
}

}  // namespace omnirelay::cp::pg

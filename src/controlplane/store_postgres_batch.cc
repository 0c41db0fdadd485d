#include "store_postgres_batch.h"

#include <optional>
#include <string>
#include <utility>

namespace omnirelay::cp::pg {

WriteBatcher::WriteBatcher(Pool& pool, std::size_t max_batch)
    : pool_(pool), max_batch_(max_batch > 0 ? max_batch : 1) {}

Status WriteBatcher::Run(const Write& write) {
  Job job{&write, Status::Ok()};
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
    lock.Unlock();
    std::size_t rerun = 0;
    try {
      rerun = RunBatch(batch);
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
    counts_.rerun += rerun;
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

Status WriteBatcher::RunAlone(const Write& write) {
  return pool_.Run([&](pqxx::connection& conn) -> Status {
    pqxx::work txn(conn);
    WriteCursor at{LockHead(txn), std::nullopt};
    OMNI_RETURN_IF_ERROR(write(txn, at));
    txn.commit();
    return Status::Ok();
  });
}

std::size_t WriteBatcher::RunBatch(const std::vector<Job*>& batch) {
  if (batch.size() == 1) {
    batch.front()->status = RunAlone(*batch.front()->write);
    return 0;
  }
  std::vector<Status> outcomes;
  bool member_threw = false;
  const Status committed = pool_.Run([&](pqxx::connection& conn) -> Status {
    outcomes.assign(batch.size(), Status::Ok());
    member_threw = false;
    pqxx::work txn(conn);
    WriteCursor at{LockHead(txn), std::nullopt};
    // How the previous member's savepoint ends, sent with the next statement
    // (one round trip less per member while the head lock is held).
    std::string ending;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      // A write that returns an error is rolled back to its savepoint. One
      // whose statement the server refuses cannot be: libpqxx 6.4 ends the
      // whole transaction on a failed statement, so the batch is abandoned
      // and each write runs again alone (below). (Savepoints by hand, too:
      // its subtransaction sends SAVEPOINT before exec() only, not before
      // exec_params().)
      const WriteCursor before = at;
      txn.exec0(ending + "SAVEPOINT omni_write");
      Status outcome;
      try {
        outcome = (*batch[i]->write)(txn, at);
      } catch (...) {
        const Failure failure = CurrentFailure();
        if (failure.connection_lost) throw;  // the batch's failure (Pool::Run)
        member_threw = true;
        return failure.status;
      }
      ending = outcome.ok() ? "RELEASE SAVEPOINT omni_write; "
                            : "ROLLBACK TO SAVEPOINT omni_write; RELEASE SAVEPOINT omni_write; ";
      if (!outcome.ok()) at = before;
      outcomes[i] = std::move(outcome);
    }
    // Proof the transaction is sound before it commits: a COMMIT in an
    // aborted transaction is answered as a rollback, not an error, which
    // would tell every member it committed when none did.
    const std::int64_t head =
        txn.exec1(ending + "SELECT revision FROM store_head WHERE id = 1")[0].as<std::int64_t>();
    if (head != at.head) {
      return Status(StatusCode::kInternal, "postgres store: a batch of writes ended at revision " +
                                               std::to_string(head) + ", not " +
                                               std::to_string(at.head) + "; rolled back");
    }
    txn.commit();
    return Status::Ok();
  });
  if (member_threw) {  // nothing committed: each on its own, in order
    for (Job* member : batch) member->status = RunAlone(*member->write);
    return batch.size();
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    batch[i]->status = committed.ok() ? std::move(outcomes[i]) : committed;
  }
  return 0;
}

}  // namespace omnirelay::cp::pg

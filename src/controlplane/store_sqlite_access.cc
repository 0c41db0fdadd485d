#include "store_sqlite_access.h"

#include <algorithm>
#include <exception>
#include <utility>

namespace omnirelay::cp::sqlite {
namespace {

// Bounds the work one leader does for others (and the transaction's size).
constexpr std::size_t kMaxGroup = 128;

}  // namespace

// ---- GroupWriter

Status GroupWriter::Submit(Pending& pending) {
  MutexLock lock(queue_mu_);
  pending.ticket = next_ticket_++;
  queue_.push_back(&pending);
  while (completed_ < pending.ticket && queue_.front() != &pending) pending.cv.Wait(queue_mu_);
  if (completed_ >= pending.ticket) return std::move(pending.status);

  // Leader: take the group from the front; later arrivals wait behind it.
  const std::size_t size = std::min(queue_.size(), kMaxGroup);
  std::vector<Pending*> group(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(size));
  lock.Unlock();
  RunGroup(group);
  lock.Lock();
  completed_ = group.back()->ticket;
  for (Pending* member : group) {
    queue_.pop_front();
    // The member cannot return (and destroy its cv) before this lock is released.
    if (member != &pending) member->cv.NotifyOne();
  }
  if (!queue_.empty()) queue_.front()->cv.NotifyOne();
  return std::move(pending.status);
}

void GroupWriter::RunGroup(const std::vector<Pending*>& group) {
  MutexLock conn_lock(conn_mu_);
  Connection& conn = *conn_;
  auto fail_all = [&](const Status& cause) {
    for (Pending* member : group) member->status = cause;
  };
  auto run = [&](const char* sql) -> Status {
    Result<Statement> stmt = conn.Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    return stmt->Run();
  };

  Result<Transaction> txn = Transaction::Begin(conn, Transaction::Mode::kImmediate);
  if (!txn.ok()) return fail_all(txn.status());
  for (Pending* member : group) {
    if (Status begun = run("SAVEPOINT omni_write"); !begun.ok()) return fail_all(begun);
    Status status;
    try {
      status = member->invoke(member->fn, conn);
    } catch (const std::exception& e) {
      status = Status(StatusCode::kInternal, std::string("store write threw: ") + e.what());
    }
    if (sqlite3_get_autocommit(conn.handle())) {
      // SQLite aborted the whole transaction (I/O error, disk full...):
      // the earlier members' writes are gone too.
      return fail_all(Status(status.ok() ? StatusCode::kInternal : status.code(),
                             "write group aborted: " + status.message()));
    }
    if (status.ok()) {
      status = run("RELEASE omni_write");
      if (!status.ok()) return fail_all(status);
    } else {
      Status undone = run("ROLLBACK TO omni_write");
      if (undone.ok()) undone = run("RELEASE omni_write");
      if (!undone.ok()) return fail_all(undone);
    }
    member->status = std::move(status);
  }
  if (Status committed = txn->Commit(); !committed.ok()) fail_all(committed);
}

// ---- ReaderPool

Result<ReaderPool::Lease> ReaderPool::Acquire() {
  {
    MutexLock lock(mu_);
    while (idle_.empty() && open_ >= max_open_) cv_.Wait(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    ++open_;  // reserve the slot; open outside the lock
  }
  Result<std::unique_ptr<Connection>> conn = OpenReader();
  if (!conn.ok()) {
    MutexLock lock(mu_);
    --open_;
    cv_.NotifyOne();
    return conn.status();
  }
  return Lease(this, std::move(*conn));
}

Result<std::unique_ptr<Connection>> ReaderPool::OpenReader() {
  Result<std::unique_ptr<Connection>> conn =
      Connection::Open(path_, SQLITE_OPEN_READWRITE, busy_timeout_ms_);
  if (!conn.ok()) return conn.status();
  // Readers never write; query_only turns a slip into an error, not a write.
  OMNI_RETURN_IF_ERROR((*conn)->Exec("PRAGMA query_only = ON"));
  return conn;
}

void ReaderPool::Release(std::unique_ptr<Connection> conn) {
  MutexLock lock(mu_);
  idle_.push_back(std::move(conn));
  cv_.NotifyOne();
}

}  // namespace omnirelay::cp::sqlite

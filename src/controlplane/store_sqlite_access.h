// How the SQLite store's threads share its connections.
//
// GroupWriter: the one writer connection, shared by group commit (as LevelDB's
// DBImpl::Write). Concurrent writes queue up; the thread at the front becomes
// the leader and runs the queued writes, in queue order, inside one
// BEGIN IMMEDIATE transaction, each in its own savepoint, then commits them
// all with a single sync. A write that fails rolls back to its savepoint and
// leaves no trace (so it consumes no revision); the others are unaffected. If
// the transaction itself fails (BEGIN, COMMIT, or an error that aborts it),
// every write of the group fails and nothing of it is written. A caller
// returns only once its write is committed or has failed. Writes are
// therefore serialised, in queue order, exactly as if run one by one; the
// group only shares the sync, which is what makes synchronous=FULL affordable.
//
// ReaderPool: read connections for a file database (WAL lets them read
// concurrently with the writer and each other), opened on demand up to a
// bound, leased to one thread at a time.
//
// Thread safety: both classes may be used from any thread concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "omnirelay/config/mutex.h"
#include "omnirelay/config/status.h"
#include "store_sqlite_db.h"

namespace omnirelay::cp::sqlite {

class GroupWriter {
 public:
  explicit GroupWriter(std::unique_ptr<Connection> conn) : conn_(std::move(conn)) {}

  // Runs `fn(Connection&) -> Status` as one atomic, durable write. `fn` may
  // run on another caller's thread (the group leader); it must not throw.
  template <typename Fn>
  Status Write(Fn& fn) {
    Pending pending;
    pending.fn = &fn;
    pending.invoke = [](void* f, Connection& conn) -> Status {
      return (*static_cast<Fn*>(f))(conn);
    };
    return Submit(pending);
  }

  // Runs `fn(Connection&)` with the connection to itself, between groups.
  // For reads of a database that has no reader pool (":memory:").
  template <typename Fn>
  auto Exclusive(Fn&& fn) -> std::invoke_result_t<Fn&, Connection&> {
    MutexLock lock(conn_mu_);
    return fn(*conn_);
  }

 private:
  // One queued write, on its caller's stack. `status` is handed over, not
  // shared: the leader fills it in while the caller waits, and the caller
  // reads it once `completed_` has reached its `ticket` (both under queue_mu_).
  struct Pending {
    void* fn = nullptr;
    Status (*invoke)(void*, Connection&) = nullptr;
    std::uint64_t ticket = 0;  // position in the queue, set when queued
    Status status;
    CondVar cv;  // signalled when done or when at the front
  };

  Status Submit(Pending& pending);
  // Runs `group` in one transaction and fills in each status.
  void RunGroup(const std::vector<Pending*>& group);

  Mutex queue_mu_;
  std::deque<Pending*> queue_ GUARDED_BY(queue_mu_);  // the front is the leader's group
  std::uint64_t next_ticket_ GUARDED_BY(queue_mu_) = 1;
  std::uint64_t completed_ GUARDED_BY(queue_mu_) = 0;  // every ticket up to here is done

  Mutex conn_mu_;  // held by the leader while it runs a group
  const std::unique_ptr<Connection> conn_ PT_GUARDED_BY(conn_mu_);
};

class ReaderPool {
 public:
  class Lease {
   public:
    Lease(ReaderPool* pool, std::unique_ptr<Connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (conn_) pool_->Release(std::move(conn_));
    }
    Connection& connection() { return *conn_; }

   private:
    ReaderPool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  ReaderPool(std::string path, int busy_timeout_ms, std::size_t max_open)
      : path_(std::move(path)), busy_timeout_ms_(busy_timeout_ms), max_open_(max_open) {}

  // A read connection; waits while `max_open` are leased.
  Result<Lease> Acquire();

 private:
  Result<std::unique_ptr<Connection>> OpenReader();
  void Release(std::unique_ptr<Connection> conn);

  const std::string path_;
  const int busy_timeout_ms_;
  const std::size_t max_open_;
  Mutex mu_;
  CondVar cv_;
  std::vector<std::unique_ptr<Connection>> idle_ GUARDED_BY(mu_);
  std::size_t open_ GUARDED_BY(mu_) = 0;  // idle + leased
};

}  // namespace omnirelay::cp::sqlite

// The Postgres store's connections (store_postgres.cc), and how a libpqxx
// failure becomes a Status. Included only by store_postgres*.cc: it brings
// in libpqxx.
//
// Pool: up to `max_open` connections, opened on demand and leased to one
// thread at a time. A connection that breaks (the server restarted, the
// network dropped) is thrown away together with every idle one (they point
// at the same server), so the next use connects afresh: the store recovers
// by itself once the database is back, without being reopened. While no
// connection can be made, Run returns kUnavailable naming the cause as libpq
// reports it (host and port, never the password).
//
// Connecting backs off: after a failed attempt, calls that need a new
// connection fail at once with the last attempt's reason until a delay has
// passed (50 ms, doubling up to 2 s; reset by a successful connect), so an
// outage does not turn every request into a connection attempt, and the
// store still notices the database's return within 2 s of a call.
//
// Run retries once on a fresh connection when a *reused* connection turns
// out broken before its work committed: that is the normal state of every
// pooled connection after a server restart, and the transaction it carried
// was rolled back by the server, so running it again is safe. A connection
// lost while COMMIT was in flight (pqxx::in_doubt_error) is not retried: the
// write may or may not have landed, and the caller is told so.
//
// Work whose statements commit as they go (autocommit: Commits::kAsItGoes)
// cannot be retried that way, since its first statement may have landed
// alone. A reused connection is checked before such work is sent
// (PeerClosed: the server's end closed, or anything waiting to be read) and
// replaced when it may be gone; once the work runs, a lost connection
// leaves it in doubt: never run again, reported as the lost commit above.
//
// Thread safety: a Pool may be used from any thread concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "omnirelay/config/mutex.h"
#include "omnirelay/config/status.h"

namespace omnirelay::cp::pg {

// How a failure of one unit of work is handled.
struct Failure {
  Status status;
  bool connection_lost = false;  // drop the connection
  // The work surely did not commit, so a reused connection's failure may be
  // retried on a fresh one (false for a commit whose outcome is unknown).
  bool may_retry = false;
};

// Classifies the exception being handled (call from a catch block).
// `in_doubt`: a lost connection left the work in doubt (work that commits
// as it goes), as a lost commit does.
Failure CurrentFailure(bool in_doubt = false);

// Whether this idle connection may be gone, without reading or sending
// anything: not open, its server's end closed, or anything waiting to be
// read. An idle session is sent nothing unasked (no LISTEN here) but the
// error that ends it, which arrives just before the end, so input counts
// as the end too; at worst a healthy connection is replaced.
bool PeerClosed(const pqxx::connection& conn);

class Pool {
 public:
  // `url` is a libpq connection string or URI; it is never put in a message.
  Pool(std::string url, std::size_t max_open);

  // How many times the pool has thrown its connections away (a connection
  // broke). What a caller learned from the database before a change of
  // generation may describe a server that is gone (a failover to a standby
  // that had not received the last commits), so such knowledge is dropped.
  std::uint64_t generation() const EXCLUDES(mu_);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // How the work given to Run commits (see above).
  enum class Commits {
    kAtTheEnd,  // in a transaction: retried once when a reused connection breaks
    kAsItGoes,  // in autocommit: a reused connection checked first, never retried
  };

  // Runs `fn(pqxx::connection&)`, returning Status or Result<T>, on a
  // leased connection; libpqxx exceptions become a Status. `fn` may run
  // twice (see above), so it must build its results afresh on each call.
  template <typename Fn>
  auto Run(Fn&& fn, Commits commits = Commits::kAtTheEnd)
      -> std::invoke_result_t<Fn&, pqxx::connection&> {
    using R = std::invoke_result_t<Fn&, pqxx::connection&>;
    const bool as_it_goes = commits == Commits::kAsItGoes;
    for (int attempt = 0;; ++attempt) {
      bool reused = false;
      Result<std::unique_ptr<pqxx::connection>> conn = Acquire(&reused);
      if (!conn.ok()) return conn.status();
      if (as_it_goes && reused && attempt == 0 && PeerClosed(**conn)) {
        Discard();  // nothing was sent: a fresh connection
        continue;
      }
      Failure failure;
      try {
        R result = fn(**conn);
        Release(std::move(*conn));
        return result;
      } catch (...) {
        failure = CurrentFailure(as_it_goes);
      }
      if (!failure.connection_lost && (*conn)->is_open()) {
        Release(std::move(*conn));
        return failure.status;
      }
      Discard();
      if (!(failure.may_retry && reused && attempt == 0)) return failure.status;
    }
  }

 private:
  // A connection: an idle one (`*reused` = true) or a new one.
  Result<std::unique_ptr<pqxx::connection>> Acquire(bool* reused);
  Result<std::unique_ptr<pqxx::connection>> Connect();
  void Release(std::unique_ptr<pqxx::connection> conn);
  // The leased connection is gone (its unique_ptr is dropped by the caller);
  // the idle ones go too.
  void Discard();

  // Records a connect's outcome for the backoff.
  void Connected(const Status& outcome) REQUIRES(mu_);

  const std::string url_;
  const std::size_t max_open_;
  mutable Mutex mu_;
  CondVar cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ GUARDED_BY(mu_);
  std::size_t open_ GUARDED_BY(mu_) = 0;  // idle + leased
  std::uint64_t generation_ GUARDED_BY(mu_) = 0;
  // Connect backoff: no attempt before retry_at_ after a failure.
  std::chrono::milliseconds backoff_ GUARDED_BY(mu_){0};
  std::chrono::steady_clock::time_point retry_at_ GUARDED_BY(mu_);
  Status last_failure_ GUARDED_BY(mu_);
};

}  // namespace omnirelay::cp::pg

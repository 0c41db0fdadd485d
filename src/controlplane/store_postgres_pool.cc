#include "store_postgres_pool.h"

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>

namespace omnirelay::cp::pg {
namespace {

// The first line of a libpq / libpqxx message (they run on with hints and
// the statement text).
std::string FirstLine(std::string_view what) {
  std::string_view line = what.substr(0, what.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
  return std::string(line);
}

Status Unavailable(std::string_view why) {
  return Status(StatusCode::kUnavailable,
                "postgres store: the database is unreachable: " + FirstLine(why));
}

// SQLSTATE classes that mean the session is gone: 08 (connection exception),
// 57P (the server is shutting down or was restarted).
bool SessionLost(const std::string& sqlstate) {
  return sqlstate.starts_with("08") || sqlstate.starts_with("57P");
}

// A lost connection that leaves the work in doubt.
Failure InDoubt(std::string_view what) {
  return {Status(StatusCode::kUnavailable,
                 "postgres store: the connection was lost while committing; the write may or "
                 "may not have been applied: " +
                     FirstLine(what)),
          true, false};
}

}  // namespace

Failure CurrentFailure(bool in_doubt) {
  try {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    return InDoubt(e.what());
  } catch (const pqxx::broken_connection& e) {
    if (in_doubt) return InDoubt(e.what());
    return {Unavailable(e.what()), true, true};
  } catch (const pqxx::unique_violation& e) {
    return {Status(StatusCode::kConflict, "postgres store: " + FirstLine(e.what())), false, false};
  } catch (const pqxx::sql_error& e) {
    if (SessionLost(e.sqlstate())) {
      if (in_doubt) return InDoubt(e.what());
      return {Unavailable(e.what()), true, true};
    }
    // 22xxx: data the database refuses (e.g. text that is not valid UTF-8).
    const StatusCode code =
        e.sqlstate().starts_with("22") ? StatusCode::kInvalidArgument : StatusCode::kInternal;
    return {
        Status(code, "postgres store: " + FirstLine(e.what()) + " (SQLSTATE " + e.sqlstate() + ")"),
        false, false};
  } catch (const std::exception& e) {
    return {Status(StatusCode::kInternal, "postgres store: " + FirstLine(e.what())), false, false};
  } catch (...) {
    return {Status(StatusCode::kInternal, "postgres store: unknown exception"), false, false};
  }
}

bool PeerClosed(const pqxx::connection& conn) {
  if (conn.sock() < 0) return true;  // libpqxx holds no open connection
  pollfd p{conn.sock(), POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && p.revents != 0;
}

Pool::Pool(std::string url, std::size_t max_open)
    : url_(std::move(url)), max_open_(max_open > 0 ? max_open : 1) {}

Result<std::unique_ptr<pqxx::connection>> Pool::Acquire(bool* reused) {
  {
    MutexLock lock(mu_);
    while (idle_.empty() && open_ >= max_open_) cv_.Wait(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> conn = std::move(idle_.back());
      idle_.pop_back();
      *reused = true;
      return conn;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!last_failure_.ok() && now < retry_at_) {
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now);
      return Status(last_failure_.code(), last_failure_.message() + " (next attempt in " +
                                              std::to_string(wait.count()) + " ms)");
    }
    ++open_;  // reserve the slot; connect outside the lock
  }
  *reused = false;
  Result<std::unique_ptr<pqxx::connection>> conn = Connect();
  MutexLock lock(mu_);
  Connected(conn.status());
  if (!conn.ok()) {
    --open_;
    cv_.NotifyOne();
  }
  return conn;
}

void Pool::Connected(const Status& outcome) {
  constexpr std::chrono::milliseconds kFirst{50};
  constexpr std::chrono::milliseconds kMax{2000};
  if (outcome.ok()) {
    backoff_ = std::chrono::milliseconds{0};
    last_failure_ = Status::Ok();
    return;
  }
  backoff_ = backoff_.count() == 0 ? kFirst : std::min(backoff_ * 2, kMax);
  retry_at_ = std::chrono::steady_clock::now() + backoff_;
  last_failure_ = outcome;
}

Result<std::unique_ptr<pqxx::connection>> Pool::Connect() {
  try {
    return std::make_unique<pqxx::connection>(url_);
  } catch (const pqxx::broken_connection& e) {
    return Unavailable(e.what());
  } catch (const std::exception& e) {
    // A malformed connection string; libpq's message does not repeat it.
    return Status(StatusCode::kInvalidArgument,
                  "postgres store: cannot connect: " + FirstLine(e.what()));
  }
}

std::uint64_t Pool::generation() const {
  MutexLock lock(mu_);
  return generation_;
}

void Pool::Release(std::unique_ptr<pqxx::connection> conn) {
  MutexLock lock(mu_);
  idle_.push_back(std::move(conn));
  cv_.NotifyOne();
}

void Pool::Discard() {
  std::vector<std::unique_ptr<pqxx::connection>> dropped;
  {
    MutexLock lock(mu_);
    dropped.swap(idle_);
    open_ -= dropped.size() + 1;  // the idle ones and the caller's
    ++generation_;
    cv_.NotifyAll();
  }
  // `dropped` closes its connections here, outside the lock.
}

}  // namespace omnirelay::cp::pg

// RAII over the SQLite C API, for the SQLite store only (store_sqlite*.cc).
//
// A Connection owns one sqlite3 handle and a cache of prepared statements
// (SQLITE_PREPARE_PERSISTENT). Prepare() lends a cached statement as a
// Statement, which resets it and clears its bindings when it goes out of
// scope; a Transaction rolls back unless committed. Errors become Status
// values (SqliteStatus), never exceptions.
//
// Thread safety: none. A Connection and everything borrowed from it are used
// by one thread at a time; the store serialises access (its writer mutex or a
// reader-pool lease). Connections are opened SQLITE_OPEN_NOMUTEX for that
// reason.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "omnirelay/config/status.h"

namespace omnirelay::cp::sqlite {

// A Status for SQLite result code `rc` (extended codes welcome):
// busy/locked -> kUnavailable; I/O, full, read-only, cannot-open, permission
// -> kIoError; a foreign/non-database file -> kInvalidArgument; anything else
// -> kInternal. The message is "<context>: <sqlite message>".
Status SqliteStatus(sqlite3* db, int rc, std::string_view context);

// A cached prepared statement on loan from its Connection. Bindings are
// 1-based and copied; columns are 0-based. A failed bind is reported by the
// next Step()/Run().
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();  // resets, clears bindings and returns the statement to the cache

  Statement& Bind(int index, std::int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindBlob(int index, std::string_view bytes);
  Statement& BindNull(int index);

  // Advances: true when a row is ready, false when the statement is done.
  Result<bool> Step();
  // Steps to completion, ignoring any rows (INSERT, UPDATE, DELETE).
  Status Run();

  std::int64_t Int(int column) const;
  std::string Text(int column) const;  // exact bytes; "" for NULL
  bool IsNull(int column) const;

 private:
  friend class Connection;
  Statement(sqlite3* db, sqlite3_stmt* stmt, bool* in_use);
  void NoteBind(int rc, int index);

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  bool* in_use_;
  int bind_rc_ = SQLITE_OK;
  int bind_index_ = 0;
};

class Connection {
 public:
  // Opens `path` (":memory:" for a private in-memory database) with `flags`
  // (SQLITE_OPEN_*; NOMUTEX is added), extended result codes on and the
  // given busy timeout.
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, int flags,
                                                  int busy_timeout_ms);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Runs one or more statements that return no rows of interest (DDL).
  Status Exec(const char* sql);
  // Lends the cached prepared statement for `sql`, preparing it on first use.
  // The same SQL must not be borrowed twice at once (kInternal if it is).
  Result<Statement> Prepare(std::string_view sql);

  sqlite3* handle() const { return db_.get(); }
  const std::string& path() const { return path_; }

 private:
  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  struct Finalizer {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
  };
  struct Cached {
    std::unique_ptr<sqlite3_stmt, Finalizer> stmt;
    bool in_use = false;  // address is stable: unordered_map nodes never move
  };

  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  // Declared before the cache so that statements are finalized first.
  std::unique_ptr<sqlite3, Closer> db_;
  std::string path_;
  std::unordered_map<std::string, Cached> cache_;
};

// BEGIN ... COMMIT on one Connection; rolls back on destruction unless
// committed (also after a failed COMMIT).
class Transaction {
 public:
  enum class Mode { kDeferred, kImmediate };

  static Result<Transaction> Begin(Connection& conn, Mode mode);
  Transaction(Transaction&& other) noexcept : conn_(other.conn_) { other.conn_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  Status Commit();

 private:
  explicit Transaction(Connection* conn) : conn_(conn) {}
  Connection* conn_;  // null once committed or moved from
};

}  // namespace omnirelay::cp::sqlite

#include "store_sqlite_db.h"

#include <limits>
#include <string>
#include <utility>

namespace omnirelay::cp::sqlite {

Status SqliteStatus(sqlite3* db, int rc, std::string_view context) {
  // The connection's message is specific ("no such table: x") when it belongs
  // to this code; otherwise fall back to the generic text of the code.
  std::string detail = (db != nullptr && sqlite3_extended_errcode(db) == rc) ? sqlite3_errmsg(db)
                                                                             : sqlite3_errstr(rc);
  std::string message = std::string(context) + ": " + detail;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status(StatusCode::kUnavailable, std::move(message));
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      return Status(StatusCode::kIoError, std::move(message));
    case SQLITE_NOTADB:
      return Status(StatusCode::kInvalidArgument, std::move(message));
    default:
      return Status(StatusCode::kInternal, std::move(message));
  }
}

// ---- Statement

Statement::Statement(sqlite3* db, sqlite3_stmt* stmt, bool* in_use)
    : db_(db), stmt_(stmt), in_use_(in_use) {
  *in_use_ = true;
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(other.stmt_),
      in_use_(other.in_use_),
      bind_rc_(other.bind_rc_),
      bind_index_(other.bind_index_) {
  other.stmt_ = nullptr;
  other.in_use_ = nullptr;
}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  *in_use_ = false;
}

void Statement::NoteBind(int rc, int index) {
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) {
    bind_rc_ = rc;
    bind_index_ = index;
  }
}

Statement& Statement::Bind(int index, std::int64_t value) {
  NoteBind(sqlite3_bind_int64(stmt_, index, value), index);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  // SQLITE_TRANSIENT copies: a binding may outlive a temporary argument.
  NoteBind(
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
      index);
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  NoteBind(sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT), index);
  return *this;
}

Statement& Statement::BindNull(int index) {
  NoteBind(sqlite3_bind_null(stmt_, index), index);
  return *this;
}

Result<bool> Statement::Step() {
  if (bind_rc_ != SQLITE_OK) {
    return SqliteStatus(
        db_, bind_rc_,
        "binding parameter " + std::to_string(bind_index_) + " of \"" + sqlite3_sql(stmt_) + "\"");
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(db_, rc, std::string("running \"") + sqlite3_sql(stmt_) + "\"");
}

Status Statement::Run() {
  for (;;) {
    Result<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
  }
}

std::int64_t Statement::Int(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::string Statement::Text(int column) const {
  // column_blob then column_bytes (this order) yields the stored bytes unconverted.
  const void* data = sqlite3_column_blob(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr || size <= 0) return std::string();
  return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

// ---- Connection

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, int flags,
                                                     int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  // sqlite3_open_v2 hands out a handle even on failure; own it at once.
  std::unique_ptr<Connection> conn(new Connection(raw, path));
  if (rc != SQLITE_OK) {
    return SqliteStatus(raw, rc, "cannot open sqlite store \"" + path + "\"");
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  return conn;
}

Connection::~Connection() {
  cache_.clear();  // finalize statements before the handle closes
}

Status Connection::Exec(const char* sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string context = "executing \"" + std::string(sql).substr(0, 80) + "\"";
  Status status = SqliteStatus(db_.get(), rc, context);
  sqlite3_free(error);
  return status;
}

Result<Statement> Connection::Prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it == cache_.end()) {
    if (sql.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
      return Status(StatusCode::kInternal, "sql statement too long");
    }
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    std::unique_ptr<sqlite3_stmt, Finalizer> stmt(raw);
    if (rc != SQLITE_OK) {
      return SqliteStatus(db_.get(), rc, "preparing \"" + std::string(sql) + "\"");
    }
    if (stmt == nullptr) {
      return Status(StatusCode::kInternal, "empty sql statement");
    }
    it = cache_.emplace(std::string(sql), Cached{std::move(stmt), false}).first;
  }
  if (it->second.in_use) {
    return Status(StatusCode::kInternal,
                  "sql statement borrowed twice at once: \"" + std::string(sql) + "\"");
  }
  return Statement(db_.get(), it->second.stmt.get(), &it->second.in_use);
}

// ---- Transaction

Result<Transaction> Transaction::Begin(Connection& conn, Mode mode) {
  Result<Statement> begin =
      conn.Prepare(mode == Mode::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
  if (!begin.ok()) return begin.status();
  OMNI_RETURN_IF_ERROR(begin->Run());
  return Transaction(&conn);
}

Transaction::~Transaction() {
  if (conn_ == nullptr || sqlite3_get_autocommit(conn_->handle())) return;
  // Best effort: a failed ROLLBACK leaves SQLite to roll back on its own
  // when the connection next begins or closes.
  (void)conn_->Exec("ROLLBACK");
}

Status Transaction::Commit() {
  Result<Statement> commit = conn_->Prepare("COMMIT");
  if (!commit.ok()) return commit.status();
  Status status = commit->Run();
  if (status.ok()) conn_ = nullptr;
  return status;
}

}  // namespace omnirelay::cp::sqlite

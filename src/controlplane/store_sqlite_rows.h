// Row codecs of the SQLite store: how each record maps to its table's
// columns, and helpers that run a SELECT and decode its rows. Each SELECT
// lists its columns with the k*Columns constant of its record, in that order.
//
// Thread safety: stateless functions; a Statement belongs to one thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"
#include "store_rows_common.h"
#include "store_sqlite_db.h"

namespace omnirelay::cp::sqlite {

using store_rows::kNodeColumns;
using store_rows::kNodeUpsertClause;
using store_rows::kRevisionColumns;
using store_rows::kSnapshotColumns;
using store_rows::kTokenColumns;
using store_rows::LayerFromRevision;
using store_rows::Quoted;

// A scope's current layer (its head revision), one row or none.
inline constexpr char kCurrentLayerQuery[] =
    "SELECT r.revision, r.scope, r.deleted, COALESCE(r.document, ''), r.author, "
    "r.created_at_ms FROM layers l JOIN revisions r ON r.revision = l.revision "
    "WHERE l.scope = ?1";

using store_rows::EncodeStrings;
inline Result<std::vector<std::string>> DecodeStrings(const std::string& text,
                                                      std::string_view what) {
  return store_rows::DecodeStrings(text, what, "sqlite store");
}

RevisionRecord ReadRevision(const Statement& row);
SnapshotRecord ReadSnapshot(const Statement& row);
Result<NodeRecord> ReadNode(const Statement& row);
Result<TokenRecord> ReadToken(const Statement& row);
AuditEntry ReadAudit(const Statement& row);
RolloutRecord ReadRollout(const Statement& row);

// Appends one audit entry (its id assigned by the table).
Status InsertAudit(Connection& conn, const AuditEntry& a);

// The settings table (Store::GetSetting / PutSetting): one row per key that
// has a value; a nullopt value deletes the row.
Result<SettingRecord> ReadSetting(Connection& conn, std::string_view key);
Status WriteSetting(Connection& conn, std::string_view key, const std::optional<std::string>& value,
                    std::int64_t now_ms);

// Runs `sql` (bound by `bind`) and decodes every row with `read`, which
// returns either a record or a Result of one.
template <typename T, typename Bind, typename Read>
Result<std::vector<T>> Collect(Connection& conn, std::string_view sql, Bind&& bind, Read&& read) {
  Result<Statement> stmt = conn.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  bind(*stmt);
  std::vector<T> out;
  for (;;) {
    Result<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    auto record = read(*stmt);
    if constexpr (std::is_same_v<decltype(record), T>) {
      out.push_back(std::move(record));
    } else {
      if (!record.ok()) return record.status();
      out.push_back(std::move(*record));
    }
  }
}

// An audit query: ?1 after this id, ?2 since this time (ms), ?3 the limit,
// then one text parameter per entry of `texts` (views into the filter and
// api::kWriteActions). Only the filters asked for are in the statement; they
// are checked on the rows the id cursor and the time bound select (no index
// of their own: each would cost every write, migration 7).
struct AuditQuery {
  std::string sql;
  std::vector<std::string_view> texts;
};

inline AuditQuery BuildAuditQuery(const api::AuditFilter& filter) {
  AuditQuery q;
  q.sql =
      "SELECT id, time_ms, principal, token_id, action, scope, revision, outcome, summary "
      "FROM audit WHERE id > ?1 AND time_ms >= ?2";
  auto match = [&](const char* column, std::string_view value) {
    if (value.empty()) return;
    q.texts.push_back(value);
    q.sql += std::string(" AND ") + column + " = ?" + std::to_string(q.texts.size() + 3);
  };
  match("scope", filter.scope);
  match("principal", filter.principal);
  match("action", filter.action);
  if (filter.writes_only) {
    q.sql += " AND action IN (";
    for (std::string_view action : api::kWriteActions) {
      q.texts.push_back(action);
      q.sql += (q.sql.back() == '(' ? "?" : ", ?") + std::to_string(q.texts.size() + 3);
    }
    q.sql += ")";
  }
  q.sql += " ORDER BY id LIMIT ?3";
  return q;
}

// Like Collect, for at most one row; kNotFound with `not_found` if none.
template <typename T, typename Bind, typename Read>
Result<T> One(Connection& conn, std::string_view sql, Bind&& bind, Read&& read,
              std::string not_found) {
  Result<std::vector<T>> rows =
      Collect<T>(conn, sql, std::forward<Bind>(bind), std::forward<Read>(read));
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return Status(StatusCode::kNotFound, std::move(not_found));
  return std::move(rows->front());
}

}  // namespace omnirelay::cp::sqlite

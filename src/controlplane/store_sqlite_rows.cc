#include "store_sqlite_rows.h"

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "audit_chain.h"

namespace omnirelay::cp::sqlite {

RevisionRecord ReadRevision(const Statement& row) {
  RevisionRecord r;
  r.revision = row.Int(0);
  r.scope = row.Text(1);
  r.deleted = row.Int(2) != 0;
  r.document = row.Text(3);
  r.author = row.Text(4);
  r.created_at_ms = row.Int(5);
  return r;
}

SnapshotRecord ReadSnapshot(const Statement& row) {
  SnapshotRecord s;
  s.hash = row.Text(0);
  s.snapshot = row.Text(1);
  s.envelope = row.Text(2);
  s.version = row.Int(3);
  s.scope_chain = row.Text(4);
  s.created_at_ms = row.Int(5);
  s.expires_at_ms = row.Int(6);
  s.rollout = row.Text(7);
  return s;
}

Result<NodeRecord> ReadNode(const Statement& row) {
  NodeRecord n;
  n.node_id = row.Text(0);
  n.scope_chain = row.Text(1);
  n.api_version = row.Text(2);
  Result<std::vector<std::string>> features =
      DecodeStrings(row.Text(3), "features of node " + Quoted(n.node_id));
  if (!features.ok()) return features.status();
  n.features = std::move(*features);
  n.assigned_version = row.Int(4);
  n.assigned_hash = row.Text(5);
  n.applied_version = row.Int(6);
  n.applied_hash = row.Text(7);
  n.discovery_generation = row.Int(8);
  n.last_error = row.Text(9);
  n.health_json = row.Text(10);
  n.connected = row.Int(11) != 0;
  n.last_seen_ms = row.Int(12);
  n.last_error_code = row.Text(13);
  n.last_error_path = row.Text(14);
  n.assigned_at_ms = row.Int(15);
  n.assigned_expires_at_ms = row.Int(16);
  return n;
}

Result<TokenRecord> ReadToken(const Statement& row) {
  TokenRecord t;
  t.id = row.Text(0);
  t.secret_hash = row.Text(1);
  t.name = row.Text(2);
  Result<std::vector<std::string>> scopes =
      DecodeStrings(row.Text(3), "scopes of token " + Quoted(t.id));
  if (!scopes.ok()) return scopes.status();
  t.scopes = std::move(*scopes);
  t.created_at_ms = row.Int(4);
  t.expires_at_ms = row.Int(5);
  t.revoked_at_ms = row.Int(6);
  return t;
}

AuditEntry ReadAudit(const Statement& row) {
  AuditEntry a;
  a.id = row.Int(0);
  a.time_ms = row.Int(1);
  a.principal = row.Text(2);
  a.token_id = row.Text(3);
  a.action = row.Text(4);
  a.scope = row.Text(5);
  a.revision = row.Int(6);
  a.outcome = row.Text(7);
  a.summary = row.Text(8);
  return a;
}

RolloutRecord ReadRollout(const Statement& row) {
  RolloutRecord r;
  r.id = row.Text(0);
  r.state_json = row.Text(1);
  r.updated_at_ms = row.Int(2);
  r.generation = row.Int(3);
  r.members_json = row.Text(4);
  return r;
}

Status InsertAudit(Connection& conn, const AuditEntry& a) {
  // The chain (audit_chain.h): the newest entry's hash, in this transaction.
  Result<Statement> last = conn.Prepare("SELECT hash FROM audit ORDER BY id DESC LIMIT 1");
  if (!last.ok()) return last.status();
  Result<bool> row = last->Step();
  if (!row.ok()) return row.status();
  const std::string previous = *row && !last->IsNull(0) ? last->Text(0) : std::string();
  Result<Statement> stmt = conn.Prepare(
      "INSERT INTO audit (time_ms, principal, token_id, action, scope, revision, outcome, summary, "
      "hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(9, AuditChainHash(previous, a));
  stmt->Bind(1, a.time_ms)
      .Bind(2, a.principal)
      .Bind(3, a.token_id)
      .Bind(4, a.action)
      .Bind(5, a.scope)
      .Bind(6, a.revision)
      .Bind(7, a.outcome)
      .Bind(8, a.summary);
  return stmt->Run();
}

Result<SettingRecord> ReadSetting(Connection& conn, std::string_view key) {
  return One<SettingRecord>(
      conn, "SELECT key, value, updated_at_ms FROM settings WHERE key = ?1",
      [&](Statement& s) { s.Bind(1, key); },
      [](const Statement& row) {
        return SettingRecord{row.Text(0), row.Text(1), row.Int(2)};
      },
      "no setting " + Quoted(key));
}

Status WriteSetting(Connection& conn, std::string_view key, const std::optional<std::string>& value,
                    std::int64_t now_ms) {
  Result<Statement> stmt =
      value ? conn.Prepare(
                  "INSERT INTO settings (key, value, updated_at_ms) VALUES (?1, ?2, ?3) "
                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                  "updated_at_ms = excluded.updated_at_ms")
            : conn.Prepare("DELETE FROM settings WHERE key = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, key);
  if (value) stmt->Bind(2, *value).Bind(3, now_ms);
  return stmt->Run();
}

}  // namespace omnirelay::cp::sqlite

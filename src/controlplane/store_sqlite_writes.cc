#include "store_sqlite_writes.h"

#include <string>

#include "store_sqlite_rows.h"

namespace omnirelay::cp::sqlite {

Result<std::int64_t> QueryHead(Connection& conn) {
  Result<Statement> stmt = conn.Prepare("SELECT COALESCE(MAX(revision), 0) FROM revisions");
  if (!stmt.ok()) return stmt.status();
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  return *row ? stmt->Int(0) : 0;
}

Result<std::optional<std::int64_t>> CurrentRevision(Connection& conn, std::string_view scope) {
  Result<Statement> stmt = conn.Prepare("SELECT revision FROM layers WHERE scope = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, scope);
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(stmt->Int(0));
}

Result<std::int64_t> ApplyLayerWrite(Connection& conn, const LayerWrite& w) {
  if (w.scope.empty()) return Status(StatusCode::kInvalidArgument, "layer write needs a scope");
  if (w.expected_revision && *w.expected_revision < 0) {
    return Status(StatusCode::kInvalidArgument,
                  "expected revision must be >= 0, got " + std::to_string(*w.expected_revision));
  }
  if (!w.refused_by_setting.empty()) {
    Result<Statement> setting = conn.Prepare("SELECT value FROM settings WHERE key = ?1");
    if (!setting.ok()) return setting.status();
    setting->Bind(1, w.refused_by_setting);
    Result<bool> row = setting->Step();
    if (!row.ok()) return row.status();
    if (*row) return Status(StatusCode::kFrozen, setting->Text(0));
  }
  Result<std::optional<std::int64_t>> current = CurrentRevision(conn, w.scope);
  if (!current.ok()) return current.status();
  OMNI_RETURN_IF_ERROR(CheckExpectedRevision(w.scope, *current, w.expected_revision));
  for (const LayerWrite::CheckedLayer& checked : w.checked_layers) {
    Result<std::optional<std::int64_t>> now =
        checked.scope == w.scope ? *current : CurrentRevision(conn, checked.scope);
    if (!now.ok()) return now.status();
    OMNI_RETURN_IF_ERROR(CheckCheckedLayer(checked.scope, *now, checked.revision));
  }
  if (!w.document && !*current) {
    return Status(StatusCode::kNotFound, "scope " + Quoted(w.scope) + " has no layer");
  }
  Result<std::int64_t> head = QueryHead(conn);
  if (!head.ok()) return head.status();
  const std::int64_t revision = *head + 1;
  {
    Result<Statement> insert = conn.Prepare(
        "INSERT INTO revisions (revision, scope, deleted, document, author, created_at_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!insert.ok()) return insert.status();
    insert->Bind(1, revision).Bind(2, w.scope).Bind(3, std::int64_t{w.document ? 0 : 1});
    if (w.document) {
      insert->Bind(4, *w.document);
    } else {
      insert->BindNull(4);
    }
    insert->Bind(5, w.author).Bind(6, w.now_ms);
    OMNI_RETURN_IF_ERROR(insert->Run());
  }
  {
    Result<Statement> head_row =
        w.document ? conn.Prepare(
                         "INSERT INTO layers (scope, revision) VALUES (?1, ?2) "
                         "ON CONFLICT (scope) DO UPDATE SET revision = excluded.revision")
                   : conn.Prepare("DELETE FROM layers WHERE scope = ?1");
    if (!head_row.ok()) return head_row.status();
    head_row->Bind(1, w.scope);
    if (w.document) head_row->Bind(2, revision);
    OMNI_RETURN_IF_ERROR(head_row->Run());
  }
  AuditEntry audit = w.audit;
  audit.revision = revision;
  OMNI_RETURN_IF_ERROR(InsertAudit(conn, audit));
  return revision;
}

Status ApplyRolloutPut(Connection& conn, const RolloutRecord& r,
                       std::optional<std::int64_t> expected_generation, bool insert_only) {
  if (r.id.empty()) return Status(StatusCode::kInvalidArgument, "rollout needs an id");
  if (expected_generation || insert_only) {
    Result<Statement> stored =
        conn.Prepare("SELECT generation, members_json <> '' FROM rollouts WHERE id = ?1");
    if (!stored.ok()) return stored.status();
    stored->Bind(1, r.id);
    Result<bool> row = stored->Step();
    if (!row.ok()) return row.status();
    if (insert_only && *row) {
      return Status(StatusCode::kConflict, "rollout " + Quoted(r.id) + " exists already");
    }
    if (expected_generation && !*row) {
      return Status(StatusCode::kNotFound, "no rollout " + Quoted(r.id));
    }
    if (expected_generation && stored->Int(0) != *expected_generation) {
      return Status(StatusCode::kConflict, "rollout " + Quoted(r.id) + " is at generation " +
                                               std::to_string(stored->Int(0)) + ", not " +
                                               std::to_string(*expected_generation));
    }
    if (expected_generation && r.members_unchanged && stored->Int(1) == 0) {
      return Status(
          StatusCode::kConflict,
          "rollout " + Quoted(r.id) + " has no members part stored to keep; write it whole");
    }
  }
  if (expected_generation && r.members_unchanged) {
    // The row exists at the expected generation (checked above): its
    // members are the writer's.
    Result<Statement> stmt = conn.Prepare(
        "UPDATE rollouts SET state_json = ?2, updated_at_ms = ?3, generation = ?4 WHERE id = ?1");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, r.id).Bind(2, r.state_json).Bind(3, r.updated_at_ms).Bind(4, r.generation);
    return stmt->Run();
  }
  Result<Statement> stmt = conn.Prepare(
      "INSERT INTO rollouts (id, state_json, updated_at_ms, generation, members_json) "
      "VALUES (?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT (id) DO UPDATE SET state_json = excluded.state_json, "
      "updated_at_ms = excluded.updated_at_ms, generation = excluded.generation, "
      "members_json = excluded.members_json");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, r.id)
      .Bind(2, r.state_json)
      .Bind(3, r.updated_at_ms)
      .Bind(4, r.generation)
      .Bind(5, r.members_json);
  return stmt->Run();
}

Result<bool> ApplyLease(Connection& conn, std::string_view name, std::string_view holder,
                        std::int64_t now_ms, std::int64_t ttl_ms) {
  if (name.empty() || holder.empty() || ttl_ms <= 0) {
    return Status(StatusCode::kInvalidArgument, "a lease needs a name, a holder and a ttl > 0");
  }
  // Taken when free, expired, or already the holder's; otherwise untouched.
  Result<Statement> stmt = conn.Prepare(
      "INSERT INTO leases (name, holder, expires_at_ms) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
      "expires_at_ms = excluded.expires_at_ms "
      "WHERE leases.holder = excluded.holder OR leases.expires_at_ms <= ?4");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, name).Bind(2, holder).Bind(3, now_ms + ttl_ms).Bind(4, now_ms);
  OMNI_RETURN_IF_ERROR(stmt->Run());
  Result<Statement> held = conn.Prepare("SELECT holder FROM leases WHERE name = ?1");
  if (!held.ok()) return held.status();
  held->Bind(1, name);
  Result<bool> row = held->Step();
  if (!row.ok()) return row.status();
  return *row && held->Text(0) == holder;
}

Status InsertSnapshots(Connection& conn,
                       const std::vector<std::shared_ptr<const SnapshotRecord>>& snapshots) {
  for (const auto& s : snapshots) OMNI_RETURN_IF_ERROR(InsertSnapshot(conn, *s));
  return Status::Ok();
}

Status InsertSnapshot(Connection& conn, const SnapshotRecord& s) {
  if (s.hash.empty()) return Status(StatusCode::kInvalidArgument, "snapshot needs a hash");
  Result<Statement> insert =
      conn.Prepare(std::string("INSERT INTO snapshots (") + kSnapshotColumns +
                   ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (hash) DO NOTHING");
  if (!insert.ok()) return insert.status();
  insert->Bind(1, s.hash)
      .BindBlob(2, s.snapshot)
      .BindBlob(3, s.envelope)
      .Bind(4, s.version)
      .Bind(5, s.scope_chain)
      .Bind(6, s.created_at_ms)
      .Bind(7, s.expires_at_ms)
      .Bind(8, s.rollout);
  return insert->Run();
}

Result<SnapshotRecord> ApplyChainSnapshotPut(Connection& conn, const SnapshotRecord& s,
                                             std::int64_t fresh_after_ms) {
  if (s.hash.empty() || !s.rollout.empty()) {
    return Status(StatusCode::kInvalidArgument, "a chain snapshot needs a hash and no rollout");
  }
  Result<Statement> kept =
      conn.Prepare(std::string("SELECT ") + kSnapshotColumns +
                   " FROM snapshots WHERE scope_chain = ?1 AND version = ?2 AND rollout = '' "
                   "AND expires_at_ms > ?3 ORDER BY expires_at_ms DESC LIMIT 1");
  if (!kept.ok()) return kept.status();
  kept->Bind(1, s.scope_chain).Bind(2, s.version).Bind(3, fresh_after_ms);
  Result<bool> row = kept->Step();
  if (!row.ok()) return row.status();
  if (*row) return ReadSnapshot(*kept);
  OMNI_RETURN_IF_ERROR(InsertSnapshot(conn, s));
  return s;
}

Result<SettingRecord> ApplySettingIfAbsent(Connection& conn, std::string_view key,
                                           std::string_view value, std::int64_t now_ms,
                                           const AuditEntry& audit) {
  if (key.empty()) return Status(StatusCode::kInvalidArgument, "a setting needs a key");
  Result<SettingRecord> stored = ReadSetting(conn, key);
  if (stored.ok() || stored.status().code() != StatusCode::kNotFound) return stored;
  OMNI_RETURN_IF_ERROR(WriteSetting(conn, key, std::string(value), now_ms));
  OMNI_RETURN_IF_ERROR(InsertAudit(conn, audit));
  return SettingRecord{std::string(key), std::string(value), now_ms};
}

}  // namespace omnirelay::cp::sqlite

#include "store_sqlite_maintenance.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "audit_chain.h"
#include "store_rows_common.h"
#include "store_sqlite_rows.h"

namespace omnirelay::cp::sqlite {
namespace {

constexpr char kAdapter[] = "sqlite store";

constexpr store_rows::SqlDialect kDialect = {
    {"?1", "?2", "?3", "?4"}, "", "SELECT value FROM json_each(?1)"};

// The anchor as the settings table holds it ({0, ""} when nothing was pruned).
Result<AuditPruneResult> ReadAnchor(Connection& conn) {
  Result<SettingRecord> setting = ReadSetting(conn, store_rows::kAuditAnchorKey);
  if (!setting.ok() && setting.status().code() != StatusCode::kNotFound) return setting.status();
  return store_rows::DecodeAuditAnchor(setting.ok() ? setting->value : std::string(), kAdapter);
}

}  // namespace

Result<api::AuditChainReport> VerifyAuditChain(Connection& conn) {
  // One read transaction: a prune that commits meanwhile moves the anchor
  // and removes entries together, so the walk sees both or neither.
  OMNI_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(conn, Transaction::Mode::kDeferred));
  OMNI_ASSIGN_OR_RETURN(AuditPruneResult anchor, ReadAnchor(conn));
  OMNI_ASSIGN_OR_RETURN(Statement walk,
                        conn.Prepare("SELECT id, time_ms, principal, token_id, action, scope, "
                                     "revision, outcome, summary, hash FROM audit ORDER BY id"));
  AuditChainCheck check;
  if (anchor.anchor_id != 0) check.StartAfter(anchor.anchor_id, anchor.anchor_hash);
  for (;;) {
    OMNI_ASSIGN_OR_RETURN(bool row, walk.Step());
    if (!row) break;
    const std::optional<std::string> hash =
        walk.IsNull(9) ? std::nullopt : std::optional<std::string>(walk.Text(9));
    check.Add(ReadAudit(walk), hash);
  }
  return check.report();
}

Result<AuditPruneResult> PruneAudit(Connection& conn, std::int64_t cutoff_ms,
                                    std::int64_t keep_newest, std::size_t batch) {
  OMNI_ASSIGN_OR_RETURN(AuditPruneResult result, ReadAnchor(conn));
  std::int64_t newest = 0;
  {
    OMNI_ASSIGN_OR_RETURN(Statement max, conn.Prepare("SELECT COALESCE(MAX(id), 0) FROM audit"));
    OMNI_ASSIGN_OR_RETURN(bool row, max.Step());
    if (row) newest = max.Int(0);
  }
  std::vector<store_rows::AuditPruneRow> oldest;
  {
    OMNI_ASSIGN_OR_RETURN(
        Statement walk,
        conn.Prepare("SELECT id, time_ms, COALESCE(hash, '') FROM audit ORDER BY id LIMIT ?1"));
    walk.Bind(1, store_rows::LimitParam(batch));
    for (;;) {
      OMNI_ASSIGN_OR_RETURN(bool row, walk.Step());
      if (!row) break;
      oldest.push_back({walk.Int(0), walk.Int(1), walk.Text(2)});
    }
  }
  const std::size_t n = store_rows::AuditPrefixToPrune(oldest, newest, cutoff_ms, keep_newest);
  if (n == 0) return result;
  const store_rows::AuditPruneRow& last = oldest[n - 1];
  OMNI_ASSIGN_OR_RETURN(Statement remove, conn.Prepare("DELETE FROM audit WHERE id <= ?1"));
  remove.Bind(1, last.id);
  OMNI_RETURN_IF_ERROR(remove.Run());
  result.deleted = sqlite3_changes(conn.handle());
  result.anchor_id = last.id;
  result.anchor_hash = last.hash;
  // The setting's time is the pruned entry's: the store keeps no clock.
  OMNI_RETURN_IF_ERROR(WriteSetting(conn, store_rows::kAuditAnchorKey,
                                    store_rows::EncodeAuditAnchor(last.id, last.hash),
                                    last.time_ms));
  return result;
}

Result<std::vector<std::string>> SnapshotsToPrune(Connection& conn, const SnapshotRetention& r,
                                                  std::size_t limit) {
  return Collect<std::string>(
      conn, store_rows::SnapshotsToPruneQuery(kDialect),
      [&](Statement& s) {
        s.Bind(1, r.cutoff_ms)
            .Bind(2, r.keep_per_chain)
            .Bind(3, r.keep_from_version)
            .Bind(4, store_rows::LimitParam(limit));
      },
      [](const Statement& row) { return row.Text(0); });
}

Result<std::int64_t> DeleteSnapshots(Connection& conn, const std::vector<std::string>& hashes) {
  if (hashes.empty()) return std::int64_t{0};
  OMNI_ASSIGN_OR_RETURN(Statement remove,
                        conn.Prepare(store_rows::DeleteSnapshotsStatement(kDialect)));
  remove.Bind(1, nlohmann::json(hashes).dump());
  OMNI_RETURN_IF_ERROR(remove.Run());
  return std::int64_t{sqlite3_changes(conn.handle())};
}

}  // namespace omnirelay::cp::sqlite

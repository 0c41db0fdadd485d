#include "store_postgres_maintenance.h"

#include <optional>
#include <string>
#include <utility>

#include "audit_chain.h"
#include "store_postgres_rows.h"
#include "store_rows_common.h"

namespace omnirelay::cp::pg {
namespace {

constexpr char kAdapter[] = "postgres store";

// The advisory lock that serialises audit prunes across replicas ("AUDP").
constexpr std::int64_t kAuditPruneLockKey = 0x41554450;

constexpr store_rows::SqlDialect kDialect = {
    {"$1::bigint", "$2::bigint", "$3::bigint", "$4::bigint"},
    " COLLATE \"C\"",
    "SELECT unnest($1::text[])"};

Result<AuditPruneResult> ReadAnchor(pqxx::transaction_base& txn) {
  const pqxx::result row = txn.exec_params("SELECT value FROM settings WHERE key = $1",
                                           std::string(store_rows::kAuditAnchorKey));
  return store_rows::DecodeAuditAnchor(row.empty() ? std::string() : row[0][0].as<std::string>(),
                                       kAdapter);
}

}  // namespace

Result<api::AuditChainReport> VerifyAuditChain(pqxx::connection& conn) {
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(conn);
  OMNI_ASSIGN_OR_RETURN(AuditPruneResult anchor, ReadAnchor(txn));
  AuditChainCheck check;
  if (anchor.anchor_id != 0) check.StartAfter(anchor.anchor_id, anchor.anchor_hash);
  for (const pqxx::row& row :
       txn.exec(std::string("SELECT ") + kAuditColumns + ", hash FROM audit ORDER BY id")) {
    check.Add(ReadAudit(row), row[9].is_null()
                                  ? std::nullopt
                                  : std::optional<std::string>(row[9].as<std::string>()));
  }
  return check.report();
}

Result<AuditPruneResult> PruneAudit(pqxx::connection& conn, std::int64_t cutoff_ms,
                                    std::int64_t keep_newest, std::size_t batch) {
  pqxx::work txn(conn);
  txn.exec_params("SELECT pg_advisory_xact_lock($1::bigint)", kAuditPruneLockKey);
  OMNI_ASSIGN_OR_RETURN(AuditPruneResult result, ReadAnchor(txn));
  const std::int64_t newest =
      txn.exec1("SELECT COALESCE(MAX(id), 0) FROM audit")[0].as<std::int64_t>();
  std::vector<store_rows::AuditPruneRow> oldest;
  for (const pqxx::row& row :
       txn.exec_params("SELECT id, time_ms, COALESCE(hash, '') FROM audit ORDER BY id LIMIT $1",
                       store_rows::LimitParam(batch))) {
    oldest.push_back(
        {row[0].as<std::int64_t>(), row[1].as<std::int64_t>(), row[2].as<std::string>()});
  }
  const std::size_t n = store_rows::AuditPrefixToPrune(oldest, newest, cutoff_ms, keep_newest);
  if (n == 0) return result;
  const store_rows::AuditPruneRow& last = oldest[n - 1];
  result.deleted = static_cast<std::int64_t>(
      txn.exec_params0("DELETE FROM audit WHERE id <= $1", last.id).affected_rows());
  result.anchor_id = last.id;
  result.anchor_hash = last.hash;
  // The setting's time is the pruned entry's: the store keeps no clock.
  txn.exec_params0(
      "INSERT INTO settings (key, value, updated_at_ms) VALUES ($1, $2, $3) "
      "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
      "updated_at_ms = excluded.updated_at_ms",
      std::string(store_rows::kAuditAnchorKey), store_rows::EncodeAuditAnchor(last.id, last.hash),
      last.time_ms);
  txn.commit();
  return result;
}

Result<std::vector<std::string>> SnapshotsToPrune(pqxx::connection& conn,
                                                  const SnapshotRetention& r, std::size_t limit) {
  pqxx::nontransaction txn(conn);
  return Decode<std::string>(
      txn.exec_params(store_rows::SnapshotsToPruneQuery(kDialect), r.cutoff_ms, r.keep_per_chain,
                      r.keep_from_version, store_rows::LimitParam(limit)),
      [](const pqxx::row& row) { return row[0].as<std::string>(); });
}

Result<std::int64_t> DeleteSnapshots(pqxx::connection& conn,
                                     const std::vector<std::string>& hashes) {
  if (hashes.empty()) return std::int64_t{0};
  pqxx::work txn(conn);
  const pqxx::result done =
      txn.exec_params0(store_rows::DeleteSnapshotsStatement(kDialect), TextArray(hashes));
  txn.commit();
  return static_cast<std::int64_t>(done.affected_rows());
}

}  // namespace omnirelay::cp::pg

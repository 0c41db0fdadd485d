// Retention and the audit chain's walk, for the SQLite store (store.h,
// "retention"): each function runs on the connection it is given — a read
// connection for the walks, the writer's connection inside the group
// writer's transaction for the deletes.
//
// Thread safety: stateless; the connection is the caller's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"
#include "store_sqlite_db.h"

namespace omnirelay::cp::sqlite {

// Store::VerifyAuditChain: the anchor and the entries in one read transaction.
Result<api::AuditChainReport> VerifyAuditChain(Connection& conn);

// Store::PruneAudit's batch, on the writer inside its transaction.
Result<AuditPruneResult> PruneAudit(Connection& conn, std::int64_t cutoff_ms,
                                    std::int64_t keep_newest, std::size_t batch);

// Store::SnapshotsToPrune (a read) and DeleteSnapshots (on the writer).
Result<std::vector<std::string>> SnapshotsToPrune(Connection& conn, const SnapshotRetention& r,
                                                  std::size_t limit);
Result<std::int64_t> DeleteSnapshots(Connection& conn, const std::vector<std::string>& hashes);

}  // namespace omnirelay::cp::sqlite

// Retention and the audit chain's walk, for the Postgres store (store.h,
// "retention"). Each function is one unit of work for Pool::Run: it opens
// and commits its own transaction on the connection it is given.
//
// Prunes of the audit log take a transaction-scoped advisory lock, so the
// replicas of a cell pruning at the same moment run one after the other and
// the anchor only moves forward. They do not take the store_head lock: they
// never remove the newest entry, which is the one an append extends.
//
// Thread safety: stateless; the connection is the caller's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp::pg {

// Store::VerifyAuditChain: the anchor and the entries in one snapshot.
Result<api::AuditChainReport> VerifyAuditChain(pqxx::connection& conn);

Result<AuditPruneResult> PruneAudit(pqxx::connection& conn, std::int64_t cutoff_ms,
                                    std::int64_t keep_newest, std::size_t batch);

Result<std::vector<std::string>> SnapshotsToPrune(pqxx::connection& conn,
                                                  const SnapshotRetention& r, std::size_t limit);
Result<std::int64_t> DeleteSnapshots(pqxx::connection& conn,
                                     const std::vector<std::string>& hashes);

}  // namespace omnirelay::cp::pg

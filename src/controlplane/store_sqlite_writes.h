// Write transactions of the SQLite store that more than one Store method
// runs (a layer write alone or in a change set), the rollout and lease
// rows, and the insert-if-absent writes of a cell's shared values. Each runs on the writer
// connection inside the caller's transaction.
//
// Thread safety: stateless; the writer connection is the caller's.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"
#include "store_sqlite_db.h"

namespace omnirelay::cp::sqlite {

Result<std::int64_t> QueryHead(Connection& conn);
// The scope's current revision, nullopt when it has no layer.
Result<std::optional<std::int64_t>> CurrentRevision(Connection& conn, std::string_view scope);

// One layer put or delete: CAS, the revision row, the head row, its audit
// entry (revision filled in). The new revision.
Result<std::int64_t> ApplyLayerWrite(Connection& conn, const LayerWrite& w);

// Store::PutRollout's statement; `insert_only` refuses an existing id.
Status ApplyRolloutPut(Connection& conn, const RolloutRecord& r,
                       std::optional<std::int64_t> expected_generation, bool insert_only);

// Store::AcquireLease's statements.
Result<bool> ApplyLease(Connection& conn, std::string_view name, std::string_view holder,
                        std::int64_t now_ms, std::int64_t ttl_ms);

// Store::PutSnapshot's statement: a hash stored already is left as it is.
Status InsertSnapshot(Connection& conn, const SnapshotRecord& s);
// The same for each of a change set's snapshots (RolloutRecord::snapshots).
Status InsertSnapshots(Connection& conn,
                       const std::vector<std::shared_ptr<const SnapshotRecord>>& snapshots);

// Store::PutChainSnapshot: the fresh snapshot of the chain and version
// already stored, else `s` inserted.
Result<SnapshotRecord> ApplyChainSnapshotPut(Connection& conn, const SnapshotRecord& s,
                                             std::int64_t fresh_after_ms);

// Store::PutSettingIfAbsent: the stored value, else `value` written with its audit entry.
Result<SettingRecord> ApplySettingIfAbsent(Connection& conn, std::string_view key,
                                           std::string_view value, std::int64_t now_ms,
                                           const AuditEntry& audit);

}  // namespace omnirelay::cp::sqlite

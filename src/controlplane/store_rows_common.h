// What the SQLite and Postgres stores write alike: the column lists their
// tables share, the node upsert's update clause, and vectors of strings
// stored as JSON arrays. Each adapter's rows header brings these into its
// own namespace.
//
// Thread safety: constants and stateless functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp::store_rows {

// `s` in double quotes, for messages.
inline std::string Quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

inline constexpr char kRevisionColumns[] =
    "revision, scope, deleted, COALESCE(document, ''), author, created_at_ms";
inline constexpr char kSnapshotColumns[] =
    "hash, snapshot, envelope, version, scope_chain, created_at_ms, expires_at_ms, rollout";
inline constexpr char kNodeColumns[] =
    "node_id, scope_chain, api_version, features, assigned_version, assigned_hash, "
    "applied_version, applied_hash, discovery_generation, last_error, health_json, connected, "
    "last_seen_ms, last_error_code, last_error_path, assigned_at_ms, assigned_expires_at_ms";
// After "INSERT INTO nodes (kNodeColumns) VALUES (...)": a known node's row
// takes every column of the new one.
inline constexpr char kNodeUpsertClause[] =
    " ON CONFLICT (node_id) DO UPDATE SET scope_chain = excluded.scope_chain, "
    "api_version = excluded.api_version, features = excluded.features, "
    "assigned_version = excluded.assigned_version, assigned_hash = excluded.assigned_hash, "
    "applied_version = excluded.applied_version, applied_hash = excluded.applied_hash, "
    "discovery_generation = excluded.discovery_generation, "
    "last_error = excluded.last_error, health_json = excluded.health_json, "
    "connected = excluded.connected, last_seen_ms = excluded.last_seen_ms, "
    "last_error_code = excluded.last_error_code, last_error_path = excluded.last_error_path, "
    "assigned_at_ms = excluded.assigned_at_ms, "
    "assigned_expires_at_ms = excluded.assigned_expires_at_ms";
inline constexpr char kTokenColumns[] =
    "id, secret_hash, name, scopes, created_at_ms, expires_at_ms, revoked_at_ms";

// A list limit as a bound SQL parameter (size_t's largest clamped).
inline std::int64_t LimitParam(std::size_t limit) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(limit < kMax ? limit : kMax);
}

inline Status Invalid(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

// A scope's layer as its head revision row says it.
inline LayerRecord LayerFromRevision(RevisionRecord&& r) {
  LayerRecord layer;
  layer.scope = std::move(r.scope);
  layer.revision = r.revision;
  layer.document = std::move(r.document);
  layer.updated_at_ms = r.created_at_ms;
  layer.author = std::move(r.author);
  return layer;
}

// kInvalidArgument if a string is not valid UTF-8.
Result<std::string> EncodeStrings(const std::vector<std::string>& values, std::string_view what);
// kInternal, naming `adapter` ("sqlite store"), if `text` is not a JSON
// array of strings.
Result<std::vector<std::string>> DecodeStrings(const std::string& text, std::string_view what,
                                               std::string_view adapter);

// ---- retention, alike in both adapters

// The setting that holds the audit chain's anchor: {"id": N, "hash": "..."}.
inline constexpr char kAuditAnchorKey[] = "audit.anchor";
std::string EncodeAuditAnchor(std::int64_t id, std::string_view hash);
// {0, ""} for an empty `text` (nothing pruned yet); kInternal if malformed.
Result<AuditPruneResult> DecodeAuditAnchor(const std::string& text, std::string_view adapter);

// One audit row as PruneAudit's walk of the oldest entries reads it.
struct AuditPruneRow {
  std::int64_t id = 0;
  std::int64_t time_ms = 0;
  std::string hash;  // "" for an entry that predates the chain
};
// How many of `oldest` (the oldest entries, in id order, none of them the
// newest entry `newest_id`) PruneAudit removes: the prefix of those older
// than `cutoff_ms` (0: no age rule) or with an id at most newest_id -
// keep_newest (0: no count rule). Ids count entries: gap-free in SQLite,
// nearly so in Postgres (a rolled-back append skips one), so the count rule
// keeps at most keep_newest entries.
std::size_t AuditPrefixToPrune(const std::vector<AuditPruneRow>& oldest, std::int64_t newest_id,
                               std::int64_t cutoff_ms, std::int64_t keep_newest);

// The SQL of retention's snapshot statements, one text for both adapters
// but for what `d` says of the dialect.
struct SqlDialect {
  const char* p[4];      // the placeholders "?1".. (SQLite), "$1::bigint".. (Postgres)
  const char* collate;   // appended to the nodes' hash columns ("" or " COLLATE \"C\"")
  const char* elements;  // a table of a JSON array's text elements, given the placeholder
};
// SnapshotsToPrune: parameters cutoff_ms, keep_per_chain, keep_from_version, limit.
std::string SnapshotsToPruneQuery(const SqlDialect& d);
// DeleteSnapshots: one parameter, the hashes (as `elements` reads them).
std::string DeleteSnapshotsStatement(const SqlDialect& d);

}  // namespace omnirelay::cp::store_rows

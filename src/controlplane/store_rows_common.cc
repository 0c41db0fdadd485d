#include "store_rows_common.h"

#include <nlohmann/json.hpp>

namespace omnirelay::cp::store_rows {

Result<std::string> EncodeStrings(const std::vector<std::string>& values, std::string_view what) {
  try {
    return nlohmann::json(values).dump();
  } catch (const nlohmann::json::exception&) {
    return Status(StatusCode::kInvalidArgument, std::string(what) + " must be valid UTF-8");
  }
}

Result<std::vector<std::string>> DecodeStrings(const std::string& text, std::string_view what,
                                               std::string_view adapter) {
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> values;
  if (json.is_array()) {
    for (const nlohmann::json& item : json) {
      if (!item.is_string()) break;
      values.push_back(item.get<std::string>());
    }
    if (values.size() == json.size()) return values;
  }
  return Status(StatusCode::kInternal, std::string(adapter) + ": " + std::string(what) +
                                           " is not a JSON array of strings");
}

std::string EncodeAuditAnchor(std::int64_t id, std::string_view hash) {
  return nlohmann::json{{"id", id}, {"hash", std::string(hash)}}.dump();
}

Result<AuditPruneResult> DecodeAuditAnchor(const std::string& text, std::string_view adapter) {
  AuditPruneResult anchor;
  if (text.empty()) return anchor;
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("id") || !json["id"].is_number_integer() ||
      !json.contains("hash") || !json["hash"].is_string()) {
    return Status(StatusCode::kInternal,
                  std::string(adapter) + ": the audit anchor setting is not {\"id\", \"hash\"}");
  }
  anchor.anchor_id = json["id"].get<std::int64_t>();
  anchor.anchor_hash = json["hash"].get<std::string>();
  return anchor;
}

std::size_t AuditPrefixToPrune(const std::vector<AuditPruneRow>& oldest, std::int64_t newest_id,
                               std::int64_t cutoff_ms, std::int64_t keep_newest) {
  std::size_t n = 0;
  for (const AuditPruneRow& row : oldest) {
    if (row.id >= newest_id) break;  // the chain's head stays
    const bool too_old = cutoff_ms > 0 && row.time_ms < cutoff_ms;
    const bool too_many = keep_newest > 0 && row.id <= newest_id - keep_newest;
    if (!too_old && !too_many) break;  // a prefix: the chain stays whole after it
    ++n;
  }
  return n;
}

std::string SnapshotsToPruneQuery(const SqlDialect& d) {
  const std::string c = d.collate;
  // Newest first within a chain (and rollout label): the rank the
  // keep_per_chain rule reads. Snapshots a node holds are never candidates.
  return std::string(
             "SELECT hash FROM (SELECT hash, version, created_at_ms, ROW_NUMBER() OVER "
             "(PARTITION BY scope_chain, rollout ORDER BY version DESC, expires_at_ms DESC, "
             "hash) AS newest FROM snapshots) ranked WHERE created_at_ms < ") +
         d.p[0] + " AND newest > " + d.p[1] + " AND (" + d.p[2] + " = 0 OR version < " + d.p[2] +
         ") AND hash NOT IN (SELECT assigned_hash" + c +
         " FROM nodes) AND hash NOT IN (SELECT applied_hash" + c +
         " FROM nodes) ORDER BY created_at_ms, hash LIMIT " + d.p[3];
}

std::string DeleteSnapshotsStatement(const SqlDialect& d) {
  const std::string c = d.collate;
  return std::string("DELETE FROM snapshots WHERE hash IN (") + d.elements +
         ") AND hash NOT IN (SELECT assigned_hash" + c +
         " FROM nodes) AND hash NOT IN (SELECT applied_hash" + c + " FROM nodes)";
}

}  // namespace omnirelay::cp::store_rows

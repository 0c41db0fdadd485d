#include "api_json.h"

#include "omnirelay/config/decode.h"

namespace omnirelay::cp {
namespace {

std::string Iso(std::int64_t unix_ms) {
  return unix_ms == 0 ? "" : FormatRfc3339(unix_ms / 1000);
}

nlohmann::json EmbeddedDocument(const std::string& text) {
  if (text.empty()) return nullptr;
  auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? nlohmann::json(text) : parsed;
}

}  // namespace

nlohmann::json ToJson(const Diagnostic& d) {
  return {{"path", d.path}, {"code", std::string(diag_code_name(d.code))}, {"message", d.message}};
}

nlohmann::json ToJson(const std::vector<Diagnostic>& diags) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& d : diags) out.push_back(ToJson(d));
  return out;
}

nlohmann::json ToJson(const ScopeSummary& s) {
  return {{"scope", s.scope},
          {"revision", s.revision},
          {"updatedAt", Iso(s.updated_at_ms)},
          {"author", s.author}};
}

nlohmann::json ToJson(const LayerRecord& l) {
  return {{"scope", l.scope},
          {"revision", l.revision},
          {"updatedAt", Iso(l.updated_at_ms)},
          {"author", l.author},
          {"document", EmbeddedDocument(l.document)}};
}

nlohmann::json ToJson(const RevisionRecord& r) {
  return {{"revision", r.revision},
          {"scope", r.scope},
          {"action", r.deleted ? "delete" : "put"},
          {"author", r.author},
          {"createdAt", Iso(r.created_at_ms)}};
}

nlohmann::json ToJson(const WriteOutcome& w) {
  nlohmann::json blocked = nlohmann::json::array();
  for (const auto& b : w.blocked_nodes) {
    blocked.push_back({{"nodeId", b.node_id}, {"scopeChain", b.scope_chain}, {"reason", b.reason}});
  }
  nlohmann::json out = {{"dryRun", w.dry_run},
                        {"valid", w.diagnostics.empty()},
                        {"errors", ToJson(w.diagnostics)},
                        {"diff", w.diff_summary},
                        {"blockedNodes", std::move(blocked)},
                        {"chainsChecked", w.chains_checked}};
  if (!w.dry_run) out["revision"] = w.revision;
  return out;
}

nlohmann::json ToJson(const NodeRecord& n) {
  return {{"nodeId", n.node_id},
          {"scopeChain", n.scope_chain},
          {"apiVersion", n.api_version},
          {"features", n.features},
          {"assignedVersion", n.assigned_version},
          {"assignedHash", n.assigned_hash},
          {"appliedVersion", n.applied_version},
          {"appliedHash", n.applied_hash},
          {"drift", n.applied_version != n.assigned_version},
          {"discoveryGeneration", n.discovery_generation},
          {"lastError", n.last_error},
          {"health", EmbeddedDocument(n.health_json.empty() ? "{}" : n.health_json)},
          {"connected", n.connected},
          {"lastSeen", Iso(n.last_seen_ms)}};
}

nlohmann::json ToJson(const AuditEntry& a) {
  return {{"id", a.id},
          {"time", Iso(a.time_ms)},
          {"timeMs", a.time_ms},
          {"principal", a.principal},
          {"tokenId", a.token_id},
          {"action", a.action},
          {"scope", a.scope},
          {"revision", a.revision},
          {"outcome", a.outcome},
          {"summary", a.summary}};
}

nlohmann::json ToJson(const StatusSummary& s) {
  nlohmann::json by_version = nlohmann::json::array();
  for (const auto& [version, count] : s.nodes_by_applied_version) {
    by_version.push_back({{"version", version}, {"nodes", count}});
  }
  return {{"headRevision", s.head_revision},
          {"nodes",
           {{"total", s.nodes_total},
            {"connected", s.nodes_connected},
            {"drifted", s.nodes_drifted},
            {"byAppliedVersion", std::move(by_version)}}},
          {"rollouts", nlohmann::json::array()}};
}

nlohmann::json ToJson(const TokenRecord& t) {
  return {{"id", t.id},
          {"name", t.name},
          {"scopes", t.scopes},
          {"createdAt", Iso(t.created_at_ms)},
          {"expiresAt", Iso(t.expires_at_ms)},
          {"revoked", t.revoked_at_ms != 0},
          {"revokedAt", Iso(t.revoked_at_ms)}};
}

nlohmann::json ToJson(const EffectiveView& e) {
  return {
      {"version", e.version}, {"features", e.features}, {"spec", EmbeddedDocument(e.spec_json)}};
}

nlohmann::json ErrorJson(const Status& status) {
  const auto& diags = status.diagnostics();
  std::string code = std::string(status.code_name());
  if (status.code() == StatusCode::kInvalid && !diags.empty()) {
    code = std::string(diag_code_name(diags.front().code));
  }
  nlohmann::json details = nullptr;
  if (!diags.empty()) details = {{"errors", ToJson(diags)}};
  return {{"code", code}, {"message", status.message()}, {"details", details}};
}

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
    case StatusCode::kInvalid:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kConflict:
    case StatusCode::kMissingFeature:
    case StatusCode::kScopeMismatch:
      return 409;
    case StatusCode::kTooLarge:
      return 413;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kUnimplemented:
      return 501;
    default:
      return 500;
  }
}

}  // namespace omnirelay::cp

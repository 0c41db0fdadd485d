#include "omnirelay/api/json.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "omnirelay/api/status_mapping.h"
#include "omnirelay/config/rfc3339.h"

namespace omnirelay::api {
namespace {

using Json = nlohmann::json;

// "None" stays out of the JSON: empty texts, and zero times, versions and
// revisions that name nothing.
void PutText(Json& j, const char* key, const std::string& value) {
  if (!value.empty()) j[key] = value;
}

void PutNumber(Json& j, const char* key, std::int64_t value) {
  if (value != 0) j[key] = value;
}

void PutTime(Json& j, const char* key, std::int64_t unix_ms) {
  if (unix_ms != 0) j[key] = FormatRfc3339Ms(unix_ms);
}

// A stored JSON document embedded as JSON (as text when it is not JSON);
// nothing for an empty or null one, nor for "{}" when `empty_is_none`.
void PutDocument(Json& j, const char* key, const std::string& text, bool empty_is_none = false) {
  if (text.empty()) return;
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    j[key] = text;
  } else if (!parsed.is_null() && !(empty_is_none && parsed.is_object() && parsed.empty())) {
    j[key] = std::move(parsed);
  }
}

template <typename T>
Json List(const std::vector<T>& items) {
  Json out = Json::array();
  for (const auto& item : items) out.push_back(ToJson(item));
  return out;
}

// Reads the fields of one JSON object; the first problem sticks.
class Reader {
 public:
  Reader(const Json& j, const char* what) : j_(j) {
    if (!j.is_object()) Fail(what, "an object");
  }

  void Text(const char* key, std::string* out) {
    if (const Json* v = Field(key, &Json::is_string, "a string")) *out = v->get<std::string>();
  }
  void Number(const char* key, std::int64_t* out) {
    if (const Json* v = Field(key, &Json::is_number_integer, "an integer")) {
      *out = v->get<std::int64_t>();
    }
  }
  void Flag(const char* key, bool* out) {
    if (const Json* v = Field(key, &Json::is_boolean, "true or false")) *out = v->get<bool>();
  }
  void Texts(const char* key, std::vector<std::string>* out) {
    const Json* v = Field(key, &Json::is_array, "an array of strings");
    if (v == nullptr) return;
    out->clear();
    for (const auto& item : *v) {
      if (!item.is_string()) return Fail(key, "an array of strings");
      out->push_back(item.get<std::string>());
    }
  }
  void Time(const char* key, std::int64_t* unix_ms) {
    std::string text;
    Text(key, &text);
    if (text.empty()) return;
    auto seconds = ParseRfc3339(text);
    if (!seconds.ok()) return Fail(key, "an RFC 3339 time");
    *unix_ms = *seconds * 1000;
  }
  // A document embedded as JSON, kept as its text.
  void Document(const char* key, std::string* out) {
    auto it = j_.find(key);
    if (!status_.ok() || it == j_.end() || it->is_null()) return;
    *out = it->is_string() ? it->get<std::string>() : it->dump();
  }
  template <typename T>
  void Items(const char* key, std::vector<T>* out) {
    const Json* v = Field(key, &Json::is_array, "an array");
    if (v == nullptr) return;
    out->clear();
    for (const auto& item : *v) {
      T value;
      if (Status s = FromJson(item, &value); !s.ok()) {
        status_ = Status(StatusCode::kInvalidArgument, std::string(key) + ": " + s.message());
        return;
      }
      out->push_back(std::move(value));
    }
  }
  // One nested object; absent (or null) leaves `out` as it is.
  template <typename T>
  void Item(const char* key, std::optional<T>* out) {
    const Json* v = Field(key, &Json::is_object, "an object");
    if (v == nullptr) return;
    T value;
    if (Status s = FromJson(*v, &value); !s.ok()) {
      status_ = Status(StatusCode::kInvalidArgument, std::string(key) + ": " + s.message());
      return;
    }
    *out = std::move(value);
  }
  void Fail(const char* key, const char* expected) {
    if (status_.ok()) {
      status_ =
          Status(StatusCode::kInvalidArgument, "\"" + std::string(key) + "\" must be " + expected);
    }
  }
  Status status() const { return status_; }

 private:
  // The field when present and of the expected type; nullptr when absent
  // (or null), or after a failure.
  const Json* Field(const char* key, bool (Json::*is)() const noexcept, const char* expected) {
    if (!status_.ok()) return nullptr;
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    if (!((*it).*is)()) {
      Fail(key, expected);
      return nullptr;
    }
    return &*it;
  }

  const Json& j_;
  Status status_;
};

}  // namespace

Json ToJson(const Diagnostic& d) {
  return {{"path", d.path}, {"code", std::string(diag_code_name(d.code))}, {"message", d.message}};
}

Json ToJson(const std::vector<Diagnostic>& diagnostics) {
  return List(diagnostics);
}

Json ToJson(const LayerSummary& l) {
  Json j = {{"scope", l.scope}, {"revision", l.revision}};
  PutTime(j, "updatedAt", l.updated_at_ms);
  PutText(j, "author", l.author);
  return j;
}

Json ToJson(const Layer& l) {
  Json j = {{"scope", l.scope}, {"revision", l.revision}};
  PutTime(j, "updatedAt", l.updated_at_ms);
  PutText(j, "author", l.author);
  PutDocument(j, "document", l.document);
  return j;
}

Json ToJson(const Revision& r) {
  Json j = {{"revision", r.revision}, {"scope", r.scope}, {"action", r.deleted ? "delete" : "put"}};
  PutText(j, "author", r.author);
  PutTime(j, "createdAt", r.created_at_ms);
  return j;
}

Json ToJson(const HistoryPage& h) {
  Json j = {{"scope", h.scope}, {"revisions", List(h.revisions)}};
  PutNumber(j, "nextBefore", h.next_before);
  return j;
}

Json ToJson(const BlockedNode& b) {
  return {{"nodeId", b.node_id},
          {"scopeChain", b.scope_chain},
          {"reason", b.reason},
          {"missing", b.missing}};
}

Json ToJson(const WriteResult& w) {
  Json j = {{"dryRun", w.dry_run},
            {"valid", w.valid()},
            {"errors", ToJson(w.diagnostics)},
            {"blockedNodes", List(w.blocked_nodes)},
            {"chainsChecked", w.chains_checked}};
  PutNumber(j, "revision", w.dry_run ? 0 : w.revision);
  PutText(j, "diff", w.diff_summary);
  PutNumber(j, "currentRevision", w.current_revision);
  PutDocument(j, "currentDocument", w.current_document);
  return j;
}

Json ToJson(const Node& n) {
  Json j = {{"nodeId", n.node_id},
            {"scopeChain", n.scope_chain},
            {"features", n.features},
            {"drift", n.drift()},
            {"connected", n.connected}};
  PutText(j, "apiVersion", n.api_version);
  PutNumber(j, "assignedVersion", n.assigned_version);
  PutText(j, "assignedHash", n.assigned_hash);
  PutNumber(j, "appliedVersion", n.applied_version);
  PutText(j, "appliedHash", n.applied_hash);
  PutNumber(j, "discoveryGeneration", n.discovery_generation);
  PutText(j, "state", n.state);
  PutText(j, "lastError", n.last_error);
  PutText(j, "lastErrorCode", n.last_error_code);
  PutText(j, "lastErrorPath", n.last_error_path);
  PutDocument(j, "health", n.health_json, /*empty_is_none=*/true);
  PutTime(j, "lastSeen", n.last_seen_ms);
  return j;
}

Json ToJson(const StatusSummary& s) {
  Json by_version = Json::array();
  for (const auto& [version, count] : s.nodes_by_applied_version) {
    by_version.push_back({{"version", version}, {"nodes", count}});
  }
  Json by_state = Json::object();
  for (const auto& [state, count] : s.nodes_by_state) by_state[state] = count;
  Json j = {{"headRevision", s.head_revision},
            {"nodes",
             {{"total", s.nodes_total},
              {"connected", s.nodes_connected},
              {"drifted", s.nodes_drifted},
              {"byAppliedVersion", std::move(by_version)},
              {"byState", std::move(by_state)}}},
            {"rollouts", Json::array()},
            {"layers", List(s.layers)}};
  for (const RolloutBrief& r : s.rollouts) {
    j["rollouts"].push_back({{"id", r.id},
                             {"version", r.version},
                             {"state", r.state},
                             {"currentWave", r.current_wave},
                             {"waveCount", r.wave_count}});
  }
  if (s.freeze.frozen) j["freeze"] = ToJson(s.freeze);
  return j;
}

Json ToJson(const AuditEntry& a) {
  Json j = {{"id", a.id}, {"action", a.action}, {"outcome", a.outcome}};
  PutTime(j, "time", a.time_ms);
  PutNumber(j, "timeMs", a.time_ms);
  PutText(j, "principal", a.principal);
  PutText(j, "tokenId", a.token_id);
  PutText(j, "scope", a.scope);
  PutNumber(j, "revision", a.revision);
  PutText(j, "summary", a.summary);
  return j;
}

// "active", "revoked" or "expired" (by the wall clock at the time of the answer).
std::string TokenState(const Token& t) {
  if (t.revoked_at_ms != 0) return "revoked";
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return t.expires_at_ms != 0 && t.expires_at_ms <= now ? "expired" : "active";
}

Json ToJson(const Token& t) {
  Json j = {{"id", t.id},
            {"name", t.name},
            {"scopes", t.scopes},
            {"revoked", t.revoked_at_ms != 0},
            {"state", TokenState(t)}};
  PutTime(j, "createdAt", t.created_at_ms);
  PutTime(j, "expiresAt", t.expires_at_ms);
  PutTime(j, "revokedAt", t.revoked_at_ms);
  return j;
}

Json ToJson(const IssuedToken& t) {
  Json j = ToJson(t.token);
  PutText(j, "token", t.secret);
  return j;
}

Json ToJson(const EffectiveView& e) {
  Json j = {{"version", e.version}, {"features", e.features}};
  PutDocument(j, "spec", e.spec_json);
  return j;
}

Json ToJson(const LayerContext& c) {
  Json j = {{"scope", c.scope}, {"scopeChain", c.scope_chain}};
  if (c.layer) j["layer"] = ToJson(*c.layer);
  j["effectiveSpec"] = Json::object();
  j["inheritedSpec"] = Json::object();
  PutDocument(j, "effectiveSpec", c.effective_spec_json);
  PutDocument(j, "inheritedSpec", c.inherited_spec_json);
  return j;
}

Json ErrorJson(const Status& status) {
  Json j = {{"code", std::string(ErrorCode(status))}, {"message", status.message()}};
  if (!status.diagnostics().empty()) j["details"] = {{"errors", ToJson(status.diagnostics())}};
  return j;
}

Status FromJson(const Json& j, Diagnostic* out) {
  Reader r(j, "a diagnostic");
  std::string code;
  r.Text("path", &out->path);
  r.Text("code", &code);
  r.Text("message", &out->message);
  if (!r.status().ok()) return r.status();
  const auto known = ParseDiagCodeName(code);
  if (!known)
    return Status(StatusCode::kInvalidArgument, "unknown diagnostic code \"" + code + "\"");
  out->code = *known;
  return Status::Ok();
}

Status FromJson(const Json& j, LayerSummary* out) {
  Reader r(j, "a layer summary");
  r.Text("scope", &out->scope);
  r.Number("revision", &out->revision);
  r.Time("updatedAt", &out->updated_at_ms);
  r.Text("author", &out->author);
  return r.status();
}

Status FromJson(const Json& j, Layer* out) {
  Reader r(j, "a layer");
  r.Text("scope", &out->scope);
  r.Number("revision", &out->revision);
  r.Time("updatedAt", &out->updated_at_ms);
  r.Text("author", &out->author);
  r.Document("document", &out->document);
  return r.status();
}

Status FromJson(const Json& j, Revision* out) {
  Reader r(j, "a revision");
  std::string action;
  r.Number("revision", &out->revision);
  r.Text("scope", &out->scope);
  r.Text("action", &action);
  r.Text("author", &out->author);
  r.Time("createdAt", &out->created_at_ms);
  if (r.status().ok() && action != "put" && action != "delete") r.Fail("action", "put or delete");
  out->deleted = action == "delete";
  return r.status();
}

Status FromJson(const Json& j, HistoryPage* out) {
  Reader r(j, "a history page");
  r.Text("scope", &out->scope);
  r.Items("revisions", &out->revisions);
  r.Number("nextBefore", &out->next_before);
  return r.status();
}

Status FromJson(const Json& j, BlockedNode* out) {
  Reader r(j, "a blocked node");
  r.Text("nodeId", &out->node_id);
  r.Text("scopeChain", &out->scope_chain);
  r.Text("reason", &out->reason);
  r.Texts("missing", &out->missing);
  return r.status();
}

Status FromJson(const Json& j, WriteResult* out) {
  Reader r(j, "a write result");
  r.Flag("dryRun", &out->dry_run);
  r.Number("revision", &out->revision);
  r.Items("errors", &out->diagnostics);
  r.Text("diff", &out->diff_summary);
  r.Items("blockedNodes", &out->blocked_nodes);
  r.Texts("chainsChecked", &out->chains_checked);
  r.Number("currentRevision", &out->current_revision);
  r.Document("currentDocument", &out->current_document);
  return r.status();
}

Status FromJson(const Json& j, Node* out) {
  Reader r(j, "a node");
  r.Text("nodeId", &out->node_id);
  r.Text("scopeChain", &out->scope_chain);
  r.Text("apiVersion", &out->api_version);
  r.Texts("features", &out->features);
  r.Number("assignedVersion", &out->assigned_version);
  r.Text("assignedHash", &out->assigned_hash);
  r.Number("appliedVersion", &out->applied_version);
  r.Text("appliedHash", &out->applied_hash);
  r.Number("discoveryGeneration", &out->discovery_generation);
  r.Text("state", &out->state);
  r.Text("lastError", &out->last_error);
  r.Text("lastErrorCode", &out->last_error_code);
  r.Text("lastErrorPath", &out->last_error_path);
  r.Document("health", &out->health_json);
  r.Flag("connected", &out->connected);
  r.Time("lastSeen", &out->last_seen_ms);
  return r.status();
}

Status FromJson(const Json& j, StatusSummary* out) {
  Reader r(j, "a status");
  r.Number("headRevision", &out->head_revision);
  if (auto rollouts = j.is_object() ? j.find("rollouts") : j.end();
      rollouts != j.end() && rollouts->is_array()) {
    for (const Json& item : *rollouts) {
      Reader ro(item, "a rollout");
      RolloutBrief b;
      ro.Text("id", &b.id);
      ro.Number("version", &b.version);
      ro.Text("state", &b.state);
      ro.Number("currentWave", &b.current_wave);
      ro.Number("waveCount", &b.wave_count);
      OMNI_RETURN_IF_ERROR(ro.status());
      out->rollouts.push_back(std::move(b));
    }
  }
  r.Items("layers", &out->layers);
  if (auto freeze = j.is_object() ? j.find("freeze") : j.end();
      freeze != j.end() && !freeze->is_null()) {
    OMNI_RETURN_IF_ERROR(FromJson(*freeze, &out->freeze));
  }
  auto nodes = j.is_object() ? j.find("nodes") : j.end();
  if (!r.status().ok() || nodes == j.end()) return r.status();
  Reader n(*nodes, "nodes");
  n.Number("total", &out->nodes_total);
  n.Number("connected", &out->nodes_connected);
  n.Number("drifted", &out->nodes_drifted);
  if (!n.status().ok()) return n.status();
  if (auto by_state = nodes->find("byState"); by_state != nodes->end() && by_state->is_object()) {
    out->nodes_by_state.clear();
    for (const auto& [state, count] : by_state->items()) {
      if (!count.is_number_integer()) {
        return Status(StatusCode::kInvalidArgument, "\"byState\" counts must be integers");
      }
      out->nodes_by_state.emplace_back(state, count.get<std::int64_t>());
    }
    // In kNodeStates order (a JSON object has none).
    auto rank = [](const std::string& state) {
      int i = 0;
      for (const char* known : kNodeStates) {
        if (state == known) return i;
        ++i;
      }
      return i;
    };
    std::stable_sort(out->nodes_by_state.begin(), out->nodes_by_state.end(),
                     [&](const auto& a, const auto& b) { return rank(a.first) < rank(b.first); });
  }
  auto by_version = nodes->find("byAppliedVersion");
  if (by_version == nodes->end() || by_version->is_null()) return Status::Ok();
  if (!by_version->is_array()) {
    return Status(StatusCode::kInvalidArgument, "\"byAppliedVersion\" must be an array");
  }
  out->nodes_by_applied_version.clear();
  for (const auto& item : *by_version) {
    Reader v(item, "byAppliedVersion");
    std::int64_t version = 0, count = 0;
    v.Number("version", &version);
    v.Number("nodes", &count);
    if (!v.status().ok()) return v.status();
    out->nodes_by_applied_version.emplace_back(version, count);
  }
  return Status::Ok();
}

Status FromJson(const Json& j, AuditEntry* out) {
  Reader r(j, "an audit entry");
  r.Number("id", &out->id);
  r.Time("time", &out->time_ms);
  r.Number("timeMs", &out->time_ms);  // the exact time, when present
  r.Text("principal", &out->principal);
  r.Text("tokenId", &out->token_id);
  r.Text("action", &out->action);
  r.Text("scope", &out->scope);
  r.Number("revision", &out->revision);
  r.Text("outcome", &out->outcome);
  r.Text("summary", &out->summary);
  return r.status();
}

Status FromJson(const Json& j, Token* out) {
  Reader r(j, "a token");
  r.Text("id", &out->id);
  r.Text("name", &out->name);
  r.Texts("scopes", &out->scopes);
  r.Time("createdAt", &out->created_at_ms);
  r.Time("expiresAt", &out->expires_at_ms);
  r.Time("revokedAt", &out->revoked_at_ms);
  return r.status();
}

Status FromJson(const Json& j, IssuedToken* out) {
  OMNI_RETURN_IF_ERROR(FromJson(j, &out->token));
  Reader r(j, "an issued token");
  r.Text("token", &out->secret);
  return r.status();
}

Status FromJson(const Json& j, EffectiveView* out) {
  Reader r(j, "an effective view");
  r.Number("version", &out->version);
  r.Texts("features", &out->features);
  r.Document("spec", &out->spec_json);
  return r.status();
}

Status FromJson(const Json& j, LayerContext* out) {
  Reader r(j, "a layer context");
  r.Text("scope", &out->scope);
  r.Text("scopeChain", &out->scope_chain);
  r.Document("effectiveSpec", &out->effective_spec_json);
  r.Document("inheritedSpec", &out->inherited_spec_json);
  r.Item("layer", &out->layer);
  return r.status();
}

Result<CreateTokenRequest> ParseCreateTokenRequest(std::string_view body) {
  const Status shape(StatusCode::kInvalidArgument,
                     "body must be {\"name\": \"...\", \"scopes\": [\"...\"], "
                     "\"ttlSeconds\": N (optional, whole seconds >= 0)}");
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return shape;
  const auto name = j.find("name");
  const auto scopes = j.find("scopes");
  if (name == j.end() || !name->is_string() || scopes == j.end() || !scopes->is_array()) {
    return shape;
  }
  CreateTokenRequest out;
  out.name = name->get<std::string>();
  for (const auto& scope : *scopes) {
    if (!scope.is_string()) return shape;
    out.scopes.push_back(scope.get<std::string>());
  }
  if (const auto ttl = j.find("ttlSeconds"); ttl != j.end()) {
    if (!ttl->is_number_integer() || ttl->get<std::int64_t>() < 0) return shape;
    out.ttl_seconds = ttl->get<std::int64_t>();
  }
  for (const auto& [key, value] : j.items()) {
    (void)value;
    if (key != "name" && key != "scopes" && key != "ttlSeconds") {
      return Status(StatusCode::kInvalidArgument,
                    "unknown field \"" + key + "\" in the token request; " + shape.message());
    }
  }
  return out;
}

Result<std::int64_t> ParseLoginRequest(std::string_view body) {
  const Status shape(StatusCode::kInvalidArgument,
                     "body must be empty or {\"ttlSeconds\": N} (optional, whole seconds >= 0)");
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return std::int64_t{0};
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return shape;
  std::int64_t ttl = 0;
  for (const auto& [key, value] : j.items()) {
    if (key != "ttlSeconds" || !value.is_number_integer() || value.get<std::int64_t>() < 0) {
      return shape;
    }
    ttl = value.get<std::int64_t>();
  }
  return ttl;
}

}  // namespace omnirelay::api

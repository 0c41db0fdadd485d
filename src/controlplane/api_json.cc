#include "api_json.h"

namespace omnirelay::cp {

api::Layer ToApi(const LayerRecord& l) {
  return {l.scope, l.revision, l.document, l.updated_at_ms, l.author};
}

api::Revision ToApi(const RevisionRecord& r) {
  return {r.revision, r.scope, r.deleted, r.author, r.created_at_ms};
}

api::Node ToApi(const NodeRecord& n) {
  api::Node out;
  out.node_id = n.node_id;
  out.scope_chain = n.scope_chain;
  out.api_version = n.api_version;
  out.features = n.features;
  out.assigned_version = n.assigned_version;
  out.assigned_hash = n.assigned_hash;
  out.applied_version = n.applied_version;
  out.applied_hash = n.applied_hash;
  out.discovery_generation = n.discovery_generation;
  out.last_error = n.last_error;
  out.health_json = n.health_json;
  out.connected = n.connected;
  out.last_seen_ms = n.last_seen_ms;
  out.last_error_code = n.last_error_code;
  out.last_error_path = n.last_error_path;
  return out;
}

api::Token ToApi(const TokenRecord& t) {
  return {t.id, t.name, t.scopes, t.created_at_ms, t.expires_at_ms, t.revoked_at_ms};
}

api::IssuedToken ToApi(const IssuedToken& t) {
  return {ToApi(t.record), t.secret};
}

nlohmann::json ToJson(const LayerRecord& l) {
  return api::ToJson(ToApi(l));
}
nlohmann::json ToJson(const RevisionRecord& r) {
  return api::ToJson(ToApi(r));
}
nlohmann::json ToJson(const NodeRecord& n) {
  return api::ToJson(ToApi(n));
}
nlohmann::json ToJson(const TokenRecord& t) {
  return api::ToJson(ToApi(t));
}
nlohmann::json ToJson(const IssuedToken& t) {
  return api::ToJson(ToApi(t));
}

int HttpStatusFor(const Status& status) {
  return api::HttpStatusFor(status.code());
}

}  // namespace omnirelay::cp

// The codec of the audit chain report (json.h): GET /v1/audit/verify.
#include "omnirelay/api/json.h"

namespace omnirelay::api {

using Json = nlohmann::json;

Json ToJson(const AuditChainReport& r) {
  Json j = {{"ok", r.ok}, {"entries", r.entries}, {"beforeChain", r.before_chain}};
  if (r.head_id != 0) {
    j["head"] = {{"id", r.head_id}};
    if (!r.head_hash.empty()) j["head"]["hash"] = r.head_hash;
  }
  if (r.break_id != 0) j["firstBreak"] = {{"id", r.break_id}, {"reason", r.break_reason}};
  if (r.anchor_id != 0) {
    j["prunedThrough"] = {{"id", r.anchor_id}};
    if (!r.anchor_hash.empty()) j["prunedThrough"]["hash"] = r.anchor_hash;
  }
  return j;
}

Status FromJson(const Json& j, AuditChainReport* out) {
  const Status bad(StatusCode::kInvalidArgument,
                   "an audit chain report is {\"ok\": bool, \"entries\", \"beforeChain\": "
                   "integers, \"head\"?: {\"id\", \"hash\"?}, \"firstBreak\"?: {\"id\", "
                   "\"reason\"}, \"prunedThrough\"?: {\"id\", \"hash\"?}}");
  if (!j.is_object() || !j.contains("ok") || !j["ok"].is_boolean()) return bad;
  AuditChainReport r;
  r.ok = j["ok"].get<bool>();
  auto integer = [&](const Json& o, const char* key, std::int64_t* to) {
    if (!o.contains(key)) return true;
    if (!o[key].is_number_integer()) return false;
    *to = o[key].get<std::int64_t>();
    return true;
  };
  auto text = [&](const Json& o, const char* key, std::string* to) {
    if (!o.contains(key)) return true;
    if (!o[key].is_string()) return false;
    *to = o[key].get<std::string>();
    return true;
  };
  bool fine = integer(j, "entries", &r.entries) && integer(j, "beforeChain", &r.before_chain);
  if (j.contains("head")) {
    const Json& h = j["head"];
    fine = fine && h.is_object() && integer(h, "id", &r.head_id) && text(h, "hash", &r.head_hash);
  }
  if (j.contains("firstBreak")) {
    const Json& b = j["firstBreak"];
    fine = fine && b.is_object() && integer(b, "id", &r.break_id) &&
           text(b, "reason", &r.break_reason);
  }
  if (j.contains("prunedThrough")) {
    const Json& a = j["prunedThrough"];
    fine =
        fine && a.is_object() && integer(a, "id", &r.anchor_id) && text(a, "hash", &r.anchor_hash);
  }
  if (!fine) return bad;
  *out = std::move(r);
  return Status::Ok();
}

}  // namespace omnirelay::api

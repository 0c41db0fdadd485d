// The codec of the freeze switch and the revert request (json.h): GET and
// PUT /v1/freeze, POST /v1/layers/{scope}/revert.
#include <span>
#include <string>

#include "omnirelay/api/json.h"
#include "omnirelay/config/rfc3339.h"

namespace omnirelay::api {
namespace {

using Json = nlohmann::json;

// A request body as a JSON object whose fields are all in `known`;
// `shape` (kInvalidArgument, showing the expected body) otherwise.
Result<Json> BodyObject(std::string_view body, std::span<const std::string_view> known,
                        const Status& shape) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return shape;
  for (const auto& [key, value] : j.items()) {
    (void)value;
    bool ok = false;
    for (std::string_view k : known) ok = ok || key == k;
    if (!ok) {
      return Status(StatusCode::kInvalidArgument,
                    "unknown field \"" + key + "\" in the request; " + shape.message());
    }
  }
  return j;
}

// An optional string field; false when present but not a string.
bool OptionalText(const Json& j, const char* key, std::string* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  *out = it->get<std::string>();
  return true;
}

}  // namespace

Json ToJson(const FreezeState& f) {
  Json j = {{"frozen", f.frozen}};
  if (!f.frozen) return j;
  if (!f.reason.empty()) j["reason"] = f.reason;
  if (!f.by.empty()) j["by"] = f.by;
  if (f.since_ms != 0) j["since"] = FormatRfc3339Ms(f.since_ms);
  return j;
}

Status FromJson(const Json& j, FreezeState* out) {
  const Status bad(StatusCode::kInvalidArgument,
                   "a freeze is {\"frozen\": bool, \"reason\"?, \"by\"?, \"since\"?: RFC 3339}");
  if (!j.is_object()) return bad;
  auto frozen = j.find("frozen");
  if (frozen == j.end() || !frozen->is_boolean()) return bad;
  FreezeState f;
  f.frozen = frozen->get<bool>();
  std::string since;
  if (!OptionalText(j, "reason", &f.reason) || !OptionalText(j, "by", &f.by) ||
      !OptionalText(j, "since", &since)) {
    return bad;
  }
  if (!since.empty()) {
    auto seconds = ParseRfc3339(since);
    if (!seconds.ok()) return bad;
    f.since_ms = *seconds * 1000;
  }
  *out = std::move(f);
  return Status::Ok();
}

Result<SetFreezeRequest> ParseSetFreezeRequest(std::string_view body) {
  const Status shape(StatusCode::kInvalidArgument,
                     "body must be {\"frozen\": true|false, \"reason\": \"...\" (to freeze)}");
  static constexpr std::string_view kFields[] = {"frozen", "reason"};
  OMNI_ASSIGN_OR_RETURN(Json j, BodyObject(body, kFields, shape));
  auto frozen = j.find("frozen");
  if (frozen == j.end() || !frozen->is_boolean()) return shape;
  SetFreezeRequest out;
  out.frozen = frozen->get<bool>();
  if (!OptionalText(j, "reason", &out.reason)) return shape;
  return out;
}

Result<RevertRequest> ParseRevertRequest(std::string_view body) {
  const Status shape(StatusCode::kInvalidArgument,
                     "body must be {\"toRevision\": N (a revision of the scope, >= 1), "
                     "\"reason\": \"...\" (optional)}");
  static constexpr std::string_view kFields[] = {"toRevision", "reason"};
  OMNI_ASSIGN_OR_RETURN(Json j, BodyObject(body, kFields, shape));
  auto to = j.find("toRevision");
  if (to == j.end() || !to->is_number_integer() || to->get<std::int64_t>() < 1) return shape;
  RevertRequest out;
  out.to_revision = to->get<std::int64_t>();
  if (!OptionalText(j, "reason", &out.reason)) return shape;
  return out;
}

}  // namespace omnirelay::api

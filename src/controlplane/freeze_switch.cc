#include "freeze_switch.h"

#include <nlohmann/json.hpp>
#include <string>

#include "omnirelay/config/rfc3339.h"

namespace omnirelay::cp {
namespace {

using Json = nlohmann::json;

// The stored value: {"reason", "by", "sinceMs"}.
std::string Encode(const api::FreezeState& f) {
  return Json{{"reason", f.reason}, {"by", f.by}, {"sinceMs", f.since_ms}}.dump();
}

Result<api::FreezeState> Decode(const std::string& text) {
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.value("reason", Json()).is_string() ||
      !j.value("by", Json()).is_string() || !j.value("sinceMs", Json()).is_number_integer()) {
    return Status(StatusCode::kInternal,
                  "the stored freeze setting is not what this build wrote: " + text.substr(0, 200));
  }
  api::FreezeState f;
  f.frozen = true;
  f.reason = j["reason"].get<std::string>();
  f.by = j["by"].get<std::string>();
  f.since_ms = j["sinceMs"].get<std::int64_t>();
  return f;
}

}  // namespace

api::FreezeState FreezeSwitch::Recent() {
  const std::int64_t now = clock_.NowUnixMs();
  {
    MutexLock lock(mu_);
    if (read_at_ms_ != 0 && now - read_at_ms_ <= kFreezeMaxAgeMs) return cached_;
  }
  auto current = Current();
  if (current.ok()) return *current;
  MutexLock lock(mu_);
  return cached_;
}

void FreezeSwitch::Cache(const api::FreezeState& state, std::int64_t read_at_ms) {
  MutexLock lock(mu_);
  cached_ = state;
  read_at_ms_ = read_at_ms;
}

Result<api::FreezeState> FreezeSwitch::Current() {
  const std::int64_t now = clock_.NowUnixMs();
  auto stored = store_.GetSetting(kFreezeSettingKey);
  api::FreezeState state;
  if (stored.ok()) {
    OMNI_ASSIGN_OR_RETURN(state, Decode(stored->value));
  } else if (stored.status().code() != StatusCode::kNotFound) {
    return stored.status();
  }
  Cache(state, now);
  return state;
}

Status FreezeSwitch::Set(const api::FreezeState& state, std::int64_t now_ms,
                         const AuditEntry& audit) {
  std::optional<std::string> value;
  if (state.frozen) value = Encode(state);
  if (Status put = store_.PutSetting(kFreezeSettingKey, value, now_ms, audit); !put.ok()) {
    return put;
  }
  Cache(state, clock_.NowUnixMs());
  return Status::Ok();
}

Status FreezeSwitch::Refusal(const api::FreezeState& state, std::string_view what) {
  if (!state.frozen) return Status::Ok();
  std::string message = std::string(what) + " refused: changes are frozen by " +
                        (state.by.empty() ? "an unknown principal" : state.by);
  if (state.since_ms != 0) message += " since " + FormatRfc3339Ms(state.since_ms);
  if (!state.reason.empty()) message += " (" + state.reason + ")";
  message +=
      "; `config revert` still works, and `rollout unfreeze` (PUT /v1/freeze "
      "{\"frozen\": false}) lifts the freeze";
  return Status(StatusCode::kFrozen, std::move(message));
}

Status FreezeSwitch::RefusalOfStored(const std::string& stored_value, std::string_view what) {
  OMNI_ASSIGN_OR_RETURN(api::FreezeState state, Decode(stored_value));
  return Refusal(state, what);
}

}  // namespace omnirelay::cp

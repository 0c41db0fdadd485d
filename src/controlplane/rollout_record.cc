// A rollout's stored record (rollout_engine.h: RolloutRecordOf,
// RolloutRunFromRecord, RolloutRunToJson): the run's own fields around its
// state, in format 2 (the state's head here, its members in members_json)
// or format 1 (everything in one object, as daemons stored it before).
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "json_text.h"
#include "rollout_engine.h"

namespace omnirelay::cp {
namespace {

using Json = nlohmann::json;

// A run's record text around its state's (`state`): the run's own fields in
// nlohmann's key order (the bytes one dump of the record would give), with
// each member's chain when `chains` is given (format 1; format 2 keeps them
// with the members). The chains hold an entry per member, the bulk of a
// large rollout's record, and cost no json values this way.
std::string RunRecordText(const RolloutRun& run, const std::map<std::string, std::string>* chains,
                          std::string_view state) {
  using json_text::AppendKey;
  using json_text::AppendString;
  std::string out;
  out.reserve(state.size() + 512 + (chains != nullptr ? 48 * chains->size() : 0));
  out = "{";
  AppendKey(out, "author");
  AppendString(out, run.author);
  AppendKey(out, "base");
  json_text::AppendInt(out, run.base);
  if (chains != nullptr) {
    AppendKey(out, "chains");
    out += '{';
    for (const auto& [id, chain] : *chains) {
      AppendKey(out, id);
      AppendString(out, chain);
    }
    out += '}';
  }
  if (run.members_pending) {
    AppendKey(out, "membersPending");
    out += "true";
  }
  AppendKey(out, "reason");
  AppendString(out, run.reason);
  AppendKey(out, "scopes");
  json_text::AppendStrings(out, run.scopes);
  AppendKey(out, "state");
  out += state;
  out += '}';
  return out;
}

Result<Json> ParseRecord(std::string_view text) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("state")) {
    return Status(StatusCode::kInternal, "stored rollout is not a rollout record");
  }
  return j;
}

// The run's own fields of a parsed record (format 1's chains among them).
Status ReadRunFields(const Json& j, RolloutRun& run) {
  try {
    run.scopes = j.value("scopes", std::vector<std::string>{});
    run.base = j.value("base", std::int64_t{0});
    run.author = j.value("author", std::string());
    run.reason = j.value("reason", std::string());
    if (j.contains("chains")) run.chains = j.at("chains").get<std::map<std::string, std::string>>();
    run.members_pending = j.value("membersPending", false);
  } catch (const nlohmann::json::exception& e) {
    return Status(StatusCode::kInternal, std::string("stored rollout: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace

std::string RolloutRunToJson(const RolloutRun& run) {
  return RunRecordText(run, &run.chains, RolloutStateToJson(run.state));
}

Result<RolloutRun> RolloutRunFromJson(std::string_view json) {
  OMNI_ASSIGN_OR_RETURN(const Json j, ParseRecord(json));
  RolloutRun run;
  OMNI_ASSIGN_OR_RETURN(run.state, ReadRolloutState(j.at("state")));
  OMNI_RETURN_IF_ERROR(ReadRunFields(j, run));
  return run;
}

RolloutRecord RolloutRecordOf(const RolloutRun& run, std::int64_t updated_at_ms,
                              bool with_members) {
  RolloutStateParts parts;
  if (with_members) {
    parts = RolloutStateToParts(run.state, run.chains);
  } else {
    parts.head = RolloutStateHead(run.state);
  }
  RolloutRecord record;
  record.id = run.state.id;
  record.updated_at_ms = updated_at_ms;
  record.generation = run.state.generation;
  record.state_json = RunRecordText(run, nullptr, parts.head);
  record.members_json = std::move(parts.members);
  return record;
}

Result<RolloutRun> RolloutRunFromRecord(const RolloutRecord& record, bool* members_apart) {
  if (members_apart != nullptr) *members_apart = false;
  OMNI_ASSIGN_OR_RETURN(const Json j, ParseRecord(record.state_json));
  const Json& state = j.at("state");
  RolloutRun run;
  // The head names its format: a record an older build rewrote whole is
  // format 1 even when a members part from before is still stored beside it.
  if (record.members_json.empty() || !IsMembersApartHead(state)) {
    OMNI_ASSIGN_OR_RETURN(run.state, ReadRolloutState(state));
  } else {
    OMNI_ASSIGN_OR_RETURN(run.state,
                          ReadRolloutStateParts(state, record.members_json, &run.chains));
    if (members_apart != nullptr) *members_apart = true;
  }
  OMNI_RETURN_IF_ERROR(ReadRunFields(j, run));
  return run;
}

}  // namespace omnirelay::cp

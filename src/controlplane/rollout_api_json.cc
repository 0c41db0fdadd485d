#include "rollout_api_json.h"

#include <nlohmann/json.hpp>

#include "omnirelay/api/json.h"
#include "omnirelay/config/rfc3339.h"
#include "rollout_engine.h"

namespace omnirelay::cp {
namespace {

using Json = nlohmann::json;

// A wave's state as an operator reads it.
std::string_view WaveState(const RolloutState& s, std::size_t index) {
  if (index < s.current_wave) return "passed";
  if (index > s.current_wave) return s.phase == RolloutPhase::kSucceeded ? "passed" : "waiting";
  switch (s.phase) {
    case RolloutPhase::kSucceeded:
      return "passed";
    case RolloutPhase::kRollingBack:
    case RolloutPhase::kRolledBack:
      return "breached";
    case RolloutPhase::kAborted:
      return "aborted";
    case RolloutPhase::kPending:
      return "waiting";
    default:
      return "baking";
  }
}

}  // namespace

std::string RolloutApiJson(const RolloutRun& run) {
  // Built from the state's fields; the parts it shares with the stored form
  // (a wave's scopes, the policy, the verdict) through the same codecs, not
  // by dumping and parsing the whole state (every member) per read.
  const RolloutState& s = run.state;
  Json waves = Json::array();
  for (std::size_t i = 0; i < s.waves.size(); ++i) {
    const Wave& w = s.waves[i];
    std::int64_t on_new = 0;
    for (const auto& id : w.node_ids) {
      auto it = s.nodes.find(id);
      if (it == s.nodes.end()) continue;
      const std::int64_t v = it->second.assigned_version;  // the shadow wave's, or past it
      if (v == WaveVersion(s, i) || v == s.new_version) ++on_new;
    }
    Json wave = {{"index", i},
                 {"kind", WaveKindName(w.kind)},
                 {"nodes", w.node_ids.size()},
                 {"assignedNew", on_new},
                 {"state", WaveState(s, i)},
                 {"nodeIds", w.node_ids}};
    if (i < run.progress.size()) {  // a dry run has no nodes' reports
      const RolloutRun::WaveProgress& p = run.progress[i];
      wave["acked"] = p.acked;
      wave["nacked"] = p.nacked;
      wave["drifting"] = p.drifting;
      wave["offline"] = p.offline;
    }
    if (!w.scopes.empty()) {
      Json scopes = Json::array();
      for (const Scope& scope : w.scopes) scopes.push_back(scope.ToString());
      wave["scopes"] = std::move(scopes);
    }
    waves.push_back(std::move(wave));
  }
  Json out = {{"id", s.id},
              {"state", RolloutPhaseName(s.phase)},
              {"version", s.new_version},
              {"previousVersion", run.base},
              {"scopes", run.scopes},
              {"author", run.author},
              {"currentWave", s.current_wave},
              {"waves", std::move(waves)},
              {"untargeted", s.untargeted.size()},
              {"policy", Json::parse(RolloutPolicyToJson(s.policy))},
              {"createdAt", FormatRfc3339Ms(s.created_at_ms)},
              {"updatedAt", FormatRfc3339Ms(s.updated_at_ms)}};
  if (s.rollback_version > 0) out["rollbackVersion"] = s.rollback_version;
  if (s.shadow_version > 0) out["shadowVersion"] = s.shadow_version;
  if (!s.rollback_reason.empty()) out["rollbackReason"] = s.rollback_reason;
  if (!run.reason.empty()) out["reason"] = run.reason;
  if (!run.blocked_nodes.empty()) {
    Json blocked = Json::array();
    for (const auto& node : run.blocked_nodes) blocked.push_back(api::ToJson(node));
    out["blockedNodes"] = std::move(blocked);
  }
  if (!s.last_verdict.message.empty() || !s.last_verdict.gate.empty()) {
    out["gate"] = Json::parse(VerdictRecordToJson(s.last_verdict));
  }
  return out.dump();
}

Result<RolloutStartRequest> ParseRolloutStartBody(std::string_view body) {
  const Json j = Json::parse(body, nullptr, false);
  auto bad = [](std::string why) { return Status(StatusCode::kInvalidArgument, std::move(why)); };
  if (j.is_discarded() || !j.is_object()) return bad("the body is not a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key != "layers" && key != "deletes" && key != "policy" && key != "reason") {
      return bad("unknown field \"" + key + "\" (layers, deletes, policy, reason)");
    }
  }
  RolloutStartRequest out;
  if (j.contains("layers")) {
    if (!j["layers"].is_array()) return bad("layers must be an array of ConfigLayer documents");
    for (const Json& layer : j["layers"]) {
      const Json* scope = nullptr;
      if (layer.is_object() && layer.contains("metadata") && layer["metadata"].is_object() &&
          layer["metadata"].contains("scope") && layer["metadata"]["scope"].is_string()) {
        scope = &layer["metadata"]["scope"];
      }
      if (scope == nullptr) return bad("each layer needs metadata.scope");
      out.changes.push_back({scope->get<std::string>(), layer.dump()});
    }
  }
  if (j.contains("deletes")) {
    if (!j["deletes"].is_array()) return bad("deletes must be an array of scopes");
    for (const Json& scope : j["deletes"]) {
      if (!scope.is_string()) return bad("deletes must be an array of scopes");
      out.changes.push_back({scope.get<std::string>(), std::nullopt});
    }
  }
  if (j.contains("policy")) {
    if (!j["policy"].is_object()) return bad("policy must be an object (the rollout block)");
    out.policy_json = j["policy"].dump();
  }
  if (j.contains("reason")) {
    if (!j["reason"].is_string()) return bad("reason must be a string");
    out.reason = j["reason"].get<std::string>();
  }
  return out;
}

}  // namespace omnirelay::cp

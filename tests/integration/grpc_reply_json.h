// gRPC answers in the REST face's JSON shape (the fields the API cases
// check), so one case table runs through both faces (grpc_api_test.cc).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "omnirelay/api/json.h"
#include "omnirelay/controlplane/v1/config_service.pb.h"

namespace omnirelay::cp::testing {

namespace v1 = controlplane::v1;
using Json = nlohmann::json;

// A JSON text parsed, or the text itself when it is not JSON.
inline Json Parsed(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  return j.is_discarded() ? Json(text) : j;
}

inline Json DiagnosticsJson(const google::protobuf::RepeatedPtrField<v1::Diagnostic>& diags) {
  Json out = Json::array();
  for (const auto& d : diags) {
    out.push_back({{"path", d.path()}, {"code", d.code()}, {"message", d.message()}});
  }
  return out;
}

inline Json BlockedJson(const google::protobuf::RepeatedPtrField<v1::BlockedNode>& nodes) {
  Json out = Json::array();
  for (const auto& b : nodes) {
    out.push_back(
        {{"nodeId", b.node_id()},
         {"scopeChain", b.scope_chain()},
         {"reason", b.reason()},
         {"missing", Json(std::vector<std::string>(b.missing().begin(), b.missing().end()))}});
  }
  return out;
}

inline Json WriteJson(const v1::WriteResult& w) {
  Json out = {{"dryRun", w.dry_run()},
              {"valid", w.valid()},
              {"errors", DiagnosticsJson(w.diagnostics())},
              {"diff", w.diff_summary()},
              {"blockedNodes", BlockedJson(w.blocked_nodes())}};
  if (!w.dry_run()) out["revision"] = w.revision();
  if (w.current_revision() != 0) {
    out["currentRevision"] = w.current_revision();
    out["currentDocument"] = Parsed(w.current_document());
  }
  return out;
}

// The REST shape of a freeze (api::ToJson of the same fields).
inline Json FreezeJson(const v1::Freeze& f) {
  return api::ToJson(api::FreezeState{f.frozen(), f.reason(), f.by(), f.since_ms()});
}

// The fields of GET /v1/status the cases check, from a StatusResponse.
inline Json StatusJson(const v1::StatusResponse& resp) {
  Json body = {{"headRevision", resp.head_revision()},
               {"layers", Json::array()},
               {"rollouts", Json::array()}};
  if (resp.has_freeze()) body["freeze"] = FreezeJson(resp.freeze());
  for (const auto& l : resp.layers()) {
    body["layers"].push_back({{"scope", l.scope()}, {"revision", l.revision()}});
  }
  for (const auto& r : resp.rollouts()) {
    body["rollouts"].push_back({{"id", r.id()},
                                {"version", r.version()},
                                {"state", r.state()},
                                {"currentWave", r.current_wave()},
                                {"waveCount", r.wave_count()}});
  }
  return body;
}

}  // namespace omnirelay::cp::testing

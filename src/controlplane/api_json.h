// Internal: the one JSON codec of the control plane's API types (REST bodies,
// and what omnirctl prints with -o json). Includes nlohmann: .cc files only.
#pragma once

#include <nlohmann/json.hpp>

#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/service.h"

namespace omnirelay::cp {

nlohmann::json ToJson(const Diagnostic& d);
nlohmann::json ToJson(const std::vector<Diagnostic>& diags);
nlohmann::json ToJson(const ScopeSummary& s);
nlohmann::json ToJson(const LayerRecord& l);  // document embedded as JSON
nlohmann::json ToJson(const RevisionRecord& r);
nlohmann::json ToJson(const WriteOutcome& w);
nlohmann::json ToJson(const NodeRecord& n);
nlohmann::json ToJson(const AuditEntry& a);
nlohmann::json ToJson(const StatusSummary& s);
nlohmann::json ToJson(const TokenRecord& t);  // never the secret or its hash
nlohmann::json ToJson(const EffectiveView& e);

// {"code", "message", "details"}: code is the first diagnostic's code for
// kInvalid (e.g. "dangling_cluster"), else the status code name.
nlohmann::json ErrorJson(const Status& status);
// The HTTP status for an error.
int HttpStatusFor(const Status& status);

}  // namespace omnirelay::cp

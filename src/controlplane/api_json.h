// Internal: the daemon's records as API values (omnirelay/api/types.h) —
// the one place they are converted — and the REST face's access to the API
// codec (omnirelay/api/json.h). Includes nlohmann: .cc files only.
#pragma once

#include <nlohmann/json.hpp>

#include "omnirelay/api/duration.h"
#include "omnirelay/api/json.h"
#include "omnirelay/api/status_mapping.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/auth.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

api::Layer ToApi(const LayerRecord& l);
api::Revision ToApi(const RevisionRecord& r);  // without the document
api::Node ToApi(const NodeRecord& n);
api::Token ToApi(const TokenRecord& t);  // without the secret's hash
api::IssuedToken ToApi(const IssuedToken& t);

// The codec, for the API types the service returns as they are
// (WriteOutcome, ScopeSummary, StatusSummary, AuditEntry, EffectiveView,
// Diagnostic) and for the records above through ToApi.
using api::ErrorJson;
using api::ParseDurationMs;
using api::ToJson;
nlohmann::json ToJson(const LayerRecord& l);
nlohmann::json ToJson(const RevisionRecord& r);
nlohmann::json ToJson(const NodeRecord& n);
nlohmann::json ToJson(const TokenRecord& t);
nlohmann::json ToJson(const IssuedToken& t);

// The HTTP status for an error (api::HttpStatusFor of its code).
int HttpStatusFor(const Status& status);

}  // namespace omnirelay::cp

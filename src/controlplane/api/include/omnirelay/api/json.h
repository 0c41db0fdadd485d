// The one JSON codec of the API's types (types.h): REST bodies, and what
// omnirctl prints with -o json. Field names are the REST vocabulary of
// docs/knowledge-base/controlplane.md; a field whose value is "none" (a zero
// time, version or revision that names nothing, an empty text) is left out,
// never written as 0 or "".
//
// Includes nlohmann: include it from .cc files only.
//
// Thread safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "omnirelay/api/types.h"
#include "omnirelay/config/status.h"

namespace omnirelay::api {

nlohmann::json ToJson(const Diagnostic& d);  // {"path", "code", "message"}
nlohmann::json ToJson(const std::vector<Diagnostic>& diagnostics);
nlohmann::json ToJson(const LayerSummary& l);
nlohmann::json ToJson(const Layer& l);  // the document embedded as JSON
nlohmann::json ToJson(const Revision& r);
nlohmann::json ToJson(const HistoryPage& h);  // {"scope", "revisions", "nextBefore"?}
nlohmann::json ToJson(const BlockedNode& b);
nlohmann::json ToJson(const WriteResult& w);
nlohmann::json ToJson(const Node& n);
nlohmann::json ToJson(const StatusSummary& s);
nlohmann::json ToJson(const AuditEntry& a);
nlohmann::json ToJson(const AuditChainReport& r);  // json_audit_chain.cc
nlohmann::json ToJson(const Token& t);             // never the secret
nlohmann::json ToJson(const IssuedToken& t);       // the token's fields + "token": the secret
nlohmann::json ToJson(const EffectiveView& e);
// {"scope", "scopeChain", "layer"? (as ToJson(Layer)), "effectiveSpec", "inheritedSpec"}
nlohmann::json ToJson(const LayerContext& c);
// {"frozen", "reason"?, "by"?, "since"?} (json_freeze.cc)
nlohmann::json ToJson(const FreezeState& f);

// An error body: {"code", "message", "details": {"errors": [...]}}; `code`
// is ErrorCode(status); `details` only when the status has diagnostics.
nlohmann::json ErrorJson(const Status& status);

// The reverse, for clients that read the JSON: absent fields stay "none";
// a field of the wrong type is kInvalidArgument naming it.
Status FromJson(const nlohmann::json& j, Diagnostic* out);
Status FromJson(const nlohmann::json& j, LayerSummary* out);
Status FromJson(const nlohmann::json& j, Layer* out);
Status FromJson(const nlohmann::json& j, Revision* out);
Status FromJson(const nlohmann::json& j, HistoryPage* out);
Status FromJson(const nlohmann::json& j, BlockedNode* out);
Status FromJson(const nlohmann::json& j, WriteResult* out);
Status FromJson(const nlohmann::json& j, Node* out);
Status FromJson(const nlohmann::json& j, StatusSummary* out);
Status FromJson(const nlohmann::json& j, AuditEntry* out);
Status FromJson(const nlohmann::json& j, AuditChainReport* out);
Status FromJson(const nlohmann::json& j, Token* out);
Status FromJson(const nlohmann::json& j, IssuedToken* out);
Status FromJson(const nlohmann::json& j, EffectiveView* out);
Status FromJson(const nlohmann::json& j, LayerContext* out);
Status FromJson(const nlohmann::json& j, FreezeState* out);

// A request body as the server receives it (any bytes): kInvalidArgument with
// a message that shows the expected shape when it is not one.
Result<CreateTokenRequest> ParseCreateTokenRequest(std::string_view body);
Result<SetFreezeRequest> ParseSetFreezeRequest(std::string_view body);
Result<RevertRequest> ParseRevertRequest(std::string_view body);
// POST /v1/login: "" or {} or {"ttlSeconds": N}; the requested lifetime (0 = the default).
Result<std::int64_t> ParseLoginRequest(std::string_view body);

}  // namespace omnirelay::api

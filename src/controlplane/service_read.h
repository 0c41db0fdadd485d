// Internal to the service's .cc files: the audited-read helper and the
// scope look-ups they share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "omnirelay/config/scope.h"
#include "omnirelay/controlplane/service.h"

namespace omnirelay::cp {

// An audit entry's outcome: "ok" or the status code's name.
inline std::string Outcome(const Status& s) {
  return s.ok() ? "ok" : std::string(s.code_name());
}

// For reads whose audit entry names no revision.
inline constexpr auto kNoRevision = [](const auto&) -> std::int64_t { return 0; };

// The node id a chain ends with ("" when it has no node scope).
inline std::string NodeIdOf(const std::vector<Scope>& chain) {
  return !chain.empty() && chain.back().level == ScopeLevel::kNode ? chain.back().name : "";
}

// kInvalid with one unknown_scope diagnostic at /metadata/scope saying `why`.
Status UnknownScope(const std::string& why);

// The chain the node of `scope` (node:<id>) said when it connected; the
// store's kNotFound for a node never seen, UnknownScope when that chain has
// no `scope` (a layer there would not reach the node). service_context.cc.
Result<std::vector<Scope>> StoredNodeChain(Store& store, const Scope& scope);

template <typename Read, typename RevisionOf>
std::invoke_result_t<Read> ControlPlaneService::ReadAudited(const Principal& who,
                                                            std::string_view needed_scope,
                                                            std::string_view action,
                                                            std::string_view audited_scope,
                                                            Read&& read, RevisionOf&& revision_of) {
  if (Status denied = Require(who, needed_scope); !denied.ok()) {
    AuditRead(who, action, audited_scope, 0, denied);
    return denied;
  }
  std::invoke_result_t<Read> result = read();
  AuditRead(who, action, audited_scope, result.ok() ? revision_of(*result) : 0, result.status());
  return result;
}

}  // namespace omnirelay::cp

// The group-to-scope map and the principal name (oidc.h).
#include <algorithm>
#include <set>

#include "omnirelay/controlplane/auth.h"
#include "omnirelay/controlplane/oidc.h"

namespace omnirelay::cp {
namespace {

std::vector<std::string> Split(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = std::min(text.find(sep, start), text.size());
    out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool Mappable(std::string_view scope) {
  return scope == kScopeConfigRead || scope == kScopeConfigWrite || scope == kScopeRolloutWrite ||
         scope == kScopeAuditRead || scope == kScopeAdmin;
}

}  // namespace

Result<GroupScopes> ParseGroupScopes(const std::vector<std::string>& texts) {
  GroupScopes map;
  for (const auto& text : texts) {
    for (const auto& entry : Split(text, ',')) {
      const auto eq = entry.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
        return Status(StatusCode::kInvalidArgument,
                      "group scopes \"" + entry + "\": write group=scope[+scope...]");
      }
      auto& scopes = map[entry.substr(0, eq)];
      for (const auto& scope : Split(std::string_view(entry).substr(eq + 1), '+')) {
        if (!Mappable(scope)) {
          return Status(StatusCode::kInvalidArgument,
                        "group scopes \"" + entry + "\": \"" + scope +
                            "\" is not one of config:read, config:write, rollout:write, "
                            "audit:read, admin");
        }
        if (std::find(scopes.begin(), scopes.end(), scope) == scopes.end()) {
          scopes.push_back(scope);
        }
      }
    }
  }
  return map;
}

std::vector<std::string> ScopesOfGroups(const GroupScopes& map,
                                        const std::vector<std::string>& groups) {
  std::set<std::string> scopes;
  for (const auto& g : groups) {
    if (auto it = map.find(g); it != map.end()) scopes.insert(it->second.begin(), it->second.end());
  }
  return {scopes.begin(), scopes.end()};
}

std::string OidcPrincipalName(const IdTokenClaims& claims) {
  std::string_view host = claims.issuer;
  if (auto scheme = host.find("://"); scheme != std::string_view::npos) {
    host.remove_prefix(scheme + 3);
  }
  host = host.substr(0, host.find('/'));
  return "oidc:" + std::string(host) + "/" + claims.subject;
}

}  // namespace omnirelay::cp

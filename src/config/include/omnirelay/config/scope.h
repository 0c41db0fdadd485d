// Scopes and scope chains (DESIGN.md §3.1).
//
// Precedence, least to most specific: global < region:<r> < cell:<c> <
// cluster:<k> < node:<id>. A chain lists scopes in strictly increasing
// precedence, e.g. "global,region:us-east,cell:use1-a,node:n-1".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/status.h"

namespace omnirelay {

enum class ScopeLevel { kGlobal = 0, kRegion = 1, kCell = 2, kCluster = 3, kNode = 4 };

struct Scope {
  ScopeLevel level = ScopeLevel::kGlobal;
  std::string name;  // empty for global

  std::string ToString() const;  // "global", "region:us-east", ...
  friend bool operator==(const Scope&, const Scope&) = default;
};

// "global", "region", "cell", "cluster", "node".
std::string_view ScopeLevelName(ScopeLevel level);

// Names of clusters, routes, regions, cells, bridges, services: lowercase
// DNS-label style, 1-63 characters of [a-z0-9-], starting and ending alphanumeric.
bool IsValidName(std::string_view name);

// Node ids: 1-253 characters of [a-z0-9.-], starting and ending alphanumeric.
bool IsValidNodeId(std::string_view id);

// Parses "global", "region:us-east", ...; kInvalidArgument with a message otherwise.
Result<Scope> ParseScope(std::string_view text);

// The one comma-list splitter of the project (scope chains, feature lists,
// flag values): the items between commas, verbatim and in order, empty ones
// included so a caller can refuse "a,,b" or a trailing comma. "" has no items.
std::vector<std::string> SplitCommaList(std::string_view text);
// SplitCommaList for a value whose items must all be non-empty (a list of
// endpoints, say): kInvalidArgument `<what> "<text>" has an empty item`.
Result<std::vector<std::string>> SplitNonEmptyCommaList(std::string_view text,
                                                        std::string_view what);

// Parses a comma-separated chain (SplitCommaList, then ParseScope per item)
// and checks that precedence strictly increases. An empty item is refused.
Result<std::vector<Scope>> ParseScopeChain(std::string_view comma_separated);
Status CheckScopeChain(const std::vector<Scope>& chain);

std::string ScopeChainToString(const std::vector<Scope>& chain);

}  // namespace omnirelay

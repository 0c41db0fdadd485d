// Bearer tokens and what they may do (DESIGN.md §4 AuthN/Z).
//
// A token is "omr_<id>_<secret>": <id> (12 hex) is public and appears in
// lists and audit entries; the whole token is stored only as its SHA-256.
// Scopes: config:read, config:write (implies config:read), rollout:write,
// audit:read, node, admin (implies every scope). A token with the `node`
// scope is bound to one node ("node:<id>" principal) and may only read that
// node's snapshot and report that node's status.
//
// Thread safety: Authenticator methods may be called from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

inline constexpr std::string_view kScopeConfigRead = "config:read";
inline constexpr std::string_view kScopeConfigWrite = "config:write";
inline constexpr std::string_view kScopeRolloutWrite = "rollout:write";
inline constexpr std::string_view kScopeAuditRead = "audit:read";
inline constexpr std::string_view kScopeNode = "node";
inline constexpr std::string_view kScopeAdmin = "admin";

bool IsKnownTokenScope(std::string_view scope);

struct Principal {
  std::string token_id;
  std::string name;  // "admin", "ci-deployer", "node:relay-1", ...
  std::vector<std::string> scopes;
  std::int64_t expires_at_ms = 0;  // 0 = never

  // True when the token carries `scope` directly or through an implication.
  bool Has(std::string_view scope) const;
  // The node id a node token is bound to ("" for other tokens).
  std::string_view node_id() const;
};

// kPermissionDenied naming the missing scope, or OK.
Status Require(const Principal& principal, std::string_view scope);

struct IssuedToken {
  TokenRecord record;
  std::string secret;  // the bearer token; shown once, never stored or logged
};

class Authenticator {
 public:
  Authenticator(Store& store, const Clock& clock) : store_(store), clock_(clock) {}

  // kUnauthenticated for a missing, malformed, unknown, revoked or expired token.
  Result<Principal> Authenticate(std::string_view bearer_token) const;

  // Validates name and scopes, creates and stores a token (with its audit entry).
  // ttl_seconds 0 = no expiry. A `node` token's name must be "node:<node id>".
  Result<IssuedToken> Issue(std::string_view name, const std::vector<std::string>& scopes,
                            std::int64_t ttl_seconds, const AuditEntry& audit) const;

 private:
  Store& store_;
  const Clock& clock_;
};

// Extracts the token from an "Authorization: Bearer <token>" header value ("" if absent).
std::string_view BearerToken(std::string_view authorization_header);

}  // namespace omnirelay::cp

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

// Token names (the principal of every audit entry) follow one rule:
//  1. A `node` token is named node:<node id> (a valid node id): the node it
//     speaks for.
//  2. No other token may be named node:...; the name would claim a node.
//  3. Otherwise 1-128 characters of letters, digits and - _ . : @ (a name
//     fits in a URL path segment and a table cell).
//  4. A name names one live token (the store refuses a second while the
//     first is not revoked).
// Rules 1-3 are checked here: kInvalid with an invalid_name diagnostic at
// "/name" (the token request's field), else OK.
inline constexpr std::size_t kMaxTokenNameBytes = 128;
Status CheckTokenName(std::string_view name, bool node_token);

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
  // The name of the stored token `bearer_token` is, whatever its state
  // (revoked and expired ones too); "" for a malformed or unknown one. For
  // telling a node why its own token was refused.
  std::string NameOf(std::string_view bearer_token) const;

  // Validates name (CheckTokenName) and scopes, creates and stores a token
  // (with its audit entry); kConflict when a live token has the name.
  // ttl_seconds 0 = no expiry.
  Result<IssuedToken> Issue(std::string_view name, const std::vector<std::string>& scopes,
                            std::int64_t ttl_seconds, const AuditEntry& audit) const;

 private:
  Store& store_;
  const Clock& clock_;
};

// Extracts the token from an "Authorization: Bearer <token>" header value ("" if absent).
std::string_view BearerToken(std::string_view authorization_header);

}  // namespace omnirelay::cp

// Bearer tokens and what they may do (DESIGN.md §4 AuthN/Z).
//
// A token is "omr_<id>_<secret>": <id> (12 hex) is public and appears in
// lists and audit entries; the whole token is stored only as its SHA-256.
// Scopes: config:read, config:write (implies config:read), rollout:write,
// audit:read, node, admin (implies every scope). A token with the `node`
// scope is bound to one node ("node:<id>" principal) and may only read that
// node's snapshot and report that node's status.
//
// An OIDC ID token (oidc.h) is accepted as a bearer too when the daemon is
// configured with an issuer: its holder is the principal
// "oidc:<issuer host>/<sub>" with the scopes its groups map to, until the ID
// token expires. Login exchanges one for a stored token of that name.
//
// Thread safety: Authenticator methods may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/mutex.h"
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
//  5. "oidc:..." names the tokens Login issues to an OIDC identity; no
//     other token may be named so.
// Rules 1-3 are checked here: kInvalid with an invalid_name diagnostic at
// "/name" (the token request's field), else OK.
inline constexpr std::size_t kMaxTokenNameBytes = 128;
Status CheckTokenName(std::string_view name, bool node_token);

struct Principal {
  std::string token_id;
  std::string name;  // "admin", "ci-deployer", "node:relay-1", ...
  std::vector<std::string> scopes;
  std::int64_t expires_at_ms = 0;  // 0 = never
  bool id_token = false;           // authenticated by an OIDC ID token (nothing stored)

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

class IdTokenVerifier;

// Login tokens: 1 hour unless asked for less; never past the ID token's exp.
inline constexpr std::int64_t kLoginTokenMaxTtlSeconds = 3600;

// How long a stored token read by Authenticate is used again without reading
// the store (a request costs no store round trip). A revocation made through
// this replica counts at once (Forget); one made through another replica
// counts when its bus event arrives (the daemon calls Forget), and at the
// latest after this long when that event is lost.
inline constexpr std::int64_t kTokenCacheMs = 1000;

// The Authenticator's cache of stored tokens by secret hash: a record read
// less than kTokenCacheMs ago is used again. A read that a Forget overlapped
// is not kept (its record may predate the revocation). At most
// kMaxCachedTokens records: past it the cache starts again, so a flood of
// distinct valid tokens costs store reads, never memory.
class TokenCache {
 public:
  static constexpr std::size_t kMaxCachedTokens = 10'000;

  // The record read for `secret_hash` less than kTokenCacheMs before `now_ms`.
  std::optional<TokenRecord> Fresh(const std::string& secret_hash, std::int64_t now_ms) const
      EXCLUDES(mu_);
  // Where a store read starts: Keep its record with this.
  std::uint64_t forgets() const EXCLUDES(mu_);
  void Keep(const std::string& secret_hash, const TokenRecord& record, std::int64_t read_at_ms,
            std::uint64_t forgets_at_read) EXCLUDES(mu_);
  // Drops these tokens (by id); a read in flight is not kept.
  void Forget(const std::vector<std::string>& token_ids) EXCLUDES(mu_);

 private:
  struct Entry {
    TokenRecord record;
    std::int64_t read_at_ms = 0;
  };
  mutable Mutex mu_;
  std::unordered_map<std::string, Entry> entries_ GUARDED_BY(mu_);
  std::uint64_t forgets_ GUARDED_BY(mu_) = 0;  // Forget calls so far
};

class Authenticator {
 public:
  // `oidc` (may be null: no ID tokens accepted) must outlive this.
  Authenticator(Store& store, const Clock& clock, const IdTokenVerifier* oidc = nullptr)
      : store_(store), clock_(clock), oidc_(oidc) {}

  // kUnauthenticated for a missing, malformed, unknown, revoked or expired
  // token, or a refused ID token (its reason first in the message);
  // kPermissionDenied for an ID token none of whose groups maps to a scope.
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

  // The token an ID token's holder (`who`, id_token set) logs in with: named
  // as `who`, with its scopes, for ttl_seconds (0 or more than
  // kLoginTokenMaxTtlSeconds: that maximum) but never past who's expiry.
  // The identity's previous live login token is revoked (one live login per
  // identity). kInvalidArgument when `who` did not present an ID token.
  Result<IssuedToken> Login(const Principal& who, std::int64_t ttl_seconds,
                            const AuditEntry& audit) const;

  // Drops these tokens (by id) from the read cache: the next request with
  // one reads the store. Called for every revocation this process learns of.
  void Forget(const std::vector<std::string>& token_ids) const { cache_.Forget(token_ids); }

 private:
  // The stored token with this secret hash: from the cache when read less
  // than kTokenCacheMs ago, else from the store (a found one is cached).
  Result<TokenRecord> FindToken(const std::string& secret_hash) const;

  Result<Principal> AuthenticateIdToken(std::string_view id_token) const;
  Result<IssuedToken> Save(TokenRecord record, std::string summary_note,
                           const AuditEntry& audit) const;

  Store& store_;
  const Clock& clock_;
  const IdTokenVerifier* oidc_;
  mutable TokenCache cache_;
};

// Extracts the token from an "Authorization: Bearer <token>" header value ("" if absent).
std::string_view BearerToken(std::string_view authorization_header);

}  // namespace omnirelay::cp

// Operator identity: OIDC ID tokens (docs/knowledge-base/security.md,
// "Operator identity (OIDC)"). Besides its own bearer tokens the control
// plane accepts an ID token (a compact JWS) signed by a key of a configured
// JWKS, and maps its groups to scopes.
//
// VerifyIdToken is pure (no clock, file or network: it is handed all of
// them). Its rules, which the tests name:
//  1. Shape: three base64url parts (no padding, the canonical encoding),
//     at most kMaxIdTokenBytes; header and claims are JSON objects without
//     duplicate keys; the signature part is not empty.
//  2. alg is RS256, ES256 or EdDSA; "none", HS* and anything else are
//     refused before a key is looked at (alg_not_allowed).
//  3. The key: the header's kid names one key of the set (unknown_kid); a
//     token without kid needs a set with exactly one key fit for its alg.
//  4. The key fits the alg (key_mismatch): RS256 needs kty RSA (>= 2048
//     bits), ES256 kty EC crv P-256, EdDSA kty OKP crv Ed25519; a key's
//     own "alg", when given, must equal the header's. So an HS256 token
//     "signed" with an RSA key's public bytes never reaches a MAC.
//  5. The signature verifies over the ASCII "header.claims" (bad_signature);
//     ES256 signatures are JOSE r||s (64 bytes).
//  6. iss equals the configured issuer (wrong_issuer); aud, a string or an
//     array, holds the configured audience (wrong_audience).
//  7. exp is required: now >= exp + skew is expired; nbf or iat later than
//     now + skew is not_yet_valid.
//  8. sub is a non-empty string of at most 255 printable ASCII characters
//     (missing_claim / malformed).
// A refusal is kUnauthenticated whose message starts with its stable reason
// ("expired: ...", "unknown_kid: ..."); messages never quote the token.
//
// Thread safety: JwkSet is immutable once parsed; VerifyIdToken and the
// parsers may be called from any thread. IdTokenVerifier is safe to call
// from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/file_system.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/config/status.h"

namespace omnirelay::cp {

inline constexpr std::size_t kMaxIdTokenBytes = 16 * 1024;
inline constexpr std::size_t kMaxJwksBytes = 256 * 1024;
inline constexpr std::size_t kMaxJwksKeys = 64;

// A set of public keys (RFC 7517 "keys"): RSA, EC P-256 and OKP Ed25519
// keys are kept; keys of other types or curves, and "use": "enc" keys, are
// skipped (a provider's set may hold them). A set with no usable key, two
// keys with one kid, or a malformed usable key is refused (kInvalidArgument).
class JwkSet {
 public:
  struct Key;  // the parsed key (OpenSSL), defined in oidc_jwks.cc
  static Result<std::shared_ptr<const JwkSet>> Parse(std::string_view json);
  ~JwkSet();
  JwkSet(const JwkSet&) = delete;
  JwkSet& operator=(const JwkSet&) = delete;

  std::size_t size() const { return keys_.size(); }
  std::vector<std::string> kids() const;
  const std::vector<std::unique_ptr<Key>>& keys() const { return keys_; }

 private:
  JwkSet() = default;
  std::vector<std::unique_ptr<Key>> keys_;
};

struct IdTokenPolicy {
  std::string issuer;    // exact "iss"
  std::string audience;  // one of "aud"
  std::int64_t clock_skew_ms = 60'000;
  std::string groups_claim = "groups";  // a string or an array of strings
};

struct IdTokenClaims {
  std::string issuer, subject, email;
  std::vector<std::string> groups;
  std::string alg, kid;
  std::int64_t expires_at_ms = 0;
};

// True when `token` has the shape of a compact JWS (three non-empty
// dot-separated parts), so that it goes to the ID-token path.
bool LooksLikeJwt(std::string_view token);

Result<IdTokenClaims> VerifyIdToken(std::string_view token, const JwkSet& keys,
                                    const IdTokenPolicy& policy, std::int64_t now_ms);

// The reason a VerifyIdToken refusal names ("expired", ...), "" for none.
std::string_view IdTokenRefusalReason(const Status& status);

// The scopes each group grants: "admins=admin,ops=config:read+config:write"
// (several such texts are joined). Scopes must be known token scopes other
// than "node"; kInvalidArgument otherwise.
using GroupScopes = std::map<std::string, std::vector<std::string>, std::less<>>;
Result<GroupScopes> ParseGroupScopes(const std::vector<std::string>& texts);
// The union of the scopes of `groups`, sorted, without duplicates.
std::vector<std::string> ScopesOfGroups(const GroupScopes& map,
                                        const std::vector<std::string>& groups);

// "oidc:<host of iss>/<sub>": the principal an ID token's holder is audited as.
std::string OidcPrincipalName(const IdTokenClaims& claims);

struct OidcOptions {
  IdTokenPolicy policy;
  std::string jwks_file;                 // read at start, re-read when it changes
  std::int64_t jwks_recheck_ms = 5'000;  // how often the file is looked at again
  GroupScopes group_scopes;
};

// The daemon's ID-token check: the JWKS file read through `fs` (at start,
// then at most every jwks_recheck_ms, and at once — at most once a second —
// when a token names a kid the set lacks, as a provider rotating keys does);
// a new set replaces the old only when it parses. Verification itself is
// VerifyIdToken with the clock's wall time.
class IdTokenVerifier {
 public:
  // Reads and parses the JWKS file: kInvalidArgument when it is missing or
  // refused (the daemon does not start without a usable set).
  static Result<std::unique_ptr<IdTokenVerifier>> Create(OidcOptions options, FileSystem& fs,
                                                         const Clock& clock);

  Result<IdTokenClaims> Verify(std::string_view token) const;
  const OidcOptions& options() const { return options_; }

 private:
  IdTokenVerifier(OidcOptions options, FileSystem& fs, const Clock& clock)
      : options_(std::move(options)), fs_(fs), clock_(clock) {}
  // The current set, re-read first when due (or `kid_missed` allows it).
  std::shared_ptr<const JwkSet> Keys(bool kid_missed) const;
  Status Reload() const REQUIRES(mu_);

  const OidcOptions options_;
  FileSystem& fs_;
  const Clock& clock_;
  mutable Mutex mu_;
  mutable std::shared_ptr<const JwkSet> keys_ GUARDED_BY(mu_);
  mutable std::string jwks_text_ GUARDED_BY(mu_);
  mutable std::int64_t checked_at_ms_ GUARDED_BY(mu_) = 0;
  mutable std::int64_t forced_at_ms_ GUARDED_BY(mu_) = -1'000'000;
};

}  // namespace omnirelay::cp

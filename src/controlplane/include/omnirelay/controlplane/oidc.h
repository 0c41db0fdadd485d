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
// from any thread; its source's Fetch runs without its lock held.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/file_system.h"
#include "omnirelay/config/metrics.h"
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

// Where the JWKS comes from: a file (JwksFileSource) or an HTTPS URL
// (oidc_source.h). Fetch is called by one thread at a time.
struct JwksDocument {
  std::string text;
  std::int64_t fresh_for_ms = 0;  // how long it is current before the next fetch
};
class JwksSource {
 public:
  virtual ~JwksSource() = default;
  virtual Result<JwksDocument> Fetch() = 0;
  virtual const std::string& where() const = 0;  // the path or URL, for messages
};

// The JWKS file read through `fs`, current for `recheck_ms`.
std::unique_ptr<JwksSource> JwksFileSource(std::string path, FileSystem& fs,
                                           std::int64_t recheck_ms = 5'000);

// What one fetch did, for the daemon's log (never holds a key or a token).
struct JwksFetchEvent {
  Status status;                 // Ok, or why the fetch or its set was refused
  bool changed = false;          // a new key set took over
  std::size_t keys = 0;          // keys of the set in force (0: none yet)
  int failures_in_a_row = 0;     // 0 after a success
  std::int64_t set_age_ms = -1;  // age of the set in force, -1 when none
};

struct OidcOptions {
  IdTokenPolicy policy;
  GroupScopes group_scopes;
  // An unknown kid fetches again at once, at most this often (a provider
  // rotating its keys); a login naming it waits for that fetch.
  std::int64_t forced_fetch_every_ms = 1'000;
  // After a failed fetch the next is due after retry_first_ms, doubling up
  // to retry_max_ms; the last good set stays in force meanwhile.
  std::int64_t retry_first_ms = 5'000;
  std::int64_t retry_max_ms = 5'000;
  // True: Create fails when the first fetch does (a file). False: Create
  // succeeds without keys, and ID tokens are refused kUnavailable until a
  // fetch brings a set (a URL whose provider may be down at start).
  bool keys_required_at_start = true;
  // True: a thread of the verifier fetches when the set is due, so no login
  // waits for it. False: the login that finds the set due fetches.
  bool background_refresh = false;
  std::function<void(const JwksFetchEvent&)> on_fetch;  // called after each fetch
};

// The daemon's ID-token check: the key set comes from a JwksSource (fetched
// at start, again when the fetched document says it is due, and at once,
// rate-limited, when a token names a kid the set lacks, as a provider
// rotating keys does); a new set replaces the old only when it parses.
// Verification itself is VerifyIdToken with the clock's wall time.
// Metrics (when a registry is given): omnirelay_cp_oidc_logins_total{result},
// omnirelay_cp_oidc_jwks_fetches_total{result="ok|failed"},
// omnirelay_cp_oidc_jwks_age_seconds.
class IdTokenVerifier {
 public:
  // kInvalidArgument when the first fetch fails and keys_required_at_start.
  static Result<std::unique_ptr<IdTokenVerifier>> Create(OidcOptions options,
                                                         std::unique_ptr<JwksSource> source,
                                                         const Clock& clock,
                                                         MetricsRegistry* metrics = nullptr);
  ~IdTokenVerifier();

  // A refusal is kUnauthenticated (oidc.h rules) or kUnavailable
  // ("unavailable: ...") while no key set has been fetched.
  Result<IdTokenClaims> Verify(std::string_view token) const;
  const OidcOptions& options() const { return options_; }

 private:
  struct Metrics;
  IdTokenVerifier(OidcOptions options, std::unique_ptr<JwksSource> source, const Clock& clock,
                  MetricsRegistry* metrics);
  // The current set (null: none yet), fetched first when due (or when
  // `kid_missed` and the rate limit allow it).
  std::shared_ptr<const JwkSet> Keys(bool kid_missed) const;
  // Fetches with mu_ released meanwhile (one fetch at a time).
  void FetchNow() const REQUIRES(mu_);
  void RefreshLoop();
  void Count(const Status& status) const;

  const OidcOptions options_;
  const std::unique_ptr<JwksSource> source_;
  const Clock& clock_;
  std::unique_ptr<Metrics> metrics_;
  mutable Mutex mu_;
  mutable CondVar fetched_;  // a fetch ended, or stop_
  mutable std::shared_ptr<const JwkSet> keys_ GUARDED_BY(mu_);
  mutable std::string jwks_text_ GUARDED_BY(mu_);
  mutable Status last_error_ GUARDED_BY(mu_);
  mutable bool fetching_ GUARDED_BY(mu_) = false;
  mutable bool stop_ GUARDED_BY(mu_) = false;
  mutable int failures_ GUARDED_BY(mu_) = 0;
  mutable std::int64_t fetched_at_ms_ GUARDED_BY(mu_) = 0;  // last good fetch
  mutable std::int64_t next_fetch_ms_ GUARDED_BY(mu_) = 0;
  mutable std::int64_t forced_at_ms_ GUARDED_BY(mu_) = 0;
  mutable bool forced_once_ GUARDED_BY(mu_) = false;
  std::thread refresher_;  // background_refresh only
};

}  // namespace omnirelay::cp

// IdTokenVerifier and the group-to-scope map (oidc.h).
#include <algorithm>
#include <set>

#include "omnirelay/controlplane/auth.h"
#include "omnirelay/controlplane/oidc.h"

namespace omnirelay::cp {
namespace {

constexpr std::int64_t kForcedReloadEveryMs = 1'000;

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

Result<std::unique_ptr<IdTokenVerifier>> IdTokenVerifier::Create(OidcOptions options,
                                                                 FileSystem& fs,
                                                                 const Clock& clock) {
  if (options.policy.issuer.empty() || options.policy.audience.empty() ||
      options.jwks_file.empty()) {
    return Status(StatusCode::kInvalidArgument,
                  "OIDC needs --oidc-issuer, --oidc-audience and --oidc-jwks together");
  }
  std::unique_ptr<IdTokenVerifier> v(new IdTokenVerifier(std::move(options), fs, clock));
  {
    MutexLock lock(v->mu_);
    if (Status loaded = v->Reload(); !loaded.ok()) {
      return Status(StatusCode::kInvalidArgument, "--oidc-jwks: " + loaded.message());
    }
  }
  return v;
}

Status IdTokenVerifier::Reload() const {
  checked_at_ms_ = clock_.MonotonicMs();
  OMNI_ASSIGN_OR_RETURN(std::string text, fs_.ReadFile(options_.jwks_file, kMaxJwksBytes));
  if (keys_ && text == jwks_text_) return Status::Ok();
  OMNI_ASSIGN_OR_RETURN(std::shared_ptr<const JwkSet> keys, JwkSet::Parse(text));
  keys_ = std::move(keys);
  jwks_text_ = std::move(text);
  return Status::Ok();
}

std::shared_ptr<const JwkSet> IdTokenVerifier::Keys(bool kid_missed) const {
  MutexLock lock(mu_);
  const std::int64_t now = clock_.MonotonicMs();
  const bool due = now - checked_at_ms_ >= options_.jwks_recheck_ms;
  const bool forced = kid_missed && now - forced_at_ms_ >= kForcedReloadEveryMs;
  if (due || forced) {
    if (forced) forced_at_ms_ = now;
    // A file that cannot be read or parsed now keeps the last good set.
    (void)Reload();
  }
  return keys_;
}

Result<IdTokenClaims> IdTokenVerifier::Verify(std::string_view token) const {
  const std::shared_ptr<const JwkSet> keys = Keys(false);
  auto claims = VerifyIdToken(token, *keys, options_.policy, clock_.NowUnixMs());
  if (!claims.ok() && IdTokenRefusalReason(claims.status()) == "unknown_kid") {
    // Verified again only when the forced reload brought another key set.
    if (const auto again = Keys(true); again != keys) {
      claims = VerifyIdToken(token, *again, options_.policy, clock_.NowUnixMs());
    }
  }
  return claims;
}

}  // namespace omnirelay::cp

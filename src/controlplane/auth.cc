#include "omnirelay/controlplane/auth.h"

#include <openssl/rand.h>

#include <algorithm>

#include "omnirelay/config/digest.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/controlplane/oidc.h"

namespace omnirelay::cp {
namespace {

constexpr std::string_view kTokenPrefix = "omr_";
constexpr std::size_t kIdHexChars = 12;
constexpr std::size_t kSecretBytes = 32;

std::string RandomHex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

Status Unauthenticated(std::string message) {
  return Status(StatusCode::kUnauthenticated, std::move(message));
}

constexpr std::string_view kOidcPrefix = "oidc:";

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

}  // namespace

Status CheckTokenName(std::string_view name, bool node_token) {
  constexpr std::string_view kNodePrefix = "node:";
  auto refuse = [&](const std::string& why) {
    const std::string message = "token name \"" + std::string(name) + "\": " + why;
    return Status(StatusCode::kInvalid, message, {{"/name", DiagCode::kInvalidName, message}});
  };
  const bool node_name = name.rfind(kNodePrefix, 0) == 0;
  if (node_token) {
    if (!node_name || !IsValidNodeId(name.substr(kNodePrefix.size()))) {
      return refuse("a node token is named node:<node id> (the node it speaks for)");
    }
    return Status::Ok();
  }
  // node:<id> says "this node": only a node token bound to it may carry it.
  if (node_name) return refuse("node:<id> names a node token; only a \"node\" token may use it");
  if (name.rfind(kOidcPrefix, 0) == 0) {
    return refuse("oidc:... names an OIDC identity's login token (omnirctl login)");
  }
  if (name.empty() || name.size() > kMaxTokenNameBytes) {
    return refuse("a token name is 1-" + std::to_string(kMaxTokenNameBytes) + " characters");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':' || c == '@';
    if (!ok) return refuse("use letters, digits and - _ . : @ only");
  }
  return Status::Ok();
}

bool IsKnownTokenScope(std::string_view scope) {
  return scope == kScopeConfigRead || scope == kScopeConfigWrite || scope == kScopeRolloutWrite ||
         scope == kScopeAuditRead || scope == kScopeNode || scope == kScopeAdmin;
}

bool Principal::Has(std::string_view scope) const {
  auto holds = [&](std::string_view s) {
    return std::find(scopes.begin(), scopes.end(), s) != scopes.end();
  };
  if (holds(kScopeAdmin) || holds(scope)) return true;
  return scope == kScopeConfigRead && holds(kScopeConfigWrite);
}

std::string_view Principal::node_id() const {
  constexpr std::string_view kNodePrefix = "node:";
  if (!Has(kScopeNode) || name.rfind(kNodePrefix, 0) != 0) return {};
  return std::string_view(name).substr(kNodePrefix.size());
}

Status Require(const Principal& principal, std::string_view scope) {
  if (principal.Has(scope)) return Status::Ok();
  return Status(StatusCode::kPermissionDenied,
                "token \"" + principal.token_id + "\" lacks scope \"" + std::string(scope) + "\"");
}

std::string_view BearerToken(std::string_view header) {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() || header.substr(0, kBearer.size()) != kBearer) return {};
  return header.substr(kBearer.size());
}

Result<Principal> Authenticator::AuthenticateIdToken(std::string_view id_token) const {
  if (oidc_ == nullptr) {
    return Unauthenticated("ID tokens are not accepted: this control plane has no --oidc-issuer");
  }
  auto claims = oidc_->Verify(id_token);
  if (!claims.ok() && claims.status().code() == StatusCode::kUnavailable) {
    return Status(StatusCode::kUnavailable, "id token not checked: " + claims.status().message());
  }
  if (!claims.ok()) return Unauthenticated("id token refused: " + claims.status().message());
  Principal p;
  p.name = OidcPrincipalName(*claims);
  // Audited as a token id: a digest prefix, so one ID token's calls can be
  // told apart without recording the token.
  p.token_id = "idt-" + Sha256Hex(id_token).substr(0, 12);
  p.scopes = ScopesOfGroups(oidc_->options().group_scopes, claims->groups);
  p.expires_at_ms = claims->expires_at_ms;
  p.id_token = true;
  if (p.scopes.empty()) {
    return Status(StatusCode::kPermissionDenied, p.name + ": none of its groups (" +
                                                     Join(claims->groups) +
                                                     ") maps to a scope (--oidc-group-scopes)");
  }
  return p;
}

Result<Principal> Authenticator::Authenticate(std::string_view token) const {
  if (token.empty()) return Unauthenticated("a bearer token is required");
  if (token.substr(0, kTokenPrefix.size()) != kTokenPrefix && LooksLikeJwt(token)) {
    return AuthenticateIdToken(token);
  }
  if (token.substr(0, kTokenPrefix.size()) != kTokenPrefix || token.size() > 256) {
    return Unauthenticated("malformed token");
  }
  auto record = FindToken(Sha256Hex(token));
  if (!record.ok()) {
    if (record.status().code() == StatusCode::kNotFound) return Unauthenticated("unknown token");
    return record.status();
  }
  const std::int64_t now = clock_.NowUnixMs();
  if (record->revoked_at_ms != 0) return Unauthenticated("token " + record->id + " is revoked");
  if (record->expires_at_ms != 0 && record->expires_at_ms <= now) {
    return Unauthenticated("token " + record->id + " has expired");
  }
  return Principal{record->id, record->name, record->scopes, record->expires_at_ms};
}

std::optional<TokenRecord> TokenCache::Fresh(const std::string& secret_hash,
                                             std::int64_t now_ms) const {
  MutexLock lock(mu_);
  auto it = entries_.find(secret_hash);
  if (it == entries_.end() || now_ms < it->second.read_at_ms ||
      now_ms - it->second.read_at_ms >= kTokenCacheMs) {
    return std::nullopt;
  }
  return it->second.record;
}

std::uint64_t TokenCache::forgets() const {
  MutexLock lock(mu_);
  return forgets_;
}

void TokenCache::Keep(const std::string& secret_hash, const TokenRecord& record,
                      std::int64_t read_at_ms, std::uint64_t forgets_at_read) {
  MutexLock lock(mu_);
  if (forgets_ != forgets_at_read) return;
  if (entries_.size() >= kMaxCachedTokens) entries_.clear();
  entries_[secret_hash] = Entry{record, read_at_ms};
}

void TokenCache::Forget(const std::vector<std::string>& token_ids) {
  MutexLock lock(mu_);
  ++forgets_;
  for (auto it = entries_.begin(); it != entries_.end();) {
    const bool named =
        std::find(token_ids.begin(), token_ids.end(), it->second.record.id) != token_ids.end();
    it = named ? entries_.erase(it) : std::next(it);
  }
}

Result<TokenRecord> Authenticator::FindToken(const std::string& secret_hash) const {
  const std::int64_t now = clock_.NowUnixMs();
  if (auto kept = cache_.Fresh(secret_hash, now)) return *std::move(kept);
  const std::uint64_t forgets = cache_.forgets();
  auto record = store_.FindTokenBySecretHash(secret_hash);
  if (record.ok()) cache_.Keep(secret_hash, *record, now, forgets);
  return record;
}

std::string Authenticator::NameOf(std::string_view token) const {
  if (token.substr(0, kTokenPrefix.size()) != kTokenPrefix || token.size() > 256) return "";
  auto record = store_.FindTokenBySecretHash(Sha256Hex(token));
  return record.ok() ? record->name : "";
}

Result<IssuedToken> Authenticator::Issue(std::string_view name,
                                         const std::vector<std::string>& scopes,
                                         std::int64_t ttl_seconds, const AuditEntry& audit) const {
  if (scopes.empty()) {
    return Status(StatusCode::kInvalidArgument, "a token needs at least one scope");
  }
  for (const auto& s : scopes) {
    if (!IsKnownTokenScope(s)) {
      return Status(StatusCode::kInvalidArgument,
                    "unknown scope \"" + s +
                        "\" (known: config:read, config:write, rollout:write, audit:read, node, "
                        "admin)");
    }
  }
  const bool is_node = std::find(scopes.begin(), scopes.end(), kScopeNode) != scopes.end();
  if (is_node && scopes.size() != 1) {
    return Status(StatusCode::kInvalidArgument, "a node token carries only the \"node\" scope");
  }
  OMNI_RETURN_IF_ERROR(CheckTokenName(name, is_node));
  if (ttl_seconds < 0) return Status(StatusCode::kInvalidArgument, "ttl must not be negative");

  TokenRecord r;
  r.name = std::string(name);
  r.scopes = scopes;
  r.created_at_ms = clock_.NowUnixMs();
  r.expires_at_ms = ttl_seconds == 0 ? 0 : r.created_at_ms + ttl_seconds * 1000;
  return Save(std::move(r), "", audit);
}

Result<IssuedToken> Authenticator::Save(TokenRecord r, std::string summary_note,
                                        const AuditEntry& audit) const {
  IssuedToken issued;
  r.id = RandomHex(kIdHexChars / 2);
  issued.secret = std::string(kTokenPrefix) + r.id + "_" + RandomHex(kSecretBytes);
  r.secret_hash = Sha256Hex(issued.secret);
  AuditEntry entry = audit;
  entry.summary = "token " + r.id + " for " + r.name + summary_note;
  OMNI_RETURN_IF_ERROR(store_.CreateToken(r, entry));
  issued.record = std::move(r);
  return issued;
}

Result<IssuedToken> Authenticator::Login(const Principal& who, std::int64_t ttl_seconds,
                                         const AuditEntry& audit) const {
  if (!who.id_token || who.name.rfind(kOidcPrefix, 0) != 0) {
    return Status(StatusCode::kInvalidArgument,
                  "login exchanges an OIDC ID token: present one as the bearer token");
  }
  if (ttl_seconds < 0) return Status(StatusCode::kInvalidArgument, "ttl must not be negative");
  const std::int64_t now = clock_.NowUnixMs();
  if (ttl_seconds == 0 || ttl_seconds > kLoginTokenMaxTtlSeconds) {
    ttl_seconds = kLoginTokenMaxTtlSeconds;
  }
  TokenRecord r;
  r.name = who.name;
  r.scopes = who.scopes;
  r.created_at_ms = now;
  r.expires_at_ms = std::min(now + ttl_seconds * 1000, who.expires_at_ms);
  if (r.expires_at_ms <= now) return Unauthenticated("id token refused: expired");
  // One live login per identity: the previous one goes (a name names one
  // live token, rule 4).
  OMNI_ASSIGN_OR_RETURN(std::vector<TokenRecord> tokens, store_.ListTokens());
  std::string replaced;
  for (const auto& t : tokens) {
    if (t.name != who.name || t.revoked_at_ms != 0) continue;
    AuditEntry revoke = audit;
    revoke.action = "token.revoke";
    revoke.summary = "token " + t.id + " for " + t.name + " (replaced by a new login)";
    OMNI_RETURN_IF_ERROR(store_.RevokeToken(t.id, now, revoke));
    Forget({t.id});
    replaced += " " + t.id;
  }
  return Save(std::move(r), replaced.empty() ? "" : " (replaces" + replaced + ")", audit);
}

}  // namespace omnirelay::cp

#include "omnirelay/controlplane/auth.h"

#include <openssl/rand.h>

#include <algorithm>

#include "omnirelay/config/digest.h"
#include "omnirelay/config/scope.h"

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

Result<Principal> Authenticator::Authenticate(std::string_view token) const {
  if (token.empty()) return Unauthenticated("a bearer token is required");
  if (token.substr(0, kTokenPrefix.size()) != kTokenPrefix || token.size() > 256) {
    return Unauthenticated("malformed token");
  }
  auto record = store_.FindTokenBySecretHash(Sha256Hex(token));
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

  IssuedToken issued;
  TokenRecord& r = issued.record;
  r.id = RandomHex(kIdHexChars / 2);
  issued.secret = std::string(kTokenPrefix) + r.id + "_" + RandomHex(kSecretBytes);
  r.secret_hash = Sha256Hex(issued.secret);
  r.name = std::string(name);
  r.scopes = scopes;
  r.created_at_ms = clock_.NowUnixMs();
  r.expires_at_ms = ttl_seconds == 0 ? 0 : r.created_at_ms + ttl_seconds * 1000;
  AuditEntry entry = audit;
  entry.summary = "token " + r.id + " for " + r.name;
  OMNI_RETURN_IF_ERROR(store_.CreateToken(r, entry));
  return issued;
}

}  // namespace omnirelay::cp

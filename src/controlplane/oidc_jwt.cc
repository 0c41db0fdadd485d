// VerifyIdToken (oidc.h): compact JWS parsing, alg/key matching, signature,
// then the claims; the rule numbers are oidc.h's.
#include <openssl/ec.h>
#include <openssl/err.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "oidc_internal.h"
#include "omnirelay/config/digest.h"

namespace omnirelay::cp {
namespace {

using internal::KeyType;
using Json = nlohmann::json;

constexpr std::string_view kMissingClaim = "missing_claim";

Status Refuse(std::string_view reason, const std::string& detail) {
  return Status(StatusCode::kUnauthenticated, std::string(reason) + ": " + detail);
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

// JOSE ES256 r||s (32 + 32 bytes) as the DER ECDSA-Sig-Value OpenSSL verifies.
std::string JoseToDer(std::string_view rs) {
  if (rs.size() != 64) return {};
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(rs.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(rs.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return {};
  }
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return {};
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

bool VerifySignature(const JwkSet::Key& key, std::string_view alg, std::string_view signed_part,
                     std::string_view signature) {
  std::string der;
  if (alg == "ES256") {
    der = JoseToDer(signature);
    if (der.empty()) return false;
    signature = der;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  const char* digest = alg == "EdDSA" ? nullptr : "SHA256";
  const bool ok =
      ctx &&
      EVP_DigestVerifyInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, key.pkey.get(),
                              nullptr) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size()) == 1;
  ERR_clear_error();
  return ok;
}

KeyType KeyTypeFor(std::string_view alg) {
  return alg == "RS256" ? KeyType::kRsa : alg == "ES256" ? KeyType::kEcP256 : KeyType::kEd25519;
}

// Rules 3 and 4: the one key the header points at.
Result<const JwkSet::Key*> PickKey(const JwkSet& keys, const Json& header, const std::string& alg) {
  const JwkSet::Key* key = nullptr;
  auto kid = header.find("kid");
  if (kid != header.end()) {
    if (!kid->is_string()) return Refuse("malformed", "kid is not a string");
    for (const auto& k : keys.keys()) {
      if (k->kid == kid->get_ref<const std::string&>()) key = k.get();
    }
    if (key == nullptr) return Refuse("unknown_kid", "no key has the token's kid");
  } else {
    for (const auto& k : keys.keys()) {
      if (k->type != KeyTypeFor(alg)) continue;
      if (key != nullptr) return Refuse("unknown_kid", "no kid, and several keys could fit");
      key = k.get();
    }
    if (key == nullptr) return Refuse("unknown_kid", "no kid, and no key fits " + alg);
  }
  if (key->type != KeyTypeFor(alg) || (!key->alg.empty() && key->alg != alg)) {
    return Refuse("key_mismatch", "key \"" + key->kid + "\" is not a key for " + alg);
  }
  return key;
}

// A NumericDate claim (seconds) in ms; nullopt-like -1 when absent.
Result<std::int64_t> TimeClaim(const Json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::int64_t{-1};
  if (!it->is_number()) return Refuse("malformed", std::string(name) + " is not a number");
  const double seconds = it->get<double>();
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e11) {
    return Refuse("malformed", std::string(name) + " is out of range");
  }
  return static_cast<std::int64_t>(seconds * 1000);
}

bool Printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// Rules 6-8.
Status CheckClaims(const Json& claims, const IdTokenPolicy& policy, std::int64_t now_ms,
                   IdTokenClaims& out) {
  auto iss = claims.find("iss");
  if (iss == claims.end() || !iss->is_string() || *iss != policy.issuer) {
    return Refuse("wrong_issuer", "iss is not the configured issuer");
  }
  auto aud = claims.find("aud");
  bool has_audience = false;
  if (aud != claims.end() && aud->is_string()) {
    has_audience = *aud == policy.audience;
  } else if (aud != claims.end() && aud->is_array()) {
    for (const auto& a : *aud)
      has_audience = has_audience || (a.is_string() && a == policy.audience);
  }
  if (!has_audience) return Refuse("wrong_audience", "aud does not hold the configured audience");
  OMNI_ASSIGN_OR_RETURN(std::int64_t exp, TimeClaim(claims, "exp"));
  OMNI_ASSIGN_OR_RETURN(std::int64_t nbf, TimeClaim(claims, "nbf"));
  OMNI_ASSIGN_OR_RETURN(std::int64_t iat, TimeClaim(claims, "iat"));
  if (exp < 0) return Refuse(kMissingClaim, "exp is required");
  if (now_ms >= exp + policy.clock_skew_ms) return Refuse("expired", "the id token has expired");
  if (nbf >= 0 && nbf > now_ms + policy.clock_skew_ms) {
    return Refuse("not_yet_valid", "nbf is in the future");
  }
  if (iat >= 0 && iat > now_ms + policy.clock_skew_ms) {
    return Refuse("not_yet_valid", "iat is in the future");
  }
  auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->is_string() || sub->get_ref<const std::string&>().empty()) {
    return Refuse(kMissingClaim, "sub is required");
  }
  out.subject = sub->get<std::string>();
  if (out.subject.size() > 255 || !Printable(out.subject)) {
    return Refuse("malformed", "sub is not 1-255 printable characters");
  }
  out.issuer = policy.issuer;
  out.expires_at_ms = exp;
  if (auto email = claims.find("email"); email != claims.end() && email->is_string()) {
    out.email = email->get<std::string>();
  }
  if (auto groups = claims.find(policy.groups_claim); groups != claims.end()) {
    if (groups->is_string()) out.groups.push_back(groups->get<std::string>());
    if (groups->is_array()) {
      for (const auto& g : *groups) {
        if (g.is_string()) out.groups.push_back(g.get<std::string>());
      }
    }
  }
  return Status::Ok();
}

}  // namespace

namespace internal {

Result<std::string> Base64UrlDecode(std::string_view text) {
  std::string b64(text);
  for (char& c : b64) {
    if (c == '+' || c == '/' || c == '=') {
      return Status(StatusCode::kInvalidArgument, "not unpadded base64url");
    }
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  if (b64.size() % 4 == 1) return Status(StatusCode::kInvalidArgument, "bad base64url length");
  b64.append((4 - b64.size() % 4) % 4, '=');
  return Base64Decode(b64);
}

Result<Json> ParseJsonObject(std::string_view text) {
  std::vector<std::vector<std::string>> keys;  // one list per open object
  bool duplicate = false, too_deep = false;
  auto check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth > 32) too_deep = true;
    if (event == Json::parse_event_t::object_start) keys.emplace_back();
    if (event == Json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
    if (event == Json::parse_event_t::key && !keys.empty()) {
      auto& seen = keys.back();
      const auto& key = parsed.get_ref<const std::string&>();
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) duplicate = true;
      seen.push_back(key);
    }
    return !duplicate && !too_deep;
  };
  Json doc = Json::parse(text.begin(), text.end(), check, /*allow_exceptions=*/false);
  if (duplicate) return Status(StatusCode::kInvalidArgument, "duplicate key in JSON");
  if (too_deep) return Status(StatusCode::kInvalidArgument, "JSON nested too deep");
  if (doc.is_discarded() || !doc.is_object()) {
    return Status(StatusCode::kInvalidArgument, "not a JSON object");
  }
  return doc;
}

}  // namespace internal

bool LooksLikeJwt(std::string_view token) {
  const auto first = token.find('.');
  if (first == 0 || first == std::string_view::npos) return false;
  const auto second = token.find('.', first + 1);
  if (second == std::string_view::npos || second == first + 1 || second + 1 >= token.size()) {
    return false;
  }
  return token.find('.', second + 1) == std::string_view::npos;
}

std::string_view IdTokenRefusalReason(const Status& status) {
  if (status.ok()) return {};
  const std::string_view message = status.message();
  const std::string_view head = message.substr(0, message.find(':'));
  for (std::string_view r : internal::kRefusalReasons) {
    if (head == r) return r;
  }
  return {};
}

Result<IdTokenClaims> VerifyIdToken(std::string_view token, const JwkSet& keys,
                                    const IdTokenPolicy& policy, std::int64_t now_ms) {
  // Rule 1.
  if (token.size() > kMaxIdTokenBytes) return Refuse("malformed", "the id token is too large");
  if (!LooksLikeJwt(token)) return Refuse("malformed", "not a compact JWS (three parts)");
  const auto dot1 = token.find('.');
  const auto dot2 = token.find('.', dot1 + 1);
  auto header_text = internal::Base64UrlDecode(token.substr(0, dot1));
  auto claims_text = internal::Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = internal::Base64UrlDecode(token.substr(dot2 + 1));
  if (!header_text.ok() || !claims_text.ok() || !signature.ok()) {
    return Refuse("malformed", "a part is not unpadded base64url");
  }
  auto header = internal::ParseJsonObject(*header_text);
  if (!header.ok()) return Refuse("malformed", "header: " + header.status().message());
  // Rule 2, before anything else is believed.
  auto alg_it = header->find("alg");
  const std::string alg =
      alg_it != header->end() && alg_it->is_string() ? alg_it->get<std::string>() : std::string();
  if (alg != "RS256" && alg != "ES256" && alg != "EdDSA") {
    return Refuse("alg_not_allowed", "alg must be RS256, ES256 or EdDSA");
  }
  if (header->contains("crit")) return Refuse("malformed", "crit header parameters are refused");
  OMNI_ASSIGN_OR_RETURN(const JwkSet::Key* key, PickKey(keys, *header, alg));
  // Rule 5.
  if (!VerifySignature(*key, alg, token.substr(0, dot2), *signature)) {
    return Refuse("bad_signature", "the signature does not verify with key \"" + key->kid + "\"");
  }
  auto claims = internal::ParseJsonObject(*claims_text);
  if (!claims.ok()) return Refuse("malformed", "claims: " + claims.status().message());
  IdTokenClaims out;
  out.alg = alg;
  out.kid = key->kid;
  OMNI_RETURN_IF_ERROR(CheckClaims(*claims, policy, now_ms, out));
  return out;
}

}  // namespace omnirelay::cp

// Internal to omni_oidc (oidc.h): the parsed key and the strict decoders
// the JWT and JWKS code share. Includes OpenSSL and nlohmann: .cc files only.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/oidc.h"

namespace omnirelay::cp {
namespace internal {

// The stable reasons a VerifyIdToken refusal starts with (oidc.h).
inline constexpr std::array<std::string_view, 10> kRefusalReasons = {
    "malformed",    "alg_not_allowed", "unknown_kid", "key_mismatch",  "bad_signature",
    "wrong_issuer", "wrong_audience",  "expired",     "not_yet_valid", "missing_claim"};

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

enum class KeyType { kRsa, kEcP256, kEd25519 };

// RFC 4648 §5 without padding, canonical only (unused bits zero); anything
// else ('=', '+', '/', whitespace) is kInvalidArgument.
Result<std::string> Base64UrlDecode(std::string_view text);

// A JSON object, refusing duplicate keys at any depth and nesting over 32.
Result<nlohmann::json> ParseJsonObject(std::string_view text);

}  // namespace internal

struct JwkSet::Key {
  std::string kid;  // "" when the key has none
  internal::KeyType type = internal::KeyType::kRsa;
  std::string alg;  // the key's own "alg", "" when not given
  internal::PkeyPtr pkey;
};

}  // namespace omnirelay::cp

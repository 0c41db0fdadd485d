// JwkSet::Parse (oidc.h): RFC 7517/7518/8037 public keys into OpenSSL keys.
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include <nlohmann/json.hpp>

#include "oidc_internal.h"

namespace omnirelay::cp {
namespace {

using internal::Base64UrlDecode;
using internal::KeyType;
using internal::ParseJsonObject;

struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

Status Refused(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, "jwks: " + why);
}

// The key a parameter set describes, through EVP_PKEY_fromdata.
internal::PkeyPtr FromData(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  return internal::PkeyPtr(pkey);
}

Result<std::string> Member(const nlohmann::json& key, const char* name, const std::string& kid) {
  auto it = key.find(name);
  if (it == key.end() || !it->is_string()) {
    return Refused("key \"" + kid + "\": \"" + name + "\" is missing or not a string");
  }
  auto bytes = Base64UrlDecode(it->get<std::string>());
  if (!bytes.ok() || bytes->empty()) {
    return Refused("key \"" + kid + "\": \"" + name + "\" is not base64url");
  }
  return bytes;
}

BnPtr Bignum(const std::string& bytes) {
  return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                         static_cast<int>(bytes.size()), nullptr));
}

Result<internal::PkeyPtr> RsaKey(const nlohmann::json& key, const std::string& kid) {
  OMNI_ASSIGN_OR_RETURN(std::string n, Member(key, "n", kid));
  OMNI_ASSIGN_OR_RETURN(std::string e, Member(key, "e", kid));
  if (n.size() * 8 < 2048 || n.size() > 1024 || e.size() > 8) {
    return Refused("key \"" + kid + "\": an RSA key has 2048 to 8192 bits");
  }
  BnPtr bn_n = Bignum(n), bn_e = Bignum(e);
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    ERR_clear_error();
    return Refused("key \"" + kid + "\": cannot build the RSA key");
  }
  auto pkey = FromData("RSA", bld.get());
  if (!pkey || EVP_PKEY_get_bits(pkey.get()) < 2048) {
    return Refused("key \"" + kid + "\": not a usable RSA key of at least 2048 bits");
  }
  return pkey;
}

Result<internal::PkeyPtr> Ec256Key(const nlohmann::json& key, const std::string& kid) {
  OMNI_ASSIGN_OR_RETURN(std::string x, Member(key, "x", kid));
  OMNI_ASSIGN_OR_RETURN(std::string y, Member(key, "y", kid));
  if (x.size() != 32 || y.size() != 32) {
    return Refused("key \"" + kid + "\": P-256 coordinates have 32 bytes");
  }
  // The uncompressed point 04||x||y; fromdata checks that it is on the curve.
  std::string point = "\x04" + x + y;
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    ERR_clear_error();
    return Refused("key \"" + kid + "\": cannot build the EC key");
  }
  auto pkey = FromData("EC", bld.get());
  if (!pkey) return Refused("key \"" + kid + "\": not a point on P-256");
  return pkey;
}

Result<internal::PkeyPtr> Ed25519Key(const nlohmann::json& key, const std::string& kid) {
  OMNI_ASSIGN_OR_RETURN(std::string x, Member(key, "x", kid));
  if (x.size() != 32) return Refused("key \"" + kid + "\": an Ed25519 key has 32 bytes");
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key_ex(
      nullptr, "ED25519", nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size());
  if (pkey == nullptr) {
    ERR_clear_error();
    return Refused("key \"" + kid + "\": not an Ed25519 key");
  }
  return internal::PkeyPtr(pkey);
}

std::string StringOr(const nlohmann::json& o, const char* name, std::string fallback) {
  auto it = o.find(name);
  return it != o.end() && it->is_string() ? it->get<std::string>() : fallback;
}

}  // namespace

JwkSet::~JwkSet() = default;

std::vector<std::string> JwkSet::kids() const {
  std::vector<std::string> out;
  for (const auto& k : keys_) out.push_back(k->kid);
  return out;
}

Result<std::shared_ptr<const JwkSet>> JwkSet::Parse(std::string_view json) {
  if (json.size() > kMaxJwksBytes) {
    return Refused("over " + std::to_string(kMaxJwksBytes) + " bytes");
  }
  auto doc = ParseJsonObject(json);
  if (!doc.ok()) return Refused(doc.status().message());
  auto list = doc->find("keys");
  if (list == doc->end() || !list->is_array()) return Refused("\"keys\" is not an array");
  if (list->size() > kMaxJwksKeys) {
    return Refused("more than " + std::to_string(kMaxJwksKeys) + " keys");
  }
  std::shared_ptr<JwkSet> set(new JwkSet());
  for (const auto& jwk : *list) {
    if (!jwk.is_object()) return Refused("a key is not an object");
    const std::string kty = StringOr(jwk, "kty", "");
    const std::string crv = StringOr(jwk, "crv", "");
    const std::string kid = StringOr(jwk, "kid", "");
    if (jwk.contains("kid") && (kid.empty() || kid.size() > 256)) {
      return Refused("a kid is not a string of 1-256 characters");
    }
    if (StringOr(jwk, "use", "sig") != "sig") continue;  // encryption keys
    KeyType type;
    Result<internal::PkeyPtr> pkey = internal::PkeyPtr();
    if (kty == "RSA") {
      type = KeyType::kRsa;
      pkey = RsaKey(jwk, kid);
    } else if (kty == "EC" && crv == "P-256") {
      type = KeyType::kEcP256;
      pkey = Ec256Key(jwk, kid);
    } else if (kty == "OKP" && crv == "Ed25519") {
      type = KeyType::kEd25519;
      pkey = Ed25519Key(jwk, kid);
    } else {
      continue;  // a key type or curve this verifier has no alg for
    }
    if (!pkey.ok()) return pkey.status();
    for (const auto& other : set->keys_) {
      if (other->kid == kid) return Refused("two keys have kid \"" + kid + "\"");
    }
    auto k = std::make_unique<Key>();
    k->kid = kid;
    k->type = type;
    k->alg = StringOr(jwk, "alg", "");
    k->pkey = std::move(pkey).value();
    set->keys_.push_back(std::move(k));
  }
  if (set->keys_.empty()) return Refused("no RSA, EC P-256 or Ed25519 signing key");
  return std::shared_ptr<const JwkSet>(std::move(set));
}

}  // namespace omnirelay::cp

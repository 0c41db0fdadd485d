// Test-only: keys that sign ID tokens (RS256, ES256, EdDSA) and their JWKs,
// made with OpenSSL in the test, for the OIDC tests (oidc.h). Header-only;
// links OpenSSL::Crypto and nlohmann.
#pragma once

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "omnirelay/config/digest.h"

namespace omnirelay::testing {

inline std::string Base64Url(std::string_view bytes) {
  std::string s = Base64Encode(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

class JwtSigner {
 public:
  // alg: "RS256", "ES256" or "EdDSA".
  JwtSigner(std::string alg, std::string kid) : alg_(std::move(alg)), kid_(std::move(kid)) {
    if (alg_ == "RS256") {
      pkey_.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
    } else if (alg_ == "ES256") {
      pkey_.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    } else {
      pkey_.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    }
  }

  const std::string& alg() const { return alg_; }
  const std::string& kid() const { return kid_; }

  // The public JWK (with kid; "alg" only when `with_alg`).
  nlohmann::json Jwk(bool with_alg = false) const {
    nlohmann::json k;
    if (!kid_.empty()) k["kid"] = kid_;
    if (with_alg) k["alg"] = alg_;
    if (alg_ == "RS256") {
      k["kty"] = "RSA";
      k["n"] = Base64Url(Bn(OSSL_PKEY_PARAM_RSA_N));
      k["e"] = Base64Url(Bn(OSSL_PKEY_PARAM_RSA_E));
    } else if (alg_ == "ES256") {
      unsigned char point[65];
      size_t len = 0;
      EVP_PKEY_get_octet_string_param(pkey_.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point,
                                      &len);
      k["kty"] = "EC";
      k["crv"] = "P-256";
      k["x"] = Base64Url(std::string_view(reinterpret_cast<char*>(point) + 1, 32));
      k["y"] = Base64Url(std::string_view(reinterpret_cast<char*>(point) + 33, 32));
    } else {
      unsigned char raw[32];
      size_t len = sizeof raw;
      EVP_PKEY_get_raw_public_key(pkey_.get(), raw, &len);
      k["kty"] = "OKP";
      k["crv"] = "Ed25519";
      k["x"] = Base64Url(std::string_view(reinterpret_cast<char*>(raw), len));
    }
    return k;
  }

  // A compact JWS of `claims` with this key's alg and kid (header fields
  // in `header` override them).
  std::string Sign(const nlohmann::json& claims, nlohmann::json header = {}) const {
    nlohmann::json h = {{"alg", alg_}, {"typ", "JWT"}};
    if (!kid_.empty()) h["kid"] = kid_;
    for (auto& [key, value] : header.items()) {
      if (value.is_null()) {
        h.erase(key);
      } else {
        h[key] = value;
      }
    }
    const std::string signed_part = Base64Url(h.dump()) + "." + Base64Url(claims.dump());
    return signed_part + "." + Base64Url(SignBytes(signed_part));
  }

  // The raw signature over `data` (JOSE r||s for ES256).
  std::string SignBytes(std::string_view data) const {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_DigestSignInit_ex(ctx.get(), nullptr, alg_ == "EdDSA" ? nullptr : "SHA256", nullptr,
                          nullptr, pkey_.get(), nullptr);
    size_t len = 0;
    EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                   data.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(data.data()), data.size());
    sig.resize(len);
    if (alg_ != "ES256") return sig;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* der = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string rs(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(der), reinterpret_cast<unsigned char*>(rs.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(der), reinterpret_cast<unsigned char*>(rs.data()) + 32, 32);
    ECDSA_SIG_free(der);
    return rs;
  }

 private:
  std::string Bn(const char* name) const {
    BIGNUM* bn = nullptr;
    EVP_PKEY_get_bn_param(pkey_.get(), name, &bn);
    std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    BN_free(bn);
    return out;
  }

  std::string alg_, kid_;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey_{nullptr, EVP_PKEY_free};
};

// {"keys": [...]} of the signers' public keys.
inline std::string JwksOf(std::initializer_list<const JwtSigner*> signers) {
  nlohmann::json keys = nlohmann::json::array();
  for (const JwtSigner* s : signers) keys.push_back(s->Jwk());
  return nlohmann::json{{"keys", keys}}.dump();
}

}  // namespace omnirelay::testing

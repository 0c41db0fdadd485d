#include "openssl_util.h"

#include <openssl/err.h>

namespace omnirelay::internal {

std::string TakeOpensslError() {
  std::string message;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    if (message.empty()) {
      char buf[256];
      ERR_error_string_n(code, buf, sizeof buf);
      message = buf;
    }
  }
  return message.empty() ? "unknown libcrypto error" : message;
}

Status CryptoError(std::string_view what) {
  return Status(StatusCode::kInternal, std::string(what) + ": " + TakeOpensslError());
}

int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) {
  return -1;
}

std::string RawPublicKey(EVP_PKEY* pkey) {
  std::string raw(kEd25519PublicKeyBytes, '\0');
  std::size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(pkey, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 ||
      len != kEd25519PublicKeyBytes) {
    TakeOpensslError();
    return {};
  }
  return raw;
}

bool VerifyEd25519(std::string_view public_key, std::string_view signature,
                   std::string_view message) {
  if (signature.size() != kEd25519SignatureBytes) return false;
  PublicPkeyPtr pkey(EVP_PKEY_new_raw_public_key_ex(
      nullptr, "ED25519", nullptr, reinterpret_cast<const unsigned char*>(public_key.data()),
      public_key.size()));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const bool ok =
      pkey && ctx &&
      EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey.get(), nullptr) ==
          1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

}  // namespace omnirelay::internal

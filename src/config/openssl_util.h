// Internal: OpenSSL 3 helpers shared by the key, trusted-key and envelope code.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "omnirelay/config/signing.h"
#include "omnirelay/config/status.h"

namespace omnirelay::internal {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

struct PkeyFree {
  void operator()(EVP_PKEY* pkey) const { EVP_PKEY_free(pkey); }
};
using PublicPkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Drains this thread's OpenSSL error queue into a message, so errors neither
// leak into later calls nor pile up.
std::string TakeOpensslError();
Status CryptoError(std::string_view what);
// PEM callback: never prompt on a terminal for a passphrase.
int NoPassphrase(char* buf, int size, int rwflag, void* u);
// The 32 raw bytes of an Ed25519 key's public half; "" on failure.
std::string RawPublicKey(EVP_PKEY* pkey);
// One-shot Ed25519 verification of `signature` over `message`.
bool VerifyEd25519(std::string_view public_key, std::string_view signature,
                   std::string_view message);

}  // namespace omnirelay::internal

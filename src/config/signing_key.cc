#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "omnirelay/config/digest.h"
#include "omnirelay/config/file_system.h"
#include "omnirelay/config/signing.h"
#include "openssl_util.h"

namespace omnirelay {
namespace {

using internal::BioPtr;
using internal::CryptoError;
using internal::MdCtxPtr;
using internal::NoPassphrase;
using internal::RawPublicKey;
using internal::TakeOpensslError;

constexpr std::size_t kMaxPemBytes = 64 << 10;

}  // namespace

std::string KeyIdFor(std::string_view raw_public_key) {
  return "ed25519:" + Sha256Hex(raw_public_key).substr(0, 32);
}

void SigningKey::PkeyDeleter::operator()(evp_pkey_st* pkey) const {
  EVP_PKEY_free(pkey);
}

SigningKey::SigningKey(PkeyPtr pkey, std::string public_key)
    : pkey_(std::move(pkey)), public_key_(std::move(public_key)), key_id_(KeyIdFor(public_key_)) {}

Result<SigningKey> SigningKey::FromPkey(PkeyPtr pkey) {
  if (!pkey) return CryptoError("cannot create an ed25519 key");
  if (EVP_PKEY_is_a(pkey.get(), "ED25519") != 1) {
    const char* type = EVP_PKEY_get0_type_name(pkey.get());
    return Status(StatusCode::kInvalidArgument,
                  std::string("not an ed25519 key: ") + (type ? type : "unknown type"));
  }
  std::string raw = RawPublicKey(pkey.get());
  if (raw.empty()) return CryptoError("cannot read the public key");
  return SigningKey(std::move(pkey), std::move(raw));
}

Result<SigningKey> SigningKey::Generate() {
  return FromPkey(PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")));
}

Result<SigningKey> SigningKey::FromSeed(std::string_view seed) {
  if (seed.size() != 32) {
    return Status(StatusCode::kInvalidArgument,
                  "an ed25519 seed has 32 bytes, got " + std::to_string(seed.size()));
  }
  return FromPkey(PkeyPtr(EVP_PKEY_new_raw_private_key_ex(
      nullptr, "ED25519", nullptr, reinterpret_cast<const unsigned char*>(seed.data()),
      seed.size())));
}

Result<SigningKey> SigningKey::FromPem(std::string_view pem) {
  if (pem.size() > kMaxPemBytes) {
    return Status(StatusCode::kInvalidArgument,
                  "PEM text is over " + std::to_string(kMaxPemBytes) + " bytes");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return CryptoError("cannot read PEM");
  EVP_PKEY* pkey =
      PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, NoPassphrase, nullptr, nullptr, nullptr);
  if (pkey == nullptr) {
    return Status(StatusCode::kInvalidArgument,
                  "not an unencrypted PEM private key: " + TakeOpensslError());
  }
  return FromPkey(PkeyPtr(pkey));
}

Result<SigningKey> SigningKey::LoadPem(const std::string& path, FileSystem& fs) {
  Result<std::string> pem = fs.ReadFile(path, kMaxPemBytes);
  if (!pem.ok()) return pem.status();
  Result<SigningKey> key = FromPem(*pem);
  OPENSSL_cleanse(pem->data(), pem->size());
  if (!key.ok()) return Status(key.status().code(), path + ": " + key.status().message());
  return key;
}

Status SigningKey::SavePem(const std::string& path, FileSystem& fs) const {
  if (!pkey_) return Status(StatusCode::kInvalidArgument, "empty signing key");
  // A secure-memory BIO is wiped when freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1) {
    return CryptoError("cannot encode the key as PEM");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return CryptoError("cannot encode the key as PEM");
  return WriteFileAtomically(fs, path, std::string_view(data, static_cast<std::size_t>(len)), 0600);
}

Result<std::string> SigningKey::Sign(std::string_view message) const {
  if (!pkey_) return Status(StatusCode::kInvalidArgument, "empty signing key");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::string sig(kEd25519SignatureBytes, '\0');
  std::size_t len = sig.size();
  if (!ctx ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey_.get(), nullptr) !=
          1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      len != kEd25519SignatureBytes) {
    return CryptoError("ed25519 signing failed");
  }
  return sig;
}

}  // namespace omnirelay

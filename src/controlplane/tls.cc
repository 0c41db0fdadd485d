#include "omnirelay/controlplane/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <utility>

#include "omnirelay/config/files.h"

namespace omnirelay::cp {
namespace {

constexpr std::size_t kMaxPemBytes = 1 << 20;

Result<std::string> ReadPem(const std::string& path, const char* what) {
  auto text = ReadFileLimited(path, kMaxPemBytes);
  if (!text.ok()) {
    return Status(StatusCode::kIoError, std::string("cannot read the TLS ") + what + " \"" + path +
                                            "\": " + text.status().message());
  }
  if (text->find("-----BEGIN ") == std::string::npos) {
    return Status(StatusCode::kInvalid,
                  std::string("the TLS ") + what + " \"" + path + "\" holds no PEM block");
  }
  return text;
}

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

BioPtr MemBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
}

// The first X.509 certificate in `pem`, or null.
X509Ptr FirstCertificate(const std::string& pem) {
  BioPtr bio = MemBio(pem);
  return X509Ptr(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr,
                 &X509_free);
}

bool HasCertificate(const std::string& pem) {
  return FirstCertificate(pem) != nullptr;
}

// True when `key_pem` is an unencrypted private key matching `cert_pem`'s
// first certificate (the leaf).
bool KeyMatchesCertificate(const std::string& cert_pem, const std::string& key_pem) {
  X509Ptr cert = FirstCertificate(cert_pem);
  BioPtr bio = MemBio(key_pem);
  // An empty passphrase callback: an encrypted key fails instead of prompting.
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(
                        bio.get(), nullptr, [](char*, int, int, void*) { return -1; }, nullptr)
                  : nullptr,
              &EVP_PKEY_free);
  const bool ok = cert && key && X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace

Result<TlsMaterial> LoadTls(const TlsOptions& options) {
  TlsMaterial out;
  out.files = options;
  if (options.cert_file.empty() != options.key_file.empty()) {
    return Status(StatusCode::kInvalidArgument, "--tls-cert and --tls-key must be given together");
  }
  if (!options.client_spiffe_ids.empty() && !options.mutual()) {
    return Status(StatusCode::kInvalidArgument,
                  "--tls-client-spiffe-id needs --tls-client-ca (client certificates are checked "
                  "only under mTLS)");
  }
  if (!options.enabled()) {
    if (options.mutual()) {
      return Status(StatusCode::kInvalidArgument,
                    "--tls-client-ca needs --tls-cert and --tls-key (mTLS is TLS plus client "
                    "certificates)");
    }
    return out;
  }
  auto cert = ReadPem(options.cert_file, "certificate");
  if (!cert.ok()) return cert.status();
  out.cert_pem = std::move(cert).value();
  if (!HasCertificate(out.cert_pem)) {
    return Status(StatusCode::kInvalid,
                  "the TLS certificate \"" + options.cert_file + "\" is not an X.509 certificate");
  }
  auto key = ReadPem(options.key_file, "key");
  if (!key.ok()) return key.status();
  out.key_pem = std::move(key).value();
  if (!KeyMatchesCertificate(out.cert_pem, out.key_pem)) {
    return Status(StatusCode::kInvalid, "the TLS key \"" + options.key_file +
                                            "\" is not an unencrypted private key of the "
                                            "certificate \"" +
                                            options.cert_file + "\"");
  }
  OMNI_ASSIGN_OR_RETURN(out.client_ids, PeerIdentityPolicy::Parse(options.client_spiffe_ids,
                                                                  "--tls-client-spiffe-id"));
  if (options.mutual()) {
    auto ca = ReadPem(options.client_ca_file, "client CA");
    if (!ca.ok()) return ca.status();
    out.client_ca_pem = std::move(ca).value();
    if (!HasCertificate(out.client_ca_pem)) {
      return Status(StatusCode::kInvalid, "the TLS client CA \"" + options.client_ca_file +
                                              "\" is not an X.509 certificate");
    }
  }
  return out;
}

}  // namespace omnirelay::cp

#include "omnirelay/controlplane/tls.h"

#include <openssl/bio.h>
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

// True when `pem` starts with a parsable X.509 certificate.
bool HasCertificate(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!bio) return false;
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (cert == nullptr) return false;
  X509_free(cert);
  return true;
}

}  // namespace

Result<TlsMaterial> LoadTls(const TlsOptions& options) {
  TlsMaterial out;
  out.files = options;
  if (options.cert_file.empty() != options.key_file.empty()) {
    return Status(StatusCode::kInvalidArgument, "--tls-cert and --tls-key must be given together");
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

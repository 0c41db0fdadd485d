// Certificates made in-process with OpenSSL for the artefact tests: a
// self-signed Ed25519 certificate whose notAfter the test chooses, and the
// PEM of its private key (to prove private keys are refused).
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>

namespace omnirelay::testing {

struct TestCertificate {
  std::string cert_pem;  // one CERTIFICATE block
  std::string key_pem;   // its PRIVATE KEY block (never to be published)
};

inline std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// A self-signed certificate for CN=`common_name`, valid from an hour before
// now until `not_after_unix_s`.
inline TestCertificate MakeTestCertificate(const std::string& common_name,
                                           std::int64_t not_after_unix_s) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) throw std::runtime_error("openssl: cannot make a key or certificate");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<std::time_t>(not_after_unix_s));
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  if (X509_sign(cert.get(), key.get(), nullptr) <= 0) throw std::runtime_error("openssl: sign");
  std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(BIO_new(BIO_s_mem()), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509(cert_bio.get(), cert.get());
  PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return {BioText(cert_bio.get()), BioText(key_bio.get())};
}

}  // namespace omnirelay::testing

#include "client_tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "omnirelay/config/files.h"

namespace omnirelay::relay::internal {
namespace {

constexpr std::size_t kMaxPemBytes = 1 << 20;

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

BioPtr MemBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
}

Status ReadInto(const std::string& path, std::string& out) {
  auto text = ReadFileLimited(path, kMaxPemBytes);
  if (!text.ok()) {
    return Status(StatusCode::kIoError, "TLS file " + path + ": " + text.status().message());
  }
  out = std::move(text).value();
  return Status::Ok();
}

// Whether `pem`'s first certificate exists and, with a key, matches it.
Status CheckPair(const std::string& cert_path, const std::string& cert_pem,
                 const std::string& key_path, const std::string& key_pem) {
  BioPtr cert_bio = MemBio(cert_pem);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr) : nullptr,
      &X509_free);
  ERR_clear_error();
  if (!cert) {
    return Status(StatusCode::kInvalid, "TLS file " + cert_path + " holds no X.509 certificate");
  }
  if (key_pem.empty()) return Status::Ok();
  BioPtr key_bio = MemBio(key_pem);
  // An empty passphrase callback: an encrypted key fails instead of prompting.
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      key_bio ? PEM_read_bio_PrivateKey(
                    key_bio.get(), nullptr, [](char*, int, int, void*) { return -1; }, nullptr)
              : nullptr,
      &EVP_PKEY_free);
  const bool match = key && X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  if (!match) {
    return Status(StatusCode::kInvalid,
                  "TLS key " + key_path + " is not an unencrypted private key of " + cert_path);
  }
  return Status::Ok();
}

}  // namespace

Result<ClientTlsMaterial> ReadClientTls(const WatcherTls& options) {
  ClientTlsMaterial out;
  OMNI_RETURN_IF_ERROR(ReadInto(options.ca_file, out.ca_pem));
  OMNI_RETURN_IF_ERROR(CheckPair(options.ca_file, out.ca_pem, "", ""));
  if (!options.cert_file.empty() || !options.key_file.empty()) {
    OMNI_RETURN_IF_ERROR(ReadInto(options.cert_file, out.cert_pem));
    OMNI_RETURN_IF_ERROR(ReadInto(options.key_file, out.key_pem));
    OMNI_RETURN_IF_ERROR(CheckPair(options.cert_file, out.cert_pem, options.key_file, out.key_pem));
  }
  return out;
}

ClientTls::ClientTls(WatcherTls options, PeerIdentityPolicy server_ids, Counter* failures,
                     std::function<void(const std::string&)> log)
    : options_(std::move(options)),
      server_ids_(std::move(server_ids)),
      failures_(failures),
      log_(std::move(log)) {}

std::shared_ptr<const ClientTlsMaterial> ClientTls::Last() const {
  MutexLock lock(mu_);
  return good_;
}

Status CheckClientTlsOptions(const WatcherTls& o) {
  if (o.cert_file.empty() != o.key_file.empty()) {
    return Status(StatusCode::kInvalidArgument,
                  "a TLS client certificate needs its key (and the reverse)");
  }
  if (!o.enabled() &&
      (!o.cert_file.empty() || !o.server_name.empty() || !o.server_spiffe_ids.empty())) {
    return Status(StatusCode::kInvalidArgument,
                  "TLS client options need the CA of the control plane (tls.ca_file)");
  }
  if (auto ids = PeerIdentityPolicy::Parse(o.server_spiffe_ids, "server SPIFFE ID"); !ids.ok()) {
    return ids.status();
  }
  if (!o.enabled()) return Status::Ok();
  // Read once here so a typo fails the start, not every reconnect.
  if (auto read = ReadClientTls(o); !read.ok()) {
    return Status(StatusCode::kInvalidArgument, read.status().message());
  }
  return Status::Ok();
}

Result<std::shared_ptr<const ClientTlsMaterial>> ClientTls::Load() {
  auto read = ReadClientTls(options_);
  MutexLock lock(mu_);
  if (!read.ok()) {
    if (failures_) failures_->Inc();
    if (read.status().message() != last_error_ && log_ && good_) {
      log_("TLS client files not loaded, the previous ones stay in use: " +
           read.status().ToString());
    }
    last_error_ = read.status().message();
    if (!good_) return read.status();
    return good_;
  }
  last_error_.clear();
  const bool changed =
      good_ && (good_->ca_pem != read->ca_pem || good_->cert_pem != read->cert_pem ||
                good_->key_pem != read->key_pem);
  if (!good_ || changed) {
    good_ = std::make_shared<const ClientTlsMaterial>(std::move(read).value());
    if (changed && log_) log_("TLS client files changed: used from this connection on");
  }
  return good_;
}

}  // namespace omnirelay::relay::internal

#include "tls_watcher.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "omnirelay/config/files.h"

namespace omnirelay::cp {
namespace {

constexpr std::size_t kMaxPemBytes = 1 << 20;

// A fingerprint of what the three files hold now (a file that cannot be
// read counts as its error text): equal fingerprints, same content.
std::size_t Fingerprint(const TlsOptions& files) {
  std::string all;
  for (const std::string* path : {&files.cert_file, &files.key_file, &files.client_ca_file}) {
    if (path->empty()) continue;
    auto text = ReadFileLimited(*path, kMaxPemBytes);
    all += text.ok() ? *text : "unreadable: " + text.status().message();
    all += '\0';
  }
  const std::size_t out = std::hash<std::string>()(all);
  std::fill(all.begin(), all.end(), '\0');  // it held the private key
  return out;
}

// The fingerprint of the material in force, from the content it was made of.
std::size_t Fingerprint(const TlsMaterial& m) {
  std::string all = m.cert_pem + '\0' + m.key_pem + '\0';
  if (!m.files.client_ca_file.empty()) all += m.client_ca_pem + '\0';
  const std::size_t out = std::hash<std::string>()(all);
  std::fill(all.begin(), all.end(), '\0');
  return out;
}

// "subject CN=cp, serial 0A1B..., expires Dec  7 18:00:00 2026 GMT" for logs.
std::string Summary(const std::string& cert_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> in(
      BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      in ? PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr) : nullptr, &X509_free);
  if (!cert) return "an unreadable certificate";
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
  BIO_puts(out.get(), "subject ");
  X509_NAME_print_ex(out.get(), X509_get_subject_name(cert.get()), 0, XN_FLAG_ONELINE);
  BIO_puts(out.get(), ", serial ");
  i2a_ASN1_INTEGER(out.get(), X509_get0_serialNumber(cert.get()));
  BIO_puts(out.get(), ", expires ");
  ASN1_TIME_print(out.get(), X509_get0_notAfter(cert.get()));
  char* data = nullptr;
  const long length = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

}  // namespace

TlsWatcher::TlsWatcher(std::shared_ptr<TlsState> tls, MetricsRegistry& metrics,
                       std::function<Status(const TlsMaterial&)> on_reload)
    : tls_(std::move(tls)),
      on_reload_(std::move(on_reload)),
      reloads_(metrics.counter("omnirelay_cp_tls_reloads_total",
                               "TLS certificates, keys or client CAs reloaded from changed files")),
      failures_(
          metrics.counter("omnirelay_cp_tls_reload_failures_total",
                          "Changed TLS files that did not load (the material in force was kept)")) {
  const auto current = tls_->Current();
  {
    MutexLock lock(check_mu_);
    last_seen_ = Fingerprint(*current);
  }
  if (current->files.enabled() && current->files.reload_interval.count() > 0) {
    thread_ = std::thread([this] { Run(); });
  }
}

TlsWatcher::~TlsWatcher() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  wake_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

Status TlsWatcher::CheckNow() {
  if (!tls_->Current()->files.enabled()) {
    return Status(StatusCode::kInvalidArgument, "no TLS configured to reload");
  }
  return Check(/*settled=*/false);
}

void TlsWatcher::Run() {
  const auto interval = tls_->Current()->files.reload_interval;
  MutexLock lock(mu_);
  while (!stopping_) {
    const auto next = std::chrono::steady_clock::now() + interval;
    while (!stopping_ && wake_.WaitUntil(mu_, next)) {
    }
    if (stopping_) break;
    lock.Unlock();
    (void)Check(/*settled=*/true);
    lock.Lock();
  }
}

Status TlsWatcher::Check(bool settled) {
  MutexLock lock(check_mu_);
  const std::shared_ptr<const TlsMaterial> current = tls_->Current();
  const std::size_t now = Fingerprint(current->files);
  const bool stable = now == last_seen_;
  last_seen_ = now;
  if (now == Fingerprint(*current)) return Status::Ok();
  if (settled && !stable) return Status::Ok();  // still being written, maybe: next time
  auto loaded = LoadTls(current->files);
  Status status = loaded.ok() ? Status::Ok() : loaded.status();
  if (loaded.ok() && on_reload_) status = on_reload_(*loaded);
  if (!status.ok()) {
    failures_.Inc();
    if (now != last_failed_) {
      spdlog::warn("TLS files changed but were not loaded; the current certificate stays: {}",
                   status.ToString());
    }
    last_failed_ = now;
    return status;
  }
  const std::string summary = Summary(loaded->cert_pem);
  tls_->Replace(std::move(loaded).value());
  reloads_.Inc();
  last_failed_ = 0;
  spdlog::info("TLS material reloaded for new connections on both faces: {}", summary);
  return Status::Ok();
}

}  // namespace omnirelay::cp

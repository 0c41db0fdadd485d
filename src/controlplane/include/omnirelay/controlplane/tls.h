// TLS for the control plane's two faces (DESIGN.md §4: "TLS and mTLS when
// certificates are configured"). With no certificate configured both faces
// speak plaintext — meant for loopback only. With a certificate and key they
// serve TLS; adding a client CA turns on mTLS: every client (operator,
// automation, node) must present a certificate that chains to that CA, on top
// of its bearer token. Client SPIFFE IDs (peer_identity.h) narrow mTLS to
// the workloads named. The files are watched (tls_watcher.h): new material
// replaces the old on both faces for new connections, and material that
// does not load leaves the old in force.
//
// Thread safety: TlsOptions and TlsMaterial are plain data and LoadTls a
// pure function; TlsState may be used from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "omnirelay/config/mutex.h"
#include "omnirelay/config/peer_identity.h"
#include "omnirelay/config/status.h"

namespace omnirelay::cp {

struct TlsOptions {
  std::string cert_file;       // PEM server certificate (chain); empty = no TLS
  std::string key_file;        // PEM private key of that certificate
  std::string client_ca_file;  // PEM CA bundle; non-empty = require client certificates
  // SPIFFE ID patterns a client certificate must match (peer_identity.h);
  // empty = any certificate from the client CA. Needs client_ca_file.
  std::vector<std::string> client_spiffe_ids;
  // How often the files are checked for new content; 0 = never (SIGHUP only).
  std::chrono::milliseconds reload_interval{5'000};

  bool enabled() const { return !cert_file.empty(); }
  bool mutual() const { return !client_ca_file.empty(); }
};

// The PEM contents behind TlsOptions, read and sanity-checked once at start.
struct TlsMaterial {
  TlsOptions files;
  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;
  PeerIdentityPolicy client_ids;  // from files.client_spiffe_ids
};

// Reads and checks the files: a certificate needs a key (and the reverse), a
// client CA needs a certificate, each file must exist, be readable and hold a
// PEM block; SPIFFE patterns need a client CA and must parse.
// kInvalidArgument for a wrong combination or pattern, kIoError for a file
// that cannot be read, kInvalid for one that is not PEM.
Result<TlsMaterial> LoadTls(const TlsOptions& options);

// The TLS material in force, replaced whole (new connections take the new
// one; a connection keeps what it was accepted with).
class TlsState {
 public:
  explicit TlsState(TlsMaterial initial)
      : current_(std::make_shared<const TlsMaterial>(std::move(initial))) {}
  std::shared_ptr<const TlsMaterial> Current() const {
    MutexLock lock(mu_);
    return current_;
  }
  void Replace(TlsMaterial next) {
    auto made = std::make_shared<const TlsMaterial>(std::move(next));
    MutexLock lock(mu_);
    current_ = std::move(made);
  }

 private:
  mutable Mutex mu_;
  std::shared_ptr<const TlsMaterial> current_ GUARDED_BY(mu_);
};

}  // namespace omnirelay::cp

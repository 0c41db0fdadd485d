// The relay's TLS client material (WatcherTls): the CA that signed the
// control plane's certificate, this node's client certificate and key, and
// the server SPIFFE IDs expected. Shared by the node stream and the pull.
//  1. The files are read at every connection attempt, so a rotated client
//     certificate, key or CA is used from the next connection on, without a
//     restart (an open stream keeps the connection it has).
//  2. Material that does not load — a file unreadable, no certificate in the
//     CA or certificate file, a key that is not the certificate's — is not
//     used: the last material that loaded stays, the failure is counted
//     (omnirelay_relay_tls_reload_failures_total) and logged once per
//     distinct error. With nothing loaded yet, Load() is the error.
//  3. A change that loads is logged once ("TLS client files changed").
//
// Thread safety: Load() from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "omnirelay/config/metrics.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/config/peer_identity.h"
#include "omnirelay/config/status.h"
#include "omnirelay/relay/watcher.h"

namespace omnirelay::relay::internal {

struct ClientTlsMaterial {
  std::string ca_pem;
  std::string cert_pem;  // empty: no client certificate
  std::string key_pem;
};

class ClientTls {
 public:
  // `failures` may be null; `log` may be empty.
  ClientTls(WatcherTls options, PeerIdentityPolicy server_ids, Counter* failures,
            std::function<void(const std::string&)> log);

  const WatcherTls& options() const { return options_; }
  const PeerIdentityPolicy& server_ids() const { return server_ids_; }
  // Reads the files (rules 1-3); `log` is called from the caller's thread.
  Result<std::shared_ptr<const ClientTlsMaterial>> Load() EXCLUDES(mu_);
  // The material the last Load() settled on, without reading (null: none).
  std::shared_ptr<const ClientTlsMaterial> Last() const EXCLUDES(mu_);

 private:
  const WatcherTls options_;
  const PeerIdentityPolicy server_ids_;
  Counter* const failures_;
  const std::function<void(const std::string&)> log_;
  mutable Mutex mu_;
  std::shared_ptr<const ClientTlsMaterial> good_ GUARDED_BY(mu_);
  std::string last_error_ GUARDED_BY(mu_);
};

// Reads and checks the files of `options` (rule 2's checks).
Result<ClientTlsMaterial> ReadClientTls(const WatcherTls& options);

// Watcher::Start's check of WatcherTls: files that load, a CA for any TLS
// option, valid server SPIFFE patterns. kInvalidArgument naming the problem.
Status CheckClientTlsOptions(const WatcherTls& options);

}  // namespace omnirelay::relay::internal

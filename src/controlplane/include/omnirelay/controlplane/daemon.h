// The controlplane daemon, assembled: data dir, signing key, trusted keys,
// store, bus, service, REST and gRPC faces. main.cc parses flags into
// DaemonOptions; integration tests start a Daemon in-process on port 0.
//
// First start in an empty data dir creates (modes in brackets):
//   state.db (store, 0600 via umask), signing-key.pem [0600],
//   trusted-keys.json [0644: public keys to hand to nodes], admin.token [0600].
//
// Thread safety: Start on one thread; Shutdown from any thread, once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "omnirelay/config/file_system.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/tls.h"
#include "omnirelay/http/server.h"

namespace omnirelay::cp {

struct DaemonOptions {
  std::string grpc_listen = "127.0.0.1:7443";
  std::string http_listen = "127.0.0.1:7080";
  std::string data_dir = "./var/controlplane";
  std::string store_url;  // default: sqlite://<data_dir>/state.db
  std::string bus_url = "inproc";
  // --bus-opt key=value: librdkafka properties of a kafka:// bus.
  std::vector<std::string> bus_options;
  // The REST address announced to nodes for the pull fallback; default: the
  // --http-listen host (127.0.0.1 when it is a wildcard) and the bound port.
  std::string advertise_http;
  bool sqlite_synchronous_full = true;
  std::int64_t snapshot_ttl_seconds = 7 * 24 * 3600;
  // Nodes (--node-expiry, --node-updating-grace; see ServiceOptions).
  std::chrono::milliseconds node_expiry{24LL * 3600 * 1000};
  std::chrono::milliseconds node_updating_grace{30'000};
  // The store poll (store_poll.h): how often a replica reads the store's head
  // to repair a missed bus event. Runs with a Postgres store or a shared bus;
  // 0 turns it off.
  std::chrono::milliseconds store_poll{1000};
  // --max-change-entries (ServiceOptions::max_change_entries; 0 = no limit).
  std::size_t max_change_entries = 200;
  TlsOptions tls;  // both faces; empty = plaintext (loopback only)
  // REST timeouts and limits (--http-* flags; defaults in http/server.h).
  http::Limits http_limits;
  // Where the data dir's files (key, trusted keys, admin token) are written;
  // null = the real file system. Must outlive the daemon (tests inject faults).
  FileSystem* file_system = nullptr;
};

class Daemon {
 public:
  static Result<std::unique_ptr<Daemon>> Start(const DaemonOptions& options);
  virtual ~Daemon() = default;

  virtual int http_port() const = 0;
  virtual int grpc_port() const = 0;
  virtual std::string admin_token_path() const = 0;
  virtual std::string trusted_keys_path() const = 0;
  // Re-reads the TLS files for the REST face (SIGHUP); new connections use
  // them. kInvalidArgument without TLS; the old material stays on an error.
  virtual Status ReloadTls() = 0;
  // Stops accepting, closes node streams, flushes audit, closes the store.
  virtual void Shutdown() = 0;
};

}  // namespace omnirelay::cp

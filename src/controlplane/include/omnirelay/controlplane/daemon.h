// The controlplane daemon, assembled: data dir, signing key, trusted keys,
// store, bus, service, REST and gRPC faces. main.cc parses flags into
// DaemonOptions; integration tests start a Daemon in-process on port 0.
//
// First start in an empty data dir creates (modes in brackets):
//   state.db (store, 0600 via umask), signing-key.pem [0600, unless
//   --signing-key names the key], trusted-keys.json [0644: public keys to
//   hand to nodes], admin.token [0600, only when the store holds no token].
//
// Several replicas of a cell share one store (postgres://...) and must sign
// with one key (cell_identity.h): each is provisioned the cell's key (its
// signing-key.pem copied into the data dir, or --signing-key FILE); the
// store records the cell's key id at the first start and a replica with
// another key fails to start (kConflict) naming both.
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
  // --signing-key: the cell's key, provisioned to this replica (read, never
  // created or written); "" = <data_dir>/signing-key.pem, created if missing.
  std::string signing_key_file;
  // --issue-admin-token: issue an admin token into <data_dir>/admin.token
  // (which must not exist) even when the store holds tokens — the way back
  // when every admin token is lost. Otherwise only a start on a store with
  // no token at all issues one.
  bool issue_admin_token = false;
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
  // Retention (store_retention.h): --audit-retention, --audit-max-entries,
  // --snapshot-retention, --snapshot-keep (0 = that limit off) and how often
  // a pass runs (--retention-interval).
  std::chrono::milliseconds audit_retention{90LL * 24 * 3600 * 1000};
  std::int64_t audit_max_entries = 1'000'000;
  std::chrono::milliseconds snapshot_retention{30LL * 24 * 3600 * 1000};
  std::int64_t snapshot_keep = 10;
  std::chrono::milliseconds retention_interval{60'000};
  // --max-change-entries (ServiceOptions::max_change_entries; 0 = no limit).
  std::size_t max_change_entries = 200;
  // --meshkit: the optional MeshKit connection the rollout gates read
  // (an endpoints JSON file, or host:port of a Discovery feed; "" = none:
  // cluster-health, bridge and feed-generation gates are skipped).
  std::string meshkit;
  std::string meshkit_ca_file;  // --meshkit-ca: TLS to the feed
  TlsOptions tls;               // both faces; empty = plaintext (loopback only)
  // --oidc-*: operator identity (oidc.h). All empty = ID tokens are not
  // accepted; issuer, audience and jwks go together.
  std::string oidc_issuer, oidc_audience;
  // A JWKS file (re-read every 5 s) or an https:// URL (oidc_source.h).
  std::string oidc_jwks;
  std::string oidc_jwks_ca_file;  // --oidc-jwks-ca: private CA of the URL
  std::chrono::milliseconds oidc_jwks_timeout{5'000};
  std::chrono::milliseconds oidc_jwks_cache_min{60'000};         // max-age floor
  std::chrono::milliseconds oidc_jwks_cache_max{86'400'000};     // max-age ceiling
  std::chrono::milliseconds oidc_jwks_refetch_interval{10'000};  // URL: unknown-kid fetches
  std::string oidc_groups_claim = "groups";
  std::chrono::milliseconds oidc_clock_skew{60'000};
  std::vector<std::string> oidc_group_scopes;  // "group=scope[+scope],..."
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
  // Re-reads the TLS files now for both faces (SIGHUP; they are also
  // watched every TlsOptions::reload_interval); new connections use them.
  // kInvalidArgument without TLS; the old material stays on an error.
  virtual Status ReloadTls() = 0;
  // Stops accepting, closes node streams, flushes audit, closes the store.
  virtual void Shutdown() = 0;
};

}  // namespace omnirelay::cp

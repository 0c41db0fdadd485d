// controlplane: the OmniRelay runtime-config control plane daemon.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <tuple>

#include "backup.h"
#include "logging.h"
#include "omnirelay/api/duration.h"
#include "omnirelay/config/version.h"
#include "omnirelay/controlplane/daemon.h"

namespace {

// Exit statuses of backup and restore (controlplane.md): 0 done, 1 failed
// (I/O, an unreadable store), 2 a usage error or a target that is not
// empty, 3 a backup that is damaged or does not match itself.
int ExitStatusOf(const omnirelay::Status& s) {
  switch (s.code()) {
    case omnirelay::StatusCode::kInvalidArgument:
    case omnirelay::StatusCode::kConflict:
      return 2;
    case omnirelay::StatusCode::kInvalid:
    case omnirelay::StatusCode::kHashMismatch:
      return 3;
    default:
      return 1;
  }
}

void PrintManifest(const omnirelay::cp::BackupManifest& m, const std::string& verb,
                   const std::string& dir, bool json) {
  if (json) {
    std::printf("%s", omnirelay::cp::ManifestToJson(m).c_str());
    return;
  }
  std::printf("%s %s: head revision %lld, schema %lld, cell key %s\n", verb.c_str(), dir.c_str(),
              static_cast<long long>(m.head_revision), static_cast<long long>(m.schema_version),
              m.key_id.c_str());
  std::printf("  state.db %lld bytes, sha256 %s\n ", static_cast<long long>(m.state_bytes),
              m.state_sha256.c_str());
  for (const auto& [table, rows] : m.counts) {
    std::printf(" %s %lld", table.c_str(), static_cast<long long>(rows));
  }
  std::printf("\n");
}

// `controlplane backup` and `controlplane restore` (backup.h).
struct StoreCommands {
  omnirelay::cp::BackupOptions backup;
  std::string restore_from, restore_dir, output = "text";
  CLI::App* backup_cmd = nullptr;
  CLI::App* restore_cmd = nullptr;

  void Add(CLI::App& app) {
    backup_cmd = app.add_subcommand(
        "backup",
        "Copy a daemon's SQLite store, signing key and trusted keys into a new directory while "
        "it serves (its writes go on)");
    backup_cmd->footer(
        "The --to dir gets state.db, signing-key.pem, trusted-keys.json and manifest.json (0600).\n"
        "Exit status: 0 done, 1 failed, 2 a usage error or a --to dir that is not empty. A\n"
        "Postgres store is backed up with pg_dump (docs/knowledge-base/deployment.md).");
    backup_cmd->add_option("--data-dir", backup.data_dir, "The daemon's data dir")->required();
    backup_cmd->add_option("--store", backup.store_url,
                           "sqlite://<path> when the store is not <data-dir>/state.db");
    backup_cmd->add_option("--signing-key", backup.signing_key_file,
                           "The cell's key file when the daemon runs with --signing-key");
    backup_cmd
        ->add_option("--to", backup.out_dir,
                     "A new or empty directory (made 0700: it holds the private key)")
        ->required();
    restore_cmd = app.add_subcommand(
        "restore", "Check a backup and put it into a new data dir; never overwrites");
    restore_cmd->footer(
        "Exit status: 0 restored, 1 failed, 2 a usage error or a data dir that already holds a\n"
        "state.db or key, 3 a backup that is damaged or does not match itself (nothing written).");
    restore_cmd->add_option("--from", restore_from, "A directory made by controlplane backup")
        ->required();
    restore_cmd->add_option("--data-dir", restore_dir, "The new data dir")->required();
    for (CLI::App* cmd : {backup_cmd, restore_cmd}) {
      cmd->add_option("-o,--output", output, "text or json (the manifest)")
          ->check(CLI::IsMember({"text", "json"}))
          ->capture_default_str();
    }
  }

  // -1 when no subcommand was given, else the exit status.
  int Run() {
    if (!backup_cmd->parsed() && !restore_cmd->parsed()) return -1;
    const bool json = output == "json";
    ::umask(077);  // what it makes holds the private key
    if (backup_cmd->parsed()) {
      backup.now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
      backup.progress = [](std::int64_t done, std::int64_t total) {
        if (total > 4096) {  // over one step: say how far it is
          std::fprintf(stderr, "copied %lld of %lld pages (%lld%%)\n", static_cast<long long>(done),
                       static_cast<long long>(total), static_cast<long long>(done * 100 / total));
        }
      };
      auto m = omnirelay::cp::BackupSqlite(backup);
      if (!m.ok()) {
        std::fprintf(stderr, "controlplane backup: %s\n", m.status().ToString().c_str());
        return ExitStatusOf(m.status());
      }
      PrintManifest(*m, "backed up into", backup.out_dir, json);
      if (!json) {
        std::printf(
            "  %s holds the cell's private signing key (signing-key.pem): keep it as secret as "
            "the data dir\n",
            backup.out_dir.c_str());
      }
      return 0;
    }
    {
      auto m = omnirelay::cp::RestoreBackup(restore_from, restore_dir);
      if (!m.ok()) {
        std::fprintf(stderr, "controlplane restore: %s\n", m.status().ToString().c_str());
        return ExitStatusOf(m.status());
      }
      PrintManifest(*m, "restored into", restore_dir, json);
      if (!json) {
        std::printf("  start it: controlplane --data-dir %s (the backup's tokens work again)\n",
                    restore_dir.c_str());
      }
      return 0;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  using namespace omnirelay::cp;
  DaemonOptions o;
  std::string log_format = "text", log_level = "info", sqlite_sync = "full", ttl = "7d";
  std::string header_timeout = "10s", body_timeout = "30s", idle_timeout = "60s";
  std::string store_poll = "1s";
  CLI::App app{
      "controlplane - the OmniRelay runtime-config control plane.\n"
      "Holds config layers per scope, validates and stores them as CAS revisions, signs\n"
      "one snapshot per scope chain and pushes it to nodes. Serves gRPC (operators and\n"
      "the node feed) and REST/JSON (/v1/..., /healthz, /readyz, /metrics)."};
  app.name("controlplane");
  app.footer(
      "Several replicas of a cell (one --store postgres://..., one --bus) sign with one key:\n"
      "give each the first replica's signing-key.pem and trusted-keys.json (copied into its\n"
      "--data-dir before its first start) or --signing-key FILE. The store records the cell's\n"
      "key id at the first start; a replica with another key exits 1 naming both ids. Only\n"
      "the first start on an empty store writes admin.token; later replicas write none\n"
      "(use the first one's, or omnirctl token create --scopes admin).");
  app.set_version_flag("--version", omnirelay::VersionText("controlplane"));
  app.set_config("--config", "", "Read options from a TOML file (keys as the long flags)");
  app.add_option("--grpc-listen", o.grpc_listen, "gRPC address")->capture_default_str();
  app.add_option("--http-listen", o.http_listen, "REST address")->capture_default_str();
  app.add_option("--data-dir", o.data_dir,
                 "State directory: state.db, signing-key.pem, trusted-keys.json, admin.token")
      ->capture_default_str();
  app.add_option("--store", o.store_url,
                 "Store URL: sqlite://<path> (default sqlite://<data-dir>/state.db) or "
                 "postgres://<user>@<host>:<port>/<database>");
  app.add_option("--signing-key", o.signing_key_file,
                 "The cell's Ed25519 signing key (PKCS#8 PEM, mode 0600), provisioned to every "
                 "replica of the cell; read, never created (default: <data-dir>/signing-key.pem, "
                 "created on first start)");
  app.add_flag("--issue-admin-token", o.issue_admin_token,
               "Issue an admin token into <data-dir>/admin.token (which must not exist) although "
               "the store holds tokens: the way back when every admin token is lost");
  app.add_option("--bus", o.bus_url,
                 "Change bus: inproc (one process); shared by a cell's replicas: "
                 "redis://[:password@]host:port/stream[?maxlen=N] (Redis Streams) or "
                 "kafka://host:port[,host:port...]/topic (Kafka)")
      ->capture_default_str();
  app.add_option("--bus-opt", o.bus_options,
                 "A librdkafka property of a kafka:// bus, key=value (repeatable; e.g. "
                 "security.protocol=SASL_SSL, sasl.username=..., message.timeout.ms=5000)")
      ->allow_extra_args(false);
  app.add_option("--store-poll", store_poll,
                 "With a Postgres store or a shared bus: how often to read the store's head, so "
                 "that a commit whose bus event was lost still reaches this replica's nodes "
                 "(within two periods) (0 = off)")
      ->capture_default_str();
  app.add_option("--sqlite-sync", sqlite_sync,
                 "SQLite durability: full (survives power loss) or normal (survives a crash)")
      ->check(CLI::IsMember({"full", "normal"}))
      ->capture_default_str();
  app.add_option("--snapshot-ttl", ttl, "Snapshot lifetime (e.g. 12h, 7d); re-signed before")
      ->capture_default_str();
  std::string node_expiry = "24h", node_grace = "30s";
  app.add_option("--node-expiry", node_expiry,
                 "Forget a node disconnected this long (e.g. 24h, 7d; 0 = never)")
      ->capture_default_str();
  app.add_option(
         "--node-updating-grace", node_grace,
         "A node assigned a snapshot is 'updating' this long, then 'drifted'; halfway through, "
         "one that has not applied it is sent it again")
      ->capture_default_str();
  std::string audit_retention = "90d", snapshot_retention = "30d", retention_interval = "1m";
  app.add_option("--audit-retention", audit_retention,
                 "Remove audit entries older than this, oldest first (e.g. 30d; 0 = keep by age); "
                 "the audit chain still verifies from its anchor")
      ->capture_default_str();
  app.add_option("--audit-max-entries", o.audit_max_entries,
                 "Keep at most this many audit entries, the newest (0 = no limit)")
      ->capture_default_str();
  app.add_option("--snapshot-retention", snapshot_retention,
                 "Remove rendered snapshots older than this, except each chain's newest "
                 "--snapshot-keep and any a node holds or an unfinished rollout may assign (0 = "
                 "keep all)")
      ->capture_default_str();
  app.add_option("--snapshot-keep", o.snapshot_keep,
                 "Rendered snapshots kept per scope chain whatever their age")
      ->capture_default_str();
  app.add_option("--retention-interval", retention_interval,
                 "How often retention runs (in batches of 1,000 audit entries / 100 snapshots, "
                 "one short transaction each)")
      ->capture_default_str();
  app.add_option("--max-change-entries", o.max_change_entries,
                 "Refuse a change whose diff adds, removes or changes more named entries "
                 "(clusters, routes, regions, bridges) than this, unless the caller passes "
                 "allow-large-change (0 = no limit)")
      ->capture_default_str();
  app.add_option("--meshkit", o.meshkit,
                 "MeshKit for the rollout gates: an endpoints JSON file (polled) or host:port of "
                 "a Discovery feed. Enables the cluster-health gate (policy "
                 "minClusterHealthyRatio), pauses cross-cell waves while a bridge between their "
                 "cells is down, and compares nodes' discoveryGeneration with the feed's "
                 "(default: none; those gates are skipped)");
  app.add_option("--meshkit-ca", o.meshkit_ca_file,
                 "PEM CA bundle: TLS to the --meshkit feed (default: plaintext, loopback only)");
  app.add_option("--advertise-http", o.advertise_http,
                 "REST host:port[,host:port...] announced to nodes for the pull fallback "
                 "(default: the --http-listen host and port)");
  app.add_option("--tls-cert", o.tls.cert_file,
                 "PEM server certificate: serve gRPC and REST over TLS (needs --tls-key)");
  app.add_option("--tls-key", o.tls.key_file, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", o.tls.client_ca_file,
                 "PEM CA bundle: require client certificates signed by it (mTLS)");
  app.add_option("--tls-client-spiffe-id", o.tls.client_spiffe_ids,
                 "With --tls-client-ca: a SPIFFE ID a client certificate must carry as its URI "
                 "SAN, exact (spiffe://td/relay/eu-1) or a prefix ending in /* "
                 "(spiffe://td/relay/*); repeatable, any one matching admits (default: any "
                 "certificate of the client CA)")
      ->allow_extra_args(false);
  std::string tls_reload = "5s";
  app.add_option("--tls-reload-interval", tls_reload,
                 "How often the --tls-* files are checked for new content, reloaded for new "
                 "connections on both faces without a restart (0 = only on SIGHUP)")
      ->capture_default_str();
  std::string oidc_skew = "60s";
  app.add_option("--oidc-issuer", o.oidc_issuer,
                 "Accept OIDC ID tokens (JWT: RS256, ES256, EdDSA) of this issuer (the exact "
                 "\"iss\") as bearer tokens and for omnirctl login (default: none accepted)");
  app.add_option("--oidc-audience", o.oidc_audience,
                 "The client id the ID tokens must name in \"aud\"");
  app.add_option("--oidc-jwks", o.oidc_jwks,
                 "The issuer's public keys: a JWKS file (re-read every 5s, and at once, at most "
                 "once a second, for an unknown kid) or an https:// URL (fetched as its "
                 "Cache-Control max-age says, within --oidc-jwks-cache-min/max; http:// only to "
                 "a loopback host)");
  std::string jwks_timeout = "5s", jwks_cache_min = "1m", jwks_cache_max = "24h",
              jwks_refetch = "10s";
  app.add_option("--oidc-jwks-ca", o.oidc_jwks_ca_file,
                 "PEM CA bundle the --oidc-jwks URL's certificate must chain to (default: the "
                 "system trust store)");
  app.add_option("--oidc-jwks-timeout", jwks_timeout,
                 "URL: the timeout of one JWKS fetch (to connect, and to receive the answer)")
      ->capture_default_str();
  app.add_option("--oidc-jwks-cache-min", jwks_cache_min,
                 "URL: the shortest wait before a fetched JWKS is fetched again (also the wait "
                 "when the answer has no max-age)")
      ->capture_default_str();
  app.add_option("--oidc-jwks-cache-max", jwks_cache_max,
                 "URL: the longest wait before a fetched JWKS is fetched again, whatever its "
                 "max-age says (an old set is never dropped: it stays until a fetch replaces it)")
      ->capture_default_str();
  app.add_option("--oidc-jwks-refetch-interval", jwks_refetch,
                 "URL: the least time between two fetches forced by a token naming an unknown kid")
      ->capture_default_str();
  app.add_option("--oidc-group-scopes", o.oidc_group_scopes,
                 "Scopes per group: group=scope[+scope],... (repeatable; e.g. "
                 "admins=admin,ops=config:read+config:write); a token whose groups map to no "
                 "scope is refused")
      ->allow_extra_args(false);
  app.add_option("--oidc-groups-claim", o.oidc_groups_claim,
                 "The claim that holds the groups (a string or an array of strings)")
      ->capture_default_str();
  app.add_option("--oidc-clock-skew", oidc_skew, "Leeway for the ID tokens' exp, nbf and iat")
      ->capture_default_str();
  app.add_option("--http-max-connections", o.http_limits.max_connections,
                 "REST connections open at once; past it a new one is answered 503 and closed")
      ->capture_default_str();
  app.add_option("--http-header-timeout", header_timeout,
                 "REST: time to receive a request head (from the accept or its first byte)")
      ->capture_default_str();
  app.add_option("--http-body-timeout", body_timeout, "REST: time to receive a request body")
      ->capture_default_str();
  app.add_option("--http-idle-timeout", idle_timeout,
                 "REST: an idle keep-alive connection is closed after this long")
      ->capture_default_str();
  app.add_option("--http-max-header-bytes", o.http_limits.max_header_bytes,
                 "REST: larger request heads are answered 431")
      ->capture_default_str();
  app.add_option("--http-max-body-bytes", o.http_limits.max_body_bytes,
                 "REST: larger request bodies are answered 413")
      ->capture_default_str();
  app.add_option("--log-format", log_format, "Log format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  StoreCommands store_commands;
  store_commands.Add(app);
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  if (int status = store_commands.Run(); status >= 0) return status;
  if (auto s = SetupLogging(log_format, log_level); !s.ok()) {
    std::fprintf(stderr, "controlplane: %s\n", s.message().c_str());
    return 2;
  }
  auto ttl_ms = omnirelay::api::ParseDurationMs(ttl);
  if (!ttl_ms.ok() || *ttl_ms < 60'000) {
    std::fprintf(stderr, "controlplane: --snapshot-ttl \"%s\" must be a duration of at least 1m\n",
                 ttl.c_str());
    return 2;
  }
  o.snapshot_ttl_seconds = *ttl_ms / 1000;
  for (auto [flag, text, out] :
       {std::tuple{"--http-header-timeout", &header_timeout, &o.http_limits.header_timeout},
        std::tuple{"--http-body-timeout", &body_timeout, &o.http_limits.body_timeout},
        std::tuple{"--http-idle-timeout", &idle_timeout, &o.http_limits.idle_timeout}}) {
    auto ms = omnirelay::api::ParseDurationMs(*text);
    if (!ms.ok() || *ms < 1000) {
      std::fprintf(stderr, "controlplane: %s \"%s\" must be a duration of at least 1s\n", flag,
                   text->c_str());
      return 2;
    }
    *out = std::chrono::milliseconds(*ms);
  }
  o.sqlite_synchronous_full = sqlite_sync == "full";
  // A duration of at least `min_ms` into `out` (with `off`, "0" too: that
  // setting off); a usage error otherwise.
  auto duration_flag = [](const char* flag, const std::string& text, std::int64_t min_ms,
                          const char* min_text, const char* off, std::chrono::milliseconds* out) {
    if (off != nullptr && text == "0") {
      *out = std::chrono::milliseconds(0);
      return true;
    }
    if (auto ms = omnirelay::api::ParseDurationMs(text); ms.ok() && *ms >= min_ms) {
      *out = std::chrono::milliseconds(*ms);
      return true;
    }
    std::fprintf(stderr, "controlplane: %s \"%s\" must be %s%s%sa duration of at least %s\n", flag,
                 text.c_str(), off ? "0 (" : "", off ? off : "", off ? ") or " : "", min_text);
    return false;
  };
  if (!duration_flag("--node-expiry", node_expiry, 60'000, "1m", "never", &o.node_expiry) ||
      !duration_flag("--store-poll", store_poll, 100, "100ms", "off", &o.store_poll) ||
      !duration_flag("--node-updating-grace", node_grace, 1000, "1s", nullptr,
                     &o.node_updating_grace) ||
      !duration_flag("--audit-retention", audit_retention, 60'000, "1m", "keep by age",
                     &o.audit_retention) ||
      !duration_flag("--snapshot-retention", snapshot_retention, 60'000, "1m", "keep all",
                     &o.snapshot_retention) ||
      !duration_flag("--retention-interval", retention_interval, 100, "100ms", nullptr,
                     &o.retention_interval) ||
      !duration_flag("--oidc-clock-skew", oidc_skew, 0, "0s", nullptr, &o.oidc_clock_skew) ||
      !duration_flag("--oidc-jwks-timeout", jwks_timeout, 100, "100ms", nullptr,
                     &o.oidc_jwks_timeout) ||
      !duration_flag("--oidc-jwks-cache-min", jwks_cache_min, 1000, "1s", nullptr,
                     &o.oidc_jwks_cache_min) ||
      !duration_flag("--oidc-jwks-cache-max", jwks_cache_max, 1000, "1s", nullptr,
                     &o.oidc_jwks_cache_max) ||
      !duration_flag("--oidc-jwks-refetch-interval", jwks_refetch, 100, "100ms", nullptr,
                     &o.oidc_jwks_refetch_interval) ||
      !duration_flag("--tls-reload-interval", tls_reload, 100, "100ms", "off",
                     &o.tls.reload_interval)) {
    return 2;
  }

  // Signals are taken synchronously by this thread; block them before any
  // other thread starts so none of those threads receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto daemon = Daemon::Start(o);
  if (!daemon.ok()) {
    spdlog::error("cannot start: {}", daemon.status().ToString());
    // A wrong combination of flags is a usage error, like a bad flag.
    return daemon.status().code() == omnirelay::StatusCode::kInvalidArgument ? 2 : 1;
  }
  int sig = 0;
  // SIGHUP: re-read the TLS files now, for new connections on both faces.
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    const omnirelay::Status reloaded = (*daemon)->ReloadTls();
    if (reloaded.ok()) {
      spdlog::info("SIGHUP: TLS files checked (reloaded if they changed)");
    } else {
      spdlog::warn("SIGHUP: TLS not reloaded: {}", reloaded.ToString());
    }
  }
  spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*daemon)->Shutdown();
  spdlog::info("stopped");
  return 0;
}

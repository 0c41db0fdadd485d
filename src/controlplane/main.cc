// controlplane: the OmniRelay runtime-config control plane daemon.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <tuple>

#include "logging.h"
#include "omnirelay/api/duration.h"
#include "omnirelay/config/version.h"
#include "omnirelay/controlplane/daemon.h"

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
  app.add_option("--max-change-entries", o.max_change_entries,
                 "Refuse a change whose diff adds, removes or changes more named entries "
                 "(clusters, routes, regions, bridges) than this, unless the caller passes "
                 "allow-large-change (0 = no limit)")
      ->capture_default_str();
  app.add_option("--advertise-http", o.advertise_http,
                 "REST host:port[,host:port...] announced to nodes for the pull fallback "
                 "(default: the --http-listen host and port)");
  app.add_option("--tls-cert", o.tls.cert_file,
                 "PEM server certificate: serve gRPC and REST over TLS (needs --tls-key)");
  app.add_option("--tls-key", o.tls.key_file, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", o.tls.client_ca_file,
                 "PEM CA bundle: require client certificates signed by it (mTLS)");
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
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
  if (node_expiry == "0") {
    o.node_expiry = std::chrono::milliseconds(0);
  } else if (auto ms = omnirelay::api::ParseDurationMs(node_expiry); ms.ok() && *ms >= 60'000) {
    o.node_expiry = std::chrono::milliseconds(*ms);
  } else {
    std::fprintf(stderr,
                 "controlplane: --node-expiry \"%s\" must be 0 (never) or a duration of at least "
                 "1m\n",
                 node_expiry.c_str());
    return 2;
  }
  if (store_poll == "0") {
    o.store_poll = std::chrono::milliseconds(0);
  } else if (auto ms = omnirelay::api::ParseDurationMs(store_poll); ms.ok() && *ms >= 100) {
    o.store_poll = std::chrono::milliseconds(*ms);
  } else {
    std::fprintf(stderr,
                 "controlplane: --store-poll \"%s\" must be 0 (off) or a duration of at least "
                 "100ms\n",
                 store_poll.c_str());
    return 2;
  }
  if (auto ms = omnirelay::api::ParseDurationMs(node_grace); ms.ok() && *ms >= 1000) {
    o.node_updating_grace = std::chrono::milliseconds(*ms);
  } else {
    std::fprintf(stderr,
                 "controlplane: --node-updating-grace \"%s\" must be a duration of at least 1s\n",
                 node_grace.c_str());
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
  // SIGHUP: re-read the TLS certificate and key for new REST connections.
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    const omnirelay::Status reloaded = (*daemon)->ReloadTls();
    if (reloaded.ok()) {
      spdlog::info("SIGHUP: REST TLS material reloaded");
    } else {
      spdlog::warn("SIGHUP: TLS not reloaded: {}", reloaded.ToString());
    }
  }
  spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*daemon)->Shutdown();
  spdlog::info("stopped");
  return 0;
}

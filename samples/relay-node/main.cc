// relay-node: a small OmniRelay node. It follows the control plane through
// librelay's Watcher (node stream, ETag pull fallback, endpoint failover),
// keeps its last-known-good snapshot on disk, and answers
//   /healthz  200 while the process runs
//   /readyz   200 once a valid snapshot is applied (503 before), with health;
//             "stale" when the snapshot in force expired without a renewal
//             (then 503 with --on-expiry fail_closed, which also refuses /route)
//   /metrics  Prometheus text: relay and watcher figures
//   /capability?name=CAP  200 while the capability (jwt:NAME, ca:NAME,
//             mtls:IDENTITY, ext_authz:NAME) may be used, 503 artefact_expired
//             once its artefact's notAfter passed, 404 without an artefact;
//             /readyz lists the capabilities failing closed (still 200)
//   /artefacts the snapshot's rotated artefacts: capability, notAfter, state
//   /route?route=NAME&key=KEY  {"version", "cluster", "shadow", "failover"}, and
//                              with --meshkit the member to send it to:
//                              "endpoint", "failedOver", "discoveryGeneration"
// Every /route answer is recorded for the rollout gates (ConfigHost::
// RecordOutcome) and reported with the node's status. --fail-cluster makes
// the requests routed to a cluster fail (503); --synthetic-rps sends the node
// its own traffic, so a demo shows a canary rolling itself back unaided.
// SIGTERM / SIGINT stop it cleanly (exit 0).
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "node_http.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/files.h"
#include "omnirelay/config/key_set.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/config/version.h"
#include "omnirelay/http/server.h"
#include "omnirelay/meshkit/feed.h"
#include "omnirelay/relay/artefacts.h"
#include "omnirelay/relay/config_host.h"
#include "omnirelay/relay/router.h"
#include "omnirelay/relay/watcher.h"
#include "synthetic_load.h"

namespace {

using namespace omnirelay;

void Log(const std::string& line);

Result<std::string> ReadToken(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    Log("warning: token file " + path + " is readable by group or others (chmod 600 it)");
  }
  std::ifstream in(path);
  if (!in) return Status(StatusCode::kIoError, "cannot read token file " + path);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty())
    return Status(StatusCode::kInvalidArgument, "token file " + path + " is empty");
  return token;
}

void Log(const std::string& line) {
  std::fprintf(stderr, "relay-node: %s\n", line.c_str());
}

// A usage error unless `value` is host:port (http::SplitHostPort, as the
// control plane checks its listen flags) with a host; a port to connect to
// must not be 0.
bool IsHostPort(const char* flag, const std::string& value, const char* example_port,
                bool connect) {
  auto hp = http::SplitHostPort(value);
  if (hp.ok() && !hp->first.empty() && (!connect || hp->second > 0)) return true;
  const std::string p(example_port);
  Log(std::string(flag) + " \"" + value + "\" is not host:port (e.g. 127.0.0.1:" + p +
      (connect ? ", cp.example:" : ", 0.0.0.0:") + p + ", [::1]:" + p + ")");
  return false;
}

struct Flags {
  std::string node_id;
  std::string scope_chain;
  std::string controlplane;
  std::string controlplane_http;
  std::string token_file;
  std::string trusted_keys;
  std::string lkg;
  std::string listen = "127.0.0.1:9080";
  std::int64_t backoff_max_ms = 15'000;
  std::int64_t poll_interval_ms = 5'000;
  std::int64_t failback_interval_ms = 30'000;
  std::int64_t staleness_threshold_ms = 60'000;
  std::int64_t status_interval_ms = 15'000;
  relay::WatcherTls tls;
  std::vector<std::string> fail_clusters;
  double synthetic_rps = 0;
  std::string synthetic_route;
  std::string meshkit;  // host:port of a Discovery feed, or an endpoints JSON file
  std::string on_expiry = "keep_serving";
  std::vector<std::string> certificate_sources;  // IDENTITY=channel|IDENTITY=files:CERT,KEY
};

// --certificate-source, each identity once (never both a channel and files).
Result<relay::ArtefactOptions> ArtefactOptionsFrom(const Flags& flags) {
  relay::ArtefactOptions options;
  for (const std::string& text : flags.certificate_sources) {
    OMNI_ASSIGN_OR_RETURN(auto source, relay::ParseCertificateSource(text));
    if (options.certificate_sources.contains(source.first)) {
      return Status(StatusCode::kInvalidArgument,
                    "identity \"" + source.first +
                        "\" is given twice: its certificates come from files or from the "
                        "config channel, never both");
    }
    options.certificate_sources.insert(std::move(source));
  }
  options.log = [](const std::string& line) { Log(line); };
  return options;
}

// Runs Artefacts::CheckExpiry about once a second (metrics and log lines
// for artefacts that expire in force; Check itself reads the clock).
class ArtefactExpiryTimer {
 public:
  explicit ArtefactExpiryTimer(relay::Artefacts& artefacts)
      : thread_([this, &artefacts] {
          MutexLock lock(mu_);
          while (!stop_) {
            artefacts.CheckExpiry();
            cv_.WaitUntil(mu_, std::chrono::steady_clock::now() + std::chrono::seconds(1));
          }
        }) {}
  ~ArtefactExpiryTimer() {
    {
      MutexLock lock(mu_);
      stop_ = true;
      cv_.NotifyAll();
    }
    thread_.join();
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the members above exist
};

// The MeshKit endpoint source named by --meshkit: an existing file is a
// FileSource (polled), anything else a host:port for GrpcFeedClient. Each new
// set's generation becomes the node's discoveryGeneration (reported to the
// control plane with its status, shown by /readyz).
Result<std::unique_ptr<meshkit::EndpointSource>> StartMeshKit(const std::string& where,
                                                              relay::ConfigHost& host) {
  auto told = [&host](const std::shared_ptr<const meshkit::EndpointSet>& set) {
    host.SetDiscoveryGeneration(static_cast<std::int64_t>(set->generation()), set->feed_id());
    Log("MeshKit endpoints: generation " + std::to_string(set->generation()) + ", " +
        std::to_string(set->size()) + " endpoints in " + std::to_string(set->clusters().size()) +
        " clusters");
  };
  meshkit::EndpointSourceOptions o;  // it says when `where` is neither a file nor host:port
  o.where = where;
  o.client_id = "relay-node";
  o.on_change = told;
  return meshkit::StartEndpointSource(std::move(o));
}

// --trusted-keys: a plain trusted-keys.json, or a key-set envelope (key
// rotation: `omnirctl keys rotate --out FILE`), checked against its own roots.
struct Trust {
  TrustedKeySet keys;
  std::optional<SignedKeySet> key_set;
};

Result<Trust> LoadTrust(const std::string& path) {
  auto text = ReadFileLimited(path, 1 << 20);
  if (!text.ok()) return Status(text.status().code(), path + ": " + text.status().message());
  Trust trust;
  if (LooksLikeKeySetEnvelope(*text)) {
    auto set = VerifyKeySetSelf(*text);
    if (!set.ok()) return Status(set.status().code(), path + ": " + set.status().message());
    trust.keys = set->set.online_keys;
    trust.key_set = std::move(set).value();
    return trust;
  }
  auto keys = TrustedKeySet::FromJson(*text);  // the bytes read above, not the file again
  if (!keys.ok()) {
    return Status(keys.status().code(), path + ": " + keys.status().message(),
                  keys.status().diagnostics());
  }
  trust.keys = std::move(keys).value();
  return trust;
}

int Run(const Flags& flags) {
  auto token = ReadToken(flags.token_file);
  if (!token.ok()) return Log(token.status().ToString()), 2;
  auto trust = LoadTrust(flags.trusted_keys);
  if (!trust.ok()) return Log(trust.status().ToString()), 2;
  if (auto parsed = ParseScopeChain(flags.scope_chain); !parsed.ok()) {
    return Log("--scope-chain: " + parsed.status().ToString()), 2;
  }
  const std::vector<std::string> chain = SplitCommaList(flags.scope_chain);
  auto grpc_endpoints = SplitNonEmptyCommaList(flags.controlplane, "--controlplane");
  if (!grpc_endpoints.ok()) return Log(grpc_endpoints.status().ToString()), 2;
  auto http_endpoints = SplitNonEmptyCommaList(flags.controlplane_http, "--controlplane-http");
  if (!http_endpoints.ok()) return Log(http_endpoints.status().ToString()), 2;

  // Signals go to the waiting thread below only: block them before any
  // thread starts (threads inherit the mask).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  MetricsRegistry metrics;
  const Clock& clock = SystemClock::Instance();
  relay::ConfigHostOptions host_options;
  host_options.trusted_keys = std::move(trust->keys);
  host_options.key_set = std::move(trust->key_set);
  host_options.lkg_path = flags.lkg;
  host_options.verify.scope_chain = chain;
  host_options.on_expiry = *relay::ParseOnExpiry(flags.on_expiry);  // checked by the flag
  relay::ConfigHost host(std::move(host_options), clock, metrics);
  auto router = relay::Router::Attach(host, &metrics, flags.node_id);
  if (!router.ok()) return Log(router.status().ToString()), 1;
  auto artefact_options = ArtefactOptionsFrom(flags);
  if (!artefact_options.ok()) {
    return Log("--certificate-source: " + artefact_options.status().ToString()), 2;
  }
  auto artefacts =
      relay::Artefacts::Attach(host, std::move(artefact_options).value(), clock, &metrics);
  if (!artefacts.ok()) return Log("--certificate-source: " + artefacts.status().ToString()), 2;
  ArtefactExpiryTimer artefact_timer(**artefacts);

  if (!flags.lkg.empty()) {
    auto loaded = host.LoadLastKnownGood();
    if (loaded.ok()) {
      Log("ready from last-known-good version " + std::to_string(loaded->snapshot->version()) +
          (host.health().expired ? " (expired: kept serving, --on-expiry keep_serving)" : ""));
    } else if (loaded.status().code() != StatusCode::kNotFound) {
      Log("last-known-good refused: " + loaded.status().ToString());
    }
  }

  relay::WatcherOptions watch;
  watch.node_id = flags.node_id;
  watch.scope_chain = chain;
  watch.grpc_endpoints = std::move(grpc_endpoints).value();
  watch.http_endpoints = std::move(http_endpoints).value();
  watch.token = *token;
  watch.tls = flags.tls;
  watch.log = [](const std::string& line) { Log(line); };
  watch.backoff_max_ms = flags.backoff_max_ms;
  watch.poll_interval_ms = flags.poll_interval_ms;
  watch.failback_interval_ms = flags.failback_interval_ms;
  watch.staleness_threshold_ms = flags.staleness_threshold_ms;
  watch.status_interval_ms = flags.status_interval_ms;
  // Capabilities failing closed on an expired artefact, in the node's status.
  watch.health_figures = [&artefacts] {
    return std::map<std::string, double>{
        {"artefacts_failing_closed", static_cast<double>((*artefacts)->FailingClosed().size())}};
  };
  relay::Watcher watcher(watch, host, clock, metrics);

  std::unique_ptr<meshkit::EndpointSource> discovery;
  if (!flags.meshkit.empty()) {
    auto started_feed = StartMeshKit(flags.meshkit, host);
    if (!started_feed.ok()) return Log("--meshkit: " + started_feed.status().ToString()), 2;
    discovery = std::move(*started_feed);
  }
  relay_node::NodeHttp::Endpoints endpoints;
  if (discovery) endpoints = [&discovery] { return discovery->Current(); };
  relay_node::NodeHttp http(
      host, *router, metrics, [&watcher] { return watcher.stats(); }, flags.fail_clusters,
      endpoints, artefacts->get());
  auto port = http.Bind(flags.listen);
  if (!port.ok()) return Log(port.status().ToString()), 1;
  if (relay::RelayCell(chain).empty()) {
    Log("scope chain names no cell: bridge export/deny rules are not applied (every cluster is "
        "reachable)");
  }
  Status started = watcher.Start();
  if (!started.ok()) return Log(started.ToString()), 2;
  Log("node " + flags.node_id + " listening on " + flags.listen.substr(0, flags.listen.rfind(':')) +
      ":" + std::to_string(*port));
  for (const std::string& cluster : flags.fail_clusters) {
    Log("requests routed to cluster " + cluster + " are answered 503 (--fail-cluster)");
  }
  relay_node::SyntheticLoad load;
  if (flags.synthetic_rps > 0) {
    load.Start(*port, flags.synthetic_route, flags.synthetic_rps);
    char rps[32];
    std::snprintf(rps, sizeof rps, "%g", flags.synthetic_rps);
    Log(std::string("sending itself ") + rps + " requests/s on route " + flags.synthetic_route);
  }

  std::thread signal_waiter([&] {
    int received = 0;
    sigwait(&signals, &received);
    Log(std::string("stopping on ") + (received == SIGTERM ? "SIGTERM" : "SIGINT"));
    load.Stop();  // first: its requests would wait out their timeouts on a stopped server
    http.Stop();
  });
  http.Serve();  // until the signal waiter calls Stop()
  watcher.Stop();
  // Wakes the waiter should Serve() ever return without it.
  kill(getpid(), SIGTERM);
  signal_waiter.join();
  Log("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"relay-node: a sample OmniRelay node following the control plane"};
  app.set_version_flag("--version", omnirelay::VersionText("relay-node"));
  app.add_option("--node-id", flags.node_id, "This node's id (its token is named node:<id>)")
      ->required();
  app.add_option("--scope-chain", flags.scope_chain,
                 "Its scope chain, e.g. global,region:us-east,cell:use1-a")
      ->required();
  app.add_option("--controlplane", flags.controlplane,
                 "Control-plane gRPC endpoints host:port[,host:port...], tried in turn; the "
                 "first is preferred (fail-back: see --failback-interval-ms)");
  app.add_option(
      "--controlplane-http", flags.controlplane_http,
      "Control-plane REST endpoints for the pull fallback (also announced on the stream)");
  app.add_option("--token-file", flags.token_file, "File holding the node's bearer token")
      ->required();
  app.add_option("--trusted-keys", flags.trusted_keys,
                 "trusted-keys.json from the control plane's data dir, or a key set "
                 "(`omnirctl keys rotate --out FILE`): then newer key sets are fetched and "
                 "kept beside --lkg")
      ->required();
  app.add_option("--lkg", flags.lkg, "Last-known-good snapshot file (and PATH.state)");
  app.add_option("--listen", flags.listen, "HTTP listen address")->capture_default_str();
  app.add_option("--backoff-max-ms", flags.backoff_max_ms, "Reconnect backoff cap")
      ->capture_default_str();
  app.add_option("--failback-interval-ms", flags.failback_interval_ms,
                 "While streaming from another than the first --controlplane endpoint, probe the "
                 "first about this often (jittered 0.5-1.5x) and move back when it answers (0: "
                 "never)")
      ->capture_default_str();
  app.add_option("--poll-interval-ms", flags.poll_interval_ms,
                 "Pull period while the stream is down")
      ->capture_default_str();
  app.add_option("--staleness-threshold-ms", flags.staleness_threshold_ms,
                 "Reconcile by pull when the snapshot was not confirmed for this long")
      ->capture_default_str();
  app.add_option("--on-expiry", flags.on_expiry,
                 "When the snapshot in force expires without a renewal (the control plane "
                 "stopped re-signing, or updates are withheld): keep_serving routes on with it, "
                 "fail_closed answers /route 503 and /readyz 503 until a fresh one applies; "
                 "either way /readyz says stale and the node pulls")
      ->check(CLI::IsMember({"keep_serving", "fail_closed"}))
      ->capture_default_str();
  app.add_option("--certificate-source", flags.certificate_sources,
                 "Where an identity's certificates come from (repeatable): IDENTITY=channel "
                 "(the snapshot's spec.security.certificates.IDENTITY; the default) or "
                 "IDENTITY=files:CERT,KEY (e.g. mounted by Istio SDS; a channel one is then "
                 "ignored). Never both: an identity given twice is refused");
  app.add_option("--tls-ca", flags.tls.ca_file,
                 "PEM CA of the control plane's certificate: speak TLS (gRPC and https pull)");
  app.add_option("--tls-cert", flags.tls.cert_file,
                 "PEM client certificate, for a control plane that requires mTLS");
  app.add_option("--tls-key", flags.tls.key_file, "PEM private key of --tls-cert");
  app.add_option("--tls-server-name", flags.tls.server_name,
                 "Name to verify in the gRPC server certificate (default: the endpoint host)");
  app.add_option("--tls-server-spiffe-id", flags.tls.server_spiffe_ids,
                 "SPIFFE ID the control plane's certificate must carry (URI SAN), exact or a "
                 "prefix ending in /*; repeatable, any one matching admits. A server without "
                 "it is refused before the token is sent (stream and pull)")
      ->allow_extra_args(false);
  app.add_option("--status-interval-ms", flags.status_interval_ms,
                 "How often the node reports its status and SLO window to the control plane")
      ->capture_default_str();
  app.add_option("--fail-cluster", flags.fail_clusters,
                 "Answer 503 to requests routed to this cluster (repeatable): recorded as errors "
                 "for the rollout gates");
  app.add_option("--synthetic-rps", flags.synthetic_rps,
                 "Send itself this many /route requests per second on loopback (0: none)")
      ->capture_default_str();
  app.add_option("--meshkit", flags.meshkit,
                 "MeshKit endpoints: host:port of a Discovery feed (gRPC Watch), or a JSON "
                 "endpoints file (read again when it changes); /route then names the member to "
                 "send each request to");
  app.add_option("--synthetic-route", flags.synthetic_route,
                 "The route of the synthetic requests (with --synthetic-rps)");
  CLI11_PARSE(app, argc, argv);
  if (flags.synthetic_rps > 0 && flags.synthetic_route.empty()) {
    std::fprintf(stderr, "relay-node: --synthetic-rps needs --synthetic-route\n");
    return 2;
  }
  if (flags.status_interval_ms <= 0) {
    std::fprintf(stderr, "relay-node: --status-interval-ms must be positive\n");
    return 2;
  }
  if (flags.controlplane.empty() && flags.controlplane_http.empty()) {
    std::fprintf(stderr, "relay-node: give --controlplane and/or --controlplane-http\n");
    return 2;
  }
  // Addresses are checked before anything is read, loaded or dialled: a
  // bare port would otherwise fail late (--listen, exit 1) or be retried
  // for ever (an endpoint).
  if (!IsHostPort("--listen", flags.listen, "9080", /*connect=*/false)) return 2;
  for (const auto& [flag, list, port] :
       {std::tuple{"--controlplane", &flags.controlplane, "7443"},
        std::tuple{"--controlplane-http", &flags.controlplane_http, "7080"}}) {
    for (const std::string& endpoint : omnirelay::SplitCommaList(*list)) {
      if (!endpoint.empty() && !IsHostPort(flag, endpoint, port, /*connect=*/true)) return 2;
    }
  }
  return Run(flags);
}

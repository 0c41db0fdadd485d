#include "node_http.h"

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "omnirelay/config/mutex.h"
#include "omnirelay/config/rfc3339.h"
#include "omnirelay/http/server.h"
#include "omnirelay/relay/endpoint_join.h"

namespace omnirelay::relay_node {
namespace {

using Json = nlohmann::json;

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

void ReplyJson(http::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

void ReplyError(http::Response& res, const Status& status) {
  ReplyJson(res, HttpStatusFor(status.code()),
            {{"error", {{"code", status.code_name()}, {"message", status.message()}}}});
}

// `stream` is the watcher's: while its stream is down, what the control
// plane last said when it ended it (e.g. "unauthenticated: token ... was
// revoked", "superseded: instance ... was superseded by ...") is the
// lastError; otherwise the last snapshot the host refused.
// `rollout`: the current snapshot's metadata.rollout, shown when it has one
// (the rollout wave that assigned this node its version).
Json HealthJson(const relay::HealthReport& h, const relay::WatcherStats& stream,
                const std::optional<SnapshotRollout>& rollout) {
  Json out = {{"ready", h.ready},
              {"configVersion", h.config_version},
              {"hash", h.hash},
              {"discoveryGeneration", h.discovery_generation},
              {"stalenessMs", h.staleness_ms}};
  if (rollout) out["rollout"] = {{"id", rollout->id}, {"wave", rollout->wave}};
  // The snapshot in force expired without a renewal (freeze protection).
  if (h.expired) {
    out["stale"] = {{"reason", "expired"},
                    {"expiresAtMs", h.expires_at_ms},
                    {"onExpiry", relay::OnExpiryName(h.on_expiry)}};
  }
  out["controlPlane"] = {{"connected", stream.stream_connected},
                         {"endpoint", stream.grpc_endpoint}};
  // Another process with this node id took over: this one follows no more
  // (no stream, no pull) and serves what it has until restarted.
  if (stream.superseded) out["controlPlane"]["superseded"] = true;
  if (!stream.stream_connected && !stream.last_stream_error.empty()) {
    // Current: the control plane ended the stream and said why.
    const std::string& e = stream.last_stream_error;  // "code: message"
    const auto colon = e.find(": ");
    out["lastError"] = {{"code", colon == std::string::npos ? "unavailable" : e.substr(0, colon)},
                        {"message", colon == std::string::npos ? e : e.substr(colon + 2)}};
  } else if (!stream.problem_code.empty()) {
    // The control plane cannot give this node a snapshot now (render_failed).
    out["lastError"] = {{"code", stream.problem_code}, {"message", stream.problem_message}};
    if (!stream.problem_path.empty()) out["lastError"]["path"] = stream.problem_path;
  } else if (!h.last_error.ok()) {
    out["lastError"] = {{"code", h.last_error.code_name()}, {"message", h.last_error.message()}};
  }
  return out;
}

// What /readyz says of the capabilities failing closed on an expired
// artefact (relay/artefacts.h, rule 2): the node stays ready for routing.
Json FailingClosedJson(const std::vector<relay::CapabilityFailure>& failing) {
  Json out = Json::array();
  for (const relay::CapabilityFailure& f : failing) {
    out.push_back({{"capability", f.capability},
                   {"reason", f.reason},
                   {"artefact", f.artefact},
                   {"notAfter", FormatRfc3339Ms(f.not_after_ms)}});
  }
  return out;
}

// The reason a Check refusal starts with ("artefact_expired: ..."), or its code.
std::string RefusalReason(const Status& status) {
  const std::string& m = status.message();
  const auto colon = m.find(": ");
  return colon == std::string::npos ? std::string(status.code_name()) : m.substr(0, colon);
}

}  // namespace

struct NodeHttp::Impl {
  relay::ConfigHost& host;
  const relay::Router& router;
  MetricsRegistry& metrics;
  std::unique_ptr<http::Server> server;
  Mutex mu;
  CondVar stopped_cv;
  bool stopped GUARDED_BY(mu) = false;

  std::function<relay::WatcherStats()> stream;
  const std::set<std::string, std::less<>> fail_clusters;
  const NodeHttp::Endpoints endpoints;
  const relay::Artefacts* const artefacts;

  Impl(relay::ConfigHost& h, const relay::Router& r, MetricsRegistry& m,
       std::function<relay::WatcherStats()> s, std::vector<std::string> fail, NodeHttp::Endpoints e,
       const relay::Artefacts* a)
      : host(h),
        router(r),
        metrics(m),
        stream(std::move(s)),
        fail_clusters(fail.begin(), fail.end()),
        endpoints(std::move(e)),
        artefacts(a) {}

  void ArtefactRoutes() {
    server->Route("GET", "/capability", [this](const http::Request& req, http::Response& res) {
      const std::string name = req.get_param_value("name");
      const Status checked = artefacts->Check(name);
      if (checked.ok()) return ReplyJson(res, 200, {{"capability", name}, {"ok", true}});
      ReplyJson(res, HttpStatusFor(checked.code()),
                {{"capability", name},
                 {"ok", false},
                 {"error", {{"code", RefusalReason(checked)}, {"message", checked.message()}}}});
    });
    server->Route("GET", "/artefacts", [this](const http::Request&, http::Response& res) {
      const auto set = artefacts->Current();
      if (!set) {
        return ReplyError(res, Status(StatusCode::kUnavailable, "no snapshot yet (not ready)"));
      }
      Json list = Json::array();
      for (const relay::GuardedCapability& c : set->capabilities()) {
        const Status checked = artefacts->Check(c.capability);
        list.push_back({{"capability", c.capability},
                        {"artefact", c.artefact},
                        {"notAfter", FormatRfc3339Ms(c.not_after_ms)},
                        {"state", checked.ok() ? "serving" : RefusalReason(checked)}});
      }
      Json files = Json::array();
      for (const std::string& identity : set->files_identities()) files.push_back(identity);
      ReplyJson(res, 200,
                {{"version", set->version()}, {"artefacts", list}, {"filesIdentities", files}});
    });
  }

  static Json EndpointJson(const meshkit::Endpoint& e) {
    Json out = {{"memberId", e.member_id}, {"address", e.address}, {"port", e.port}};
    if (!e.cell.empty()) out["cell"] = e.cell;
    if (!e.zone.empty()) out["zone"] = e.zone;
    return out;
  }

  // The answer to /route for `snapshot`. True when the caller is to record
  // its outcome against the snapshot's version: not when the answer says
  // nothing of the config (MeshKit has sent no endpoints yet), which would
  // count a slow feed as errors of a good version in the rollout gates.
  bool Route(const relay::AppliedSnapshot& snapshot, const http::Request& req,
             http::Response& res) {
    auto decision =
        router.Route(snapshot, req.get_param_value("route"), req.get_param_value("key"));
    if (!decision.ok()) return ReplyError(res, decision.status()), true;
    Json body = {{"version", snapshot.version()}, {"cluster", std::string(decision->cluster)}};
    std::string_view cluster = decision->cluster;
    std::string_view shadow = decision->shadow_cluster;
    std::size_t failover_index = 0;
    if (endpoints) {
      // Joined with MeshKit's endpoints: the member to send it to, after
      // failover when the chosen cluster has no healthy member.
      const auto set = endpoints();
      if (!set) {
        ReplyError(res, Status(StatusCode::kUnavailable,
                               "no MeshKit endpoints yet (the feed has sent nothing)"));
        return false;
      }
      // No healthy member anywhere in the order is recorded: a version that
      // routes to an empty cluster is what the gates are there to catch.
      auto joined = relay::JoinEndpoints(*decision, *set);
      if (!joined.ok()) return ReplyError(res, joined.status()), true;
      cluster = joined->cluster;
      shadow = joined->shadow_cluster;
      failover_index = joined->failover_index;
      body["cluster"] = std::string(cluster);
      body["endpoint"] = EndpointJson(*joined->endpoint);
      body["failedOver"] = joined->failover_index > 0;
      body["discoveryGeneration"] = set->generation();
      if (joined->shadow != nullptr) body["shadowEndpoint"] = EndpointJson(*joined->shadow);
    }
    if (fail_clusters.contains(cluster)) {
      ReplyError(res, Status(StatusCode::kUnavailable,
                             "cluster " + std::string(cluster) + " is failing (--fail-cluster)"));
      return true;
    }
    // Sent as decided: JoinEndpoints counted its own choice.
    if (!endpoints) relay::CountRouted(*decision, 0, !shadow.empty());
    Json failover = Json::array();
    for (const std::string& c : decision->failover) failover.push_back(c);
    body["shadow"] = shadow.empty() ? Json(nullptr) : Json(std::string(shadow));
    body["failover"] = std::move(failover);
    const std::string& cell = router.Table(snapshot)->cell();
    body["cell"] = cell.empty() ? Json(nullptr) : Json(cell);
    if (const relay::BridgeCrossing* bridge = decision->failover_bridges[failover_index]) {
      body["crossCell"] = {{"bridge", bridge->bridge}, {"cell", bridge->cell}};
    }
    ReplyJson(res, 200, body);
    return true;
  }

  void Routes() {
    server->Route(
        "GET", "/healthz",
        [](const http::Request&, http::Response& res) { res.set_content("ok\n", "text/plain"); },
        {.on_io_thread = true});
    server->Route("GET", "/readyz", [this](const http::Request&, http::Response& res) {
      const relay::HealthReport h = host.health();
      std::optional<SnapshotRollout> rollout;
      if (const auto current = host.Current()) rollout = current->snapshot().metadata.rollout;
      Json body = HealthJson(h, stream ? stream() : relay::WatcherStats{}, rollout);
      if (artefacts != nullptr) {
        if (auto failing = artefacts->FailingClosed(); !failing.empty()) {
          body["failingClosed"] = FailingClosedJson(failing);
        }
      }
      ReplyJson(res, h.ready ? 200 : 503, body);
    });
    server->Route("GET", "/metrics", [this](const http::Request&, http::Response& res) {
      res.set_content(metrics.RenderPrometheus(), "text/plain; version=0.0.4");
    });
    server->Route("GET", "/route", [this](const http::Request& req, http::Response& res) {
      if (!req.has_param("route") || !req.has_param("key")) {
        return ReplyError(res,
                          Status(StatusCode::kInvalidArgument, "usage: /route?route=NAME&key=KEY"));
      }
      const auto started = std::chrono::steady_clock::now();
      const auto& snapshot = host.Current();
      if (!snapshot) {
        // Not recorded: no version served it.
        const relay::HealthReport h = host.health();
        if (h.expired) {
          return ReplyError(res, Status(StatusCode::kUnavailable,
                                        "snapshot version " + std::to_string(h.config_version) +
                                            " expired without a renewal: failing closed "
                                            "(--on-expiry fail_closed)"));
        }
        return ReplyError(res, Status(StatusCode::kUnavailable, "no snapshot yet (not ready)"));
      }
      if (!Route(*snapshot, req, res)) return;
      const std::chrono::duration<double, std::milli> took =
          std::chrono::steady_clock::now() - started;
      host.RecordOutcome(snapshot->version(), res.status >= 500, took.count());
    });
    if (artefacts != nullptr) ArtefactRoutes();
  }
};

NodeHttp::NodeHttp(relay::ConfigHost& host, const relay::Router& router, MetricsRegistry& metrics,
                   std::function<relay::WatcherStats()> stream,
                   std::vector<std::string> fail_clusters, Endpoints endpoints,
                   const relay::Artefacts* artefacts)
    : impl_(std::make_unique<Impl>(host, router, metrics, std::move(stream),
                                   std::move(fail_clusters), std::move(endpoints), artefacts)) {}

NodeHttp::~NodeHttp() {
  Stop();
}

Result<int> NodeHttp::Bind(const std::string& listen) {
  http::ServerOptions o;
  o.listen = listen;
  // The server's own refusals (404, 413, 431, 503) in this node's error shape.
  o.render_error = [](int status, std::string_view code, std::string_view message,
                      http::Response& res) {
    ReplyJson(res, status, {{"error", {{"code", code}, {"message", message}}}});
  };
  impl_->server = std::make_unique<http::Server>(std::move(o));
  impl_->Routes();
  // A port in use: "cannot listen on HOST:PORT: Address already in use".
  OMNI_RETURN_IF_ERROR(impl_->server->Start());
  return impl_->server->port();
}

void NodeHttp::Serve() {
  MutexLock lock(impl_->mu);
  while (!impl_->stopped) impl_->stopped_cv.Wait(impl_->mu);
}

void NodeHttp::Stop() {
  {
    MutexLock lock(impl_->mu);
    impl_->stopped = true;
    impl_->stopped_cv.NotifyAll();
  }
  if (impl_->server) impl_->server->Shutdown();
}

}  // namespace omnirelay::relay_node

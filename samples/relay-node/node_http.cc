#include "node_http.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

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

void ReplyJson(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

void ReplyError(httplib::Response& res, const Status& status) {
  ReplyJson(res, HttpStatusFor(status.code()),
            {{"error", {{"code", status.code_name()}, {"message", status.message()}}}});
}

Json HealthJson(const relay::HealthReport& h) {
  Json out = {{"ready", h.ready},
              {"configVersion", h.config_version},
              {"hash", h.hash},
              {"discoveryGeneration", h.discovery_generation},
              {"stalenessMs", h.staleness_ms}};
  if (!h.last_error.ok()) {
    out["lastError"] = {{"code", h.last_error.code_name()}, {"message", h.last_error.message()}};
  }
  return out;
}

}  // namespace

struct NodeHttp::Impl {
  relay::ConfigHost& host;
  const relay::Router& router;
  MetricsRegistry& metrics;
  httplib::Server server;
  std::atomic<bool> serve_returned{false};

  Impl(relay::ConfigHost& h, const relay::Router& r, MetricsRegistry& m)
      : host(h), router(r), metrics(m) {}

  void Routes() {
    server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    server.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      const relay::HealthReport h = host.health();
      ReplyJson(res, h.ready ? 200 : 503, HealthJson(h));
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.RenderPrometheus(), "text/plain; version=0.0.4");
    });
    server.Get("/route", [this](const httplib::Request& req, httplib::Response& res) {
      if (!req.has_param("route") || !req.has_param("key")) {
        return ReplyError(res,
                          Status(StatusCode::kInvalidArgument, "usage: /route?route=NAME&key=KEY"));
      }
      const auto& snapshot = host.Current();
      if (!snapshot) {
        return ReplyError(res, Status(StatusCode::kUnavailable, "no snapshot yet (not ready)"));
      }
      auto decision =
          router.Route(*snapshot, req.get_param_value("route"), req.get_param_value("key"));
      if (!decision.ok()) return ReplyError(res, decision.status());
      Json failover = Json::array();
      for (const std::string& c : decision->failover) failover.push_back(c);
      Json shadow = decision->shadow_cluster.empty() ? Json(nullptr)
                                                     : Json(std::string(decision->shadow_cluster));
      ReplyJson(res, 200,
                {{"version", snapshot->version()},
                 {"cluster", std::string(decision->cluster)},
                 {"shadow", shadow},
                 {"failover", failover}});
    });
  }
};

NodeHttp::NodeHttp(relay::ConfigHost& host, const relay::Router& router, MetricsRegistry& metrics)
    : impl_(std::make_unique<Impl>(host, router, metrics)) {
  impl_->Routes();
}

NodeHttp::~NodeHttp() = default;

Result<int> NodeHttp::Bind(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return Status(StatusCode::kInvalidArgument, "--listen wants host:port, got " + listen);
  }
  const std::string host = listen.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    return Status(StatusCode::kInvalidArgument, "--listen wants host:port, got " + listen);
  }
  if (port == 0) {
    const int bound = impl_->server.bind_to_any_port(host);
    if (bound <= 0) return Status(StatusCode::kUnavailable, "cannot listen on " + listen);
    return bound;
  }
  if (!impl_->server.bind_to_port(host, port)) {
    return Status(StatusCode::kUnavailable, "cannot listen on " + listen);
  }
  return port;
}

void NodeHttp::Serve() {
  impl_->server.listen_after_bind();
  impl_->serve_returned.store(true);
}

void NodeHttp::Stop() {
  // httplib drops a stop() that comes before its listen loop has started (the
  // loop would then never end): wait for the loop, or for Serve to be over.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!impl_->server.is_running() && !impl_->serve_returned.load() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->server.stop();
}

}  // namespace omnirelay::relay_node

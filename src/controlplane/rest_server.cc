#include <httplib.h>

#include <charconv>
#include <memory>
#include <thread>

#include "api_json.h"
#include "omnirelay/controlplane/auth.h"
#include "omnirelay/controlplane/rest_face.h"

namespace omnirelay::cp {
namespace {

using Json = nlohmann::json;
using httplib::Request;
using httplib::Response;

constexpr const char* kJson = "application/json";

void Reply(Response& res, int code, const Json& body) {
  res.status = code;
  res.set_content(body.dump() + "\n", kJson);
}

void Fail(Response& res, const Status& status) {
  Reply(res, HttpStatusFor(status), ErrorJson(status));
}

Result<std::int64_t> ParseInt(std::string_view text, std::string_view what) {
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return Status(StatusCode::kInvalidArgument,
                  std::string(what) + " \"" + std::string(text) + "\" is not an integer");
  }
  return v;
}

// An ETag-style value: "7" (quotes optional).
Result<std::int64_t> ParseRevisionTag(std::string text) {
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);
  }
  return ParseInt(text, "If-Match revision");
}

bool BoolParam(const Request& req, const char* name) {
  if (!req.has_param(name)) return false;
  const std::string v = req.get_param_value(name);
  return v.empty() || v == "true" || v == "1";
}

class RestFaceImpl final : public RestFace {
 public:
  RestFaceImpl(const RestFaceOptions& options, ControlPlaneService& service,
               const Authenticator& auth, MetricsRegistry& metrics, std::function<bool()> ready)
      : options_(options),
        service_(service),
        auth_(auth),
        metrics_(metrics),
        ready_(std::move(ready)) {}

  ~RestFaceImpl() override { Shutdown(); }

  Status Start() {
    const auto colon = options_.listen.rfind(':');
    if (colon == std::string::npos) {
      return Status(StatusCode::kInvalidArgument,
                    "--http-listen \"" + options_.listen + "\" is not host:port");
    }
    const std::string host = options_.listen.substr(0, colon);
    auto port = ParseInt(std::string_view(options_.listen).substr(colon + 1), "port");
    if (!port.ok()) return port.status();
    if (options_.tls.enabled()) {
      const TlsOptions& tls = options_.tls;
      auto ssl =
          std::make_unique<httplib::SSLServer>(tls.cert_file.c_str(), tls.key_file.c_str(),
                                               tls.mutual() ? tls.client_ca_file.c_str() : nullptr);
      if (!ssl->is_valid()) {
        return Status(StatusCode::kInvalidArgument,
                      "REST: the TLS certificate \"" + tls.cert_file + "\" and key \"" +
                          tls.key_file + "\" do not form a usable pair" +
                          (tls.mutual() ? " (or the client CA is unusable)" : ""));
      }
      server_ = std::move(ssl);
    } else {
      server_ = std::make_unique<httplib::Server>();
    }
    server_->set_payload_max_length(options_.max_body_bytes);
    // httplib's default also sets SO_REUSEPORT, which would let a second
    // daemon share the port silently; "address in use" must be an error.
    server_->set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    Routes();
    if (*port == 0) {
      port_ = server_->bind_to_any_port(host);
    } else {
      port_ = server_->bind_to_port(host, static_cast<int>(*port)) ? static_cast<int>(*port) : -1;
    }
    if (port_ < 0) {
      return Status(StatusCode::kUnavailable,
                    "cannot listen on " + options_.listen + " (address in use or not local?)");
    }
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // httplib's stop() is lost if it runs before the listener loop has begun
    // (the loop would then never end), and httplib offers nothing to wait on
    // but is_running(): wait for it, briefly, so Shutdown() is always safe.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!server_->is_running()) {
      if (std::chrono::steady_clock::now() > deadline) {
        return Status(StatusCode::kUnavailable, "REST listener did not start");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return Status::Ok();
  }

  int port() const override { return port_; }

  void Shutdown() override {
    if (stopped_.exchange(true)) return;
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  // Authenticates the request; on failure replies 401 and audits the refusal.
  std::optional<Principal> Authenticate(const Request& req, Response& res,
                                        std::string_view action) {
    auto principal = auth_.Authenticate(BearerToken(req.get_header_value("Authorization")));
    if (!principal.ok()) {
      service_.AuditRefusal("", action, "", principal.status());
      res.set_header("WWW-Authenticate", "Bearer");
      Fail(res, principal.status());
      return std::nullopt;
    }
    return std::move(principal).value();
  }

  template <typename Fn>
  void Handle(const char* pattern, const char* method, std::string_view action, Fn fn) {
    auto handler = [this, action, fn](const Request& req, Response& res) {
      auto who = Authenticate(req, res, action);
      if (!who) return;
      fn(*who, req, res);
    };
    if (std::string_view(method) == "GET")
      server_->Get(pattern, handler);
    else if (std::string_view(method) == "PUT")
      server_->Put(pattern, handler);
    else if (std::string_view(method) == "POST")
      server_->Post(pattern, handler);
    else if (std::string_view(method) == "DELETE")
      server_->Delete(pattern, handler);
  }

  void Routes() {
    Counter& requests =
        metrics_.counter("omnirelay_cp_http_requests_total", "REST requests served");
    Counter& errors = metrics_.counter("omnirelay_cp_http_errors_total",
                                       "REST requests answered with a 4xx or 5xx");
    server_->set_logger([&requests, &errors](const Request&, const Response& res) {
      requests.Inc();
      if (res.status >= 400) errors.Inc();
    });
    server_->set_error_handler([](const Request&, Response& res) {
      if (!res.body.empty()) return;
      const Status s(res.status == 404   ? StatusCode::kNotFound
                     : res.status == 413 ? StatusCode::kTooLarge
                                         : StatusCode::kInvalidArgument,
                     res.status == 404 ? "no such route" : "request refused");
      res.set_content(ErrorJson(s).dump() + "\n", kJson);
    });

    server_->Get("/healthz", [](const Request&, Response& res) {
      Reply(res, 200, {{"status", "ok"}});
    });
    server_->Get("/readyz", [this](const Request&, Response& res) {
      const bool ok = ready_();
      Reply(res, ok ? 200 : 503, {{"status", ok ? "ready" : "not ready"}});
    });
    server_->Get("/metrics", [this](const Request&, Response& res) {
      res.set_content(metrics_.RenderPrometheus(), "text/plain; version=0.0.4");
    });

    Handle("/v1/layers", "GET", "layer.list",
           [this](const Principal& who, const Request&, Response& res) {
             auto list = service_.ListLayers(who);
             if (!list.ok()) return Fail(res, list.status());
             Json out = Json::array();
             for (const auto& s : *list) out.push_back(ToJson(s));
             Reply(res, 200, {{"layers", out}});
           });
    Handle(R"(/v1/layers/([^/]+)/history)", "GET", "layer.history",
           [this](const Principal& who, const Request& req, Response& res) {
             auto history = service_.History(who, req.matches[1]);
             if (!history.ok()) return Fail(res, history.status());
             Json out = Json::array();
             for (const auto& r : *history) out.push_back(ToJson(r));
             Reply(res, 200, {{"scope", std::string(req.matches[1])}, {"revisions", out}});
           });
    Handle(R"(/v1/layers/([^/]+))", "GET", "layer.get",
           [this](const Principal& who, const Request& req, Response& res) {
             std::optional<std::int64_t> revision;
             if (req.has_param("revision")) {
               auto r = ParseInt(req.get_param_value("revision"), "revision");
               if (!r.ok()) return Fail(res, r.status());
               revision = *r;
             }
             auto layer = service_.GetLayer(who, req.matches[1], revision);
             if (!layer.ok()) return Fail(res, layer.status());
             res.set_header("ETag", "\"" + std::to_string(layer->revision) + "\"");
             Reply(res, 200, ToJson(*layer));
           });
    Handle(R"(/v1/layers/([^/]+))", "PUT", "layer.put",
           [this](const Principal& who, const Request& req, Response& res) {
             Write(who, req, res, std::optional<std::string>(req.body));
           });
    Handle(R"(/v1/layers/([^/]+))", "DELETE", "layer.delete",
           [this](const Principal& who, const Request& req, Response& res) {
             Write(who, req, res, std::nullopt);
           });
    Handle("/v1/validate", "POST", "validate",
           [this](const Principal& who, const Request& req, Response& res) {
             auto diags = service_.Validate(who, req.body);
             if (!diags.ok()) return Fail(res, diags.status());
             Reply(res, 200, {{"valid", diags->empty()}, {"errors", ToJson(*diags)}});
           });
    Handle("/v1/effective", "GET", "effective",
           [this](const Principal& who, const Request& req, Response& res) {
             if (!req.has_param("chain")) {
               return Fail(res, Status(StatusCode::kInvalidArgument,
                                       "pass the scope chain: ?chain=global,region:...,node:..."));
             }
             auto e = service_.Effective(who, req.get_param_value("chain"));
             if (!e.ok()) return Fail(res, e.status());
             Reply(res, 200, ToJson(*e));
           });
    Handle("/v1/nodes", "GET", "node.list",
           [this](const Principal& who, const Request& req, Response& res) {
             auto nodes = service_.ListNodes(who);
             if (!nodes.ok()) return Fail(res, nodes.status());
             const bool drift_only = BoolParam(req, "drift");
             Json out = Json::array();
             for (const auto& n : *nodes) {
               if (!drift_only || n.applied_version != n.assigned_version) out.push_back(ToJson(n));
             }
             Reply(res, 200, {{"nodes", out}});
           });
    Handle(R"(/v1/nodes/([^/]+)/snapshot)", "GET", "node.snapshot",
           [this](const Principal& who, const Request& req, Response& res) {
             auto snap = service_.NodeSnapshot(
                 who, req.matches[1], req.has_param("chain") ? req.get_param_value("chain") : "");
             if (!snap.ok()) return Fail(res, snap.status());
             const std::string etag = "\"" + (*snap)->hash + "\"";
             res.set_header("ETag", etag);
             res.set_header("X-Omnirelay-Version", std::to_string((*snap)->version));
             if (req.get_header_value("If-None-Match") == etag) {
               res.status = 304;
               return;
             }
             res.status = 200;
             res.set_content((*snap)->envelope, kJson);
           });
    Handle(R"(/v1/nodes/([^/]+))", "GET", "node.get",
           [this](const Principal& who, const Request& req, Response& res) {
             auto node = service_.GetNode(who, req.matches[1]);
             if (!node.ok()) return Fail(res, node.status());
             Reply(res, 200, ToJson(*node));
           });
    Handle(R"(/v1/snapshots/([^/]+))", "GET", "snapshot.fetch",
           [this](const Principal& who, const Request& req, Response& res) {
             auto snap = service_.SnapshotByHash(who, req.matches[1]);
             if (!snap.ok()) return Fail(res, snap.status());
             res.set_header("ETag", "\"" + (*snap)->hash + "\"");
             res.set_content((*snap)->envelope, kJson);
           });
    Handle("/v1/keys", "GET", "keys.get",
           [this](const Principal& who, const Request&, Response& res) {
             auto keys = service_.TrustedKeys(who);
             if (!keys.ok()) return Fail(res, keys.status());
             res.set_content(*keys, kJson);
           });
    Handle("/v1/status", "GET", "status",
           [this](const Principal& who, const Request&, Response& res) {
             auto status = service_.GetStatus(who);
             if (!status.ok()) return Fail(res, status.status());
             Reply(res, 200, ToJson(*status));
           });
    Handle(
        "/v1/audit", "GET", "audit.query",
        [this](const Principal& who, const Request& req, Response& res) { Audit(who, req, res); });
    Handle("/v1/tokens", "POST", "token.create",
           [this](const Principal& who, const Request& req, Response& res) {
             const Json body = Json::parse(req.body, nullptr, false);
             if (body.is_discarded() || !body.is_object() || !body.contains("name") ||
                 !body["name"].is_string() || !body.contains("scopes") ||
                 !body["scopes"].is_array()) {
               return Fail(res, Status(StatusCode::kInvalidArgument,
                                       "body must be {\"name\": \"...\", \"scopes\": [...], "
                                       "\"ttlSeconds\": N (optional)}"));
             }
             std::vector<std::string> scopes;
             for (const auto& s : body["scopes"]) {
               if (!s.is_string())
                 return Fail(res, Status(StatusCode::kInvalidArgument, "scopes are strings"));
               scopes.push_back(s.get<std::string>());
             }
             const std::int64_t ttl = body.value("ttlSeconds", std::int64_t{0});
             auto issued = service_.CreateToken(who, body["name"].get<std::string>(), scopes, ttl);
             if (!issued.ok()) return Fail(res, issued.status());
             Reply(res, 201, ToJson(*issued));
           });
    Handle("/v1/tokens", "GET", "token.list",
           [this](const Principal& who, const Request&, Response& res) {
             auto tokens = service_.ListTokens(who);
             if (!tokens.ok()) return Fail(res, tokens.status());
             Json out = Json::array();
             for (const auto& t : *tokens) out.push_back(ToJson(t));
             Reply(res, 200, {{"tokens", out}});
           });
    Handle(R"(/v1/tokens/([^/]+))", "DELETE", "token.revoke",
           [this](const Principal& who, const Request& req, Response& res) {
             Status s = service_.RevokeToken(who, req.matches[1]);
             if (!s.ok()) return Fail(res, s);
             Reply(res, 200, {{"id", std::string(req.matches[1])}, {"revoked", true}});
           });
    auto no_rollouts = [](const Principal&, const Request&, Response& res) {
      Fail(res, Status(StatusCode::kUnimplemented,
                       "rollouts are not available in this build of the control plane"));
    };
    Handle("/v1/rollouts", "GET", "rollout.list", no_rollouts);
    Handle("/v1/rollouts", "POST", "rollout.start", no_rollouts);
    Handle(R"(/v1/rollouts/(.+))", "GET", "rollout.get", no_rollouts);
    Handle(R"(/v1/rollouts/(.+))", "POST", "rollout.action", no_rollouts);
  }

  void Write(const Principal& who, const Request& req, Response& res,
             const std::optional<std::string>& document) {
    std::optional<std::int64_t> expected;
    if (req.has_header("If-Match")) {
      auto r = ParseRevisionTag(req.get_header_value("If-Match"));
      if (!r.ok()) return Fail(res, r.status());
      expected = *r;
    }
    const bool dry_run = BoolParam(req, "dryRun");
    const bool confirm = BoolParam(req, "confirm");
    auto outcome =
        document ? service_.PutLayer(who, req.matches[1], *document, expected, dry_run, confirm)
                 : service_.DeleteLayer(who, req.matches[1], expected, dry_run, confirm);
    if (!outcome.ok()) return Fail(res, outcome.status());
    if (!dry_run) res.set_header("ETag", "\"" + std::to_string(outcome->revision) + "\"");
    Reply(res, 200, ToJson(*outcome));
  }

  void Audit(const Principal& who, const Request& req, Response& res) {
    std::int64_t since_ms = 0;
    if (req.has_param("since")) {
      auto d = ParseDurationMs(req.get_param_value("since"));
      if (!d.ok()) return Fail(res, d.status());
      since_ms = SystemClock::Instance().NowUnixMs() - *d;
    }
    auto first = service_.Audit(who, since_ms, 0);
    if (!first.ok()) return Fail(res, first.status());
    if (!BoolParam(req, "follow")) {
      Json out = Json::array();
      for (const auto& e : *first) out.push_back(ToJson(e));
      return Reply(res, 200, {{"entries", out}});
    }
    // Follow: newline-delimited JSON, one entry per line, until the client
    // goes away or max_follow_seconds pass.
    auto pending = std::make_shared<std::vector<AuditEntry>>(std::move(first).value());
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(options_.max_follow_seconds);
    res.set_chunked_content_provider(
        "application/x-ndjson", [this, who, since_ms, pending, deadline, last_id = std::int64_t{0}](
                                    std::size_t, httplib::DataSink& sink) mutable {
          for (const auto& e : *pending) {
            const std::string line = ToJson(e).dump() + "\n";
            if (!sink.write(line.data(), line.size())) return false;
            last_id = std::max(last_id, e.id);
          }
          pending->clear();
          if (stopped_ || std::chrono::steady_clock::now() > deadline) {
            sink.done();
            return true;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(250));  // poll interval
          auto next = service_.Audit(who, since_ms, last_id, /*follow_up=*/true);
          if (!next.ok()) {
            sink.done();
            return true;
          }
          *pending = std::move(next).value();
          return true;
        });
  }

  RestFaceOptions options_;
  ControlPlaneService& service_;
  const Authenticator& auth_;
  MetricsRegistry& metrics_;
  std::function<bool()> ready_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = -1;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<RestFace>> StartRestFace(const RestFaceOptions& options,
                                                ControlPlaneService& service,
                                                const Authenticator& auth, MetricsRegistry& metrics,
                                                std::function<bool()> ready) {
  auto face = std::make_unique<RestFaceImpl>(options, service, auth, metrics, std::move(ready));
  OMNI_RETURN_IF_ERROR(face->Start());
  return std::unique_ptr<RestFace>(std::move(face));
}

}  // namespace omnirelay::cp

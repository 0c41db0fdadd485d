#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <memory>

#include "api_json.h"
#include "omnirelay/controlplane/auth.h"
#include "omnirelay/controlplane/rest_face.h"
#include "omnirelay/http/server.h"
#include "rollout_api_json.h"
#include "rollout_engine.h"

namespace omnirelay::cp {
namespace {

using Json = nlohmann::json;
using http::Request;
using http::Response;

constexpr const char* kJson = "application/json";

void Reply(Response& res, int code, const Json& body) {
  res.status = code;
  res.set_content(body.dump() + "\n", kJson);
}

// A body already dumped (as RolloutApiJson gives it): not parsed to be dumped again.
void ReplyText(Response& res, int code, std::string body) {
  res.status = code;
  body += '\n';
  res.set_content(std::move(body), kJson);
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

// A write's CAS revision: If-Match, absent = any.
Result<std::optional<std::int64_t>> IfMatchRevision(const Request& req) {
  if (!req.has_header("If-Match")) return std::optional<std::int64_t>();
  OMNI_ASSIGN_OR_RETURN(std::int64_t revision, ParseRevisionTag(req.get_header_value("If-Match")));
  return std::optional<std::int64_t>(revision);
}

bool BoolParam(const Request& req, const char* name) {
  if (!req.has_param(name)) return false;
  const std::string v = req.get_param_value(name);
  return v.empty() || v == "true" || v == "1";
}

http::TlsConfig PemOf(const TlsMaterial& tls) {
  return http::TlsConfig{tls.cert_pem, tls.key_pem, tls.client_ca_pem};
}

constexpr std::chrono::milliseconds kFollowPollInterval{250};

// The body of GET /v1/audit?follow=true: the entries found so far, then
// whatever is new at each poll (on the server's worker pool), until the
// deadline.
class AuditFollow final : public http::BodyStream {
 public:
  AuditFollow(ControlPlaneService& service, Principal who, std::int64_t since_ms,
              AuditFilter filter, std::vector<AuditEntry> first,
              std::chrono::steady_clock::time_point deadline)
      : service_(service),
        who_(std::move(who)),
        since_ms_(since_ms),
        filter_(std::move(filter)),
        first_(std::move(first)),
        deadline_(deadline) {}

  Chunk Next() override {
    Chunk chunk;
    if (!started_) {
      started_ = true;
      Append(first_, chunk);
      first_.clear();
      return chunk;
    }
    if (std::chrono::steady_clock::now() > deadline_) {
      chunk.done = true;
      return chunk;
    }
    auto next = service_.Audit(who_, since_ms_, last_id_, filter_, /*follow_up=*/true);
    if (!next.ok()) {
      chunk.done = true;
      return chunk;
    }
    Append(*next, chunk);
    return chunk;
  }

 private:
  void Append(const std::vector<AuditEntry>& entries, Chunk& chunk) {
    for (const auto& e : entries) {
      chunk.data += ToJson(e).dump() + "\n";
      last_id_ = std::max(last_id_, e.id);
    }
  }

  ControlPlaneService& service_;
  const Principal who_;
  const std::int64_t since_ms_;
  const AuditFilter filter_;
  std::vector<AuditEntry> first_;
  const std::chrono::steady_clock::time_point deadline_;
  std::int64_t last_id_ = 0;
  bool started_ = false;
};

class RestFaceImpl final : public RestFace {
 public:
  RestFaceImpl(const RestFaceOptions& options, ControlPlaneService& service,
               const Authenticator& auth, MetricsRegistry& metrics, std::function<Status()> ready)
      : options_(options),
        service_(service),
        auth_(auth),
        metrics_(metrics),
        ready_(std::move(ready)) {}

  ~RestFaceImpl() override { Shutdown(); }

  Status Start() {
    http::ServerOptions o;
    o.listen = options_.listen;
    o.limits = options_.limits;
    o.io_threads = options_.io_threads;
    o.worker_threads = options_.worker_threads;
    o.tls = PemOf(options_.tls);
    if (options_.tls.client_ids.enabled()) {
      Counter& refused = metrics_.counter(
          "omnirelay_cp_peer_refusals_total",
          "Calls (gRPC) or connections (REST) refused: the client certificate's SPIFFE ID "
          "matches no --tls-client-spiffe-id",
          "face=\"rest\"");
      o.check_peer = [policy = options_.tls.client_ids, &refused](std::string_view der) {
        const Status verdict = policy.CheckCertificateDer(der);
        if (verdict.ok()) return std::string();
        refused.Inc();
        spdlog::warn("REST: connection refused: {}", verdict.message());
        return verdict.message();
      };
    }
    o.render_error = [](int, std::string_view code, std::string_view message, Response& res) {
      const StatusCode c = code == "not_found"           ? StatusCode::kNotFound
                           : code == "too_large"         ? StatusCode::kTooLarge
                           : code == "unavailable"       ? StatusCode::kUnavailable
                           : code == "permission_denied" ? StatusCode::kPermissionDenied
                                                         : StatusCode::kInvalidArgument;
      res.set_content(ErrorJson(Status(c, std::string(message))).dump() + "\n", kJson);
    };
    Counter& requests =
        metrics_.counter("omnirelay_cp_http_requests_total", "REST requests served");
    Counter& errors = metrics_.counter("omnirelay_cp_http_errors_total",
                                       "REST requests answered with a 4xx or 5xx");
    o.on_response = [&requests, &errors](const Request&, int status) {
      requests.Inc();
      if (status >= 400) errors.Inc();
    };
    o.connections_open =
        &metrics_.gauge("omnirelay_cp_http_connections_open", "REST connections open now");
    o.connections_refused =
        &metrics_.counter("omnirelay_cp_http_connections_refused_total",
                          "REST connections answered 503 and closed at the connection limit");
    o.connections_timed_out =
        &metrics_.counter("omnirelay_cp_http_connections_timed_out_total",
                          "REST connections closed by the header, body or idle timeout");
    server_ = std::make_unique<http::Server>(std::move(o));
    Routes();
    // A port in use: kUnavailable "cannot listen on HOST:PORT: Address already in use".
    Status started = server_->Start();
    if (!started.ok()) return Status(started.code(), "REST: " + started.message());
    port_ = server_->port();
    return Status::Ok();
  }

  int port() const override { return port_; }

  Status UseTls(const TlsMaterial& tls) override {
    if (!options_.tls.files.enabled()) {
      return Status(StatusCode::kInvalidArgument, "REST: no TLS configured to reload");
    }
    return server_->ReloadTls(PemOf(tls));
  }

  void Shutdown() override {
    if (stopped_.exchange(true)) return;
    if (server_) server_->Shutdown();
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
    server_->Route(method, pattern, handler);
  }

  void Routes() {
    // On the I/O thread: the liveness probe never waits behind a slow handler.
    server_->Route("GET", "/healthz",
                   [](const Request&, Response& res) {
                     Reply(res, 200, {{"status", "ok"}});
                   },
                   {.on_io_thread = true});
    server_->Route("GET", "/readyz", [this](const Request&, Response& res) {
      const Status ready = ready_();
      if (ready.ok()) {
        Reply(res, 200, {{"status", "ready"}});
      } else {
        Reply(res, 503, {{"status", "not ready"}, {"reason", ready.ToString()}});
      }
    });
    server_->Route("GET", "/metrics", [this](const Request&, Response& res) {
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
             HistoryQuery query;
             for (auto [name, field] :
                  {std::pair{"before", &query.before}, std::pair{"limit", &query.limit}}) {
               if (!req.has_param(name)) continue;
               auto value = ParseInt(req.get_param_value(name), name);
               if (!value.ok()) return Fail(res, value.status());
               *field = *value;
             }
             auto page = service_.History(who, req.matches[1], query);
             if (!page.ok()) return Fail(res, page.status());
             Reply(res, 200, ToJson(*page));
           });
    Handle(R"(/v1/layers/([^/]+)/context)", "GET", "layer.context",
           [this](const Principal& who, const Request& req, Response& res) {
             auto context = service_.GetLayerContext(who, req.matches[1]);
             if (!context.ok()) return Fail(res, context.status());
             Reply(res, 200, ToJson(*context));
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
    Handle(
        R"(/v1/layers/([^/]+)/revert)", "POST", "layer.revert",
        [this](const Principal& who, const Request& req, Response& res) { Revert(who, req, res); });
    Handle("/v1/freeze", "GET", "freeze.get",
           [this](const Principal& who, const Request&, Response& res) {
             auto freeze = service_.GetFreeze(who);
             if (!freeze.ok()) return Fail(res, freeze.status());
             Reply(res, 200, ToJson(*freeze));
           });
    Handle("/v1/freeze", "PUT", "freeze.set",
           [this](const Principal& who, const Request& req, Response& res) {
             auto body = api::ParseSetFreezeRequest(req.body);
             if (!body.ok()) return Fail(res, body.status());
             auto freeze = service_.SetFreeze(who, body->frozen, body->reason);
             if (!freeze.ok()) return Fail(res, freeze.status());
             Reply(res, 200, ToJson(*freeze));
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
             const std::string state = req.get_param_value("state");
             if (!state.empty() &&
                 std::find(std::begin(api::kNodeStates), std::end(api::kNodeStates), state) ==
                     std::end(api::kNodeStates)) {
               std::string known;
               for (const char* s : api::kNodeStates)
                 known += (known.empty() ? "" : ", ") + std::string(s);
               return Fail(res, Status(StatusCode::kInvalidArgument,
                                       "unknown node state \"" + state + "\": one of " + known));
             }
             Json out = Json::array();
             for (const auto& n : *nodes) {
               if (drift_only && !n.drift()) continue;
               if (!state.empty() && n.state != state) continue;
               out.push_back(api::ToJson(n));
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
             Reply(res, 200, api::ToJson(*node));
           });
    Handle(R"(/v1/nodes/([^/]+))", "DELETE", "node.forget",
           [this](const Principal& who, const Request& req, Response& res) {
             const std::string id = req.matches[1];
             if (Status s = service_.ForgetNode(who, id); !s.ok()) return Fail(res, s);
             Reply(res, 200, {{"nodeId", id}, {"forgotten", true}});
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
    // Key rotation: the chain of key sets (strings: each envelope's exact bytes).
    Handle("/v1/keysets", "GET", "keysets.get",
           [this](const Principal& who, const Request& req, Response& res) {
             std::int64_t after = 0;
             if (req.has_param("after")) {
               auto parsed = ParseInt(req.get_param_value("after"), "after");
               if (!parsed.ok()) return Fail(res, parsed.status());
               after = *parsed;
             }
             auto chain = service_.KeySets(who, after);
             if (!chain.ok()) return Fail(res, chain.status());
             Json sets = Json::array();
             for (const auto& [version, envelope] : chain->key_sets) {
               sets.push_back({{"version", version}, {"envelope", envelope}});
             }
             Reply(res, 200, {{"latestVersion", chain->latest_version}, {"keySets", sets}});
           });
    Handle("/v1/keysets", "POST", "keyset.publish",
           [this](const Principal& who, const Request& req, Response& res) {
             auto version = service_.PublishKeySet(who, req.body);
             if (!version.ok()) return Fail(res, version.status());
             Reply(res, 201, {{"version", *version}});
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
    Handle("/v1/audit/verify", "GET", "audit.verify",
           [this](const Principal& who, const Request&, Response& res) {
             auto report = service_.VerifyAudit(who);
             if (!report.ok()) return Fail(res, report.status());
             Reply(res, 200, ToJson(*report));
           });
    Handle("/v1/tokens", "POST", "token.create",
           [this](const Principal& who, const Request& req, Response& res) {
             auto body = api::ParseCreateTokenRequest(req.body);
             if (!body.ok()) return Fail(res, body.status());
             auto issued = service_.CreateToken(who, body->name, body->scopes, body->ttl_seconds);
             if (!issued.ok()) return Fail(res, issued.status());
             Reply(res, 201, ToJson(*issued));
           });
    // An OIDC ID token as the bearer, exchanged for a short-lived token.
    Handle("/v1/login", "POST", "token.login",
           [this](const Principal& who, const Request& req, Response& res) {
             auto ttl = api::ParseLoginRequest(req.body);
             if (!ttl.ok()) return Fail(res, ttl.status());
             auto issued = service_.Login(who, *ttl);
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
             const bool dry_run = BoolParam(req, "dryRun");
             auto revoked = service_.RevokeToken(who, req.matches[1], dry_run);
             if (!revoked.ok()) return Fail(res, revoked.status());
             Json out = ToJson(*revoked);
             if (dry_run) out["dryRun"] = true;
             Reply(res, 200, out);
           });
    Handle("/v1/rollouts", "GET", "rollout.list",
           [this](const Principal& who, const Request&, Response& res) {
             auto runs = service_.ListRollouts(who);
             if (!runs.ok()) return Fail(res, runs.status());
             std::string out = "{\"rollouts\":[";
             for (const auto& run : *runs) {
               if (out.back() != '[') out += ',';
               out += RolloutApiJson(run);
             }
             ReplyText(res, 200, out + "]}");
           });
    Handle("/v1/rollouts", "POST", "rollout.start",
           [this](const Principal& who, const Request& req, Response& res) {
             auto request = ParseRolloutStartBody(req.body);
             if (!request.ok()) return Fail(res, request.status());
             request->dry_run = BoolParam(req, "dryRun");
             request->confirm = BoolParam(req, "confirm");
             request->allow_large_change = BoolParam(req, "allowLargeChange");
             auto run = service_.StartRollout(who, *request);
             if (!run.ok()) return Fail(res, run.status());
             if (!request->dry_run) return ReplyText(res, 201, RolloutApiJson(*run));
             Json out = Json::parse(RolloutApiJson(*run));
             out["dryRun"] = true;
             Reply(res, 200, out);
           });
    Handle(R"(/v1/rollouts/([^/:]+))", "GET", "rollout.get",
           [this](const Principal& who, const Request& req, Response& res) {
             auto run = service_.GetRollout(who, req.matches[1]);
             if (!run.ok()) return Fail(res, run.status());
             ReplyText(res, 200, RolloutApiJson(*run));
           });
    // POST /v1/rollouts/{id}:{promote|pause|resume|rollback|abort}
    Handle(R"(/v1/rollouts/([^/:]+):([a-z]+))", "POST", "rollout.action",
           [this](const Principal& who, const Request& req, Response& res) {
             auto action = ParseRolloutAction(req.matches[2]);
             if (!action) {
               return Fail(res, Status(StatusCode::kNotFound,
                                       "no rollout action \"" + std::string(req.matches[2]) +
                                           "\" (promote, pause, resume, rollback, abort)"));
             }
             std::string reason;
             if (!req.body.empty()) {
               const Json body = Json::parse(req.body, nullptr, false);
               if (body.is_object() && body.contains("reason") && body["reason"].is_string()) {
                 reason = body["reason"].get<std::string>();
               }
             }
             auto run = service_.ActOnRollout(who, req.matches[1], *action, reason);
             if (!run.ok()) return Fail(res, run.status());
             ReplyText(res, 200, RolloutApiJson(*run));
           });
  }

  void Write(const Principal& who, const Request& req, Response& res,
             const std::optional<std::string>& document) {
    auto expected = IfMatchRevision(req);
    if (!expected.ok()) return Fail(res, expected.status());
    const bool dry_run = BoolParam(req, "dryRun");
    const bool confirm = BoolParam(req, "confirm");
    const bool allow_unknown_node = BoolParam(req, "allowUnknownNode");
    const bool force = BoolParam(req, "force");
    const bool allow_large_change = BoolParam(req, "allowLargeChange");
    auto outcome = document
                       ? service_.PutLayer(who, req.matches[1], *document, *expected, dry_run,
                                           confirm, allow_unknown_node, force, allow_large_change)
                       : service_.DeleteLayer(who, req.matches[1], *expected, dry_run, confirm,
                                              force, allow_large_change);
    if (!outcome.ok()) return Fail(res, outcome.status());
    if (!dry_run) res.set_header("ETag", "\"" + std::to_string(outcome->revision) + "\"");
    Reply(res, 200, ToJson(*outcome));
  }

  // POST /v1/layers/{scope}/revert {"toRevision", "reason"?}: the write's
  // If-Match and ?dryRun / ?confirm, and its result.
  void Revert(const Principal& who, const Request& req, Response& res) {
    auto expected = IfMatchRevision(req);
    if (!expected.ok()) return Fail(res, expected.status());
    auto body = api::ParseRevertRequest(req.body);
    if (!body.ok()) return Fail(res, body.status());
    const bool dry_run = BoolParam(req, "dryRun");
    auto outcome = service_.RevertLayer(who, req.matches[1], body->to_revision, body->reason,
                                        *expected, dry_run, BoolParam(req, "confirm"));
    if (!outcome.ok()) return Fail(res, outcome.status());
    if (!dry_run) res.set_header("ETag", "\"" + std::to_string(outcome->revision) + "\"");
    Reply(res, 200, ToJson(*outcome));
  }

  void Audit(const Principal& who, const Request& req, Response& res) {
    // Without `since`, a query answers the whole log and a follow starts
    // now: what happens from here on, as `omnirctl audit tail --follow`.
    const bool follow = BoolParam(req, "follow");
    const std::int64_t now_ms = SystemClock::Instance().NowUnixMs();
    std::int64_t since_ms = follow ? now_ms : 0;
    if (req.has_param("since")) {
      auto d = ParseDurationMs(req.get_param_value("since"));
      if (!d.ok()) return Fail(res, d.status());
      since_ms = now_ms - *d;
    }
    AuditFilter filter;
    if (req.has_param("scope")) filter.scope = req.get_param_value("scope");
    if (req.has_param("principal")) filter.principal = req.get_param_value("principal");
    if (req.has_param("action")) filter.action = req.get_param_value("action");
    filter.writes_only = BoolParam(req, "writesOnly");
    auto first = service_.Audit(who, since_ms, 0, filter);
    if (!first.ok()) return Fail(res, first.status());
    if (!follow) {
      Json out = Json::array();
      for (const auto& e : *first) out.push_back(ToJson(e));
      return Reply(res, 200, {{"entries", out}});
    }
    // Follow: newline-delimited JSON, one entry per line, until the client
    // goes away, max_follow_seconds pass or the server shuts down; polled
    // from a timer, so a follower holds no thread while it waits.
    res.set_stream(
        std::make_unique<AuditFollow>(
            service_, who, since_ms, filter, std::move(first).value(),
            std::chrono::steady_clock::now() + std::chrono::seconds(options_.max_follow_seconds)),
        "application/x-ndjson", kFollowPollInterval);
  }

  RestFaceOptions options_;
  ControlPlaneService& service_;
  const Authenticator& auth_;
  MetricsRegistry& metrics_;
  std::function<Status()> ready_;
  std::unique_ptr<http::Server> server_;
  int port_ = -1;
  std::atomic<bool> stopped_{false};
};

}  // namespace

Result<std::unique_ptr<RestFace>> StartRestFace(const RestFaceOptions& options,
                                                ControlPlaneService& service,
                                                const Authenticator& auth, MetricsRegistry& metrics,
                                                std::function<Status()> ready) {
  auto face = std::make_unique<RestFaceImpl>(options, service, auth, metrics, std::move(ready));
  OMNI_RETURN_IF_ERROR(face->Start());
  return std::unique_ptr<RestFace>(std::move(face));
}

Result<std::unique_ptr<RestFace>> StartRestFace(const RestFaceOptions& options,
                                                ControlPlaneService& service,
                                                const Authenticator& auth, MetricsRegistry& metrics,
                                                std::function<bool()> ready) {
  return StartRestFace(
      options, service, auth, metrics, std::function<Status()>([ready = std::move(ready)] {
        return ready() ? Status::Ok() : Status(StatusCode::kUnavailable, "not ready");
      }));
}

}  // namespace omnirelay::cp

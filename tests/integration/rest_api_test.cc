// The API cases (api_cases.cc) through the REST face, plus the REST-only
// behaviours: ETags, If-None-Match, health endpoints, error bodies.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "api_cases.h"
#include "http/raw_client.h"
#include "omnirelay/controlplane/rest_face.h"

namespace omnirelay::cp::testing {
namespace {

using Json = nlohmann::json;

StatusCode FromHttp(int http, const std::string& code) {
  switch (http) {
    case 200:
    case 201:
    case 304:
      return StatusCode::kOk;
    case 400:
      return code == "invalid_argument" ? StatusCode::kInvalidArgument : StatusCode::kInvalid;
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 409:
      return code == "missing_feature"       ? StatusCode::kMissingFeature
             : code == "frozen"              ? StatusCode::kFrozen
             : code == "rollout_in_progress" ? StatusCode::kRolloutInProgress
                                             : StatusCode::kConflict;
    case 413:
      return StatusCode::kTooLarge;
    case 501:
      return StatusCode::kUnimplemented;
    case 503:
      return StatusCode::kUnavailable;
    default:
      return StatusCode::kInternal;
  }
}

class RestClient final : public ApiClient {
 public:
  explicit RestClient(int port) : http_("127.0.0.1", port) { http_.set_read_timeout(30, 0); }

  Reply Do(const Call& c, const std::string& token) override {
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    if (c.expected_revision &&
        (c.op == Op::kPutLayer || c.op == Op::kDeleteLayer || c.op == Op::kRevertLayer)) {
      headers.emplace("If-Match", "\"" + std::to_string(*c.expected_revision) + "\"");
    }
    std::string flags;
    if (c.dry_run) flags += "dryRun=true&";
    if (c.confirm) flags += "confirm=true&";
    for (const auto& [name, value] : c.params) flags += name + "=" + value + "&";
    const std::string layer = "/v1/layers/" + c.scope;
    httplib::Result res = Send(c, headers, flags, layer);
    Reply r;
    if (!res) {
      r.code = StatusCode::kUnavailable;
      return r;
    }
    r.body = Json::parse(res->body, nullptr, false);
    if (r.body.is_discarded()) r.body = Json(res->body);
    if (res->status >= 400) {
      EXPECT_TRUE(r.body.is_object() && r.body.contains("code") && r.body.contains("message"))
          << "error responses carry a JSON body: " << res->body;
      r.error_code = r.body.value("code", "");
    }
    r.code = FromHttp(res->status, r.error_code);
    return r;
  }

  httplib::Client& http() { return http_; }

 private:
  httplib::Result Send(const Call& c, const httplib::Headers& headers, const std::string& flags,
                       const std::string& layer) {
    switch (c.op) {
      case Op::kListLayers:
        return http_.Get("/v1/layers", headers);
      case Op::kGetLayer:
        return http_.Get(
            layer +
                (c.expected_revision ? "?revision=" + std::to_string(*c.expected_revision) : ""),
            headers);
      case Op::kLayerContext:
        return http_.Get(layer + "/context", headers);
      case Op::kPutLayer:
        return http_.Put(layer + "?" + flags, headers, c.body, "application/json");
      case Op::kDeleteLayer:
        return http_.Delete(layer + "?" + flags, headers);
      case Op::kHistory:
        return http_.Get(layer + "/history?" + flags, headers);
      case Op::kValidate:
        return http_.Post("/v1/validate", headers, c.body, "application/json");
      case Op::kEffective:
        return http_.Get("/v1/effective?chain=" + c.scope, headers);
      case Op::kListNodes:
        return http_.Get("/v1/nodes", headers);
      case Op::kGetNode:
        return http_.Get("/v1/nodes/" + c.scope, headers);
      case Op::kForgetNode:
        return http_.Delete("/v1/nodes/" + c.scope, headers);
      case Op::kNodeSnapshot:
        return http_.Get("/v1/nodes/" + c.scope + "/snapshot?chain=" + c.body, headers);
      case Op::kKeys:
        return http_.Get("/v1/keys", headers);
      case Op::kAudit:
        return http_.Get("/v1/audit?" + flags, headers);
      case Op::kVerifyAudit:
        return http_.Get("/v1/audit/verify", headers);
      case Op::kStatus:
        return http_.Get("/v1/status", headers);
      case Op::kCreateToken: {
        Json body = {{"name", c.scope}, {"scopes", Json::parse(c.body)}};
        return http_.Post("/v1/tokens", headers, body.dump(), "application/json");
      }
      case Op::kListTokens:
        return http_.Get("/v1/tokens", headers);
      case Op::kRevokeToken:
        return http_.Delete("/v1/tokens/" + c.scope + "?" + flags, headers);
      case Op::kRevertLayer:
        return http_.Post(layer + "/revert?" + flags, headers, c.body, "application/json");
      case Op::kGetFreeze:
        return http_.Get("/v1/freeze", headers);
      case Op::kSetFreeze:
        return http_.Put("/v1/freeze", headers, c.body, "application/json");
      case Op::kStartRollout:
        return http_.Post("/v1/rollouts?" + flags, headers, c.body, "application/json");
      case Op::kListRollouts:
        return http_.Get("/v1/rollouts", headers);
      case Op::kGetRollout:
        return http_.Get("/v1/rollouts/" + c.scope, headers);
      case Op::kRolloutAction: {
        Json body = Json::object();
        if (auto it = c.params.find("reason"); it != c.params.end()) body["reason"] = it->second;
        return http_.Post("/v1/rollouts/" + c.scope + ":" + c.body, headers, body.dump(),
                          "application/json");
      }
    }
    return http_.Get("/", headers);
  }

  httplib::Client http_;
};

class RestApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RestFaceOptions options;
    options.listen = "127.0.0.1:0";
    auto face = StartRestFace(options, stack_.service(), stack_.auth(), stack_.metrics(),
                              [] { return true; });
    ASSERT_TRUE(face.ok()) << face.status().ToString();
    face_ = std::move(face).value();
    client_ = std::make_unique<RestClient>(face_->port());
  }
  void TearDown() override { face_->Shutdown(); }

  Stack stack_;
  std::unique_ptr<RestFace> face_;
  std::unique_ptr<RestClient> client_;
};

// The shared behaviour table passes through REST.
TEST_F(RestApiTest, BehaviourTable) {
  RunBehaviourCases(stack_, *client_);
}

// The layer context cases pass through REST.
TEST_F(RestApiTest, LayerContext) {
  RunLayerContextCases(stack_, *client_);
}

// The revert and freeze cases pass through REST.
TEST_F(RestApiTest, RevertAndFreeze) {
  RunRevertAndFreezeCases(stack_, *client_);
}

// The rollout cases pass through REST.
TEST_F(RestApiTest, Rollouts) {
  RunRolloutCases(stack_, *client_);
}

TEST_F(RestApiTest, Guardrails) {
  RunGuardrailCases(stack_, *client_);
}

TEST_F(RestApiTest, Artefacts) {
  RunArtefactCases(stack_, *client_);
}

// The node forget cases pass through REST (DELETE /v1/nodes/{id}).
TEST_F(RestApiTest, ForgetNode) {
  RunNodeForgetCases(stack_, *client_);
}

// The shared authorization matrix passes through REST, and every refusal is audited.
TEST_F(RestApiTest, AuthzMatrix) {
  RunAuthzMatrix(stack_, *client_);
}

// GET of a layer carries ETag "<revision>"; PUT with a stale If-Match is a 409 with a JSON body.
TEST_F(RestApiTest, LayerEtagAndIfMatch) {
  const std::string admin = stack_.Token({"admin"});
  httplib::Headers auth = {{"Authorization", "Bearer " + admin}};
  auto put = client_->http().Put("/v1/layers/global", auth, LayerDoc("global"), "application/json");
  ASSERT_EQ(put->status, 200);
  auto get = client_->http().Get("/v1/layers/global", auth);
  ASSERT_EQ(get->status, 200);
  EXPECT_EQ(get->get_header_value("ETag"), "\"1\"");
  httplib::Headers stale = auth;
  stale.emplace("If-Match", "\"0\"");
  auto conflict =
      client_->http().Put("/v1/layers/global", stale, LayerDoc("global"), "application/json");
  ASSERT_EQ(conflict->status, 409);
  EXPECT_EQ(Json::parse(conflict->body)["code"], "conflict");
  EXPECT_NE(Json::parse(conflict->body)["message"].get<std::string>().find("revision 1"),
            std::string::npos);
}

// The pull fallback honours If-None-Match with a 304 and serves a verifiable envelope.
TEST_F(RestApiTest, SnapshotPullHonoursIfNoneMatch) {
  const std::string admin = stack_.Token({"admin"});
  const std::string node = stack_.Token({"node"}, "node:n-7");
  httplib::Headers auth = {{"Authorization", "Bearer " + admin}};
  ASSERT_EQ(client_->http()
                .Put("/v1/layers/global", auth, LayerDoc("global"), "application/json")
                ->status,
            200);
  httplib::Headers node_auth = {{"Authorization", "Bearer " + node}};
  auto first = client_->http().Get("/v1/nodes/n-7/snapshot?chain=global", node_auth);
  ASSERT_EQ(first->status, 200);
  const std::string etag = first->get_header_value("ETag");
  ASSERT_EQ(etag.rfind("\"sha256:", 0), 0u);
  auto verified = VerifyEnvelope(first->body, stack_.trusted_keys(), kSnapshotPayloadType);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  httplib::Headers again = node_auth;
  again.emplace("If-None-Match", etag);
  auto second = client_->http().Get("/v1/nodes/n-7/snapshot?chain=global", again);
  EXPECT_EQ(second->status, 304);
  EXPECT_TRUE(second->body.empty());
}

// /healthz, /readyz and /metrics answer without a token; unknown routes are JSON 404s.
TEST_F(RestApiTest, HealthReadyMetricsAndUnknownRoutes) {
  EXPECT_EQ(client_->http().Get("/healthz")->status, 200);
  EXPECT_EQ(client_->http().Get("/readyz")->status, 200);
  auto metrics = client_->http().Get("/metrics");
  ASSERT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("omnirelay_cp_head_revision"), std::string::npos);
  auto missing = client_->http().Get("/v2/nothing");
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(Json::parse(missing->body)["code"], "not_found");
}

// A control plane without a rollout engine answers the rollout routes 501 unimplemented.
TEST_F(RestApiTest, RolloutsAreUnimplemented) {
  httplib::Headers auth = {{"Authorization", "Bearer " + stack_.Token({"admin"})}};
  auto res = client_->http().Get("/v1/rollouts", auth);
  EXPECT_EQ(res->status, 501);
  EXPECT_EQ(Json::parse(res->body)["code"], "unimplemented");
}

// A token request of the wrong shape (a ttl that is not a whole number, an
// unknown field, not JSON) is a 400 invalid_argument naming the shape, never
// a 5xx, and creates nothing.
TEST_F(RestApiTest, MalformedTokenRequestIsA400) {
  httplib::Headers auth = {{"Authorization", "Bearer " + stack_.Token({"admin"})}};
  for (const std::string body : {R"({"name":"a","scopes":["config:read"],"ttlSeconds":"x"})",
                                 R"({"name":"a","scopes":["config:read"],"ttlSeconds":1.5})",
                                 R"({"name":"a","scopes":["config:read"],"owner":"me"})",
                                 R"({"name":"a"})", "", "not json"}) {
    auto res = client_->http().Post("/v1/tokens", auth, body, "application/json");
    ASSERT_TRUE(res) << body;
    EXPECT_EQ(res->status, 400) << body << " -> " << res->body;
    const Json error = Json::parse(res->body, nullptr, false);
    EXPECT_EQ(error.value("code", ""), "invalid_argument") << res->body;
    EXPECT_NE(error.value("message", "").find("body must be"), std::string::npos) << res->body;
  }
  auto list = client_->http().Get("/v1/tokens", auth);
  ASSERT_TRUE(list);
  const Json tokens = Json::parse(list->body);
  for (const auto& t : tokens["tokens"]) EXPECT_NE(t.value("name", ""), "a");
}

std::string ReadSample(const std::string& relative) {
  std::ifstream in(std::string(OMNI_SAMPLES_DIR) + "/" + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Capability gating: a layer needing `shadowing` is refused while a known
// node of an affected chain lacks it; the dry run names exactly the nodes of
// that profile; nodes that have the feature or sit on other chains do not block.
TEST_F(RestApiTest, CapabilityGapBlocksTheWriteAndDryRunNamesTheNodes) {
  const std::string cell_chain = "global,region:eu-west,cell:euw1-a";
  auto node = [&](const std::string& id, const std::string& chain,
                  std::vector<std::string> features) {
    NodeRecord n;
    n.node_id = id;
    n.scope_chain = chain;
    n.api_version = "omnirelay.config/v1";
    n.features = std::move(features);
    n.health_json = "{}";
    ASSERT_TRUE(stack_.store().UpsertNode(n).ok());
  };
  node("old-1", cell_chain, {});
  node("old-2", cell_chain, {});
  node("new-1", cell_chain, {"shadowing"});
  node("other", "global,region:us-east", {});  // does not carry the cell layer
  httplib::Headers auth = {{"Authorization", "Bearer " + stack_.Token({"admin"})}};
  auto put = [&](const std::string& scope, const std::string& query, const Json& doc) {
    return client_->http().Put("/v1/layers/" + scope + query, auth, doc.dump(), "application/json");
  };
  // Global and region without any shadow: fine for every node.
  Json global = Json::parse(ReadSample("layers/00-global.json"));
  for (auto& [name, route] : global["spec"]["routes"].items()) route.erase("shadow");
  global["metadata"]["features"] = Json::array();
  ASSERT_EQ(put("global", "", global)->status, 200);
  ASSERT_EQ(
      put("region:eu-west", "", Json::parse(ReadSample("layers/10-region-eu-west.json")))->status,
      200);

  Json cell = Json::parse(ReadSample("layers/20-cell-euw1-a.json"));  // shadows billing
  cell["metadata"]["features"] = {"shadowing"};
  auto dry = put("cell:euw1-a", "?dryRun=true", cell);
  ASSERT_EQ(dry->status, 200) << dry->body;
  std::set<std::string> ids;
  const Json reply = Json::parse(dry->body);
  for (const auto& b : reply["blockedNodes"]) ids.insert(b["nodeId"].get<std::string>());
  EXPECT_EQ(ids, (std::set<std::string>{"old-1", "old-2"})) << dry->body;

  auto refused = put("cell:euw1-a", "", cell);
  EXPECT_EQ(refused->status, 409) << refused->body;
  EXPECT_EQ(Json::parse(refused->body)["code"], "missing_feature");
  EXPECT_NE(refused->body.find("old-1"), std::string::npos);
  EXPECT_EQ(stack_.store().GetLayer("cell:euw1-a").status().code(), StatusCode::kNotFound);
}

// A global write is validated against every stored region layer on top of
// global, even before any node uses that chain, and against the prefixes of
// node chains: removing a cluster a region layer still routes to is refused.
TEST_F(RestApiTest, GlobalWriteKeepsStoredRegionLayersValid) {
  httplib::Headers auth = {{"Authorization", "Bearer " + stack_.Token({"admin"})}};
  auto put = [&](const std::string& scope, const std::string& query, const Json& doc) {
    return client_->http().Put("/v1/layers/" + scope + query, auth, doc.dump(), "application/json");
  };
  Json global = Json::parse(ReadSample("layers/00-global.json"));
  ASSERT_EQ(put("global", "", global)->status, 200);
  const Json region = Json::parse(ReadSample("layers/10-region-eu-west.json"));
  ASSERT_EQ(put("region:eu-west", "", region)->status,
            200);  // its billing-eu fails over to billing-dr

  // Drop billing-dr from global, and every reference global itself makes to it.
  global["spec"]["clusters"].erase("billing-dr");
  for (auto& [name, cluster] : global["spec"]["clusters"].items()) cluster.erase("failover");
  for (auto& [name, route] : global["spec"]["routes"].items()) route.erase("shadow");
  auto refused = put("global", "?confirm=true", global);
  ASSERT_EQ(refused->status, 400) << refused->body;
  const Json body = Json::parse(refused->body);
  EXPECT_EQ(body["code"], "dangling_cluster") << refused->body;
  EXPECT_NE(refused->body.find("billing-dr"), std::string::npos);

  auto dry = put("global", "?dryRun=true&confirm=true", global);
  ASSERT_EQ(dry->status, 200) << dry->body;
  const Json checked = Json::parse(dry->body)["chainsChecked"];
  EXPECT_NE(std::find(checked.begin(), checked.end(), Json("global,region:eu-west")), checked.end())
      << dry->body;

  // When no affected chain validates there is nothing to diff: said, not "no changes".
  Json broken = Json::parse(ReadSample("layers/00-global.json"));
  broken["spec"]["routes"]["billing"]["shadow"]["cluster"] = "nosuch";
  auto undiffable = put("global", "?dryRun=true", broken);
  ASSERT_EQ(undiffable->status, 200) << undiffable->body;
  const Json reply = Json::parse(undiffable->body);
  EXPECT_EQ(reply["valid"], false);
  EXPECT_EQ(reply["diff"].get<std::string>().rfind("not computed", 0), 0u) << undiffable->body;
}

// A bad If-Match or revision query is a 400 invalid_argument, not a crash or a write.
TEST_F(RestApiTest, MalformedHeadersAndQueries) {
  httplib::Headers auth = {{"Authorization", "Bearer " + stack_.Token({"admin"})}};
  httplib::Headers bad = auth;
  bad.emplace("If-Match", "\"seven\"");
  EXPECT_EQ(
      client_->http().Put("/v1/layers/global", bad, LayerDoc("global"), "application/json")->status,
      400);
  EXPECT_EQ(client_->http().Get("/v1/layers/global?revision=x", auth)->status, 400);
  EXPECT_EQ(client_->http().Get("/v1/audit?since=yesterday", auth)->status, 400);
  for (const char* query : {"before=abc", "limit=ten", "limit=", "before=-1"}) {
    auto res = client_->http().Get(std::string("/v1/layers/global/history?") + query, auth);
    EXPECT_EQ(res->status, 400) << query;
    EXPECT_EQ(Json::parse(res->body).value("code", ""), "invalid_argument") << res->body;
  }
  EXPECT_EQ(client_->http().Get("/v1/layers", auth)->status, 200);
}

// While not ready, /readyz is 503 and says why (e.g. the store's database is
// unreachable), without a token.
TEST_F(RestApiTest, NotReadySaysWhy) {
  face_->Shutdown();
  RestFaceOptions options;
  options.listen = "127.0.0.1:0";
  auto face = StartRestFace(options, stack_.service(), stack_.auth(), stack_.metrics(),
                            [] { return Status(StatusCode::kUnavailable, "database down"); });
  ASSERT_TRUE(face.ok()) << face.status().ToString();
  face_ = std::move(face).value();
  client_ = std::make_unique<RestClient>(face_->port());
  auto ready = client_->http().Get("/readyz");
  ASSERT_EQ(ready->status, 503);
  EXPECT_EQ(Json::parse(ready->body)["status"], "not ready");
  EXPECT_EQ(Json::parse(ready->body)["reason"], "unavailable: database down");
}

// A port already in use is an error, never silently shared.
TEST_F(RestApiTest, PortInUseIsRefused) {
  RestFaceOptions options;
  options.listen = "127.0.0.1:" + std::to_string(face_->port());
  auto second = StartRestFace(options, stack_.service(), stack_.auth(), stack_.metrics(),
                              [] { return true; });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
}

// Audit follow streams entries written after it started, and two followers
// hold no worker: with a single worker thread a write still goes through.
TEST_F(RestApiTest, AuditFollowStreamsWithoutHoldingAWorker) {
  face_->Shutdown();
  RestFaceOptions options;
  options.listen = "127.0.0.1:0";
  options.worker_threads = 1;
  auto face = StartRestFace(options, stack_.service(), stack_.auth(), stack_.metrics(),
                            [] { return true; });
  ASSERT_TRUE(face.ok()) << face.status().ToString();
  face_ = std::move(face).value();
  httplib::Client client("127.0.0.1", face_->port());
  client.set_read_timeout(10, 0);
  const std::string admin = stack_.Token({"admin"});
  const std::string follow =
      "GET /v1/audit?follow=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin +
      "\r\n\r\n";
  const int a = http::testing::Connect(face_->port());
  const int b = http::testing::Connect(face_->port());
  ASSERT_TRUE(http::testing::SendAll(a, follow) && http::testing::SendAll(b, follow));
  auto head = http::testing::ReadSome(a, std::chrono::seconds(10));
  ASSERT_TRUE(head && head->find("200 OK") != std::string::npos) << head.value_or("(nothing)");
  EXPECT_NE(head->find("application/x-ndjson"), std::string::npos);
  httplib::Headers auth = {{"Authorization", "Bearer " + admin}};
  auto put = client.Put("/v1/layers/global", auth, LayerDoc("global"), "application/json");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200);
  std::string got = *head;
  while (got.find("\"layer.put\"") == std::string::npos) {
    auto more = http::testing::ReadSome(a, std::chrono::seconds(10));
    ASSERT_TRUE(more && !more->empty()) << got;
    got += *more;
  }
  ::close(a);
  ::close(b);
}

// Audit follow without `since` starts now (as `omnirctl audit tail --follow`):
// an entry written before the request is not replayed, one written after it
// is streamed; with `since` the window before the request is replayed too.
TEST_F(RestApiTest, AuditFollowWithoutSinceStartsNow) {
  const std::string admin = stack_.Token({"admin"});
  httplib::Headers auth = {{"Authorization", "Bearer " + admin}};
  auto before =
      client_->http().Put("/v1/layers/global", auth, LayerDoc("global"), "application/json");
  ASSERT_TRUE(before);
  ASSERT_EQ(before->status, 200);
  // "Now" is a millisecond clock: let it pass the first write's entry.
  const std::int64_t written = stack_.clock().NowUnixMs();
  while (stack_.clock().NowUnixMs() <= written) std::this_thread::yield();

  auto open = [&](const std::string& query) {
    const int fd = http::testing::Connect(face_->port());
    EXPECT_TRUE(http::testing::SendAll(fd, "GET /v1/audit?" + query +
                                               " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                               admin + "\r\n\r\n"));
    return fd;
  };
  const int from_now = open("follow=true&action=layer.put");
  const int replayed = open("follow=true&action=layer.put&since=1h");
  auto head = http::testing::ReadSome(from_now, std::chrono::seconds(10));
  ASSERT_TRUE(head && head->find("200 OK") != std::string::npos) << head.value_or("(nothing)");
  auto after = client_->http().Put(
      "/v1/layers/global", auth,
      LayerDoc("global", [](Json& spec) { spec["dispatcher"]["maxConcurrentRequests"] = 999; }),
      "application/json");
  ASSERT_TRUE(after);
  ASSERT_EQ(after->status, 200);

  // Reads a stream until the second write's entry is in it.
  auto until_second = [](int fd, std::string got) {
    while (got.find("\"revision\":2,") == std::string::npos) {
      auto more = http::testing::ReadSome(fd, std::chrono::seconds(10));
      if (!more || more->empty()) break;
      got += *more;
    }
    return got;
  };
  const std::string now_stream = until_second(from_now, *head);
  EXPECT_NE(now_stream.find("\"revision\":2,"), std::string::npos) << now_stream;
  EXPECT_EQ(now_stream.find("\"revision\":1,"), std::string::npos) << now_stream;
  const std::string since_stream = until_second(replayed, "");
  EXPECT_NE(since_stream.find("\"revision\":1,"), std::string::npos) << since_stream;
  EXPECT_NE(since_stream.find("\"revision\":2,"), std::string::npos) << since_stream;
  ::close(from_now);
  ::close(replayed);
}

// The server's own refusals keep the REST error shape: 503 past the
// connection limit, 413 for a body over the limit.
TEST_F(RestApiTest, LimitRefusalsUseTheErrorShape) {
  face_->Shutdown();
  RestFaceOptions options;
  options.listen = "127.0.0.1:0";
  options.limits.max_body_bytes = 1024;
  options.limits.max_connections = 1;
  auto face = StartRestFace(options, stack_.service(), stack_.auth(), stack_.metrics(),
                            [] { return true; });
  ASSERT_TRUE(face.ok()) << face.status().ToString();
  face_ = std::move(face).value();
  const int held = http::testing::Connect(face_->port());
  auto ok = http::testing::Get(held, "/healthz");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  const int over = http::testing::Connect(face_->port());
  auto refused = http::testing::Get(over, "/healthz");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(Json::parse(refused->body)["code"], "unavailable");
  EXPECT_TRUE(Json::parse(refused->body)["message"].is_string());
  // No problems to list: "details" is absent (none is an absent field).
  EXPECT_FALSE(Json::parse(refused->body).contains("details"));
  ::close(over);
  ASSERT_TRUE(http::testing::SendAll(
      held, "PUT /v1/layers/global HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n"));
  std::string carry;
  auto too_large = http::testing::ReadResponse(held, carry, std::chrono::seconds(5));
  ASSERT_TRUE(too_large);
  EXPECT_EQ(too_large->status, 413);
  EXPECT_EQ(Json::parse(too_large->body)["code"], "too_large");
  ::close(held);
}

}  // namespace
}  // namespace omnirelay::cp::testing

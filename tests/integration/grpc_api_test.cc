// The API cases (api_cases.cc) through the gRPC face, plus the gRPC-only
// behaviours: the ErrorDetail in the status details, status code mapping,
// and audit follow.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "api_cases.h"
#include "grpc_reply_json.h"
#include "omnirelay/api/json.h"
#include "omnirelay/config/rfc3339.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/controlplane/grpc_face.h"
#include "omnirelay/controlplane/node_feed.h"
#include "omnirelay/controlplane/v1/config_service.grpc.pb.h"
#include "omnirelay/controlplane/v1/rollout_service.grpc.pb.h"

namespace omnirelay::cp::testing {
namespace {

StatusCode CodeNamed(const std::string& name) {
  for (int c = 0; c <= static_cast<int>(kLastStatusCode); ++c) {
    if (status_code_name(static_cast<StatusCode>(c)) == name) return static_cast<StatusCode>(c);
  }
  return StatusCode::kInternal;
}

// Answers an ApiClient Call through the generated ConfigService stub and
// shapes the reply like the REST face's JSON, so one table checks both.
class GrpcClient final : public ApiClient {
 public:
  explicit GrpcClient(int port)
      : channel_(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials())),
        stub_(v1::ConfigService::NewStub(channel_)),
        rollouts_(v1::RolloutService::NewStub(channel_)) {}

  v1::ConfigService::Stub& stub() { return *stub_; }
  v1::RolloutService::Stub& rollouts() { return *rollouts_; }

  Reply Do(const Call& c, const std::string& token) override {
    grpc::ClientContext ctx;
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    Json body;
    grpc::Status status = Send(ctx, c, body);
    Reply r;
    if (status.ok()) {
      r.body = std::move(body);
      return r;
    }
    v1::ErrorDetail detail;
    EXPECT_TRUE(detail.ParseFromString(status.error_details()))
        << "every error carries an ErrorDetail: " << status.error_message();
    EXPECT_EQ(detail.message(), status.error_message());
    r.code = CodeNamed(detail.status());
    r.error_code = detail.code();
    r.body = {{"code", detail.code()}, {"message", detail.message()}, {"details", nullptr}};
    if (detail.diagnostics_size() > 0) {
      r.body["details"] = {{"errors", DiagnosticsJson(detail.diagnostics())}};
    }
    return r;
  }

 private:
  // A rollout as REST answers it: the `json` field, marked as a dry run as
  // REST marks it.
  static Json RolloutJson(const v1::Rollout& r) {
    Json out = Parsed(r.json());
    if (r.dry_run()) out["dryRun"] = true;
    // The typed blocked nodes say what the JSON says.
    if (out.is_object()) {
      EXPECT_EQ(BlockedJson(r.blocked_nodes()), out.value("blockedNodes", Json::array()));
    }
    return out;
  }

  // The POST /v1/rollouts body as a StartRolloutRequest.
  static v1::StartRolloutRequest StartRequest(const Call& c) {
    const Json body = Json::parse(c.body);
    v1::StartRolloutRequest req;
    for (const Json& layer : body.value("layers", Json::array())) {
      v1::LayerChange* change = req.add_changes();
      change->set_scope(layer["metadata"]["scope"].get<std::string>());
      change->set_document(layer.dump());
    }
    for (const Json& scope : body.value("deletes", Json::array())) {
      req.add_changes()->set_scope(scope.get<std::string>());
    }
    if (body.contains("policy")) req.set_policy_json(body["policy"].dump());
    req.set_reason(body.value("reason", ""));
    req.set_dry_run(c.dry_run);
    req.set_confirm(c.confirm);
    req.set_allow_large_change(Flag(c, "allowLargeChange"));
    return req;
  }

  grpc::Status Act(grpc::ClientContext& ctx, const Call& c, v1::Rollout* resp) {
    v1::RolloutActionRequest req;
    req.set_id(c.scope);
    if (auto it = c.params.find("reason"); it != c.params.end()) req.set_reason(it->second);
    if (c.body == "promote") return rollouts_->Promote(&ctx, req, resp);
    if (c.body == "pause") return rollouts_->Pause(&ctx, req, resp);
    if (c.body == "resume") return rollouts_->Resume(&ctx, req, resp);
    if (c.body == "rollback") return rollouts_->Rollback(&ctx, req, resp);
    if (c.body == "abort") return rollouts_->Abort(&ctx, req, resp);
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no action " + c.body);
  }

  // An integer request option of the call, when given.
  static bool Flag(const Call& c, const std::string& name) {
    auto it = c.params.find(name);
    return it != c.params.end() && it->second == "true";
  }

  static std::optional<std::int64_t> Param(const Call& c, const std::string& name) {
    auto it = c.params.find(name);
    if (it == c.params.end()) return std::nullopt;
    return std::stoll(it->second);
  }

  static void SetChain(const std::string& text,
                       google::protobuf::RepeatedPtrField<std::string>* out) {
    for (std::string& scope : SplitCommaList(text)) out->Add(std::move(scope));
  }

  grpc::Status Send(grpc::ClientContext& ctx, const Call& c, Json& body) {
    switch (c.op) {
      case Op::kListLayers: {
        v1::ListLayersResponse resp;
        auto s = stub_->ListLayers(&ctx, {}, &resp);
        body = {{"layers", Json::array()}};
        for (const auto& l : resp.layers()) {
          body["layers"].push_back({{"scope", l.scope()}, {"revision", l.revision()}});
        }
        return s;
      }
      case Op::kGetLayer: {
        v1::GetLayerRequest req;
        req.set_scope(c.scope);
        if (c.expected_revision) req.set_revision(*c.expected_revision);
        v1::Layer resp;
        auto s = stub_->GetLayer(&ctx, req, &resp);
        body = {{"scope", resp.scope()},
                {"revision", resp.revision()},
                {"document", Parsed(resp.document())}};
        return s;
      }
      case Op::kLayerContext: {
        v1::GetLayerContextRequest req;
        req.set_scope(c.scope);
        v1::LayerContext resp;
        auto s = stub_->GetLayerContext(&ctx, req, &resp);
        body = {{"scope", resp.scope()},
                {"scopeChain", resp.scope_chain()},
                {"effectiveSpec", Parsed(resp.effective_spec())},
                {"inheritedSpec", Parsed(resp.inherited_spec())}};
        if (resp.has_layer()) {
          body["layer"] = {{"scope", resp.layer().scope()},
                           {"revision", resp.layer().revision()},
                           {"author", resp.layer().author()},
                           {"document", Parsed(resp.layer().document())}};
        }
        return s;
      }
      case Op::kPutLayer: {
        v1::SetLayerRequest req;
        req.set_scope(c.scope);
        req.set_document(c.body);
        if (c.expected_revision) req.set_expected_revision(*c.expected_revision);
        req.set_dry_run(c.dry_run);
        req.set_confirm(c.confirm);
        req.set_force(Flag(c, "force"));
        req.set_allow_large_change(Flag(c, "allowLargeChange"));
        v1::WriteResult resp;
        auto s = stub_->SetLayer(&ctx, req, &resp);
        body = WriteJson(resp);
        return s;
      }
      case Op::kDeleteLayer: {
        v1::DeleteLayerRequest req;
        req.set_scope(c.scope);
        if (c.expected_revision) req.set_expected_revision(*c.expected_revision);
        req.set_dry_run(c.dry_run);
        req.set_confirm(c.confirm);
        req.set_force(Flag(c, "force"));
        req.set_allow_large_change(Flag(c, "allowLargeChange"));
        v1::WriteResult resp;
        auto s = stub_->DeleteLayer(&ctx, req, &resp);
        body = WriteJson(resp);
        return s;
      }
      case Op::kHistory: {
        v1::HistoryRequest req;
        req.set_scope(c.scope);
        if (auto before = Param(c, "before")) req.set_before(*before);
        if (auto limit = Param(c, "limit")) req.set_limit(*limit);
        v1::HistoryResponse resp;
        auto s = stub_->History(&ctx, req, &resp);
        body = {{"revisions", Json::array()}};
        for (const auto& r : resp.revisions()) {
          body["revisions"].push_back(
              {{"revision", r.revision()}, {"action", r.deleted() ? "delete" : "put"}});
        }
        if (resp.next_before() != 0) body["nextBefore"] = resp.next_before();
        return s;
      }
      case Op::kValidate: {
        v1::ValidateRequest req;
        req.set_document(c.body);
        v1::ValidateResponse resp;
        auto s = stub_->Validate(&ctx, req, &resp);
        body = {{"valid", resp.valid()}, {"errors", DiagnosticsJson(resp.errors())}};
        return s;
      }
      case Op::kEffective: {
        v1::EffectiveRequest req;
        SetChain(c.scope, req.mutable_scope_chain());
        v1::EffectiveResponse resp;
        auto s = stub_->Effective(&ctx, req, &resp);
        body = {{"version", resp.version()},
                {"spec", Parsed(resp.spec())},
                {"features",
                 Json(std::vector<std::string>(resp.features().begin(), resp.features().end()))}};
        return s;
      }
      case Op::kListNodes: {
        v1::ListNodesResponse resp;
        auto s = stub_->ListNodes(&ctx, {}, &resp);
        body = {{"nodes", Json::array()}};
        for (const auto& n : resp.nodes()) body["nodes"].push_back({{"nodeId", n.node_id()}});
        return s;
      }
      case Op::kGetNode: {
        v1::GetNodeRequest req;
        req.set_node_id(c.scope);
        v1::Node resp;
        auto s = stub_->GetNode(&ctx, req, &resp);
        body = {{"nodeId", resp.node_id()}, {"appliedVersion", resp.applied_version()}};
        return s;
      }
      case Op::kForgetNode: {
        v1::ForgetNodeRequest req;
        req.set_node_id(c.scope);
        v1::ForgetNodeResponse resp;
        auto s = stub_->ForgetNode(&ctx, req, &resp);
        // As REST answers a forget.
        body = {{"nodeId", c.scope}, {"forgotten", true}};
        return s;
      }
      case Op::kNodeSnapshot: {
        v1::GetNodeSnapshotRequest req;
        req.set_node_id(c.scope);
        SetChain(c.body, req.mutable_scope_chain());
        v1::SignedSnapshot resp;
        auto s = stub_->GetNodeSnapshot(&ctx, req, &resp);
        body = Parsed(resp.envelope());
        return s;
      }
      case Op::kKeys: {
        v1::GetKeysResponse resp;
        auto s = stub_->GetKeys(&ctx, {}, &resp);
        body = Parsed(resp.trusted_keys());
        return s;
      }
      case Op::kAudit: {
        v1::AuditRequest req;
        auto text = [&](const char* name) {
          auto it = c.params.find(name);
          return it == c.params.end() ? std::string() : it->second;
        };
        req.set_scope(text("scope"));
        req.set_principal(text("principal"));
        req.set_action(text("action"));
        req.set_writes_only(text("writesOnly") == "true");
        auto reader = stub_->Audit(&ctx, req);
        v1::AuditEntry entry;
        body = {{"entries", Json::array()}};
        while (reader->Read(&entry)) {
          body["entries"].push_back({{"id", entry.id()},
                                     {"action", entry.action()},
                                     {"scope", entry.scope()},
                                     {"principal", entry.principal()}});
        }
        return reader->Finish();
      }
      case Op::kStatus: {
        v1::StatusResponse resp;
        auto s = stub_->GetStatus(&ctx, {}, &resp);
        body = StatusJson(resp);
        return s;
      }
      case Op::kCreateToken: {
        v1::CreateTokenRequest req;
        req.set_name(c.scope);
        for (const auto& scope : Json::parse(c.body)) req.add_scopes(scope.get<std::string>());
        v1::CreateTokenResponse resp;
        auto s = stub_->CreateToken(&ctx, req, &resp);
        body = {{"id", resp.token().id()}, {"token", resp.secret()}};
        return s;
      }
      case Op::kListTokens: {
        v1::ListTokensResponse resp;
        auto s = stub_->ListTokens(&ctx, {}, &resp);
        body = {{"tokens", Json::array()}};
        for (const auto& t : resp.tokens()) {
          body["tokens"].push_back({{"id", t.id()}, {"name", t.name()}, {"scopes", t.scopes()}});
        }
        return s;
      }
      case Op::kRevokeToken: {
        v1::RevokeTokenRequest req;
        req.set_id(c.scope);
        req.set_dry_run(c.dry_run);
        v1::RevokeTokenResponse resp;
        auto s = stub_->RevokeToken(&ctx, req, &resp);
        body = {{"id", resp.token().id()},
                {"name", resp.token().name()},
                {"revoked", resp.token().revoked_at_ms() != 0}};
        return s;
      }
      case Op::kRevertLayer: {
        const Json request = Json::parse(c.body);
        v1::RevertLayerRequest req;
        req.set_scope(c.scope);
        req.set_to_revision(request.value("toRevision", std::int64_t{0}));
        req.set_reason(request.value("reason", ""));
        if (c.expected_revision) req.set_expected_revision(*c.expected_revision);
        req.set_dry_run(c.dry_run);
        req.set_confirm(c.confirm);
        v1::WriteResult resp;
        auto s = stub_->RevertLayer(&ctx, req, &resp);
        body = WriteJson(resp);
        return s;
      }
      case Op::kVerifyAudit: {
        v1::AuditChain resp;
        auto s = stub_->VerifyAudit(&ctx, {}, &resp);
        // The REST shape (api::ToJson(AuditChainReport)), from the typed fields.
        api::AuditChainReport r;
        r.ok = resp.ok();
        r.entries = resp.entries();
        r.before_chain = resp.before_chain();
        r.head_id = resp.head_id();
        r.head_hash = resp.head_hash();
        r.break_id = resp.break_id();
        r.break_reason = resp.break_reason();
        body = api::ToJson(r);
        return s;
      }
      case Op::kGetFreeze: {
        v1::Freeze resp;
        auto s = stub_->GetFreeze(&ctx, {}, &resp);
        body = FreezeJson(resp);
        return s;
      }
      case Op::kSetFreeze: {
        const Json request = Json::parse(c.body);
        v1::SetFreezeRequest req;
        req.set_frozen(request.value("frozen", false));
        req.set_reason(request.value("reason", ""));
        v1::Freeze resp;
        auto s = stub_->SetFreeze(&ctx, req, &resp);
        body = FreezeJson(resp);
        return s;
      }
      case Op::kStartRollout: {
        v1::Rollout resp;
        auto s = rollouts_->Start(&ctx, StartRequest(c), &resp);
        body = RolloutJson(resp);
        return s;
      }
      case Op::kListRollouts:
      case Op::kGetRollout: {
        v1::RolloutStatusRequest req;
        if (c.op == Op::kGetRollout) req.set_id(c.scope);
        v1::RolloutStatusResponse resp;
        auto s = rollouts_->Status(&ctx, req, &resp);
        if (c.op == Op::kGetRollout) {
          EXPECT_TRUE(!s.ok() || resp.rollouts_size() == 1) << resp.DebugString();
          body = resp.rollouts_size() == 1 ? RolloutJson(resp.rollouts(0)) : Json();
          return s;
        }
        body = {{"rollouts", Json::array()}};
        for (const auto& r : resp.rollouts()) body["rollouts"].push_back(RolloutJson(r));
        return s;
      }
      case Op::kRolloutAction: {
        v1::Rollout resp;
        auto s = Act(ctx, c, &resp);
        body = RolloutJson(resp);
        return s;
      }
    }
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unknown op");
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ConfigService::Stub> stub_;
  std::unique_ptr<v1::RolloutService::Stub> rollouts_;
};

class GrpcApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    feed_ = MakeNodeFeed(NodeFeedOptions{}, stack_.auth(), assignments_, stack_.store(),
                         stack_.bus(), stack_.clock(), stack_.metrics());
    GrpcFaceOptions options;
    options.listen = "127.0.0.1:0";
    auto face = StartGrpcFace(options, stack_.service(), stack_.auth(), *feed_, stack_.store(),
                              stack_.metrics());
    ASSERT_TRUE(face.ok()) << face.status().ToString();
    face_ = std::move(face).value();
    client_ = std::make_unique<GrpcClient>(face_->port());
  }
  void TearDown() override {
    if (face_) face_->Shutdown();
    if (feed_) feed_->Stop();
  }

  Stack stack_;
  NewestOnChain assignments_{stack_.renderer()};
  std::unique_ptr<NodeFeed> feed_;
  std::unique_ptr<GrpcFace> face_;
  std::unique_ptr<GrpcClient> client_;
};

// The shared behaviour table passes through gRPC.
TEST_F(GrpcApiTest, BehaviourTable) {
  RunBehaviourCases(stack_, *client_);
}

// The layer context cases pass through gRPC.
TEST_F(GrpcApiTest, LayerContext) {
  RunLayerContextCases(stack_, *client_);
}

// The revert and freeze cases pass through gRPC.
TEST_F(GrpcApiTest, RevertAndFreeze) {
  RunRevertAndFreezeCases(stack_, *client_);
}

// The rollout cases pass through gRPC.
TEST_F(GrpcApiTest, Rollouts) {
  RunRolloutCases(stack_, *client_);
}

TEST_F(GrpcApiTest, Guardrails) {
  RunGuardrailCases(stack_, *client_);
}

TEST_F(GrpcApiTest, Artefacts) {
  RunArtefactCases(stack_, *client_);
}

// The node forget cases pass through gRPC (ForgetNode).
TEST_F(GrpcApiTest, ForgetNode) {
  RunNodeForgetCases(stack_, *client_);
}

// The shared authorization matrix passes through gRPC, and every refusal is audited.
TEST_F(GrpcApiTest, AuthzMatrix) {
  RunAuthzMatrix(stack_, *client_);
}

// StatusCodes map onto gRPC codes as errors.proto documents, each with its ErrorDetail.
TEST_F(GrpcApiTest, StatusCodesMapToGrpcCodes) {
  const std::string admin = stack_.Token({"admin"});
  const std::string reader = stack_.Token({"config:read"}, "reader");
  const std::string dangling = LayerDoc("global", [](Json& spec) {
    spec["routes"]["billing"]["weights"] = {{"billing-v1", 90}, {"billing-v3", 10}};
  });
  struct Row {
    const char* what;
    Call call;
    std::string token;
    grpc::StatusCode want;
    std::string want_code;
  };
  const std::vector<Row> rows = {
      {"set", {Op::kPutLayer, "global", LayerDoc("global"), 0}, admin, grpc::StatusCode::OK, ""},
      {"conflict",
       {Op::kPutLayer, "global", LayerDoc("global"), 0},
       admin,
       grpc::StatusCode::ABORTED,
       "conflict"},
      {"validation",
       {Op::kPutLayer, "global", dangling},
       admin,
       grpc::StatusCode::INVALID_ARGUMENT,
       "dangling_cluster"},
      {"bad scope",
       {Op::kGetLayer, "zone:x"},
       admin,
       grpc::StatusCode::INVALID_ARGUMENT,
       "invalid_argument"},
      {"not found", {Op::kGetLayer, "cell:none"}, admin, grpc::StatusCode::NOT_FOUND, "not_found"},
      {"unauthenticated",
       {Op::kListLayers},
       "",
       grpc::StatusCode::UNAUTHENTICATED,
       "unauthenticated"},
      {"bad token",
       {Op::kListLayers},
       "omr_nope",
       grpc::StatusCode::UNAUTHENTICATED,
       "unauthenticated"},
      {"permission denied",
       {Op::kPutLayer, "global", LayerDoc("global")},
       reader,
       grpc::StatusCode::PERMISSION_DENIED,
       "permission_denied"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.what);
    v1::SetLayerRequest put;
    grpc::ClientContext ctx;
    if (!row.token.empty()) ctx.AddMetadata("authorization", "Bearer " + row.token);
    grpc::Status status;
    if (row.call.op == Op::kPutLayer) {
      put.set_scope(row.call.scope);
      put.set_document(row.call.body);
      if (row.call.expected_revision) put.set_expected_revision(*row.call.expected_revision);
      v1::WriteResult resp;
      status = client_->stub().SetLayer(&ctx, put, &resp);
    } else if (row.call.op == Op::kGetLayer) {
      v1::GetLayerRequest get;
      get.set_scope(row.call.scope);
      v1::Layer resp;
      status = client_->stub().GetLayer(&ctx, get, &resp);
    } else {
      v1::ListLayersResponse resp;
      status = client_->stub().ListLayers(&ctx, {}, &resp);
    }
    EXPECT_EQ(status.error_code(), row.want) << status.error_message();
    if (row.want == grpc::StatusCode::OK) continue;
    v1::ErrorDetail detail;
    ASSERT_TRUE(detail.ParseFromString(status.error_details()));
    EXPECT_EQ(detail.code(), row.want_code);
    if (row.want_code == "dangling_cluster") {
      EXPECT_EQ(detail.status(), "invalid");
      ASSERT_GE(detail.diagnostics_size(), 1);
      EXPECT_EQ(detail.diagnostics(0).path(), "/spec/routes/billing/weights/billing-v3");
    }
  }
}

// An audit follow stays open and carries entries written after it started.
TEST_F(GrpcApiTest, AuditFollowStreamsNewEntries) {
  const std::string admin = stack_.Token({"admin"});
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + admin);
  v1::AuditRequest req;
  req.set_follow(true);
  auto reader = client_->stub().Audit(&ctx, req);
  v1::AuditEntry entry;
  // Everything so far (at least the token creation), then the write below.
  ASSERT_TRUE(reader->Read(&entry));
  ASSERT_TRUE(client_->Do({Op::kPutLayer, "global", LayerDoc("global"), 0}, admin).code ==
              StatusCode::kOk);
  bool saw_put = false;
  while (!saw_put && reader->Read(&entry)) saw_put = entry.action() == "layer.put";
  EXPECT_TRUE(saw_put);
  ctx.TryCancel();
  while (reader->Read(&entry)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

// A Rollout's typed fields say what its `json` (the REST object) says;
// rollout_in_progress is FAILED_PRECONDITION naming its status.
TEST_F(GrpcApiTest, RolloutFieldsMatchTheirJson) {
  stack_.EnableRollouts();
  const std::string admin = stack_.Token({"admin"});
  ASSERT_EQ(client_->Do({Op::kPutLayer, "global", LayerDoc("global")}, admin).code,
            StatusCode::kOk);
  for (const char* id : {"n-1", "n-2"}) {  // members: else every wave is empty and passes
    NodeRecord node;
    node.node_id = id;
    node.scope_chain = "global";
    node.api_version = "omnirelay.config/v1";
    node.features = {"shadowing"};
    ASSERT_TRUE(stack_.store().UpsertNode(node).ok());
  }
  v1::StartRolloutRequest req;
  v1::LayerChange* change = req.add_changes();
  change->set_scope("global");
  change->set_document(
      LayerDoc("global", [](Json& spec) { spec["dispatcher"]["maxConcurrentRequests"] = 7; }));
  req.set_policy_json(R"({"canaryPercent": 10, "promotion": "manual"})");
  req.set_reason("typed");
  auto start = [&](v1::Rollout* resp) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + admin);
    return client_->rollouts().Start(&ctx, req, resp);
  };
  v1::Rollout r;
  ASSERT_TRUE(start(&r).ok());
  const Json j = Json::parse(r.json());
  EXPECT_EQ(r.id(), j["id"]);
  EXPECT_EQ(r.state(), "running");
  EXPECT_EQ(r.state(), j["state"]);
  EXPECT_EQ(r.version(), 2);
  EXPECT_EQ(r.previous_version(), 1);
  EXPECT_EQ(r.rollback_version(), 0);
  EXPECT_EQ(r.scopes_size(), 1);
  EXPECT_EQ(r.current_wave(), j["currentWave"]);
  EXPECT_EQ(r.author(), j["author"]);
  EXPECT_EQ(r.reason(), "typed");
  EXPECT_FALSE(r.dry_run());
  EXPECT_GT(r.created_at_ms(), 0);
  EXPECT_EQ(j["createdAt"], FormatRfc3339Ms(r.created_at_ms()));
  ASSERT_EQ(r.waves_size(), static_cast<int>(j["waves"].size()));
  for (int i = 0; i < r.waves_size(); ++i) {
    const auto& w = r.waves(i);
    const Json& jw = j["waves"][i];
    EXPECT_EQ(w.index(), jw["index"]);
    EXPECT_EQ(w.kind(), jw["kind"]);
    EXPECT_EQ(w.nodes(), jw["nodes"]);
    EXPECT_EQ(w.assigned_new(), jw["assignedNew"]);
    EXPECT_EQ(w.state(), jw["state"]);
  }

  v1::Rollout second;
  const grpc::Status refused = start(&second);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  v1::ErrorDetail detail;
  ASSERT_TRUE(detail.ParseFromString(refused.error_details()));
  EXPECT_EQ(detail.code(), "rollout_in_progress");
  EXPECT_EQ(detail.status(), "rollout_in_progress");
  EXPECT_NE(detail.message().find(r.id()), std::string::npos) << detail.message();
}

// A control plane without a rollout engine answers UNIMPLEMENTED, with its detail.
TEST_F(GrpcApiTest, RolloutsWithoutAnEngineAreUnimplemented) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + stack_.Token({"admin"}));
  v1::RolloutStatusResponse resp;
  const grpc::Status s = client_->rollouts().Status(&ctx, {}, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  v1::ErrorDetail detail;
  ASSERT_TRUE(detail.ParseFromString(s.error_details()));
  EXPECT_EQ(detail.code(), "unimplemented");
}

// A second face on the port in use fails to start with unavailable, not a shared port.
TEST_F(GrpcApiTest, PortInUseFailsToStart) {
  GrpcFaceOptions options;
  options.listen = "127.0.0.1:" + std::to_string(face_->port());
  auto second = StartGrpcFace(options, stack_.service(), stack_.auth(), *feed_, stack_.store(),
                              stack_.metrics());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace omnirelay::cp::testing

// The API cases (api_cases.cc) through the gRPC face, plus the gRPC-only
// behaviours: the ErrorDetail in the status details, status code mapping,
// and audit follow.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "api_cases.h"
#include "omnirelay/api/json.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/controlplane/grpc_face.h"
#include "omnirelay/controlplane/node_feed.h"
#include "omnirelay/controlplane/v1/config_service.grpc.pb.h"

namespace omnirelay::cp::testing {
namespace {

namespace v1 = controlplane::v1;
using Json = nlohmann::json;

Json Parsed(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  return j.is_discarded() ? Json(text) : j;
}

Json DiagnosticsJson(const google::protobuf::RepeatedPtrField<v1::Diagnostic>& diags) {
  Json out = Json::array();
  for (const auto& d : diags) {
    out.push_back({{"path", d.path()}, {"code", d.code()}, {"message", d.message()}});
  }
  return out;
}

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
      : stub_(v1::ConfigService::NewStub(grpc::CreateChannel(
            "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()))) {}

  v1::ConfigService::Stub& stub() { return *stub_; }

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
  static Json WriteJson(const v1::WriteResult& w) {
    Json out = {{"dryRun", w.dry_run()},
                {"valid", w.valid()},
                {"errors", DiagnosticsJson(w.diagnostics())},
                {"diff", w.diff_summary()}};
    if (!w.dry_run()) out["revision"] = w.revision();
    return out;
  }

  // The REST shape of a freeze (api::ToJson of the same fields).
  static Json FreezeJson(const v1::Freeze& f) {
    return api::ToJson(api::FreezeState{f.frozen(), f.reason(), f.by(), f.since_ms()});
  }

  // An integer request option of the call, when given.
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
        body = {{"version", resp.version()}, {"spec", Parsed(resp.spec())}};
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
        body = {{"headRevision", resp.head_revision()}};
        if (resp.has_freeze()) body["freeze"] = FreezeJson(resp.freeze());
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
    }
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unknown op");
  }

  std::unique_ptr<v1::ConfigService::Stub> stub_;
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

// The shared authorization matrix passes through gRPC, and every refusal is audited.
// The revert and freeze cases pass through gRPC.
TEST_F(GrpcApiTest, RevertAndFreeze) {
  RunRevertAndFreezeCases(stack_, *client_);
}

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

// ControlClient over gRPC: the one file of omnirctl that includes gRPC and
// the generated stubs.
#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <optional>

#include "client.h"
#include "omnirelay/api/status_mapping.h"
#include "omnirelay/config/files.h"
#include "omnirelay/config/peer_identity.h"
#include "omnirelay/controlplane/v1/config_service.grpc.pb.h"
#include "omnirelay/controlplane/v1/errors.pb.h"
#include "omnirelay/controlplane/v1/rollout_service.grpc.pb.h"
#include "omnirelay/grpc_peer/server_identity.h"

namespace omnirelay::cli {
namespace {

namespace v1 = controlplane::v1;

constexpr std::size_t kMaxPemBytes = 1 << 20;

std::vector<Diagnostic> FromProto(const google::protobuf::RepeatedPtrField<v1::Diagnostic>& in);

// A hint for connections a TLS mismatch most likely closed.
std::string TlsHint(const grpc::Status& s, const ConnectionSettings& tls) {
  const std::string& m = s.error_message();
  if (m.find("http1.x server") != std::string::npos) {
    return " (that looks like the REST port; omnirctl speaks gRPC, by default on :7443)";
  }
  if (m.find("Socket closed") == std::string::npos && m.find("andshake") == std::string::npos &&
      m.find("SSL") == std::string::npos) {
    return "";
  }
  if (tls.ca_file.empty() && tls.cert_file.empty()) {
    return " (if the server uses TLS, pass --ca)";
  }
  if (m.find("wrong version number") != std::string::npos) {
    return " (the server does not seem to speak TLS; drop --ca/--cert/--key)";
  }
  if (tls.cert_file.empty() && m.find("Socket closed") != std::string::npos) {
    return " (if the server requires client certificates, pass --cert and --key)";
  }
  return " (check --ca, --cert, --key and the names in the server certificate)";
}

// Maps a gRPC status (and the ErrorDetail in its details) to a Status.
Status FromGrpc(const grpc::Status& s, const ConnectionSettings& settings) {
  const std::string& server = settings.server;
  const std::chrono::milliseconds timeout = settings.timeout;
  v1::ErrorDetail detail;
  const bool has_detail = !s.error_details().empty() && detail.ParseFromString(s.error_details());
  std::string message =
      has_detail && !detail.message().empty() ? detail.message() : s.error_message();
  std::vector<Diagnostic> diagnostics;
  if (has_detail) diagnostics = FromProto(detail.diagnostics());
  const auto grpc_code = static_cast<api::GrpcCode>(s.error_code());  // the same integers
  StatusCode code = api::StatusCodeForGrpc(grpc_code, has_detail ? detail.status() : "");
  // The server's certificate lacks the --tls-server-spiffe-id asked for:
  // nothing was sent; a denial (exit 5), not an outage to retry.
  if (const auto at = s.error_message().find("server identity: "); at != std::string::npos) {
    return Status(StatusCode::kPermissionDenied,
                  "refused the server at " + server + ": " + s.error_message().substr(at));
  }
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      if (has_detail) break;
      return Status(StatusCode::kUnavailable, "cannot reach the control plane at " + server + ": " +
                                                  s.error_message() + TlsHint(s, settings));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Status(StatusCode::kUnavailable, "no answer from the control plane at " + server +
                                                  " within " + std::to_string(timeout.count()) +
                                                  " ms (see --timeout)");
    case grpc::StatusCode::INVALID_ARGUMENT:
      // A refused document, even from a server that names no status.
      if (!diagnostics.empty()) code = StatusCode::kInvalid;
      break;
    case grpc::StatusCode::UNAUTHENTICATED:
      if (settings.token.empty()) {
        message += " (pass --token-file FILE, or set OMNIRCTL_TOKEN or a context's tokenFile)";
      }
      break;
    default:
      break;
  }
  if (code == StatusCode::kInternal && message.empty()) message = "internal error";
  return Status(code, message, std::move(diagnostics));
}

std::vector<Diagnostic> FromProto(const google::protobuf::RepeatedPtrField<v1::Diagnostic>& in) {
  std::vector<Diagnostic> out;
  for (const auto& d : in) {
    // A code this build does not know keeps its name in the message.
    const auto code = ParseDiagCodeName(d.code());
    out.push_back({d.path(), code.value_or(DiagCode::kParseError),
                   code ? d.message() : d.code() + ": " + d.message()});
  }
  return out;
}

std::vector<BlockedNode> FromProto(const google::protobuf::RepeatedPtrField<v1::BlockedNode>& in) {
  std::vector<BlockedNode> out;
  for (const auto& b : in) {
    out.push_back(
        {b.node_id(), b.scope_chain(), b.reason(), {b.missing().begin(), b.missing().end()}});
  }
  return out;
}

Token FromProto(const v1::Token& t) {
  return {t.id(),
          t.name(),
          {t.scopes().begin(), t.scopes().end()},
          t.created_at_ms(),
          t.expires_at_ms(),
          t.revoked_at_ms()};
}

RolloutInfo FromProto(const v1::Rollout& r) {
  RolloutInfo out;
  out.id = r.id();
  out.state = r.state();
  out.version = r.version();
  out.previous_version = r.previous_version();
  out.rollback_version = r.rollback_version();
  out.rollback_reason = r.rollback_reason();
  out.current_wave = r.current_wave();
  for (const auto& w : r.waves()) {
    out.waves.push_back({w.index(),
                         w.kind(),
                         {w.scopes().begin(), w.scopes().end()},
                         w.nodes(),
                         w.assigned_new(),
                         w.state()});
  }
  out.gate = r.gate();
  out.gate_message = r.gate_message();
  out.author = r.author();
  out.reason = r.reason();
  out.created_at_ms = r.created_at_ms();
  out.updated_at_ms = r.updated_at_ms();
  out.dry_run = r.dry_run();
  out.blocked_nodes = FromProto(r.blocked_nodes());
  out.json = r.json();
  return out;
}

class GrpcClient final : public ControlClient {
 public:
  GrpcClient(ConnectionSettings settings, std::shared_ptr<grpc::Channel> channel)
      : settings_(std::move(settings)),
        config_(v1::ConfigService::NewStub(channel)),
        rollouts_(v1::RolloutService::NewStub(channel)) {}

  Result<std::vector<LayerSummary>> ListLayers() override {
    v1::ListLayersResponse resp;
    auto ctx = Context();
    if (auto s = Check(config_->ListLayers(ctx.get(), {}, &resp)); !s.ok()) return s;
    std::vector<LayerSummary> out;
    for (const auto& l : resp.layers()) out.push_back(ToLayerSummary(l));
    return out;
  }

  Result<Layer> GetLayer(const std::string& scope, std::optional<std::int64_t> revision) override {
    v1::GetLayerRequest req;
    req.set_scope(scope);
    if (revision) req.set_revision(*revision);
    v1::Layer resp;
    auto ctx = Context();
    if (auto s = Check(config_->GetLayer(ctx.get(), req, &resp)); !s.ok()) return s;
    return ToLayer(resp);
  }

  Result<LayerContext> GetLayerContext(const std::string& scope) override {
    v1::GetLayerContextRequest req;
    req.set_scope(scope);
    v1::LayerContext resp;
    auto ctx = Context();
    if (auto s = Check(config_->GetLayerContext(ctx.get(), req, &resp)); !s.ok()) return s;
    LayerContext out;
    out.scope = resp.scope();
    out.scope_chain = resp.scope_chain();
    if (resp.has_layer()) out.layer = ToLayer(resp.layer());
    out.effective_spec_json = resp.effective_spec();
    out.inherited_spec_json = resp.inherited_spec();
    return out;
  }

  Result<WriteResult> SetLayer(const SetLayerArgs& args) override {
    v1::SetLayerRequest req;
    req.set_scope(args.scope);
    req.set_document(args.document);
    if (args.expected_revision) req.set_expected_revision(*args.expected_revision);
    req.set_dry_run(args.dry_run);
    req.set_confirm(args.confirm);
    req.set_allow_unknown_node(args.allow_unknown_node);
    req.set_force(args.force);
    req.set_allow_large_change(args.allow_large_change);
    v1::WriteResult resp;
    auto ctx = Context();
    if (auto s = Check(config_->SetLayer(ctx.get(), req, &resp)); !s.ok()) return s;
    return ToWriteResult(resp);
  }

  Result<WriteResult> DeleteLayer(const DeleteLayerArgs& args) override {
    v1::DeleteLayerRequest req;
    req.set_scope(args.scope);
    if (args.expected_revision) req.set_expected_revision(*args.expected_revision);
    req.set_dry_run(args.dry_run);
    req.set_confirm(args.confirm);
    req.set_force(args.force);
    req.set_allow_large_change(args.allow_large_change);
    v1::WriteResult resp;
    auto ctx = Context();
    if (auto s = Check(config_->DeleteLayer(ctx.get(), req, &resp)); !s.ok()) return s;
    return ToWriteResult(resp);
  }

  Result<WriteResult> RevertLayer(const RevertLayerArgs& args) override {
    v1::RevertLayerRequest req;
    req.set_scope(args.scope);
    req.set_to_revision(args.to_revision);
    req.set_reason(args.reason);
    if (args.expected_revision) req.set_expected_revision(*args.expected_revision);
    req.set_dry_run(args.dry_run);
    req.set_confirm(args.confirm);
    v1::WriteResult resp;
    auto ctx = Context();
    if (auto s = Check(config_->RevertLayer(ctx.get(), req, &resp)); !s.ok()) return s;
    return ToWriteResult(resp);
  }

  Result<api::AuditChainReport> VerifyAudit() override {
    v1::AuditChain resp;
    auto ctx = Context();
    if (auto s = Check(config_->VerifyAudit(ctx.get(), {}, &resp)); !s.ok()) return s;
    api::AuditChainReport r;
    r.ok = resp.ok();
    r.entries = resp.entries();
    r.before_chain = resp.before_chain();
    r.head_id = resp.head_id();
    r.head_hash = resp.head_hash();
    r.break_id = resp.break_id();
    r.break_reason = resp.break_reason();
    r.anchor_id = resp.anchor_id();
    r.anchor_hash = resp.anchor_hash();
    return r;
  }

  Result<FreezeState> GetFreeze() override {
    v1::Freeze resp;
    auto ctx = Context();
    if (auto s = Check(config_->GetFreeze(ctx.get(), {}, &resp)); !s.ok()) return s;
    return ToFreeze(resp);
  }

  Result<FreezeState> SetFreeze(bool frozen, const std::string& reason) override {
    v1::SetFreezeRequest req;
    req.set_frozen(frozen);
    req.set_reason(reason);
    v1::Freeze resp;
    auto ctx = Context();
    if (auto s = Check(config_->SetFreeze(ctx.get(), req, &resp)); !s.ok()) return s;
    return ToFreeze(resp);
  }

  static FreezeState ToFreeze(const v1::Freeze& f) {
    return FreezeState{f.frozen(), f.reason(), f.by(), f.since_ms()};
  }

  static LayerSummary ToLayerSummary(const v1::ScopeSummary& l) {
    return LayerSummary{l.scope(), l.revision(), l.updated_at_ms(), l.author()};
  }

  static Layer ToLayer(const v1::Layer& l) {
    return Layer{l.scope(), l.revision(), l.document(), l.updated_at_ms(), l.author()};
  }

  static WriteResult ToWriteResult(const v1::WriteResult& resp) {
    WriteResult out;
    out.dry_run = resp.dry_run();
    out.revision = resp.revision();
    out.diagnostics = FromProto(resp.diagnostics());
    out.diff_summary = resp.diff_summary();
    out.blocked_nodes = FromProto(resp.blocked_nodes());
    out.chains_checked.assign(resp.chains_checked().begin(), resp.chains_checked().end());
    out.current_revision = resp.current_revision();
    out.current_document = resp.current_document();
    return out;
  }

  Result<HistoryPage> History(const std::string& scope, const HistoryQuery& query) override {
    v1::HistoryRequest req;
    req.set_scope(scope);
    if (query.before) req.set_before(*query.before);
    if (query.limit) req.set_limit(*query.limit);
    v1::HistoryResponse resp;
    auto ctx = Context();
    if (auto s = Check(config_->History(ctx.get(), req, &resp)); !s.ok()) return s;
    HistoryPage out;
    out.scope = scope;
    for (const auto& r : resp.revisions()) {
      out.revisions.push_back(
          {r.revision(), r.scope(), r.deleted(), r.author(), r.created_at_ms()});
    }
    out.next_before = resp.next_before();
    return out;
  }

  Result<std::vector<Diagnostic>> Validate(const std::string& document) override {
    v1::ValidateRequest req;
    req.set_document(document);
    v1::ValidateResponse resp;
    auto ctx = Context();
    if (auto s = Check(config_->Validate(ctx.get(), req, &resp)); !s.ok()) return s;
    return FromProto(resp.errors());
  }

  Result<EffectiveView> Effective(const std::vector<std::string>& chain) override {
    v1::EffectiveRequest req;
    for (const auto& s : chain) req.add_scope_chain(s);
    v1::EffectiveResponse resp;
    auto ctx = Context();
    if (auto s = Check(config_->Effective(ctx.get(), req, &resp)); !s.ok()) return s;
    return EffectiveView{
        resp.version(), resp.spec(), {resp.features().begin(), resp.features().end()}};
  }

  Result<std::vector<Node>> ListNodes() override {
    v1::ListNodesResponse resp;
    auto ctx = Context();
    if (auto s = Check(config_->ListNodes(ctx.get(), {}, &resp)); !s.ok()) return s;
    std::vector<Node> out;
    for (const auto& n : resp.nodes()) {
      Node node;
      node.node_id = n.node_id();
      node.scope_chain = n.scope_chain();
      node.api_version = n.api_version();
      node.features.assign(n.features().begin(), n.features().end());
      node.assigned_version = n.assigned_version();
      node.assigned_hash = n.assigned_hash();
      node.applied_version = n.applied_version();
      node.applied_hash = n.applied_hash();
      node.discovery_generation = n.discovery_generation();
      node.last_error = n.last_error();
      node.health_json = n.health();
      node.connected = n.connected();
      node.last_seen_ms = n.last_seen_ms();
      node.state = n.state();
      node.last_error_code = n.last_error_code();
      node.last_error_path = n.last_error_path();
      out.push_back(std::move(node));
    }
    return out;
  }

  Result<StatusSummary> GetStatus() override {
    v1::StatusResponse resp;
    auto ctx = Context();
    if (auto s = Check(config_->GetStatus(ctx.get(), {}, &resp)); !s.ok()) return s;
    StatusSummary out;
    out.head_revision = resp.head_revision();
    out.nodes_total = resp.nodes_total();
    out.nodes_connected = resp.nodes_connected();
    out.nodes_drifted = resp.nodes_drifted();
    for (const auto& vc : resp.nodes_by_applied_version()) {
      out.nodes_by_applied_version.emplace_back(vc.version(), vc.nodes());
    }
    for (const auto& sc : resp.nodes_by_state())
      out.nodes_by_state.emplace_back(sc.state(), sc.nodes());
    if (resp.has_freeze()) out.freeze = ToFreeze(resp.freeze());
    for (const auto& r : resp.rollouts()) {
      out.rollouts.push_back({r.id(), r.version(), r.state(), r.current_wave(), r.wave_count()});
    }
    for (const auto& l : resp.layers()) out.layers.push_back(ToLayerSummary(l));
    return out;
  }

  Status Audit(std::int64_t since_ms, bool follow, const AuditFilter& filter,
               const std::function<bool(const AuditEntry&)>& on_entry) override {
    v1::AuditRequest req;
    req.set_since_ms(since_ms);
    req.set_follow(follow);
    req.set_scope(filter.scope);
    req.set_principal(filter.principal);
    req.set_action(filter.action);
    req.set_writes_only(filter.writes_only);
    auto ctx = Context(/*deadline=*/!follow);
    auto reader = config_->Audit(ctx.get(), req);
    v1::AuditEntry e;
    while (reader->Read(&e)) {
      const AuditEntry info{e.id(),    e.time_ms(),  e.principal(), e.token_id(), e.action(),
                            e.scope(), e.revision(), e.outcome(),   e.summary()};
      if (!on_entry(info)) {
        ctx->TryCancel();
        reader->Finish();
        return Status::Ok();
      }
    }
    return Check(reader->Finish());
  }

  Result<IssuedToken> CreateToken(const std::string& name, const std::vector<std::string>& scopes,
                                  std::int64_t ttl_seconds) override {
    v1::CreateTokenRequest req;
    req.set_name(name);
    for (const auto& s : scopes) req.add_scopes(s);
    req.set_ttl_seconds(ttl_seconds);
    v1::CreateTokenResponse resp;
    auto ctx = Context();
    if (auto s = Check(config_->CreateToken(ctx.get(), req, &resp)); !s.ok()) return s;
    return IssuedToken{FromProto(resp.token()), resp.secret()};
  }

  Result<IssuedToken> Login(std::int64_t ttl_seconds) override {
    v1::LoginRequest req;
    req.set_ttl_seconds(ttl_seconds);
    v1::CreateTokenResponse resp;
    auto ctx = Context();
    if (auto s = Check(config_->Login(ctx.get(), req, &resp)); !s.ok()) return s;
    return IssuedToken{FromProto(resp.token()), resp.secret()};
  }

  Result<std::string> GetTrustedKeys() override {
    v1::GetKeysResponse resp;
    auto ctx = Context();
    if (auto s = Check(config_->GetKeys(ctx.get(), {}, &resp)); !s.ok()) return s;
    return resp.trusted_keys();
  }

  Result<KeySetChainView> GetKeySets(std::int64_t after_version) override {
    v1::GetKeySetsRequest req;
    req.set_after_version(after_version);
    v1::GetKeySetsResponse resp;
    auto ctx = Context();
    if (auto s = Check(config_->GetKeySets(ctx.get(), req, &resp)); !s.ok()) return s;
    KeySetChainView view;
    view.latest_version = resp.latest_version();
    for (const auto& entry : resp.key_sets()) {
      view.key_sets.emplace_back(entry.version(), entry.envelope());
    }
    return view;
  }

  Result<std::int64_t> PublishKeySet(const std::string& envelope) override {
    v1::PublishKeySetRequest req;
    req.set_envelope(envelope);
    v1::PublishKeySetResponse resp;
    auto ctx = Context();
    if (auto s = Check(config_->PublishKeySet(ctx.get(), req, &resp)); !s.ok()) return s;
    return resp.version();
  }

  Result<std::vector<Token>> ListTokens() override {
    v1::ListTokensResponse resp;
    auto ctx = Context();
    if (auto s = Check(config_->ListTokens(ctx.get(), {}, &resp)); !s.ok()) return s;
    std::vector<Token> out;
    for (const auto& t : resp.tokens()) out.push_back(FromProto(t));
    return out;
  }

  Status ForgetNode(const std::string& node_id) override {
    v1::ForgetNodeRequest req;
    req.set_node_id(node_id);
    v1::ForgetNodeResponse resp;
    auto ctx = Context();
    return Check(config_->ForgetNode(ctx.get(), req, &resp));
  }

  Result<Token> RevokeToken(const std::string& name_or_id, bool dry_run) override {
    v1::RevokeTokenRequest req;
    req.set_id(name_or_id);
    req.set_dry_run(dry_run);
    v1::RevokeTokenResponse resp;
    auto ctx = Context();
    if (auto s = Check(config_->RevokeToken(ctx.get(), req, &resp)); !s.ok()) return s;
    return FromProto(resp.token());
  }

  Result<RolloutInfo> StartRollout(const StartRolloutArgs& args) override {
    v1::StartRolloutRequest req;
    for (const auto& change : args.changes) {
      v1::LayerChange* c = req.add_changes();
      c->set_scope(change.scope);
      if (change.document) c->set_document(*change.document);
    }
    req.set_policy_json(args.policy_json);
    req.set_dry_run(args.dry_run);
    req.set_confirm(args.confirm);
    req.set_allow_large_change(args.allow_large_change);
    req.set_reason(args.reason);
    v1::Rollout resp;
    auto ctx = Context();
    if (auto s = Check(rollouts_->Start(ctx.get(), req, &resp)); !s.ok()) return s;
    return FromProto(resp);
  }

  Result<std::vector<RolloutInfo>> RolloutStatus(const std::string& id) override {
    v1::RolloutStatusRequest req;
    req.set_id(id);
    v1::RolloutStatusResponse resp;
    auto ctx = Context();
    if (auto s = Check(rollouts_->Status(ctx.get(), req, &resp)); !s.ok()) return s;
    std::vector<RolloutInfo> out;
    for (const auto& r : resp.rollouts()) out.push_back(FromProto(r));
    return out;
  }

  Result<RolloutInfo> ActOnRollout(RolloutAction action, const std::string& id,
                                   const std::string& reason) override {
    v1::RolloutActionRequest req;
    req.set_id(id);
    req.set_reason(reason);
    v1::Rollout resp;
    auto ctx = Context();
    grpc::Status s;
    switch (action) {
      case RolloutAction::kRollback:
        s = rollouts_->Rollback(ctx.get(), req, &resp);
        break;
      case RolloutAction::kPause:
        s = rollouts_->Pause(ctx.get(), req, &resp);
        break;
      case RolloutAction::kResume:
        s = rollouts_->Resume(ctx.get(), req, &resp);
        break;
      case RolloutAction::kPromote:
        s = rollouts_->Promote(ctx.get(), req, &resp);
        break;
      case RolloutAction::kAbort:
        s = rollouts_->Abort(ctx.get(), req, &resp);
        break;
    }
    if (auto st = Check(s); !st.ok()) return st;
    return FromProto(resp);
  }

 private:
  std::unique_ptr<grpc::ClientContext> Context(bool deadline = true) const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (deadline) ctx->set_deadline(std::chrono::system_clock::now() + settings_.timeout);
    if (!settings_.token.empty()) ctx->AddMetadata("authorization", "Bearer " + settings_.token);
    return ctx;
  }

  Status Check(const grpc::Status& s) const {
    if (s.ok()) return Status::Ok();
    return FromGrpc(s, settings_);
  }

  ConnectionSettings settings_;
  std::unique_ptr<v1::ConfigService::Stub> config_;
  std::unique_ptr<v1::RolloutService::Stub> rollouts_;
};

Result<std::string> ReadPem(const std::string& path, const char* what) {
  auto pem = ReadFileLimited(path, kMaxPemBytes);
  if (!pem.ok()) {
    return Status(StatusCode::kIoError,
                  std::string("cannot read ") + what + " " + path + ": " + pem.status().message());
  }
  return pem;
}

}  // namespace

Result<std::unique_ptr<ControlClient>> NewGrpcClient(const ConnectionSettings& settings) {
  // gRPC's own log lines would break the one-line (or JSON) error contract on
  // stderr; every failure reaches the user through the call's status. Set
  // GRPC_VERBOSITY to see them when debugging.
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function([](gpr_log_func_args*) {});
  std::shared_ptr<grpc::ChannelCredentials> creds;
  const bool tls =
      !settings.ca_file.empty() || !settings.cert_file.empty() || !settings.key_file.empty();
  if (!tls && !settings.server_spiffe_ids.empty()) {
    return Status(StatusCode::kInvalidArgument,
                  "--tls-server-spiffe-id needs TLS (--ca, or --cert and --key)");
  }
  if (!tls) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    if (settings.cert_file.empty() != settings.key_file.empty()) {
      return Status(StatusCode::kInvalidArgument, "--cert and --key go together");
    }
    grpc::SslCredentialsOptions options;
    if (!settings.ca_file.empty()) {
      auto ca = ReadPem(settings.ca_file, "CA bundle");
      if (!ca.ok()) return ca.status();
      options.pem_root_certs = *ca;
    }
    if (!settings.cert_file.empty()) {
      auto cert = ReadPem(settings.cert_file, "client certificate");
      if (!cert.ok()) return cert.status();
      auto key = ReadPem(settings.key_file, "client key");
      if (!key.ok()) return key.status();
      options.pem_cert_chain = *cert;
      options.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(options);
    OMNI_ASSIGN_OR_RETURN(
        PeerIdentityPolicy server_ids,
        PeerIdentityPolicy::Parse(settings.server_spiffe_ids, "--tls-server-spiffe-id"));
    if (server_ids.enabled()) {
      creds = grpc::CompositeChannelCredentials(creds, ServerIdentityCheck(std::move(server_ids)));
    }
  }
  grpc::ChannelArguments args;
  if (!settings.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(settings.tls_server_name);
  }
  auto channel = grpc::CreateCustomChannel(settings.server, creds, args);
  return std::unique_ptr<ControlClient>(std::make_unique<GrpcClient>(settings, channel));
}

}  // namespace omnirelay::cli

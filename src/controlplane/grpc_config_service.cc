#include "grpc_config_service.h"

#include <chrono>

#include "api_json.h"
#include "grpc_errors.h"

namespace omnirelay::cp {

namespace v1 = controlplane::v1;

namespace {

using ::omnirelay::cp::ToProto;  // the Diagnostic overload, beside the ones below

// How often an audit follow looks for new entries, and how many it reads at once.
constexpr auto kFollowPoll = std::chrono::milliseconds(250);
constexpr std::size_t kFollowBatch = 1000;

void ToProto(const WriteOutcome& o, v1::WriteResult* out) {
  out->set_dry_run(o.dry_run);
  out->set_revision(o.revision);
  for (const auto& d : o.diagnostics) ToProto(d, out->add_diagnostics());
  out->set_diff_summary(o.diff_summary);
  for (const auto& b : o.blocked_nodes) ToProto(b, out->add_blocked_nodes());
  for (const auto& c : o.chains_checked) out->add_chains_checked(c);
  out->set_valid(o.diagnostics.empty());
  out->set_current_revision(o.current_revision);
  out->set_current_document(o.current_document);
}

void ToProto(const api::LayerSummary& l, v1::ScopeSummary* out) {
  out->set_scope(l.scope);
  out->set_revision(l.revision);
  out->set_updated_at_ms(l.updated_at_ms);
  out->set_author(l.author);
}

void ToProto(const api::Layer& l, v1::Layer* out) {
  out->set_scope(l.scope);
  out->set_revision(l.revision);
  out->set_document(l.document);
  out->set_updated_at_ms(l.updated_at_ms);
  out->set_author(l.author);
}

void ToProto(const api::Node& n, v1::Node* out) {
  out->set_node_id(n.node_id);
  out->set_scope_chain(n.scope_chain);
  out->set_api_version(n.api_version);
  for (const auto& f : n.features) out->add_features(f);
  out->set_assigned_version(n.assigned_version);
  out->set_assigned_hash(n.assigned_hash);
  out->set_applied_version(n.applied_version);
  out->set_applied_hash(n.applied_hash);
  out->set_discovery_generation(n.discovery_generation);
  out->set_last_error(n.last_error);
  out->set_health(n.health_json.empty() ? "{}" : n.health_json);
  out->set_connected(n.connected);
  out->set_last_seen_ms(n.last_seen_ms);
  out->set_drifted(n.drift());
  out->set_state(n.state);
  out->set_last_error_code(n.last_error_code);
  out->set_last_error_path(n.last_error_path);
}

void ToProto(const TokenRecord& t, v1::Token* out) {
  out->set_id(t.id);
  out->set_name(t.name);
  for (const auto& s : t.scopes) out->add_scopes(s);
  out->set_created_at_ms(t.created_at_ms);
  out->set_expires_at_ms(t.expires_at_ms);
  out->set_revoked_at_ms(t.revoked_at_ms);
}

void ToProto(const AuditEntry& a, v1::AuditEntry* out) {
  out->set_id(a.id);
  out->set_time_ms(a.time_ms);
  out->set_principal(a.principal);
  out->set_token_id(a.token_id);
  out->set_action(a.action);
  out->set_scope(a.scope);
  out->set_revision(a.revision);
  out->set_outcome(a.outcome);
  out->set_summary(a.summary);
}

void ToProto(const api::FreezeState& f, v1::Freeze* out) {
  out->set_frozen(f.frozen);
  out->set_reason(f.reason);
  out->set_by(f.by);
  out->set_since_ms(f.since_ms);
}

std::string JoinChain(const google::protobuf::RepeatedPtrField<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += ',';
    out += p;
  }
  return out;
}

template <typename T>
std::optional<std::int64_t> Expected(const T& req) {
  if (!req.has_expected_revision()) return std::nullopt;
  return req.expected_revision();
}

}  // namespace

ConfigServiceImpl::ConfigServiceImpl(ControlPlaneService& service, const Authenticator& auth,
                                     Store& store)
    : service_(service), auth_(auth), store_(store) {}

void ConfigServiceImpl::BeginShutdown() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.NotifyAll();
}

Result<Principal> ConfigServiceImpl::Authenticate(const Ctx& ctx, std::string_view action) {
  return AuthenticateCall(ctx, auth_, service_, action);
}

grpc::Status ConfigServiceImpl::ListLayers(Ctx* ctx, const v1::ListLayersRequest*,
                                           v1::ListLayersResponse* resp) {
  auto who = Authenticate(*ctx, "layer.list");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto layers = service_.ListLayers(*who);
  if (!layers.ok()) return ToGrpcStatus(layers.status());
  for (const auto& l : *layers) ToProto(l, resp->add_layers());
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::GetLayer(Ctx* ctx, const v1::GetLayerRequest* req,
                                         v1::Layer* resp) {
  auto who = Authenticate(*ctx, "layer.get");
  if (!who.ok()) return ToGrpcStatus(who.status());
  std::optional<std::int64_t> revision;
  if (req->has_revision()) revision = req->revision();
  auto layer = service_.GetLayer(*who, req->scope(), revision);
  if (!layer.ok()) return ToGrpcStatus(layer.status());
  ToProto(ToApi(*layer), resp);
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::GetLayerContext(Ctx* ctx, const v1::GetLayerContextRequest* req,
                                                v1::LayerContext* resp) {
  auto who = Authenticate(*ctx, "layer.context");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto context = service_.GetLayerContext(*who, req->scope());
  if (!context.ok()) return ToGrpcStatus(context.status());
  resp->set_scope(context->scope);
  resp->set_scope_chain(context->scope_chain);
  if (context->layer) ToProto(*context->layer, resp->mutable_layer());
  resp->set_effective_spec(context->effective_spec_json);
  resp->set_inherited_spec(context->inherited_spec_json);
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::SetLayer(Ctx* ctx, const v1::SetLayerRequest* req,
                                         v1::WriteResult* resp) {
  auto who = Authenticate(*ctx, "layer.put");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto outcome = service_.PutLayer(*who, req->scope(), req->document(), Expected(*req),
                                   req->dry_run(), req->confirm(), req->allow_unknown_node(),
                                   req->force(), req->allow_large_change());
  if (!outcome.ok()) return ToGrpcStatus(outcome.status());
  ToProto(*outcome, resp);
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::DeleteLayer(Ctx* ctx, const v1::DeleteLayerRequest* req,
                                            v1::WriteResult* resp) {
  auto who = Authenticate(*ctx, "layer.delete");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto outcome = service_.DeleteLayer(*who, req->scope(), Expected(*req), req->dry_run(),
                                      req->confirm(), req->force(), req->allow_large_change());
  if (!outcome.ok()) return ToGrpcStatus(outcome.status());
  ToProto(*outcome, resp);
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::RevertLayer(Ctx* ctx, const v1::RevertLayerRequest* req,
                                            v1::WriteResult* resp) {
  auto who = Authenticate(*ctx, "layer.revert");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto outcome = service_.RevertLayer(*who, req->scope(), req->to_revision(), req->reason(),
                                      Expected(*req), req->dry_run(), req->confirm());
  if (!outcome.ok()) return ToGrpcStatus(outcome.status());
  ToProto(*outcome, resp);
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::GetFreeze(Ctx* ctx, const v1::GetFreezeRequest*, v1::Freeze* resp) {
  auto who = Authenticate(*ctx, "freeze.get");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto freeze = service_.GetFreeze(*who);
  if (!freeze.ok()) return ToGrpcStatus(freeze.status());
  ToProto(*freeze, resp);
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::SetFreeze(Ctx* ctx, const v1::SetFreezeRequest* req,
                                          v1::Freeze* resp) {
  auto who = Authenticate(*ctx, "freeze.set");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto freeze = service_.SetFreeze(*who, req->frozen(), req->reason());
  if (!freeze.ok()) return ToGrpcStatus(freeze.status());
  ToProto(*freeze, resp);
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::VerifyAudit(Ctx* ctx, const v1::VerifyAuditRequest*,
                                            v1::AuditChain* resp) {
  auto who = Authenticate(*ctx, "audit.verify");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto report = service_.VerifyAudit(*who);
  if (!report.ok()) return ToGrpcStatus(report.status());
  resp->set_ok(report->ok);
  resp->set_entries(report->entries);
  resp->set_before_chain(report->before_chain);
  resp->set_head_id(report->head_id);
  resp->set_head_hash(report->head_hash);
  resp->set_break_id(report->break_id);
  resp->set_break_reason(report->break_reason);
  resp->set_anchor_id(report->anchor_id);
  resp->set_anchor_hash(report->anchor_hash);
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::History(Ctx* ctx, const v1::HistoryRequest* req,
                                        v1::HistoryResponse* resp) {
  auto who = Authenticate(*ctx, "layer.history");
  if (!who.ok()) return ToGrpcStatus(who.status());
  HistoryQuery query;
  if (req->has_before()) query.before = req->before();
  if (req->has_limit()) query.limit = req->limit();
  auto page = service_.History(*who, req->scope(), query);
  if (!page.ok()) return ToGrpcStatus(page.status());
  resp->set_next_before(page->next_before);
  for (const auto& r : page->revisions) {
    v1::Revision* out = resp->add_revisions();
    out->set_revision(r.revision);
    out->set_scope(r.scope);
    out->set_deleted(r.deleted);
    out->set_author(r.author);
    out->set_created_at_ms(r.created_at_ms);
  }
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::Validate(Ctx* ctx, const v1::ValidateRequest* req,
                                         v1::ValidateResponse* resp) {
  auto who = Authenticate(*ctx, "validate");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto diagnostics = service_.Validate(*who, req->document());
  if (!diagnostics.ok()) return ToGrpcStatus(diagnostics.status());
  resp->set_valid(diagnostics->empty());
  for (const auto& d : *diagnostics) ToProto(d, resp->add_errors());
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::Effective(Ctx* ctx, const v1::EffectiveRequest* req,
                                          v1::EffectiveResponse* resp) {
  auto who = Authenticate(*ctx, "effective");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto view = service_.Effective(*who, JoinChain(req->scope_chain()));
  if (!view.ok()) return ToGrpcStatus(view.status());
  resp->set_version(view->version);
  resp->set_spec(view->spec_json);
  for (const auto& f : view->features) resp->add_features(f);
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::ListNodes(Ctx* ctx, const v1::ListNodesRequest*,
                                          v1::ListNodesResponse* resp) {
  auto who = Authenticate(*ctx, "node.list");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto nodes = service_.ListNodes(*who);
  if (!nodes.ok()) return ToGrpcStatus(nodes.status());
  for (const auto& n : *nodes) ToProto(n, resp->add_nodes());
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::GetNode(Ctx* ctx, const v1::GetNodeRequest* req, v1::Node* resp) {
  auto who = Authenticate(*ctx, "node.get");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto node = service_.GetNode(*who, req->node_id());
  if (!node.ok()) return ToGrpcStatus(node.status());
  ToProto(*node, resp);
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::ForgetNode(Ctx* ctx, const v1::ForgetNodeRequest* req,
                                           v1::ForgetNodeResponse*) {
  auto who = Authenticate(*ctx, "node.forget");
  if (!who.ok()) return ToGrpcStatus(who.status());
  return ToGrpcStatus(service_.ForgetNode(*who, req->node_id()));
}

grpc::Status ConfigServiceImpl::GetNodeSnapshot(Ctx* ctx, const v1::GetNodeSnapshotRequest* req,
                                                v1::SignedSnapshot* resp) {
  auto who = Authenticate(*ctx, "node.snapshot");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto snapshot = service_.NodeSnapshot(*who, req->node_id(), JoinChain(req->scope_chain()));
  if (!snapshot.ok()) return ToGrpcStatus(snapshot.status());
  const SnapshotRecord& s = **snapshot;
  resp->set_version(s.version);
  resp->set_hash(s.hash);
  resp->set_envelope(s.envelope);
  resp->set_scope_chain(s.scope_chain);
  resp->set_expires_at_ms(s.expires_at_ms);
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::GetStatus(Ctx* ctx, const v1::GetStatusRequest*,
                                          v1::StatusResponse* resp) {
  auto who = Authenticate(*ctx, "status");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto status = service_.GetStatus(*who);
  if (!status.ok()) return ToGrpcStatus(status.status());
  resp->set_head_revision(status->head_revision);
  resp->set_nodes_total(static_cast<std::int64_t>(status->nodes_total));
  resp->set_nodes_connected(static_cast<std::int64_t>(status->nodes_connected));
  resp->set_nodes_drifted(static_cast<std::int64_t>(status->nodes_drifted));
  for (const auto& [version, count] : status->nodes_by_applied_version) {
    v1::VersionCount* vc = resp->add_nodes_by_applied_version();
    vc->set_version(version);
    vc->set_nodes(static_cast<std::int64_t>(count));
  }
  for (const auto& [state, count] : status->nodes_by_state) {
    v1::StateCount* sc = resp->add_nodes_by_state();
    sc->set_state(state);
    sc->set_nodes(count);
  }
  if (status->freeze.frozen) ToProto(status->freeze, resp->mutable_freeze());
  for (const auto& l : status->layers) ToProto(l, resp->add_layers());
  for (const auto& r : status->rollouts) {
    v1::RolloutBrief* b = resp->add_rollouts();
    b->set_id(r.id);
    b->set_version(r.version);
    b->set_state(r.state);
    b->set_current_wave(r.current_wave);
    b->set_wave_count(r.wave_count);
  }
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::Audit(Ctx* ctx, const v1::AuditRequest* req,
                                      grpc::ServerWriter<v1::AuditEntry>* writer) {
  auto who = Authenticate(*ctx, "audit.query");
  if (!who.ok()) return ToGrpcStatus(who.status());
  // The service authorizes and audits the query once; a follow then tails
  // the store directly, so that following the audit log does not itself
  // write an audit entry every poll.
  AuditFilter filter;
  filter.scope = req->scope();
  filter.principal = req->principal();
  filter.action = req->action();
  filter.writes_only = req->writes_only();
  auto entries = service_.Audit(*who, req->since_ms(), req->after_id(), filter);
  if (!entries.ok()) return ToGrpcStatus(entries.status());
  std::int64_t last_id = req->after_id();
  v1::AuditEntry out;
  for (const auto& e : *entries) {
    ToProto(e, &out);
    if (!writer->Write(out)) return grpc::Status::OK;
    last_id = e.id;
  }
  if (!req->follow()) return grpc::Status::OK;
  while (true) {
    {
      MutexLock lock(mu_);
      const auto deadline = std::chrono::steady_clock::now() + kFollowPoll;
      while (!stopping_ && cv_.WaitUntil(mu_, deadline)) {
      }
      if (stopping_) return ToGrpcStatus(Status(StatusCode::kUnavailable, "shutting down"));
    }
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    service_.FlushAudit();
    auto more = store_.QueryAudit(req->since_ms(), last_id, kFollowBatch, filter);
    if (!more.ok()) return ToGrpcStatus(more.status());
    for (const auto& e : *more) {
      ToProto(e, &out);
      if (!writer->Write(out)) return grpc::Status::OK;
      last_id = e.id;
    }
  }
}

grpc::Status ConfigServiceImpl::CreateToken(Ctx* ctx, const v1::CreateTokenRequest* req,
                                            v1::CreateTokenResponse* resp) {
  auto who = Authenticate(*ctx, "token.create");
  if (!who.ok()) return ToGrpcStatus(who.status());
  std::vector<std::string> scopes(req->scopes().begin(), req->scopes().end());
  auto issued = service_.CreateToken(*who, req->name(), scopes, req->ttl_seconds());
  if (!issued.ok()) return ToGrpcStatus(issued.status());
  ToProto(issued->record, resp->mutable_token());
  resp->set_secret(issued->secret);
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::Login(Ctx* ctx, const v1::LoginRequest* req,
                                      v1::CreateTokenResponse* resp) {
  auto who = Authenticate(*ctx, "token.login");
  if (!who.ok()) return ToGrpcStatus(who.status());
  if (req->ttl_seconds() < 0) {
    return ToGrpcStatus(Status(StatusCode::kInvalidArgument, "ttl must not be negative"));
  }
  auto issued = service_.Login(*who, req->ttl_seconds());
  if (!issued.ok()) return ToGrpcStatus(issued.status());
  ToProto(issued->record, resp->mutable_token());
  resp->set_secret(issued->secret);
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::ListTokens(Ctx* ctx, const v1::ListTokensRequest*,
                                           v1::ListTokensResponse* resp) {
  auto who = Authenticate(*ctx, "token.list");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto tokens = service_.ListTokens(*who);
  if (!tokens.ok()) return ToGrpcStatus(tokens.status());
  for (const auto& t : *tokens) ToProto(t, resp->add_tokens());
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::RevokeToken(Ctx* ctx, const v1::RevokeTokenRequest* req,
                                            v1::RevokeTokenResponse* resp) {
  auto who = Authenticate(*ctx, "token.revoke");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto revoked = service_.RevokeToken(*who, req->id(), req->dry_run());
  if (!revoked.ok()) return ToGrpcStatus(revoked.status());
  ToProto(*revoked, resp->mutable_token());
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::GetKeys(Ctx* ctx, const v1::GetKeysRequest*,
                                        v1::GetKeysResponse* resp) {
  auto who = Authenticate(*ctx, "keys.get");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto keys = service_.TrustedKeys(*who);
  if (!keys.ok()) return ToGrpcStatus(keys.status());
  resp->set_trusted_keys(*keys);
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::GetKeySets(Ctx* ctx, const v1::GetKeySetsRequest* req,
                                           v1::GetKeySetsResponse* resp) {
  auto who = Authenticate(*ctx, "keysets.get");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto chain = service_.KeySets(*who, req->after_version());
  if (!chain.ok()) return ToGrpcStatus(chain.status());
  resp->set_latest_version(chain->latest_version);
  for (const auto& [version, envelope] : chain->key_sets) {
    v1::KeySetEntry* entry = resp->add_key_sets();
    entry->set_version(version);
    entry->set_envelope(envelope);
  }
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::PublishKeySet(Ctx* ctx, const v1::PublishKeySetRequest* req,
                                              v1::PublishKeySetResponse* resp) {
  auto who = Authenticate(*ctx, "keyset.publish");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto version = service_.PublishKeySet(*who, req->envelope());
  if (!version.ok()) return ToGrpcStatus(version.status());
  resp->set_version(*version);
  return grpc::Status::OK;
}

}  // namespace omnirelay::cp

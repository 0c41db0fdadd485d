#include "grpc_rollout_service.h"

#include <nlohmann/json.hpp>

#include "grpc_errors.h"
#include "rollout_api_json.h"
#include "rollout_engine.h"

namespace omnirelay::cp {

namespace v1 = controlplane::v1;

namespace {

using Json = nlohmann::json;

// The typed fields are read from the API object itself, so that gRPC and
// REST cannot tell two stories; times come from the state (the JSON has
// them as RFC 3339 text).
void ToProto(const RolloutRun& run, bool dry_run, v1::Rollout* out) {
  const std::string text = RolloutApiJson(run);
  const Json j = Json::parse(text);
  out->set_id(j.value("id", ""));
  out->set_state(j.value("state", ""));
  out->set_version(j.value("version", std::int64_t{0}));
  out->set_previous_version(j.value("previousVersion", std::int64_t{0}));
  out->set_rollback_version(j.value("rollbackVersion", std::int64_t{0}));
  out->set_rollback_reason(j.value("rollbackReason", ""));
  for (const auto& scope : j.value("scopes", Json::array())) {
    out->add_scopes(scope.get<std::string>());
  }
  out->set_current_wave(j.value("currentWave", 0));
  for (const Json& w : j.value("waves", Json::array())) {
    v1::RolloutWave* wave = out->add_waves();
    wave->set_index(w.value("index", 0));
    wave->set_kind(w.value("kind", ""));
    for (const auto& scope : w.value("scopes", Json::array())) {
      wave->add_scopes(scope.get<std::string>());
    }
    wave->set_nodes(w.value("nodes", std::int64_t{0}));
    wave->set_assigned_new(w.value("assignedNew", std::int64_t{0}));
    wave->set_state(w.value("state", ""));
    for (const auto& id : w.value("nodeIds", Json::array())) {
      wave->add_node_ids(id.get<std::string>());
    }
  }
  if (j.contains("gate") && j["gate"].is_object()) {
    out->set_gate(j["gate"].value("gate", ""));
    out->set_gate_message(j["gate"].value("message", ""));
  }
  out->set_author(j.value("author", ""));
  out->set_reason(j.value("reason", ""));
  out->set_created_at_ms(run.state.created_at_ms);
  out->set_updated_at_ms(run.state.updated_at_ms);
  out->set_dry_run(dry_run);
  for (const auto& node : run.blocked_nodes) cp::ToProto(node, out->add_blocked_nodes());
  out->set_json(text);
}

}  // namespace

RolloutServiceImpl::RolloutServiceImpl(ControlPlaneService& service, const Authenticator& auth)
    : service_(service), auth_(auth) {}

grpc::Status RolloutServiceImpl::Start(Ctx* ctx, const v1::StartRolloutRequest* req,
                                       v1::Rollout* resp) {
  auto who = AuthenticateCall(*ctx, auth_, service_, "rollout.start");
  if (!who.ok()) return ToGrpcStatus(who.status());
  RolloutStartRequest request;
  for (const v1::LayerChange& change : req->changes()) {
    std::optional<std::string> document;
    if (!change.document().empty()) document = change.document();
    request.changes.push_back({change.scope(), std::move(document)});
  }
  request.policy_json = req->policy_json();
  request.dry_run = req->dry_run();
  request.confirm = req->confirm();
  request.allow_large_change = req->allow_large_change();
  request.reason = req->reason();
  auto run = service_.StartRollout(*who, request);
  if (!run.ok()) return ToGrpcStatus(run.status());
  ToProto(*run, request.dry_run, resp);
  return grpc::Status::OK;
}

grpc::Status RolloutServiceImpl::Status(Ctx* ctx, const v1::RolloutStatusRequest* req,
                                        v1::RolloutStatusResponse* resp) {
  const bool one = !req->id().empty();
  auto who = AuthenticateCall(*ctx, auth_, service_, one ? "rollout.get" : "rollout.list");
  if (!who.ok()) return ToGrpcStatus(who.status());
  if (one) {
    auto run = service_.GetRollout(*who, req->id());
    if (!run.ok()) return ToGrpcStatus(run.status());
    ToProto(*run, false, resp->add_rollouts());
    return grpc::Status::OK;
  }
  auto runs = service_.ListRollouts(*who);
  if (!runs.ok()) return ToGrpcStatus(runs.status());
  for (const RolloutRun& run : *runs) ToProto(run, false, resp->add_rollouts());
  return grpc::Status::OK;
}

grpc::Status RolloutServiceImpl::Act(const Ctx& ctx, RolloutAction action, const ActionRequest& req,
                                     v1::Rollout* resp) {
  auto who = AuthenticateCall(ctx, auth_, service_, "rollout.action");
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto run = service_.ActOnRollout(*who, req.id(), action, req.reason());
  if (!run.ok()) return ToGrpcStatus(run.status());
  ToProto(*run, false, resp);
  return grpc::Status::OK;
}

grpc::Status RolloutServiceImpl::Rollback(Ctx* ctx, const ActionRequest* req, v1::Rollout* resp) {
  return Act(*ctx, RolloutAction::kRollback, *req, resp);
}
grpc::Status RolloutServiceImpl::Pause(Ctx* ctx, const ActionRequest* req, v1::Rollout* resp) {
  return Act(*ctx, RolloutAction::kPause, *req, resp);
}
grpc::Status RolloutServiceImpl::Resume(Ctx* ctx, const ActionRequest* req, v1::Rollout* resp) {
  return Act(*ctx, RolloutAction::kResume, *req, resp);
}
grpc::Status RolloutServiceImpl::Promote(Ctx* ctx, const ActionRequest* req, v1::Rollout* resp) {
  return Act(*ctx, RolloutAction::kPromote, *req, resp);
}
grpc::Status RolloutServiceImpl::Abort(Ctx* ctx, const ActionRequest* req, v1::Rollout* resp) {
  return Act(*ctx, RolloutAction::kAbort, *req, resp);
}

}  // namespace omnirelay::cp

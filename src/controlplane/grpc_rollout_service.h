// Internal: the RolloutService of proto/omnirelay/controlplane/v1/ — each RPC
// a thin translation onto ControlPlaneService's rollouts (StartRollout,
// ActOnRollout, GetRollout, ListRollouts), which do authz, validation and
// audit. Each Rollout answered carries RolloutApiJson, the REST object.
// Served with gRPC's synchronous API, like ConfigService.
//
// Auth: the "authorization: Bearer <token>" metadata of every call; a
// refused token is audited (AuthenticateCall).
//
// Thread safety: gRPC calls the handlers from its threads concurrently; the
// object holds no state of its own.
#pragma once

#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/v1/rollout_service.grpc.pb.h"

namespace omnirelay::cp {

class RolloutServiceImpl final : public controlplane::v1::RolloutService::Service {
 public:
  RolloutServiceImpl(ControlPlaneService& service, const Authenticator& auth);

  using Ctx = grpc::ServerContext;
  using ActionRequest = controlplane::v1::RolloutActionRequest;
  grpc::Status Start(Ctx* ctx, const controlplane::v1::StartRolloutRequest* req,
                     controlplane::v1::Rollout* resp) override;
  grpc::Status Status(Ctx* ctx, const controlplane::v1::RolloutStatusRequest* req,
                      controlplane::v1::RolloutStatusResponse* resp) override;
  grpc::Status Rollback(Ctx* ctx, const ActionRequest* req,
                        controlplane::v1::Rollout* resp) override;
  grpc::Status Pause(Ctx* ctx, const ActionRequest* req, controlplane::v1::Rollout* resp) override;
  grpc::Status Resume(Ctx* ctx, const ActionRequest* req, controlplane::v1::Rollout* resp) override;
  grpc::Status Promote(Ctx* ctx, const ActionRequest* req,
                       controlplane::v1::Rollout* resp) override;
  grpc::Status Abort(Ctx* ctx, const ActionRequest* req, controlplane::v1::Rollout* resp) override;

 private:
  grpc::Status Act(const Ctx& ctx, RolloutAction action, const ActionRequest& req,
                   controlplane::v1::Rollout* resp);

  ControlPlaneService& service_;
  const Authenticator& auth_;
};

}  // namespace omnirelay::cp

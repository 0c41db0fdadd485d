// Internal: the ConfigService of proto/omnirelay/controlplane/v1/ — operator
// RPCs, each a thin translation onto ControlPlaneService, which does authz,
// validation and audit. Served with gRPC's synchronous API: operator calls
// are few and may block on the store.
//
// Auth: the "authorization: Bearer <token>" metadata of every call, through
// the Authenticator the daemon injects; a refused token is audited (AuditRefusal).
//
// Thread safety: gRPC calls the handlers from its threads concurrently;
// BeginShutdown from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "omnirelay/config/mutex.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/store.h"
#include "omnirelay/controlplane/v1/config_service.grpc.pb.h"

namespace omnirelay::cp {

class ConfigServiceImpl final : public controlplane::v1::ConfigService::Service {
 public:
  ConfigServiceImpl(ControlPlaneService& service, const Authenticator& auth, Store& store);

  // Ends audit follows so that the server can shut down.
  void BeginShutdown();

  using Ctx = grpc::ServerContext;
  grpc::Status ListLayers(Ctx* ctx, const controlplane::v1::ListLayersRequest* req,
                          controlplane::v1::ListLayersResponse* resp) override;
  grpc::Status GetLayer(Ctx* ctx, const controlplane::v1::GetLayerRequest* req,
                        controlplane::v1::Layer* resp) override;
  grpc::Status SetLayer(Ctx* ctx, const controlplane::v1::SetLayerRequest* req,
                        controlplane::v1::WriteResult* resp) override;
  grpc::Status DeleteLayer(Ctx* ctx, const controlplane::v1::DeleteLayerRequest* req,
                           controlplane::v1::WriteResult* resp) override;
  grpc::Status History(Ctx* ctx, const controlplane::v1::HistoryRequest* req,
                       controlplane::v1::HistoryResponse* resp) override;
  grpc::Status GetLayerContext(Ctx* ctx, const controlplane::v1::GetLayerContextRequest* req,
                               controlplane::v1::LayerContext* resp) override;
  grpc::Status RevertLayer(Ctx* ctx, const controlplane::v1::RevertLayerRequest* req,
                           controlplane::v1::WriteResult* resp) override;
  grpc::Status GetFreeze(Ctx* ctx, const controlplane::v1::GetFreezeRequest* req,
                         controlplane::v1::Freeze* resp) override;
  grpc::Status SetFreeze(Ctx* ctx, const controlplane::v1::SetFreezeRequest* req,
                         controlplane::v1::Freeze* resp) override;
  grpc::Status VerifyAudit(Ctx* ctx, const controlplane::v1::VerifyAuditRequest* req,
                           controlplane::v1::AuditChain* resp) override;
  grpc::Status Validate(Ctx* ctx, const controlplane::v1::ValidateRequest* req,
                        controlplane::v1::ValidateResponse* resp) override;
  grpc::Status Effective(Ctx* ctx, const controlplane::v1::EffectiveRequest* req,
                         controlplane::v1::EffectiveResponse* resp) override;
  grpc::Status ListNodes(Ctx* ctx, const controlplane::v1::ListNodesRequest* req,
                         controlplane::v1::ListNodesResponse* resp) override;
  grpc::Status GetNode(Ctx* ctx, const controlplane::v1::GetNodeRequest* req,
                       controlplane::v1::Node* resp) override;
  grpc::Status ForgetNode(Ctx* ctx, const controlplane::v1::ForgetNodeRequest* req,
                          controlplane::v1::ForgetNodeResponse* resp) override;
  grpc::Status GetNodeSnapshot(Ctx* ctx, const controlplane::v1::GetNodeSnapshotRequest* req,
                               controlplane::v1::SignedSnapshot* resp) override;
  grpc::Status GetStatus(Ctx* ctx, const controlplane::v1::GetStatusRequest* req,
                         controlplane::v1::StatusResponse* resp) override;
  grpc::Status Audit(Ctx* ctx, const controlplane::v1::AuditRequest* req,
                     grpc::ServerWriter<controlplane::v1::AuditEntry>* writer) override;
  grpc::Status CreateToken(Ctx* ctx, const controlplane::v1::CreateTokenRequest* req,
                           controlplane::v1::CreateTokenResponse* resp) override;
  grpc::Status Login(Ctx* ctx, const controlplane::v1::LoginRequest* req,
                     controlplane::v1::CreateTokenResponse* resp) override;
  grpc::Status ListTokens(Ctx* ctx, const controlplane::v1::ListTokensRequest* req,
                          controlplane::v1::ListTokensResponse* resp) override;
  grpc::Status RevokeToken(Ctx* ctx, const controlplane::v1::RevokeTokenRequest* req,
                           controlplane::v1::RevokeTokenResponse* resp) override;
  grpc::Status GetKeys(Ctx* ctx, const controlplane::v1::GetKeysRequest* req,
                       controlplane::v1::GetKeysResponse* resp) override;
  grpc::Status GetKeySets(Ctx* ctx, const controlplane::v1::GetKeySetsRequest* req,
                          controlplane::v1::GetKeySetsResponse* resp) override;
  grpc::Status PublishKeySet(Ctx* ctx, const controlplane::v1::PublishKeySetRequest* req,
                             controlplane::v1::PublishKeySetResponse* resp) override;

 private:
  // The caller's principal; a refusal is audited under `action`.
  Result<Principal> Authenticate(const Ctx& ctx, std::string_view action);

  ControlPlaneService& service_;
  const Authenticator& auth_;
  Store& store_;
  Mutex mu_;
  CondVar cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
};

}  // namespace omnirelay::cp

#include "grpc_errors.h"

#include "omnirelay/api/status_mapping.h"
#include "omnirelay/controlplane/auth.h"

namespace omnirelay::cp {

grpc::StatusCode ToGrpcCode(StatusCode code) {
  // api::GrpcCode holds gRPC's own integers.
  return static_cast<grpc::StatusCode>(api::GrpcCodeFor(code));
}

void ToProto(const Diagnostic& diagnostic, controlplane::v1::Diagnostic* out) {
  out->set_path(diagnostic.path);
  out->set_code(std::string(diag_code_name(diagnostic.code)));
  out->set_message(diagnostic.message);
}

void ToProto(const api::BlockedNode& node, controlplane::v1::BlockedNode* out) {
  out->set_node_id(node.node_id);
  out->set_scope_chain(node.scope_chain);
  out->set_reason(node.reason);
  for (const auto& m : node.missing) out->add_missing(m);
}

grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  controlplane::v1::ErrorDetail detail;
  // The same code the REST face puts in its error body.
  detail.set_code(std::string(api::ErrorCode(status)));
  detail.set_status(std::string(status.code_name()));
  detail.set_message(status.message());
  for (const Diagnostic& d : status.diagnostics()) ToProto(d, detail.add_diagnostics());
  return grpc::Status(ToGrpcCode(status.code()), status.message(), detail.SerializeAsString());
}

std::string BearerTokenOf(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return {};
  return std::string(BearerToken(std::string_view(it->second.data(), it->second.size())));
}

Result<Principal> AuthenticateCall(const grpc::ServerContextBase& context,
                                   const Authenticator& auth, ControlPlaneService& service,
                                   std::string_view action) {
  auto who = auth.Authenticate(BearerTokenOf(context));
  if (!who.ok()) service.AuditRefusal("", action, "", who.status());
  return who;
}

}  // namespace omnirelay::cp

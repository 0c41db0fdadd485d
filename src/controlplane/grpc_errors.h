// Internal: translation between the project's Status and gRPC's, and the
// caller of an operator call (proto/omnirelay/controlplane/v1/errors.proto).
//
// Thread safety: pure functions.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>
#include <string_view>

#include "omnirelay/config/diagnostic.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/v1/errors.pb.h"

namespace omnirelay::cp {

// The gRPC code for a StatusCode (the table in errors.proto).
grpc::StatusCode ToGrpcCode(StatusCode code);

// grpc::Status with the mapped code, the message, and a serialized
// v1::ErrorDetail {code, status, message, diagnostics} as its details (the
// code as in the REST error body). OK maps to OK.
grpc::Status ToGrpcStatus(const Status& status);

void ToProto(const Diagnostic& diagnostic, controlplane::v1::Diagnostic* out);
void ToProto(const api::BlockedNode& node, controlplane::v1::BlockedNode* out);

// The token of the call's "authorization: Bearer <token>" metadata; "" if absent.
std::string BearerTokenOf(const grpc::ServerContextBase& context);

// The principal of the call's bearer token; a refusal is audited under
// `action` (ControlPlaneService::AuditRefusal).
Result<Principal> AuthenticateCall(const grpc::ServerContextBase& context,
                                   const Authenticator& auth, ControlPlaneService& service,
                                   std::string_view action);

}  // namespace omnirelay::cp

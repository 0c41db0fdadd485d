#include "grpc_errors.h"

#include "omnirelay/controlplane/auth.h"

namespace omnirelay::cp {

grpc::StatusCode ToGrpcCode(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return grpc::StatusCode::OK;
    case StatusCode::kInvalidArgument:
    case StatusCode::kInvalid:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case StatusCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case StatusCode::kConflict:
      return grpc::StatusCode::ABORTED;
    case StatusCode::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
    case StatusCode::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case StatusCode::kTooLarge:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case StatusCode::kMissingFeature:
    case StatusCode::kScopeMismatch:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case StatusCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case StatusCode::kUnimplemented:
      return grpc::StatusCode::UNIMPLEMENTED;
    default:
      return grpc::StatusCode::INTERNAL;
  }
}

void ToProto(const Diagnostic& diagnostic, controlplane::v1::Diagnostic* out) {
  out->set_path(diagnostic.path);
  out->set_code(std::string(diag_code_name(diagnostic.code)));
  out->set_message(diagnostic.message);
}

grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  controlplane::v1::ErrorDetail detail;
  // The same code the REST face puts in its error body (api_json.h ErrorJson).
  const auto& diagnostics = status.diagnostics();
  detail.set_code(status.code() == StatusCode::kInvalid && !diagnostics.empty()
                      ? std::string(diag_code_name(diagnostics.front().code))
                      : std::string(status.code_name()));
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

}  // namespace omnirelay::cp

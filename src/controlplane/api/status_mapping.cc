#include "omnirelay/api/status_mapping.h"

namespace omnirelay::api {

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
    case StatusCode::kInvalid:
    case StatusCode::kBadSignature:  // a signed document offered (a key set) that does not verify
    case StatusCode::kUnknownKey:
    case StatusCode::kRevokedKey:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kConflict:
    case StatusCode::kMissingFeature:
    case StatusCode::kScopeMismatch:
    case StatusCode::kSuperseded:
    case StatusCode::kRolloutInProgress:
    case StatusCode::kFrozen:
      return 409;
    case StatusCode::kTooLarge:
      return 413;
    case StatusCode::kUnimplemented:
      return 501;
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

StatusCode StatusCodeForHttp(int http_status) {
  switch (http_status) {
    case 200:
      return StatusCode::kOk;
    case 400:
      return StatusCode::kInvalidArgument;
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 409:
      return StatusCode::kConflict;
    case 413:
      return StatusCode::kTooLarge;
    case 501:
      return StatusCode::kUnimplemented;
    default:
      return http_status >= 400 && http_status < 500 ? StatusCode::kInvalidArgument
                                                     : StatusCode::kUnavailable;
  }
}

GrpcCode GrpcCodeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return GrpcCode::kOk;
    case StatusCode::kInvalidArgument:
    case StatusCode::kInvalid:
    case StatusCode::kBadSignature:
    case StatusCode::kUnknownKey:
    case StatusCode::kRevokedKey:
      return GrpcCode::kInvalidArgument;
    case StatusCode::kNotFound:
      return GrpcCode::kNotFound;
    case StatusCode::kConflict:
    case StatusCode::kSuperseded:
      return GrpcCode::kAborted;
    case StatusCode::kUnauthenticated:
      return GrpcCode::kUnauthenticated;
    case StatusCode::kPermissionDenied:
      return GrpcCode::kPermissionDenied;
    case StatusCode::kTooLarge:
      return GrpcCode::kResourceExhausted;
    case StatusCode::kMissingFeature:
    case StatusCode::kScopeMismatch:
    case StatusCode::kRolloutInProgress:
    case StatusCode::kFrozen:
      return GrpcCode::kFailedPrecondition;
    case StatusCode::kUnavailable:
      return GrpcCode::kUnavailable;
    case StatusCode::kUnimplemented:
      return GrpcCode::kUnimplemented;
    default:
      return GrpcCode::kInternal;
  }
}

StatusCode StatusCodeForGrpc(GrpcCode code, std::string_view status_name) {
  if (const auto named = ParseStatusCodeName(status_name);
      named && *named != StatusCode::kOk && GrpcCodeFor(*named) == code) {
    return *named;
  }
  switch (code) {
    case GrpcCode::kOk:
      return StatusCode::kOk;
    case GrpcCode::kInvalidArgument:
    case GrpcCode::kOutOfRange:
      return StatusCode::kInvalidArgument;
    case GrpcCode::kNotFound:
      return StatusCode::kNotFound;
    case GrpcCode::kAborted:
    case GrpcCode::kAlreadyExists:
      return StatusCode::kConflict;
    case GrpcCode::kUnauthenticated:
      return StatusCode::kUnauthenticated;
    case GrpcCode::kPermissionDenied:
      return StatusCode::kPermissionDenied;
    case GrpcCode::kResourceExhausted:
      return StatusCode::kTooLarge;
    case GrpcCode::kFailedPrecondition:
      return StatusCode::kMissingFeature;
    case GrpcCode::kUnavailable:
    case GrpcCode::kDeadlineExceeded:
      return StatusCode::kUnavailable;
    case GrpcCode::kUnimplemented:
      return StatusCode::kUnimplemented;
    default:
      return StatusCode::kInternal;
  }
}

std::string_view ErrorCode(const Status& status) {
  const auto& diagnostics = status.diagnostics();
  if (status.code() == StatusCode::kInvalid && !diagnostics.empty()) {
    return diag_code_name(diagnostics.front().code);
  }
  return status.code_name();
}

}  // namespace omnirelay::api

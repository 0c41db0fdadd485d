// How a Status travels: its HTTP status on the REST face, its gRPC code on
// the gRPC face, and the code an error body names. Both faces and every
// client (omnirctl, librelay's pull client) use these tables, so a status
// means the same thing whichever way it came.
//
// gRPC codes are their standard integers (GrpcCode), so that this library
// needs no gRPC: cast to grpc::StatusCode where gRPC is at hand.
//
// Thread safety: pure functions.
#pragma once

#include <string_view>

#include "omnirelay/config/status.h"

namespace omnirelay::api {

// The HTTP status of an answer with this code: 200 for kOk; 400
// invalid_argument/invalid, 401, 403, 404, 409 conflict/missing_feature/
// scope_mismatch/superseded, 413 too_large, 501 unimplemented, 503 unavailable; 500
// for anything else.
int HttpStatusFor(StatusCode code);

// A client's reading of an HTTP error status: the inverse of HttpStatusFor
// where it is one-to-one (409 is kConflict); any other 5xx is kUnavailable
// (try another endpoint), any other 4xx kInvalidArgument.
StatusCode StatusCodeForHttp(int http_status);

enum class GrpcCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

// The gRPC code of a StatusCode (the table in errors.proto).
GrpcCode GrpcCodeFor(StatusCode code);

// A client's reading of a gRPC error: `status_name` is ErrorDetail.status
// when the server sent one. A known name that maps to `code` wins (several
// codes share INVALID_ARGUMENT and FAILED_PRECONDITION); otherwise the
// usual code for it: INVALID_ARGUMENT -> kInvalidArgument, ABORTED ->
// kConflict, FAILED_PRECONDITION -> kMissingFeature, DEADLINE_EXCEEDED ->
// kUnavailable, unknown codes -> kInternal.
StatusCode StatusCodeForGrpc(GrpcCode code, std::string_view status_name = "");

// The code an error names (the REST body's "code", ErrorDetail.code): the
// first diagnostic's code for a refused document (e.g. "dangling_cluster"),
// else the status code name.
std::string_view ErrorCode(const Status& status);

}  // namespace omnirelay::api

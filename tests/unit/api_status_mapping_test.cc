// Status <-> HTTP status and Status <-> gRPC code: one table each, read the
// same way by the faces and by every client.
#include <gtest/gtest.h>

#include "omnirelay/api/status_mapping.h"

namespace omnirelay::api {
namespace {

// The HTTP statuses the REST reference documents.
TEST(StatusMappingTest, HttpStatusOfEachCode) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalid), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kBadSignature), 400);  // a key set offered
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnknownKey), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kRevokedKey), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::kConflict), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kMissingFeature), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kScopeMismatch), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kSuperseded), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kTooLarge), 413);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnimplemented), 501);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusFor(StatusCode::kIoError), 500);
}

// A client reads back each code whose HTTP status is its own.
TEST(StatusMappingTest, HttpRoundTripsWhereOneToOne) {
  for (StatusCode code :
       {StatusCode::kOk, StatusCode::kInvalidArgument, StatusCode::kUnauthenticated,
        StatusCode::kPermissionDenied, StatusCode::kNotFound, StatusCode::kConflict,
        StatusCode::kTooLarge, StatusCode::kUnimplemented, StatusCode::kUnavailable}) {
    EXPECT_EQ(StatusCodeForHttp(HttpStatusFor(code)), code) << status_code_name(code);
  }
}

// Other server failures mean "try another endpoint"; other refusals are the
// request's fault.
TEST(StatusMappingTest, OtherHttpStatuses) {
  EXPECT_EQ(StatusCodeForHttp(500), StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForHttp(502), StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForHttp(429), StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusCodeForHttp(418), StatusCode::kInvalidArgument);
}

// The gRPC codes of errors.proto, as gRPC's standard integers.
TEST(StatusMappingTest, GrpcCodeOfEachCode) {
  EXPECT_EQ(static_cast<int>(GrpcCodeFor(StatusCode::kOk)), 0);
  EXPECT_EQ(static_cast<int>(GrpcCodeFor(StatusCode::kInvalid)), 3);
  EXPECT_EQ(static_cast<int>(GrpcCodeFor(StatusCode::kInvalidArgument)), 3);
  EXPECT_EQ(static_cast<int>(GrpcCodeFor(StatusCode::kNotFound)), 5);
  EXPECT_EQ(static_cast<int>(GrpcCodeFor(StatusCode::kPermissionDenied)), 7);
  EXPECT_EQ(static_cast<int>(GrpcCodeFor(StatusCode::kTooLarge)), 8);
  EXPECT_EQ(static_cast<int>(GrpcCodeFor(StatusCode::kMissingFeature)), 9);
  EXPECT_EQ(static_cast<int>(GrpcCodeFor(StatusCode::kConflict)), 10);
  EXPECT_EQ(static_cast<int>(GrpcCodeFor(StatusCode::kSuperseded)), 10);
  EXPECT_EQ(static_cast<int>(GrpcCodeFor(StatusCode::kUnimplemented)), 12);
  EXPECT_EQ(static_cast<int>(GrpcCodeFor(StatusCode::kInternal)), 13);
  EXPECT_EQ(static_cast<int>(GrpcCodeFor(StatusCode::kUnavailable)), 14);
  EXPECT_EQ(static_cast<int>(GrpcCodeFor(StatusCode::kUnauthenticated)), 16);
}

// With the status name the server sends beside the code, every code a
// face can send comes back as itself, shared gRPC codes included.
TEST(StatusMappingTest, GrpcRoundTripsWithTheStatusName) {
  for (int i = 0; i <= static_cast<int>(kLastStatusCode); ++i) {
    const auto code = static_cast<StatusCode>(i);
    const GrpcCode grpc = GrpcCodeFor(code);
    if (grpc == GrpcCode::kInternal && code != StatusCode::kInternal) continue;  // collapsed
    EXPECT_EQ(StatusCodeForGrpc(grpc, status_code_name(code)), code) << status_code_name(code);
  }
}

// Without a name (or with one that does not fit the code) the usual reading.
TEST(StatusMappingTest, GrpcWithoutAName) {
  EXPECT_EQ(StatusCodeForGrpc(GrpcCode::kInvalidArgument), StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusCodeForGrpc(GrpcCode::kFailedPrecondition), StatusCode::kMissingFeature);
  EXPECT_EQ(StatusCodeForGrpc(GrpcCode::kAborted, "not_found"), StatusCode::kConflict);
  EXPECT_EQ(StatusCodeForGrpc(GrpcCode::kDeadlineExceeded), StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForGrpc(GrpcCode::kDataLoss), StatusCode::kInternal);
}

// An error names its first diagnostic's code for a refused document, else
// its status code name.
TEST(StatusMappingTest, ErrorCode) {
  EXPECT_EQ(ErrorCode(Status(StatusCode::kInvalid, "refused",
                             {{"/spec/routes/a", DiagCode::kWeightsSum, "110"},
                              {"/spec", DiagCode::kUnknownField, "x"}})),
            "weights_sum");
  EXPECT_EQ(ErrorCode(Status(StatusCode::kConflict, "moved on")), "conflict");
  EXPECT_EQ(ErrorCode(Status(StatusCode::kMissingFeature, "blocked",
                             {{"", DiagCode::kUnknownFeature, "x"}})),
            "missing_feature");
}

}  // namespace
}  // namespace omnirelay::api

#include "omnirelay/config/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "omnirelay/config/diagnostic.h"

namespace omnirelay {
namespace {

// A default-constructed Status is OK, with code kOk and no message.
TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_TRUE(Status::Ok().ok());
}

// An error Status keeps its code and message and is not ok.
TEST(StatusTest, ErrorKeepsCodeAndMessage) {
  Status s(StatusCode::kConflict, "expected revision 3, current is 4");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kConflict);
  EXPECT_EQ(s.message(), "expected revision 3, current is 4");
}

// Every StatusCode has the stable wire name REST, NACKs and the CLI use.
TEST(StatusTest, StatusCodeWireNamesAreStable) {
  const std::vector<std::pair<StatusCode, std::string>> expected = {
      {StatusCode::kOk, "ok"},
      {StatusCode::kInvalidArgument, "invalid_argument"},
      {StatusCode::kInvalid, "invalid"},
      {StatusCode::kNotFound, "not_found"},
      {StatusCode::kConflict, "conflict"},
      {StatusCode::kUnauthenticated, "unauthenticated"},
      {StatusCode::kPermissionDenied, "permission_denied"},
      {StatusCode::kTooLarge, "too_large"},
      {StatusCode::kUnavailable, "unavailable"},
      {StatusCode::kIoError, "io_error"},
      {StatusCode::kInternal, "internal"},
      {StatusCode::kUnimplemented, "unimplemented"},
      {StatusCode::kBadSignature, "bad_signature"},
      {StatusCode::kUnknownKey, "unknown_key"},
      {StatusCode::kRevokedKey, "revoked_key"},
      {StatusCode::kHashMismatch, "hash_mismatch"},
      {StatusCode::kRollback, "rollback"},
      {StatusCode::kExpired, "expired"},
      {StatusCode::kMissingFeature, "missing_feature"},
  };
  for (const auto& [code, name] : expected) {
    EXPECT_EQ(status_code_name(code), name);
  }
}

// Status::code_name() is the wire name of its code.
TEST(StatusTest, CodeNameMatchesWireName) {
  EXPECT_EQ(Status(StatusCode::kRollback, "older").code_name(), "rollback");
  EXPECT_EQ(Status().code_name(), "ok");
}

// Every DiagCode has the stable name of DESIGN.md §3.2 that CI scripts match on.
TEST(StatusTest, DiagCodeNamesAreStable) {
  const std::vector<std::pair<DiagCode, std::string>> expected = {
      {DiagCode::kParseError, "parse_error"},
      {DiagCode::kUnknownField, "unknown_field"},
      {DiagCode::kTypeMismatch, "type_mismatch"},
      {DiagCode::kMissingField, "missing_field"},
      {DiagCode::kInvalidName, "invalid_name"},
      {DiagCode::kOutOfRange, "out_of_range"},
      {DiagCode::kDanglingCluster, "dangling_cluster"},
      {DiagCode::kFailoverCycle, "failover_cycle"},
      {DiagCode::kWeightsSum, "weights_sum"},
      {DiagCode::kShadowToPrimary, "shadow_to_primary"},
      {DiagCode::kServiceMismatch, "service_mismatch"},
      {DiagCode::kUnknownRegion, "unknown_region"},
      {DiagCode::kUnknownCell, "unknown_cell"},
      {DiagCode::kBridgeInvalid, "bridge_invalid"},
      {DiagCode::kDestructiveChange, "destructive_change"},
      {DiagCode::kUnknownFeature, "unknown_feature"},
      {DiagCode::kInvalidScope, "invalid_scope"},
      {DiagCode::kUnknownScope, "unknown_scope"},
      {DiagCode::kScopeMismatch, "scope_mismatch"},
      {DiagCode::kRenderFailed, "render_failed"},
  };
  for (const auto& [code, name] : expected) {
    EXPECT_EQ(diag_code_name(code), name);
  }
}

// Diagnostics given to a kInvalid Status are returned in order.
TEST(StatusTest, InvalidCarriesDiagnostics) {
  std::vector<Diagnostic> diags = {
      {"/spec/routes/billing/weights/billing-v3", DiagCode::kDanglingCluster, "no such cluster"},
      {"/spec/routes/billing/weights", DiagCode::kWeightsSum, "sum is 90"},
  };
  Status s(StatusCode::kInvalid, "document is invalid", diags);
  EXPECT_EQ(s.diagnostics(), diags);
}

// A Status without diagnostics reports an empty list (OK or error alike).
TEST(StatusTest, DiagnosticsEmptyByDefault) {
  EXPECT_TRUE(Status().diagnostics().empty());
  EXPECT_TRUE(Status(StatusCode::kNotFound, "x").diagnostics().empty());
  EXPECT_TRUE(Status(StatusCode::kInvalid, "x", {}).diagnostics().empty());
}

// Copies of a Status keep its diagnostics.
TEST(StatusTest, CopyKeepsDiagnostics) {
  Status original(StatusCode::kInvalid, "bad",
                  {{"/spec", DiagCode::kTypeMismatch, "expected object"}});
  Status copy = original;
  ASSERT_EQ(copy.diagnostics().size(), 1u);
  EXPECT_EQ(copy.diagnostics()[0].path, "/spec");
  EXPECT_EQ(copy.diagnostics(), original.diagnostics());
}

// The header promises diagnostics() is empty unless code() == kInvalid.
// Diagnostics stay attached whatever the error code (status.h documents why).
TEST(StatusTest, DiagnosticsKeptOnAnyErrorCode) {
  Status s(StatusCode::kInternal, "oops", {{"", DiagCode::kParseError, "x"}});
  ASSERT_EQ(s.diagnostics().size(), 1u);
}

// ToString() is "code: message" for logs and one-line CLI errors.
TEST(StatusTest, ToStringIsCodeColonMessage) {
  EXPECT_EQ(Status(StatusCode::kConflict, "revision 4").ToString(), "conflict: revision 4");
}

// ToString() of a Status without message is just the code name.
TEST(StatusTest, ToStringWithoutMessageIsCodeName) {
  EXPECT_EQ(Status().ToString(), "ok");
  EXPECT_EQ(Status(StatusCode::kExpired, "").ToString(), "expired");
}

// A Result built from a value is ok, exposes the value and an OK status.
TEST(ResultTest, ValueIsOk) {
  Result<int> r = 7;
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 7);
  EXPECT_EQ(*r, 7);
  EXPECT_TRUE(r.status().ok());
}

// A Result built from an error Status is not ok and returns that Status.
TEST(ResultTest, ErrorIsNotOk) {
  Result<int> r = Status(StatusCode::kNotFound, "no layer");
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "no layer");
}

// operator-> reaches the members of the value.
TEST(ResultTest, ArrowReachesValue) {
  Result<std::string> r = std::string("global");
  EXPECT_EQ(r->size(), 6u);
}

// An rvalue Result gives up its value by move.
TEST(ResultTest, MoveOutValue) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 5);
}

Status FailsAt(int step, int* reached) {
  auto check = [&](int i) {
    *reached = i;
    return i == step ? Status(StatusCode::kInternal, "step " + std::to_string(i)) : Status();
  };
  OMNI_RETURN_IF_ERROR(check(1));
  OMNI_RETURN_IF_ERROR(check(2));
  OMNI_RETURN_IF_ERROR(check(3));
  return Status::Ok();
}

// OMNI_RETURN_IF_ERROR returns the first error and skips what follows.
TEST(ResultTest, ReturnIfErrorStopsAtFirstError) {
  int reached = 0;
  Status s = FailsAt(2, &reached);
  EXPECT_EQ(s.message(), "step 2");
  EXPECT_EQ(reached, 2);
}

// OMNI_RETURN_IF_ERROR lets OK statuses through.
TEST(ResultTest, ReturnIfErrorPassesOk) {
  int reached = 0;
  EXPECT_TRUE(FailsAt(0, &reached).ok());
  EXPECT_EQ(reached, 3);
}

// AppendPointerToken adds "/token" to a pointer.
TEST(PointerTest, AppendAddsToken) {
  std::string p = "/spec";
  AppendPointerToken(p, "clusters");
  EXPECT_EQ(p, "/spec/clusters");
}

// '~' is escaped as "~0" (RFC 6901).
TEST(PointerTest, TildeEscapedAsTildeZero) {
  EXPECT_EQ(JoinPointer("/a", "b~c"), "/a/b~0c");
}

// '/' is escaped as "~1" (RFC 6901).
TEST(PointerTest, SlashEscapedAsTildeOne) {
  EXPECT_EQ(JoinPointer("/a", "ledger.v1/Get"), "/a/ledger.v1~1Get");
}

// A literal "~1" in a token is escaped so it does not read back as '/'.
TEST(PointerTest, LiteralTildeOneStaysDistinctFromSlash) {
  EXPECT_EQ(JoinPointer("", "~1"), "/~01");
  EXPECT_EQ(JoinPointer("", "/~"), "/~1~0");
}

// Joining onto the whole-document pointer "" gives a one-token pointer.
TEST(PointerTest, JoinOntoRoot) {
  EXPECT_EQ(JoinPointer("", "kind"), "/kind");
}

// An empty token is a valid reference token: "/a/".
TEST(PointerTest, EmptyToken) {
  EXPECT_EQ(JoinPointer("/a", ""), "/a/");
}

// kLastStatusCode / kLastDiagCode really are the last codes: every code up
// to them has its own name, and the value after them has none (the fallback).
TEST(StatusCodeTest, LastCodesEndTheEnums) {
  std::set<std::string_view> status_names;
  for (int c = 0; c <= static_cast<int>(kLastStatusCode); ++c) {
    status_names.insert(status_code_name(static_cast<StatusCode>(c)));
  }
  EXPECT_EQ(status_names.size(), static_cast<std::size_t>(kLastStatusCode) + 1);
  EXPECT_EQ(status_code_name(static_cast<StatusCode>(static_cast<int>(kLastStatusCode) + 1)),
            "internal");
  std::set<std::string_view> diag_names;
  for (int c = 0; c <= static_cast<int>(kLastDiagCode); ++c) {
    diag_names.insert(diag_code_name(static_cast<DiagCode>(c)));
  }
  EXPECT_EQ(diag_names.size(), static_cast<std::size_t>(kLastDiagCode) + 1);
}

// A Result built from an OK status is an internal error, never a silent success.
TEST(ResultTest, FromOkStatusIsInternalError) {
  Result<int> r = Status::Ok();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

// Helpers for the OMNI_ASSIGN_OR_RETURN tests: `steps` counts the
// statements reached after the macro, so a test sees whether it returned.
Result<std::string> Named(bool ok) {
  if (!ok) return Status(StatusCode::kNotFound, "no such name");
  return std::string("billing");
}

Result<std::size_t> NameLength(bool ok, int* steps) {
  OMNI_ASSIGN_OR_RETURN(std::string name, Named(ok));
  ++*steps;
  return name.size();
}

Status AssignExisting(bool ok, std::string* out, int* steps) {
  OMNI_ASSIGN_OR_RETURN(*out, Named(ok));
  ++*steps;
  return Status::Ok();
}

// On a value, OMNI_ASSIGN_OR_RETURN declares the variable and carries on.
TEST(AssignOrReturnTest, ValueIsDeclaredAndExecutionContinues) {
  int steps = 0;
  auto length = NameLength(true, &steps);
  ASSERT_TRUE(length.ok());
  EXPECT_EQ(*length, 7u);
  EXPECT_EQ(steps, 1);
}

// On an error, it returns that very Status (code and message) from the caller.
TEST(AssignOrReturnTest, ErrorIsReturnedUnchanged) {
  int steps = 0;
  auto length = NameLength(false, &steps);
  ASSERT_FALSE(length.ok());
  EXPECT_EQ(length.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(length.status().message(), "no such name");
  EXPECT_EQ(steps, 0);
}

// It also assigns to an existing lvalue, inside a function returning Status.
TEST(AssignOrReturnTest, AssignsToExistingVariable) {
  int steps = 0;
  std::string out = "unset";
  EXPECT_TRUE(AssignExisting(true, &out, &steps).ok());
  EXPECT_EQ(out, "billing");
  EXPECT_EQ(steps, 1);
  out = "unset";
  EXPECT_EQ(AssignExisting(false, &out, &steps).code(), StatusCode::kNotFound);
  EXPECT_EQ(out, "unset");
  EXPECT_EQ(steps, 1);
}

// Two uses in one scope do not collide (each has its own hidden temporary).
TEST(AssignOrReturnTest, TwoUsesInOneFunction) {
  auto both = []() -> Result<std::string> {
    OMNI_ASSIGN_OR_RETURN(std::string a, Named(true));
    OMNI_ASSIGN_OR_RETURN(std::string b, Named(true));
    return a + "+" + b;
  };
  ASSERT_TRUE(both().ok());
  EXPECT_EQ(*both(), "billing+billing");
}

// Every status code name parses back to its code; unknown names do not.
TEST(StatusTest, StatusCodeNamesParseBack) {
  for (int i = 0; i <= static_cast<int>(kLastStatusCode); ++i) {
    const auto code = static_cast<StatusCode>(i);
    EXPECT_EQ(ParseStatusCodeName(status_code_name(code)), code) << status_code_name(code);
  }
  EXPECT_EQ(ParseStatusCodeName("no_such_code"), std::nullopt);
  EXPECT_EQ(ParseStatusCodeName(""), std::nullopt);
}

// Every diagnostic code name parses back to its code; unknown names do not.
TEST(StatusTest, DiagCodeNamesParseBack) {
  for (int i = 0; i <= static_cast<int>(kLastDiagCode); ++i) {
    const auto code = static_cast<DiagCode>(i);
    EXPECT_EQ(ParseDiagCodeName(diag_code_name(code)), code) << diag_code_name(code);
  }
  EXPECT_EQ(ParseDiagCodeName("Dangling_Cluster"), std::nullopt);
}

}  // namespace
}  // namespace omnirelay

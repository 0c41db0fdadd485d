#include "omnirelay/config/status.h"

namespace omnirelay {

std::string_view status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kInvalid:
      return "invalid";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kConflict:
      return "conflict";
    case StatusCode::kUnauthenticated:
      return "unauthenticated";
    case StatusCode::kPermissionDenied:
      return "permission_denied";
    case StatusCode::kTooLarge:
      return "too_large";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kIoError:
      return "io_error";
    case StatusCode::kInternal:
      return "internal";
    case StatusCode::kUnimplemented:
      return "unimplemented";
    case StatusCode::kBadSignature:
      return "bad_signature";
    case StatusCode::kUnknownKey:
      return "unknown_key";
    case StatusCode::kRevokedKey:
      return "revoked_key";
    case StatusCode::kHashMismatch:
      return "hash_mismatch";
    case StatusCode::kRollback:
      return "rollback";
    case StatusCode::kExpired:
      return "expired";
    case StatusCode::kMissingFeature:
      return "missing_feature";
    case StatusCode::kScopeMismatch:
      return "scope_mismatch";
    case StatusCode::kSuperseded:
      return "superseded";
    case StatusCode::kRolloutInProgress:
      return "rollout_in_progress";
    case StatusCode::kFrozen:
      return "frozen";
  }
  return "internal";
}

std::optional<StatusCode> ParseStatusCodeName(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(kLastStatusCode); ++i) {
    const auto code = static_cast<StatusCode>(i);
    if (status_code_name(code) == name) return code;
  }
  return std::nullopt;
}

Status::Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

Status::Status(StatusCode code, std::string message, std::vector<Diagnostic> diagnostics)
    : code_(code), message_(std::move(message)) {
  if (!diagnostics.empty()) {
    diagnostics_ = std::make_shared<const std::vector<Diagnostic>>(std::move(diagnostics));
  }
}

const std::vector<Diagnostic>& Status::diagnostics() const {
  static const std::vector<Diagnostic> kNone;
  return diagnostics_ ? *diagnostics_ : kNone;
}

std::string Status::ToString() const {
  std::string out(code_name());
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

std::string_view diag_code_name(DiagCode code) {
  switch (code) {
    case DiagCode::kParseError:
      return "parse_error";
    case DiagCode::kUnknownField:
      return "unknown_field";
    case DiagCode::kTypeMismatch:
      return "type_mismatch";
    case DiagCode::kMissingField:
      return "missing_field";
    case DiagCode::kInvalidName:
      return "invalid_name";
    case DiagCode::kOutOfRange:
      return "out_of_range";
    case DiagCode::kDanglingCluster:
      return "dangling_cluster";
    case DiagCode::kFailoverCycle:
      return "failover_cycle";
    case DiagCode::kWeightsSum:
      return "weights_sum";
    case DiagCode::kShadowToPrimary:
      return "shadow_to_primary";
    case DiagCode::kServiceMismatch:
      return "service_mismatch";
    case DiagCode::kUnknownRegion:
      return "unknown_region";
    case DiagCode::kUnknownCell:
      return "unknown_cell";
    case DiagCode::kBridgeInvalid:
      return "bridge_invalid";
    case DiagCode::kDestructiveChange:
      return "destructive_change";
    case DiagCode::kUnknownFeature:
      return "unknown_feature";
    case DiagCode::kInvalidScope:
      return "invalid_scope";
    case DiagCode::kUnknownScope:
      return "unknown_scope";
    case DiagCode::kScopeMismatch:
      return "scope_mismatch";
    case DiagCode::kRenderFailed:
      return "render_failed";
    case DiagCode::kChangeTooLarge:
      return "change_too_large";
    case DiagCode::kPrivateKeyMaterial:
      return "private_key_material";
    case DiagCode::kInvalidCertificate:
      return "invalid_certificate";
  }
  return "parse_error";
}

std::optional<DiagCode> ParseDiagCodeName(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(kLastDiagCode); ++i) {
    const auto code = static_cast<DiagCode>(i);
    if (diag_code_name(code) == name) return code;
  }
  return std::nullopt;
}

void AppendPointerToken(std::string& pointer, std::string_view token) {
  pointer.push_back('/');
  for (char c : token) {
    if (c == '~') {
      pointer += "~0";
    } else if (c == '/') {
      pointer += "~1";
    } else {
      pointer.push_back(c);
    }
  }
}

std::string JoinPointer(std::string_view base, std::string_view token) {
  std::string out(base);
  AppendPointerToken(out, token);
  return out;
}

}  // namespace omnirelay

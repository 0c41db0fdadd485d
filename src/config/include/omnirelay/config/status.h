// Status and Result<T>: the one error type of the project.
//
// Errors are values. A function that can fail returns Status (no value) or
// Result<T> (a value or a Status). Every StatusCode has a stable wire name
// (status_code_name) that REST bodies, NACK reasons, CLI JSON output and
// metrics labels use; names are extended, never renamed.
//
// Document problems (schema, graph) travel as Diagnostics attached to a
// Status of code kInvalid, each with a JSON Pointer and a diagnostic code.
//
// Thread safety: Status and Result are values; distinct objects may be used
// from distinct threads freely, a shared const object from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "omnirelay/config/diagnostic.h"

namespace omnirelay {

enum class StatusCode {
  kOk,
  kInvalidArgument,   // "invalid_argument": a malformed request or flag
  kInvalid,           // "invalid": a document failed decoding or validation; see diagnostics()
  kNotFound,          // "not_found"
  kConflict,          // "conflict": a CAS expectation did not hold
  kUnauthenticated,   // "unauthenticated"
  kPermissionDenied,  // "permission_denied"
  kTooLarge,          // "too_large"
  kUnavailable,       // "unavailable": a peer or server could not be reached
  kIoError,           // "io_error": a file could not be read or written
  kInternal,          // "internal"
  kUnimplemented,     // "unimplemented": this build does not offer the operation yet
  // Reasons a node refuses a snapshot (DESIGN.md §3.3); they double as NACK reasons.
  kBadSignature,    // "bad_signature": no signature verifies over the exact bytes
  kUnknownKey,      // "unknown_key": signed by a key id the trusted set lacks
  kRevokedKey,      // "revoked_key": signed by a key the trusted set has revoked
  kHashMismatch,    // "hash_mismatch": content does not match its announced sha256
  kRollback,        // "rollback": older than the snapshot already applied
  kExpired,         // "expired": expiresAt is in the past
  kMissingFeature,  // "missing_feature": needs a feature or apiVersion the node lacks
  kScopeMismatch,   // "scope_mismatch": rendered for another scope chain than the node's
  // A node stream ended because another instance (process) of the same node
  // id said hello after it (DESIGN.md §4, exclusivity): the node stops
  // reconnecting instead of knocking the other one off.
  kSuperseded,  // "superseded"
  // A write or rollout refused because a rollout holds a chain it touches
  // (DESIGN.md §4 Rollouts); a plain write may pass with force.
  kRolloutInProgress,  // "rollout_in_progress"
  // Writes and new rollouts are frozen (an incident switch); rollbacks and
  // reverts still pass.
  kFrozen,  // "frozen"
};

// The last code: loops over every code end here (a new code goes before it
// in the enum and this follows the enum's end).
inline constexpr StatusCode kLastStatusCode = StatusCode::kFrozen;

// The stable wire name of a code, e.g. "conflict".
std::string_view status_code_name(StatusCode code);
// The code with that wire name; nullopt for a name this build does not know.
std::optional<StatusCode> ParseStatusCodeName(std::string_view name);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);
  Status(StatusCode code, std::string message, std::vector<Diagnostic> diagnostics);

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  std::string_view code_name() const { return status_code_name(code_); }
  const std::string& message() const { return message_; }
  // The located document problems behind this status. A kInvalid status
  // always has at least one; another code may carry them when a document
  // caused the failure (e.g. an unparsable envelope). Empty otherwise.
  const std::vector<Diagnostic>& diagnostics() const;

  // "code: message", for logs and one-line CLI errors.
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::shared_ptr<const std::vector<Diagnostic>> diagnostics_;
};

// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  // An OK status carries no value: that is a programming error, reported as
  // kInternal rather than a Result that is neither a value nor an error.
  Result(Status status)  // NOLINT: implicit by design
      : v_(status.ok() ? Status(StatusCode::kInternal, "Result built from an OK status")
                       : std::move(status)) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace omnirelay

// Returns early from the enclosing function when `expr` (a Status) is an error.
#define OMNI_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::omnirelay::Status omni_status_ = (expr);   \
    if (!omni_status_.ok()) return omni_status_; \
  } while (0)

// `OMNI_ASSIGN_OR_RETURN(auto x, ComputeX());` evaluates a Result<T>; on an
// error it returns that Status from the enclosing function (which returns
// Status or any Result<U>), otherwise it moves the value into `lhs` — a new
// declaration or an existing variable. A macro, as in Abseil, because only a
// macro can return from its caller; the name says it may return.
#define OMNI_ASSIGN_OR_RETURN(lhs, rexpr) \
  OMNI_ASSIGN_OR_RETURN_IMPL_(OMNI_STATUS_CONCAT_(omni_result_, __LINE__), lhs, rexpr)

#define OMNI_ASSIGN_OR_RETURN_IMPL_(result, lhs, rexpr) \
  auto result = (rexpr);                                \
  if (!result.ok()) return result.status();             \
  lhs = std::move(result).value()

#define OMNI_STATUS_CONCAT_INNER_(a, b) a##b
#define OMNI_STATUS_CONCAT_(a, b) OMNI_STATUS_CONCAT_INNER_(a, b)

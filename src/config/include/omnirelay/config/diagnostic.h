// Diagnostic: one problem in a config document, located by an RFC 6901 JSON
// Pointer and named by a stable code (DESIGN.md §3.2). Codes are extended,
// never renamed: CI scripts match on them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace omnirelay {

enum class DiagCode {
  kParseError,         // parse_error
  kUnknownField,       // unknown_field
  kTypeMismatch,       // type_mismatch
  kMissingField,       // missing_field
  kInvalidName,        // invalid_name
  kOutOfRange,         // out_of_range
  kDanglingCluster,    // dangling_cluster
  kFailoverCycle,      // failover_cycle
  kWeightsSum,         // weights_sum
  kShadowToPrimary,    // shadow_to_primary
  kServiceMismatch,    // service_mismatch
  kUnknownRegion,      // unknown_region
  kUnknownCell,        // unknown_cell
  kBridgeInvalid,      // bridge_invalid
  kDestructiveChange,  // destructive_change
  kUnknownFeature,     // unknown_feature: metadata names a feature this build does not know
  kInvalidScope,       // invalid_scope: a scope string or scope chain is malformed
  kUnknownScope,       // unknown_scope: a scope the topology (or the fleet) does not place
  kScopeMismatch,      // scope_mismatch: a chain that disagrees with the topology
  kRenderFailed,       // render_failed: a node's chain merges to an invalid spec
  kChangeTooLarge,     // change_too_large: more entries changed than the limit allows

  // private_key_material: a private key (a PEM "... PRIVATE KEY" block, a
  // private JWK member) anywhere in a document.
  kPrivateKeyMaterial,
  // invalid_certificate: PEM that is not certificates, or an artefact whose
  // notAfter is later than a certificate in it expires.
  kInvalidCertificate,
};

// The last code: loops over every code end here.
inline constexpr DiagCode kLastDiagCode = DiagCode::kInvalidCertificate;

std::string_view diag_code_name(DiagCode code);
// The code with that stable name; nullopt for a name this build does not know.
std::optional<DiagCode> ParseDiagCodeName(std::string_view name);

struct Diagnostic {
  std::string path;  // RFC 6901 JSON Pointer into the document; "" is the whole document
  DiagCode code;
  std::string message;

  friend bool operator==(const Diagnostic&, const Diagnostic&) = default;
};

// Appends one reference token to a JSON Pointer, escaping '~' and '/' (RFC 6901).
void AppendPointerToken(std::string& pointer, std::string_view token);
std::string JoinPointer(std::string_view base, std::string_view token);

}  // namespace omnirelay

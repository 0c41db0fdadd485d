// Peer identity for mTLS: SPIFFE IDs carried in X.509 certificates, and the
// patterns that say which ones are allowed. Used by the control plane (which
// clients may call it), by librelay and omnirctl (which server they talk to).
//
// Rules (tests/unit/peer_identity_test.cc names each):
//  1. A certificate's SPIFFE ID is its URI subjectAltName of scheme
//     `spiffe`. A certificate with no such SAN has no SPIFFE ID; one with
//     more than one URI SAN is not an SVID and is refused as ambiguous.
//  2. An ID is `spiffe://TRUST-DOMAIN/PATH`: a non-empty trust domain of
//     lower-case letters, digits, '.', '-', '_'; a path of segments that are
//     not empty, "." or ".."; no query, fragment, port or user info.
//  3. A pattern is an exact ID (`spiffe://prod.example/relay/eu-1`), or a
//     prefix ending in `/*` (`spiffe://prod.example/relay/*`): any ID with at
//     least one more path segment under that prefix; `spiffe://td/*` is any
//     ID of the trust domain. Nothing else is a wildcard.
//  4. A policy of no patterns allows every peer (the check is off); one with
//     patterns allows a peer whose SPIFFE ID matches at least one of them.
//     A refusal is kPermissionDenied whose message starts with
//     `peer_not_allowed:` and names the ID seen (or its absence) and the
//     patterns expected; it never quotes more of the certificate.
//
// Thread safety: pure functions and immutable values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/status.h"

struct x509_st;  // OpenSSL's X509

namespace omnirelay {

class SpiffePattern {
 public:
  // kInvalidArgument naming what is wrong (rules 2 and 3).
  static Result<SpiffePattern> Parse(std::string_view text);
  bool Matches(std::string_view spiffe_id) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::string prefix_;  // "spiffe://td/path/" for a `/*` pattern; empty for an exact one
};

class PeerIdentityPolicy {
 public:
  PeerIdentityPolicy() = default;  // allows everyone
  // `what` names the flag in errors ("--tls-client-spiffe-id").
  static Result<PeerIdentityPolicy> Parse(const std::vector<std::string>& patterns,
                                          std::string_view what);
  bool enabled() const { return !patterns_.empty(); }
  // Rule 4, for a peer whose SPIFFE ID is `id` (nullopt: none, or `why_none`).
  Status Check(const std::optional<std::string>& id, std::string_view why_none = {}) const;
  // Rule 4 for a peer certificate in DER or PEM (the leaf first).
  Status CheckCertificateDer(std::string_view der) const;
  Status CheckCertificatePem(std::string_view pem) const;
  // The patterns, comma-separated, for logs.
  std::string Describe() const;

 private:
  std::vector<SpiffePattern> patterns_;
};

// Rule 1. nullopt when the certificate has no SPIFFE ID; kInvalidArgument
// when it has several URI SANs or the one it has is not a valid ID, or (for
// the PEM and DER forms) the bytes are not a certificate.
Result<std::optional<std::string>> SpiffeIdOf(const x509_st& certificate);
Result<std::optional<std::string>> SpiffeIdOfPem(std::string_view pem);
Result<std::optional<std::string>> SpiffeIdOfDer(std::string_view der);

// Whether `text` is a valid SPIFFE ID (rule 2).
bool IsSpiffeId(std::string_view text);

}  // namespace omnirelay

#include "omnirelay/config/peer_identity.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace omnirelay {
namespace {

constexpr std::string_view kScheme = "spiffe://";

bool TrustDomainChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

bool PathChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

// Why `text` is not a SPIFFE ID (rule 2), or "" when it is one.
std::string SpiffeIdProblem(std::string_view text) {
  if (text.substr(0, kScheme.size()) != kScheme) return "does not start with spiffe://";
  const std::string_view rest = text.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  const std::string_view domain = rest.substr(0, slash);
  if (domain.empty()) return "has no trust domain";
  for (char c : domain) {
    if (!TrustDomainChar(c)) {
      return "has a trust domain with '" + std::string(1, c) +
             "' (lower-case letters, digits, '.', '-', '_' only)";
    }
  }
  if (slash == std::string_view::npos) return "";
  std::string_view path = rest.substr(slash);  // "/a/b"
  while (!path.empty()) {
    path.remove_prefix(1);  // the '/'
    const std::size_t next = path.find('/');
    const std::string_view segment = path.substr(0, next);
    if (segment.empty() || segment == "." || segment == "..") {
      return "has an empty, \".\" or \"..\" path segment";
    }
    for (char c : segment) {
      if (!PathChar(c)) {
        return "has a path with '" + std::string(1, c) + "' (letters, digits, '.', '-', '_' only)";
      }
    }
    path = next == std::string_view::npos ? std::string_view() : path.substr(next);
  }
  return "";
}

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

}  // namespace

bool IsSpiffeId(std::string_view text) {
  return SpiffeIdProblem(text).empty();
}

Result<SpiffePattern> SpiffePattern::Parse(std::string_view text) {
  SpiffePattern out;
  out.text_ = std::string(text);
  std::string_view id = text;
  const bool prefix = text.size() >= 2 && text.substr(text.size() - 2) == "/*";
  if (prefix) id = text.substr(0, text.size() - 2);
  if (std::string why = SpiffeIdProblem(id); !why.empty()) {
    return Status(StatusCode::kInvalidArgument,
                  "\"" + std::string(text) + "\" is not a SPIFFE ID or ID/* pattern: it " + why);
  }
  if (prefix) out.prefix_ = std::string(id) + "/";
  return out;
}

bool SpiffePattern::Matches(std::string_view spiffe_id) const {
  if (prefix_.empty()) return spiffe_id == text_;
  return spiffe_id.size() > prefix_.size() && spiffe_id.substr(0, prefix_.size()) == prefix_;
}

Result<PeerIdentityPolicy> PeerIdentityPolicy::Parse(const std::vector<std::string>& patterns,
                                                     std::string_view what) {
  PeerIdentityPolicy out;
  for (const std::string& text : patterns) {
    auto pattern = SpiffePattern::Parse(text);
    if (!pattern.ok()) {
      return Status(StatusCode::kInvalidArgument,
                    std::string(what) + ": " + pattern.status().message());
    }
    out.patterns_.push_back(std::move(pattern).value());
  }
  return out;
}

std::string PeerIdentityPolicy::Describe() const {
  std::string out;
  for (const SpiffePattern& p : patterns_) out += (out.empty() ? "" : ", ") + p.text();
  return out;
}

Status PeerIdentityPolicy::Check(const std::optional<std::string>& id,
                                 std::string_view why_none) const {
  if (!enabled()) return Status::Ok();
  if (id) {
    for (const SpiffePattern& p : patterns_) {
      if (p.Matches(*id)) return Status::Ok();
    }
  }
  const std::string seen = id                 ? "SPIFFE ID \"" + *id + "\""
                           : why_none.empty() ? std::string("no SPIFFE ID (no spiffe:// URI SAN)")
                                              : std::string(why_none);
  return Status(StatusCode::kPermissionDenied,
                "peer_not_allowed: the peer certificate has " + seen + "; expected " + Describe());
}

Status PeerIdentityPolicy::CheckCertificateDer(std::string_view der) const {
  if (!enabled()) return Status::Ok();
  auto id = SpiffeIdOfDer(der);
  if (!id.ok()) return Check(std::nullopt, id.status().message());
  return Check(*id);
}

Status PeerIdentityPolicy::CheckCertificatePem(std::string_view pem) const {
  if (!enabled()) return Status::Ok();
  auto id = SpiffeIdOfPem(pem);
  if (!id.ok()) return Check(std::nullopt, id.status().message());
  return Check(*id);
}

Result<std::optional<std::string>> SpiffeIdOf(const x509_st& certificate) {
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(&certificate, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return std::optional<std::string>();
  std::vector<std::string> uris;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_STRING* uri = name->d.uniformResourceIdentifier;
    uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                      static_cast<std::size_t>(ASN1_STRING_length(uri)));
  }
  GENERAL_NAMES_free(names);
  std::optional<std::string> found;
  for (const std::string& uri : uris) {
    if (uri.substr(0, kScheme.size()) != kScheme) continue;
    if (uris.size() > 1) {
      return Status(StatusCode::kInvalidArgument,
                    std::to_string(uris.size()) + " URI SANs (an SVID has exactly one)");
    }
    if (std::string why = SpiffeIdProblem(uri); !why.empty()) {
      return Status(StatusCode::kInvalidArgument, "a URI SAN that is not a valid SPIFFE ID (" +
                                                      why.substr(0, why.find(" (")) + ")");
    }
    found = uri;
  }
  return found;
}

Result<std::optional<std::string>> SpiffeIdOfPem(std::string_view pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, &X509_free);
  ERR_clear_error();
  if (!cert) return Status(StatusCode::kInvalidArgument, "no X.509 certificate");
  return SpiffeIdOf(*cert);
}

Result<std::optional<std::string>> SpiffeIdOfDer(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())), &X509_free);
  ERR_clear_error();
  if (!cert) return Status(StatusCode::kInvalidArgument, "no X.509 certificate");
  return SpiffeIdOf(*cert);
}

}  // namespace omnirelay

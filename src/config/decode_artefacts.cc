#include "decode_artefacts.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <memory>

#include "json_convert.h"
#include "omnirelay/config/rfc3339.h"

namespace omnirelay::internal {
namespace {

using simdjson::dom::element_type;

constexpr std::size_t kMaxPemBytes = 64 * 1024;
constexpr std::size_t kMaxEndpointBytes = 2048;
constexpr std::int64_t kMaxJwks = 64;

// Members of a JWK that hold private (or, for "oct", secret) key material
// (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
constexpr std::array<std::string_view, 8> kPrivateJwkMembers = {"d",  "p",  "q",   "dp",
                                                                "dq", "qi", "oth", "k"};

constexpr std::string_view kNeverPublish =
    " must never be published: any config:read token can read layers and snapshots; publish "
    "public material only and keep the key with the workload";

bool HasPemPrivateKey(std::string_view text) {
  for (std::size_t at = text.find("-----BEGIN "); at != std::string_view::npos;
       at = text.find("-----BEGIN ", at + 1)) {
    const std::size_t end = text.find("-----", at + 11);
    if (end == std::string_view::npos) return false;
    if (text.substr(at + 11, end - at - 11).find("PRIVATE KEY") != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

std::string PemLabelProblem(std::string_view pem, std::size_t* blocks) {
  *blocks = 0;
  for (std::size_t at = pem.find("-----BEGIN "); at != std::string_view::npos;
       at = pem.find("-----BEGIN ", at + 1)) {
    const std::size_t end = pem.find("-----", at + 11);
    if (end == std::string_view::npos) return "a PEM block header is not terminated";
    const std::string_view label = pem.substr(at + 11, end - at - 11);
    if (label != "CERTIFICATE") {
      return "PEM block " + std::to_string(*blocks + 1) + " is \"" + std::string(label) +
             "\", not a CERTIFICATE";
    }
    ++*blocks;
  }
  if (*blocks == 0) return "no PEM CERTIFICATE block";
  return "";
}

// The notAfter (unix seconds) of each certificate in `pem`, in order; an
// error message when it holds anything but certificates that parse.
Result<std::vector<std::int64_t>> CertificateExpiries(std::string_view pem) {
  std::size_t blocks = 0;
  if (std::string problem = PemLabelProblem(pem, &blocks); !problem.empty()) {
    return Status(StatusCode::kInvalid, std::move(problem));
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<std::int64_t> expiries;
  for (std::size_t i = 0; i < blocks; ++i) {
    std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    ERR_clear_error();
    if (!cert) {
      return Status(StatusCode::kInvalid,
                    "certificate " + std::to_string(i + 1) + " does not parse (PEM/DER)");
    }
    std::tm tm{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) {
      ERR_clear_error();
      return Status(StatusCode::kInvalid,
                    "certificate " + std::to_string(i + 1) + " has an unreadable notAfter");
    }
    expiries.push_back(static_cast<std::int64_t>(timegm(&tm)));
  }
  return expiries;
}

// ---- one PEM artefact (caBundles.*, certificates.*)

struct PemArtefactRead {
  std::string pem;
  std::int64_t not_after = 0;
  std::vector<std::int64_t> expiries;  // of its certificates, when they parsed
  bool pem_ok = false, not_after_ok = false;
};

void ReadPem(Decoder& d, element v, PemArtefactRead& r) {
  if (!d.AsString(v, &r.pem)) return;
  if (r.pem.size() > kMaxPemBytes) {
    d.Error(DiagCode::kOutOfRange, "longer than " + std::to_string(kMaxPemBytes) + " bytes");
    return;
  }
  if (HasPemPrivateKey(r.pem)) {
    d.Error(DiagCode::kPrivateKeyMaterial,
            "a PEM private key" + std::string(kNeverPublish) + " (give only CERTIFICATE blocks)");
    return;
  }
  Result<std::vector<std::int64_t>> expiries = CertificateExpiries(r.pem);
  if (!expiries.ok()) {
    d.Error(DiagCode::kInvalidCertificate, expiries.status().message());
    return;
  }
  r.expiries = std::move(expiries).value();
  r.pem_ok = true;
}

void ReadNotAfter(Decoder& d, element v, PemArtefactRead& r) {
  r.not_after_ok = d.Timestamp(v, &r.not_after);
}

constexpr FieldRule<PemArtefactRead> kCaBundleRules[] = {
    {"pem", ReadPem, true},
    {"notAfter", ReadNotAfter, true},
};

constexpr FieldRule<PemArtefactRead> kCertificateRules[] = {
    {"chainPem", ReadPem, true},
    {"notAfter", ReadNotAfter, true},
};

// An artefact must not outlive a certificate it carries: the node would
// otherwise hold an expired certificate as valid until notAfter.
bool CheckOutlives(Decoder& d, const PemArtefactRead& r) {
  for (std::size_t i = 0; i < r.expiries.size(); ++i) {
    if (r.expiries[i] >= r.not_after) continue;
    Decoder::PathGuard g(d, "notAfter");
    d.Error(DiagCode::kInvalidCertificate, "notAfter " + FormatRfc3339(r.not_after) +
                                               " is after certificate " + std::to_string(i + 1) +
                                               " expires (" + FormatRfc3339(r.expiries[i]) +
                                               "); an artefact must not outlive its certificates");
    return false;
  }
  return true;
}

template <typename Artefact>
void DecodePemArtefacts(Decoder& d, element el, std::string_view what,
                        std::span<const FieldRule<PemArtefactRead>> rules,
                        std::vector<Named<Artefact>>& out) {
  d.NamedMap(el, [&](std::string_view name, element value) {
    PemArtefactRead r;
    if (!DecodeObject<PemArtefactRead>(d, value, what, rules, r)) return;
    if (!CheckOutlives(d, r)) return;
    out.push_back({std::string(name), Artefact{std::move(r.pem), r.not_after}});
  });
}

// ---- jwks.*

void ReadJwk(Decoder& d, element key, std::vector<std::string>& out) {
  simdjson::dom::object obj;
  if (!d.AsObject(key, &obj)) return;
  bool ok = true;
  for (std::string_view member : kPrivateJwkMembers) {
    element ignored;
    if (obj.at_key(member).get(ignored)) continue;
    Decoder::PathGuard g(d, member);
    d.Error(DiagCode::kPrivateKeyMaterial, "JWK member \"" + std::string(member) +
                                               "\" is private key material" +
                                               std::string(kNeverPublish));
    ok = false;
  }
  element kty;
  if (obj.at_key("kty").get(kty)) {
    Decoder::PathGuard g(d, "kty");
    d.Error(DiagCode::kMissingField, "required field \"kty\" is missing");
    return;
  }
  Decoder::PathGuard g(d, "kty");
  std::string type;
  if (!d.AsString(kty, &type)) return;
  if (type != "RSA" && type != "EC" && type != "OKP") {
    if (type == "oct") {
      d.Error(DiagCode::kPrivateKeyMaterial,
              "a symmetric (oct) key is a secret" + std::string(kNeverPublish));
    } else {
      d.Error(DiagCode::kOutOfRange, "kty \"" + type + "\" is not RSA, EC or OKP");
    }
    return;
  }
  if (ok) out.push_back(ToNlohmann(key).dump());
}

struct JwkSetRead {
  JwkSet set;
  bool keys_ok = false;
};

constexpr FieldRule<JwkSetRead> kJwkSetRules[] = {
    {"keys",
     [](Decoder& d, element v, JwkSetRead& r) {
       const std::size_t before = d.diagnostic_count();
       std::size_t count = 0;
       if (!d.Items(v, [&](element key) {
             ++count;
             ReadJwk(d, key, r.set.keys);
           })) {
         return;
       }
       if (count == 0 || count > static_cast<std::size_t>(kMaxJwks)) {
         d.Error(DiagCode::kOutOfRange, "a JWKS holds 1 to " + std::to_string(kMaxJwks) +
                                            " keys, got " + std::to_string(count));
       }
       r.keys_ok = d.diagnostic_count() == before;
     },
     true},
    {"notAfter", [](Decoder& d, element v, JwkSetRead& r) { d.Timestamp(v, &r.set.not_after); },
     true},
};

// ---- extAuthz.*

bool IsHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

// host or [v6] followed by an optional ":port" (required when `need_port`).
bool IsAuthority(std::string_view a, bool need_port) {
  std::size_t host_end;
  if (!a.empty() && a.front() == '[') {
    host_end = a.find(']');
    if (host_end == std::string_view::npos || host_end < 2) return false;
    ++host_end;
  } else {
    host_end = a.rfind(':');
    if (host_end == std::string_view::npos) host_end = a.size();
    if (host_end == 0 || !std::all_of(a.begin(), a.begin() + host_end, IsHostChar)) return false;
  }
  if (host_end == a.size()) return !need_port;
  if (a[host_end] != ':' || host_end + 1 == a.size() || a.size() - host_end - 1 > 5) return false;
  const std::string_view port = a.substr(host_end + 1);
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const int p = std::stoi(std::string(port));
  return p >= 1 && p <= 65535;
}

bool IsEndpoint(std::string_view e) {
  if (e.size() > kMaxEndpointBytes) return false;
  constexpr std::string_view kHttps = "https://";
  if (e.substr(0, kHttps.size()) == kHttps) {
    std::string_view rest = e.substr(kHttps.size());
    const std::size_t slash = rest.find('/');
    const std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
    if (std::any_of(path.begin(), path.end(),
                    [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
      return false;
    }
    return IsAuthority(rest.substr(0, slash), /*need_port=*/false);
  }
  return IsAuthority(e, /*need_port=*/true);
}

constexpr FieldRule<ExtAuthz> kExtAuthzRules[] = {
    {"endpoint",
     [](Decoder& d, element v, ExtAuthz& x) {
       if (d.AsString(v, &x.endpoint) && !IsEndpoint(x.endpoint)) {
         d.Error(DiagCode::kOutOfRange,
                 "endpoint must be https://HOST[:PORT][/PATH] or HOST:PORT (at most 2048 bytes)");
       }
     },
     true},
    {"notAfter", [](Decoder& d, element v, ExtAuthz& x) { d.Timestamp(v, &x.not_after); }, true},
};

}  // namespace

void DecodeCaBundles(Decoder& d, element el, std::vector<Named<CaBundle>>& out) {
  DecodePemArtefacts<CaBundle>(d, el, "caBundle", kCaBundleRules, out);
}

void DecodeCertificates(Decoder& d, element el, std::vector<Named<LeafCertificate>>& out) {
  DecodePemArtefacts<LeafCertificate>(d, el, "certificate", kCertificateRules, out);
}

void DecodeJwkSets(Decoder& d, element el, std::vector<Named<JwkSet>>& out) {
  d.NamedMap(el, [&](std::string_view name, element value) {
    JwkSetRead r;
    if (DecodeObject<JwkSetRead>(d, value, "jwks", kJwkSetRules, r) && r.keys_ok) {
      out.push_back({std::string(name), std::move(r.set)});
    }
  });
}

void DecodeExtAuthz(Decoder& d, element el, std::vector<Named<ExtAuthz>>& out) {
  d.NamedMap(el, [&](std::string_view name, element value) {
    ExtAuthz x;
    if (DecodeObject<ExtAuthz>(d, value, "extAuthz", kExtAuthzRules, x)) {
      out.push_back({std::string(name), std::move(x)});
    }
  });
}

void FindPrivateKeyMaterial(Decoder& d, element el) {
  switch (el.type()) {
    case element_type::STRING:
      if (HasPemPrivateKey(el.get_string().value_unsafe())) {
        d.Error(DiagCode::kPrivateKeyMaterial, "a PEM private key" + std::string(kNeverPublish));
      }
      return;
    case element_type::ARRAY: {
      std::size_t i = 0;
      for (element item : ArrayOf(el)) {
        Decoder::PathGuard g(d, i++);
        FindPrivateKeyMaterial(d, item);
      }
      return;
    }
    case element_type::OBJECT: {
      simdjson::dom::object obj = ObjectOf(el);
      element ignored;
      const bool is_jwk = !obj.at_key("kty").get(ignored);
      for (auto field : obj) {
        Decoder::PathGuard g(d, field.key);
        if (is_jwk && field.value.type() != element_type::NULL_VALUE &&
            std::find(kPrivateJwkMembers.begin(), kPrivateJwkMembers.end(), field.key) !=
                kPrivateJwkMembers.end()) {
          d.Error(DiagCode::kPrivateKeyMaterial, "JWK member \"" + std::string(field.key) +
                                                     "\" is private key material" +
                                                     std::string(kNeverPublish));
          continue;
        }
        FindPrivateKeyMaterial(d, field.value);
      }
      return;
    }
    default:
      return;
  }
}

}  // namespace omnirelay::internal
